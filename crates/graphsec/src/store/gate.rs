//! Whether a write still runs once its client has stopped waiting for it.
//!
//! A request that times out is answered at once, but its write may still be queued. Each request
//! has one gate. The store takes a write up through it at the last moment the write can still be
//! dropped without trace (the SQLite writer before `BEGIN`, PostgreSQL before `COMMIT`); a
//! request whose time runs out gives up through it only while none of its writes has been taken
//! up, and otherwise waits for the outcome it will report. So a client told that its request
//! timed out can retry: nothing of it was written.

use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct WriteGate {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Open,
    /// A write was taken up: the request waits for its outcome.
    TakenUp,
    /// The request gave up: its writes are dropped.
    Abandoned,
}

impl WriteGate {
    /// Called by the store right before a write becomes irreversible: false when the request
    /// has given up, and the write must be dropped.
    pub fn take_up(&self) -> bool {
        let mut state = self.lock();
        if *state == State::Abandoned {
            return false;
        }
        *state = State::TakenUp;
        true
    }

    /// Called by a request whose time ran out: true when it may answer now (no write of it will
    /// run), false when a write was taken up and the request must wait for its outcome.
    pub fn abandon(&self) -> bool {
        let mut state = self.lock();
        if *state == State::TakenUp {
            return false;
        }
        *state = State::Abandoned;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_taken_up_holds_the_request_and_an_abandoned_request_drops_its_writes() {
        let gate = WriteGate::default();
        assert!(gate.take_up());
        assert!(!gate.abandon(), "the request waits for the write it started");
        assert!(gate.take_up(), "a request that waits may write again (a batch)");

        let gate = WriteGate::default();
        assert!(gate.abandon());
        assert!(!gate.take_up(), "a write of an abandoned request is dropped");
        assert!(gate.abandon());
    }
}
