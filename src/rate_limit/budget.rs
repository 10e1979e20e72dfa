//! LLM-token budgets: estimate before, settle after, cap a stream.
//!
//! Before a request is forwarded the limiter *reserves* an estimate: the
//! requested output (`max_tokens`, `max_completion_tokens`,
//! `max_output_tokens`, or `default_max_tokens`) times `n`, plus a prompt
//! estimate of one token per 4 bytes of text. After the response the host
//! *settles* with the real `usage` ([`parse_usage`], or [`UsageTracker`]
//! over SSE events); with no usage at all, with the prompt estimate plus
//! the [`StreamMeter`]'s count of streamed text.
//!
//! Byte length (UTF-8) stands in for "characters": identical for English,
//! and it does not under-count scripts where one character is a token or
//! more (CJK is 3 bytes per character, about 0.75 estimated tokens).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A reservation taken from one LLM-token policy, to be settled later.
/// A plain value so the host can keep it per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Index of the policy in the configuration.
    pub policy: usize,
    /// Index of the tier whose rate applied, if any.
    pub tier: Option<usize>,
    /// Slot holding the bucket.
    pub slot: u32,
    /// Fingerprint stamped in the slot when reserving.
    pub owner: u64,
    /// Tokens (micro-units for a money budget) reserved (0 for a
    /// monitor-mode policy that would have refused).
    pub amount: u64,
    /// The model's price when reserved (money budgets settle at it).
    #[serde(default)]
    pub price: Option<super::models::Price>,
    /// Estimated prompt tokens, for settling without a usage split.
    #[serde(default)]
    pub prompt_estimate: u64,
}

/// Token counts reported by an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Input tokens (including Anthropic's cache reads and writes).
    pub prompt: u64,
    /// Output tokens.
    pub completion: u64,
    /// Total as reported, or prompt + completion.
    pub total: u64,
    /// Of the input tokens, those read from a prompt cache (priced apart).
    pub cached_prompt: u64,
}

/// A request's estimated cost, split so a stream cap can use the output part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Estimated input tokens.
    pub prompt: u64,
    /// Output tokens the request may produce.
    pub output: u64,
    /// The model's price, when money budgets apply.
    pub price: Option<super::models::Price>,
}

impl Estimate {
    /// What to reserve.
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.output)
    }
}

/// Tokens for `text_len` characters (bytes): one per 4, rounded up.
pub fn estimate_prompt_tokens(text_len: usize) -> u64 {
    u64::try_from(text_len.div_ceil(4)).unwrap_or(u64::MAX)
}

/// Top-level request fields whose text is sent to the model.
const PROMPT_FIELDS: &[&str] = &[
    "messages",
    "prompt",
    "input",
    "system",
    "instructions",
    "tools",
    "functions",
];
/// Keys under those fields whose strings are not prompt text (roles, ids,
/// image or file payloads that would inflate a length-based estimate).
const NOT_TEXT: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "image_url",
    "url",
    "data",
    "file_data",
    "source",
    "image",
    "input_audio",
    "audio",
];
/// Largest `n` believed; more is clamped (it multiplies the output estimate).
const MAX_CHOICES: u64 = 128;

/// Estimates a chat / completions / responses / messages request body.
pub fn estimate_request_parts(body: &Value, default_max_tokens: u64) -> Estimate {
    let output = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .unwrap_or(default_max_tokens);
    let n = body
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, MAX_CHOICES);
    let mut len = 0usize;
    for field in PROMPT_FIELDS {
        if let Some(v) = body.get(*field) {
            text_len(v, &mut len);
        }
    }
    Estimate {
        prompt: estimate_prompt_tokens(len),
        output: output.saturating_mul(n),
        price: None,
    }
}

/// [`estimate_request_parts`] as one number.
pub fn estimate_request(body: &Value, default_max_tokens: u64) -> u64 {
    estimate_request_parts(body, default_max_tokens).total()
}

fn text_len(v: &Value, len: &mut usize) {
    match v {
        Value::String(s) => *len = len.saturating_add(s.len()),
        Value::Array(items) => items.iter().for_each(|i| text_len(i, len)),
        Value::Object(map) => {
            for (k, v) in map {
                if !NOT_TEXT.contains(&k.as_str()) {
                    text_len(v, len);
                }
            }
        }
        _ => {}
    }
}

/// Usage fields as found in one document; absent ones are `None`.
type Partial = crate::llm_api::sse::UsageFields;

fn partial_usage(json: &Value) -> Option<Partial> {
    crate::llm_api::sse::usage_fields(json)
}

impl Partial {
    fn usage(&self) -> Usage {
        let prompt = self.prompt.unwrap_or(0);
        let completion = self.completion.unwrap_or(0);
        Usage {
            prompt,
            completion,
            total: self.total.unwrap_or(prompt.saturating_add(completion)),
            cached_prompt: self.cached.unwrap_or(0).min(prompt),
        }
    }
}

/// The usage in one JSON document (a response body or one SSE event), for
/// OpenAI (`prompt_tokens` / `completion_tokens` / `total_tokens`), the
/// Responses API and Anthropic (`input_tokens` / `output_tokens`).
pub fn parse_usage(json: &Value) -> Option<Usage> {
    partial_usage(json).map(|p| p.usage())
}

/// Collects usage across the events of a stream. Later values replace
/// earlier ones field by field: Anthropic sends input tokens in
/// `message_start` and a cumulative output count in `message_delta`.
#[derive(Debug, Clone, Default)]
pub struct UsageTracker {
    seen: Partial,
    any: bool,
}

impl UsageTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one parsed SSE `data:` payload (or a whole JSON body).
    pub fn observe(&mut self, json: &Value) {
        if let Some(p) = partial_usage(json) {
            self.any = true;
            self.seen.prompt = p.prompt.or(self.seen.prompt);
            self.seen.completion = p.completion.or(self.seen.completion);
            self.seen.cached = p.cached.or(self.seen.cached);
            // A total from an earlier event would be stale once counts move on.
            self.seen.total = p.total;
        }
    }

    /// The usage so far, or `None` when no event carried any.
    pub fn usage(&self) -> Option<Usage> {
        self.any.then(|| self.seen.usage())
    }
}

/// Counts a stream's output and says when it passes its allowance.
#[derive(Debug, Clone)]
pub struct StreamMeter {
    allowance: u64,
    bytes: usize,
}

impl StreamMeter {
    /// A meter allowing `allowance_tokens` of output (the reservation's
    /// output part, [`Estimate::output`]).
    pub fn new(allowance_tokens: u64) -> Self {
        Self {
            allowance: allowance_tokens,
            bytes: 0,
        }
    }

    /// Adds streamed text; true once the output passes the allowance.
    pub fn observe_text(&mut self, text: &str) -> bool {
        self.bytes = self.bytes.saturating_add(text.len());
        self.exceeded()
    }

    /// Adds the text of one parsed SSE event (see [`delta_text_len`]).
    pub fn observe_event(&mut self, event: &Value) -> bool {
        self.bytes = self.bytes.saturating_add(delta_text_len(event));
        self.exceeded()
    }

    /// Estimated output tokens so far.
    pub fn output_tokens(&self) -> u64 {
        estimate_prompt_tokens(self.bytes)
    }

    /// True when the output passed the allowance.
    pub fn exceeded(&self) -> bool {
        self.output_tokens() > self.allowance
    }

    /// Where to cut `out`, the SSE bytes about to be forwarded when the
    /// stream passed its allowance, counting on from this meter (its state
    /// before `out`): the start of the first event that passes the
    /// allowance, or of a `[DONE]` terminator, whichever comes first; else
    /// the end of the last complete event. The cap's `error` event goes
    /// there, so a client never reads more than the allowance from one chunk,
    /// and never a terminator before the error (the OpenAI SDK stops reading
    /// at `[DONE]` and would take a capped answer for a whole one).
    pub fn sse_cut(&self, out: &[u8]) -> usize {
        use crate::llm_api::sse;
        let mut meter = self.clone();
        let mut start = 0usize;
        while let Some(len) = event_len(out.get(start..).unwrap_or_default()) {
            let event = out.get(start..start + len).unwrap_or_default();
            let mut data: Vec<u8> = Vec::new();
            for (s, e, _) in sse::lines(event) {
                let line = event.get(s..e).unwrap_or_default();
                if let Some(d) = sse::field_value(line, b"data") {
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(d);
                }
            }
            if data.trim_ascii() == b"[DONE]" {
                return start;
            }
            if let Some(v) = sse::parse_event(&data) {
                if meter.observe_event(&v) {
                    return start;
                }
            }
            start += len;
        }
        start
    }
}

/// The length of the complete SSE event at the start of `bytes`, through its
/// blank line (`\n\n` or `\r\n\r\n`), or `None` when it is not complete.
fn event_len(bytes: &[u8]) -> Option<usize> {
    let lf = memchr::memmem::find(bytes, b"\n\n").map(|i| i + 2);
    let crlf = memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub use crate::llm_api::sse::delta_text_len;

/// Stable code of the stream-cap error.
pub const BUDGET_EXCEEDED_CODE: &str = "token_budget_exceeded";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(text: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": text}}]})
        )
    }

    #[test]
    fn a_capped_stream_is_cut_at_the_event_that_passes_the_allowance() {
        // 1 token of allowance = 4 bytes of text (estimate_prompt_tokens).
        let meter = StreamMeter::new(1);
        let out = [chunk("ab"), chunk("cd"), chunk("ef"), chunk("gh")].concat();
        let cut = meter.sse_cut(out.as_bytes());
        assert_eq!(&out[..cut], [chunk("ab"), chunk("cd")].concat());
    }

    #[test]
    fn a_capped_stream_never_forwards_done_before_the_error() {
        let meter = StreamMeter::new(100);
        let out = format!("{}data: [DONE]\n\n", chunk("short"));
        assert_eq!(&out[..meter.sse_cut(out.as_bytes())], chunk("short"));
        // CRLF framing, and a partial event at the end, are cut too.
        let out = "data: {\"choices\":[]}\r\n\r\ndata: {\"cho";
        assert_eq!(
            meter.sse_cut(out.as_bytes()),
            "data: {\"choices\":[]}\r\n\r\n".len()
        );
        assert_eq!(meter.sse_cut(b""), 0);
        assert_eq!(meter.sse_cut(b"\n\n\n"), 2);
    }

    #[test]
    fn prompt_estimate_is_a_quarter_rounded_up() {
        assert_eq!(
            [0, 1, 4, 5, 400].map(estimate_prompt_tokens),
            [0, 1, 1, 2, 100]
        );
    }

    #[test]
    fn chat_request_uses_max_tokens_plus_message_text() {
        let body = json!({"model":"m","max_tokens":100,"messages":[
            {"role":"system","content":"12345678"},
            {"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url","image_url":{"url":"data:AAAAAAAAAAAAAAAAAAAAAAAAA"}}]}]});
        assert_eq!(
            estimate_request_parts(&body, 256),
            Estimate {
                prompt: 3,
                output: 100,
                ..Default::default()
            }
        );
        assert_eq!(estimate_request(&body, 256), 103);
    }

    #[test]
    fn output_limit_fields_in_order_of_precedence() {
        let cases = [
            (json!({"max_completion_tokens": 10, "max_tokens": 99}), 10),
            (json!({"max_tokens": 20}), 20),
            (json!({"max_output_tokens": 30}), 30),
            (json!({}), 256),
            (json!({"max_tokens": 5, "n": 3}), 15),
            (json!({"max_tokens": 1, "n": 100000}), MAX_CHOICES),
        ];
        for (body, want) in cases {
            assert_eq!(estimate_request_parts(&body, 256).output, want, "{body}");
        }
    }

    #[test]
    fn prompt_input_and_system_fields_count() {
        let body = json!({"prompt":"aaaa","input":[{"role":"user","content":"bbbb"}],"system":"cccc","max_tokens":0});
        assert_eq!(estimate_request(&body, 256), 3);
    }

    #[test]
    fn openai_usage() {
        let v = json!({"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}});
        assert_eq!(
            parse_usage(&v),
            Some(Usage {
                prompt: 11,
                completion: 7,
                total: 18,
                ..Default::default()
            })
        );
    }

    #[test]
    fn responses_api_usage_in_body_and_completed_event() {
        let body = json!({"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}});
        assert_eq!(
            parse_usage(&body),
            Some(Usage {
                prompt: 5,
                completion: 3,
                total: 8,
                ..Default::default()
            })
        );
        let ev = json!({"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":4}}});
        assert_eq!(
            parse_usage(&ev),
            Some(Usage {
                prompt: 5,
                completion: 4,
                total: 9,
                ..Default::default()
            })
        );
    }

    #[test]
    fn anthropic_usage_counts_cache_tokens_as_input() {
        let v = json!({"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}});
        assert_eq!(
            parse_usage(&v),
            Some(Usage {
                prompt: 100,
                completion: 5,
                total: 105,
                cached_prompt: 90,
            })
        );
    }

    #[test]
    fn openai_cached_prompt_tokens_are_read() {
        let v = json!({"usage":{"prompt_tokens":100,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":64}}});
        assert_eq!(parse_usage(&v).unwrap().cached_prompt, 64);
        let r = json!({"usage":{"input_tokens":100,"output_tokens":1,"input_tokens_details":{"cached_tokens":200}}});
        assert_eq!(
            parse_usage(&r).unwrap().cached_prompt,
            100,
            "never above the prompt"
        );
    }

    #[test]
    fn null_or_absent_usage_is_none() {
        assert_eq!(parse_usage(&json!({"usage": null, "choices": []})), None);
        assert_eq!(parse_usage(&json!({"id": "x"})), None);
    }

    #[test]
    fn tracker_merges_anthropic_stream_events() {
        let mut t = UsageTracker::new();
        assert_eq!(t.usage(), None);
        t.observe(&json!({"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}));
        t.observe(&json!({"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}));
        t.observe(&json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}));
        assert_eq!(
            t.usage(),
            Some(Usage {
                prompt: 25,
                completion: 15,
                total: 40,
                ..Default::default()
            })
        );
    }

    #[test]
    fn tracker_takes_the_openai_final_usage_chunk() {
        let mut t = UsageTracker::new();
        t.observe(&json!({"choices":[{"delta":{"content":"x"}}],"usage":null}));
        t.observe(&json!({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}));
        assert_eq!(
            t.usage(),
            Some(Usage {
                prompt: 3,
                completion: 2,
                total: 5,
                ..Default::default()
            })
        );
    }

    #[test]
    fn delta_text_is_found_in_each_stream_shape() {
        let cases = [
            (json!({"choices":[{"delta":{"content":"abcd"}}]}), 4),
            (
                json!({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"a\":1}"}}]}}]}),
                7,
            ),
            (json!({"choices":[{"text":"ab"}]}), 2),
            (
                json!({"type":"response.output_text.delta","delta":"abc"}),
                3,
            ),
            (
                json!({"type":"content_block_delta","delta":{"type":"text_delta","text":"abcde"}}),
                5,
            ),
            (json!({"type":"message_stop"}), 0),
        ];
        for (ev, want) in cases {
            assert_eq!(delta_text_len(&ev), want, "{ev}");
        }
    }

    #[test]
    fn stream_meter_trips_once_output_passes_the_allowance() {
        let mut m = StreamMeter::new(2);
        assert!(!m.observe_text("abcd"));
        assert!(!m.observe_text("efgh"));
        assert!(m.observe_event(&json!({"choices":[{"delta":{"content":"i"}}]})));
        assert_eq!(m.output_tokens(), 3);
    }

    #[test]
    fn reservation_round_trips_through_json() {
        let r = Reservation {
            policy: 1,
            tier: Some(0),
            slot: 9,
            owner: u64::MAX,
            amount: 300,
            price: Some(crate::rate_limit::Price {
                input_nanos: 150,
                output_nanos: 600,
                cached_input_nanos: 75,
            }),
            prompt_estimate: 12,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Reservation>(&s).unwrap(), r);
    }
}
