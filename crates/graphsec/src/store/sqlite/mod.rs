//! SQLite store: WAL mode, one writer thread with group commit, pooled read connections.
//!
//! Writes are queued to a single thread ([`writer`]) that drains the queue, runs every queued
//! write in one `BEGIN IMMEDIATE ... COMMIT` and answers each caller only once the commit is on
//! disk (with `--durability full` the commit fsyncs the WAL), so an acknowledged write is
//! durable. Readers use their own connections and never wait for the writer (WAL snapshot
//! isolation; [`read`]). A checkpointer thread copies the WAL back into the database ([`disk`]).
//! When the disk fills up or an fsync fails, the store says so to every write ([`health`]).
//!
//! The writer thread is the one thing every write waits for, so work that does not need it is
//! done before queueing: an update reads the row (from the rows the writer wrote last, see
//! [`RowCache`], or on a reader connection), has the domain decide it there, and hands the
//! writer the finished [`Edit`] together with the version it was decided on. The writer stores
//! it only if the row is still at that version; otherwise it reads the row again and decides
//! again inside its transaction, so concurrent PATCHes still apply one after the other.
//! Refusals (not found, If-Match, invalid) are answered from the read alone: they are correct as
//! of that read, which happened while the request was in flight.

mod chain;
mod disk;
pub mod faults;
mod health;
mod location;
mod read;
mod rows;
mod schema;
pub mod snapshot;
#[cfg(test)]
mod tests;
mod writer;

use super::row_cache::RowCache;
use super::{Actor, StoreError, WriteCommand, WriteOutcome};
use crate::domain::write::{Decision, Update};
use disk::SyncedFile;
use faults::Faults;
use health::Health;
use location::Location;
use rows::{Edit, Found};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer's page cache. Small on purpose: SQLite walks the whole cache at the end of every
/// transaction that split a b-tree page (most groups do), so a large one costs more CPU than
/// the reads it saves; pages it lacks come from the OS's page cache.
const WRITER_CACHE_KIB: i64 = 4_096;
/// Memory for the rows the writer wrote last (see [`RowCache`]).
const ROW_CACHE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Updates decided on the rows the writer wrote last.
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
    /// An update decided before it was queued, on the row at the version the edit names.
    Edit {
        edit: Box<Edit>,
        /// The [`RowCache`] generation the row was taken from; `None` when it was read from the
        /// database.
        generation: Option<u64>,
        /// Decided again by the writer when the row changed after it was read.
        update: Box<Update>,
    },
}

/// The threads that write, and the files they sync; taken apart by [`SqliteStore::close`].
struct WritePath {
    queue: mpsc::Sender<Queued>,
    /// Ends with the result of the writer's last checkpoint.
    writer: std::thread::JoinHandle<Result<(), StoreError>>,
    /// `None` in memory: there is neither a WAL nor a file to keep in order.
    on_disk: Option<DiskUpkeep>,
}

/// What a database file has beside the writer: the checkpointer, and the files it syncs.
struct DiskUpkeep {
    checkpointer: disk::CheckpointerHandle,
    wal: Arc<SyncedFile>,
    database: Arc<SyncedFile>,
}

pub struct SqliteStore {
    location: Location,
    readers: read::Readers,
    /// `None` once closed.
    write_path: Mutex<Option<WritePath>>,
    rows: Arc<RowCache>,
    health: Arc<Health>,
    faults: Arc<Faults>,
    skiptoken_key: Vec<u8>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database file and starts the writer thread.
    /// Opening writes nothing when the schema is current, so a store opens on a full disk.
    pub fn open(path: &Path, durability: Durability, query_timeout: Duration) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_at(Location::File(path.to_path_buf()), durability, query_timeout)
    }

    /// A store of its own in process memory, gone when it closes (`serve --in-memory`): nothing is
    /// written to disk.
    pub fn open_in_memory(query_timeout: Duration) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_at(Location::fresh_memory(), Durability::Normal, query_timeout)
    }

    fn open_at(
        location: Location,
        durability: Durability,
        query_timeout: Duration,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        let tuning = Tuning::from_env();
        let mut conn = open_writer(&location, durability)?;
        schema::migrate(&mut conn)?;
        let skiptoken_key = schema::secret(&conn, "skiptoken_key")?;

        let health = Arc::new(Health::default());
        let restart_due = Arc::new(AtomicBool::new(false));
        let on_disk = match location.file() {
            Some(path) => {
                // Opened before anything is written, so that the store's own syncs see every error.
                let wal = Arc::new(SyncedFile::open(&disk::wal_path(path))?);
                let database = Arc::new(SyncedFile::open(path)?);
                let checkpointer_conn = Connection::open(path)?;
                checkpointer_conn.busy_timeout(BUSY_TIMEOUT)?;
                let checkpointer = disk::start_checkpointer(
                    checkpointer_conn,
                    database.clone(),
                    restart_due.clone(),
                    health.clone(),
                    tuning,
                )?;
                Some(DiskUpkeep { checkpointer, wal, database })
            }
            None => None,
        };
        let faults = Arc::new(Faults::default());
        let rows = Arc::new(RowCache::new(if tuning.row_cache { ROW_CACHE_BYTES } else { 0 }));
        let writer = writer::Writer {
            data_version: rows::data_version(&conn)?,
            conn,
            rows: rows.clone(),
            bulk_cache: false,
            restart_due,
            health: health.clone(),
            faults: faults.clone(),
        };
        let (queue, queued) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run_writer(writer, queued))
            .map_err(|e| StoreError::Other(format!("cannot start the writer thread: {e}")))?;
        Ok(Arc::new(SqliteStore {
            readers: read::Readers::new(location.clone(), query_timeout),
            location,
            write_path: Mutex::new(Some(WritePath { queue, writer, on_disk })),
            rows,
            health,
            faults,
            skiptoken_key,
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
            WriteCommand::Update(update) => match self.decide_ahead(update, &actor)? {
                Ok(job) => job,
                Err(answer) => return Ok(answer),
            },
            other => Job::Command(other),
        };
        self.run_on_writer(job, actor).await
    }

    /// Decides an update before it is queued: the writer's job, or the answer when the update is
    /// refused or changes nothing. The row comes from the rows the writer wrote last when it is
    /// there; a refusal is only ever decided on the database's row.
    fn decide_ahead(&self, update: Update, actor: &Actor) -> Result<Result<Job, WriteOutcome>, StoreError> {
        // With every tenant in scope, which row the id names is the database's to say.
        if let super::Scope::Tenant(tenant) = &update.scope
            && let Some((generation, row)) = self.rows.get(tenant, &update.id)
        {
            let found = Found::cached(tenant, &update.id, row);
            if let Decision::Rewrite(change) = update.decide(Some(found.current()), actor.author())? {
                let edit = Box::new(Edit::of(&found, *change)?);
                return Ok(Ok(Job::Edit { edit, generation: Some(generation), update: Box::new(update) }));
            }
        }
        let found = self.readers.point(|conn| rows::find(conn, &update.scope, &update.id))?;
        match (update.decide(found.as_ref().map(Found::current), actor.author())?, found) {
            (Decision::Refuse(refusal), _) => Ok(Err(refusal.into())),
            (Decision::Keep, Some(found)) => Ok(Err(WriteOutcome::Written(found.stored()))),
            (Decision::Rewrite(change), Some(found)) => {
                let edit = Box::new(Edit::of(&found, *change)?);
                Ok(Ok(Job::Edit { edit, generation: None, update: Box::new(update) }))
            }
            // Moving the row is left to the writer, which decides it again on its own read.
            (Decision::Move(_), _) => Ok(Ok(Job::Command(WriteCommand::Update(update)))),
            (_, None) => Err(StoreError::Other("an update was decided on no row".into())),
        }
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

    /// Whether the store answers reads and can take writes: a store that has failed needs a
    /// restart before it writes again.
    pub fn ping(&self) -> Result<(), StoreError> {
        if let Some(failure) = self.health.failure() {
            return Err(failure);
        }
        self.readers.point(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// Rebuilds the planner's statistics (after a bulk load). Takes the write lock briefly.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let location = self.location.clone();
        blocking(move || {
            let conn = location.open()?;
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.execute_batch("ANALYZE")?;
            Ok(())
        })
        .await
    }

    /// Finishes queued writes and closes, off the async threads (see [`SqliteStore::finish`]).
    pub async fn close(self: &Arc<Self>) -> Result<(), StoreError> {
        let store = self.clone();
        blocking(move || store.finish()).await
    }

    /// Stops accepting writes, lets the writer finish what is queued and waits for it, then
    /// syncs the database, its WAL and its directory: whatever was committed is on disk when this
    /// returns `Ok`. An error when a write could not be made durable. Later calls do nothing.
    fn finish(&self) -> Result<(), StoreError> {
        let Some(write_path) = self.write_path.lock().ok().and_then(|mut w| w.take()) else {
            return Ok(());
        };
        let WritePath { queue, writer, on_disk } = write_path;
        drop(queue);
        let last_checkpoint =
            writer.join().unwrap_or_else(|_| Err(StoreError::Other("the writer thread panicked".into())));
        let Some(DiskUpkeep { checkpointer, wal, database }) = on_disk else {
            self.readers.clear();
            last_checkpoint?;
            return self.health.failure().map_or(Ok(()), Err);
        };
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
        self.readers.clear();
        synced?;
        disk::sync_directory(database.path())?;
        self.health.failure().map_or(Ok(()), Err)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(error = %e, "closing the SQLite store failed: the last writes may not be on disk");
        }
    }
}

/// The writer's connection.
fn open_writer(location: &Location, durability: Durability) -> Result<Connection, StoreError> {
    let conn = location.open()?;
    if location.file().is_none() {
        // Memory has no WAL; the rollback journal stays in the writer's own memory.
        conn.pragma_update(None, "journal_mode", "MEMORY")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        return Ok(conn);
    }
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
    // Room for every statement of the write path, the transaction's own included, and for the
    // UPDATEs of the different sets of columns a PATCH may change: a statement pushed out of the
    // cache is parsed again on its next use.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs blocking SQLite work on a thread of the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Other(format!("blocking task failed: {e}")))?
}
