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
//! The tables are built with `p256`'s arithmetic; the additions of a
//! verification run on our u32-limb field and Jacobian coordinates
//! (`field256.rs`: `p256`'s u64 limbs need an emulated 128-bit multiply in
//! Wasm), and the final comparison `x(R) mod n == r` is made in Jacobian
//! coordinates, without a field inversion. Scalars are `p256`'s.
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
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::elliptic_curve::Field as _;
use p256::elliptic_curve::Group as _;
use p256::elliptic_curve::PrimeField as _;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

use super::field256::{Affine, Jacobian};

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
    points: Vec<Affine>,
}

impl Table {
    /// The table of `p` for `bits`-wide digits (2 to 7); `None` if a
    /// multiple does not convert (it would have to be the identity, which
    /// no multiple j · 2^(w·i) of a point of prime order n is).
    pub fn new(p: &ProjectivePoint, bits: u32) -> Option<Table> {
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
        let mut affine = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut affine);
        let points = affine
            .iter()
            .map(|a| {
                let encoded = a.to_sec1_point(false);
                let x: &[u8; 32] = encoded.x()?.as_slice().try_into().ok()?;
                let y: &[u8; 32] = encoded.y()?.as_slice().try_into().ok()?;
                Affine::from_coordinates(x, y)
            })
            .collect::<Option<Vec<Affine>>>()?;
        Some(Table { bits, points })
    }

    /// Adds `k · P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut Jacobian) {
        let half = 1usize << (self.bits - 1);
        for (i, d) in signed_digits(k, self.bits).iter().enumerate() {
            let magnitude = usize::from(d.unsigned_abs());
            if magnitude == 0 {
                continue;
            }
            if let Some(point) = self.points.get(i * half + magnitude - 1) {
                if *d < 0 {
                    acc.add_affine(&point.neg());
                } else {
                    acc.add_affine(point);
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
fn generator_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Table::new(&ProjectivePoint::GENERATOR, GENERATOR_BITS))
        .as_ref()
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
            table: Box::new(Table::new(&pk.to_projective(), KEY_BITS)?),
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
        let mut acc = Jacobian::IDENTITY;
        generator_table()?.mul_add(&u1, &mut acc);
        self.table.mul_add(&u2, &mut acc);
        let r_bytes: &[u8; 32] = r_bytes.try_into().ok()?;
        acc.x_mod_n_is(r_bytes).then_some(())
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

    /// Our affine form of a `p256` point.
    fn ours(p: &ProjectivePoint) -> Affine {
        let e = p.to_affine().to_sec1_point(false);
        Affine::from_coordinates(
            e.x().unwrap().as_slice().try_into().unwrap(),
            e.y().unwrap().as_slice().try_into().unwrap(),
        )
        .unwrap()
    }

    /// Whether our Jacobian `acc` is `p256`'s `expected`.
    fn same(acc: &Jacobian, expected: &ProjectivePoint) -> bool {
        if bool::from(expected.is_identity()) {
            acc.is_identity()
        } else {
            acc.equals(&ours(expected))
        }
    }

    #[test]
    fn the_table_multiplies_like_p256() {
        let p = ProjectivePoint::GENERATOR * Scalar::from(0x1234_5678_9abc_u64);
        for bits in [KEY_BITS, GENERATOR_BITS, 4] {
            let table = Table::new(&p, bits).unwrap();
            let minus_one = -Scalar::ONE;
            let mut k = Scalar::from(0xdead_beef_u64);
            for extra in [Scalar::ZERO, Scalar::ONE, minus_one, Scalar::from(8u64)] {
                for _ in 0..20 {
                    k = k * k + Scalar::from(7u64);
                    let scalar = k + extra;
                    let mut acc = Jacobian::IDENTITY;
                    table.mul_add(&scalar, &mut acc);
                    assert!(same(&acc, &(p * scalar)));
                }
            }
            for small in [0u64, 1, 7, 8, 9, 15, 16, 17, 0x88, 0xffff] {
                let mut acc = Jacobian::IDENTITY;
                table.mul_add(&Scalar::from(small), &mut acc);
                assert!(same(&acc, &(p * Scalar::from(small))), "{small}");
            }
        }
    }

    #[test]
    fn two_tables_sum_like_p256_including_cancellation_and_doubling() {
        // u1·G + u2·Q where the sum cancels (Q = G, u2 = -u1) or doubles
        // (Q = G, u2 = u1) walks through the special cases of the addition.
        let g = generator_table().unwrap();
        let q = Table::new(&ProjectivePoint::GENERATOR, KEY_BITS).unwrap();
        for k in [1u64, 2, 3, 31, 32, 33, 0xdead_beef] {
            let k = Scalar::from(k);
            for (u2, expected) in [
                (-k, ProjectivePoint::IDENTITY),
                (k, ProjectivePoint::GENERATOR * (k + k)),
            ] {
                let mut acc = Jacobian::IDENTITY;
                g.mul_add(&k, &mut acc);
                q.mul_add(&u2, &mut acc);
                assert!(same(&acc, &expected));
            }
        }
    }

    #[test]
    fn additions_and_doublings_match_p256() {
        let mut p = ProjectivePoint::GENERATOR * Scalar::from(77u64);
        let mut acc = Jacobian::IDENTITY;
        let mut expected = ProjectivePoint::IDENTITY;
        for i in 0..200u64 {
            p = p.double() + ProjectivePoint::GENERATOR * Scalar::from(i);
            let q = ours(&p);
            acc.add_affine(&q);
            expected += p;
            assert!(same(&acc, &expected), "add {i}");
            if i % 7 == 0 {
                acc.double();
                expected = expected.double();
                assert!(same(&acc, &expected), "double {i}");
            }
            if i % 11 == 0 {
                // A point plus itself, then minus itself.
                let mut twice = Jacobian::IDENTITY;
                twice.add_affine(&q);
                twice.add_affine(&q);
                assert!(same(&twice, &p.double()), "2P {i}");
                let mut zero = Jacobian::IDENTITY;
                zero.add_affine(&q);
                zero.add_affine(&q.neg());
                assert!(zero.is_identity(), "P - P {i}");
            }
        }
    }

    #[test]
    fn field_products_match_shift_and_add() {
        use super::super::field256::Fe;
        // a · b mod p by double-and-add over b's bits, with our addition only.
        fn slow_mul(a: &Fe, b: &[u8; 32]) -> Fe {
            let mut acc = Fe::ZERO;
            for byte in b {
                for bit in (0..8).rev() {
                    acc = acc.add(&acc);
                    if (byte >> bit) & 1 == 1 {
                        acc = acc.add(a);
                    }
                }
            }
            acc
        }
        let p_minus_1 = {
            let mut b = [0xffu8; 32];
            b[4..12].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
            b[12..20].fill(0);
            b[31] = 0xfe;
            b
        };
        let mut values = vec![[0u8; 32], p_minus_1];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..40 {
            let mut b = [0u8; 32];
            for byte in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *byte = x as u8;
            }
            b[0] &= 0x7f;
            values.push(b);
        }
        assert!(Fe::from_be_bytes(&[0xff; 32]).is_none(), "not below p");
        for a in &values {
            let fa = Fe::from_be_bytes(a).unwrap();
            assert_eq!(&fa.to_be_bytes(), a, "round trip");
            for b in values.iter().take(12) {
                let fb = Fe::from_be_bytes(b).unwrap();
                assert_eq!(fa.mul(&fb), slow_mul(&fa, b));
                assert_eq!(fa.sub(&fb).add(&fb), fa);
            }
        }
    }

    #[test]
    fn the_final_check_accepts_x_equal_r_or_r_plus_n_only() {
        use super::super::field256::Fe;
        let be = |limbs: [u32; 8]| {
            let mut out = [0u8; 32];
            for (chunk, limb) in out.rchunks_exact_mut(4).zip(limbs) {
                chunk.copy_from_slice(&limb.to_be_bytes());
            }
            out
        };
        let n: [u8; 32] = be([
            0xfc63_2551,
            0xf3b9_cac2,
            0xa717_9e84,
            0xbce6_faad,
            0xffff_ffff,
            0xffff_ffff,
            0,
            0xffff_ffff,
        ]);
        let z = Fe::from_be_bytes(&[7u8; 32]).unwrap();
        let at = |x: &[u8; 32]| {
            let x = Fe::from_be_bytes(x).unwrap();
            Jacobian::from_parts(x.mul(&z.square()), Fe::one(), z)
        };
        let mut r = [0u8; 32];
        r[31] = 5;
        // x = r + n (below p for a small r).
        let mut r_plus_n = n;
        r_plus_n[31] += 5;
        let mut r_plus_1 = r;
        r_plus_1[31] = 6;
        assert!(at(&r).x_mod_n_is(&r));
        assert!(at(&r_plus_n).x_mod_n_is(&r));
        assert!(!at(&r_plus_n).x_mod_n_is(&r_plus_1));
        assert!(!at(&r_plus_1).x_mod_n_is(&r));
        assert!(!Jacobian::IDENTITY.x_mod_n_is(&r));
        // A large r: r + n is not below p, so only x = r matches.
        let mut big = n;
        big[31] -= 1;
        assert!(at(&big).x_mod_n_is(&big));
        let _ = Fe::from_limbs([0; 8]);
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
