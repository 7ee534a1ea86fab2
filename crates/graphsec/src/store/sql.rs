//! SQL both engines run, written once. Statements are written with PostgreSQL's `$N`
//! placeholders; SQLite is given the same text with `?N` (both number the parameters from 1).

use super::{Scope, StoreError};
use odata::Dialect;
use std::sync::OnceLock;

/// A statement both engines run.
pub(crate) struct Statement {
    postgres: &'static str,
    sqlite: OnceLock<String>,
}

impl Statement {
    pub(crate) const fn new(postgres: &'static str) -> Statement {
        Statement { postgres, sqlite: OnceLock::new() }
    }

    pub(crate) fn text(&'static self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Postgres => self.postgres,
            Dialect::Sqlite => self.sqlite.get_or_init(|| sqlite_placeholders(self.postgres)),
        }
    }
}

/// `$N` → `?N`. The shared statements hold no `$` other than placeholders.
fn sqlite_placeholders(text: &str) -> String {
    text.replace('$', "?")
}

/// The row an id names within a scope: `SELECT <columns> FROM profiles WHERE .. <suffix>`. With
/// every tenant in scope the same id may exist in several tenants; the lowest tenant id is taken,
/// so the choice is stable.
pub(crate) struct NamedRow {
    in_tenant: Statement,
    in_any_tenant: Statement,
}

macro_rules! named_row {
    ($columns:literal, $suffix:literal) => {
        $crate::store::sql::NamedRow::new(
            concat!("SELECT ", $columns, " FROM profiles WHERE tenant = $1 AND id = $2", $suffix),
            concat!("SELECT ", $columns, " FROM profiles WHERE id = $1 ORDER BY tenant LIMIT 1", $suffix),
        )
    };
}
pub(crate) use named_row;

impl NamedRow {
    pub(crate) const fn new(in_tenant: &'static str, in_any_tenant: &'static str) -> NamedRow {
        NamedRow { in_tenant: Statement::new(in_tenant), in_any_tenant: Statement::new(in_any_tenant) }
    }

    /// The statement for `scope`, and its parameters.
    pub(crate) fn of<'a>(
        &'static self,
        dialect: Dialect,
        scope: &'a Scope,
        id: &'a str,
    ) -> (&'static str, Vec<&'a str>) {
        match scope {
            Scope::Tenant(tenant) => (self.in_tenant.text(dialect), vec![tenant.as_str(), id]),
            Scope::AllTenants => (self.in_any_tenant.text(dialect), vec![id]),
        }
    }
}

/// Server-wide secrets, created by the first instance that needs one: parameters name, value.
pub(crate) static INSERT_SECRET: Statement =
    Statement::new("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING");
pub(crate) static SELECT_SECRET: Statement = Statement::new("SELECT value FROM settings WHERE name = $1");

/// A new secret: 32 random bytes in hex.
pub(crate) fn fresh_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The migrations a database at schema version `applied` has not run, with the version each
/// brings it to; an error when the database is newer than this graphsec.
pub(crate) fn pending<T>(migrations: &[T], applied: i64) -> Result<impl Iterator<Item = (i64, &T)>, StoreError> {
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > migrations.len() {
        return Err(StoreError::Other(format!(
            "the database is at schema version {applied}, newer than this graphsec ({}); upgrade graphsec",
            migrations.len()
        )));
    }
    Ok(migrations.iter().enumerate().skip(applied).map(|(index, m)| (index as i64 + 1, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    static ROW: NamedRow = named_row!("doc", " FOR UPDATE");

    #[test]
    fn sqlite_is_given_numbered_question_marks() {
        assert_eq!(
            INSERT_SECRET.text(Dialect::Sqlite),
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING"
        );
        let all = Scope::AllTenants;
        let (sql, params) = ROW.of(Dialect::Postgres, &all, "x");
        assert_eq!(sql, "SELECT doc FROM profiles WHERE id = $1 ORDER BY tenant LIMIT 1 FOR UPDATE");
        assert_eq!(params, ["x"]);
        let tenant = Scope::Tenant("t".into());
        assert_eq!(ROW.of(Dialect::Sqlite, &tenant, "x").1, ["t", "x"]);
    }

    #[test]
    fn a_database_newer_than_the_migrations_is_refused() {
        let versions: Vec<i64> = pending(&["a", "b", "c"], 1).map(|p| p.map(|(v, _)| v).collect()).unwrap_or_default();
        assert_eq!(versions, [2, 3]);
        assert!(pending(&["a"], 2).is_err());
    }
}
