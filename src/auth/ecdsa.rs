//! ECDSA signature malleability.
//!
//! An ECDSA signature `(r, s)` has a twin, `(r, n - s)`, that verifies as
//! well: one token then has two valid encodings, so anything that tells
//! tokens apart by their bytes (a cache, a revocation or replay list, a
//! log correlating token hashes) can be walked around. The "low-S" form
//! (`s <= n / 2`) is the canonical one. Many issuers (Go, Java, RustCrypto's
//! P-256) do not normalise, so refusing high-S tokens would refuse about
//! half of their honest tokens: the default is to *normalise* (the filter
//! treats the token as its low-S twin everywhere it keys on the token and
//! forwards the canonical form); `reject` is for issuers known to sign
//! low-S only.

use base64::Engine as _;
use serde::Deserialize;

use super::keys::Alg;

/// What to do with a high-S ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HighS {
    /// Accept it as its low-S twin (the default).
    #[default]
    Normalize,
    /// Refuse with 401 `jwt_malleable_signature`.
    Reject,
}

/// n / 2 for P-256, big-endian.
const P256_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];
/// n for P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// n / 2 for P-384, big-endian.
const P384_HALF_N: [u8; 48] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe3, 0xb1, 0xa6, 0xc0, 0xfa, 0x1b, 0x96, 0xef,
    0xac, 0x0d, 0x06, 0xd9, 0x24, 0x58, 0x53, 0xbd, 0x76, 0x76, 0x0c, 0xb5, 0x66, 0x62, 0x94, 0xb9,
];
/// n for P-384, big-endian.
const P384_N: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

fn curve(alg: Alg) -> Option<(&'static [u8], &'static [u8])> {
    match alg {
        Alg::Es256 => Some((&P256_HALF_N, &P256_N)),
        Alg::Es384 => Some((&P384_HALF_N, &P384_N)),
        _ => None,
    }
}

/// The low-S twin of a raw JWS ECDSA signature (`r || s`), or `None` when
/// it is already low-S, is not ECDSA, or has the wrong length (the
/// verifier refuses those anyway).
pub fn low_s_twin(alg: Alg, signature: &[u8]) -> Option<Vec<u8>> {
    let (half, n) = curve(alg)?;
    let s = signature
        .get(n.len()..)
        .filter(|_| signature.len() == 2 * n.len())?;
    // Big-endian byte strings of equal length compare as numbers.
    if s <= half {
        return None;
    }
    twin(alg, signature)
}

/// `(r, n - s)`: the other valid encoding of an ECDSA signature.
pub fn twin(alg: Alg, signature: &[u8]) -> Option<Vec<u8>> {
    let (_, n) = curve(alg)?;
    let size = n.len();
    if signature.len() != 2 * size {
        return None;
    }
    let s = signature.get(size..)?;
    let mut out = signature.get(..size)?.to_vec();
    let mut neg = vec![0u8; size];
    let mut borrow = 0i16;
    for i in (0..size).rev() {
        let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        neg[i] = u8::try_from(d.rem_euclid(256)).unwrap_or(0);
    }
    out.extend_from_slice(&neg);
    Some(out)
}

/// The token with its ECDSA signature in low-S form, or `None` when the
/// token already is canonical (or is not ECDSA).
pub fn canonical_token(token: &str, alg: Alg) -> Option<String> {
    curve(alg)?;
    let (signing_input, sig_b64) = token.rsplit_once('.')?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sig = b64.decode(sig_b64).ok()?;
    let twin = low_s_twin(alg, &sig)?;
    Some(format!("{signing_input}.{}", b64.encode(twin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_signatures_have_no_twin() {
        let mut sig = vec![1u8; 32];
        sig.extend_from_slice(&P256_HALF_N);
        assert_eq!(low_s_twin(Alg::Es256, &sig), None, "s = n/2 is low");
        assert_eq!(low_s_twin(Alg::Rs256, &[0xff; 64]), None, "not ecdsa");
        assert_eq!(low_s_twin(Alg::Es256, &[0xff; 63]), None, "wrong length");
    }

    #[test]
    fn the_twin_of_a_high_s_is_n_minus_s_and_twice_is_identity() {
        for (alg, n) in [(Alg::Es256, &P256_N[..]), (Alg::Es384, &P384_N[..])] {
            let size = n.len();
            let mut sig = vec![7u8; size];
            // s = n - 1: the highest s.
            let mut s = n.to_vec();
            s[size - 1] -= 1;
            sig.extend_from_slice(&s);
            let twin = low_s_twin(alg, &sig).unwrap();
            assert_eq!(&twin[..size], &sig[..size], "r unchanged");
            let mut one = vec![0u8; size];
            one[size - 1] = 1;
            assert_eq!(&twin[size..], &one[..], "n - (n - 1) = 1");
        }
    }
}
