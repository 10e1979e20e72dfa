//! A route's TLS requirement: refuse plaintext, or TLS older than a minimum.
//!
//! Envoy reports the downstream connection's TLS version as the attribute
//! `connection.tls_version` (`TLSv1.2`, `TLSv1.3`; absent on plaintext). The
//! host shell reads it only when some route sets `require_tls`, and hands it
//! here as plain data. Hosts that do not offer that attribute cannot enforce
//! the option: every request on such a route is refused (fail closed).

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use serde::Deserialize;

use crate::decision::Denial;

/// A TLS protocol version, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0.
    #[serde(rename = "TLSv1")]
    V1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSv1.1")]
    V1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSv1.2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSv1.3")]
    V1_3,
}

impl TlsVersion {
    /// Parses Envoy's spelling (`TLSv1.3`); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "TLSv1" | "TLSv1.0" => TlsVersion::V1_0,
            "TLSv1.1" => TlsVersion::V1_1,
            "TLSv1.2" => TlsVersion::V1_2,
            "TLSv1.3" => TlsVersion::V1_3,
            _ => return None,
        })
    }

    /// Envoy's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "TLSv1",
            TlsVersion::V1_1 => "TLSv1.1",
            TlsVersion::V1_2 => "TLSv1.2",
            TlsVersion::V1_3 => "TLSv1.3",
        }
    }
}

/// `routes[].require_tls`, as configured and as compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequireTls {
    /// Oldest TLS version accepted (`TLSv1.2` by default).
    pub min_version: TlsVersion,
}

impl Default for RequireTls {
    fn default() -> Self {
        Self {
            min_version: TlsVersion::V1_2,
        }
    }
}

impl RequireTls {
    /// Checks the connection's TLS version (`connection.tls_version`; `None`
    /// on plaintext). Unknown spellings are refused: the filter cannot tell
    /// they meet the minimum.
    pub fn check(&self, tls_version: Option<&str>) -> Result<(), Denial> {
        let minimum = self.min_version.as_str();
        let got = tls_version.filter(|v| !v.trim().is_empty());
        match got.and_then(TlsVersion::parse) {
            Some(v) if v >= self.min_version => Ok(()),
            _ => Err(Denial::tls_required(minimum, got)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn require(min: TlsVersion) -> RequireTls {
        RequireTls { min_version: min }
    }

    #[test]
    fn plaintext_is_refused_with_tls_required() {
        let d = require(TlsVersion::V1_2).check(None).unwrap_err();
        assert_eq!((d.status, d.code), (403, "tls_required"));
        assert!(d.message.contains("plaintext"), "{}", d.message);
        assert!(require(TlsVersion::V1_2).check(Some("")).is_err());
    }

    #[test]
    fn versions_at_or_above_the_minimum_pass() {
        let r = require(TlsVersion::V1_2);
        assert!(r.check(Some("TLSv1.2")).is_ok());
        assert!(r.check(Some("TLSv1.3")).is_ok());
        assert!(r.check(Some("TLSv1.1")).is_err());
        assert!(r.check(Some("TLSv1")).is_err());
    }

    #[test]
    fn tls13_minimum_refuses_tls12() {
        let d = require(TlsVersion::V1_3)
            .check(Some("TLSv1.2"))
            .unwrap_err();
        assert!(d.message.contains("TLSv1.3") && d.message.contains("TLSv1.2"));
        assert!(require(TlsVersion::V1_3).check(Some("TLSv1.3")).is_ok());
    }

    #[test]
    fn unknown_version_strings_are_refused() {
        assert!(require(TlsVersion::V1_0).check(Some("SSLv3")).is_err());
        assert!(require(TlsVersion::V1_0).check(Some("TLSv1.4")).is_err());
    }

    #[test]
    fn config_defaults_to_tls12_and_refuses_unknown_versions() {
        let r: RequireTls = serde_json::from_str("{}").unwrap();
        assert_eq!(r.min_version, TlsVersion::V1_2);
        let r: RequireTls = serde_json::from_str(r#"{"min_version":"TLSv1.3"}"#).unwrap();
        assert_eq!(r.min_version, TlsVersion::V1_3);
        assert!(serde_json::from_str::<RequireTls>(r#"{"min_version":"1.3"}"#).is_err());
        assert!(serde_json::from_str::<RequireTls>(r#"{"min":"TLSv1.3"}"#).is_err());
    }
}
