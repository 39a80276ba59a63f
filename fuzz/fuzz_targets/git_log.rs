#![no_main]
//! Fuzzes `coffer::fuzzing::git_log` (see `src/fuzzing.rs`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| coffer::fuzzing::git_log(data));
