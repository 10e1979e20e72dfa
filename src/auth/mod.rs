//! JWT authentication — temporary stub with the final API shape; the real
//! module lands from the `auth` branch.

use std::fmt;

use serde::Deserialize;

use crate::config::ConfigError;

/// Authentication settings as configured.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Providers (issuers).
    pub providers: Vec<serde_json::Value>,
}

/// Remote JWKS source.
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    /// Envoy cluster.
    pub cluster: String,
    /// Path.
    pub path: String,
    /// Host header.
    pub authority: String,
    /// Timeout.
    pub timeout_ms: u64,
}

/// Compiled authentication configuration.
#[derive(Debug, Default)]
pub struct Auth {
    names: Vec<String>,
    forwarded: Vec<String>,
}

/// Verified caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Provider index.
    pub provider: usize,
    /// Issuer.
    pub issuer: String,
    /// Subject.
    pub subject: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Expiry.
    pub expires_at_s: Option<u64>,
}

/// Verification result.
#[derive(Debug)]
pub enum Verdict {
    /// Valid.
    Verified(Identity),
    /// Invalid.
    Denied(AuthError),
    /// Keys must be fetched first.
    NeedKeys {
        /// Provider index.
        provider: usize,
    },
}

/// Per-worker state.
#[derive(Debug, Default)]
pub struct AuthState {}

impl AuthState {
    /// New state.
    pub fn new(_auth: &Auth) -> Self {
        Self {}
    }
    /// Due fetches.
    pub fn due_fetches(&self, _auth: &Auth, _now_ms: u64) -> Vec<usize> {
        Vec::new()
    }
    /// Begin a fetch.
    pub fn begin_fetch(&mut self, _provider: usize, _now_ms: u64, _on_demand: bool) -> bool {
        false
    }
    /// Finish a fetch.
    pub fn finish_fetch(
        &mut self,
        _auth: &Auth,
        _provider: usize,
        _status: Option<u16>,
        _body: &[u8],
        _now_ms: u64,
    ) -> Result<usize, AuthError> {
        Err(AuthError::Missing)
    }
}

impl Auth {
    /// Validates and compiles.
    pub fn compile(settings: AuthSettings, _path: &str) -> Result<Self, ConfigError> {
        let _ = settings;
        Ok(Self::default())
    }
    /// Number of providers.
    pub fn provider_count(&self) -> usize {
        self.names.len()
    }
    /// Index of the provider with this name.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// Name.
    pub fn provider_name(&self, idx: usize) -> &str {
        self.names.get(idx).map(String::as_str).unwrap_or("")
    }
    /// Extract.
    pub fn extract_token(
        &self,
        _headers: &[(String, String)],
        _path: &str,
    ) -> Result<Option<String>, AuthError> {
        Ok(None)
    }
    /// Verify.
    pub fn verify(
        &self,
        _token: &str,
        _providers: &[usize],
        _now_ms: u64,
        _state: &mut AuthState,
    ) -> Verdict {
        Verdict::Denied(AuthError::Missing)
    }
    /// Forward.
    pub fn forward_headers(&self, _identity: &Identity) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Forwarded names.
    pub fn forwarded_header_names(&self) -> &[String] {
        &self.forwarded
    }
    /// Strip.
    pub fn strip_authorization(&self) -> bool {
        false
    }
    /// Remote.
    pub fn remote_jwks(&self) -> Vec<(usize, &RemoteJwks)> {
        Vec::new()
    }
}

/// Why a request failed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in any configured source.
    Missing,
    /// Unknown kid.
    UnknownKid,
}

impl AuthError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "jwt_missing",
            AuthError::UnknownKid => "jwt_unknown_kid",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => write!(f, "no bearer token in the request"),
            AuthError::UnknownKid => write!(f, "unknown kid"),
        }
    }
}
