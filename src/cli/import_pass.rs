//! `coffer import pass` and `coffer import passage`: not yet implemented (issue 9).

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;

#[derive(Args, Debug)]
pub struct PassArgs {}

#[derive(Args, Debug)]
pub struct PassageArgs {}

pub fn run_pass(_args: &PassArgs, _ctx: &Context) -> Result<ExitCode> {
    bail!("import pass is not available yet in this version")
}

pub fn run_passage(_args: &PassageArgs, _ctx: &Context) -> Result<ExitCode> {
    bail!("import passage is not available yet in this version")
}
