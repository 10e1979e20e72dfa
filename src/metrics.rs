//! Metric names and the metrics seam.
//!
//! Names follow `tollgate.<concern>.<outcome>[.<detail>]`; Envoy shows Wasm
//! metrics under `wasmcustom.` in `/stats` and `/stats/prometheus`. The
//! pipeline reports through [`Metrics`]; the host implements it with the
//! proxy-wasm metrics ABI, tests with [`MemoryMetrics`].

use std::collections::BTreeMap;

/// Where counters and histograms go.
pub trait Metrics {
    /// Adds `delta` to a counter.
    fn count(&mut self, name: &str, delta: u64);
    /// Records one histogram sample.
    fn record(&mut self, name: &str, value: u64);
}

/// In-memory metrics for tests.
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    /// Counter totals by name.
    pub counters: BTreeMap<String, u64>,
    /// Histogram samples by name.
    pub histograms: BTreeMap<String, Vec<u64>>,
}

impl MemoryMetrics {
    /// A counter's total (0 when never counted).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

impl Metrics for MemoryMetrics {
    fn count(&mut self, name: &str, delta: u64) {
        let c = self.counters.entry(name.to_string()).or_default();
        *c = c.saturating_add(delta);
    }

    fn record(&mut self, name: &str, value: u64) {
        self.histograms
            .entry(name.to_string())
            .or_default()
            .push(value);
    }
}

/// Configuration accepted.
pub const CONFIG_LOADED: &str = "tollgate.config.loaded";
/// Configuration refused.
pub const CONFIG_REJECTED: &str = "tollgate.config.rejected";
/// Requests admitted by authentication (verified, anonymous or no auth needed).
pub const AUTH_ALLOWED: &str = "tollgate.auth.allowed";
/// JWKS fetch succeeded.
pub const JWKS_FETCH_OK: &str = "tollgate.jwks.fetch_ok";
/// JWKS fetch failed.
pub const JWKS_FETCH_FAILED: &str = "tollgate.jwks.fetch_failed";
/// Filter time per phase, microseconds (histograms), indexed by `pipeline::Phase`.
const PHASE_TIME_US: [&str; 4] = [
    "tollgate.time.request_headers_us",
    "tollgate.time.request_body_us",
    "tollgate.time.response_headers_us",
    "tollgate.time.response_body_us",
];

/// The histogram for a phase index (`pipeline::Phase as usize`).
pub fn phase_time_us(phase: usize) -> &'static str {
    PHASE_TIME_US
        .get(phase)
        .copied()
        .unwrap_or("tollgate.time.other_us")
}

/// `tollgate.auth.denied.<code>`.
pub fn auth_denied(code: &str) -> String {
    format!("tollgate.auth.denied.{code}")
}

/// `tollgate.rate_limit.limited.<policy>`.
pub fn rate_limited(policy: &str) -> String {
    format!("tollgate.rate_limit.limited.{policy}")
}

/// `tollgate.rate_limit.monitored.<policy>`: would have been limited, admitted (monitor mode).
pub fn rate_limit_monitored(policy: &str) -> String {
    format!("tollgate.rate_limit.monitored.{policy}")
}

/// LLM tokens per request (histogram), from the response's `usage`.
pub const LLM_TOKENS: &str = "tollgate.llm.tokens";

/// `tollgate.redaction.<entity>` (entity lowercased).
pub fn redacted(entity: &str) -> String {
    format!("tollgate.redaction.{}", entity.to_ascii_lowercase())
}

/// Characters of prompt text screened per request (histogram).
pub const PROMPT_CHARS: &str = "tollgate.screening.prompt_chars";

/// The screening model's highest score per screened request, in thousandths
/// (histogram, 0-1000).
pub const SCREENING_MODEL_SCORE: &str = "tollgate.screening.model_score_permille";

/// `tollgate.screening.blocked.<category>`.
pub fn screening_blocked(category: &str) -> String {
    format!("tollgate.screening.blocked.{category}")
}

/// `tollgate.screening.flagged.<category>`: a monitor-mode match, admitted.
pub fn screening_flagged(category: &str) -> String {
    format!("tollgate.screening.flagged.{category}")
}

/// `tollgate.screening.invalid.<code>`: a body refused by validation.
pub fn screening_invalid(code: &str) -> String {
    format!("tollgate.screening.invalid.{code}")
}

/// `tollgate.internal.error.<kind>`.
pub fn internal_error(kind: &str) -> String {
    format!("tollgate.internal.error.{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_metrics_add_up_and_saturate() {
        let mut m = MemoryMetrics::default();
        m.count(AUTH_ALLOWED, 2);
        m.count(AUTH_ALLOWED, u64::MAX);
        assert_eq!(m.counter(AUTH_ALLOWED), u64::MAX);
        assert_eq!(m.counter("never"), 0);
    }

    #[test]
    fn denial_metric_carries_the_code() {
        assert_eq!(
            auth_denied("jwt_expired"),
            "tollgate.auth.denied.jwt_expired"
        );
    }
}
