//! `coffer git …`: git in the store, and `git init` with coffer's setup.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use coffer::Vault;
use coffer::vault::Changed;

use super::Context;

#[derive(Args, Debug)]
pub struct GitArgs {
    /// Arguments for git
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn git(args: &GitArgs, ctx: &Context) -> Result<ExitCode> {
    let vault = ctx.vault()?;
    if args.args.first().is_some_and(|a| a == "init") {
        init_repo(&vault)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !vault.git().is_repo() {
        bail!("the store is not a git repository; try \"coffer git init\"");
    }
    let status = vault
        .git()
        .command()
        .args(&args.args)
        .status()
        .context("cannot run git")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// `git init` as pass does it, plus attributes that keep git from merging ciphertext and a
/// textconv so `git diff` shows plaintext (never cached).
pub fn init_repo(vault: &Vault) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the coffer executable")?;
    vault.git().init(&exe)?;
    vault.commit(
        &[Changed::Folder(coffer::Folder::root())],
        // Existing secrets keep their file times as rotation dates.
        &coffer::team::rotation::unchanged_message("Add current contents of password store.", &[]),
    )?;
    let lock = vault.lock()?;
    vault.write_gitattributes(&lock, coffer::team::git::GITATTRIBUTES.as_bytes())?;
    vault.commit(
        &[Changed::GitAttributes],
        "Configure git repository for age file diff.",
    )?;
    Ok(())
}
