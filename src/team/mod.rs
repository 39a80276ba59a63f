//! Team features: git, sync, recipient trust pinning, exposure marks, rotation dates, a
//! secret's history and the access log.

pub mod exposure;
pub mod git;
pub mod history;
pub mod log;
pub mod rotation;
pub mod sync;
pub mod trust;
