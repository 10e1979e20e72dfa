//! P-256 field arithmetic over u32 limbs and Jacobian point addition, for
//! the ES256 verifier's table walk (`es256.rs`).
//!
//! Why our own: `p256` 0.14 multiplies field elements with u64 limbs through
//! `crypto-bigint`, and wasm32 has no 64 × 64 → 128-bit multiply, so each
//! limb product is a call to the `__multi3` helper. Profiled in V8, the
//! field multiplications (`widening_mul_fixed`, `montgomery_reduce`,
//! `__multi3`) were over half of an uncached ES256 verification. Here a
//! field element is eight u32 limbs in Montgomery form (R = 2²⁵⁶), so every
//! limb product is one native i64 multiply, and the loops have constant
//! bounds, so they unroll with no bounds checks. The additions use Jacobian
//! coordinates with affine table points (8M + 3S) instead of `p256`'s
//! complete formulas (11M and more additions).
//!
//! Everything here handles public data (keys, signatures, messages), so
//! variable time is fine. Values are always fully reduced (below p).
//! `es256.rs` tests every operation against `p256`.

/// A field element mod p in Montgomery form, little-endian u32 limbs, < p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fe([u32; 8]);

/// p = 2²⁵⁶ − 2²²⁴ + 2¹⁹² + 2⁹⁶ − 1, little-endian limbs.
const P: [u32; 8] = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];

/// n, the group order, little-endian limbs.
const N: [u32; 8] = [
    0xfc63_2551,
    0xf3b9_cac2,
    0xa717_9e84,
    0xbce6_faad,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0xffff_ffff,
];

/// R² mod p, to enter the Montgomery domain.
const RR: [u32; 8] = [
    0x0000_0003,
    0x0000_0000,
    0xffff_ffff,
    0xffff_fffb,
    0xffff_fffe,
    0xffff_ffff,
    0xffff_fffd,
    0x0000_0004,
];

/// `a < b` for little-endian limbs.
fn less_than(a: &[u32; 8], b: &[u32; 8]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a - b` modulo 2²⁵⁶, and the borrow out.
#[allow(clippy::cast_possible_truncation)]
fn sub_limbs(a: &[u32; 8], b: &[u32; 8]) -> ([u32; 8], bool) {
    let mut out = [0u32; 8];
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let d = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *o = d as u32;
        borrow = (d >> 63) & 1;
    }
    (out, borrow != 0)
}

/// `a + b` modulo 2²⁵⁶, and the carry out.
#[allow(clippy::cast_possible_truncation)]
fn add_limbs(a: &[u32; 8], b: &[u32; 8]) -> ([u32; 8], bool) {
    let mut out = [0u32; 8];
    let mut carry = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let s = u64::from(x) + u64::from(y) + carry;
        *o = s as u32;
        carry = s >> 32;
    }
    (out, carry != 0)
}

/// Big-endian bytes into little-endian limbs.
fn limbs_from_be(bytes: &[u8; 32]) -> [u32; 8] {
    let mut out = [0u32; 8];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks_exact(4)) {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        *limb = u32::from_be_bytes(word);
    }
    out
}

impl Fe {
    /// Zero.
    pub const ZERO: Fe = Fe([0; 8]);

    /// The element for big-endian bytes, or `None` when they are not below p.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        let a = limbs_from_be(bytes);
        less_than(&a, &P).then(|| Fe(a).mul(&Fe(RR)))
    }

    /// One (R mod p).
    pub fn one() -> Fe {
        let mut one = [0u32; 8];
        one[0] = 1;
        Fe(one).mul(&Fe(RR))
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// `self + b mod p`.
    pub fn add(&self, b: &Fe) -> Fe {
        let (s, carry) = add_limbs(&self.0, &b.0);
        if carry || !less_than(&s, &P) {
            Fe(sub_limbs(&s, &P).0)
        } else {
            Fe(s)
        }
    }

    /// `self - b mod p`.
    pub fn sub(&self, b: &Fe) -> Fe {
        let (d, borrow) = sub_limbs(&self.0, &b.0);
        if borrow {
            Fe(add_limbs(&d, &P).0)
        } else {
            Fe(d)
        }
    }

    /// `-self mod p`.
    pub fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// `self · b · R⁻¹ mod p` (a product of Montgomery forms).
    #[allow(clippy::cast_possible_truncation)]
    pub fn mul(&self, b: &Fe) -> Fe {
        let mut t = [0u32; 17];
        for (i, &ai) in self.0.iter().enumerate() {
            let ai = u64::from(ai);
            let mut c = 0u64;
            for (j, &bj) in b.0.iter().enumerate() {
                let s = u64::from(t[i + j]) + ai * u64::from(bj) + c;
                t[i + j] = s as u32;
                c = s >> 32;
            }
            t[i + 8] = c as u32;
        }
        reduce(t)
    }

    /// `self²` (Montgomery form).
    pub fn square(&self) -> Fe {
        self.mul(self)
    }
}

/// Montgomery reduction of a 512-bit `t` (< p · R): `t · R⁻¹ mod p`.
/// −p⁻¹ mod 2³² is 1 (p ≡ −1 mod 2³²), so each step's multiplier is the
/// low word itself; the constant limbs of p (0, 1, 2³² − 1) fold away.
#[allow(clippy::cast_possible_truncation)]
fn reduce(mut t: [u32; 17]) -> Fe {
    let mut hi = 0u64;
    for i in 0..8 {
        let m = u64::from(t[i]);
        let mut c = 0u64;
        for (j, &pj) in P.iter().enumerate() {
            let s = u64::from(t[i + j]) + m * u64::from(pj) + c;
            t[i + j] = s as u32;
            c = s >> 32;
        }
        let s = u64::from(t[i + 8]) + c + hi;
        t[i + 8] = s as u32;
        hi = s >> 32;
    }
    let mut out = [0u32; 8];
    out.copy_from_slice(&t[8..16]);
    // t / R < 2p: one conditional subtraction.
    if hi != 0 || !less_than(&out, &P) {
        out = sub_limbs(&out, &P).0;
    }
    Fe(out)
}

/// An affine point (x, y) of a precomputed table, never the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine {
    /// x, Montgomery form.
    pub x: Fe,
    /// y, Montgomery form.
    pub y: Fe,
}

impl Affine {
    /// The point for SEC1 uncompressed coordinates, checked on the curve
    /// (y² = x³ − 3x + b); `None` otherwise.
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Option<Affine> {
        const B: [u8; 32] = [
            0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98,
            0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e,
            0x27, 0xd2, 0x60, 0x4b,
        ];
        let x = Fe::from_be_bytes(x)?;
        let y = Fe::from_be_bytes(y)?;
        let b = Fe::from_be_bytes(&B)?;
        let three_x = x.add(&x).add(&x);
        let rhs = x.square().mul(&x).sub(&three_x).add(&b);
        (y.square() == rhs).then_some(Affine { x, y })
    }

    /// `-P`.
    pub fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point in Jacobian coordinates (x = X/Z², y = Y/Z³); Z = 0 is the identity.
#[derive(Clone, Copy, Debug)]
pub struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Jacobian {
    /// The identity.
    pub const IDENTITY: Jacobian = Jacobian {
        x: Fe::ZERO,
        y: Fe::ZERO,
        z: Fe::ZERO,
    };

    /// True for the identity.
    pub fn is_identity(&self) -> bool {
        self.z.is_zero()
    }

    /// `self += q` (mixed addition, add-2004-hmv shape: 8M + 3S), with
    /// the cases the formula cannot take: the identity, `q = self`
    /// (a doubling) and `q = −self` (the identity).
    pub fn add_affine(&mut self, q: &Affine) {
        if self.is_identity() {
            *self = Jacobian {
                x: q.x,
                y: q.y,
                z: Fe::one(),
            };
            return;
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            if r.is_zero() {
                self.double();
            } else {
                *self = Jacobian::IDENTITY;
            }
            return;
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.add(&v));
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        *self = Jacobian {
            x: x3,
            y: y3,
            z: z3,
        };
    }

    /// `self = 2 · self` (dbl-2001-b, a = −3).
    pub fn double(&mut self) {
        if self.is_identity() {
            return;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.add(&t).add(&t);
        let beta2 = beta.add(&beta);
        let beta4 = beta2.add(&beta2);
        let beta8 = beta4.add(&beta4);
        let x3 = alpha.square().sub(&beta8);
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let g2 = gamma.square();
        let g2x2 = g2.add(&g2);
        let g2x4 = g2x2.add(&g2x2);
        let g2x8 = g2x4.add(&g2x4);
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&g2x8);
        *self = Jacobian {
            x: x3,
            y: y3,
            z: z3,
        };
    }

    /// ECDSA's final check without leaving Jacobian coordinates (no field
    /// inversion): `x(self) mod n == r`, for `r` in [1, n − 1] as big-endian
    /// bytes. x < p < 2n, so x mod n = r means x = r or x = r + n (when
    /// that is below p); and x = c means X = c · Z².
    pub fn x_mod_n_is(&self, r: &[u8; 32]) -> bool {
        if self.is_identity() {
            return false;
        }
        let z2 = self.z.square();
        let r_limbs = limbs_from_be(r);
        let matches = |c: [u32; 8]| Fe(c).mul(&Fe(RR)).mul(&z2) == self.x;
        if !less_than(&r_limbs, &P) {
            return false;
        }
        if matches(r_limbs) {
            return true;
        }
        let (r_plus_n, carry) = add_limbs(&r_limbs, &N);
        !carry && less_than(&r_plus_n, &P) && matches(r_plus_n)
    }

    /// Test helper: whether `self` is the affine point `q` (X = x·Z², Y = y·Z³).
    #[cfg(test)]
    pub fn equals(&self, q: &Affine) -> bool {
        let z2 = self.z.square();
        !self.is_identity() && self.x == q.x.mul(&z2) && self.y == q.y.mul(&z2.mul(&self.z))
    }

    /// Test helper: a Jacobian point from raw limbs (not checked).
    #[cfg(test)]
    pub fn from_parts(x: Fe, y: Fe, z: Fe) -> Jacobian {
        Jacobian { x, y, z }
    }
}

#[cfg(test)]
impl Fe {
    /// Test helper: the canonical (non-Montgomery) big-endian bytes.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut one = [0u32; 8];
        one[0] = 1;
        let plain = self.mul(&Fe(one));
        let mut out = [0u8; 32];
        for (chunk, limb) in out.rchunks_exact_mut(4).zip(plain.0) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    /// Test helper: raw limbs.
    pub fn from_limbs(limbs: [u32; 8]) -> Fe {
        Fe(limbs)
    }
}
