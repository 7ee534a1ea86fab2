//! What a failed PostgreSQL call means for the client, and whether it runs again: the one place
//! for that rule.
//!
//! A Graph client retries a 503 that carries `Retry-After` and gives up on a 400, so a 400 is
//! kept for what the request itself caused and everything the database or the network did is a
//! 503. Before answering, the store hides what it safely can: a transaction the database rolled
//! back in favour of another (40001/40P01) runs again with backoff, and a call whose connection
//! broke runs once more on another connection. A second break in a row means the database is
//! going away, and a client is better served by a prompt 503 than by a request that hangs on.
//!
//! A broken connection can be retried because nothing on it committed: the server rolls back an
//! open transaction when its session ends. The exception is the COMMIT itself: once it was sent,
//! the write may be stored even though no answer came back, so it is never replayed
//! ([`at_commit`]).

use crate::store::StoreError;
use std::future::Future;
use std::time::Duration;

/// Tries of a transaction the database keeps rolling back for serialization or deadlock.
pub(super) const MAX_ATTEMPTS: usize = 8;

enum Fault {
    /// 40001/40P01: rolled back in favour of a concurrent transaction; running again usually works.
    GaveWay,
    /// The connection broke or the server ended the session (I/O, protocol, SQLSTATE class 08,
    /// 57P01 `pg_terminate_backend`, 57P02, 57P03): another connection may well work.
    ConnectionLost,
    /// No connection within the pool's acquire timeout (sqlx has retried connecting throughout),
    /// or the pool is closing: trying again would only wait as long again.
    NoConnection,
    /// 55P03: another session held a lock for longer than `lock_timeout`.
    LockTimeout,
    /// 57014: `statement_timeout`, or a cancel from outside (`pg_cancel_backend`).
    Canceled,
    /// 53100: the database server's disk is full; the statement, and so the write, failed.
    DiskFull,
    Other,
}

fn fault(error: &sqlx::Error) -> Fault {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => Fault::ConnectionLost,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Fault::NoConnection,
        sqlx::Error::Database(db) => match db.code().as_deref().unwrap_or_default() {
            "40001" | "40P01" => Fault::GaveWay,
            "57P01" | "57P02" | "57P03" => Fault::ConnectionLost,
            code if code.starts_with("08") => Fault::ConnectionLost,
            "55P03" => Fault::LockTimeout,
            "57014" => Fault::Canceled,
            "53100" => Fault::DiskFull,
            _ => Fault::Other,
        },
        _ => Fault::Other,
    }
}

/// Runs `attempt` (a read, or a whole write transaction) until it succeeds or fails for good, and
/// turns the last error into what the client is answered.
pub(super) async fn retrying<T, F>(mut attempt: impl FnMut() -> F) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    let mut reconnected = false;
    loop {
        tries += 1;
        let error = match attempt().await {
            Err(StoreError::Postgres(error)) => error,
            done => return done,
        };
        match fault(&error) {
            Fault::GaveWay if tries < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff(tries)).await;
            }
            Fault::ConnectionLost if !reconnected => {
                tracing::info!(%error, "PostgreSQL connection lost; trying once more on another connection");
                super::pool::connection_lost();
                reconnected = true;
            }
            _ => return Err(settle(error)),
        }
    }
}

/// Whether the connection broke or the server ended the session.
pub(super) fn is_connection_lost(error: &sqlx::Error) -> bool {
    matches!(fault(error), Fault::ConnectionLost)
}

/// Whether the database rolled the statement back in favour of a concurrent one (40001/40P01).
pub(super) fn gave_way(error: &sqlx::Error) -> bool {
    matches!(fault(error), Fault::GaveWay)
}

/// The pause before try number `tries` + 1 of a statement that gave way.
pub(super) fn backoff(tries: usize) -> Duration {
    Duration::from_millis(2 << tries.min(6))
}

/// What the client is answered for `error`, once it is not tried again.
pub(super) fn settle(error: sqlx::Error) -> StoreError {
    match fault(&error) {
        Fault::GaveWay | Fault::LockTimeout => {
            tracing::warn!(%error, "PostgreSQL: waited too long on other sessions' locks");
            StoreError::Busy
        }
        Fault::ConnectionLost | Fault::NoConnection | Fault::Canceled => {
            tracing::warn!(%error, "PostgreSQL is not available");
            StoreError::Unavailable(error.to_string())
        }
        Fault::DiskFull => disk_full(&error),
        Fault::Other => StoreError::Postgres(error),
    }
}

fn disk_full(error: &sqlx::Error) -> StoreError {
    tracing::error!(%error, "PostgreSQL's disk is full: writes fail until space is freed");
    StoreError::DiskFull
}

/// The error of a COMMIT. A connection that broke after the COMMIT was sent (or a cancel that
/// reached it) leaves the write's fate unknown: it is reported as such and never retried. Any
/// other error is the server refusing the commit, which means the transaction was rolled back.
pub(super) fn at_commit(error: sqlx::Error) -> StoreError {
    match fault(&error) {
        Fault::ConnectionLost | Fault::Canceled => {
            tracing::warn!(%error, "PostgreSQL connection lost during COMMIT: the write may or may not be stored");
            StoreError::OutcomeUnknown(error.to_string())
        }
        Fault::DiskFull => disk_full(&error),
        _ => StoreError::Postgres(error),
    }
}

/// The error of a list or count query, whose statement ran for `ran` against the `limit` of
/// `--query-timeout` (the session's `statement_timeout`).
///
/// SQLSTATE 57014 does not say who cancelled. The client is to blame only when the scan itself
/// used up its time: the server's timer starts after our clock does, so a statement_timeout
/// always shows `ran >= limit`, while a cancel from outside comes earlier. A scan waiting on a
/// lock is never blamed: `lock_timeout` is at most half the limit (see `lock_timeout`), so the
/// wait ends in 55P03 first.
pub(super) fn of_scan(error: sqlx::Error, ran: Duration, limit: Duration) -> StoreError {
    match fault(&error) {
        Fault::Canceled if !limit.is_zero() && ran >= limit => StoreError::QueryTimeout(limit),
        _ => StoreError::Postgres(error),
    }
}
