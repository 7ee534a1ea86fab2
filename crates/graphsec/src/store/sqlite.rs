//! SQLite store: WAL mode, one writer thread with group commit, pooled read connections.
//!
//! Writes are queued to a single thread that drains the queue, applies every queued write in one
//! `BEGIN IMMEDIATE ... COMMIT` and answers each caller only once the commit is on disk (with
//! `--durability full` a syncer thread flushes it while the writer goes on: [`run_syncer`]), so
//! an acknowledged write is durable. Readers use their own connections and never wait for the
//! writer (WAL snapshot isolation).
//!
//! The writer thread is the one thing every write waits for, so work that does not need it is
//! done before queueing: an update reads the row (from the rows the writer wrote last, see
//! [`RowCache`], or on a reader connection), merges and validates the PATCH there, and hands the
//! writer the finished row together with the version it was made from. The writer stores it
//! only if the row is still at that version; otherwise it reads the row again and redoes the
//! merge inside its transaction, so concurrent PATCHes still apply one after the other.
//! Refusals (not found, If-Match, invalid) are answered from the read alone: they are correct as
//! of that read, which happened while the request was in flight.
//!
//! The writer's connection writes the WAL through the `wal_gather` VFS (a commit's frames in a
//! few large writes); a checkpointer thread copies the WAL back into the database, and the writer
//! restarts the WAL between groups when it has grown long ([`checkpoint`], [`restart_wal`]).

use super::row_cache::{CacheChange, CachedRow, RowCache};
use super::{
    Actor, AuditQuery, AuditRecord, IndexedColumns, ListPage, ListRequest, Scope, StoreError, StoredProfile,
    UpdatePlan, WriteCommand, WriteOutcome,
};
use crate::domain::etag::IfMatch;
use crate::domain::profile::ProfileInput;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_audit.sql"),
    include_str!("../../migrations/sqlite/0003_tag_key.sql"),
];
/// Most writes applied in one transaction.
const MAX_GROUP: usize = 512;
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
/// A checkpointer thread of its own copies the WAL back into the database this often. A page
/// written many times between two passes is copied once, so longer intervals copy less; the
/// writer does not wait for the passes' fsyncs (the syncer does, for its own). Under a PATCH load
/// on a 2-core machine, 250, 500 and 1000 ms gave the same throughput within noise (p99 11-17 ms)
/// and 100 ms about 15% less. See [`checkpoint`] for how the WAL is kept bounded.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Past this many pages in the WAL, a pass that caught up asks the writer to restart it.
const WAL_RESTART_PAGES: i64 = 16_384;
/// Past this many (1 GiB of 4 KiB pages), the WAL is truncated whatever it costs the writer:
/// readers have kept restarts from succeeding pass after pass. A heavy PATCH load appends about
/// 100,000 frames a second on a 2-core machine, so a lower bound would be crossed between two
/// passes of normal operation.
const WAL_TRUNCATE_PAGES: i64 = 262_144;
/// How long a restart may wait for readers of the old WAL frames; it holds writes back while it
/// waits, so it gives up soon and is asked for again after a later pass.
const RESTART_WAIT: Duration = Duration::from_millis(20);
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer's page cache. Small on purpose: SQLite walks the whole cache at the end of every
/// transaction that split a b-tree page (most groups do), so a large one costs more CPU than
/// the reads it saves; pages it lacks come from the OS's page cache.
const WRITER_CACHE_KIB: i64 = 4_096;
/// The writer's page cache once it has been given a bulk load (`graphsec import`): a batch of
/// thousands of rows dirties more pages than 4 MiB, and pages pushed out mid-transaction are
/// written to the WAL twice. Bulk groups are few, so the walk at each commit costs little.
const BULK_WRITER_CACHE_KIB: i64 = 65_536;
/// Memory for the rows the writer wrote last (see [`RowCache`]).
const ROW_CACHE_BYTES: usize = 16 << 20;
/// How often the writer refreshes the planner's statistics (`PRAGMA optimize`).
const OPTIMIZE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// A write is answered only once its commit is fsynced: survives power loss.
    Full,
    /// fsync at checkpoints only: survives process crashes, may lose the last commits on power loss.
    /// [`SqliteStore::close`] syncs everything, so a bulk load (`graphsec import`) uses this and
    /// reports success after closing.
    Normal,
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

/// Where a profile's row is, and the version it was read at.
struct RowRef {
    rowid: i64,
    tenant: String,
    id: String,
    version: i64,
}

/// The next text of a row, the columns copied from it whose values changed, and the distinct
/// tags it loses and gains.
struct RowChange {
    text: String,
    columns: Vec<(&'static str, Option<String>)>,
    tags_removed: Vec<String>,
    tags_added: Vec<String>,
}

impl RowChange {
    fn between(previous: &Map<String, Value>, doc: &Map<String, Value>) -> Result<RowChange, StoreError> {
        let (old, new) = (IndexedColumns::of(previous)?, IndexedColumns::of(doc)?);
        let columns = [
            ("user_principal_name", old.user_principal_name, new.user_principal_name),
            ("display_name", old.display_name, new.display_name),
            ("risk_score", old.risk_score, new.risk_score),
            ("azure_subscription_id", old.azure_subscription_id, new.azure_subscription_id),
            ("created_date_time", old.created_date_time, new.created_date_time),
            ("last_modified_date_time", old.last_modified_date_time, new.last_modified_date_time),
        ]
        .into_iter()
        .filter(|(_, before, after)| before != after)
        .map(|(column, _, after)| (column, after.map(str::to_string)))
        .chain((old.tags != new.tags).then(|| ("tags_json", tags_json(&new.tags))))
        .collect();
        let (old_tags, new_tags): (HashSet<&str>, HashSet<&str>) =
            (old.tags.iter().copied().collect(), new.tags.iter().copied().collect());
        Ok(RowChange {
            text: serde_json::to_string(doc)?,
            columns,
            tags_removed: old_tags.difference(&new_tags).map(|t| t.to_string()).collect(),
            tags_added: new_tags.difference(&old_tags).map(|t| t.to_string()).collect(),
        })
    }
}

pub struct SqliteStore {
    path: PathBuf,
    /// Idle connections for point reads (mapped) and for scans (not mapped).
    point_readers: Mutex<Vec<Connection>>,
    scan_readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<mpsc::Sender<Queued>>>,
    rows: Arc<RowCache>,
    /// Ends with the result of the writer's last checkpoint.
    writer_thread: Mutex<Option<std::thread::JoinHandle<Result<(), StoreError>>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    skiptoken_key: Vec<u8>,
    /// Bounds the list and count scans running at once (each holds a thread and a connection).
    pub(crate) scan_slots: tokio::sync::Semaphore,
    /// List and count queries running longer are interrupted.
    query_timeout: Duration,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database file and starts the writer thread.
    pub fn open(path: &Path, durability: Durability, query_timeout: Duration) -> Result<Arc<SqliteStore>, StoreError> {
        // The writer's WAL writes go through the gathering VFS (see the `wal_gather` crate);
        // everything else SQLite does is the same with or without it.
        let mut conn = if wal_gather::register() {
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_gather::NAME)?
        } else {
            tracing::warn!("cannot register the WAL-gathering SQLite VFS; writing the WAL frame by frame");
            Connection::open(path)?
        };
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL: a commit does not wait for an fsync (with --durability full the syncer thread
        // makes it durable, see [`run_syncer`], while the writer goes on with the next group),
        // but the WAL header is synced when the WAL starts over, which OFF would skip (a write
        // reordered by the disk after a restart could then corrupt the database on power loss).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrate(&mut conn)?;
        // Statistics for the query planner (indexes are only chosen well with them).
        conn.execute_batch("PRAGMA optimize=0x10002")?;
        let skiptoken_key = load_or_create_secret(&conn, "skiptoken_key")?;

        let syncer = match durability {
            Durability::Full => Some(start_syncer(wal_path(path))?),
            Durability::Normal => None,
        };
        let rows = Arc::new(RowCache::new(ROW_CACHE_BYTES));
        let restart_due = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            data_version: data_version(&conn)?,
            conn,
            rows: rows.clone(),
            bulk_cache: false,
            restart_due: restart_due.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, rx, syncer))
            .map_err(|e| StoreError::Other(format!("cannot start the writer thread: {e}")))?;
        let checkpointer = start_checkpointer(path, restart_due)?;
        Ok(Arc::new(SqliteStore {
            path: path.to_path_buf(),
            point_readers: Mutex::new(Vec::new()),
            scan_readers: Mutex::new(Vec::new()),
            writer: Mutex::new(Some(tx)),
            rows,
            writer_thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some(checkpointer)),
            skiptoken_key,
            scan_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_SCANS),
            query_timeout,
        }))
    }

    pub fn skiptoken_key(&self) -> &[u8] {
        &self.skiptoken_key
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
            && let RowUpdate::InPlace { from, change, audit } =
                plan_row_update(Some(from_cache(tenant, id, row)), scope, id, if_match.as_ref(), input, now, actor)?
        {
            from_cached_row = Some((from, Some(generation), change, audit));
        }
        let (from, generation, change, audit) = match from_cached_row {
            Some(planned) => planned,
            None => {
                let found = self.with_reader(|conn| select_for_write(conn, scope, id))?;
                match plan_row_update(found, scope, id, if_match.as_ref(), input, now, actor)? {
                    RowUpdate::Refused(outcome) => return Ok(Err(outcome)),
                    RowUpdate::InPlace { from, change, audit } => (from, None, change, audit),
                    // Checking the target tenant and moving the row are left to the writer.
                    RowUpdate::ToTenant { .. } => return Ok(Ok(Job::Command(command))),
                }
            }
        };
        Ok(Ok(Job::Prepared(Box::new(PreparedUpdate { from, generation, change, audit, command }))))
    }

    async fn run_on_writer(&self, job: Job, actor: Actor) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let writer = self.writer.lock().map_err(|_| StoreError::Closed)?;
            let sender = writer.as_ref().ok_or(StoreError::Closed)?;
            sender.send((job, actor, reply)).map_err(|_| StoreError::Closed)?;
            metrics::gauge!("graphsec_writer_queue_depth").increment(1.0);
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops accepting writes, lets the writer finish what is queued and waits for it, then
    /// syncs the database, its WAL and its directory: whatever was committed is on disk when this
    /// returns `Ok`. Later calls do nothing.
    pub fn close(&self) -> Result<(), StoreError> {
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
        let Some(writer_thread) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) else {
            return Ok(());
        };
        let last_checkpoint =
            writer_thread.join().unwrap_or_else(|_| Err(StoreError::Other("the writer thread panicked".into())));
        if let Some((stop, handle)) = self.checkpointer.lock().ok().and_then(|mut c| c.take()) {
            drop(stop);
            let _ = handle.join();
        }
        for pool in [&self.point_readers, &self.scan_readers] {
            if let Ok(mut readers) = pool.lock() {
                readers.clear();
            }
        }
        last_checkpoint.and(sync_files(&self.path))
    }

    /// Point read; short enough to run on the calling (async) thread.
    pub fn get(&self, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
        self.with_reader(|conn| select_one(conn, scope, id))
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

/// The answers of a committed group, sent once it is durable.
type Answers = Vec<(Reply, Result<WriteOutcome, StoreError>)>;
type Syncer = (mpsc::Sender<Answers>, std::thread::JoinHandle<()>);

/// The writer thread's connection and the cache of the rows it wrote.
struct Writer {
    conn: Connection,
    rows: Arc<RowCache>,
    /// `PRAGMA data_version` as of the last group: it moves when another connection writes.
    data_version: i64,
    /// Whether the page cache has been grown for bulk loads.
    bulk_cache: bool,
    /// Set by the checkpointer when the WAL is due for [`restart_wal`].
    restart_due: Arc<AtomicBool>,
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Applies queued writes until the queue closes; returns the result of the last checkpoint.
fn run_writer(mut writer: Writer, queue: mpsc::Receiver<Queued>, syncer: Option<Syncer>) -> Result<(), StoreError> {
    let mut last_optimize = Instant::now();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        metrics::gauge!("graphsec_writer_queue_depth").decrement(batch.len() as f64);
        metrics::histogram!("graphsec_group_commit_size").record(batch.len() as f64);
        let started = Instant::now();
        let jobs: Vec<(&Job, &Actor)> = batch.iter().map(|(job, actor, _)| (job, actor)).collect();
        let outcomes = apply_group(&mut writer, &jobs);
        drop(jobs);
        let size = batch.len();
        let answers: Answers =
            batch.into_iter().zip(outcomes).map(|((_, _, reply), outcome)| (reply, outcome)).collect();
        match &syncer {
            Some((to_syncer, _)) => {
                if let Err(mpsc::SendError(answers)) = to_syncer.send(answers) {
                    answer(answers, Err(StoreError::Other("the WAL syncer thread stopped".into())));
                }
            }
            None => answer(answers, Ok(())),
        }
        tracing::trace!(writes = size, micros = started.elapsed().as_micros() as u64, "group committed");
        if writer.restart_due.swap(false, Ordering::Relaxed) {
            restart_wal(&writer.conn);
        }
        if last_optimize.elapsed() > OPTIMIZE_EVERY {
            let _ = writer.conn.execute_batch("PRAGMA optimize");
            last_optimize = Instant::now();
        }
    }
    if let Some((to_syncer, handle)) = syncer {
        drop(to_syncer);
        let _ = handle.join();
    }
    // The last checkpoint syncs what it copies; an I/O error in it is the caller's to report.
    writer.conn.pragma_update(None, "synchronous", "FULL")?;
    checkpoint(&writer.conn)?;
    tracing::debug!("sqlite writer stopped");
    Ok(())
}

/// Sends each caller its outcome, or `synced`'s error when the group could not be made durable.
fn answer(answers: Answers, synced: Result<(), StoreError>) {
    for (reply, outcome) in answers {
        let outcome = match &synced {
            Ok(()) => outcome,
            Err(e) => Err(StoreError::Other(e.to_string())),
        };
        let _ = reply.send(outcome);
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// fsyncs the WAL (if it is still there), the database file (every commit is in one of the two)
/// and their directory (which may have just got them).
fn sync_files(db: &Path) -> Result<(), StoreError> {
    let sync = |path: &Path, what: &str| {
        std::fs::File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(|e| StoreError::Other(format!("cannot sync the {what} {}: {e}", path.display())))
    };
    let wal = wal_path(db);
    if wal.exists() {
        sync(&wal, "WAL file")?;
    }
    sync(db, "database file")?;
    match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync(dir, "directory"),
        _ => Ok(()),
    }
}

fn start_syncer(wal: PathBuf) -> Result<Syncer, StoreError> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("sqlite-syncer".into())
        .spawn(move || run_syncer(&wal, rx))
        .map_err(|e| StoreError::Other(format!("cannot start the WAL syncer thread: {e}")))?;
    Ok((tx, handle))
}

/// Group commit with the fsync taken off the writer: the writer commits without syncing
/// (`synchronous=NORMAL`, which in WAL mode syncs only when the WAL starts over) and hands the
/// group's answers here; this thread syncs the WAL file, which makes every group committed
/// before the sync durable, and only then answers their callers. So an acknowledged write is on
/// disk as with `synchronous=FULL`, but the writer applies the next group while the disk flushes
/// the last one, and one sync covers every group committed while the previous sync ran. (Other
/// connections may read a group before it is synced; a crash in between loses only writes nobody
/// was told had succeeded.) The checkpointer's own connection syncs the
/// WAL before copying it into the database, so nothing unsynced reaches the database file.
fn run_syncer(wal: &Path, queue: mpsc::Receiver<Answers>) {
    while let Ok(mut answers) = queue.recv() {
        while let Ok(more) = queue.try_recv() {
            answers.extend(more);
        }
        let synced = sync_file(wal).map_err(|e| {
            tracing::error!(error = %e, wal = %wal.display(), "cannot sync the WAL; failing the writes it holds");
            StoreError::Other(format!("cannot sync the WAL to disk: {e}"))
        });
        answer(answers, synced);
    }
}

/// `fdatasync` of the file at `path`: it flushes the file's data whichever descriptor wrote it.
/// The WAL is opened afresh each time so that it is the file SQLite writes now.
fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        // No WAL yet: nothing has been written.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn start_checkpointer(
    path: &Path,
    restart_due: Arc<AtomicBool>,
) -> Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>), StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            // Runs until the store drops its end of the channel.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                // A pass that fails (busy, or I/O) is tried again on the next one.
                if let Ok(true) = checkpoint(&conn) {
                    restart_due.store(true, Ordering::Relaxed);
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start the checkpointer thread: {e}")))?;
    Ok((stop, handle))
}

/// Bounds the WAL. A passive checkpoint copies frames back while the writer goes on. Under
/// constant writes it never catches up with the end of the WAL, so the WAL would only grow; once
/// it is long and a passive pass has caught up with what it saw, this returns true: time for the
/// writer's [`restart_wal`]. A TRUNCATE, which holds writes back for as long as copying the whole
/// WAL takes, is the last resort when restarts keep failing.
fn checkpoint(conn: &Connection) -> Result<bool, StoreError> {
    let (log_pages, _) = wal_checkpoint(conn, "PASSIVE")?;
    if log_pages > WAL_TRUNCATE_PAGES {
        let _ = wal_checkpoint(conn, "TRUNCATE");
        return Ok(false);
    }
    if log_pages <= WAL_RESTART_PAGES {
        return Ok(false);
    }
    // The restart copies what is left and syncs the database file while writes wait, so first
    // two more passes, each copying what was written during the one before (which was shorter),
    // and each pass's copies flushed here, off the writer. With 1M profiles a pass copies 100+ MB;
    // left to the restart's sync, that took 150-200 ms.
    let sync_database = || match conn.path() {
        Some(db) if !db.is_empty() => {
            sync_file(Path::new(db)).map_err(|e| StoreError::Other(format!("cannot sync the database file {db}: {e}")))
        }
        _ => Ok(()),
    };
    sync_database()?;
    let _ = wal_checkpoint(conn, "PASSIVE");
    sync_database()?;
    let (log_pages, copied) = wal_checkpoint(conn, "PASSIVE")?;
    Ok(copied == log_pages)
}

/// A RESTART checkpoint: copies the frames written since the checkpointer's last pass and makes
/// the next write start the WAL from its beginning, over blocks the file already has. The writer
/// runs it between two groups: run by another connection, it would hold the writer back for as
/// long as it took plus the writer's busy-wait (SQLite sleeps 1, 2, 5, 10... ms between tries),
/// 8-35 ms per restart under load.
fn restart_wal(conn: &Connection) {
    if conn.busy_timeout(RESTART_WAIT).is_ok() {
        let _ = wal_checkpoint(conn, "RESTART");
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
    }
}

/// `PRAGMA wal_checkpoint(MODE)`: the pages in the WAL and how many of them are copied back.
fn wal_checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(1)?, r.get(2)?)))
}

type Outcomes = Vec<Result<WriteOutcome, StoreError>>;

/// Applies the group in one transaction. Refusals (not found, If-Match, conflicts...) are
/// decided before anything is written, so only a database error can leave a command half done;
/// then the group is rolled back and each command is retried in a transaction of its own, so that
/// only the failing one fails.
fn apply_group(writer: &mut Writer, jobs: &[(&Job, &Actor)]) -> Outcomes {
    match try_group(writer, jobs) {
        Ok(outcomes) => outcomes,
        Err(e) if jobs.len() > 1 => {
            tracing::warn!(error = %e, writes = jobs.len(), "group commit failed; retrying its writes one by one");
            jobs.iter()
                .map(|one| match try_group(writer, std::slice::from_ref(one)) {
                    Ok(mut outcome) => outcome.remove(0),
                    Err(e) => Err(e),
                })
                .collect()
        }
        Err(e) => vec![Err(e)],
    }
}

fn try_group(writer: &mut Writer, jobs: &[(&Job, &Actor)]) -> Result<Outcomes, StoreError> {
    if !writer.bulk_cache && jobs.iter().any(|(job, _)| matches!(job, Job::Command(WriteCommand::Import { .. }))) {
        writer.conn.pragma_update(None, "cache_size", -BULK_WRITER_CACHE_KIB)?;
        writer.bulk_cache = true;
    }
    let tx = writer.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let data_version = data_version(&tx)?;
    if data_version != writer.data_version {
        // Another connection wrote: the cached rows may be stale.
        tracing::debug!("the database was written by another connection; forgetting the cached rows");
        writer.rows.invalidate();
        writer.data_version = data_version;
    }
    let generation = writer.rows.generation();
    let mut cache_changes = Vec::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (job, actor) in jobs {
        outcomes.push(Ok(apply_job(&tx, job, actor, generation, &mut cache_changes)?));
    }
    tx.commit()?;
    // The gathering VFS writes a commit's frames out as the commit ends. Were some held back (a
    // SQLite that writes its WAL differently), they go out now, before anyone is answered;
    // tests fail on it.
    let held = wal_gather::write_out(&writer.conn)?;
    if held > 0 {
        tracing::error!(bytes = held, "WAL frames of a commit were held back past its end; written now");
        debug_assert_eq!(held, 0, "WAL frames of a commit were held back past its end");
    }
    writer.rows.apply(cache_changes);
    Ok(outcomes)
}

fn apply_job(
    conn: &Connection,
    job: &Job,
    actor: &Actor,
    generation: u64,
    cache: &mut Vec<CacheChange>,
) -> Result<WriteOutcome, StoreError> {
    match job {
        Job::Command(command) => apply_one(conn, command, actor, cache),
        // Prepared from cached rows that have been invalidated since.
        Job::Prepared(update) if update.generation.is_some_and(|g| g != generation) => {
            apply_one(conn, &update.command, actor, cache)
        }
        Job::Prepared(update) => match write_in_place(conn, &update.from, &update.change, &update.audit, cache)? {
            Some(outcome) => Ok(outcome),
            // Changed or deleted since it was read: decide again on the current row.
            None => apply_one(conn, &update.command, actor, cache),
        },
    }
}

/// What an update does to the row it names, decided on the connection's snapshot.
enum RowUpdate {
    Refused(WriteOutcome),
    InPlace {
        from: RowRef,
        change: RowChange,
        audit: AuditRecord,
    },
    /// Into another tenant (auth off only): a delete and an insert.
    ToTenant {
        from: RowRef,
        doc: Map<String, Value>,
        audit: AuditRecord,
    },
}

/// Plans an update of `found`, the row the update names as read (`None`: there is none).
fn plan_row_update(
    found: Option<(RowRef, StoredProfile)>,
    scope: &Scope,
    id: &str,
    if_match: Option<&IfMatch>,
    input: &ProfileInput,
    now: &str,
    actor: &Actor,
) -> Result<RowUpdate, StoreError> {
    let Some((from, current)) = found else {
        return Ok(RowUpdate::Refused(WriteOutcome::NotFound));
    };
    let (previous, doc, tenant) = match super::plan_update(scope, id, if_match, input, now, &current)? {
        UpdatePlan::Refuse(outcome) => return Ok(RowUpdate::Refused(outcome)),
        UpdatePlan::Write { previous, doc, tenant } => (previous, doc, tenant),
    };
    let audit = super::update_audit(actor, &tenant, id, input);
    if tenant != from.tenant {
        return Ok(RowUpdate::ToTenant { from, doc, audit });
    }
    Ok(RowUpdate::InPlace { change: RowChange::between(&previous, &doc)?, from, audit })
}

/// Stores an in-place update with its audit row; `None` when the row is no longer at the version
/// it was planned from.
fn write_in_place(
    conn: &Connection,
    from: &RowRef,
    change: &RowChange,
    audit: &AuditRecord,
    cache: &mut Vec<CacheChange>,
) -> Result<Option<WriteOutcome>, StoreError> {
    if !update_row(conn, from, change)? {
        return Ok(None);
    }
    insert_audit(conn, audit)?;
    let version = from.version + 1;
    cache.push(CacheChange::Put {
        tenant: from.tenant.clone(),
        id: from.id.clone(),
        row: CachedRow { rowid: from.rowid, version, doc: change.text.clone() },
    });
    Ok(Some(WriteOutcome::Written(StoredProfile { doc: change.text.clone(), version })))
}

/// The row a [`CachedRow`] describes, as [`select_for_write`] would have read it.
fn from_cache(tenant: &str, id: &str, row: CachedRow) -> (RowRef, StoredProfile) {
    (
        RowRef { rowid: row.rowid, tenant: tenant.to_string(), id: id.to_string(), version: row.version },
        StoredProfile { doc: row.doc, version: row.version },
    )
}

fn apply_one(
    conn: &Connection,
    command: &WriteCommand,
    actor: &Actor,
    cache: &mut Vec<CacheChange>,
) -> Result<WriteOutcome, StoreError> {
    match command {
        WriteCommand::Create { doc } => {
            let outcome = insert(conn, doc, 1)?;
            if matches!(outcome, WriteOutcome::Written(_)) {
                let columns = IndexedColumns::of(doc)?;
                let record = AuditRecord::new(actor, "create", columns.tenant, columns.id, super::created_members(doc));
                insert_audit(conn, &record)?;
            }
            Ok(outcome)
        }
        WriteCommand::Import { profiles } => {
            let mut inserted = 0;
            for profile in profiles {
                if insert_row(conn, &IndexedColumns::of(&profile.doc)?, &profile.text, 1)? {
                    inserted += 1;
                }
            }
            Ok(WriteOutcome::Imported { inserted, skipped: profiles.len() as u64 - inserted })
        }
        WriteCommand::Update { scope, id, if_match, input, now } => {
            let found = select_for_write(conn, scope, id)?;
            match plan_row_update(found, scope, id, if_match.as_ref(), input, now, actor)? {
                RowUpdate::Refused(outcome) => Ok(outcome),
                RowUpdate::InPlace { from, change, audit } => write_in_place(conn, &from, &change, &audit, cache)?
                    .ok_or_else(|| StoreError::Other("a row changed inside the writer's own transaction".into())),
                RowUpdate::ToTenant { from, doc, audit } => {
                    if exists(conn, &audit.tenant, id)? {
                        // Moving to a tenant that already has this id.
                        return Ok(WriteOutcome::Conflict);
                    }
                    delete_row(conn, &from.tenant, id, cache)?;
                    let outcome = insert(conn, &doc, from.version + 1)?;
                    insert_audit(conn, &audit)?;
                    Ok(outcome)
                }
            }
        }
        WriteCommand::Delete { scope, id, if_match } => {
            let Some((from, _)) = select_for_write(conn, scope, id)? else {
                return Ok(WriteOutcome::NotFound);
            };
            if if_match.as_ref().is_some_and(|m| !m.matches(from.version)) {
                return Ok(WriteOutcome::PreconditionFailed);
            }
            delete_row(conn, &from.tenant, id, cache)?;
            insert_audit(conn, &AuditRecord::new(actor, "delete", &from.tenant, id, Vec::new()))?;
            Ok(WriteOutcome::Deleted)
        }
    }
}

fn insert(conn: &Connection, doc: &Map<String, Value>, version: i64) -> Result<WriteOutcome, StoreError> {
    let text = serde_json::to_string(doc)?;
    if insert_row(conn, &IndexedColumns::of(doc)?, &text, version)? {
        Ok(WriteOutcome::Written(StoredProfile { doc: text, version }))
    } else {
        Ok(WriteOutcome::Conflict)
    }
}

/// Inserts a profile's row and tags unless its (tenant, id) is taken; true when it did.
fn insert_row(conn: &Connection, columns: &IndexedColumns, text: &str, version: i64) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, \
         azure_subscription_id, created_date_time, last_modified_date_time, tags_json, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            columns.tenant,
            columns.id,
            version,
            columns.user_principal_name,
            columns.display_name,
            columns.risk_score,
            columns.azure_subscription_id,
            columns.created_date_time,
            columns.last_modified_date_time,
            tags_json(&columns.tags),
            text,
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    insert_tags(conn, columns.tenant, columns.id, &columns.tags)?;
    Ok(true)
}

fn insert_audit(conn: &Connection, record: &AuditRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.id,
        record.at,
        record.tenant,
        record.caller,
        record.app,
        record.request_id,
        record.operation,
        record.profile_id,
        serde_json::to_string(&record.changed)?,
    ])?;
    Ok(())
}

/// Rewrites a row in place if it is still at the version it was read at, touching only the
/// indexed columns (and tags) that changed, so a PATCH of one member updates one index rather
/// than all of them. False when the row is no longer there at that version.
fn update_row(conn: &Connection, from: &RowRef, change: &RowChange) -> Result<bool, StoreError> {
    let mut sql = String::from("UPDATE profiles SET version = ?1, doc = ?2");
    for (i, (column, _)) in change.columns.iter().enumerate() {
        sql.push_str(&format!(", {column} = ?{}", i + 7));
    }
    // The rowid finds the row without an index search; tenant and id make sure it is the same
    // profile (rowids of deleted rows are reused).
    sql.push_str(" WHERE rowid = ?3 AND tenant = ?4 AND id = ?5 AND version = ?6");
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, from.version + 1)?;
    stmt.raw_bind_parameter(2, &change.text)?;
    stmt.raw_bind_parameter(3, from.rowid)?;
    stmt.raw_bind_parameter(4, &from.tenant)?;
    stmt.raw_bind_parameter(5, &from.id)?;
    stmt.raw_bind_parameter(6, from.version)?;
    for (i, (_, value)) in change.columns.iter().enumerate() {
        stmt.raw_bind_parameter(i + 7, value)?;
    }
    if stmt.raw_execute()? == 0 {
        return Ok(false);
    }
    if !change.tags_removed.is_empty() {
        let mut tag_delete =
            conn.prepare_cached("DELETE FROM profile_tags WHERE tenant = ?1 AND tag = ?2 AND id = ?3")?;
        for tag in &change.tags_removed {
            tag_delete.execute([&from.tenant, tag, &from.id])?;
        }
    }
    insert_tags(conn, &from.tenant, &from.id, &change.tags_added)?;
    Ok(true)
}

/// The `tags_json` column: a profile's string tags as a JSON array, NULL when it has none.
fn tags_json(tags: &[&str]) -> Option<String> {
    (!tags.is_empty()).then(|| Value::from(tags).to_string())
}

/// Indexes the tags of a profile; a tag it already has is skipped.
fn insert_tags(conn: &Connection, tenant: &str, id: &str, tags: &[impl AsRef<str>]) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut tag_insert =
        conn.prepare_cached("INSERT OR IGNORE INTO profile_tags (tenant, tag, id) VALUES (?1, ?2, ?3)")?;
    for tag in tags {
        tag_insert.execute([tenant, tag.as_ref(), id])?;
    }
    Ok(())
}

fn exists(conn: &Connection, tenant: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("SELECT 1 FROM profiles WHERE tenant = ?1 AND id = ?2")?.exists([tenant, id])?)
}

fn delete_row(conn: &Connection, tenant: &str, id: &str, cache: &mut Vec<CacheChange>) -> Result<(), StoreError> {
    // profile_tags is keyed by tag first, so the row's tags_json says which rows to remove.
    conn.prepare_cached(
        "DELETE FROM profile_tags WHERE tenant = ?1 AND id = ?2 AND tag IN \
         (SELECT value FROM json_each((SELECT tags_json FROM profiles WHERE tenant = ?1 AND id = ?2)))",
    )?
    .execute([tenant, id])?;
    conn.prepare_cached("DELETE FROM profiles WHERE tenant = ?1 AND id = ?2")?.execute([tenant, id])?;
    cache.push(CacheChange::Remove { tenant: tenant.to_string(), id: id.to_string() });
    Ok(())
}

/// The row an id names within the scope. With every tenant in scope, the same id may exist in
/// several tenants; the lowest tenant id is taken so the choice is stable.
fn select_for_write(conn: &Connection, scope: &Scope, id: &str) -> Result<Option<(RowRef, StoredProfile)>, StoreError> {
    let row = |r: &rusqlite::Row<'_>| {
        let version = r.get(3)?;
        Ok((
            RowRef { rowid: r.get(0)?, tenant: r.get(1)?, id: id.to_string(), version },
            StoredProfile { doc: r.get(2)?, version },
        ))
    };
    let found = match scope {
        Scope::Tenant(tenant) => conn
            .prepare_cached("SELECT rowid, tenant, doc, version FROM profiles WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant.as_str(), id], row)
            .optional()?,
        Scope::AllTenants => conn
            .prepare_cached("SELECT rowid, tenant, doc, version FROM profiles WHERE id = ?1 ORDER BY tenant LIMIT 1")?
            .query_row([id], row)
            .optional()?,
    };
    Ok(found)
}

fn select_one(conn: &Connection, scope: &Scope, id: &str) -> Result<Option<StoredProfile>, StoreError> {
    Ok(select_for_write(conn, scope, id)?.map(|(_, profile)| profile))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile;
    use crate::store::NewProfile;

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";

    fn actor() -> Actor {
        Actor { caller: "tester".into(), app: "tests".into(), request_id: "r".into() }
    }

    fn update(body: &str, now: &str) -> WriteCommand {
        WriteCommand::Update {
            scope: Scope::Tenant(TENANT.into()),
            id: "p1".into(),
            if_match: None,
            input: profile::parse_input(body.as_bytes()).unwrap(),
            now: now.into(),
        }
    }

    /// A pass over a WAL past the restart bound copies it all back and asks for a restart, which
    /// leaves the WAL so that the next write goes to its beginning, not its end.
    #[test]
    fn a_long_wal_restarts_from_its_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.pragma_update(None, "synchronous", "OFF").unwrap();
        writer.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
        let insert_pages = |n: i64| {
            let sql = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1) \
                       INSERT INTO t SELECT zeroblob(4000) FROM s";
            writer.execute(sql, [n]).unwrap();
        };
        for _ in 0..=WAL_RESTART_PAGES / 1000 {
            insert_pages(1000);
        }
        let checkpointer = Connection::open(&path).unwrap();
        assert!(checkpoint(&checkpointer).unwrap(), "a caught-up pass over a long WAL asks for a restart");
        restart_wal(&writer);
        insert_pages(1);
        let (log_pages, _) = wal_checkpoint(&writer, "PASSIVE").unwrap();
        assert!(log_pages < 10, "the WAL went on from frame {log_pages}");
    }

    /// An update merged against a version that another write has since replaced is merged again
    /// by the writer: neither write is lost.
    #[tokio::test]
    async fn a_stale_prepared_update_is_redone_on_the_current_row() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("db.sqlite3"), Durability::Full, Duration::from_secs(5)).unwrap();
        let now = "2026-01-01T00:00:00.0000000Z";
        let input = profile::parse_input(br#"{"id":"p1","displayName":"first"}"#).unwrap();
        let doc = profile::build_new(input, TENANT, now).unwrap();
        store.write(WriteCommand::Create { doc }, actor()).await.unwrap();

        let stale = store.prepare_update(update(r#"{"riskScore":"9"}"#, now), &actor());
        let Ok(Ok(stale @ Job::Prepared(_))) = stale else { panic!("expected a prepared update") };
        store.write(update(r#"{"displayName":"second"}"#, now), actor()).await.unwrap();
        let WriteOutcome::Written(written) = store.run_on_writer(stale, actor()).await.unwrap() else {
            panic!("the stale update was not written")
        };

        assert_eq!(written.version, 3);
        let stored = store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap();
        let stored: Map<String, Value> = serde_json::from_str(&stored.doc).unwrap();
        assert_eq!(stored["displayName"], "second", "the write in between was kept");
        assert_eq!(stored["riskScore"], "9", "the stale update was applied");
    }

    /// A bulk load's unsynced commits are all in the file once `close` has returned: the first
    /// profile with an id wins, later ones are skipped, and tags are indexed as for a POST.
    #[tokio::test]
    async fn a_bulk_load_is_on_disk_after_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let store = SqliteStore::open(&path, Durability::Normal, Duration::from_secs(5)).unwrap();
        let batch = |bodies: &[&str]| {
            let profiles = bodies
                .iter()
                .map(|body| {
                    let input = profile::parse_input(body.as_bytes()).unwrap();
                    NewProfile::new(profile::build_new(input, TENANT, "2026-01-01T00:00:00.0000000Z").unwrap()).unwrap()
                })
                .collect();
            WriteCommand::Import { profiles }
        };
        let first = store.write(batch(&[r#"{"id":"a","tags":["x","y"]}"#, r#"{"id":"b"}"#]), actor()).await.unwrap();
        let second = store.write(batch(&[r#"{"id":"a","tags":["z"]}"#, r#"{"id":"c"}"#]), actor()).await.unwrap();
        assert!(matches!(first, WriteOutcome::Imported { inserted: 2, skipped: 0 }), "{first:?}");
        assert!(matches!(second, WriteOutcome::Imported { inserted: 1, skipped: 1 }), "{second:?}");
        store.close().unwrap();
        drop(store);

        let conn = Connection::open(&path).unwrap();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM profiles"), 3);
        assert_eq!(count("SELECT count(*) FROM profile_tags WHERE id = 'a' AND tag IN ('x', 'y')"), 2);
        assert_eq!(count("SELECT count(*) FROM profile_tags WHERE tag = 'z'"), 0, "the second 'a' was skipped");
    }

    /// A database made before tags were keyed by tag keeps its tags: one row per distinct tag,
    /// and each profile's string elements in tags_json.
    #[test]
    fn tags_of_an_older_schema_are_rekeyed_by_tag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                r#"INSERT INTO profiles (tenant, id, version, doc) VALUES ('t', 'a', 1, '{"tags":["x","y","x"]}'),
                 ('t', 'b', 1, '{"tags":["x"]}'), ('t', 'c', 1, '{"tags":null}'), ('t', 'd', 1, '{"tags":[]}');
                 INSERT INTO profile_tags (tenant, id, pos, tag) VALUES ('t', 'a', 0, 'x'), ('t', 'a', 1, 'y'),
                 ('t', 'a', 2, 'x'), ('t', 'b', 0, 'x');"#,
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Full, Duration::from_secs(5)).unwrap();
        store.close().unwrap();
        drop(store);

        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mut rows = conn.prepare("SELECT tenant, tag, id FROM profile_tags").unwrap();
        let rows: Vec<(String, String, String)> =
            rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
        let expected = [("t", "x", "a"), ("t", "x", "b"), ("t", "y", "a")];
        assert_eq!(rows, expected.map(|(t, g, i)| (t.to_string(), g.to_string(), i.to_string())));
        let mut rows = conn.prepare("SELECT id, tags_json FROM profiles ORDER BY id").unwrap();
        let rows: Vec<(String, Option<String>)> =
            rows.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        let tags_json = |s: &str| Some(s.to_string());
        let expected = [("a", tags_json(r#"["x","y","x"]"#)), ("b", tags_json(r#"["x"]"#)), ("c", None), ("d", None)];
        assert_eq!(rows, expected.map(|(id, tags)| (id.to_string(), tags)));
    }

    async fn store_with_p1(dir: &Path) -> Arc<SqliteStore> {
        let store = SqliteStore::open(&dir.join("db.sqlite3"), Durability::Full, Duration::from_secs(5)).unwrap();
        let input = profile::parse_input(br#"{"id":"p1","displayName":"first","riskScore":"1"}"#).unwrap();
        let doc = profile::build_new(input, TENANT, "2026-01-01T00:00:00.0000000Z").unwrap();
        store.write(WriteCommand::Create { doc }, actor()).await.unwrap();
        store
    }

    fn stored_doc(store: &SqliteStore) -> Map<String, Value> {
        serde_json::from_str(&store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap().doc).unwrap()
    }

    /// The writer keeps the rows it updated for the next PATCH of them, and forgets deleted ones.
    #[tokio::test]
    async fn updated_rows_are_cached_as_stored_and_deleted_ones_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_p1(dir.path()).await;
        assert!(store.rows.get(TENANT, "p1").is_none(), "only updates are cached");

        store.write(update(r#"{"displayName":"second"}"#, "2026-01-02T00:00:00.0000000Z"), actor()).await.unwrap();
        let (_, cached) = store.rows.get(TENANT, "p1").expect("the updated row is cached");
        let stored = store.get(&Scope::Tenant(TENANT.into()), "p1").unwrap().unwrap();
        assert_eq!((cached.version, cached.doc), (stored.version, stored.doc));

        let delete = WriteCommand::Delete { scope: Scope::Tenant(TENANT.into()), id: "p1".into(), if_match: None };
        store.write(delete, actor()).await.unwrap();
        assert!(store.rows.get(TENANT, "p1").is_none());
    }

    /// A row changed by another connection (here without moving its version, which the version
    /// check alone would miss) is not patched from the cache: the writer notices the foreign
    /// write and merges the PATCH into the row as it is now.
    #[tokio::test]
    async fn a_write_by_another_connection_invalidates_the_cached_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_p1(dir.path()).await;
        store.write(update(r#"{"displayName":"second"}"#, "2026-01-02T00:00:00.0000000Z"), actor()).await.unwrap();
        let cached_version = store.rows.get(TENANT, "p1").unwrap().1.version;

        let other = Connection::open(dir.path().join("db.sqlite3")).unwrap();
        other
            .execute(
                "UPDATE profiles SET doc = json_set(doc, '$.riskScore', '7'), risk_score = '7' WHERE id = 'p1'",
                [],
            )
            .unwrap();
        store.write(update(r#"{"displayName":"third"}"#, "2026-01-03T00:00:00.0000000Z"), actor()).await.unwrap();

        let stored = stored_doc(&store);
        assert_eq!(stored["displayName"], "third");
        assert_eq!(stored["riskScore"], "7", "the other connection's write was kept");
        assert_eq!(store.rows.get(TENANT, "p1").unwrap().1.version, cached_version + 1);
    }
}
