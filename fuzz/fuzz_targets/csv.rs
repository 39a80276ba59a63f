#![no_main]
//! Fuzzes `coffer::fuzzing::csv` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::csv(data));
