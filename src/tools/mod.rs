//! Whole-vault tools built on the vault: the audit, fsck, the importers, and the per-secret
//! cache of what `scan` and `audit` take from each plaintext.

pub mod audit;
pub mod fsck;
pub mod import;
pub mod secret_cache;

/// The cache's name from when only `scan` used it; `cli/scan.rs` still says it.
#[doc(hidden)]
pub use secret_cache as scan_cache;
