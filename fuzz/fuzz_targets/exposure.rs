#![no_main]
//! Fuzzes `coffer::fuzzing::exposure` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::exposure(data));
