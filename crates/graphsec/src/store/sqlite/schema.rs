//! The database's schema and secrets: migrations on open, recorded in `PRAGMA user_version`.

use crate::store::StoreError;
use crate::store::sql::{self, INSERT_SECRET, SELECT_SECRET};
use odata::Dialect::Sqlite;
use rusqlite::{Connection, TransactionBehavior, params};

pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_audit.sql"),
    include_str!("../../../migrations/sqlite/0003_tag_key.sql"),
    include_str!("../../../migrations/sqlite/0004_collections_never_null.sql"),
    include_str!("../../../migrations/sqlite/0005_audit_by_profile.sql"),
    include_str!("../../../migrations/sqlite/0006_audit_chain.sql"),
];

/// Runs the migrations the database has not run, each in a transaction of its own.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (version, migration) in sql::pending(MIGRATIONS, applied)? {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}

/// The secret `name`, created on first use.
pub(super) fn secret(conn: &Connection, name: &str) -> Result<Vec<u8>, StoreError> {
    conn.execute(INSERT_SECRET.text(Sqlite), params![name, sql::fresh_secret()])?;
    let value: String = conn.query_row(SELECT_SECRET.text(Sqlite), [name], |r| r.get(0))?;
    Ok(value.into_bytes())
}
