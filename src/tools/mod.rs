//! Whole-vault tools built on the vault: the audit and the importers.

pub mod audit;
pub mod fsck;
pub mod import;
