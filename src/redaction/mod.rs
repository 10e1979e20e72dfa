//! Response redaction: PII and secrets out of model output, streaming-safe.
//!
//! [`Redactor::compile`] turns [`RedactionSettings`] into an immutable,
//! shareable redactor. The host picks a profile per request
//! ([`Redactor::profile_for`]: route and caller roles decide which entities
//! are redacted) and then, by content type:
//! - `application/json`: [`Redactor::redact_json`] on the whole body, which
//!   rewrites string values only and keeps the document valid;
//! - `text/event-stream`: [`Redactor::stream`] with [`StreamKind::Sse`],
//!   which redacts delta content per choice with a hold-back window;
//! - anything else: [`StreamKind::Text`], the same window over raw text.
//!
//! Counts per entity go to metrics and the audit line; values never leave
//! this module except as their replacement.

mod chunk;
mod detectors;
mod json;
mod normalize;
mod operators;
pub(crate) use operators::push_hex;
mod settings;
mod sse;
mod stream;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use regex_lite::Regex;

use crate::error::ConfigError;

pub use detectors::BUILTIN_ENTITIES;
use detectors::{Detectors, Finding, MAX_ENTITIES};
use operators::Operator;
pub use settings::{
    CompressedPolicy, CustomPatternSettings, EntitySettings, LogprobsPolicy, OperatorKind,
    ProfileSettings, RedactionSettings, UnknownContentPolicy,
};

/// Which entities a request's responses are redacted for (opaque; from [`Redactor::profile_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileId(u64);

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `text/event-stream`: events with `data:` JSON deltas.
    Sse,
    /// Any other text (also JSON bodies over `json_max_bytes`).
    Text,
    /// NDJSON / JSON Lines (`application/x-ndjson`, `application/jsonl`):
    /// one JSON value per line, Ollama-style streams.
    Lines,
    /// RFC 7464 JSON text sequences (`application/json-seq`).
    JsonSeq,
}

/// Redaction counts per entity name. Never holds a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    by_entity: BTreeMap<String, u64>,
    phone_by_context: u64,
    phone_by_format: u64,
}

impl Counts {
    /// Phones redacted because a context word was near (national formats),
    /// and phones redacted on their format alone (international, NANP,
    /// trunk-prefixed): `(by_context, by_format)`.
    pub fn phone_split(&self) -> (u64, u64) {
        (self.phone_by_context, self.phone_by_format)
    }

    /// Adds `n` redactions of `entity`.
    pub fn add(&mut self, entity: &str, n: u64) {
        if let Some(c) = self.by_entity.get_mut(entity) {
            *c = c.saturating_add(n);
        } else {
            self.by_entity.insert(entity.to_string(), n);
        }
    }

    /// Entity names and counts, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_entity.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Count for one entity.
    pub fn get(&self, entity: &str) -> u64 {
        self.by_entity.get(entity).copied().unwrap_or(0)
    }

    /// Total redactions.
    pub fn total(&self) -> u64 {
        self.by_entity
            .values()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// True when nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.by_entity.is_empty()
    }
}

/// Why a body could not be redacted as a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionError {
    /// The body is not valid UTF-8 JSON.
    InvalidJson,
    /// The body nests deeper than the redactor accepts.
    TooDeep,
    /// The body is larger than `json_max_bytes`; stream it as text instead.
    TooLarge,
}

impl RedactionError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            RedactionError::InvalidJson => "redaction_invalid_json",
            RedactionError::TooDeep => "redaction_json_too_deep",
            RedactionError::TooLarge => "redaction_body_too_large",
        }
    }
}

impl fmt::Display for RedactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            RedactionError::InvalidJson => "response body is not valid json",
            RedactionError::TooDeep => "response body nests too deeply",
            RedactionError::TooLarge => "response body is larger than json_max_bytes",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for RedactionError {}

#[derive(Debug)]
struct Entity {
    name: String,
    operator: Operator,
}

#[derive(Debug)]
struct Profile {
    routes: Vec<String>,
    roles: Vec<String>,
    mask: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    entities: Vec<Entity>,
    detectors: Detectors,
    profiles: Vec<Profile>,
    default_mask: u64,
    hash_key: Vec<u8>,
    window: usize,
    max_match: usize,
    json_max: usize,
    compressed: CompressedPolicy,
    redact_requests: bool,
    hold_json: bool,
    drop_logprobs: bool,
    unknown_content_type: UnknownContentPolicy,
}

/// The compiled redactor: immutable, cheap to clone, shared by every stream.
#[derive(Debug, Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

const MIN_WINDOW: usize = 64;
const MAX_WINDOW: usize = 64 * 1024;
const MAX_PLACEHOLDER: usize = 64;

impl Redactor {
    /// Validates and compiles the settings. `route_names` are the configured
    /// routes, so a profile naming an unknown route is a configuration error.
    pub fn compile(
        s: RedactionSettings,
        route_names: &[&str],
        path: &str,
    ) -> Result<Self, ConfigError> {
        check_sizes(&s, path)?;
        let (names, custom) = custom_patterns(&s, path)?;
        for key in s.entities.keys() {
            if !names.contains(key) {
                return Err(ConfigError::new(
                    format!("{path}.entities.{key}"),
                    format!("unknown entity `{key}`"),
                ));
            }
        }
        let (entities, default_mask, uses_hash) = compile_entities(&s, &names, path)?;
        let hash_key = s.hash_key.clone().unwrap_or_default().into_bytes();
        if uses_hash && hash_key.len() < 16 {
            return Err(ConfigError::new(
                format!("{path}.hash_key"),
                "must be at least 16 bytes when an entity uses the hash operator",
            ));
        }
        let profiles = compile_profiles(&s, &names, default_mask, route_names, path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                entities,
                detectors: Detectors::new(custom),
                profiles,
                default_mask,
                hash_key,
                window: s.window_bytes,
                max_match: s.max_match_bytes,
                json_max: s.json_max_bytes,
                compressed: s.compressed,
                redact_requests: s.redact_requests,
                hold_json: s.hold_json,
                drop_logprobs: s.logprobs == LogprobsPolicy::Drop,
                unknown_content_type: s.unknown_content_type,
            }),
        })
    }

    /// The profile for a request on `route` by a caller holding `roles`:
    /// the first configured profile whose routes and roles match, else every
    /// enabled entity. `None` means nothing is redacted.
    pub fn profile_for(&self, route: &str, roles: &[String]) -> Option<ProfileId> {
        let mask = self
            .inner
            .profiles
            .iter()
            .find(|p| {
                (p.routes.is_empty() || p.routes.iter().any(|r| r == route))
                    && (p.roles.is_empty() || p.roles.iter().any(|r| roles.contains(r)))
            })
            .map_or(self.inner.default_mask, |p| p.mask);
        (mask != 0).then_some(ProfileId(mask))
    }

    /// Every enabled entity, ignoring profiles (for tests and the request side).
    pub fn default_profile(&self) -> Option<ProfileId> {
        (self.inner.default_mask != 0).then_some(ProfileId(self.inner.default_mask))
    }

    /// The profile selecting exactly the named entities (unknown names ignored).
    pub fn profile_of(&self, entities: &[&str]) -> Option<ProfileId> {
        let mut mask = 0u64;
        for (id, e) in self.inner.entities.iter().enumerate() {
            if entities.contains(&e.name.as_str()) {
                mask |= 1u64 << id;
            }
        }
        (mask != 0).then_some(ProfileId(mask))
    }

    /// Redacts a whole text.
    pub fn redact_text(&self, profile: ProfileId, text: &str, counts: &mut Counts) -> String {
        let mut out = String::with_capacity(text.len());
        self.inner
            .redact_into(profile.0, text, 0, text.len(), counts, &mut out);
        out
    }

    /// Detected spans as `(start, end, entity name)` byte ranges, for evaluation and tests.
    pub fn find_spans(&self, profile: ProfileId, text: &str) -> Vec<(usize, usize, &str)> {
        self.inner
            .scan(profile.0, text, true, false)
            .0
            .into_iter()
            .map(|f| (f.start, f.end, self.inner.entity_name(f.entity)))
            .collect()
    }

    /// Redacts inside the string values of a JSON document (object keys,
    /// numbers and layout are untouched); the output is valid JSON. Bodies
    /// over `json_max_bytes` are refused with [`RedactionError::TooLarge`]:
    /// stream them with [`StreamKind::Text`] instead.
    pub fn redact_json(
        &self,
        profile: ProfileId,
        body: &[u8],
        counts: &mut Counts,
    ) -> Result<Vec<u8>, RedactionError> {
        Ok(self
            .redact_json_changes(profile, body, counts)?
            .unwrap_or_else(|| body.to_vec()))
    }

    /// [`redact_json`](Self::redact_json), `Ok(None)` when the document
    /// stays as it is (nothing found, no `logprobs` dropped): the host then
    /// need not replace the body at all.
    pub fn redact_json_changes(
        &self,
        profile: ProfileId,
        body: &[u8],
        counts: &mut Counts,
    ) -> Result<Option<Vec<u8>>, RedactionError> {
        if body.len() > self.inner.json_max {
            return Err(RedactionError::TooLarge);
        }
        let inner = &self.inner;
        let opts = json::Options {
            drop_logprobs: inner.drop_logprobs,
        };
        json::rewrite_with(body, opts, &mut |_, s| {
            inner
                .redact_edits(profile.0, s, counts)
                .map(json::Replacement::Spans)
        })
        .map_err(|e| match e {
            json::JsonError::Invalid => RedactionError::InvalidJson,
            json::JsonError::TooDeep => RedactionError::TooDeep,
        })
    }

    /// A streaming redactor for one response body.
    pub fn stream(&self, profile: ProfileId, kind: StreamKind) -> StreamRedactor {
        let inner = Arc::clone(&self.inner);
        let state = match kind {
            StreamKind::Text => StreamState::Text(stream::TextWindow::raw()),
            StreamKind::Sse => StreamState::Sse(Box::new(sse::SseState::new(
                sse::Framing::Sse,
                self.inner.drop_logprobs,
            ))),
            StreamKind::Lines => StreamState::Sse(Box::new(sse::SseState::new(
                sse::Framing::Lines,
                self.inner.drop_logprobs,
            ))),
            StreamKind::JsonSeq => StreamState::Sse(Box::new(sse::SseState::new(
                sse::Framing::JsonSeq,
                self.inner.drop_logprobs,
            ))),
        };
        StreamRedactor {
            inner,
            profile,
            state,
        }
    }

    /// Largest JSON body redacted as a document.
    pub fn json_max_bytes(&self) -> usize {
        self.inner.json_max
    }

    /// Hold-back window for streams.
    pub fn window_bytes(&self) -> usize {
        self.inner.window
    }

    /// What to do with compressed bodies.
    pub fn compressed(&self) -> CompressedPolicy {
        self.inner.compressed
    }

    /// Whether request prompts are redacted too.
    pub fn redact_requests(&self) -> bool {
        self.inner.redact_requests
    }

    /// Whether JSON bodies are held whole (else streamed as text).
    pub fn hold_json(&self) -> bool {
        self.inner.hold_json
    }

    /// What to do with a body whose content type the redactor cannot read.
    pub fn unknown_content_type(&self) -> UnknownContentPolicy {
        self.inner.unknown_content_type
    }
}

/// `window_bytes`, `max_match_bytes` and `json_max_bytes` in range.
fn check_sizes(s: &RedactionSettings, path: &str) -> Result<(), ConfigError> {
    let at = |field: &str| format!("{path}.{field}");
    if !(MIN_WINDOW..=MAX_WINDOW).contains(&s.window_bytes) {
        return Err(ConfigError::new(
            at("window_bytes"),
            format!("must be between {MIN_WINDOW} and {MAX_WINDOW}"),
        ));
    }
    if s.max_match_bytes < s.window_bytes || s.max_match_bytes > 1024 * 1024 {
        return Err(ConfigError::new(
            at("max_match_bytes"),
            "must be at least window_bytes and at most 1048576",
        ));
    }
    if s.json_max_bytes == 0 {
        return Err(ConfigError::new(
            at("json_max_bytes"),
            "must be greater than 0",
        ));
    }
    Ok(())
}

/// Every entity name (built-ins, then custom ones in order: the index is
/// the entity id) and the compiled custom patterns with their ids.
#[allow(clippy::type_complexity)]
fn custom_patterns(
    s: &RedactionSettings,
    path: &str,
) -> Result<(Vec<String>, Vec<(u8, Regex)>), ConfigError> {
    let mut names: Vec<String> = BUILTIN_ENTITIES.iter().map(|n| n.to_string()).collect();
    let mut custom = Vec::with_capacity(s.custom.len());
    for (i, c) in s.custom.iter().enumerate() {
        let field = |f: &str| format!("{path}.custom[{i}].{f}");
        let valid_name = !c.name.is_empty()
            && c.name.len() <= 48
            && c.name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ConfigError::new(
                field("name"),
                "must be 1..=48 of A-Z, 0-9 and _",
            ));
        }
        if names.contains(&c.name) {
            return Err(ConfigError::new(
                field("name"),
                format!("duplicate entity name `{}`", c.name),
            ));
        }
        if names.len() >= MAX_ENTITIES {
            return Err(ConfigError::new(
                field("name"),
                format!("at most {MAX_ENTITIES} entities in total"),
            ));
        }
        let re = Regex::new(&c.pattern)
            .map_err(|e| ConfigError::new(field("pattern"), format!("invalid pattern: {e}")))?;
        if re.is_match("") {
            return Err(ConfigError::new(
                field("pattern"),
                "must not match the empty string",
            ));
        }
        let id = u8::try_from(names.len())
            .map_err(|_| ConfigError::new(field("name"), "too many entities"))?;
        custom.push((id, re));
        names.push(c.name.clone());
    }
    Ok((names, custom))
}

/// The operator of each entity, the mask of enabled ones, and whether any
/// entity hashes (which needs a key).
fn compile_entities(
    s: &RedactionSettings,
    names: &[String],
    path: &str,
) -> Result<(Vec<Entity>, u64, bool), ConfigError> {
    let mut entities = Vec::with_capacity(names.len());
    let mut default_mask = 0u64;
    let mut uses_hash = false;
    for (id, name) in names.iter().enumerate() {
        let es = s.entities.get(name).cloned().unwrap_or_default();
        let field = |f: &str| format!("{path}.entities.{name}.{f}");
        let operator = match es.operator {
            OperatorKind::Replace => {
                let template = es.placeholder.as_deref().unwrap_or("[REDACTED:{entity}]");
                let p = template.replace("{entity}", name);
                if p.is_empty()
                    || p.len() > MAX_PLACEHOLDER
                    || p.chars().any(|c| c == '"' || c == '\\' || c.is_control())
                {
                    return Err(ConfigError::new(
                        field("placeholder"),
                        format!("must be 1..={MAX_PLACEHOLDER} bytes without quotes, backslashes or control characters"),
                    ));
                }
                Operator::Replace(p)
            }
            OperatorKind::Mask => {
                if es.keep_last > 8 {
                    return Err(ConfigError::new(field("keep_last"), "must be at most 8"));
                }
                Operator::Mask {
                    keep_last: es.keep_last,
                }
            }
            OperatorKind::Hash => {
                uses_hash = true;
                Operator::Hash
            }
        };
        if es.enabled {
            default_mask |= 1u64 << id;
        }
        entities.push(Entity {
            name: name.clone(),
            operator,
        });
    }
    Ok((entities, default_mask, uses_hash))
}

/// Profiles: known routes, non-empty roles, known entities.
fn compile_profiles(
    s: &RedactionSettings,
    names: &[String],
    default_mask: u64,
    route_names: &[&str],
    path: &str,
) -> Result<Vec<Profile>, ConfigError> {
    let mut profiles = Vec::with_capacity(s.profiles.len());
    for (i, p) in s.profiles.iter().enumerate() {
        for (j, r) in p.routes.iter().enumerate() {
            if !route_names.contains(&r.as_str()) {
                return Err(ConfigError::new(
                    format!("{path}.profiles[{i}].routes[{j}]"),
                    format!("no route named `{r}`"),
                ));
            }
        }
        if p.roles.iter().any(|r| r.trim().is_empty()) {
            return Err(ConfigError::new(
                format!("{path}.profiles[{i}].roles"),
                "roles must not be empty",
            ));
        }
        let mask = match &p.entities {
            None => default_mask,
            Some(list) => {
                let mut m = 0u64;
                for (j, e) in list.iter().enumerate() {
                    match names.iter().position(|n| n == e) {
                        Some(id) => m |= 1u64 << id,
                        None => {
                            return Err(ConfigError::new(
                                format!("{path}.profiles[{i}].entities[{j}]"),
                                format!("unknown entity `{e}`"),
                            ))
                        }
                    }
                }
                m
            }
        };
        profiles.push(Profile {
            routes: p.routes.clone(),
            roles: p.roles.clone(),
            mask,
        });
    }
    Ok(profiles)
}

impl Inner {
    fn entity_name(&self, id: u8) -> &str {
        self.entities
            .get(usize::from(id))
            .map_or("UNKNOWN", |e| e.name.as_str())
    }

    /// Findings in `text` (original byte offsets), detected on its folded
    /// view (see `normalize`); `escapes` also decodes JSON escapes. With
    /// `hold`, also where the suffix that could still grow into a match
    /// begins (`None` when that cannot be known: a custom pattern is on).
    pub(crate) fn scan(
        &self,
        mask: u64,
        text: &str,
        escapes: bool,
        hold: bool,
    ) -> (Vec<Finding>, Option<usize>) {
        let folded = normalize::Folded::new(text, escapes);
        let ft = folded.text.as_ref();
        let mut findings = self.detectors.find(mask, ft);
        let h = if hold {
            self.detectors
                .hold_start(mask, ft.as_bytes(), &findings)
                .map(|h| folded.orig(h))
        } else {
            None
        };
        if folded.is_folded() {
            for f in &mut findings {
                f.start = folded.orig(f.start);
                f.end = folded.orig(f.end);
            }
            // A dropped character right after a value is kept out of it.
            for f in &mut findings {
                while f.end > f.start && !text.is_char_boundary(f.end) {
                    f.end -= 1;
                }
            }
        }
        (findings, h)
    }

    /// [`scan`](Self::scan)'s hold point for an ASCII text without
    /// backslashes (its own folded view) whose findings cannot matter
    /// (see `stream::quiet`); `None` when a custom pattern is on.
    pub(crate) fn hold_without_findings(&self, mask: u64, text: &[u8]) -> Option<usize> {
        self.detectors.hold_start(mask, text, &[])
    }

    /// Writes `text[from..to]` to `out` with every finding inside it replaced.
    fn redact_into(
        &self,
        mask: u64,
        text: &str,
        from: usize,
        to: usize,
        counts: &mut Counts,
        out: &mut String,
    ) {
        let (findings, _) = self.scan(mask, text, true, false);
        self.apply(&findings, text, from, to, counts, out);
    }

    fn apply(
        &self,
        findings: &[Finding],
        text: &str,
        from: usize,
        to: usize,
        counts: &mut Counts,
        out: &mut String,
    ) {
        let mut last = from;
        for f in findings {
            if f.start < from || f.end > to {
                continue;
            }
            out.push_str(text.get(last..f.start).unwrap_or(""));
            self.replacement(f, text, counts, out);
            last = f.end;
        }
        out.push_str(text.get(last..to).unwrap_or(""));
    }

    /// Writes what replaces finding `f` of `text`, and counts it.
    fn replacement(&self, f: &Finding, text: &str, counts: &mut Counts, out: &mut String) {
        let raw = text.get(f.start..f.end).unwrap_or("");
        // Operators see the folded value: `mask` shows plain digits and
        // `hash` gives a disguised value the same token as the plain one.
        let value = normalize::Folded::new(raw, true);
        if let Some(e) = self.entities.get(usize::from(f.entity)) {
            e.operator.apply(&e.name, &value.text, &self.hash_key, out);
            counts.add(&e.name, 1);
            if f.entity == detectors::PHONE {
                if f.by_context {
                    counts.phone_by_context = counts.phone_by_context.saturating_add(1);
                } else {
                    counts.phone_by_format = counts.phone_by_format.saturating_add(1);
                }
            }
        }
    }

    /// The findings of one decoded JSON string as span edits (the JSON
    /// rewriter keeps the raw bytes between them); `None` when nothing was found.
    fn redact_edits(&self, mask: u64, s: &str, counts: &mut Counts) -> Option<json::Edits> {
        let (findings, _) = self.scan(mask, s, false, false);
        if findings.is_empty() {
            return None;
        }
        let mut edits = json::Edits {
            spans: Vec::with_capacity(findings.len()),
            text: String::new(),
        };
        for f in &findings {
            self.replacement(f, s, counts, &mut edits.text);
            edits.spans.push((f.start, f.end, edits.text.len()));
        }
        Some(edits)
    }

    /// Redacts one decoded JSON string; `None` when nothing was found.
    fn redact_string(&self, mask: u64, s: &str, counts: &mut Counts) -> Option<String> {
        let (findings, _) = self.scan(mask, s, false, false);
        if findings.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        self.apply(&findings, s, 0, s.len(), counts, &mut out);
        Some(out)
    }
}

#[derive(Debug)]
enum StreamState {
    Text(stream::TextWindow),
    Sse(Box<sse::SseState>),
}

/// Redacts one response body as it streams. Owned by the host's stream
/// context; memory is bounded by the window, `max_match_bytes` and the SSE
/// event cap, however long the stream runs.
#[derive(Debug)]
pub struct StreamRedactor {
    inner: Arc<Inner>,
    profile: ProfileId,
    state: StreamState,
}

impl StreamRedactor {
    /// Feeds a chunk; returns the bytes that are safe to emit now. Plain
    /// chat chunks are read without building a `serde_json::Value`.
    pub fn push(&mut self, chunk: &[u8], counts: &mut Counts) -> Vec<u8> {
        self.observe_values(false);
        self.push_events(chunk, counts, &mut |_| {})
    }

    /// [`push`](Self::push), handing each stream event's parsed JSON payload
    /// (SSE data, NDJSON lines) to `observe` as it is parsed: a caller that
    /// also meters the stream reads the same parse.
    pub fn push_observed(
        &mut self,
        chunk: &[u8],
        counts: &mut Counts,
        observe: &mut dyn FnMut(&serde_json::Value),
    ) -> Vec<u8> {
        self.observe_values(true);
        self.push_events(chunk, counts, observe)
    }

    /// Whether every event must be parsed into a `Value` for an observer.
    fn observe_values(&mut self, on: bool) {
        if let StreamState::Sse(st) = &mut self.state {
            st.observed = on;
        }
    }

    fn push_events(
        &mut self,
        chunk: &[u8],
        counts: &mut Counts,
        observe: &mut dyn FnMut(&serde_json::Value),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        match &mut self.state {
            StreamState::Text(w) => {
                let mut s = String::with_capacity(chunk.len());
                w.push_bytes(&self.inner, self.profile.0, chunk, counts, &mut s);
                out = s.into_bytes();
            }
            StreamState::Sse(st) => {
                out.reserve(chunk.len() + 64);
                st.push(
                    &self.inner,
                    self.profile.0,
                    chunk,
                    counts,
                    &mut out,
                    observe,
                )
            }
        }
        out
    }

    /// True when [`push_observed`](Self::push_observed) hands every event
    /// of this stream to its observer (SSE, NDJSON and JSON-seq streams).
    pub fn parses_events(&self) -> bool {
        matches!(self.state, StreamState::Sse(_))
    }

    /// Ends the stream; returns everything still held, redacted.
    pub fn finish(&mut self, counts: &mut Counts) -> Vec<u8> {
        self.observe_values(false);
        self.finish_events(counts, &mut |_| {})
    }

    /// [`finish`](Self::finish), handing the last event to `observe`.
    pub fn finish_observed(
        &mut self,
        counts: &mut Counts,
        observe: &mut dyn FnMut(&serde_json::Value),
    ) -> Vec<u8> {
        self.observe_values(true);
        self.finish_events(counts, observe)
    }

    fn finish_events(
        &mut self,
        counts: &mut Counts,
        observe: &mut dyn FnMut(&serde_json::Value),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        match &mut self.state {
            StreamState::Text(w) => {
                let mut s = String::new();
                w.finish(&self.inner, self.profile.0, counts, &mut s);
                out = s.into_bytes();
            }
            StreamState::Sse(st) => {
                st.finish(&self.inner, self.profile.0, counts, &mut out, observe)
            }
        }
        out
    }

    /// Text bytes held back, not yet emitted (left context and SSE framing
    /// not counted): what the client is still waiting for.
    pub fn held_bytes(&self) -> usize {
        match &self.state {
            StreamState::Text(w) => w.held_bytes(),
            StreamState::Sse(st) => st.held_bytes(),
        }
    }

    /// Bytes currently held (for tests and a memory gauge).
    pub fn buffered_bytes(&self) -> usize {
        match &self.state {
            StreamState::Text(w) => w.buffered_bytes(),
            StreamState::Sse(st) => st.buffered_bytes(),
        }
    }
}

#[cfg(test)]
mod tests;
