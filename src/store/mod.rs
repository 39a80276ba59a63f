//! Storage: validated secret names and the one place secret files are touched.

pub mod name;

mod fs;

pub use fs::*;
