//! RSA signature verification for RS256/384/512 (PKCS#1 v1.5) and
//! PS256/384/512 (PSS), public key only.
//!
//! Why our own: jwt-simple's pure-Rust backend (superboring → `rsa` 0.9 →
//! num-bigint-dig) clones the key, sets up Montgomery constants and
//! allocates bignums on every call; in Wasm that made an uncached RS256
//! token cost about 1.2 ms. Verification only needs `s^65537 mod n`
//! (16 squarings and one multiplication), so the key's Montgomery constants
//! (`-n⁻¹ mod 2³²`, `R² mod n`) are computed once when the key is loaded
//! and each verification is 18 fixed-width Montgomery products over u32
//! limbs (u32 × u32 → u64 is one native multiply in wasm32; u64 limbs would
//! need a 128-bit product, which wasm emulates): one into the Montgomery
//! domain, 16 squarings, and one product by the plain signature that also
//! leaves the domain. Each product runs in product-scanning form with the
//! reduction fused (see `fused`): about 20% faster in V8 than the
//! operand-scanning loops it replaced, whose inner loop was bound by a
//! carry chain and a load and store of the product per multiplication. The
//! inner loops are iterator zips, so they compile to Wasm without bounds
//! checks.
//!
//! The encodings are checked strictly, as `rsa` 0.9 does: the signature is
//! exactly as long as the modulus and below it; PKCS#1 v1.5 compares the
//! whole encoded message with the one expected (DigestInfo with NULL
//! parameters); PSS uses MGF1 with the same hash and a salt as long as the
//! hash (RFC 7518 §3.5). No secret is involved, so nothing here needs to be
//! constant-time. Differential tests against jwt-simple are in `tests.rs`.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// The hash of an RS*/PS* algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The hash of the concatenation of `parts`.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Hash::Sha256 => run::<Sha256>(parts),
            Hash::Sha384 => run::<Sha384>(parts),
            Hash::Sha512 => run::<Sha512>(parts),
        }
    }

    /// DER of `DigestInfo` up to the digest itself (RFC 8017 §9.2 note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// The low 32 bits of a u64.
const LOW: u64 = 0xffff_ffff;

/// An RSA public key with e = 65537, ready for Montgomery arithmetic.
#[derive(Clone)]
pub struct RsaPublic {
    /// The modulus, little-endian u32 limbs, no zero top limb.
    n: Vec<u32>,
    /// `-n⁻¹ mod 2³²`.
    n0: u32,
    /// `R² mod n`, R = 2^(32 · limbs).
    rr: Vec<u32>,
    /// Modulus length in bytes (the signature length).
    k: usize,
    /// Modulus length in bits.
    bits: usize,
}

impl RsaPublic {
    /// The key for big-endian `n` and `e`. Only e = 65537 and odd moduli of
    /// at least 512 bits are accepted (jwt-simple's own key policy, 2048 to
    /// 4096 bits, is applied by the caller first).
    pub fn new(n_be: &[u8], e_be: &[u8]) -> Option<RsaPublic> {
        let e: Vec<u8> = e_be.iter().copied().skip_while(|b| *b == 0).collect();
        if e != [1, 0, 1] {
            return None;
        }
        let n_be: &[u8] = {
            let first = n_be.iter().position(|b| *b != 0)?;
            n_be.get(first..)?
        };
        let k = n_be.len();
        let bits = 8 * k - n_be.first()?.leading_zeros() as usize;
        if bits < 512 || n_be.last()? & 1 == 0 {
            return None;
        }
        let n = limbs_from_be(n_be, k.div_ceil(4));
        let n0 = neg_inverse(*n.first()?);
        // R² mod n by doubling 1 modulo n, 2 · 32 · limbs times.
        let mut rr = vec![0u32; n.len()];
        *rr.first_mut()? = 1;
        for _ in 0..64 * n.len() {
            let carry = shl1(&mut rr);
            if carry || !less_than(&rr, &n) {
                sub_in_place(&mut rr, &n);
            }
        }
        Some(RsaPublic { n, n0, rr, k, bits })
    }

    /// `s^65537 mod n` as `k` big-endian bytes, or `None` when the
    /// signature is not exactly `k` bytes or not below `n`.
    fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.k {
            return None;
        }
        let l = self.n.len();
        let s = limbs_from_be(sig, l);
        if !less_than(&s, &self.n) {
            return None;
        }
        let mut scratch = vec![0u32; l];
        let mut x = vec![0u32; l];
        self.mont_mul(&s, &self.rr, &mut x, &mut scratch); // s · R
        let mut y = vec![0u32; l];
        for _ in 0..8 {
            self.mont_sqr(&x, &mut y, &mut scratch);
            self.mont_sqr(&y, &mut x, &mut scratch);
        }
        // x = s^(2^16) · R; times the plain s, the R cancels: the product
        // s^65537 comes out of the Montgomery domain without a third product.
        self.mont_mul(&x, &s, &mut y, &mut scratch);
        Some(limbs_to_be(&y, self.k))
    }

    /// `out = a · b · R⁻¹ mod n`, product and Montgomery reduction fused in
    /// one product-scanning pass (see `fused`). `a`, `b` < n.
    #[allow(clippy::cast_possible_truncation)]
    fn mont_mul(&self, a: &[u32], b: &[u32], out: &mut [u32], m: &mut [u32]) {
        let l = self.n.len();
        let a = &a[..l];
        let b = &b[..l];
        self.fused(out, m, |k, lo, hi| {
            let i_lo = k.saturating_sub(l - 1);
            let i_hi = (k + 1).min(l);
            if i_lo < i_hi {
                for (&x, &y) in a[i_lo..i_hi]
                    .iter()
                    .zip(b[k + 1 - i_hi..=k - i_lo].iter().rev())
                {
                    let p = u64::from(x) * u64::from(y);
                    *lo += p & LOW;
                    *hi += p >> 32;
                }
            }
        });
    }

    /// `out = a² · R⁻¹ mod n`: each cross product once, doubled, plus the
    /// diagonal, with the reduction fused (see `fused`).
    fn mont_sqr(&self, a: &[u32], out: &mut [u32], m: &mut [u32]) {
        let l = self.n.len();
        let a = &a[..l];
        self.fused(out, m, |k, lo, hi| {
            // Cross products a[i] · a[k - i], i < k - i, counted twice.
            let i_lo = k.saturating_sub(l - 1);
            let i_hi = k.div_ceil(2);
            if i_lo < i_hi {
                let (mut cl, mut ch) = (0u64, 0u64);
                for (&x, &y) in a[i_lo..i_hi]
                    .iter()
                    .zip(a[k + 1 - i_hi..=k - i_lo].iter().rev())
                {
                    let p = u64::from(x) * u64::from(y);
                    cl += p & LOW;
                    ch += p >> 32;
                }
                *lo += 2 * cl;
                *hi += 2 * ch;
            }
            if k % 2 == 0 {
                if let Some(&d) = a.get(k / 2) {
                    let p = u64::from(d) * u64::from(d);
                    *lo += p & LOW;
                    *hi += p >> 32;
                }
            }
        });
    }

    /// A Montgomery product in product-scanning form (column by column,
    /// Comba style): `column(k, lo, hi)` adds the 2 · limbs-word product's
    /// column k, and the reduction's terms m[i] · n[k − i] are added here;
    /// `out` gets the product · R⁻¹ mod n. The running column sum is
    /// lo + hi · 2³², each a sum of 32-bit halves of products, so there is
    /// no carry chain from one product to the next (the operand-scanning
    /// form it replaces was bound by that chain, and by a load and a store
    /// of the product per multiplication). `m` is scratch (limbs words).
    #[allow(clippy::cast_possible_truncation)]
    fn fused(
        &self,
        out: &mut [u32],
        m: &mut [u32],
        mut column: impl FnMut(usize, &mut u64, &mut u64),
    ) {
        let l = self.n.len();
        let n = &self.n[..l];
        let m = &mut m[..l];
        let out = &mut out[..l];
        let (mut lo, mut hi) = (0u64, 0u64);
        for k in 0..2 * l {
            column(k, &mut lo, &mut hi);
            if k < l {
                // Choose m[k] so that column k becomes 0 mod 2³².
                for (&x, &y) in m[..k].iter().zip(n[1..=k].iter().rev()) {
                    let p = u64::from(x) * u64::from(y);
                    lo += p & LOW;
                    hi += p >> 32;
                }
                let mk = (lo as u32).wrapping_mul(self.n0);
                m[k] = mk;
                let p = u64::from(mk) * u64::from(n[0]);
                lo += p & LOW;
                hi += p >> 32;
            } else {
                for (&x, &y) in m[k + 1 - l..].iter().zip(n[k + 1 - l..].iter().rev()) {
                    let p = u64::from(x) * u64::from(y);
                    lo += p & LOW;
                    hi += p >> 32;
                }
                out[k - l] = lo as u32;
            }
            // Next column: the sum shifted down one word.
            lo = (lo >> 32) + (hi & LOW);
            hi >>= 32;
        }
        // The result is below 2n: one conditional subtraction.
        if lo != 0 || hi != 0 || !less_than(out, n) {
            sub_in_place(out, n);
        }
    }

    /// RSASSA-PKCS1-v1_5 verification of `message` (RFC 8017 §8.2.2).
    pub fn verify_pkcs1(&self, hash: Hash, message: &[&[u8]], sig: &[u8]) -> bool {
        let Some(em) = self.public_op(sig) else {
            return false;
        };
        let prefix = hash.digest_info_prefix();
        let t_len = prefix.len() + hash.len();
        if self.k < t_len + 11 {
            return false;
        }
        let mut expected = Vec::with_capacity(self.k);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(self.k - t_len - 1, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(prefix);
        expected.extend_from_slice(&hash.digest(message));
        em == expected
    }

    /// RSASSA-PSS verification of `message` with MGF1(`hash`) and a salt as
    /// long as the hash (RFC 8017 §8.1.2, §9.1.2).
    pub fn verify_pss(&self, hash: Hash, message: &[&[u8]], sig: &[u8]) -> bool {
        self.public_op(sig)
            .is_some_and(|m| self.pss_encoding_ok(hash, message, &m).is_some())
    }

    fn pss_encoding_ok(&self, hash: Hash, message: &[&[u8]], m: &[u8]) -> Option<()> {
        let h_len = hash.len();
        let s_len = h_len;
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        // I2OSP(m, emLen): m has k bytes; any extra leading byte must be 0.
        let (lead, em) = m.split_at(m.len().checked_sub(em_len)?);
        if lead.iter().any(|b| *b != 0) || em_len < h_len + s_len + 2 {
            return None;
        }
        let (&last, rest) = em.split_last()?;
        if last != 0xbc {
            return None;
        }
        let (masked_db, h) = rest.split_at(em_len - h_len - 1);
        let unused_bits = 8 * em_len - em_bits;
        let top_mask = 0xffu8.checked_shr(u32::try_from(unused_bits).ok()?)?;
        if masked_db.first()? & !top_mask != 0 {
            return None;
        }
        let mut db = mgf1(hash, h, masked_db.len());
        for (d, m) in db.iter_mut().zip(masked_db) {
            *d ^= m;
        }
        *db.first_mut()? &= top_mask;
        let ps_len = em_len - h_len - s_len - 2;
        let (ps, tail) = db.split_at(ps_len);
        let (&one, salt) = tail.split_first()?;
        if ps.iter().any(|b| *b != 0) || one != 0x01 {
            return None;
        }
        let m_hash = hash.digest(message);
        let h2 = hash.digest(&[&[0u8; 8], &m_hash, salt]);
        (h2 == h).then_some(())
    }
}

/// MGF1 (RFC 8017 §B.2.1).
fn mgf1(hash: Hash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.len());
    let mut counter = 0u32;
    while out.len() < len {
        out.extend_from_slice(&hash.digest(&[seed, &counter.to_be_bytes()]));
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Big-endian bytes into `limbs` little-endian u32 limbs (bytes beyond
/// `4 · limbs` are ignored; callers pass lengths that fit).
fn limbs_from_be(be: &[u8], limbs: usize) -> Vec<u32> {
    let mut out = vec![0u32; limbs];
    for (i, b) in be.iter().rev().enumerate() {
        if let Some(limb) = out.get_mut(i / 4) {
            *limb |= u32::from(*b) << (8 * (i % 4));
        }
    }
    out
}

/// Little-endian limbs into `len` big-endian bytes.
#[allow(clippy::cast_possible_truncation)]
fn limbs_to_be(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, o) in out.iter_mut().rev().enumerate() {
        if let Some(limb) = limbs.get(i / 4) {
            *o = (limb >> (8 * (i % 4))) as u8;
        }
    }
    out
}

/// `a < b` for equal-length little-endian limbs.
fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo 2^(32 · limbs).
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = false;
    for (x, y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(*y);
        let (d2, b2) = d1.overflowing_sub(u32::from(borrow));
        *x = d2;
        borrow = b1 || b2;
    }
}

/// `a <<= 1`; returns the bit shifted out.
fn shl1(a: &mut [u32]) -> bool {
    let mut carry = 0u32;
    for x in a.iter_mut() {
        let next = *x >> 31;
        *x = (*x << 1) | carry;
        carry = next;
    }
    carry != 0
}

/// `-x⁻¹ mod 2³²` for odd `x` (Newton's iteration, each step doubles the
/// correct low bits: 1 → 2 → 4 → 8 → 16 → 32... starting from x, correct to 3 bits).
fn neg_inverse(x: u32) -> u32 {
    let mut inv = x; // x · x ≡ 1 mod 8 for odd x
    for _ in 0..4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squaring_matches_multiplication() {
        let mut n = vec![0xd3u8; 256];
        n[0] = 0xc1;
        n[255] = 0x61;
        let key = RsaPublic::new(&n, &[1, 0, 1]).unwrap();
        let l = key.n.len();
        let mut scratch = vec![0u32; 2 * l + 1];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![vec![0u32; l], key.rr.clone()];
        let mut below_n = key.n.clone();
        below_n[0] -= 1;
        values.push(below_n);
        for _ in 0..50 {
            let mut v: Vec<u32> = (0..l)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u32
                })
                .collect();
            v[l - 1] %= key.n[l - 1]; // below n
            values.push(v);
        }
        for v in values {
            let (mut by_mul, mut by_sqr) = (vec![0u32; l], vec![0u32; l]);
            key.mont_mul(&v, &v, &mut by_mul, &mut scratch);
            key.mont_sqr(&v, &mut by_sqr, &mut scratch);
            assert_eq!(by_mul, by_sqr);
        }
    }

    #[test]
    fn neg_inverse_is_the_montgomery_constant() {
        for x in [1u32, 3, 0xffff_ffff, 0x1234_5677, 65537] {
            assert_eq!(x.wrapping_mul(neg_inverse(x)), u32::MAX, "{x}");
        }
    }

    #[test]
    fn limbs_round_trip() {
        let be: Vec<u8> = (1..=13).collect();
        let limbs = limbs_from_be(&be, 4);
        assert_eq!(limbs[0], 0x0a0b_0c0d);
        assert_eq!(limbs[3], 0x01);
        assert_eq!(limbs_to_be(&limbs, 13), be);
    }

    #[test]
    fn keys_with_other_exponents_even_or_tiny_moduli_are_refused() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 0xc7;
        assert!(RsaPublic::new(&n, &[1, 0, 1]).is_some());
        assert!(RsaPublic::new(&n, &[0, 1, 0, 1]).is_some());
        assert!(RsaPublic::new(&n, &[3]).is_none());
        let mut even = n.clone();
        even[255] = 0xc6;
        assert!(RsaPublic::new(&even, &[1, 0, 1]).is_none());
        assert!(RsaPublic::new(&n[..32], &[1, 0, 1]).is_none());
    }

    #[test]
    fn signatures_of_the_wrong_length_or_not_below_n_are_refused() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 0xc7;
        let key = RsaPublic::new(&n, &[1, 0, 1]).unwrap();
        assert!(key.public_op(&[1u8; 255]).is_none());
        assert!(key.public_op(&[1u8; 257]).is_none());
        assert!(key.public_op(&n).is_none(), "s = n");
        assert!(key.public_op(&[0xff; 256]).is_none(), "s > n");
        let mut below = n.clone();
        below[255] -= 2;
        assert!(key.public_op(&below).is_some(), "s = n - 2");
    }

    #[test]
    fn the_public_operation_matches_plain_modular_exponentiation() {
        // A 512-bit odd modulus, checked against square-and-multiply in u128
        // over a small prime-free construction is impractical; instead check
        // the algebra: (s^e)·(t^e) = (s·t)^e mod n for small s, t with
        // s · t < n, and 1^e = 1, 0^e = 0.
        let mut n = vec![0xd3u8; 64];
        n[63] = 0x61;
        let key = RsaPublic::new(&n, &[1, 0, 1]).unwrap();
        let be = |v: u64| {
            let mut b = vec![0u8; 64];
            b[56..].copy_from_slice(&v.to_be_bytes());
            b
        };
        let one = key.public_op(&be(1)).unwrap();
        assert_eq!(one, be(1));
        assert_eq!(key.public_op(&be(0)).unwrap(), be(0));
        let (s, t) = (0x1234_5678u64, 0x9abc_def1u64);
        let ps = key.public_op(&be(s)).unwrap();
        let pt = key.public_op(&be(t)).unwrap();
        let pst = key.public_op(&be(s * t)).unwrap();
        // Multiply ps · pt mod n through the Montgomery routine: mont(ps, pt·R²·R⁻¹).
        let l = key.n.len();
        let mut scratch = vec![0u32; 2 * l + 1];
        let a = limbs_from_be(&ps, l);
        let b = limbs_from_be(&pt, l);
        let mut b_r = vec![0u32; l];
        key.mont_mul(&b, &key.rr, &mut b_r, &mut scratch);
        let mut prod = vec![0u32; l];
        key.mont_mul(&a, &b_r, &mut prod, &mut scratch);
        assert_eq!(limbs_to_be(&prod, 64), pst);
    }
}
