//! coffer: a local, age-encrypted secrets vault compatible with pass and passage.
//!
//! The library knows names, the store, recipients, identities, crypto and secret content. It
//! never parses a command line, prints or prompts: that is the job of the binary's `cli`
//! module on top. The folders are the layers, and imports only point down:
//!
//! | layer | owns |
//! |---|---|
//! | [`sys`] | process hardening, private files and folders |
//! | [`store`] | secret names and the storage backends (the only code touching secret files) |
//! | [`crypto`] | plaintext, identities, recipients, age encryption |
//! | [`formats`] | OTP, dotenv, references, generated passwords, leak patterns |
//! | [`team`] | git, sync, trust pins, exposure marks, rotation dates, the access log |
//! | [`vault`] | the front door: a store plus the keys to read and write it |
//! | [`agent`] | the process that holds unlocked identities |
//! | [`tools`] | whole-vault tools: audit, import |
//!
//! `docs/ARCHITECTURE.md` in the repository describes each layer and its invariants.

pub mod agent;
pub mod config;
pub mod crypto;
pub mod formats;
#[doc(hidden)]
pub mod fuzzing;
pub mod store;
pub mod sys;
pub mod team;
pub mod tools;
pub mod vault;

// The library's surface, as a user of it needs it; the layers stay reachable for the CLI.
pub use crypto::identity::{Identities, IdentityError, PassphrasePrompt};
pub use crypto::recipients::{Recipient, Recipients};
pub use crypto::secret::Plaintext;
pub use store::name::{Folder, SecretName};
pub use store::{FsStore, MemoryStore, Storage, StoreError, StoreLock};
pub use vault::{Changed, Error, RecipientOverride, Vault};
