#![no_main]
//! Fuzz target `screening`: see `common::screening`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::screening(data));
