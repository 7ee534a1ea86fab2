//! `$orderby`: parsing, SQL `ORDER BY`, keyset (`after`) predicates and the evaluator order.
//!
//! Every key is a string or null: declared scalars (DateTimeOffsets are stored as fixed-width UTC
//! text, so text order is time order), scalar members of complex properties (`property/member`),
//! and dynamic properties, which sort by their value when it is a JSON string and as null
//! otherwise. Text compares byte-wise; nulls sort first ascending and last descending; the
//! schema's key property ascending is appended as the final tie-breaker unless it is already a
//! key.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::QueryError;
use crate::filter::{DynView, scalar_ty};
use crate::lexer::{Tok, Token, lex};
use crate::operand_sql::{push_text_literal, render_declared, render_dynamic, render_member};
use crate::schema::{ComplexType, Schema, Storage, Type};
use crate::sql::SqlBuilder;

/// Most keys accepted in one `$orderby` (the tie-breaker included).
pub const MAX_ORDER_KEYS: usize = 16;

/// What one `$orderby` key sorts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortTarget {
    /// A declared scalar.
    Declared { name: &'static str, nullable: bool },
    /// `<property>/<member>` of a complex property.
    Member { property: &'static str, member: &'static str },
    /// A dynamic property, by exact name; only JSON string values sort as values.
    Dynamic(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    pub target: SortTarget,
    pub descending: bool,
}

/// A parsed `$orderby`, tie-breaker included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<OrderKey>,
    /// The schema's key property, the final tie-breaker.
    key: &'static str,
}

/// The values of every order key for one row, in key order. Serialises as a JSON array of
/// strings and nulls; check a decoded one with [`OrderBy::validate_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SortKey(pub Vec<Option<String>>);

/// The tie-breaker: the schema's key property.
fn key_target(schema: &Schema) -> SortTarget {
    SortTarget::Declared { name: schema.key(), nullable: false }
}

/// Parses `$orderby` against `schema`: a comma list of `path [asc|desc]`.
pub fn parse_orderby(input: &str, schema: &Schema) -> Result<OrderBy, QueryError> {
    let toks = lex(input)?;
    let id = key_target(schema);
    let mut keys: Vec<OrderKey> = Vec::new();
    let mut i = 0;
    let tok = |i: usize| &toks[i.min(toks.len() - 1)];
    if toks.len() == 1 {
        return Err(QueryError::at("$orderby is empty", 0));
    }
    loop {
        let t = tok(i);
        let Tok::Ident(name) = &t.tok else {
            return Err(QueryError::at(format!("expected a property name, found {}", t.tok.describe()), t.pos));
        };
        let pos = t.pos;
        i += 1;
        let (target, used) = sort_target(schema, name, pos, &toks[i.min(toks.len() - 1)..])?;
        i += used;
        if tok(i).tok == Tok::Slash {
            return Err(QueryError::at("this property has no members to order by", tok(i).pos));
        }
        let descending = if tok(i).tok.is_kw("desc") {
            i += 1;
            true
        } else {
            if tok(i).tok.is_kw("asc") {
                i += 1;
            }
            false
        };
        if keys.iter().any(|k| k.target == target) {
            return Err(QueryError::at("a property appears twice in $orderby", pos));
        }
        keys.push(OrderKey { target, descending });
        if keys.iter().filter(|k| k.target != id).count() >= MAX_ORDER_KEYS {
            return Err(QueryError::at(format!("$orderby has more than {} keys", MAX_ORDER_KEYS - 1), pos));
        }
        let t = tok(i);
        match t.tok {
            Tok::Comma => i += 1,
            Tok::Eof => break,
            _ => {
                return Err(QueryError::at(
                    format!("expected 'asc', 'desc', ',' or the end of $orderby, found {}", t.tok.describe()),
                    t.pos,
                ));
            }
        }
    }
    if !keys.iter().any(|k| k.target == id) {
        keys.push(OrderKey { target: id, descending: false });
    }
    Ok(OrderBy { keys, key: schema.key() })
}

/// Resolves the key path starting with `name` at `pos`; `rest` are the tokens after the name.
/// Returns the target and how many tokens of `rest` it used.
fn sort_target(schema: &Schema, name: &str, pos: usize, rest: &[Token]) -> Result<(SortTarget, usize), QueryError> {
    let Some(p) = schema.property(name) else {
        if name.starts_with('$') {
            return Err(QueryError::at(format!("cannot order by '{name}'"), pos));
        }
        return Ok((SortTarget::Dynamic(name.to_owned()), 0));
    };
    match p.ty {
        Type::Complex(ty) => {
            let member = complex_member(p.name, ty, pos, rest)?;
            Ok((SortTarget::Member { property: p.name, member }, 2))
        }
        Type::Collection(_) => Err(QueryError::at(format!("cannot order by the collection '{}'", p.name), pos)),
        ty if scalar_ty(ty).is_some() => Ok((SortTarget::Declared { name: p.name, nullable: p.nullable }, 0)),
        _ => Err(QueryError::at(format!("cannot order by '{}'", p.name), pos)),
    }
}

/// The scalar member of complex type `ty` that `rest` (`/member`) names.
fn complex_member(owner: &str, ty: &ComplexType, pos: usize, rest: &[Token]) -> Result<&'static str, QueryError> {
    let at = |n: usize| &rest[n.min(rest.len() - 1)];
    if at(0).tok != Tok::Slash {
        return Err(QueryError::at(
            format!("order by a member of {owner}, such as {owner}/{}", ty.example_member),
            pos,
        ));
    }
    let m = at(1);
    let member = match &m.tok {
        Tok::Ident(f) => ty.member(f).filter(|member| scalar_ty(member.ty).is_some()),
        _ => None,
    };
    let Some(member) = member else {
        return Err(QueryError::at(format!("expected a property of {}, found {}", ty.name, m.tok.describe()), m.pos));
    };
    Ok(member.name)
}

impl OrderBy {
    /// The key property ascending.
    pub fn default_order(schema: &Schema) -> OrderBy {
        OrderBy { keys: vec![OrderKey { target: key_target(schema), descending: false }], key: schema.key() }
    }

    pub fn keys(&self) -> &[OrderKey] {
        &self.keys
    }

    /// This order, then the non-null declared scalar `name` ascending, unless it is already a key:
    /// for a caller whose rows are unique only with `name` added to the schema's key.
    pub fn then_by(mut self, name: &'static str) -> OrderBy {
        let already = self.keys.iter().any(|k| matches!(k.target, SortTarget::Declared { name: n, .. } if n == name));
        if !already {
            self.keys.push(OrderKey { target: SortTarget::Declared { name, nullable: false }, descending: false });
        }
        self
    }

    /// Stable text of the order, tie-breaker included, e.g. `displayName desc,id asc`.
    pub fn canonical(&self) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let name = match &k.target {
                    SortTarget::Declared { name, .. } => (*name).to_owned(),
                    SortTarget::Member { property, member } => format!("{property}/{member}"),
                    SortTarget::Dynamic(n) => n.clone(),
                };
                format!("{name} {}", if k.descending { "desc" } else { "asc" })
            })
            .collect();
        parts.join(",")
    }

    /// Appends `ORDER BY ...` with explicit NULLS FIRST (ascending) / NULLS LAST (descending) on
    /// every nullable key.
    pub fn render_order_by(&self, s: &Storage, b: &mut SqlBuilder) {
        b.push_sql("ORDER BY ");
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                b.push_sql(", ");
            }
            render_key(&k.target, s, b);
            // A NOT NULL column gets no NULLS clause: it changes nothing there, and PostgreSQL
            // only matches an index (like the primary key) whose NULLS order is the same.
            b.push_sql(match (k.descending, never_null(&k.target)) {
                (false, true) => " ASC",
                (true, true) => " DESC",
                (false, false) => " ASC NULLS FIRST",
                (true, false) => " DESC NULLS LAST",
            });
        }
    }

    /// The order-key values of one stored document.
    pub fn sort_key(&self, doc: &Value) -> SortKey {
        SortKey(self.keys.iter().map(|k| key_value(&k.target, doc).map(str::to_owned)).collect())
    }

    /// Checks that a decoded key fits this order: one value per key, and a non-null id.
    pub fn validate_key(&self, key: &SortKey) -> Result<(), QueryError> {
        if key.0.len() != self.keys.len() {
            return Err(QueryError::new("the skip token does not match $orderby"));
        }
        for (k, v) in self.keys.iter().zip(&key.0) {
            if matches!(k.target, SortTarget::Declared { name, .. } if name == self.key) && v.is_none() {
                return Err(QueryError::new("the skip token does not match $orderby"));
            }
        }
        Ok(())
    }

    /// Appends a boolean SQL expression: the row comes strictly after `key` in this order.
    /// `key` must have passed [`OrderBy::validate_key`]; a key of the wrong arity renders a
    /// predicate that matches nothing.
    pub fn render_after(&self, key: &SortKey, s: &Storage, b: &mut SqlBuilder) {
        if key.0.len() != self.keys.len() {
            b.push_sql("(1 = 0)");
            return;
        }
        // k1 after v1 OR (k1 same as v1 AND (k2 after v2 OR (... )))
        let n = self.keys.len();
        b.push_sql("(");
        for (i, (k, v)) in self.keys.iter().zip(&key.0).enumerate() {
            let last = i + 1 == n;
            if !last {
                b.push_sql("(");
            }
            render_strictly_after(k, v.as_deref(), s, b);
            if !last {
                b.push_sql(" OR (");
                render_key(&k.target, s, b);
                match v {
                    Some(v) => {
                        b.push_sql(" = ");
                        push_text_literal(v, b);
                    }
                    None => b.push_sql(" IS NULL"),
                }
                b.push_sql(" AND ");
            }
        }
        for _ in 1..n {
            b.push_sql("))");
        }
        b.push_sql(")");
    }

    /// The evaluator order of two stored documents; identical to the SQL order.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for k in &self.keys {
            let o = cmp_values(key_value(&k.target, a), key_value(&k.target, b));
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// Whether a key can never be null (then the SQL needs no NULLS clause for it).
fn never_null(t: &SortTarget) -> bool {
    matches!(t, SortTarget::Declared { nullable: false, .. })
}

fn cmp_values(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
    }
}

fn key_value<'a>(t: &SortTarget, doc: &'a Value) -> Option<&'a str> {
    match t {
        SortTarget::Declared { name, .. } => doc.get(*name).and_then(Value::as_str),
        SortTarget::Member { property, member } => {
            doc.get(*property).and_then(|v| v.get(*member)).and_then(Value::as_str)
        }
        SortTarget::Dynamic(n) => doc.get(n.as_str()).and_then(Value::as_str),
    }
}

fn render_key(t: &SortTarget, s: &Storage, b: &mut SqlBuilder) {
    match t {
        SortTarget::Declared { name, .. } => render_declared(name, s, b),
        SortTarget::Member { property, member } => render_member(property, member, s, b),
        SortTarget::Dynamic(n) => render_dynamic(n, DynView::Text, s, b),
    }
}

/// The row's key `k` comes strictly after `v` in the key's direction.
fn render_strictly_after(k: &OrderKey, v: Option<&str>, s: &Storage, b: &mut SqlBuilder) {
    match (k.descending, v) {
        // Ascending, nulls first: anything non-null is after null.
        (false, None) => {
            b.push_sql("(");
            render_key(&k.target, s, b);
            b.push_sql(" IS NOT NULL)");
        }
        (false, Some(v)) => {
            b.push_sql("(");
            render_key(&k.target, s, b);
            b.push_sql(" > ");
            push_text_literal(v, b);
            b.push_sql(")");
        }
        // Descending, nulls last: nothing is after null.
        (true, None) => b.push_sql("(1 = 0)"),
        (true, Some(v)) => {
            b.push_sql("(");
            render_key(&k.target, s, b);
            b.push_sql(" < ");
            push_text_literal(v, b);
            b.push_sql(" OR ");
            render_key(&k.target, s, b);
            b.push_sql(" IS NULL)");
        }
    }
}
