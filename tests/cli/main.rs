//! coffer's integration tests, in one test binary (one link instead of one per file): a module
//! per command area, all built on the throw-away vault of [`common`]. Each test runs the real
//! `coffer` binary (or the library, in `library`) the way a user's session would.
//!
//! Tests of different modules share this process and run in parallel: none may change
//! process-wide state (environment variables, the current folder, signal handlers); every
//! child process gets its environment and folder from [`common::TestVault`] instead.

// Everything in this crate is test code. `clippy.toml` allows unwrap/expect/panic in `#[test]`
// functions and `#[cfg(test)]` items only, which leaves out the harness and the helpers beside
// the tests; this allow covers them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod agent;
mod audit;
mod browserpass;
mod clipboard;
mod completion;
mod crash;
mod credential;
mod docs;
mod frontends;
mod fsck;
mod fuzz_corpus;
mod git;
mod history;
mod hostile;
mod identity;
mod import;
mod import_dotenv;
mod init;
mod inject;
mod interop;
mod library;
mod log;
mod manage;
mod mounts;
mod otp;
mod pinentry;
mod qr;
mod robustness;
mod run;
mod scan;
mod show;
mod team;
mod tty;
mod write;
