//! The request body: read once at end of stream, sized and encoding-checked
//! up front, then used to reserve the LLM-token budget.

use serde_json::{json, Value};

use crate::config::Config;
use crate::decision::Denial;
use crate::metrics;
use crate::rate_limit::{Estimate, FailMode, Outcome};

use super::{facts_from, header, Env, HeaderEdits, RequestHead, StreamState};

/// What the request body needs, decided with the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPlan {
    /// Larger bodies are refused with 413.
    pub max_bytes: usize,
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
    /// Forward, with these header edits.
    Continue(HeaderEdits),
    /// Answer locally.
    Deny(Denial),
}

/// Decides, with the headers, whether the body must be read, and refuses
/// what can be refused before buffering: a declared size over the limit
/// (413) or a content encoding the filter cannot read (415).
pub fn plan(config: &Config, head: &RequestHead<'_>, stream: &mut StreamState) -> Option<Denial> {
    if head.end_of_stream || !config.rate_limit.has_token_budgets() {
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
    stream.body = Some(BodyPlan { max_bytes });
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

/// Reads the whole request body: estimates its LLM-token cost and reserves
/// it from every applicable budget.
pub fn on_request_body(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    body: &[u8],
) -> RequestBodyStep {
    stream.body = None;
    let edits = HeaderEdits::default();
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
    RequestBodyStep::Continue(edits)
}

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
