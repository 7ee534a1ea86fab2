//! Tokens already verified, for the local key and for external issuers alike. A client sends the
//! same bearer token on every request until it expires; checking its signature and parsing its
//! claims once instead of every time is a tenth of the cost of a point read. Only accepted tokens
//! are kept, by their SHA-256, and every hit checks the expiry again (with the leeway the full
//! check allows), so a cached token stops working exactly when it would have failed verification.

use super::Principal;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The key a token is remembered under.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Verified tokens by SHA-256, each valid until its `exp` plus `leeway` seconds.
pub struct TokenCache {
    pub(super) entries: HashMap<[u8; 32], (Principal, u64)>,
    capacity: usize,
    leeway: u64,
}

impl TokenCache {
    pub fn new(capacity: usize, leeway: u64) -> TokenCache {
        TokenCache { entries: HashMap::new(), capacity, leeway }
    }

    pub fn get(&mut self, digest: &[u8; 32], now: u64) -> Option<Principal> {
        let (principal, exp) = self.entries.get(digest)?;
        if exp.saturating_add(self.leeway) < now {
            self.entries.remove(digest);
            return None;
        }
        Some(principal.clone())
    }

    pub fn insert(&mut self, digest: [u8; 32], principal: Principal, exp: u64, now: u64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&digest) {
            let leeway = self.leeway;
            self.entries.retain(|_, (_, exp)| exp.saturating_add(leeway) >= now);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(digest, (principal, exp));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Principal {
        Principal { tenant: Some("t".into()), caller: name.into(), ..Principal::unauthenticated_emulator() }
    }

    #[test]
    fn token_cache_is_bounded() {
        let now = 1_000_000;
        let mut cache = TokenCache::new(3, 60);
        cache.insert([1; 32], principal("1"), now - 1000, now - 2000);
        cache.insert([2; 32], principal("2"), now + 100, now);
        cache.insert([3; 32], principal("3"), now + 100, now);
        assert!(cache.get(&[1; 32], now).is_none());
        assert!(cache.get(&[2; 32], now).is_some());
        // Leeway: 30 s past exp is still valid, as in a full check.
        assert!(cache.get(&[2; 32], now + 130).is_some());
        assert!(cache.get(&[2; 32], now + 161).is_none());

        let mut cache = TokenCache::new(3, 60);
        cache.insert([1; 32], principal("1"), now - 1000, now - 2000);
        cache.insert([2; 32], principal("2"), now + 100, now);
        cache.insert([3; 32], principal("3"), now + 100, now);
        // Full: expired entries go first.
        cache.insert([4; 32], principal("4"), now + 100, now);
        assert_eq!(cache.entries.len(), 3);
        assert!(cache.get(&[2; 32], now).is_some());
        // Full of live entries: cleared.
        cache.insert([5; 32], principal("5"), now + 100, now);
        assert_eq!(cache.entries.len(), 1);
        assert_eq!(cache.get(&[5; 32], now).unwrap().caller, "5");
        // Replacing an entry never evicts.
        let mut cache = TokenCache::new(1, 60);
        cache.insert([6; 32], principal("6"), now + 100, now);
        cache.insert([6; 32], principal("6b"), now + 100, now);
        assert_eq!(cache.get(&[6; 32], now).unwrap().caller, "6b");
    }

    #[test]
    fn hits_only_the_same_token() {
        let mut cache = TokenCache::new(10, 30);
        cache.insert(digest("token-a"), principal("a"), 100, 50);
        assert_eq!(cache.get(&digest("token-a"), 130).map(|p| p.caller).as_deref(), Some("a"));
        assert!(cache.get(&digest("token-a"), 131).is_none(), "expired");
        assert!(cache.get(&digest("token-b"), 50).is_none(), "never verified");
        assert!(cache.get(&digest("token-"), 50).is_none(), "prefix of a verified token");
    }
}
