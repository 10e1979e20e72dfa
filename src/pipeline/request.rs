//! The request body: read once at end of stream, sized and encoding-checked
//! up front, then validated and screened, optionally redacted, and used to
//! reserve the LLM-token budget.

use serde_json::{json, Value};

use crate::config::Config;
use crate::decision::Denial;
use crate::metrics;
use crate::rate_limit::{Estimate, FailMode, Outcome};
use crate::redaction::ProfileId;
use crate::screening::{self, Api, ScreenOutcome, ValidationError};

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
    let screen = config.screening.applies(route, roles);
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
    let budget = config.rate_limit.has_token_budgets();
    let redact = stream
        .redaction_profile
        .filter(|_| config.redaction.redact_requests());
    if !screen && !budget && redact.is_none() {
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
    });
    stream.request_headers = head.headers.to_vec();
    stream.peer_address = head.peer_address.map(str::to_string);
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
    if plan.screen {
        if let Err(denial) = screen(config, env, stream, body, &mut edits) {
            stream.denied = Some(denial.code);
            return RequestBodyStep::Deny(denial);
        }
    }
    if plan.budget {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let estimate = match &parsed {
            Some(v) => config.rate_limit.estimate_request(v),
            // Not JSON: charge its length as prompt, plus the default output.
            None => config
                .rate_limit
                .estimate_request(&json!({ "prompt": String::from_utf8_lossy(body) })),
        };
        if let Some(denial) = reserve(config, env, stream, estimate) {
            stream.denied = Some(denial.code);
            return RequestBodyStep::Deny(denial);
        }
    }
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
    RequestBodyStep::Continue(edits, redacted)
}

/// Validates and screens the prompt; `Err` is the refusal.
fn screen(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    body: &[u8],
    edits: &mut HeaderEdits,
) -> Result<(), Denial> {
    let route = stream.route.as_deref().unwrap_or("");
    let outcome = config.screening.screen_on(route, &stream.path, body);
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

fn reserve(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    estimate: Estimate,
) -> Option<Denial> {
    let headers = std::mem::take(&mut stream.request_headers);
    let outcome = {
        let no_roles: Vec<String> = Vec::new();
        let facts = facts_from(stream, &headers, stream.peer_address.as_deref(), &no_roles);
        config
            .rate_limit
            .reserve_tokens(env.store, &facts, estimate.total(), env.now_ms)
    };
    match outcome {
        Ok(reserved) => {
            for policy in &reserved.monitored {
                env.metrics.count(&metrics::rate_limit_monitored(policy), 1);
            }
            stream.response_headers.extend(reserved.headers);
            if !reserved.reservations.is_empty() {
                stream.estimate = Some(estimate);
                stream
                    .audit_section("token_budget")
                    .insert("reserved".into(), json!(estimate.total()));
            }
            stream.reservations = reserved.reservations;
            None
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
            Some(Denial::rate_limited(&policy, retry_after_s, headers))
        }
        Err(Outcome::Failed { kind }) => {
            env.metrics.count(&metrics::internal_error(kind), 1);
            stream
                .audit_section("token_budget")
                .insert("failed".into(), json!(kind));
            match config.rate_limit.fail_mode() {
                FailMode::Closed => Some(Denial::rate_limit_unavailable()),
                FailMode::Open => None,
            }
        }
        Err(Outcome::Admitted { .. }) => None,
    }
}
