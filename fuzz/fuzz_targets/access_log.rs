#![no_main]
//! Fuzzes `coffer::fuzzing::access_log` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::access_log(data));
