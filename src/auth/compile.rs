//! Validation of [`AuthSettings`] into the compiled form: every key decoded,
//! every name checked, every error naming its field.

use std::collections::HashSet;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::extract::TokenSource;
use super::jwks;
use super::keys::{Alg, Key};
use super::settings::{
    AuthSettings, HmacKeySettings, ProviderSettings, RemoteJwksSettings, TokenSourceSettings,
};
use super::{Provider, RemoteJwks};
use crate::error::ConfigError;

/// Bounds on `max_token_bytes`: below this no real JWT fits, above it a
/// header is not the place for the credential.
const MIN_TOKEN_BYTES: usize = 64;
const MAX_TOKEN_BYTES: usize = 65_536;
/// Skew beyond this is a broken clock, not tolerance.
const MAX_SKEW_S: u64 = 600;
const MAX_CACHE_ENTRIES: usize = 100_000;

/// Headers a claim may never be forwarded into: they carry credentials,
/// routing or framing that the upstream must get from the client or Envoy.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "cookie",
    "set-cookie",
    "expect",
];

const STANDARD_INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The compiled pieces of [`super::Auth`] other than the providers.
pub(super) struct Compiled {
    pub providers: Vec<Provider>,
    pub sources: Vec<TokenSource>,
    pub forwarded: Vec<String>,
    pub upstream_credential: Option<(String, String)>,
}

pub(super) fn compile(settings: &AuthSettings, path: &str) -> Result<Compiled, ConfigError> {
    check_limits(settings, path)?;
    let sources = settings
        .token_sources
        .iter()
        .enumerate()
        .map(|(i, s)| token_source(s, &format!("{path}.token_sources[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let (providers, forwarded) = providers(settings, path)?;
    let upstream_credential = match &settings.upstream_credential {
        None => None,
        Some(c) => Some(upstream_credential(
            c,
            &format!("{path}.upstream_credential"),
        )?),
    };
    Ok(Compiled {
        providers,
        sources,
        forwarded,
        upstream_credential,
    })
}

/// The top-level bounds: token size, cache size, role claims, token sources.
fn check_limits(settings: &AuthSettings, path: &str) -> Result<(), ConfigError> {
    if !(MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&settings.max_token_bytes) {
        return Err(ConfigError::new(
            format!("{path}.max_token_bytes"),
            format!("must be between {MIN_TOKEN_BYTES} and {MAX_TOKEN_BYTES}"),
        ));
    }
    if settings.cache.max_entries > MAX_CACHE_ENTRIES {
        return Err(ConfigError::new(
            format!("{path}.cache.max_entries"),
            format!("must be at most {MAX_CACHE_ENTRIES}"),
        ));
    }
    for (i, c) in settings.role_claims.iter().enumerate() {
        if c.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{path}.role_claims[{i}]"),
                "must not be empty",
            ));
        }
    }
    if settings.token_sources.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.token_sources"),
            "must name at least one source",
        ));
    }
    Ok(())
}

/// Every provider (names unique) and the union of the headers they forward
/// claims into, in first-seen order.
fn providers(
    settings: &AuthSettings,
    path: &str,
) -> Result<(Vec<Provider>, Vec<String>), ConfigError> {
    let mut providers: Vec<Provider> = Vec::with_capacity(settings.providers.len());
    let mut forwarded: Vec<String> = Vec::new();
    for (i, p) in settings.providers.iter().enumerate() {
        let at = format!("{path}.providers[{i}]");
        if providers.iter().any(|q| q.name == p.name) {
            return Err(ConfigError::new(
                format!("{at}.name"),
                format!("duplicate provider name `{}`", p.name),
            ));
        }
        let provider = provider(p, &at)?;
        for (_, header) in &provider.forward {
            if !forwarded.contains(header) {
                forwarded.push(header.clone());
            }
        }
        providers.push(provider);
    }
    Ok((providers, forwarded))
}

/// Validates the upstream credential and resolves its value (inline or
/// from the VM's environment, read once here).
fn upstream_credential(
    c: &super::settings::UpstreamCredentialSettings,
    at: &str,
) -> Result<(String, String), ConfigError> {
    let header = c.header.trim().to_ascii_lowercase();
    if header.is_empty()
        || header.starts_with(':')
        || !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ConfigError::new(
            format!("{at}.header"),
            "must be a header name (letters, digits, `-`, `_`)",
        ));
    }
    let value = match (&c.value, &c.value_env) {
        (Some(v), None) => v.clone(),
        (None, Some(name)) => std::env::var(name).map_err(|_| {
            ConfigError::new(
                format!("{at}.value_env"),
                format!("environment variable `{name}` is not set for the wasm vm"),
            )
        })?,
        _ => {
            return Err(ConfigError::new(
                at,
                "set exactly one of `value` and `value_env`",
            ))
        }
    };
    let value = format!("{}{}", c.prefix, value.trim());
    if value.trim().is_empty() || value.bytes().any(|b| b.is_ascii_control()) {
        return Err(ConfigError::new(
            at,
            "the value must be non-empty, without control characters",
        ));
    }
    Ok((header, value))
}

fn token_source(s: &TokenSourceSettings, at: &str) -> Result<TokenSource, ConfigError> {
    match (&s.header, &s.query) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            at,
            "set either `header` or `query`, not both",
        )),
        (None, None) => Err(ConfigError::new(
            at,
            "one of `header` or `query` is required",
        )),
        (Some(h), None) => {
            let name = h.to_ascii_lowercase();
            if !is_header_name(&name) {
                return Err(ConfigError::new(
                    format!("{at}.header"),
                    "is not a valid header name",
                ));
            }
            let prefix = s.prefix.clone().unwrap_or_default();
            if prefix.chars().any(|c| c.is_control()) {
                return Err(ConfigError::new(
                    format!("{at}.prefix"),
                    "must not contain control characters",
                ));
            }
            Ok(TokenSource::Header { name, prefix })
        }
        (None, Some(q)) => {
            if s.prefix.is_some() {
                return Err(ConfigError::new(
                    format!("{at}.prefix"),
                    "only applies to a `header` source",
                ));
            }
            if q.is_empty() || q.contains(['&', '=', '#', '?']) {
                return Err(ConfigError::new(
                    format!("{at}.query"),
                    "is not a valid query parameter name",
                ));
            }
            Ok(TokenSource::Query(q.clone()))
        }
    }
}

/// RFC 9110 token characters, lowercase only, no pseudo-headers.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn provider(p: &ProviderSettings, at: &str) -> Result<Provider, ConfigError> {
    check_provider_policy(p, at)?;
    let keys = static_keys(p, at)?;
    let remote = match &p.remote_jwks {
        Some(r) => Some(remote(r, &format!("{at}.remote_jwks"))?),
        None => None,
    };
    if keys.is_empty() && remote.is_none() {
        return Err(ConfigError::new(
            at,
            "needs at least one key source: `jwks`, `pem`, `hmac` or `remote_jwks`",
        ));
    }
    Ok(Provider {
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        audiences: p.audiences.iter().cloned().collect::<HashSet<_>>(),
        skew_s: p.clock_skew_s,
        require_exp: p.require_exp,
        max_lifetime_s: p.max_lifetime_s,
        required_claims: p.required_claims.clone(),
        keys,
        remote,
        forward: forward_claims(p, at)?,
    })
}

/// Name, issuer, audiences, skew, lifetime and required claims.
fn check_provider_policy(p: &ProviderSettings, at: &str) -> Result<(), ConfigError> {
    let field = |f: &str| format!("{at}.{f}");
    if p.name.trim().is_empty() {
        return Err(ConfigError::new(field("name"), "must not be empty"));
    }
    if p.issuer.trim().is_empty() {
        return Err(ConfigError::new(field("issuer"), "must not be empty"));
    }
    if p.audiences.is_empty() {
        return Err(ConfigError::new(
            field("audiences"),
            "must list at least one audience",
        ));
    }
    for (j, a) in p.audiences.iter().enumerate() {
        if a.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.audiences[{j}]"),
                "must not be empty",
            ));
        }
    }
    if p.clock_skew_s > MAX_SKEW_S {
        return Err(ConfigError::new(
            field("clock_skew_s"),
            format!("must be at most {MAX_SKEW_S}"),
        ));
    }
    if p.max_lifetime_s == Some(0) {
        return Err(ConfigError::new(
            field("max_lifetime_s"),
            "must be greater than 0",
        ));
    }
    for (j, c) in p.required_claims.iter().enumerate() {
        if c.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.required_claims[{j}]"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

/// The keys given in the configuration (`jwks`, `pem`, `hmac`), kids unique.
fn static_keys(p: &ProviderSettings, at: &str) -> Result<Vec<Key>, ConfigError> {
    let mut keys: Vec<Key> = Vec::new();
    if let Some(doc) = &p.jwks {
        let parsed = jwks::parse_strict(doc).map_err(|e| {
            let sub = if e.field.is_empty() {
                String::new()
            } else {
                format!(".{}", e.field)
            };
            ConfigError::new(format!("{at}.jwks{sub}"), e.reason)
        })?;
        for (j, k) in parsed.into_iter().enumerate() {
            push_unique(&mut keys, k, || format!("{at}.jwks.keys[{j}].kid"))?;
        }
    }
    for (j, entry) in p.pem.iter().enumerate() {
        let alg = parse_alg(&entry.alg, &format!("{at}.pem[{j}].alg"))?;
        let key = Key::from_pem(entry.kid.clone(), alg, &entry.pem)
            .map_err(|r| ConfigError::new(format!("{at}.pem[{j}].pem"), r))?;
        push_unique(&mut keys, key, || format!("{at}.pem[{j}].kid"))?;
    }
    for (j, entry) in p.hmac.iter().enumerate() {
        let key = hmac_key(entry, &format!("{at}.hmac[{j}]"))?;
        push_unique(&mut keys, key, || format!("{at}.hmac[{j}].kid"))?;
    }
    Ok(keys)
}

/// One `hmac` entry: an HS* algorithm and a standard or URL-safe base64 secret.
fn hmac_key(entry: &HmacKeySettings, at: &str) -> Result<Key, ConfigError> {
    let alg = parse_alg(&entry.alg, &format!("{at}.alg"))?;
    if !alg.is_hmac() {
        return Err(ConfigError::new(
            format!("{at}.alg"),
            "must be HS256, HS384 or HS512",
        ));
    }
    let secret_text = entry.secret_base64.trim();
    let secret = STANDARD_INDIFFERENT
        .decode(secret_text)
        .or_else(|_| URL_SAFE_INDIFFERENT.decode(secret_text))
        .map_err(|_| ConfigError::new(format!("{at}.secret_base64"), "is not valid base64"))?;
    Key::from_secret(entry.kid.clone(), alg, &secret)
        .map_err(|r| ConfigError::new(format!("{at}.secret_base64"), r))
}

/// `forward_claims`: each claim into its own valid, unreserved header.
fn forward_claims(p: &ProviderSettings, at: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut forward: Vec<(String, String)> = Vec::with_capacity(p.forward_claims.len());
    for (j, f) in p.forward_claims.iter().enumerate() {
        if f.claim.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.forward_claims[{j}].claim"),
                "must not be empty",
            ));
        }
        let hat = format!("{at}.forward_claims[{j}].header");
        if !is_header_name(&f.header) {
            return Err(ConfigError::new(
                hat,
                "must be a valid lowercase header name",
            ));
        }
        if RESERVED_HEADERS.contains(&f.header.as_str()) || f.header.starts_with("x-envoy-") {
            return Err(ConfigError::new(
                hat,
                format!("`{}` is reserved and cannot carry a claim", f.header),
            ));
        }
        if forward.iter().any(|(_, h)| *h == f.header) {
            return Err(ConfigError::new(
                hat,
                format!("`{}` is already forwarded", f.header),
            ));
        }
        forward.push((f.claim.clone(), f.header.clone()));
    }
    Ok(forward)
}

fn parse_alg(name: &str, at: &str) -> Result<Alg, ConfigError> {
    Alg::from_name(name).ok_or_else(|| {
        ConfigError::new(
            at,
            format!("unsupported algorithm `{name}` (HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)"),
        )
    })
}

/// Two static keys with one `kid` would make the lookup ambiguous.
fn push_unique(keys: &mut Vec<Key>, key: Key, at: impl Fn() -> String) -> Result<(), ConfigError> {
    if let Some(kid) = &key.kid {
        if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
            return Err(ConfigError::new(at(), format!("duplicate key id `{kid}`")));
        }
    }
    keys.push(key);
    Ok(())
}

fn remote(r: &RemoteJwksSettings, at: &str) -> Result<RemoteJwks, ConfigError> {
    if r.cluster.trim().is_empty() {
        return Err(ConfigError::new(
            format!("{at}.cluster"),
            "must not be empty",
        ));
    }
    if !r.path.starts_with('/') {
        return Err(ConfigError::new(
            format!("{at}.path"),
            "must start with `/`",
        ));
    }
    if !(1..=60_000).contains(&r.timeout_ms) {
        return Err(ConfigError::new(
            format!("{at}.timeout_ms"),
            "must be between 1 and 60000",
        ));
    }
    if r.refresh_interval_s < 1 {
        return Err(ConfigError::new(
            format!("{at}.refresh_interval_s"),
            "must be at least 1",
        ));
    }
    // At least one second: a finished fetch must rate-limit the next on-demand
    // one, or a token with an unknown `kid` could make the host fetch in a loop.
    if r.min_refetch_interval_s < 1 {
        return Err(ConfigError::new(
            format!("{at}.min_refetch_interval_s"),
            "must be at least 1",
        ));
    }
    let authority = r.authority.clone().unwrap_or_else(|| r.cluster.clone());
    if authority.is_empty() {
        return Err(ConfigError::new(
            format!("{at}.authority"),
            "must not be empty",
        ));
    }
    if let Some(scheme) = &r.scheme {
        if scheme != "http" && scheme != "https" {
            return Err(ConfigError::new(
                format!("{at}.scheme"),
                "must be `http` or `https`",
            ));
        }
    }
    Ok(RemoteJwks {
        scheme: r.scheme.clone(),
        cluster: r.cluster.clone(),
        path: r.path.clone(),
        authority,
        timeout_ms: r.timeout_ms,
        refresh_interval_s: r.refresh_interval_s,
        min_refetch_interval_s: r.min_refetch_interval_s,
    })
}
