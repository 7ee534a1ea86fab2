//! SQLite store: WAL mode, one writer thread with group commit, pooled read connections.
//!
//! Writes are queued to a single thread ([`writer`]) that drains the queue, applies every queued
//! write in one `BEGIN IMMEDIATE ... COMMIT` and answers each caller only once the commit is on
//! disk (with `--durability full` the commit fsyncs the WAL), so an acknowledged write is
//! durable. Readers use their own connections and never wait for the writer (WAL snapshot
//! isolation). A checkpointer thread copies the WAL back into the database ([`disk`]). When the
//! disk fills up or an fsync fails, the store says so to every write ([`health`]).
//!
//! The writer thread is the one thing every write waits for, so work that does not need it is
//! done before queueing: an update reads the row (from the rows the writer wrote last, see
//! [`RowCache`], or on a reader connection), merges and validates the PATCH there, and hands the
//! writer the finished row together with the version it was made from. The writer stores it
//! only if the row is still at that version; otherwise it reads the row again and redoes the
//! merge inside its transaction, so concurrent PATCHes still apply one after the other.
//! Refusals (not found, If-Match, invalid) are answered from the read alone: they are correct as
//! of that read, which happened while the request was in flight.

mod disk;
pub mod faults;
mod health;
mod rows;
#[cfg(test)]
mod tests;
mod writer;

use super::row_cache::RowCache;
use super::{
    Actor, AuditQuery, AuditRecord, ListPage, ListRequest, Scope, StoreError, StoredProfile, WriteCommand, WriteOutcome,
};
use disk::SyncedFile;
use faults::Faults;
use health::Health;
use rows::{RowChange, RowRef, RowUpdate};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_audit.sql"),
    include_str!("../../../migrations/sqlite/0003_tag_key.sql"),
];
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
/// workers. Scans (list, count, audit) read without a mapping.
const POINT_READER_MMAP_BYTES: i64 = 32 << 20;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer's page cache. Small on purpose: SQLite walks the whole cache at the end of every
/// transaction that split a b-tree page (most groups do), so a large one costs more CPU than
/// the reads it saves; pages it lacks come from the OS's page cache.
const WRITER_CACHE_KIB: i64 = 4_096;
/// Memory for the rows the writer wrote last (see [`RowCache`]).
const ROW_CACHE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// A write is answered only once its commit is fsynced: survives power loss.
    Full,
    /// fsync at checkpoints only: survives process crashes, may lose the last commits on power loss.
    // Closing the store syncs everything, so a bulk load (`graphsec import`) uses this and
    // reports success only after closing.
    Normal,
}

/// The write path's mechanisms for speed and for a bounded WAL, each of which can be switched off
/// to measure what it is worth (`bench/ablation.sh`). All are on unless `GRAPHSEC_SQLITE_WITHOUT`
/// lists them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// PATCHes prepared from the rows the writer wrote last.
    pub row_cache: bool,
    /// The writer restarts the WAL between two groups; else the checkpointer tries, and under a
    /// steady write load rarely gets the write lock in time, so the WAL grows.
    pub writer_restarts: bool,
    /// The checkpointer flushes the database file before the WAL restarts.
    pub flush_before_restart: bool,
}

impl Tuning {
    fn from_env() -> Tuning {
        let off = std::env::var("GRAPHSEC_SQLITE_WITHOUT").unwrap_or_default();
        let on = |name: &str| !off.split(',').any(|n| n.trim() == name);
        let tuning = Tuning {
            row_cache: on("row-cache"),
            writer_restarts: on("writer-restart"),
            flush_before_restart: on("flush-before-restart"),
        };
        if !off.is_empty() {
            tracing::warn!(?tuning, "GRAPHSEC_SQLITE_WITHOUT is set: SQLite write mechanisms switched off");
        }
        tuning
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
type Queued = (Job, Actor, Reply);

/// What the writer thread is asked to do.
enum Job {
    /// The writer reads, decides and writes.
    Command(WriteCommand),
    /// An update merged outside the writer against the row's version `from.version`.
    Prepared(Box<PreparedUpdate>),
}

struct PreparedUpdate {
    from: RowRef,
    /// The [`RowCache`] generation `from` was taken from; `None` when it was read from the database.
    generation: Option<u64>,
    change: RowChange,
    audit: AuditRecord,
    /// Redone by the writer when the row changed after it was read.
    command: WriteCommand,
}

/// The threads that write, and the files they sync; taken apart by [`SqliteStore::close`].
struct WritePath {
    queue: mpsc::Sender<Queued>,
    /// Ends with the result of the writer's last checkpoint.
    writer: std::thread::JoinHandle<Result<(), StoreError>>,
    checkpointer: disk::CheckpointerHandle,
    wal: Arc<SyncedFile>,
    database: Arc<SyncedFile>,
}

pub struct SqliteStore {
    path: PathBuf,
    /// Idle connections for point reads (mapped) and for scans (not mapped).
    point_readers: Mutex<Vec<Connection>>,
    scan_readers: Mutex<Vec<Connection>>,
    /// `None` once closed.
    write_path: Mutex<Option<WritePath>>,
    rows: Arc<RowCache>,
    health: Arc<Health>,
    faults: Arc<Faults>,
    skiptoken_key: Vec<u8>,
    /// Bounds the list and count scans running at once (each holds a thread and a connection).
    pub(crate) scan_slots: tokio::sync::Semaphore,
    /// List and count queries running longer are interrupted.
    query_timeout: Duration,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database file and starts the writer thread.
    /// Opening writes nothing when the schema is current, so a store opens on a full disk.
    pub fn open(path: &Path, durability: Durability, query_timeout: Duration) -> Result<Arc<SqliteStore>, StoreError> {
        let tuning = Tuning::from_env();
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit returns once the WAL is fsynced. NORMAL syncs the WAL only when it starts
        // over (which OFF would skip: a write reordered by the disk after a restart could then
        // corrupt the database on power loss).
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrate(&mut conn)?;
        let skiptoken_key = load_or_create_secret(&conn, "skiptoken_key")?;

        // Opened before anything is written, so that the store's own syncs see every error.
        let wal = Arc::new(SyncedFile::open(&disk::wal_path(path))?);
        let database = Arc::new(SyncedFile::open(path)?);
        let health = Arc::new(Health::default());
        let faults = Arc::new(Faults::default());
        let rows = Arc::new(RowCache::new(if tuning.row_cache { ROW_CACHE_BYTES } else { 0 }));
        let restart_due = Arc::new(AtomicBool::new(false));
        let writer = writer::Writer {
            data_version: rows::data_version(&conn)?,
            conn,
            rows: rows.clone(),
            bulk_cache: false,
            restart_due: restart_due.clone(),
            health: health.clone(),
            faults: faults.clone(),
        };
        let (queue, queued) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run_writer(writer, queued))
            .map_err(|e| StoreError::Other(format!("cannot start the writer thread: {e}")))?;
        let checkpointer_conn = Connection::open(path)?;
        checkpointer_conn.busy_timeout(BUSY_TIMEOUT)?;
        let checkpointer =
            disk::start_checkpointer(checkpointer_conn, database.clone(), restart_due, health.clone(), tuning)?;
        Ok(Arc::new(SqliteStore {
            path: path.to_path_buf(),
            point_readers: Mutex::new(Vec::new()),
            scan_readers: Mutex::new(Vec::new()),
            write_path: Mutex::new(Some(WritePath { queue, writer, checkpointer, wal, database })),
            rows,
            health,
            faults,
            skiptoken_key,
            scan_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_SCANS),
            query_timeout,
        }))
    }

    pub fn skiptoken_key(&self) -> &[u8] {
        &self.skiptoken_key
    }

    /// Test hook: makes chosen steps of the write path fail.
    #[doc(hidden)]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Queues a write and waits for its commit.
    pub async fn write(&self, command: WriteCommand, actor: Actor) -> Result<WriteOutcome, StoreError> {
        let job = match command {
            WriteCommand::Update { .. } => match self.prepare_update(command, &actor)? {
                Ok(job) => job,
                Err(refusal) => return Ok(refusal),
            },
            other => Job::Command(other),
        };
        self.run_on_writer(job, actor).await
    }

    /// Reads the row an update names and merges the PATCH into it: the writer's job, or the
    /// answer when the update is refused. The row comes from the rows the writer wrote last when
    /// it is there; a refusal is only ever decided on the database's row.
    fn prepare_update(&self, command: WriteCommand, actor: &Actor) -> Result<Result<Job, WriteOutcome>, StoreError> {
        let WriteCommand::Update { scope, id, if_match, input, now } = &command else {
            return Ok(Ok(Job::Command(command)));
        };
        let mut from_cached_row = None;
        // With every tenant in scope, which row the id names is the database's to say.
        if let Scope::Tenant(tenant) = scope
            && let Some((generation, row)) = self.rows.get(tenant, id)
            && let RowUpdate::InPlace { from, change, audit } = rows::plan_row_update(
                Some(rows::from_cache(tenant, id, row)),
                scope,
                id,
                if_match.as_ref(),
                input,
                now,
                actor,
            )?
        {
            from_cached_row = Some((from, Some(generation), change, audit));
        }
        let (from, generation, change, audit) = match from_cached_row {
            Some(planned) => planned,
            None => {
                let found = self.with_reader(|conn| rows::select_for_write(conn, scope, id))?;
                match rows::plan_row_update(found, scope, id, if_match.as_ref(), input, now, actor)? {
                    RowUpdate::Answered(outcome) => return Ok(Err(outcome)),
                    RowUpdate::InPlace { from, change, audit } => (from, None, change, audit),
                    // Checking the target tenant and moving the row are left to the writer.
                    RowUpdate::ToTenant { .. } => return Ok(Ok(Job::Command(command))),
                }
            }
        };
        Ok(Ok(Job::Prepared(Box::new(PreparedUpdate { from, generation, change, audit, command }))))
    }

    async fn run_on_writer(&self, job: Job, actor: Actor) -> Result<WriteOutcome, StoreError> {
        if let Some(failure) = self.health.failure() {
            return Err(failure);
        }
        let (reply, answer) = oneshot::channel();
        {
            let write_path = self.write_path.lock().map_err(|_| StoreError::Closed)?;
            let write_path = write_path.as_ref().ok_or(StoreError::Closed)?;
            if write_path.queue.send((job, actor, reply)).is_err() {
                return Err(self.health.failure().unwrap_or(StoreError::Closed));
            }
            metrics::gauge!("graphsec_writer_queue_depth").increment(1.0);
        }
        match answer.await {
            Ok(outcome) => outcome,
            Err(_) => Err(self.health.failure().unwrap_or(StoreError::Closed)),
        }
    }

    /// Whether writes can be made durable: the reason when they cannot (a restart is needed).
    pub fn failure(&self) -> Option<StoreError> {
        self.health.failure()
    }

    /// Stops accepting writes, lets the writer finish what is queued and waits for it, then
    /// syncs the database, its WAL and its directory: whatever was committed is on disk when this
    /// returns `Ok`. An error when a write could not be made durable. Later calls do nothing.
    pub fn close(&self) -> Result<(), StoreError> {
        let Some(write_path) = self.write_path.lock().ok().and_then(|mut w| w.take()) else {
            return Ok(());
        };
        let WritePath { queue, writer, checkpointer, wal, database } = write_path;
        drop(queue);
        let last_checkpoint =
            writer.join().unwrap_or_else(|_| Err(StoreError::Other("the writer thread panicked".into())));
        let synced = last_checkpoint.and_then(|()| {
            for file in [&wal, &database] {
                file.sync_unless_removed()
                    .map_err(|e| StoreError::Other(format!("cannot sync {}: {e}", file.path().display())))?;
            }
            Ok(())
        });
        let (stop, thread) = checkpointer;
        drop(stop);
        let _ = thread.join();
        for pool in [&self.point_readers, &self.scan_readers] {
            if let Ok(mut readers) = pool.lock() {
                readers.clear();
            }
        }
        synced?;
        disk::sync_directory(&self.path)?;
        self.health.failure().map_or(Ok(()), Err)
    }

    /// Point read; short enough to run on the calling (async) thread.
    pub fn get(&self, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
        self.with_reader(|conn| rows::select_one(conn, scope, id))
    }

    /// Rebuilds the planner's statistics (after a bulk load). Takes the write lock briefly.
    pub fn analyze(&self) -> Result<(), StoreError> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch("ANALYZE")?;
        Ok(())
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        self.with_reader(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// One page of the collection. Blocking: call from a blocking thread.
    pub fn list(&self, scope: &Scope, request: &ListRequest) -> Result<ListPage, StoreError> {
        let (sql, values) = super::list_sql(odata::Dialect::Sqlite, "p.doc, p.version", scope, request).into_parts();
        let rows = self.with_scan_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(values.iter().map(SqlParam)), |r| {
                    Ok(StoredProfile { doc: r.get(0)?, version: r.get(1)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        super::finish_page(rows, request)
    }

    /// Number of profiles matching the filter. Blocking: call from a blocking thread.
    pub fn count(&self, scope: &Scope, filter: Option<&odata::Filter>) -> Result<i64, StoreError> {
        let (sql, values) = super::count_sql(odata::Dialect::Sqlite, scope, filter).into_parts();
        self.with_scan_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            Ok(stmt.query_row(rusqlite::params_from_iter(values.iter().map(SqlParam)), |r| r.get(0))?)
        })
    }

    /// Audit-trail rows, oldest first. Blocking: call from a blocking thread.
    pub fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        pooled(&self.scan_readers, &self.path, 0, |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, tenant, caller, app, request_id, operation, profile_id, changed FROM audit_log \
                 WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR profile_id = ?2) \
                 AND (?3 IS NULL OR operation = ?3) AND (?4 IS NULL OR at >= ?4) ORDER BY at, id LIMIT ?5",
            )?;
            let rows = stmt.query_map(
                params![query.tenant, query.profile_id, query.operation, query.since, query.limit],
                |r| {
                    let changed: String = r.get(8)?;
                    Ok(AuditRecord {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        tenant: r.get(2)?,
                        caller: r.get(3)?,
                        app: r.get(4)?,
                        request_id: r.get(5)?,
                        operation: r.get(6)?,
                        profile_id: r.get(7)?,
                        changed: serde_json::from_str(&changed).unwrap_or_default(),
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// A reader whose queries are interrupted past the query timeout, so no filter, however
    /// costly, holds a thread and a connection longer than that.
    fn with_scan_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.query_timeout;
        pooled(&self.scan_readers, &self.path, 0, |conn| {
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

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        pooled(&self.point_readers, &self.path, POINT_READER_MMAP_BYTES, f)
    }
}

/// Runs `f` on an idle connection of `pool` (a new one when there is none) and keeps it for the
/// next caller.
fn pooled<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    mmap_bytes: i64,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let idle = pool.lock().map_err(|_| StoreError::Closed)?.pop();
    let conn = match idle {
        Some(conn) => conn,
        None => open_reader(path, mmap_bytes)?,
    };
    let result = f(&conn);
    if let Ok(mut idle) = pool.lock()
        && idle.len() < MAX_IDLE_READERS
    {
        idle.push(conn);
    }
    result
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the SQLite store failed: the last writes may not be on disk");
        }
    }
}

fn open_reader(path: &Path, mmap_bytes: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
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

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Other(format!(
            "the database is at schema version {applied}, newer than this graphsec ({}); upgrade graphsec",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied SQLite migration");
    }
    Ok(())
}

fn load_or_create_secret(conn: &Connection, name: &str) -> Result<Vec<u8>, StoreError> {
    let fresh: [u8; 32] = rand::random();
    let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)", params![name, fresh])?;
    let value: String = conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))?;
    Ok(value.into_bytes())
}
