//! `$filter` to SQL. Negation is pushed down to the leaves (De Morgan), so every SQL `NOT`
//! applies to something that can never be NULL, and positive comparisons stay index-friendly.
//! A leaf may evaluate to SQL NULL only where NULL means false: inside AND/OR chains and WHERE
//! clauses that is exactly the two-valued semantics of the evaluator.

use crate::filter::{CmpOp, Coll, Expr, Filter, Literal, Operand, Prop, StrFn};
use crate::operand_sql::{push_text_literal, render_literal, render_operand};
use crate::schema::Storage;
use crate::sql::{Dialect, SqlBuilder};

impl Filter {
    /// Appends a self-contained, parenthesised boolean SQL expression over the entity table
    /// (`storage.alias`).
    pub fn render_sql(&self, s: &Storage, b: &mut SqlBuilder) {
        b.push_sql("(");
        render(&self.expr, false, s, b);
        b.push_sql(")");
    }

    /// As [`Filter::render_sql`], but on SQLite the columns other than `keep` are written so
    /// that no index of theirs can drive the query: for a statement that must walk the rows in
    /// the order of another index.
    pub fn render_sql_walking(&self, s: &Storage, keep: &[&'static str], b: &mut SqlBuilder) {
        b.indexed_only = Some(keep.to_vec());
        self.render_sql(s, b);
        b.indexed_only = None;
    }
}

pub(crate) fn pg(b: &SqlBuilder) -> bool {
    b.dialect() == Dialect::Postgres
}

/// Renders `e` (or `not e` when `neg`).
fn render(e: &Expr, neg: bool, s: &Storage, b: &mut SqlBuilder) {
    match e {
        Expr::Const(v) => b.push_sql(if *v != neg { "1 = 1" } else { "1 = 0" }),
        Expr::And(items) | Expr::Or(items) => {
            let and = matches!(e, Expr::And(_)) != neg;
            // `any` lookups in one element table, joined by `or`, are one lookup of all their
            // strings: one semi-join rather than one per lambda (which PostgreSQL cannot plan
            // as a join under OR).
            let merged = if and { None } else { merged_lookups(items, neg, s) };
            b.push_sql("(");
            let mut first = true;
            if let Some((coll, id, values)) = &merged {
                render_lookup(*coll, *id, values, s, b);
                first = false;
            }
            for item in items {
                if merged.is_some() && lookup_lambda(item, neg, s).is_some() {
                    continue;
                }
                if !first {
                    b.push_sql(if and { " AND " } else { " OR " });
                }
                first = false;
                render(item, neg, s, b);
            }
            b.push_sql(")");
        }
        Expr::Not(inner) => render(inner, !neg, s, b),
        Expr::Cmp { op, left, right } => render_cmp(*op, left, right, neg, s, b),
        Expr::In { operand, items } => render_in(operand, items, neg, s, b),
        Expr::StrFn { func, left, right } => {
            if neg {
                b.push_sql("NOT COALESCE(");
            }
            render_strfn(*func, left, right, s, b);
            if neg {
                b.push_sql(", FALSE)");
            }
        }
        Expr::Lambda { coll, all, id, body, .. } => {
            let strings = body.as_deref().filter(|_| pg(b) && !*all).and_then(|body| has_strings(body, *id));
            if let (Coll::Strings(name), Some(values)) = (coll, strings) {
                render_document_lookup(name, &values, neg, s, b);
                return;
            }
            // any(P) = EXISTS(P); all(P) = NOT EXISTS(not P).
            let exists = *all == neg;
            b.push_sql(if exists { "EXISTS (SELECT 1 FROM " } else { "NOT EXISTS (SELECT 1 FROM " });
            let joined = render_elements(*coll, *id, body.as_deref().is_some_and(|e| is_lookup(e, *id, *all)), s, b);
            if let Some(body) = body {
                b.push_sql(if joined { " AND " } else { " WHERE " });
                render(body, *all, s, b);
            }
            b.push_sql(")");
        }
    }
}

/// The element collection, lambda id and strings of `e` when it is `any` over a string
/// collection with an element table, testing only equality with strings (`neg`: never).
fn lookup_lambda(e: &Expr, neg: bool, s: &Storage) -> Option<(Coll, usize, Vec<String>)> {
    match e {
        Expr::Lambda { coll: coll @ Coll::Strings(name), all: false, id, body: Some(body), .. } if !neg => {
            s.element_table(name)?;
            Some((*coll, *id, has_strings(body, *id)?))
        }
        _ => None,
    }
}

/// The lookups among `items` merged into one, when at least two test the same collection (and
/// every lookup in `items` tests that one).
fn merged_lookups(items: &[Expr], neg: bool, s: &Storage) -> Option<(Coll, usize, Vec<String>)> {
    let lookups: Vec<_> = items.iter().filter_map(|i| lookup_lambda(i, neg, s)).collect();
    let (coll, id, _) = lookups.first()?;
    if lookups.len() < 2 || lookups.iter().any(|(c, _, _)| c != coll) {
        return None;
    }
    Some((*coll, *id, lookups.into_iter().flat_map(|(_, _, v)| v).collect()))
}

/// The strings lambda variable `var` must equal for `body` to hold, when that is all it tests.
fn has_strings(body: &Expr, var: usize) -> Option<Vec<String>> {
    let mut values = Vec::new();
    crate::cover::equal_strings(body, var, &mut values)?;
    Some(values)
}

/// Whether the document's array `name` holds one of the strings `values` (never NULL), tested
/// on the row itself: PostgreSQL answers it from the row a walk has already read, where a
/// probe of the element table per row costs several index reads. `?|` also matches a string
/// or an object's key, so the type is checked too, after it, on the few rows it matches.
fn render_document_lookup(name: &str, values: &[String], neg: bool, s: &Storage, b: &mut SqlBuilder) {
    let member = format!("{}.{} -> '{name}'", s.alias, s.document);
    b.push_sql(&format!("{}COALESCE(({member}) ?| ARRAY[", if neg { "NOT " } else { "" }));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            b.push_sql(", ");
        }
        b.push_text(v);
    }
    b.push_sql(&format!("] AND jsonb_typeof({member}) = 'array', FALSE)"));
}

/// `EXISTS` an element of `coll` equal to one of `values`, from its element table (on
/// PostgreSQL, from the document).
fn render_lookup(coll: Coll, id: usize, values: &[String], s: &Storage, b: &mut SqlBuilder) {
    if let (Coll::Strings(name), true) = (coll, pg(b)) {
        render_document_lookup(name, values, false, s, b);
        return;
    }
    b.push_sql("EXISTS (SELECT 1 FROM ");
    render_elements(coll, id, true, s, b);
    let value = match coll {
        Coll::Strings(name) => s.element_table(name).map_or("value", |t| t.value),
        Coll::Complex(..) => "value",
    };
    b.push_sql(&format!(" AND t{id}.{value} IN ("));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            b.push_sql(", ");
        }
        push_text_literal(v, b);
    }
    b.push_sql("))");
}

/// Appends the rows a lambda over `coll` ranges over, as lambda `id`'s alias: the element
/// table (then with an open WHERE joining it to the entity, and true is returned) or a table
/// function over a JSON array. `lookup` tells whether the body only tests element equality
/// with strings, which SQLite answers from the element table's index even when the elements
/// are also kept as a JSON array.
fn render_elements(coll: Coll, id: usize, lookup: bool, s: &Storage, b: &mut SqlBuilder) -> bool {
    let p = s.alias;
    let doc = s.document;
    match (coll, b.dialect()) {
        (Coll::Strings(name), dialect) => match s.element_table(name) {
            Some(t) => match t.json_array {
                Some(array) if dialect == Dialect::Sqlite && !lookup => {
                    b.push_sql(&format!("(SELECT value AS {} FROM json_each({p}.{array})) AS t{id}", t.value));
                    false
                }
                _ => {
                    let join: Vec<String> = t.key.iter().map(|k| format!("t{id}.{k} = {p}.{k}")).collect();
                    b.push_sql(&format!("{} t{id} WHERE {}", t.table, join.join(" AND ")));
                    true
                }
            },
            None => {
                b.push_sql("(");
                push_document_strings(name, false, s, b);
                b.push_sql(&format!(") AS t{id}"));
                false
            }
        },
        (Coll::Complex(name, _), Dialect::Sqlite) => {
            b.push_sql(&format!(
                "json_each(CASE json_type({p}.{doc}, '$.{name}') WHEN 'array' THEN {p}.{doc} END, '$.{name}') AS a{id}"
            ));
            false
        }
        (Coll::Complex(name, _), Dialect::Postgres) => {
            b.push_sql(&format!(
                "jsonb_array_elements(CASE WHEN jsonb_typeof({p}.{doc} -> '{name}') = 'array' THEN {p}.{doc} -> '{name}' END) AS a{id}(value)"
            ));
            false
        }
    }
}

/// `SELECT` the string elements of the document's array `name` (none when it is not an
/// array) as rows with a `value` column, or (`count`) their number.
pub(crate) fn push_document_strings(name: &str, count: bool, s: &Storage, b: &mut SqlBuilder) {
    let (p, doc) = (s.alias, s.document);
    b.push_sql(&match b.dialect() {
        Dialect::Sqlite => format!(
            "SELECT {} FROM json_each(CASE json_type({p}.{doc}, '$.{name}') WHEN 'array' THEN {p}.{doc} END, '$.{name}') WHERE type = 'text'",
            if count { "COUNT(*)" } else { "value" }
        ),
        Dialect::Postgres => format!(
            "SELECT {} FROM jsonb_array_elements(CASE WHEN jsonb_typeof({p}.{doc} -> '{name}') = 'array' THEN {p}.{doc} -> '{name}' END) AS x(e) WHERE jsonb_typeof(e) = 'string'",
            if count { "COUNT(*)" } else { "e #>> '{}' AS value" }
        ),
    });
}

/// Whether `e` (or `not e` when `neg`) only asks whether lambda variable `var` equals one of some
/// strings: the test an element table keyed by value answers with a point lookup per string.
fn is_lookup(e: &Expr, var: usize, neg: bool) -> bool {
    let is_var = |o: &Operand| matches!(o, Operand::Prop(Prop::Element { id, .. }) if *id == var);
    let is_str = |o: &Operand| matches!(o, Operand::Lit(Literal::Str(_)));
    match e {
        Expr::Cmp { op, left, right } => {
            let eq = if neg { *op == CmpOp::Ne } else { *op == CmpOp::Eq };
            eq && ((is_var(left) && is_str(right)) || (is_str(left) && is_var(right)))
        }
        Expr::In { operand, items } => {
            !neg && is_var(operand) && !items.is_empty() && items.iter().all(|l| matches!(l, Literal::Str(_)))
        }
        Expr::Or(items) if !neg => items.iter().all(|i| is_lookup(i, var, false)),
        Expr::And(items) if neg => items.iter().all(|i| is_lookup(i, var, true)),
        Expr::Not(inner) => is_lookup(inner, var, !neg),
        _ => false,
    }
}

fn is_null(o: &Operand) -> bool {
    matches!(o, Operand::Lit(Literal::Null))
}

/// `l op r` (or its negation) where `l` or `r` is the literal null.
fn render_null_cmp(op: CmpOp, l: &Operand, r: &Operand, neg: bool, s: &Storage, b: &mut SqlBuilder) {
    let holds_when_null = match op {
        CmpOp::Eq => Some(true),
        CmpOp::Ne => Some(false),
        _ => None,
    };
    let other = if is_null(l) { r } else { l };
    match holds_when_null {
        Some(eq) if !is_null(other) => {
            b.push_sql("(");
            render_operand(other, s, b);
            b.push_sql(if eq != neg { " IS NULL)" } else { " IS NOT NULL)" });
        }
        // null eq null holds; null ne null and every ordering with null do not.
        Some(eq) => b.push_sql(if eq != neg { "1 = 1" } else { "1 = 0" }),
        None => b.push_sql(if neg { "1 = 1" } else { "1 = 0" }),
    }
}

fn render_cmp(op: CmpOp, l: &Operand, r: &Operand, neg: bool, s: &Storage, b: &mut SqlBuilder) {
    if is_null(l) || is_null(r) {
        render_null_cmp(op, l, r, neg, s, b);
        return;
    }
    let one_not_null = l.not_null() || r.not_null();
    let both_not_null = l.not_null() && r.not_null();
    let sql_op = match op {
        CmpOp::Eq | CmpOp::Ne => {
            let want_eq = (op == CmpOp::Eq) != neg;
            match (want_eq, pg(b)) {
                (true, _) if one_not_null => " = ",
                (true, false) => " IS ",
                (true, true) => " IS NOT DISTINCT FROM ",
                (false, _) if both_not_null => " <> ",
                (false, false) => " IS NOT ",
                (false, true) => " IS DISTINCT FROM ",
            }
        }
        _ => {
            let op = if neg { negate(op) } else { op };
            match op {
                CmpOp::Gt => " > ",
                CmpOp::Ge => " >= ",
                CmpOp::Lt => " < ",
                _ => " <= ",
            }
        }
    };
    let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
    b.push_sql("(");
    render_operand(l, s, b);
    b.push_sql(sql_op);
    render_operand(r, s, b);
    if ordering && neg {
        // not (l > r) also holds when either side is null.
        for side in [l, r] {
            if !side.not_null() {
                b.push_sql(" OR ");
                render_operand(side, s, b);
                b.push_sql(" IS NULL");
            }
        }
    }
    b.push_sql(")");
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
    }
}

fn render_in(x: &Operand, items: &[Literal], neg: bool, s: &Storage, b: &mut SqlBuilder) {
    let has_null = items.contains(&Literal::Null);
    let values: Vec<&Literal> = items.iter().filter(|l| **l != Literal::Null).collect();
    let list = |b: &mut SqlBuilder| {
        b.push_sql(if neg { " NOT IN (" } else { " IN (" });
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                b.push_sql(", ");
            }
            render_literal(v, b);
        }
        b.push_sql(")");
    };
    b.push_sql("(");
    if values.is_empty() {
        render_operand(x, s, b);
        b.push_sql(if neg { " IS NOT NULL" } else { " IS NULL" });
    } else {
        render_operand(x, s, b);
        list(b);
        match (neg, has_null) {
            (false, true) => {
                b.push_sql(" OR ");
                render_operand(x, s, b);
                b.push_sql(" IS NULL");
            }
            (true, true) => {
                b.push_sql(" AND ");
                render_operand(x, s, b);
                b.push_sql(" IS NOT NULL");
            }
            (true, false) if !x.not_null() => {
                b.push_sql(" OR ");
                render_operand(x, s, b);
                b.push_sql(" IS NULL");
            }
            _ => {}
        }
    }
    b.push_sql(")");
}

fn render_strfn(func: StrFn, l: &Operand, r: &Operand, s: &Storage, b: &mut SqlBuilder) {
    let pg = pg(b);
    b.push_sql("(");
    match (func, pg) {
        (StrFn::StartsWith, false) => {
            b.push_sql("substr(");
            render_operand(l, s, b);
            b.push_sql(", 1, length(");
            render_operand(r, s, b);
            b.push_sql(")) = ");
            render_operand(r, s, b);
        }
        (StrFn::StartsWith | StrFn::EndsWith, true) => {
            b.push_sql(if func == StrFn::StartsWith { "left(" } else { "right(" });
            render_operand(l, s, b);
            b.push_sql(", length(");
            render_operand(r, s, b);
            b.push_sql(")) = ");
            render_operand(r, s, b);
        }
        (StrFn::EndsWith, false) => {
            b.push_sql("length(");
            render_operand(l, s, b);
            b.push_sql(") >= length(");
            render_operand(r, s, b);
            b.push_sql(") AND substr(");
            render_operand(l, s, b);
            b.push_sql(", length(");
            render_operand(l, s, b);
            b.push_sql(") - length(");
            render_operand(r, s, b);
            b.push_sql(") + 1) = ");
            render_operand(r, s, b);
        }
        (StrFn::Contains, _) => {
            b.push_sql(if pg { "strpos(" } else { "instr(" });
            render_operand(l, s, b);
            b.push_sql(", ");
            render_operand(r, s, b);
            b.push_sql(") > 0");
        }
    }
    b.push_sql(")");
}
