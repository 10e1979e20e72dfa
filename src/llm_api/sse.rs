//! Stream events of the LLM APIs, parsed once: server-sent event framing,
//! the JSON payload of one event, and what the filter reads from it (usage
//! and the length of streamed text) for OpenAI chat, completions and
//! Responses streams and Anthropic message streams.
//!
//! Response redaction cuts the stream into events and parses each event's
//! data once ([`parse_event`]); metering reads the same parsed event
//! ([`usage_fields`], [`delta_text_len`]) instead of parsing it again.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use serde_json::Value;

/// The JSON payload of one event (an SSE event's joined `data:` lines, or
/// one NDJSON line); `None` when it is not JSON (`[DONE]`, plain text).
pub fn parse_event(payload: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(payload).ok()
}

/// The lines of an SSE event as `(start, end of content, end including the
/// terminator)`; `\n`, `\r\n` and `\r` all end a line.
pub fn split_lines(event: &[u8]) -> Vec<(usize, usize, usize)> {
    lines(event).collect()
}

/// [`split_lines`] as an iterator (nothing allocated).
pub fn lines(event: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut s = 0;
    std::iter::from_fn(move || {
        if s >= event.len() {
            return None;
        }
        let rest = event.get(s..).unwrap_or(&[]);
        let line = match memchr::memchr2(b'\n', b'\r', rest) {
            None => (s, event.len(), event.len()),
            Some(r) => {
                let e = s + r;
                let te = if event.get(e) == Some(&b'\r') && event.get(e + 1) == Some(&b'\n') {
                    e + 2
                } else {
                    e + 1
                };
                (s, e, te)
            }
        };
        s = line.2;
        Some(line)
    })
}

/// The value of an SSE field line `name:value` (one leading space dropped);
/// `None` when the line is another field.
pub fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let v = rest.strip_prefix(b":")?;
    Some(v.strip_prefix(b" ").unwrap_or(v))
}

/// Usage fields as found in one document (a response body or one stream
/// event); absent ones are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageFields {
    /// Input tokens (Anthropic: including cache reads and writes).
    pub prompt: Option<u64>,
    /// Output tokens.
    pub completion: Option<u64>,
    /// Total as reported.
    pub total: Option<u64>,
    /// Input tokens read from a prompt cache.
    pub cached: Option<u64>,
}

/// The usage in one document: OpenAI chat / completions / Responses and
/// Anthropic bodies and `message_delta` events carry `usage` at the top;
/// the Responses stream's `response.completed` nests it in `response`,
/// Anthropic's `message_start` in `message`. `None` when there is none.
pub fn usage_fields(json: &Value) -> Option<UsageFields> {
    let usage = [
        json.get("usage"),
        json.get("response").and_then(|r| r.get("usage")),
        json.get("message").and_then(|m| m.get("usage")),
    ]
    .into_iter()
    .flatten()
    .find(|u| u.is_object())?;
    let num = |k: &str| usage.get(k).and_then(Value::as_u64);
    let cache = num("cache_creation_input_tokens")
        .unwrap_or(0)
        .saturating_add(num("cache_read_input_tokens").unwrap_or(0));
    let prompt =
        num("prompt_tokens").or_else(|| num("input_tokens").map(|n| n.saturating_add(cache)));
    let completion = num("completion_tokens").or_else(|| num("output_tokens"));
    let total = num("total_tokens");
    if prompt.is_none() && completion.is_none() && total.is_none() {
        return None;
    }
    // Cached input: OpenAI `*_tokens_details.cached_tokens`, Anthropic cache reads.
    // `get` chains, not `pointer`: a pointer allocates to unescape each step.
    let nested = |outer: &str| usage.get(outer).and_then(|d| d.get("cached_tokens"));
    let cached = nested("prompt_tokens_details")
        .or_else(|| nested("input_tokens_details"))
        .and_then(Value::as_u64)
        .or_else(|| num("cache_read_input_tokens"));
    Some(UsageFields {
        prompt,
        completion,
        total,
        cached,
    })
}

/// The parts of a whole JSON body that [`usage_fields`] reads (`usage`,
/// `response`, `message` at the top level), parsed without building the
/// rest: the answer's text and choices are skipped, not copied into a tree.
/// As with a full parse, the body must be valid JSON, and of two equal keys
/// the later wins. `None` for invalid JSON or a body that is not an object.
pub fn usage_document(body: &[u8]) -> Option<Value> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    /// A top-level key: one of the three read, or any other (not copied).
    struct Key(Option<&'static str>);
    impl<'de> serde::Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl Visitor<'_> for KeyVisitor {
                type Value = Key;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a key")
                }
                fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
                    Ok(Key(["usage", "response", "message"]
                        .into_iter()
                        .find(|name| *name == k)))
                }
            }
            d.deserialize_str(KeyVisitor)
        }
    }

    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = serde_json::Map<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = serde_json::Map::new();
            while let Some(Key(name)) = map.next_key::<Key>()? {
                match name {
                    Some(name) => {
                        let value: Value = map.next_value()?;
                        kept.insert(name.to_string(), value);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(kept)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let kept = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    Some(Value::Object(kept))
}

/// Bytes of generated text in one stream event: OpenAI chat
/// (`choices[].delta.content`, `reasoning_content`, tool-call arguments) and
/// completions (`choices[].text`), Responses API (`*.delta` events),
/// Anthropic (`content_block_delta` text, thinking, partial JSON).
pub fn delta_text_len(event: &Value) -> usize {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len);
    let mut len = 0usize;
    if let Some(choices) = event.get("choices").and_then(Value::as_array) {
        for c in choices {
            len = len.saturating_add(s(c.get("text")));
            if let Some(d) = c.get("delta") {
                len = len
                    .saturating_add(s(d.get("content")))
                    .saturating_add(s(d.get("reasoning_content")));
                for call in d
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    len = len.saturating_add(s(call.pointer("/function/arguments")));
                }
            }
        }
    }
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    if kind.starts_with("response.") && kind.ends_with(".delta") {
        len = len.saturating_add(s(event.get("delta")));
    }
    if kind == "content_block_delta" {
        if let Some(d) = event.get("delta") {
            len = len
                .saturating_add(s(d.get("text")))
                .saturating_add(s(d.get("thinking")))
                .saturating_add(s(d.get("partial_json")));
        }
    }
    len
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_document_reads_what_a_full_parse_would() {
        use super::{usage_document, usage_fields};
        let bodies: &[&str] = &[
            r#"{"id":"x","choices":[{"message":{"content":"hi \"usage\":{}"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            r#"{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":9}}"#,
            r#"{"type":"message","message":{"usage":{"input_tokens":5,"output_tokens":2}},"content":[{"type":"text","text":"a"}]}"#,
            r#"{"response":{"usage":{"input_tokens":8,"output_tokens":1,"input_tokens_details":{"cached_tokens":4}}}}"#,
            r#"{"usage":{"input_tokens":2,"cache_read_input_tokens":3,"output_tokens":1}, "n": [1, 2.5, null, true, {"a": "\u00e9"}]}"#,
            r#"{"us\u0061ge":{"prompt_tokens":6,"completion_tokens":1}}"#,
            r#"{"usage":null}"#,
            r#"{"choices":[]}"#,
            r#"[{"usage":{"prompt_tokens":1}}]"#,
            r#"{"usage":{"prompt_tokens":1}} trailing"#,
            r#"{"usage":{"prompt_tokens":1}"#,
            r#""usage""#,
            "",
            "not json",
        ];
        for body in bodies {
            let full = serde_json::from_slice::<serde_json::Value>(body.as_bytes())
                .ok()
                .and_then(|v| usage_fields(&v));
            let light = usage_document(body.as_bytes()).and_then(|v| usage_fields(&v));
            assert_eq!(light, full, "{body}");
        }
        assert!(usage_document(b"{\"usage\":{\"total_tokens\":1}}").is_some());
        assert!(usage_document(b"[1]").is_none());
        assert!(usage_document(b"{} x").is_none());
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn lines_end_at_any_terminator() {
        let ev = b"event: a\r\ndata: x\rdata: y\n";
        let lines: Vec<&[u8]> = split_lines(ev).iter().map(|&(s, e, _)| &ev[s..e]).collect();
        assert_eq!(lines, vec![&b"event: a"[..], b"data: x", b"data: y"]);
        assert_eq!(field_value(b"data: x", b"data"), Some(&b"x"[..]));
        assert_eq!(field_value(b"data:x", b"data"), Some(&b"x"[..]));
        assert_eq!(field_value(b"data", b"data"), Some(&b""[..]));
        assert_eq!(field_value(b"datum: x", b"data"), None);
    }

    #[test]
    fn non_json_payloads_are_not_events() {
        assert!(parse_event(b"[DONE]").is_none());
        assert!(parse_event(b"hello").is_none());
        assert!(parse_event(br#"{"a":1}"#).is_some());
    }

    #[test]
    fn usage_is_read_from_every_api_shape() {
        let openai = json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1}}});
        assert_eq!(
            usage_fields(&openai),
            Some(UsageFields {
                prompt: Some(3),
                completion: Some(4),
                total: Some(7),
                cached: Some(1)
            })
        );
        let responses = json!({"type": "response.completed",
            "response": {"usage": {"input_tokens": 5, "output_tokens": 6}}});
        assert_eq!(usage_fields(&responses).and_then(|u| u.completion), Some(6));
        let anthropic = json!({"type": "message_start", "message": {"usage": {"input_tokens": 5,
            "cache_read_input_tokens": 2, "output_tokens": 1}}});
        let u = usage_fields(&anthropic).unwrap();
        assert_eq!((u.prompt, u.cached), (Some(7), Some(2)));
        assert_eq!(usage_fields(&json!({"usage": null})), None);
        assert_eq!(usage_fields(&json!({"usage": {"other": 1}})), None);
    }

    #[test]
    fn streamed_text_is_counted_per_api() {
        let chat = json!({"choices": [{"delta": {"content": "abc", "reasoning_content": "de",
            "tool_calls": [{"function": {"arguments": "{}"}}]}}, {"text": "xyz"}]});
        assert_eq!(delta_text_len(&chat), 3 + 2 + 2 + 3);
        let resp = json!({"type": "response.output_text.delta", "delta": "hello"});
        assert_eq!(delta_text_len(&resp), 5);
        let anth =
            json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}});
        assert_eq!(delta_text_len(&anth), 2);
        assert_eq!(delta_text_len(&json!({"type": "message_stop"})), 0);
    }
}
