#![no_main]
//! Fuzz target `config`: see `common::config`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::config(data));
