#![no_main]
//! Fuzzes `coffer::fuzzing::recipients` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::recipients(data));
