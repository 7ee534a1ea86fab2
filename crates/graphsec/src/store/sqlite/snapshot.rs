//! One consistent snapshot of an SQLite database, read beside a running server without a store
//! of its own (no writer or checkpointer thread): `graphsec export` streams its profiles and
//! `graphsec backup` copies it whole.
//!
//! A read transaction in WAL mode sees the database as of its first read, whatever the server
//! commits meanwhile, and never blocks the server's writes. It does keep the server's WAL from
//! restarting until it ends (the WAL grows by what is written meanwhile), so it is held only as
//! long as the export or copy takes.

use super::{BUSY_TIMEOUT, disk, schema};
use crate::store::{ExportError, StoreError};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::io::Write;
use std::path::Path;

/// Profiles in (tenant, id) order, the order of the unique index `profiles_key`, which SQLite
/// walks without sorting. The same order on PostgreSQL (byte-wise text), so an export's bytes do
/// not depend on the engine it came from.
const SELECT_ALL: &str = "SELECT doc FROM profiles ORDER BY tenant, id";
const SELECT_TENANT: &str = "SELECT doc FROM profiles WHERE tenant = ?1 ORDER BY tenant, id";

/// Writes every profile's document (of `tenant`, or of all tenants), one per line, from one
/// snapshot; returns how many. One statement, stepped row by row, is both the snapshot and the
/// stream: nothing is held but the current row.
pub fn export(db: &Path, tenant: Option<&str>, out: &mut dyn Write) -> Result<u64, ExportError> {
    let mut conn = open(db)?;
    conn.pragma_update(None, "query_only", true).map_err(StoreError::from)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(StoreError::from)?;
    let mut stmt = match tenant {
        Some(_) => tx.prepare(SELECT_TENANT),
        None => tx.prepare(SELECT_ALL),
    }
    .map_err(StoreError::from)?;
    let mut rows = match tenant {
        Some(tenant) => stmt.query([tenant]),
        None => stmt.query([]),
    }
    .map_err(StoreError::from)?;
    let mut count = 0;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let doc = row.get_ref(0).map_err(StoreError::from)?;
        let doc = doc.as_str().map_err(|e| StoreError::Other(format!("a stored document is not text: {e}")))?;
        out.write_all(doc.as_bytes()).map_err(ExportError::Output)?;
        out.write_all(b"\n").map_err(ExportError::Output)?;
        count += 1;
    }
    Ok(count)
}

/// Copies the database as of one snapshot into the new file `to` (`VACUUM INTO`: compacted, and
/// a database of its own, without a WAL), then syncs it.
pub fn copy(db: &Path, to: &Path) -> Result<(), StoreError> {
    let conn = open(db)?;
    let target = to.to_str().ok_or_else(|| StoreError::Other(format!("{} is not valid UTF-8", to.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Other(format!("cannot sync {}: {e}", to.display())))?;
    disk::sync_directory(to)
}

/// The profiles in a database file (a backup's, say).
pub fn count(db: &Path) -> Result<i64, StoreError> {
    Ok(open(db)?.query_row("SELECT COUNT(*) FROM profiles", [], |r| r.get(0))?)
}

/// A connection that reads. A database from an older graphsec is migrated first, as every command
/// on a data directory does (a running server has already migrated it, so beside one this writes
/// nothing); one from a newer graphsec is refused.
fn open(db: &Path) -> Result<Connection, StoreError> {
    let mut conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}
