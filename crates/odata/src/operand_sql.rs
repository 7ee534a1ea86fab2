//! How a value or a member of a profile is written in SQL: literals, declared columns, complex
//! members, dynamic properties in the document, lambda elements and collection counts. Shared by
//! the filter, the order and the query plans.

use crate::filter::{Coll, DynView, Literal, Operand, Prop};
use crate::filter_sql::{pg, push_document_strings};
use crate::schema::Storage;
use crate::sql::{Dialect, SqlBuilder, SqlValue};

pub(crate) fn render_literal(l: &Literal, b: &mut SqlBuilder) {
    match l {
        Literal::Null => b.push_sql(if pg(b) { "CAST(NULL AS text)" } else { "NULL" }),
        Literal::Str(s) | Literal::DateTime(s) | Literal::Enum(_, s) => push_text_literal(s, b),
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
pub(crate) fn render_dynamic(name: &str, view: DynView, s: &Storage, b: &mut SqlBuilder) {
    let doc = format!("{}.{}", s.alias, s.document);
    if pg(b) {
        let (test, read_pre, read_post) = match view {
            DynView::Any => {
                b.push_sql(&format!("({doc} ->> "));
                b.push_text(name);
                b.push_sql(")");
                return;
            }
            DynView::Text => ("'string'", "(", ") COLLATE \"C\""),
            DynView::Number => ("'number'", "(", ")::numeric"),
            DynView::Bool => ("'boolean'", "(", ")::boolean"),
        };
        b.push_sql(&format!("(CASE WHEN jsonb_typeof({doc} -> "));
        b.push_text(name);
        b.push_sql(&format!(") = {test} THEN {read_pre}{doc} ->> "));
        b.push_text(name);
        b.push_sql(&format!("{read_post} END)"));
    } else {
        let path = sqlite_path(name);
        match view {
            DynView::Any => {
                b.push_sql(&format!("json_extract({doc}, "));
                b.push_text(&path);
                b.push_sql(")");
            }
            DynView::Text | DynView::Number => {
                b.push_sql(&format!("(CASE WHEN json_type({doc}, "));
                b.push_text(&path);
                b.push_sql(&if view == DynView::Text {
                    format!(") = 'text' THEN json_extract({doc}, ")
                } else {
                    format!(") IN ('integer', 'real') THEN json_extract({doc}, ")
                });
                b.push_text(&path);
                b.push_sql(") END)");
            }
            DynView::Bool => {
                b.push_sql(&format!("(CASE json_type({doc}, "));
                b.push_text(&path);
                b.push_sql(") WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)");
            }
        }
    }
}

/// A declared scalar: its column, else its member of the document.
pub(crate) fn render_declared(name: &str, s: &Storage, b: &mut SqlBuilder) {
    match s.column(name) {
        Some(column) => {
            let hidden =
                b.dialect() == Dialect::Sqlite && b.indexed_only.as_ref().is_some_and(|keep| !keep.contains(&column));
            b.push_sql(&format!("{}{}.{column}", if hidden { "+" } else { "" }, s.alias));
        }
        None => render_json_text(&format!("{}.{}", s.alias, s.document), &[name], b),
    }
}

/// `property/member` of a complex property (names from the schema).
pub(crate) fn render_member(property: &str, member: &str, s: &Storage, b: &mut SqlBuilder) {
    render_json_text(&format!("{}.{}", s.alias, s.document), &[property, member], b);
}

/// The string at `path` (names from the schema) in the JSON value `json`; on PostgreSQL it
/// compares byte-wise like the columns.
fn render_json_text(json: &str, path: &[&str], b: &mut SqlBuilder) {
    if pg(b) {
        let (last, steps) = path.split_last().unwrap_or((&"", &[]));
        let steps: String = steps.iter().map(|step| format!(" -> '{step}'")).collect();
        b.push_sql(&format!("({json}{steps} ->> '{last}') COLLATE \"C\""));
    } else {
        b.push_sql(&format!("json_extract({json}, '$.{}')", path.join(".")));
    }
}

pub(crate) fn render_operand(o: &Operand, s: &Storage, b: &mut SqlBuilder) {
    match o {
        Operand::Lit(l) => render_literal(l, b),
        Operand::Prop(p) => match p {
            Prop::Declared { name, .. } => render_declared(name, s, b),
            Prop::Member { property, member, .. } => render_member(property, member, s, b),
            Prop::Dynamic { name, view } => render_dynamic(name, *view, s, b),
            Prop::Element { id, property, .. } => match s.element_table(property) {
                Some(t) => b.push_sql(&format!("t{id}.{}", t.value)),
                None if pg(b) => b.push_sql(&format!("(t{id}.value COLLATE \"C\")")),
                None => b.push_sql(&format!("t{id}.value")),
            },
            Prop::ElementMember { id, member, .. } => render_json_text(&format!("a{id}.value"), &[member], b),
        },
        Operand::Lower(x) | Operand::Upper(x) => {
            b.push_sql(if matches!(o, Operand::Lower(_)) { "lower(" } else { "upper(" });
            render_operand(x, s, b);
            b.push_sql(")");
        }
        Operand::Count(coll) => render_count(*coll, s, b),
    }
}

/// The number of elements a lambda over `coll` ranges over.
fn render_count(coll: Coll, s: &Storage, b: &mut SqlBuilder) {
    let p = s.alias;
    let doc = s.document;
    match (coll, pg(b)) {
        (Coll::Strings(name), pg) => match s.element_table(name) {
            Some(t) => match t.json_array {
                Some(array) if !pg => b.push_sql(&format!("COALESCE(json_array_length({p}.{array}), 0)")),
                _ => {
                    let join: Vec<String> = t.key.iter().map(|k| format!("tc.{k} = {p}.{k}")).collect();
                    b.push_sql(&format!("(SELECT COUNT(*) FROM {} tc WHERE {})", t.table, join.join(" AND ")));
                }
            },
            None => {
                b.push_sql("(");
                push_document_strings(name, true, s, b);
                b.push_sql(")");
            }
        },
        (Coll::Complex(name, _), true) => b.push_sql(&format!(
            "COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof({p}.{doc} -> '{name}') = 'array' THEN {p}.{doc} -> '{name}' END), 0)"
        )),
        (Coll::Complex(name, _), false) => b.push_sql(&format!(
            "COALESCE(json_array_length(CASE json_type({p}.{doc}, '$.{name}') WHEN 'array' THEN {p}.{doc} END, '$.{name}'), 0)"
        )),
    }
}
