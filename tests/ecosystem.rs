//! Scenario tests for issue 18 through the pure pipeline: a route's TLS
//! requirement, the error shape per route, and the labelled refusal metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use serde_json::Value;
use tollgate::auth::AuthState;
use tollgate::config::Config;
use tollgate::decision::ErrorShape;
use tollgate::metrics::MemoryMetrics;
use tollgate::pipeline::{self, Env, RequestHead, Step, StreamState};
use tollgate::rate_limit::MemoryStore;

fn config() -> Config {
    Config::from_json(
        br#"{
        "auth": {"providers": [{"name": "t", "issuer": "https://issuer.test", "audiences": ["api"],
            "hmac": [{"kid": "k1", "alg": "HS256", "secret_base64": "c2NlbmFyaW8tdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="}]}]},
        "routes": [
            {"name": "secure", "match": {"prefix": "/secure"}, "auth": "none",
             "require_tls": {"min_version": "TLSv1.3"}},
            {"name": "count_tokens", "match": {"prefix": "/v1/messages/count_tokens"},
             "error_format": "openai"},
            {"name": "messages", "match": {"prefix": "/v1/messages"}},
            {"name": "as_anthropic", "match": {"prefix": "/v1/chat"}, "error_format": "anthropic"}
        ]
    }"#,
    )
    .unwrap()
}

struct Run {
    step: Step,
    stream: StreamState,
    metrics: MemoryMetrics,
}

fn run(config: &Config, path: &str, tls: Option<&str>) -> Run {
    let store = MemoryStore::new();
    let mut auth = AuthState::new(&config.auth);
    let mut metrics = MemoryMetrics::default();
    let headers = vec![
        (":method".to_string(), "POST".to_string()),
        (":path".to_string(), path.to_string()),
    ];
    let head = RequestHead {
        method: "POST",
        path,
        headers: &headers,
        peer_address: None,
        end_of_stream: true,
        tls_version: tls,
    };
    let mut stream = StreamState::default();
    let step = {
        let mut env = Env {
            auth: &mut auth,
            store: &store,
            metrics: &mut metrics,
            now_ms: 1_800_000_000_000,
        };
        let step = pipeline::stream::request_headers(config, &mut env, &head, &mut stream);
        pipeline::on_log(config, &mut env, &mut stream, Some(403));
        step
    };
    Run {
        step,
        stream,
        metrics,
    }
}

fn denial(run: &Run) -> (u16, &'static str, Value, ErrorShape) {
    let Step::Deny(d) = &run.step else {
        panic!("expected a refusal, got {:?}", run.step)
    };
    (
        d.status,
        d.code,
        serde_json::from_slice(&d.body()).unwrap(),
        d.shape,
    )
}

#[test]
fn plaintext_on_a_require_tls_route_is_refused_and_counted() {
    let config = config();
    let r = run(&config, "/secure/x", None);
    let (status, code, body, _) = denial(&r);
    assert_eq!((status, code), (403, "tls_required"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("TLSv1.3"));
    assert_eq!(r.metrics.counter("tollgate.tls.refused.route.secure"), 1);
    assert_eq!(
        r.metrics
            .counter("tollgate.denied.route.secure.code.tls_required"),
        1
    );
    assert_eq!(r.stream.denied, Some("tls_required"));
}

#[test]
fn older_tls_is_refused_and_the_minimum_passes() {
    let config = config();
    let (status, code, ..) = denial(&run(&config, "/secure/x", Some("TLSv1.2")));
    assert_eq!((status, code), (403, "tls_required"));
    let ok = run(&config, "/secure/x", Some("TLSv1.3"));
    assert!(matches!(ok.step, Step::Forward(_)), "{:?}", ok.step);
    assert_eq!(ok.metrics.counter("tollgate.tls.refused.route.secure"), 0);
}

#[test]
fn messages_route_refuses_in_anthropic_shape_by_default() {
    let config = config();
    let (status, code, body, shape) = denial(&run(&config, "/v1/messages", None));
    assert_eq!(
        (status, code, shape),
        (401, "jwt_missing", ErrorShape::Anthropic)
    );
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
}

#[test]
fn error_format_overrides_the_path_default_both_ways() {
    let config = config();
    let (_, _, body, shape) = denial(&run(&config, "/v1/messages/count_tokens", None));
    assert_eq!(shape, ErrorShape::Openai);
    assert!(body.get("type").is_none());
    let (_, _, body, shape) = denial(&run(&config, "/v1/chat/completions", None));
    assert_eq!(shape, ErrorShape::Anthropic);
    assert_eq!(body["type"], "error");
}

#[test]
fn unrouted_paths_take_the_shape_of_their_path() {
    let config = config();
    let (status, code, body, _) = denial(&run(&config, "/other", None));
    assert_eq!((status, code), (404, "route_not_found"));
    assert!(body.get("type").is_none());
    assert!(
        config.routes.requires_tls(),
        "the host reads connection.tls_version only then"
    );
}

/// A request with a JSON body through headers, body and log; returns the metrics.
fn llm_request(config: &Config, body: &[u8], start_ms: u64, end_ms: u64) -> MemoryMetrics {
    let store = MemoryStore::new();
    let mut auth = AuthState::new(&config.auth);
    let mut metrics = MemoryMetrics::default();
    let headers = vec![
        (":method".to_string(), "POST".to_string()),
        (
            ":path".to_string(),
            "/secure/v1/chat/completions".to_string(),
        ),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    let head = RequestHead {
        method: "POST",
        path: "/secure/v1/chat/completions",
        headers: &headers,
        peer_address: None,
        end_of_stream: false,
        tls_version: Some("TLSv1.3"),
    };
    let mut stream = StreamState::default();
    let mut env = Env {
        auth: &mut auth,
        store: &store,
        metrics: &mut metrics,
        now_ms: start_ms,
    };
    let step = pipeline::stream::request_headers(config, &mut env, &head, &mut stream);
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
    let mut read = |n: usize| body[..n].to_vec();
    let step =
        pipeline::stream::request_body(config, &mut env, &mut stream, body.len(), true, &mut read);
    assert!(matches!(step, Step::Forward(_)), "{step:?}");
    env.now_ms = end_ms;
    pipeline::on_log(config, &mut env, &mut stream, Some(200));
    metrics
}

fn screening_config(models: &str) -> Config {
    let json = format!(
        r#"{{"routes": [{{"name": "secure", "match": {{"prefix": "/secure"}}, "auth": "none"}}],
            "screening": {{}}, "metrics": {{"models": {models}}}}}"#
    );
    Config::from_json(json.as_bytes()).unwrap()
}

#[test]
fn request_duration_is_recorded_by_listed_model_else_other() {
    let config = screening_config(r#"["gpt-4.1"]"#);
    let body = br#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#;
    let m = llm_request(&config, body, 1_000, 1_250);
    assert_eq!(
        m.histograms
            .get("tollgate.llm.request_duration_ms.model.gpt-4.1"),
        Some(&vec![250])
    );
    let body = br#"{"model":"secret-finetune-7","messages":[{"role":"user","content":"hi"}]}"#;
    let m = llm_request(&config, body, 1_000, 1_040);
    assert_eq!(
        m.histograms
            .get("tollgate.llm.request_duration_ms.model.other"),
        Some(&vec![40])
    );
    assert!(!m.histograms.keys().any(|k| k.contains("secret-finetune")));
}

#[test]
fn a_body_without_a_model_records_no_genai_metric() {
    let config = screening_config("[]");
    let body = br#"{"messages":[{"role":"user","content":"hi"}]}"#;
    let m = llm_request(&config, body, 1_000, 1_100);
    assert!(
        !m.histograms.keys().any(|k| k.starts_with("tollgate.llm.")),
        "{:?}",
        m.histograms.keys()
    );
}
