//! Dynamic shell completion: secret names, folders and field names, computed by coffer itself
//! when the shell asks (`COMPLETE=bash coffer -- …`), so the scripts stay short.
//!
//! Completion never decrypts anything: it reads directory entries only, one folder per TAB,
//! the way pass completes (folders end in `/` and keep completing).

use std::ffi::OsStr;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;

use coffer::Folder;
use coffer::config::{self, Env, Paths};
use coffer::vault::mounts::Mounts;
use coffer::vault::{RecipientOverride, Vault};

/// The command line as completion sees it. External subcommands are allowed only here, so
/// that the engine offers secret names where a command is expected (`coffer NAME` means
/// `coffer show NAME`). Aliases are hidden, so `coffer <TAB>` offers the names people type
/// (`ls`, `rm`), not clap's alphabetical pick of each command's spellings (`list`, `delete`);
/// an alias typed out still completes. Options are hidden too: the engine then offers them
/// only when nothing else fits, which is after a `-`.
pub fn completion_command() -> clap::Command {
    let mut cmd = super::Cli::command().allow_external_subcommands(true);
    // Built first, so that clap's own --help and --version exist and are hidden with the rest.
    cmd.build();
    quiet(cmd)
}

fn quiet(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        if arg.is_positional() {
            arg
        } else {
            arg.hide(true)
        }
    })
    .mut_subcommands(|sub| {
        let aliases: Vec<String> = sub.get_all_aliases().map(str::to_owned).collect();
        quiet(sub.alias(None).aliases(aliases))
    })
}

/// The store a folder of the tree lives in (the main one, or a mount's, docs/BEHAVIOUR.md
/// §10) and the folder inside it, plus the mount points directly inside `folder`. The
/// `--store` flag of the command line being completed is not visible here. Completion never
/// decrypts: it asks for nothing.
fn open_store(folder: &Folder) -> Option<(Option<Vault>, Folder, Vec<String>)> {
    let (paths, config) = config::resolve(None, &Env::from_process()).ok()?;
    let mounts = Mounts::from_config(&config.mounts).ok()?;
    let routed = mounts.route_folder(folder);
    let mount_points: Vec<String> = mounts
        .below(folder)
        .filter_map(|m| {
            let rest = match folder.as_name() {
                None => m.prefix.to_string(),
                Some(_) => folder.strip(&m.prefix.as_name()?)?.to_string(),
            };
            rest.split('/').next().map(str::to_owned)
        })
        .collect();
    let store = match routed.mount {
        Some(m) => m.dir.clone(),
        None => paths.store.clone(),
    };
    let vault = Vault::open(
        Paths { store, ..paths },
        config,
        std::sync::Arc::new(|_: &str| None),
        RecipientOverride::None,
    )
    .ok();
    Some((vault, routed.inner, mount_points))
}

/// Children of the folder that `current` is typed in, filtered by what was typed.
fn candidates(current: &OsStr, secrets: bool) -> Vec<CompletionCandidate> {
    let Some(typed) = current.to_str() else {
        return Vec::new();
    };
    let (dir, partial) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let Ok(folder) = Folder::new(dir) else {
        return Vec::new();
    };
    let Some((store, inner, mount_points)) = open_store(&folder) else {
        return Vec::new();
    };
    let mut children = store
        .and_then(|s| s.children(&inner).ok())
        .unwrap_or_default();
    // Mount points (and the folders leading to them) complete like any folder.
    for point in mount_points {
        if !children.iter().any(|(name, f)| *f && *name == point) {
            children.push((point, true));
        }
    }
    children.sort();
    children
        .into_iter()
        .filter(|(name, is_folder)| name.starts_with(partial) && (secrets || *is_folder))
        .map(|(name, is_folder)| {
            let value = if is_folder {
                format!("{dir}{name}/")
            } else {
                format!("{dir}{name}")
            };
            CompletionCandidate::new(value)
        })
        .collect()
}

/// Secret names (and folders on the way to them).
pub fn secret_names(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, true)
}

/// Folders only, for `-p SUB` and `ls`.
pub fn folders(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, false)
}

/// Secret names offered where a subcommand is expected: `coffer NAME` shows a secret.
pub fn top_level_names() -> Vec<CompletionCandidate> {
    candidates(OsStr::new(""), true)
}

/// Field names for `--field`. Without decrypting, only the conventional ones are known.
pub fn field_names(current: &OsStr) -> Vec<CompletionCandidate> {
    const FIELDS: &[&str] = &[
        "password", "user", "username", "login", "email", "url", "otp",
    ];
    let typed = current.to_string_lossy();
    FIELDS
        .iter()
        .filter(|f| f.starts_with(typed.as_ref()))
        .map(|f| CompletionCandidate::new(*f))
        .collect()
}
