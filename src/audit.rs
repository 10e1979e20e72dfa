//! One structured audit line per request.
//!
//! The record carries decisions and sizes, never a token, a secret, prompt
//! text or a redacted value: the subject is a keyed hash unless configured in
//! clear, the client IP may be truncated, and the path is logged without its
//! query string (a token may travel there).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// How the subject appears in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMode {
    /// HMAC-SHA256 with `hash_key`, first 16 hex digits (the default).
    #[default]
    Hash,
    /// As in the token.
    Clear,
    /// Left out.
    Omit,
}

/// How the client IP appears in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IpMode {
    /// As seen.
    Full,
    /// IPv4 to /24, IPv6 to /48 (the default).
    #[default]
    Truncate,
    /// Left out.
    Omit,
}

/// Log level of the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuditLevel {
    /// Debug.
    Debug,
    /// Info (the default).
    #[default]
    Info,
    /// Warn.
    Warn,
}

/// Where the audit record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuditSink {
    /// A line through the Wasm log call (the default; every host has it,
    /// Kong included).
    #[default]
    Log,
    /// Envoy filter state `wasm.tollgate_audit`, for the access log to write
    /// with `%FILTER_STATE(wasm.tollgate_audit:PLAIN)%`: to a file, a gRPC
    /// access-log service or OpenTelemetry, wherever operators already ship
    /// access logs. The filter writes no log line itself.
    FilterState,
}

/// The filter-state name under which [`AuditSink::FilterState`] hands over
/// the record (Envoy prefixes `wasm.`).
pub const FILTER_STATE_KEY: &str = "tollgate_audit";

/// Audit settings as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Write audit lines at all.
    pub enabled: bool,
    /// Log level of the line.
    pub level: AuditLevel,
    /// Fraction of admitted requests logged, 0.0–1.0; denied requests are always logged.
    pub sample_rate: f64,
    /// How the subject is written.
    pub subject: SubjectMode,
    /// Key for the subject hash. Without one the hash is unkeyed and guessable.
    pub hash_key: Option<String>,
    /// How the client IP is written.
    pub client_ip: IpMode,
    /// Where the record goes.
    pub sink: AuditSink,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            level: AuditLevel::Info,
            sample_rate: 1.0,
            subject: SubjectMode::Hash,
            hash_key: None,
            client_ip: IpMode::Truncate,
            sink: AuditSink::Log,
        }
    }
}

/// Compiled audit settings.
#[derive(Clone)]
pub struct Auditor {
    settings: AuditSettings,
    /// `sample_rate` in parts per million.
    sample_ppm: u64,
    /// HMAC-SHA256 keyed once with the subject hash key: each line clones the
    /// keyed state instead of hashing the key's blocks again.
    subject_mac: hmac_sha256::HMAC,
}

impl std::fmt::Debug for Auditor {
    // The keyed HMAC state has no Debug, and holds the key: left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("settings", &self.settings)
            .field("sample_ppm", &self.sample_ppm)
            .finish()
    }
}

/// The subject hash key when none is configured (the hash is then guessable).
const UNKEYED: &str = "tollgate-unkeyed";

/// What one request did, as the pipeline saw it. Only decisions and sizes.
#[derive(Debug, Default, Clone)]
pub struct AuditRecord<'a> {
    /// `x-request-id`.
    pub request_id: Option<&'a str>,
    /// Matched route.
    pub route: Option<&'a str>,
    /// `:method`.
    pub method: &'a str,
    /// `:path` (the query string is removed here).
    pub path: &'a str,
    /// Response status.
    pub status: Option<u16>,
    /// JWT subject, before hashing.
    pub subject: Option<&'a str>,
    /// Client IP (no port).
    pub client_ip: Option<&'a str>,
    /// Auth outcome: `verified`, `anonymous`, `not_required` or a denial code.
    pub auth: &'a str,
    /// Decision sections added by the other stages (`rate_limit`, `screening`, `redaction`, `usage`).
    /// Borrowed from the stream: the line is the only place they are copied.
    pub sections: Vec<(&'a str, &'a Map<String, Value>)>,
    /// Time spent inside the filter, microseconds.
    pub filter_us: u64,
    /// True when the filter refused the request.
    pub denied: bool,
}

impl Auditor {
    /// Validates the settings.
    pub fn compile(settings: AuditSettings, path: &str) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&settings.sample_rate) || settings.sample_rate.is_nan() {
            return Err(ConfigError::new(
                format!("{path}.sample_rate"),
                "must be between 0.0 and 1.0",
            ));
        }
        if let Some(key) = &settings.hash_key {
            if key.len() < 16 {
                return Err(ConfigError::new(
                    format!("{path}.hash_key"),
                    "must be at least 16 characters",
                ));
            }
        }
        // Truncation to an integer number of parts per million is the intent.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let sample_ppm = (settings.sample_rate * 1_000_000.0).round() as u64;
        let key = settings.hash_key.as_deref().unwrap_or(UNKEYED);
        let subject_mac = hmac_sha256::HMAC::new(key.as_bytes());
        Ok(Self {
            settings,
            sample_ppm,
            subject_mac,
        })
    }

    /// True when lines are written with a client IP in them.
    pub fn logs_client_ip(&self) -> bool {
        self.settings.enabled && self.settings.client_ip != IpMode::Omit
    }

    /// The configured level.
    pub fn level(&self) -> AuditLevel {
        self.settings.level
    }

    /// Where records go.
    pub fn sink(&self) -> AuditSink {
        self.settings.sink
    }

    /// Whether records are written at all (sampling aside).
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// The JSON line for a request, or `None` when disabled or sampled out.
    ///
    /// Sampling is a hash of the request id, so every worker and every
    /// replay makes the same choice for the same request.
    pub fn line(&self, record: &AuditRecord<'_>) -> Option<String> {
        if !self.settings.enabled {
            return None;
        }
        if !record.denied && self.sample_ppm < 1_000_000 {
            let id = record.request_id.unwrap_or("");
            if fnv1a(id.as_bytes()) % 1_000_000 >= self.sample_ppm {
                return None;
            }
        }
        // The fields in key order, written straight into the line: the
        // sections are serialised where they are, not cloned into a tree.
        let path = record.path.split(['?', '#']).next().unwrap_or("");
        let subject_hash;
        let truncated;
        let mut fields: Vec<(&str, Field<'_>)> = Vec::with_capacity(12 + record.sections.len());
        fields.push(("type", Field::Str("tollgate.audit")));
        fields.push(("request_id", Field::OptStr(record.request_id)));
        fields.push(("route", Field::OptStr(record.route)));
        fields.push(("method", Field::Str(record.method)));
        fields.push(("path", Field::Str(path)));
        fields.push(("status", Field::OptNum(record.status.map(u64::from))));
        match (self.settings.subject, record.subject) {
            (SubjectMode::Omit, _) | (_, None) => {}
            (SubjectMode::Clear, Some(s)) => fields.push(("subject", Field::Str(s))),
            (SubjectMode::Hash, Some(s)) => {
                subject_hash = self.subject_hash(s);
                fields.push(("subject_hash", Field::Str(&subject_hash)));
            }
        }
        if let Some(ip) = record.client_ip {
            match self.settings.client_ip {
                IpMode::Full => fields.push(("client_ip", Field::Str(ip))),
                IpMode::Truncate => {
                    truncated = truncate_ip(ip);
                    fields.push(("client_ip", Field::Str(&truncated)));
                }
                IpMode::Omit => {}
            }
        }
        fields.push(("auth", Field::Str(record.auth)));
        for (name, section) in &record.sections {
            fields.push((name, Field::Section(section)));
        }
        fields.push(("filter_us", Field::OptNum(Some(record.filter_us))));
        write_object(fields)
    }

    /// Keyed hash of a subject: 16 hex digits of HMAC-SHA256.
    pub fn subject_hash(&self, subject: &str) -> String {
        let mut keyed = self.subject_mac.clone();
        keyed.update(subject.as_bytes());
        let mac = keyed.finalize();
        let mut out = String::with_capacity(16);
        crate::redaction::push_hex(&mut out, mac.get(..8).unwrap_or_default());
        out
    }
}

/// One value of the audit record's top level.
enum Field<'a> {
    Str(&'a str),
    /// `null` when absent.
    OptStr(Option<&'a str>),
    /// `null` when absent.
    OptNum(Option<u64>),
    Section(&'a Map<String, Value>),
}

/// Writes `fields` as one compact JSON object, keys in byte order (the order
/// of a `serde_json::Map`); of two equal keys the later wins, as in a map.
fn write_object(mut fields: Vec<(&str, Field<'_>)>) -> Option<String> {
    // Stable: equal keys keep their order, so the last of each run is the later.
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: Vec<u8> = Vec::with_capacity(256);
    out.push(b'{');
    let mut first = true;
    for (i, (key, value)) in fields.iter().enumerate() {
        if fields.get(i + 1).is_some_and(|(next, _)| next == key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, key).ok()?;
        out.push(b':');
        match value {
            Field::Str(s) | Field::OptStr(Some(s)) => serde_json::to_writer(&mut out, s).ok()?,
            Field::OptStr(None) | Field::OptNum(None) => out.extend_from_slice(b"null"),
            Field::OptNum(Some(n)) => serde_json::to_writer(&mut out, n).ok()?,
            Field::Section(map) => serde_json::to_writer(&mut out, map).ok()?,
        }
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// IPv4 to its /24 (`203.0.113.0/24`), IPv6 to its /48; anything unparsable becomes `unparsed`.
pub fn truncate_ip(ip: &str) -> String {
    if let Ok(v4) = ip.parse::<std::net::Ipv4Addr>() {
        let [a, b, c, _] = v4.octets();
        return format!("{a}.{b}.{c}.0/24");
    }
    if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        let s = v6.segments();
        return format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]);
    }
    "unparsed".to_string()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auditor(f: impl FnOnce(&mut AuditSettings)) -> Auditor {
        let mut s = AuditSettings::default();
        f(&mut s);
        Auditor::compile(s, "audit").unwrap()
    }

    fn record() -> AuditRecord<'static> {
        AuditRecord {
            request_id: Some("req-1"),
            route: Some("chat"),
            method: "POST",
            path: "/v1/chat/completions?access_token=eyJsecret",
            status: Some(200),
            subject: Some("alice"),
            client_ip: Some("203.0.113.77"),
            auth: "verified",
            ..Default::default()
        }
    }

    /// The line as a `serde_json::Map` tree writes it (the implementation
    /// before the direct writer): the writer must match it byte for byte.
    fn reference_line(a: &Auditor, record: &AuditRecord<'_>) -> String {
        use serde_json::json;
        let mut out = Map::new();
        out.insert("type".into(), json!("tollgate.audit"));
        out.insert("request_id".into(), json!(record.request_id));
        out.insert("route".into(), json!(record.route));
        out.insert("method".into(), json!(record.method));
        let path = record.path.split(['?', '#']).next().unwrap_or("");
        out.insert("path".into(), json!(path));
        out.insert("status".into(), json!(record.status));
        match (a.settings.subject, record.subject) {
            (SubjectMode::Omit, _) | (_, None) => {}
            (SubjectMode::Clear, Some(s)) => {
                out.insert("subject".into(), json!(s));
            }
            (SubjectMode::Hash, Some(s)) => {
                let mac = hmac_sha256::HMAC::mac(
                    s.as_bytes(),
                    a.settings
                        .hash_key
                        .as_deref()
                        .unwrap_or("tollgate-unkeyed")
                        .as_bytes(),
                );
                let hex: String = mac.iter().take(8).map(|b| format!("{b:02x}")).collect();
                out.insert("subject_hash".into(), json!(hex));
            }
        }
        if let Some(ip) = record.client_ip {
            match a.settings.client_ip {
                IpMode::Full => {
                    out.insert("client_ip".into(), json!(ip));
                }
                IpMode::Truncate => {
                    out.insert("client_ip".into(), json!(truncate_ip(ip)));
                }
                IpMode::Omit => {}
            }
        }
        out.insert("auth".into(), json!(record.auth));
        for (name, section) in &record.sections {
            out.insert((*name).to_string(), Value::Object((*section).clone()));
        }
        out.insert("filter_us".into(), json!(record.filter_us));
        serde_json::to_string(&Value::Object(out)).unwrap()
    }

    #[test]
    fn the_line_is_written_exactly_as_a_json_map_would_write_it() {
        let mut screening = Map::new();
        screening.insert("action".into(), "monitor".into());
        screening.insert(
            "rules".into(),
            serde_json::json!(["model.injection", "q\"uote"]),
        );
        screening.insert("score".into(), serde_json::json!(0.598));
        let mut usage = Map::new();
        usage.insert("total_tokens".into(), 524.into());
        usage.insert("prompt_tokens".into(), 12.into());
        let mut odd = Map::new();
        odd.insert(
            "zeta\u{1}\n\"é😀".into(),
            serde_json::json!({"b": [1, null], "a": "\u{7f}"}),
        );
        let sections: Vec<(&str, &Map<String, Value>)> = vec![
            ("usage", &usage),
            ("screening", &screening),
            ("a_first", &odd),
            ("redactions", &usage),
        ];
        let mut records = vec![record(), AuditRecord::default()];
        let mut full = record();
        full.sections = sections.clone();
        full.request_id = None;
        full.route = None;
        full.status = None;
        full.path = "/p\"ath\u{2028}?q#f";
        full.method = "GÉT\t";
        full.client_ip = Some("2001:db8:1:2:3::9");
        full.filter_us = u64::MAX;
        records.push(full);
        let mut denied = record();
        denied.denied = true;
        denied.sections = sections;
        denied.auth = "jwt_expired";
        records.push(denied);
        let configs = [
            auditor(|_| {}),
            auditor(|s| s.hash_key = Some("another-key-0123456789".into())),
            auditor(|s| {
                s.subject = SubjectMode::Clear;
                s.client_ip = IpMode::Full;
            }),
            auditor(|s| {
                s.subject = SubjectMode::Omit;
                s.client_ip = IpMode::Omit;
                s.hash_key = Some("0123456789abcdef-key".into());
            }),
        ];
        for a in &configs {
            for r in &records {
                assert_eq!(a.line(r).unwrap(), reference_line(a, r));
            }
        }
    }

    #[test]
    fn line_hashes_the_subject_and_drops_the_query() {
        let line = auditor(|s| s.hash_key = Some("0123456789abcdef".into()))
            .line(&record())
            .unwrap();
        assert!(!line.contains("alice"), "{line}");
        assert!(!line.contains("eyJsecret"), "{line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["path"], "/v1/chat/completions");
        assert_eq!(v["subject_hash"].as_str().unwrap().len(), 16);
        assert_eq!(v["client_ip"], "203.0.113.0/24");
        assert_eq!(v["type"], "tollgate.audit");
    }

    #[test]
    fn subject_hash_is_stable_and_keyed() {
        let a = auditor(|s| s.hash_key = Some("0123456789abcdef".into()));
        let b = auditor(|s| s.hash_key = Some("fedcba9876543210".into()));
        assert_eq!(a.subject_hash("alice"), a.subject_hash("alice"));
        assert_ne!(a.subject_hash("alice"), b.subject_hash("alice"));
    }

    #[test]
    fn clear_and_omit_modes() {
        let clear = auditor(|s| s.subject = SubjectMode::Clear)
            .line(&record())
            .unwrap();
        assert!(clear.contains("\"subject\":\"alice\""));
        let omit = auditor(|s| {
            s.subject = SubjectMode::Omit;
            s.client_ip = IpMode::Omit;
        })
        .line(&record())
        .unwrap();
        assert!(
            !omit.contains("subject") && !omit.contains("client_ip"),
            "{omit}"
        );
    }

    #[test]
    fn ipv6_is_truncated_to_48() {
        assert_eq!(truncate_ip("2001:db8:abcd:12::1"), "2001:db8:abcd::/48");
        assert_eq!(truncate_ip("not-an-ip"), "unparsed");
    }

    #[test]
    fn sampling_skips_admitted_but_never_denied_requests() {
        let a = auditor(|s| s.sample_rate = 0.0);
        assert!(a.line(&record()).is_none());
        let mut denied = record();
        denied.denied = true;
        assert!(a.line(&denied).is_some());
    }

    #[test]
    fn sampling_rate_is_roughly_honoured() {
        let a = auditor(|s| s.sample_rate = 0.25);
        let ids: Vec<String> = (0..4000).map(|i| format!("req-{i}")).collect();
        let kept = ids
            .iter()
            .filter(|id| {
                let mut r = record();
                r.request_id = Some(id);
                a.line(&r).is_some()
            })
            .count();
        assert!((800..1200).contains(&kept), "kept {kept} of 4000");
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let s = AuditSettings {
            sample_rate: 1.5,
            ..Default::default()
        };
        assert_eq!(
            Auditor::compile(s, "audit").unwrap_err().path,
            "audit.sample_rate"
        );
        let s = AuditSettings {
            hash_key: Some("short".into()),
            ..Default::default()
        };
        assert_eq!(
            Auditor::compile(s, "audit").unwrap_err().path,
            "audit.hash_key"
        );
    }

    #[test]
    fn disabled_writes_nothing() {
        assert!(auditor(|s| s.enabled = false).line(&record()).is_none());
    }
}
