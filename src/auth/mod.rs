//! JWT authentication: the pure core (no proxy-wasm).
//!
//! Flow of [`Auth::verify`]: size cap → verified-token cache → our own header
//! checks (`alg: none`, `crit`, unknown algorithms refused before any key is
//! touched) → provider chosen by the unverified `iss` among the route's
//! providers → key chosen by `kid` (or by algorithm, at most
//! [`MAX_KEY_TRIES`] keys) and required to be bound to the header's `alg`
//! → jwt-simple verifies the signature and the standard claims with our
//! options (skew, size cap, Envoy's clock, exact issuer, audiences) → our
//! policy: `exp` required, maximum lifetime, required claims.
//!
//! Keys for providers with `remote_jwks` are fetched by the host; see
//! [`AuthState`] for the protocol.

mod cache;
mod compile;
#[cfg(test)]
mod differential;
mod ecdsa;
mod error;
mod es256;
mod extract;
mod field256;
mod jwks;
mod keys;
mod rsa;
mod settings;
mod state;
#[cfg(test)]
mod testkeys;
#[cfg(test)]
mod tests;
mod token;

use std::collections::HashSet;

use serde_json::{Map, Value};

pub use ecdsa::HighS;
pub use error::AuthError;
pub use extract::TokenSource;
pub use keys::Alg;
pub use settings::{
    AuthSettings, CacheSettings, ForwardClaimSettings, HmacKeySettings, PemKeySettings,
    ProviderSettings, RemoteJwksSettings, TokenSourceSettings, UpstreamCredentialSettings,
};
pub use state::AuthState;

use crate::error::ConfigError;
use keys::{Key, VerifyFailure};

/// Without a `kid`, at most this many keys of the token's algorithm are
/// tried: each try is a signature verification.
pub const MAX_KEY_TRIES: usize = 8;

/// Where the host fetches a provider's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    /// Envoy cluster.
    pub cluster: String,
    /// Request path.
    pub path: String,
    /// `:authority` header.
    pub authority: String,
    /// Fetch timeout.
    pub timeout_ms: u64,
    /// Periodic refresh interval.
    pub refresh_interval_s: u64,
    /// Minimum time between on-demand fetches.
    pub min_refetch_interval_s: u64,
    /// `:scheme` header to send, if configured.
    pub scheme: Option<String>,
}

/// A compiled provider.
#[derive(Debug)]
struct Provider {
    name: String,
    issuer: String,
    audiences: HashSet<String>,
    skew_s: u64,
    require_exp: bool,
    max_lifetime_s: Option<u64>,
    required_claims: Vec<String>,
    /// Static keys: inline JWKS, PEM and HMAC entries.
    keys: Vec<Key>,
    remote: Option<RemoteJwks>,
    /// (claim, header) pairs.
    forward: Vec<(String, String)>,
}

/// The token's `aud` (a string or an array of strings) names one of the
/// provider's audiences. jwt-simple checks it again after the signature.
fn audience_ok(provider: &Provider, claims: &Map<String, Value>) -> Result<(), AuthError> {
    let ok = match claims.get("aud") {
        Some(Value::String(a)) => provider.audiences.contains(a),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|a| provider.audiences.contains(a)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::WrongAudience)
    }
}

/// The result of looking up keys for a token.
enum Lookup<'a> {
    /// Keys bound to the token's algorithm, to try in order.
    Keys(Vec<&'a Key>),
    /// Refuse: fetching keys cannot help.
    Refuse(AuthError),
    /// No key: a JWKS fetch may help; otherwise refuse with this error.
    Missing(AuthError),
}

/// The compiled, immutable authentication configuration, shared by `Rc`.
#[derive(Debug)]
pub struct Auth {
    providers: Vec<Provider>,
    sources: Vec<TokenSource>,
    max_token_bytes: usize,
    strip_authorization: bool,
    role_claims: Vec<String>,
    cache_max_entries: usize,
    forwarded: Vec<String>,
    forward_token: bool,
    upstream_credential: Option<(String, String)>,
    high_s: HighS,
}

impl Default for Auth {
    fn default() -> Self {
        // The default settings always compile; keep a fallback rather than panic.
        Auth::compile(AuthSettings::default(), "auth").unwrap_or(Auth {
            providers: Vec::new(),
            sources: Vec::new(),
            max_token_bytes: 8192,
            strip_authorization: false,
            role_claims: Vec::new(),
            cache_max_entries: 0,
            forwarded: Vec::new(),
            forward_token: false,
            upstream_credential: None,
            high_s: HighS::Normalize,
        })
    }
}

/// A verified token's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Index of the provider that verified it.
    pub provider: usize,
    /// `iss`.
    pub issuer: String,
    /// `sub`, when a string.
    pub subject: Option<String>,
    /// Roles and scopes from the configured role claims, deduplicated.
    pub roles: Vec<String>,
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
    /// `exp`, in seconds.
    pub expires_at_s: Option<u64>,
}

/// The outcome of [`Auth::verify`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The token is valid for this route.
    Verified(Identity),
    /// The token is refused.
    Denied(AuthError),
    /// The provider's remote JWKS lacks the token's key (or was never
    /// loaded) and a fetch could help: one is in flight, or an on-demand one
    /// is allowed now. Call `begin_fetch(provider, now, true)`, wait while
    /// `in_flight(provider)`, then verify again.
    NeedKeys {
        /// Provider index.
        provider: usize,
    },
}

impl Auth {
    /// Validates the settings and decodes every key.
    pub fn compile(settings: AuthSettings, path: &str) -> Result<Auth, ConfigError> {
        let compiled = compile::compile(&settings, path)?;
        Ok(Auth {
            providers: compiled.providers,
            sources: compiled.sources,
            max_token_bytes: settings.max_token_bytes,
            strip_authorization: settings.strip_authorization,
            role_claims: settings.role_claims,
            cache_max_entries: settings.cache.max_entries,
            forwarded: compiled.forwarded,
            forward_token: settings.forward_token && !settings.strip_authorization,
            upstream_credential: compiled.upstream_credential,
            high_s: settings.ecdsa_high_s,
        })
    }

    /// Number of providers.
    pub fn provider_count(&self) -> usize {
        self.providers.len()
    }

    /// Index of the provider with this name.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// Name of provider `idx` (empty for an unknown index).
    pub fn provider_name(&self, idx: usize) -> &str {
        self.providers
            .get(idx)
            .map(|p| p.name.as_str())
            .unwrap_or("")
    }

    /// The token from the first configured source that carries one;
    /// `Ok(None)` when none does. `path` is the `:path` with its query.
    pub fn extract_token(
        &self,
        headers: &[(String, String)],
        path: &str,
    ) -> Result<Option<String>, AuthError> {
        extract::extract(&self.sources, headers, path, self.max_token_bytes)
    }

    /// Verifies `token` for a route accepting `providers` (empty = all),
    /// using and filling the per-worker `state`.
    pub fn verify(
        &self,
        token: &str,
        providers: &[usize],
        now_ms: u64,
        state: &mut AuthState,
    ) -> Verdict {
        self.verify_gated(token, providers, now_ms, state, &mut || true)
    }

    /// [`Self::verify`], asking `gate` right before the first signature
    /// verification (after the cache and every check that needs no key);
    /// `false` refuses with [`AuthError::PreAuthThrottled`]. A per-IP pre-authentication
    /// limit goes there, so only requests that would cost a signature
    /// check spend from it.
    pub fn verify_gated(
        &self,
        token: &str,
        providers: &[usize],
        now_ms: u64,
        state: &mut AuthState,
        gate: &mut dyn FnMut() -> bool,
    ) -> Verdict {
        if token.len() > self.max_token_bytes {
            return Verdict::Denied(AuthError::TooLarge);
        }
        let accepts = |idx: usize| providers.is_empty() || providers.contains(&idx);
        let digest = (self.cache_max_entries > 0).then(|| state.cache.digest(token));
        if let Some(d) = &digest {
            if let Some(identity) = state.cache.get(d, now_ms) {
                return if accepts(identity.provider) {
                    Verdict::Verified(identity)
                } else {
                    Verdict::Denied(AuthError::UnknownIssuer)
                };
            }
        }
        let unverified = match token::read(token, self.max_token_bytes) {
            Ok(u) => u,
            Err(e) => return Verdict::Denied(e),
        };
        if unverified.high_s && self.high_s == HighS::Reject {
            return Verdict::Denied(AuthError::MalleableSignature);
        }
        let Some(iss) = unverified.issuer.as_deref() else {
            return Verdict::Denied(AuthError::UnknownIssuer);
        };
        let Some((idx, provider)) = self
            .providers
            .iter()
            .enumerate()
            .find(|(i, p)| accepts(*i) && p.issuer == iss)
        else {
            return Verdict::Denied(AuthError::UnknownIssuer);
        };
        // Everything that needs no key, before any key is touched: a token
        // that fails these costs microseconds, whatever its signature.
        if let Err(e) = self
            .policy(provider, &unverified, now_ms)
            .and_then(|()| audience_ok(provider, &unverified.claims))
        {
            return Verdict::Denied(e);
        }

        let candidates = match self.candidates(idx, provider, &unverified, state) {
            Lookup::Keys(c) => c,
            Lookup::Refuse(e) => return Verdict::Denied(e),
            Lookup::Missing(fallback) => {
                return self.missing_key(idx, provider, state, now_ms, fallback)
            }
        };
        if !gate() {
            return Verdict::Denied(AuthError::PreAuthThrottled);
        }
        let options = Key::options(
            &provider.issuer,
            &provider.audiences,
            provider.skew_s,
            self.max_token_bytes,
            now_ms,
        );
        let mut verified = false;
        for key in candidates {
            match key.verify(token, &options) {
                Ok(()) => {
                    verified = true;
                    break;
                }
                Err(VerifyFailure::Signature) => continue,
                Err(VerifyFailure::Refused(e)) => return Verdict::Denied(e),
            }
        }
        state.signature_checks = state.signature_checks.wrapping_add(1);
        if !verified {
            return Verdict::Denied(AuthError::InvalidSignature);
        }

        let skew_ms = provider.skew_s.saturating_mul(1000);
        let identity = Identity {
            provider: idx,
            issuer: provider.issuer.clone(),
            subject: unverified
                .claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_string),
            roles: token::roles(&unverified.claims, &self.role_claims),
            expires_at_s: unverified.exp,
            claims: unverified.claims,
        };
        if let Some(d) = digest {
            // Usable from when the verifier would first accept it (nbf/iat
            // minus skew) until exp: a cached token never outlives itself.
            let not_before_s = unverified.nbf.max(unverified.iat).unwrap_or(0);
            let valid_from_ms = not_before_s.saturating_mul(1000).saturating_sub(skew_ms);
            let valid_until_ms = unverified.exp.map_or(u64::MAX, |e| e.saturating_mul(1000));
            state
                .cache
                .insert(d, identity.clone(), valid_from_ms, valid_until_ms, now_ms);
        }
        Verdict::Verified(identity)
    }

    /// The keys to try for this token.
    fn candidates<'a>(
        &'a self,
        idx: usize,
        provider: &'a Provider,
        unverified: &token::Unverified,
        state: &'a AuthState,
    ) -> Lookup<'a> {
        let all = provider.keys.iter().chain(state.remote_keys(idx).iter());
        match &unverified.kid {
            Some(kid) => {
                let named: Vec<&Key> = all
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .collect();
                if named.is_empty() {
                    return Lookup::Missing(AuthError::UnknownKid);
                }
                // The key decides the algorithm, never the token: an HS256
                // header naming an RSA key's kid is refused here.
                let bound: Vec<&Key> = named
                    .into_iter()
                    .filter(|k| k.alg == unverified.alg)
                    .take(MAX_KEY_TRIES)
                    .collect();
                if bound.is_empty() {
                    return Lookup::Refuse(AuthError::UnsupportedAlg(
                        "it does not match the key's algorithm",
                    ));
                }
                Lookup::Keys(bound)
            }
            None => {
                let bound: Vec<&Key> = all
                    .filter(|k| k.alg == unverified.alg)
                    .take(MAX_KEY_TRIES)
                    .collect();
                if bound.is_empty() {
                    return Lookup::Missing(AuthError::UnsupportedAlg(
                        "the issuer has no key for it",
                    ));
                }
                Lookup::Keys(bound)
            }
        }
    }

    /// No key for the token: ask for a fetch when one could help, else refuse.
    fn missing_key(
        &self,
        idx: usize,
        provider: &Provider,
        state: &AuthState,
        now_ms: u64,
        fallback: AuthError,
    ) -> Verdict {
        if provider.remote.is_none() {
            return Verdict::Denied(fallback);
        }
        if state.in_flight(idx, now_ms) || state.on_demand_allowed(idx, now_ms) {
            return Verdict::NeedKeys { provider: idx };
        }
        if !state.remote_loaded(idx) {
            return Verdict::Denied(AuthError::KeysUnavailable);
        }
        Verdict::Denied(fallback)
    }

    /// Our rules on top of jwt-simple's checks (which already ran).
    fn policy(
        &self,
        provider: &Provider,
        u: &token::Unverified,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        let skew_ms = provider.skew_s.saturating_mul(1000);
        match u.exp {
            None if provider.require_exp => return Err(AuthError::MissingExp),
            // Same boundary as jwt-simple: valid through exp + skew inclusive.
            Some(exp) if now_ms > exp.saturating_mul(1000).saturating_add(skew_ms) => {
                return Err(AuthError::Expired)
            }
            _ => {}
        }
        // nbf, and an iat in the future (jwt-simple's clock-drift check).
        for t in [u.nbf, u.iat].into_iter().flatten() {
            if t.saturating_mul(1000) > now_ms.saturating_add(skew_ms) {
                return Err(AuthError::NotYetValid);
            }
        }
        if let Some(max) = provider.max_lifetime_s {
            // Without exp the lifetime is unbounded.
            let exp = u.exp.ok_or(AuthError::LifetimeTooLong)?;
            let lifetime_ms = match u.iat {
                Some(iat) => exp.saturating_sub(iat).saturating_mul(1000),
                None => exp.saturating_mul(1000).saturating_sub(now_ms),
            };
            if lifetime_ms > max.saturating_mul(1000) {
                return Err(AuthError::LifetimeTooLong);
            }
        }
        for name in &provider.required_claims {
            if u.claims.get(name).is_none_or(Value::is_null) {
                return Err(AuthError::MissingClaim(name.clone()));
            }
        }
        Ok(())
    }

    /// Headers to set upstream for a verified identity: (lowercase name, value).
    /// A claim that is absent, null or holds control characters is skipped.
    pub fn forward_headers(&self, identity: &Identity) -> Vec<(String, String)> {
        let Some(provider) = self.providers.get(identity.provider) else {
            return Vec::new();
        };
        provider
            .forward
            .iter()
            .filter_map(|(claim, header)| {
                let value = token::header_value(identity.claims.get(claim)?)?;
                Some((header.clone(), value))
            })
            .collect()
    }

    /// Every header name any provider forwards. The host removes these from
    /// every request (so a client can never spoof them) before setting the
    /// verified ones.
    pub fn forwarded_header_names(&self) -> &[String] {
        &self.forwarded
    }

    /// Whether to remove `authorization` before forwarding.
    pub fn strip_authorization(&self) -> bool {
        self.strip_authorization
    }

    /// Headers that carry the client's token and are removed from an
    /// authenticated request before it is forwarded (empty with
    /// `forward_token: true`).
    pub fn token_headers_to_strip(&self) -> impl Iterator<Item = &str> {
        self.sources
            .iter()
            .filter(|_| !self.forward_token)
            .filter_map(|s| match s {
                TokenSource::Header { name, .. } => Some(name.as_str()),
                TokenSource::Query(_) => None,
            })
    }

    /// The upstream's own credential: (lowercase header, value).
    pub fn upstream_credential(&self) -> Option<(&str, &str)> {
        self.upstream_credential
            .as_ref()
            .map(|(h, v)| (h.as_str(), v.as_str()))
    }

    /// With `forward_token: true` and `ecdsa_high_s: normalize`, the
    /// low-S twin of a high-S ECDSA token, so the upstream only ever sees
    /// the canonical encoding; `None` when there is nothing to change.
    pub fn canonical_token(&self, token: &str) -> Option<String> {
        if !self.forward_token || self.high_s != HighS::Normalize {
            return None;
        }
        let header_b64 = token.split('.').next()?;
        let alg = token::header_alg(header_b64)?;
        ecdsa::canonical_token(token, alg)
    }

    /// Remote JWKS sources: (provider index, settings) for the host to fetch.
    pub fn remote_jwks(&self) -> Vec<(usize, &RemoteJwks)> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.remote.as_ref().map(|r| (i, r)))
            .collect()
    }
}
