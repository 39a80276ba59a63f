//! `coffer import …`: moving secrets in. Each source has its own module.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{Context, import_csv, import_dotenv, import_pass};

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Subcommand, Debug)]
pub enum ImportSource {
    /// Import a .env file, one secret per variable
    Dotenv(import_dotenv::DotenvArgs),
    /// Import a pass (GPG) store
    #[command(long_about = import_pass::PASS_ABOUT)]
    Pass(import_pass::PassArgs),
    /// Import a passage (age) store
    #[command(long_about = import_pass::PASSAGE_ABOUT)]
    Passage(import_pass::PassageArgs),
    /// Import a password manager's CSV export
    #[command(long_about = import_csv::CSV_ABOUT)]
    Csv(import_csv::CsvArgs),
}

pub fn import(args: &ImportArgs, ctx: &Context) -> Result<ExitCode> {
    match &args.source {
        ImportSource::Dotenv(a) => import_dotenv::dotenv(a, ctx),
        ImportSource::Pass(a) => import_pass::pass(a, ctx),
        ImportSource::Passage(a) => import_pass::passage(a, ctx),
        ImportSource::Csv(a) => import_csv::csv(a, ctx),
    }
}
