//! Scenario tests: whole request streams through the pure pipeline, with the
//! in-memory store and metrics standing in for Envoy (DESIGN.md, "scenario").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use jwt_simple::prelude::*;
use serde_json::Value;
use tollgate::auth::AuthState;
use tollgate::config::Config;
use tollgate::metrics::MemoryMetrics;
use tollgate::pipeline::{self, Env, HeadersStep, RequestHead, StreamState};
use tollgate::rate_limit::MemoryStore;

const SECRET: &[u8] = b"scenario-test-secret-0123456789abcdef-0123456789";
const NOW_S: u64 = 1_800_000_000;

fn config(extra: &str) -> Config {
    let secret = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET);
    let json = format!(
        r#"{{
        "auth": {{
            "providers": [{{
                "name": "test", "issuer": "https://issuer.test", "audiences": ["api"],
                "hmac": [{{"kid": "k1", "alg": "HS256", "secret_base64": "{secret}"}}],
                "forward_claims": [{{"claim": "sub", "header": "x-tollgate-sub"}}]
            }}]
        }},
        "routes": [
            {{"name": "health", "match": {{"exact": "/healthz"}}, "auth": "none"}},
            {{"name": "chat", "match": {{"prefix": "/v1/chat"}}, "roles": {{"any_of": ["user"]}}}},
            {{"name": "admin", "match": {{"prefix": "/admin"}}, "roles": {{"all_of": ["admin"]}}}}
        ]
        {extra}
    }}"#
    );
    Config::from_json(json.as_bytes()).unwrap()
}

fn token(sub: &str, roles: &[&str]) -> String {
    let key = HS256Key::from_bytes(SECRET).with_key_id("k1");
    let mut custom = serde_json::Map::new();
    custom.insert("roles".into(), serde_json::json!(roles));
    let claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer("https://issuer.test")
        .with_audience("api")
        .with_subject(sub);
    let mut claims = claims;
    claims.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.invalid_before = Some(UnixTimeStamp::from_secs(NOW_S));
    claims.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 600));
    key.authenticate(claims).unwrap()
}

struct Worker {
    auth: AuthState,
    metrics: MemoryMetrics,
}

impl Worker {
    fn new(config: &Config) -> Self {
        Self {
            auth: AuthState::new(&config.auth),
            metrics: MemoryMetrics::default(),
        }
    }

    fn request(
        &mut self,
        config: &Config,
        store: &MemoryStore,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (HeadersStep, StreamState) {
        let mut all: Vec<(String, String)> = vec![
            (":method".into(), method.into()),
            (":path".into(), path.into()),
            ("x-request-id".into(), "req-42".into()),
        ];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let head = RequestHead {
            method,
            path,
            headers: &all,
            peer_address: Some("203.0.113.9:5555"),
            end_of_stream: true,
        };
        let mut env = Env {
            auth: &mut self.auth,
            store,
            metrics: &mut self.metrics,
            now_ms: NOW_S * 1000 + 5_000,
        };
        let mut stream = StreamState::default();
        let step = pipeline::on_request_headers(config, &mut env, &head, &mut stream);
        (step, stream)
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn unknown_route_is_denied_with_404_and_counted() {
    let config = config("");
    let mut w = Worker::new(&config);
    let (step, stream) = w.request(&config, &MemoryStore::new(), "GET", "/nope", &[]);
    let HeadersStep::Deny(d) = step else {
        panic!("expected a denial")
    };
    assert_eq!((d.status, d.code), (404, "route_not_found"));
    assert_eq!(stream.denied, Some("route_not_found"));
    assert_eq!(w.metrics.counter("tollgate.auth.denied.route_not_found"), 1);
}

#[test]
fn valid_token_forwards_claims_and_strips_spoofed_headers() {
    let config = config("");
    let mut w = Worker::new(&config);
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let (step, stream) = w.request(
        &config,
        &MemoryStore::new(),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth), ("x-tollgate-sub", "mallory")],
    );
    let HeadersStep::Continue(edits) = step else {
        panic!("expected continue, got {step:?}")
    };
    assert!(edits.remove.contains(&"x-tollgate-sub".to_string()));
    assert_eq!(
        edits.set,
        vec![("x-tollgate-sub".to_string(), "alice".to_string())]
    );
    assert_eq!(stream.route.as_deref(), Some("chat"));
    assert_eq!(w.metrics.counter("tollgate.auth.allowed"), 1);
}

#[test]
fn unauthenticated_route_still_removes_claim_headers() {
    let config = config("");
    let mut w = Worker::new(&config);
    let (step, _) = w.request(
        &config,
        &MemoryStore::new(),
        "GET",
        "/healthz",
        &[("x-tollgate-sub", "mallory")],
    );
    let HeadersStep::Continue(edits) = step else {
        panic!("expected continue")
    };
    assert_eq!(edits.remove, vec!["x-tollgate-sub".to_string()]);
    assert!(edits.set.is_empty());
}

#[test]
fn missing_token_gets_401_with_a_bare_bearer_challenge() {
    let config = config("");
    let mut w = Worker::new(&config);
    let (step, _) = w.request(
        &config,
        &MemoryStore::new(),
        "POST",
        "/v1/chat/completions",
        &[],
    );
    let HeadersStep::Deny(d) = step else {
        panic!("expected a denial")
    };
    assert_eq!((d.status, d.code), (401, "jwt_missing"));
    assert!(d
        .headers
        .contains(&("www-authenticate".to_string(), "Bearer".to_string())));
}

#[test]
fn wrong_role_is_403_and_the_audit_line_hashes_the_subject() {
    let config = config("");
    let mut w = Worker::new(&config);
    let t = token("alice", &["user"]);
    let auth = bearer(&t);
    let (step, stream) = w.request(
        &config,
        &MemoryStore::new(),
        "GET",
        "/admin/keys",
        &[("authorization", &auth)],
    );
    let HeadersStep::Deny(d) = step else {
        panic!("expected a denial")
    };
    assert_eq!((d.status, d.code), (403, "forbidden_role"));
    let line = pipeline::audit_line(&config, &stream, Some(403)).unwrap();
    assert!(!line.contains("alice") && !line.contains(&t), "{line}");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["auth"], "forbidden_role");
    assert_eq!(v["client_ip"], "203.0.113.0/24");
    assert!(v["subject_hash"].is_string());
}

#[test]
fn a_per_user_limit_is_shared_by_every_worker() {
    let config = config(
        r#", "rate_limit": {"policies": [{"name": "per_user", "key": ["subject"],
              "capacity": 3, "refill": {"tokens": 1, "per_s": 3600}}]}"#,
    );
    let store = MemoryStore::new();
    let mut workers = [Worker::new(&config), Worker::new(&config)];
    let alice = bearer(&token("alice", &["user"]));
    let bob = bearer(&token("bob", &["user"]));
    let mut admitted = 0;
    let mut limited = 0;
    for i in 0..8 {
        let w = &mut workers[i % 2];
        match w
            .request(
                &config,
                &store,
                "POST",
                "/v1/chat/completions",
                &[("authorization", &alice)],
            )
            .0
        {
            HeadersStep::Continue(_) => admitted += 1,
            HeadersStep::Deny(d) => {
                assert_eq!((d.status, d.code), (429, "rate_limited"));
                assert!(d.headers.iter().any(|(k, _)| k == "retry-after"));
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((admitted, limited), (3, 5));
    // Bob has his own bucket.
    let (step, stream) = workers[0].request(
        &config,
        &store,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &bob)],
    );
    assert!(matches!(step, HeadersStep::Continue(_)));
    assert!(stream
        .response_headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("ratelimit")));
    let limited_metric: u64 = workers
        .iter()
        .map(|w| w.metrics.counter("tollgate.rate_limit.limited.per_user"))
        .sum();
    assert_eq!(limited_metric, 5);
}

#[test]
fn shared_data_failure_fails_closed_with_503_by_default() {
    let config = config(
        r#", "rate_limit": {"policies": [{"name": "per_ip", "key": ["ip"],
              "capacity": 3, "refill": {"tokens": 1, "per_s": 1}}]}"#,
    );
    let store = MemoryStore::new();
    store.fail_everything(true);
    let mut w = Worker::new(&config);
    let (step, _) = w.request(&config, &store, "GET", "/healthz", &[]);
    let HeadersStep::Deny(d) = step else {
        panic!("expected a denial")
    };
    assert_eq!((d.status, d.code), (503, "rate_limit_unavailable"));
}

#[test]
fn shared_data_failure_admits_when_configured_open() {
    let config = config(
        r#", "rate_limit": {"fail_mode": "open", "policies": [{"name": "per_ip", "key": ["ip"],
              "capacity": 3, "refill": {"tokens": 1, "per_s": 1}}]}"#,
    );
    let store = MemoryStore::new();
    store.fail_everything(true);
    let mut w = Worker::new(&config);
    let (step, stream) = w.request(&config, &store, "GET", "/healthz", &[]);
    assert!(matches!(step, HeadersStep::Continue(_)));
    assert!(stream.audit.contains_key("rate_limit"));
}
