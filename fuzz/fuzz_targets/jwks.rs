#![no_main]
//! Fuzz target `jwks`: see `common::jwks`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::jwks(data));
