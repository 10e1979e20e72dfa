//! Authentication settings as the operator writes them (before validation).
//!
//! Every struct denies unknown fields; defaults live in `impl Default`.
//! [`super::Auth::compile`] validates these and decodes every key.

use serde::Deserialize;

/// The `auth` section of the configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Token issuers whose tokens are accepted.
    pub providers: Vec<ProviderSettings>,
    /// Where to look for the token, in order; the first source carrying one wins.
    pub token_sources: Vec<TokenSourceSettings>,
    /// Tokens longer than this are refused before any parsing.
    pub max_token_bytes: usize,
    /// Remove the `authorization` header before forwarding (legacy; see `forward_token`).
    pub strip_authorization: bool,
    /// Forward the client's token upstream. Off by default: every header
    /// token source is removed from an authenticated request, so a user's
    /// JWT never reaches the model API.
    pub forward_token: bool,
    /// A credential of the filter's own for the upstream (a model API key).
    pub upstream_credential: Option<UpstreamCredentialSettings>,
    /// High-S ECDSA signatures: `normalize` (default) or `reject`.
    pub ecdsa_high_s: super::ecdsa::HighS,
    /// Claims read as roles / scopes, in order. Arrays of strings and
    /// space-delimited strings (OAuth `scope`) are both understood.
    pub role_claims: Vec<String>,
    /// The per-worker verified-token cache.
    pub cache: CacheSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            token_sources: vec![TokenSourceSettings {
                header: Some("authorization".to_string()),
                prefix: Some("Bearer ".to_string()),
                query: None,
            }],
            max_token_bytes: 8192,
            strip_authorization: false,
            forward_token: false,
            upstream_credential: None,
            ecdsa_high_s: super::ecdsa::HighS::Normalize,
            role_claims: vec!["roles".to_string(), "scope".to_string(), "scp".to_string()],
            cache: CacheSettings::default(),
        }
    }
}

/// One place a token may be found: a header (with an optional prefix such as
/// `Bearer `, matched case-insensitively) or a query parameter.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSourceSettings {
    /// Header name (case-insensitive).
    pub header: Option<String>,
    /// Prefix the header value must start with (case-insensitive); stripped.
    pub prefix: Option<String>,
    /// Query parameter name.
    pub query: Option<String>,
}

/// The verified-token cache.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Maximum number of cached tokens per worker; 0 disables the cache.
    pub max_entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { max_entries: 1024 }
    }
}

/// One token issuer and the keys that sign its tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique name, used by routes (`providers: [...]`), logs and metrics.
    pub name: String,
    /// Exact `iss` value of this provider's tokens.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry at least one of them.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_clock_skew_s")]
    pub clock_skew_s: u64,
    /// Refuse tokens without `exp` (the default).
    #[serde(default = "default_true")]
    pub require_exp: bool,
    /// Upper bound on `exp - iat` (or `exp - now` without `iat`), in seconds.
    #[serde(default)]
    pub max_lifetime_s: Option<u64>,
    /// Claims that must be present and non-null.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// An inline JWKS document: `{"keys": [...]}`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Public keys in SPKI PEM form.
    #[serde(default)]
    pub pem: Vec<PemKeySettings>,
    /// Shared secrets for HS256 / HS384 / HS512.
    #[serde(default)]
    pub hmac: Vec<HmacKeySettings>,
    /// A JWKS fetched by the host from an Envoy cluster.
    #[serde(default)]
    pub remote_jwks: Option<RemoteJwksSettings>,
    /// Claims copied into upstream request headers once the token is verified.
    #[serde(default)]
    pub forward_claims: Vec<ForwardClaimSettings>,
}

fn default_clock_skew_s() -> u64 {
    60
}

fn default_true() -> bool {
    true
}

/// A public key in PEM form, bound to one algorithm.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemKeySettings {
    /// Key id matched against the token's `kid` header.
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm this key verifies (RS*, PS*, ES256, ES384, EdDSA).
    pub alg: String,
    /// `-----BEGIN PUBLIC KEY-----` text.
    pub pem: String,
}

/// A shared secret, bound to one HMAC algorithm.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacKeySettings {
    /// Key id matched against the token's `kid` header.
    #[serde(default)]
    pub kid: Option<String>,
    /// HS256, HS384 or HS512.
    pub alg: String,
    /// The secret, base64 (standard or url-safe, padding optional).
    pub secret_base64: String,
}

/// Where the host fetches a provider's JWKS from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwksSettings {
    /// Envoy cluster serving the JWKS.
    pub cluster: String,
    /// Request path.
    #[serde(default = "default_jwks_path")]
    pub path: String,
    /// `:authority` / Host header; defaults to the cluster name.
    #[serde(default)]
    pub authority: Option<String>,
    /// Fetch timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Periodic refresh interval.
    #[serde(default = "default_refresh_interval_s")]
    pub refresh_interval_s: u64,
    /// Minimum time between on-demand fetches (an unknown `kid`), so tokens
    /// with made-up key ids cannot turn the filter into a JWKS-server flooder.
    #[serde(default = "default_min_refetch_interval_s")]
    pub min_refetch_interval_s: u64,
    /// `:scheme` sent with the fetch (`http` or `https`). Envoy takes TLS from
    /// the cluster and needs none; Kong uses it to choose TLS.
    #[serde(default)]
    pub scheme: Option<String>,
}

fn default_jwks_path() -> String {
    "/.well-known/jwks.json".to_string()
}

fn default_timeout_ms() -> u64 {
    2000
}

fn default_refresh_interval_s() -> u64 {
    300
}

fn default_min_refetch_interval_s() -> u64 {
    10
}

/// Copy one claim into one upstream request header.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ForwardClaimSettings {
    /// Top-level claim name, e.g. `sub`.
    pub claim: String,
    /// Lowercase header name, e.g. `x-tollgate-sub`.
    pub header: String,
}

/// A header the filter sets on every forwarded request: the upstream's own
/// credential. Exactly one of `value` and `value_env`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCredentialSettings {
    /// Lowercase header name, e.g. `authorization` or `x-api-key`.
    pub header: String,
    /// The value, inline.
    #[serde(default)]
    pub value: Option<String>,
    /// An environment variable of the Wasm VM holding the value (Envoy:
    /// `vm_config.environment_variables`), read once at configuration.
    #[serde(default)]
    pub value_env: Option<String>,
    /// Text put before the value, e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}
