//! `mount add|rm|ls`: other stores shown under a folder of the main one (docs/BEHAVIOUR.md §10).
//!
//! Mounts live in the config file's `[mounts]` table; this module checks what is asked and
//! edits that table. Routing names to stores is `Context::vault_for`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use coffer::Folder;
use coffer::config::MountConfig;
use coffer::team::git::Git;
use coffer::vault::mounts::{self, MountError};

use super::{Context, UsageError};

#[derive(Args, Debug)]
pub struct MountArgs {
    #[command(subcommand)]
    pub action: MountAction,
}

#[derive(Subcommand, Debug)]
pub enum MountAction {
    /// Show the store in DIR under the folder PREFIX
    Add {
        /// The folder the store appears as (a valid folder name, not inside another mount)
        prefix: String,
        /// The store's directory (a coffer or passage store of yours)
        dir: PathBuf,
        /// Read this store with this identities file instead of the main one
        #[arg(long, value_name = "FILE")]
        identities: Option<PathBuf>,
    },
    /// Stop showing a mounted store (its files stay where they are)
    #[command(visible_alias = "remove")]
    Rm {
        /// The mount's prefix
        prefix: String,
    },
    /// List the mounts: prefix, directory, identities file, git remote
    #[command(visible_alias = "list")]
    Ls,
}

pub fn mount(args: &MountArgs, ctx: &Context) -> Result<ExitCode> {
    match &args.action {
        MountAction::Add {
            prefix,
            dir,
            identities,
        } => {
            add(ctx, prefix, dir, identities.as_deref())?;
            eprintln!("Mounted {} at {prefix}.", dir.display());
        }
        MountAction::Rm { prefix } => {
            let folder = usage(mounts::parse_prefix(prefix))?;
            let Some(mount) = ctx.mounts.get(&folder) else {
                bail!(MountError::NotMounted(folder.to_string()));
            };
            coffer::config::write_mount(&ctx.paths.config_file, folder.as_str(), None)?;
            eprintln!(
                "Unmounted {folder}; its store stays in {}.",
                mount.dir.display()
            );
        }
        MountAction::Ls => ls(ctx),
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks everything first, then writes the config once: bad input changes nothing.
pub fn add(ctx: &Context, prefix: &str, dir: &Path, identities: Option<&Path>) -> Result<()> {
    let folder = check_prefix(ctx, prefix)?;
    let dir = mounts::check_mount_dir(dir, &ctx.paths.store)?;
    let identities = match identities {
        Some(file) => {
            let file = std::path::absolute(file)?;
            if !file.is_file() {
                bail!("the identities file {} does not exist", file.display());
            }
            if file.starts_with(&dir) {
                bail!(
                    "the identities file {} is inside the store; identities never live in the store",
                    file.display()
                );
            }
            Some(file)
        }
        None => None,
    };
    let entry = MountConfig { dir, identities };
    coffer::config::write_mount(&ctx.paths.config_file, folder.as_str(), Some(&entry))?;
    Ok(())
}

/// A prefix that may be mounted now: valid, not nested, hiding nothing of the main store.
pub fn check_prefix(ctx: &Context, prefix: &str) -> Result<Folder> {
    let folder = usage(mounts::parse_prefix(prefix))?;
    ctx.mounts.check_no_nesting(&folder)?;
    // A mount must not hide what the main store has there (when there is a main store).
    if let (Some(name), Ok(main)) = (folder.as_name(), ctx.vault()) {
        let entry = main.entry(&name)?;
        if entry.folder || entry.secret {
            bail!(MountError::Shadows(folder.to_string()));
        }
    }
    Ok(folder)
}

fn ls(ctx: &Context) {
    for m in ctx.mounts.iter() {
        let identities = m.identities.as_ref().map_or_else(
            || "(main identities)".to_owned(),
            |p| p.display().to_string(),
        );
        let git = Git::new(&m.dir);
        let remote = if git.is_repo() {
            git.run(["remote", "get-url", "origin"])
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "(no remote)".into())
        } else {
            "(no git)".into()
        };
        println!(
            "{}\t{}\t{identities}\t{remote}",
            coffer::sys::text::terminal_safe(m.prefix.as_str()),
            m.dir.display()
        );
    }
}

/// A bad prefix is a usage error (exit 2), as a bad name is.
pub fn usage<T>(result: Result<T, MountError>) -> Result<T> {
    result.map_err(|e| match e {
        MountError::BadPrefix { .. } | MountError::RootPrefix(_) => {
            UsageError(super::ui::error_line(&anyhow::Error::from(e))).into()
        }
        e => e.into(),
    })
}
