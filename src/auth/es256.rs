//! ES256 (ECDSA P-256 SHA-256) verification with precomputed tables.
//!
//! Why our own: jwt-simple verifies with `p256` 0.14, whose verifier builds
//! width-5 NAF tables for both the generator and the public key on every
//! call and then runs 256 point doublings: about 0.6 ms per token in Wasm.
//! The generator never changes and a public key changes only with the JWKS,
//! so both get a fixed-base table once: for each of the 65 radix-16 digit
//! positions i, the affine points j · 16^i · P for j = 1..8 (37 KiB per key).
//! A verification is then about 128 mixed additions and no doubling.
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

/// Radix-16 digit positions: 64 for 256 bits, plus one for the carry of
/// the signed recoding.
const WINDOWS: usize = 65;
/// Table entries per position: multiples 1..8 (signed digits -8..8).
const PER_WINDOW: usize = 8;

/// A fixed-base table: `points[i * 8 + j] = (j + 1) · 16^i · P`.
#[derive(Clone)]
pub struct Table {
    points: Vec<AffinePoint>,
}

impl Table {
    /// The table of `p`.
    pub fn new(p: &ProjectivePoint) -> Table {
        let mut projective = Vec::with_capacity(WINDOWS * PER_WINDOW);
        let mut base = *p;
        for _ in 0..WINDOWS {
            let mut multiple = base;
            for _ in 0..PER_WINDOW {
                projective.push(multiple);
                multiple += base;
            }
            // multiple = 9 · base; 16 · base = 2 · (8 · base).
            base = projective
                .last()
                .map_or(ProjectivePoint::IDENTITY, |eight| eight.double());
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Table { points }
    }

    /// Adds `k · P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
        for (i, d) in signed_digits(k).iter().enumerate() {
            let magnitude = usize::from(d.unsigned_abs());
            if magnitude == 0 {
                continue;
            }
            if let Some(point) = self.points.get(i * PER_WINDOW + magnitude - 1) {
                if *d < 0 {
                    *acc += -*point;
                } else {
                    *acc += point;
                }
            }
        }
    }
}

/// The generator's table, built on first use.
fn generator_table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::new(&ProjectivePoint::GENERATOR))
}

/// `k` as 65 signed radix-16 digits in [-8, 8], least significant first.
fn signed_digits(k: &Scalar) -> [i8; WINDOWS] {
    let bytes = k.to_repr();
    let mut digits = [0i8; WINDOWS];
    for (i, byte) in bytes.iter().rev().enumerate() {
        // Nibbles are below 16: the casts are exact.
        #[allow(clippy::cast_possible_wrap)]
        if let Some(pair) = digits.get_mut(2 * i..2 * i + 2) {
            pair[0] = (byte & 0x0f) as i8;
            pair[1] = (byte >> 4) as i8;
        }
    }
    let mut carry = 0i8;
    for d in &mut digits {
        let v = *d + carry;
        carry = i8::from(v > 8);
        *d = v - 16 * carry;
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
            table: Box::new(Table::new(&pk.to_projective())),
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
        let w = Option::<Scalar>::from(s.invert_vartime())?;
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
        let table = Table::new(&p);
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

    #[test]
    fn signed_digits_recompose_the_scalar() {
        let sixteen = Scalar::from(16u64);
        for k in [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(0x8888u64),
        ] {
            let digits = signed_digits(&k);
            assert!(digits.iter().all(|d| (-8..=8).contains(d)));
            let mut back = Scalar::ZERO;
            for d in digits.iter().rev() {
                let mag = Scalar::from(u64::from(d.unsigned_abs()));
                back = back * sixteen + if *d < 0 { -mag } else { mag };
            }
            assert_eq!(back, k);
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
