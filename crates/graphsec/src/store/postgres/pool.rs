//! The store's connections to PostgreSQL.
//!
//! sqlx's own pool sends a Sync round trip when it hands out a connection and another when it
//! takes one back, which triples the round trips of a point read. This pool hands out and takes
//! back without talking to the server: a connection whose last statement completed is reused as
//! it is, and one given back some other way (an error, a request that stopped waiting) is first
//! drained with a round trip off the request's path, as sqlx does, before anyone reuses it.
//!
//! A lost connection usually means the database restarted or failed over, which ended every
//! other connection too; [`connection_lost`] has each idle connection tested before its next use,
//! so that the one retry a request gets runs on a live connection.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counts the connection losses seen in this process. It is process-wide because the rule that
/// notices a loss (`faults`) is not tied to one store; a loss seen by another store of the same
/// process costs this one at most a round trip per idle connection.
static LOSSES: AtomicU64 = AtomicU64::new(0);

/// Has every connection that is idle now tested before its next use.
pub(super) fn connection_lost() {
    LOSSES.fetch_add(1, Ordering::Relaxed);
}

/// The longest pause between two attempts to open a connection while the database is away.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    acquire_timeout: Duration,
    /// One permit per connection handed out (or being opened).
    slots: Arc<Semaphore>,
    /// Most recently given back last, so that the busiest connections stay warm.
    idle: Mutex<Vec<Idle>>,
    /// Every hand-out and every return costs a round trip, as in sqlx's pool: switched on only
    /// to measure what skipping them is worth (`GRAPHSEC_POSTGRES_WITHOUT=quiet-handoff`).
    checked_handoffs: bool,
}

struct Idle {
    conn: PgConnection,
    /// [`LOSSES`] when it was given back.
    losses: u64,
}

impl Pool {
    pub(super) fn new(options: PgConnectOptions, size: u32, acquire_timeout: Duration) -> Pool {
        let size = usize::try_from(size.max(1)).unwrap_or(1);
        let off = std::env::var("GRAPHSEC_POSTGRES_WITHOUT").unwrap_or_default();
        let checked_handoffs = off.split(',').any(|n| n.trim() == "quiet-handoff");
        if checked_handoffs {
            tracing::warn!(
                "GRAPHSEC_POSTGRES_WITHOUT=quiet-handoff: every connection hand-out and return costs a round trip"
            );
        }
        let slots = Arc::new(Semaphore::new(size));
        let inner = Inner { options, acquire_timeout, slots, idle: Mutex::default(), checked_handoffs };
        Pool { inner: Arc::new(inner) }
    }

    /// A connection within the acquire timeout: an idle one, or a new one. `PoolTimedOut` when
    /// none could be had in time, `PoolClosed` once closed, and the server's own answer when it
    /// refuses the connection (a wrong password is not worth waiting for).
    pub(super) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let deadline = Instant::now() + self.inner.acquire_timeout;
        let slot = tokio::time::timeout_at(deadline.into(), self.inner.slots.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some(idle) = self.pop_idle() {
            let mut conn = idle.conn;
            let trusted = idle.losses == LOSSES.load(Ordering::Relaxed) && !self.inner.checked_handoffs;
            if trusted || conn.ping().await.is_ok() {
                return Ok(Conn { conn: Some(conn), slot: Some(slot), pool: self.inner.clone() });
            }
        }
        let conn = self.connect(deadline).await?;
        Ok(Conn { conn: Some(conn), slot: Some(slot), pool: self.inner.clone() })
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
    }

    /// Opens a connection, trying again while the server cannot be reached, until `deadline`.
    async fn connect(&self, deadline: Instant) -> Result<PgConnection, sqlx::Error> {
        let mut backoff = Duration::from_millis(20);
        loop {
            let attempt = tokio::time::timeout_at(deadline.into(), self.inner.options.connect()).await;
            match attempt {
                Err(_) => return Err(sqlx::Error::PoolTimedOut),
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(error)) if !unreachable(&error) => return Err(error),
                Ok(Err(error)) => {
                    if Instant::now() + backoff >= deadline {
                        tracing::debug!(%error, "no PostgreSQL connection before the acquire timeout");
                        return Err(sqlx::Error::PoolTimedOut);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_CONNECT_BACKOFF);
                }
            }
        }
    }

    /// Refuses new requests for connections and closes the idle ones; those in use close when
    /// given back.
    pub(super) async fn close(&self) {
        self.inner.slots.close();
        let idle: Vec<Idle> =
            std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for idle in idle {
            let _ = idle.conn.close().await;
        }
    }
}

/// Whether a failure to connect is the server being away (worth waiting for) rather than it
/// refusing us.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // Class 08 (connection) and 57P03 (the server is starting up or shutting down).
            code.starts_with("08") || code == "57P03"
        }
        _ => false,
    }
}

/// A connection handed out by the [`Pool`]. Give it back with [`Conn::release`] once its last
/// statement has completed; dropped any other way, it is drained (or closed) off the caller's
/// path before reuse.
pub(super) struct Conn {
    conn: Option<PgConnection>,
    slot: Option<OwnedSemaphorePermit>,
    pool: Arc<Inner>,
}

impl Conn {
    /// Back to the pool as it is: its last statement completed, so it is ready for the next.
    pub(super) fn release(mut self) {
        if self.pool.checked_handoffs {
            return; // dropped: drained with a round trip before reuse
        }
        if let Some(conn) = self.conn.take() {
            give_back(&self.pool, conn);
        }
    }

    /// Gives the connection back after `result`, the outcome of its last statement: closed when
    /// that lost the connection, reused otherwise.
    pub(super) fn settle<T>(self, result: &Result<T, sqlx::Error>) {
        match result {
            Err(error) if super::faults::is_connection_lost(error) => self.discard(),
            _ => self.release(),
        }
    }

    /// Closes the connection instead of giving it back.
    pub(super) fn discard(mut self) {
        self.conn = None;
    }
}

fn give_back(pool: &Inner, conn: PgConnection) {
    if pool.slots.is_closed() {
        return;
    }
    let idle = Idle { conn, losses: LOSSES.load(Ordering::Relaxed) };
    pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(idle);
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let (pool, slot) = (self.pool.clone(), self.slot.take());
        // Whatever the connection was doing is finished (or its rollback sent) before it is
        // reused; the slot stays taken until then, so the pool never holds more connections
        // than its size.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if conn.ping().await.is_ok() {
                    give_back(&pool, conn);
                }
                drop(slot);
            });
        }
    }
}

impl Deref for Conn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a Conn holds its connection until given back"))
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a Conn holds its connection until given back"))
    }
}
