//! The per-worker cache of verified tokens.
//!
//! Keyed by HMAC-SHA256 of the token under a fixed key (a collision-resistant
//! digest; a 64-bit non-cryptographic hash could be collided offline, and a
//! collision here means accepting a forged token). The raw token is never
//! stored. An entry is usable only inside the token's own validity window
//! (`nbf`..`exp`) and for at most [`MAX_ENTRY_TTL_MS`], so a key removed
//! from a JWKS stops being honoured soon. Bounded: when full, expired entries
//! go first (swept at most once per quarter of the capacity in insertions, so
//! the sweep is amortised), then the least recently used, found in O(1)
//! amortised time through a recency queue: a full cache under a stream of
//! distinct tokens (the `-many` benchmark arms) used to scan every entry on
//! every insertion.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::Identity;

/// Cached entries are re-verified at least this often.
pub const MAX_ENTRY_TTL_MS: u64 = 300_000;

/// The fixed HMAC key of the cache digests.
const CACHE_KEY: &[u8] = b"tollgate verified-token cache key v1";

/// A digest of a token: the cache key.
pub type TokenDigest = [u8; 32];

#[derive(Debug)]
struct Entry {
    identity: Identity,
    valid_from_ms: u64,
    valid_until_ms: u64,
    last_used: u64,
}

/// A bounded map from token digest to verified identity.
pub struct TokenCache {
    max_entries: usize,
    entries: HashMap<TokenDigest, Entry, BuildHasherDefault<DigestHasher>>,
    /// HMAC-SHA256 keyed once: each digest clones the keyed state, so the
    /// key's block is not hashed again per request.
    hasher: hmac_sha256::HMAC,
    tick: u64,
    /// Recency records `(digest, tick)`, oldest first. A record is live
    /// while its entry's `last_used` equals its tick; every entry has exactly
    /// one live record, and stale ones are skipped or compacted away.
    order: VecDeque<(TokenDigest, u64)>,
    /// Insertions into a full cache since the last sweep of expired entries.
    full_inserts_since_sweep: usize,
}

impl std::fmt::Debug for TokenCache {
    // The HMAC state has no Debug; it holds only the fixed cache key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("max_entries", &self.max_entries)
            .field("entries", &self.entries.len())
            .field("tick", &self.tick)
            .finish()
    }
}

impl TokenCache {
    /// A cache holding at most `max_entries` (0 disables it).
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            entries: HashMap::default(),
            hasher: hmac_sha256::HMAC::new(CACHE_KEY),
            tick: 0,
            order: VecDeque::new(),
            full_inserts_since_sweep: usize::MAX,
        }
    }

    /// The digest of a token.
    pub fn digest(&self, token: &str) -> TokenDigest {
        let mut mac = self.hasher.clone();
        mac.update(token.as_bytes());
        mac.finalize()
    }

    /// The identity cached for this digest, if still valid at `now_ms`.
    /// An entry outside its window is dropped.
    pub fn get(&mut self, digest: &TokenDigest, now_ms: u64) -> Option<Identity> {
        let entry = self.entries.get_mut(digest)?;
        if now_ms < entry.valid_from_ms || now_ms >= entry.valid_until_ms {
            self.entries.remove(digest);
            return None;
        }
        // Already the most recent (the same token again): nothing to record.
        if entry.last_used != self.tick {
            self.tick = self.tick.wrapping_add(1);
            entry.last_used = self.tick;
            let identity = entry.identity.clone();
            self.record(*digest);
            return Some(identity);
        }
        Some(entry.identity.clone())
    }

    /// Appends a live record for `digest` at the current tick, compacting
    /// the queue when stale records outnumber the entries.
    fn record(&mut self, digest: TokenDigest) {
        self.order.push_back((digest, self.tick));
        if self.order.len() > 2 * self.max_entries + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(d, t)| entries.get(d).is_some_and(|e| e.last_used == *t));
        }
    }

    /// Remembers a verified identity, usable from `valid_from_ms` until
    /// `valid_until_ms` (exclusive), capped at `now_ms + MAX_ENTRY_TTL_MS`.
    pub fn insert(
        &mut self,
        digest: TokenDigest,
        identity: Identity,
        valid_from_ms: u64,
        valid_until_ms: u64,
        now_ms: u64,
    ) {
        if self.max_entries == 0 {
            return;
        }
        let valid_until_ms = valid_until_ms.min(now_ms.saturating_add(MAX_ENTRY_TTL_MS));
        if valid_until_ms <= now_ms {
            return;
        }
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&digest) {
            if self.full_inserts_since_sweep >= self.max_entries / 4 {
                self.entries.retain(|_, e| e.valid_until_ms > now_ms);
                self.full_inserts_since_sweep = 0;
            }
            self.full_inserts_since_sweep = self.full_inserts_since_sweep.saturating_add(1);
            while self.entries.len() >= self.max_entries {
                let Some((d, t)) = self.order.pop_front() else {
                    break;
                };
                if self.entries.get(&d).is_some_and(|e| e.last_used == t) {
                    self.entries.remove(&d);
                }
            }
        }
        self.tick = self.tick.wrapping_add(1);
        self.entries.insert(
            digest,
            Entry {
                identity,
                valid_from_ms,
                valid_until_ms,
                last_used: self.tick,
            },
        );
        self.record(digest);
    }

    /// Drops every entry verified by a provider (its key set changed).
    pub fn forget_provider(&mut self, provider: usize) {
        self.entries.retain(|_, e| e.identity.provider != provider);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The keys are already HMAC outputs, uniformly spread: FNV-1a over them is
/// enough, and it avoids `RandomState` (which asks the host for randomness).
/// Only verified tokens are inserted, so nobody can grind colliding keys in.
#[derive(Debug)]
pub struct DigestHasher(u64);

impl Default for DigestHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(provider: usize) -> Identity {
        Identity {
            provider,
            issuer: "iss".into(),
            subject: Some("alice".into()),
            roles: vec![],
            claims: serde_json::Map::new(),
            expires_at_s: None,
        }
    }

    #[test]
    fn digests_are_hmac_sha256_under_the_cache_key() {
        use jwt_simple::prelude::{HS256Key, MACLike};
        let c = TokenCache::new(4);
        let tag = HS256Key::from_bytes(CACHE_KEY).authentication_tag(b"a.b.c");
        assert_eq!(c.digest("a.b.c").to_vec(), tag);
    }

    #[test]
    fn digests_differ_per_token_and_are_stable() {
        let c = TokenCache::new(4);
        assert_eq!(c.digest("a.b.c"), c.digest("a.b.c"));
        assert_ne!(c.digest("a.b.c"), c.digest("a.b.d"));
    }

    #[test]
    fn entry_is_served_only_inside_its_window() {
        let mut c = TokenCache::new(4);
        let d = c.digest("t");
        c.insert(d, identity(0), 1_000, 5_000, 1_000);
        assert!(c.get(&d, 999).is_none());
        // The miss above dropped it; insert again.
        c.insert(d, identity(0), 1_000, 5_000, 1_000);
        assert!(c.get(&d, 4_999).is_some());
        assert!(c.get(&d, 5_000).is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn entries_never_live_longer_than_the_ttl_cap() {
        let mut c = TokenCache::new(4);
        let d = c.digest("t");
        c.insert(d, identity(0), 0, u64::MAX, 1_000);
        assert!(c.get(&d, 1_000 + MAX_ENTRY_TTL_MS - 1).is_some());
        assert!(c.get(&d, 1_000 + MAX_ENTRY_TTL_MS).is_none());
    }

    #[test]
    fn full_cache_evicts_expired_then_least_recently_used() {
        let mut c = TokenCache::new(2);
        let (a, b, x) = (c.digest("a"), c.digest("b"), c.digest("x"));
        c.insert(a, identity(0), 0, 10_000, 0);
        c.insert(b, identity(0), 0, 10_000, 0);
        assert!(c.get(&a, 1).is_some()); // b is now least recently used
        c.insert(x, identity(0), 0, 10_000, 2);
        assert_eq!(c.len(), 2);
        assert!(c.get(&b, 3).is_none());
        assert!(c.get(&a, 3).is_some());
        assert!(c.get(&x, 3).is_some());
    }

    #[test]
    fn eviction_is_least_recently_used_like_a_full_scan() {
        // A reference model: a list in recency order, scanned on eviction.
        let mut c = TokenCache::new(8);
        let mut model: Vec<TokenDigest> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = c.digest(&format!("t{}", x % 20));
            if x.is_multiple_of(3) {
                let hit = c.get(&d, step).is_some();
                assert_eq!(hit, model.contains(&d), "step {step}");
                if hit {
                    model.retain(|m| *m != d);
                    model.push(d);
                }
            } else {
                c.insert(d, identity(0), 0, u64::MAX, step);
                if !model.contains(&d) && model.len() == 8 {
                    model.remove(0);
                }
                model.retain(|m| *m != d);
                model.push(d);
            }
            assert_eq!(c.len(), model.len(), "step {step}");
            assert!(c.order.len() <= 2 * 8 + 16 + 1);
        }
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_before_evicting_live_ones() {
        let mut c = TokenCache::new(8);
        let digests: Vec<TokenDigest> = (0..9).map(|i| c.digest(&format!("t{i}"))).collect();
        for (i, d) in digests.iter().take(8).enumerate() {
            // t0..t3 expire at 100; t4..t7 live on.
            let until = if i < 4 { 100 } else { 10_000 };
            c.insert(*d, identity(0), 0, until, 0);
        }
        c.insert(digests[8], identity(0), 0, 10_000, 200);
        assert_eq!(c.len(), 5);
        for d in &digests[4..] {
            assert!(c.get(d, 201).is_some());
        }
    }

    #[test]
    fn zero_capacity_disables_the_cache() {
        let mut c = TokenCache::new(0);
        let d = c.digest("t");
        c.insert(d, identity(0), 0, 10_000, 0);
        assert!(c.get(&d, 1).is_none());
    }

    #[test]
    fn forgetting_a_provider_drops_only_its_entries() {
        let mut c = TokenCache::new(4);
        let (a, b) = (c.digest("a"), c.digest("b"));
        c.insert(a, identity(0), 0, 10_000, 0);
        c.insert(b, identity(1), 0, 10_000, 0);
        c.forget_provider(0);
        assert!(c.get(&a, 1).is_none());
        assert!(c.get(&b, 1).is_some());
    }
}
