//! Reading a compact JWS before any key is involved: our own header checks
//! (so we choose the error codes, and `alg: none`, `crit` and unknown
//! algorithms never reach a verifier) and the claims we need to pick the
//! provider and key. Nothing read here is trusted until a key verified it.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::AuthError;
use super::keys::Alg;

/// Encoded headers larger than this are refused: a JWS header is a few
/// dozen bytes; `x5c` chains are the only legitimate bulk.
pub const MAX_HEADER_B64: usize = 4096;

/// 9999-12-31T23:59:59Z: later numeric dates are nonsense (and would
/// overflow millisecond arithmetic).
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// What we read from a token before verifying it.
#[derive(Debug)]
pub struct Unverified {
    /// The header `alg`, known to be supported.
    pub alg: Alg,
    /// The header `kid`.
    pub kid: Option<String>,
    /// The payload claims.
    pub claims: Map<String, Value>,
    /// `iss`, when a string.
    pub issuer: Option<String>,
    /// `exp`, whole seconds.
    pub exp: Option<u64>,
    /// `nbf`, whole seconds.
    pub nbf: Option<u64>,
    /// `iat`, whole seconds.
    pub iat: Option<u64>,
    /// An ECDSA signature whose `s` is above n/2 (see `ecdsa.rs`).
    pub high_s: bool,
}

/// Splits and decodes a token, checking the header.
pub fn read(token: &str, max_bytes: usize) -> Result<Unverified, AuthError> {
    if token.len() > max_bytes {
        return Err(AuthError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "a token has three dot-separated parts",
        ));
    };
    if header_b64.len() > MAX_HEADER_B64 {
        return Err(AuthError::Malformed("the header is too large"));
    }
    let header = decode_object(header_b64)
        .ok_or(AuthError::Malformed("the header is not base64url json"))?;
    let alg_name = match header.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(AuthError::Malformed("the header has no `alg`")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(AuthError::UnsupportedAlg(
            "unsigned tokens (`none`) are never accepted",
        ));
    }
    let alg = Alg::from_name(alg_name).ok_or(AuthError::UnsupportedAlg("it is not supported"))?;
    // Any `crit`, even an empty list: we implement no extension, and an
    // empty list is itself invalid (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(AuthError::CritUnsupported);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(AuthError::Malformed("the header `kid` is not a string")),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("jwt") || ends_with_ignore_case(t, "+jwt") => {}
        Some(_) => return Err(AuthError::Malformed("the header type is not jwt")),
    }
    if signature_b64.is_empty() {
        return Err(AuthError::Malformed("the signature is missing"));
    }
    let claims = decode_object(payload_b64)
        .ok_or(AuthError::Malformed("the payload is not base64url json"))?;
    let issuer = match claims.get("iss") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(AuthError::Malformed("the `iss` claim is not a string")),
    };
    let exp = numeric_date(&claims, "exp")
        .map_err(|_| AuthError::Malformed("the `exp` claim is not a valid date"))?;
    let nbf = numeric_date(&claims, "nbf")
        .map_err(|_| AuthError::Malformed("the `nbf` claim is not a valid date"))?;
    let iat = numeric_date(&claims, "iat")
        .map_err(|_| AuthError::Malformed("the `iat` claim is not a valid date"))?;
    let high_s = matches!(alg, Alg::Es256 | Alg::Es384)
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature_b64)
            .is_ok_and(|sig| super::ecdsa::low_s_twin(alg, &sig).is_some());
    Ok(Unverified {
        alg,
        kid,
        claims,
        issuer,
        exp,
        nbf,
        iat,
        high_s,
    })
}

/// The `alg` of an encoded JWS header, when it is one we support.
pub fn header_alg(header_b64: &str) -> Option<Alg> {
    let header = decode_object(header_b64)?;
    Alg::from_name(header.get("alg")?.as_str()?)
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// A base64url JSON object whose member names are unique. `serde_json::Value`
/// keeps the last of duplicate names, so `{"roles":["user"],"roles":["admin"]}`
/// would read as admin here and maybe as user upstream: refuse instead.
fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice::<UniqueObject>(&bytes)
        .ok()
        .map(|o| o.0)
}

/// A JSON object that refuses duplicate member names (at its top level).
struct UniqueObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some(name) = a.next_key::<String>()? {
                    let value: Value = a.next_value()?;
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("duplicate member name"));
                    }
                    map.insert(name, value);
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative number of seconds, possibly
/// fractional (truncated, as jwt-simple does), no later than year 9999.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, ()> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let secs = v.as_f64().ok_or(())?;
    if !secs.is_finite() || !(0.0..=MAX_NUMERIC_DATE).contains(&secs) {
        return Err(());
    }
    // In range and finite: the cast cannot saturate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(secs.trunc() as u64))
}

/// Roles from the configured claims, in order: arrays of strings and
/// space-delimited strings (`scope`, `scp`); duplicates dropped.
pub fn roles(claims: &Map<String, Value>, role_claims: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: &str| {
        if !r.is_empty() && !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    for name in role_claims {
        match claims.get(name) {
            Some(Value::String(s)) => s.split_ascii_whitespace().for_each(&mut push),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
            _ => {}
        }
    }
    out
}

/// A claim as a header value: strings as is, numbers and booleans in JSON
/// form, arrays of strings comma-joined, anything else compact JSON.
/// `None` when the value holds control characters (header injection).
pub fn header_value(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    if text.chars().any(|c| c.is_control()) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, payload: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&payload))
    }

    #[test]
    fn alg_none_is_refused_in_any_case() {
        for alg in ["none", "None", "NONE"] {
            let t = format!("{}.{}.", b64(&json!({ "alg": alg })), b64(&json!({})));
            assert_eq!(
                read(&t, 8192).unwrap_err().code(),
                "jwt_unsupported_alg",
                "{alg}"
            );
        }
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        for alg in ["HS1", "ES256K", "RSA-OAEP", ""] {
            let t = token(json!({ "alg": alg }), json!({}));
            assert_eq!(
                read(&t, 8192).unwrap_err().code(),
                "jwt_unsupported_alg",
                "{alg}"
            );
        }
    }

    #[test]
    fn any_crit_header_is_refused_even_empty() {
        for crit in [json!([]), json!(["b64"]), json!("x")] {
            let t = token(json!({"alg": "ES256", "crit": crit}), json!({}));
            assert_eq!(read(&t, 8192).unwrap_err(), AuthError::CritUnsupported);
        }
    }

    #[test]
    fn structural_problems_are_malformed() {
        let good_header = b64(&json!({"alg": "ES256"}));
        let cases = [
            "abc".to_string(),
            "a.b".to_string(),
            "a.b.c.d".to_string(),
            format!("{good_header}.!!!.c2ln"),
            format!("{}.{}.c2ln", b64(&json!([1])), b64(&json!({}))),
            format!("{good_header}.{}.c2ln", b64(&json!("str"))),
            format!("{good_header}.{}.", b64(&json!({}))),
            token(json!({"alg": "ES256", "kid": 7}), json!({})),
            token(json!({"alg": "ES256", "typ": "dpop"}), json!({})),
            token(json!({}), json!({})),
            token(json!({"alg": "ES256"}), json!({"iss": 5})),
            format!(
                "{}.{}.c2ln",
                "e".repeat(MAX_HEADER_B64 + 1),
                b64(&json!({}))
            ),
        ];
        for t in cases {
            assert_eq!(
                read(&t, 1 << 20).unwrap_err().code(),
                "jwt_malformed",
                "{t}"
            );
        }
    }

    #[test]
    fn typ_jwt_and_explicit_jwt_subtypes_are_accepted() {
        for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
            assert!(
                read(&token(json!({"alg": "ES256", "typ": typ}), json!({})), 8192).is_ok(),
                "{typ}"
            );
        }
    }

    #[test]
    fn absurd_dates_are_malformed() {
        for exp in [
            json!(1e300),
            json!(-1),
            json!("1700000000"),
            json!(null),
            json!(253_402_300_800u64),
        ] {
            let t = token(json!({"alg": "ES256"}), json!({ "exp": exp }));
            assert_eq!(
                read(&t, 8192).unwrap_err(),
                AuthError::Malformed("the `exp` claim is not a valid date"),
                "{exp}"
            );
        }
    }

    #[test]
    fn fractional_dates_are_truncated() {
        let u = read(
            &token(
                json!({"alg": "ES256"}),
                json!({"exp": 1700000000.9, "nbf": 5, "iat": 4}),
            ),
            8192,
        )
        .unwrap();
        assert_eq!(
            (u.exp, u.nbf, u.iat),
            (Some(1_700_000_000), Some(5), Some(4))
        );
    }

    #[test]
    fn oversized_token_is_refused_before_parsing() {
        assert_eq!(
            read(&"a".repeat(101), 100).unwrap_err(),
            AuthError::TooLarge
        );
    }

    #[test]
    fn roles_come_from_arrays_and_space_delimited_strings() {
        let claims = json!({
            "roles": ["admin", "user", 3],
            "scope": "chat:write  user models:read",
            "scp": ["extra"],
        });
        let claims = claims.as_object().unwrap();
        let all = ["roles".to_string(), "scope".to_string(), "scp".to_string()];
        assert_eq!(
            roles(claims, &all),
            vec!["admin", "user", "chat:write", "models:read", "extra"]
        );
        assert_eq!(roles(claims, &["scp".to_string()]), vec!["extra"]);
        assert!(roles(claims, &["missing".to_string()]).is_empty());
    }

    #[test]
    fn header_values_refuse_control_characters() {
        assert_eq!(header_value(&json!("alice")).as_deref(), Some("alice"));
        assert_eq!(header_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(header_value(&json!(["a", "b"])).as_deref(), Some("a,b"));
        assert_eq!(
            header_value(&json!({"k": 1})).as_deref(),
            Some(r#"{"k":1}"#)
        );
        assert_eq!(header_value(&json!("a\r\nx-admin: 1")), None);
        assert_eq!(header_value(&json!(null)), None);
    }
}
