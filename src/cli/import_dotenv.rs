//! `coffer import dotenv`: not yet implemented (issue 6).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;

#[derive(Args, Debug)]
pub struct DotenvArgs {
    /// The .env file to import
    pub file: std::path::PathBuf,
}

pub fn run(_args: &DotenvArgs, _ctx: &Context) -> Result<ExitCode> {
    bail!("import dotenv is not available yet in this version")
}
