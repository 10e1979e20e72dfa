#![no_main]
//! Fuzz target `jwt`: see `common::jwt`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::jwt(data));
