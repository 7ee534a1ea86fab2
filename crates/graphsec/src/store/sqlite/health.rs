//! Whether the SQLite store can take writes, as its writer and checkpointer find it.
//!
//! Two conditions stop writes. A full disk passes: every write still tries, answers 507 while
//! the disk is full, and succeeds again once there is space. A failure does not: once an fsync
//! has failed, the kernel may have dropped the pages it could not write and will not report it
//! again, so nothing written since the last good sync can be trusted to be on disk; and once a
//! thread of the write path has died, nothing would answer. Then writes answer 503 until
//! graphsec is restarted (which recovers the database from what is really on disk), while reads
//! go on.

use super::super::StoreError;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

#[derive(Default)]
enum State {
    #[default]
    Writable,
    DiskFull,
    Failed(String),
}

impl Health {
    /// Marks the store failed for good (the first reason is kept).
    pub(crate) fn fail(&self, reason: impl Into<String>) {
        let mut state = self.lock();
        if !matches!(*state, State::Failed(_)) {
            let reason = reason.into();
            tracing::error!(
                reason = %reason,
                "the SQLite store has failed: writes are refused until graphsec is restarted; reads go on"
            );
            *state = State::Failed(reason);
        }
    }

    /// The error every write gets once the store has failed.
    pub(crate) fn failure(&self) -> Option<StoreError> {
        match &*self.lock() {
            State::Failed(reason) => Some(StoreError::Failed(reason.clone())),
            _ => None,
        }
    }

    pub(crate) fn disk_full(&self) {
        let mut state = self.lock();
        if matches!(*state, State::Writable) {
            tracing::warn!("the disk is full: writes are answered 507 until space is freed; reads go on");
            *state = State::DiskFull;
        }
    }

    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(*self.lock(), State::DiskFull)
    }

    /// A group committed: a full disk has room again.
    pub(crate) fn committed(&self) {
        let mut state = self.lock();
        if matches!(*state, State::DiskFull) {
            tracing::info!("the disk has room again: writes resumed");
            *state = State::Writable;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Marks the store failed if the thread that holds it dies by a panic.
pub(crate) struct FailOnPanic<'a> {
    pub health: &'a Health,
    pub thread: &'static str,
}

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.health.fail(format!("the SQLite {} thread died", self.thread));
        }
    }
}
