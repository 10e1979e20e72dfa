//! Per-worker mutable authentication state: remote JWKS key sets with their
//! fetch schedule, and the verified-token cache.
//!
//! The host drives fetching: on every tick it asks [`AuthState::due_fetches`],
//! calls [`AuthState::begin_fetch`] and dispatches the HTTP call, then reports
//! the outcome with [`AuthState::finish_fetch`]. When a token names a key we
//! do not have, `verify` answers `NeedKeys`; the host calls
//! `begin_fetch(on_demand = true)`, dispatches if that returns true, and parks
//! the stream while [`AuthState::in_flight`] is true, then verifies again.
//!
//! A fetch in flight is a lease with a deadline (the call's timeout plus a
//! margin), never a bare flag: if its answer is lost (the stream that started
//! it died, and Envoy cancelled the call), the lease runs out and the next
//! tick or unknown `kid` fetches again. A stream that owns a fetch gives it
//! back when it ends ([`AuthState::abandon_fetch`]); a stream that joined one
//! leaves it ([`AuthState::leave`]).
//!
//! Loop freedom: an on-demand fetch is allowed only when
//! `min_refetch_interval_s` (at least 1 s) has passed since the last fetch
//! started *or finished*, so the re-verification right after a fetch can
//! never ask for another one: it is denied (`jwt_unknown_kid`).

use super::cache::TokenCache;
use super::jwks;
use super::keys::Key;
use super::{Auth, AuthError};

/// First retry delay after a failed fetch; doubles per consecutive failure.
pub const RETRY_BASE_MS: u64 = 5_000;
/// Longest retry delay.
pub const RETRY_MAX_MS: u64 = 60_000;

#[derive(Debug, Default, Clone)]
struct Remote {
    /// Copied from the configuration: (refresh interval, minimum on-demand
    /// refetch interval) in ms; `None` for providers without `remote_jwks`.
    schedule: Option<(u64, u64)>,
    /// How long a fetch may stay in flight before its lease runs out, ms.
    lease_ms: u64,
    keys: Vec<Key>,
    loaded: bool,
    /// While a fetch is in flight: when its lease runs out.
    lease_until_ms: Option<u64>,
    /// When the last fetch started or finished, whichever is later.
    last_activity_ms: Option<u64>,
    last_success_ms: Option<u64>,
    last_failure_ms: Option<u64>,
    consecutive_failures: u32,
}

/// Per-worker state: remote JWKS key sets and the verified-token cache.
#[derive(Debug)]
pub struct AuthState {
    remote: Vec<Remote>,
    /// Streams waiting on a fetch another stream (or the timer) owns.
    joined: u32,
    pub(super) cache: TokenCache,
    /// Tokens that reached signature verification (wrapping): a verdict
    /// reached without it moving was decided by checks that need no key.
    pub signature_checks: u64,
}

impl AuthState {
    /// Fresh state for `auth`: no remote keys loaded, empty cache.
    pub fn new(auth: &Auth) -> AuthState {
        AuthState {
            remote: auth
                .providers
                .iter()
                .map(|p| Remote {
                    schedule: p.remote.as_ref().map(|r| {
                        (
                            r.refresh_interval_s.saturating_mul(1000),
                            r.min_refetch_interval_s.saturating_mul(1000),
                        )
                    }),
                    lease_ms: p
                        .remote
                        .as_ref()
                        .map_or(0, |r| r.timeout_ms.saturating_add(LEASE_MARGIN_MS)),
                    ..Remote::default()
                })
                .collect(),
            joined: 0,
            cache: TokenCache::new(auth.cache_max_entries),
            signature_checks: 0,
        }
    }

    /// Providers whose remote JWKS should be (re)fetched now: never loaded,
    /// refresh interval passed, or the retry backoff after a failure elapsed.
    /// Excludes fetches in flight.
    pub fn due_fetches(&self, auth: &Auth, now_ms: u64) -> Vec<usize> {
        let mut due = Vec::new();
        for (idx, st) in self.remote.iter().enumerate().take(auth.provider_count()) {
            let Some((refresh_ms, _)) = st.schedule else {
                continue;
            };
            if st.leased(now_ms) {
                continue;
            }
            let is_due = match (
                st.consecutive_failures,
                st.last_failure_ms,
                st.last_success_ms,
            ) {
                (n, Some(failed), _) if n > 0 => now_ms >= failed.saturating_add(retry_delay_ms(n)),
                (_, _, None) => true,
                (_, _, Some(ok)) => now_ms >= ok.saturating_add(refresh_ms),
            };
            if is_due {
                due.push(idx);
            }
        }
        due
    }

    /// True when an on-demand fetch for `provider` would be allowed now.
    pub fn on_demand_allowed(&self, provider: usize, now_ms: u64) -> bool {
        let Some(st) = self.remote.get(provider) else {
            return false;
        };
        let Some((_, min_refetch_ms)) = st.schedule else {
            return false;
        };
        !st.leased(now_ms)
            && st
                .last_activity_ms
                .is_none_or(|t| now_ms.saturating_sub(t) >= min_refetch_ms)
    }

    /// Starts a fetch for `provider` if allowed, marking it in flight.
    ///
    /// Periodic fetches (`on_demand = false`, from [`Self::due_fetches`]) are
    /// always allowed unless one is in flight; on-demand fetches (an unknown
    /// `kid`) are rate limited by `min_refetch_interval_s` since the last
    /// fetch started or finished.
    pub fn begin_fetch(&mut self, provider: usize, now_ms: u64, on_demand: bool) -> bool {
        if on_demand && !self.on_demand_allowed(provider, now_ms) {
            return false;
        }
        let Some(st) = self.remote.get_mut(provider) else {
            return false;
        };
        if st.schedule.is_none() || st.leased(now_ms) {
            return false;
        }
        st.lease_until_ms = Some(now_ms.saturating_add(st.lease_ms));
        st.last_activity_ms = Some(now_ms);
        true
    }

    /// Records the outcome of a fetch. `status` is `None` for a transport
    /// failure or timeout. On success the provider's remote keys are replaced
    /// and the number of usable keys returned; on any failure the previous
    /// keys stay in use: an outage of the JWKS server must not become ours.
    pub fn finish_fetch(
        &mut self,
        auth: &Auth,
        provider: usize,
        status: Option<u16>,
        body: &[u8],
        now_ms: u64,
    ) -> Result<usize, AuthError> {
        let has_remote = auth
            .providers
            .get(provider)
            .is_some_and(|p| p.remote.is_some());
        let Some(st) = self.remote.get_mut(provider) else {
            return Err(AuthError::JwksInvalid("no such provider".to_string()));
        };
        if !has_remote {
            return Err(AuthError::JwksInvalid(
                "the provider has no remote jwks".to_string(),
            ));
        }
        st.lease_until_ms = None;
        st.last_activity_ms = Some(now_ms);
        let parsed = match status {
            Some(200) => jwks::parse_remote(body).map_err(|e| {
                let field = if e.field.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", e.field)
                };
                AuthError::JwksInvalid(format!("{field}{}", e.reason))
            }),
            other => Err(AuthError::JwksFetchFailed(other)),
        };
        match parsed {
            Ok(keys) => {
                let changed = !same_keys(&st.keys, &keys);
                let count = keys.len();
                st.keys = keys;
                st.loaded = true;
                st.last_success_ms = Some(now_ms);
                st.last_failure_ms = None;
                st.consecutive_failures = 0;
                if changed {
                    // Tokens verified by a key that may be gone are re-verified.
                    self.cache.forget_provider(provider);
                }
                Ok(count)
            }
            Err(err) => {
                st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                st.last_failure_ms = Some(now_ms);
                Err(err)
            }
        }
    }

    /// True while a fetch for `provider` is outstanding and its lease holds.
    pub fn in_flight(&self, provider: usize, now_ms: u64) -> bool {
        self.remote.get(provider).is_some_and(|r| r.leased(now_ms))
    }

    /// Gives back a fetch whose answer will never come (its stream ended
    /// first, so the host cancelled the call). Not a failure of the issuer:
    /// no backoff, and the next unknown `kid` may fetch at once.
    pub fn abandon_fetch(&mut self, provider: usize) {
        if let Some(st) = self.remote.get_mut(provider) {
            st.lease_until_ms = None;
        }
    }

    /// Lets a stream wait on the fetch in flight for `provider`, within
    /// [`MAX_JOINED`] waits per worker. Each `true` is matched by one
    /// [`AuthState::leave`], when the answer arrives or the stream ends.
    pub fn join(&mut self, provider: usize, now_ms: u64) -> bool {
        if self.in_flight(provider, now_ms) && self.joined < MAX_JOINED {
            self.joined += 1;
            true
        } else {
            false
        }
    }

    /// Ends one wait taken with [`AuthState::join`].
    pub fn leave(&mut self) {
        self.joined = self.joined.saturating_sub(1);
    }

    /// Streams waiting on fetches they joined.
    pub fn joined(&self) -> u32 {
        self.joined
    }

    /// True once a fetch for `provider` has succeeded.
    pub fn remote_loaded(&self, provider: usize) -> bool {
        self.remote.get(provider).is_some_and(|r| r.loaded)
    }

    /// The provider's fetched keys (empty before the first successful fetch).
    pub(super) fn remote_keys(&self, provider: usize) -> &[Key] {
        self.remote
            .get(provider)
            .map(|r| r.keys.as_slice())
            .unwrap_or(&[])
    }

    /// Number of tokens in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

/// Added to a fetch's timeout to make its lease: the host's own timeout
/// answers first when all is well.
pub const LEASE_MARGIN_MS: u64 = 1_000;

/// Most streams per worker that wait on a fetch they did not start.
pub const MAX_JOINED: u32 = 16;

impl Remote {
    fn leased(&self, now_ms: u64) -> bool {
        self.lease_until_ms.is_some_and(|until| now_ms < until)
    }
}

fn retry_delay_ms(failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(16);
    RETRY_BASE_MS
        .saturating_mul(1u64 << shift)
        .min(RETRY_MAX_MS)
}

fn same_keys(a: &[Key], b: &[Key]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|o| o.fingerprint == k.fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_a_minute() {
        let delays: Vec<u64> = (1..=6).map(retry_delay_ms).collect();
        assert_eq!(delays, vec![5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
        assert_eq!(retry_delay_ms(u32::MAX), RETRY_MAX_MS);
    }
}
