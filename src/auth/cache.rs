//! The per-worker cache of verified tokens.
//!
//! Keyed by HMAC-SHA256 of the token under a fixed key (a collision-resistant
//! digest; a 64-bit non-cryptographic hash could be collided offline, and a
//! collision here means accepting a forged token). The raw token is never
//! stored. An entry is usable only inside the token's own validity window
//! (`nbf`..`exp`) and for at most [`MAX_ENTRY_TTL_MS`], so a key removed
//! from a JWKS stops being honoured soon. Bounded: when full, expired entries
//! go first, then the least recently used.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use jwt_simple::prelude::{HS256Key, MACLike};

use super::Identity;

/// Cached entries are re-verified at least this often.
pub const MAX_ENTRY_TTL_MS: u64 = 300_000;

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
#[derive(Debug)]
pub struct TokenCache {
    max_entries: usize,
    entries: HashMap<TokenDigest, Entry, BuildHasherDefault<DigestHasher>>,
    hasher: HS256Key,
    tick: u64,
}

impl TokenCache {
    /// A cache holding at most `max_entries` (0 disables it).
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            entries: HashMap::default(),
            hasher: HS256Key::from_bytes(b"tollgate verified-token cache key v1"),
            tick: 0,
        }
    }

    /// The digest of a token.
    pub fn digest(&self, token: &str) -> TokenDigest {
        let tag = self.hasher.authentication_tag(token.as_bytes());
        let mut out = [0u8; 32];
        for (o, t) in out.iter_mut().zip(tag.iter()) {
            *o = *t;
        }
        out
    }

    /// The identity cached for this digest, if still valid at `now_ms`.
    /// An entry outside its window is dropped.
    pub fn get(&mut self, digest: &TokenDigest, now_ms: u64) -> Option<Identity> {
        let entry = self.entries.get_mut(digest)?;
        if now_ms < entry.valid_from_ms || now_ms >= entry.valid_until_ms {
            self.entries.remove(digest);
            return None;
        }
        self.tick = self.tick.wrapping_add(1);
        entry.last_used = self.tick;
        Some(entry.identity.clone())
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
            self.entries.retain(|_, e| e.valid_until_ms > now_ms);
            if self.entries.len() >= self.max_entries {
                let lru = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| *k);
                if let Some(k) = lru {
                    self.entries.remove(&k);
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
