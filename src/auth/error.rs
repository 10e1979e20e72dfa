//! Why a token was refused (or a JWKS fetch failed).
//!
//! Messages are lowercase and fixed text: they may name a claim or a reason,
//! never the token, a claim value or anything else the client sent.

use std::fmt;

/// Why authentication failed. [`AuthError::code`] is stable: it appears in
/// the response body, the audit line and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in any configured source.
    Missing,
    /// The token is not a well-formed compact JWS (the reason is fixed text).
    Malformed(&'static str),
    /// The token exceeds `max_token_bytes`.
    TooLarge,
    /// `alg` is `none`, unknown, or not the algorithm of the key (fixed text).
    UnsupportedAlg(&'static str),
    /// The header carries `crit`, which we never honour.
    CritUnsupported,
    /// No accepted provider has the token's `iss`.
    UnknownIssuer,
    /// The provider has no key with the token's `kid`.
    UnknownKid,
    /// No key verified the signature.
    InvalidSignature,
    /// A high-S ECDSA signature while `ecdsa_high_s` is `reject`.
    MalleableSignature,
    /// The per-IP pre-authentication limit refused to check a signature
    /// (the pipeline answers 429 from the limiter's outcome).
    PreAuthThrottled,
    /// `exp` (plus skew) is in the past.
    Expired,
    /// `nbf` or `iat` (minus skew) is in the future.
    NotYetValid,
    /// The token has no `exp` and the provider requires one.
    MissingExp,
    /// The token lives longer than the provider's `max_lifetime_s`.
    LifetimeTooLong,
    /// `iss` does not match the provider.
    WrongIssuer,
    /// None of the token's audiences is accepted.
    WrongAudience,
    /// A required claim (named) is absent or null.
    MissingClaim(String),
    /// The provider's JWKS has never been loaded and cannot be fetched now.
    KeysUnavailable,
    /// A JWKS fetch failed: `None` is a transport failure or timeout.
    JwksFetchFailed(Option<u16>),
    /// A fetched JWKS document was unusable (the reason names fields, not values).
    JwksInvalid(String),
}

impl AuthError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "jwt_missing",
            AuthError::Malformed(_) => "jwt_malformed",
            AuthError::TooLarge => "jwt_too_large",
            AuthError::UnsupportedAlg(_) => "jwt_unsupported_alg",
            AuthError::CritUnsupported => "jwt_crit_unsupported",
            AuthError::UnknownIssuer => "jwt_unknown_issuer",
            AuthError::UnknownKid => "jwt_unknown_kid",
            AuthError::InvalidSignature => "jwt_invalid_signature",
            AuthError::MalleableSignature => "jwt_malleable_signature",
            AuthError::PreAuthThrottled => "rate_limited",
            AuthError::Expired => "jwt_expired",
            AuthError::NotYetValid => "jwt_not_yet_valid",
            AuthError::MissingExp => "jwt_missing_exp",
            AuthError::LifetimeTooLong => "jwt_lifetime_too_long",
            AuthError::WrongIssuer => "jwt_wrong_issuer",
            AuthError::WrongAudience => "jwt_wrong_audience",
            AuthError::MissingClaim(_) => "jwt_missing_claim",
            AuthError::KeysUnavailable => "jwt_keys_unavailable",
            AuthError::JwksFetchFailed(_) => "jwks_fetch_failed",
            AuthError::JwksInvalid(_) => "jwks_invalid",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => write!(f, "no bearer token in the request"),
            AuthError::Malformed(why) => write!(f, "the token is malformed: {why}"),
            AuthError::TooLarge => write!(f, "the token is too large"),
            AuthError::UnsupportedAlg(why) => {
                write!(f, "the token's signing algorithm is not accepted: {why}")
            }
            AuthError::CritUnsupported => write!(
                f,
                "the token header lists critical extensions, which are not supported"
            ),
            AuthError::UnknownIssuer => write!(f, "the token's issuer is not accepted here"),
            AuthError::UnknownKid => write!(f, "the token's key id is not known for its issuer"),
            AuthError::InvalidSignature => write!(f, "the token's signature is invalid"),
            AuthError::PreAuthThrottled => write!(
                f,
                "too many token verifications from this address; retry later"
            ),
            AuthError::MalleableSignature => write!(
                f,
                "the token's ecdsa signature is not in canonical low-s form"
            ),
            AuthError::Expired => write!(f, "the token has expired"),
            AuthError::NotYetValid => write!(f, "the token is not valid yet"),
            AuthError::MissingExp => write!(f, "the token has no expiry (`exp`)"),
            AuthError::LifetimeTooLong => {
                write!(f, "the token's lifetime exceeds the maximum allowed")
            }
            AuthError::WrongIssuer => write!(f, "the token's issuer does not match"),
            AuthError::WrongAudience => write!(f, "the token is not intended for this audience"),
            AuthError::MissingClaim(name) => {
                write!(f, "the token lacks the required claim `{name}`")
            }
            AuthError::KeysUnavailable => write!(
                f,
                "the signing keys for the token's issuer are not available"
            ),
            AuthError::JwksFetchFailed(Some(status)) => {
                write!(f, "jwks fetch failed with http status {status}")
            }
            AuthError::JwksFetchFailed(None) => write!(
                f,
                "jwks fetch failed: no response (connection failure or timeout)"
            ),
            AuthError::JwksInvalid(why) => write!(f, "jwks document is invalid: {why}"),
        }
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let cases = [
            (AuthError::Missing, "jwt_missing"),
            (AuthError::Malformed("x"), "jwt_malformed"),
            (AuthError::TooLarge, "jwt_too_large"),
            (AuthError::UnsupportedAlg("x"), "jwt_unsupported_alg"),
            (AuthError::CritUnsupported, "jwt_crit_unsupported"),
            (AuthError::UnknownIssuer, "jwt_unknown_issuer"),
            (AuthError::UnknownKid, "jwt_unknown_kid"),
            (AuthError::InvalidSignature, "jwt_invalid_signature"),
            (AuthError::Expired, "jwt_expired"),
            (AuthError::NotYetValid, "jwt_not_yet_valid"),
            (AuthError::MissingExp, "jwt_missing_exp"),
            (AuthError::LifetimeTooLong, "jwt_lifetime_too_long"),
            (AuthError::WrongIssuer, "jwt_wrong_issuer"),
            (AuthError::WrongAudience, "jwt_wrong_audience"),
            (
                AuthError::MissingClaim("tenant".into()),
                "jwt_missing_claim",
            ),
            (AuthError::KeysUnavailable, "jwt_keys_unavailable"),
            (AuthError::JwksFetchFailed(None), "jwks_fetch_failed"),
            (AuthError::JwksInvalid("x".into()), "jwks_invalid"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
            let msg = err.to_string();
            assert_eq!(
                msg,
                msg.to_lowercase(),
                "message of {code} is not lowercase"
            );
        }
    }

    #[test]
    fn missing_claim_names_the_claim() {
        assert_eq!(
            AuthError::MissingClaim("tenant".into()).to_string(),
            "the token lacks the required claim `tenant`"
        );
    }

    #[test]
    fn denial_is_a_401_with_a_bearer_challenge() {
        let d = crate::decision::Denial::from(&AuthError::Expired);
        assert_eq!(d.status, 401);
        assert_eq!(d.code, "jwt_expired");
        assert!(d
            .headers
            .iter()
            .any(|(n, v)| n == "www-authenticate" && v.contains("invalid_token")));
        let d = crate::decision::Denial::from(&AuthError::Missing);
        assert!(d
            .headers
            .iter()
            .any(|(n, v)| n == "www-authenticate" && v == "Bearer"));
    }
}
