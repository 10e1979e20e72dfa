//! The per-stream decisions, as pure functions returning a step for the
//! host shell to carry out.
//!
//! The host reads what Envoy offers (headers, `now_ms`, peer address),
//! calls in here, and applies the result. Nothing in this module calls the
//! host, so whole streams can be driven from native tests.

use crate::audit::AuditRecord;
use crate::auth::{AuthState, Identity, Verdict};
use crate::config::Config;
use crate::decision::Denial;
use crate::metrics::{self, Metrics};
use crate::route::{AuthRequirement, Matched};

/// What the host knows about a request when its headers arrive.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`, including the query string.
    pub path: &'a str,
    /// All request headers, names lowercase (pseudo-headers included).
    pub headers: &'a [(String, String)],
    /// The connection's source address, `ip:port`.
    pub peer_address: Option<&'a str>,
    /// Envoy's clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// Edits the host applies to the request headers before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers to remove (lowercase names).
    pub remove: Vec<String>,
    /// Headers to set, replacing any value the client sent.
    pub set: Vec<(String, String)>,
}

/// What the host does after the request headers.
#[derive(Debug)]
pub enum HeadersStep {
    /// Forward the request with these edits.
    Continue(HeaderEdits),
    /// Answer locally.
    Deny(Denial),
    /// Fetch the provider's remote JWKS, then run the headers phase again.
    FetchKeys {
        /// Provider index.
        provider: usize,
    },
}

/// How authentication ended for a stream (for logs, metrics, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthOutcome {
    /// Not decided yet.
    #[default]
    Pending,
    /// The route needs no token.
    NotRequired,
    /// No token on a route where one is optional.
    Anonymous,
    /// A valid token.
    Verified,
    /// Refused, with this code.
    Denied(&'static str),
}

/// What one stream has learnt so far; owned by the host's stream context.
#[derive(Debug, Default)]
pub struct StreamState {
    /// `:method` of the request.
    pub method: String,
    /// `:path` of the request (the audit line drops its query).
    pub path: String,
    /// `x-request-id`, when Envoy or the client set one.
    pub request_id: Option<String>,
    /// Client IP without the port.
    pub client_ip: Option<String>,
    /// Nanoseconds spent inside the filter's callbacks so far.
    pub filter_ns: u64,
    /// Name of the matched route.
    pub route: Option<String>,
    /// The verified caller.
    pub identity: Option<Identity>,
    /// The authentication outcome.
    pub auth: AuthOutcome,
    /// Set once a JWKS fetch was made for this stream, so a second miss is final.
    pub fetched_keys: bool,
}

/// Runs route matching, authentication and authorization on the request headers.
///
/// Idempotent: after a JWKS fetch the host calls it again with the same head.
/// Final outcomes (not the intermediate `FetchKeys`) are counted.
pub fn on_request_headers(
    config: &Config,
    auth_state: &mut AuthState,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
    metrics: &mut dyn Metrics,
) -> HeadersStep {
    if stream.method.is_empty() {
        stream.method = head.method.to_string();
        stream.path = head.path.to_string();
        stream.request_id = header(head.headers, "x-request-id").map(str::to_string);
        stream.client_ip = head.peer_address.map(|a| strip_port(a).to_string());
    }
    let step = decide_request_headers(config, auth_state, head, stream);
    match stream.auth {
        AuthOutcome::Denied(code) => metrics.count(&metrics::auth_denied(code), 1),
        AuthOutcome::Pending => {}
        AuthOutcome::NotRequired | AuthOutcome::Anonymous | AuthOutcome::Verified => {
            metrics.count(metrics::AUTH_ALLOWED, 1)
        }
    }
    step
}

fn decide_request_headers(
    config: &Config,
    auth_state: &mut AuthState,
    head: &RequestHead<'_>,
    stream: &mut StreamState,
) -> HeadersStep {
    let route = match config.routes.find(head.method, head.path) {
        Matched::Route(route) => route,
        Matched::Denied => {
            stream.auth = AuthOutcome::Denied("route_not_found");
            return HeadersStep::Deny(Denial::route_not_found());
        }
    };
    stream.route = Some(route.name.clone());

    // Claim headers are ours alone: drop whatever the client sent under those
    // names on every request, authenticated or not.
    let mut edits = HeaderEdits {
        remove: config.auth.forwarded_header_names().to_vec(),
        set: Vec::new(),
    };

    if route.auth == AuthRequirement::None {
        stream.auth = AuthOutcome::NotRequired;
        return HeadersStep::Continue(edits);
    }

    let token = match config.auth.extract_token(head.headers, head.path) {
        Ok(Some(token)) => token,
        Ok(None) if route.auth == AuthRequirement::Optional => {
            stream.auth = AuthOutcome::Anonymous;
            return HeadersStep::Continue(edits);
        }
        Ok(None) => return deny_auth(stream, &crate::auth::AuthError::Missing),
        Err(err) => return deny_auth(stream, &err),
    };

    let identity = match config
        .auth
        .verify(&token, &route.providers, head.now_ms, auth_state)
    {
        Verdict::Verified(identity) => identity,
        Verdict::Denied(err) => return deny_auth(stream, &err),
        Verdict::NeedKeys { provider } => {
            if stream.fetched_keys {
                // Keys were just refreshed for this request and the kid is still unknown.
                stream.auth = AuthOutcome::Denied("jwt_unknown_kid");
                return HeadersStep::Deny(Denial::unauthorized(
                    "jwt_unknown_kid",
                    "the token's key id is not in the issuer's key set",
                ));
            }
            return HeadersStep::FetchKeys { provider };
        }
    };

    if !route.roles.satisfied_by(&identity.roles) {
        stream.auth = AuthOutcome::Denied("forbidden_role");
        return HeadersStep::Deny(Denial::forbidden_role());
    }

    edits.set = config.auth.forward_headers(&identity);
    if config.auth.strip_authorization() {
        edits.remove.push("authorization".to_string());
    }
    stream.auth = AuthOutcome::Verified;
    stream.identity = Some(identity);
    HeadersStep::Continue(edits)
}

fn deny_auth(stream: &mut StreamState, err: &crate::auth::AuthError) -> HeadersStep {
    stream.auth = AuthOutcome::Denied(err.code());
    HeadersStep::Deny(Denial::from(err))
}

/// The first value of a header (names are lowercase in Envoy's maps).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `::1`; a bare address is returned as is.
pub fn strip_port(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        // One colon: IPv4 with a port. More: a bare IPv6 address.
        Some((host, _)) if !host.contains(':') => host,
        _ => address,
    }
}

/// The audit line for a finished stream, or `None` when sampled out.
pub fn audit_line(config: &Config, stream: &StreamState, status: Option<u16>) -> Option<String> {
    let auth = match stream.auth {
        AuthOutcome::Pending => "pending",
        AuthOutcome::NotRequired => "not_required",
        AuthOutcome::Anonymous => "anonymous",
        AuthOutcome::Verified => "verified",
        AuthOutcome::Denied(code) => code,
    };
    let record = AuditRecord {
        request_id: stream.request_id.as_deref(),
        route: stream.route.as_deref(),
        method: &stream.method,
        path: &stream.path,
        status,
        subject: stream.identity.as_ref().and_then(|i| i.subject.as_deref()),
        client_ip: stream.client_ip.as_deref(),
        auth,
        sections: serde_json::Map::new(),
        filter_us: stream.filter_ns / 1000,
        denied: matches!(stream.auth, AuthOutcome::Denied(_)),
    };
    config.audit.line(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_handles_v4_v6_and_bare_addresses() {
        assert_eq!(strip_port("10.1.2.3:443"), "10.1.2.3");
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(strip_port("10.1.2.3"), "10.1.2.3");
    }
}
