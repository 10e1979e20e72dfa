//! Differential tests: our signature verifiers (`rsa.rs`) against
//! jwt-simple's, on random keys, random tokens, corrupted signatures and
//! hand-built encodings (Wycheproof-style edge cases written here).
//! Every case asserts both the expected outcome and that both verifiers agree.

use std::collections::HashSet;

use base64::Engine as _;
use jwt_simple::prelude::*;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};

use super::keys::{Alg, Key, VerifyFailure};

const NOW_S: u64 = 1_700_000_000;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

impl rsa::rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for Rng {}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn options() -> VerificationOptions {
    Key::options(
        "iss",
        &HashSet::from(["aud".to_string()]),
        60,
        1 << 16,
        NOW_S * 1000,
    )
}

/// A signing input with a random-length random claim, valid at NOW.
fn signing_input(alg: &str, rng: &mut Rng) -> String {
    let len = rng.below(300);
    let filler = b64(&rng.bytes(len));
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
    let payload = format!(
        r#"{{"iss":"iss","aud":"aud","sub":"s","iat":{NOW_S},"exp":{},"r":"{filler}"}}"#,
        NOW_S + 600
    );
    format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()))
}

fn hash(alg: Alg, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    match alg {
        Alg::Rs256 | Alg::Ps256 => run::<sha2::Sha256>(parts),
        Alg::Rs384 | Alg::Ps384 => run::<sha2::Sha384>(parts),
        _ => run::<sha2::Sha512>(parts),
    }
}

const RSA_ALGS: [Alg; 6] = [
    Alg::Rs256,
    Alg::Rs384,
    Alg::Rs512,
    Alg::Ps256,
    Alg::Ps384,
    Alg::Ps512,
];

/// One RSA key, ours and jwt-simple's for every algorithm.
struct RsaCase {
    private: RsaPrivateKey,
    private_pem: String,
    public_pem: String,
}

impl RsaCase {
    fn new(private: RsaPrivateKey) -> RsaCase {
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        RsaCase {
            private,
            private_pem,
            public_pem,
        }
    }

    fn k(&self) -> usize {
        self.private.size()
    }

    /// A signature over `input` (jwt-simple signs claims, not raw input:
    /// the encodings are built here and raw-signed).
    fn sign(&self, alg: Alg, input: &str) -> Vec<u8> {
        let em = match alg {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => pkcs1_em(alg, self.k(), input.as_bytes()),
            _ => {
                let h_len = hash(alg, &[]).len();
                let mut rng = Rng(input.len() as u64 + 7);
                let salt = rng.bytes(h_len);
                pss_em(alg, self.private.n().bits() - 1, input.as_bytes(), &salt)
            }
        };
        self.raw_sign(&em)
    }

    /// `em^d mod n`, as k bytes: a signature over any encoded message.
    fn raw_sign(&self, em: &[u8]) -> Vec<u8> {
        let m = BigUint::from_bytes_be(em);
        let s = m.modpow(self.private.d(), self.private.n());
        let bytes = s.to_bytes_be();
        let mut out = vec![0u8; self.k() - bytes.len()];
        out.extend_from_slice(&bytes);
        out
    }

    fn ours(&self, alg: Alg) -> Key {
        Key::from_pem(None, alg, &self.public_pem).unwrap()
    }

    /// jwt-simple's verdict on `token` (true when it verifies).
    fn theirs(&self, alg: Alg, token: &str) -> bool {
        let o = Some(options());
        let pem = &self.public_pem;
        match alg {
            Alg::Rs256 => RS256PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
            Alg::Rs384 => RS384PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
            Alg::Rs512 => RS512PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
            Alg::Ps256 => PS256PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
            Alg::Ps384 => PS384PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
            _ => PS512PublicKey::from_pem(pem)
                .unwrap()
                .verify_token::<NoCustomClaims>(token, o)
                .is_ok(),
        }
    }

    /// Asserts that ours and jwt-simple agree on `input.sig`, and that the
    /// verdict is `expect`.
    fn check(&self, alg: Alg, input: &str, sig: &[u8], expect: bool, what: &str) {
        let token = format!("{input}.{}", b64(sig));
        let ours = self.ours(alg).verify(&token, &options());
        let theirs = self.theirs(alg, &token);
        assert_eq!(
            ours.is_ok(),
            theirs,
            "{} bits {alg:?} {what}: ours {ours:?}, jwt-simple {theirs}",
            self.private.n().bits()
        );
        assert_eq!(ours.is_ok(), expect, "{alg:?} {what}");
        if !expect {
            assert_eq!(ours, Err(VerifyFailure::Signature), "{alg:?} {what}");
        }
    }
}

fn digest_info_prefix(alg: Alg) -> Vec<u8> {
    let id = match alg {
        Alg::Rs256 => 1,
        Alg::Rs384 => 2,
        _ => 3,
    };
    let len = hash(alg, &[]).len() as u8;
    vec![
        0x30,
        len + 17,
        0x30,
        0x0d,
        0x06,
        0x09,
        0x60,
        0x86,
        0x48,
        0x01,
        0x65,
        0x03,
        0x04,
        0x02,
        id,
        0x05,
        0x00,
        0x04,
        len,
    ]
}

/// EMSA-PKCS1-v1_5 encoding of `message` in `k` bytes.
fn pkcs1_em(alg: Alg, k: usize, message: &[u8]) -> Vec<u8> {
    let mut t = digest_info_prefix(alg);
    t.extend_from_slice(&hash(alg, &[message]));
    pkcs1_em_of(k, &t)
}

fn pkcs1_em_of(k: usize, t: &[u8]) -> Vec<u8> {
    let mut em = vec![0x00, 0x01];
    em.resize(k - t.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(t);
    em
}

fn mgf1(alg: Alg, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut c = 0u32;
    while out.len() < len {
        out.extend_from_slice(&hash(alg, &[seed, &c.to_be_bytes()]));
        c += 1;
    }
    out.truncate(len);
    out
}

/// EMSA-PSS encoding (RFC 8017 §9.1.1) of `message` with `salt`.
fn pss_em(alg: Alg, em_bits: usize, message: &[u8], salt: &[u8]) -> Vec<u8> {
    let em_len = em_bits.div_ceil(8);
    let m_hash = hash(alg, &[message]);
    let h = hash(alg, &[&[0u8; 8], &m_hash, salt]);
    let mut db = vec![0u8; em_len - salt.len() - h.len() - 2];
    db.push(0x01);
    db.extend_from_slice(salt);
    let mask = mgf1(alg, &h, db.len());
    for (d, m) in db.iter_mut().zip(&mask) {
        *d ^= m;
    }
    db[0] &= 0xff >> (8 * em_len - em_bits);
    db.extend_from_slice(&h);
    db.push(0xbc);
    db
}

/// The keys, generated once for all tests (key generation is the slow part).
fn rsa_cases() -> &'static [RsaCase] {
    static CASES: std::sync::OnceLock<Vec<RsaCase>> = std::sync::OnceLock::new();
    CASES.get_or_init(|| generate_rsa_cases(&mut Rng(0x5eed_0000)))
}

fn generate_rsa_cases(rng: &mut Rng) -> Vec<RsaCase> {
    let mut cases = vec![RsaCase::new(
        rsa::pkcs8::DecodePrivateKey::from_pkcs8_pem(super::testkeys::RSA_PRIVATE_PEM).unwrap(),
    )];
    // 2049 bits: the PSS encoding is one byte shorter than the modulus.
    for bits in [2048, 2049, 3072, 4096] {
        cases.push(RsaCase::new(RsaPrivateKey::new(rng, bits).unwrap()));
    }
    cases
}

#[test]
fn rsa_signatures_from_jwt_simple_verify_with_ours() {
    let mut rng = Rng(0x5eed_0001);
    let case = RsaCase::new(
        rsa::pkcs8::DecodePrivateKey::from_pkcs8_pem(super::testkeys::RSA_PRIVATE_PEM).unwrap(),
    );
    let claims = Claims::create(Duration::from_secs(600))
        .with_issuer("iss")
        .with_audience("aud");
    for alg in RSA_ALGS {
        let pem = &case.private_pem;
        let token = match alg {
            Alg::Rs256 => RS256KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
            Alg::Rs384 => RS384KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
            Alg::Rs512 => RS512KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
            Alg::Ps256 => PS256KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
            Alg::Ps384 => PS384KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
            _ => PS512KeyPair::from_pem(pem).unwrap().sign(claims.clone()),
        }
        .unwrap();
        // jwt-simple's own tokens use the wall clock: verify at now.
        let now_ms = jwt_simple::prelude::Clock::now_since_epoch().as_millis();
        let opts = Key::options(
            "iss",
            &HashSet::from(["aud".to_string()]),
            60,
            1 << 16,
            now_ms,
        );
        assert_eq!(case.ours(alg).verify(&token, &opts), Ok(()), "{alg:?}");
        // And one bit off anywhere in the signature is refused.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        let i = rng.below(sig.len());
        sig[i] ^= 1 << rng.below(8);
        let bad = format!("{input}.{}", b64(&sig));
        assert_eq!(
            case.ours(alg).verify(&bad, &opts),
            Err(VerifyFailure::Signature)
        );
    }
}

#[test]
fn rsa_random_keys_tokens_and_corruptions_agree_with_jwt_simple() {
    let mut rng = Rng(0x5eed_0002);
    for case in rsa_cases() {
        let k = case.k();
        let n = case.private.n().to_bytes_be();
        for alg in RSA_ALGS {
            for round in 0..3 {
                let input = signing_input(alg.name(), &mut rng);
                let sig = case.sign(alg, &input);
                case.check(alg, &input, &sig, true, "valid");
                // Bit flips anywhere.
                let mut flipped = sig.clone();
                let i = rng.below(k);
                flipped[i] ^= 1 << rng.below(8);
                case.check(alg, &input, &flipped, false, "bit flip");
                // A valid signature over another input.
                let other = signing_input(alg.name(), &mut rng);
                case.check(alg, &other, &sig, false, "other input");
                if round > 0 {
                    continue;
                }
                // Wrong lengths: one byte short, a leading zero added.
                case.check(alg, &input, &sig[1..], false, "short");
                let mut long = vec![0u8];
                long.extend_from_slice(&sig);
                case.check(alg, &input, &long, false, "leading zero");
                // s = n, s = n + 1, s = 2^8k - 1, s = 0, s = 1.
                case.check(alg, &input, &n, false, "s = n");
                let mut n1 = n.clone();
                *n1.last_mut().unwrap() += 1; // n is odd: no carry
                case.check(alg, &input, &n1, false, "s = n + 1");
                case.check(alg, &input, &vec![0xff; k], false, "s = max");
                case.check(alg, &input, &vec![0; k], false, "s = 0");
                let mut one = vec![0; k];
                one[k - 1] = 1;
                case.check(alg, &input, &one, false, "s = 1");
                // The same padding under the other scheme of the same hash.
                let twin = match alg {
                    Alg::Rs256 => Alg::Ps256,
                    Alg::Rs384 => Alg::Ps384,
                    Alg::Rs512 => Alg::Ps512,
                    Alg::Ps256 => Alg::Rs256,
                    Alg::Ps384 => Alg::Rs384,
                    _ => Alg::Rs512,
                };
                let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, twin.name());
                let payload = input.split_once('.').unwrap().1;
                let twin_input = format!("{}.{payload}", b64(header.as_bytes()));
                case.check(twin, &twin_input, &sig, false, "other scheme");
            }
        }
    }
}

#[test]
fn rsa_pkcs1_encodings_that_are_almost_right_are_refused() {
    let mut rng = Rng(0x5eed_0003);
    let cases = rsa_cases();
    for case in &cases[..2] {
        let k = case.k();
        for alg in [Alg::Rs256, Alg::Rs384, Alg::Rs512] {
            let input = signing_input(alg.name(), &mut rng);
            let h = hash(alg, &[input.as_bytes()]);
            let prefix = digest_info_prefix(alg);
            let t = [prefix.clone(), h.clone()].concat();
            let good = pkcs1_em_of(k, &t);
            case.check(alg, &input, &case.raw_sign(&good), true, "well formed");

            let mut bad: Vec<(&str, Vec<u8>)> = Vec::new();
            // DigestInfo without the NULL parameters.
            let mut no_null = prefix.clone();
            no_null.drain(15..17);
            no_null[1] -= 2;
            no_null[3] -= 2;
            bad.push(("no NULL", pkcs1_em_of(k, &[no_null, h.clone()].concat())));
            // Another hash's OID around this digest.
            let other_oid = digest_info_prefix(if alg == Alg::Rs256 {
                Alg::Rs512
            } else {
                Alg::Rs256
            });
            let mut wrong = other_oid.clone();
            wrong[1] = prefix[1];
            wrong[18] = prefix[18];
            bad.push(("other oid", pkcs1_em_of(k, &[wrong, h.clone()].concat())));
            // Block type 2 instead of 1.
            let mut bt2 = good.clone();
            bt2[1] = 0x02;
            bad.push(("block type 2", bt2));
            // A padding byte that is not 0xff.
            let mut ps = good.clone();
            ps[5] = 0xfe;
            bad.push(("padding byte", ps));
            // No zero separator.
            let mut sep = good.clone();
            sep[k - t.len() - 1] = 0xff;
            bad.push(("no separator", sep));
            // Garbage after the digest (digest moved one byte left).
            let mut garbage = pkcs1_em_of(k, &[t.clone(), vec![0]].concat());
            garbage[2] = 0xff;
            bad.push(("trailing garbage", garbage));
            // Padding too short: the digest info prefixed by a zero byte.
            bad.push((
                "short padding",
                pkcs1_em_of(k, &[vec![0u8; 1], t.clone()].concat()),
            ));
            // The digest of another message.
            let other = hash(alg, &[b"other"]);
            bad.push((
                "other digest",
                pkcs1_em_of(k, &[prefix.clone(), other].concat()),
            ));
            for (what, em) in bad {
                case.check(alg, &input, &case.raw_sign(&em), false, what);
            }
        }
    }
}

#[test]
fn rsa_pss_encodings_that_are_almost_right_are_refused() {
    let mut rng = Rng(0x5eed_0004);
    let cases = rsa_cases();
    // The fixed 2048-bit key and the 2049-bit one (emLen = k - 1).
    for case in &cases[..3] {
        let em_bits = case.private.n().bits() - 1;
        for alg in [Alg::Ps256, Alg::Ps384, Alg::Ps512] {
            let input = signing_input(alg.name(), &mut rng);
            let h_len = hash(alg, &[]).len();
            let salt = rng.bytes(h_len);
            let good = pss_em(alg, em_bits, input.as_bytes(), &salt);
            case.check(alg, &input, &case.raw_sign(&good), true, "well formed");
            for len in [0, 20, h_len - 1, h_len + 1] {
                let em = pss_em(alg, em_bits, input.as_bytes(), &rng.bytes(len));
                case.check(alg, &input, &case.raw_sign(&em), false, "salt length");
            }
            let mut trailer = good.clone();
            *trailer.last_mut().unwrap() = 0xbd;
            case.check(alg, &input, &case.raw_sign(&trailer), false, "trailer");
            if em_bits % 8 != 0 {
                // A bit above emBits set.
                let mut top = good.clone();
                top[0] |= 0x80;
                case.check(alg, &input, &case.raw_sign(&top), false, "top bits");
            }
            let mut h = good.clone();
            let at = h.len() - 2;
            h[at] ^= 1;
            case.check(alg, &input, &case.raw_sign(&h), false, "hash byte");
            let mut db = good.clone();
            db[1] ^= 0x40;
            case.check(alg, &input, &case.raw_sign(&db), false, "padding byte");
        }
    }
}

/// n for P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[test]
fn es256_random_keys_tokens_and_corruptions_agree_with_jwt_simple() {
    let mut rng = Rng(0x5eed_0005);
    let now_ms = Clock::now_since_epoch().as_millis();
    let opts = Key::options(
        "iss",
        &HashSet::from(["aud".to_string()]),
        60,
        1 << 16,
        now_ms,
    );
    for _ in 0..12 {
        let kp = ES256KeyPair::generate();
        let pem = kp.public_key().to_pem().unwrap();
        let ours = Key::from_pem(None, Alg::Es256, &pem).unwrap();
        let theirs = ES256PublicKey::from_pem(&pem).unwrap();
        let agree = |input: &str, sig: &[u8], expect: bool, what: &str| {
            let token = format!("{input}.{}", b64(sig));
            let o = ours.verify(&token, &opts);
            let t = theirs.verify_token::<NoCustomClaims>(&token, Some(opts.clone()));
            assert_eq!(o.is_ok(), t.is_ok(), "{what}: ours {o:?}, jwt-simple {t:?}");
            assert_eq!(o.is_ok(), expect, "{what}");
            if !expect {
                assert_eq!(o, Err(VerifyFailure::Signature), "{what}");
            }
        };
        for _ in 0..6 {
            let len = rng.below(300);
            let filler = b64(&rng.bytes(len));
            let claims = Claims::with_custom_claims(
                serde_json::json!({ "r": filler }),
                Duration::from_secs(600),
            )
            .with_issuer("iss")
            .with_audience("aud");
            let token = kp.sign(claims).unwrap();
            let (input, sig_b64) = token.rsplit_once('.').unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .unwrap();
            agree(input, &sig, true, "valid");
            // The other encoding (r, n - s) verifies in both (p256 does not
            // normalise; the filter's high-S policy runs before the key).
            let twin = super::ecdsa::twin(Alg::Es256, &sig).unwrap();
            agree(input, &twin, true, "s twin");
            let mut flipped = sig.clone();
            let i = rng.below(64);
            flipped[i] ^= 1 << rng.below(8);
            agree(input, &flipped, false, "bit flip");
            let other = format!("{input}x");
            agree(&other, &sig, false, "other input");
            agree(input, &sig[..63], false, "short");
            let mut long = vec![0u8];
            long.extend_from_slice(&sig);
            agree(input, &long, false, "leading zero");
            let swapped = [&sig[32..], &sig[..32]].concat();
            agree(input, &swapped, false, "r and s swapped");
            for (what, r, s) in [
                ("r = 0", [0u8; 32], sig[32..].to_vec()),
                ("s = 0", sig[..32].try_into().unwrap(), vec![0u8; 32]),
                ("r = n", P256_N, sig[32..].to_vec()),
                ("s = n", sig[..32].try_into().unwrap(), P256_N.to_vec()),
                ("s = max", sig[..32].try_into().unwrap(), vec![0xff; 32]),
            ] {
                agree(input, &[&r[..], &s].concat(), false, what);
            }
            // r + n still fits 32 bytes only when r < 2^256 - n; then it
            // is out of range (>= n) and must not wrap around.
            let mut r_plus_n = [0u8; 32];
            let mut carry = 0u16;
            for i in (0..32).rev() {
                let v = u16::from(sig[i]) + u16::from(P256_N[i]) + carry;
                r_plus_n[i] = v as u8;
                carry = v >> 8;
            }
            if carry == 0 {
                agree(input, &[&r_plus_n[..], &sig[32..]].concat(), false, "r + n");
            }
        }
    }
}
