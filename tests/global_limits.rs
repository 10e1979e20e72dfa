//! Scenario tests for the `global` rate-limit backend through the stream
//! state machine: whole streams with a fake rate-limit service (answers are
//! built with the same wire format the real service sends).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use jwt_simple::prelude::*;
use serde_json::json;
use tollgate::auth::AuthState;
use tollgate::config::Config;
use tollgate::metrics::MemoryMetrics;
use tollgate::pipeline::stream::{self as machine, Call, Step};
use tollgate::pipeline::{self, Env, RequestHead, StreamState};
use tollgate::rate_limit::global_proto::{
    Code, DescriptorStatus, Limit, RateLimitRequest, RateLimitResponse, Unit,
};
use tollgate::rate_limit::MemoryStore;

const NOW_S: u64 = 1_800_000_000;
const NOW_MS: u64 = NOW_S * 1000 + 5_000;
const SECRET: &[u8] = b"global-limits-test-secret-0123456789";

fn config(fail_mode: &str, hold: bool) -> Config {
    let secret = base64_std(SECRET);
    let json = format!(
        r#"{{
        "auth": {{"providers": [{{"name": "idp", "issuer": "iss", "audiences": ["api"],
            "hmac": [{{"kid": "k", "alg": "HS256", "secret_base64": "{secret}"}}]}}]}},
        "routes": [{{"name": "chat", "match": {{"prefix": "/v1/chat"}}, "roles": {{"any_of": ["user"]}}}}],
        "rate_limit": {{
            "global": {{"cluster": "rls", "timeout_ms": 20}},
            "fail_mode": "{fail_mode}",
            "policies": [
                {{"name": "per_user", "backend": "global", "key": ["subject"]}},
                {{"name": "tokens", "backend": "global", "kind": "llm_tokens", "key": ["subject", "model"]}}
            ]
        }},
        "hold_request_headers": {hold}
    }}"#
    );
    Config::from_json(json.as_bytes()).unwrap()
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn token(sub: &str) -> String {
    let key = HS256Key::from_bytes(SECRET).with_key_id("k");
    let mut custom = serde_json::Map::new();
    custom.insert("roles".into(), json!(["user"]));
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer("iss")
        .with_audience("api")
        .with_subject(sub);
    claims.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.invalid_before = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 600));
    key.authenticate(claims).unwrap()
}

struct Worker {
    auth: AuthState,
    metrics: MemoryMetrics,
    store: MemoryStore,
}

impl Worker {
    fn new(config: &Config) -> Self {
        Self {
            auth: AuthState::new(&config.auth),
            metrics: MemoryMetrics::default(),
            store: MemoryStore::new(),
        }
    }

    fn env(&mut self) -> Env<'_> {
        Env {
            auth: &mut self.auth,
            store: &self.store,
            metrics: &mut self.metrics,
            now_ms: NOW_MS,
        }
    }
}

fn headers(token: &str) -> Vec<(String, String)> {
    vec![
        (":method".into(), "POST".into()),
        (":path".into(), "/v1/chat/completions".into()),
        ("authorization".into(), format!("Bearer {token}")),
        ("content-type".into(), "application/json".into()),
    ]
}

fn head(h: &[(String, String)]) -> RequestHead<'_> {
    RequestHead {
        method: "POST",
        path: "/v1/chat/completions",
        headers: h,
        peer_address: Some("198.51.100.7:1234"),
        end_of_stream: false,
        tls_version: None,
    }
}

fn answer(code: Code, limit: u32, remaining: u32) -> Vec<u8> {
    RateLimitResponse {
        overall_code: code,
        statuses: vec![DescriptorStatus {
            code,
            current_limit: Some(Limit {
                name: String::new(),
                requests_per_unit: limit,
                unit: Unit::Hour,
            }),
            limit_remaining: remaining,
            until_reset_ms: Some(600_000),
        }],
    }
    .encode()
}

fn call_of(step: &Step) -> RateLimitRequest {
    match step {
        Step::Dispatch(Call::RateLimit(call)) => {
            assert_eq!(call.cluster, "rls");
            assert_eq!(call.timeout_ms, 20);
            RateLimitRequest::decode(&call.message).unwrap()
        }
        other => panic!("expected a rate-limit call, got {other:?}"),
    }
}

const BODY: &[u8] =
    br#"{"model":"m1","max_tokens":10,"messages":[{"role":"user","content":"hello there"}]}"#;

/// Runs the headers phase up to its rate-limit call, answers it with `reply`.
fn through_headers(
    config: &Config,
    w: &mut Worker,
    stream: &mut StreamState,
    h: &[(String, String)],
    status: u32,
    reply: Option<&[u8]>,
) -> Step {
    let step = machine::request_headers(config, &mut w.env(), &head(h), stream);
    let sent = call_of(&step);
    assert_eq!(sent.domain, "tollgate");
    assert_eq!(sent.hits_addend, 1);
    assert_eq!(
        sent.descriptors[0].entries,
        vec![
            ("policy".into(), "per_user".into()),
            ("subject".into(), "ann".into())
        ]
    );
    machine::dispatched(stream, 7);
    let mut read = |_: usize| BODY.to_vec();
    let answer = machine::GrpcAnswer {
        status,
        status_message: None,
        message: reply,
    };
    machine::rate_limit_response(config, &mut w.env(), stream, 7, answer, &mut read).unwrap()
}

#[test]
fn a_request_waits_for_the_service_then_reads_its_body_and_settles_the_budget() {
    let config = config("closed", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let ok = answer(Code::Ok, 10, 9);
    let step = through_headers(&config, &mut w, &mut stream, &h, 0, Some(&ok));
    assert!(matches!(step, Step::Resume(_)), "{step:?}");
    // The body: the budget asks the service with the estimate and the model.
    let mut read = |_: usize| BODY.to_vec();
    let step = machine::request_body(
        &config,
        &mut w.env(),
        &mut stream,
        BODY.len(),
        true,
        &mut read,
    );
    let sent = call_of(&step);
    assert_eq!(
        sent.descriptors[0].entries,
        vec![
            ("policy".into(), "tokens".into()),
            ("subject".into(), "ann".into()),
            ("model".into(), "m1".into())
        ]
    );
    let estimate = sent.hits_addend;
    assert_eq!(
        estimate,
        3 + 10,
        "11 bytes of prompt -> 3 tokens, plus max_tokens"
    );
    machine::dispatched(&mut stream, 8);
    let ok = answer(Code::Ok, 1000, 987);
    let step = machine::rate_limit_response(
        &config,
        &mut w.env(),
        &mut stream,
        8,
        machine::GrpcAnswer {
            message: Some(&ok),
            ..Default::default()
        },
        &mut read,
    )
    .unwrap();
    assert!(matches!(step, Step::Resume(_)), "{step:?}");
    assert_eq!(
        stream
            .response_headers
            .iter()
            .find(|(n, _)| n == "ratelimit")
            .map(|(_, v)| v.as_str()),
        Some("\"per_user\";r=9;t=600, \"tokens\";r=987;t=600")
    );
    // The answer used more than the estimate: the difference is sent at the end.
    let body = json!({"usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25}});
    let _ = tollgate::pipeline::response::on_response_headers(
        &config,
        &mut stream,
        &[("content-type".into(), "application/json".into())],
    );
    let _ = tollgate::pipeline::response::on_response_body(
        &config,
        &mut stream,
        body.to_string().as_bytes(),
        true,
    );
    let line = pipeline::on_log(&config, &mut w.env(), &mut stream, Some(200)).unwrap();
    let settle = stream.settle_call.take().expect("a settle call");
    let sent = RateLimitRequest::decode(&settle.message).unwrap();
    assert_eq!(sent.hits_addend, 25 - estimate);
    assert_eq!(
        sent.descriptors[0].entries[2],
        ("model".into(), "m1".into())
    );
    let audit: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(audit["rate_limit"]["global"], "ok");
    assert_eq!(audit["token_budget"]["global"], "ok");
    assert_eq!(audit["token_budget"]["charged"], 25);
    assert_eq!(w.metrics.counter("tollgate.rate_limit.global.ok"), 2);
    assert_eq!(w.metrics.counter("tollgate.rate_limit.global.settled"), 1);
}

#[test]
fn over_the_limit_is_a_429_that_never_resumes() {
    let config = config("closed", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let over = answer(Code::OverLimit, 10, 0);
    match through_headers(&config, &mut w, &mut stream, &h, 0, Some(&over)) {
        Step::Deny(d) => {
            assert_eq!((d.status, d.code), (429, "rate_limited"));
            assert!(d
                .response_headers()
                .contains(&("retry-after".into(), "600".into())));
        }
        other => panic!("{other:?}"),
    }
    let mut read = |_: usize| BODY.to_vec();
    let step = machine::request_body(
        &config,
        &mut w.env(),
        &mut stream,
        BODY.len(),
        true,
        &mut read,
    );
    assert!(matches!(step, Step::Hold(_)), "{step:?}");
    assert_eq!(w.metrics.counter("tollgate.rate_limit.global.limited"), 1);
    assert_eq!(
        w.metrics
            .counter(&tollgate::metrics::rate_limited("per_user")),
        1
    );
}

#[test]
fn a_body_that_arrives_during_the_call_is_held_then_read() {
    let config = config("closed", true);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    call_of(&step);
    machine::dispatched(&mut stream, 3);
    let mut read = |_: usize| BODY.to_vec();
    let held = machine::request_body(
        &config,
        &mut w.env(),
        &mut stream,
        BODY.len(),
        true,
        &mut read,
    );
    assert!(matches!(held, Step::Hold(_)), "{held:?}");
    let ok = answer(Code::Ok, 10, 9);
    let step = machine::rate_limit_response(
        &config,
        &mut w.env(),
        &mut stream,
        3,
        machine::GrpcAnswer {
            message: Some(&ok),
            ..Default::default()
        },
        &mut read,
    )
    .unwrap();
    // The whole body is here: its phase runs now, and asks for the budget.
    let sent = call_of(&step);
    assert_eq!(sent.descriptors[0].entries[0].1, "tokens");
}

#[test]
fn a_stale_token_is_not_this_stream_s_answer() {
    let config = config("closed", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    call_of(&step);
    machine::dispatched(&mut stream, 3);
    let mut read = |_: usize| Vec::new();
    assert!(machine::rate_limit_response(
        &config,
        &mut w.env(),
        &mut stream,
        4,
        machine::GrpcAnswer::default(),
        &mut read
    )
    .is_none());
}

#[test]
fn service_failures_follow_the_fail_mode() {
    for (mode, want_denied) in [("closed", true), ("open", false)] {
        for (status, reply) in [(14u32, None), (4, None), (0, Some(&b"\x12\x09"[..]))] {
            let config = config(mode, false);
            let mut w = Worker::new(&config);
            let mut stream = StreamState::default();
            let h = headers(&token("ann"));
            let step = through_headers(&config, &mut w, &mut stream, &h, status, reply);
            match (step, want_denied) {
                (Step::Deny(d), true) => {
                    assert_eq!((d.status, d.code), (503, "rate_limit_unavailable"))
                }
                (Step::Resume(_), false) => {}
                (other, _) => panic!("{mode} {status}: {other:?}"),
            }
            let outcome = if want_denied {
                "failed_closed"
            } else {
                "failed_open"
            };
            assert_eq!(
                w.metrics
                    .counter(&format!("tollgate.rate_limit.global.{outcome}")),
                1
            );
        }
    }
}

#[test]
fn an_undispatchable_call_is_answered_as_unavailable() {
    let config = config("open", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    call_of(&step);
    let step = machine::dispatch_failed(&config, &mut w.env(), &head(&h), &mut stream);
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
    assert_eq!(
        w.metrics.counter("tollgate.rate_limit.global.failed_open"),
        1
    );
}

/// A closed-mode check whose call failed `waited_ms` after it was sent
/// (the timeout is 20 ms): the audit line's `global_failed`.
fn failure_recorded_as(waited_ms: u64, status_message: Option<&str>) -> String {
    let config = config("closed", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token("ann"));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    call_of(&step);
    machine::dispatched(&mut stream, 5);
    let mut later = Env {
        now_ms: NOW_MS + waited_ms,
        ..w.env()
    };
    let mut read = |_: usize| Vec::new();
    // Envoy ends a timed-out call, like a refused one, as UNAVAILABLE.
    let answer = machine::GrpcAnswer {
        status: 14,
        status_message,
        message: None,
    };
    let step = machine::rate_limit_response(&config, &mut later, &mut stream, 5, answer, &mut read)
        .unwrap();
    assert!(matches!(step, Step::Deny(_)), "{step:?}");
    let line = pipeline::on_log(&config, &mut w.env(), &mut stream, Some(503)).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&line).unwrap();
    audit["rate_limit"]["global_failed"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_failure_after_the_timeout_is_recorded_as_a_timeout() {
    assert_eq!(failure_recorded_as(20, None), "timeout");
    assert_eq!(failure_recorded_as(3, None), "grpc_status");
}

/// Envoy's timer can fire early by the wall clock (its event loop schedules
/// from the time it woke up), so the time waited alone can misjudge a
/// timeout; Envoy's status message says which failure it was.
#[test]
fn envoy_s_timeout_message_is_a_timeout_even_when_it_comes_early() {
    let timeout = "upstream request timeout{response_timeout}";
    let refused = "upstream connect error or disconnect/reset before headers. reset reason: \
                   remote connection failure{upstream_reset_before_response_started\
                   {remote_connection_failure|delayed_connect_error:_Connection_refused}}";
    // 12 ms into a 20 ms timeout.
    assert_eq!(failure_recorded_as(12, Some(timeout)), "timeout");
    assert_eq!(failure_recorded_as(12, Some(refused)), "grpc_status");
}

/// A token with no `sub`, optionally carrying a `client_id` claim.
fn token_without_sub(client_id: Option<&str>) -> String {
    let key = HS256Key::from_bytes(SECRET).with_key_id("k");
    let mut custom = serde_json::Map::new();
    custom.insert("roles".into(), json!(["user"]));
    if let Some(id) = client_id {
        custom.insert("client_id".into(), json!(id));
    }
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer("iss")
        .with_audience("api");
    claims.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.invalid_before = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 600));
    key.authenticate(claims).unwrap()
}

#[test]
fn a_token_without_sub_is_refused_before_the_service_is_called() {
    // Issue 11 item 6 for global policies: closed by default, as locally.
    let config = config("open", false);
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token_without_sub(None));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    let Step::Deny(d) = step else {
        panic!("expected a refusal, got {step:?}")
    };
    assert_eq!((d.status, d.code), (401, "jwt_missing_claim"));
}

#[test]
fn the_fallback_claim_keys_the_global_descriptor_like_the_local_bucket() {
    let mut config_json: serde_json::Value = serde_json::from_str(&format!(
        r#"{{
        "auth": {{"providers": [{{"name": "idp", "issuer": "iss", "audiences": ["api"],
            "hmac": [{{"kid": "k", "alg": "HS256", "secret_base64": "{}"}}]}}]}},
        "routes": [{{"name": "chat", "match": {{"prefix": "/v1/chat"}}, "roles": {{"any_of": ["user"]}}}}],
        "rate_limit": {{
            "global": {{"cluster": "rls", "timeout_ms": 20}},
            "policies": [{{"name": "per_user", "backend": "global", "key": ["subject"]}}]
        }}
    }}"#,
        base64_std(SECRET)
    ))
    .unwrap();
    config_json["rate_limit"]["subject_fallback_claim"] = json!("client_id");
    let config = Config::from_json(config_json.to_string().as_bytes()).unwrap();
    let mut w = Worker::new(&config);
    let mut stream = StreamState::default();
    let h = headers(&token_without_sub(Some("batch-job")));
    let step = machine::request_headers(&config, &mut w.env(), &head(&h), &mut stream);
    let sent = call_of(&step);
    assert_eq!(
        sent.descriptors[0].entries,
        vec![
            ("policy".into(), "per_user".into()),
            ("subject".into(), "\u{0}client_id\u{0}batch-job".into())
        ],
        "counted under the fallback claim, apart from a real subject of that text"
    );
}
