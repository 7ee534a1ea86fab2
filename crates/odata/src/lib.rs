//! OData v4 query options for one entity set of an open entity type.
//!
//! The caller describes the entity type ([`Schema`]: key, declared properties and their EDM
//! types) and where it is stored ([`Storage`]: table alias, columns, element tables, the JSON
//! document column). On that:
//!
//! * `$filter`, `$orderby` and `$select` parsers producing small typed ASTs,
//! * rendering of those ASTs to SQL for SQLite and PostgreSQL, with every value taken from the
//!   request bound as a parameter (the SQL text holds only names from the schema and storage),
//! * an in-memory evaluator over the stored JSON documents that defines the same semantics and
//!   serves as the test oracle for the SQL.
//!
//! Pure: no I/O, no storage engine.
//!
//! For example, books with a column for `title`; `pages` is not declared, so it is a dynamic
//! property, read from each book's JSON document:
//!
//! ```
//! use odata::{Dialect, Property, Schema, SqlBuilder, Storage, Type, parse_filter};
//!
//! let schema = Schema::new(
//!     "id",
//!     vec![
//!         Property { name: "id", ty: Type::String, nullable: false },
//!         Property { name: "title", ty: Type::String, nullable: true },
//!     ],
//! );
//! let storage = Storage {
//!     table: "books",
//!     alias: "b",
//!     document: "doc",
//!     columns: vec![("id", "id"), ("title", "title_column")],
//!     element_tables: vec![],
//! };
//! let filter = parse_filter("startswith(Title, 'Dune') and pages gt 300", &schema)?;
//! let mut sql = SqlBuilder::new(Dialect::Sqlite);
//! sql.push_sql("SELECT b.doc FROM books b WHERE ");
//! filter.render_sql(&storage, &mut sql);
//! assert_eq!(
//!     sql.sql(),
//!     "SELECT b.doc FROM books b WHERE (((substr(b.title_column, 1, length(?1)) = ?2) AND \
//!      ((CASE WHEN json_type(b.doc, ?3) IN ('integer', 'real') THEN json_extract(b.doc, ?4) END) > ?5)))"
//! );
//! # Ok::<(), odata::QueryError>(())
//! ```
//!
//! # Semantics (shared by the SQL and the evaluator, checked against each other by proptest)
//!
//! * Two-valued logic. `eq`/`ne`: null equals only null (`x ne 'a'` holds when `x` is null).
//!   `gt ge lt le` with a null operand are false. Functions of null are null. `not` negates the
//!   two-valued result, so `not (x gt 'a')` holds when `x` is null.
//! * Keywords, operators and function names are case-insensitive (`EQ`, `And`, `StartsWith`), as
//!   are declared property names, which resolve to their canonical spelling. Lambda variables and
//!   dynamic property names are case-sensitive.
//! * Strings compare byte-wise (ordinal, case-sensitive); `tolower`/`toupper` map ASCII only.
//! * Dynamic (undeclared) properties compare with string, number, boolean literals (or a string
//!   or number expression) only when the stored JSON value has that JSON type; otherwise the value
//!   reads as null (so `eq` is false and `ne` is true). `x eq null` holds when the member is
//!   absent or JSON null. A bare dynamic property is a boolean test: `flag` is `flag eq true`.
//!   Dynamic names are matched exactly (JSON keys are case-sensitive in SQL).
//! * Lambdas and `$count` over a `Collection(Edm.String)` see its string elements; a null
//!   collection behaves like an empty one (`any` false, `all` true, `$count` 0).
//! * `$orderby` keys are strings or null: declared scalars, `<complex property>/<member>` and
//!   dynamic properties, which sort by their value when it is a JSON string and as null
//!   otherwise. Nulls first ascending, last descending; the key property ascending is the
//!   final tie-breaker.
//!
//! # Limits
//!
//! Every option is at most [`MAX_OPTION_LEN`] bytes; `$filter` nests at most [`MAX_DEPTH`]
//! levels and has at most [`MAX_TERMS`] terms; `$orderby` has at most 15 keys. Parsing is linear
//! in the input and never panics (fuzzed).

mod cover;
mod datetime;
mod filter;
mod filter_eval;
mod filter_parse;
mod filter_sql;
mod lexer;
mod operand_sql;
mod orderby;
pub mod plan;
pub mod schema;
mod select;
mod sql;

// The test support module names this crate `odata`, as the integration tests see it.
#[cfg(test)]
extern crate self as odata;
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod support;
#[cfg(test)]
mod tests;

pub use cover::{Cover, KeySource};
pub use datetime::canonical_datetime;
pub use filter::Filter;
pub use filter_parse::parse_filter;
pub use orderby::{OrderBy, OrderKey, SortKey, SortTarget, parse_orderby};
pub use schema::{ComplexType, ElementTable, EnumType, Property, Schema, Storage, Type};
pub use select::{Select, parse_select};
pub use sql::{Dialect, SqlBuilder, SqlValue};

/// Longest accepted value of one query option, in bytes.
pub const MAX_OPTION_LEN: usize = 64 * 1024;
/// Deepest accepted nesting (parentheses, `not`, function calls, lambdas) in `$filter`. Kept
/// low so that parsing stays far inside a 2 MiB thread stack even in debug builds (about 25 KiB
/// per level there); real filters rarely nest beyond a handful of levels.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons, function calls and literals accepted in one `$filter`.
/// Kept well under SQLite's expression depth limit (1000), which a long `or` chain approaches.
pub const MAX_TERMS: usize = 300;

/// A query option that cannot be parsed or does not fit the schema (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// Byte offset into the option's (decoded) value, when known.
    pub position: Option<usize>,
}

impl QueryError {
    pub(crate) fn at(message: impl Into<String>, position: usize) -> Self {
        QueryError { message: message.into(), position: Some(position) }
    }

    pub(crate) fn new(message: impl Into<String>) -> Self {
        QueryError { message: message.into(), position: None }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} at position {}", self.message, p),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for QueryError {}
