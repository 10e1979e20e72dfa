//! Server-sent events: redact delta content as it flows, keep the framing.
//!
//! Events are cut at blank lines (`\n\n`, `\r\n\r\n`, `\r\r`), wherever the
//! chunks split them. For each event whose `data:` is JSON in a known
//! streaming shape, the delta text goes through a hold-back window kept per
//! choice and field, and the event is re-emitted with the released text in
//! place of the delta (possibly empty); ids, `event:` lines, other fields and
//! `[DONE]` are kept. Known shapes:
//! - OpenAI chat chunks: `choices[i].delta.<text field>` and
//!   `choices[i].delta.tool_calls[t].function.arguments`;
//! - OpenAI Responses: `response.*.delta` events with a string `delta`;
//! - Anthropic: `content_block_delta` with `delta.text` / `partial_json` / `thinking`.
//!
//! Held text is flushed when its choice finishes (`finish_reason`, a
//! Responses `*.done`, Anthropic `content_block_stop`), before `[DONE]`, and
//! at the end of the stream, as a synthetic delta event of the same shape.
//! Other JSON events are complete objects: their string values are redacted
//! whole. Non-JSON data goes through its own window.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use crate::llm_api::sse::{field_value, lines, parse_event};

use super::chunk;
use super::json::{encode_string, rewrite, Options, Seg};
use super::stream::TextWindow;
use super::{Counts, Inner};

/// An event larger than this is not an LLM delta: the rest of the stream is
/// redacted as plain text so memory stays bounded.
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Distinct windows per stream (choices × fields); more are redacted per event.
const MAX_WINDOWS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Chat {
        choice: u64,
        /// The usual fields are static: no allocation per event.
        field: Cow<'static, str>,
    },
    ChatTool {
        choice: u64,
        tool: u64,
    },
    Resp {
        kind: String,
        output: u64,
        content: u64,
    },
    Anth {
        index: u64,
        field: String,
    },
    /// Legacy completions `choices[i].text`.
    Completion {
        choice: u64,
    },
    /// A line of an NDJSON stream (Ollama): `message.content`, `response`, ...
    Line {
        field: String,
    },
    Raw,
}

/// How events are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Framing {
    /// `text/event-stream`: events end at a blank line, data in `data:` lines.
    #[default]
    Sse,
    /// NDJSON / JSON Lines: one JSON value per line.
    Lines,
    /// RFC 7464 JSON text sequences: `RS` + JSON + `LF`.
    JsonSeq,
}

#[derive(Debug)]
struct Entry {
    key: Key,
    /// Template facts for the synthetic flush event (item id, delta type, `event:` name).
    item_id: Option<String>,
    delta_type: Option<String>,
    event_line: bool,
    window: TextWindow,
}

/// SSE stream state.
#[derive(Debug, Default)]
pub(crate) struct SseState {
    buf: Vec<u8>,
    line_start: usize,
    entries: Vec<Entry>,
    envelope: Map<String, Value>,
    crlf: bool,
    fallback: Option<TextWindow>,
    framing: Framing,
    drop_logprobs: bool,
    /// Set while rewriting an event whose text was all held: it is not sent.
    drop_event: bool,
    /// The last NDJSON line's envelope (`model`, `created_at`), for flush lines.
    line_envelope: Map<String, Value>,
    /// A caller reads every event's parsed `Value` (metering): chat chunks
    /// then take the `Value` parse too; otherwise the light one ([`LightChunk`]).
    pub(crate) observed: bool,
    /// Text spans of a plain chat chunk ([`chunk::scan`]), reused per event.
    texts: Vec<chunk::Text>,
    /// Choice-level keys ([`chunk::CHOICE_KEYS`] bits) found clean, and found
    /// not clean, when redacted as strings the way the general path does.
    keys_clean: u8,
    keys_dirty: u8,
    /// Released text of the last plain chunk: a buffer reused per event.
    released: String,
    /// The envelope values of the last plain chunk as written, when
    /// `envelope` holds exactly them (no other path changed it since): an
    /// event that repeats them skips the map lookups.
    envelope_raw: [Vec<u8>; 5],
    envelope_raw_ok: bool,
}

/// A chat delta's text field name, static for the usual ones.
fn chat_field(f: &str) -> Cow<'static, str> {
    match f {
        "content" => Cow::Borrowed("content"),
        "refusal" => Cow::Borrowed("refusal"),
        "reasoning_content" => Cow::Borrowed("reasoning_content"),
        "reasoning" => Cow::Borrowed("reasoning"),
        other => Cow::Owned(other.to_string()),
    }
}

fn seg_key<'a>(s: &'a Seg<'_>) -> Option<&'a str> {
    match s {
        Seg::Key(k) => Some(k.as_ref()),
        _ => None,
    }
}

fn seg_index(s: &Seg<'_>) -> Option<usize> {
    match s {
        Seg::Index(i) => Some(*i),
        _ => None,
    }
}

fn u64_of(v: Option<&Value>, default: u64) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(default)
}

struct Ctx<'r> {
    r: &'r Inner,
    mask: u64,
}

/// What the chat branch reads from a chat or completions chunk: per
/// choice its index and whether it finished, whether the event is pure
/// streamed text (it may be held back whole), and per choice the index of
/// each tool call.
struct ChatFacts {
    info: Vec<(u64, bool)>,
    droppable: bool,
    tools: Vec<Vec<Option<u64>>>,
}

impl ChatFacts {
    fn of_value(v: &Value, choices: &[Value]) -> Self {
        let info = choices
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let idx = u64_of(c.get("index"), k as u64);
                let fin = c.get("finish_reason").is_some_and(|f| !f.is_null());
                (idx, fin)
            })
            .collect();
        let tools = choices
            .iter()
            .map(|c| {
                c.pointer("/delta/tool_calls")
                    .and_then(Value::as_array)
                    .map_or_else(Vec::new, |a| {
                        a.iter()
                            .map(|t| t.get("index").and_then(Value::as_u64))
                            .collect()
                    })
            })
            .collect();
        Self {
            info,
            droppable: droppable_chat(v),
            tools,
        }
    }

    /// The index of tool call `t` of choice `k` (its position when absent).
    fn tool_index(&self, k: usize, t: usize) -> u64 {
        self.tools
            .get(k)
            .and_then(|c| c.get(t).copied().flatten())
            .unwrap_or(t as u64)
    }
}

/// Deserializes a present field as `Some`, `null` included (serde's
/// `Option` reads `null` as absent; the envelope and `usage` must not).
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field whose value is not needed, only whether it is there.
#[derive(Debug, Default)]
struct Seen(bool);

impl<'de> serde::Deserialize<'de> for Seen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Seen(true))
    }
}

/// A string or `null`, not kept (the JSON rewriter reads the text); any
/// other type is refused, which sends the event to the `Value` parse.
#[derive(Debug, Default)]
struct TextOrNull;

impl<'de> serde::Deserialize<'de> for TextOrNull {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TextOrNull;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<TextOrNull, E> {
                Ok(TextOrNull)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<TextOrNull, E> {
                Ok(TextOrNull)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<TextOrNull, E> {
                Ok(TextOrNull)
            }
        }
        d.deserialize_any(V)
    }
}

/// The common chat chunk, read without building a `serde_json::Value`
/// (whose maps and strings are one allocation each, the largest cost of an
/// SSE event in Wasm). Only the plain shape is taken: choices with `index`,
/// `delta`, `text`, `logprobs`, `finish_reason`, and deltas with `role` and
/// string-or-null text fields. Anything else (tool calls, content parts,
/// audio, unknown choice or delta fields, duplicate keys) fails this parse
/// and takes the `Value` one, so both read the same facts.
#[derive(Debug, serde::Deserialize)]
struct LightChunk<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    object: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    created: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    model: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    system_fingerprint: Option<Scalar<'a>>,
    choices: Vec<LightChoice>,
    #[serde(default, deserialize_with = "present")]
    usage: Option<Value>,
}

/// An envelope field as the light parse reads it: a string, borrowed from
/// the event when it has no escapes, so an envelope that does not change
/// (every event repeats it) costs no allocation; or a number, boolean or
/// `null`. An object or array fails the light parse (the `Value` path reads it).
#[derive(Debug, PartialEq)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl Scalar<'_> {
    /// Whether `v` is this value.
    fn is(&self, v: Option<&Value>) -> bool {
        match (self, v) {
            (Scalar::Str(s), Some(Value::String(v))) => v == s,
            (Scalar::Other(x), Some(v)) => x == v,
            _ => false,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.into_owned()),
            Scalar::Other(v) => v,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other(Value::from(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other(Value::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                // As `Value`'s own parse: a non-finite float is `null`.
                Ok(Scalar::Other(
                    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
                ))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other(Value::Bool(v)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LightChoice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    delta: Option<LightDelta>,
    #[serde(default)]
    #[allow(dead_code)]
    text: Seen,
    #[serde(default)]
    #[allow(dead_code)]
    logprobs: Seen,
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LightDelta {
    #[serde(default)]
    role: Seen,
    #[serde(default)]
    #[allow(dead_code)]
    content: TextOrNull,
    #[serde(default)]
    #[allow(dead_code)]
    refusal: TextOrNull,
    #[serde(default)]
    #[allow(dead_code)]
    reasoning_content: TextOrNull,
    #[serde(default)]
    #[allow(dead_code)]
    reasoning: TextOrNull,
}

/// Finds `"choices"` in an event: built once, not per event.
static CHOICES: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"choices\""));

impl<'a> LightChunk<'a> {
    /// A chat chunk in the plain shape; `None` for anything else.
    fn parse(payload: &'a [u8]) -> Option<Self> {
        CHOICES.find(payload)?;
        serde_json::from_slice(payload).ok()
    }

    /// The envelope fields, as the `Value` path reads them.
    fn envelope(&mut self) -> [(&'static str, Option<Scalar<'a>>); 5] {
        [
            ("id", self.id.take()),
            ("object", self.object.take()),
            ("created", self.created.take()),
            ("model", self.model.take()),
            ("system_fingerprint", self.system_fingerprint.take()),
        ]
    }

    /// The same facts [`ChatFacts::of_value`] reads from the `Value`.
    fn facts(&self) -> ChatFacts {
        let info = self
            .choices
            .iter()
            .enumerate()
            .map(|(k, c)| (c.index.unwrap_or(k as u64), c.finish_reason.is_some()))
            .collect();
        let droppable = self.usage.as_ref().is_none_or(Value::is_null)
            && self
                .choices
                .iter()
                .all(|c| c.finish_reason.is_none() && c.delta.as_ref().is_none_or(|d| !d.role.0));
        ChatFacts {
            info,
            droppable,
            tools: Vec::new(),
        }
    }
}

/// An event's payload as parsed: a `Value`, or a plain chat chunk's facts.
enum Parsed<'v> {
    Value(&'v Value),
    Chat(ChatFacts),
}

/// Called with each event's parsed JSON payload (metering reads usage from
/// it): every event is parsed once, for both.
pub(crate) type Observer<'o> = &'o mut dyn FnMut(&Value);

/// Pushes `s` into the window for `key` (creating it), finishing it when
/// `finish`; without room for a new window the text is redacted whole.
#[allow(clippy::too_many_arguments)]
fn window_push(
    entries: &mut Vec<Entry>,
    cx: &Ctx<'_>,
    key: Key,
    item_id: Option<String>,
    delta_type: Option<String>,
    event_line: bool,
    s: &str,
    finish: bool,
    counts: &mut Counts,
) -> String {
    let mut out = String::new();
    window_push_into(
        entries, cx, key, item_id, delta_type, event_line, s, finish, counts, &mut out,
    );
    out
}

/// [`window_push`], appending the released text to `out`.
#[allow(clippy::too_many_arguments)]
fn window_push_into(
    entries: &mut Vec<Entry>,
    cx: &Ctx<'_>,
    key: Key,
    item_id: Option<String>,
    delta_type: Option<String>,
    event_line: bool,
    s: &str,
    finish: bool,
    counts: &mut Counts,
    out: &mut String,
) {
    let pos = match entries.iter().position(|e| e.key == key) {
        Some(p) => Some(p),
        None if entries.len() < MAX_WINDOWS => {
            let window = if key == Key::Raw {
                TextWindow::raw()
            } else {
                TextWindow::sized()
            };
            entries.push(Entry {
                key,
                item_id,
                delta_type,
                event_line,
                window,
            });
            Some(entries.len() - 1)
        }
        None => None,
    };
    match pos.and_then(|p| entries.get_mut(p)) {
        Some(e) => {
            e.window.push_str(cx.r, cx.mask, s, counts, out);
            if finish {
                e.window.finish(cx.r, cx.mask, counts, out);
            }
        }
        None => {
            cx.r.redact_into(cx.mask, s, 0, s.len(), counts, out);
        }
    }
    if finish {
        if let Some(p) = pos {
            if p < entries.len() {
                entries.remove(p);
            }
        }
    }
}

/// Keys of a chat `delta` that carry streamed text (windowed), or that may
/// sit beside it in a pure text event.
fn droppable_chat(v: &Value) -> bool {
    let only = |o: &Value, keys: &[&str]| {
        o.as_object()
            .is_some_and(|m| m.keys().all(|k| keys.contains(&k.as_str())))
    };
    if v.get("usage").is_some_and(|u| !u.is_null()) {
        return false;
    }
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        return false;
    };
    choices.iter().all(|c| {
        let fin = c.get("finish_reason").is_some_and(|f| !f.is_null());
        let delta_ok = c.get("delta").is_none_or(|d| {
            d.as_object().is_some_and(|m| {
                m.iter().all(|(k, x)| match k.as_str() {
                    "content" | "refusal" | "reasoning_content" | "reasoning" => {
                        x.is_string() || x.is_null()
                    }
                    "function_call" => only(x, &["arguments"]),
                    "tool_calls" => x.as_array().is_some_and(|a| {
                        a.iter().all(|t| {
                            only(t, &["index", "function"])
                                && t.get("function").is_none_or(|f| only(f, &["arguments"]))
                        })
                    }),
                    _ => false,
                })
            })
        });
        !fin && delta_ok && only(c, &["index", "delta", "text", "logprobs", "finish_reason"])
    })
}

impl SseState {
    /// A stream with this framing; `drop_logprobs` nulls `logprobs` values.
    pub(crate) fn new(framing: Framing, drop_logprobs: bool) -> Self {
        Self {
            framing,
            drop_logprobs,
            ..Self::default()
        }
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.window.held_bytes())
            .sum::<usize>()
            + self.fallback.as_ref().map_or(0, TextWindow::held_bytes)
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buf.len()
            + self
                .entries
                .iter()
                .map(|e| e.window.buffered_bytes())
                .sum::<usize>()
            + self.fallback.as_ref().map_or(0, TextWindow::buffered_bytes)
    }

    pub(crate) fn push(
        &mut self,
        r: &Inner,
        mask: u64,
        chunk: &[u8],
        counts: &mut Counts,
        out: &mut Vec<u8>,
        observe: Observer<'_>,
    ) {
        let cx = Ctx { r, mask };
        if let Some(fb) = &mut self.fallback {
            let mut s = String::new();
            fb.push_bytes(r, mask, chunk, counts, &mut s);
            out.extend_from_slice(s.as_bytes());
            return;
        }
        self.buf.extend_from_slice(chunk);
        // Events (lines) are read in place; the consumed prefix is dropped
        // once, after the loop: dropping it per event moved the rest of a
        // large chunk once per event (quadratic in the chunk).
        let buf = std::mem::take(&mut self.buf);
        let mut done = 0;
        if self.framing != Framing::Sse {
            while let Some(rel) = buf.get(done..).and_then(|b| memchr::memchr(b'\n', b)) {
                let end = done + rel + 1;
                self.process_line(&cx, buf.get(done..end).unwrap_or(&[]), counts, out, observe);
                done = end;
            }
            self.line_start = done;
        }
        while let Some(rel) = buf
            .get(self.line_start..)
            .filter(|_| self.framing == Framing::Sse)
            .and_then(|b| memchr::memchr2(b'\n', b'\r', b))
        {
            let idx = self.line_start + rel;
            let term = if buf.get(idx) == Some(&b'\r') {
                match buf.get(idx + 1) {
                    None => break, // `\r` at the end: maybe the start of `\r\n`
                    Some(b'\n') => {
                        self.crlf = true;
                        2
                    }
                    Some(_) => 1,
                }
            } else {
                1
            };
            let next = idx + term;
            if idx == self.line_start {
                self.process_event(
                    &cx,
                    buf.get(done..next).unwrap_or(&[]),
                    counts,
                    out,
                    observe,
                );
                done = next;
            }
            self.line_start = next;
        }
        self.buf = buf;
        self.buf.drain(..done.min(self.buf.len()));
        self.line_start = self.line_start.saturating_sub(done);
        if self.buf.len() > MAX_EVENT_BYTES {
            self.flush_all(&cx, counts, out);
            let mut fb = TextWindow::raw();
            let mut s = String::new();
            fb.push_bytes(r, mask, &std::mem::take(&mut self.buf), counts, &mut s);
            out.extend_from_slice(s.as_bytes());
            self.line_start = 0;
            self.fallback = Some(fb);
        }
    }

    pub(crate) fn finish(
        &mut self,
        r: &Inner,
        mask: u64,
        counts: &mut Counts,
        out: &mut Vec<u8>,
        observe: Observer<'_>,
    ) {
        let cx = Ctx { r, mask };
        if let Some(fb) = &mut self.fallback {
            let mut s = String::new();
            fb.finish(r, mask, counts, &mut s);
            out.extend_from_slice(s.as_bytes());
            return;
        }
        if !self.buf.is_empty() {
            let event = std::mem::take(&mut self.buf);
            self.line_start = 0;
            if self.framing == Framing::Sse {
                self.process_event(&cx, &event, counts, out, observe);
            } else {
                self.process_line(&cx, &event, counts, out, observe);
            }
        }
        self.flush_all(&cx, counts, out);
    }

    /// One line of an NDJSON / JSON-seq stream (with its terminator).
    fn process_line(
        &mut self,
        cx: &Ctx<'_>,
        line: &[u8],
        counts: &mut Counts,
        out: &mut Vec<u8>,
        observe: Observer<'_>,
    ) {
        let body_end = line
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |i| i + 1);
        let (body, term) = line.split_at(body_end);
        let (rs, json_part) = match body.split_first() {
            Some((0x1e, rest)) => (&body[..1], rest),
            _ => (&body[..0], body),
        };
        if json_part.trim_ascii().is_empty() {
            out.extend_from_slice(line);
            return;
        }
        let mut pre = Vec::new();
        let new = self.rewrite_payload(cx, json_part, false, counts, &mut pre, observe);
        out.extend_from_slice(&pre);
        if std::mem::take(&mut self.drop_event) {
            return;
        }
        out.extend_from_slice(rs);
        out.extend_from_slice(new.as_deref().unwrap_or(json_part));
        out.extend_from_slice(if term.is_empty() { b"\n" } else { term });
    }

    /// Writes one synthetic event carrying `body` in this stream's framing.
    fn write_event(&self, out: &mut Vec<u8>, event_name: Option<&str>, body: &[u8]) {
        match self.framing {
            Framing::Sse => {
                let nl = self.nl();
                if let Some(name) = event_name {
                    out.extend_from_slice(b"event: ");
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(nl);
                }
                write_data(out, body, nl);
                out.extend_from_slice(nl);
            }
            Framing::Lines | Framing::JsonSeq => {
                if self.framing == Framing::JsonSeq {
                    out.push(0x1e);
                }
                out.extend_from_slice(body);
                out.push(b'\n');
            }
        }
    }

    fn nl(&self) -> &'static [u8] {
        if self.crlf {
            b"\r\n"
        } else {
            b"\n"
        }
    }

    fn process_event(
        &mut self,
        cx: &Ctx<'_>,
        event: &[u8],
        counts: &mut Counts,
        out: &mut Vec<u8>,
        observe: Observer<'_>,
    ) {
        // One `data:` line (the usual event) is read in place.
        let mut data: Cow<'_, [u8]> = Cow::Borrowed(&[]);
        let mut n_data = 0;
        let mut event_name: Option<&[u8]> = None;
        for (s, e, _) in lines(event) {
            let line = &event[s..e];
            if let Some(v) = field_value(line, b"data") {
                if n_data == 0 {
                    data = Cow::Borrowed(v);
                } else {
                    let d = data.to_mut();
                    d.push(b'\n');
                    d.extend_from_slice(v);
                }
                n_data += 1;
            } else if let Some(v) = field_value(line, b"event") {
                event_name = Some(v);
            }
        }
        if n_data == 0 {
            out.extend_from_slice(event);
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.flush_all(cx, counts, out);
            out.extend_from_slice(event);
            return;
        }
        let has_event_line = event_name.is_some();
        let mut pre = Vec::new();
        let new_data = self.rewrite_payload(cx, &data, has_event_line, counts, &mut pre, observe);
        out.extend_from_slice(&pre);
        if std::mem::take(&mut self.drop_event) {
            // Its text is all held: it goes out later, in an event that carries it.
            return;
        }
        match new_data {
            None => out.extend_from_slice(event),
            Some(nd) => {
                let mut wrote = false;
                for (s, e, te) in lines(event) {
                    let line = &event[s..e];
                    if field_value(line, b"data").is_some() {
                        if !wrote {
                            write_data(out, &nd, &event[e..te]);
                            wrote = true;
                        }
                    } else {
                        out.extend_from_slice(&event[s..te]);
                    }
                }
            }
        }
    }

    /// Returns the new data for a JSON event (or `None` to keep it), pushing
    /// any synthetic flush events that must precede it into `pre`. Sets
    /// `drop_event` when the event carried text, all of it is held, and the
    /// event has nothing else to say: it is then not sent, and its text goes
    /// out in a later event of the same field.
    /// One event's payload (an SSE event's data, or an NDJSON line): a JSON
    /// event is rewritten field by field; anything else goes through the raw
    /// text window. `None`: the payload is unchanged. Sets `drop_event` when
    /// all of it is held back.
    fn rewrite_payload(
        &mut self,
        cx: &Ctx<'_>,
        payload: &[u8],
        has_event_line: bool,
        counts: &mut Counts,
        pre: &mut Vec<u8>,
        observe: Observer<'_>,
    ) -> Option<Vec<u8>> {
        self.drop_event = false;
        if !self.observed {
            let mut texts = std::mem::take(&mut self.texts);
            texts.clear();
            let plain = chunk::scan(payload, &mut texts);
            let r = plain
                .filter(|p| self.choice_keys_clean(cx, p.choice_keys))
                .map(|p| self.rewrite_plain_chat(cx, payload, &p, &texts, counts));
            self.texts = texts;
            if let Some(r) = r {
                return r;
            }
            if let Some(mut light) = LightChunk::parse(payload) {
                self.envelope_raw_ok = false;
                for (k, x) in light.envelope() {
                    if let Some(x) = x.filter(|x| !x.is(self.envelope.get(k))) {
                        self.envelope.insert(k.to_string(), x.into_value());
                    }
                }
                let facts = light.facts();
                return self.rewrite_json_event(
                    cx,
                    Parsed::Chat(facts),
                    payload,
                    has_event_line,
                    counts,
                    pre,
                );
            }
        }
        match parse_event(payload) {
            Some(v) => {
                observe(&v);
                self.rewrite_json_event(cx, Parsed::Value(&v), payload, has_event_line, counts, pre)
            }
            None => {
                let text = String::from_utf8_lossy(payload);
                let released = window_push(
                    &mut self.entries,
                    cx,
                    Key::Raw,
                    None,
                    None,
                    false,
                    &text,
                    false,
                    counts,
                );
                self.drop_event = released.is_empty();
                (released.as_bytes() != payload).then(|| released.into_bytes())
            }
        }
    }

    /// Whether the choice-level keys in `bits` are left as they are when
    /// redacted whole as strings (what the general path does with them):
    /// checked once per key and stream.
    fn choice_keys_clean(&mut self, cx: &Ctx<'_>, bits: u8) -> bool {
        if bits & self.keys_dirty != 0 {
            return false;
        }
        for (n, key) in chunk::CHOICE_KEYS.iter().enumerate() {
            let m = 1u8 << n;
            if bits & m == 0 || self.keys_clean & m != 0 {
                continue;
            }
            if cx
                .r
                .redact_string(cx.mask, key, &mut Counts::default())
                .is_some()
            {
                self.keys_dirty |= m;
                return false;
            }
            self.keys_clean |= m;
        }
        true
    }

    /// A plain chat chunk ([`chunk::scan`]): its text strings go through
    /// their windows and are spliced back; every other byte is copied as it
    /// is. The same output and counts as the general path, in one walk.
    fn rewrite_plain_chat(
        &mut self,
        cx: &Ctx<'_>,
        payload: &[u8],
        plain: &chunk::Plain<'_>,
        texts: &[chunk::Text],
        counts: &mut Counts,
    ) -> Option<Vec<u8>> {
        if !std::mem::replace(&mut self.envelope_raw_ok, true) {
            // Another path changed the map: nothing cached holds.
            self.envelope_raw.iter_mut().for_each(Vec::clear);
        }
        for (n, (k, lit)) in chunk::ENVELOPE
            .iter()
            .zip(plain.envelope.iter())
            .enumerate()
        {
            let Some(lit) = lit else { continue };
            let (s, e) = plain.envelope_raw.get(n).copied().unwrap_or((0, 0));
            let raw = payload.get(s..e).unwrap_or(&[]);
            let Some(cached) = self.envelope_raw.get_mut(n) else {
                continue;
            };
            if !cached.is_empty() && cached.as_slice() == raw {
                continue;
            }
            cached.clear();
            cached.extend_from_slice(raw);
            let v = self.envelope.get(*k);
            let same = match (lit, v) {
                (chunk::Lit::Str(s), Some(Value::String(v))) => v == s,
                (chunk::Lit::U64(n), Some(Value::Number(v))) => v.as_u64() == Some(*n),
                (chunk::Lit::Bool(b), Some(Value::Bool(v))) => b == v,
                (chunk::Lit::Null, Some(Value::Null)) => true,
                _ => false,
            };
            if !same {
                let value = match lit {
                    chunk::Lit::Str(s) => Value::String((*s).to_string()),
                    chunk::Lit::U64(n) => Value::from(*n),
                    chunk::Lit::Bool(b) => Value::Bool(*b),
                    chunk::Lit::Null => Value::Null,
                };
                self.envelope.insert((*k).to_string(), value);
            }
        }
        let mut out: Vec<u8> = Vec::new();
        let mut copied = 0;
        let mut fed = false;
        let mut released = false;
        // The released text's buffer, reused across events.
        let mut new = std::mem::take(&mut self.released);
        for t in texts {
            let lit = payload.get(t.start..t.end).unwrap_or(&[]);
            let decoded: Cow<'_, str> = if t.escaped {
                Cow::Owned(chunk::decode(std::str::from_utf8(lit).unwrap_or("")))
            } else {
                Cow::Borrowed(
                    lit.get(1..lit.len().saturating_sub(1))
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .unwrap_or(""),
                )
            };
            let key = Key::Chat {
                choice: t.choice,
                field: Cow::Borrowed(t.field),
            };
            new.clear();
            window_push_into(
                &mut self.entries,
                cx,
                key,
                None,
                None,
                false,
                &decoded,
                false,
                counts,
                &mut new,
            );
            fed |= !decoded.is_empty();
            released |= !new.is_empty();
            if new != decoded {
                if out.is_empty() {
                    out.reserve(payload.len() + 16);
                }
                out.extend_from_slice(payload.get(copied..t.start).unwrap_or(&[]));
                encode_string(&new, &mut out);
                copied = t.end;
            }
        }
        self.released = new;
        self.drop_event = plain.droppable && fed && !released;
        if copied == 0 {
            return None;
        }
        out.extend_from_slice(payload.get(copied..).unwrap_or(&[]));
        Some(out)
    }

    fn rewrite_json_event(
        &mut self,
        cx: &Ctx<'_>,
        parsed: Parsed<'_>,
        data: &[u8],
        has_event_line: bool,
        counts: &mut Counts,
        pre: &mut Vec<u8>,
    ) -> Option<Vec<u8>> {
        static NULL: Value = Value::Null;
        let (v, chat) = match parsed {
            Parsed::Value(v) => {
                self.envelope_raw_ok = false;
                let chat = v.get("choices").and_then(Value::as_array).map(|choices| {
                    // OpenAI chat chunk, or a legacy completions chunk.
                    for k in ["id", "object", "created", "model", "system_fingerprint"] {
                        if let Some(x) = v.get(k).filter(|x| self.envelope.get(k) != Some(*x)) {
                            self.envelope.insert(k.to_string(), x.clone());
                        }
                    }
                    ChatFacts::of_value(v, choices)
                });
                (v, chat)
            }
            // The light parse updated the envelope already.
            Parsed::Chat(facts) => (&NULL, Some(facts)),
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let opts = Options {
            drop_logprobs: self.drop_logprobs,
        };
        let entries = &mut self.entries;
        let redact_whole = |s: &str, counts: &mut Counts| cx.r.redact_string(cx.mask, s, counts);
        // Text fed to windows in this event, and text they released.
        let mut fed = false;
        let mut released = false;
        let mut push = |entries: &mut Vec<Entry>,
                        key: Key,
                        item_id: Option<String>,
                        delta_type: Option<String>,
                        event_line: bool,
                        s: &str,
                        fin: bool,
                        counts: &mut Counts| {
            let out = window_push(
                entries, cx, key, item_id, delta_type, event_line, s, fin, counts,
            );
            fed |= !s.is_empty();
            released |= !out.is_empty();
            out
        };
        let droppable;
        let result = if let Some(facts) = chat {
            droppable = facts.droppable;
            let info = &facts.info;
            let tool_index = |k: usize, t: usize| facts.tool_index(k, t);
            let mut touched: Vec<Key> = Vec::new();
            let r = rewrite(data, opts, &mut |path, s| {
                let Some(k) = path.get(1).and_then(seg_index) else {
                    // Top-level keys and scalars (the envelope) are kept;
                    // strings nested under another top-level key are not
                    // chunk text: redacted whole.
                    return if path.len() <= 1 {
                        None
                    } else {
                        redact_whole(s, counts)
                    };
                };
                if path.first().and_then(seg_key) != Some("choices") {
                    return redact_whole(s, counts);
                }
                let (choice, fin) = info.get(k).copied().unwrap_or((k as u64, false));
                let key = match path.get(2..) {
                    // Legacy completions: `choices[i].text`.
                    Some([Seg::Key(t)]) if t == "text" => Key::Completion { choice },
                    Some([Seg::Key(d), rest @ ..]) if d == "delta" => match rest {
                        [Seg::Key(f)] if f != "role" && f != "type" => Key::Chat {
                            choice,
                            field: chat_field(f),
                        },
                        [Seg::Key(tc), Seg::Index(t), Seg::Key(func), Seg::Key(args)]
                            if tc == "tool_calls" && func == "function" && args == "arguments" =>
                        {
                            Key::ChatTool {
                                choice,
                                tool: tool_index(k, *t),
                            }
                        }
                        [Seg::Key(a), Seg::Key(b)]
                            if (a == "function_call" && b == "arguments")
                                || (a == "audio" && b == "transcript") =>
                        {
                            Key::Chat {
                                choice,
                                field: Cow::Owned(format!("{a}.{b}")),
                            }
                        }
                        // Content as an array of parts: one window over their text.
                        [Seg::Key(c), Seg::Index(_), Seg::Key(t)]
                            if c == "content" && (t == "text" || t == "refusal") =>
                        {
                            Key::Chat {
                                choice,
                                field: Cow::Borrowed("content[].text"),
                            }
                        }
                        // roles, tool ids, function names, part types, audio ids: kept
                        [.., Seg::Key(f)]
                            if matches!(f.as_ref(), "role" | "type" | "id" | "name" | "data") =>
                        {
                            return None
                        }
                        [.., Seg::ObjectKey] => return None,
                        _ => return redact_whole(s, counts),
                    },
                    _ => return redact_whole(s, counts),
                };
                touched.push(key.clone());
                Some(push(entries, key, None, None, false, s, fin, counts))
            });
            // Choices that finished in this event: flush their other windows before it.
            let finished: Vec<u64> = info
                .iter()
                .filter(|(_, fin)| *fin)
                .map(|(c, _)| *c)
                .collect();
            let keys: Vec<Key> = self
                .entries
                .iter()
                .map(|e| e.key.clone())
                .filter(|key| match key {
                    Key::Chat { choice: c, .. }
                    | Key::ChatTool { choice: c, .. }
                    | Key::Completion { choice: c } => finished.contains(c),
                    _ => false,
                })
                .filter(|key| !touched.contains(key))
                .collect();
            for key in keys {
                self.flush_one(cx, &key, counts, pre);
            }
            r
        } else if ty.starts_with("response.")
            && ty.ends_with(".delta")
            && v.get("delta").is_some_and(Value::is_string)
        {
            // OpenAI Responses delta event.
            droppable = true;
            let key = Key::Resp {
                kind: ty.to_string(),
                output: u64_of(v.get("output_index"), 0),
                content: u64_of(v.get("content_index"), 0),
            };
            let item_id = v.get("item_id").and_then(Value::as_str).map(str::to_string);
            rewrite(data, opts, &mut |path, s| match path {
                [Seg::Key(d)] if d == "delta" => Some(push(
                    entries,
                    key.clone(),
                    item_id.clone(),
                    None,
                    has_event_line,
                    s,
                    false,
                    counts,
                )),
                [Seg::Key(k)] if k == "type" || k == "item_id" => None,
                [Seg::ObjectKey] => None,
                _ => redact_whole(s, counts),
            })
        } else if ty == "content_block_delta" {
            // Anthropic delta.
            droppable = true;
            let index = u64_of(v.get("index"), 0);
            let delta_type = v
                .pointer("/delta/type")
                .and_then(Value::as_str)
                .map(str::to_string);
            rewrite(data, opts, &mut |path, s| match path {
                [Seg::Key(d), Seg::Key(f)]
                    if d == "delta"
                        && matches!(f.as_ref(), "text" | "partial_json" | "thinking") =>
                {
                    Some(push(
                        entries,
                        Key::Anth {
                            index,
                            field: f.to_string(),
                        },
                        None,
                        delta_type.clone(),
                        has_event_line,
                        s,
                        false,
                        counts,
                    ))
                }
                [Seg::Key(d), Seg::Key(f)] if d == "delta" && (f == "type" || f == "signature") => {
                    None
                }
                [Seg::Key(k)] if k == "type" => None,
                [.., Seg::ObjectKey] => None,
                _ => redact_whole(s, counts),
            })
        } else if self.framing != Framing::Sse
            && (v.pointer("/message/content").is_some_and(Value::is_string)
                || v.get("response").is_some_and(Value::is_string))
        {
            // An Ollama-style line: `message.content` (chat) or `response` (generate).
            let done = v.get("done").and_then(Value::as_bool).unwrap_or(false);
            for k in ["model", "created_at"] {
                if let Some(x) = v.get(k).filter(|x| self.line_envelope.get(k) != Some(*x)) {
                    self.line_envelope.insert(k.to_string(), x.clone());
                }
            }
            droppable = !done && v.get("done_reason").is_none();
            if done {
                self.flush_all(cx, counts, pre);
            }
            let entries = &mut self.entries;
            rewrite(data, opts, &mut |path, s| {
                let field = match path {
                    [Seg::Key(m), Seg::Key(f)]
                        if m == "message" && (f == "content" || f == "thinking") =>
                    {
                        format!("message.{f}")
                    }
                    [Seg::Key(f)] if f == "response" || f == "thinking" => f.to_string(),
                    [.., Seg::Key(f)] if matches!(f.as_ref(), "role" | "model" | "created_at") => {
                        return None
                    }
                    [.., Seg::ObjectKey] => return None,
                    _ => return redact_whole(s, counts),
                };
                Some(push(
                    entries,
                    Key::Line { field },
                    None,
                    None,
                    false,
                    s,
                    done,
                    counts,
                ))
            })
        } else {
            droppable = false;
            // A complete object: flush what it closes, then redact its strings whole.
            if ty == "content_block_stop" {
                let index = u64_of(v.get("index"), 0);
                let keys: Vec<Key> = self
                    .entries
                    .iter()
                    .map(|e| e.key.clone())
                    .filter(|k| matches!(k, Key::Anth { index: i, .. } if *i == index))
                    .collect();
                for key in keys {
                    self.flush_one(cx, &key, counts, pre);
                }
            } else if ty == "message_stop"
                || ty == "response.completed"
                || ty == "response.incomplete"
            {
                self.flush_all(cx, counts, pre);
            } else if let Some(base) = ty
                .strip_suffix(".done")
                .filter(|_| ty.starts_with("response."))
            {
                let key = Key::Resp {
                    kind: format!("{base}.delta"),
                    output: u64_of(v.get("output_index"), 0),
                    content: u64_of(v.get("content_index"), 0),
                };
                self.flush_one(cx, &key, counts, pre);
            }
            rewrite(data, opts, &mut |_, s| {
                cx.r.redact_string(cx.mask, s, counts)
            })
        };
        self.drop_event = droppable && fed && !released;
        // Unparseable by our walker although serde accepted it: redact the data as text.
        match result {
            Ok(x) => x,
            Err(_) => {
                self.drop_event = false;
                let text = String::from_utf8_lossy(data);
                let mut o = String::new();
                cx.r.redact_into(cx.mask, &text, 0, text.len(), counts, &mut o);
                (o.as_bytes() != data).then(|| o.into_bytes())
            }
        }
    }

    fn flush_all(&mut self, cx: &Ctx<'_>, counts: &mut Counts, out: &mut Vec<u8>) {
        let keys: Vec<Key> = self.entries.iter().map(|e| e.key.clone()).collect();
        for key in keys {
            self.flush_one(cx, &key, counts, out);
        }
    }

    /// Finishes the window for `key` and writes its held text as a synthetic
    /// delta event of the matching shape.
    fn flush_one(&mut self, cx: &Ctx<'_>, key: &Key, counts: &mut Counts, out: &mut Vec<u8>) {
        let Some(p) = self.entries.iter().position(|e| &e.key == key) else {
            return;
        };
        let mut e = self.entries.remove(p);
        let mut text = String::new();
        e.window.finish(cx.r, cx.mask, counts, &mut text);
        if text.is_empty() {
            return;
        }
        let (event_name, value): (Option<&str>, Value) = match &e.key {
            Key::Chat { choice, field } => {
                let delta = match field.as_ref() {
                    "content[].text" => json!({"content": [{"type": "text", "text": text}]}),
                    f => match f.split_once('.') {
                        Some((a, b)) => json!({ a: { b: text } }),
                        None => json!({ f: text }),
                    },
                };
                (None, self.chat_event(*choice, delta))
            }
            Key::Completion { choice } => {
                let mut m = self.envelope.clone();
                m.insert(
                    "choices".into(),
                    json!([{"index": choice, "text": text, "logprobs": null, "finish_reason": null}]),
                );
                (None, Value::Object(m))
            }
            Key::Line { field } => {
                let mut m = self.line_envelope.clone();
                match field.split_once('.') {
                    Some((a, b)) => {
                        m.insert(a.into(), json!({"role": "assistant", b: text}));
                    }
                    None => {
                        m.insert(field.clone(), Value::String(text));
                    }
                }
                m.insert("done".into(), Value::Bool(false));
                (None, Value::Object(m))
            }
            Key::ChatTool { choice, tool } => (
                None,
                self.chat_event(
                    *choice,
                    json!({"tool_calls": [{"index": tool, "function": {"arguments": text}}]}),
                ),
            ),
            Key::Resp {
                kind,
                output,
                content,
            } => {
                let mut m = Map::new();
                m.insert("type".into(), Value::String(kind.clone()));
                if let Some(id) = e.item_id.take() {
                    m.insert("item_id".into(), Value::String(id));
                }
                m.insert("output_index".into(), json!(output));
                m.insert("content_index".into(), json!(content));
                m.insert("delta".into(), Value::String(text));
                (e.event_line.then_some(kind.as_str()), Value::Object(m))
            }
            Key::Anth { index, field } => {
                let dt = e
                    .delta_type
                    .clone()
                    .unwrap_or_else(|| "text_delta".to_string());
                (
                    e.event_line.then_some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": dt, field.as_str(): text}}),
                )
            }
            Key::Raw => {
                self.write_event(out, None, text.as_bytes());
                return;
            }
        };
        let body = serde_json::to_vec(&value).unwrap_or_default();
        self.write_event(out, event_name, &body);
    }

    fn chat_event(&self, choice: u64, delta: Value) -> Value {
        let mut m = self.envelope.clone();
        m.insert(
            "choices".into(),
            json!([{"index": choice, "delta": delta, "finish_reason": null}]),
        );
        Value::Object(m)
    }
}

/// Writes `data` as `data:` lines (one per line of `data`), each ended by `nl`.
fn write_data(out: &mut Vec<u8>, data: &[u8], nl: &[u8]) {
    let nl = if nl.is_empty() { b"\n".as_slice() } else { nl };
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(nl);
    }
}

#[cfg(test)]
mod light_tests {
    use super::*;

    #[test]
    fn the_light_parse_takes_plain_chunks_only() {
        let plain = br#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":null,"choices":[{"index":0,"delta":{"role":"assistant","content":"hi \"x\""},"logprobs":null,"finish_reason":null}]}"#;
        let mut light = LightChunk::parse(plain).unwrap();
        let facts = light.facts();
        assert_eq!(facts.info, vec![(0, false)]);
        assert!(!facts.droppable, "a role makes the event not droppable");
        // `null` envelope fields are kept, as the Value path keeps them.
        let env = light.envelope();
        assert_eq!(
            env[4],
            ("system_fingerprint", Some(Scalar::Other(Value::Null)))
        );
        assert_eq!(env[0], ("id", Some(Scalar::Str(Cow::Borrowed("c")))));
        let text = br#"{"choices":[{"index":3,"delta":{"content":"a"}}]}"#;
        let facts = LightChunk::parse(text).unwrap().facts();
        assert_eq!((facts.info, facts.droppable), (vec![(3, false)], true));
        let fin = br#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}"#;
        let facts = LightChunk::parse(fin).unwrap().facts();
        assert_eq!((facts.info, facts.droppable), (vec![(0, true)], false));
        for refused in [
            &br#"{"choices":[{"index":0,"delta":{"tool_calls":[]}}]}"#[..],
            br#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"a"}]}}]}"#,
            br#"{"choices":[{"index":0,"delta":null}]}"#,
            br#"{"choices":[{"index":"0","delta":{}}]}"#,
            br#"{"choices":[{"index":0,"other":1}]}"#,
            br#"{"choices":[],"choices":[]}"#,
            br#"{"type":"content_block_delta","delta":{"text":"a"}}"#,
            br#"[1]"#,
        ] {
            assert!(
                LightChunk::parse(refused).is_none(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }
}
