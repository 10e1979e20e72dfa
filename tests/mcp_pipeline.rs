//! Scenario tests of the MCP gateway: whole MCP streams through the pure
//! pipeline (headers, body, answer, log) with the in-memory store and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use tollgate::auth::AuthState;
use tollgate::config::Config;
use tollgate::metrics::MemoryMetrics;
use tollgate::pipeline::response::{self as resp, BodyStep};
use tollgate::pipeline::{self, Env, Forward, RequestHead, Step, StreamState};
use tollgate::rate_limit::MemoryStore;

const SECRET: &[u8] = b"scenario-test-secret-0123456789abcdef-0123456789";
const NOW_S: u64 = 1_800_000_000;
const RESOURCE: &str = "https://mcp.test/mcp";

fn config() -> Config {
    let secret = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET);
    let json = format!(
        r#"{{
        "auth": {{"providers": [{{
            "name": "test", "issuer": "https://issuer.test", "audiences": ["api", "{RESOURCE}"],
            "hmac": [{{"kid": "k1", "alg": "HS256", "secret_base64": "{secret}"}}]
        }}]}},
        "routes": [{{"name": "mcp", "match": {{"prefix": "/mcp"}}, "roles": {{"any_of": ["user", "admin"]}}}}],
        "screening": {{}},
        "redaction": {{}},
        "mcp": {{"servers": [{{
            "name": "demo", "routes": ["mcp"], "resource": "{RESOURCE}",
            "metadata": {{"authorization_servers": ["https://issuer.test"]}},
            "tools": [{{"match": "admin_*", "roles": {{"any_of": ["admin"]}}}}]
        }}]}}
    }}"#
    );
    Config::from_json(json.as_bytes()).unwrap()
}

fn token(roles: &[&str], aud: &str) -> String {
    let key = HS256Key::from_bytes(SECRET).with_key_id("k1");
    let mut custom = serde_json::Map::new();
    custom.insert("roles".into(), json!(roles));
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer("https://issuer.test")
        .with_audience(aud)
        .with_subject("alice");
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
            now_ms: NOW_S * 1000 + 5_000,
        }
    }

    /// Headers, then the whole body; returns the request's final step.
    fn post(
        &mut self,
        config: &Config,
        stream: &mut StreamState,
        token: Option<&str>,
        body: &Value,
    ) -> Step {
        let body = body.to_string();
        let mut headers: Vec<(String, String)> = vec![
            (":method".into(), "POST".into()),
            (":path".into(), "/mcp".into()),
            ("content-type".into(), "application/json".into()),
            ("content-length".into(), body.len().to_string()),
            ("x-request-id".into(), "req-mcp".into()),
        ];
        if let Some(t) = token {
            headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        let head = RequestHead {
            method: "POST",
            path: "/mcp",
            headers: &headers,
            peer_address: Some("198.51.100.7:1234"),
            end_of_stream: false,
            tls_version: None,
        };
        let step = pipeline::stream::request_headers(config, &mut self.env(), &head, stream);
        let (Step::Hold(edits) | Step::Forward(Forward { edits, .. })) = &step else {
            return step;
        };
        assert!(edits.remove.contains(&"content-length".to_string()));
        let bytes = body.into_bytes();
        let mut read = |n: usize| bytes[..n].to_vec();
        pipeline::stream::request_body(
            config,
            &mut self.env(),
            stream,
            bytes.len(),
            true,
            &mut read,
        )
    }

    fn log(&mut self, config: &Config, stream: &mut StreamState) -> Value {
        let line = pipeline::on_log(config, &mut self.env(), stream, Some(200)).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

fn list_answer(id: i64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
        {"name": "echo", "description": "Echo.", "inputSchema": {"type": "object", "required": ["text"],
          "properties": {"text": {"type": "string"}}}},
        {"name": "admin_reset", "description": "Reset.", "inputSchema": {"type": "object"}}
    ]}})
    .to_string()
}

#[test]
fn the_metadata_document_is_served_before_routing() {
    let config = config();
    let mut w = Worker::new(&config);
    let headers = vec![(
        ":path".to_string(),
        "/.well-known/oauth-protected-resource/mcp".to_string(),
    )];
    let head = RequestHead {
        method: "GET",
        path: "/.well-known/oauth-protected-resource/mcp",
        headers: &headers,
        peer_address: None,
        end_of_stream: true,
        tls_version: None,
    };
    let mut stream = StreamState::default();
    let Step::Deny(answer) =
        pipeline::stream::request_headers(&config, &mut w.env(), &head, &mut stream)
    else {
        panic!("expected a local answer");
    };
    assert_eq!(answer.status, 200);
    let doc: Value = serde_json::from_slice(&answer.body()).unwrap();
    assert_eq!(doc["resource"], RESOURCE);
}

#[test]
fn a_missing_token_and_a_token_for_another_resource_get_the_metadata_challenge() {
    let config = config();
    let mut w = Worker::new(&config);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let Step::Deny(d) = w.post(&config, &mut StreamState::default(), None, &list) else {
        panic!("expected 401");
    };
    assert_eq!((d.status, d.code), (401, "jwt_missing"));
    assert!(d.headers.iter().any(|(k, v)| k == "www-authenticate"
        && v == "Bearer resource_metadata=\"https://mcp.test/.well-known/oauth-protected-resource/mcp\""));

    let other = token(&["user"], "api");
    let Step::Deny(d) = w.post(&config, &mut StreamState::default(), Some(&other), &list) else {
        panic!("expected 401");
    };
    assert_eq!((d.status, d.code), (401, "jwt_wrong_audience"));
    assert_eq!(
        w.metrics
            .counter("tollgate.auth.denied.code.jwt_wrong_audience"),
        1
    );
}

#[test]
fn a_listed_catalog_is_filtered_pinned_and_then_enforced() {
    let config = config();
    let mut w = Worker::new(&config);
    let user = token(&["user"], RESOURCE);

    // tools/list: forwarded; the SSE answer loses the admin tool.
    let mut stream = StreamState::default();
    let step = w.post(
        &config,
        &mut stream,
        Some(&user),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert!(
        matches!(step, Step::Forward(Forward { body: None, .. })),
        "{step:?}"
    );
    let headers = vec![("content-type".to_string(), "text/event-stream".to_string())];
    let edits = resp::on_response_headers(&config, &mut stream, &headers);
    assert!(edits.remove.contains(&"content-length".to_string()));
    assert!(resp::wants_body(&stream));
    let sse = format!("event: message\ndata: {}\n\n", list_answer(1));
    let (a, b) = sse.as_bytes().split_at(40);
    let mut out = Vec::new();
    for (chunk, end) in [(a, false), (b, true)] {
        match resp::on_response_body(&config, &mut stream, chunk, end) {
            BodyStep::Replace(bytes) => out.extend(bytes),
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\"echo\"") && !text.contains("admin_reset"),
        "{text}"
    );
    let audit = w.log(&config, &mut stream);
    assert_eq!(audit["mcp"]["list"]["hidden"], 1);
    assert_eq!(audit["mcp"]["list"]["pinned"], 2);

    // tools/call of the admin tool: a JSON-RPC error with the request's id, HTTP 200.
    let mut stream = StreamState::default();
    let call = json!({"jsonrpc": "2.0", "id": "c-7", "method": "tools/call",
                      "params": {"name": "admin_reset", "arguments": {"why": "secret-reason"}}});
    let Step::Deny(answer) = w.post(&config, &mut stream, Some(&user), &call) else {
        panic!("expected a local answer");
    };
    assert_eq!(answer.status, 200);
    let rpc: Value = serde_json::from_slice(&answer.body()).unwrap();
    assert_eq!(rpc["id"], "c-7");
    assert_eq!(rpc["error"]["data"]["code"], "forbidden_tool");
    let audit = w.log(&config, &mut stream);
    assert_eq!(audit["mcp"]["calls"][0]["outcome"], "forbidden_tool");
    assert!(!audit.to_string().contains("secret-reason"));
    assert_eq!(
        w.metrics
            .counter("tollgate.mcp.call.denied.code.forbidden_tool"),
        1
    );

    // The learned schema applies to the next call.
    let mut stream = StreamState::default();
    let bad = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {}}});
    let Step::Deny(answer) = w.post(&config, &mut stream, Some(&user), &bad) else {
        panic!("expected a local answer");
    };
    let rpc: Value = serde_json::from_slice(&answer.body()).unwrap();
    assert_eq!(rpc["error"]["code"], -32602);
}

#[test]
fn a_mixed_batch_forwards_what_is_allowed_and_answers_the_rest() {
    let config = config();
    let mut w = Worker::new(&config);
    let user = token(&["user"], RESOURCE);
    let mut stream = StreamState::default();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "a"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "admin_reset", "arguments": {}}}
    ]);
    let Step::Forward(Forward {
        body: Some(body), ..
    }) = w.post(&config, &mut stream, Some(&user), &batch)
    else {
        panic!("expected a rewritten body");
    };
    let forwarded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(forwarded["params"]["name"], "echo");
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    resp::on_response_headers(&config, &mut stream, &headers);
    let answer = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "mail bob@example.com"}]}}).to_string();
    let BodyStep::Replace(out) =
        resp::on_response_body(&config, &mut stream, answer.as_bytes(), true)
    else {
        panic!("expected a rewrite");
    };
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        out[0]["result"]["content"][0]["text"],
        "mail [REDACTED:EMAIL]"
    );
    assert_eq!(out[1]["id"], 2);
    let audit = w.log(&config, &mut stream);
    assert_eq!(audit["redactions"]["EMAIL"], 1);
    assert_eq!(audit["mcp"]["batch"], 2);
}
