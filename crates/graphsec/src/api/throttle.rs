//! Per-tenant, per-application token buckets (docs/limits.md §5): a flood from one caller is answered
//! 429 while everyone else keeps being served.

use super::error::GraphError;
use crate::auth::Principal;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct Throttle {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Throttle {
    /// `per_second` requests refill each bucket; `burst` is its size.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Throttle {
        Throttle {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    pub fn check(&self, principal: &Principal) -> Result<(), GraphError> {
        let key = format!("{}\u{0}{}", principal.tenant.as_deref().unwrap_or("*"), principal.app);
        self.limiter.check_key(&key).map_err(|not_until| {
            metrics::counter!("graphsec_throttled_total").increment(1);
            let wait = not_until.wait_time_from(self.clock.now());
            // Graph SDKs read Retry-After as whole seconds; never tell a client to retry at once.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            GraphError::too_many_requests(seconds.max(1))
        })
    }

    /// Forgets buckets that are full again, so memory follows the number of active callers.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(tenant: &str, app: &str) -> Principal {
        Principal {
            tenant: Some(tenant.into()),
            caller: app.into(),
            app: app.into(),
            ..Principal::unauthenticated_emulator()
        }
    }

    #[test]
    fn buckets_are_per_tenant_and_application() {
        let throttle = Throttle::new(NonZeroU32::MIN, NonZeroU32::new(2).unwrap());
        let a = principal("t1", "app");
        assert!(throttle.check(&a).is_ok());
        assert!(throttle.check(&a).is_ok());
        let refused = throttle.check(&a).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
        assert!(throttle.check(&principal("t2", "app")).is_ok(), "another tenant has its own bucket");
        assert!(throttle.check(&principal("t1", "other")).is_ok(), "another application has its own bucket");
    }
}
