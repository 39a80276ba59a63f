//! Commands that rearrange the store: `rm`, `mv`, `cp`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::store::Entry;
use coffer::vault::Changed;
use coffer::vault::mounts::Mount;
use coffer::{Folder, SecretName, Vault};

use super::{Context, UsageError, parse_name, ui};

#[derive(Args, Debug)]
pub struct RmArgs {
    /// The secret or folder to remove
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Remove a folder and everything in it
    #[arg(short = 'r', long = "recursive")]
    pub recursive: bool,
    /// Do not ask for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct MoveArgs {
    /// The secret or folder to take
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub old: String,
    /// Where to put it (an existing folder, or a name ending in `/`, receives it)
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub new: String,
    /// Overwrite without asking
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Move,
    Copy,
}

/// Whether a name given as `raw` means the folder (pass: a trailing `/`, or no file).
fn means_folder(entry: Entry, raw: &str) -> bool {
    entry.folder && (!entry.secret || raw.ends_with('/'))
}

pub fn rm(args: &RmArgs, ctx: &Context) -> Result<ExitCode> {
    let shown = parse_name(args.name.trim_end_matches('/'))?;
    if ctx.mounts.route_name(&shown).inner.is_none() {
        bail!("{shown} is a mount point; `coffer mount rm {shown}` unmounts it");
    }
    let (vault, name) = ctx.vault_for(&shown)?;
    let entry = vault.entry(&name)?;
    if !entry.secret && !entry.folder {
        bail!("{shown} is not in the store.");
    }
    let folder = means_folder(entry, &args.name);
    if folder && !args.recursive {
        bail!("{shown} is a folder; use rm -r to remove it and everything in it");
    }
    if !args.force {
        ui::confirm_or_stop(&format!("Are you sure you would like to delete {shown}?"))?;
    }
    let lock = vault.lock()?;
    if folder {
        vault.remove_folder(&lock, &name.as_folder())?;
        vault.commit(
            &[Changed::Folder(name.as_folder())],
            &format!("Remove {name} from store."),
        )?;
    } else {
        vault.remove(&lock, &name)?;
        vault.commit(
            &[Changed::Secret(name.clone())],
            &format!("Remove {name} from store."),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn mv(args: &MoveArgs, ctx: &Context, mode: Mode) -> Result<ExitCode> {
    let old = parse_name(args.old.trim_end_matches('/'))?;
    if args.new.is_empty() {
        return Err(UsageError("invalid name \"\": a secret name cannot be empty".into()).into());
    }
    let from = ctx.mounts.route_name(&old);
    let Some(old_inner) = from.inner else {
        bail!("{old} is a mount point; `coffer mount` moves mounts");
    };
    // The destination's store: a mount point receives into that store's root.
    let new_raw = args.new.trim_end_matches('/');
    let (to_mount, new_inner) = if new_raw.is_empty() {
        (None, args.new.clone())
    } else {
        let to = ctx.mounts.route_name(&parse_name(new_raw)?);
        let inner = match to.inner {
            None => "/".to_owned(),
            Some(n) if args.new.ends_with('/') => format!("{n}/"),
            Some(n) => n.to_string(),
        };
        (to.mount, inner)
    };
    let same_store = from.mount.map(|m| &m.prefix) == to_mount.map(|m| &m.prefix);
    if !same_store {
        return across_stores(
            ctx,
            args,
            mode,
            (from.mount, &old_inner),
            (to_mount, &new_inner),
        );
    }
    if from.mount.is_some() {
        // Inside one mounted store: as in any store, with its own names.
        let old_raw = if args.old.ends_with('/') {
            format!("{old_inner}/")
        } else {
            old_inner.to_string()
        };
        let inner = MoveArgs {
            old: old_raw,
            new: new_inner,
            force: args.force,
        };
        return within_store(&ctx.vault_at(from.mount)?, &old_inner, &inner, mode);
    }
    within_store(&ctx.vault()?, &old, args, mode)
}

/// `mv`/`cp` inside one store (names are that store's own).
fn within_store(vault: &Vault, old: &SecretName, args: &MoveArgs, mode: Mode) -> Result<ExitCode> {
    let old = old.clone();
    // A first look, to ask before overwriting; everything is looked at again under the lock,
    // so that what is moved and removed is what is there then.
    let asked = plan_move(vault, &old, args)?;
    if asked.clashes > 0 && !args.force {
        let new = &asked.new;
        let what = if asked.clashes == 1 && !asked.is_folder {
            format!("{new} already exists. Overwrite it?")
        } else {
            format!(
                "{} secrets under {new} already exist. Overwrite them?",
                asked.clashes
            )
        };
        ui::confirm_or_stop(&what)?;
    }

    let lock = vault.lock()?;
    let MovePlan {
        new,
        is_folder,
        plan,
        clashes,
    } = plan_move(vault, &old, args)?;
    if !args.force && (new != asked.new || clashes > asked.clashes) {
        bail!("{new} changed while you were answering; nothing was moved. Run the command again");
    }
    let carried = if is_folder {
        carry_recipients(vault, &lock, &old.as_folder(), &new.as_folder())?
    } else {
        Vec::new()
    };
    vault.transfer(&lock, &plan, false)?;
    let mut touched = vec![
        Changed::Secret(new.clone()),
        Changed::Folder(new.as_folder()),
    ];
    let message = match mode {
        Mode::Move => {
            if is_folder {
                // Only what was moved: nothing else that lies there is lost.
                let moved: Vec<SecretName> = plan.iter().map(|(from, _)| from.clone()).collect();
                vault.remove_moved(&lock, &moved, &carried)?;
                touched.push(Changed::Folder(old.as_folder()));
            } else {
                vault.remove(&lock, &old)?;
                touched.push(Changed::Secret(old.clone()));
            }
            format!("Rename {} to {}.", args.old, args.new)
        }
        Mode::Copy => format!("Copy {} to {}.", args.old, args.new),
    };
    // The values do not change: say where they came from, so rotation dates follow them.
    let copies = if is_folder {
        vec![(format!("{old}/"), format!("{new}/"))]
    } else {
        vec![(old.to_string(), new.to_string())]
    };
    let message = coffer::team::rotation::unchanged_message(&message, &copies);
    vault.commit(&touched, &message)?;
    Ok(ExitCode::SUCCESS)
}

/// `mv`/`cp` from one store to another (main or mounted, docs/BEHAVIOUR.md §10): every
/// secret is decrypted and encrypted again for the destination store's recipients. The
/// destination is written and committed first; only then (for `mv`) are the sources removed
/// and that store committed, so a failure anywhere loses nothing.
fn across_stores(
    ctx: &Context,
    args: &MoveArgs,
    mode: Mode,
    (from_mount, old): (Option<&Mount>, &SecretName),
    (to_mount, new_raw): (Option<&Mount>, &str),
) -> Result<ExitCode> {
    let src = ctx.vault_at(from_mount)?;
    let dst = ctx.vault_at(to_mount)?;
    let entry = src.entry(old)?;
    if !entry.secret && !entry.folder {
        bail!("{} is not in the store.", args.old.trim_end_matches('/'));
    }
    let is_folder = means_folder(entry, &args.old);
    let new_trimmed = new_raw.trim_end_matches('/');
    let into = new_trimmed.is_empty()
        || new_raw.ends_with('/')
        || SecretName::new(new_trimmed)
            .ok()
            .map(|n| dst.entry(&n))
            .transpose()?
            .is_some_and(|e| e.folder);
    let new = if into {
        super::parse_folder(new_trimmed)?
            .try_join(&parse_name(old.leaf())?)
            .map_err(|e| UsageError(format!("invalid name: {e}")))?
    } else {
        parse_name(new_trimmed)?
    };
    let plan: Vec<(SecretName, SecretName)> = if is_folder {
        let (from, to) = (old.as_folder(), new.as_folder());
        src.list(&from)?
            .into_iter()
            .map(|name| {
                let dest = name.rebase(&from, &to).ok_or_else(|| {
                    UsageError(format!(
                        "cannot move {name} to {new}: the name would be too long"
                    ))
                })?;
                Ok((name, dest))
            })
            .collect::<Result<_>>()?
    } else {
        vec![(old.clone(), new.clone())]
    };
    let clashes = plan
        .iter()
        .filter(|(_, to)| dst.entry(to).is_ok_and(|e| e.secret))
        .count();
    if clashes > 0 && !args.force {
        ui::confirm_or_stop(&format!(
            "{clashes} secret(s) at {} already exist. Overwrite them?",
            args.new
        ))?;
    }
    let verb = match mode {
        Mode::Move => "Rename",
        Mode::Copy => "Copy",
    };
    let message = format!("{verb} {} to {}.", args.old, args.new);
    // Everything the destination needs is checked before anything is written there.
    let folders: std::collections::BTreeSet<Folder> =
        plan.iter().map(|(_, to)| to.parent()).collect();
    for folder in &folders {
        dst.check_can_encrypt(folder)?;
    }
    // The values do not change: each keeps its rotation date and its exposure.
    let sources: Vec<SecretName> = plan.iter().map(|(from, _)| from.clone()).collect();
    let dates = src.rotation_dates(&sources)?;
    {
        let lock = dst.lock()?;
        for (from, to) in &plan {
            let plaintext = src.read(from)?;
            dst.write(&lock, to, &plaintext)?;
            dst.adopt_exposure(&lock, &src, from, to)?;
        }
        let changed: Vec<Changed> = plan
            .iter()
            .map(|(_, to)| Changed::Secret(to.clone()))
            .collect();
        let trailers = coffer::team::rotation::rotated_trailers(
            plan.iter()
                .filter_map(|(from, to)| dates.get(from).map(|r| (to, r.when))),
        );
        dst.commit(&changed, &format!("{message}\n\n{trailers}"))?;
    }
    if mode == Mode::Move {
        let lock = src.lock()?;
        let moved: Vec<SecretName> = plan.iter().map(|(from, _)| from.clone()).collect();
        if is_folder {
            src.remove_moved(&lock, &moved, &[])?;
            src.commit(&[Changed::Folder(old.as_folder())], &message)?;
        } else {
            src.remove(&lock, old)?;
            src.commit(&[Changed::Secret(old.clone())], &message)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a `mv`/`cp` would do now: where `old` goes, and each secret's source and destination.
struct MovePlan {
    new: SecretName,
    is_folder: bool,
    plan: Vec<(SecretName, SecretName)>,
    /// How many destinations already hold a secret.
    clashes: usize,
}

fn plan_move(vault: &Vault, old: &SecretName, args: &MoveArgs) -> Result<MovePlan> {
    let new_raw = args.new.trim_end_matches('/');
    let entry = vault.entry(old)?;
    if !entry.secret && !entry.folder {
        bail!("{old} is not in the store.");
    }
    let is_folder = means_folder(entry, &args.old);
    // An existing folder (or a trailing `/`) receives the source under its own leaf name.
    let into = new_raw.is_empty()
        || args.new.ends_with('/')
        || SecretName::new(new_raw)
            .ok()
            .map(|n| vault.entry(&n))
            .transpose()?
            .is_some_and(|e| e.folder);
    let new = if into {
        let base = super::parse_folder(new_raw)?;
        base.try_join(&parse_name(old.leaf())?)
            .map_err(|e| UsageError(format!("invalid name \"{new_raw}/{}\": {e}", old.leaf())))?
    } else {
        parse_name(new_raw)?
    };
    if new == *old {
        bail!("{old} and {new} are the same");
    }
    let plan: Vec<(SecretName, SecretName)> = if is_folder {
        let from = old.as_folder();
        let to = new.as_folder();
        if from.contains_folder(&to) {
            return Err(UsageError(format!("cannot move {old} into itself")).into());
        }
        let mut plan = Vec::new();
        for name in vault.list(&from)? {
            let Some(dest) = name.rebase(&from, &to) else {
                return Err(UsageError(format!(
                    "cannot move {old} to {new}: {name} would get a name longer than {} bytes",
                    coffer::store::name::MAX_NAME_BYTES
                ))
                .into());
            };
            plan.push((name, dest));
        }
        plan
    } else {
        vec![(old.clone(), new.clone())]
    };
    let clashes = plan
        .iter()
        .filter(|(_, to)| vault.entry(to).is_ok_and(|e| e.secret))
        .count();
    Ok(MovePlan {
        new,
        is_folder,
        plan,
        clashes,
    })
}

/// A folder's own `.age-recipients` files travel with it, as they do with pass's `mv`, so
/// its secrets stay readable by the same people. Returns the folders whose file was carried.
fn carry_recipients(
    vault: &Vault,
    lock: &coffer::store::StoreLock,
    from: &Folder,
    to: &Folder,
) -> Result<Vec<Folder>> {
    let mut carried = Vec::new();
    for folder in vault.recipients_files_below(from)? {
        let Some(bytes) = vault.own_recipients_file(&folder)? else {
            continue;
        };
        let dest = match from.as_name().and_then(|_| folder.as_name()) {
            Some(name) if folder != *from => name
                .rebase(from, to)
                .map(|n| n.as_folder())
                .unwrap_or_else(|| to.clone()),
            _ => to.clone(),
        };
        vault.copy_recipients_file(lock, &folder, &dest, &bytes)?;
        carried.push(folder);
    }
    Ok(carried)
}
