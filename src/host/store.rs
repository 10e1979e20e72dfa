//! [`SharedStore`] over proxy-wasm shared data (one map per `vm_id`, seen by every worker).

use super::abi as hostcalls;
use proxy_wasm::types::Status;

use crate::rate_limit::{SharedStore, StoreError};

/// Shared data as the rate limiter's store.
pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), StoreError> {
        match hostcalls::get_shared_data(key) {
            Ok((value, cas)) => Ok((value, cas.unwrap_or(0))),
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError> {
        let cas = if cas == 0 { None } else { Some(cas) };
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
}
