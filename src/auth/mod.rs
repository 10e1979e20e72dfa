//! JWT authentication (placeholder: being written; see issue 2).

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

/// Compiled authentication configuration.
#[derive(Debug, Default)]
pub struct Auth {
    names: Vec<String>,
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
}

/// Why a request failed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in any configured source.
    Missing,
}

impl AuthError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "jwt_missing",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => write!(f, "no bearer token in the request"),
        }
    }
}
