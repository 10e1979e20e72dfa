//! The request body: read once at end of stream, sized and encoding-checked
//! up front, then validated and screened, optionally redacted, and used to
//! reserve the LLM-token budget.

use serde_json::{json, Value};

use crate::config::Config;
use crate::decision::Denial;
use crate::llm_api;
use crate::mcp::McpDecision;
use crate::metrics;
use crate::rate_limit::{Estimate, FailMode, Outcome};
use crate::redaction::ProfileId;
use crate::screening::{self, Api, ScreenOutcome, ValidationError};

use super::global::{self, RateLimitCall};
use super::{facts_from, header, Env, HeaderEdits, RequestHead, StreamState};

/// What the request body needs, decided with the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPlan {
    /// Larger bodies are refused with 413.
    pub max_bytes: usize,
    /// Validate and screen the prompt.
    pub screen: bool,
    /// Reserve from LLM-token budgets.
    pub budget: bool,
    /// Redact the prompt before the upstream sees it.
    pub redact: Option<ProfileId>,
    /// Inspect MCP JSON-RPC (tool authorization, arguments).
    pub mcp: bool,
}

/// How a body callback proceeds.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyProgress {
    /// The filter does not look at this body.
    Pass,
    /// Keep buffering.
    Wait,
    /// Refuse now.
    Deny(Denial),
    /// The whole body is buffered: read it and call [`on_request_body`].
    Complete,
}

/// What the host does once the whole body was read.
#[derive(Debug)]
pub enum RequestBodyStep {
    /// Forward, with these header edits and, when the prompt was redacted, this body.
    /// The header edits reach the upstream only when the headers were held
    /// (`hold_request_headers`); otherwise they have already gone out.
    Continue(HeaderEdits, Option<Vec<u8>>),
    /// Answer locally.
    Deny(Denial),
    /// As `Continue`, once the rate-limit service admits the global token
    /// budgets: the call goes first.
    CallRateLimit(HeaderEdits, Option<Vec<u8>>, RateLimitCall),
}

/// Decides, with the headers, whether the body must be read, and refuses
/// what can be refused before buffering: a declared size over the limit
/// (413) or a content encoding the filter cannot read (415).
///
/// With `hold_request_headers` the host pauses the headers too, so headers
/// added after screening still reach the upstream.
pub fn plan(config: &Config, head: &RequestHead<'_>, stream: &mut StreamState) -> Option<Denial> {
    let route = stream.route.as_deref().unwrap_or("");
    let roles: &[String] = stream.identity.as_ref().map_or(&[], |i| i.roles.as_slice());
    let mcp_server = config.mcp.server_for(route);
    // MCP bodies are JSON-RPC, checked by the MCP stage, not screened as prompts.
    let screen = config.screening.applies(route, roles) && mcp_server.is_none();
    let mcp = match mcp_server {
        Some(server) if !head.end_of_stream && head.method.eq_ignore_ascii_case("POST") => {
            stream.mcp = Some(config.mcp.exchange(server, roles, stream.redaction_profile));
            true
        }
        _ => false,
    };
    let budget = config.rate_limit.budgets_route(route);
    let redact = stream
        .redaction_profile
        .filter(|_| config.redaction.redact_requests());
    if !screen && !budget && redact.is_none() && !mcp {
        return None;
    }
    // After an upgrade (WebSocket, h2c) or a CONNECT tunnel the bytes are no
    // longer one request body: nothing the filter must read would be read.
    if head.method.eq_ignore_ascii_case("CONNECT") || header(head.headers, "upgrade").is_some() {
        return Some(Denial::invalid_request(
            "upgrade_not_allowed",
            "this route reads request bodies; upgrades and CONNECT are refused".to_string(),
        ));
    }
    if head.end_of_stream {
        // A POST to a model API (chat, completions, responses, embeddings,
        // messages) must carry the JSON the model would read.
        let model_api = Api::from_path(head.path) != Api::Unknown;
        if screen && model_api && head.method.eq_ignore_ascii_case("POST") {
            return Some(Denial::invalid_request(
                "invalid_json",
                "the request body is empty; this route expects a JSON body".to_string(),
            ));
        }
        return None;
    }
    let max_bytes = config.request_body_max_bytes();
    if let Some(len) =
        header(head.headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok())
    {
        if len > max_bytes as u64 {
            return Some(Denial::request_too_large(max_bytes));
        }
    }
    let encoding = header(head.headers, "content-encoding")
        .unwrap_or("")
        .trim();
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        return Some(Denial::unsupported_encoding(encoding));
    }
    stream.body = Some(BodyPlan {
        max_bytes,
        screen,
        budget,
        redact,
        mcp,
    });
    // Only budgets and MCP read the headers and peer again, with the body.
    if budget || mcp {
        stream.request_headers = head.headers.to_vec();
        stream.peer_address = head.peer_address.map(str::to_string);
    }
    None
}

/// Tracks a body callback: `body_size` is what Envoy has buffered so far.
pub fn progress(stream: &StreamState, body_size: usize, end_of_stream: bool) -> BodyProgress {
    let Some(plan) = stream.body else {
        return BodyProgress::Pass;
    };
    if body_size > plan.max_bytes {
        return BodyProgress::Deny(Denial::request_too_large(plan.max_bytes));
    }
    if end_of_stream {
        BodyProgress::Complete
    } else {
        BodyProgress::Wait
    }
}

/// Reads the whole request body: validates and screens the prompt, reserves
/// its estimated LLM-token cost from every applicable budget, and redacts it
/// when configured.
pub fn on_request_body(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    body: &[u8],
) -> RequestBodyStep {
    let Some(plan) = stream.body.take() else {
        return RequestBodyStep::Continue(HeaderEdits::default(), None);
    };
    let mut edits = HeaderEdits::default();
    // One parse, shared by every stage that reads the body.
    let parsed = llm_api::parse_body(body);
    if let Err(err @ llm_api::ParseError::DuplicateKey) = &parsed {
        env.metrics
            .count(&metrics::screening_invalid(err.code()), 1);
        stream
            .audit_section("request")
            .insert("invalid".into(), json!(err.code()));
        return RequestBodyStep::Deny(Denial::invalid_request(err.code(), err.to_string()));
    }
    // The request's model labels the GenAI metrics (listed, else `other`).
    stream.genai.model = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("model"))
        .and_then(serde_json::Value::as_str)
        .map(|m| config.metrics.model_label(Some(m)).to_string());
    let mut rewritten: Option<Vec<u8>> = None;
    if plan.mcp {
        match inspect_mcp(config, env, stream, parsed.as_ref().ok()) {
            Ok(batch) => rewritten = batch,
            Err(denial) => return RequestBodyStep::Deny(denial),
        }
    }
    // The parse above is of the original bytes: shared unless MCP rewrote them.
    let parsed_body = parsed.as_ref().ok().filter(|_| rewritten.is_none());
    let body = rewritten.as_deref().unwrap_or(body);
    if plan.screen {
        if let Err(denial) = screen(config, env, stream, body, parsed_body, &mut edits) {
            return RequestBodyStep::Deny(denial);
        }
    }
    let mut global_call = None;
    let mut capped = None;
    if plan.budget {
        let estimate = match &parsed {
            Ok(v) => config.rate_limit.estimate_request(v),
            // Not JSON: charge its length as prompt, plus the default output.
            Err(_) => config
                .rate_limit
                .estimate_request(&json!({ "prompt": String::from_utf8_lossy(body) })),
        };
        let model = parsed
            .as_ref()
            .ok()
            .and_then(|v| v.get("model"))
            .and_then(Value::as_str);
        match reserve(config, env, stream, estimate, model) {
            Ok(call) => global_call = call,
            Err(denial) => return RequestBodyStep::Deny(denial),
        }
        capped = parsed
            .ok()
            .and_then(|v| config.rate_limit.cap_request(&stream.path, body, &v));
    }
    let body = capped.as_deref().unwrap_or(body);
    let redacted = plan.redact.and_then(|profile| {
        let before = stream.redactions.total();
        match config
            .redaction
            .redact_json(profile, body, &mut stream.redactions)
        {
            Ok(out) if stream.redactions.total() > before => Some(out),
            _ => None,
        }
    });
    let redacted = redacted.or(capped).or(rewritten);
    match global_call {
        Some(call) => RequestBodyStep::CallRateLimit(edits, redacted, call),
        None => RequestBodyStep::Continue(edits, redacted),
    }
}

/// Runs the MCP request checks on the parsed body (`None`: not JSON).
/// `Ok(Some)` is a batch with refused elements removed; `Err` a local
/// JSON-RPC answer (HTTP 200) for a request refused whole.
fn inspect_mcp(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    message: Option<&serde_json::Value>,
) -> Result<Option<Vec<u8>>, Denial> {
    let Some(mut exchange) = stream.mcp.take() else {
        return Ok(None);
    };
    let decision = {
        let no_roles: Vec<String> = Vec::new();
        let facts = facts_from(
            stream,
            &stream.request_headers,
            stream.peer_address.as_deref(),
            &no_roles,
        );
        let caller = crate::mcp::Caller {
            facts,
            now_ms: env.now_ms,
        };
        exchange.inspect_request(super::mcp_services(config), env.store, &caller, message)
    };
    stream.mcp = Some(exchange);
    match decision {
        McpDecision::Forward(batch) => Ok(batch),
        McpDecision::Respond(answer) => {
            Err(Denial::new(200, "mcp_refused", "", "").with_json_body(answer))
        }
    }
}

/// Validates and screens the prompt; `Err` is the refusal.
fn screen(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    body: &[u8],
    parsed: Option<&Value>,
    edits: &mut HeaderEdits,
) -> Result<(), Denial> {
    let route = stream.route.as_deref().unwrap_or("");
    let outcome = match parsed {
        // Parsed once for every stage; screening's own size limit still applies.
        Some(value) if body.len() <= config.screening.max_body_bytes() => {
            config.screening.screen_value(route, &stream.path, value)
        }
        _ => config.screening.screen_on(route, &stream.path, body),
    };
    // The model's score goes to a histogram and the audit line on every
    // screened request, admitted or not.
    let score = match &outcome {
        ScreenOutcome::Pass { score, .. } | ScreenOutcome::Block { score, .. } => *score,
        ScreenOutcome::Invalid(_) => None,
    };
    if let Some(s) = score {
        let permille = (s.clamp(0.0, 1.0) * 1000.0).round() as u64;
        env.metrics.record(metrics::SCREENING_MODEL_SCORE, permille);
        stream
            .audit_section("screening")
            .insert("score".into(), json!(permille as f64 / 1000.0));
    }
    match outcome {
        ScreenOutcome::Pass {
            flagged,
            prompt_chars,
            ..
        } => {
            env.metrics
                .record(metrics::PROMPT_CHARS, prompt_chars as u64);
            if !flagged.is_empty() {
                for hit in &flagged {
                    env.metrics
                        .count(&metrics::screening_flagged(hit.category), 1);
                }
                let ids: Vec<&str> = flagged.iter().map(|h| h.rule_id.as_str()).collect();
                let section = stream.audit_section("screening");
                section.insert("action".into(), json!("monitor"));
                section.insert("rules".into(), json!(ids));
                edits.set.push((
                    SCREENING_HEADER.to_string(),
                    screening::monitor_header_value(&flagged),
                ));
            }
            Ok(())
        }
        ScreenOutcome::Block { hit, .. } => {
            env.metrics
                .count(&metrics::screening_blocked(hit.category), 1);
            let section = stream.audit_section("screening");
            section.insert("action".into(), json!("block"));
            section.insert("rules".into(), json!([hit.rule_id]));
            Err(Denial::prompt_blocked(&hit.rule_id, hit.category))
        }
        ScreenOutcome::Invalid(err) => {
            env.metrics
                .count(&metrics::screening_invalid(err.code()), 1);
            stream
                .audit_section("screening")
                .insert("invalid".into(), json!(err.code()));
            Err(match err {
                ValidationError::BodyTooLarge { max } => Denial::request_too_large(max),
                other => Denial::invalid_request(other.code(), other.to_string()),
            })
        }
    }
}

/// Request header telling the upstream which monitor-mode rules matched.
pub const SCREENING_HEADER: &str = "x-tollgate-screening";

/// Reserves the estimate from the local budgets, then starts the global
/// budgets' check (the call to make, if any applies). `Err` is a refusal.
fn reserve(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    estimate: Estimate,
    model: Option<&str>,
) -> Result<Option<RateLimitCall>, Denial> {
    let headers = std::mem::take(&mut stream.request_headers);
    let identity = stream.identity.take();
    let route = stream.route.take();
    let peer = stream.peer_address.take();
    let no_roles: Vec<String> = Vec::new();
    let facts = crate::rate_limit::RequestFacts {
        subject: identity.as_ref().and_then(|i| i.subject.as_deref()),
        claims: identity.as_ref().map(|i| &i.claims),
        roles: identity.as_ref().map_or(&no_roles, |i| &i.roles),
        route: route.as_deref().unwrap_or(""),
        peer_ip: peer.as_deref(),
        headers: &headers,
    };
    let now_ms = env.now_ms;
    let result = reserve_local(config, env, stream, estimate, &facts).map(|()| {
        let call = global::begin(
            config,
            stream,
            &facts,
            model,
            crate::rate_limit::PolicyKind::LlmTokens,
            estimate.total(),
            now_ms,
        );
        if call.is_some() {
            stream.estimate = Some(estimate);
        }
        call
    });
    stream.identity = identity;
    stream.route = route;
    stream.peer_address = peer;
    result
}

fn reserve_local(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    estimate: Estimate,
    facts: &crate::rate_limit::RequestFacts<'_>,
) -> Result<(), Denial> {
    let outcome = config
        .rate_limit
        .reserve(env.store, facts, estimate, env.now_ms);
    match outcome {
        Ok(reserved) => {
            for policy in &reserved.monitored {
                env.metrics.count(&metrics::rate_limit_monitored(policy), 1);
            }
            super::merge_quota_headers(&mut stream.response_headers, reserved.headers);
            if !reserved.reservations.is_empty() {
                stream.estimate = Some(estimate);
                stream
                    .audit_section("token_budget")
                    .insert("reserved".into(), json!(estimate.total()));
            }
            stream.reservations = reserved.reservations;
            Ok(())
        }
        Err(Outcome::Limited {
            policy,
            retry_after_s,
            headers,
        }) => {
            env.metrics.count(&metrics::rate_limited(&policy), 1);
            let section = stream.audit_section("token_budget");
            section.insert("limited_by".into(), json!(policy));
            section.insert("requested".into(), json!(estimate.total()));
            Err(Denial::rate_limited(&policy, retry_after_s, headers))
        }
        Err(Outcome::Failed { kind }) => {
            env.metrics.count(&metrics::internal_error(kind), 1);
            stream
                .audit_section("token_budget")
                .insert("failed".into(), json!(kind));
            match config.rate_limit.fail_mode() {
                FailMode::Closed => Err(Denial::rate_limit_unavailable()),
                FailMode::Open => Ok(()),
            }
        }
        Err(Outcome::Admitted { .. }) => Ok(()),
    }
}
