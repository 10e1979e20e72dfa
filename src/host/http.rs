//! One HTTP stream: reads the request, runs the pipeline, carries out its step.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use super::root::Shared;
use super::store::HostStore;
use super::{
    buffer, call_response_status, dispatch_get, headers, log, now_ms, now_ns, property,
    send_denial, set_header,
};
use crate::audit::AuditLevel;
use crate::decision::Denial;
use crate::pipeline::{self, Env, HeadersStep, RequestHead, StreamState};

/// The stream context.
pub struct Http {
    shared: Rc<Shared>,
    stream: StreamState,
    /// An on-demand JWKS call this stream waits for: (call token, provider).
    pending_keys: Option<(u32, usize)>,
}

impl Http {
    /// A new stream.
    pub fn new(_context_id: u32, shared: Rc<Shared>) -> Self {
        Self {
            shared,
            stream: StreamState::default(),
            pending_keys: None,
        }
    }

    fn add_filter_time(&mut self, started_ns: u64) {
        let spent = now_ns().saturating_sub(started_ns);
        self.stream.filter_ns = self.stream.filter_ns.saturating_add(spent);
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
        let peer = property(&["source", "address"]);
        let head = RequestHead {
            method: find(":method").unwrap_or(""),
            path: find(":path").unwrap_or("/"),
            headers: &request,
            peer_address: peer.as_deref(),
        };
        let step = {
            let (Ok(mut auth_state), Ok(mut metrics)) = (
                self.shared.auth.try_borrow_mut(),
                self.shared.metrics.try_borrow_mut(),
            ) else {
                send_denial(&Denial::internal(
                    "internal_error",
                    "per-worker state is busy",
                ));
                return Action::Pause;
            };
            let mut env = Env {
                auth: &mut auth_state,
                store: &HostStore,
                metrics: &mut *metrics,
                now_ms: now_ms(),
            };
            pipeline::on_request_headers(&self.shared.config, &mut env, &head, &mut self.stream)
        };
        match step {
            HeadersStep::Continue(edits) => {
                for name in &edits.remove {
                    set_header(MapType::HttpRequestHeaders, name, None);
                }
                for (name, value) in &edits.set {
                    set_header(MapType::HttpRequestHeaders, name, Some(value));
                }
                Action::Continue
            }
            HeadersStep::Deny(denial) => {
                send_denial(&denial);
                Action::Pause
            }
            HeadersStep::FetchKeys { provider } => self.fetch_keys(provider, now_ms()),
        }
    }

    fn fetch_keys(&mut self, provider: usize, now: u64) -> Action {
        let config = &self.shared.config;
        let remote = config.auth.remote_jwks();
        let source = remote.iter().find(|(p, _)| *p == provider).map(|(_, s)| *s);
        let allowed = match self.shared.auth.try_borrow_mut() {
            Ok(mut state) => state.begin_fetch(provider, now, true),
            Err(_) => false,
        };
        self.stream.fetched_keys = true;
        let dispatched = match (source, allowed) {
            (Some(source), true) => dispatch_get(
                &source.cluster,
                &source.authority,
                &source.path,
                source.timeout_ms,
            ),
            _ => Err("refetch not allowed now".to_string()),
        };
        match dispatched {
            Ok(token) => {
                self.pending_keys = Some((token, provider));
                Action::Pause
            }
            Err(why) => {
                if allowed {
                    if let Ok(mut state) = self.shared.auth.try_borrow_mut() {
                        self.shared
                            .finish_jwks_fetch(&mut state, provider, None, &[]);
                    }
                }
                log(
                    LogLevel::Debug,
                    &format!("tollgate: jwks refetch skipped: {why}"),
                );
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
        let Some((token, provider)) = self.pending_keys else {
            return;
        };
        if token != token_id {
            return;
        }
        self.pending_keys = None;
        let status = call_response_status();
        let body = buffer(BufferType::HttpCallResponseBody, body_size).unwrap_or_default();
        if let Ok(mut state) = self.shared.auth.try_borrow_mut() {
            self.shared
                .finish_jwks_fetch(&mut state, provider, status, &body);
        }
        let action = self.request_headers();
        self.add_filter_time(started);
        if let Action::Continue = action {
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
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let started = now_ns();
        let action = self.request_headers();
        self.add_filter_time(started);
        action
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let started = now_ns();
        for (name, value) in &self.stream.response_headers {
            set_header(MapType::HttpResponseHeaders, name, Some(value));
        }
        self.add_filter_time(started);
        Action::Continue
    }

    fn on_log(&mut self) {
        let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok());
        if let Some(line) = pipeline::audit_line(&self.shared.config, &self.stream, status) {
            let level = match self.shared.config.audit.level() {
                AuditLevel::Debug => LogLevel::Debug,
                AuditLevel::Info => LogLevel::Info,
                AuditLevel::Warn => LogLevel::Warn,
            };
            log(level, &line);
        }
    }
}
