//! `coffer import csv`: not yet implemented (issue 9).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;

#[derive(Args, Debug)]
pub struct CsvArgs {
    /// The CSV export to import
    pub file: std::path::PathBuf,
}

pub fn run(_args: &CsvArgs, _ctx: &Context) -> Result<ExitCode> {
    bail!("import csv is not available yet in this version")
}
