#![no_main]
//! Fuzz target `sse_usage`: see `common::sse_usage`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::sse_usage(data));
