//! The per-stream decisions, as pure functions returning a step for the
//! host shell to carry out.
//!
//! The host reads what Envoy offers (headers, `now_ms`, peer address),
//! calls in here, and applies the result. Nothing in this module calls the
//! host, so whole streams can be driven from native tests.

pub mod global;
pub mod request;
pub mod response;
pub mod stream;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::audit::AuditRecord;
use crate::auth::{AuthError, AuthState, Identity, Verdict};
use crate::config::Config;
use crate::decision::{Denial, ErrorShape};
use crate::metrics::{self, Metrics};
use crate::rate_limit::{
    self, Estimate, FailMode, Outcome, RequestFacts, Reservation, SharedStore,
};
use crate::redaction::{Counts, ProfileId};
use crate::route::{AuthRequirement, Matched, Route};

pub use stream::{Call, Forward, Phase, Step};

/// What the host knows about a request when its headers arrive.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`, including the query string.
    pub path: &'a str,
    /// All request headers, names lowercase (pseudo-headers included).
    pub headers: &'a [(String, String)],
    /// The connection's source address, `ip:port`.
    pub peer_address: Option<&'a str>,
    /// True when the request has no body.
    pub end_of_stream: bool,
    /// The downstream connection's TLS version (`TLSv1.3`; Envoy's
    /// `connection.tls_version`), `None` on plaintext. The host reads it only
    /// when some route sets `require_tls` ([`crate::route::Routes::requires_tls`]).
    pub tls_version: Option<&'a str>,
}

/// The per-worker services a phase may use, and the time.
pub struct Env<'a> {
    /// Remote key sets and the verified-token cache.
    pub auth: &'a mut AuthState,
    /// Shared data, seen by every worker.
    pub store: &'a dyn SharedStore,
    /// Counters and histograms.
    pub metrics: &'a mut dyn Metrics,
    /// Envoy's clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Edits the host applies to the request headers before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers to remove (lowercase names).
    pub remove: Vec<String>,
    /// Headers to set, replacing any value the client sent.
    pub set: Vec<(String, String)>,
}

/// What the host does after the request headers.
#[derive(Debug)]
pub enum HeadersStep {
    /// Forward the request with these edits.
    Continue(HeaderEdits),
    /// Answer locally.
    Deny(Denial),
    /// Fetch the provider's remote JWKS, then run the headers phase again.
    FetchKeys {
        /// Provider index.
        provider: usize,
    },
    /// Call the rate-limit service for the global request policies; the
    /// edits go with the request if its answer admits it.
    CallRateLimit {
        /// Edits for the request headers.
        edits: HeaderEdits,
        /// The call.
        call: global::RateLimitCall,
    },
}

/// How authentication ended for a stream (for logs, metrics, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthOutcome {
    /// Not decided yet.
    #[default]
    Pending,
    /// The route needs no token.
    NotRequired,
    /// No token on a route where one is optional.
    Anonymous,
    /// A valid token.
    Verified,
    /// Refused, with this code.
    Denied(&'static str),
}

impl AuthOutcome {
    /// The word used in the audit line.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthOutcome::Pending => "pending",
            AuthOutcome::NotRequired => "not_required",
            AuthOutcome::Anonymous => "anonymous",
            AuthOutcome::Verified => "verified",
            AuthOutcome::Denied(code) => code,
        }
    }
}

/// What one stream has learnt so far; owned by the host's stream context.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Where the stream is in its life; only [`stream`] moves it.
    pub(crate) phase: Phase,
    /// Request body bytes the host has buffered so far.
    pub(crate) body_bytes: usize,
    /// Lines for the host's log (a failed JWKS fetch); drained by the shell.
    pub warnings: Vec<String>,
    /// `:method` of the request.
    pub method: String,
    /// `:path` of the request (the audit line drops its query).
    pub path: String,
    /// `x-request-id`, when Envoy or the client set one.
    pub request_id: Option<String>,
    /// Client IP as the rate limiter sees it (peer, or `X-Forwarded-For` when trusted;
    /// IPv6 grouped by the configured prefix).
    pub client_ip: Option<String>,
    /// Nanoseconds spent inside the filter's callbacks, by [`Stage`].
    pub phase_ns: [u64; 4],
    /// Name of the matched route.
    pub route: Option<String>,
    /// The verified caller.
    pub identity: Option<Identity>,
    /// The authentication outcome.
    pub auth: AuthOutcome,
    /// Set once a JWKS fetch was made for this stream, so a second miss is final.
    pub fetched_keys: bool,
    /// Headers to add to the upstream's response (quota headers).
    pub response_headers: Vec<(String, String)>,
    /// The stream's code when the filter refused it (any stage).
    pub denied: Option<&'static str>,
    /// Audit sections (each a JSON object) added by the stages after authentication.
    pub audit: BTreeMap<String, Map<String, Value>>,
    /// Set while the request body must be read.
    pub body: Option<request::BodyPlan>,
    /// Request headers, kept only while the body is awaited (the budget keys on them).
    pub request_headers: Vec<(String, String)>,
    /// The connection's source address, kept with the headers.
    pub peer_address: Option<String>,
    /// LLM tokens reserved for this request, settled in [`on_log`].
    pub reservations: Vec<Reservation>,
    /// The estimate that was reserved.
    pub estimate: Option<Estimate>,
    /// How the response is handled.
    pub response: Option<response::ResponseState>,
    /// Redactions made, by entity.
    pub redactions: Counts,
    /// The redaction profile for this route and caller, decided once the
    /// request is authenticated; `None`: nothing is redacted.
    pub redaction_profile: Option<ProfileId>,
    /// Global (rate-limit service) checks of this stream.
    pub global: global::GlobalState,
    /// The global budget's settle call, for the host to send after [`on_log`].
    pub settle_call: Option<global::RateLimitCall>,
    /// The MCP exchange, on a route in front of an MCP server.
    pub mcp: Option<crate::mcp::Exchange>,
    /// The error shape of this stream's refusals (the route's, else by path).
    pub error_shape: ErrorShape,
    /// Model and timings for the GenAI metrics.
    pub genai: metrics::GenAiTiming,
}

/// A stage of the stream, for the filter-time histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Request headers (routing, auth, limits; also a JWKS refetch).
    RequestHeaders = 0,
    /// Request body (screening, budget reservation).
    RequestBody = 1,
    /// Response headers.
    ResponseHeaders = 2,
    /// Response body (redaction, usage).
    ResponseBody = 3,
}

impl StreamState {
    /// Where the stream is in its life.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Request body bytes the host has buffered so far.
    pub fn body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Adds time spent in a stage.
    pub fn add_time(&mut self, phase: Stage, ns: u64) {
        if let Some(t) = self.phase_ns.get_mut(phase as usize) {
            *t = t.saturating_add(ns);
        }
    }

    /// Total time spent in the filter, nanoseconds.
    pub fn filter_ns(&self) -> u64 {
        self.phase_ns.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// An audit section by name, created when missing.
    pub fn audit_section(&mut self, name: &str) -> &mut Map<String, Value> {
        self.audit.entry(name.to_string()).or_default()
    }

    /// Records a one-word note under `section.note`.
    pub fn audit_note(&mut self, section: &str, note: &str) {
        self.audit_section(section)
            .insert("note".into(), json!(note));
    }
}

/// Runs route matching, authentication, authorization and request limits on
/// the request headers.
///
/// Idempotent until it returns a final step: after a JWKS fetch the state
/// machine ([`stream`]) calls it again with the same head. Final outcomes
/// are counted.
pub(crate) fn on_request_headers(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> HeadersStep {
    if stream.method.is_empty() {
        stream.method = head.method.to_string();
        stream.path = head.path.to_string();
        stream.request_id = header(head.headers, "x-request-id").map(str::to_string);
        stream.error_shape = ErrorShape::for_path(head.path);
        stream.genai.started_ms = env.now_ms;
        let facts = RequestFacts {
            subject: None,
            claims: None,
            roles: &[],
            route: "",
            peer_ip: head.peer_address,
            headers: head.headers,
        };
        stream.client_ip = rate_limit::client_ip(&facts, config.rate_limit.client_ip_settings())
            .map(|ip| ip.to_string());
    }
    if let Some(document) = config.mcp.metadata_response(head.method, head.path) {
        // RFC 9728 metadata: public, answered before routing.
        stream.auth = AuthOutcome::NotRequired;
        stream.audit_note("mcp", "resource_metadata");
        return HeadersStep::Deny(document);
    }
    let step = authenticate(config, env, head, stream);
    let step = mcp_resource(config, stream, step);
    match stream.auth {
        AuthOutcome::Denied(code) => env.metrics.count(&metrics::auth_denied(code), 1),
        AuthOutcome::Pending => {}
        AuthOutcome::NotRequired | AuthOutcome::Anonymous | AuthOutcome::Verified => {
            env.metrics.count(metrics::AUTH_ALLOWED, 1)
        }
    }
    let step = match step {
        HeadersStep::Continue(edits) => {
            // Route and caller are final here: pick the redaction profile once.
            stream.redaction_profile = response::redaction_profile(config, stream);
            match limit_requests(config, env, head, stream)
                .or_else(|| request::plan(config, head, stream))
            {
                Some(denial) => HeadersStep::Deny(denial),
                None => match global_requests(config, head, stream, env.now_ms) {
                    Some(call) => HeadersStep::CallRateLimit { edits, call },
                    None => HeadersStep::Continue(edits),
                },
            }
        }
        other => other,
    };
    let mut step = step;
    match &mut step {
        HeadersStep::Deny(_) => {}
        HeadersStep::Continue(edits) | HeadersStep::CallRateLimit { edits, .. } => {
            if config.screening.enabled()
                && header(head.headers, request::SCREENING_HEADER).is_some()
            {
                // Only the filter may say a prompt was flagged.
                edits.remove.push(request::SCREENING_HEADER.to_string());
            }
            if stream
                .body
                .is_some_and(|plan| plan.redact.is_some() || plan.mcp)
            {
                // The prompt (or an MCP batch) may be rewritten.
                edits.remove.push("content-length".to_string());
            }
            if stream.redaction_profile.is_some() || stream.mcp.is_some() {
                // Compressed answers cannot be redacted: ask for plain ones.
                edits
                    .set
                    .push(("accept-encoding".to_string(), "identity".to_string()));
            }
        }
        HeadersStep::FetchKeys { .. } => {}
    }
    step
}

fn authenticate(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> HeadersStep {
    let route = match admit_route(config, env, head, stream) {
        Ok(route) => route,
        Err(step) => return step,
    };
    let mut edits = request_edits(config, head, route);
    if route.auth == AuthRequirement::None {
        stream.auth = AuthOutcome::NotRequired;
        return HeadersStep::Continue(edits);
    }
    let token = match config.auth.extract_token(head.headers, head.path) {
        Ok(Some(token)) => token,
        Ok(None) if route.auth == AuthRequirement::Optional => {
            stream.auth = AuthOutcome::Anonymous;
            return HeadersStep::Continue(edits);
        }
        Ok(None) => return deny_auth(stream, &AuthError::Missing),
        Err(err) => return deny_auth(stream, &err),
    };
    let identity = match verify(config, env, head, stream, &token, route) {
        Ok(identity) => identity,
        Err(step) => return step,
    };
    let authorized = route.roles.satisfied_by(&identity.roles);
    if authorized {
        forward_edits(config, head, &identity, &token, &mut edits);
    }
    // Kept on refusal too: the audit line names (a hash of) who was refused.
    stream.identity = Some(identity);
    if !authorized {
        stream.auth = AuthOutcome::Denied("forbidden_role");
        return HeadersStep::Deny(Denial::forbidden_role());
    }
    stream.auth = AuthOutcome::Verified;
    HeadersStep::Continue(edits)
}

/// Finds the route and checks what needs no token: the path's form and the
/// connection's TLS.
// The error is the step itself, returned at once by the caller: once per request.
#[allow(clippy::result_large_err)]
fn admit_route<'c>(
    config: &'c Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> Result<&'c Route, HeadersStep> {
    let route = match config.routes.find(head.method, head.path) {
        Matched::Route(route) => route,
        Matched::Denied => {
            stream.auth = AuthOutcome::Denied("route_not_found");
            return Err(HeadersStep::Deny(Denial::route_not_found()));
        }
    };
    stream.route = Some(route.name.clone());
    if let Some(shape) = route.error_format {
        stream.error_shape = shape;
    }
    if let Err(reason) = config.routes.check_path(route, head.path) {
        stream.auth = AuthOutcome::Denied("invalid_path");
        return Err(HeadersStep::Deny(Denial::invalid_request(
            "invalid_path",
            format!("{reason}; send the normalised path"),
        )));
    }
    if let Some(require) = route.require_tls {
        if let Err(denial) = require.check(head.tls_version) {
            env.metrics.count(&metrics::tls_refused(&route.name), 1);
            let section = stream.audit_section("tls");
            section.insert("required".into(), json!(require.min_version.as_str()));
            section.insert("got".into(), json!(head.tls_version.unwrap_or("plaintext")));
            return Err(HeadersStep::Deny(denial));
        }
    }
    Ok(route)
}

/// The header edits every admitted request gets, authenticated or not.
fn request_edits(config: &Config, head: &RequestHead<'_>, route: &Route) -> HeaderEdits {
    // Claim headers are ours alone: drop whatever the client sent under those
    // names on every request, authenticated or not; so are method-override
    // and URL-rewrite headers. Only names actually sent are removed, so a
    // clean request costs no host call here.
    let mut edits = HeaderEdits {
        remove: config
            .auth
            .forwarded_header_names()
            .iter()
            .chain(config.routes.strip_headers())
            .filter(|name| header(head.headers, name).is_some())
            .cloned()
            .collect(),
        set: Vec::new(),
    };
    if let Some((name, value)) = config.auth.upstream_credential() {
        // The upstream's own key; whatever the client sent under that name goes.
        edits.set.push((name.to_string(), value.to_string()));
    }
    if config.rate_limit.may_cap_requests(&route.name)
        && header(head.headers, "content-length").is_some()
    {
        // The budget may write an output limit into the body.
        edits.remove.push("content-length".to_string());
    }
    edits
}

/// Verifies the token, behind the per-IP pre-authentication limit (asked
/// only when a signature would be checked).
// The error is the step itself, returned at once by the caller: once per request.
#[allow(clippy::result_large_err)]
fn verify(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    token: &str,
    route: &Route,
) -> Result<Identity, HeadersStep> {
    let mut throttled = None;
    let checks_before = env.auth.signature_checks;
    let verdict = {
        let no_roles: Vec<String> = Vec::new();
        let facts = facts_from(stream, head.headers, head.peer_address, &no_roles);
        let (store, now_ms) = (env.store, env.now_ms);
        let mut gate = || {
            throttled = config.rate_limit.check_pre_auth(store, &facts, now_ms);
            throttled.is_none()
        };
        config
            .auth
            .verify_gated(token, &route.providers, now_ms, env.auth, &mut gate)
    };
    match verdict {
        Verdict::Verified(identity) => Ok(identity),
        Verdict::Denied(AuthError::PreAuthThrottled) => {
            let denial = match throttled {
                Some(Outcome::Limited {
                    policy,
                    retry_after_s,
                    headers,
                }) => {
                    env.metrics.count(&metrics::rate_limited(&policy), 1);
                    Denial::rate_limited(&policy, retry_after_s, headers)
                }
                Some(Outcome::Failed { kind }) => {
                    env.metrics.count(&metrics::internal_error(kind), 1);
                    Denial::rate_limit_unavailable()
                }
                _ => Denial::rate_limit_unavailable(),
            };
            stream.auth = AuthOutcome::Denied(denial.code);
            Err(HeadersStep::Deny(denial))
        }
        Verdict::Denied(err) => {
            if env.auth.signature_checks == checks_before {
                // Refused by checks that need no key: no signature was verified.
                env.metrics.count(metrics::AUTH_PRE_SIGNATURE_REFUSED, 1);
            }
            Err(deny_auth(stream, &err))
        }
        Verdict::NeedKeys { provider } => {
            if stream.fetched_keys {
                // Keys were just refreshed for this request and the kid is still unknown.
                stream.auth = AuthOutcome::Denied("jwt_unknown_kid");
                return Err(HeadersStep::Deny(Denial::unauthorized(
                    "jwt_unknown_kid",
                    "the token's key id is not in the issuer's key set",
                )));
            }
            Err(HeadersStep::FetchKeys { provider })
        }
    }
}

/// What an authorized request forwards: the claim headers, without the
/// client's token, and the canonical form of a malleable signature.
fn forward_edits(
    config: &Config,
    head: &RequestHead<'_>,
    identity: &Identity,
    token: &str,
    edits: &mut HeaderEdits,
) {
    edits.set.extend(config.auth.forward_headers(identity));
    // The client's token is for the filter, not the model API.
    for name in config.auth.token_headers_to_strip() {
        if header(head.headers, name).is_some() && !edits.set.iter().any(|(set, _)| set == name) {
            edits.remove.push(name.to_string());
        }
    }
    if let Some(canonical) = config.auth.canonical_token(token) {
        if header(head.headers, "authorization").is_some_and(|v| v.ends_with(token))
            && !edits.set.iter().any(|(set, _)| set == "authorization")
        {
            edits
                .set
                .push(("authorization".to_string(), format!("Bearer {canonical}")));
        }
    }
}

/// MCP routes are OAuth protected resources: a 401 names the metadata
/// document, and a token must be minted for this server (`aud`).
fn mcp_resource(config: &Config, stream: &mut StreamState, step: HeadersStep) -> HeadersStep {
    let Some(server) = stream
        .route
        .as_deref()
        .and_then(|r| config.mcp.server_for(r))
    else {
        return step;
    };
    match step {
        HeadersStep::Deny(mut denial) => {
            config.mcp.challenge(server, &mut denial);
            HeadersStep::Deny(denial)
        }
        HeadersStep::Continue(edits) => match stream
            .identity
            .as_ref()
            .and_then(|i| config.mcp.check_audience(server, i))
        {
            Some(denial) => {
                stream.auth = AuthOutcome::Denied(denial.code);
                HeadersStep::Deny(denial)
            }
            None => HeadersStep::Continue(edits),
        },
        other => other,
    }
}

fn deny_auth(stream: &mut StreamState, err: &AuthError) -> HeadersStep {
    stream.auth = AuthOutcome::Denied(err.code());
    HeadersStep::Deny(Denial::from(err))
}

/// The facts the rate limiter keys on, for an authenticated stream.
fn facts_from<'a>(
    stream: &'a StreamState,
    headers: &'a [(String, String)],
    peer_address: Option<&'a str>,
    no_roles: &'a [String],
) -> RequestFacts<'a> {
    let identity = stream.identity.as_ref();
    RequestFacts {
        subject: identity.and_then(|i| i.subject.as_deref()),
        claims: identity.map(|i| &i.claims),
        roles: identity.map_or(no_roles, |i| i.roles.as_slice()),
        route: stream.route.as_deref().unwrap_or(""),
        peer_ip: peer_address,
        headers,
    }
}

/// Takes a token from every request policy that applies. `Some` is a refusal.
fn limit_requests(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> Option<Denial> {
    let limiter = &config.rate_limit;
    let no_roles: Vec<String> = Vec::new();
    let facts = facts_from(stream, head.headers, head.peer_address, &no_roles);
    let client_ip =
        rate_limit::client_ip(&facts, limiter.client_ip_settings()).map(|ip| ip.to_string());
    if limiter.is_empty() {
        stream.client_ip = client_ip;
        return None;
    }
    if let Err(err) = limiter.check_subject(&facts) {
        stream.client_ip = client_ip;
        env.metrics.count(metrics::RATE_LIMIT_MISSING_SUBJECT, 1);
        stream
            .audit_section("rate_limit")
            .insert("missing_subject".into(), json!(true));
        return Some(Denial::unauthorized(err.code(), &err.to_string()));
    }
    let outcome = limiter.check_requests(env.store, &facts, env.now_ms);
    stream.client_ip = client_ip;
    match outcome {
        Outcome::Admitted { headers, monitored } => {
            for policy in &monitored {
                env.metrics.count(&metrics::rate_limit_monitored(policy), 1);
            }
            if !monitored.is_empty() {
                stream
                    .audit_section("rate_limit")
                    .insert("monitored".into(), json!(monitored));
            }
            merge_quota_headers(&mut stream.response_headers, headers);
            None
        }
        Outcome::Limited {
            policy,
            retry_after_s,
            headers,
        } => {
            env.metrics.count(&metrics::rate_limited(&policy), 1);
            let section = stream.audit_section("rate_limit");
            section.insert("limited_by".into(), json!(policy));
            section.insert("retry_after_s".into(), json!(retry_after_s));
            Some(Denial::rate_limited(&policy, retry_after_s, headers))
        }
        Outcome::Failed { kind } => {
            env.metrics.count(&metrics::internal_error(kind), 1);
            stream
                .audit_section("rate_limit")
                .insert("failed".into(), json!(kind));
            match limiter.fail_mode() {
                FailMode::Closed => Some(Denial::rate_limit_unavailable()),
                FailMode::Open => None,
            }
        }
    }
}

/// Adds quota headers for the answer. `RateLimit-Policy` and `RateLimit`
/// are Structured Field lists: a second set of policies (the token budget
/// after the request policies) joins the list instead of replacing it.
pub(crate) fn merge_quota_headers(into: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (name, value) in new {
        match into.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            Some((_, existing)) if !value.is_empty() => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            Some(_) => {}
            None => into.push((name, value)),
        }
    }
}

/// The rate-limit service call for the global request policies, if any applies.
fn global_requests(
    config: &Config,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    now_ms: u64,
) -> Option<global::RateLimitCall> {
    config.rate_limit.global()?;
    let no_roles: Vec<String> = Vec::new();
    let identity = stream.identity.take();
    let route = stream.route.take();
    let call = {
        let facts = RequestFacts {
            subject: identity.as_ref().and_then(|i| i.subject.as_deref()),
            claims: identity.as_ref().map(|i| &i.claims),
            roles: identity.as_ref().map_or(&no_roles, |i| &i.roles),
            route: route.as_deref().unwrap_or(""),
            peer_ip: head.peer_address,
            headers: head.headers,
        };
        global::begin(
            config,
            stream,
            &facts,
            None,
            rate_limit::PolicyKind::Requests,
            1,
            now_ms,
        )
    };
    stream.identity = identity;
    stream.route = route;
    call
}

/// The services an MCP exchange uses.
pub fn mcp_services(config: &Config) -> crate::mcp::Services<'_> {
    crate::mcp::Services {
        mcp: &config.mcp,
        screener: &config.screening,
        redactor: &config.redaction,
    }
}

/// The first value of a header (names are lowercase in Envoy's maps).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The end of a stream: settles LLM-token reservations with the real usage
/// (or an estimate of the streamed text), counts redactions and token use,
/// and returns the audit line (`None` when sampled out).
pub fn on_log(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    status: Option<u16>,
) -> Option<String> {
    let usage = response::usage(stream);
    if let Some(u) = usage {
        env.metrics.record(metrics::LLM_TOKENS, u.total);
        let section = stream.audit_section("usage");
        section.insert("prompt_tokens".into(), json!(u.prompt));
        section.insert("completion_tokens".into(), json!(u.completion));
        section.insert("total_tokens".into(), json!(u.total));
    }
    // Real usage; else for a stream its prompt plus the streamed text;
    // else nothing is known, so the whole reservation stays charged.
    let actual = (!stream.reservations.is_empty() || stream.global.budget.is_some()).then(|| {
        let estimate = stream.estimate.unwrap_or_default();
        match (usage, response::streamed_tokens(stream)) {
            (Some(u), _) => u.total,
            (None, Some(streamed)) => estimate.prompt.saturating_add(streamed),
            (None, None) => estimate.total(),
        }
    });
    if let Some(actual) = actual.filter(|_| stream.global.budget.is_some()) {
        stream.settle_call = global::settle(config, env, stream, actual);
        let section = stream.audit_section("token_budget");
        section.insert("charged".into(), json!(actual));
        section.insert("from_usage".into(), json!(usage.is_some()));
    }
    if let Some(actual) = actual.filter(|_| !stream.reservations.is_empty()) {
        // With real usage, money policies are priced from its parts (input,
        // cached input, output); without it from the estimate's split.
        let settled = match &usage {
            Some(u) => {
                config
                    .rate_limit
                    .settle_usage(env.store, &stream.reservations, u, env.now_ms)
            }
            None => config
                .rate_limit
                .settle(env.store, &stream.reservations, actual, env.now_ms),
        };
        let cost = usage
            .as_ref()
            .and_then(|u| config.rate_limit.cost_micros(&stream.reservations, u));
        if let Some(micros) = cost {
            env.metrics.record(metrics::BUDGET_COST_MICROS, micros);
        }
        let section = stream.audit_section("token_budget");
        section.insert("charged".into(), json!(actual));
        section.insert("from_usage".into(), json!(usage.is_some()));
        if let Some(micros) = cost {
            section.insert("cost_micros".into(), json!(micros));
        }
        if let Err(kind) = settled {
            env.metrics.count(&metrics::internal_error(kind), 1);
            section.insert("settle_failed".into(), json!(kind));
        }
        stream.reservations.clear();
    }
    if let Some(mut exchange) = stream.mcp.take() {
        let section = exchange.finish(&config.mcp, env.store, env.metrics);
        if !section.is_empty() {
            stream.audit.insert("mcp".into(), section);
        }
    }
    if !stream.redactions.is_empty() {
        let mut counts = Map::new();
        for (entity, n) in stream.redactions.iter() {
            env.metrics.count(&metrics::redacted(entity), n);
            counts.insert(entity.to_string(), json!(n));
        }
        stream.audit.insert("redactions".into(), counts);
        // Phones confirmed by a nearby context word, and by format alone.
        let (context, format) = stream.redactions.phone_split();
        if context > 0 {
            env.metrics.count(metrics::redacted_phone(true), context);
        }
        if format > 0 {
            env.metrics.count(metrics::redacted_phone(false), format);
        }
    }
    if let Some(code) = stream.denied {
        env.metrics
            .count(&metrics::denied(stream.route.as_deref(), code), 1);
    }
    let streamed = response::streamed_tokens(stream).is_some();
    let io = usage.map(|u| (u.prompt, u.completion));
    for (name, value) in stream.genai.samples(env.now_ms, io, streamed) {
        env.metrics.record(&name, value);
    }
    for (phase, ns) in stream.phase_ns.iter().enumerate() {
        if *ns > 0 {
            env.metrics.record(metrics::phase_time_us(phase), ns / 1000);
        }
    }
    audit_line(config, stream, status)
}

/// The audit line for a finished stream, or `None` when sampled out.
pub fn audit_line(config: &Config, stream: &StreamState, status: Option<u16>) -> Option<String> {
    let record = AuditRecord {
        request_id: stream.request_id.as_deref(),
        route: stream.route.as_deref(),
        method: &stream.method,
        path: &stream.path,
        status,
        subject: stream.identity.as_ref().and_then(|i| i.subject.as_deref()),
        client_ip: stream.client_ip.as_deref(),
        auth: stream.auth.as_str(),
        sections: stream
            .audit
            .iter()
            .map(|(name, section)| (name.as_str(), section))
            .collect(),
        filter_us: stream.filter_ns() / 1000,
        denied: stream.denied.is_some(),
    };
    config.audit.line(&record)
}
