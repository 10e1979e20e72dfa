//! Metric names and the metrics seam.
//!
//! Names follow `tollgate.<concern>.<outcome>[.<label>.<value>]...`. Envoy
//! shows Wasm metrics under `wasmcustom.` in `/stats`; its tag extraction
//! (`stats_config.stats_tags` in every shipped config, see [`TAGS`]) turns
//! each `.<label>.<value>` pair into a Prometheus label, so
//! `tollgate.auth.denied.code.jwt_expired` is scraped as
//! `tollgate_auth_denied{code="jwt_expired"}`.
//!
//! Every name is built here, so renaming is central. Label values are
//! bounded: codes, categories, entities, policies and routes come from the
//! filter or its configuration; models from the configured list
//! ([`MetricsSettings::models`]), any other model as `other`. `model` is
//! always the last pair, so model names may contain dots.
//!
//! The pipeline reports through [`Metrics`]; the host implements it with the
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

/// The label names the shipped Envoy configs extract (`stats_tags`), with
/// the regex for each. `model` takes the rest of the name.
pub const TAGS: &[(&str, &str)] = &[
    (
        "code",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.code\.([^.]+))",
    ),
    (
        "category",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.category\.([^.]+))",
    ),
    (
        "entity",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.entity\.([^.]+))",
    ),
    (
        "policy",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.policy\.([^.]+))",
    ),
    (
        "route",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.route\.([^.]+))",
    ),
    (
        "kind",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.kind\.([^.]+))",
    ),
    (
        "phase",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.phase\.([^.]+))",
    ),
    (
        "type",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.type\.([^.]+))",
    ),
    (
        "model",
        r"^wasmcustom\.tollgate(?:\.[a-z0-9_]+)*?(\.model\.(.+))$",
    ),
];

/// `.<label>.<value>`, the value reduced to characters safe in a stat name
/// segment (`[A-Za-z0-9_-]`, others become `_`; empty becomes `none`).
fn label(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 2);
    out.push('.');
    out.push_str(name);
    out.push('.');
    push_clean(&mut out, value, false);
    out
}

fn push_clean(out: &mut String, value: &str, dots: bool) {
    if value.is_empty() {
        out.push_str("none");
        return;
    }
    for c in value.chars().take(64) {
        let keep = c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.');
        out.push(if keep { c } else { '_' });
    }
}

/// `.model.<label>`: the last pair of a name (dots allowed in the value).
fn model_label(model: &str) -> String {
    let mut out = String::from(".model.");
    push_clean(&mut out, model, true);
    out
}

/// The `metrics` section of the configuration.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Model names that get their own `model` label value; any other model is
    /// counted as `other`. Keeps the number of series bounded.
    pub models: Vec<String>,
}

impl MetricsSettings {
    /// Validates the list (`at` names the section in errors).
    pub fn validate(&self, at: &str) -> Result<(), crate::config::ConfigError> {
        for (i, m) in self.models.iter().enumerate() {
            if m.trim().is_empty() || m.len() > 64 {
                return Err(crate::config::ConfigError::new(
                    format!("{at}.models[{i}]"),
                    "must be 1 to 64 characters",
                ));
            }
        }
        Ok(())
    }

    /// The label value for a request's model: itself when listed, else `other`.
    pub fn model_label<'a>(&'a self, model: Option<&str>) -> &'a str {
        model
            .and_then(|m| self.models.iter().find(|k| k.as_str() == m))
            .map_or("other", String::as_str)
    }
}

/// Configuration accepted.
pub const CONFIG_LOADED: &str = "tollgate.config.loaded";
/// Configuration refused.
pub const CONFIG_REJECTED: &str = "tollgate.config.rejected";
/// Requests admitted by authentication (verified, anonymous or no auth needed).
pub const AUTH_ALLOWED: &str = "tollgate.auth.allowed";
/// Tokens refused by a check that needs no key (size, format, algorithm
/// policy, issuer, audience, dates, claims): no signature was verified.
pub const AUTH_PRE_SIGNATURE_REFUSED: &str = "tollgate.auth.pre_signature_refused";
/// JWKS fetch succeeded.
pub const JWKS_FETCH_OK: &str = "tollgate.jwks.fetch_ok";
/// JWKS fetch failed.
pub const JWKS_FETCH_FAILED: &str = "tollgate.jwks.fetch_failed";
/// `tollgate.filter.time_us.phase.<phase>`, indexed by `pipeline::Stage`
/// (written out: recorded four times per request, so never formatted).
const PHASE_TIME_US: [&str; 4] = [
    "tollgate.filter.time_us.phase.request_headers",
    "tollgate.filter.time_us.phase.request_body",
    "tollgate.filter.time_us.phase.response_headers",
    "tollgate.filter.time_us.phase.response_body",
];

/// Filter time per phase, microseconds (histogram), for a stage index
/// (`pipeline::Stage as usize`).
pub fn phase_time_us(phase: usize) -> &'static str {
    PHASE_TIME_US
        .get(phase)
        .copied()
        .unwrap_or("tollgate.filter.time_us.phase.other")
}

/// `tollgate.auth.denied.code.<code>`.
pub fn auth_denied(code: &str) -> String {
    format!("tollgate.auth.denied{}", label("code", code))
}

/// `tollgate.denied.route.<route>.code.<code>`: every refusal, whatever the
/// stage, counted once when the stream ends.
pub fn denied(route: Option<&str>, code: &str) -> String {
    format!(
        "tollgate.denied{}{}",
        label("route", route.unwrap_or("none")),
        label("code", code)
    )
}

/// `tollgate.tls.refused.route.<route>`: plaintext or old TLS on a
/// `require_tls` route.
pub fn tls_refused(route: &str) -> String {
    format!("tollgate.tls.refused{}", label("route", route))
}

/// `tollgate.rate_limit.limited.policy.<policy>`.
pub fn rate_limited(policy: &str) -> String {
    format!("tollgate.rate_limit.limited{}", label("policy", policy))
}

/// `tollgate.rate_limit.monitored.policy.<policy>`: would have been limited,
/// admitted (monitor mode).
pub fn rate_limit_monitored(policy: &str) -> String {
    format!("tollgate.rate_limit.monitored{}", label("policy", policy))
}

/// `tollgate.rate_limit.global.<outcome>`: one call to the rate-limit service
/// (`ok`, `limited`, `failed_open`, `failed_closed`, `settled`, `settle_failed`).
pub fn rate_limit_global(outcome: &str) -> String {
    format!("tollgate.rate_limit.global.{outcome}")
}
/// A verified token without `sub` refused on a per-subject route.
pub const RATE_LIMIT_MISSING_SUBJECT: &str = "tollgate.rate_limit.missing_subject";

/// Money spent per request on `cost` budgets (histogram), in micro-units of
/// the policy's currency, priced from the response's `usage`.
pub const BUDGET_COST_MICROS: &str = "tollgate.budget.cost_micros";

/// LLM tokens per request (histogram), from the response's `usage`.
pub const LLM_TOKENS: &str = "tollgate.llm.tokens";

/// `tollgate.llm.token_usage.type.<input|output>.model.<model>`: tokens per
/// request by type (histogram; OTel `gen_ai.client.token.usage`).
pub fn token_usage(token_type: &str, model: &str) -> String {
    format!(
        "tollgate.llm.token_usage{}{}",
        label("type", token_type),
        model_label(model)
    )
}

/// `tollgate.llm.request_duration_ms.model.<model>`: from the request
/// headers to the end of the stream (histogram; OTel
/// `gen_ai.server.request.duration`, in ms).
pub fn request_duration_ms(model: &str) -> String {
    format!("tollgate.llm.request_duration_ms{}", model_label(model))
}

/// `tollgate.llm.time_to_first_token_ms.model.<model>`: request headers to
/// the first streamed response bytes (histogram; OTel
/// `gen_ai.server.time_to_first_token`, in ms).
pub fn time_to_first_token_ms(model: &str) -> String {
    format!("tollgate.llm.time_to_first_token_ms{}", model_label(model))
}

/// `tollgate.llm.time_per_output_token_us.model.<model>`: streaming time
/// after the first token divided by the remaining output tokens
/// (histogram; OTel `gen_ai.server.time_per_output_token`, in µs).
pub fn time_per_output_token_us(model: &str) -> String {
    format!(
        "tollgate.llm.time_per_output_token_us{}",
        model_label(model)
    )
}

/// `tollgate.redaction.redacted.entity.<entity>` (entity lowercased).
pub fn redacted(entity: &str) -> String {
    format!(
        "tollgate.redaction.redacted{}",
        label("entity", &entity.to_ascii_lowercase())
    )
}

/// `tollgate.redaction.phone.context` or `.format`: phones taken because a
/// context word was near, or on their format alone
/// ([`crate::redaction::Counts::phone_split`]).
pub fn redacted_phone(by_context: bool) -> &'static str {
    if by_context {
        "tollgate.redaction.phone.context"
    } else {
        "tollgate.redaction.phone.format"
    }
}

/// Characters of prompt text screened per request (histogram).
pub const PROMPT_CHARS: &str = "tollgate.screening.prompt_chars";

/// The screening model's highest score per screened request, in thousandths
/// (histogram, 0-1000).
pub const SCREENING_MODEL_SCORE: &str = "tollgate.screening.model_score_permille";

/// `tollgate.screening.blocked.category.<category>`.
pub fn screening_blocked(category: &str) -> String {
    format!("tollgate.screening.blocked{}", label("category", category))
}

/// `tollgate.screening.flagged.category.<category>`: a monitor-mode match, admitted.
pub fn screening_flagged(category: &str) -> String {
    format!("tollgate.screening.flagged{}", label("category", category))
}

/// `tollgate.screening.invalid.code.<code>`: a body refused by validation.
pub fn screening_invalid(code: &str) -> String {
    format!("tollgate.screening.invalid{}", label("code", code))
}

/// `tollgate.mcp.<event>`: MCP gateway events, e.g. `call.allowed`,
/// `call.denied.forbidden_tool`, `list.hidden`, `catalog.changed`,
/// `result.flagged` (the list is in docs/mcp.md).
pub fn mcp(event: &str) -> String {
    format!("tollgate.mcp.{event}")
}

/// `tollgate.mcp.call.denied.code.<code>`: refused `tools/call`s by code.
pub fn mcp_denied(code: &str) -> String {
    format!("tollgate.mcp.call.denied{}", label("code", code))
}

/// `tollgate.internal.error.kind.<kind>`.
pub fn internal_error(kind: &str) -> String {
    format!("tollgate.internal.error{}", label("kind", kind))
}

/// GenAI timings of one stream, in the host's milliseconds. Pure: the
/// pipeline feeds it times and reads samples back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenAiTiming {
    /// The model label ([`MetricsSettings::model_label`]); `None` until the
    /// request body named one: only then are GenAI metrics recorded.
    pub model: Option<String>,
    /// When the request headers arrived.
    pub started_ms: u64,
    /// The first response body bytes.
    pub first_output_ms: Option<u64>,
    /// The last response body bytes.
    pub last_output_ms: Option<u64>,
}

impl GenAiTiming {
    /// Notes response body bytes arriving at `now_ms` (empty chunks are not output).
    pub fn on_output(&mut self, now_ms: u64, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.first_output_ms.get_or_insert(now_ms);
        self.last_output_ms = Some(now_ms);
    }

    /// The histogram samples for a finished stream: request duration; token
    /// usage by type when `usage` is `(input, output)`; and, for a streamed
    /// answer, time to first token and time per output token.
    pub fn samples(
        &self,
        now_ms: u64,
        usage: Option<(u64, u64)>,
        streamed: bool,
    ) -> Vec<(String, u64)> {
        let Some(model) = self.model.as_deref() else {
            return Vec::new();
        };
        let mut out = vec![(
            request_duration_ms(model),
            now_ms.saturating_sub(self.started_ms),
        )];
        if let Some((input, output)) = usage {
            out.push((token_usage("input", model), input));
            out.push((token_usage("output", model), output));
        }
        if streamed {
            if let Some(first) = self.first_output_ms {
                out.push((
                    time_to_first_token_ms(model),
                    first.saturating_sub(self.started_ms),
                ));
                let output = usage.map_or(0, |(_, o)| o);
                if let (Some(last), true) = (self.last_output_ms, output > 1) {
                    let span_us = last.saturating_sub(first).saturating_mul(1000);
                    out.push((time_per_output_token_us(model), span_us / (output - 1)));
                }
            }
        }
        out
    }
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
    fn denial_metric_carries_the_code_as_a_label_pair() {
        assert_eq!(
            auth_denied("jwt_expired"),
            "tollgate.auth.denied.code.jwt_expired"
        );
        assert_eq!(
            denied(Some("chat"), "prompt_blocked"),
            "tollgate.denied.route.chat.code.prompt_blocked"
        );
        assert_eq!(
            denied(None, "route_not_found"),
            "tollgate.denied.route.none.code.route_not_found"
        );
    }

    #[test]
    fn label_values_cannot_add_segments() {
        assert_eq!(
            rate_limited("a.b c"),
            "tollgate.rate_limit.limited.policy.a_b_c"
        );
        assert_eq!(
            redacted("EMAIL"),
            "tollgate.redaction.redacted.entity.email"
        );
        assert_eq!(tls_refused(""), "tollgate.tls.refused.route.none");
        // Models keep their dots: `model` is always last.
        assert_eq!(
            token_usage("input", "gpt-4.1"),
            "tollgate.llm.token_usage.type.input.model.gpt-4.1"
        );
        assert_eq!(
            phase_time_us(1),
            "tollgate.filter.time_us.phase.request_body"
        );
        assert_eq!(phase_time_us(9), "tollgate.filter.time_us.phase.other");
    }

    #[test]
    fn unlisted_models_are_other() {
        let s = MetricsSettings {
            models: vec!["claude-mock-1".into()],
        };
        assert_eq!(s.model_label(Some("claude-mock-1")), "claude-mock-1");
        assert_eq!(s.model_label(Some("gpt-x")), "other");
        assert_eq!(s.model_label(None), "other");
        assert!(s.validate("metrics").is_ok());
        let bad = MetricsSettings {
            models: vec![" ".into()],
        };
        assert_eq!(
            bad.validate("metrics").unwrap_err().to_string(),
            "metrics.models[0]: must be 1 to 64 characters"
        );
    }

    #[test]
    fn genai_samples_for_a_stream() {
        let mut t = GenAiTiming {
            model: Some("m".into()),
            started_ms: 1_000,
            ..Default::default()
        };
        t.on_output(1_250, 0); // an empty chunk is not output
        t.on_output(1_300, 10);
        t.on_output(1_400, 10);
        t.on_output(1_500, 10);
        let got = t.samples(1_510, Some((7, 5)), true);
        assert_eq!(
            got,
            vec![
                (request_duration_ms("m"), 510),
                (token_usage("input", "m"), 7),
                (token_usage("output", "m"), 5),
                (time_to_first_token_ms("m"), 300),
                // 200 ms over the 4 tokens after the first.
                (time_per_output_token_us("m"), 50_000),
            ]
        );
    }

    #[test]
    fn genai_samples_without_stream_or_model() {
        let mut t = GenAiTiming {
            model: Some("m".into()),
            started_ms: 10,
            ..Default::default()
        };
        t.on_output(20, 5);
        assert_eq!(
            t.samples(30, None, false),
            vec![(request_duration_ms("m"), 20)]
        );
        // One output token: no time per output token.
        assert_eq!(t.samples(30, Some((1, 1)), true).len(), 4);
        t.model = None;
        assert!(t.samples(30, Some((1, 1)), true).is_empty());
    }

    #[test]
    fn every_tag_regex_names_its_label() {
        for (name, regex) in TAGS {
            assert!(regex.contains(&format!("\\.{name}\\.")), "{name}: {regex}");
        }
    }

    /// Envoy's tag extraction, replayed: each regex's first group is cut out
    /// of the name, its second group is the label value.
    fn extract(name: &str) -> (String, Vec<(&'static str, String)>) {
        let full = format!("wasmcustom.{name}");
        let mut cut: Vec<(usize, usize)> = Vec::new();
        let mut labels = Vec::new();
        for (tag, regex) in TAGS {
            let re = regex_lite::Regex::new(regex).unwrap();
            if let Some(c) = re.captures(&full) {
                let whole = c.get(1).unwrap();
                cut.push((whole.start(), whole.end()));
                labels.push((*tag, c.get(2).unwrap().as_str().to_string()));
            }
        }
        let kept: String = full
            .char_indices()
            .filter(|(i, _)| !cut.iter().any(|(a, b)| i >= a && i < b))
            .map(|(_, c)| c)
            .collect();
        (kept, labels)
    }

    #[test]
    fn tags_turn_pairs_into_labels() {
        let (name, labels) = extract(&auth_denied("jwt_expired"));
        assert_eq!(name, "wasmcustom.tollgate.auth.denied");
        assert_eq!(labels, vec![("code", "jwt_expired".to_string())]);

        let (name, labels) = extract(&denied(Some("chat"), "prompt_blocked"));
        assert_eq!(name, "wasmcustom.tollgate.denied");
        assert_eq!(
            labels,
            vec![
                ("code", "prompt_blocked".to_string()),
                ("route", "chat".to_string())
            ]
        );

        let (name, labels) = extract(&token_usage("output", "gpt-4.1"));
        assert_eq!(name, "wasmcustom.tollgate.llm.token_usage");
        assert_eq!(
            labels,
            vec![
                ("type", "output".to_string()),
                ("model", "gpt-4.1".to_string())
            ]
        );

        for (built, family) in [
            (redacted("EMAIL"), "redaction.redacted"),
            (screening_blocked("jailbreak"), "screening.blocked"),
            (screening_flagged("jailbreak"), "screening.flagged"),
            (screening_invalid("invalid_json"), "screening.invalid"),
            (rate_limited("per_user"), "rate_limit.limited"),
            (rate_limit_monitored("per_user"), "rate_limit.monitored"),
            (internal_error("corrupt_state"), "internal.error"),
            (tls_refused("chat"), "tls.refused"),
            (phase_time_us(0).to_string(), "filter.time_us"),
            (request_duration_ms("m"), "llm.request_duration_ms"),
            (time_to_first_token_ms("m"), "llm.time_to_first_token_ms"),
            (
                time_per_output_token_us("m"),
                "llm.time_per_output_token_us",
            ),
        ] {
            let (name, labels) = extract(&built);
            assert_eq!(name, format!("wasmcustom.tollgate.{family}"), "{built}");
            assert_eq!(labels.len(), 1, "{built}");
        }
        // Unlabelled names are left alone.
        assert_eq!(extract(AUTH_ALLOWED).0, "wasmcustom.tollgate.auth.allowed");
        assert!(extract(AUTH_ALLOWED).1.is_empty());
    }

    #[test]
    fn shipped_envoy_config_extracts_every_tag() {
        let yaml = include_str!("../envoy/envoy.yaml");
        let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
        let mut found = Vec::new();
        for pair in lines.windows(2) {
            if let [tag, regex] = pair {
                if let (Some(tag), Some(regex)) = (
                    tag.strip_prefix("- tag_name: "),
                    regex.strip_prefix("regex: "),
                ) {
                    found.push((tag.to_string(), regex.trim_matches('\'').to_string()));
                }
            }
        }
        let want: Vec<(String, String)> = TAGS
            .iter()
            .map(|(t, r)| (t.to_string(), r.to_string()))
            .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn kong_metadata_names_every_label() {
        let meta: serde_json::Value =
            serde_json::from_str(include_str!("../envoy/kong/tollgate.meta.json")).unwrap();
        let labels: Vec<&str> = meta["metrics"]["label_patterns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["label"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = TAGS.iter().map(|(t, _)| *t).collect();
        assert_eq!(labels, want);
    }
}
