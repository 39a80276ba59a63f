//! Whole-vault tools built on the vault: the audit, fsck, the importers and the values
//! `scan` looks for (kept in a cache between runs).

pub mod audit;
pub mod fsck;
pub mod import;
pub mod scan_cache;
