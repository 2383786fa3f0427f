//! Tokens verified before, remembered until their `exp`, so that a caller sending the same
//! bearer token on every call pays for its verification (base64, two JSON parses, the
//! signature) once, not per call (docs/BENCHMARKS.md: 12.7% of the get path).
//!
//! - Keyed by the whole token text, compared in full: a token that differs in any byte (its
//!   claims, its header, its signature) is verified as if it were new.
//! - Only tokens the verifier accepted go in, so the cache holds no more than the verified
//!   tokens in use; it is bounded all the same ([`CAPACITY`]): expired entries go first, then
//!   arbitrary ones.
//! - An entry answers only while the clock is before the token's `exp` (no leeway: the
//!   verifier's clock-skew leeway applies to tokens it checks itself, never to remembered ones),
//!   and only under the key set it was verified with: when the keys change (a JWKS fetch),
//!   every entry must be verified again, so a rotated-out key stops working as it would without
//!   the cache.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Principal;

/// Most tokens remembered at once. Each entry holds the token text and its principal (well
/// under 2 KiB), so the cache stays under a few MiB.
pub const CAPACITY: usize = 1024;

struct Entry {
    principal: Principal,
    /// The token's `exp`, seconds since the Unix epoch.
    exp: u64,
    /// The key set it was verified with (see [`TokenCache::get`]).
    keys: u64,
}

/// Verified tokens and their principals, until their `exp`.
pub struct TokenCache {
    entries: Mutex<HashMap<Box<str>, Entry>>,
    capacity: usize,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl TokenCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The principal of `token` if it was verified under key set `keys` and `now` (seconds
    /// since the Unix epoch) is before its `exp`.
    pub fn get(&self, token: &str, keys: u64, now: u64) -> Option<Principal> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token)?;
        if now < entry.exp && entry.keys == keys {
            return Some(entry.principal.clone());
        }
        entries.remove(token);
        None
    }

    /// Remembers a token the verifier accepted under key set `keys`, until `exp`. A token
    /// already expired at `now` is not remembered.
    pub fn insert(&self, token: &str, principal: Principal, exp: u64, keys: u64, now: u64) {
        if now >= exp || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(token) {
            entries.retain(|_, e| now < e.exp);
            while entries.len() >= self.capacity {
                let Some(victim) = entries.keys().next().cloned() else {
                    break;
                };
                entries.remove(&victim);
            }
        }
        entries.insert(
            token.into(),
            Entry {
                principal,
                exp,
                keys,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(sub: &str) -> Principal {
        Principal {
            sub: sub.to_owned(),
            scopes: ["orders:read".to_owned()].into(),
            name: None,
        }
    }

    #[test]
    fn answers_until_exp_and_never_at_or_after_it() {
        let cache = TokenCache::default();
        cache.insert("a.b.c", principal("alice"), 1_000, 0, 900);
        assert_eq!(cache.get("a.b.c", 0, 900), Some(principal("alice")));
        assert_eq!(cache.get("a.b.c", 0, 999), Some(principal("alice")));
        assert_eq!(cache.get("a.b.c", 0, 1_000), None);
        // An expired entry is gone, even if the clock were to go back.
        assert_eq!(cache.get("a.b.c", 0, 999), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn an_expired_token_is_not_remembered() {
        let cache = TokenCache::default();
        cache.insert("a.b.c", principal("alice"), 1_000, 0, 1_000);
        cache.insert("a.b.d", principal("alice"), 1_000, 0, 1_060);
        assert!(cache.is_empty());
    }

    #[test]
    fn only_the_same_token_text_matches() {
        let cache = TokenCache::default();
        cache.insert("head.claims.sig", principal("alice"), 1_000, 0, 0);
        assert_eq!(cache.get("head.other-claims.sig", 0, 1), None);
        assert_eq!(cache.get("head.claims.sig2", 0, 1), None);
        assert_eq!(cache.get("head.claims.si", 0, 1), None);
        assert_eq!(cache.get("head.claims.sig", 0, 1), Some(principal("alice")));
    }

    #[test]
    fn a_new_key_set_invalidates_what_the_old_one_verified() {
        let cache = TokenCache::default();
        cache.insert("t", principal("alice"), 1_000, 7, 0);
        assert_eq!(cache.get("t", 8, 1), None);
        // Gone for good: the verifier checks it again under the new keys.
        assert_eq!(cache.get("t", 7, 1), None);
    }

    #[test]
    fn stays_within_its_capacity() {
        let cache = TokenCache::with_capacity(3);
        for (i, exp) in [(0, 10), (1, 1_000), (2, 1_000)] {
            cache.insert(&format!("t{i}"), principal("a"), exp, 0, 0);
        }
        assert_eq!(cache.len(), 3);
        // t0 expired at 10: it makes room first.
        cache.insert("t3", principal("a"), 1_000, 0, 20);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("t0", 0, 20), None);
        assert!(cache.get("t3", 0, 20).is_some());
        // None expired: an arbitrary one goes.
        for i in 4..100 {
            cache.insert(&format!("t{i}"), principal("a"), 1_000, 0, 20);
            assert_eq!(cache.len(), 3);
        }
        assert!(cache.get("t99", 0, 20).is_some());
        // Re-inserting a present token does not evict another.
        cache.insert("t99", principal("b"), 1_000, 0, 20);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("t99", 0, 20), Some(principal("b")));
        assert_eq!(TokenCache::with_capacity(0).len(), 0);
    }
}
