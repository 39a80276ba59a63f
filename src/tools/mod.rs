//! Whole-vault tools built on the vault: the audit, fsck (and its cache of checked
//! headers), the importers, the per-secret cache of what `scan` and `audit` take from each
//! plaintext, and what the two caches share.

pub mod audit;
mod cache;
pub mod fsck;
pub mod fsck_cache;
pub mod import;
pub mod secret_cache;
