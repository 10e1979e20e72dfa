//! The one place where errors become HTTP responses.
//!
//! Every refusal the filter sends has a status, a stable snake_case `code`
//! (the same string appears in the body, the audit line and the metric),
//! optional headers, and a JSON body in the API's own error shape so SDK
//! clients raise their typed errors:
//! - OpenAI: `{"error":{"message":...,"type":...,"code":...}}`;
//! - Anthropic: `{"type":"error","error":{"type":...,"message":...,"code":...}}`
//!   (`code` is our extension; the SDK ignores it).
//!
//! A stream already under way cannot change its status: [`Denial::sse_event`]
//! is the same refusal as an SSE `error` event.

use serde::{Deserialize, Serialize};

use crate::auth::AuthError;

/// A local response the filter sends instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status code.
    pub status: u16,
    /// Stable snake_case code, e.g. `jwt_expired`.
    pub code: &'static str,
    /// OpenAI / Anthropic error type, e.g. `authentication_error`.
    pub error_type: &'static str,
    /// Human-readable message. Never contains a token or a secret.
    pub message: String,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, ...).
    pub headers: Vec<(String, String)>,
    /// A JSON body sent instead of the error shape (a JSON-RPC answer, a
    /// metadata document).
    pub json_body: Option<Vec<u8>>,
    /// The error shape of the body (the route's API).
    pub shape: ErrorShape,
}

/// Which API's error shape a route's refusals use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorShape {
    /// `{"error":{"message","type","code"}}` (OpenAI and compatible APIs).
    #[default]
    Openai,
    /// `{"type":"error","error":{"type","message"}}` (Anthropic Messages API).
    Anthropic,
}

impl ErrorShape {
    /// The default for a request path: Anthropic for `/v1/messages` and
    /// below (`/v1/messages/count_tokens`, `/v1/messages/batches`), else OpenAI.
    pub fn for_path(path: &str) -> Self {
        let path = path.split(['?', '#']).next().unwrap_or("");
        match path.strip_prefix("/v1/messages") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => ErrorShape::Anthropic,
            _ => ErrorShape::Openai,
        }
    }
}

/// Anthropic's error type for a status, as its API documents them; other
/// statuses keep the filter's own type (`None`).
fn anthropic_type(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        500 => "api_error",
        529 => "overloaded_error",
        _ => return None,
    })
}

#[derive(Serialize)]
struct AnthropicBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: BodyError<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: BodyError<'a>,
}

#[derive(Serialize)]
struct BodyError<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'a str,
    code: &'a str,
}

impl Denial {
    /// A denial without extra headers.
    pub fn new(
        status: u16,
        code: &'static str,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            error_type,
            message: message.into(),
            headers: Vec::new(),
            json_body: None,
            shape: ErrorShape::Openai,
        }
    }

    /// The same refusal in another API's error shape.
    pub fn shaped(mut self, shape: ErrorShape) -> Self {
        self.shape = shape;
        self
    }

    /// The error type written in the body: the filter's own for OpenAI, the
    /// documented one for the status for Anthropic.
    pub fn body_error_type(&self) -> &'static str {
        match self.shape {
            ErrorShape::Openai => self.error_type,
            ErrorShape::Anthropic => anthropic_type(self.status).unwrap_or(self.error_type),
        }
    }

    /// Sends `body` (JSON) instead of the error shape.
    pub fn with_json_body(mut self, body: Vec<u8>) -> Self {
        self.json_body = Some(body);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON error body, in the denial's shape.
    pub fn body(&self) -> Vec<u8> {
        if let Some(body) = &self.json_body {
            return body.clone();
        }
        let error = BodyError {
            message: &self.message,
            error_type: self.body_error_type(),
            code: self.code,
        };
        let out = match self.shape {
            ErrorShape::Openai => serde_json::to_vec(&Body { error }),
            ErrorShape::Anthropic => serde_json::to_vec(&AnthropicBody {
                kind: "error",
                error,
            }),
        };
        // Serialising plain strings cannot fail; fall back to a fixed body rather than panic.
        out.unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"api_error","code":"internal_error"}}"#
                .to_vec()
        })
    }

    /// The refusal as an SSE `error` event, for a stream whose status and
    /// first events have already gone out. OpenAI-style streams then end with
    /// `data: [DONE]`; Anthropic streams have no such terminator.
    pub fn sse_event(&self) -> Vec<u8> {
        let mut out = b"event: error\ndata: ".to_vec();
        out.extend(self.body());
        out.extend_from_slice(b"\n\n");
        if self.shape == ErrorShape::Openai {
            out.extend_from_slice(b"data: [DONE]\n\n");
        }
        out
    }

    /// Every response header, including the content type of the body.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// The request matched no configured route and the default is to deny.
    pub fn route_not_found() -> Self {
        Self::new(
            404,
            "route_not_found",
            "invalid_request_error",
            "no route is configured for this path and method",
        )
    }

    /// The caller's roles do not satisfy the route.
    pub fn forbidden_role() -> Self {
        Self::new(
            403,
            "forbidden_role",
            "permission_error",
            "the token does not carry a role this route requires",
        )
    }

    /// A rate-limit policy refused: 429 with `Retry-After` and the IETF headers.
    pub fn rate_limited(policy: &str, retry_after_s: u64, headers: Vec<(String, String)>) -> Self {
        let mut d = Self::new(
            429,
            "rate_limited",
            "rate_limit_error",
            format!("rate limit `{policy}` exceeded; retry after {retry_after_s} s"),
        )
        .with_header("retry-after", retry_after_s.to_string());
        d.headers.extend(headers);
        d
    }

    /// Shared data failed and the fail mode is closed.
    pub fn rate_limit_unavailable() -> Self {
        Self::internal(
            "rate_limit_unavailable",
            "rate limiting is temporarily unavailable",
        )
    }

    /// The prompt matched a blocking screening rule. Names the rule, never the text.
    pub fn prompt_blocked(rule_id: &str, category: &str) -> Self {
        Self::new(
            403,
            "prompt_blocked",
            "invalid_request_error",
            format!("the prompt was blocked by rule `{rule_id}` ({category})"),
        )
    }

    /// The request body failed validation (400).
    pub fn invalid_request(code: &'static str, message: String) -> Self {
        Self::new(400, code, "invalid_request_error", message)
    }

    /// The request body is larger than the filter will read.
    pub fn request_too_large(max_bytes: usize) -> Self {
        Self::new(
            413,
            "request_too_large",
            "invalid_request_error",
            format!("the request body is larger than {max_bytes} bytes"),
        )
    }

    /// The request body is compressed and cannot be inspected.
    pub fn unsupported_encoding(encoding: &str) -> Self {
        let encoding: String = encoding
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect();
        Self::new(
            415,
            "unsupported_content_encoding",
            "invalid_request_error",
            format!("the request body has content-encoding `{encoding}`; send it uncompressed"),
        )
    }

    /// A streamed answer passed the token budget reserved for it; sent as
    /// [`Denial::sse_event`] since the stream is already under way.
    pub fn stream_budget_exceeded() -> Self {
        Self::new(
            429,
            "token_budget_exceeded",
            "rate_limit_error",
            "the response passed the token budget reserved for this request",
        )
    }

    /// A route requires TLS (or a newer TLS version) and the connection has
    /// none (or an older one). 403: the request itself was understood.
    pub fn tls_required(minimum: &str, got: Option<&str>) -> Self {
        let got: String = got
            .unwrap_or("plaintext")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .take(16)
            .collect();
        let got = if got.is_empty() {
            "unknown".to_string()
        } else {
            got
        };
        Self::new(
            403,
            "tls_required",
            "permission_error",
            format!("this route requires HTTPS with {minimum} or newer; the connection used {got}"),
        )
    }

    /// An internal failure with fail-closed semantics.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(503, code, "api_error", message)
    }

    /// 502 `response_unreadable`: the upstream ended a held answer with
    /// trailers and the host would not hand the held body over. The answer
    /// is not released unredacted.
    pub fn response_unreadable() -> Self {
        Self::new(
            502,
            "response_unreadable",
            "api_error",
            "the upstream answer could not be inspected",
        )
    }

    /// 503 `worker_busy`: the worker's per-stream services were borrowed
    /// when a callback needed them (callbacks do not nest, so never
    /// expected); the request is refused rather than let through unchecked.
    pub fn busy() -> Self {
        Self::internal("worker_busy", "per-worker state is busy")
    }
}

impl Denial {
    /// 401 with an RFC 6750 `invalid_token` challenge, for a code that has no `AuthError` of its own.
    pub fn unauthorized(code: &'static str, message: &str) -> Self {
        let description: String = message
            .chars()
            .filter(|c| *c != '"' && *c != '\\')
            .collect();
        Denial::new(401, code, "authentication_error", message).with_header(
            "www-authenticate",
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
        )
    }
}

/// 401 with an RFC 6750 challenge. The description is our own message,
/// never the token, and quotes are stripped so the header stays well formed.
impl From<&AuthError> for Denial {
    fn from(err: &AuthError) -> Self {
        let message = err.to_string();
        if err.code() == "jwt_missing" {
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            return Denial::new(401, err.code(), "authentication_error", message)
                .with_header("www-authenticate", "Bearer");
        }
        Denial::unauthorized(err.code(), &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_openai_style_error_json() {
        let d = Denial::route_not_found();
        let v: serde_json::Value = serde_json::from_slice(&d.body()).unwrap();
        assert_eq!(v["error"]["code"], "route_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("no route"));
    }

    #[test]
    fn body_escapes_quotes_in_messages() {
        let d = Denial::new(400, "x", "invalid_request_error", "a \"quoted\" word");
        let v: serde_json::Value = serde_json::from_slice(&d.body()).unwrap();
        assert_eq!(v["error"]["message"], "a \"quoted\" word");
    }

    #[test]
    fn response_headers_carry_json_content_type() {
        let d = Denial::forbidden_role().with_header("x-a", "b");
        let h = d.response_headers();
        assert_eq!(
            h[0],
            ("content-type".to_string(), "application/json".to_string())
        );
        assert_eq!(h[1], ("x-a".to_string(), "b".to_string()));
        assert_eq!(d.status, 403);
    }

    fn anthropic(d: Denial) -> serde_json::Value {
        serde_json::from_slice(&d.shaped(ErrorShape::Anthropic).body()).unwrap()
    }

    #[test]
    fn anthropic_body_has_the_type_error_envelope() {
        let v = anthropic(Denial::forbidden_role());
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "permission_error");
        assert_eq!(v["error"]["code"], "forbidden_role");
        assert!(v["error"]["message"].as_str().unwrap().contains("role"));
    }

    #[test]
    fn anthropic_error_types_follow_the_status() {
        let cases = [
            (
                Denial::invalid_request("invalid_json", "x".into()),
                "invalid_request_error",
            ),
            (Denial::from(&AuthError::Missing), "authentication_error"),
            (Denial::prompt_blocked("r", "c"), "permission_error"),
            (Denial::route_not_found(), "not_found_error"),
            (Denial::request_too_large(10), "request_too_large"),
            (Denial::rate_limited("p", 1, vec![]), "rate_limit_error"),
            (Denial::new(500, "x", "api_error", "x"), "api_error"),
            (Denial::new(529, "x", "api_error", "x"), "overloaded_error"),
            (Denial::rate_limit_unavailable(), "api_error"),
            (
                Denial::unsupported_encoding("gzip"),
                "invalid_request_error",
            ),
        ];
        for (d, want) in cases {
            let status = d.status;
            assert_eq!(anthropic(d)["error"]["type"], want, "status {status}");
        }
    }

    #[test]
    fn openai_shape_keeps_the_filter_type() {
        let d = Denial::route_not_found();
        assert_eq!(d.body_error_type(), "invalid_request_error");
        let v: serde_json::Value = serde_json::from_slice(&d.body()).unwrap();
        assert!(v.get("type").is_none());
    }

    #[test]
    fn default_shape_is_anthropic_only_under_v1_messages() {
        for p in [
            "/v1/messages",
            "/v1/messages?beta=true",
            "/v1/messages/count_tokens",
        ] {
            assert_eq!(ErrorShape::for_path(p), ErrorShape::Anthropic, "{p}");
        }
        for p in [
            "/v1/chat/completions",
            "/v1/messagesx",
            "/v1/responses",
            "/",
        ] {
            assert_eq!(ErrorShape::for_path(p), ErrorShape::Openai, "{p}");
        }
    }

    #[test]
    fn sse_event_per_shape() {
        let d = Denial::stream_budget_exceeded();
        let openai = String::from_utf8(d.sse_event()).unwrap();
        assert!(
            openai.starts_with("event: error\ndata: {\"error\""),
            "{openai}"
        );
        assert!(openai.ends_with("\n\ndata: [DONE]\n\n"));
        let anth = String::from_utf8(d.shaped(ErrorShape::Anthropic).sse_event()).unwrap();
        let data = anth
            .strip_prefix("event: error\ndata: ")
            .and_then(|r| r.strip_suffix("\n\n"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert!(!anth.contains("[DONE]"));
    }

    #[test]
    fn tls_required_names_the_minimum_and_sanitises_what_was_used() {
        let d = Denial::tls_required("TLSv1.3", Some("TLSv1.2"));
        assert_eq!((d.status, d.code), (403, "tls_required"));
        assert!(d.message.contains("TLSv1.3") && d.message.contains("TLSv1.2"));
        let d = Denial::tls_required("TLSv1.3", None);
        assert!(d.message.contains("plaintext"));
        let d = Denial::tls_required("TLSv1.3", Some("\"<x>\""));
        assert!(d.message.ends_with("used x"), "{}", d.message);
    }
}
