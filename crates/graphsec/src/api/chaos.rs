//! Opt-in chaos (docs/limits.md §6), like Microsoft's Dev Proxy: a share of API requests is answered
//! with a Graph-style 429, 500, 503 or 504 instead of being served, and requests can be delayed,
//! so clients can prove their retry logic.

use super::error::GraphError;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Chaos {
    /// Share of requests (0..=1) that fail.
    pub failure_rate: f64,
    /// Each request waits a random time up to this before it is served.
    pub max_latency: Duration,
}

impl Chaos {
    /// Waits, then maybe fails; changes nothing when it fails (the request is never executed).
    pub async fn disturb(&self) -> Result<(), GraphError> {
        if !self.max_latency.is_zero() {
            let wait = self.max_latency.mul_f64(rand::random::<f64>());
            tokio::time::sleep(wait).await;
        }
        if rand::random::<f64>() >= self.failure_rate {
            return Ok(());
        }
        let failure = match rand::random::<u8>() % 4 {
            0 => GraphError::too_many_requests(1),
            1 => GraphError::internal(),
            2 => GraphError::unavailable("Chaos: the service is unavailable.").with_retry_after(1),
            _ => GraphError::gateway_timeout(),
        };
        Err(failure.caused_by("chaos: a failure injected on purpose"))
    }
}
