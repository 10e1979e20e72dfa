//! The request side of a stream as an explicit state machine.
//!
//! Every host callback on the request side lands in one function here, which
//! looks at the stream's [`Phase`] and returns one [`Step`] for the shell to
//! carry out. Whether a callback may let the request go is therefore decided
//! in one place, from the phase, and never from which optional fields happen
//! to be set: request trailers, a body chunk that arrives while a JWKS fetch
//! is pending, data after a refusal — each asks the same question.
//!
//! ```text
//!  RequestHeaders ──► AwaitingKeys ──► (headers again) ─┐
//!        │  └──► AwaitingRateLimit (global policies) ──┤
//!        │                                              │
//!        ├──────────────► RequestBody ──(end of stream, │
//!        │                   │            or trailers)  │
//!        ▼                   ▼                          ▼
//!     Upstream ◄──────── (admitted)               Denied ── never resumes
//!        │
//!      Done  (the stream ended: whatever it held is released)
//! ```
//!
//! Work a stream holds on the worker (a JWKS fetch it started, a wait it
//! joined) is given back in [`stream_end`], however the stream ends.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use super::global::{self, RateLimitCall};
use super::request::{self, BodyProgress, RequestBodyStep};
use super::{on_request_headers, Env, HeaderEdits, HeadersStep, RequestHead, StreamState};
use crate::config::Config;
use crate::decision::Denial;
use crate::metrics;
use crate::rate_limit::Reply;

/// Where a stream is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Waiting for (or running) the request-headers phase.
    #[default]
    RequestHeaders,
    /// Authentication waits for a JWKS answer.
    AwaitingKeys(KeyWait),
    /// The global rate-limit policies (headers) or token budgets (body)
    /// wait for the rate-limit service.
    AwaitingRateLimit(RateLimitWait),
    /// Admitted so far; the body is buffered until the request ends.
    RequestBody,
    /// The request went (or is going) to the upstream.
    Upstream,
    /// Answered locally: nothing of this request ever reaches the upstream.
    Denied,
    /// The stream ended.
    Done,
}

/// A stream's wait for a JWKS answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWait {
    /// The provider whose keys are fetched.
    pub provider: usize,
    /// True when another fetch owns the provider's lease and this stream
    /// only joined (with a call of its own, counted per worker).
    pub joined: bool,
    /// The host's token for this stream's call, once dispatched.
    pub call: Option<u32>,
    /// Bytes of body the host has buffered meanwhile, if any arrived.
    pub body_bytes: Option<usize>,
    /// The request ended meanwhile (last body chunk, or trailers).
    pub complete: bool,
}

/// A stream's wait for the rate-limit service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitWait {
    /// What goes with the request once admitted.
    pub forward: Forward,
    /// True when the headers phase asked (request policies); false for the
    /// body phase (token budgets), after which the request goes upstream.
    pub from_headers: bool,
    /// The host's token for the call, once dispatched.
    pub call: Option<u32>,
    /// Bytes of body the host has buffered meanwhile, if any arrived.
    pub body_bytes: Option<usize>,
    /// The request ended meanwhile (last body chunk, or trailers).
    pub complete: bool,
}

/// An outbound call the core asks the shell to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// GET the provider's remote JWKS (`config.auth.remote_jwks()`).
    Jwks {
        /// Provider index.
        provider: usize,
    },
    /// `ShouldRateLimit` on the rate-limit service (gRPC).
    RateLimit(RateLimitCall),
}

/// What reaches the upstream when the request goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    /// Request header edits (they reach the upstream only while the headers
    /// are still held).
    pub edits: HeaderEdits,
    /// A replacement for the whole buffered request body.
    pub body: Option<Vec<u8>>,
}

/// What the shell does at the end of a callback.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Apply the edits and let the callback continue.
    Forward(Forward),
    /// Apply the edits and pause: the stream waits for more input or an answer.
    Hold(HeaderEdits),
    /// Answer locally. The stream never resumes.
    Deny(Denial),
    /// Make this call and report it with [`dispatched`] or [`dispatch_failed`];
    /// the stream pauses meanwhile.
    Dispatch(Call),
    /// A paused request may go now: apply the edits, then resume it.
    Resume(Forward),
}

impl Step {
    fn hold() -> Step {
        Step::Hold(HeaderEdits::default())
    }
}

/// Reads the request body the host has buffered, `n` bytes from the start.
pub type ReadBody<'a> = &'a mut dyn FnMut(usize) -> Vec<u8>;

/// The request headers arrived.
pub fn request_headers(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> Step {
    if stream.phase != Phase::RequestHeaders {
        // Headers come once; anything else is a host bug: stay closed.
        return Step::hold();
    }
    let step = on_request_headers(config, env, head, stream);
    after_headers(config, env, head, stream, step)
}

fn after_headers(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    step: HeadersStep,
) -> Step {
    match step {
        HeadersStep::Deny(denial) => deny(stream, denial),
        HeadersStep::FetchKeys { provider } if !stream.fetched_keys => {
            wait_for_keys(config, env, head, stream, provider)
        }
        // A second miss after a fetch is final; `authenticate` says so itself,
        // this arm only keeps the machine from ever looping.
        HeadersStep::FetchKeys { .. } => deny(stream, unknown_kid()),
        HeadersStep::CallRateLimit { edits, call } => {
            stream.phase = Phase::AwaitingRateLimit(RateLimitWait {
                forward: Forward { edits, body: None },
                from_headers: true,
                call: None,
                body_bytes: None,
                complete: head.end_of_stream,
            });
            Step::Dispatch(Call::RateLimit(call))
        }
        HeadersStep::Continue(edits) => {
            if stream.body.is_some() {
                stream.phase = Phase::RequestBody;
                if config.hold_request_headers {
                    return Step::Hold(edits);
                }
            } else {
                stream.phase = Phase::Upstream;
            }
            Step::Forward(Forward { edits, body: None })
        }
    }
}

/// Takes the provider's fetch lease, or joins the fetch in flight; with
/// neither, the miss is final now.
fn wait_for_keys(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    provider: usize,
) -> Step {
    stream.fetched_keys = true;
    let owns = env.auth.begin_fetch(provider, env.now_ms, true);
    let joined = !owns && env.auth.join(provider, env.now_ms);
    if !owns && !joined {
        let step = on_request_headers(config, env, head, stream);
        return after_headers(config, env, head, stream, step);
    }
    stream.phase = Phase::AwaitingKeys(KeyWait {
        provider,
        joined,
        call: None,
        body_bytes: None,
        complete: head.end_of_stream,
    });
    Step::Dispatch(Call::Jwks { provider })
}

/// The shell dispatched the stream's call; `token` names its answer.
pub fn dispatched(stream: &mut StreamState, token: u32) {
    match &mut stream.phase {
        Phase::AwaitingKeys(wait) => wait.call = Some(token),
        Phase::AwaitingRateLimit(wait) => wait.call = Some(token),
        _ => {}
    }
}

/// The shell could not dispatch the call: give back what the wait took and
/// finish authentication with the keys there are.
pub fn dispatch_failed(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> Step {
    if let Phase::AwaitingRateLimit(_) = &stream.phase {
        return rate_limit_unreachable(config, env, stream);
    }
    if let Phase::AwaitingKeys(wait) = std::mem::take(&mut stream.phase) {
        if wait.joined {
            env.auth.leave();
        } else {
            keys_answered(config, env, stream, wait.provider, None, &[]);
        }
    }
    stream.phase = Phase::RequestHeaders;
    let step = on_request_headers(config, env, head, stream);
    after_headers(config, env, head, stream, step)
}

/// An answer to an outbound call arrived. `None`: it is not this stream's
/// (a stale or foreign token), and the shell does nothing.
#[allow(clippy::too_many_arguments)] // the answer's parts, as the host hands them over
pub fn call_response(
    config: &Config,
    env: &mut Env<'_>,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    token: u32,
    status: Option<u16>,
    answer: &[u8],
    read_body: ReadBody<'_>,
) -> Option<Step> {
    let Phase::AwaitingKeys(wait) = &stream.phase else {
        return None;
    };
    if wait.call != Some(token) {
        return None;
    }
    let wait = wait.clone();
    if wait.joined {
        env.auth.leave();
    }
    keys_answered(config, env, stream, wait.provider, status, answer);
    stream.phase = Phase::RequestHeaders;
    let step = on_request_headers(config, env, head, stream);
    let step = after_headers(config, env, head, stream, step);
    Some(match step {
        Step::Forward(forward) => resume_after_keys(config, env, stream, &wait, forward, false),
        Step::Hold(edits) => resume_after_keys(
            config,
            env,
            stream,
            &wait,
            Forward { edits, body: None },
            true,
        ),
        Step::Resume(forward) => Step::Resume(forward),
        Step::Deny(denial) => Step::Deny(denial),
        // Admitted so far; the global policies ask the rate-limit service,
        // which takes over the wait (and what arrived of the body meanwhile).
        Step::Dispatch(Call::RateLimit(call)) => {
            if let Phase::AwaitingRateLimit(next) = &mut stream.phase {
                next.body_bytes = wait.body_bytes;
                next.complete |= wait.complete;
            }
            Step::Dispatch(Call::RateLimit(call))
        }
        // `fetched_keys` is set, so the phase cannot ask again; stay closed.
        Step::Dispatch(_) => deny(stream, unknown_kid()),
    })
    .map(|step| finish_body_if_complete(config, env, stream, &wait, step, read_body))
}

/// Admitted after the keys came: decide whether the paused request resumes.
fn resume_after_keys(
    _config: &Config,
    _env: &mut Env<'_>,
    stream: &mut StreamState,
    wait: &KeyWait,
    forward: Forward,
    headers_held: bool,
) -> Step {
    if stream.phase != Phase::RequestBody || wait.complete {
        // No body to read, or all of it is here (read next): resume.
        return Step::Resume(forward);
    }
    if wait.body_bytes.is_some() || headers_held {
        // Part of the body is held by its own callbacks, which carry the
        // stream on when the request ends.
        return Step::Hold(forward.edits);
    }
    // The body has not started: let the headers go; body callbacks hold it.
    Step::Resume(forward)
}

/// When the whole request arrived during the wait, its body phase runs now,
/// before anything resumes.
fn finish_body_if_complete(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    wait: &KeyWait,
    step: Step,
    read_body: ReadBody<'_>,
) -> Step {
    let Step::Resume(forward) = step else {
        return step;
    };
    if stream.phase != Phase::RequestBody || !wait.complete {
        return Step::Resume(forward);
    }
    let size = wait.body_bytes.unwrap_or(0);
    stream.body_bytes = size;
    match body_ends(config, env, stream, size, read_body) {
        Step::Forward(body) => Step::Resume(merge(forward, body)),
        other => other,
    }
}

/// The rate-limit call could not be dispatched: it is answered at once as
/// UNAVAILABLE, and the policies' fail mode decides. Nothing is paused yet,
/// so a request admitted here goes on as a `Forward`.
pub fn rate_limit_unreachable(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
) -> Step {
    let Phase::AwaitingRateLimit(wait) = &stream.phase else {
        return Step::hold();
    };
    let wait = wait.clone();
    let mut no_body = |_: usize| Vec::new();
    match rate_limit_answered(config, env, stream, wait, Reply::Status(14), &mut no_body) {
        Step::Resume(forward) => Step::Forward(forward),
        other => other,
    }
}

/// What Envoy handed back for a gRPC call: its status, the status message
/// (read only for a failure), and the response message (status 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcAnswer<'a> {
    /// The gRPC status (0 OK, 14 unavailable, ...).
    pub status: u32,
    /// Envoy's status message for a failure (`upstream request timeout`,
    /// `upstream connect error ...`), when the host gave one.
    pub status_message: Option<&'a str>,
    /// The response message, without its gRPC frame (status 0).
    pub message: Option<&'a [u8]>,
}

/// The rate-limit service answered the stream's call `token` (status 0 with
/// the response message, or the failure status and its message). `None`:
/// not this stream's call, and the shell does nothing.
pub fn rate_limit_response(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    token: u32,
    answer: GrpcAnswer<'_>,
    read_body: ReadBody<'_>,
) -> Option<Step> {
    let Phase::AwaitingRateLimit(wait) = &stream.phase else {
        return None;
    };
    if wait.call != Some(token) {
        return None;
    }
    let wait = wait.clone();
    let reply = match (answer.status, answer.message) {
        (0, Some(bytes)) => Reply::Message(bytes),
        (0, None) => Reply::Status(13),
        (code, _) => crate::rate_limit::global::failure_reply(code, answer.status_message),
    };
    Some(rate_limit_answered(
        config, env, stream, wait, reply, read_body,
    ))
}

fn rate_limit_answered(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    wait: RateLimitWait,
    reply: Reply<'_>,
    read_body: ReadBody<'_>,
) -> Step {
    if let Some(denial) = global::on_reply(config, env, stream, reply) {
        return deny(stream, denial);
    }
    if !wait.from_headers {
        // The body phase was the last check: the whole request goes.
        stream.phase = Phase::Upstream;
        return Step::Resume(wait.forward);
    }
    // As after a JWKS answer: the body, if any, is read next.
    let as_keys = KeyWait {
        provider: 0,
        joined: false,
        call: wait.call,
        body_bytes: wait.body_bytes,
        complete: wait.complete,
    };
    let headers_held = stream.body.is_some() && config.hold_request_headers;
    stream.phase = if stream.body.is_some() {
        Phase::RequestBody
    } else {
        Phase::Upstream
    };
    let step = resume_after_keys(config, env, stream, &as_keys, wait.forward, headers_held);
    finish_body_if_complete(config, env, stream, &as_keys, step, read_body)
}

/// A request body chunk; `size` is all the host has buffered so far.
pub fn request_body(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    size: usize,
    end_of_stream: bool,
    read_body: ReadBody<'_>,
) -> Step {
    match &mut stream.phase {
        Phase::AwaitingKeys(wait) => {
            // Held: continuing here would forward an unverified request.
            wait.body_bytes = Some(size);
            wait.complete |= end_of_stream;
            Step::hold()
        }
        Phase::AwaitingRateLimit(wait) => {
            // Held until the service admits the request.
            wait.body_bytes = Some(size);
            wait.complete |= end_of_stream;
            Step::hold()
        }
        Phase::RequestBody => {
            stream.body_bytes = size;
            match request::progress(stream, size, end_of_stream) {
                BodyProgress::Pass => {
                    stream.phase = Phase::Upstream;
                    Step::Forward(Forward::default())
                }
                BodyProgress::Wait => Step::hold(),
                BodyProgress::Deny(denial) => deny(stream, denial),
                BodyProgress::Complete => body_ends(config, env, stream, size, read_body),
            }
        }
        Phase::Upstream => Step::Forward(Forward::default()),
        // Denied, ended, or a body before its headers were decided: hold.
        Phase::RequestHeaders | Phase::Denied | Phase::Done => Step::hold(),
    }
}

/// The request's trailers arrived: the request has ended. A body being read
/// is complete now, and is screened and budgeted before anything moves.
pub fn request_trailers(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    read_body: ReadBody<'_>,
) -> Step {
    match &mut stream.phase {
        Phase::AwaitingKeys(wait) => {
            wait.complete = true;
            Step::hold()
        }
        Phase::AwaitingRateLimit(wait) => {
            wait.complete = true;
            Step::hold()
        }
        Phase::RequestBody => {
            let size = stream.body_bytes;
            body_ends(config, env, stream, size, read_body)
        }
        Phase::Upstream => Step::Forward(Forward::default()),
        Phase::RequestHeaders | Phase::Denied | Phase::Done => Step::hold(),
    }
}

/// The whole body is buffered: read it once and run the body phase.
fn body_ends(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    size: usize,
    read_body: ReadBody<'_>,
) -> Step {
    if let BodyProgress::Deny(denial) = request::progress(stream, size, true) {
        return deny(stream, denial);
    }
    let body = read_body(size);
    match request::on_request_body(config, env, stream, &body) {
        RequestBodyStep::Continue(edits, body) => {
            stream.phase = Phase::Upstream;
            Step::Forward(Forward { edits, body })
        }
        RequestBodyStep::Deny(denial) => deny(stream, denial),
        RequestBodyStep::CallRateLimit(edits, body, call) => {
            stream.phase = Phase::AwaitingRateLimit(RateLimitWait {
                forward: Forward { edits, body },
                from_headers: false,
                call: None,
                body_bytes: Some(size),
                complete: true,
            });
            Step::Dispatch(Call::RateLimit(call))
        }
    }
}

/// The stream ended, however it ended: give back what it holds on the worker.
pub fn stream_end(env: &mut Env<'_>, stream: &mut StreamState) {
    if let Phase::AwaitingKeys(wait) = &stream.phase {
        if wait.joined {
            env.auth.leave();
        } else {
            // Its call dies with the stream, so no answer will clear the lease.
            env.auth.abandon_fetch(wait.provider);
        }
    }
    if stream.phase != Phase::Denied {
        stream.phase = Phase::Done;
    }
}

/// Records a refusal: the one place a stream becomes denied.
pub fn deny(stream: &mut StreamState, denial: Denial) -> Step {
    // In the route's API error shape (set with the route; by path before).
    let denial = denial.shaped(stream.error_shape);
    stream.denied = Some(denial.code);
    stream.phase = Phase::Denied;
    Step::Deny(denial)
}

/// Hands a JWKS answer (`status` `None`: no answer) to the auth state and
/// counts it; a failure is kept for the shell's log.
pub fn keys_answered(
    config: &Config,
    env: &mut Env<'_>,
    stream: &mut StreamState,
    provider: usize,
    status: Option<u16>,
    answer: &[u8],
) {
    let name = config.auth.provider_name(provider);
    match env
        .auth
        .finish_fetch(&config.auth, provider, status, answer, env.now_ms)
    {
        Ok(_) => env.metrics.count(metrics::JWKS_FETCH_OK, 1),
        Err(err) => {
            env.metrics.count(metrics::JWKS_FETCH_FAILED, 1);
            stream.warnings.push(format!(
                "tollgate: jwks fetch for provider {name} failed: {err}"
            ));
        }
    }
}

fn unknown_kid() -> Denial {
    Denial::unauthorized(
        "jwt_unknown_kid",
        "the token's key id is not in the issuer's key set",
    )
}

fn merge(mut first: Forward, then: Forward) -> Forward {
    first.edits.remove.extend(then.edits.remove);
    first.edits.set.extend(then.edits.set);
    if then.body.is_some() {
        first.body = then.body;
    }
    first
}
