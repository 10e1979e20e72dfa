//! A fixed table of hashed slots per policy, updated by compare-and-set.
//!
//! Shared data has no delete and no expiry, so the key space must not grow
//! with the number of clients. Each policy owns exactly `slots` keys,
//! `tg:rl:v1:<policy>:<slot>`, created lazily; each holds one [`Bucket`]
//! stamped with the fingerprint of the key that owns it. Memory per policy
//! is therefore at most `slots × (key length + 41 bytes)` plus the host's
//! per-entry overhead, whatever the traffic. (`v1` is the encoding version:
//! a plugin with a new layout uses new keys instead of misreading old ones.)
//!
//! Finding a key's slot: the fingerprint picks a home slot, and the
//! `PROBES` slots from there (wrapping) are read in order.
//! 1. A slot already holding the fingerprint is used.
//! 2. Otherwise the first slot that is missing or *idle* is taken over with
//!    a fresh full bucket. Idle means the bucket has refilled to capacity by
//!    now: a full bucket carries no information, so its former owner loses
//!    nothing (it would get a full bucket anyway when it comes back).
//! 3. Otherwise every probed slot is busy with another active key: the
//!    request *shares* the bucket closest to idle, keeping that owner's
//!    fingerprint. Two clients then drain one bucket. This can only make
//!    limits stricter, never looser: fail safe. It needs more than `PROBES`
//!    keys active at once in one window, which a table sized for the
//!    expected number of concurrently active clients makes rare.
//!
//! Concurrency: every write is a compare-and-set against the cas read in
//! the same attempt; on `CasMismatch` the whole attempt (probe and decision)
//! is redone, up to `attempts` times. A take is thus applied exactly once to
//! the value it was computed from: no token is lost or spent twice.
//!
//! Creating a missing slot uses [`CREATE_CAS`] rather than 0: Envoy inserts
//! a missing key for any nonzero cas but refuses it on an existing key, so
//! two workers racing to create one slot cannot both win (a cas of 0 would
//! let the later write silently erase the earlier one's spend). A host that
//! refuses a nonzero cas on a missing key is detected (the create fails but
//! the slot is still missing on re-read) and the table falls back to cas 0
//! for that one create; only then can two racing first writes of a fresh
//! slot overwrite each other, once per slot for the life of the process.

use super::bucket::{Bucket, CorruptState, Rate, ENCODED_LEN};
use super::store::{SharedStore, StoreError, CREATE_CAS};

/// Slots read when looking for a key's bucket.
pub const PROBES: u32 = 4;

/// Why the table could not complete an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// Every compare-and-set attempt lost a race.
    CasExhausted,
    /// A slot held a value this version did not write.
    Corrupt,
    /// The host refused a call.
    Store,
}

impl TableError {
    /// Stable code: `cas_exhausted`, `corrupt_state`, `store_error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CasExhausted => "cas_exhausted",
            Self::Corrupt => "corrupt_state",
            Self::Store => "store_error",
        }
    }
}

impl From<CorruptState> for TableError {
    fn from(_: CorruptState) -> Self {
        Self::Corrupt
    }
}

/// Where a bucket was found: a slot and the fingerprint stamped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRef {
    /// Slot index within the policy's table.
    pub slot: u32,
    /// Fingerprint of the slot's owner (ours, unless the bucket is shared).
    pub owner: u64,
}

/// One policy's table of slots.
#[derive(Debug, Clone)]
pub struct Table {
    prefix: String,
    slots: u32,
}

impl Table {
    /// A table of `slots` (at least 1) for `policy`.
    pub fn new(policy: &str, slots: u32) -> Self {
        Self {
            prefix: format!("tg:rl:v1:{policy}:"),
            slots: slots.max(1),
        }
    }

    /// The shared-data key of a slot.
    pub fn slot_key(&self, slot: u32) -> String {
        format!("{}{slot}", self.prefix)
    }

    /// Number of slots.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Upper bound of key plus value bytes this table can ever hold.
    pub fn bound_bytes(&self) -> usize {
        let max_key = self.prefix.len() + digits(self.slots.saturating_sub(1));
        usize::try_from(self.slots)
            .unwrap_or(usize::MAX)
            .saturating_mul(max_key + ENCODED_LEN)
    }

    fn home(&self, fingerprint: u64) -> u32 {
        u32::try_from(fingerprint % u64::from(self.slots)).unwrap_or(0)
    }

    fn read(
        &self,
        store: &dyn SharedStore,
        slot: u32,
    ) -> Result<(Option<Bucket>, u32), TableError> {
        let (value, cas) = store
            .get(&self.slot_key(slot))
            .map_err(|_| TableError::Store)?;
        match value {
            None => Ok((None, cas)),
            Some(bytes) => Ok((Some(Bucket::decode(&bytes)?), cas)),
        }
    }

    /// Finds (or claims) the bucket of `fingerprint` and applies `op` to it.
    ///
    /// `op` receives the current bucket (a fresh full one for a new key) and
    /// returns the bucket to write, or `Err(r)` to write nothing (a refusal).
    /// The result says where the bucket lives and what `op` returned for the
    /// value that was actually committed.
    pub fn update<R>(
        &self,
        store: &dyn SharedStore,
        fingerprint: u64,
        rate: &Rate,
        now_ms: u64,
        attempts: u32,
        op: &mut dyn FnMut(&Bucket) -> Result<Bucket, R>,
    ) -> Result<(SlotRef, Result<Bucket, R>), TableError> {
        let home = self.home(fingerprint);
        let probes = PROBES.min(self.slots);
        let mut create_cas = CREATE_CAS;
        let mut refused_create: Option<u32> = None;
        for _ in 0..attempts.max(1) {
            let mut own = None;
            let mut free: Option<(u32, Option<Bucket>, u32)> = None;
            let mut busiest_first: Option<(u32, Bucket, u32)> = None;
            for i in 0..probes {
                let slot = ((u64::from(home) + u64::from(i)) % u64::from(self.slots)) as u32;
                let (bucket, cas) = self.read(store, slot)?;
                match bucket {
                    None => {
                        if refused_create == Some(slot) {
                            // Our nonzero-cas create was refused yet the key is
                            // still missing: this host does not insert on a
                            // nonzero cas. Fall back to cas 0 (see module docs).
                            create_cas = 0;
                        }
                        free.get_or_insert((slot, None, cas));
                    }
                    Some(b) if b.owner == fingerprint => {
                        own = Some((slot, b, cas));
                        break;
                    }
                    Some(b) if b.is_idle(now_ms) => {
                        free.get_or_insert((slot, Some(b), cas));
                    }
                    Some(b) => {
                        if busiest_first.is_none_or(|(_, l, _)| b.full_at_ms < l.full_at_ms) {
                            busiest_first = Some((slot, b, cas));
                        }
                    }
                }
            }
            let (slot, current, cas, missing) = match (own, free, busiest_first) {
                (Some((slot, b, cas)), _, _) => (slot, b, cas, false),
                (None, Some((slot, old, cas)), _) => (
                    slot,
                    Bucket::full(fingerprint, rate, now_ms),
                    cas,
                    old.is_none(),
                ),
                (None, None, Some((slot, b, cas))) => (slot, b, cas, false),
                (None, None, None) => return Err(TableError::Store),
            };
            let at = SlotRef {
                slot,
                owner: current.owner,
            };
            let next = match op(&current) {
                Ok(next) => next,
                Err(r) => return Ok((at, Err(r))),
            };
            let cas = if missing { create_cas } else { cas };
            match store.set(&self.slot_key(slot), &next.encode(), cas) {
                Ok(()) => return Ok((at, Ok(next))),
                Err(StoreError::CasMismatch) => {
                    if missing {
                        refused_create = Some(slot);
                    }
                }
                Err(StoreError::Unavailable) => return Err(TableError::Store),
            }
        }
        Err(TableError::CasExhausted)
    }

    /// Applies `op` to the bucket in `at.slot` if it still belongs to
    /// `at.owner` (refunds and settlements). Returns `false` when the slot
    /// was taken over meanwhile: the adjustment is then dropped, because the
    /// bucket it was meant for became idle (full) and no longer exists.
    pub fn adjust(
        &self,
        store: &dyn SharedStore,
        at: SlotRef,
        attempts: u32,
        op: &mut dyn FnMut(&Bucket) -> Bucket,
    ) -> Result<bool, TableError> {
        if at.slot >= self.slots {
            return Ok(false);
        }
        for _ in 0..attempts.max(1) {
            let (bucket, cas) = self.read(store, at.slot)?;
            let Some(b) = bucket.filter(|b| b.owner == at.owner) else {
                return Ok(false);
            };
            match store.set(&self.slot_key(at.slot), &op(&b).encode(), cas) {
                Ok(()) => return Ok(true),
                Err(StoreError::CasMismatch) => {}
                Err(StoreError::Unavailable) => return Err(TableError::Store),
            }
        }
        Err(TableError::CasExhausted)
    }
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limit::store::MemoryStore;

    fn rate() -> Rate {
        Rate::new(3, 1, 1000).unwrap()
    }

    fn take(t: &Table, s: &MemoryStore, fp: u64, now: u64) -> Result<(SlotRef, bool), TableError> {
        let r = rate();
        t.update(s, fp, &r, now, 3, &mut |b| b.take(&r, 1, now))
            .map(|(at, res)| (at, res.is_ok()))
    }

    /// Fingerprints whose home slot is `slot` in a table of `slots`.
    fn fp_at(slot: u64, slots: u64, n: u64) -> u64 {
        slot + slots * n
    }

    #[test]
    fn a_key_gets_its_home_slot_and_keeps_it() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let fp = fp_at(5, 16, 1);
        assert_eq!(
            take(&t, &s, fp, 0).unwrap().0,
            SlotRef { slot: 5, owner: fp }
        );
        assert_eq!(take(&t, &s, fp, 0).unwrap().0.slot, 5);
        assert_eq!(s.keys(), vec!["tg:rl:v1:p:5".to_string()]);
    }

    #[test]
    fn an_active_different_key_pushes_a_newcomer_to_the_next_slot() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let (a, b) = (fp_at(5, 16, 1), fp_at(5, 16, 2));
        take(&t, &s, a, 0).unwrap();
        assert_eq!(take(&t, &s, b, 0).unwrap().0, SlotRef { slot: 6, owner: b });
        // a is still found at home, b at its probe position.
        assert_eq!(take(&t, &s, a, 0).unwrap().0.slot, 5);
        assert_eq!(take(&t, &s, b, 0).unwrap().0.slot, 6);
    }

    #[test]
    fn an_idle_slot_of_another_key_is_taken_over_with_a_full_bucket() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let (a, b) = (fp_at(5, 16, 1), fp_at(5, 16, 2));
        take(&t, &s, a, 0).unwrap(); // a's bucket is full again at 1000
        let r = rate();
        let (at, res) = t
            .update(&s, b, &r, 1000, 3, &mut |x| x.take(&r, 3, 1000))
            .unwrap();
        assert_eq!(at, SlotRef { slot: 5, owner: b });
        assert!(res.is_ok(), "the newcomer gets a whole fresh bucket");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_key_found_further_along_wins_over_an_idle_slot_before_it() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let (a, b) = (fp_at(5, 16, 1), fp_at(5, 16, 2));
        take(&t, &s, a, 0).unwrap();
        take(&t, &s, b, 0).unwrap(); // b at slot 6
        take(&t, &s, b, 0).unwrap();
        // At 1000 a is idle, b (2 of 3 taken) is not: b must keep its own bucket.
        let r = rate();
        let (at, res) = t
            .update(&s, b, &r, 1000, 3, &mut |x| x.take(&r, 3, 1000))
            .unwrap();
        assert_eq!(at.slot, 6);
        assert!(
            res.is_err(),
            "b only has 2 tokens, a fresh bucket would wrongly give 3"
        );
    }

    #[test]
    fn when_every_probed_slot_is_active_the_bucket_closest_to_idle_is_shared() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let r = rate();
        for n in 1..=PROBES as u64 {
            let fp = fp_at(0, 16, n);
            // Key n takes n tokens (capped at 3): later slots are busier or equal.
            let cost = n.min(3);
            assert!(t
                .update(&s, fp, &r, 0, 3, &mut |x| x.take(&r, cost, 0))
                .unwrap()
                .1
                .is_ok());
        }
        let newcomer = fp_at(0, 16, 99);
        let (at, res) = t
            .update(&s, newcomer, &r, 0, 3, &mut |x| x.take(&r, 1, 0))
            .unwrap();
        assert_eq!(
            at,
            SlotRef {
                slot: 0,
                owner: fp_at(0, 16, 1)
            }
        );
        assert!(res.is_ok());
        // The shared bucket now has 1 token for both: stricter, never looser.
        let b = Bucket::decode(&s.raw("tg:rl:v1:p:0").unwrap()).unwrap();
        assert_eq!(b.owner, fp_at(0, 16, 1));
        assert_eq!(b.remaining(&r), 1);
    }

    #[test]
    fn probing_wraps_around_the_end_of_the_table() {
        let t = Table::new("p", 4);
        let s = MemoryStore::new();
        take(&t, &s, fp_at(3, 4, 1), 0).unwrap();
        assert_eq!(take(&t, &s, fp_at(3, 4, 2), 0).unwrap().0.slot, 0);
    }

    #[test]
    fn a_lost_race_is_retried_against_the_new_value() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let fp = fp_at(1, 16, 1);
        take(&t, &s, fp, 0).unwrap();
        // Another worker takes a token between our read and our write.
        let t2 = t.clone();
        s.before_next_set(move |st| {
            take(&t2, st, fp, 0).unwrap();
        });
        take(&t, &s, fp, 0).unwrap();
        let b = Bucket::decode(&s.raw("tg:rl:v1:p:1").unwrap()).unwrap();
        assert_eq!(b.remaining(&rate()), 0, "three takes, three tokens gone");
        assert!(!take(&t, &s, fp, 0).unwrap().1);
    }

    #[test]
    fn racing_creators_of_one_slot_both_count() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let fp = fp_at(2, 16, 1);
        let t2 = t.clone();
        s.before_next_set(move |st| {
            take(&t2, st, fp, 0).unwrap();
        });
        take(&t, &s, fp, 0).unwrap();
        let b = Bucket::decode(&s.raw("tg:rl:v1:p:2").unwrap()).unwrap();
        assert_eq!(b.remaining(&rate()), 1);
    }

    #[test]
    fn a_host_refusing_create_cas_falls_back_to_cas_zero() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        s.refuse_cas_on_missing_keys(true);
        assert!(take(&t, &s, 7, 0).unwrap().1);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn retries_exhausted_is_an_error() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        s.fail_next_sets(3);
        assert_eq!(take(&t, &s, 7, 0), Err(TableError::CasExhausted));
        assert!(
            take(&t, &s, 7, 0).unwrap().1,
            "fine again once the conflicts stop"
        );
    }

    #[test]
    fn a_corrupt_slot_is_an_error() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        s.put_raw("tg:rl:v1:p:7", b"garbage");
        assert_eq!(take(&t, &s, 7, 0), Err(TableError::Corrupt));
    }

    #[test]
    fn adjust_skips_a_slot_taken_over_by_another_key() {
        let t = Table::new("p", 16);
        let s = MemoryStore::new();
        let (a, b) = (fp_at(5, 16, 1), fp_at(5, 16, 2));
        let (at, _) = take(&t, &s, a, 0).unwrap();
        take(&t, &s, b, 5000).unwrap(); // a idle: b takes slot 5 over
        let r = rate();
        let changed = t
            .adjust(&s, at, 3, &mut |x| x.give_back(&r, 1, 5000))
            .unwrap();
        assert!(!changed);
        assert_eq!(
            Bucket::decode(&s.raw("tg:rl:v1:p:5").unwrap())
                .unwrap()
                .owner,
            b
        );
    }

    #[test]
    fn bound_counts_every_slot_at_its_longest_key() {
        let t = Table::new("burst", 1000);
        // "tg:rl:v1:burst:" is 15 bytes, slot numbers up to 3 digits.
        assert_eq!(t.bound_bytes(), 1000 * (15 + 3 + ENCODED_LEN));
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
    }
}
