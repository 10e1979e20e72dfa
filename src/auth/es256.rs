//! ES256 (ECDSA P-256 SHA-256) verification with precomputed tables.
//!
//! Why our own: jwt-simple verifies with `p256` 0.14, whose verifier builds
//! width-5 NAF tables for both the generator and the public key on every
//! call and then runs 256 point doublings: about 0.6 ms per token in Wasm.
//! The generator never changes and a public key changes only with the JWKS,
//! so both get a fixed-base table once: for each radix-2^w digit position i,
//! the affine points j · 2^(w·i) · P for j = 1..2^(w-1) (w = 6 for keys,
//! about 100 KiB each; w = 7 for the generator, 175 KiB once per VM). A
//! verification is then about 80 mixed additions and no doubling.
//! All field, scalar and point arithmetic is `p256`'s own; only the
//! multiplication schedule is ours.
//!
//! Everything here is public (key, message, signature), so variable time
//! is fine. The checks are those of `ecdsa` 0.17 (`verify_prehashed`):
//! r and s in [1, n-1], `u1 = z/s`, `u2 = r/s`, `R = u1·G + u2·Q` not the
//! identity, and `x(R) mod n == r`. High-S signatures verify here as in
//! `p256` (its `NORMALIZE_S` is false); the `ecdsa_high_s` policy applies
//! before any key is used (see `ecdsa.rs`). Differential tests against
//! jwt-simple are in `differential.rs`.

use std::sync::OnceLock;

use p256::elliptic_curve::group::Curve as _;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates as _;
use p256::elliptic_curve::Field as _;
use p256::elliptic_curve::Group as _;
use p256::elliptic_curve::PrimeField as _;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

/// Digit width of a key's table: 44 positions × 32 multiples (about 100 KiB).
const KEY_BITS: u32 = 6;
/// Digit width of the generator's table, built once per VM: 38 positions ×
/// 64 multiples (175 KiB), so u1·G is 38 additions.
const GENERATOR_BITS: u32 = 7;

/// A fixed-base table for signed radix-2^w digits:
/// `points[i * half + j] = (j + 1) · 2^(w·i) · P`, half = 2^(w-1).
#[derive(Clone)]
pub struct Table {
    bits: u32,
    points: Vec<AffinePoint>,
}

impl Table {
    /// The table of `p` for `bits`-wide digits (2 to 7).
    pub fn new(p: &ProjectivePoint, bits: u32) -> Table {
        let half = 1usize << (bits - 1);
        let windows = windows(bits);
        let mut projective = Vec::with_capacity(windows * half);
        let mut base = *p;
        for _ in 0..windows {
            let mut multiple = base;
            for _ in 0..half {
                projective.push(multiple);
                multiple += base;
            }
            // 2^w · base = 2 · (half · base).
            base = projective
                .last()
                .map_or(ProjectivePoint::IDENTITY, |top| top.double());
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Table { bits, points }
    }

    /// Adds `k · P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
        let half = 1usize << (self.bits - 1);
        for (i, d) in signed_digits(k, self.bits).iter().enumerate() {
            let magnitude = usize::from(d.unsigned_abs());
            if magnitude == 0 {
                continue;
            }
            if let Some(point) = self.points.get(i * half + magnitude - 1) {
                if *d < 0 {
                    *acc += -*point;
                } else {
                    *acc += point;
                }
            }
        }
    }
}

/// Digit positions for 256-bit scalars, plus one for the recoding's carry.
fn windows(bits: u32) -> usize {
    256usize.div_ceil(bits as usize) + 1
}

/// The generator's table, built on first use.
fn generator_table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::new(&ProjectivePoint::GENERATOR, GENERATOR_BITS))
}

/// `k` as signed radix-2^bits digits in [-2^(bits-1), 2^(bits-1)], least
/// significant first.
fn signed_digits(k: &Scalar, bits: u32) -> Vec<i8> {
    let bytes = k.to_repr();
    let bit = |i: usize| -> i16 {
        bytes
            .get(31usize.wrapping_sub(i / 8))
            .map_or(0, |b| i16::from((b >> (i % 8)) & 1))
    };
    let width = bits as usize;
    let half = 1i16 << (bits - 1);
    let mut digits = Vec::with_capacity(windows(bits));
    let mut carry = 0i16;
    for w in 0..windows(bits) {
        let mut v = carry;
        for j in 0..width {
            v += bit(w * width + j) << j;
        }
        carry = i16::from(v > half);
        // |v - carry · 2^bits| <= 2^(bits-1) <= 64: fits an i8.
        #[allow(clippy::cast_possible_truncation)]
        digits.push((v - (carry << bits)) as i8);
    }
    digits
}

/// An ES256 public key with its table.
#[derive(Clone)]
pub struct Es256Public {
    table: Box<Table>,
}

impl Es256Public {
    /// The key for a point already validated by jwt-simple / `p256`
    /// (on the curve, not the identity), as SEC1 bytes.
    pub fn new(sec1: &[u8]) -> Option<Es256Public> {
        let pk = p256::PublicKey::from_sec1_bytes(sec1).ok()?;
        Some(Es256Public {
            table: Box::new(Table::new(&pk.to_projective(), KEY_BITS)),
        })
    }

    /// Verifies a raw JWS signature (`r || s`, 64 bytes) over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.verify_inner(message, sig).is_some()
    }

    fn verify_inner(&self, message: &[u8], sig: &[u8]) -> Option<()> {
        if sig.len() != 64 {
            return None;
        }
        let (r_bytes, s_bytes) = sig.split_at(32);
        let r = scalar_in_range(r_bytes)?;
        let s = scalar_in_range(s_bytes)?;
        let digest = hmac_sha256::Hash::hash(message);
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
        // The constant-time inversion (an addition chain of Montgomery
        // products) is about 8x faster in Wasm than `invert_vartime`
        // (safegcd over generic big integers).
        let w = Option::<Scalar>::from(s.invert())?;
        let (u1, u2) = (z * w, r * w);
        let mut acc = ProjectivePoint::IDENTITY;
        generator_table().mul_add(&u1, &mut acc);
        self.table.mul_add(&u2, &mut acc);
        let point = acc.to_affine();
        if bool::from(point.is_identity()) {
            return None;
        }
        let x = <Scalar as Reduce<FieldBytes>>::reduce(&point.x());
        (x == r).then_some(())
    }
}

/// A scalar in [1, n - 1] from 32 big-endian bytes, or `None`.
fn scalar_in_range(bytes: &[u8]) -> Option<Scalar> {
    let repr = FieldBytes::try_from(bytes).ok()?;
    let k = Option::<Scalar>::from(Scalar::from_repr(repr))?;
    (!bool::from(k.is_zero())).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_multiplies_like_p256() {
        let p = ProjectivePoint::GENERATOR * Scalar::from(0x1234_5678_9abc_u64);
        for bits in [KEY_BITS, GENERATOR_BITS, 4] {
            let table = Table::new(&p, bits);
            let minus_one = -Scalar::ONE;
            let mut k = Scalar::from(0xdead_beef_u64);
            for extra in [Scalar::ZERO, Scalar::ONE, minus_one, Scalar::from(8u64)] {
                for _ in 0..20 {
                    k = k * k + Scalar::from(7u64);
                    let scalar = k + extra;
                    let mut acc = ProjectivePoint::IDENTITY;
                    table.mul_add(&scalar, &mut acc);
                    assert_eq!(acc.to_affine(), (p * scalar).to_affine());
                }
            }
            for small in [0u64, 1, 7, 8, 9, 15, 16, 17, 0x88, 0xffff] {
                let mut acc = ProjectivePoint::IDENTITY;
                table.mul_add(&Scalar::from(small), &mut acc);
                assert_eq!(acc.to_affine(), (p * Scalar::from(small)).to_affine());
            }
        }
    }

    #[test]
    fn signed_digits_recompose_the_scalar() {
        for bits in [4, KEY_BITS, GENERATOR_BITS] {
            let radix = Scalar::from(1u64 << bits);
            let half = 1i8 << (bits - 1);
            let mut k = Scalar::from(0x1234_5678u64);
            let mut scalars = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE];
            for _ in 0..20 {
                k = k * k + Scalar::from(3u64);
                scalars.push(k);
            }
            for k in scalars {
                let digits = signed_digits(&k, bits);
                assert!(digits.iter().all(|d| (-half..=half).contains(d)));
                let mut back = Scalar::ZERO;
                for d in digits.iter().rev() {
                    let mag = Scalar::from(u64::from(d.unsigned_abs()));
                    back = back * radix + if *d < 0 { -mag } else { mag };
                }
                assert_eq!(back, k, "{bits}");
            }
        }
    }

    #[test]
    fn out_of_range_scalars_are_refused() {
        assert!(scalar_in_range(&[0u8; 32]).is_none());
        assert!(scalar_in_range(&[0xffu8; 32]).is_none());
        assert!(scalar_in_range(&[1u8; 31]).is_none());
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(scalar_in_range(&one).is_some());
    }
}
