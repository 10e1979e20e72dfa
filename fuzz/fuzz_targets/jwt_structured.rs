#![no_main]
//! Fuzz target `jwt_structured`: see `common::jwt_structured`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::jwt_structured(data));
