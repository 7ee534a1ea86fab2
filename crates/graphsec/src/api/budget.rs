//! The memory budget for response bodies (`--response-memory-mb`).
//!
//! A response that may be large reserves its size in KiB units from one semaphore before its
//! rows are fetched, and the units travel with its bytes: every chunk handed to hyper owns the
//! units of its own length and gives them back when hyper has written and dropped it. So the
//! budget covers the rows held for rendering, the chunks queued in hyper's write buffer and a
//! `$batch` envelope's items waiting for their turn, until the last byte has left.
//!
//! Small responses (a profile, an error, a short page) stay outside the budget: they are bounded
//! by the connection cap, and making them queue behind large pages would slow point reads down
//! exactly when the server is busiest.

use super::error::GraphError;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: usize = 1024;
/// Responses up to this size need no reservation.
pub const SMALL_RESPONSE_BYTES: usize = 64 * 1024;
/// Rows are assumed this large until a page has shown otherwise.
const INITIAL_ROW_BYTES: usize = 1024;
/// What a row costs beside its text: the `String` and version, allocator slack, its annotations.
pub const ROW_OVERHEAD_BYTES: usize = 128;
/// A page's head and `@odata.nextLink`, and the row by which a chunk may outgrow its rows' share
/// (the chunks themselves are paid for by the rows they are rendered from, which are dropped).
pub const PAGE_OVERHEAD_BYTES: usize = 8 * 1024;

/// Shared by every request of a server; cloning is cheap.
#[derive(Clone)]
pub struct ResponseBudget {
    inner: Arc<Inner>,
}

struct Inner {
    semaphore: Arc<Semaphore>,
    total_units: usize,
    max_wait: Duration,
    row_bytes: AtomicUsize,
    peak_units: AtomicUsize,
}

impl ResponseBudget {
    pub fn new(total_bytes: usize, max_wait: Duration) -> ResponseBudget {
        // Permits are taken in one `acquire_many` of a u32.
        let total_units = (total_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        ResponseBudget {
            inner: Arc::new(Inner {
                semaphore: Arc::new(Semaphore::new(total_units)),
                total_units,
                max_wait,
                row_bytes: AtomicUsize::new(INITIAL_ROW_BYTES),
                peak_units: AtomicUsize::new(0),
            }),
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.inner.total_units * UNIT
    }

    /// Bytes reserved right now by responses being built or sent.
    pub fn in_use_bytes(&self) -> usize {
        self.inner.in_use_units() * UNIT
    }

    /// The most bytes that were ever reserved at once.
    pub fn peak_bytes(&self) -> usize {
        self.inner.peak_units.load(Ordering::Relaxed) * UNIT
    }

    /// What a page of `limit` rows is expected to need, from the rows of recent pages, with a
    /// quarter more for rows larger than those: the surplus goes back as soon as the rows are in.
    pub fn page_estimate(&self, limit: usize) -> usize {
        let row = self.inner.row_bytes.load(Ordering::Relaxed);
        limit.saturating_mul(row + row / 4).saturating_add(PAGE_OVERHEAD_BYTES)
    }

    /// Learns the row size from a fetched page: a larger one is taken at once (so the next
    /// estimate is not short again), a smaller one only slowly (one odd page should not shrink
    /// every estimate).
    pub fn observe_rows(&self, rows: usize, bytes: usize) {
        if rows < 16 {
            return;
        }
        let average = bytes / rows;
        let _ = self.inner.row_bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
            Some(average.max(current - current / 8).max(ROW_OVERHEAD_BYTES))
        });
    }

    /// Reserves `bytes`, waiting at most the configured time. More than the whole budget is
    /// reserved as the whole budget: the estimate may be high, and [`Reservation::try_resize`]
    /// refuses a response that really is larger once its size is known.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, GraphError> {
        let mut reservation = Reservation { units: None, budget: self.clone() };
        if bytes > SMALL_RESPONSE_BYTES {
            let units = units(bytes).min(self.inner.total_units);
            reservation.units = Some(self.acquire(units).await?);
        }
        Ok(reservation)
    }

    /// Reserves exactly `bytes`, a size already known: more than the whole budget is refused at
    /// once.
    pub async fn reserve_exact(&self, bytes: usize) -> Result<Reservation, GraphError> {
        if bytes > SMALL_RESPONSE_BYTES && units(bytes) > self.inner.total_units {
            return Err(self.too_large(bytes));
        }
        self.reserve(bytes).await
    }

    async fn acquire(&self, units: usize) -> Result<Units, GraphError> {
        let count = u32::try_from(units).map_err(|_| self.too_large(units * UNIT))?;
        let semaphore = self.inner.semaphore.clone();
        match tokio::time::timeout(self.inner.max_wait, semaphore.acquire_many_owned(count)).await {
            Ok(Ok(permit)) => Ok(self.wrap(permit)),
            Ok(Err(_)) => Err(GraphError::internal()),
            Err(_) => {
                tracing::debug!(units, in_use = self.inner.in_use_units(), "response memory budget exhausted");
                Err(self.busy())
            }
        }
    }

    /// The answer when the budget has no room for a response.
    pub fn busy(&self) -> GraphError {
        GraphError::unavailable(
            "The server is busy sending other large responses; retry after the time in the Retry-After header.",
        )
        .with_retry_after(1)
    }

    fn try_acquire(&self, units: usize) -> Option<Units> {
        let count = u32::try_from(units).ok()?;
        self.inner.semaphore.clone().try_acquire_many_owned(count).ok().map(|permit| self.wrap(permit))
    }

    fn wrap(&self, permit: OwnedSemaphorePermit) -> Units {
        let in_use = self.inner.in_use_units();
        self.inner.peak_units.fetch_max(in_use, Ordering::Relaxed);
        self.inner.record();
        Units { permit: Some(permit), budget: self.inner.clone() }
    }

    fn too_large(&self, bytes: usize) -> GraphError {
        GraphError::unavailable(format!(
            "The response would need {} MiB, more than the server's response memory budget of {} MiB; ask for fewer rows ($top) or properties ($select).",
            bytes.div_ceil(1 << 20),
            self.total_bytes() >> 20
        ))
        .with_retry_after(1)
    }
}

impl Inner {
    fn in_use_units(&self) -> usize {
        self.total_units.saturating_sub(self.semaphore.available_permits())
    }

    fn record(&self) {
        if crate::telemetry::enabled() {
            metrics::gauge!("graphsec_response_memory_bytes").set((self.in_use_units() * UNIT) as f64);
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

/// Units of the budget; they go back when this is dropped.
struct Units {
    permit: Option<OwnedSemaphorePermit>,
    budget: Arc<Inner>,
}

impl Units {
    fn held(&self) -> usize {
        self.permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    fn split(&mut self, units: usize) -> Option<Units> {
        let held = self.held();
        let permit = self.permit.as_mut()?.split(units.min(held))?;
        Some(Units { permit: Some(permit), budget: self.budget.clone() })
    }

    fn merge(&mut self, mut other: Units) {
        match (&mut self.permit, other.permit.take()) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

impl Drop for Units {
    fn drop(&mut self) {
        let held = self.held();
        drop(self.permit.take());
        if held > 0 && crate::telemetry::enabled() {
            self.budget.record();
        }
    }
}

/// The budget a response holds (possibly none, for a small one).
pub struct Reservation {
    units: Option<Units>,
    budget: ResponseBudget,
}

impl Reservation {
    /// Sets the reservation to the response's real size, known once its rows are fetched, without
    /// waiting: false when the shortfall is not free right now. Then nothing is held any more, and
    /// the caller drops its rows and waits for the whole size with [`ResponseBudget::reserve_exact`]
    /// (holding neither rows nor part of the budget while it waits).
    pub fn try_resize(&mut self, bytes: usize) -> Result<bool, GraphError> {
        if bytes <= SMALL_RESPONSE_BYTES {
            self.units = None;
            return Ok(true);
        }
        let wanted = units(bytes);
        if wanted > self.budget.inner.total_units {
            self.units = None;
            return Err(self.budget.too_large(bytes));
        }
        let held = self.units.as_ref().map_or(0, Units::held);
        if wanted <= held {
            if let Some(units) = &mut self.units {
                drop(units.split(held - wanted));
            }
            return Ok(true);
        }
        let Some(extra) = self.budget.try_acquire(wanted - held) else {
            self.units = None;
            return Ok(false);
        };
        match &mut self.units {
            Some(units) => units.merge(extra),
            None => self.units = Some(extra),
        }
        Ok(true)
    }

    /// Wraps `data` into bytes that carry up to its length of this reservation, so that hyper
    /// gives those units back when it has written and dropped them.
    pub fn attach<T: AsRef<[u8]> + Send + 'static>(&mut self, data: T) -> Bytes {
        let len = data.as_ref().len();
        let units = self.units.as_mut().and_then(|u| u.split(len / UNIT));
        Bytes::from_owner(Owned { data, _units: units })
    }

    /// Wraps `data` into bytes that carry all that is left of this reservation.
    pub fn attach_rest<T: AsRef<[u8]> + Send + 'static>(&mut self, data: T) -> Bytes {
        Bytes::from_owner(Owned { data, _units: self.units.take() })
    }
}

struct Owned<T> {
    data: T,
    _units: Option<Units>,
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Owned<T> {
    fn as_ref(&self) -> &[u8] {
        self.data.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    fn budget(kib: usize) -> ResponseBudget {
        ResponseBudget::new(kib * KIB, Duration::from_millis(50))
    }

    #[tokio::test]
    async fn small_answers_take_nothing_and_estimates_over_the_budget_take_all_of_it() {
        let budget = budget(1024);
        let small = budget.reserve(SMALL_RESPONSE_BYTES).await.unwrap();
        assert_eq!(budget.in_use_bytes(), 0);
        let all = budget.reserve(10 << 20).await.unwrap();
        assert_eq!(budget.in_use_bytes(), 1024 * KIB);
        drop((small, all));
        assert_eq!(budget.in_use_bytes(), 0);
        let refused = budget.reserve_exact(1025 * KIB).await.err().unwrap();
        assert_eq!((refused.status.as_u16(), refused.retry_after), (503, Some(1)));
    }

    #[tokio::test]
    async fn a_reservation_never_waits_for_more_while_it_holds_part() {
        let budget = budget(1024);
        let mut page = budget.reserve(400 * KIB).await.unwrap();
        let other = budget.reserve(500 * KIB).await.unwrap();
        assert!(page.try_resize(300 * KIB).unwrap(), "shrinking always fits");
        assert_eq!(budget.in_use_bytes(), 800 * KIB);
        assert!(page.try_resize(500 * KIB).unwrap(), "the 200 KiB more are free");
        assert!(!page.try_resize(600 * KIB).unwrap(), "the 100 KiB more are not");
        assert_eq!(budget.in_use_bytes(), 500 * KIB, "and it gave back all it held");
        assert!(page.try_resize(2048 * KIB).is_err(), "more than the whole budget is refused");
        let started = std::time::Instant::now();
        assert!(budget.reserve_exact(600 * KIB).await.is_err(), "the wait is bounded");
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(other);
        assert!(budget.reserve_exact(600 * KIB).await.is_ok());
    }

    #[tokio::test]
    async fn units_travel_with_the_bytes_they_pay_for() {
        let budget = budget(1024);
        let mut page = budget.reserve(300 * KIB).await.unwrap();
        let first = page.attach(vec![0u8; 100 * KIB]);
        let rest = page.attach_rest(vec![0u8; 10]);
        drop(page);
        assert_eq!(budget.in_use_bytes(), 300 * KIB, "the chunks hold it all");
        drop(first);
        assert_eq!(budget.in_use_bytes(), 200 * KIB);
        drop(rest);
        assert_eq!(budget.in_use_bytes(), 0);
        assert_eq!(budget.peak_bytes(), 300 * KIB);
    }

    #[test]
    fn the_row_estimate_rises_at_once_and_falls_slowly() {
        let budget = budget(1024);
        assert_eq!(budget.page_estimate(100), 100 * 1280 + PAGE_OVERHEAD_BYTES);
        budget.observe_rows(100, 100 * 4096);
        assert_eq!(budget.page_estimate(100), 100 * 5120 + PAGE_OVERHEAD_BYTES);
        budget.observe_rows(100, 100 * 512);
        assert_eq!(budget.page_estimate(1), 4480 + PAGE_OVERHEAD_BYTES, "an eighth lower");
        budget.observe_rows(3, 3 * 100_000);
        assert_eq!(budget.page_estimate(1), 4480 + PAGE_OVERHEAD_BYTES, "a few rows say nothing");
    }
}
