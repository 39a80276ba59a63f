#![no_main]
//! Fuzzes `coffer::fuzzing::config` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::config(data));
