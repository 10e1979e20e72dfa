//! One HTTP stream: reads the request, runs the pipeline, carries out its step.

use std::rc::Rc;
use std::time::Duration;

use super::abi as hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use super::root::Shared;
use super::store::HostStore;
use super::{
    buffer, call_response_status, dispatch_jwks, headers, log, now_ms, now_ns, property,
    send_denial, set_header,
};
use crate::audit::{AuditLevel, AuditSink, FILTER_STATE_KEY};
use crate::config::Config;
use crate::decision::Denial;
use crate::metrics;
use crate::pipeline::global::RateLimitCall;
use crate::pipeline::response::{self, BodyRead, BodyStep, TrailersStep};
use crate::pipeline::stream::{self as machine, Call, Forward, Step};
use crate::pipeline::{self, Env, HeaderEdits, RequestHead, Stage, StreamState};

/// The stream context: reads what the host offers, hands it to the state
/// machine in [`crate::pipeline::stream`], and carries out the returned step.
pub struct Http {
    id: u32,
    shared: Rc<Shared>,
    stream: StreamState,
    /// The request had no body (headers ended the stream).
    headers_only: bool,
    /// The last clock reading (ms) a callback handed to the pipeline.
    last_ms: u64,
}

impl Http {
    /// A new stream.
    pub fn new(context_id: u32, shared: Rc<Shared>) -> Self {
        Self {
            id: context_id,
            shared,
            stream: StreamState::default(),
            headers_only: false,
            last_ms: 0,
        }
    }

    /// Runs `f` with the per-worker services borrowed, at `now_ms` (the
    /// callback's one clock reading: each read is a host call); `None` if
    /// they are busy (never expected: callbacks do not nest).
    fn with_env<R>(
        &mut self,
        now_ms: u64,
        f: impl FnOnce(&Config, &mut Env<'_>, &mut StreamState) -> R,
    ) -> Option<R> {
        self.last_ms = now_ms;
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
            now_ms,
        };
        Some(f(&shared.config, &mut env, &mut self.stream))
    }

    /// Runs a state-machine event with the request head re-read from the
    /// host, then carries out its step. `paused`: the stream is paused now,
    /// so letting it go means resuming it.
    fn event(
        &mut self,
        stage: Stage,
        paused: bool,
        f: impl FnOnce(&Config, &mut Env<'_>, &RequestHead<'_>, &mut StreamState) -> Option<Step>,
    ) -> Action {
        let started = now_ns();
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
        // Only when a route requires TLS (absent on plaintext connections).
        let tls = if self.shared.config.routes.requires_tls() {
            property(&["connection", "tls_version"])
        } else {
            None
        };
        let head = RequestHead {
            method: find(":method").unwrap_or(""),
            path: find(":path").unwrap_or("/"),
            headers: &request,
            peer_address: peer.as_deref(),
            end_of_stream: self.headers_only,
            tls_version: tls.as_deref(),
        };
        let now = started / 1_000_000;
        let action = match self.with_env(now, |config, env, stream| f(config, env, &head, stream)) {
            Some(Some(step)) => self.carry_out(step, now, paused, Some(&head)),
            Some(None) => Action::Pause,
            None => self.busy(),
        };
        for line in std::mem::take(&mut self.stream.warnings) {
            log(LogLevel::Warn, &line);
        }
        self.stream
            .add_time(stage, now_ns().saturating_sub(started));
        action
    }

    /// Carries out one step. `paused`: the stream is paused now, so letting
    /// it go means resuming it. `head`: the request head, in callbacks that
    /// run the headers phase (only those may fall back to it when a JWKS
    /// call cannot be dispatched).
    fn carry_out(
        &mut self,
        step: Step,
        now_ms: u64,
        paused: bool,
        head: Option<&RequestHead<'_>>,
    ) -> Action {
        match step {
            Step::Forward(forward) => {
                self.forward(&forward);
                if paused {
                    resume();
                }
                Action::Continue
            }
            Step::Resume(forward) => {
                self.forward(&forward);
                resume();
                Action::Continue
            }
            Step::Hold(edits) => {
                apply(MapType::HttpRequestHeaders, &edits);
                Action::Pause
            }
            Step::Deny(denial) => {
                send_denial(&denial);
                Action::Pause
            }
            Step::Dispatch(call) => match self.dispatch(&call) {
                Ok(token) => {
                    machine::dispatched(&mut self.stream, token);
                    Action::Pause
                }
                Err(why) => {
                    log(
                        LogLevel::Warn,
                        &format!("tollgate: call not dispatched: {why}"),
                    );
                    // The machine decides what an undispatched call means.
                    let step = match (&call, head) {
                        (Call::RateLimit(_), _) => {
                            self.with_env(now_ms, machine::rate_limit_unreachable)
                        }
                        (Call::Jwks { .. }, Some(head)) => {
                            self.with_env(now_ms, |config, env, stream| {
                                machine::dispatch_failed(config, env, head, stream)
                            })
                        }
                        (Call::Jwks { .. }, None) => None,
                    };
                    match step {
                        Some(step) => self.carry_out(step, now_ms, paused, head),
                        None => self.busy(),
                    }
                }
            },
        }
    }

    fn forward(&self, forward: &Forward) {
        apply(MapType::HttpRequestHeaders, &forward.edits);
        if let Some(body) = &forward.body {
            replace_body(BufferType::HttpRequestBody, self.stream_body_bytes(), body);
        }
    }

    fn stream_body_bytes(&self) -> usize {
        self.stream.body_bytes()
    }

    fn add_filter_time(&mut self, started_ns: u64, stage: Stage) {
        let spent = now_ns().saturating_sub(started_ns);
        self.stream.add_time(stage, spent);
    }

    fn dispatch(&self, call: &Call) -> Result<u32, String> {
        match call {
            Call::Jwks { provider } => {
                let remote = self.shared.config.auth.remote_jwks();
                match remote.iter().find(|(p, _)| p == provider) {
                    Some((_, source)) => dispatch_jwks(source),
                    None => Err("provider has no remote jwks".to_string()),
                }
            }
            Call::RateLimit(call) => dispatch_rate_limit(call),
        }
    }

    /// Per-worker state was unexpectedly borrowed: refuse (fail closed), and count it.
    fn busy(&mut self) -> Action {
        self.fail_closed(Denial::busy())
    }

    /// Refuses the stream with an internal error, counted: the one way a
    /// shell failure becomes a response.
    fn fail_closed(&mut self, denial: Denial) -> Action {
        self.shared.count(&metrics::internal_error(denial.code));
        // The machine shapes the refusal for the route's API.
        if let Step::Deny(denial) = machine::deny(&mut self.stream, denial) {
            send_denial(&denial);
        }
        Action::Pause
    }
}

/// Sends a `ShouldRateLimit` call; returns its token.
fn dispatch_rate_limit(call: &RateLimitCall) -> Result<u32, String> {
    hostcalls::dispatch_grpc_call(
        &call.cluster,
        call.service,
        call.method,
        &call.message,
        Duration::from_millis(call.timeout_ms),
    )
    .map_err(|status| format!("{status:?}"))
}

/// Resumes a paused request.
fn resume() {
    if let Err(status) = hostcalls::resume_http_request() {
        log(
            LogLevel::Error,
            &format!("tollgate: cannot resume request: {status:?}"),
        );
    }
}

/// Reads `n` bytes of the buffered request body.
fn read_request_body(n: usize) -> Vec<u8> {
    buffer(BufferType::HttpRequestBody, n).unwrap_or_default()
}

impl Context for Http {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let (message, status_message) = if status_code == 0 {
            (buffer(BufferType::GrpcReceiveBuffer, response_size), None)
        } else {
            (None, hostcalls::grpc_status_message())
        };
        // The stream is paused while it waits: whatever goes on resumes it.
        self.event(Stage::RequestHeaders, true, |config, env, _, stream| {
            machine::rate_limit_response(
                config,
                env,
                stream,
                token_id,
                machine::GrpcAnswer {
                    status: status_code,
                    status_message: status_message.as_deref(),
                    message: message.as_deref(),
                },
                &mut read_request_body,
            )
        });
    }

    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let status = call_response_status();
        let answer = buffer(BufferType::HttpCallResponseBody, body_size).unwrap_or_default();
        // The stream is paused while it waits: whatever goes on resumes it.
        self.event(Stage::RequestHeaders, true, |config, env, head, stream| {
            machine::call_response(
                config,
                env,
                head,
                stream,
                token_id,
                status,
                &answer,
                &mut read_request_body,
            )
        });
    }

    fn on_done(&mut self) -> bool {
        // Release what the stream holds on the worker (a JWKS lease it owns,
        // a wait it joined); the host cancels its calls with it.
        // The stream's last clock reading: its end needs no fresh one.
        let _ = self.with_env(self.last_ms, |_, env, stream| {
            machine::stream_end(env, stream)
        });
        true
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.headers_only = end_of_stream;
        self.event(Stage::RequestHeaders, false, |config, env, head, stream| {
            Some(machine::request_headers(config, env, head, stream))
        })
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let started = now_ns();
        let now = started / 1_000_000;
        let step = self.with_env(now, |config, env, stream| {
            machine::request_body(
                config,
                env,
                stream,
                body_size,
                end_of_stream,
                &mut read_request_body,
            )
        });
        let action = match step {
            Some(step) => self.carry_out(step, now, false, None),
            None => self.busy(),
        };
        self.stream
            .add_time(Stage::RequestBody, now_ns().saturating_sub(started));
        action
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let started = now_ns();
        let now = started / 1_000_000;
        let step = self.with_env(now, |config, env, stream| {
            machine::request_trailers(config, env, stream, &mut read_request_body)
        });
        let action = match step {
            Some(step) => self.carry_out(step, now, false, None),
            None => self.busy(),
        };
        self.stream
            .add_time(Stage::RequestBody, now_ns().saturating_sub(started));
        action
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
        self.add_filter_time(started, Stage::ResponseHeaders);
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let timed = self.stream.genai.model.is_some();
        let wanted = response::wants_body(&self.stream);
        if !timed && !wanted {
            return Action::Continue;
        }
        // One clock reading serves the GenAI timing and the phase time.
        let started = now_ns();
        if timed {
            // Response timing for the GenAI metrics (time to first token).
            self.stream.genai.on_output(started / 1_000_000, body_size);
        }
        if !wanted {
            return Action::Continue;
        }
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
        self.add_filter_time(started, Stage::ResponseBody);
        action
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if !response::wants_body(&self.stream) {
            return Action::Continue;
        }
        let started = now_ns();
        let action = match response::on_response_trailers(&mut self.stream) {
            TrailersStep::Pass => Action::Continue,
            TrailersStep::FinishHeld => {
                match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, usize::MAX) {
                    Ok(held) => {
                        let held = held.unwrap_or_default();
                        let step = response::on_response_body(
                            &self.shared.config,
                            &mut self.stream,
                            &held,
                            true,
                        );
                        if let BodyStep::Replace(bytes) = step {
                            replace_body(BufferType::HttpResponseBody, held.len(), &bytes);
                        }
                        Action::Continue
                    }
                    Err(status) => {
                        // Fail closed: a held body we cannot read is not released.
                        log(
                            LogLevel::Error,
                            &format!(
                                "tollgate: cannot read the held answer at its trailers: {status:?}"
                            ),
                        );
                        self.fail_closed(Denial::response_unreadable())
                    }
                }
            }
        };
        self.add_filter_time(started, Stage::ResponseBody);
        action
    }

    fn on_log(&mut self) {
        let now = now_ms();
        let _ = self.with_env(now, |_, env, stream| machine::stream_end(env, stream));
        // Only the audit record reads the status: no host call without it.
        let status = if self.shared.config.audit.enabled() {
            hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse().ok())
        } else {
            None
        };
        let line = self
            .with_env(now, |config, env, stream| {
                pipeline::on_log(config, env, stream, status)
            })
            .flatten();
        if let Some(call) = self.stream.settle_call.take() {
            // Sent in the root context's name: the stream's own calls are
            // cancelled when the stream is destroyed, which follows at once.
            let _ = hostcalls::set_effective_context(self.shared.root_id);
            if let Err(why) = dispatch_rate_limit(&call) {
                log(
                    LogLevel::Warn,
                    &format!("tollgate: rate-limit settle not dispatched: {why}"),
                );
                self.shared
                    .count(&metrics::rate_limit_global("settle_failed"));
            }
            let _ = hostcalls::set_effective_context(self.id);
        }
        let Some(line) = line else {
            return;
        };
        if self.shared.config.audit.sink() == AuditSink::FilterState {
            // Envoy runs the filter's log callback before its access loggers,
            // which read this as %FILTER_STATE(wasm.tollgate_audit:PLAIN)%.
            if let Err(status) = hostcalls::set_property(&[FILTER_STATE_KEY], line.as_bytes()) {
                log(
                    LogLevel::Warn,
                    &format!("tollgate: cannot hand the audit record to Envoy: {status:?}"),
                );
            }
            return;
        }
        let level = match self.shared.config.audit.level() {
            AuditLevel::Debug => LogLevel::Debug,
            AuditLevel::Info => LogLevel::Info,
            AuditLevel::Warn => LogLevel::Warn,
        };
        log(level, &line);
    }
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
