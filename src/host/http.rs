//! One HTTP stream: reads the request, runs the pipeline, carries out its step.

use std::rc::Rc;

use super::abi as hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use super::root::Shared;
use super::store::HostStore;
use super::{
    buffer, call_response_status, dispatch_jwks, headers, log, now_ms, now_ns, property,
    send_denial, set_header,
};
use crate::audit::AuditLevel;
use crate::config::Config;
use crate::decision::Denial;
use crate::pipeline::request::{self, BodyProgress, RequestBodyStep};
use crate::pipeline::response::{self, BodyRead, BodyStep};
use crate::pipeline::{self, Env, HeaderEdits, HeadersStep, Phase, RequestHead, StreamState};

/// Most calls a worker makes to join a JWKS fetch already in flight.
const MAX_JOINED_FETCHES: u32 = 16;

/// Whether a stream's JWKS call is the provider's fetch or joins one in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchMode {
    Own,
    Joined,
}

#[derive(Debug, Clone, Copy)]
struct PendingKeys {
    token: u32,
    provider: usize,
    mode: FetchMode,
}

/// The stream context.
pub struct Http {
    shared: Rc<Shared>,
    stream: StreamState,
    /// An on-demand JWKS call this stream waits for.
    pending_keys: Option<PendingKeys>,
    /// The request had no body (headers ended the stream).
    headers_only: bool,
    /// The last body callback (cumulative size, end of stream) that arrived
    /// while a JWKS fetch was pending.
    body_while_fetching: Option<(usize, bool)>,
}

impl Http {
    /// A new stream.
    pub fn new(_context_id: u32, shared: Rc<Shared>) -> Self {
        Self {
            shared,
            stream: StreamState::default(),
            pending_keys: None,
            headers_only: false,
            body_while_fetching: None,
        }
    }

    /// Answers locally and remembers it, so no later callback continues the stream.
    fn deny(&mut self, denial: &Denial) {
        self.stream.denied = Some(denial.code);
        send_denial(denial);
    }

    /// The request-body phase proper: size checks, then the whole body once.
    fn request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let started = now_ns();
        let action = match request::progress(&self.stream, body_size, end_of_stream) {
            BodyProgress::Pass => Action::Continue,
            BodyProgress::Wait => Action::Pause,
            BodyProgress::Deny(denial) => {
                self.stream.denied = Some(denial.code);
                send_denial(&denial);
                Action::Pause
            }
            BodyProgress::Complete => {
                // Read once, at end of stream: Envoy has buffered all of it.
                let body = buffer(BufferType::HttpRequestBody, body_size).unwrap_or_default();
                let step = self.with_env(|config, env, stream| {
                    request::on_request_body(config, env, stream, &body)
                });
                match step {
                    Some(RequestBodyStep::Continue(edits, new_body)) => {
                        apply(MapType::HttpRequestHeaders, &edits);
                        if let Some(new_body) = new_body {
                            replace_body(BufferType::HttpRequestBody, body_size, &new_body);
                        }
                        Action::Continue
                    }
                    Some(RequestBodyStep::Deny(denial)) => {
                        send_denial(&denial);
                        Action::Pause
                    }
                    None => {
                        self.deny(&busy());
                        Action::Pause
                    }
                }
            }
        };
        self.add_filter_time(started, Phase::RequestBody);
        action
    }

    /// Runs `f` with the per-worker services borrowed; `None` if they are
    /// busy (never expected: callbacks do not nest).
    fn with_env<R>(
        &mut self,
        f: impl FnOnce(&Config, &mut Env<'_>, &mut StreamState) -> R,
    ) -> Option<R> {
        let shared = Rc::clone(&self.shared);
        let (Ok(mut auth), Ok(mut metrics)) = (
            shared.auth.try_borrow_mut(),
            shared.metrics.try_borrow_mut(),
        ) else {
            return None;
        };
        let mut env = Env {
            auth: &mut auth,
            store: &HostStore,
            metrics: &mut *metrics,
            now_ms: now_ms(),
        };
        Some(f(&shared.config, &mut env, &mut self.stream))
    }

    fn add_filter_time(&mut self, started_ns: u64, phase: Phase) {
        let spent = now_ns().saturating_sub(started_ns);
        self.stream.add_time(phase, spent);
    }

    /// Runs the headers phase; returns whether the stream may continue now.
    fn request_headers(&mut self) -> Action {
        let request = headers(MapType::HttpRequestHeaders);
        let find = |name: &str| {
            request
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let peer = if self.shared.config.needs_peer_address() {
            property(&["source", "address"])
        } else {
            None
        };
        let head = RequestHead {
            method: find(":method").unwrap_or(""),
            path: find(":path").unwrap_or("/"),
            headers: &request,
            peer_address: peer.as_deref(),
            end_of_stream: self.headers_only,
        };
        let step = self.with_env(|config, env, stream| {
            pipeline::on_request_headers(config, env, &head, stream)
        });
        let Some(step) = step else {
            self.deny(&busy());
            return Action::Pause;
        };
        match step {
            HeadersStep::Continue(edits) => {
                apply(MapType::HttpRequestHeaders, &edits);
                if self.stream.body.is_some() && self.shared.config.hold_request_headers {
                    // Hold the headers too, so screening can still add one (the
                    // host lets the body through: allow_on_headers_stop_iteration).
                    Action::Pause
                } else {
                    Action::Continue
                }
            }
            HeadersStep::Deny(denial) => {
                send_denial(&denial);
                Action::Pause
            }
            HeadersStep::FetchKeys { provider } => self.fetch_keys(provider, now_ms()),
        }
    }

    /// Fetches the provider's JWKS for this stream and pauses until it arrives.
    ///
    /// When the state refuses a new fetch because one is already in flight
    /// (the startup fetch, or another stream's), this stream makes its own
    /// call, bounded per worker by [`MAX_JOINED_FETCHES`], rather than fail
    /// during a rotation or right after start.
    fn fetch_keys(&mut self, provider: usize, now: u64) -> Action {
        let config = &self.shared.config;
        let remote = config.auth.remote_jwks();
        let source = remote.iter().find(|(p, _)| *p == provider).map(|(_, s)| *s);
        let mode = match self.shared.auth.try_borrow_mut() {
            Ok(mut state) => {
                if state.begin_fetch(provider, now, true) {
                    Some(FetchMode::Own)
                } else if state.in_flight(provider)
                    && self.shared.joined_fetches.get() < MAX_JOINED_FETCHES
                {
                    Some(FetchMode::Joined)
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        self.stream.fetched_keys = true;
        let dispatched = match (source, mode) {
            (Some(source), Some(_)) => dispatch_jwks(source),
            _ => Err("refetch not allowed now".to_string()),
        };
        match (dispatched, mode) {
            (Ok(token), Some(mode)) => {
                if mode == FetchMode::Joined {
                    self.shared
                        .joined_fetches
                        .set(self.shared.joined_fetches.get() + 1);
                }
                self.pending_keys = Some(PendingKeys {
                    token,
                    provider,
                    mode,
                });
                Action::Pause
            }
            (dispatched, mode) => {
                if let (Err(why), Some(FetchMode::Own)) = (&dispatched, mode) {
                    log(
                        LogLevel::Warn,
                        &format!("tollgate: jwks refetch not dispatched: {why}"),
                    );
                    if let Ok(mut state) = self.shared.auth.try_borrow_mut() {
                        self.shared
                            .finish_jwks_fetch(&mut state, provider, None, &[]);
                    }
                }
                // Run the phase again: with `fetched_keys` set, a miss is now final.
                self.request_headers()
            }
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let started = now_ns();
        let Some(PendingKeys {
            token,
            provider,
            mode,
        }) = self.pending_keys
        else {
            return;
        };
        if token != token_id {
            return;
        }
        self.pending_keys = None;
        if mode == FetchMode::Joined {
            self.shared
                .joined_fetches
                .set(self.shared.joined_fetches.get().saturating_sub(1));
        }
        let status = call_response_status();
        let body = buffer(BufferType::HttpCallResponseBody, body_size).unwrap_or_default();
        if let Ok(mut state) = self.shared.auth.try_borrow_mut() {
            self.shared
                .finish_jwks_fetch(&mut state, provider, status, &body);
        }
        let action = self.request_headers();
        self.add_filter_time(started, Phase::RequestHeaders);
        if self.stream.denied.is_some() {
            return;
        }
        let resume = match (self.body_while_fetching.take(), action) {
            // The whole body arrived during the fetch: run its phase now.
            (Some((size, true)), _) => self.request_body(size, true) == Action::Continue,
            // More body is coming: its callbacks carry the stream on.
            (Some((_, false)), _) => false,
            (None, action) => action == Action::Continue,
        };
        if resume {
            if let Err(status) = hostcalls::resume_http_request() {
                log(
                    LogLevel::Error,
                    &format!("tollgate: cannot resume request: {status:?}"),
                );
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let started = now_ns();
        self.headers_only = end_of_stream;
        let action = self.request_headers();
        self.add_filter_time(started, Phase::RequestHeaders);
        action
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.pending_keys.is_some() {
            // Authentication waits for a JWKS fetch. Where the host lets a paused
            // request's body through (allow_on_headers_stop_iteration), it must
            // stay held: continuing here would forward an unverified request.
            self.body_while_fetching = Some((body_size, end_of_stream));
            return Action::Pause;
        }
        if self.stream.denied.is_some() {
            return Action::Pause;
        }
        self.request_body(body_size, end_of_stream)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if !response::needs_headers(&self.stream) {
            return Action::Continue;
        }
        let started = now_ns();
        // Only the two headers the response phase reads, and only when the body
        // will be looked at: quota headers alone need nothing read.
        let mut response_headers = Vec::new();
        if response::inspects_body(&self.stream) {
            for name in ["content-type", "content-encoding"] {
                if let Ok(Some(value)) =
                    hostcalls::get_map_value(MapType::HttpResponseHeaders, name)
                {
                    response_headers.push((name.to_string(), value));
                }
            }
        }
        let edits =
            response::on_response_headers(&self.shared.config, &mut self.stream, &response_headers);
        apply(MapType::HttpResponseHeaders, &edits);
        self.add_filter_time(started, Phase::ResponseHeaders);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !response::wants_body(&self.stream) {
            return Action::Continue;
        }
        let started = now_ns();
        // The core says whether this callback needs the bytes at all: a held
        // JSON answer is read once, at its end, not on every chunk.
        let step = match response::body_read(
            &self.shared.config,
            &self.stream,
            body_size,
            end_of_stream,
        ) {
            BodyRead::Skip(step) => step,
            BodyRead::Read => {
                let held = buffer(BufferType::HttpResponseBody, body_size).unwrap_or_default();
                response::on_response_body(
                    &self.shared.config,
                    &mut self.stream,
                    &held,
                    end_of_stream,
                )
            }
        };
        let action = match step {
            BodyStep::Pass => Action::Continue,
            BodyStep::Hold => Action::Pause,
            BodyStep::Replace(bytes) => {
                replace_body(BufferType::HttpResponseBody, body_size, &bytes);
                Action::Continue
            }
        };
        self.add_filter_time(started, Phase::ResponseBody);
        action
    }

    fn on_log(&mut self) {
        let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok());
        let line = self
            .with_env(|config, env, stream| pipeline::on_log(config, env, stream, status))
            .flatten();
        if let Some(line) = line {
            let level = match self.shared.config.audit.level() {
                AuditLevel::Debug => LogLevel::Debug,
                AuditLevel::Info => LogLevel::Info,
                AuditLevel::Warn => LogLevel::Warn,
            };
            log(level, &line);
        }
    }
}

/// The refusal when per-worker state is unexpectedly borrowed (fail closed).
fn busy() -> Denial {
    Denial::internal("internal_error", "per-worker state is busy")
}

/// Applies header edits to a header map: removals first, then sets.
fn apply(map: MapType, edits: &HeaderEdits) {
    for name in &edits.remove {
        set_header(map, name, None);
    }
    for (name, value) in &edits.set {
        set_header(map, name, Some(value));
    }
}

/// Replaces the `size` bytes the host holds for a body with `bytes`.
fn replace_body(kind: BufferType, size: usize, bytes: &[u8]) {
    if let Err(status) = hostcalls::set_buffer(kind, 0, size, bytes) {
        log(
            LogLevel::Error,
            &format!("tollgate: cannot replace body: {status:?}"),
        );
    }
}
