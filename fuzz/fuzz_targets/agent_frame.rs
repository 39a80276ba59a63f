#![no_main]
//! Fuzzes `coffer::fuzzing::agent_frame` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::agent_frame(data));
