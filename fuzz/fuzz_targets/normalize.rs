#![no_main]
//! Fuzz target `normalize`: see `common::normalize_text`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::normalize_text(data));
