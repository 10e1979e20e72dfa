//! Response phases: redaction by content type, LLM usage metering and the
//! optional stream cap.
//!
//! - JSON (`application/json`) is held whole and redacted inside string
//!   values, so the document stays valid. A body that outgrows
//!   `json_max_bytes` while held is released through the text window instead.
//!   While held, the host is told not to read the buffered body at all
//!   ([`body_read`]): it is read once, at the end (reading it on every chunk
//!   copied an 8 MiB answer in 16 KiB chunks about 2 GiB).
//! - SSE (`text/event-stream`), NDJSON / JSON Lines / JSON-seq and other
//!   text stream through a hold-back window that keeps only what could still
//!   grow into a match: each chunk is replaced by what can be released now.
//! - Any other content type follows `redaction.unknown_content_type`
//!   (refused by default, never passed unredacted unless configured).
//! - Usage is read from the upstream's own bytes (before redaction): the
//!   JSON `usage` object, or SSE `data:` events, which also give the streamed
//!   text length when a stream carries no usage.

use serde_json::Value;

use crate::config::Config;
use crate::decision::Denial;
use crate::mcp::BodyAction as McpBody;
use crate::rate_limit::{self, StreamMeter, Usage, UsageTracker};
use crate::redaction::{
    CompressedPolicy, ProfileId, StreamKind, StreamRedactor, UnknownContentPolicy,
};

use super::{header, HeaderEdits, StreamState};

/// Longest SSE line kept while looking for usage; longer lines are skipped.
const MAX_SSE_LINE: usize = 1 << 20;
/// Most bytes of a JSON body copied whole to read its usage.
const MAX_USAGE_COPY: usize = 8 << 20;
/// Past that, only this tail is kept: `usage` closes OpenAI, Responses and
/// Anthropic answers.
const USAGE_TAIL: usize = 64 << 10;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (and `+json`).
    Json,
    /// `text/event-stream`.
    Sse,
    /// NDJSON / JSON Lines (`application/x-ndjson`, `application/jsonl`, ...).
    Lines,
    /// `application/json-seq` (RFC 7464).
    JsonSeq,
    /// Any other `text/*`.
    Text,
    /// Anything else: passed through untouched.
    Other,
}

impl BodyKind {
    /// The kind for a `content-type` value.
    pub fn of(content_type: Option<&str>) -> Self {
        let ct = content_type.unwrap_or("").trim().to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime == "application/json" || mime.ends_with("+json") {
            BodyKind::Json
        } else if mime == "text/event-stream" {
            BodyKind::Sse
        } else if matches!(
            mime,
            "application/x-ndjson"
                | "application/ndjson"
                | "application/jsonl"
                | "application/x-jsonl"
                | "application/jsonlines"
                | "application/x-jsonlines"
                | "application/json-lines"
        ) {
            BodyKind::Lines
        } else if mime == "application/json-seq" {
            BodyKind::JsonSeq
        } else if mime.starts_with("text/") || mime.is_empty() {
            BodyKind::Text
        } else {
            BodyKind::Other
        }
    }
}

/// Whether the host must read the buffered body for this callback.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyRead {
    /// Read the bytes and call [`on_response_body`].
    Read,
    /// Do not read anything: carry out this step.
    Skip(BodyStep),
}

/// Decides, from sizes alone, whether this body callback needs the bytes.
/// While a JSON answer is held below `json_max_bytes` it does not: the
/// host pauses and the body is read once, when it ends or outgrows the cap.
pub fn body_read(
    config: &Config,
    stream: &StreamState,
    buffered: usize,
    end_of_stream: bool,
) -> BodyRead {
    let Some(state) = stream.response.as_ref() else {
        return BodyRead::Skip(BodyStep::Pass);
    };
    if state.refusal.is_none()
        && !state.capped
        && state.holding_json
        && !end_of_stream
        && buffered <= config.redaction.json_max_bytes()
    {
        return BodyRead::Skip(BodyStep::Hold);
    }
    BodyRead::Read
}

/// What the host does with one response body chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyStep {
    /// Forward the chunk unchanged.
    Pass,
    /// Keep buffering (the host pauses; Envoy holds the body).
    Hold,
    /// Replace everything the host currently holds with these bytes, then continue.
    Replace(Vec<u8>),
}

/// Per-stream response state.
#[derive(Debug)]
pub struct ResponseState {
    kind: BodyKind,
    profile: Option<ProfileId>,
    /// The text / SSE window; also used for JSON that outgrew the buffer.
    window: Option<StreamRedactor>,
    /// JSON is being held whole for redaction.
    holding_json: bool,
    /// The response was refused (compressed and unreadable): the body is replaced by `refusal`.
    refusal: Option<Denial>,
    meter: Option<Meter>,
    capped: bool,
    /// The MCP exchange rewrites this body.
    mcp: bool,
    /// The last body callback asked the host to hold the body (`Hold`).
    host_holds: bool,
}

impl ResponseState {
    /// Whether the host is holding the body for us now: it is then ours to
    /// finish when the body ends, whichever callback ends it.
    fn holds_body(&self) -> bool {
        self.host_holds || (self.holding_json && self.refusal.is_none() && !self.capped)
    }
}

/// Reads usage (and streamed text) from the upstream's bytes.
#[derive(Debug, Default)]
struct Meter {
    tracker: UsageTracker,
    /// Partial SSE line carried to the next chunk.
    carry: Vec<u8>,
    /// Copy of a JSON body that is not being held for redaction.
    copy: Vec<u8>,
    /// `copy` holds only the body's tail.
    truncated: bool,
    /// Characters of streamed text seen in SSE deltas.
    streamed_chars: usize,
    cap: Option<StreamMeter>,
}

impl Meter {
    fn observe_sse(&mut self, chunk: &[u8]) {
        let mut start = 0;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for (i, b) in chunk.iter().enumerate() {
            if *b == b'\n' {
                let part = chunk.get(start..i).unwrap_or(&[]);
                if self.carry.is_empty() {
                    lines.push(part.to_vec());
                } else {
                    let mut line = std::mem::take(&mut self.carry);
                    line.extend_from_slice(part);
                    lines.push(line);
                }
                start = i + 1;
            }
        }
        let rest = chunk.get(start..).unwrap_or(&[]);
        if self.carry.len().saturating_add(rest.len()) <= MAX_SSE_LINE {
            self.carry.extend_from_slice(rest);
        } else {
            self.carry.clear();
        }
        for line in lines {
            self.observe_line(&line);
        }
    }

    fn observe_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return;
        }
        if let Some(event) = crate::llm_api::sse::parse_event(data) {
            self.observe_event(&event);
        }
    }

    /// Reads one parsed stream event (parsed here, or by the SSE redactor).
    fn observe_event(&mut self, event: &Value) {
        self.tracker.observe(event);
        self.streamed_chars = self
            .streamed_chars
            .saturating_add(rate_limit::delta_text_len(event));
        if let Some(cap) = self.cap.as_mut() {
            cap.observe_event(event);
        }
    }

    fn observe_json(&mut self, body: &[u8]) {
        if let Some(v) = crate::llm_api::sse::usage_document(body) {
            self.tracker.observe(&v);
        }
    }

    /// Copies JSON body bytes: whole up to `MAX_USAGE_COPY`, then a tail.
    fn keep(&mut self, bytes: &[u8]) {
        self.copy.extend_from_slice(bytes);
        if self.truncated || self.copy.len() > MAX_USAGE_COPY {
            self.truncated = true;
            let excess = self.copy.len().saturating_sub(USAGE_TAIL);
            self.copy.drain(..excess);
        }
    }

    /// Reads usage from what was kept, at the end of a JSON body.
    fn finish_json(&mut self) {
        let copy = std::mem::take(&mut self.copy);
        if !self.truncated {
            self.observe_json(&copy);
            return;
        }
        // Only a tail: parse the object after its last `"usage":`.
        let key = b"\"usage\"";
        let Some(at) = copy.windows(key.len()).rposition(|w| w == key) else {
            return;
        };
        let rest = copy.get(at + key.len()..).unwrap_or(&[]);
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b":") else {
            return;
        };
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        if let Some(Ok(usage)) = values.next() {
            self.tracker.observe(&serde_json::json!({ "usage": usage }));
        }
    }

    fn exceeded(&self) -> bool {
        self.cap.as_ref().is_some_and(StreamMeter::exceeded)
    }
}

/// True when the response headers matter: quota headers to add, a budget to
/// meter, or redaction on this route. Otherwise the host skips reading them.
pub fn needs_headers(stream: &StreamState) -> bool {
    !stream.response_headers.is_empty() || inspects_body(stream)
}

/// True when an MCP exchange waits for its answer (tool lists, call results).
fn mcp_wants_response(stream: &StreamState) -> bool {
    stream
        .mcp
        .as_ref()
        .is_some_and(crate::mcp::Exchange::wants_response)
}

/// True when the response body will be redacted or metered, so its
/// `content-type` and `content-encoding` matter.
pub fn inspects_body(stream: &StreamState) -> bool {
    meters_usage(stream) || stream.redaction_profile.is_some() || mcp_wants_response(stream)
}

/// True when a token budget (local reservation or global check) settles
/// from this response's usage.
fn meters_usage(stream: &StreamState) -> bool {
    !stream.reservations.is_empty() || stream.global.budget.is_some()
}

/// The redaction profile for the stream's route and caller, if any (the
/// headers phase stores it in [`StreamState::redaction_profile`]).
pub fn redaction_profile(config: &Config, stream: &StreamState) -> Option<ProfileId> {
    let roles: &[String] = stream.identity.as_ref().map_or(&[], |i| i.roles.as_slice());
    let route = stream.route.as_deref()?;
    config.redaction.profile_for(route, roles)
}

/// Decides how the response will be handled, from its headers.
///
/// Returns the edits to apply to the response headers.
pub fn on_response_headers(
    config: &Config,
    stream: &mut StreamState,
    headers: &[(String, String)],
) -> HeaderEdits {
    let mut edits = HeaderEdits {
        remove: Vec::new(),
        set: stream.response_headers.clone(),
    };
    let kind = BodyKind::of(header(headers, "content-type"));
    let unknown = config.redaction.unknown_content_type();
    let profile = match (kind, unknown) {
        (BodyKind::Other, UnknownContentPolicy::Pass) => None,
        _ => stream.redaction_profile,
    };
    let metering = meters_usage(stream) && kind != BodyKind::Other;
    let mut state = ResponseState {
        kind,
        profile,
        window: None,
        holding_json: false,
        refusal: None,
        meter: None,
        capped: false,
        mcp: false,
        host_holds: false,
    };
    if mcp_response_headers(stream, headers, &mut state, &mut edits) {
        stream.response = Some(state);
        return edits;
    }
    if metering {
        let mut meter = Meter::default();
        if config.rate_limit.caps_streams() && kind == BodyKind::Sse {
            let allowance = stream.estimate.map_or(0, |e| e.output);
            meter.cap = Some(StreamMeter::new(allowance));
            edits.remove.push("content-length".into());
        }
        state.meter = Some(meter);
    }
    if let Some(profile) = profile {
        let encoding = header(headers, "content-encoding").unwrap_or("").trim();
        let compressed = !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity");
        if kind == BodyKind::Other && unknown == UnknownContentPolicy::Block {
            let ct = header(headers, "content-type").unwrap_or("").trim();
            let denial = Denial::new(
                502,
                "upstream_content_type_unsupported",
                "api_error",
                format!("the upstream answered with content-type `{ct}`, which the filter cannot redact"),
            )
            .shaped(stream.error_shape);
            refuse(&mut edits, stream, &mut state, denial);
        } else if compressed {
            match config.redaction.compressed() {
                CompressedPolicy::Pass => {
                    state.profile = None;
                    stream.audit_note("redaction", "skipped_compressed");
                }
                CompressedPolicy::Refuse => {
                    let denial = Denial::new(
                        502,
                        "upstream_encoding_unsupported",
                        "api_error",
                        format!("the upstream answered with content-encoding `{encoding}`, which the filter cannot redact"),
                    )
                    .shaped(stream.error_shape);
                    refuse(&mut edits, stream, &mut state, denial);
                }
            }
        } else {
            // The body may change length.
            edits.remove.push("content-length".into());
            match kind {
                BodyKind::Json if config.redaction.hold_json() => state.holding_json = true,
                BodyKind::Json => {
                    state.window = Some(config.redaction.stream(profile, StreamKind::Text))
                }
                BodyKind::Sse => {
                    state.window = Some(config.redaction.stream(profile, StreamKind::Sse))
                }
                BodyKind::Lines => {
                    state.window = Some(config.redaction.stream(profile, StreamKind::Lines))
                }
                BodyKind::JsonSeq => {
                    state.window = Some(config.redaction.stream(profile, StreamKind::JsonSeq))
                }
                BodyKind::Text | BodyKind::Other => {
                    state.window = Some(config.redaction.stream(profile, StreamKind::Text))
                }
            }
        }
    }
    edits.remove.dedup();
    stream.response = Some(state);
    edits
}

/// An MCP answer (tool list, call results) is rewritten message by message
/// by the exchange, instead of the generic redaction. True when it takes
/// the body; a compressed answer is refused (it cannot be filtered).
fn mcp_response_headers(
    stream: &mut StreamState,
    headers: &[(String, String)],
    state: &mut ResponseState,
    edits: &mut HeaderEdits,
) -> bool {
    let Some(exchange) = stream.mcp.as_mut() else {
        return false;
    };
    if !exchange.on_response_headers(header(headers, "content-type")) {
        return false;
    }
    state.profile = None;
    edits.remove.push("content-length".into());
    let encoding = header(headers, "content-encoding").unwrap_or("").trim();
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        let denial = Denial::new(
            502,
            "upstream_encoding_unsupported",
            "api_error",
            format!("the MCP server answered with content-encoding `{encoding}`, which the filter cannot inspect"),
        );
        refuse(edits, stream, state, denial);
    } else {
        state.mcp = true;
    }
    true
}

/// Turns the response into a refusal: status 502, a JSON error body.
fn refuse(
    edits: &mut HeaderEdits,
    stream: &mut StreamState,
    state: &mut ResponseState,
    denial: Denial,
) {
    edits.set.push((":status".into(), "502".into()));
    edits
        .set
        .push(("content-type".into(), "application/json".into()));
    edits.remove.push("content-encoding".into());
    edits.remove.push("content-length".into());
    stream.denied = Some(denial.code);
    state.refusal = Some(denial);
    state.meter = None;
}

/// Handles one response body callback.
///
/// `held` is everything the host holds for this stream now: the whole body
/// so far while JSON is held (after `Hold`), otherwise just the new chunk.
pub fn on_response_body(
    config: &Config,
    stream: &mut StreamState,
    held: &[u8],
    end_of_stream: bool,
) -> BodyStep {
    let step = body_step(config, stream, held, end_of_stream);
    if let Some(state) = stream.response.as_mut() {
        state.host_holds = step == BodyStep::Hold;
    }
    step
}

/// What the host does when the upstream ends its body with trailers.
#[derive(Debug, PartialEq, Eq)]
pub enum TrailersStep {
    /// Nothing is held: let the trailers through.
    Pass,
    /// The host holds the body: read all of it, finish it with
    /// [`on_response_body`] as the end of the stream, and replace it with
    /// what that returns. If the held body cannot be read, refuse the stream
    /// rather than release it.
    FinishHeld,
}

/// Response trailers end the body as surely as a last chunk with end of
/// stream (issue 11: the response-side twin of F1). Without this, the host's
/// default at the trailers releases a held JSON answer unredacted.
///
/// A stream window (SSE, text) has already passed on everything but its
/// tail; proxy-wasm cannot add body bytes at the trailers, so the tail is
/// dropped, never released unredacted, and counted in the audit record.
pub fn on_response_trailers(stream: &mut StreamState) -> TrailersStep {
    let Some(state) = stream.response.as_mut() else {
        return TrailersStep::Pass;
    };
    if state.holds_body() {
        return TrailersStep::FinishHeld;
    }
    let mut dropped = 0;
    if let Some(window) = state.window.as_mut() {
        dropped = window.finish(&mut stream.redactions).len();
    }
    if let Some(meter) = state.meter.as_mut() {
        if state.kind != BodyKind::Sse && state.kind != BodyKind::Other {
            meter.finish_json();
        }
    }
    if dropped > 0 {
        stream
            .audit_section("redaction")
            .insert("dropped_at_trailers".into(), serde_json::json!(dropped));
    }
    TrailersStep::Pass
}

fn body_step(
    config: &Config,
    stream: &mut StreamState,
    held: &[u8],
    end_of_stream: bool,
) -> BodyStep {
    let Some(state) = stream.response.as_mut() else {
        return BodyStep::Pass;
    };
    if let Some(denial) = &state.refusal {
        return if end_of_stream {
            BodyStep::Replace(denial.body())
        } else {
            BodyStep::Replace(Vec::new())
        };
    }
    if state.capped {
        return BodyStep::Replace(Vec::new());
    }
    if state.mcp {
        if let Some(exchange) = stream.mcp.as_mut() {
            let services = super::mcp_services(config);
            return match exchange.on_response_body(
                services,
                &mut stream.redactions,
                held,
                end_of_stream,
            ) {
                McpBody::Pass => BodyStep::Pass,
                McpBody::Hold => BodyStep::Hold,
                McpBody::Replace(bytes) => BodyStep::Replace(bytes),
            };
        }
    }
    let counts = &mut stream.redactions;
    if state.holding_json {
        if !end_of_stream && held.len() <= config.redaction.json_max_bytes() {
            return BodyStep::Hold;
        }
        state.holding_json = false;
        if let Some(meter) = state.meter.as_mut() {
            if end_of_stream {
                meter.observe_json(held);
            } else {
                // The rest streams: keep what was held so usage is read at the end.
                meter.keep(held);
            }
        }
        let Some(profile) = state.profile else {
            return BodyStep::Pass;
        };
        if end_of_stream {
            // Most answers carry nothing to redact: the held body is then
            // released as it is, without copying it back to the host.
            match config.redaction.redact_json_changes(profile, held, counts) {
                Ok(Some(out)) => return BodyStep::Replace(out),
                Ok(None) => return BodyStep::Pass,
                Err(_) => {}
            }
        }
        // Too large to hold, or not JSON after all: release through the text window.
        let mut window = config.redaction.stream(profile, StreamKind::Text);
        let mut out = window.push(held, counts);
        if end_of_stream {
            out.extend(window.finish(counts));
        }
        state.window = Some(window);
        return BodyStep::Replace(out);
    }

    // An SSE stream that is redacted is parsed once, by the redactor, which
    // hands each event to the meter.
    let shared_parse = state.kind == BodyKind::Sse
        && state
            .window
            .as_ref()
            .is_some_and(StreamRedactor::parses_events);
    // The stream cap's count before this chunk: if the chunk passes the
    // allowance, the output is cut where it did (`StreamMeter::sse_cut`).
    let cap_before = state.meter.as_ref().and_then(|m| m.cap.clone());
    if let Some(meter) = state.meter.as_mut() {
        match state.kind {
            BodyKind::Sse if shared_parse => {}
            BodyKind::Sse => meter.observe_sse(held),
            BodyKind::Json | BodyKind::Text | BodyKind::Lines | BodyKind::JsonSeq => {
                meter.keep(held);
                if end_of_stream {
                    meter.finish_json();
                }
            }
            BodyKind::Other => {}
        }
    }
    // Without a meter reading the events, the redactor need not build a
    // `serde_json::Value` of each one (`push` reads plain chat chunks lightly).
    let observed = shared_parse && state.meter.is_some();
    let meter = &mut state.meter;
    let mut observe = |event: &Value| {
        if let Some(m) = meter.as_mut().filter(|_| shared_parse) {
            m.observe_event(event);
        }
    };
    let pushed = state.window.as_mut().map(|window| {
        if observed {
            window.push_observed(held, counts, &mut observe)
        } else {
            window.push(held, counts)
        }
    });
    let exceeded = state.meter.as_ref().is_some_and(Meter::exceeded);

    let step = match (pushed, state.window.as_mut()) {
        (Some(mut out), Some(window)) => {
            if end_of_stream || exceeded {
                let meter = &mut state.meter;
                let mut observe = |event: &Value| {
                    if let Some(m) = meter.as_mut().filter(|_| shared_parse) {
                        m.observe_event(event);
                    }
                };
                out.extend(if observed {
                    window.finish_observed(counts, &mut observe)
                } else {
                    window.finish(counts)
                });
            }
            BodyStep::Replace(out)
        }
        _ if exceeded => BodyStep::Replace(held.to_vec()),
        _ => BodyStep::Pass,
    };
    if exceeded {
        state.capped = true;
        stream.denied = Some(rate_limit::RateLimitError::TokenBudgetExceeded.code());
        let BodyStep::Replace(mut out) = step else {
            return step;
        };
        // Nothing past the event that passed the allowance, and never the
        // upstream's `[DONE]` before the error event.
        if let Some(before) = &cap_before {
            out.truncate(before.sse_cut(&out));
        }
        out.extend(
            Denial::stream_budget_exceeded()
                .shaped(stream.error_shape)
                .sse_event(),
        );
        return BodyStep::Replace(out);
    }
    step
}

/// True when the response body must be seen (redaction, metering or a refusal).
pub fn wants_body(stream: &StreamState) -> bool {
    stream
        .response
        .as_ref()
        .is_some_and(|r| r.profile.is_some() || r.meter.is_some() || r.refusal.is_some() || r.mcp)
}

/// The usage seen in the response, if any.
pub fn usage(stream: &StreamState) -> Option<Usage> {
    stream
        .response
        .as_ref()
        .and_then(|r| r.meter.as_ref())
        .and_then(|m| m.tracker.usage())
}

/// Estimated output tokens from streamed text, for an SSE answer without
/// usage; `None` for other answers (nothing to estimate from).
pub fn streamed_tokens(stream: &StreamState) -> Option<u64> {
    let response = stream.response.as_ref()?;
    let meter = response.meter.as_ref()?;
    (response.kind == BodyKind::Sse)
        .then(|| rate_limit::estimate_prompt_tokens(meter.streamed_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_body_kinds() {
        assert_eq!(
            BodyKind::of(Some("application/json; charset=utf-8")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::of(Some("application/problem+json")),
            BodyKind::Json
        );
        assert_eq!(BodyKind::of(Some("text/event-stream")), BodyKind::Sse);
        assert_eq!(BodyKind::of(Some("text/plain")), BodyKind::Text);
        assert_eq!(BodyKind::of(None), BodyKind::Text);
        assert_eq!(BodyKind::of(Some("image/png")), BodyKind::Other);
    }

    fn redacting() -> (Config, StreamState) {
        let json = r#"{"routes":[{"name":"chat","match":{"prefix":"/v1/chat"},"auth":"none"}],"redaction":{}}"#;
        let config = Config::from_json(json.as_bytes()).unwrap();
        let stream = StreamState {
            redaction_profile: config.redaction.default_profile(),
            ..StreamState::default()
        };
        (config, stream)
    }

    fn ct(v: &str) -> Vec<(String, String)> {
        vec![("content-type".to_string(), v.to_string())]
    }

    #[test]
    fn a_held_json_answer_is_read_once_at_its_end() {
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("application/json"));
        // While held below json_max_bytes, no callback needs the bytes.
        for size in [16_384, 32_768, 8 << 20] {
            assert_eq!(
                body_read(&config, &stream, size, false),
                BodyRead::Skip(BodyStep::Hold)
            );
        }
        assert_eq!(body_read(&config, &stream, 100, true), BodyRead::Read);
        assert_eq!(
            body_read(&config, &stream, (8 << 20) + 1, false),
            BodyRead::Read
        );
        let body = br#"{"choices":[{"message":{"content":"mail a@b.co"}}]}"#;
        let BodyStep::Replace(out) = on_response_body(&config, &mut stream, body, true) else {
            panic!("not replaced");
        };
        assert!(String::from_utf8(out).unwrap().contains("[REDACTED:EMAIL]"));
    }

    #[test]
    fn a_held_json_answer_without_findings_is_released_without_a_copy() {
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("application/json"));
        let body = br#"{"choices":[{"message":{"content":"nothing to see here"}}]}"#;
        assert_eq!(
            on_response_body(&config, &mut stream, body, true),
            BodyStep::Pass
        );
        assert!(stream.redactions.is_empty());
        // Dropped logprobs change the document: it is replaced.
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("application/json"));
        let body = br#"{"choices":[{"logprobs":{"content":[{"token":"a"}]}}]}"#;
        let BodyStep::Replace(out) = on_response_body(&config, &mut stream, body, true) else {
            panic!("not replaced");
        };
        assert_eq!(out, br#"{"choices":[{"logprobs":null}]}"#);
    }

    #[test]
    fn trailers_finish_a_held_json_answer() {
        // Issue 11: an answer that ends with trailers (no chunk with end of
        // stream) must be finished there, not released as held.
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("application/json"));
        assert_eq!(
            body_read(&config, &stream, 40, false),
            BodyRead::Skip(BodyStep::Hold)
        );
        assert_eq!(on_response_trailers(&mut stream), TrailersStep::FinishHeld);
        let body = br#"{"choices":[{"message":{"content":"mail a@b.co"}}]}"#;
        let BodyStep::Replace(out) = on_response_body(&config, &mut stream, body, true) else {
            panic!("not replaced");
        };
        assert!(String::from_utf8(out).unwrap().contains("[REDACTED:EMAIL]"));
        // Once finished, nothing is held any more.
        assert_eq!(on_response_trailers(&mut stream), TrailersStep::Pass);
    }

    #[test]
    fn trailers_drop_a_stream_windows_tail_rather_than_release_it() {
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("text/plain"));
        // A text stream: the window keeps a tail that could start a value.
        let BodyStep::Replace(out) = on_response_body(
            &config,
            &mut stream,
            b"hello there, write to alice@exa",
            false,
        ) else {
            panic!("not replaced");
        };
        let passed = String::from_utf8(out).unwrap();
        assert!(!passed.contains("alice@exa"), "{passed}");
        assert_eq!(on_response_trailers(&mut stream), TrailersStep::Pass);
        let dropped = stream
            .audit
            .get("redaction")
            .and_then(|r| r.get("dropped_at_trailers"));
        assert!(
            dropped.and_then(|d| d.as_u64()).unwrap_or(0) > 0,
            "{:?}",
            stream.audit
        );
    }

    #[test]
    fn trailers_pass_when_nothing_reads_the_answer() {
        let mut stream = StreamState::default();
        assert_eq!(on_response_trailers(&mut stream), TrailersStep::Pass);
    }

    #[test]
    fn streams_are_read_on_every_chunk() {
        let (config, mut stream) = redacting();
        on_response_headers(&config, &mut stream, &ct("text/event-stream"));
        assert_eq!(body_read(&config, &stream, 10, false), BodyRead::Read);
    }

    #[test]
    fn unknown_content_types_are_refused_by_default() {
        let (config, mut stream) = redacting();
        let edits = on_response_headers(&config, &mut stream, &ct("application/octet-stream"));
        assert!(edits
            .set
            .contains(&(":status".to_string(), "502".to_string())));
        assert_eq!(stream.denied, Some("upstream_content_type_unsupported"));
        let BodyStep::Replace(out) = on_response_body(&config, &mut stream, b"a@b.co", true) else {
            panic!("not replaced");
        };
        assert!(!String::from_utf8(out).unwrap().contains("a@b.co"));
    }

    #[test]
    fn line_delimited_json_types_are_read_as_lines() {
        for ct in [
            "application/x-ndjson",
            "application/jsonl",
            "application/x-jsonlines",
        ] {
            assert_eq!(BodyKind::of(Some(ct)), BodyKind::Lines, "{ct}");
        }
        assert_eq!(
            BodyKind::of(Some("application/json-seq")),
            BodyKind::JsonSeq
        );
        assert_eq!(
            BodyKind::of(Some("application/octet-stream")),
            BodyKind::Other
        );
    }

    #[test]
    fn sse_usage_is_read_across_chunk_boundaries() {
        let mut m = Meter::default();
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello world\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\ndata: [DONE]\n\n";
        for piece in body.chunks(5) {
            m.observe_sse(piece);
        }
        let u = m.tracker.usage().unwrap();
        assert_eq!((u.prompt, u.completion, u.total), (7, 3, 10));
        assert_eq!(m.streamed_chars, 11);
    }

    #[test]
    fn a_redacted_sse_stream_is_metered_from_the_redactors_parse() {
        let (config, _) = redacting();
        let profile = config.redaction.default_profile().unwrap();
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mail john@example.com now\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\ndata: [DONE]\n\n";
        let mut own = Meter::default();
        let mut shared = Meter::default();
        let mut events = 0;
        let mut window = config.redaction.stream(profile, StreamKind::Sse);
        assert!(window.parses_events());
        let mut counts = Default::default();
        let mut out = Vec::new();
        for piece in body.chunks(5) {
            own.observe_sse(piece);
            out.extend(window.push_observed(piece, &mut counts, &mut |e| {
                events += 1;
                shared.observe_event(e)
            }));
        }
        out.extend(window.finish_observed(&mut counts, &mut |e| shared.observe_event(e)));
        assert_eq!(events, 2, "each JSON event is handed over once");
        assert!(shared.tracker.usage().is_some());
        assert_eq!(shared.tracker.usage(), own.tracker.usage());
        assert_eq!(shared.streamed_chars, own.streamed_chars);
        assert!(!String::from_utf8_lossy(&out).contains("john@example.com"));
    }

    #[test]
    fn usage_is_read_from_the_tail_of_a_body_too_large_to_copy() {
        let mut m = Meter::default();
        m.keep(b"{\"choices\":[{\"message\":{\"content\":\"");
        let filler = vec![b'x'; 1 << 20];
        for _ in 0..9 {
            m.keep(&filler);
        }
        m.keep(b"\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2400000,\"total_tokens\":2400003}}");
        assert!(m.truncated && m.copy.len() <= USAGE_TAIL);
        m.finish_json();
        assert_eq!(m.tracker.usage().map(|u| u.total), Some(2_400_003));
    }

    #[test]
    fn overlong_sse_lines_are_dropped_not_buffered() {
        let mut m = Meter::default();
        m.observe_sse(b"data: ");
        m.observe_sse(&vec![b'x'; MAX_SSE_LINE + 1]);
        assert!(m.carry.len() <= MAX_SSE_LINE);
        m.observe_sse(b"\n\n");
        assert!(m.tracker.usage().is_none());
    }
}
