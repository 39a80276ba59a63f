//! Whole-vault tools built on the vault: the audit, fsck (and its cache of checked
//! headers), the importers and the values `scan` looks for (kept in a cache between runs),
//! and what their caches share.

pub mod audit;
mod cache;
pub mod fsck;
pub mod fsck_cache;
pub mod import;
pub mod scan_cache;
