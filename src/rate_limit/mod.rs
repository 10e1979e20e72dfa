//! Rate limiting: token buckets in shared data, and LLM-token budgets.
//!
//! Pure: it sees shared data only through [`SharedStore`] and time only as
//! `now_ms`. The host shell supplies both and maps the [`Outcome`] to a
//! response (429 with `Retry-After` and the `RateLimit-*` headers, or per
//! `fail_mode` on `Failed`).
//!
//! - `bucket`: exact integer token-bucket arithmetic and its 41-byte encoding.
//! - `table`: the fixed table of hashed slots per policy and the CAS loop.
//! - `key`: request facts, client IP, key fingerprints.
//! - `budget`: LLM-token estimates, usage parsing, stream cap.
//! - `headers`: `RateLimit-Policy` / `RateLimit`.
//!
//! # Several policies
//! Every applicable policy must admit a request. Policies are taken in
//! configuration order; when one refuses (or fails), the tokens already
//! taken from the earlier ones are given back, each by its own
//! compare-and-set, so a refused request spends nothing. Guarantees under
//! concurrency: each take and each refund is applied exactly once to the
//! value it was computed from (no token lost, none spent twice). Between a
//! take and its refund another request may see the lower level and be
//! refused: a transient over-limit, never an under-limit. If a refund
//! itself cannot be written (retries exhausted) its tokens stay spent
//! (stricter, fail safe).
//!
//! # Memory bound
//! See [`RateLimiter::shared_data_bound_bytes`]: policies × slots × (key +
//! 41 bytes), independent of the number of clients.

pub mod bucket;
pub mod budget;
pub mod global;
pub mod global_proto;
pub mod headers;
pub mod key;
pub mod models;
pub mod settings;
pub mod store;
pub mod table;

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use crate::error::ConfigError;

pub use bucket::Rate;
pub use budget::{
    delta_text_len, estimate_prompt_tokens, estimate_request, estimate_request_parts, parse_usage,
    Estimate, Reservation, StreamMeter, Usage, UsageTracker,
};
pub use global::{GlobalBackend, GlobalCheck, GlobalOutcome, GlobalSettings, Reply};
pub use headers::QuotaView;
pub use key::{client_ip, ClientIpSettings, KeyPart, KeyPartSettings, RequestFacts};
pub use models::{MissingMaxTokens, ModelSettings, Models, Price, PriceSettings};
pub use settings::{
    Backend, FailMode, MissingSubject, PolicyKind, PolicySettings, PreAuthSettings,
    RateLimitSettings, RefillSettings, TierSettings,
};
pub use store::{MemoryStore, SharedStore, StoreError};

use bucket::{Bucket, Shortfall};
use table::{SlotRef, Table};

/// Largest `slots` accepted for one policy (2^24: about 1 GB of shared data).
pub const MAX_SLOTS: u32 = 1 << 24;
/// Largest `cas_retries` accepted.
pub const MAX_CAS_RETRIES: u32 = 64;

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every applicable policy admits the request.
    Admitted {
        /// `RateLimit-Policy` / `RateLimit` for the response (empty when
        /// `emit_headers` is off or no enforced policy applied).
        headers: Vec<(String, String)>,
        /// Monitor-mode policies that would have refused.
        monitored: Vec<String>,
    },
    /// A policy refuses: respond 429 with `Retry-After: retry_after_s`.
    Limited {
        /// The refusing policy.
        policy: String,
        /// Seconds until the request would fit (at least 1).
        retry_after_s: u64,
        /// `RateLimit-Policy` / `RateLimit` for the refusing policy
        /// (`Retry-After` is left to the caller).
        headers: Vec<(String, String)>,
    },
    /// Shared data misbehaved; the caller applies `fail_mode` and counts it.
    Failed {
        /// `cas_exhausted`, `corrupt_state` or `store_error`.
        kind: &'static str,
    },
}

/// Token reservations for one request, with what to report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reserved {
    /// One per applicable LLM-token policy; pass them to [`RateLimiter::settle`].
    pub reservations: Vec<Reservation>,
    /// `RateLimit-Policy` / `RateLimit` for the response (may be empty).
    pub headers: Vec<(String, String)>,
    /// Monitor-mode policies that would have refused.
    pub monitored: Vec<String>,
}

/// Rate-limit refusals as errors, for the one place that maps errors to responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitError {
    /// A policy refused the request (429).
    Limited,
    /// Shared data failed and `fail_mode` is closed (503).
    Unavailable,
    /// A stream passed its token reservation (final SSE error event).
    TokenBudgetExceeded,
    /// A verified token without `sub` on a per-subject route (401).
    MissingSubject,
}

impl RateLimitError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Limited => "rate_limited",
            Self::Unavailable => "rate_limit_unavailable",
            Self::TokenBudgetExceeded => budget::BUDGET_EXCEEDED_CODE,
            Self::MissingSubject => "jwt_missing_claim",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Limited | Self::TokenBudgetExceeded => 429,
            Self::Unavailable => 503,
            Self::MissingSubject => 401,
        }
    }
}

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Limited => "rate limit exceeded, retry after the time in retry-after",
            Self::Unavailable => "rate limiting is temporarily unavailable",
            Self::TokenBudgetExceeded => {
                "the response passed the token budget reserved for this request"
            }
            Self::MissingSubject => {
                "the token has no `sub` claim, which this route's limits are counted by"
            }
        })
    }
}

impl std::error::Error for RateLimitError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TierWhen {
    Claim { name: String, equals: String },
    Role(String),
}

impl TierWhen {
    fn matches(&self, facts: &RequestFacts) -> bool {
        match self {
            Self::Role(role) => facts.roles.iter().any(|r| r == role),
            Self::Claim { name, equals } => {
                let Some(value) = facts.claims.and_then(|c| c.get(name)) else {
                    return false;
                };
                let scalar_eq =
                    |v: &serde_json::Value| key::scalar_text(v).as_deref() == Some(equals.as_str());
                match value {
                    serde_json::Value::Array(items) => items.iter().any(scalar_eq),
                    v => scalar_eq(v),
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Tier {
    when: TierWhen,
    rate: Rate,
}

#[derive(Debug, Clone)]
struct Policy {
    name: String,
    key: Vec<KeyPart>,
    rate: Rate,
    routes: Vec<String>,
    tiers: Vec<Tier>,
    monitor: bool,
    kind: PolicyKind,
    table: Table,
    currency: Option<String>,
    /// The local pre-limit of a global policy: enforced, but its state is
    /// not advertised (the global policy's headers are).
    pre_limit: bool,
}

impl Policy {
    fn rate_for(&self, tier: Option<usize>) -> &Rate {
        tier.and_then(|t| self.tiers.get(t))
            .map_or(&self.rate, |t| &t.rate)
    }

    fn tier_for(&self, facts: &RequestFacts) -> Option<usize> {
        self.tiers.iter().position(|t| t.when.matches(facts))
    }

    fn view(&self, rate: &Rate, remaining: u64, reset_s: u64) -> QuotaView {
        QuotaView {
            name: self.name.clone(),
            quota: rate.capacity(),
            window_s: rate.window_s(),
            remaining,
            reset_s,
            tokens: self.kind != PolicyKind::Requests,
            currency: self.currency.clone(),
        }
    }
}

/// A token taken from one policy during one decision.
#[derive(Debug, Clone, Copy)]
struct Taken {
    policy: usize,
    tier: Option<usize>,
    at: SlotRef,
    amount: u64,
}

/// What a multi-policy take produced.
struct TakeAll {
    taken: Vec<Taken>,
    views: Vec<QuotaView>,
    monitored: Vec<String>,
}

/// The compiled rate limiter, shared by every stream.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    policies: Vec<Policy>,
    fail_mode: FailMode,
    emit_headers: bool,
    attempts: u32,
    client_ip: ClientIpSettings,
    default_max_tokens: u64,
    cap_streams: bool,
    global: Option<GlobalBackend>,
    missing_subject: MissingSubject,
    subject_fallback_claim: Option<String>,
    models: Models,
    missing_max_tokens: MissingMaxTokens,
    pre_auth: Option<Box<RateLimiter>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            policies: Vec::new(),
            fail_mode: FailMode::Closed,
            emit_headers: true,
            attempts: 9,
            client_ip: ClientIpSettings::default(),
            default_max_tokens: 256,
            cap_streams: false,
            global: None,
            missing_subject: MissingSubject::Deny,
            subject_fallback_claim: None,
            models: Models::default(),
            missing_max_tokens: MissingMaxTokens::Reserve,
            pre_auth: None,
        }
    }
}

fn compile_rate(
    capacity: u64,
    refill: &RefillSettings,
    at: &dyn Fn(&str) -> String,
) -> Result<Rate, ConfigError> {
    if capacity == 0 {
        return Err(ConfigError::new(at("capacity"), "must be greater than 0"));
    }
    if refill.tokens == 0 {
        return Err(ConfigError::new(
            at("refill.tokens"),
            "must be greater than 0",
        ));
    }
    let period_ms = match (refill.per_s, refill.per_ms) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                at("refill"),
                "set either `per_s` or `per_ms`, not both",
            ))
        }
        (None, None) => {
            return Err(ConfigError::new(
                at("refill"),
                "one of `per_s` or `per_ms` is required",
            ))
        }
        (Some(s), None) => {
            if s == 0 {
                return Err(ConfigError::new(
                    at("refill.per_s"),
                    "must be greater than 0",
                ));
            }
            s.checked_mul(1000)
                .ok_or_else(|| ConfigError::new(at("refill.per_s"), "is too large"))?
        }
        (None, Some(ms)) => {
            if ms == 0 {
                return Err(ConfigError::new(
                    at("refill.per_ms"),
                    "must be greater than 0",
                ));
            }
            ms
        }
    };
    Rate::new(capacity, refill.tokens, period_ms).ok_or_else(|| {
        ConfigError::new(
            at("capacity"),
            "capacity (and refill tokens) times the period in milliseconds must not exceed 2^60",
        )
    })
}

fn compile_tier_when(
    t: &TierSettings,
    at_tier: &dyn Fn(&str) -> String,
) -> Result<TierWhen, ConfigError> {
    Ok(match (&t.when.claim, &t.when.equals, &t.when.role) {
        (Some(c), Some(e), None) => TierWhen::Claim {
            name: check_name(c, "claim", at_tier("when.claim"))?,
            equals: e.clone(),
        },
        (None, None, Some(r)) => TierWhen::Role(check_name(r, "role", at_tier("when.role"))?),
        _ => {
            return Err(ConfigError::new(
                at_tier("when"),
                "set either `claim` with `equals`, or `role`",
            ))
        }
    })
}

fn check_name(name: &str, what: &str, at: String) -> Result<String, ConfigError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ConfigError::new(at, format!("{what} must not be empty")));
    }
    Ok(name.to_string())
}

impl RateLimiter {
    /// Validates and compiles `settings`; `route_names` are the configured
    /// routes a policy may name, `path` prefixes error paths (`rate_limit`).
    /// Compiles a limiter built around one policy that the operator wrote
    /// elsewhere (`pre_auth`, an MCP tool's limit): errors name the
    /// operator's fields at `path`, not the synthetic `policies[0]`.
    pub fn compile_single(
        settings: RateLimitSettings,
        route_names: &[&str],
        path: &str,
    ) -> Result<Self, ConfigError> {
        Self::compile(settings, route_names, path)
            .map_err(|e| ConfigError::new(e.path.replace(".policies[0]", ""), e.message))
    }

    pub fn compile(
        settings: RateLimitSettings,
        route_names: &[&str],
        path: &str,
    ) -> Result<Self, ConfigError> {
        check_limiter_settings(&settings, path)?;
        let subject_fallback_claim = match &settings.subject_fallback_claim {
            Some(c) => Some(check_name(
                c,
                "claim",
                format!("{path}.subject_fallback_claim"),
            )?),
            None => None,
        };
        let models = Models::compile(&settings.models, &format!("{path}.models"))?;
        let pre_auth = match &settings.pre_auth {
            None => None,
            Some(p) => Some(Box::new(compile_pre_auth(p, &settings, route_names, path)?)),
        };
        let mut policies: Vec<Policy> = Vec::with_capacity(settings.policies.len());
        let mut global_policies: Vec<global::GlobalPolicy> = Vec::new();
        for (i, p) in settings.policies.into_iter().enumerate() {
            let at = |field: &str| format!("{path}.policies[{i}].{field}");
            let name = p.name.trim().to_string();
            check_policy_name(&name, &policies, &global_policies, &at)?;
            let key = compile_key(&p, &format!("{path}.policies[{i}]"))?;
            check_routes(&p.routes, route_names, &format!("{path}.policies[{i}]"))?;
            if p.backend == Backend::Global {
                let (pre_limit, global) =
                    compile_global_policy(p, name, key, settings.fail_mode, &at)?;
                policies.extend(pre_limit);
                global_policies.push(global);
            } else {
                policies.push(compile_local_policy(p, name, key, &models, &at)?);
            }
        }
        let global = match settings.global {
            Some(g) => Some(GlobalBackend::compile(
                g,
                global_policies,
                &format!("{path}.global"),
            )?),
            None if !global_policies.is_empty() => {
                return Err(ConfigError::new(
                    format!("{path}.global"),
                    "is required by the policies with `backend: global` (the rate-limit service's cluster)",
                ))
            }
            None => None,
        };
        Ok(Self {
            global,
            policies,
            fail_mode: settings.fail_mode,
            emit_headers: settings.emit_headers,
            attempts: settings.cas_retries.saturating_add(1),
            client_ip: settings.client_ip,
            default_max_tokens: settings.default_max_tokens,
            cap_streams: settings.cap_streams,
            missing_subject: settings.missing_subject,
            subject_fallback_claim,
            models,
            missing_max_tokens: settings.missing_max_tokens,
            pre_auth,
        })
    }

    /// Takes one signature check from the client address's pre-auth
    /// bucket. `None`: go ahead (no limit configured, the address is
    /// unknown, or shared data failed with `fail_mode: open`); otherwise
    /// the refusal (`Limited`, or `Failed` with `fail_mode: closed`).
    pub fn check_pre_auth(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        now_ms: u64,
    ) -> Option<Outcome> {
        let limiter = self.pre_auth.as_ref()?;
        match limiter.check_requests(store, facts, now_ms) {
            Outcome::Admitted { .. } => None,
            Outcome::Failed { .. } if limiter.fail_mode == FailMode::Open => None,
            refusal => Some(refusal),
        }
    }

    /// The subject a request's `subject` key parts use: the verified `sub`,
    /// else the configured fallback claim (prefixed so it never shares a
    /// bucket with a real subject of the same text).
    fn subject_of<'f>(&self, facts: &RequestFacts<'f>) -> Option<Cow<'f, str>> {
        if let Some(sub) = facts.subject.filter(|s| !s.is_empty()) {
            return Some(Cow::Borrowed(sub));
        }
        let claim = self.subject_fallback_claim.as_deref()?;
        let value = facts.claim_text(claim).filter(|v| !v.is_empty())?;
        Some(Cow::Owned(format!("\u{0}{claim}\u{0}{value}")))
    }

    /// Runs `f` with `facts` whose `subject` is the one key parts use
    /// ([`Self::subject_of`]): local buckets and global descriptors alike.
    pub fn with_key_subject<R>(
        &self,
        facts: &RequestFacts,
        f: impl FnOnce(&RequestFacts) -> R,
    ) -> R {
        let subject = self.subject_of(facts);
        f(&RequestFacts {
            subject: subject.as_deref(),
            ..*facts
        })
    }

    /// Refuses a verified token that has no subject (nor fallback claim) on
    /// a route where a policy keys on the subject, unless `missing_subject`
    /// is `skip`. Anonymous requests (no token) are not concerned: per-subject
    /// policies never counted them; an `ip` policy does.
    pub fn check_subject(&self, facts: &RequestFacts) -> Result<(), RateLimitError> {
        if self.missing_subject == MissingSubject::Skip
            || facts.claims.is_none()
            || self.subject_of(facts).is_some()
        {
            return Ok(());
        }
        let applies = |routes: &[String], key: &[KeyPart]| {
            (routes.is_empty() || routes.iter().any(|r| r == facts.route))
                && key.contains(&KeyPart::Subject)
        };
        // Global policies too: a descriptor with no subject would be left out
        // of the service's call, and the token would go uncounted.
        let keyed_on_subject = self.policies.iter().any(|p| applies(&p.routes, &p.key))
            || self
                .global
                .as_ref()
                .is_some_and(|g| g.policies.iter().any(|p| applies(&p.routes, &p.key)));
        if keyed_on_subject {
            Err(RateLimitError::MissingSubject)
        } else {
            Ok(())
        }
    }

    /// True when no policy is configured.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.global.is_none()
    }

    /// True when a policy or the pre-authentication limit is configured:
    /// both may key on the client address, so the host must read it.
    pub fn uses_client_address(&self) -> bool {
        !self.is_empty() || self.pre_auth.is_some()
    }

    /// True when an LLM-token policy is configured (the body must be read).
    pub fn has_token_budgets(&self) -> bool {
        self.policies
            .iter()
            .any(|p| matches!(p.kind, PolicyKind::LlmTokens | PolicyKind::Cost))
            || self
                .global
                .as_ref()
                .is_some_and(|g| g.has(PolicyKind::LlmTokens))
    }

    /// The global backend, when `rate_limit.global` is configured.
    pub fn global(&self) -> Option<&GlobalBackend> {
        self.global.as_ref()
    }

    /// True when an LLM-token policy covers `route`: only then must a
    /// budget read that route's request body.
    pub fn budgets_route(&self, route: &str) -> bool {
        self.policies.iter().any(|p| {
            matches!(p.kind, PolicyKind::LlmTokens | PolicyKind::Cost)
                && (p.routes.is_empty() || p.routes.iter().any(|r| r == route))
        }) || self.global.as_ref().is_some_and(|g| g.budgets_route(route))
    }

    /// How the client IP is found (shared with the audit line).
    pub fn client_ip_settings(&self) -> &ClientIpSettings {
        &self.client_ip
    }

    /// What to do with [`Outcome::Failed`].
    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }

    /// True when streams are cut once they pass their reservation.
    pub fn caps_streams(&self) -> bool {
        self.cap_streams
    }

    /// Policy names, in configuration order (for metrics).
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// Estimates a request body. A request without an output limit is
    /// charged its model's `max_output_tokens` (`models`), else
    /// `default_max_tokens`.
    pub fn estimate_request(&self, body: &serde_json::Value) -> Estimate {
        let model = body.get("model").and_then(serde_json::Value::as_str);
        Estimate {
            // A model without a price is charged the highest configured
            // one: an unlisted model name is never free.
            price: self.models.price(model).or_else(|| self.models.max_price()),
            ..estimate_request_parts(body, self.output_allowance(body))
        }
    }

    /// Output tokens reserved for a request that names no limit.
    fn output_allowance(&self, body: &serde_json::Value) -> u64 {
        let model = body.get("model").and_then(serde_json::Value::as_str);
        self.models
            .max_output_tokens(model)
            .unwrap_or(self.default_max_tokens)
    }

    /// With `missing_max_tokens: inject`, the request body with the
    /// reserved output limit written in when it names none (see
    /// [`models::inject_limit`]); `None` leaves the body as it is.
    pub fn cap_request(&self, path: &str, raw: &[u8], body: &serde_json::Value) -> Option<Vec<u8>> {
        if self.missing_max_tokens != MissingMaxTokens::Inject {
            return None;
        }
        let field = models::limit_field(path)?;
        models::inject_limit(raw, body, field, self.output_allowance(body))
    }

    /// True when a request on `route` may have its body rewritten by
    /// [`Self::cap_request`], so its `content-length` must go.
    pub fn may_cap_requests(&self, route: &str) -> bool {
        self.missing_max_tokens == MissingMaxTokens::Inject && self.budgets_route(route)
    }

    /// Upper bound, in bytes, of the keys and values this limiter can ever
    /// write to shared data: the sum over policies of
    /// `slots × (longest slot key + 41)`. It does not grow with traffic.
    /// The host adds its own per-entry overhead (Envoy: a hash-map node
    /// with two `std::string`s and a cas, roughly 100 bytes) on top.
    ///
    /// Shared data outlives configuration reloads (same `vm_id`) until Envoy
    /// restarts: renaming a policy or changing its `slots` leaves the old
    /// keys in place, so the bound holds per configuration ever loaded.
    /// Changing `slots` also moves keys' home slots; a moved key starts
    /// with a full bucket once (a one-time leniency on reload).
    pub fn shared_data_bound_bytes(&self) -> usize {
        self.policies
            .iter()
            .map(|p| p.table.bound_bytes())
            .fold(0usize, usize::saturating_add)
    }

    /// Takes one token from every applicable request policy.
    pub fn check_requests(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        now_ms: u64,
    ) -> Outcome {
        match self.take_all(store, facts, PolicyKind::Requests, &|_| 1, now_ms) {
            Ok(t) => Outcome::Admitted {
                headers: self.admitted_headers(&t.views),
                monitored: t.monitored,
            },
            Err(outcome) => outcome,
        }
    }

    /// Reserves `estimate` tokens from every applicable LLM-token policy;
    /// `Err` is a `Limited` or `Failed` outcome and nothing stays reserved.
    /// An estimate larger than a policy's capacity can never fit and is
    /// refused (its `retry_after_s` is the time to fill the bucket).
    pub fn reserve_tokens(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        estimate: u64,
        now_ms: u64,
    ) -> Result<Reserved, Outcome> {
        self.reserve(
            store,
            facts,
            Estimate {
                prompt: estimate,
                ..Estimate::default()
            },
            now_ms,
        )
    }

    /// Reserves a request's estimate from every applicable budget: its
    /// tokens from LLM-token policies, its price (at the estimate's model
    /// price, in micro-units) from money policies. `Err` is a `Limited` or
    /// `Failed` outcome and nothing stays reserved.
    pub fn reserve(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        estimate: Estimate,
        now_ms: u64,
    ) -> Result<Reserved, Outcome> {
        let price = estimate.price.unwrap_or_default();
        let cost = price.cost_micros(estimate.prompt, 0, estimate.output);
        let amount_of = |p: &Policy| match p.kind {
            PolicyKind::Cost => cost,
            _ => estimate.total(),
        };
        let t = self.take_all(store, facts, PolicyKind::LlmTokens, &amount_of, now_ms)?;
        Ok(Reserved {
            reservations: t
                .taken
                .iter()
                .map(|k| Reservation {
                    policy: k.policy,
                    tier: k.tier,
                    slot: k.at.slot,
                    owner: k.at.owner,
                    amount: k.amount,
                    price: estimate.price,
                    prompt_estimate: estimate.prompt,
                })
                .collect(),
            headers: self.admitted_headers(&t.views),
            monitored: t.monitored,
        })
    }

    /// The cost, in micro-units, of a request's real usage at the price it
    /// was reserved at (`None` when nothing was priced). For the audit
    /// record and metrics.
    pub fn cost_micros(&self, reservations: &[Reservation], usage: &Usage) -> Option<u64> {
        let price = reservations.iter().find_map(|r| r.price)?;
        Some(price.cost_micros(usage.prompt, usage.cached_prompt, usage.completion))
    }

    /// Settles reservations with the real total: refunds the unused part, or
    /// charges the excess even past zero, into a debt of at most one
    /// bucket, repaid by refill before anything else is admitted. An
    /// adjustment for a slot that was taken over meanwhile (its bucket had
    /// refilled to full and was reassigned) is dropped. Every reservation is
    /// attempted; the first failure's code is returned.
    pub fn settle(
        &self,
        store: &dyn SharedStore,
        reservations: &[Reservation],
        actual_total: u64,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        // Without the split, the prompt is taken as estimated and the rest
        // as output (output tokens cost more: never cheaper than the truth
        // when the prompt estimate is exact).
        self.settle_with(store, reservations, now_ms, &|r: &Reservation| {
            let prompt = r.prompt_estimate.min(actual_total);
            (
                actual_total,
                Usage {
                    prompt,
                    completion: actual_total - prompt,
                    total: actual_total,
                    cached_prompt: 0,
                },
            )
        })
    }

    /// [`Self::settle`] with the real usage split (prompt, cached prompt,
    /// completion), so money budgets are charged exactly.
    pub fn settle_usage(
        &self,
        store: &dyn SharedStore,
        reservations: &[Reservation],
        usage: &Usage,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        self.settle_with(store, reservations, now_ms, &|_: &Reservation| {
            (usage.total, *usage)
        })
    }

    fn settle_with(
        &self,
        store: &dyn SharedStore,
        reservations: &[Reservation],
        now_ms: u64,
        actual: &dyn Fn(&Reservation) -> (u64, Usage),
    ) -> Result<(), &'static str> {
        let mut first_err = None;
        for r in reservations {
            let Some(policy) = self.policies.get(r.policy) else {
                first_err.get_or_insert("unknown_policy");
                continue;
            };
            let (tokens, usage) = actual(r);
            let actual_total = match policy.kind {
                PolicyKind::Cost => r.price.unwrap_or_default().cost_micros(
                    usage.prompt,
                    usage.cached_prompt,
                    usage.completion,
                ),
                _ => tokens,
            };
            if actual_total == r.amount {
                continue;
            }
            let rate = *policy.rate_for(r.tier);
            let at = SlotRef {
                slot: r.slot,
                owner: r.owner,
            };
            let res = policy
                .table
                .adjust(store, at, self.attempts, &mut |b: &Bucket| {
                    if actual_total < r.amount {
                        b.give_back(&rate, r.amount - actual_total, now_ms)
                    } else {
                        b.charge(&rate, actual_total - r.amount, now_ms)
                    }
                });
            if let Err(e) = res {
                first_err.get_or_insert(e.code());
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn admitted_headers(&self, views: &[QuotaView]) -> Vec<(String, String)> {
        if self.emit_headers {
            headers::render(views)
        } else {
            Vec::new()
        }
    }

    fn applies(&self, p: &Policy, kind: PolicyKind, facts: &RequestFacts) -> bool {
        let kind_ok =
            p.kind == kind || (kind == PolicyKind::LlmTokens && p.kind == PolicyKind::Cost);
        kind_ok && (p.routes.is_empty() || p.routes.iter().any(|r| r == facts.route))
    }

    /// Takes `amount_of(policy)` from every applicable policy of `kind`
    /// (`LlmTokens` also takes money budgets), all or nothing.
    fn take_all(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        kind: PolicyKind,
        amount_of: &dyn Fn(&Policy) -> u64,
        now_ms: u64,
    ) -> Result<TakeAll, Outcome> {
        self.with_key_subject(facts, |facts| {
            self.take_all_keyed(store, facts, kind, amount_of, now_ms)
        })
    }

    /// [`Self::take_all`] with `facts.subject` already the key subject.
    fn take_all_keyed(
        &self,
        store: &dyn SharedStore,
        facts: &RequestFacts,
        kind: PolicyKind,
        amount_of: &dyn Fn(&Policy) -> u64,
        now_ms: u64,
    ) -> Result<TakeAll, Outcome> {
        let mut t = TakeAll {
            taken: Vec::new(),
            views: Vec::new(),
            monitored: Vec::new(),
        };
        for (index, p) in self.policies.iter().enumerate() {
            if !self.applies(p, kind, facts) {
                continue;
            }
            let Some(fp) = key::fingerprint(&p.key, facts, &self.client_ip) else {
                continue;
            };
            let amount = amount_of(p);
            let tier = p.tier_for(facts);
            let rate = *p.rate_for(tier);
            // A monitor-mode refusal still writes the (refilled, unchanged)
            // bucket, so its slot exists for settlement; the flag is reset
            // on every CAS attempt.
            let would_refuse = Cell::new(false);
            let res = p.table.update(
                store,
                fp,
                &rate,
                now_ms,
                self.attempts,
                &mut |b: &Bucket| {
                    would_refuse.set(false);
                    match b.take(&rate, amount, now_ms) {
                        Err(_) if p.monitor => {
                            would_refuse.set(true);
                            Ok(b.refilled(&rate, now_ms))
                        }
                        other => other,
                    }
                },
            );
            match res {
                Err(e) => {
                    self.refund(store, &t.taken, now_ms);
                    return Err(Outcome::Failed { kind: e.code() });
                }
                Ok((at, Ok(_))) if would_refuse.get() => {
                    t.monitored.push(p.name.clone());
                    // Nothing taken, but an LLM budget still settles the real usage.
                    t.taken.push(Taken {
                        policy: index,
                        tier,
                        at,
                        amount: 0,
                    });
                }
                Ok((at, Ok(bucket))) => {
                    t.taken.push(Taken {
                        policy: index,
                        tier,
                        at,
                        amount,
                    });
                    if !p.monitor && !p.pre_limit {
                        let reset_s = headers::ceil_s(bucket.full_in_ms(now_ms));
                        t.views
                            .push(p.view(&rate, bucket.remaining(&rate), reset_s));
                    }
                }
                Ok((_, Err(short))) => {
                    self.refund(store, &t.taken, now_ms);
                    return Err(self.limited(p, &rate, short));
                }
            }
        }
        if kind == PolicyKind::Requests {
            // Only LLM budgets keep zero-amount entries (for settlement).
            t.taken.retain(|k| k.amount > 0);
        }
        Ok(t)
    }

    fn limited(&self, p: &Policy, rate: &Rate, short: Shortfall) -> Outcome {
        let retry_after_s = headers::ceil_s(short.wait_ms.unwrap_or(short.full_in_ms)).max(1);
        Outcome::Limited {
            policy: p.name.clone(),
            retry_after_s,
            headers: headers::render(&[p.view(rate, 0, retry_after_s)]),
        }
    }

    /// Gives back what a refused request took. A refund that cannot be
    /// written leaves its tokens spent (stricter, fail safe).
    fn refund(&self, store: &dyn SharedStore, taken: &[Taken], now_ms: u64) {
        for k in taken.iter().filter(|k| k.amount > 0) {
            let Some(p) = self.policies.get(k.policy) else {
                continue;
            };
            let rate = *p.rate_for(k.tier);
            let _ = p
                .table
                .adjust(store, k.at, self.attempts, &mut |b: &Bucket| {
                    b.give_back(&rate, k.amount, now_ms)
                });
        }
    }
}

/// The limiter-wide numbers: retries, client-address settings, defaults.
fn check_limiter_settings(settings: &RateLimitSettings, path: &str) -> Result<(), ConfigError> {
    if settings.cas_retries > MAX_CAS_RETRIES {
        return Err(ConfigError::new(
            format!("{path}.cas_retries"),
            format!("must be at most {MAX_CAS_RETRIES}"),
        ));
    }
    if settings.client_ip.ipv6_prefix == 0 || settings.client_ip.ipv6_prefix > 128 {
        return Err(ConfigError::new(
            format!("{path}.client_ip.ipv6_prefix"),
            "must be between 1 and 128",
        ));
    }
    if settings.client_ip.trusted_hops > 32 {
        return Err(ConfigError::new(
            format!("{path}.client_ip.trusted_hops"),
            "must be at most 32",
        ));
    }
    if settings.default_max_tokens == 0 {
        return Err(ConfigError::new(
            format!("{path}.default_max_tokens"),
            "must be greater than 0",
        ));
    }
    Ok(())
}

/// The pre-authentication limit: a one-policy limiter keyed by address.
fn compile_pre_auth(
    p: &PreAuthSettings,
    settings: &RateLimitSettings,
    route_names: &[&str],
    path: &str,
) -> Result<RateLimiter, ConfigError> {
    let at = format!("{path}.pre_auth");
    let inner = RateLimitSettings {
        policies: vec![PolicySettings {
            name: "pre_auth".to_string(),
            key: vec![KeyPartSettings::Ip],
            capacity: p.capacity,
            refill: p.refill.clone(),
            routes: Vec::new(),
            tiers: Vec::new(),
            monitor: false,
            kind: PolicyKind::Requests,
            slots: p.slots,
            currency: None,
            backend: Backend::Local,
            fail_mode: None,
        }],
        fail_mode: p.fail_mode,
        emit_headers: false,
        cas_retries: settings.cas_retries,
        client_ip: settings.client_ip.clone(),
        ..RateLimitSettings::default()
    };
    RateLimiter::compile_single(inner, route_names, &at)
}

fn check_policy_name(
    name: &str,
    policies: &[Policy],
    global_policies: &[global::GlobalPolicy],
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ConfigError::new(at("name"), "must be 1 to 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ConfigError::new(
            at("name"),
            "may contain only letters, digits, `_` and `-`",
        ));
    }
    if policies.iter().any(|q| q.name == name) || global_policies.iter().any(|q| q.name == name) {
        return Err(ConfigError::new(
            at("name"),
            format!("duplicate policy name `{name}`"),
        ));
    }
    Ok(())
}

/// A policy's key parts (header names lowercased). `at`: the policy's path.
fn compile_key(p: &PolicySettings, at: &str) -> Result<Vec<KeyPart>, ConfigError> {
    if p.key.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.key"),
            "must list at least one part",
        ));
    }
    let mut key = Vec::with_capacity(p.key.len());
    for (j, part) in p.key.iter().enumerate() {
        let at_part = format!("{at}.key[{j}]");
        key.push(match part {
            KeyPartSettings::Subject => KeyPart::Subject,
            KeyPartSettings::Ip => KeyPart::Ip,
            KeyPartSettings::Route => KeyPart::Route,
            KeyPartSettings::ApiKey(a) => {
                KeyPart::ApiKey(check_name(&a.header, "header", at_part)?.to_ascii_lowercase())
            }
            KeyPartSettings::Claim(c) => KeyPart::Claim(check_name(c, "claim", at_part)?),
            KeyPartSettings::Header(h) => {
                KeyPart::Header(check_name(h, "header", at_part)?.to_ascii_lowercase())
            }
            KeyPartSettings::Model if p.backend == Backend::Local => {
                return Err(ConfigError::new(
                    at_part,
                    "`model` is a key part of global policies only",
                ))
            }
            KeyPartSettings::Model => KeyPart::Model,
        });
    }
    Ok(key)
}

/// Every route a policy names exists. `at`: the policy's path.
fn check_routes(routes: &[String], route_names: &[&str], at: &str) -> Result<(), ConfigError> {
    for (j, r) in routes.iter().enumerate() {
        if !route_names.contains(&r.as_str()) {
            return Err(ConfigError::new(
                format!("{at}.routes[{j}]"),
                format!("no route named `{r}`"),
            ));
        }
    }
    Ok(())
}

fn check_slots(slots: u32, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if slots == 0 || slots > MAX_SLOTS {
        return Err(ConfigError::new(
            at("slots"),
            format!("must be between 1 and {MAX_SLOTS}"),
        ));
    }
    Ok(())
}

/// A `backend: global` policy, and its per-replica pre-limit when it has a
/// capacity (checked before the service is called).
fn compile_global_policy(
    p: PolicySettings,
    name: String,
    key: Vec<KeyPart>,
    fail_mode: FailMode,
    at: &dyn Fn(&str) -> String,
) -> Result<(Option<Policy>, global::GlobalPolicy), ConfigError> {
    if p.kind == PolicyKind::Cost {
        return Err(ConfigError::new(
            at("backend"),
            "`cost` policies are local only; the rate-limit service counts requests and tokens",
        ));
    }
    let mut tiers = Vec::with_capacity(p.tiers.len());
    for (j, t) in p.tiers.iter().enumerate() {
        let at_tier = |field: &str| at(&format!("tiers[{j}].{field}"));
        let when = compile_tier_when(t, &at_tier)?;
        let tier_name = match (&t.name, &when) {
            (Some(n), _) => check_name(n, "tier name", at_tier("name"))?,
            (None, TierWhen::Claim { equals, .. }) => equals.clone(),
            (None, TierWhen::Role(r)) => r.clone(),
        };
        tiers.push((when, tier_name));
    }
    let pre_limit = if p.capacity > 0 {
        check_slots(p.slots, at)?;
        Some(Policy {
            table: Table::new(&name, p.slots),
            name: name.clone(),
            key: key.clone(),
            rate: compile_rate(p.capacity, &p.refill, at)?,
            routes: p.routes.clone(),
            tiers: Vec::new(),
            monitor: false,
            kind: p.kind,
            pre_limit: true,
            currency: None,
        })
    } else {
        None
    };
    let global = global::GlobalPolicy {
        name,
        kind: p.kind,
        key,
        routes: p.routes,
        tiers,
        monitor: p.monitor,
        fail_mode: p.fail_mode.unwrap_or(fail_mode),
    };
    Ok((pre_limit, global))
}

/// A policy counted in this process's shared data.
fn compile_local_policy(
    p: PolicySettings,
    name: String,
    key: Vec<KeyPart>,
    models: &Models,
    at: &dyn Fn(&str) -> String,
) -> Result<Policy, ConfigError> {
    let rate = compile_rate(p.capacity, &p.refill, at)?;
    let mut tiers = Vec::with_capacity(p.tiers.len());
    for (j, t) in p.tiers.iter().enumerate() {
        let at_tier = |field: &str| at(&format!("tiers[{j}].{field}"));
        let when = compile_tier_when(t, &at_tier)?;
        tiers.push(Tier {
            when,
            rate: compile_rate(t.capacity, &t.refill, &at_tier)?,
        });
    }
    check_slots(p.slots, at)?;
    let currency = compile_currency(p.kind, p.currency.as_deref(), models, at)?;
    Ok(Policy {
        currency,
        table: Table::new(&name, p.slots),
        name,
        key,
        rate,
        routes: p.routes,
        tiers,
        monitor: p.monitor,
        kind: p.kind,
        pre_limit: false,
    })
}

/// A `cost` policy's currency code (uppercased); no other kind has one.
fn compile_currency(
    kind: PolicyKind,
    currency: Option<&str>,
    models: &Models,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<String>, ConfigError> {
    match (kind, currency) {
        (PolicyKind::Cost, Some(c))
            if (2..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            if !models.has_prices() {
                return Err(ConfigError::new(
                    at("kind"),
                    "a `cost` policy needs prices in rate_limit.models",
                ));
            }
            Ok(Some(c.to_ascii_uppercase()))
        }
        (PolicyKind::Cost, _) => Err(ConfigError::new(
            at("currency"),
            "a `cost` policy needs a currency code (2 to 8 letters, e.g. USD)",
        )),
        (_, Some(_)) => Err(ConfigError::new(
            at("currency"),
            "only a `cost` policy has a currency",
        )),
        (_, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
