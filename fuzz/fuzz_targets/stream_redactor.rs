#![no_main]
//! Fuzz target `stream_redactor`: see `common::stream_redactor`.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::stream_redactor(data));
