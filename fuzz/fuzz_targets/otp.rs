#![no_main]
//! Fuzzes `coffer::fuzzing::otp` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::otp(data));
