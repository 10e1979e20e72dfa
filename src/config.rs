//! Plugin configuration: parsed once from JSON, validated, compiled.
//!
//! Every struct denies unknown fields, so a typo is an error rather than a
//! silently ignored setting. Errors carry the field path
//! (`auth.providers[0].issuer: must not be empty`) so an operator can find
//! the line to fix from Envoy's log alone.

use serde::Deserialize;

use crate::audit::{AuditSettings, Auditor};
use crate::auth::{Auth, AuthSettings};
use crate::mcp::{Mcp, McpSettings};
use crate::metrics::MetricsSettings;
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::redaction::{ProfileSettings, RedactionSettings, Redactor};
use crate::route::{PathPolicySettings, RouteSettings, Routes, UnmatchedAction};
use crate::screening::{Screener, ScreeningSettings};

pub use crate::error::ConfigError;

/// The configuration as written by the operator (before validation).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// JWT providers and token sources.
    pub auth: AuthSettings,
    /// Routes, matched in order; the first match wins.
    pub routes: Vec<RouteSettings>,
    /// What to do with a request that matches no route.
    pub unmatched: UnmatchedAction,
    /// Ambiguous paths and method-override / URL-rewrite headers.
    pub path_policy: PathPolicySettings,
    /// Request limits and LLM-token budgets.
    pub rate_limit: RateLimitSettings,
    /// Prompt validation and screening. Absent: request bodies are not screened.
    pub screening: Option<ScreeningSettings>,
    /// PII and secret redaction in responses. Absent: nothing is redacted.
    pub redaction: Option<RedactionSettings>,
    /// The per-request audit line.
    pub audit: AuditSettings,
    /// MCP gateway security (tool authorization, pinning, argument and result checks).
    pub mcp: McpSettings,
    /// Hold the request headers while the body is read, so headers decided
    /// from the body (the screening monitor header) reach the upstream. Needs
    /// Envoy >= 1.35 with `allow_on_headers_stop_iteration: true` on the Wasm
    /// plugin config; elsewhere a paused request would never get its body.
    pub hold_request_headers: bool,
    /// Metric labels: the models that get their own `model` label.
    pub metrics: MetricsSettings,
}

/// The validated, compiled configuration shared by every stream.
#[derive(Debug)]
pub struct Config {
    /// Authentication: providers with their decoded keys.
    pub auth: Auth,
    /// Route table.
    pub routes: Routes,
    /// Request limits and LLM-token budgets.
    pub rate_limit: RateLimiter,
    /// Prompt screening.
    pub screening: Screener,
    /// Response redaction.
    pub redaction: Redactor,
    /// Audit line writer.
    pub audit: Auditor,
    /// MCP servers behind the filter.
    pub mcp: Mcp,
    /// See [`Settings::hold_request_headers`].
    pub hold_request_headers: bool,
    /// See [`Settings::metrics`].
    pub metrics: MetricsSettings,
}

/// Largest request body read when screening is off (a token budget or
/// request redaction needs it).
pub const DEFAULT_REQUEST_BODY_MAX_BYTES: usize = 1 << 20;

impl Config {
    /// Parses and validates the plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let settings = parse_settings(bytes)?;
        Self::compile(settings)
    }

    /// Validates and compiles already-deserialised settings.
    pub fn compile(settings: Settings) -> Result<Self, ConfigError> {
        let auth = Auth::compile(settings.auth, "auth")?;
        let routes = Routes::compile(settings.routes, settings.unmatched, &auth, "routes")?
            .with_path_policy(settings.path_policy, "path_policy")?;
        let route_names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
        let rate_limit = RateLimiter::compile(settings.rate_limit, &route_names, "rate_limit")?;
        let screening_settings = settings.screening.unwrap_or(ScreeningSettings {
            enabled: false,
            ..ScreeningSettings::default()
        });
        let screening = Screener::compile(screening_settings, &route_names, "screening")?;
        // Absent section: one catch-all profile with no entities, so no route redacts.
        let redaction_settings = settings.redaction.unwrap_or_else(|| RedactionSettings {
            profiles: vec![ProfileSettings {
                routes: Vec::new(),
                roles: Vec::new(),
                entities: Some(Vec::new()),
            }],
            ..RedactionSettings::default()
        });
        let redaction = Redactor::compile(redaction_settings, &route_names, "redaction")?;
        let audit = Auditor::compile(settings.audit, "audit")?;
        let policy_names: Vec<&str> = rate_limit.policy_names().collect();
        let mcp = Mcp::compile(settings.mcp, &route_names, &policy_names, &redaction, "mcp")?;
        settings.metrics.validate("metrics")?;
        Ok(Self {
            auth,
            routes,
            rate_limit,
            screening,
            redaction,
            audit,
            mcp,
            hold_request_headers: settings.hold_request_headers,
            metrics: settings.metrics,
        })
    }

    /// True when a stage uses the client's address (rate-limit keys, the
    /// audit line), so the host reads it only then.
    pub fn needs_peer_address(&self) -> bool {
        self.rate_limit.uses_client_address() || self.audit.logs_client_ip()
    }

    /// Largest request body the filter reads (413 above it): screening's
    /// `max_body_bytes` when screening is on.
    pub fn request_body_max_bytes(&self) -> usize {
        if self.screening.enabled() {
            self.screening.max_body_bytes()
        } else {
            DEFAULT_REQUEST_BODY_MAX_BYTES
        }
    }
}

/// Deserialises the JSON, turning serde's errors into path-carrying ones.
pub fn parse_settings(bytes: &[u8]) -> Result<Settings, ConfigError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ConfigError::new("", "configuration is empty"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // serde_json appends "at line L column C"; keep it, it helps in YAML-embedded JSON.
        let path = if path == "." { String::new() } else { path };
        ConfigError::new(path, inner.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_field_is_named() {
        let err = parse_settings(br#"{"rouets": []}"#).unwrap_err();
        assert!(err.message.contains("unknown field `rouets`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err = parse_settings(br#"{"routes": [{"name": 3}]}"#).unwrap_err();
        assert_eq!(err.path, "routes[0].name");
    }

    #[test]
    fn empty_configuration_is_refused() {
        let err = parse_settings(b"  ").unwrap_err();
        assert_eq!(err.to_string(), "configuration is empty");
    }

    #[test]
    fn malformed_json_is_refused() {
        assert!(parse_settings(b"{").is_err());
    }

    #[test]
    fn a_pre_auth_limit_alone_makes_the_host_read_the_peer_address() {
        // Without the address the limit would admit everything ("address
        // unknown"): found by the bad-signature bench arm.
        let only_pre_auth = br#"{"audit": {"enabled": false}, "rate_limit": {"pre_auth":
            {"capacity": 1, "refill": {"tokens": 1, "per_s": 60}}}}"#;
        let config = Config::compile(parse_settings(only_pre_auth).unwrap()).unwrap();
        assert!(config.needs_peer_address());
        let nothing = br#"{"audit": {"enabled": false}}"#;
        let nothing = Config::compile(parse_settings(nothing).unwrap()).unwrap();
        assert!(!nothing.needs_peer_address());
    }
}
