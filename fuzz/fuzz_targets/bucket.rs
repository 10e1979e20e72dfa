#![no_main]
//! Fuzz target `bucket`: see `common::bucket`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::bucket(data));
