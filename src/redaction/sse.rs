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

use serde_json::{json, Map, Value};

use super::json::{rewrite_strings, Seg};
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
        field: String,
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
    Raw,
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
}

fn seg_key<'a>(s: &'a Seg<'_>) -> Option<&'a str> {
    match s {
        Seg::Key(k) => Some(k.as_ref()),
        Seg::Index(_) => None,
    }
}

fn seg_index(s: &Seg<'_>) -> Option<usize> {
    match s {
        Seg::Index(i) => Some(*i),
        Seg::Key(_) => None,
    }
}

fn u64_of(v: Option<&Value>, default: u64) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(default)
}

struct Ctx<'r> {
    r: &'r Inner,
    mask: u64,
}

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
    let pos = match entries.iter().position(|e| e.key == key) {
        Some(p) => Some(p),
        None if entries.len() < MAX_WINDOWS => {
            entries.push(Entry {
                key,
                item_id,
                delta_type,
                event_line,
                window: TextWindow::default(),
            });
            Some(entries.len() - 1)
        }
        None => None,
    };
    let mut out = String::new();
    match pos.and_then(|p| entries.get_mut(p)) {
        Some(e) => {
            e.window.push_str(cx.r, cx.mask, s, counts, &mut out);
            if finish {
                e.window.finish(cx.r, cx.mask, counts, &mut out);
            }
        }
        None => {
            cx.r.redact_into(cx.mask, s, 0, s.len(), counts, &mut out);
        }
    }
    if finish {
        if let Some(p) = pos {
            if p < entries.len() {
                entries.remove(p);
            }
        }
    }
    out
}

impl SseState {
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
    ) {
        let cx = Ctx { r, mask };
        if let Some(fb) = &mut self.fallback {
            let mut s = String::new();
            fb.push_bytes(r, mask, chunk, counts, &mut s);
            out.extend_from_slice(s.as_bytes());
            return;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(rel) = self
            .buf
            .get(self.line_start..)
            .and_then(|b| memchr::memchr2(b'\n', b'\r', b))
        {
            let idx = self.line_start + rel;
            let term = if self.buf.get(idx) == Some(&b'\r') {
                match self.buf.get(idx + 1) {
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
                let event: Vec<u8> = self.buf.drain(..next).collect();
                self.line_start = 0;
                self.process_event(&cx, &event, counts, out);
            } else {
                self.line_start = next;
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            self.flush_all(&cx, counts, out);
            let mut fb = TextWindow::default();
            let mut s = String::new();
            fb.push_bytes(r, mask, &std::mem::take(&mut self.buf), counts, &mut s);
            out.extend_from_slice(s.as_bytes());
            self.line_start = 0;
            self.fallback = Some(fb);
        }
    }

    pub(crate) fn finish(&mut self, r: &Inner, mask: u64, counts: &mut Counts, out: &mut Vec<u8>) {
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
            self.process_event(&cx, &event, counts, out);
        }
        self.flush_all(&cx, counts, out);
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
    ) {
        let lines = split_lines(event);
        let mut data = Vec::new();
        let mut n_data = 0;
        let mut event_name: Option<&[u8]> = None;
        for &(s, e, _) in &lines {
            let line = &event[s..e];
            if let Some(v) = field_value(line, b"data") {
                if n_data > 0 {
                    data.push(b'\n');
                }
                data.extend_from_slice(v);
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
        let new_data: Option<Vec<u8>> = match serde_json::from_slice::<Value>(&data) {
            Ok(v) => self.rewrite_json_event(cx, &v, &data, has_event_line, counts, &mut pre),
            Err(_) => {
                let text = String::from_utf8_lossy(&data);
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
                (released.as_bytes() != data.as_slice()).then(|| released.into_bytes())
            }
        };
        out.extend_from_slice(&pre);
        match new_data {
            None => out.extend_from_slice(event),
            Some(nd) => {
                let mut wrote = false;
                for &(s, e, te) in &lines {
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
    /// any synthetic flush events that must precede it into `pre`.
    fn rewrite_json_event(
        &mut self,
        cx: &Ctx<'_>,
        v: &Value,
        data: &[u8],
        has_event_line: bool,
        counts: &mut Counts,
        pre: &mut Vec<u8>,
    ) -> Option<Vec<u8>> {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let entries = &mut self.entries;
        let redact_whole = |s: &str, counts: &mut Counts| cx.r.redact_string(cx.mask, s, counts);
        let result = if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            // OpenAI chat chunk.
            for k in ["id", "object", "created", "model", "system_fingerprint"] {
                if let Some(x) = v.get(k) {
                    self.envelope.insert(k.to_string(), x.clone());
                }
            }
            let info: Vec<(u64, bool)> = choices
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let idx = u64_of(c.get("index"), k as u64);
                    let fin = c.get("finish_reason").is_some_and(|f| !f.is_null());
                    (idx, fin)
                })
                .collect();
            let tool_index = |k: usize, t: usize| -> u64 {
                u64_of(
                    choices
                        .get(k)
                        .and_then(|c| c.pointer("/delta/tool_calls"))
                        .and_then(|tc| tc.get(t))
                        .and_then(|x| x.get("index")),
                    t as u64,
                )
            };
            let mut touched: Vec<Key> = Vec::new();
            let r = rewrite_strings(data, &mut |path, s| {
                let k = path.get(1).and_then(seg_index)?;
                if path.first().and_then(seg_key) != Some("choices") {
                    return redact_whole(s, counts);
                }
                let (choice, fin) = info.get(k).copied().unwrap_or((k as u64, false));
                if path.get(2).and_then(seg_key) != Some("delta") {
                    return redact_whole(s, counts);
                }
                let key = match path.get(3..) {
                    Some([Seg::Key(f)]) if f != "role" && f != "type" => Key::Chat {
                        choice,
                        field: f.to_string(),
                    },
                    Some([Seg::Key(tc), Seg::Index(t), Seg::Key(func), Seg::Key(args)])
                        if tc == "tool_calls" && func == "function" && args == "arguments" =>
                    {
                        Key::ChatTool {
                            choice,
                            tool: tool_index(k, *t),
                        }
                    }
                    _ => return None, // roles, tool ids, function names: kept
                };
                touched.push(key.clone());
                Some(window_push(
                    entries, cx, key, None, None, false, s, fin, counts,
                ))
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
                    Key::Chat { choice: c, .. } | Key::ChatTool { choice: c, .. } => {
                        finished.contains(c)
                    }
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
            let key = Key::Resp {
                kind: ty.to_string(),
                output: u64_of(v.get("output_index"), 0),
                content: u64_of(v.get("content_index"), 0),
            };
            let item_id = v.get("item_id").and_then(Value::as_str).map(str::to_string);
            rewrite_strings(data, &mut |path, s| match path {
                [Seg::Key(d)] if d == "delta" => Some(window_push(
                    entries,
                    cx,
                    key.clone(),
                    item_id.clone(),
                    None,
                    has_event_line,
                    s,
                    false,
                    counts,
                )),
                [Seg::Key(k)] if k == "type" || k == "item_id" => None,
                _ => redact_whole(s, counts),
            })
        } else if ty == "content_block_delta" {
            // Anthropic delta.
            let index = u64_of(v.get("index"), 0);
            let delta_type = v
                .pointer("/delta/type")
                .and_then(Value::as_str)
                .map(str::to_string);
            rewrite_strings(data, &mut |path, s| match path {
                [Seg::Key(d), Seg::Key(f)]
                    if d == "delta"
                        && matches!(f.as_ref(), "text" | "partial_json" | "thinking") =>
                {
                    Some(window_push(
                        entries,
                        cx,
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
                _ => redact_whole(s, counts),
            })
        } else {
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
            rewrite_strings(data, &mut |_, s| cx.r.redact_string(cx.mask, s, counts))
        };
        // Unparseable by our walker although serde accepted it: redact the data as text.
        match result {
            Ok(x) => x,
            Err(_) => {
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
        let nl = self.nl();
        let (event_name, value): (Option<&str>, Value) = match &e.key {
            Key::Chat { choice, field } => {
                let mut delta = Map::new();
                delta.insert(field.clone(), Value::String(text));
                (None, self.chat_event(*choice, Value::Object(delta)))
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
                write_data(out, text.as_bytes(), nl);
                out.extend_from_slice(nl);
                return;
            }
        };
        if let Some(name) = event_name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(nl);
        }
        let body = serde_json::to_vec(&value).unwrap_or_default();
        write_data(out, &body, nl);
        out.extend_from_slice(nl);
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

/// Lines of an event as (start, end of content, end including terminator).
fn split_lines(ev: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    let mut s = 0;
    while s < ev.len() {
        let rel = memchr::memchr2(b'\n', b'\r', &ev[s..]);
        match rel {
            None => {
                v.push((s, ev.len(), ev.len()));
                break;
            }
            Some(r) => {
                let e = s + r;
                let te = if ev.get(e) == Some(&b'\r') && ev.get(e + 1) == Some(&b'\n') {
                    e + 2
                } else {
                    e + 1
                };
                v.push((s, e, te));
                s = te;
            }
        }
    }
    v
}

/// The value of an SSE field line `name:value` (one leading space dropped).
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let v = rest.strip_prefix(b":")?;
    Some(v.strip_prefix(b" ").unwrap_or(v))
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
