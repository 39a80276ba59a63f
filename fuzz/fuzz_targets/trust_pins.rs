#![no_main]
//! Fuzzes `coffer::fuzzing::trust_pins` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::trust_pins(data));
