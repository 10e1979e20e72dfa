//! MCP gateway configuration as the operator writes it.
//!
//! ```json
//! "mcp": { "servers": [ {
//!   "name": "demo", "routes": ["mcp"],
//!   "resource": "http://localhost:10000/mcp",
//!   "metadata": { "authorization_servers": ["https://issuer.tollgate.test"],
//!                 "scopes_supported": ["mcp:tools"] },
//!   "tools": [
//!     { "match": "admin_*", "roles": { "any_of": ["admin"] } },
//!     { "match": "create_ticket", "input_schema": { "type": "object" },
//!       "rate_limit": { "key": ["subject"], "capacity": 5, "refill": { "tokens": 1, "per_s": 1 } } }
//!   ],
//!   "unlisted_tools": "allow",
//!   "arguments": { "validate": true, "screening": "block" },
//!   "pinning": { "mode": "block", "learn": true, "strip_unpinned": false },
//!   "results": { "injection": "monitor", "redact": true }
//! } ] }
//! ```

use serde::Deserialize;
use serde_json::Value;

use crate::rate_limit::RefillSettings;
use crate::route::RolesSettings;

/// The `mcp` section.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct McpSettings {
    /// MCP servers behind the filter, each on one or more routes.
    pub servers: Vec<ServerSettings>,
}

/// Off, flag (count and audit, let through) or block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Not checked.
    Off,
    /// Counted and audited, let through.
    #[default]
    Monitor,
    /// Refused.
    Block,
}

/// What happens to a tool no rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unlisted {
    /// Any authenticated caller may list and call it (the default).
    #[default]
    Allow,
    /// Hidden from `tools/list` and refused in `tools/call`.
    Deny,
}

/// One MCP server.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Name used in metrics, the audit line and shared-data keys.
    pub name: String,
    /// Route names the server answers on (at least one).
    pub routes: Vec<String>,
    /// The server's canonical URI (RFC 8707). When set, a token must carry
    /// it in `aud`, and it is the `resource` of the metadata document.
    #[serde(default)]
    pub resource: Option<String>,
    /// The RFC 9728 protected-resource metadata the filter serves.
    #[serde(default)]
    pub metadata: Option<MetadataSettings>,
    /// Tool rules; the first whose `match` fits a tool name applies.
    #[serde(default)]
    pub tools: Vec<ToolSettings>,
    /// Tools no rule matches.
    #[serde(default)]
    pub unlisted_tools: Unlisted,
    /// `tools/call` argument checks.
    #[serde(default)]
    pub arguments: ArgumentSettings,
    /// Catalog pinning.
    #[serde(default)]
    pub pinning: PinningSettings,
    /// `tools/call` result screening.
    #[serde(default)]
    pub results: ResultSettings,
    /// Largest JSON-RPC response body held for rewriting; larger ones pass unchanged
    /// (and are counted).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_max_response_bytes() -> usize {
    4 << 20
}

/// The protected-resource metadata document (RFC 9728 §2).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataSettings {
    /// Path the filter answers on. Default: `/.well-known/oauth-protected-resource`
    /// followed by the resource URI's path (RFC 9728 §3.1).
    pub path: Option<String>,
    /// Absolute URL of the document, as put in `WWW-Authenticate`. Default:
    /// the resource URI's origin followed by `path`.
    pub url: Option<String>,
    /// Issuers of tokens for this resource (at least one).
    pub authorization_servers: Vec<String>,
    /// Scopes callers may request.
    pub scopes_supported: Vec<String>,
    /// Human-readable name.
    pub resource_name: Option<String>,
    /// Link to documentation.
    pub resource_documentation: Option<String>,
}

/// A rule for tools whose name matches `match`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ToolSettings {
    /// A tool name, or a glob: `*` any run of characters, `?` one (`admin_*`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Roles or scopes needed to list and call the tools.
    #[serde(default)]
    pub roles: RolesSettings,
    /// A request limit per tool (and key), charged per `tools/call`.
    #[serde(default)]
    pub rate_limit: Option<ToolLimitSettings>,
    /// The schema arguments must satisfy; overrides the one learned from the server.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// The pinned fingerprint (SHA-256 hex of name, description and schema).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Redaction entities for this tool's results (overrides the route's profile).
    #[serde(default)]
    pub redact_entities: Option<Vec<String>>,
    /// Injection screening of this tool's results (overrides `results.injection`).
    #[serde(default)]
    pub result_injection: Option<Check>,
}

/// A per-tool request limit, built on the rate limiter's token buckets.
/// The key part `route` means the tool name here.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ToolLimitSettings {
    /// Key parts, as in `rate_limit.policies[].key`.
    pub key: Vec<crate::rate_limit::KeyPartSettings>,
    /// Bucket size.
    pub capacity: u64,
    /// Refill rate.
    pub refill: RefillSettings,
    /// Count what would be limited but admit it.
    #[serde(default)]
    pub monitor: bool,
}

/// `tools/call` argument checks.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ArgumentSettings {
    /// Check arguments against the tool's input schema.
    pub validate: bool,
    /// Screen string arguments with the prompt screening rules: `block`
    /// follows each rule's own action, `monitor` only flags.
    pub screening: Check,
}

impl Default for ArgumentSettings {
    fn default() -> Self {
        Self {
            validate: true,
            screening: Check::Block,
        }
    }
}

/// Catalog pinning.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct PinningSettings {
    /// `block`: a changed tool is hidden and its calls refused; `monitor`: flagged.
    pub mode: Check,
    /// Pin a tool's fingerprint the first time the server lists it.
    pub learn: bool,
    /// Hide tools that have no pin from `tools/list`.
    pub strip_unpinned: bool,
    /// Most tools pinned per server (shared data is bounded).
    pub max_tools: usize,
}

impl Default for PinningSettings {
    fn default() -> Self {
        Self {
            mode: Check::Monitor,
            learn: true,
            strip_unpinned: false,
            max_tools: 256,
        }
    }
}

/// `tools/call` result screening.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ResultSettings {
    /// Indirect-injection screening of result text.
    pub injection: Check,
    /// Redact PII and secrets in result text with the route's redaction profile.
    pub redact: bool,
}

impl Default for ResultSettings {
    fn default() -> Self {
        Self {
            injection: Check::Monitor,
            redact: true,
        }
    }
}
