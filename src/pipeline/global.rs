//! The `global` rate-limit backend in a stream: when to call the rate-limit
//! service, what its answer means for the stream, and the settle call.
//!
//! The decisions are `rate_limit::global`'s; this module keeps the stream's
//! part (the check in flight, the budget to settle) and records every
//! outcome in metrics (`tollgate.rate_limit.global.<outcome>`) and in the
//! audit line (`rate_limit.global` / `token_budget.global`).

use serde_json::json;

use crate::config::Config;
use crate::decision::Denial;
use crate::metrics;
use crate::rate_limit::global::merge_headers;
use crate::rate_limit::{GlobalCheck, GlobalOutcome, PolicyKind, Reply, RequestFacts};

use super::{Env, StreamState};

/// One `ShouldRateLimit` call for the host to dispatch (gRPC, unary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitCall {
    /// Envoy cluster of the rate-limit service.
    pub cluster: String,
    /// gRPC service name.
    pub service: &'static str,
    /// gRPC method name.
    pub method: &'static str,
    /// The serialized `RateLimitRequest`.
    pub message: Vec<u8>,
    /// Timeout in milliseconds.
    pub timeout_ms: u64,
}

/// The stream's global rate-limit state.
#[derive(Debug, Default)]
pub struct GlobalState {
    /// The check whose answer the stream waits for.
    pub pending: Option<GlobalCheck>,
    /// The token-budget check to settle at the end.
    pub budget: Option<GlobalCheck>,
    /// When the pending call was made (ms): a failure that comes after the
    /// timeout is the timeout (Envoy reports it as UNAVAILABLE).
    pub sent_at_ms: u64,
}

fn section(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Requests => "rate_limit",
        // Cost policies are local only (refused at load with a global backend).
        PolicyKind::LlmTokens | PolicyKind::Cost => "token_budget",
    }
}

fn call(config: &Config, message: Vec<u8>) -> Option<RateLimitCall> {
    let g = config.rate_limit.global()?;
    Some(RateLimitCall {
        cluster: g.cluster().to_string(),
        service: g.service(),
        method: g.method(),
        message,
        timeout_ms: g.timeout_ms(),
    })
}

/// Starts a check of the global policies of `kind` for a request charged
/// `hits`; `None` when none applies (nothing to wait for).
pub(super) fn begin(
    config: &Config,
    stream: &mut StreamState,
    facts: &RequestFacts,
    model: Option<&str>,
    kind: PolicyKind,
    hits: u64,
    now_ms: u64,
) -> Option<RateLimitCall> {
    let g = config.rate_limit.global()?;
    // Keyed by the subject the local policies use: `sub`, else the fallback claim.
    let check = config.rate_limit.with_key_subject(facts, |facts| {
        g.check(
            kind,
            facts,
            model,
            config.rate_limit.client_ip_settings(),
            hits,
        )
    })?;
    let message = g.message(&check);
    stream.global.pending = Some(check);
    stream.global.sent_at_ms = now_ms;
    call(config, message)
}

/// True while the stream waits for the rate-limit service.
pub fn waiting(stream: &StreamState) -> bool {
    stream.global.pending.is_some()
}

/// The answer to the pending check (or its failure). `Some` is a refusal
/// the host sends; `None` lets the stream go on. Without a pending check it
/// does nothing.
pub fn on_reply(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    reply: Reply<'_>,
) -> Option<Denial> {
    let mut check = stream.global.pending.take()?;
    let kind = check.kind;
    let g = config.rate_limit.global()?;
    let waited_ms = env.now_ms.saturating_sub(stream.global.sent_at_ms);
    let reply = match reply {
        Reply::Status(_) if waited_ms >= g.timeout_ms() => Reply::Timeout,
        other => other,
    };
    let name = section(check.kind);
    let (outcome, denial) = match g.decide(&check, reply) {
        GlobalOutcome::Admitted { views, monitored } => {
            for policy in &monitored {
                env.metrics.count(&metrics::rate_limit_monitored(policy), 1);
            }
            if !monitored.is_empty() {
                stream
                    .audit_section(name)
                    .insert("monitored".into(), json!(monitored));
            }
            let local = std::mem::take(&mut stream.response_headers);
            stream.response_headers = merge_headers(local, &views);
            ("ok", None)
        }
        GlobalOutcome::Limited {
            policy,
            retry_after_s,
            headers,
        } => {
            env.metrics.count(&metrics::rate_limited(&policy), 1);
            let s = stream.audit_section(name);
            s.insert("limited_by".into(), json!(policy));
            s.insert("retry_after_s".into(), json!(retry_after_s));
            if check.kind == PolicyKind::LlmTokens {
                s.insert("requested".into(), json!(check.hits));
            }
            (
                "limited",
                Some(Denial::rate_limited(&policy, retry_after_s, headers)),
            )
        }
        GlobalOutcome::Failed { kind, closed } => {
            stream
                .audit_section(name)
                .insert("global_failed".into(), json!(kind));
            if closed {
                ("failed_closed", Some(Denial::rate_limit_unavailable()))
            } else {
                // Admitted uncounted: a budget charges its real use when it settles.
                check.hits = 0;
                ("failed_open", None)
            }
        }
    };
    env.metrics.count(&metrics::rate_limit_global(outcome), 1);
    stream
        .audit_section(name)
        .insert("global".into(), json!(outcome));
    if check.kind == PolicyKind::LlmTokens && denial.is_none() {
        stream
            .audit_section(name)
            .insert("reserved_global".into(), json!(check.hits));
        stream.global.budget = Some(check);
    }
    if let Some(d) = &denial {
        stream.denied = Some(d.code);
        if kind == PolicyKind::LlmTokens && !stream.reservations.is_empty() {
            // The local budgets took the estimate; nothing is forwarded.
            let reservations = std::mem::take(&mut stream.reservations);
            if let Err(kind) = config
                .rate_limit
                .settle(env.store, &reservations, 0, env.now_ms)
            {
                env.metrics.count(&metrics::internal_error(kind), 1);
            }
        }
    }
    denial
}

/// The settle call for the stream's global budget, given the tokens really
/// used: the positive difference from what was charged, or `None`.
pub(super) fn settle(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    actual: u64,
) -> Option<RateLimitCall> {
    let check = stream.global.budget.take()?;
    let g = config.rate_limit.global()?;
    let message = g.settle(&check, actual);
    let s = stream.audit_section("token_budget");
    s.insert("charged_global".into(), json!(actual.max(check.hits)));
    if actual < check.hits {
        // RLS counters cannot go down: the over-estimate stays charged.
        s.insert("overcharged_global".into(), json!(check.hits - actual));
    }
    let message = message?;
    env.metrics.count(&metrics::rate_limit_global("settled"), 1);
    call(config, message)
}
