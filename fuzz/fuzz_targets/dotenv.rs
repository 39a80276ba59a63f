#![no_main]
//! Fuzzes `coffer::fuzzing::dotenv` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::dotenv(data));
