//! OData v4 query options for the `userSecurityProfile` entity set.
//!
//! * `$filter`, `$orderby` and `$select` parsers producing small typed ASTs,
//! * rendering of those ASTs to SQL for SQLite and PostgreSQL, with every value taken from the
//!   request bound as a parameter (the SQL text holds only names from the schema allow-list),
//! * an in-memory evaluator over the stored JSON documents that defines the same semantics and
//!   serves as the test oracle for the SQL.
//!
//! Pure: no I/O, no storage engine.

mod datetime;
mod filter;
mod filter_eval;
mod filter_parse;
mod filter_sql;
mod lexer;
mod orderby;
pub mod schema;
mod select;
mod sql;

#[cfg(test)]
mod tests;

pub use datetime::canonical_datetime;
pub use filter::Filter;
pub use filter_parse::parse_filter;
pub use orderby::{OrderBy, OrderKey, SortKey, SortTarget, parse_orderby};
pub use select::{Select, parse_select};
pub use sql::{Dialect, SqlBuilder, SqlValue};

/// Longest accepted value of one query option, in bytes.
pub const MAX_OPTION_LEN: usize = 64 * 1024;
/// Deepest accepted nesting (parentheses, `not`, function calls, lambdas) in `$filter`.
pub const MAX_DEPTH: usize = 100;
/// Most comparisons, function calls and literals accepted in one `$filter`.
pub const MAX_TERMS: usize = 1000;

/// A query option that cannot be parsed or does not fit the schema (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// Byte offset into the option's (decoded) value, when known.
    pub position: Option<usize>,
}

impl QueryError {
    pub(crate) fn at(message: impl Into<String>, position: usize) -> Self {
        QueryError {
            message: message.into(),
            position: Some(position),
        }
    }

    pub(crate) fn new(message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
            position: None,
        }
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
