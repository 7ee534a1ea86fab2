//! SQL text plus bound parameters.

/// The SQL dialect to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound parameter. PostgreSQL SQL written by this crate casts each of its own parameters
/// explicitly: `Text` as `::text`, `Int` as `::bigint`, `Real` as `::float8`, `Bool` as `::boolean`,
/// so bind `String`, `i64`, `f64` and `bool` respectively.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
}

/// Accumulates SQL text and bound parameters; placeholders are `?N` (SQLite) or `$N`
/// (PostgreSQL), numbered from 1 in push order.
#[derive(Debug, Clone)]
pub struct SqlBuilder {
    dialect: Dialect,
    sql: String,
    params: Vec<SqlValue>,
    /// SQLite: while set, columns other than these are written `+column`, which keeps the
    /// planner from reaching the rows through their indexes.
    pub(crate) indexed_only: Option<Vec<&'static str>>,
}

impl SqlBuilder {
    pub fn new(dialect: Dialect) -> Self {
        SqlBuilder { dialect, sql: String::new(), params: Vec::new(), indexed_only: None }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Appends trusted, constant SQL. Never pass request text here.
    pub fn push_sql(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    /// Binds `v` and appends its placeholder.
    pub fn push_param(&mut self, v: SqlValue) {
        self.params.push(v);
        let n = self.params.len();
        let sigil = match self.dialect {
            Dialect::Sqlite => '?',
            Dialect::Postgres => '$',
        };
        self.sql.push(sigil);
        self.sql.push_str(&n.to_string());
    }

    /// Binds `v` and appends its placeholder, with an explicit cast on PostgreSQL.
    pub(crate) fn push_typed(&mut self, v: SqlValue) {
        let cast = match &v {
            SqlValue::Null => "",
            SqlValue::Text(_) => "::text",
            SqlValue::Int(_) => "::bigint",
            SqlValue::Real(_) => "::float8",
            SqlValue::Bool(_) => "::boolean",
        };
        self.push_param(v);
        if self.dialect == Dialect::Postgres {
            self.sql.push_str(cast);
        }
    }

    pub(crate) fn push_text(&mut self, s: &str) {
        self.push_typed(SqlValue::Text(s.to_owned()));
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn params(&self) -> &[SqlValue] {
        &self.params
    }

    pub fn into_parts(self) -> (String, Vec<SqlValue>) {
        (self.sql, self.params)
    }
}
