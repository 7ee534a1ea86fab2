//! Tokens already verified. A client sends the same bearer token on every request until it
//! expires; checking its signature and parsing its claims once instead of every time is a tenth
//! of the cost of a point read. Only accepted tokens are kept, keyed by their whole text, and
//! every hit checks the expiry again, so a cached token stops working exactly when it would have
//! failed verification.

use super::Principal;
use std::collections::HashMap;
use std::sync::Mutex;

/// Distinct tokens remembered; past it the cache starts over (a few MB at most).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Verified>>,
}

struct Verified {
    principal: Principal,
    /// The token's `exp` plus the accepted clock skew, in seconds since the epoch.
    valid_until: u64,
}

impl VerifiedTokens {
    /// The caller behind `token` if it was verified before and is still valid at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        entries.get(token).filter(|v| now <= v.valid_until).map(|v| v.principal.clone())
    }

    pub fn insert(&self, token: &str, principal: Principal, valid_until: u64) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token.into(), Verified { principal, valid_until });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(tenant: &str) -> Principal {
        Principal { tenant: Some(tenant.into()), can_read: true, can_write: false, caller: "c".into(), app: "a".into() }
    }

    #[test]
    fn hits_only_the_same_token_until_it_expires() {
        let cache = VerifiedTokens::default();
        cache.insert("token-a", principal("t1"), 100);
        assert_eq!(cache.get("token-a", 100).and_then(|p| p.tenant).as_deref(), Some("t1"));
        assert!(cache.get("token-a", 101).is_none(), "expired");
        assert!(cache.get("token-b", 50).is_none(), "never verified");
        assert!(cache.get("token-", 50).is_none(), "prefix of a verified token");
    }

    #[test]
    fn stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY + 10 {
            cache.insert(&format!("token-{i}"), principal("t"), 100);
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
        assert!(cache.get(&format!("token-{}", CAPACITY + 9), 1).is_some(), "the newest entry is kept");
    }
}
