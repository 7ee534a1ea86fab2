//! Keeping the files on disk in order: the checkpointer, which copies the WAL back into the
//! database and keeps the WAL bounded, and the handles the store syncs the files through.

use super::Tuning;
use super::health::{FailOnPanic, Health};
use crate::store::StoreError;
use rusqlite::Connection;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// A checkpointer pass copies the WAL back into the database this often. A page written many
/// times between two passes is copied once, so longer intervals copy less.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Past this many pages in the WAL (4 MiB), a pass that caught up asks for a restart. Under a
/// write load the WAL passes it between any two passes; a small bound keeps the WAL small on a
/// small disk.
pub(super) const WAL_RESTART_PAGES: i64 = 1_024;
/// Past this many (1 GiB of 4 KiB pages), the WAL is truncated whatever it costs the writer:
/// readers have kept restarts from succeeding pass after pass. The bound is high because a heavy
/// PATCH load appends frames fast enough to cross a lower one between two passes of normal
/// operation.
const WAL_TRUNCATE_PAGES: i64 = 262_144;
/// How long a restart may wait for readers of the old WAL frames; it holds writes back while it
/// waits, so it gives up soon and is asked for again after a later pass.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// A file the store syncs itself (the checkpointer's flushes, and at close), through a handle
/// opened before the writes the syncs must cover: the kernel reports a failed writeback to the
/// descriptors open when it happened, so a handle opened later could be told nothing.
pub(super) struct SyncedFile {
    path: PathBuf,
    file: std::fs::File,
    identity: (u64, u64),
}

impl SyncedFile {
    pub(super) fn open(path: &Path) -> Result<SyncedFile, StoreError> {
        let file = std::fs::File::open(path)
            .map_err(|e| StoreError::Other(format!("cannot open {} to sync it: {e}", path.display())))?;
        let meta = file.metadata().map_err(|e| StoreError::Other(format!("cannot stat {}: {e}", path.display())))?;
        Ok(SyncedFile { path: path.to_path_buf(), file, identity: (meta.dev(), meta.ino()) })
    }

    /// `fdatasync`; an error too when the path no longer names the file this handle has (its
    /// writes would go unsynced).
    pub(super) fn sync(&self) -> std::io::Result<()> {
        let now = std::fs::metadata(&self.path)?;
        if (now.dev(), now.ino()) != self.identity {
            return Err(std::io::Error::other(format!("{} was replaced by another file", self.path.display())));
        }
        self.file.sync_data()
    }

    /// [`SyncedFile::sync`], for a file SQLite may have removed: the WAL is removed once the last
    /// connection has copied it into the database.
    pub(super) fn sync_unless_removed(&self) -> std::io::Result<()> {
        match self.sync() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.file.sync_data(),
            other => other,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// The checkpointer's thread, stopped by dropping the sender.
pub(super) type CheckpointerHandle = (mpsc::Sender<()>, std::thread::JoinHandle<()>);

pub(super) fn start_checkpointer(
    conn: Connection,
    database: Arc<SyncedFile>,
    restart_due: Arc<AtomicBool>,
    health: Arc<Health>,
    tuning: Tuning,
) -> Result<CheckpointerHandle, StoreError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            let _guard = FailOnPanic { health: &health, thread: "checkpointer" };
            let flush = tuning.flush_before_restart.then_some(&*database);
            // Runs until the store drops its end of the channel.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                match checkpoint(&conn, flush) {
                    Ok(false) => {}
                    Ok(true) if tuning.writer_restarts => restart_due.store(true, Ordering::Relaxed),
                    Ok(true) => restart_wal(&conn),
                    // Tried again on the next pass.
                    Err(e) if e.is_transient() => tracing::debug!(error = %e, "checkpoint pass deferred"),
                    Err(e) => health.fail(format!("checkpoint failed: {e}")),
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("cannot start the checkpointer thread: {e}")))?;
    Ok((stop, thread))
}

/// Bounds the WAL. A passive checkpoint copies frames back while the writer goes on. Under
/// constant writes it never catches up with the end of the WAL, so the WAL would only grow; once
/// it is long and a passive pass has caught up with what it saw, this returns true: time for a
/// [`restart_wal`]. A TRUNCATE, which holds writes back for as long as copying the whole WAL
/// takes, is the last resort when restarts keep failing.
///
/// With `flush`, two more passes run before the restart is asked for, each flushing the database
/// file, so that the restart (which copies what is left and syncs the database while writes
/// wait) has little left to sync.
pub(super) fn checkpoint(conn: &Connection, flush: Option<&SyncedFile>) -> Result<bool, StoreError> {
    let (log_pages, copied) = wal_checkpoint(conn, "PASSIVE")?;
    if log_pages > WAL_TRUNCATE_PAGES {
        wal_checkpoint(conn, "TRUNCATE")?;
        return Ok(false);
    }
    if log_pages <= WAL_RESTART_PAGES {
        return Ok(false);
    }
    let Some(database) = flush else {
        return Ok(copied == log_pages);
    };
    let sync =
        || database.sync().map_err(|e| StoreError::Other(format!("cannot sync {}: {e}", database.path().display())));
    sync()?;
    wal_checkpoint(conn, "PASSIVE")?;
    sync()?;
    let (log_pages, copied) = wal_checkpoint(conn, "PASSIVE")?;
    Ok(copied == log_pages)
}

/// A RESTART checkpoint: copies the frames written since the last pass and makes the next write
/// start the WAL from its beginning, over blocks the file already has. The writer runs it between
/// two groups: it needs the write lock, which the writer holds nearly all the time under load. It
/// holds writes back while it waits for readers of old frames, so it gives up soon; a later pass
/// asks again.
pub(super) fn restart_wal(conn: &Connection) {
    if conn.busy_timeout(RESTART_WAIT).is_ok() {
        if let Err(e) = wal_checkpoint(conn, "RESTART") {
            tracing::debug!(error = %e, "WAL restart deferred");
        }
        let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
    }
}

/// A TRUNCATE checkpoint, which hands the WAL's blocks back to the file system once everything
/// in it is in the database. False only when the disk had no room for that copy.
pub(super) fn empty_wal(conn: &Connection) -> bool {
    let _ = conn.busy_timeout(RESTART_WAIT);
    let emptied = wal_checkpoint(conn, "TRUNCATE").map_err(StoreError::from);
    let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
    match emptied {
        Err(StoreError::DiskFull) => false,
        Err(e) => {
            tracing::debug!(error = %e, "emptying the WAL deferred");
            true
        }
        Ok(_) => {
            tracing::info!("the WAL was emptied into the database to make room");
            true
        }
    }
}

/// `PRAGMA wal_checkpoint(MODE)`: the pages in the WAL and how many of them are copied back.
pub(super) fn wal_checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(1)?, r.get(2)?)))
}

pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// fsyncs the directory the database is in (which may have just got or lost its WAL).
pub(super) fn sync_directory(db: &Path) -> Result<(), StoreError> {
    match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::Other(format!("cannot sync the directory {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}
