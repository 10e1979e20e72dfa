//! Rate-limit configuration as the operator writes it.
//!
//! ```json
//! "rate_limit": {
//!   "policies": [
//!     { "name": "burst", "key": ["subject"], "capacity": 10,
//!       "refill": { "tokens": 1, "per_s": 1 } },
//!     { "name": "daily_tokens", "kind": "llm_tokens", "key": [{ "claim": "tenant" }],
//!       "capacity": 100000, "refill": { "tokens": 100000, "per_s": 86400 },
//!       "tiers": [ { "when": { "claim": "plan", "equals": "pro" },
//!                    "capacity": 1000000, "refill": { "tokens": 1000000, "per_s": 86400 } } ] }
//!   ],
//!   "fail_mode": "closed", "emit_headers": true, "cas_retries": 8,
//!   "client_ip": { "trusted_hops": 0, "ipv6_prefix": 64 },
//!   "default_max_tokens": 256, "cap_streams": false
//! }
//! ```

use serde::Deserialize;

use super::key::{ClientIpSettings, KeyPartSettings};
use super::models::{MissingMaxTokens, ModelSettings};

/// Default number of slots per policy.
pub const DEFAULT_SLOTS: u32 = 65_536;

/// What a request is charged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// One token per request (the default).
    #[default]
    Requests,
    /// LLM tokens: reserved from an estimate, settled from real usage.
    LlmTokens,
    /// Money: the tokens' price (`rate_limit.models[].price`) in
    /// micro-units of the policy's `currency`, reserved and settled like
    /// LLM tokens.
    Cost,
}

/// What happens when shared data misbehaves (CAS retries exhausted,
/// corrupt value, host error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Refuse with 503 `rate_limit_unavailable` (the default).
    #[default]
    Closed,
    /// Admit the request.
    Open,
}

/// What a per-subject policy does with a verified token that has no `sub`
/// (and no `subject_fallback_claim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingSubject {
    /// Refuse with 401 `jwt_missing_claim` (the default): an uncountable
    /// caller is not let through a limit meant to count it.
    #[default]
    Deny,
    /// The policy does not apply (the caller is unlimited by it).
    Skip,
}

/// Refill: `tokens` every `per_s` seconds or `per_ms` milliseconds (exactly
/// one of the two). Fractional rates are written with a longer period:
/// one token every 3 s is `{"tokens": 1, "per_s": 3}`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RefillSettings {
    /// Tokens added per period.
    pub tokens: u64,
    /// Period in seconds.
    pub per_s: Option<u64>,
    /// Period in milliseconds.
    pub per_ms: Option<u64>,
}

/// When a tier applies: `{"claim": "plan", "equals": "pro"}` or `{"role": "admin"}`.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TierWhenSettings {
    /// Claim to compare (a string, number, boolean, or an array containing the value).
    pub claim: Option<String>,
    /// Value the claim must equal.
    pub equals: Option<String>,
    /// Role the caller must hold.
    pub role: Option<String>,
}

/// Other limits for some callers; the first matching tier wins.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TierSettings {
    /// Condition.
    pub when: TierWhenSettings,
    /// Bucket size for this tier.
    pub capacity: u64,
    /// Refill for this tier.
    pub refill: RefillSettings,
}

/// One policy.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Name used in headers, metrics and shared-data keys: letters, digits,
    /// `_` and `-`, at most 64 characters.
    pub name: String,
    /// Parts combined into the key; a request missing a part is not counted.
    pub key: Vec<KeyPartSettings>,
    /// Bucket size (burst) in tokens.
    pub capacity: u64,
    /// Refill rate.
    pub refill: RefillSettings,
    /// Route names the policy applies to; empty means every route.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Other limits by claim or role.
    #[serde(default)]
    pub tiers: Vec<TierSettings>,
    /// Count what would be limited but admit it.
    #[serde(default)]
    pub monitor: bool,
    /// Requests or LLM tokens.
    #[serde(default)]
    pub kind: PolicyKind,
    /// Hashed slots in shared data (bounds memory; see `RateLimiter::shared_data_bound_bytes`).
    #[serde(default = "default_slots")]
    pub slots: u32,
    /// The currency of a `cost` policy (e.g. `USD`); `capacity` and
    /// `refill.tokens` are then in micro-units of it (1 USD = 1000000).
    #[serde(default)]
    pub currency: Option<String>,
}

fn default_slots() -> u32 {
    DEFAULT_SLOTS
}

/// The `rate_limit` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Policies; all that apply must admit a request.
    pub policies: Vec<PolicySettings>,
    /// Behaviour when shared data fails.
    pub fail_mode: FailMode,
    /// Send `RateLimit-Policy` / `RateLimit` on admitted responses too.
    pub emit_headers: bool,
    /// Compare-and-set retries after the first attempt.
    pub cas_retries: u32,
    /// How the client IP is found.
    pub client_ip: ClientIpSettings,
    /// Output tokens assumed when a request sets no `max_tokens`.
    pub default_max_tokens: u64,
    /// End a stream whose output passes its reservation.
    pub cap_streams: bool,
    /// A verified token without `sub` on a route with a per-subject policy.
    pub missing_subject: MissingSubject,
    /// Claim that stands in for a missing `sub` in `subject` key parts
    /// (e.g. `client_id`, `azp`), kept apart from real subjects.
    pub subject_fallback_claim: Option<String>,
    /// Per-model output maximum (and prices), first match wins.
    pub models: Vec<ModelSettings>,
    /// A request without an output limit: reserve the model maximum, or
    /// also inject it into the request.
    pub missing_max_tokens: MissingMaxTokens,
    /// A per-IP limit on signature verifications, before authentication.
    pub pre_auth: Option<PreAuthSettings>,
}

/// The per-IP pre-authentication limit: every request that would cost a
/// signature verification (a token not in the verified-token cache that
/// passed every check needing no key) takes one token from its client
/// address's bucket. A flood of fresh tokens with bad signatures from one
/// address is then bounded to the refill rate.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PreAuthSettings {
    /// Bucket size (burst) of signature checks per address.
    pub capacity: u64,
    /// Refill rate.
    pub refill: RefillSettings,
    /// When shared data fails: `open` (the default: authentication still
    /// runs) or `closed` (503).
    #[serde(default = "default_pre_auth_fail_mode")]
    pub fail_mode: FailMode,
    /// Hashed slots in shared data.
    #[serde(default = "default_slots")]
    pub slots: u32,
}

fn default_pre_auth_fail_mode() -> FailMode {
    FailMode::Open
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            policies: Vec::new(),
            fail_mode: FailMode::Closed,
            emit_headers: true,
            cas_retries: 8,
            client_ip: ClientIpSettings::default(),
            default_max_tokens: 256,
            cap_streams: false,
            missing_subject: MissingSubject::Deny,
            subject_fallback_claim: None,
            models: Vec::new(),
            missing_max_tokens: MissingMaxTokens::Reserve,
            pre_auth: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_closed_with_headers_and_eight_retries() {
        let s: RateLimitSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, RateLimitSettings::default());
        assert_eq!(s.fail_mode, FailMode::Closed);
        assert!(s.emit_headers);
        assert_eq!(s.cas_retries, 8);
        assert_eq!(s.default_max_tokens, 256);
    }

    #[test]
    fn a_full_policy_parses() {
        let s: RateLimitSettings = serde_json::from_str(
            r#"{"policies":[{"name":"p","key":["subject",{"claim":"tenant"}],"capacity":5,
                "refill":{"tokens":1,"per_s":3},"routes":["chat"],"monitor":true,"kind":"llm_tokens",
                "slots":1024,"tiers":[{"when":{"role":"admin"},"capacity":50,"refill":{"tokens":5,"per_ms":100}}]}],
                "fail_mode":"open","client_ip":{"trusted_hops":1}}"#,
        )
        .unwrap();
        let p = &s.policies[0];
        assert_eq!(p.kind, PolicyKind::LlmTokens);
        assert_eq!(p.slots, 1024);
        assert_eq!(p.tiers[0].refill.per_ms, Some(100));
        assert_eq!(s.client_ip.trusted_hops, 1);
        assert_eq!(s.client_ip.ipv6_prefix, 64);
        assert_eq!(s.fail_mode, FailMode::Open);
    }

    #[test]
    fn slots_default_to_65536() {
        let p: PolicySettings = serde_json::from_str(
            r#"{"name":"p","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":1}}"#,
        )
        .unwrap();
        assert_eq!(p.slots, DEFAULT_SLOTS);
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        for bad in [
            r#"{"polices":[]}"#,
            r#"{"policies":[{"name":"p","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":1},"burst":3}]}"#,
            r#"{"policies":[{"name":"p","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_sec":1}}]}"#,
            r#"{"client_ip":{"hops":1}}"#,
        ] {
            assert!(
                serde_json::from_str::<RateLimitSettings>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
