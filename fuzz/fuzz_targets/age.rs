#![no_main]
//! Fuzzes `coffer::fuzzing::age` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::age(data));
