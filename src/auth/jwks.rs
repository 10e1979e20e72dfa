//! JWKS documents (RFC 7517): inline in the configuration or fetched remotely.
//!
//! Inline documents are strict: any unusable key is a configuration error
//! naming its field. Fetched documents are lenient: identity providers
//! publish encryption keys and algorithms we do not support next to the
//! signing keys we need, so unusable keys are skipped; a document with no
//! usable key at all is refused (and the previous keys are kept).
//!
//! Algorithm binding: a JWK's `alg` is honoured when present; without it,
//! EC keys take the algorithm of their curve, OKP Ed25519 keys take EdDSA and
//! RSA keys take RS256 (the common default; some providers, e.g. Azure AD,
//! omit `alg`). A PS* or RS384/RS512 RSA key must say so in `alg`.
//! `oct` (shared-secret) keys are accepted only inline and only with an HS* `alg`.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::Value;

use super::keys::{Alg, Key};

/// At most this many keys per document: a JWKS is a handful of keys, and
/// key lookup without `kid` is linear.
pub const MAX_KEYS: usize = 64;

/// Fetched documents larger than this are refused without parsing.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Base64url with or without padding (some JWKS publishers pad).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A problem with one key or the document: the field (relative, e.g.
/// `keys[1].n`) and a fixed-text reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError {
    /// Relative field path, e.g. `keys[1].crv`.
    pub field: String,
    /// Why it is unusable.
    pub reason: &'static str,
}

impl JwksError {
    fn new(field: impl Into<String>, reason: &'static str) -> Self {
        Self {
            field: field.into(),
            reason,
        }
    }
}

/// Parses an inline JWKS: every key must be usable.
pub fn parse_strict(doc: &Value) -> Result<Vec<Key>, JwksError> {
    let keys = key_array(doc)?;
    let mut out = Vec::with_capacity(keys.len());
    for (i, jwk) in keys.iter().enumerate() {
        let key = parse_jwk(jwk, true)
            .map_err(|(field, reason)| JwksError::new(format!("keys[{i}]{field}"), reason))?;
        out.push(key);
    }
    if out.is_empty() {
        return Err(JwksError::new("keys", "must contain at least one key"));
    }
    Ok(out)
}

/// Parses a fetched JWKS body: unusable keys are skipped, `oct` keys are
/// never taken from the network, and at least one usable key is required.
pub fn parse_remote(body: &[u8]) -> Result<Vec<Key>, JwksError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(JwksError::new("", "the document is too large"));
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| JwksError::new("", "the document is not json"))?;
    let keys = key_array(&doc)?;
    let usable: Vec<Key> = keys
        .iter()
        .filter_map(|jwk| parse_jwk(jwk, false).ok())
        .collect();
    if usable.is_empty() {
        return Err(JwksError::new("keys", "no usable signing key"));
    }
    Ok(usable)
}

fn key_array(doc: &Value) -> Result<&Vec<Value>, JwksError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| JwksError::new("", "must be a json object with a `keys` array"))?;
    let keys = obj
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwksError::new("keys", "must be an array of keys"))?;
    if keys.len() > MAX_KEYS {
        return Err(JwksError::new("keys", "has more than 64 keys"));
    }
    Ok(keys)
}

type JwkError = (String, &'static str);

fn field_err(name: &str, reason: &'static str) -> JwkError {
    (format!(".{name}"), reason)
}

fn opt_str<'a>(
    jwk: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, JwkError> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_err(name, "must be a string")),
    }
}

fn req_str<'a>(jwk: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, JwkError> {
    opt_str(jwk, name)?.ok_or_else(|| field_err(name, "is required"))
}

fn b64(jwk: &serde_json::Map<String, Value>, name: &str) -> Result<Vec<u8>, JwkError> {
    let text = req_str(jwk, name)?;
    B64URL
        .decode(text)
        .map_err(|_| field_err(name, "is not base64url"))
}

/// One JWK to a key bound to one algorithm.
fn parse_jwk(jwk: &Value, allow_oct: bool) -> Result<Key, JwkError> {
    let jwk = jwk
        .as_object()
        .ok_or_else(|| (String::new(), "must be a json object"))?;
    let kty = req_str(jwk, "kty")?;
    let kid = opt_str(jwk, "kid")?.map(str::to_string);
    if let Some(u) = opt_str(jwk, "use")? {
        if u != "sig" {
            return Err(field_err("use", "only signing keys (`sig`) are usable"));
        }
    }
    if jwk.contains_key("d") {
        return Err(field_err("d", "private key material must not be published"));
    }
    let alg = match opt_str(jwk, "alg")? {
        Some(name) => Some(
            Alg::from_name(name).ok_or_else(|| field_err("alg", "is not a supported algorithm"))?,
        ),
        None => None,
    };
    match kty {
        "RSA" => {
            let alg = alg.unwrap_or(Alg::Rs256);
            if !alg.is_rsa() {
                return Err(field_err("alg", "an rsa key can only verify RS* or PS*"));
            }
            let n = b64(jwk, "n")?;
            let e = b64(jwk, "e")?;
            Key::from_rsa_components(kid, alg, &n, &e).map_err(|r| field_err("n", r))
        }
        "EC" => {
            let curve_alg = match req_str(jwk, "crv")? {
                "P-256" => Alg::Es256,
                "P-384" => Alg::Es384,
                _ => return Err(field_err("crv", "only P-256 and P-384 are supported")),
            };
            if alg.is_some_and(|a| a != curve_alg) {
                return Err(field_err("alg", "does not match the curve"));
            }
            let x = b64(jwk, "x")?;
            let y = b64(jwk, "y")?;
            Key::from_ec_point(kid, curve_alg, &x, &y).map_err(|r| field_err("x", r))
        }
        "OKP" => {
            if req_str(jwk, "crv")? != "Ed25519" {
                return Err(field_err("crv", "only Ed25519 is supported"));
            }
            if alg.is_some_and(|a| a != Alg::EdDsa) {
                return Err(field_err("alg", "an Ed25519 key can only verify EdDSA"));
            }
            let x = b64(jwk, "x")?;
            Key::from_ed25519(kid, &x).map_err(|r| field_err("x", r))
        }
        "oct" => {
            if !allow_oct {
                return Err(field_err(
                    "kty",
                    "shared secrets are never taken from a fetched jwks",
                ));
            }
            let alg =
                alg.ok_or_else(|| field_err("alg", "an `oct` key must name its HS* algorithm"))?;
            if !alg.is_hmac() {
                return Err(field_err("alg", "an `oct` key can only verify HS*"));
            }
            let k = b64(jwk, "k")?;
            Key::from_secret(kid, alg, &k).map_err(|r| field_err("k", r))
        }
        _ => Err(field_err("kty", "must be RSA, EC, OKP or oct")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::prelude::*;
    use serde_json::json;

    fn enc(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn rsa_jwk() -> Value {
        let pk = RS256PublicKey::from_pem(super::super::testkeys::RSA_PUBLIC_PEM).unwrap();
        let c = pk.to_components();
        json!({"kty": "RSA", "kid": "r1", "n": enc(&c.n), "e": enc(&c.e)})
    }

    fn ec_jwk() -> Value {
        let kp = ES256KeyPair::generate();
        let point = kp.public_key().public_key().to_bytes_uncompressed();
        json!({"kty": "EC", "crv": "P-256", "kid": "e1", "x": enc(&point[1..33]), "y": enc(&point[33..65])})
    }

    fn okp_jwk() -> Value {
        let kp = Ed25519KeyPair::generate();
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "o1", "x": enc(&kp.public_key().to_bytes())})
    }

    #[test]
    fn rsa_ec_and_okp_keys_are_bound_to_their_algorithms() {
        let keys = parse_strict(&json!({"keys": [rsa_jwk(), ec_jwk(), okp_jwk()]})).unwrap();
        let got: Vec<(Option<&str>, Alg)> =
            keys.iter().map(|k| (k.kid.as_deref(), k.alg)).collect();
        assert_eq!(
            got,
            vec![
                (Some("r1"), Alg::Rs256),
                (Some("e1"), Alg::Es256),
                (Some("o1"), Alg::EdDsa)
            ]
        );
    }

    #[test]
    fn rsa_alg_is_honoured_when_given() {
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("PS384");
        let keys = parse_strict(&json!({ "keys": [jwk] })).unwrap();
        assert_eq!(keys[0].alg, Alg::Ps384);
    }

    #[test]
    fn an_rsa_key_can_never_become_an_hmac_key() {
        let mut jwk = rsa_jwk();
        jwk["alg"] = json!("HS256");
        let err = parse_strict(&json!({ "keys": [jwk] })).unwrap_err();
        assert_eq!(err.field, "keys[0].alg");
    }

    #[test]
    fn ec_alg_must_match_the_curve() {
        let mut jwk = ec_jwk();
        jwk["alg"] = json!("ES384");
        let err = parse_strict(&json!({ "keys": [jwk] })).unwrap_err();
        assert_eq!(
            err,
            JwksError::new("keys[0].alg", "does not match the curve")
        );
    }

    #[test]
    fn a_point_off_the_curve_is_refused() {
        let mut jwk = ec_jwk();
        jwk["y"] = json!(enc(&[7u8; 32]));
        let err = parse_strict(&json!({ "keys": [jwk] })).unwrap_err();
        assert_eq!(err.field, "keys[0].x");
    }

    #[test]
    fn inline_strict_errors_name_the_field() {
        let cases = [
            (json!({"keys": [{"kty": "RSA", "e": "AQAB"}]}), "keys[0].n"),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-521", "x": "", "y": ""}]}),
                "keys[0].crv",
            ),
            (json!({"keys": [{"kty": "XYZ"}]}), "keys[0].kty"),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!"}]}),
                "keys[0].x",
            ),
            (
                json!({"keys": [okp_jwk(), {"kty": "OKP", "crv": "Ed25519", "x": "AA", "use": "enc"}]}),
                "keys[1].use",
            ),
            (json!({"keys": []}), "keys"),
            (json!({"nokeys": []}), "keys"),
            (json!([]), ""),
        ];
        for (doc, field) in cases {
            let err = parse_strict(&doc).unwrap_err();
            assert_eq!(err.field, field, "{doc}");
        }
    }

    #[test]
    fn private_key_material_is_refused() {
        let mut jwk = okp_jwk();
        jwk["d"] = json!("AAAA");
        assert_eq!(
            parse_strict(&json!({ "keys": [jwk] })).unwrap_err().field,
            "keys[0].d"
        );
    }

    #[test]
    fn inline_oct_needs_an_hs_alg_and_a_long_secret() {
        let k = enc(&[1u8; 32]);
        let ok = parse_strict(&json!({"keys": [{"kty": "oct", "alg": "HS256", "k": k}]})).unwrap();
        assert_eq!(ok[0].alg, Alg::Hs256);
        let no_alg = parse_strict(&json!({"keys": [{"kty": "oct", "k": k}]})).unwrap_err();
        assert_eq!(no_alg.field, "keys[0].alg");
        let short =
            parse_strict(&json!({"keys": [{"kty": "oct", "alg": "HS512", "k": k}]})).unwrap_err();
        assert_eq!(short.field, "keys[0].k");
    }

    #[test]
    fn remote_documents_skip_unusable_keys() {
        let doc = json!({"keys": [
            {"kty": "RSA", "use": "enc", "n": "AA", "e": "AQAB"},
            {"kty": "oct", "alg": "HS256", "k": enc(&[1u8; 32])},
            {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
            okp_jwk(),
        ]});
        let keys = parse_remote(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].alg, Alg::EdDsa);
    }

    #[test]
    fn remote_documents_without_usable_keys_are_refused() {
        let doc = json!({"keys": [{"kty": "oct", "alg": "HS256", "k": enc(&[1u8; 32])}]});
        assert_eq!(
            parse_remote(doc.to_string().as_bytes()).unwrap_err().reason,
            "no usable signing key"
        );
        assert_eq!(
            parse_remote(b"<html>").unwrap_err().reason,
            "the document is not json"
        );
        assert_eq!(
            parse_remote(&vec![b' '; MAX_DOCUMENT_BYTES + 1])
                .unwrap_err()
                .reason,
            "the document is too large"
        );
    }

    #[test]
    fn too_many_keys_are_refused() {
        let keys: Vec<Value> = (0..=MAX_KEYS).map(|_| okp_jwk()).collect();
        assert_eq!(
            parse_strict(&json!({ "keys": keys })).unwrap_err().field,
            "keys"
        );
    }
}
