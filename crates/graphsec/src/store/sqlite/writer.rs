//! The writer thread: takes queued writes in groups and commits each group in one transaction.
//!
//! A group's life has two phases with different rules. Until `COMMIT` succeeds nothing is
//! written, so a failure may be retried: a write that failed on its own (a statement error) is
//! retried once in a transaction of its own, so that only the failing one fails, while a failure
//! of the whole group (the lock, a full disk) answers every write with it. Once `COMMIT` has
//! succeeded, each write's outcome is what the database holds and what its caller is told;
//! nothing after that point can run a write again.

use super::chain;
use super::disk;
use super::faults::{Faults, Step};
use super::health::{FailOnPanic, Health};
use super::rows::{self, Edit, Found};
use super::{Job, Queued, Reply};
use crate::domain::write::{Decision, Update};
use crate::store::row_cache::{CacheChange, RowCache};
use crate::store::{Actor, IndexedColumns, StoreError, WriteCommand, WriteOutcome};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 512;
/// The writer's page cache once it has been given a bulk load (`graphsec import`): a batch of
/// thousands of rows dirties more pages than the default cache holds, and pages pushed out
/// mid-transaction are written to the WAL twice.
const BULK_WRITER_CACHE_KIB: i64 = 65_536;
/// How often the writer refreshes the planner's statistics (`PRAGMA optimize`).
const OPTIMIZE_EVERY: Duration = Duration::from_secs(600);

type Outcomes = Vec<Result<WriteOutcome, StoreError>>;
type Answers = Vec<(Reply, Result<WriteOutcome, StoreError>)>;

/// The writer thread's connection and what it shares with the rest of the store.
pub(super) struct Writer {
    pub conn: Connection,
    pub rows: Arc<RowCache>,
    /// `PRAGMA data_version` as of the last group: it moves when another connection writes.
    pub data_version: i64,
    /// Whether the page cache has been grown for bulk loads.
    pub bulk_cache: bool,
    /// Set by the checkpointer when the WAL is due for [`disk::restart_wal`].
    pub restart_due: Arc<AtomicBool>,
    pub health: Arc<Health>,
    pub faults: Arc<Faults>,
}

/// Why a group was not committed.
struct GroupFailure {
    error: StoreError,
    /// The failure may be one write's own: each is worth trying alone.
    retry_alone: bool,
}

impl GroupFailure {
    fn of_group(error: StoreError) -> GroupFailure {
        GroupFailure { error, retry_alone: false }
    }

    fn of_statement(error: StoreError) -> GroupFailure {
        GroupFailure { retry_alone: !error.is_transient(), error }
    }
}

/// Commits queued writes until the queue closes; then copies the WAL into the database.
pub(super) fn run_writer(mut writer: Writer, queue: mpsc::Receiver<Queued>) -> Result<(), StoreError> {
    let health = writer.health.clone();
    let _guard = FailOnPanic { health: &health, thread: "writer" };
    // Statistics for the query planner (indexes are only chosen well with them), gathered here
    // rather than before the server is ready: a server on a full disk still starts and reads.
    if let Err(e) = writer.conn.execute_batch("PRAGMA optimize=0x10002") {
        tracing::warn!(error = %e, "cannot refresh the query planner's statistics; trying again later");
    }
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
        let refusal = match health.failure() {
            Some(failure) => Some(failure),
            // Space freed on a full disk goes first to emptying the WAL into the database: the
            // WAL keeps the blocks of its longest stretch, which writes would otherwise fill.
            None if health.is_disk_full() && !disk::empty_wal(&writer.conn) => Some(StoreError::DiskFull),
            None => None,
        };
        let answers: Answers = match refusal {
            Some(error) => batch.into_iter().map(|(_, _, reply)| (reply, Err(error.duplicate()))).collect(),
            None => writer.answer_group(batch),
        };
        for (reply, outcome) in answers {
            let _ = reply.send(outcome);
        }
        if writer.restart_due.swap(false, Ordering::Relaxed) {
            disk::restart_wal(&writer.conn);
        }
        if last_optimize.elapsed() > OPTIMIZE_EVERY {
            let _ = writer.conn.execute_batch("PRAGMA optimize");
            last_optimize = Instant::now();
        }
    }
    if let Some(failure) = health.failure() {
        return Err(failure);
    }
    // The last checkpoint syncs what it copies. Every commit is in the WAL, which the store
    // syncs when it closes, so a checkpoint that finds the disk full or the database locked
    // leaves the WAL for the next start to copy and loses nothing.
    writer.conn.pragma_update(None, "synchronous", "FULL")?;
    match disk::wal_checkpoint(&writer.conn, "PASSIVE").map_err(StoreError::from) {
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, "the WAL could not be copied into the database; the next start copies it");
        }
        other => {
            other?;
        }
    }
    tracing::debug!("sqlite writer stopped");
    Ok(())
}

impl Writer {
    /// Commits a group and pairs each caller with its outcome. A panic while committing fails
    /// the store: the group's callers are told so, and nothing more is written.
    fn answer_group(&mut self, batch: Vec<Queued>) -> Answers {
        let started = Instant::now();
        // Writes whose request has stopped waiting are dropped unseen; the rest are taken up.
        let batch: Vec<Queued> = batch.into_iter().filter(|(_, actor, _)| actor.take_up()).collect();
        if batch.is_empty() {
            return Vec::new();
        }
        let jobs: Vec<(&Job, &Actor)> = batch.iter().map(|(job, actor, _)| (job, actor)).collect();
        let outcomes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit_group(&jobs)));
        drop(jobs);
        tracing::trace!(writes = batch.len(), micros = started.elapsed().as_micros() as u64, "group committed");
        match outcomes {
            Ok(outcomes) => batch.into_iter().zip(outcomes).map(|((_, _, reply), outcome)| (reply, outcome)).collect(),
            Err(_) => {
                self.health.fail("the SQLite writer thread panicked while committing writes");
                let failure = self.health.failure().unwrap_or(StoreError::Closed);
                batch.into_iter().map(|(_, _, reply)| (reply, Err(failure.duplicate()))).collect()
            }
        }
    }

    /// Commits the jobs in one transaction; when that fails for what may be one write's own
    /// failure, commits each in a transaction of its own.
    fn commit_group(&mut self, jobs: &[(&Job, &Actor)]) -> Outcomes {
        let failure = match self.commit_once(jobs) {
            Ok(outcomes) => return outcomes,
            Err(failure) => failure,
        };
        if matches!(failure.error, StoreError::DiskFull) {
            self.health.disk_full();
            // From now on space comes before speed: the writer copies the WAL into the database
            // every 1,000 pages itself, and the WAL gives its blocks back each time it starts
            // over, so that space freed later goes to the data rather than to a long WAL.
            let _ = self.conn.pragma_update(None, "wal_autocheckpoint", 1_000);
            let _ = self.conn.pragma_update(None, "journal_size_limit", 0);
        }
        if failure.retry_alone && jobs.len() > 1 {
            tracing::warn!(error = %failure.error, writes = jobs.len(), "group commit failed; retrying its writes one by one");
            return jobs
                .iter()
                .map(|one| match self.commit_once(std::slice::from_ref(one)) {
                    Ok(mut outcome) => outcome.remove(0),
                    Err(failure) => Err(failure.error),
                })
                .collect();
        }
        jobs.iter().map(|_| Err(failure.error.duplicate())).collect()
    }

    /// Writes the jobs in one transaction and commits it: the outcomes once committed, or why not.
    fn commit_once(&mut self, jobs: &[(&Job, &Actor)]) -> Result<Outcomes, GroupFailure> {
        if !self.bulk_cache && jobs.iter().any(|(job, _)| matches!(job, Job::Command(WriteCommand::Import { .. }))) {
            self.conn
                .pragma_update(None, "cache_size", -BULK_WRITER_CACHE_KIB)
                .map_err(|e| GroupFailure::of_group(e.into()))?;
            self.bulk_cache = true;
        }
        self.faults.check(Step::Begin).map_err(GroupFailure::of_group)?;
        let tx = Group::begin(&self.conn).map_err(|e| GroupFailure::of_group(e.into()))?;
        let data_version = rows::data_version(tx.conn).map_err(|e| GroupFailure::of_group(e.into()))?;
        if data_version != self.data_version {
            // Another connection wrote: the cached rows may be stale.
            tracing::debug!("the database was written by another connection; forgetting the cached rows");
            self.rows.invalidate();
            self.data_version = data_version;
        }
        let generation = self.rows.generation();
        let mut cache_changes = Vec::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (job, actor) in jobs {
            self.faults.check(Step::Statement).map_err(GroupFailure::of_statement)?;
            let outcome =
                write_job(tx.conn, job, actor, generation, &mut cache_changes).map_err(GroupFailure::of_statement)?;
            outcomes.push(Ok(outcome));
        }
        self.faults.check(Step::Commit).map_err(GroupFailure::of_statement)?;
        let committed = self.faults.check(Step::Sync).and_then(|()| tx.commit().map_err(StoreError::from));
        if let Err(e) = committed {
            if e.is_failed_sync() {
                // The kernel may have dropped what it could not write and will not say so again.
                self.health.fail(format!("an fsync failed while committing: {e}"));
                return Err(GroupFailure::of_group(self.health.failure().unwrap_or(e)));
            }
            return Err(GroupFailure::of_statement(e));
        }

        // Committed: from here on nothing may fail the group.
        self.health.committed();
        let reset = jobs.iter().any(|(job, _)| matches!(job, Job::Command(WriteCommand::Reset { .. })));
        match self.faults.check(Step::AfterCommit) {
            // A reset removed rows it did not name one by one.
            Ok(()) if reset => self.rows.invalidate(),
            Ok(()) => self.rows.apply(cache_changes),
            Err(e) => {
                tracing::error!(error = %e, "bookkeeping after a commit failed; the committed writes stand");
                self.rows.invalidate();
            }
        }
        Ok(outcomes)
    }
}

/// A group's `BEGIN IMMEDIATE ... COMMIT`, rolled back when dropped uncommitted (as rusqlite's
/// `Transaction` is). Unlike `Transaction`, which runs its statements through `execute_batch`
/// and so parses them anew every time, it keeps BEGIN and COMMIT prepared: a small group, often a
/// single write, would otherwise pay for parsing them each time.
struct Group<'c> {
    conn: &'c Connection,
}

impl<'c> Group<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Group<'c>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Group { conn })
    }

    fn commit(self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        // Still open: not committed, or the COMMIT failed and left it open.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Writes one job inside the group's transaction.
fn write_job(
    conn: &Connection,
    job: &Job,
    actor: &Actor,
    generation: u64,
    cache: &mut Vec<CacheChange>,
) -> Result<WriteOutcome, StoreError> {
    match job {
        Job::Command(command) => write_command(conn, command, actor, cache),
        // Decided on cached rows that have been invalidated since.
        Job::Edit { generation: Some(g), update, .. } if *g != generation => write_update(conn, update, actor, cache),
        Job::Edit { edit, update, .. } => match edit.write(conn, cache)? {
            Some(outcome) => Ok(outcome),
            // Changed or deleted since it was read: decide again on the current row.
            None => write_update(conn, update, actor, cache),
        },
    }
}

/// Reads, decides and writes one command inside the group's transaction.
fn write_command(
    conn: &Connection,
    command: &WriteCommand,
    actor: &Actor,
    cache: &mut Vec<CacheChange>,
) -> Result<WriteOutcome, StoreError> {
    match command {
        WriteCommand::Create(create) => {
            let (columns, text) = IndexedColumns::with_text(&create.doc)?;
            let outcome = rows::insert(conn, &columns, text, 1)?;
            if matches!(outcome, WriteOutcome::Written(_)) {
                chain::append(conn, &create.audit(actor.author()))?;
            }
            Ok(outcome)
        }
        WriteCommand::Update(update) => write_update(conn, update, actor, cache),
        WriteCommand::Delete(delete) => {
            let found = rows::find(conn, &delete.scope, &delete.id)?;
            let audit = match delete.decide(found.as_ref().map(Found::current), actor.author()) {
                Ok(audit) => audit,
                Err(refusal) => return Ok(refusal.into()),
            };
            rows::delete_row(conn, &audit.tenant, &delete.id, cache)?;
            chain::append(conn, &audit)?;
            Ok(WriteOutcome::Deleted)
        }
        WriteCommand::Import { profiles } => {
            let mut inserted = 0;
            for profile in profiles {
                if rows::insert_row(conn, &IndexedColumns::of(&profile.doc)?, &profile.text, 1)? {
                    inserted += 1;
                }
            }
            Ok(WriteOutcome::Imported { inserted, skipped: profiles.len() as u64 - inserted })
        }
        WriteCommand::PruneAudit { before, limit } => {
            Ok(WriteOutcome::Pruned { deleted: rows::prune_audit(conn, before, *limit)? })
        }
        WriteCommand::Reset { tenant } => Ok(WriteOutcome::Reset { profiles: rows::reset(conn, tenant.as_deref())? }),
    }
}

/// Decides an update on the row as the transaction reads it, and writes what was decided.
fn write_update(
    conn: &Connection,
    update: &Update,
    actor: &Actor,
    cache: &mut Vec<CacheChange>,
) -> Result<WriteOutcome, StoreError> {
    let found = rows::find(conn, &update.scope, &update.id)?;
    match (update.decide(found.as_ref().map(Found::current), actor.author())?, found) {
        (Decision::Refuse(refusal), _) => Ok(refusal.into()),
        (Decision::Keep, Some(found)) => Ok(WriteOutcome::Written(found.stored())),
        (Decision::Rewrite(change), Some(found)) => Edit::of(&found, *change)?
            .write(conn, cache)?
            .ok_or_else(|| StoreError::Other("a row changed inside the writer's own transaction".into())),
        (Decision::Move(change), Some(found)) => {
            let outcome = rows::insert(conn, &IndexedColumns::of_copied(&change.copied)?, change.text, change.version)?;
            if matches!(outcome, WriteOutcome::Written(_)) {
                rows::delete_row(conn, &found.tenant, &found.id, cache)?;
                chain::append(conn, &change.audit)?;
            }
            Ok(outcome)
        }
        (_, None) => Err(StoreError::Other("an update was decided on no row".into())),
    }
}
