//! Reads: pooled read-only connections, which never wait for the writer (WAL snapshots), and
//! the queries they run. Point reads run on the calling async thread; scans (list, count, audit)
//! run on the blocking pool, a bounded number at a time.

use super::location::Location;
use super::{BUSY_TIMEOUT, SqliteStore, blocking, chain, rows};
use crate::store::audit::TextColumns;
use crate::store::audit::{self, AuditQuery, AuditRecord, HistoryPage, HistoryQuery};
use crate::store::{ListPage, ListRequest, Scope, StoreError, StoredProfile, plan};
use odata::Cover;
use odata::Dialect::Sqlite;
use rusqlite::{Connection, OpenFlags, params};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// List and count queries running at once; more wait their turn.
const MAX_CONCURRENT_SCANS: usize = 8;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;
/// Point-read connections map this much of the database file instead of copying pages in with
/// read(2). A reader's page cache is small, its own, and dropped whenever another connection
/// writes, so readers fetch many pages from the file; from the mapping that costs no system call
/// and no copy. Each connection's mapping counts in the process's RSS on its own (the pages are
/// the kernel's page cache, shared and reclaimable), so it is small, and only point readers have
/// one: they run inline on the async worker threads, so no more of them are busy than there are
/// workers. Scans read without a mapping.
const POINT_READER_MMAP_BYTES: i64 = 32 << 20;

pub(super) struct Readers {
    location: Location,
    /// Idle connections for point reads (mapped) and for scans (not mapped).
    point: Mutex<Vec<Connection>>,
    scan: Mutex<Vec<Connection>>,
    /// Bounds the scans running at once (each holds a thread and a connection).
    scan_slots: tokio::sync::Semaphore,
    /// Scans running longer are interrupted.
    query_timeout: Duration,
}

impl Readers {
    pub(super) fn new(location: Location, query_timeout: Duration) -> Readers {
        Readers {
            location,
            point: Mutex::new(Vec::new()),
            scan: Mutex::new(Vec::new()),
            scan_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_SCANS),
            query_timeout,
        }
    }

    pub(super) fn point<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        pooled(&self.point, &self.location, POINT_READER_MMAP_BYTES, f)
    }

    /// A reader whose queries are interrupted past the query timeout, so no filter, however
    /// costly, holds a thread and a connection longer than that.
    fn scan<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.query_timeout;
        pooled(&self.scan, &self.location, 0, |conn| {
            conn.progress_handler(10_000, Some(move || Instant::now() > deadline))?;
            let result = f(conn);
            conn.progress_handler(0, None::<fn() -> bool>)?;
            match result {
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::OperationInterrupted =>
                {
                    Err(StoreError::QueryTimeout(self.query_timeout))
                }
                other => other,
            }
        })
    }

    /// Closes the idle connections.
    pub(super) fn clear(&self) {
        for pool in [&self.point, &self.scan] {
            if let Ok(mut readers) = pool.lock() {
                readers.clear();
            }
        }
    }
}

impl SqliteStore {
    /// Point read; short enough to run on the calling (async) thread.
    pub fn get(&self, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
        Ok(self.readers.point(|conn| rows::find(conn, scope, id))?.map(rows::Found::stored))
    }

    /// One page of the collection.
    pub async fn list(self: &Arc<Self>, scope: Scope, request: ListRequest) -> Result<ListPage, StoreError> {
        self.scan(move |readers| {
            let rows = readers.scan(|conn| {
                let covers = plan::covers(Sqlite, request.filter.as_ref());
                let drive = match plan::in_order(Sqlite, &covers, &request.order) {
                    Some(cover) => Some(cover),
                    None => choose(conn, &scope, &covers, Some(&request.order))?,
                };
                let (sql, values) = plan::list_sql(Sqlite, "p.doc, p.version", &scope, &request, drive).into_parts();
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(values.iter().map(SqlParam)), |r| {
                        Ok(StoredProfile { doc: r.get(0)?, version: r.get(1)? })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })?;
            crate::store::finish_page(rows, &request)
        })
        .await
    }

    /// Number of profiles matching the filter.
    pub async fn count(self: &Arc<Self>, scope: Scope, filter: Option<odata::Filter>) -> Result<i64, StoreError> {
        self.scan(move |readers| {
            readers.scan(|conn| {
                let covers = plan::covers(Sqlite, filter.as_ref());
                let drive = match plan::exact(&covers) {
                    Some(cover) => Some(cover),
                    None => choose(conn, &scope, &covers, None)?,
                };
                let (sql, values) = plan::count_sql(Sqlite, &scope, filter.as_ref(), drive).into_parts();
                let mut stmt = conn.prepare_cached(&sql)?;
                Ok(stmt.query_row(rusqlite::params_from_iter(values.iter().map(SqlParam)), |r| r.get(0))?)
            })
        })
        .await
    }

    /// Audit-trail rows, oldest first.
    pub async fn audit(self: &Arc<Self>, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let store = self.clone();
        blocking(move || {
            pooled(&store.readers.scan, &store.readers.location, 0, |conn| {
                if let Some(profile_id) = &query.profile_id {
                    return chain::oldest(conn, &query, profile_id);
                }
                let mut stmt = conn.prepare_cached(audit::SELECT_AUDIT.text(odata::Dialect::Sqlite))?;
                let mut rows =
                    stmt.query(params![query.tenant, query.profile_id, query.operation, query.since, query.limit])?;
                let mut records = Vec::new();
                while let Some(row) = rows.next()? {
                    records.push(audit::audit_record(row)?);
                }
                Ok(records)
            })
        })
        .await
    }

    /// A page of one profile's audit trail, newest first.
    pub async fn history(self: &Arc<Self>, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let store = self.clone();
        blocking(move || pooled(&store.readers.scan, &store.readers.location, 0, |conn| chain::page(conn, &query)))
            .await
    }

    /// Runs a scan on the blocking pool once one of the scan slots is free.
    async fn scan<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Readers) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _slot = self.readers.scan_slots.acquire().await.map_err(|_| StoreError::Closed)?;
        let store = self.clone();
        blocking(move || f(&store.readers)).await
    }
}

impl TextColumns for rusqlite::Row<'_> {
    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.get(index)?)
    }
}

/// The cover a query (a list in `order`, or a count) starts from, after counting (up to a cap)
/// the keys of each candidate.
fn choose<'a>(
    conn: &Connection,
    scope: &Scope,
    covers: &'a [Cover],
    order: Option<&odata::OrderBy>,
) -> Result<Option<&'a Cover>, StoreError> {
    if covers.is_empty() {
        return Ok(None);
    }
    let (sql, values) = plan::estimate_sql(Sqlite, scope, covers, order).into_parts();
    let mut stmt = conn.prepare_cached(&sql)?;
    let estimates = stmt.query_row(rusqlite::params_from_iter(values.iter().map(SqlParam)), |r| {
        (0..covers.len()).map(|i| r.get::<_, i64>(i)).collect::<Result<Vec<_>, _>>()
    })?;
    Ok(plan::choose(Sqlite, covers, &estimates, order))
}

/// Runs `f` on an idle connection of `pool` (a new one when there is none) and keeps it for the
/// next caller.
fn pooled<T>(
    pool: &Mutex<Vec<Connection>>,
    location: &Location,
    mmap_bytes: i64,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let idle = pool.lock().map_err(|_| StoreError::Closed)?.pop();
    let conn = match idle {
        Some(conn) => conn,
        None => open_reader(location, mmap_bytes)?,
    };
    let result = f(&conn);
    if let Ok(mut idle) = pool.lock()
        && idle.len() < MAX_IDLE_READERS
    {
        idle.push(conn);
    }
    result
}

fn open_reader(location: &Location, mmap_bytes: i64) -> Result<Connection, StoreError> {
    let conn = location.open_with(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -4_096)?;
    conn.pragma_update(None, "mmap_size", mmap_bytes)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Binds an odata parameter to rusqlite.
struct SqlParam<'a>(&'a odata::SqlValue);

impl rusqlite::ToSql for SqlParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(match self.0 {
            odata::SqlValue::Null => ToSqlOutput::Owned(V::Null),
            odata::SqlValue::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
            odata::SqlValue::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            odata::SqlValue::Real(f) => ToSqlOutput::Owned(V::Real(*f)),
            odata::SqlValue::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
        })
    }
}
