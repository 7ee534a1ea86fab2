//! Fault injection for tests: makes a chosen step of the write path fail, so that tests can
//! check what every client is told and what the database holds when that step fails. Nothing is
//! armed in a running server; an unarmed check is one atomic load.

use super::super::StoreError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A step of the write path that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Taking the write lock (`BEGIN IMMEDIATE`).
    Begin,
    /// Applying one write inside the group's transaction.
    Statement,
    /// `COMMIT` (the transaction is rolled back, as when SQLite's commit fails).
    Commit,
    /// The writer's bookkeeping once `COMMIT` has succeeded.
    AfterCommit,
    /// The fsync of a commit (`COMMIT` fails as when its fsync fails).
    Sync,
}

/// How the step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An I/O error (`SQLITE_IOERR`).
    Io,
    /// `SQLITE_FULL`.
    DiskFull,
    /// `SQLITE_BUSY`: another process holds the lock.
    Busy,
    /// The thread panics.
    Panic,
    /// The step takes this long, then succeeds.
    Stall(std::time::Duration),
}

#[derive(Default)]
pub struct Faults {
    armed: AtomicBool,
    plans: Mutex<Vec<Plan>>,
}

struct Plan {
    step: Step,
    fault: Fault,
    /// Passes through the step that still succeed before this plan fires.
    skip: u32,
    /// How many passes fail once it fires.
    times: u32,
}

impl Faults {
    /// Makes `times` passes through `step` fail with `fault`, after `skip` passes that succeed.
    pub fn arm(&self, step: Step, fault: Fault, skip: u32, times: u32) {
        self.lock().push(Plan { step, fault, skip, times });
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Disarms every plan.
    pub fn clear(&self) {
        self.lock().clear();
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Called at `step`: the injected failure, if a plan fires here.
    pub(crate) fn check(&self, step: Step) -> Result<(), StoreError> {
        if !self.armed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let fault = {
            let mut plans = self.lock();
            let Some(plan) = plans.iter_mut().find(|p| p.step == step && p.times > 0) else {
                return Ok(());
            };
            if plan.skip > 0 {
                plan.skip -= 1;
                return Ok(());
            }
            plan.times -= 1;
            plan.fault
        };
        let code = match fault {
            Fault::Stall(duration) => {
                std::thread::sleep(duration);
                return Ok(());
            }
            Fault::Io if step == Step::Sync => rusqlite::ffi::SQLITE_IOERR_FSYNC,
            Fault::Io => rusqlite::ffi::SQLITE_IOERR,
            Fault::DiskFull => rusqlite::ffi::SQLITE_FULL,
            Fault::Busy => rusqlite::ffi::SQLITE_BUSY,
            Fault::Panic => panic!("fault injected at {step:?}"),
        };
        let error = rusqlite::ffi::Error::new(code);
        Err(rusqlite::Error::SqliteFailure(error, Some(format!("fault injected at {step:?}"))).into())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Plan>> {
        self.plans.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
