//! `$filter` to SQL. Negation is pushed down to the leaves (De Morgan), so every SQL `NOT`
//! applies to something that can never be NULL, and positive comparisons stay index-friendly.
//! A leaf may evaluate to SQL NULL only where NULL means false: inside AND/OR chains and WHERE
//! clauses that is exactly the two-valued semantics of the evaluator.

use crate::filter::{CmpOp, Coll, DynView, Expr, Filter, Literal, Operand, Prop, StrFn};
use crate::sql::{Dialect, SqlBuilder, SqlValue};

impl Filter {
    /// Appends a self-contained, parenthesised boolean SQL expression over `profiles p`.
    pub fn render_sql(&self, b: &mut SqlBuilder) {
        b.push_sql("(");
        render(&self.expr, false, b);
        b.push_sql(")");
    }
}

fn pg(b: &SqlBuilder) -> bool {
    b.dialect() == Dialect::Postgres
}

/// Renders `e` (or `not e` when `neg`).
fn render(e: &Expr, neg: bool, b: &mut SqlBuilder) {
    match e {
        Expr::Const(v) => b.push_sql(if *v != neg { "1 = 1" } else { "1 = 0" }),
        Expr::And(items) | Expr::Or(items) => {
            let and = matches!(e, Expr::And(_)) != neg;
            b.push_sql("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    b.push_sql(if and { " AND " } else { " OR " });
                }
                render(item, neg, b);
            }
            b.push_sql(")");
        }
        Expr::Not(inner) => render(inner, !neg, b),
        Expr::Cmp { op, left, right } => render_cmp(*op, left, right, neg, b),
        Expr::In { operand, items } => render_in(operand, items, neg, b),
        Expr::StrFn { func, left, right } => {
            if neg {
                b.push_sql("NOT COALESCE(");
            }
            render_strfn(*func, left, right, b);
            if neg {
                b.push_sql(", FALSE)");
            }
        }
        Expr::Lambda { coll, all, id, body, .. } => {
            // any(P) = EXISTS(P); all(P) = NOT EXISTS(not P).
            let exists = *all == neg;
            b.push_sql(if exists { "EXISTS (SELECT 1 FROM " } else { "NOT EXISTS (SELECT 1 FROM " });
            let mut conds = 0;
            match (coll, b.dialect()) {
                (Coll::Tags, Dialect::Postgres) => {
                    b.push_sql(&format!(
                        "profile_tags t{id} WHERE t{id}.tenant = p.tenant AND t{id}.id = p.id"
                    ));
                    conds += 1;
                }
                // SQLite's profile_tags is keyed (tenant, tag, id): it answers "does this profile
                // have tag X" and nothing else; every other test reads the profile's tags_json.
                (Coll::Tags, Dialect::Sqlite) if body.as_ref().is_some_and(|e| is_tag_lookup(e, *id, *all)) => {
                    b.push_sql(&format!(
                        "profile_tags t{id} WHERE t{id}.tenant = p.tenant AND t{id}.id = p.id"
                    ));
                    conds += 1;
                }
                (Coll::Tags, Dialect::Sqlite) => {
                    b.push_sql(&format!("({SQLITE_TAG_ELEMENTS}) AS t{id}"));
                }
                (Coll::Accounts, Dialect::Sqlite) => b.push_sql(&format!(
                    "json_each(CASE json_type(p.doc, '$.accounts') WHEN 'array' THEN p.doc END, '$.accounts') AS a{id}"
                )),
                (Coll::Accounts, Dialect::Postgres) => b.push_sql(&format!(
                    "jsonb_array_elements(CASE WHEN jsonb_typeof(p.doc -> 'accounts') = 'array' THEN p.doc -> 'accounts' END) AS a{id}(value)"
                )),
            }
            if let Some(body) = body {
                b.push_sql(if conds > 0 { " AND " } else { " WHERE " });
                render(body, *all, b);
            }
            b.push_sql(")");
        }
    }
}

/// The string elements of a profile's `tags` as rows with a `tag` column, from SQLite's copy of
/// them (`tags_json`, NULL when there are none).
const SQLITE_TAG_ELEMENTS: &str = "SELECT value AS tag FROM json_each(p.tags_json)";

/// Whether `e` (or `not e` when `neg`) only asks whether lambda variable `var` equals one of some
/// strings: the test SQLite's profile_tags key answers with a point lookup per string.
fn is_tag_lookup(e: &Expr, var: usize, neg: bool) -> bool {
    let is_var = |o: &Operand| matches!(o, Operand::Prop(Prop::TagVar { id, .. }) if *id == var);
    let is_str = |o: &Operand| matches!(o, Operand::Lit(Literal::Str(_)));
    match e {
        Expr::Cmp { op, left, right } => {
            let eq = if neg { *op == CmpOp::Ne } else { *op == CmpOp::Eq };
            eq && ((is_var(left) && is_str(right)) || (is_str(left) && is_var(right)))
        }
        Expr::In { operand, items } => {
            !neg && is_var(operand) && !items.is_empty() && items.iter().all(|l| matches!(l, Literal::Str(_)))
        }
        Expr::Or(items) if !neg => items.iter().all(|i| is_tag_lookup(i, var, false)),
        Expr::And(items) if neg => items.iter().all(|i| is_tag_lookup(i, var, true)),
        Expr::Not(inner) => is_tag_lookup(inner, var, !neg),
        _ => false,
    }
}

fn is_null(o: &Operand) -> bool {
    matches!(o, Operand::Lit(Literal::Null))
}

fn render_cmp(op: CmpOp, l: &Operand, r: &Operand, neg: bool, b: &mut SqlBuilder) {
    if is_null(l) || is_null(r) {
        let holds_when_null = match op {
            CmpOp::Eq => Some(true),
            CmpOp::Ne => Some(false),
            _ => None,
        };
        let other = if is_null(l) { r } else { l };
        match holds_when_null {
            Some(eq) if !is_null(other) => {
                b.push_sql("(");
                render_operand(other, b);
                b.push_sql(if eq != neg { " IS NULL)" } else { " IS NOT NULL)" });
            }
            // null eq null holds; null ne null and every ordering with null do not.
            Some(eq) => b.push_sql(if eq != neg { "1 = 1" } else { "1 = 0" }),
            None => b.push_sql(if neg { "1 = 1" } else { "1 = 0" }),
        }
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
    render_operand(l, b);
    b.push_sql(sql_op);
    render_operand(r, b);
    if ordering && neg {
        // not (l > r) also holds when either side is null.
        for side in [l, r] {
            if !side.not_null() {
                b.push_sql(" OR ");
                render_operand(side, b);
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

fn render_in(x: &Operand, items: &[Literal], neg: bool, b: &mut SqlBuilder) {
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
        render_operand(x, b);
        b.push_sql(if neg { " IS NOT NULL" } else { " IS NULL" });
    } else {
        render_operand(x, b);
        list(b);
        match (neg, has_null) {
            (false, true) => {
                b.push_sql(" OR ");
                render_operand(x, b);
                b.push_sql(" IS NULL");
            }
            (true, true) => {
                b.push_sql(" AND ");
                render_operand(x, b);
                b.push_sql(" IS NOT NULL");
            }
            (true, false) if !x.not_null() => {
                b.push_sql(" OR ");
                render_operand(x, b);
                b.push_sql(" IS NULL");
            }
            _ => {}
        }
    }
    b.push_sql(")");
}

fn render_strfn(func: StrFn, l: &Operand, r: &Operand, b: &mut SqlBuilder) {
    let pg = pg(b);
    b.push_sql("(");
    match (func, pg) {
        (StrFn::StartsWith, false) => {
            b.push_sql("substr(");
            render_operand(l, b);
            b.push_sql(", 1, length(");
            render_operand(r, b);
            b.push_sql(")) = ");
            render_operand(r, b);
        }
        (StrFn::StartsWith | StrFn::EndsWith, true) => {
            b.push_sql(if func == StrFn::StartsWith { "left(" } else { "right(" });
            render_operand(l, b);
            b.push_sql(", length(");
            render_operand(r, b);
            b.push_sql(")) = ");
            render_operand(r, b);
        }
        (StrFn::EndsWith, false) => {
            b.push_sql("length(");
            render_operand(l, b);
            b.push_sql(") >= length(");
            render_operand(r, b);
            b.push_sql(") AND substr(");
            render_operand(l, b);
            b.push_sql(", length(");
            render_operand(l, b);
            b.push_sql(") - length(");
            render_operand(r, b);
            b.push_sql(") + 1) = ");
            render_operand(r, b);
        }
        (StrFn::Contains, _) => {
            b.push_sql(if pg { "strpos(" } else { "instr(" });
            render_operand(l, b);
            b.push_sql(", ");
            render_operand(r, b);
            b.push_sql(") > 0");
        }
    }
    b.push_sql(")");
}

pub(crate) fn render_literal(l: &Literal, b: &mut SqlBuilder) {
    match l {
        Literal::Null => b.push_sql(if pg(b) { "CAST(NULL AS text)" } else { "NULL" }),
        Literal::Str(s) | Literal::DateTime(s) | Literal::Enum(s) => push_text_literal(s, b),
        Literal::Int(i) => b.push_typed(SqlValue::Int(*i)),
        Literal::Real(r) => b.push_typed(SqlValue::Real(*r)),
        Literal::Bool(v) => b.push_typed(SqlValue::Bool(*v)),
    }
}

/// A text value from the request; on PostgreSQL it compares byte-wise like the columns.
pub(crate) fn push_text_literal(s: &str, b: &mut SqlBuilder) {
    b.push_text(s);
    if pg(b) {
        b.push_sql(" COLLATE \"C\"");
    }
}

/// The SQLite JSON path of a top-level member (dynamic names are simple identifiers).
pub(crate) fn sqlite_path(name: &str) -> String {
    format!("$.\"{name}\"")
}

/// A dynamic property read as `view` (null when the stored JSON type differs).
pub(crate) fn render_dynamic(name: &str, view: DynView, b: &mut SqlBuilder) {
    if pg(b) {
        let (test, read_pre, read_post) = match view {
            DynView::Any => {
                b.push_sql("(p.doc ->> ");
                b.push_text(name);
                b.push_sql(")");
                return;
            }
            DynView::Text => ("'string'", "(", ") COLLATE \"C\""),
            DynView::Number => ("'number'", "(", ")::numeric"),
            DynView::Bool => ("'boolean'", "(", ")::boolean"),
        };
        b.push_sql("(CASE WHEN jsonb_typeof(p.doc -> ");
        b.push_text(name);
        b.push_sql(&format!(") = {test} THEN {read_pre}p.doc ->> "));
        b.push_text(name);
        b.push_sql(&format!("{read_post} END)"));
    } else {
        let path = sqlite_path(name);
        match view {
            DynView::Any => {
                b.push_sql("json_extract(p.doc, ");
                b.push_text(&path);
                b.push_sql(")");
            }
            DynView::Text | DynView::Number => {
                b.push_sql("(CASE WHEN json_type(p.doc, ");
                b.push_text(&path);
                b.push_sql(if view == DynView::Text {
                    ") = 'text' THEN json_extract(p.doc, "
                } else {
                    ") IN ('integer', 'real') THEN json_extract(p.doc, "
                });
                b.push_text(&path);
                b.push_sql(") END)");
            }
            DynView::Bool => {
                b.push_sql("(CASE json_type(p.doc, ");
                b.push_text(&path);
                b.push_sql(") WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)");
            }
        }
    }
}

/// vendorInformation/field (a constant from the schema allow-list).
pub(crate) fn render_vendor(field: &str, b: &mut SqlBuilder) {
    if pg(b) {
        b.push_sql(&format!("(p.doc -> 'vendorInformation' ->> '{field}') COLLATE \"C\""));
    } else {
        b.push_sql(&format!("json_extract(p.doc, '$.vendorInformation.{field}')"));
    }
}

fn render_operand(o: &Operand, b: &mut SqlBuilder) {
    match o {
        Operand::Lit(l) => render_literal(l, b),
        Operand::Prop(p) => match p {
            Prop::Column { column, .. } => b.push_sql(&format!("p.{column}")),
            Prop::Vendor(field) => render_vendor(field, b),
            Prop::Dynamic { name, view } => render_dynamic(name, *view, b),
            Prop::TagVar { id, .. } => b.push_sql(&format!("t{id}.tag")),
            Prop::AccountField { id, field, .. } => {
                if pg(b) {
                    b.push_sql(&format!("(a{id}.value ->> '{field}') COLLATE \"C\""));
                } else {
                    b.push_sql(&format!("json_extract(a{id}.value, '$.{field}')"));
                }
            }
        },
        Operand::Lower(x) | Operand::Upper(x) => {
            b.push_sql(if matches!(o, Operand::Lower(_)) { "lower(" } else { "upper(" });
            render_operand(x, b);
            b.push_sql(")");
        }
        Operand::Count(Coll::Tags) => b.push_sql(if pg(b) {
            "(SELECT COUNT(*) FROM profile_tags tc WHERE tc.tenant = p.tenant AND tc.id = p.id)"
        } else {
            "COALESCE(json_array_length(p.tags_json), 0)"
        }),
        Operand::Count(Coll::Accounts) => b.push_sql(if pg(b) {
            "COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(p.doc -> 'accounts') = 'array' THEN p.doc -> 'accounts' END), 0)"
        } else {
            "COALESCE(json_array_length(CASE json_type(p.doc, '$.accounts') WHEN 'array' THEN p.doc END, '$.accounts'), 0)"
        }),
    }
}
