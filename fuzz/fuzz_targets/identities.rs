#![no_main]
//! Fuzzes `coffer::fuzzing::identities` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::identities(data));
