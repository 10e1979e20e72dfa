//! Token-bucket arithmetic in exact integers, and its encoding in shared data.
//!
//! A bucket's level is kept in *units* of `1 / period_ms` of a token. A rate
//! of `tokens` per `period_ms` then adds exactly `tokens` units per elapsed
//! millisecond, so refill is exact for any rate (1 token per 3 s, 7 per
//! minute, ...): no float, no rounding, no drift however often the bucket is
//! touched. Refill is lazy: computed from the elapsed time at each access.
//!
//! The level may go below zero only through [`Bucket::charge`] (LLM usage
//! beyond its reservation), down to [`MAX_DEBT_REFILLS`] full buckets: such
//! debt is paid back by refill before anything else is admitted, so usage
//! past a budget is recovered from the following windows, not forgiven
//! after one.
//!
//! A clock that goes backwards adds nothing, and `last_ms` never moves
//! backwards, so a later forward jump does not refill twice.

/// Size of an encoded bucket in bytes.
pub const ENCODED_LEN: usize = 41;
/// First byte of an encoded bucket; bump it when the layout changes.
pub const VERSION: u8 = 1;

/// Largest `capacity * period_ms` accepted, leaving room for debt and sums.
pub const MAX_CAPACITY_UNITS: u64 = 1 << 60;

/// Debt is kept up to this many full buckets (30 days of a daily budget).
/// The bound only guards the arithmetic and a nonsensical usage report.
pub const MAX_DEBT_REFILLS: i128 = 30;

/// A compiled rate: `capacity` tokens, refilled at `tokens` per `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    capacity: u64,
    tokens: u64,
    period_ms: u64,
}

impl Rate {
    /// A rate, or `None` when a number is zero or the bucket is too large
    /// for exact arithmetic (`capacity * period_ms > 2^60`).
    pub fn new(capacity: u64, tokens: u64, period_ms: u64) -> Option<Self> {
        if capacity == 0 || tokens == 0 || period_ms == 0 {
            return None;
        }
        let units = capacity.checked_mul(period_ms)?;
        let per_period = tokens.checked_mul(period_ms)?;
        if units > MAX_CAPACITY_UNITS || per_period > MAX_CAPACITY_UNITS {
            return None;
        }
        Some(Self {
            capacity,
            tokens,
            period_ms,
        })
    }

    /// Bucket size in tokens.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Tokens added per period.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Length of the refill period in milliseconds.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// Seconds an empty bucket takes to fill (the `w` of `RateLimit-Policy`).
    pub fn window_s(&self) -> u64 {
        // capacity * period / tokens milliseconds, rounded up to whole seconds.
        let ms = u128::from(self.capacity) * u128::from(self.period_ms);
        let ms = ms.div_ceil(u128::from(self.tokens));
        u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX).max(1)
    }

    fn cap_units(&self) -> i128 {
        i128::from(self.capacity) * i128::from(self.period_ms)
    }

    /// The lowest level: [`MAX_DEBT_REFILLS`] buckets of debt, within i64.
    fn debt_floor(&self) -> i128 {
        -(self.cap_units() * MAX_DEBT_REFILLS).min(i128::from(i64::MAX) / 2)
    }

    fn units(&self, tokens: u64) -> i128 {
        i128::from(tokens) * i128::from(self.period_ms)
    }

    /// Milliseconds until `deficit` units have been refilled (rounded up).
    fn ms_for(&self, deficit: i128) -> u64 {
        if deficit <= 0 {
            return 0;
        }
        let ms = deficit.div_euclid(i128::from(self.tokens))
            + i128::from(deficit.rem_euclid(i128::from(self.tokens)) != 0);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// The state of one bucket, as stored in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Fingerprint of the key that owns the slot.
    pub owner: u64,
    /// Level in units of `1 / scale` token; negative means debt.
    pub level: i64,
    /// The `period_ms` of the rate the level is expressed in.
    pub scale: u64,
    /// Time of the last refill.
    pub last_ms: u64,
    /// When the bucket will be full again if untouched (idle from then on).
    pub full_at_ms: u64,
}

/// Why a bucket could not give what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// Milliseconds until the amount is available, or `None` when it is
    /// larger than the capacity and never will be.
    pub wait_ms: Option<u64>,
    /// Milliseconds until the bucket is full.
    pub full_in_ms: u64,
}

/// A decoding failure: the slot holds something this version did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptState;

impl Bucket {
    /// A full bucket for `owner`.
    pub fn full(owner: u64, rate: &Rate, now_ms: u64) -> Self {
        Self {
            owner,
            level: clamp_i64(rate.cap_units()),
            scale: rate.period_ms,
            last_ms: now_ms,
            full_at_ms: now_ms,
        }
    }

    /// True when the bucket is full by `now_ms`: it carries no information
    /// and its slot may be given to another key.
    pub fn is_idle(&self, now_ms: u64) -> bool {
        now_ms >= self.full_at_ms
    }

    /// The level expressed in `rate`'s units, clamped to its bounds. A rate
    /// change (another tier) rescales once, rounding down (more limiting).
    fn level_in(&self, rate: &Rate) -> i128 {
        let mut level = i128::from(self.level);
        if self.scale != rate.period_ms && self.scale != 0 {
            level = (level * i128::from(rate.period_ms)).div_euclid(i128::from(self.scale));
        }
        level.clamp(rate.debt_floor(), rate.cap_units())
    }

    /// The bucket refilled up to `now_ms`, in `rate`'s units.
    pub fn refilled(&self, rate: &Rate, now_ms: u64) -> Self {
        let mut level = self.level_in(rate);
        let mut last = self.last_ms;
        if now_ms > last {
            let elapsed = i128::from(now_ms - last);
            level = (level + elapsed * i128::from(rate.tokens)).min(rate.cap_units());
            last = now_ms;
        }
        self.with(rate, level, last)
    }

    fn with(&self, rate: &Rate, level: i128, last_ms: u64) -> Self {
        let full_in = rate.ms_for(rate.cap_units() - level);
        Self {
            owner: self.owner,
            level: clamp_i64(level),
            scale: rate.period_ms,
            last_ms,
            full_at_ms: last_ms.saturating_add(full_in),
        }
    }

    /// Takes `amount` tokens if the bucket holds them after refill.
    pub fn take(&self, rate: &Rate, amount: u64, now_ms: u64) -> Result<Self, Shortfall> {
        let b = self.refilled(rate, now_ms);
        let level = i128::from(b.level);
        let need = rate.units(amount);
        if level >= need {
            return Ok(b.with(rate, level - need, b.last_ms));
        }
        let full_in_ms = rate.ms_for(rate.cap_units() - level);
        let wait_ms = if need > rate.cap_units() {
            None
        } else {
            Some(rate.ms_for(need - level))
        };
        Err(Shortfall {
            wait_ms,
            full_in_ms,
        })
    }

    /// Gives `amount` tokens back (a refund), never above capacity.
    pub fn give_back(&self, rate: &Rate, amount: u64, now_ms: u64) -> Self {
        let b = self.refilled(rate, now_ms);
        let level = (i128::from(b.level) + rate.units(amount)).min(rate.cap_units());
        b.with(rate, level, b.last_ms)
    }

    /// Charges `amount` tokens even if the bucket does not hold them, down
    /// to a debt of [`MAX_DEBT_REFILLS`] full buckets.
    pub fn charge(&self, rate: &Rate, amount: u64, now_ms: u64) -> Self {
        let b = self.refilled(rate, now_ms);
        let level = (i128::from(b.level) - rate.units(amount)).max(rate.debt_floor());
        b.with(rate, level, b.last_ms)
    }

    /// Whole tokens available now (0 when in debt). Call on a refilled bucket.
    pub fn remaining(&self, rate: &Rate) -> u64 {
        let level = self.level_in(rate).max(0);
        u64::try_from(level / i128::from(rate.period_ms)).unwrap_or(0)
    }

    /// Milliseconds from `now_ms` until the bucket is full.
    pub fn full_in_ms(&self, now_ms: u64) -> u64 {
        self.full_at_ms.saturating_sub(now_ms)
    }

    /// The fixed-size binary form: version, owner, level, scale, last, full-at
    /// (little endian).
    pub fn encode(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        out[0] = VERSION;
        out[1..9].copy_from_slice(&self.owner.to_le_bytes());
        out[9..17].copy_from_slice(&self.level.to_le_bytes());
        out[17..25].copy_from_slice(&self.scale.to_le_bytes());
        out[25..33].copy_from_slice(&self.last_ms.to_le_bytes());
        out[33..41].copy_from_slice(&self.full_at_ms.to_le_bytes());
        out
    }

    /// Parses [`encode`](Self::encode)'s output; anything else is corrupt.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptState> {
        let arr: &[u8; ENCODED_LEN] = bytes.try_into().map_err(|_| CorruptState)?;
        if arr[0] != VERSION {
            return Err(CorruptState);
        }
        let word = |i: usize| -> [u8; 8] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&arr[i..i + 8]);
            w
        };
        let b = Self {
            owner: u64::from_le_bytes(word(1)),
            level: i64::from_le_bytes(word(9)),
            scale: u64::from_le_bytes(word(17)),
            last_ms: u64::from_le_bytes(word(25)),
            full_at_ms: u64::from_le_bytes(word(33)),
        };
        if b.scale == 0 {
            return Err(CorruptState);
        }
        Ok(b)
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(capacity: u64, tokens: u64, period_ms: u64) -> Rate {
        Rate::new(capacity, tokens, period_ms).unwrap()
    }

    /// Takes one token at a time until refused; returns how many were taken.
    fn drain(b: &mut Bucket, r: &Rate, now: u64) -> u64 {
        let mut n = 0;
        while let Ok(next) = b.take(r, 1, now) {
            *b = next;
            n += 1;
        }
        n
    }

    #[test]
    fn a_full_bucket_admits_exactly_its_capacity_as_a_burst() {
        let r = rate(10, 1, 1000);
        let mut b = Bucket::full(7, &r, 0);
        assert_eq!(drain(&mut b, &r, 0), 10);
    }

    #[test]
    fn refill_adds_tokens_per_period_and_stops_at_capacity() {
        let r = rate(5, 2, 1000);
        let mut b = Bucket::full(7, &r, 0);
        drain(&mut b, &r, 0);
        assert_eq!(b.refilled(&r, 1000).remaining(&r), 2);
        assert_eq!(b.refilled(&r, 1499).remaining(&r), 2);
        assert_eq!(b.refilled(&r, 1500).remaining(&r), 3);
        assert_eq!(b.refilled(&r, 60_000).remaining(&r), 5);
    }

    #[test]
    fn fractional_rate_one_token_per_three_seconds_is_exact() {
        let r = rate(1, 1, 3000);
        let mut b = Bucket::full(7, &r, 0);
        b = b.take(&r, 1, 0).unwrap();
        // Touching the bucket every millisecond must not lose the fractions.
        for t in 1..3000 {
            b = b.refilled(&r, t);
            assert!(b.take(&r, 1, t).is_err(), "admitted early at {t}");
        }
        assert!(b.take(&r, 1, 3000).is_ok());
    }

    #[test]
    fn many_small_refills_equal_one_big_refill() {
        let r = rate(1000, 7, 60_000);
        let start = Bucket::full(1, &r, 0).take(&r, 1000, 0).unwrap();
        let mut stepwise = start;
        for t in (0..=600_000).step_by(13) {
            stepwise = stepwise.refilled(&r, t);
        }
        stepwise = stepwise.refilled(&r, 600_000);
        assert_eq!(stepwise, start.refilled(&r, 600_000));
        assert_eq!(stepwise.remaining(&r), 70);
    }

    #[test]
    fn clock_going_backwards_adds_nothing_and_does_not_refill_twice() {
        let r = rate(10, 1, 1000);
        let b = Bucket::full(1, &r, 10_000).take(&r, 10, 10_000).unwrap();
        let back = b.refilled(&r, 5_000);
        assert_eq!(back.remaining(&r), 0);
        assert_eq!(back.last_ms, 10_000);
        assert_eq!(back.refilled(&r, 12_000).remaining(&r), 2);
        assert!(back.take(&r, 1, 5_000).is_err());
    }

    #[test]
    fn shortfall_says_when_the_next_token_arrives() {
        let r = rate(2, 1, 3000);
        let b = Bucket::full(1, &r, 0).take(&r, 2, 0).unwrap();
        let s = b.take(&r, 1, 1000).unwrap_err();
        assert_eq!(s.wait_ms, Some(2000));
        assert_eq!(s.full_in_ms, 5000);
    }

    #[test]
    fn asking_for_more_than_capacity_never_fits() {
        let r = rate(5, 1, 1000);
        let s = Bucket::full(1, &r, 0).take(&r, 6, 0).unwrap_err();
        assert_eq!(s.wait_ms, None);
    }

    #[test]
    fn give_back_never_exceeds_capacity() {
        let r = rate(5, 1, 1000);
        let b = Bucket::full(1, &r, 0).take(&r, 1, 0).unwrap();
        assert_eq!(b.give_back(&r, 100, 0).remaining(&r), 5);
    }

    #[test]
    fn charge_goes_into_debt_past_one_bucket_and_refill_repays_all_of_it() {
        let r = rate(10, 10, 1000);
        // 25 used from a full bucket of 10: 15 in debt, more than one bucket.
        let b = Bucket::full(1, &r, 0).charge(&r, 25, 0);
        assert_eq!(b.level, -15 * 1000);
        assert_eq!(b.remaining(&r), 0);
        assert!(b.take(&r, 1, 1000).is_err(), "debt repaid first");
        // 1.5 s repays the debt, 0.1 s more gives one token.
        assert!(b.take(&r, 1, 1500).is_err());
        assert_eq!(b.refilled(&r, 1600).remaining(&r), 1);
    }

    #[test]
    fn debt_stops_at_thirty_buckets() {
        let r = rate(10, 10, 1000);
        let b = Bucket::full(1, &r, 0).charge(&r, u64::MAX / 2, 0);
        assert_eq!(i128::from(b.level), -MAX_DEBT_REFILLS * 10 * 1000);
        assert_eq!(b.full_in_ms(0), 31 * 1000);
    }

    #[test]
    fn full_at_marks_when_the_bucket_becomes_idle() {
        let r = rate(4, 1, 1000);
        let b = Bucket::full(1, &r, 0).take(&r, 2, 0).unwrap();
        assert_eq!(b.full_at_ms, 2000);
        assert!(!b.is_idle(1999));
        assert!(b.is_idle(2000));
    }

    #[test]
    fn a_tier_change_rescales_the_level_rounding_down() {
        let slow = rate(10, 1, 3000);
        let fast = rate(100, 10, 1000);
        let b = Bucket::full(1, &slow, 0).take(&slow, 5, 0).unwrap();
        assert_eq!(b.refilled(&fast, 0).remaining(&fast), 5);
        // Capacity shrinks: the level is clamped to the new capacity.
        let big = Bucket::full(1, &fast, 0);
        assert_eq!(big.refilled(&slow, 0).remaining(&slow), 10);
    }

    #[test]
    fn encode_decode_round_trips() {
        let r = rate(10, 1, 1000);
        let b = Bucket::full(0xdead_beef, &r, 42).charge(&r, 15, 43);
        assert_eq!(Bucket::decode(&b.encode()), Ok(b));
    }

    #[test]
    fn corrupt_values_are_refused() {
        let good = Bucket::full(1, &rate(1, 1, 1), 0).encode();
        let mut wrong_version = good;
        wrong_version[0] = 9;
        let mut zero_scale = good;
        zero_scale[17..25].copy_from_slice(&[0; 8]);
        for bad in [&good[..40], &wrong_version[..], &zero_scale[..], b"hello"] {
            assert_eq!(Bucket::decode(bad), Err(CorruptState));
        }
    }

    #[test]
    fn window_is_the_time_to_fill_an_empty_bucket() {
        assert_eq!(rate(10, 10, 1000).window_s(), 1);
        assert_eq!(rate(10, 1, 1000).window_s(), 10);
        assert_eq!(rate(1, 1, 3000).window_s(), 3);
        assert_eq!(rate(1, 1, 10).window_s(), 1);
    }

    #[test]
    fn oversized_rates_are_refused() {
        assert!(Rate::new(0, 1, 1).is_none());
        assert!(Rate::new(1, 0, 1).is_none());
        assert!(Rate::new(1, 1, 0).is_none());
        assert!(Rate::new(u64::MAX, 1, 2).is_none());
        assert!(Rate::new(1_000_000_000, 1, 86_400_000).is_some());
    }
}
