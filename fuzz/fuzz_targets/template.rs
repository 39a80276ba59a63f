#![no_main]
//! Fuzzes `coffer::fuzzing::template` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::template(data));
