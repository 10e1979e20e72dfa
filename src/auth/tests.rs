//! Specifications of `Auth`: configuration, verification policy, key
//! selection, remote JWKS fetching and the verified-token cache.
//! Keys are generated per test (RSA uses the fixed test-only key).

use base64::Engine as _;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};

use super::testkeys::{RSA_PRIVATE_PEM, RSA_PUBLIC_PEM};
use super::*;

const NOW_S: u64 = 1_700_000_000;
const NOW_MS: u64 = NOW_S * 1000;
const ISS: &str = "https://issuer.test";
const AUD: &str = "api";
const HMAC_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn auth(v: Value) -> Auth {
    let settings: AuthSettings = serde_json::from_value(v).unwrap();
    Auth::compile(settings, "auth").unwrap()
}

fn compile_err(v: Value) -> ConfigError {
    let settings: AuthSettings = serde_json::from_value(v).unwrap();
    Auth::compile(settings, "auth").unwrap_err()
}

/// A provider entry with the given key sources merged in.
fn provider(keys: Value) -> Value {
    let mut p = json!({"name": "main", "issuer": ISS, "audiences": [AUD]});
    for (k, v) in keys.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn es256() -> ES256KeyPair {
    ES256KeyPair::generate().with_key_id("es")
}

fn es_provider(kp: &ES256KeyPair, extra: Value) -> Value {
    let mut p = provider(
        json!({"pem": [{"kid": "es", "alg": "ES256", "pem": kp.public_key().to_pem().unwrap()}]}),
    );
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// Claims valid at NOW for ISS / AUD, subject alice, one hour.
fn claims(extra: Value) -> JWTClaims<Map<String, Value>> {
    let custom = extra.as_object().cloned().unwrap_or_default();
    let mut c = Claims::with_custom_claims(custom, Duration::from_secs(3600));
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
    c.invalid_before = None;
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 3600));
    c.issuer = Some(ISS.to_string());
    c.audiences = Some(Audiences::AsString(AUD.to_string()));
    c.subject = Some("alice".to_string());
    c
}

/// A token signed with HMAC over arbitrary header and payload JSON text.
fn hs256_raw(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = HS256Key::from_bytes(secret).authentication_tag(input.as_bytes());
    format!("{input}.{}", b64(&tag))
}

fn hmac_auth(extra: Value) -> Auth {
    let mut p = provider(json!({"hmac": [{"alg": "HS256", "secret_base64": b64(HMAC_SECRET)}]}));
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    auth(json!({ "providers": [p], "cache": {"max_entries": 0} }))
}

fn payload(extra: Value) -> String {
    let mut p = json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW_S, "exp": NOW_S + 3600});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            p.as_object_mut().unwrap().remove(k);
        } else {
            p[k] = v.clone();
        }
    }
    p.to_string()
}

fn verify(a: &Auth, token: &str) -> Verdict {
    let mut st = AuthState::new(a);
    a.verify(token, &[], NOW_MS, &mut st)
}

fn verify_at(a: &Auth, token: &str, now_ms: u64) -> Verdict {
    let mut st = AuthState::new(a);
    a.verify(token, &[], now_ms, &mut st)
}

fn code(v: &Verdict) -> &'static str {
    match v {
        Verdict::Verified(_) => "verified",
        Verdict::Denied(e) => e.code(),
        Verdict::NeedKeys { .. } => "need_keys",
    }
}

// ---------- configuration ----------

#[test]
fn default_settings_compile_with_no_providers_and_a_bearer_source() {
    let a = Auth::compile(AuthSettings::default(), "auth").unwrap();
    assert_eq!(a.provider_count(), 0);
    let h = vec![("authorization".to_string(), "Bearer x.y.z".to_string())];
    assert_eq!(a.extract_token(&h, "/").unwrap().as_deref(), Some("x.y.z"));
}

#[test]
fn configuration_errors_name_the_field() {
    let kp = es256();
    let good_pem = kp.public_key().to_pem().unwrap();
    let cases = [
        (
            json!({"providers": [{"name": "a", "issuer": ISS, "audiences": [AUD]}]}),
            "auth.providers[0]",
        ),
        (
            json!({"providers": [provider(json!({"pem": [
                {"alg": "ES256", "pem": good_pem},
                {"alg": "ES256", "pem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}
            ]}))]}),
            "auth.providers[0].pem[1].pem",
        ),
        (
            json!({"providers": [provider(json!({"pem": [{"alg": "HS256", "pem": good_pem}]}))]}),
            "auth.providers[0].pem[0].pem",
        ),
        (
            json!({"providers": [provider(json!({"pem": [{"alg": "XX1", "pem": good_pem}]}))]}),
            "auth.providers[0].pem[0].alg",
        ),
        (
            json!({"providers": [provider(json!({"hmac": [{"alg": "HS256", "secret_base64": b64(b"short")}]}))]}),
            "auth.providers[0].hmac[0].secret_base64",
        ),
        (
            json!({"providers": [provider(json!({"hmac": [{"alg": "HS256", "secret_base64": "***"}]}))]}),
            "auth.providers[0].hmac[0].secret_base64",
        ),
        (
            json!({"providers": [provider(json!({"hmac": [{"alg": "RS256", "secret_base64": b64(HMAC_SECRET)}]}))]}),
            "auth.providers[0].hmac[0].alg",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"issuer": ""}))]}),
            "auth.providers[0].issuer",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"audiences": []}))]}),
            "auth.providers[0].audiences",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"max_lifetime_s": 0}))]}),
            "auth.providers[0].max_lifetime_s",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({})), es_provider(&kp, json!({}))]}),
            "auth.providers[1].name",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"forward_claims": [{"claim": "sub", "header": "authorization"}]}))]}),
            "auth.providers[0].forward_claims[0].header",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"forward_claims": [{"claim": "sub", "header": "X-Sub"}]}))]}),
            "auth.providers[0].forward_claims[0].header",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"forward_claims": [{"claim": "sub", "header": ":path"}]}))]}),
            "auth.providers[0].forward_claims[0].header",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"remote_jwks": {"cluster": "idp", "min_refetch_interval_s": 0}}))]}),
            "auth.providers[0].remote_jwks.min_refetch_interval_s",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"remote_jwks": {"cluster": "idp", "path": "jwks"}}))]}),
            "auth.providers[0].remote_jwks.path",
        ),
        (
            json!({"providers": [es_provider(&kp, json!({"jwks": {"keys": [{"kty": "RSA"}]}}))]}),
            "auth.providers[0].jwks.keys[0].n",
        ),
        (
            json!({"token_sources": [{"header": "a", "query": "b"}]}),
            "auth.token_sources[0]",
        ),
        (
            json!({"token_sources": [{"query": "t", "prefix": "x"}]}),
            "auth.token_sources[0].prefix",
        ),
        (json!({"token_sources": []}), "auth.token_sources"),
        (json!({"max_token_bytes": 0}), "auth.max_token_bytes"),
        (json!({"role_claims": [""]}), "auth.role_claims[0]"),
    ];
    for (settings, path) in cases {
        let err = compile_err(settings.clone());
        assert_eq!(err.path, path, "{settings}: {err}");
    }
}

#[test]
fn duplicate_static_kids_are_refused() {
    let err = compile_err(json!({"providers": [provider(json!({"hmac": [
        {"kid": "k", "alg": "HS256", "secret_base64": b64(HMAC_SECRET)},
        {"kid": "k", "alg": "HS256", "secret_base64": b64(HMAC_SECRET)}
    ]}))]}));
    assert_eq!(err.path, "auth.providers[0].hmac[1].kid");
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let err = crate::config::parse_settings(
        br#"{"auth": {"providers": [{"name": "a", "issuer": "i", "audiences": ["x"], "isuer": "typo"}]}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "auth.providers[0].isuer");
    assert!(err.message.contains("unknown field `isuer`"), "{err}");
}

#[test]
fn remote_jwks_defaults() {
    let a = auth(json!({"providers": [provider(json!({"remote_jwks": {"cluster": "idp"}}))]}));
    let remotes = a.remote_jwks();
    assert_eq!(remotes.len(), 1);
    let (idx, r) = remotes[0];
    assert_eq!(idx, 0);
    assert_eq!(
        r,
        &RemoteJwks {
            cluster: "idp".into(),
            path: "/.well-known/jwks.json".into(),
            authority: "idp".into(),
            timeout_ms: 2000,
            refresh_interval_s: 300,
            min_refetch_interval_s: 10,
            scheme: None,
        }
    );
}

#[test]
fn provider_lookup_by_name_and_index() {
    let kp = es256();
    let mut second = es_provider(&kp, json!({}));
    second["name"] = json!("second");
    let a = auth(json!({"providers": [es_provider(&kp, json!({})), second]}));
    assert_eq!(a.provider_index("second"), Some(1));
    assert_eq!(a.provider_index("nope"), None);
    assert_eq!(a.provider_name(1), "second");
    assert_eq!(a.provider_name(9), "");
}

// ---------- algorithms and keys ----------

#[test]
fn every_supported_algorithm_verifies_with_its_key() {
    let es = ES256KeyPair::generate();
    let es384 = ES384KeyPair::generate();
    let ed = Ed25519KeyPair::generate();
    let rs = RS256KeyPair::from_pem(RSA_PRIVATE_PEM).unwrap();
    let ps = PS512KeyPair::from_pem(RSA_PRIVATE_PEM).unwrap();
    let hs = HS384Key::from_bytes(&[7u8; 48]);
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "ES256",
            json!({"pem": [{"alg": "ES256", "pem": es.public_key().to_pem().unwrap()}]}),
            es.sign(claims(json!({}))).unwrap(),
        ),
        (
            "ES384",
            json!({"pem": [{"alg": "ES384", "pem": es384.public_key().to_pem().unwrap()}]}),
            es384.sign(claims(json!({}))).unwrap(),
        ),
        (
            "EdDSA",
            json!({"pem": [{"alg": "EdDSA", "pem": ed.public_key().to_pem()}]}),
            ed.sign(claims(json!({}))).unwrap(),
        ),
        (
            "RS256",
            json!({"pem": [{"alg": "RS256", "pem": RSA_PUBLIC_PEM}]}),
            rs.sign(claims(json!({}))).unwrap(),
        ),
        (
            "PS512",
            json!({"pem": [{"alg": "PS512", "pem": RSA_PUBLIC_PEM}]}),
            ps.sign(claims(json!({}))).unwrap(),
        ),
        (
            "HS384",
            json!({"hmac": [{"alg": "HS384", "secret_base64": b64(&[7u8; 48])}]}),
            hs.authenticate(claims(json!({}))).unwrap(),
        ),
    ];
    for (name, keys, token) in cases {
        let a = auth(json!({ "providers": [provider(keys)] }));
        assert_eq!(code(&verify(&a, &token)), "verified", "{name}");
    }
}

#[test]
fn inline_jwks_keys_verify_tokens() {
    let rs = RS256KeyPair::from_pem(RSA_PRIVATE_PEM)
        .unwrap()
        .with_key_id("r1");
    let ed = Ed25519KeyPair::generate().with_key_id("o1");
    let ec = ES256KeyPair::generate().with_key_id("e1");
    let jwk = |s: String| serde_json::from_str::<Value>(&s).unwrap();
    let doc = json!({"keys": [
        jwk(rs.public_key().with_key_id("r1").to_jwk()),
        jwk(ed.public_key().with_key_id("o1").to_jwk()),
        jwk(ec.public_key().with_key_id("e1").to_jwk()),
    ]});
    let a = auth(json!({ "providers": [provider(json!({ "jwks": doc }))] }));
    for token in [
        rs.sign(claims(json!({}))).unwrap(),
        ed.sign(claims(json!({}))).unwrap(),
        ec.sign(claims(json!({}))).unwrap(),
    ] {
        assert_eq!(code(&verify(&a, &token)), "verified");
    }
}

#[test]
fn alg_none_is_refused() {
    let a = hmac_auth(json!({}));
    let token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(payload(json!({})).as_bytes())
    );
    assert_eq!(
        verify(&a, &token),
        Verdict::Denied(AuthError::UnsupportedAlg(
            "unsigned tokens (`none`) are never accepted"
        ))
    );
}

#[test]
fn crit_header_is_refused_even_when_signed() {
    let a = hmac_auth(json!({}));
    for crit in ["[]", r#"["exp"]"#] {
        let token = hs256_raw(
            &format!(r#"{{"alg":"HS256","crit":{crit}}}"#),
            &payload(json!({})),
            HMAC_SECRET,
        );
        assert_eq!(
            verify(&a, &token),
            Verdict::Denied(AuthError::CritUnsupported),
            "{crit}"
        );
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic confusion: an attacker uses the public PEM as an HMAC secret.
    let a = auth(
        json!({"providers": [provider(json!({"pem": [{"kid": "rsa", "alg": "RS256", "pem": RSA_PUBLIC_PEM}]}))]}),
    );
    let with_kid = hs256_raw(
        r#"{"alg":"HS256","kid":"rsa"}"#,
        &payload(json!({})),
        RSA_PUBLIC_PEM.as_bytes(),
    );
    assert_eq!(code(&verify(&a, &with_kid)), "jwt_unsupported_alg");
    let without_kid = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({})),
        RSA_PUBLIC_PEM.as_bytes(),
    );
    assert_eq!(code(&verify(&a, &without_kid)), "jwt_unsupported_alg");
}

#[test]
fn a_token_whose_alg_differs_from_its_key_is_refused() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    // ES384 header naming the ES256 key's kid.
    let es384 = ES384KeyPair::generate().with_key_id("es");
    let token = es384.sign(claims(json!({}))).unwrap();
    assert_eq!(
        verify(&a, &token),
        Verdict::Denied(AuthError::UnsupportedAlg(
            "it does not match the key's algorithm"
        ))
    );
}

#[test]
fn tampered_payload_and_foreign_signature_are_invalid() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    let token = kp.sign(claims(json!({"roles": ["user"]}))).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap();
        let text = String::from_utf8(raw)
            .unwrap()
            .replace("\"user\"", "\"admin\"");
        b64(text.as_bytes())
    };
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verify(&a, &tampered),
        Verdict::Denied(AuthError::InvalidSignature)
    );

    let impostor = es256().sign(claims(json!({}))).unwrap();
    assert_eq!(
        verify(&a, &impostor),
        Verdict::Denied(AuthError::InvalidSignature)
    );

    let garbage_sig = format!("{}.{}.{}", parts[0], parts[1], b64(&[0u8; 64]));
    assert_eq!(
        verify(&a, &garbage_sig),
        Verdict::Denied(AuthError::InvalidSignature)
    );
}

#[test]
fn oversized_tokens_are_refused() {
    let a = auth(
        json!({"providers": [provider(json!({"hmac": [{"alg": "HS256", "secret_base64": b64(HMAC_SECRET)}]}))], "max_token_bytes": 256}),
    );
    let big = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"pad": "x".repeat(300)})),
        HMAC_SECRET,
    );
    assert_eq!(verify(&a, &big), Verdict::Denied(AuthError::TooLarge));
}

#[test]
fn without_kid_each_key_of_the_algorithm_is_tried() {
    let first = ES256KeyPair::generate();
    let second = ES256KeyPair::generate();
    let a = auth(json!({"providers": [provider(json!({"pem": [
        {"alg": "ES256", "pem": first.public_key().to_pem().unwrap()},
        {"alg": "ES256", "pem": second.public_key().to_pem().unwrap()},
    ]}))]}));
    assert_eq!(
        code(&verify(&a, &second.sign(claims(json!({}))).unwrap())),
        "verified"
    );
    // An algorithm the provider has no key for.
    let ed = Ed25519KeyPair::generate();
    assert_eq!(
        code(&verify(&a, &ed.sign(claims(json!({}))).unwrap())),
        "jwt_unsupported_alg"
    );
}

#[test]
fn unknown_kid_without_remote_jwks_is_refused() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    let other = ES256KeyPair::generate().with_key_id("other");
    assert_eq!(
        verify(&a, &other.sign(claims(json!({}))).unwrap()),
        Verdict::Denied(AuthError::UnknownKid)
    );
}

// ---------- claims policy ----------

#[test]
fn time_claims_respect_the_skew_edges() {
    let a = hmac_auth(json!({})); // skew 60 s
    let exp = NOW_S + 100;
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({ "exp": exp })),
        HMAC_SECRET,
    );
    let cases = [
        (exp * 1000, "verified"),
        ((exp + 60) * 1000, "verified"),
        ((exp + 61) * 1000, "jwt_expired"),
        ((exp + 60) * 1000 + 1, "jwt_expired"),
    ];
    for (now, want) in cases {
        assert_eq!(code(&verify_at(&a, &token, now)), want, "now={now}");
    }
    let nbf = NOW_S + 100;
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({ "nbf": nbf })),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify_at(&a, &token, (nbf - 60) * 1000)), "verified");
    assert_eq!(
        code(&verify_at(&a, &token, (nbf - 61) * 1000)),
        "jwt_not_yet_valid"
    );
}

#[test]
fn issued_in_the_future_is_not_yet_valid() {
    let a = hmac_auth(json!({}));
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"iat": NOW_S + 120})),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify(&a, &token)), "jwt_not_yet_valid");
}

#[test]
fn configured_skew_is_honoured() {
    let a = hmac_auth(json!({"clock_skew_s": 0}));
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"exp": NOW_S})),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify_at(&a, &token, NOW_MS)), "verified");
    assert_eq!(code(&verify_at(&a, &token, NOW_MS + 1000)), "jwt_expired");
}

#[test]
fn issuer_and_audience_checks() {
    let a = hmac_auth(json!({"audiences": ["api", "other"]}));
    let cases = [
        (json!({"iss": "https://evil.test"}), "jwt_unknown_issuer"),
        (json!({"iss": null}), "jwt_unknown_issuer"),
        (json!({"aud": "elsewhere"}), "jwt_wrong_audience"),
        (json!({"aud": null}), "jwt_wrong_audience"),
        (json!({"aud": ["x", "other"]}), "verified"),
        (json!({"aud": "api"}), "verified"),
    ];
    for (extra, want) in cases {
        let token = hs256_raw(r#"{"alg":"HS256"}"#, &payload(extra.clone()), HMAC_SECRET);
        assert_eq!(code(&verify(&a, &token)), want, "{extra}");
    }
}

#[test]
fn exp_is_required_unless_disabled() {
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"exp": null})),
        HMAC_SECRET,
    );
    assert_eq!(
        verify(&hmac_auth(json!({})), &token),
        Verdict::Denied(AuthError::MissingExp)
    );
    assert_eq!(
        code(&verify(&hmac_auth(json!({"require_exp": false})), &token)),
        "verified"
    );
}

#[test]
fn absurd_exp_is_malformed() {
    let a = hmac_auth(json!({}));
    for exp in [json!(1e300), json!(-5), json!(true)] {
        let token = hs256_raw(
            r#"{"alg":"HS256"}"#,
            &payload(json!({ "exp": exp })),
            HMAC_SECRET,
        );
        assert_eq!(code(&verify(&a, &token)), "jwt_malformed", "{exp}");
    }
}

#[test]
fn max_lifetime_uses_iat_or_now() {
    let a = hmac_auth(json!({"max_lifetime_s": 3600}));
    let cases = [
        (json!({"iat": NOW_S, "exp": NOW_S + 3600}), "verified"),
        (
            json!({"iat": NOW_S, "exp": NOW_S + 3601}),
            "jwt_lifetime_too_long",
        ),
        (json!({"iat": null, "exp": NOW_S + 3600}), "verified"),
        (
            json!({"iat": null, "exp": NOW_S + 7200}),
            "jwt_lifetime_too_long",
        ),
    ];
    for (extra, want) in cases {
        let token = hs256_raw(r#"{"alg":"HS256"}"#, &payload(extra.clone()), HMAC_SECRET);
        assert_eq!(code(&verify(&a, &token)), want, "{extra}");
    }
    let no_exp = hmac_auth(json!({"max_lifetime_s": 3600, "require_exp": false}));
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"exp": null})),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify(&no_exp, &token)), "jwt_lifetime_too_long");
}

#[test]
fn required_claims_must_be_present_and_non_null() {
    let a = hmac_auth(json!({"required_claims": ["tenant"]}));
    let ok = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"tenant": "acme"})),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify(&a, &ok)), "verified");
    let absent = hs256_raw(r#"{"alg":"HS256"}"#, &payload(json!({})), HMAC_SECRET);
    assert_eq!(
        verify(&a, &absent),
        Verdict::Denied(AuthError::MissingClaim("tenant".into()))
    );
    let null = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &format!("{{\"tenant\":null,{}", &payload(json!({}))[1..]),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify(&a, &null)), "jwt_missing_claim");
}

#[test]
fn duplicate_claims_are_malformed() {
    // Which `iss` would a downstream parser read? Refuse rather than guess.
    let a = hmac_auth(json!({}));
    let dup = format!(
        "{{\"iss\":\"https://evil.test\",{}",
        &payload(json!({}))[1..]
    );
    let token = hs256_raw(r#"{"alg":"HS256"}"#, &dup, HMAC_SECRET);
    assert_eq!(code(&verify(&a, &token)), "jwt_malformed");
}

#[test]
fn duplicate_custom_claims_are_malformed() {
    // `roles` twice: the filter and the upstream could read different roles.
    let a = hmac_auth(json!({}));
    let dup = format!(
        "{{\"roles\":[\"user\"],{},\"roles\":[\"admin\"]}}",
        &payload(json!({}))[1..payload(json!({})).len() - 1]
    );
    let token = hs256_raw(r#"{"alg":"HS256"}"#, &dup, HMAC_SECRET);
    assert_eq!(code(&verify(&a, &token)), "jwt_malformed");
}

#[test]
fn duplicate_header_members_are_malformed() {
    let a = hmac_auth(json!({}));
    let token = hs256_raw(
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
        &payload(json!({})),
        HMAC_SECRET,
    );
    assert_eq!(code(&verify(&a, &token)), "jwt_malformed");
}

#[test]
fn identity_carries_subject_roles_and_expiry() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    let token = kp
        .sign(claims(
            json!({"roles": ["user", "admin"], "scope": "chat user"}),
        ))
        .unwrap();
    let Verdict::Verified(id) = verify(&a, &token) else {
        panic!("expected verified")
    };
    assert_eq!(id.provider, 0);
    assert_eq!(id.issuer, ISS);
    assert_eq!(id.subject.as_deref(), Some("alice"));
    assert_eq!(id.roles, vec!["user", "admin", "chat"]);
    assert_eq!(id.expires_at_s, Some(NOW_S + 3600));
    assert_eq!(id.claims["sub"], "alice");
}

#[test]
fn role_claims_are_configurable() {
    let kp = es256();
    let a = auth(json!({"providers": [es_provider(&kp, json!({}))], "role_claims": ["scp"]}));
    let token = kp
        .sign(claims(json!({"roles": ["admin"], "scp": "read write"})))
        .unwrap();
    let Verdict::Verified(id) = verify(&a, &token) else {
        panic!("expected verified")
    };
    assert_eq!(id.roles, vec!["read", "write"]);
}

// ---------- providers, forwarding, extraction ----------

#[test]
fn provider_is_chosen_by_issuer_among_the_routes_providers() {
    let (k0, k1) = (es256(), es256());
    let mut p1 = es_provider(
        &k1,
        json!({"name": "second", "issuer": "https://second.test"}),
    );
    p1["pem"][0]["kid"] = json!("es");
    let a =
        auth(json!({"providers": [es_provider(&k0, json!({})), p1], "cache": {"max_entries": 0}}));
    let mut c = claims(json!({}));
    c.issuer = Some("https://second.test".into());
    let token = k1.sign(c).unwrap();
    let mut st = AuthState::new(&a);
    assert_eq!(code(&a.verify(&token, &[], NOW_MS, &mut st)), "verified");
    assert_eq!(code(&a.verify(&token, &[1], NOW_MS, &mut st)), "verified");
    assert_eq!(
        code(&a.verify(&token, &[0], NOW_MS, &mut st)),
        "jwt_unknown_issuer"
    );
}

#[test]
fn forwarded_headers_carry_verified_claims_only() {
    let kp = es256();
    let a = auth(
        json!({"providers": [es_provider(&kp, json!({"forward_claims": [
            {"claim": "sub", "header": "x-tollgate-sub"},
            {"claim": "tenant", "header": "x-tollgate-tenant"},
            {"claim": "evil", "header": "x-tollgate-evil"},
            {"claim": "absent", "header": "x-tollgate-absent"},
        ]}))]}),
    );
    assert_eq!(
        a.forwarded_header_names(),
        &[
            "x-tollgate-sub",
            "x-tollgate-tenant",
            "x-tollgate-evil",
            "x-tollgate-absent"
        ]
    );
    let token = kp
        .sign(claims(json!({"tenant": 42, "evil": "a\r\nx-admin: yes"})))
        .unwrap();
    let Verdict::Verified(id) = verify(&a, &token) else {
        panic!("expected verified")
    };
    assert_eq!(
        a.forward_headers(&id),
        vec![
            ("x-tollgate-sub".to_string(), "alice".to_string()),
            ("x-tollgate-tenant".to_string(), "42".to_string()),
        ]
    );
}

#[test]
fn token_sources_are_configurable() {
    let a = auth(
        json!({"token_sources": [{"header": "X-Token"}, {"query": "access_token"}], "max_token_bytes": 64}),
    );
    let h = vec![("x-token".to_string(), "a.b.c".to_string())];
    assert_eq!(a.extract_token(&h, "/").unwrap().as_deref(), Some("a.b.c"));
    assert_eq!(
        a.extract_token(&[], "/p?access_token=q%2Ew")
            .unwrap()
            .as_deref(),
        Some("q.w")
    );
    assert_eq!(a.extract_token(&[], "/p").unwrap(), None);
    let long = format!("/p?access_token={}", "a".repeat(65));
    assert_eq!(a.extract_token(&[], &long), Err(AuthError::TooLarge));
    assert!(!a.strip_authorization());
}

// ---------- remote JWKS ----------

fn remote_auth(cache: usize) -> Auth {
    auth(json!({
        "providers": [provider(json!({"remote_jwks": {"cluster": "idp", "min_refetch_interval_s": 10, "refresh_interval_s": 300}}))],
        "cache": {"max_entries": cache},
    }))
}

fn jwks_of(keys: &[&ES256KeyPair]) -> Vec<u8> {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let kid = k.key_id().clone().unwrap();
            serde_json::from_str(&k.public_key().with_key_id(&kid).to_jwk()).unwrap()
        })
        .collect();
    json!({ "keys": keys }).to_string().into_bytes()
}

#[test]
fn unknown_kid_asks_for_keys_once_then_is_refused() {
    let a = remote_auth(0);
    let mut st = AuthState::new(&a);
    let known = ES256KeyPair::generate().with_key_id("known");
    assert!(st.begin_fetch(0, NOW_MS, false));
    assert_eq!(
        st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&known]), NOW_MS),
        Ok(1)
    );

    let stranger = ES256KeyPair::generate().with_key_id("new");
    let token = stranger.sign(claims(json!({}))).unwrap();
    // Right after a fetch, an on-demand refetch is rate limited.
    assert_eq!(
        a.verify(&token, &[], NOW_MS + 1000, &mut st),
        Verdict::Denied(AuthError::UnknownKid)
    );

    let t = NOW_MS + 10_000;
    assert_eq!(
        a.verify(&token, &[], t, &mut st),
        Verdict::NeedKeys { provider: 0 }
    );
    assert!(st.begin_fetch(0, t, true));
    assert!(st.in_flight(0, t));
    // While in flight, other requests for the kid wait for the same fetch.
    assert_eq!(
        a.verify(&token, &[], t + 5, &mut st),
        Verdict::NeedKeys { provider: 0 }
    );
    assert!(!st.begin_fetch(0, t + 5, true));
    // The server still does not have it: the re-verification is final.
    assert_eq!(
        st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&known]), t + 1500),
        Ok(1)
    );
    assert_eq!(
        a.verify(&token, &[], t + 1500, &mut st),
        Verdict::Denied(AuthError::UnknownKid)
    );
    assert!(!st.begin_fetch(0, t + 1500, true));
}

#[test]
fn keys_arriving_on_demand_verify_the_waiting_token() {
    let a = remote_auth(0);
    let mut st = AuthState::new(&a);
    let kp = ES256KeyPair::generate().with_key_id("k1");
    let token = kp.sign(claims(json!({}))).unwrap();
    assert_eq!(
        a.verify(&token, &[], NOW_MS, &mut st),
        Verdict::NeedKeys { provider: 0 }
    );
    assert!(st.begin_fetch(0, NOW_MS, true));
    assert_eq!(
        st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&kp]), NOW_MS + 30),
        Ok(1)
    );
    assert_eq!(
        code(&a.verify(&token, &[], NOW_MS + 30, &mut st)),
        "verified"
    );
}

#[test]
fn keys_never_loaded_and_fetch_failed_is_keys_unavailable() {
    let a = remote_auth(0);
    let mut st = AuthState::new(&a);
    let token = es256().sign(claims(json!({}))).unwrap();
    assert_eq!(
        a.verify(&token, &[], NOW_MS, &mut st),
        Verdict::NeedKeys { provider: 0 }
    );
    assert!(st.begin_fetch(0, NOW_MS, true));
    assert_eq!(
        st.finish_fetch(&a, 0, None, b"", NOW_MS + 2000),
        Err(AuthError::JwksFetchFailed(None))
    );
    assert_eq!(
        a.verify(&token, &[], NOW_MS + 2000, &mut st),
        Verdict::Denied(AuthError::KeysUnavailable)
    );
}

#[test]
fn rotation_replaces_keys_and_failures_keep_the_old_ones() {
    let a = remote_auth(0);
    let mut st = AuthState::new(&a);
    let old = ES256KeyPair::generate().with_key_id("old");
    let new = ES256KeyPair::generate().with_key_id("new");
    let old_token = old.sign(claims(json!({}))).unwrap();
    let new_token = new.sign(claims(json!({}))).unwrap();

    assert!(st.begin_fetch(0, NOW_MS, false));
    st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&old]), NOW_MS)
        .unwrap();
    assert_eq!(
        code(&a.verify(&old_token, &[], NOW_MS, &mut st)),
        "verified"
    );

    // Outage, error page, garbage: the old key stays in use.
    for (status, body) in [
        (Some(503), &b"down"[..]),
        (Some(200), &b"<html>"[..]),
        (None, &b""[..]),
    ] {
        assert!(st.begin_fetch(0, NOW_MS, false));
        assert!(st.finish_fetch(&a, 0, status, body, NOW_MS).is_err());
        assert_eq!(
            code(&a.verify(&old_token, &[], NOW_MS, &mut st)),
            "verified"
        );
    }

    assert!(st.begin_fetch(0, NOW_MS, false));
    assert_eq!(
        st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&new]), NOW_MS),
        Ok(1)
    );
    assert_eq!(
        code(&a.verify(&new_token, &[], NOW_MS, &mut st)),
        "verified"
    );
    assert_eq!(
        code(&a.verify(&old_token, &[], NOW_MS, &mut st)),
        "jwt_unknown_kid"
    );
}

#[test]
fn fetch_schedule_refresh_and_backoff() {
    let a = remote_auth(0);
    let mut st = AuthState::new(&a);
    assert_eq!(st.due_fetches(&a, NOW_MS), vec![0]);
    assert!(st.begin_fetch(0, NOW_MS, false));
    assert!(st.due_fetches(&a, NOW_MS).is_empty(), "in flight");
    st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&es256()]), NOW_MS)
        .unwrap();
    assert!(st.due_fetches(&a, NOW_MS + 299_999).is_empty());
    assert_eq!(st.due_fetches(&a, NOW_MS + 300_000), vec![0]);

    let t = NOW_MS + 300_000;
    assert!(st.begin_fetch(0, t, false));
    assert!(st.finish_fetch(&a, 0, Some(500), b"", t).is_err());
    assert!(st.due_fetches(&a, t + 4_999).is_empty());
    assert_eq!(st.due_fetches(&a, t + 5_000), vec![0]);
    assert!(st.begin_fetch(0, t + 5_000, false));
    assert!(st.finish_fetch(&a, 0, None, b"", t + 5_000).is_err());
    assert!(st.due_fetches(&a, t + 14_999).is_empty(), "backoff doubled");
    assert_eq!(st.due_fetches(&a, t + 15_000), vec![0]);
}

#[test]
fn providers_without_remote_jwks_never_fetch() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    let mut st = AuthState::new(&a);
    assert!(st.due_fetches(&a, NOW_MS).is_empty());
    assert!(!st.begin_fetch(0, NOW_MS, true));
    assert!(!st.begin_fetch(7, NOW_MS, false));
    assert!(st.finish_fetch(&a, 0, Some(200), b"{}", NOW_MS).is_err());
}

// ---------- cache ----------

#[test]
fn cache_serves_a_verified_token_and_respects_route_providers() {
    let kp = es256();
    let a = auth(json!({ "providers": [es_provider(&kp, json!({}))] }));
    let mut st = AuthState::new(&a);
    let token = kp.sign(claims(json!({}))).unwrap();
    let first = a.verify(&token, &[], NOW_MS, &mut st);
    assert_eq!(code(&first), "verified");
    assert_eq!(st.cached_tokens(), 1);
    assert_eq!(a.verify(&token, &[0], NOW_MS + 1, &mut st), first);
    assert_eq!(st.cached_tokens(), 1);
    // The cached identity is still subject to the route's providers.
    assert_eq!(
        a.verify(&token, &[5], NOW_MS + 2, &mut st),
        Verdict::Denied(AuthError::UnknownIssuer)
    );
}

#[test]
fn cache_never_serves_a_token_past_its_exp() {
    let a = hmac_auth(json!({"clock_skew_s": 0}));
    let a = Auth {
        cache_max_entries: 16,
        ..a
    };
    let mut st = AuthState::new(&a);
    let token = hs256_raw(
        r#"{"alg":"HS256"}"#,
        &payload(json!({"exp": NOW_S + 10})),
        HMAC_SECRET,
    );
    assert_eq!(code(&a.verify(&token, &[], NOW_MS, &mut st)), "verified");
    assert_eq!(st.cached_tokens(), 1);
    assert_eq!(
        code(&a.verify(&token, &[], (NOW_S + 10) * 1000 + 1, &mut st)),
        "jwt_expired"
    );
}

#[test]
fn cache_is_bounded() {
    let kp = es256();
    let a = auth(json!({"providers": [es_provider(&kp, json!({}))], "cache": {"max_entries": 2}}));
    let mut st = AuthState::new(&a);
    for sub in ["a", "b", "c"] {
        let mut c = claims(json!({}));
        c.subject = Some(sub.into());
        assert_eq!(
            code(&a.verify(&kp.sign(c).unwrap(), &[], NOW_MS, &mut st)),
            "verified"
        );
    }
    assert_eq!(st.cached_tokens(), 2);
}

#[test]
fn key_rotation_drops_the_providers_cached_tokens() {
    let a = remote_auth(16);
    let mut st = AuthState::new(&a);
    let old = ES256KeyPair::generate().with_key_id("old");
    assert!(st.begin_fetch(0, NOW_MS, false));
    st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&old]), NOW_MS)
        .unwrap();
    let token = old.sign(claims(json!({}))).unwrap();
    assert_eq!(code(&a.verify(&token, &[], NOW_MS, &mut st)), "verified");
    // An identical refresh keeps the cache.
    assert!(st.begin_fetch(0, NOW_MS, false));
    st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&old]), NOW_MS)
        .unwrap();
    assert_eq!(st.cached_tokens(), 1);
    // A changed key set empties it: the old key is gone, so is the token.
    assert!(st.begin_fetch(0, NOW_MS, false));
    st.finish_fetch(&a, 0, Some(200), &jwks_of(&[&es256()]), NOW_MS)
        .unwrap();
    assert_eq!(st.cached_tokens(), 0);
    assert_eq!(
        code(&a.verify(&token, &[], NOW_MS, &mut st)),
        "jwt_unknown_kid"
    );
}

#[test]
fn hmac_secrets_accept_standard_and_url_safe_base64() {
    let secret: Vec<u8> = (0u8..48).map(|i| i.wrapping_mul(37) | 0xf8).collect();
    let standard = base64::engine::general_purpose::STANDARD.encode(&secret);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret);
    assert_ne!(
        standard.trim_end_matches('='),
        url_safe,
        "the secret must exercise both alphabets"
    );
    let token = hs256_raw(r#"{"alg":"HS256"}"#, &payload(json!({})), &secret);
    for encoded in [standard, url_safe] {
        let a = auth(
            json!({"providers": [provider(json!({"hmac": [{"alg": "HS256", "secret_base64": encoded}]}))]}),
        );
        assert_eq!(code(&verify(&a, &token)), "verified");
    }
}

// ---- ECDSA malleability (issue 11, "also seen") ----

/// The token and its twin `(r, n - s)`: (low-S, high-S).
fn es256_encodings(kp: &ES256KeyPair) -> (String, String) {
    let token = kp.sign(claims(json!({}))).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    let other = format!("{input}.{}", b64(&ecdsa::twin(Alg::Es256, &sig).unwrap()));
    if ecdsa::low_s_twin(Alg::Es256, &sig).is_some() {
        (other, token)
    } else {
        (token, other)
    }
}

#[test]
fn both_ecdsa_encodings_verify_and_normalize_forwards_the_low_s_one() {
    let kp = es256();
    let (low, high) = es256_encodings(&kp);
    let a = auth(
        json!({"providers": [es_provider(&kp, json!({}))], "forward_token": true, "cache": {"max_entries": 0}}),
    );
    let mut state = AuthState::new(&a);
    assert!(matches!(
        a.verify(&low, &[], NOW_MS, &mut state),
        Verdict::Verified(_)
    ));
    assert!(matches!(
        a.verify(&high, &[], NOW_MS, &mut state),
        Verdict::Verified(_)
    ));
    assert_eq!(a.canonical_token(&high).as_deref(), Some(low.as_str()));
    assert_eq!(a.canonical_token(&low), None);
}

#[test]
fn reject_mode_refuses_high_s_before_any_key_is_used() {
    let kp = es256();
    let (low, high) = es256_encodings(&kp);
    let a = auth(
        json!({"providers": [es_provider(&kp, json!({}))], "ecdsa_high_s": "reject", "cache": {"max_entries": 0}}),
    );
    let mut state = AuthState::new(&a);
    assert!(matches!(
        a.verify(&low, &[], NOW_MS, &mut state),
        Verdict::Verified(_)
    ));
    assert_eq!(
        a.verify(&high, &[], NOW_MS, &mut state),
        Verdict::Denied(AuthError::MalleableSignature)
    );
    assert_eq!(
        AuthError::MalleableSignature.code(),
        "jwt_malleable_signature"
    );
}

// ---- the client's token and the upstream's credential ----

#[test]
fn the_token_header_is_stripped_unless_forward_token() {
    let a = hmac_auth(json!({}));
    assert_eq!(
        a.token_headers_to_strip().collect::<Vec<_>>(),
        ["authorization"]
    );
    let settings: AuthSettings = serde_json::from_value(json!({"forward_token": true})).unwrap();
    let a = Auth::compile(settings, "auth").unwrap();
    assert_eq!(a.token_headers_to_strip().count(), 0);
}

#[test]
fn upstream_credentials_come_inline_or_from_the_environment() {
    let settings: AuthSettings = serde_json::from_value(json!({"upstream_credential":
        {"header": "Authorization", "prefix": "Bearer ", "value": "sk-1"}}))
    .unwrap();
    let a = Auth::compile(settings, "auth").unwrap();
    assert_eq!(
        a.upstream_credential(),
        Some(("authorization", "Bearer sk-1"))
    );
    std::env::set_var("TOLLGATE_TEST_UPSTREAM_KEY", "sk-env");
    let settings: AuthSettings = serde_json::from_value(json!({"upstream_credential":
        {"header": "x-api-key", "value_env": "TOLLGATE_TEST_UPSTREAM_KEY"}}))
    .unwrap();
    let a = Auth::compile(settings, "auth").unwrap();
    assert_eq!(a.upstream_credential(), Some(("x-api-key", "sk-env")));
    for (bad, path) in [
        (
            json!({"header": "x", "value": "a", "value_env": "B"}),
            "auth.upstream_credential",
        ),
        (
            json!({"header": "x", "value_env": "TOLLGATE_TEST_NOT_SET_ANYWHERE"}),
            "auth.upstream_credential.value_env",
        ),
        (
            json!({"header": ":authority", "value": "a"}),
            "auth.upstream_credential.header",
        ),
        (
            json!({"header": "x", "value": "a\nb"}),
            "auth.upstream_credential",
        ),
    ] {
        assert_eq!(compile_err(json!({"upstream_credential": bad})).path, path);
    }
}

// ---- cheap refusals before the signature (issue 16, item 4) ----

/// An HS256 token over `extra` claims with a signature that does not verify.
fn forged(extra: Value) -> String {
    hs256_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload(extra),
        b"not-the-secret-not-the-secret-xx",
    )
}

#[test]
fn claims_that_need_no_key_are_checked_before_the_signature() {
    let a = hmac_auth(json!({"max_lifetime_s": 7200, "required_claims": ["tenant"]}));
    let cases = [
        (json!({"exp": NOW_S - 3600}), "jwt_expired"),
        (json!({"nbf": NOW_S + 3600}), "jwt_not_yet_valid"),
        (json!({"iat": NOW_S + 3600}), "jwt_not_yet_valid"),
        (json!({"aud": "someone-else"}), "jwt_wrong_audience"),
        (json!({"aud": ["x", "y"]}), "jwt_wrong_audience"),
        (json!({"exp": NOW_S + 86_400}), "jwt_lifetime_too_long"),
        (json!({"tenant": null}), "jwt_missing_claim"),
    ];
    for (extra, want) in cases {
        let mut state = AuthState::new(&a);
        let mut tenant = extra.clone();
        if tenant.get("tenant").is_none() {
            tenant["tenant"] = json!("acme");
        }
        let v = a.verify(&forged(tenant), &[], NOW_MS, &mut state);
        assert_eq!(code(&v), want, "{extra}");
        assert_eq!(
            state.signature_checks, 0,
            "{extra}: no signature was checked"
        );
    }
    // A well-formed forgery reaches the signature, and only then fails.
    let mut state = AuthState::new(&a);
    let v = a.verify(&forged(json!({"tenant": "acme"})), &[], NOW_MS, &mut state);
    assert_eq!(code(&v), "jwt_invalid_signature");
    assert_eq!(state.signature_checks, 1);
}

#[test]
fn the_gate_is_asked_only_before_a_signature_check() {
    let a = auth(
        json!({"providers": [provider(json!({"hmac": [{"alg": "HS256", "secret_base64": b64(HMAC_SECRET)}]}))]}),
    );
    let mut state = AuthState::new(&a);
    let asked = std::cell::Cell::new(0);
    let mut closed = || {
        asked.set(asked.get() + 1);
        false
    };
    // Expired: refused before the gate.
    let v = a.verify_gated(
        &forged(json!({"exp": NOW_S - 3600})),
        &[],
        NOW_MS,
        &mut state,
        &mut closed,
    );
    assert_eq!(code(&v), "jwt_expired");
    assert_eq!(asked.get(), 0);
    // Would cost a signature check: the gate says no.
    let v = a.verify_gated(&forged(json!({})), &[], NOW_MS, &mut state, &mut closed);
    assert_eq!(v, Verdict::Denied(AuthError::PreAuthThrottled));
    assert_eq!(asked.get(), 1);
    // A valid token verified once is served from the cache without the gate.
    let good = hs256_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload(json!({})),
        HMAC_SECRET,
    );
    assert!(matches!(
        a.verify(&good, &[], NOW_MS, &mut state),
        Verdict::Verified(_)
    ));
    let v = a.verify_gated(&good, &[], NOW_MS, &mut state, &mut closed);
    assert!(matches!(v, Verdict::Verified(_)));
    assert_eq!(asked.get(), 1);
}
