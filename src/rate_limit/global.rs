//! The `global` backend: limits and LLM-token budgets shared by every
//! gateway replica, kept by a rate-limit service speaking Envoy's RLS v3
//! API (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`).
//!
//! Pure: this module builds the request message, and turns the answer (or
//! its absence) into a decision. The shell dispatches the gRPC call to the
//! configured cluster and hands the answer back.
//!
//! # Descriptors
//! Each applicable global policy adds one descriptor to the call:
//!
//! ```text
//! ("policy", <name>) [("tier", <tier name or "default">)] (<key part>, <value>)...
//! ```
//!
//! Key parts map to entries: `subject` → `("subject", sub)`, `ip` →
//! `("client_ip", "203.0.113.7")`, `route` → `("route", name)`, `model` →
//! `("model", model)`, `{"claim": "tenant"}` → `("tenant", value)`,
//! `{"header": "x-team"}` → `("x-team", value)`, `{"api_key": ..}` →
//! `("api_key", <hex fingerprint>)` (the raw key never leaves the filter).
//! The `tier` entry is present only on policies with tiers. The limits
//! themselves live in the service's configuration, in envoyproxy/ratelimit's
//! format (a `descriptors` tree per domain), which Limitador also reads
//! through its RLS front end.
//!
//! # Charging
//! Request policies send `hits_addend = 1`. Token budgets send the request's
//! estimate, then [`GlobalBackend::settle`] sends the difference when the
//! real usage exceeds it. RLS counters only go up (`hits_addend` is
//! unsigned), so an over-estimate is not refunded. Bounds per request:
//! - over-charge ≤ estimate − actual (the prompt estimate plus `max_tokens`
//!   × `n` minus what was used); with envoyproxy/ratelimit a refused
//!   estimate is counted too (it increments before comparing);
//! - under-charge ≤ actual − estimate, only when the settle call is lost
//!   (timeout, service down); with `cap_streams` a stream stops at its
//!   estimate, so it is then 0 for streams.
//!   A request that spans a window boundary is charged its estimate in one
//!   window and its settlement in the next.
//!
//! # Failure
//! A call that times out, fails, or answers garbage follows each policy's
//! `fail_mode`: any `closed` policy in the call refuses with 503
//! `rate_limit_unavailable`; when all are `open` the request is admitted
//! and the outcome counted.

use serde::Deserialize;

use super::global_proto::{
    self, Code, Descriptor, DescriptorStatus, RateLimitRequest, RateLimitResponse,
};
use super::headers::{self, QuotaView};
use super::key::{self, ClientIpSettings, KeyPart, RequestFacts};
use super::{FailMode, PolicyKind, TierWhen};
use crate::config::ConfigError;

/// Default call timeout: the issue's budget for a hop to the service.
pub const DEFAULT_TIMEOUT_MS: u64 = 50;
/// Largest accepted timeout.
pub const MAX_TIMEOUT_MS: u64 = 10_000;

/// Where the rate-limit service is: the `rate_limit.global` section.
///
/// ```json
/// "global": { "cluster": "ratelimit", "domain": "tollgate", "timeout_ms": 50 }
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalSettings {
    /// Envoy cluster of the rate-limit service (HTTP/2).
    pub cluster: String,
    /// RLS domain, the top of the service's descriptor tree.
    pub domain: String,
    /// Time allowed for one call; past it the fail mode applies.
    pub timeout_ms: u64,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        Self {
            cluster: String::new(),
            domain: "tollgate".into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

/// One compiled global policy.
#[derive(Debug, Clone)]
pub(super) struct GlobalPolicy {
    pub(super) name: String,
    pub(super) kind: PolicyKind,
    pub(super) key: Vec<KeyPart>,
    pub(super) routes: Vec<String>,
    pub(super) tiers: Vec<(TierWhen, String)>,
    pub(super) monitor: bool,
    pub(super) fail_mode: FailMode,
}

/// The compiled global backend: connection settings and global policies.
#[derive(Debug, Clone)]
pub struct GlobalBackend {
    cluster: String,
    domain: String,
    timeout_ms: u64,
    pub(super) policies: Vec<GlobalPolicy>,
}

/// One `ShouldRateLimit` call to make: what to send and how to read the answer.
/// A plain value the stream keeps until the answer comes (and, for budgets,
/// until it settles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalCheck {
    /// Request policies or token budgets.
    pub kind: PolicyKind,
    /// Indexes of the global policies, one per descriptor, in order.
    pub policies: Vec<usize>,
    /// Descriptors sent (kept to settle with the same ones).
    pub descriptors: Vec<Descriptor>,
    /// Hits charged to each descriptor.
    pub hits: u64,
}

/// What came back from a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A response message (gRPC status OK), without its gRPC frame.
    Message(&'a [u8]),
    /// The call failed with this gRPC status (14 unavailable, 4 deadline
    /// exceeded, ...), or could not be dispatched.
    Status(u32),
    /// No answer within the timeout.
    Timeout,
}

/// A failed call's reply. Envoy ends a call that ran out of its timeout as
/// UNAVAILABLE (14), the status a refused connection also gets; its message
/// (`upstream request timeout`, flag `response_timeout`) tells the two apart.
/// Without a message, the time waited decides (`pipeline::global::on_reply`),
/// which can misjudge: Envoy's timer may fire up to one event-loop iteration
/// early by the wall clock.
pub fn failure_reply(status: u32, status_message: Option<&str>) -> Reply<'static> {
    let timed_out = status_message.is_some_and(|m| {
        m.contains("{response_timeout}") || m.starts_with("upstream request timeout")
    });
    if status == 4 || timed_out {
        Reply::Timeout
    } else {
        Reply::Status(status)
    }
}

/// The decision for one global check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalOutcome {
    /// Every descriptor is under its limit (or monitor-only).
    Admitted {
        /// Quota views for the `RateLimit` headers, one per descriptor the
        /// service reported a limit for (monitor policies excluded).
        views: Vec<QuotaView>,
        /// Monitor-mode policies that would have refused.
        monitored: Vec<String>,
    },
    /// An enforced policy is over its limit: 429.
    Limited {
        /// The refusing policy.
        policy: String,
        /// Seconds until the window resets (at least 1).
        retry_after_s: u64,
        /// Its `RateLimit-Policy` / `RateLimit` headers.
        headers: Vec<(String, String)>,
    },
    /// The service could not answer.
    Failed {
        /// `timeout`, `grpc_status`, or `bad_response`.
        kind: &'static str,
        /// True when a `closed` policy was in the call: refuse with 503.
        closed: bool,
    },
}

impl GlobalBackend {
    pub(super) fn compile(
        settings: GlobalSettings,
        policies: Vec<GlobalPolicy>,
        path: &str,
    ) -> Result<Self, ConfigError> {
        let cluster = settings.cluster.trim();
        if cluster.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.cluster"),
                "must name the Envoy cluster of the rate-limit service",
            ));
        }
        let domain = settings.domain.trim();
        if domain.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.domain"),
                "must not be empty",
            ));
        }
        if settings.timeout_ms == 0 || settings.timeout_ms > MAX_TIMEOUT_MS {
            return Err(ConfigError::new(
                format!("{path}.timeout_ms"),
                format!("must be between 1 and {MAX_TIMEOUT_MS}"),
            ));
        }
        Ok(Self {
            cluster: cluster.to_string(),
            domain: domain.to_string(),
            timeout_ms: settings.timeout_ms,
            policies,
        })
    }

    /// Envoy cluster to call.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// gRPC service name.
    pub fn service(&self) -> &'static str {
        global_proto::SERVICE
    }

    /// gRPC method name.
    pub fn method(&self) -> &'static str {
        global_proto::METHOD
    }

    /// Call timeout in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    /// True when a global policy of `kind` exists.
    pub fn has(&self, kind: PolicyKind) -> bool {
        self.policies.iter().any(|p| p.kind == kind)
    }

    /// True when a global token budget applies to `route`.
    pub fn budgets_route(&self, route: &str) -> bool {
        self.policies.iter().any(|p| {
            p.kind == PolicyKind::LlmTokens
                && (p.routes.is_empty() || p.routes.iter().any(|r| r == route))
        })
    }

    /// Policy names, in configuration order (for metrics).
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// The check for a request: one descriptor per applicable policy of
    /// `kind` whose key parts are all present; `None` when none applies.
    /// `model` is the request's model, known once the body is read.
    pub fn check(
        &self,
        kind: PolicyKind,
        facts: &RequestFacts,
        model: Option<&str>,
        client_ip: &ClientIpSettings,
        hits: u64,
    ) -> Option<GlobalCheck> {
        let mut check = GlobalCheck {
            kind,
            policies: Vec::new(),
            descriptors: Vec::new(),
            hits,
        };
        for (i, p) in self.policies.iter().enumerate() {
            if p.kind != kind || !(p.routes.is_empty() || p.routes.iter().any(|r| r == facts.route))
            {
                continue;
            }
            if let Some(d) = descriptor(p, facts, model, client_ip) {
                check.policies.push(i);
                check.descriptors.push(d);
            }
        }
        (!check.policies.is_empty()).then_some(check)
    }

    /// The `RateLimitRequest` bytes for `check`.
    pub fn message(&self, check: &GlobalCheck) -> Vec<u8> {
        self.message_with_hits(check, check.hits)
    }

    fn message_with_hits(&self, check: &GlobalCheck, hits: u64) -> Vec<u8> {
        RateLimitRequest {
            domain: self.domain.clone(),
            descriptors: check.descriptors.clone(),
            // Larger than a u32 can say: send the most it can (over any
            // sane limit, so still refused).
            hits_addend: u32::try_from(hits.max(1)).unwrap_or(u32::MAX),
        }
        .encode()
    }

    /// The settle call for a token budget: the real total minus what the
    /// check charged, when positive. `None` when nothing is owed (an
    /// over-estimate cannot be refunded: RLS counters only go up).
    pub fn settle(&self, check: &GlobalCheck, actual_total: u64) -> Option<Vec<u8>> {
        let owed = actual_total.checked_sub(check.hits).filter(|&d| d > 0)?;
        Some(self.message_with_hits(check, owed))
    }

    /// Turns the service's answer (or its absence) into a decision.
    pub fn decide(&self, check: &GlobalCheck, reply: Reply<'_>) -> GlobalOutcome {
        let resp = match reply {
            Reply::Message(bytes) => match RateLimitResponse::decode(bytes) {
                Ok(r) if r.overall_code != Code::Unknown => r,
                _ => return self.failed(check, "bad_response"),
            },
            // DEADLINE_EXCEEDED: Envoy's own timeout of the call.
            Reply::Status(4) => return self.failed(check, "timeout"),
            Reply::Status(_) => return self.failed(check, "grpc_status"),
            Reply::Timeout => return self.failed(check, "timeout"),
        };
        let mut views = Vec::new();
        let mut monitored = Vec::new();
        let mut refusal: Option<(&GlobalPolicy, Option<&DescriptorStatus>)> = None;
        for (n, &index) in check.policies.iter().enumerate() {
            let Some(p) = self.policies.get(index) else {
                continue;
            };
            let status = resp.statuses.get(n);
            let over = match status {
                Some(s) => s.code == Code::OverLimit,
                // A server that sends no statuses: only the overall code.
                None => resp.statuses.is_empty() && resp.overall_code == Code::OverLimit,
            };
            if over && p.monitor {
                monitored.push(p.name.clone());
            } else if over {
                refusal.get_or_insert((p, status));
            } else if !p.monitor {
                if let Some(v) = status.and_then(|s| view(p, s)) {
                    views.push(v);
                }
            }
        }
        if let Some((p, status)) = refusal {
            let retry_ms = status.and_then(|s| {
                s.until_reset_ms.or_else(|| {
                    s.current_limit
                        .as_ref()
                        .map(|l| l.unit.seconds().saturating_mul(1000))
                })
            });
            let retry_after_s = headers::ceil_s(retry_ms.unwrap_or(1000)).max(1);
            let headers = status
                .and_then(|s| view(p, s))
                .map(|mut v| {
                    v.remaining = 0;
                    v.reset_s = retry_after_s;
                    headers::render(&[v])
                })
                .unwrap_or_default();
            return GlobalOutcome::Limited {
                policy: p.name.clone(),
                retry_after_s,
                headers,
            };
        }
        GlobalOutcome::Admitted { views, monitored }
    }

    fn failed(&self, check: &GlobalCheck, kind: &'static str) -> GlobalOutcome {
        let closed = check.policies.iter().any(|&i| {
            self.policies
                .get(i)
                .is_some_and(|p| p.fail_mode == FailMode::Closed && !p.monitor)
        });
        GlobalOutcome::Failed { kind, closed }
    }
}

/// The quota view of one status, when the service reported a limit.
fn view(p: &GlobalPolicy, s: &DescriptorStatus) -> Option<QuotaView> {
    let limit = s.current_limit.as_ref()?;
    Some(QuotaView {
        name: p.name.clone(),
        quota: u64::from(limit.requests_per_unit),
        window_s: limit.unit.seconds(),
        remaining: u64::from(s.limit_remaining),
        reset_s: headers::ceil_s(s.until_reset_ms.unwrap_or(0)),
        tokens: p.kind == PolicyKind::LlmTokens,
        currency: None,
    })
}

/// The descriptor of policy `p` for a request, or `None` when a key part is
/// missing (the policy then does not apply, as for local policies).
fn descriptor(
    p: &GlobalPolicy,
    facts: &RequestFacts,
    model: Option<&str>,
    client_ip: &ClientIpSettings,
) -> Option<Descriptor> {
    let mut entries = Vec::with_capacity(p.key.len() + 2);
    entries.push(("policy".to_string(), p.name.clone()));
    if !p.tiers.is_empty() {
        let tier = p
            .tiers
            .iter()
            .find(|(when, _)| when.matches(facts))
            .map_or("default", |(_, name)| name.as_str());
        entries.push(("tier".to_string(), tier.to_string()));
    }
    let present = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    };
    for part in &p.key {
        let entry = match part {
            KeyPart::Subject => ("subject".to_string(), present(facts.subject?)?),
            KeyPart::Ip => (
                "client_ip".to_string(),
                key::client_ip(facts, client_ip)?.to_string(),
            ),
            KeyPart::Route => ("route".to_string(), facts.route.to_string()),
            KeyPart::Model => ("model".to_string(), present(model?)?),
            KeyPart::ApiKey(h) => {
                let mut f = key::Fnv::new();
                f.field(present(facts.header(h)?)?.as_bytes());
                ("api_key".to_string(), format!("{:016x}", f.finish()))
            }
            KeyPart::Claim(c) => (c.clone(), present(&facts.claim_text(c)?)?),
            KeyPart::Header(h) => (h.clone(), present(facts.header(h)?)?),
        };
        entries.push(entry);
    }
    Some(Descriptor { entries })
}

/// `RateLimit-Policy` / `RateLimit` for local and global views together:
/// each header's lists are joined, local policies first.
pub fn merge_headers(
    mut local: Vec<(String, String)>,
    global: &[QuotaView],
) -> Vec<(String, String)> {
    let extra = headers::render(global);
    if local.is_empty() {
        return extra;
    }
    for (name, value) in extra {
        match local.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => local.push((name, value)),
        }
    }
    local
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::global_proto::{Limit, Unit};
    use super::super::{RateLimitSettings, RateLimiter};
    use super::*;

    const ROUTES: &[&str] = &["chat", "models"];

    fn limiter(config: serde_json::Value) -> RateLimiter {
        let settings: RateLimitSettings = serde_json::from_value(config).unwrap();
        RateLimiter::compile(settings, ROUTES, "rate_limit").unwrap()
    }

    fn compile_err(config: serde_json::Value) -> ConfigError {
        let settings: RateLimitSettings = serde_json::from_value(config).unwrap();
        RateLimiter::compile(settings, ROUTES, "rate_limit").unwrap_err()
    }

    fn demo() -> RateLimiter {
        limiter(json!({
            "global": {"cluster": "ratelimit"},
            "policies": [
                {"name": "burst", "backend": "global", "key": ["subject"]},
                {"name": "daily_tokens", "backend": "global", "kind": "llm_tokens",
                 "key": [{"claim": "tenant"}, "model"], "fail_mode": "open",
                 "tiers": [{"when": {"claim": "plan", "equals": "pro"}, "name": "pro"}]},
                {"name": "per_ip", "backend": "global", "key": ["ip", "route", {"header": "x-team"},
                 {"api_key": {"header": "x-api-key"}}], "routes": ["models"], "monitor": true},
            ]
        }))
    }

    struct Req {
        claims: serde_json::Map<String, serde_json::Value>,
        headers: Vec<(String, String)>,
        route: &'static str,
        sub: Option<&'static str>,
    }

    impl Req {
        fn new() -> Self {
            Self {
                claims: serde_json::from_value(json!({"tenant": "acme", "plan": "pro"})).unwrap(),
                headers: vec![
                    ("X-Team".into(), "blue".into()),
                    ("x-api-key".into(), "sk-secret".into()),
                ],
                route: "chat",
                sub: Some("alice"),
            }
        }

        fn facts(&self) -> RequestFacts<'_> {
            RequestFacts {
                subject: self.sub,
                claims: Some(&self.claims),
                roles: &[],
                route: self.route,
                peer_ip: Some("203.0.113.7:5555"),
                headers: &self.headers,
            }
        }
    }

    fn entries(d: &Descriptor) -> Vec<(&str, &str)> {
        d.entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn ok_status(limit: u32, unit: Unit, remaining: u32, reset_ms: u64) -> DescriptorStatus {
        DescriptorStatus {
            code: Code::Ok,
            current_limit: Some(Limit {
                name: String::new(),
                requests_per_unit: limit,
                unit,
            }),
            limit_remaining: remaining,
            until_reset_ms: Some(reset_ms),
        }
    }

    fn answer(statuses: Vec<DescriptorStatus>) -> Vec<u8> {
        let over = statuses.iter().any(|s| s.code == Code::OverLimit);
        RateLimitResponse {
            overall_code: if over { Code::OverLimit } else { Code::Ok },
            statuses,
        }
        .encode()
    }

    #[test]
    fn request_policy_descriptor_is_policy_then_key_parts() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        assert_eq!(c.policies, vec![0]);
        assert_eq!(
            entries(&c.descriptors[0]),
            vec![("policy", "burst"), ("subject", "alice")]
        );
    }

    #[test]
    fn budget_descriptor_carries_tier_claim_and_model() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::LlmTokens,
                &r.facts(),
                Some("gpt-x"),
                rl.client_ip_settings(),
                900,
            )
            .unwrap();
        assert_eq!(
            entries(&c.descriptors[0]),
            vec![
                ("policy", "daily_tokens"),
                ("tier", "pro"),
                ("tenant", "acme"),
                ("model", "gpt-x")
            ]
        );
        assert_eq!(c.hits, 900);
        let mut free = Req::new();
        free.claims.remove("plan");
        let c = g
            .check(
                PolicyKind::LlmTokens,
                &free.facts(),
                Some("m"),
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        assert_eq!(entries(&c.descriptors[0])[1], ("tier", "default"));
    }

    #[test]
    fn ip_route_header_and_hashed_api_key_entries() {
        let rl = demo();
        let g = rl.global().unwrap();
        let mut r = Req::new();
        r.route = "models";
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        assert_eq!(c.policies, vec![0, 2]);
        let e = entries(&c.descriptors[1]);
        assert_eq!(
            &e[..4],
            &[
                ("policy", "per_ip"),
                ("client_ip", "203.0.113.7"),
                ("route", "models"),
                ("x-team", "blue")
            ]
        );
        assert_eq!(e[4].0, "api_key");
        assert_eq!(e[4].1.len(), 16);
        assert!(!e[4].1.contains("secret"));
    }

    #[test]
    fn a_missing_key_part_drops_the_policy_from_the_call() {
        let rl = demo();
        let g = rl.global().unwrap();
        let mut r = Req::new();
        r.sub = None;
        assert_eq!(
            g.check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1
            ),
            None
        );
        // No model yet: the budget keyed on the model does not apply.
        assert_eq!(
            g.check(
                PolicyKind::LlmTokens,
                &Req::new().facts(),
                None,
                rl.client_ip_settings(),
                1
            ),
            None
        );
    }

    #[test]
    fn message_is_a_ratelimit_request_with_the_domain_and_hits() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::LlmTokens,
                &r.facts(),
                Some("m"),
                rl.client_ip_settings(),
                1234,
            )
            .unwrap();
        let sent = RateLimitRequest::decode(&g.message(&c)).unwrap();
        assert_eq!(sent.domain, "tollgate");
        assert_eq!(sent.hits_addend, 1234);
        assert_eq!(sent.descriptors, c.descriptors);
    }

    #[test]
    fn settle_sends_only_a_positive_difference() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::LlmTokens,
                &r.facts(),
                Some("m"),
                rl.client_ip_settings(),
                500,
            )
            .unwrap();
        let s = RateLimitRequest::decode(&g.settle(&c, 740).unwrap()).unwrap();
        assert_eq!(s.hits_addend, 240);
        assert_eq!(s.descriptors, c.descriptors);
        assert_eq!(g.settle(&c, 500), None);
        assert_eq!(g.settle(&c, 120), None, "an over-estimate is not refunded");
    }

    #[test]
    fn huge_hits_saturate_and_zero_hits_still_count_one() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let mut c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                u64::MAX,
            )
            .unwrap();
        assert_eq!(
            RateLimitRequest::decode(&g.message(&c))
                .unwrap()
                .hits_addend,
            u32::MAX
        );
        c.hits = 0;
        assert_eq!(
            RateLimitRequest::decode(&g.message(&c))
                .unwrap()
                .hits_addend,
            1
        );
    }

    #[test]
    fn under_limit_admits_with_views_from_the_statuses() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let bytes = answer(vec![ok_status(10, Unit::Minute, 7, 41_200)]);
        let out = g.decide(&c, Reply::Message(&bytes));
        assert_eq!(
            out,
            GlobalOutcome::Admitted {
                views: vec![QuotaView {
                    name: "burst".into(),
                    quota: 10,
                    window_s: 60,
                    remaining: 7,
                    reset_s: 42,
                    tokens: false,
                    currency: None,
                }],
                monitored: vec![]
            }
        );
    }

    #[test]
    fn over_limit_refuses_with_retry_after_from_the_reset() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let mut s = ok_status(10, Unit::Minute, 0, 12_001);
        s.code = Code::OverLimit;
        let bytes = answer(vec![s]);
        match g.decide(&c, Reply::Message(&bytes)) {
            GlobalOutcome::Limited {
                policy,
                retry_after_s,
                headers,
            } => {
                assert_eq!(policy, "burst");
                assert_eq!(retry_after_s, 13);
                assert_eq!(headers[1].1, "\"burst\";r=0;t=13");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_monitor_policy_over_its_limit_is_reported_not_enforced() {
        let rl = demo();
        let g = rl.global().unwrap();
        let mut r = Req::new();
        r.route = "models";
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let mut over = ok_status(5, Unit::Second, 0, 300);
        over.code = Code::OverLimit;
        let bytes = answer(vec![ok_status(10, Unit::Minute, 3, 1_000), over]);
        match g.decide(&c, Reply::Message(&bytes)) {
            GlobalOutcome::Admitted { views, monitored } => {
                assert_eq!(monitored, vec!["per_ip".to_string()]);
                assert_eq!(views.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_limit_configured_for_a_descriptor_admits_without_a_view() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let bytes = answer(vec![DescriptorStatus {
            code: Code::Ok,
            ..Default::default()
        }]);
        assert_eq!(
            g.decide(&c, Reply::Message(&bytes)),
            GlobalOutcome::Admitted {
                views: vec![],
                monitored: vec![]
            }
        );
    }

    #[test]
    fn overall_over_limit_without_statuses_refuses() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let bytes = RateLimitResponse {
            overall_code: Code::OverLimit,
            statuses: vec![],
        }
        .encode();
        assert!(matches!(
            g.decide(&c, Reply::Message(&bytes)),
            GlobalOutcome::Limited {
                retry_after_s: 1,
                ..
            }
        ));
    }

    #[test]
    fn failures_follow_the_fail_mode_of_the_policies_in_the_call() {
        let rl = demo();
        let g = rl.global().unwrap();
        let r = Req::new();
        let closed = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        let open = g
            .check(
                PolicyKind::LlmTokens,
                &r.facts(),
                Some("m"),
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        for (reply, kind) in [
            (Reply::Timeout, "timeout"),
            (Reply::Status(14), "grpc_status"),
            (Reply::Status(4), "timeout"),
            (Reply::Message(&[0x12, 9, 1]), "bad_response"),
            (Reply::Message(&[]), "bad_response"),
        ] {
            assert_eq!(
                g.decide(&closed, reply),
                GlobalOutcome::Failed { kind, closed: true }
            );
            assert_eq!(
                g.decide(&open, reply),
                GlobalOutcome::Failed {
                    kind,
                    closed: false
                }
            );
        }
    }

    #[test]
    fn section_fail_mode_is_the_default_of_each_policy() {
        let rl = limiter(json!({
            "global": {"cluster": "rls"}, "fail_mode": "open",
            "policies": [{"name": "a", "backend": "global", "key": ["subject"]}]
        }));
        let g = rl.global().unwrap();
        let r = Req::new();
        let c = g
            .check(
                PolicyKind::Requests,
                &r.facts(),
                None,
                rl.client_ip_settings(),
                1,
            )
            .unwrap();
        assert_eq!(
            g.decide(&c, Reply::Timeout),
            GlobalOutcome::Failed {
                kind: "timeout",
                closed: false
            }
        );
    }

    #[test]
    fn a_global_budget_makes_its_routes_read_the_body() {
        let rl = limiter(json!({
            "global": {"cluster": "rls"},
            "policies": [{"name": "t", "backend": "global", "kind": "llm_tokens",
                          "key": ["subject"], "routes": ["chat"]}]
        }));
        assert!(rl.budgets_route("chat"));
        assert!(!rl.budgets_route("models"));
        assert!(rl.has_token_budgets());
        assert!(!rl.is_empty());
    }

    #[test]
    fn envoy_s_own_timeout_is_told_from_other_failures_by_its_message() {
        use super::failure_reply;
        assert_eq!(failure_reply(4, None), Reply::Timeout);
        assert_eq!(
            failure_reply(14, Some("upstream request timeout{response_timeout}")),
            Reply::Timeout
        );
        assert_eq!(
            failure_reply(14, Some("upstream request timeout")),
            Reply::Timeout
        );
        assert_eq!(failure_reply(14, None), Reply::Status(14));
        assert_eq!(
            failure_reply(14, Some("redis connect 127.0.0.1:1: Connection refused")),
            Reply::Status(14)
        );
        assert_eq!(failure_reply(13, Some("")), Reply::Status(13));
    }

    #[test]
    fn timeout_defaults_to_50_ms() {
        let rl = demo();
        let g = rl.global().unwrap();
        assert_eq!(g.timeout_ms(), 50);
        assert_eq!(g.cluster(), "ratelimit");
        assert_eq!(g.service(), "envoy.service.ratelimit.v3.RateLimitService");
        assert_eq!(g.method(), "ShouldRateLimit");
    }

    #[test]
    fn config_errors_name_the_field() {
        let cases = [
            (
                json!({"policies": [{"name": "a", "backend": "global", "key": ["subject"]}]}),
                "rate_limit.global",
            ),
            (
                json!({"global": {"cluster": " "}}),
                "rate_limit.global.cluster",
            ),
            (
                json!({"global": {"cluster": "c", "timeout_ms": 0}}),
                "rate_limit.global.timeout_ms",
            ),
            (
                json!({"global": {"cluster": "c", "domain": ""}}),
                "rate_limit.global.domain",
            ),
            (
                json!({"policies": [{"name": "a", "key": ["model"], "capacity": 1,
                     "refill": {"tokens": 1, "per_s": 1}}]}),
                "rate_limit.policies[0].key[0]",
            ),
            (
                json!({"global": {"cluster": "c"}, "policies": [
                {"name": "a", "backend": "global", "key": ["subject"]},
                {"name": "a", "key": ["subject"], "capacity": 1, "refill": {"tokens": 1, "per_s": 1}}]}),
                "rate_limit.policies[1].name",
            ),
        ];
        for (config, path) in cases {
            assert_eq!(compile_err(config.clone()).path, path, "{config}");
        }
    }

    #[test]
    fn a_global_policy_with_capacity_gets_a_local_pre_limit() {
        let rl = limiter(json!({
            "global": {"cluster": "rls"},
            "policies": [{"name": "a", "backend": "global", "key": ["subject"], "capacity": 2,
                          "refill": {"tokens": 1, "per_s": 60}}]
        }));
        let store = super::super::MemoryStore::new();
        let r = Req::new();
        let facts = r.facts();
        let first = rl.check_requests(&store, &facts, 0);
        assert!(
            matches!(&first, super::super::Outcome::Admitted { headers, .. } if headers.is_empty()),
            "a pre-limit adds no header of its own: {first:?}"
        );
        assert!(matches!(
            rl.check_requests(&store, &facts, 0),
            super::super::Outcome::Admitted { .. }
        ));
        assert!(matches!(
            rl.check_requests(&store, &facts, 0),
            super::super::Outcome::Limited { .. }
        ));
        assert!(rl.global().unwrap().has(PolicyKind::Requests));
    }

    #[test]
    fn global_views_join_local_headers() {
        let local = vec![
            ("ratelimit-policy".to_string(), "\"l\";q=1;w=1".to_string()),
            ("ratelimit".to_string(), "\"l\";r=0;t=1".to_string()),
        ];
        let v = QuotaView {
            name: "g".into(),
            quota: 5,
            window_s: 60,
            remaining: 4,
            reset_s: 9,
            tokens: true,
            currency: None,
        };
        let h = merge_headers(local, std::slice::from_ref(&v));
        assert_eq!(h[0].1, "\"l\";q=1;w=1, \"g\";q=5;w=60;qu=\"tokens\"");
        assert_eq!(h[1].1, "\"l\";r=0;t=1, \"g\";r=4;t=9");
        assert_eq!(merge_headers(Vec::new(), &[v]).len(), 2);
        assert!(merge_headers(Vec::new(), &[]).is_empty());
    }
}
