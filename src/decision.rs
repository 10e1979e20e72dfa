//! The one place where errors become HTTP responses.
//!
//! Every refusal the filter sends has a status, a stable snake_case `code`
//! (the same string appears in the body, the audit line and the metric),
//! optional headers, and an OpenAI-style JSON body so SDK clients show a
//! useful message: `{"error":{"message":...,"type":...,"code":...}}`.

use serde::Serialize;

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
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The OpenAI-style JSON error body.
    pub fn body(&self) -> Vec<u8> {
        let body = Body {
            error: BodyError {
                message: &self.message,
                error_type: self.error_type,
                code: self.code,
            },
        };
        // Serialising plain strings cannot fail; fall back to a fixed body rather than panic.
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"api_error","code":"internal_error"}}"#.to_vec()
        })
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

    /// An internal failure with fail-closed semantics.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(503, code, "api_error", message)
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
}
