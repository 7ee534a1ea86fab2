//! `$orderby`: parsing, SQL `ORDER BY`, keyset (`after`) predicates and the evaluator order.
//!
//! Every key is a string or null: declared scalars (DateTimeOffsets are stored as fixed-width UTC
//! text, so text order is time order), `vendorInformation/x`, and dynamic properties, which sort
//! by their value when it is a JSON string and as null otherwise. Text compares byte-wise; nulls
//! sort first ascending and last descending; `id asc` is appended as the final tie-breaker unless
//! `id` is already a key.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::QueryError;
use crate::filter::DynView;
use crate::filter_sql::{push_text_literal, render_dynamic, render_vendor};
use crate::lexer::{Tok, lex};
use crate::schema::{PropKind, resolve_property, resolve_vendor_field};
use crate::sql::SqlBuilder;

/// Most keys accepted in one `$orderby` (the tie-breaker included).
pub const MAX_ORDER_KEYS: usize = 16;

/// What one `$orderby` key sorts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortTarget {
    /// A declared scalar with its own column.
    Column { name: &'static str, column: &'static str },
    /// `vendorInformation/<field>`.
    Vendor(&'static str),
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
}

/// The values of every order key for one row, in key order. Serialises as a JSON array of
/// strings and nulls; check a decoded one with [`OrderBy::validate_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SortKey(pub Vec<Option<String>>);

const ID: SortTarget = SortTarget::Column { name: "id", column: "id" };

/// Parses `$orderby`: a comma list of `path [asc|desc]`.
pub fn parse_orderby(input: &str) -> Result<OrderBy, QueryError> {
    let toks = lex(input)?;
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
        let target = match resolve_property(name) {
            Some(p) => match p.kind {
                PropKind::Scalar { column, .. } => SortTarget::Column { name: p.name, column },
                PropKind::Vendor => {
                    if tok(i).tok != Tok::Slash {
                        return Err(QueryError::at(
                            "order by a member of vendorInformation, such as vendorInformation/provider",
                            pos,
                        ));
                    }
                    let m = tok(i + 1);
                    let field = match &m.tok {
                        Tok::Ident(f) => resolve_vendor_field(f),
                        _ => None,
                    };
                    let Some(field) = field else {
                        return Err(QueryError::at(
                            format!(
                                "expected a property of microsoft.graph.securityVendorInformation, found {}",
                                m.tok.describe()
                            ),
                            m.pos,
                        ));
                    };
                    i += 2;
                    SortTarget::Vendor(field)
                }
                PropKind::Tags | PropKind::Accounts => {
                    return Err(QueryError::at(format!("cannot order by the collection '{}'", p.name), pos));
                }
            },
            None if name.starts_with('$') => {
                return Err(QueryError::at(format!("cannot order by '{name}'"), pos));
            }
            None => SortTarget::Dynamic(name.clone()),
        };
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
        if keys.iter().filter(|k| k.target != ID).count() >= MAX_ORDER_KEYS {
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
    if !keys.iter().any(|k| k.target == ID) {
        keys.push(OrderKey { target: ID, descending: false });
    }
    Ok(OrderBy { keys })
}

impl OrderBy {
    /// `id asc`.
    pub fn default_order() -> OrderBy {
        OrderBy { keys: vec![OrderKey { target: ID, descending: false }] }
    }

    pub fn keys(&self) -> &[OrderKey] {
        &self.keys
    }

    /// Stable text of the order, tie-breaker included, e.g. `displayName desc,id asc`.
    pub fn canonical(&self) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let name = match &k.target {
                    SortTarget::Column { name, .. } => (*name).to_owned(),
                    SortTarget::Vendor(f) => format!("vendorInformation/{f}"),
                    SortTarget::Dynamic(n) => n.clone(),
                };
                format!("{name} {}", if k.descending { "desc" } else { "asc" })
            })
            .collect();
        parts.join(",")
    }

    /// Appends `ORDER BY ...` with explicit NULLS FIRST (ascending) / NULLS LAST (descending) on
    /// every nullable key.
    pub fn render_order_by(&self, b: &mut SqlBuilder) {
        b.push_sql("ORDER BY ");
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                b.push_sql(", ");
            }
            render_key(&k.target, b);
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
            if k.target == ID && v.is_none() {
                return Err(QueryError::new("the skip token does not match $orderby"));
            }
        }
        Ok(())
    }

    /// Appends a boolean SQL expression: the row comes strictly after `key` in this order.
    /// `key` must have passed [`OrderBy::validate_key`]; a key of the wrong arity renders a
    /// predicate that matches nothing.
    pub fn render_after(&self, key: &SortKey, b: &mut SqlBuilder) {
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
            render_strictly_after(k, v.as_deref(), b);
            if !last {
                b.push_sql(" OR (");
                render_key(&k.target, b);
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

    /// Compares a row's key with a stored key, in this order.
    pub fn compare_keys(&self, a: &SortKey, b: &SortKey) -> Ordering {
        for ((k, x), y) in self.keys.iter().zip(&a.0).zip(&b.0) {
            let o = cmp_values(x.as_deref(), y.as_deref());
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

fn never_null(t: &SortTarget) -> bool {
    match t {
        SortTarget::Column { name, .. } => {
            matches!(resolve_property(name).map(|p| p.kind), Some(PropKind::Scalar { not_null: true, .. }))
        }
        _ => false,
    }
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
        SortTarget::Column { name, .. } => doc.get(*name).and_then(Value::as_str),
        SortTarget::Vendor(f) => doc.get("vendorInformation").and_then(|v| v.get(*f)).and_then(Value::as_str),
        SortTarget::Dynamic(n) => doc.get(n.as_str()).and_then(Value::as_str),
    }
}

fn render_key(t: &SortTarget, b: &mut SqlBuilder) {
    match t {
        SortTarget::Column { column, .. } => b.push_sql(&format!("p.{column}")),
        SortTarget::Vendor(f) => render_vendor(f, b),
        SortTarget::Dynamic(n) => render_dynamic(n, DynView::Text, b),
    }
}

/// The row's key `k` comes strictly after `v` in the key's direction.
fn render_strictly_after(k: &OrderKey, v: Option<&str>, b: &mut SqlBuilder) {
    match (k.descending, v) {
        // Ascending, nulls first: anything non-null is after null.
        (false, None) => {
            b.push_sql("(");
            render_key(&k.target, b);
            b.push_sql(" IS NOT NULL)");
        }
        (false, Some(v)) => {
            b.push_sql("(");
            render_key(&k.target, b);
            b.push_sql(" > ");
            push_text_literal(v, b);
            b.push_sql(")");
        }
        // Descending, nulls last: nothing is after null.
        (true, None) => b.push_sql("(1 = 0)"),
        (true, Some(v)) => {
            b.push_sql("(");
            render_key(&k.target, b);
            b.push_sql(" < ");
            push_text_literal(v, b);
            b.push_sql(" OR ");
            render_key(&k.target, b);
            b.push_sql(" IS NULL)");
        }
    }
}
