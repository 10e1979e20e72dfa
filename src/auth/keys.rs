//! Verification keys, each bound to exactly one algorithm.
//!
//! Binding is what makes algorithm confusion impossible: a key is only ever
//! asked to verify tokens whose header `alg` is the key's own algorithm, and
//! an HMAC key can only come from an `hmac` entry (or an `oct` JWK that names
//! an HS algorithm), never from an RSA / EC / OKP public key.

use std::collections::HashSet;
use std::fmt;

use jwt_simple::prelude::*;
use jwt_simple::JWTError;

use super::error::AuthError;
use super::es256::Es256Public;
use super::rsa::{Hash, RsaPublic};

/// A supported JWS algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC SHA-256.
    Hs256,
    /// HMAC SHA-384.
    Hs384,
    /// HMAC SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    Rs512,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Parses a JOSE algorithm name. `Ed25519` (RFC 9864) is an alias of `EdDSA`.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" | "Ed25519" => Alg::EdDsa,
            _ => return None,
        })
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// True for the HMAC family.
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::Hs256 | Alg::Hs384 | Alg::Hs512)
    }

    /// True for RS* and PS*.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512
        )
    }

    /// Minimum HMAC secret length: the hash output size (RFC 7518 §3.2).
    pub fn min_secret_len(self) -> usize {
        match self {
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 32,
        }
    }
}

/// The decoded key material, one variant per algorithm.
#[derive(Clone)]
enum Verifier {
    Hs256(HS256Key),
    Hs384(HS384Key),
    Hs512(HS512Key),
    /// RS* (PKCS#1 v1.5) and PS* (PSS): our own verifier, see `rsa.rs`.
    Rsa {
        key: Box<RsaPublic>,
        hash: Hash,
        pss: bool,
    },
    /// Our table-driven verifier, see `es256.rs`.
    Es256(Es256Public),
    Es384(ES384PublicKey),
    EdDsa(Ed25519PublicKey),
}

/// A verification key bound to one algorithm.
#[derive(Clone)]
pub struct Key {
    /// Key id, matched against the token's `kid`.
    pub kid: Option<String>,
    /// The only algorithm this key verifies.
    pub alg: Alg,
    verifier: Verifier,
    /// Identifies the key material (alg, kid, public components) so a JWKS
    /// refresh can tell whether the key set changed. Empty for HMAC keys.
    pub fingerprint: String,
}

impl fmt::Debug for Key {
    // Never print key material (HMAC secrets in particular).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Why a key could not be built (fixed text, no key material).
pub type KeyError = &'static str;

impl Key {
    /// A public key from SPKI PEM text (`-----BEGIN PUBLIC KEY-----`); RSA keys
    /// may also be PKCS#1 (`-----BEGIN RSA PUBLIC KEY-----`).
    pub fn from_pem(kid: Option<String>, alg: Alg, pem: &str) -> Result<Key, KeyError> {
        let pem = pem.trim();
        let bad = |_| "is not a valid public key pem for this algorithm";
        let verifier = match alg {
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => {
                return Err("hmac keys belong in `hmac`, not `pem`")
            }
            // jwt-simple parses the PEM and applies its key policy (2048 to
            // 4096 bits, e = 65537); the components go to our verifier.
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                let c = RS256PublicKey::from_pem(pem).map_err(bad)?.to_components();
                rsa_verifier(alg, &c.n, &c.e)?
            }
            Alg::Es256 => {
                let pk = ES256PublicKey::from_pem(pem).map_err(bad)?;
                es256_verifier(&pk.to_bytes())?
            }
            Alg::Es384 => Verifier::Es384(ES384PublicKey::from_pem(pem).map_err(bad)?),
            Alg::EdDsa => Verifier::EdDsa(Ed25519PublicKey::from_pem(pem).map_err(bad)?),
        };
        let fingerprint = format!("{}|{}|{}", alg.name(), kid.as_deref().unwrap_or(""), pem);
        Ok(Key {
            kid,
            alg,
            verifier,
            fingerprint,
        })
    }

    /// An HMAC key from the raw secret. Secrets shorter than the hash output are refused.
    pub fn from_secret(kid: Option<String>, alg: Alg, secret: &[u8]) -> Result<Key, KeyError> {
        if secret.is_empty() {
            return Err("must not be empty");
        }
        if secret.len() < alg.min_secret_len() {
            return Err(match alg {
                Alg::Hs384 => "must be at least 48 bytes for HS384",
                Alg::Hs512 => "must be at least 64 bytes for HS512",
                _ => "must be at least 32 bytes for HS256",
            });
        }
        let verifier = match alg {
            Alg::Hs256 => Verifier::Hs256(HS256Key::from_bytes(secret)),
            Alg::Hs384 => Verifier::Hs384(HS384Key::from_bytes(secret)),
            Alg::Hs512 => Verifier::Hs512(HS512Key::from_bytes(secret)),
            _ => return Err("only HS256, HS384 and HS512 use a shared secret"),
        };
        Ok(Key {
            kid,
            alg,
            verifier,
            fingerprint: String::new(),
        })
    }

    /// An RSA public key from its big-endian modulus and exponent.
    pub fn from_rsa_components(
        kid: Option<String>,
        alg: Alg,
        n: &[u8],
        e: &[u8],
    ) -> Result<Key, KeyError> {
        let bad = |_| "is not a usable rsa public key (2048 to 4096 bits, e = 65537)";
        if n.is_empty() || e.is_empty() {
            return Err("rsa modulus and exponent must not be empty");
        }
        if !alg.is_rsa() {
            return Err("an rsa key can only verify RS* or PS* algorithms");
        }
        // jwt-simple's key policy first, then our verifier.
        RS256PublicKey::from_components(n, e).map_err(bad)?;
        let verifier = rsa_verifier(alg, n, e)?;
        let fingerprint = fingerprint(alg, kid.as_deref(), &[n, e]);
        Ok(Key {
            kid,
            alg,
            verifier,
            fingerprint,
        })
    }

    /// An EC public key (ES256 on P-256, ES384 on P-384) from its affine coordinates.
    pub fn from_ec_point(
        kid: Option<String>,
        alg: Alg,
        x: &[u8],
        y: &[u8],
    ) -> Result<Key, KeyError> {
        let size = match alg {
            Alg::Es256 => 32,
            Alg::Es384 => 48,
            _ => return Err("an ec key can only verify ES256 or ES384"),
        };
        if x.len() != size || y.len() != size {
            return Err("ec coordinates have the wrong length for the curve");
        }
        // SEC1 uncompressed point: 0x04 || x || y.
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(4u8);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let bad = |_| "is not a point on the curve";
        let verifier = match alg {
            Alg::Es256 => {
                ES256PublicKey::from_bytes(&point).map_err(bad)?;
                es256_verifier(&point)?
            }
            _ => Verifier::Es384(ES384PublicKey::from_bytes(&point).map_err(bad)?),
        };
        let fingerprint = fingerprint(alg, kid.as_deref(), &[x, y]);
        Ok(Key {
            kid,
            alg,
            verifier,
            fingerprint,
        })
    }

    /// An Ed25519 public key from its 32 raw bytes.
    pub fn from_ed25519(kid: Option<String>, x: &[u8]) -> Result<Key, KeyError> {
        if x.len() != 32 {
            return Err("an ed25519 public key is 32 bytes");
        }
        let pk =
            Ed25519PublicKey::from_bytes(x).map_err(|_| "is not a valid ed25519 public key")?;
        let fingerprint = fingerprint(Alg::EdDsa, kid.as_deref(), &[x]);
        Ok(Key {
            kid,
            alg: Alg::EdDsa,
            verifier: Verifier::EdDsa(pk),
            fingerprint,
        })
    }

    /// Checks the signature and the standard claims with jwt-simple.
    ///
    /// `options` must come from [`Key::options`]: jwt-simple's defaults are not a policy.
    pub fn verify(&self, token: &str, options: &VerificationOptions) -> Result<(), VerifyFailure> {
        let opts = Some(options.clone());
        let result = match &self.verifier {
            Verifier::Hs256(k) => k.verify_token::<NoCustomClaims>(token, opts).map(drop),
            Verifier::Hs384(k) => k.verify_token::<NoCustomClaims>(token, opts).map(drop),
            Verifier::Hs512(k) => k.verify_token::<NoCustomClaims>(token, opts).map(drop),
            Verifier::Rsa { key, hash, pss } => {
                return signature_then_claims(token, options, |input, sig| {
                    if *pss {
                        key.verify_pss(*hash, &[input], sig)
                    } else {
                        key.verify_pkcs1(*hash, &[input], sig)
                    }
                })
            }
            Verifier::Es256(key) => {
                return signature_then_claims(token, options, |input, sig| key.verify(input, sig))
            }
            Verifier::Es384(k) => k.verify_token::<NoCustomClaims>(token, opts).map(drop),
            Verifier::EdDsa(k) => k.verify_token::<NoCustomClaims>(token, opts).map(drop),
        };
        result.map_err(|err| classify(&err))
    }

    /// jwt-simple options that enforce our policy rather than its defaults
    /// (15 min skew, 1 MB tokens, the wall clock).
    pub fn options(
        issuer: &str,
        audiences: &HashSet<String>,
        skew_s: u64,
        max_token_bytes: usize,
        now_ms: u64,
    ) -> VerificationOptions {
        VerificationOptions {
            allowed_issuers: Some(HashSet::from([issuer.to_string()])),
            allowed_audiences: Some(audiences.clone()),
            time_tolerance: Some(Duration::from_secs(skew_s)),
            max_token_length: Some(max_token_bytes),
            artificial_time: Some(UnixTimeStamp::from_millis(now_ms)),
            ..VerificationOptions::default()
        }
    }
}

/// The ES256 verifier for a SEC1 point jwt-simple accepted.
fn es256_verifier(sec1: &[u8]) -> Result<Verifier, KeyError> {
    Es256Public::new(sec1)
        .map(Verifier::Es256)
        .ok_or("is not a point on the curve")
}

/// The RS*/PS* verifier for big-endian `n` and `e` (already past jwt-simple's key policy).
fn rsa_verifier(alg: Alg, n: &[u8], e: &[u8]) -> Result<Verifier, KeyError> {
    let (hash, pss) = match alg {
        Alg::Rs256 => (Hash::Sha256, false),
        Alg::Rs384 => (Hash::Sha384, false),
        Alg::Rs512 => (Hash::Sha512, false),
        Alg::Ps256 => (Hash::Sha256, true),
        Alg::Ps384 => (Hash::Sha384, true),
        Alg::Ps512 => (Hash::Sha512, true),
        _ => return Err("an rsa key can only verify RS* or PS* algorithms"),
    };
    let key = RsaPublic::new(n, e)
        .ok_or("is not a usable rsa public key (2048 to 4096 bits, e = 65537)")?;
    Ok(Verifier::Rsa {
        key: Box::new(key),
        hash,
        pss,
    })
}

/// Checks the signature with `check(signing input, signature bytes)`, then
/// the claims as jwt-simple would ([`claims_as_jwt_simple`]).
fn signature_then_claims(
    token: &str,
    options: &VerificationOptions,
    check: impl FnOnce(&[u8], &[u8]) -> bool,
) -> Result<(), VerifyFailure> {
    use base64::Engine as _;
    let malformed =
        || VerifyFailure::Refused(AuthError::Malformed("the token could not be decoded"));
    // jwt-simple's typed header first, as its own verify does: a header it
    // cannot decode (an embedded `jwk` object, say) is malformed whatever
    // the signature.
    jwt_simple::token::Token::decode_metadata(token).map_err(|err| classify(&err))?;
    let (signing_input, sig_b64) = token.rsplit_once('.').ok_or_else(malformed)?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| malformed())?;
    if !check(signing_input.as_bytes(), &sig) {
        return Err(VerifyFailure::Signature);
    }
    claims_as_jwt_simple(signing_input, options)
}

/// What jwt-simple 0.15's `verify_token` does with the payload once the
/// signature verified: its own base64url decoder, its typed `JWTClaims`
/// (claim types, duplicate names), then its claim checks with `options`
/// (`JWTClaims::validate`, which is crate-private, so restated here in
/// the same order with the same errors; `claims_match_jwt_simple` in the
/// tests holds the two together). It used to run by re-sealing the token as
/// HS256 under an internal key and calling jwt-simple's HS256 verifier: two
/// HMACs and a header re-encoding, about a fifth of an uncached RS256
/// verification in Wasm.
fn claims_as_jwt_simple(
    signing_input: &str,
    options: &VerificationOptions,
) -> Result<(), VerifyFailure> {
    let malformed =
        || VerifyFailure::Refused(AuthError::Malformed("the token could not be decoded"));
    let (_, payload_b64) = signing_input.split_once('.').ok_or_else(malformed)?;
    let payload =
        Base64UrlSafeNoPadding::decode_to_vec(payload_b64, None).map_err(|_| malformed())?;
    let claims: JWTClaims<NoCustomClaims> =
        serde_json::from_slice(&payload).map_err(|_| malformed())?;
    validate_claims(&claims, options).map_err(|e| classify(&jwt_simple::Error::from(e)))
}

/// jwt-simple 0.15's `JWTClaims::validate`, check for check.
fn validate_claims<C>(
    claims: &JWTClaims<C>,
    options: &VerificationOptions,
) -> Result<(), JWTError> {
    let now = options
        .artificial_time
        .unwrap_or_else(Clock::now_since_epoch);
    let tolerance = options.time_tolerance.unwrap_or_default();
    let ensure = |ok: bool, e: JWTError| if ok { Ok(()) } else { Err(e) };
    if let Some(reject_before) = options.reject_before {
        let iat = claims.issued_at.ok_or(JWTError::OldTokenReused)?;
        ensure(iat >= reject_before, JWTError::OldTokenReused)?;
    }
    if !options.accept_future {
        if let Some(iat) = claims.issued_at {
            ensure(iat <= now + tolerance, JWTError::ClockDrift)?;
        }
    }
    if let Some(max_validity) = options.max_validity {
        let iat = claims.issued_at.ok_or(JWTError::TokenIsTooOld)?;
        ensure(
            now <= iat || now - iat <= max_validity,
            JWTError::TokenIsTooOld,
        )?;
    }
    if !options.accept_future {
        if let Some(nbf) = claims.invalid_before {
            ensure(now + tolerance >= nbf, JWTError::TokenNotValidYet)?;
        }
    }
    if let Some(exp) = claims.expires_at {
        ensure(
            now >= tolerance && now - tolerance <= exp,
            JWTError::TokenHasExpired,
        )?;
    }
    if let Some(allowed) = &options.allowed_issuers {
        let iss = claims
            .issuer
            .as_ref()
            .ok_or(JWTError::RequiredIssuerMissing)?;
        ensure(allowed.contains(iss), JWTError::RequiredIssuerMismatch)?;
    }
    if let Some(required) = &options.required_subject {
        let sub = claims
            .subject
            .as_ref()
            .ok_or(JWTError::RequiredSubjectMissing)?;
        ensure(sub == required, JWTError::RequiredSubjectMismatch)?;
    }
    if let Some(required) = &options.required_nonce {
        let nonce = claims
            .nonce
            .as_ref()
            .ok_or(JWTError::RequiredNonceMissing)?;
        ensure(nonce == required, JWTError::RequiredNonceMismatch)?;
    }
    if let Some(allowed) = &options.allowed_audiences {
        let aud = claims
            .audiences
            .as_ref()
            .ok_or(JWTError::RequiredAudienceMissing)?;
        ensure(aud.contains(allowed), JWTError::RequiredAudienceMismatch)?;
    }
    Ok(())
}

fn fingerprint(alg: Alg, kid: Option<&str>, parts: &[&[u8]]) -> String {
    use base64::Engine as _;
    let mut out = format!("{}|{}", alg.name(), kid.unwrap_or(""));
    for p in parts {
        out.push('|');
        out.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p));
    }
    out
}

/// The outcome of a failed [`Key::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// The signature did not verify with this key: another key may.
    Signature,
    /// The signature verified (or the token is unusable with any key): stop and refuse.
    Refused(AuthError),
}

/// Maps jwt-simple's errors to our codes. Claim errors are only reachable
/// after the signature verified, so they end the search for a key.
fn classify(err: &jwt_simple::Error) -> VerifyFailure {
    let refused = |e| VerifyFailure::Refused(e);
    match err.downcast_ref::<JWTError>() {
        Some(
            JWTError::InvalidSignature | JWTError::InvalidAuthenticationTag | JWTError::MissingSalt,
        ) => VerifyFailure::Signature,
        Some(JWTError::TokenHasExpired) => refused(AuthError::Expired),
        Some(JWTError::TokenNotValidYet | JWTError::ClockDrift) => refused(AuthError::NotYetValid),
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            refused(AuthError::WrongIssuer)
        }
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            refused(AuthError::WrongAudience)
        }
        Some(JWTError::TokenTooLong) => refused(AuthError::TooLarge),
        Some(JWTError::AlgorithmMismatch) => refused(AuthError::UnsupportedAlg(
            "it does not match the key's algorithm",
        )),
        Some(JWTError::UnknownCriticalExtension) => refused(AuthError::CritUnsupported),
        Some(JWTError::NotJWT) => refused(AuthError::Malformed("the header type is not jwt")),
        // Base64, JSON (including duplicate claim names) and everything else.
        _ => refused(AuthError::Malformed("the token could not be decoded")),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    /// The oracle: jwt-simple's own claim checks, reached the way this
    /// module used to, by re-sealing the header (alg HS256) and payload
    /// under a throwaway key and calling jwt-simple's HS256 verifier.
    fn jwt_simple_verdict(
        header_json: &str,
        payload_b64: &str,
        options: &VerificationOptions,
    ) -> Result<(), VerifyFailure> {
        const KEY: &[u8; 32] = b"tollgate-test-reseal-key-0000000";
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(header_json).unwrap();
        header.insert("alg".to_string(), serde_json::Value::from("HS256"));
        let mut resealed = b64.encode(serde_json::to_vec(&header).unwrap());
        resealed.push('.');
        resealed.push_str(payload_b64);
        let tag = hmac_sha256::HMAC::mac(resealed.as_bytes(), KEY);
        resealed.push('.');
        resealed.push_str(&b64.encode(tag));
        HS256Key::from_bytes(KEY)
            .verify_token::<NoCustomClaims>(&resealed, Some(options.clone()))
            .map(drop)
            .map_err(|err| classify(&err))
    }

    #[test]
    fn claims_match_jwt_simple() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now_s: u64 = 1_800_000_000;
        let skew = 60u64;
        let audiences = HashSet::from(["a".to_string(), "b".to_string()]);
        let mut payloads: Vec<String> = Vec::new();
        for d in [-61i64, -60, -59, -1, 0, 1, 59, 60, 61] {
            let t = now_s.wrapping_add_signed(d);
            for name in ["exp", "nbf", "iat"] {
                payloads.push(format!(r#"{{"iss":"iss","aud":"a","{name}":{t}}}"#));
                payloads.push(format!(r#"{{"iss":"iss","aud":"a","{name}":{t}.9}}"#));
            }
        }
        for extra in [
            r#""iss":"iss","aud":"a""#,
            r#""iss":"iss","aud":["x","b"]"#,
            r#""iss":"iss","aud":["x"]"#,
            r#""iss":"iss","aud":"x""#,
            r#""iss":"iss""#,
            r#""iss":"iss","aud":5"#,
            r#""iss":"other","aud":"a""#,
            r#""aud":"a""#,
            r#""iss":7,"aud":"a""#,
            r#""iss":"iss","aud":"a","sub":5"#,
            r#""iss":"iss","aud":"a","jti":[1]"#,
            r#""iss":"iss","aud":"a","nonce":1"#,
            r#""iss":"iss","aud":"a","exp":"soon""#,
            r#""iss":"iss","aud":"a","exp":-5"#,
            r#""iss":"iss","aud":"a","exp":1e300"#,
            r#""iss":"iss","aud":"a","exp":null"#,
            r#""iss":"iss","aud":"a","roles":["x"],"tenant":{"k":1}"#,
            r#""iss":"iss","aud":"a","iss":"iss""#,
            r#""iss":"iss","aud":"a","x":1,"x":2"#,
        ] {
            payloads.push(format!("{{{extra}}}"));
        }
        let mut encoded: Vec<String> = payloads.iter().map(|p| b64.encode(p)).collect();
        // Not JSON objects, not base64url, non-canonical trailing bits.
        encoded.extend([
            "W10".to_string(),
            "!!".to_string(),
            "e30=".to_string(),
            "e31".to_string(),
        ]);
        for ms in [0u64, 1, 500, 999] {
            let options = Key::options("iss", &audiences, skew, 8192, now_s * 1000 + ms);
            for payload_b64 in &encoded {
                let input = format!("eyJhbGciOiJSUzI1NiJ9.{payload_b64}");
                let ours = claims_as_jwt_simple(&input, &options);
                let theirs = jwt_simple_verdict(r#"{"alg":"RS256"}"#, payload_b64, &options);
                assert_eq!(
                    ours,
                    theirs,
                    "{ms} ms: {:?}",
                    b64.decode(payload_b64).ok().map(String::from_utf8)
                );
            }
        }
    }
}
