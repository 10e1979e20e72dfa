//! Per-model facts the budgets need: the most output a request may produce
//! when it names no limit, and (for money budgets) the price.
//!
//! ```json
//! "rate_limit": {
//!   "missing_max_tokens": "inject",
//!   "models": [
//!     { "model": "gpt-4o-mini*", "max_output_tokens": 16384,
//!       "price": { "input_per_million": 0.15, "output_per_million": 0.6,
//!                  "cached_input_per_million": 0.075 } },
//!     { "model": "*", "max_output_tokens": 4096 }
//!   ]
//! }
//! ```
//!
//! Without a limit in the request, one request could produce as much as
//! the upstream allows and overshoot a budget by far (issue 11, F9). The
//! filter therefore reserves the model's `max_output_tokens` (or
//! `default_max_tokens` for a model not listed), and with
//! `missing_max_tokens: inject` also writes that limit into the request,
//! so the upstream stops there: the reservation becomes a bound.

use serde::Deserialize;

use crate::config::ConfigError;

/// What happens when a request names no output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingMaxTokens {
    /// Reserve the model's maximum (the default). Sound when the
    /// configured maximum is the upstream model's real one.
    #[default]
    Reserve,
    /// Reserve it and write it into the request (`max_completion_tokens`
    /// for chat, `max_output_tokens` for Responses, `max_tokens` for legacy
    /// completions and Anthropic messages), so the upstream cannot exceed it.
    Inject,
}

/// Prices per million tokens, in the money budgets' currency.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    /// Input (prompt) tokens.
    pub input_per_million: f64,
    /// Output (completion) tokens.
    pub output_per_million: f64,
    /// Cached input tokens; absent: the input price.
    #[serde(default)]
    pub cached_input_per_million: Option<f64>,
}

/// One entry of the model table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Exact model name, or a prefix ending in `*` (`*` alone: every model).
    pub model: String,
    /// Output tokens reserved (and injected) when the request names no limit.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Prices, for money budgets.
    #[serde(default)]
    pub price: Option<PriceSettings>,
}

/// A compiled price: nano-units of the currency (10^-9) per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
pub struct Price {
    /// Per input token.
    pub input_nanos: u64,
    /// Per output token.
    pub output_nanos: u64,
    /// Per cached input token.
    pub cached_input_nanos: u64,
}

impl Price {
    /// The cost, in micro-units of the currency (10^-6), rounded up.
    pub fn cost_micros(&self, input: u64, cached_input: u64, output: u64) -> u64 {
        let cached = cached_input.min(input);
        let nanos = u128::from(input - cached) * u128::from(self.input_nanos)
            + u128::from(cached) * u128::from(self.cached_input_nanos)
            + u128::from(output) * u128::from(self.output_nanos);
        u64::try_from(nanos.div_ceil(1000)).unwrap_or(u64::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    prefix: bool,
    max_output_tokens: Option<u64>,
    price: Option<Price>,
}

/// The compiled model table: the first matching entry wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Models {
    entries: Vec<Entry>,
}

/// Largest price accepted per million tokens (keeps the arithmetic exact).
const MAX_PRICE_PER_MILLION: f64 = 1_000_000.0;

fn compile_price(p: f64, at: String) -> Result<u64, ConfigError> {
    if !p.is_finite() || !(0.0..=MAX_PRICE_PER_MILLION).contains(&p) {
        return Err(ConfigError::new(
            at,
            format!("must be between 0 and {MAX_PRICE_PER_MILLION}"),
        ));
    }
    // Per million tokens to nano-units per token: times 10^9 / 10^6.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((p * 1000.0).round() as u64)
}

impl Models {
    /// Validates the table; `path` names it in errors (`rate_limit.models`).
    pub fn compile(settings: &[ModelSettings], path: &str) -> Result<Self, ConfigError> {
        let mut entries = Vec::with_capacity(settings.len());
        for (i, m) in settings.iter().enumerate() {
            let at = |f: &str| format!("{path}[{i}].{f}");
            let name = m.model.trim();
            if name.is_empty() {
                return Err(ConfigError::new(at("model"), "must not be empty"));
            }
            let (name, prefix) = match name.strip_suffix('*') {
                Some(p) => (p, true),
                None => (name, false),
            };
            if name.contains('*') {
                return Err(ConfigError::new(
                    at("model"),
                    "`*` is allowed only at the end",
                ));
            }
            if m.max_output_tokens == Some(0) {
                return Err(ConfigError::new(
                    at("max_output_tokens"),
                    "must be greater than 0",
                ));
            }
            let price = match &m.price {
                None => None,
                Some(p) => {
                    let input_nanos =
                        compile_price(p.input_per_million, at("price.input_per_million"))?;
                    Some(Price {
                        input_nanos,
                        output_nanos: compile_price(
                            p.output_per_million,
                            at("price.output_per_million"),
                        )?,
                        cached_input_nanos: match p.cached_input_per_million {
                            Some(c) => compile_price(c, at("price.cached_input_per_million"))?,
                            None => input_nanos,
                        },
                    })
                }
            };
            entries.push(Entry {
                name: name.to_string(),
                prefix,
                max_output_tokens: m.max_output_tokens,
                price,
            });
        }
        Ok(Self { entries })
    }

    fn find<'a>(&'a self, model: Option<&'a str>) -> impl Iterator<Item = &'a Entry> {
        let model = model.unwrap_or("");
        self.entries.iter().filter(move |e| {
            if e.prefix {
                model.starts_with(e.name.as_str())
            } else {
                model == e.name
            }
        })
    }

    /// The configured output maximum for `model` (first matching entry that sets one).
    pub fn max_output_tokens(&self, model: Option<&str>) -> Option<u64> {
        self.find(model).find_map(|e| e.max_output_tokens)
    }

    /// The price of `model` (first matching entry that sets one).
    pub fn price(&self, model: Option<&str>) -> Option<Price> {
        self.find(model).find_map(|e| e.price)
    }

    /// The highest price configured (by output, then input), for models
    /// the table does not price.
    pub fn max_price(&self) -> Option<Price> {
        self.entries
            .iter()
            .filter_map(|e| e.price)
            .max_by_key(|p| (p.output_nanos, p.input_nanos))
    }

    /// True when some entry has a price.
    pub fn has_prices(&self) -> bool {
        self.entries.iter().any(|e| e.price.is_some())
    }
}

/// The field that limits output for the API at `path`, or `None` for an
/// API that generates nothing (embeddings) or that the filter does not know.
pub fn limit_field(path: &str) -> Option<&'static str> {
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        Some("max_completion_tokens")
    } else if path.ends_with("/completions") || path.ends_with("/messages") {
        Some("max_tokens")
    } else if path.ends_with("/responses") {
        Some("max_output_tokens")
    } else {
        None
    }
}

/// Every field a request may name its output limit in.
pub const LIMIT_FIELDS: [&str; 3] = ["max_completion_tokens", "max_tokens", "max_output_tokens"];

/// `raw` (a JSON object, already parsed as `parsed`) with `"field":limit,`
/// written right after its opening brace; the rest of the bytes unchanged.
/// `None` when the request already names a limit or is not an object.
pub fn inject_limit(
    raw: &[u8],
    parsed: &serde_json::Value,
    field: &str,
    limit: u64,
) -> Option<Vec<u8>> {
    let obj = parsed.as_object()?;
    if LIMIT_FIELDS
        .iter()
        .any(|f| obj.get(*f).is_some_and(|v| !v.is_null()))
    {
        return None;
    }
    if LIMIT_FIELDS.iter().any(|f| obj.contains_key(*f)) {
        // `"max_tokens": null` means no limit: set the field rather than add
        // a duplicate member that upstreams could read either way.
        let mut obj = obj.clone();
        for f in LIMIT_FIELDS {
            obj.remove(f);
        }
        obj.insert(field.to_string(), serde_json::Value::from(limit));
        return serde_json::to_vec(&obj).ok();
    }
    let open = raw.iter().position(|b| !b.is_ascii_whitespace())?;
    if raw.get(open) != Some(&b'{') {
        return None;
    }
    let member = if obj.is_empty() {
        format!("\"{field}\":{limit}")
    } else {
        format!("\"{field}\":{limit},")
    };
    let mut out = Vec::with_capacity(raw.len() + member.len());
    out.extend_from_slice(&raw[..=open]);
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(&raw[open + 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn models(v: Value) -> Models {
        let s: Vec<ModelSettings> = serde_json::from_value(v).unwrap();
        Models::compile(&s, "rate_limit.models").unwrap()
    }

    #[test]
    fn first_matching_entry_that_sets_a_value_wins() {
        let m = models(json!([
            {"model": "gpt-4o-mini", "max_output_tokens": 100},
            {"model": "gpt-4o*", "max_output_tokens": 200, "price": {"input_per_million": 2.5, "output_per_million": 10}},
            {"model": "*", "max_output_tokens": 50}
        ]));
        assert_eq!(m.max_output_tokens(Some("gpt-4o-mini")), Some(100));
        assert_eq!(m.max_output_tokens(Some("gpt-4o-2024")), Some(200));
        assert_eq!(m.max_output_tokens(Some("llama")), Some(50));
        assert_eq!(m.max_output_tokens(None), Some(50));
        assert_eq!(
            m.price(Some("gpt-4o-mini")).map(|p| p.input_nanos),
            Some(2500)
        );
        assert_eq!(m.price(Some("llama")), None);
    }

    #[test]
    fn cost_is_rounded_up_to_a_micro_unit_and_cached_input_is_cheaper() {
        let m = models(
            json!([{"model": "m", "price": {"input_per_million": 0.15, "output_per_million": 0.6, "cached_input_per_million": 0.075}}]),
        );
        let p = m.price(Some("m")).unwrap();
        // 1000 in, 1000 out: 150 + 600 micro-units.
        assert_eq!(p.cost_micros(1000, 0, 1000), 750);
        // Half the input cached: 75 + 37.5 + 600 = 712.5, rounded up.
        assert_eq!(p.cost_micros(1000, 500, 1000), 713);
        assert_eq!(p.cost_micros(1, 0, 0), 1, "never free");
        assert_eq!(p.cost_micros(0, 0, 0), 0);
    }

    #[test]
    fn bad_entries_name_their_field() {
        for (v, path) in [
            (json!([{"model": ""}]), "rate_limit.models[0].model"),
            (json!([{"model": "a*b"}]), "rate_limit.models[0].model"),
            (
                json!([{"model": "a", "max_output_tokens": 0}]),
                "rate_limit.models[0].max_output_tokens",
            ),
            (
                json!([{"model": "a", "price": {"input_per_million": -1, "output_per_million": 1}}]),
                "rate_limit.models[0].price.input_per_million",
            ),
        ] {
            let s: Vec<ModelSettings> = serde_json::from_value(v).unwrap();
            assert_eq!(
                Models::compile(&s, "rate_limit.models").unwrap_err().path,
                path
            );
        }
    }

    #[test]
    fn the_limit_field_follows_the_api() {
        assert_eq!(
            limit_field("/v1/chat/completions"),
            Some("max_completion_tokens")
        );
        assert_eq!(limit_field("/v1/completions?x=1"), Some("max_tokens"));
        assert_eq!(limit_field("/v1/messages"), Some("max_tokens"));
        assert_eq!(limit_field("/v1/responses/"), Some("max_output_tokens"));
        assert_eq!(limit_field("/v1/embeddings"), None);
    }

    #[test]
    fn injection_adds_one_member_and_keeps_every_other_byte() {
        let raw = br#"  {"model":"m", "messages":[{"role":"user","content":"hi"}]}"#;
        let parsed: Value = serde_json::from_slice(raw).unwrap();
        let out = inject_limit(raw, &parsed, "max_completion_tokens", 42).unwrap();
        assert_eq!(
            out,
            br#"  {"max_completion_tokens":42,"model":"m", "messages":[{"role":"user","content":"hi"}]}"#
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["max_completion_tokens"], 42);
        let empty: Value = json!({});
        assert_eq!(
            inject_limit(b"{}", &empty, "max_tokens", 7).unwrap(),
            br#"{"max_tokens":7}"#
        );
    }

    #[test]
    fn a_null_limit_is_replaced_not_duplicated() {
        let raw = br#"{"model":"m","max_tokens":null}"#;
        let parsed: Value = serde_json::from_slice(raw).unwrap();
        let out = inject_limit(raw, &parsed, "max_tokens", 9).unwrap();
        assert_eq!(out, br#"{"max_tokens":9,"model":"m"}"#);
    }

    #[test]
    fn a_request_that_names_a_limit_is_left_alone() {
        for raw in [
            &br#"{"max_tokens":5}"#[..],
            br#"{"max_output_tokens":5}"#,
            br#"[1]"#,
        ] {
            let parsed: Value = serde_json::from_slice(raw).unwrap();
            assert_eq!(inject_limit(raw, &parsed, "max_tokens", 9), None);
        }
    }
}
