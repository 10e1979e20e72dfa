//! Redaction settings as the operator writes them, and their validation.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Default hold-back window for streamed text, in bytes.
pub const DEFAULT_WINDOW_BYTES: usize = 256;
/// Default cap on a single held match (PEM blocks, long tokens).
pub const DEFAULT_MAX_MATCH_BYTES: usize = 16 * 1024;
/// Default largest JSON body redacted as a document.
pub const DEFAULT_JSON_MAX_BYTES: usize = 8 * 1024 * 1024;

/// `redaction:` as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionSettings {
    /// Per-entity overrides, keyed by entity name (`EMAIL`, `CREDIT_CARD`, a custom name).
    /// Every built-in entity is on with `replace` unless said otherwise here.
    pub entities: BTreeMap<String, EntitySettings>,
    /// Operator-defined patterns (regex-lite syntax).
    pub custom: Vec<CustomPatternSettings>,
    /// Per-route / per-role entity selection; the first matching profile wins.
    pub profiles: Vec<ProfileSettings>,
    /// Key for the `hash` operator (at least 16 bytes). Required when any entity uses `hash`.
    pub hash_key: Option<String>,
    /// Streamed text held back so a value split across chunks is still caught (64..=65536).
    pub window_bytes: usize,
    /// Longest match held whole while it is still growing (PEM blocks, long
    /// tokens); anything longer is redacted up to that point and its
    /// continuation suppressed.
    pub max_match_bytes: usize,
    /// JSON bodies up to this size are redacted as documents (inside string
    /// values); larger ones are redacted as a text stream, which keeps the
    /// document valid because replacements contain no JSON-special characters.
    pub json_max_bytes: usize,
    /// What to do with a compressed response body that cannot be read.
    pub compressed: CompressedPolicy,
    /// Also redact request prompts before the upstream sees them.
    pub redact_requests: bool,
    /// Hold JSON bodies whole and redact inside string values (the default).
    /// Off: JSON streams through the text window like any text, for hosts that
    /// cannot pause a response body (Kong); JSON escapes are still decoded
    /// before detection there.
    pub hold_json: bool,
    /// `logprobs` in answers (JSON and streamed): their tokens and bytes
    /// spell the text out again, so by default they are dropped.
    pub logprobs: LogprobsPolicy,
    /// A response body whose content type the redactor cannot read
    /// (`application/octet-stream`, `image/*`, ...): refused by default.
    pub unknown_content_type: UnknownContentPolicy,
}

impl Default for RedactionSettings {
    fn default() -> Self {
        Self {
            entities: BTreeMap::new(),
            custom: Vec::new(),
            profiles: Vec::new(),
            hash_key: None,
            window_bytes: DEFAULT_WINDOW_BYTES,
            max_match_bytes: DEFAULT_MAX_MATCH_BYTES,
            json_max_bytes: DEFAULT_JSON_MAX_BYTES,
            compressed: CompressedPolicy::Refuse,
            redact_requests: false,
            hold_json: true,
            logprobs: LogprobsPolicy::Drop,
            unknown_content_type: UnknownContentPolicy::Block,
        }
    }
}

/// One entity's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntitySettings {
    /// Whether the entity is detected at all.
    pub enabled: bool,
    /// How a detected value is replaced.
    pub operator: OperatorKind,
    /// Placeholder for `replace`; `{entity}` is replaced by the entity name.
    /// Default `[REDACTED:{entity}]`.
    pub placeholder: Option<String>,
    /// Characters kept visible by `mask` (never more than half the value).
    pub keep_last: usize,
}

impl Default for EntitySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            operator: OperatorKind::Replace,
            placeholder: None,
            keep_last: 4,
        }
    }
}

/// The operator applied to a detected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// Replace with the placeholder.
    #[default]
    Replace,
    /// Mask all but the last `keep_last` characters with `*`.
    Mask,
    /// A stable keyed hash token, `[EMAIL:3f9a12c4b7e0]`.
    Hash,
}

/// An operator-defined pattern.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPatternSettings {
    /// Entity name: uppercase letters, digits and `_`, not a built-in name.
    pub name: String,
    /// regex-lite pattern. Keep matches shorter than `window_bytes / 2` so a
    /// streamed match is always seen whole.
    pub pattern: String,
}

/// Entity selection for some routes and/or roles.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileSettings {
    /// Route names this profile applies to; empty means every route.
    pub routes: Vec<String>,
    /// The caller must hold at least one of these roles; empty means anyone.
    pub roles: Vec<String>,
    /// Entities redacted; absent means every enabled entity, empty means none.
    pub entities: Option<Vec<String>>,
}

/// What to do with a compressed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CompressedPolicy {
    /// Refuse to forward it (the default: never leak unredacted).
    #[default]
    Refuse,
    /// Forward it unredacted.
    Pass,
}

/// What to do with `logprobs` in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogprobsPolicy {
    /// `logprobs` objects become `null`, arrays `[]` (the default).
    #[default]
    Drop,
    /// Forward them unredacted: they can rebuild a masked value.
    Pass,
}

/// What to do with a body whose content type the redactor cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownContentPolicy {
    /// Refuse it with a 502 in the API's error shape (the default).
    #[default]
    Block,
    /// Forward it unredacted.
    Pass,
    /// Redact it as text (bytes that are not UTF-8 become U+FFFD).
    Text,
}
