//! coffer: a local, age-encrypted secrets vault compatible with pass and passage.
//!
//! The library knows names, the store, recipients, identities, crypto and secret content. It
//! never parses a command line, prints or prompts: that is the job of the
//! binary's `cli` module on top.

pub mod agent;
pub mod audit;
pub mod config;
pub mod crypto;
pub mod dotenv;
pub mod exposure;
pub mod generate;
pub mod git;
pub mod identity;
pub mod import;
pub mod leak;
pub mod log;
pub mod name;
pub mod otp;
pub mod recipients;
pub mod reference;
pub mod rotation;
pub mod secret;
pub mod store;
pub mod sync;
pub mod sys;
pub mod trust;
pub mod vault;

pub use name::{Folder, SecretName};
pub use secret::Plaintext;
pub use vault::{Error, Vault};
