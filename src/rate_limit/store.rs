//! The shared-data seam: get / compare-and-set, with an in-memory fake.
//!
//! The semantics follow proxy-wasm as implemented by Envoy
//! (`proxy-wasm-cpp-host`, `SharedData::set`):
//! - `get` of a missing key returns `(None, 0)`;
//! - `set` with `cas == 0` is unconditional;
//! - `set` with a nonzero `cas` on an existing key fails with
//!   [`StoreError::CasMismatch`] unless the key's current cas equals it;
//! - `set` with a nonzero `cas` on a missing key inserts it;
//! - every successful write gives the key a fresh cas from one global
//!   counter (never 0).
//!
//! The table in `table.rs` uses the last two rules for an almost atomic
//! "insert if absent" (see [`CREATE_CAS`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

/// The cas used to create a missing slot.
///
/// With Envoy's rules a nonzero cas inserts a missing key but is refused
/// when the key already exists (unless its current cas happens to be this
/// exact value, about one chance in 2^32 per collision of timing). Two
/// workers creating the same slot at the same time therefore cannot both
/// succeed: the loser gets `CasMismatch`, re-reads and retries. A cas of 0
/// would silently overwrite the winner's write and lose its spend.
pub const CREATE_CAS: u32 = u32::MAX;

/// Why a shared-data call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The value changed since it was read (compare-and-set refused).
    CasMismatch,
    /// Any other host failure.
    Unavailable,
}

impl StoreError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CasMismatch => "cas_mismatch",
            Self::Unavailable => "store_error",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CasMismatch => write!(f, "shared data changed concurrently"),
            Self::Unavailable => write!(f, "shared data is unavailable"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Key/value storage shared by every worker (proxy-wasm shared data).
pub trait SharedStore {
    /// The value and its cas; a missing key gives `(None, 0)`.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), StoreError>;
    /// Writes `value` if `cas` is 0 or matches (see the module docs).
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError>;
}

type Hook = Box<dyn FnOnce(&MemoryStore)>;

/// An in-memory [`SharedStore`] with Envoy's semantics and injectable faults.
///
/// Faults let tests play the part of a concurrent worker:
/// [`fail_next_sets`](Self::fail_next_sets) refuses writes,
/// [`before_next_set`](Self::before_next_set) runs arbitrary code (for
/// example a whole rate-limit check by "another worker") between a caller's
/// `get` and its `set`.
#[derive(Default)]
pub struct MemoryStore {
    data: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    fail_sets: Cell<u32>,
    hooks: RefCell<Vec<Hook>>,
    refuse_create_cas: Cell<bool>,
    fail_all: Cell<bool>,
    sets: Cell<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` calls to `set` fail with `CasMismatch` without writing.
    pub fn fail_next_sets(&self, n: u32) {
        self.fail_sets.set(n);
    }

    /// Runs `hook` at the start of a future `set`, before it checks the cas.
    /// Hooks run one per `set` call, in the order they were queued.
    pub fn before_next_set(&self, hook: impl FnOnce(&MemoryStore) + 'static) {
        self.hooks.borrow_mut().push(Box::new(hook));
    }

    /// Emulates a host that refuses a nonzero cas on a missing key.
    pub fn refuse_cas_on_missing_keys(&self, on: bool) {
        self.refuse_create_cas.set(on);
    }

    /// Every call fails with `Unavailable`.
    pub fn fail_everything(&self, on: bool) {
        self.fail_all.set(on);
    }

    /// Writes a raw value unconditionally (to plant corrupt state in tests).
    pub fn put_raw(&self, key: &str, value: &[u8]) {
        let cas = self.bump();
        self.data
            .borrow_mut()
            .insert(key.to_string(), (value.to_vec(), cas));
    }

    /// The raw value of a key.
    pub fn raw(&self, key: &str) -> Option<Vec<u8>> {
        self.data.borrow().get(key).map(|(v, _)| v.clone())
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.data.borrow().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.borrow().len()
    }

    /// True when no key was ever written.
    pub fn is_empty(&self) -> bool {
        self.data.borrow().is_empty()
    }

    /// Total bytes of keys plus values.
    pub fn payload_bytes(&self) -> usize {
        self.data
            .borrow()
            .iter()
            .map(|(k, (v, _))| k.len() + v.len())
            .sum()
    }

    /// Number of successful writes.
    pub fn successful_sets(&self) -> u64 {
        self.sets.get()
    }

    fn bump(&self) -> u32 {
        let mut cas = self.next_cas.get().wrapping_add(1);
        if cas == 0 {
            cas = 1;
        }
        self.next_cas.set(cas);
        cas
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), StoreError> {
        if self.fail_all.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(match self.data.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), *cas),
            None => (None, 0),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError> {
        let hook = {
            let mut hooks = self.hooks.borrow_mut();
            if hooks.is_empty() {
                None
            } else {
                Some(hooks.remove(0))
            }
        };
        if let Some(hook) = hook {
            hook(self);
        }
        if self.fail_all.get() {
            return Err(StoreError::Unavailable);
        }
        if self.fail_sets.get() > 0 {
            self.fail_sets.set(self.fail_sets.get() - 1);
            return Err(StoreError::CasMismatch);
        }
        let current = self.data.borrow().get(key).map(|(_, c)| *c);
        match current {
            Some(c) if cas != 0 && cas != c => return Err(StoreError::CasMismatch),
            None if cas != 0 && self.refuse_create_cas.get() => {
                return Err(StoreError::CasMismatch)
            }
            _ => {}
        }
        let new_cas = self.bump();
        self.data
            .borrow_mut()
            .insert(key.to_string(), (value.to_vec(), new_cas));
        self.sets.set(self.sets.get() + 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_reads_as_none_with_cas_zero() {
        assert_eq!(MemoryStore::new().get("k").unwrap(), (None, 0));
    }

    #[test]
    fn stale_cas_is_refused_and_fresh_cas_accepted() {
        let s = MemoryStore::new();
        s.set("k", b"a", 0).unwrap();
        let (_, cas) = s.get("k").unwrap();
        s.set("k", b"b", cas).unwrap();
        assert_eq!(s.set("k", b"c", cas), Err(StoreError::CasMismatch));
        assert_eq!(s.get("k").unwrap().0.unwrap(), b"b");
    }

    #[test]
    fn cas_zero_overwrites_unconditionally() {
        let s = MemoryStore::new();
        s.set("k", b"a", 0).unwrap();
        s.set("k", b"b", 0).unwrap();
        assert_eq!(s.raw("k").unwrap(), b"b");
    }

    #[test]
    fn create_cas_inserts_a_missing_key_but_not_an_existing_one() {
        let s = MemoryStore::new();
        s.set("k", b"a", CREATE_CAS).unwrap();
        assert_eq!(s.set("k", b"b", CREATE_CAS), Err(StoreError::CasMismatch));
        assert_eq!(s.raw("k").unwrap(), b"a");
    }

    #[test]
    fn injected_failures_and_hooks_run_once() {
        let s = MemoryStore::new();
        s.fail_next_sets(1);
        assert_eq!(s.set("k", b"a", 0), Err(StoreError::CasMismatch));
        s.before_next_set(|st| st.put_raw("other", b"x"));
        s.set("k", b"a", 0).unwrap();
        assert_eq!(s.keys(), vec!["k".to_string(), "other".to_string()]);
        assert_eq!(s.successful_sets(), 1);
    }
}
