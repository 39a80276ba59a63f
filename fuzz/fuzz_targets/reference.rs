#![no_main]
//! Fuzzes `coffer::fuzzing::reference` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::reference(data));
