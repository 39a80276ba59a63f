//! `recipients [ls|add|rm|accept]`: who can read a folder, changing that, and approving a
//! change someone else made (trust pinning).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use coffer::crypto::recipients::{Recipient, Recipients};
use coffer::store::{RECIPIENTS_FILE, StoreLock};
use coffer::sys::text::terminal_safe;
use coffer::team::trust::{Listed, describe};
use coffer::vault::{Changed, RecipientOverride};
use coffer::{Folder, SecretName, Vault};

use super::{Context, PathArg, UsageError, ui};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RecipientsArgs {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub path: PathArg,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Show who can read a folder, where that is set, and what is not approved or exposed
    Ls(PathArg),
    /// Add recipients to a folder and re-encrypt what its recipients file governs
    Add(AddArgs),
    /// Remove recipients, re-encrypt, and mark what they could read as exposed
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Approve the recipients as they are now (after someone else changed them)
    Accept(PathArg),
}

#[derive(Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    pub path: PathArg,
    /// A name for the recipient, kept as a comment above its key
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Public keys: age1…, "ssh-ed25519 …", "ssh-rsa …"
    #[arg(required = true, value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub path: PathArg,
    /// Public keys or labels of the recipients to remove
    #[arg(required = true, value_name = "RECIPIENT|LABEL")]
    pub who: Vec<String>,
    /// Remove even your own key (you will no longer be able to read these secrets)
    #[arg(long)]
    pub force: bool,
}

pub fn recipients(args: &RecipientsArgs, ctx: &Context) -> Result<ExitCode> {
    match &args.action {
        None => ls(&args.path, ctx),
        Some(Action::Ls(path)) => ls(path, ctx),
        Some(Action::Add(add_args)) => add(add_args, ctx),
        Some(Action::Rm(rm_args)) => remove(rm_args, ctx),
        Some(Action::Accept(path)) => accept(path, ctx),
    }
}

/// A path inside the store, shown relative to it.
fn relative(vault: &Vault, path: &Path) -> String {
    path.strip_prefix(vault.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn listed(r: &Recipient) -> String {
    match r.label() {
        Some(label) => format!("{}  ({})", r.key(), terminal_safe(label)),
        None => r.key().to_owned(),
    }
}

fn ls(path: &PathArg, ctx: &Context) -> Result<ExitCode> {
    let (vault, folder) = ctx.vault_for_folder(&path.folder()?)?;
    let what = describe(&folder);
    let recipients = vault.recipients_for(&folder)?;
    let source = match vault.recipient_override() {
        RecipientOverride::None => relative(&vault, recipients.source()),
        RecipientOverride::List(_) => "$COFFER_RECIPIENTS, overriding the store".to_owned(),
        RecipientOverride::File(f) => {
            format!(
                "$COFFER_RECIPIENTS_FILE={}, overriding the store",
                f.display()
            )
        }
    };
    println!("Recipients of {what} (from {source}):");
    for r in recipients.iter() {
        println!("  {}", listed(r));
    }
    if matches!(vault.recipient_override(), RecipientOverride::None) {
        let changes = vault.trust_changes_below(&folder)?;
        for change in &changes {
            println!(
                "Not approved on this device, for {}: {}; run `coffer recipients accept{}` if that is expected.",
                change.what(),
                change.summary(),
                change.accept_flag()
            );
        }
    }
    for (at, removed) in vault.unfinished_reencryptions()? {
        if folder.contains_folder(&at) || at.contains_folder(&folder) {
            let again = if removed.is_empty() {
                format!(
                    "`coffer recipients add{} KEY` again, with a key it lists,",
                    path_flag(&at)
                )
            } else {
                let keys: Vec<&str> = removed.iter().map(|l| l.key.as_str()).collect();
                format!(
                    "`coffer recipients rm{} {}` again",
                    path_flag(&at),
                    keys.join(" ")
                )
            };
            println!(
                "Unfinished: a change of the recipients of {} was interrupted before every secret was re-encrypted; run {again} to finish it.",
                describe(&at)
            );
        }
    }
    let exposed = vault.exposed_below(&folder)?;
    if !exposed.is_empty() {
        println!(
            "Exposed (readable by a removed recipient and not changed since; change them to clear):"
        );
        for e in exposed {
            let by: Vec<String> = e.removals.iter().map(ToString::to_string).collect();
            let name = terminal_safe(e.name.as_str());
            if by.is_empty() {
                println!("  {name}");
            } else {
                println!("  {name}  (by {})", by.join("; "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `recipients add/rm` edit the store's files; an environment override would make what they
/// show and what they change differ.
fn refuse_override(vault: &Vault) -> Result<()> {
    if !matches!(vault.recipient_override(), RecipientOverride::None) {
        bail!(
            "$COFFER_RECIPIENTS or $COFFER_RECIPIENTS_FILE is set and overrides the store's recipients; unset it to change them"
        );
    }
    Ok(())
}

/// Changing a file this device has not approved would approve someone else's change
/// without anyone looking at it.
fn refuse_unapproved(vault: &Vault, folder: &Folder) -> Result<()> {
    if let Some(change) = vault.trust_change(folder)? {
        bail!(
            "the recipients of {} are not the ones this device approved ({}); review that first and run `coffer recipients accept{}`",
            change.what(),
            change.summary(),
            change.accept_flag()
        );
    }
    Ok(())
}

fn add(args: &AddArgs, ctx: &Context) -> Result<ExitCode> {
    let shown = args.path.folder()?;
    if args.label.is_some() && args.recipients.len() > 1 {
        return Err(
            UsageError("--label names one recipient; add them one at a time".into()).into(),
        );
    }
    let mut new = Vec::new();
    for raw in &args.recipients {
        let r = Recipient::parse(raw).map_err(|e| UsageError(e.to_string()))?;
        let label = args
            .label
            .clone()
            .or_else(|| ssh_comment(raw))
            .map(|l| ui::one_line(&l))
            .filter(|l| !l.is_empty());
        new.push(r.with_label(label));
    }
    let (vault, folder) = ctx.vault_for_folder(&shown)?;
    refuse_override(&vault)?;
    let lock = vault.lock()?;
    refuse_unapproved(&vault, &folder)?;
    let what = describe(&folder);
    let (mut list, inherited) = current(&vault, &folder)?;
    let mut added = Vec::new();
    let mut known: std::collections::HashSet<String> =
        list.iter().map(|r| r.key().to_owned()).collect();
    for r in new {
        if !known.insert(r.key().to_owned()) {
            eprintln!("{} is already a recipient of {what}.", r.key());
        } else {
            list.push(r.clone());
            added.push(r);
        }
    }
    let unfinished = vault
        .unfinished_reencryptions()?
        .iter()
        .any(|(at, _)| *at == folder);
    if added.is_empty() && !unfinished {
        return Ok(ExitCode::SUCCESS);
    }
    let file = vault.recipients_path(&folder);
    let governed = vault.governed_by(&folder)?;
    // As for `rm`: check first, remember the re-encryption owed, then change the file; a
    // rerun after a kill (which finds the keys already listed) finishes it.
    vault.check_reencryptable(&governed)?;
    vault.begin_reencryption(&folder, &[])?;
    if !added.is_empty() {
        vault.set_recipients(&lock, &folder, Some(&Recipients::new(list, file)))?;
        note_new_file(&folder, inherited.as_ref());
    }
    reencrypt(&vault, &lock, &governed)?;
    vault.end_reencryption(&folder)?;
    if added.is_empty() {
        vault.commit(
            &[
                Changed::Recipients(folder.clone()),
                Changed::Folder(folder.clone()),
            ],
            &coffer::team::rotation::unchanged_message(
                &format!(
                    "Reencrypt {}.",
                    if folder.is_root() {
                        "password store".to_owned()
                    } else {
                        folder.to_string()
                    }
                ),
                &[],
            ),
        )?;
        println!(
            "Finished re-encrypting {} secret(s) of {what} for its recipients.",
            governed.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let who = names_of(&added);
    let plural = if added.len() == 1 { "" } else { "s" };
    vault.commit(
        &[
            Changed::Recipients(folder.clone()),
            Changed::Folder(folder.clone()),
        ],
        &coffer::team::rotation::unchanged_message(
            &format!("Add recipient{plural} {who} to {what}."),
            &[],
        ),
    )?;
    println!(
        "Added {who} to {what}; re-encrypted {} secret(s).",
        governed.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn remove(args: &RemoveArgs, ctx: &Context) -> Result<ExitCode> {
    let (vault, folder) = ctx.vault_for_folder(&args.path.folder()?)?;
    let vault = vault.with_lockout_allowed(ctx.force || args.force);
    refuse_override(&vault)?;
    let lock = vault.lock()?;
    refuse_unapproved(&vault, &folder)?;
    let what = describe(&folder);
    let (list, inherited) = current(&vault, &folder)?;
    if list.is_empty() {
        bail!("{what} has no recipients; run `coffer init` to set them");
    }
    // Removed by a run that was killed before it re-encrypted everything: finished now.
    let unfinished = unfinished_removals(&vault, &folder)?;
    let mut removed: Vec<Recipient> = Vec::new();
    let mut finishing: Vec<Recipient> = Vec::new();
    for arg in &args.who {
        let as_key = Recipient::parse(arg).ok();
        let matches = |r: &Recipient| Some(r) == as_key.as_ref() || r.label() == Some(arg.trim());
        let listed: Vec<&Recipient> = list.iter().filter(|r| matches(r)).collect();
        let gone: Vec<&Recipient> = unfinished.iter().filter(|r| matches(r)).collect();
        if listed.is_empty() && gone.is_empty() {
            bail!(
                "{arg:?} is not a recipient of {what}; `coffer recipients{}` lists them",
                path_flag(&folder)
            );
        }
        for r in listed {
            if !removed.contains(r) {
                removed.push(r.clone());
            }
        }
        for r in gone {
            if !finishing.contains(r) && !removed.contains(r) {
                finishing.push(r.clone());
            }
        }
    }
    let remaining: Vec<Recipient> = list.into_iter().filter(|r| !removed.contains(r)).collect();
    if remaining.is_empty() {
        bail!(
            "that would leave {what} with no recipients; add the new ones first{}",
            if folder.is_root() {
                String::new()
            } else {
                format!(", or run `coffer init -p {folder} ''` so the parent's apply again")
            }
        );
    }
    let file = vault.recipients_path(&folder);
    let new = Recipients::new(remaining, file);
    let governed = vault.governed_by(&folder)?;
    // All or resumable (docs/BEHAVIOUR.md §5): everything is checked before anything
    // changes; the unfinished re-encryption is remembered and the secrets marked exposed
    // before the recipients file changes; a rerun after a kill finishes the job.
    if !governed.is_empty() {
        vault.check_lockout(&folder, &new)?;
    }
    vault.check_reencryptable(&governed)?;
    let all_removed: Vec<Recipient> = removed.iter().chain(&finishing).cloned().collect();
    let listed: Vec<Listed> = all_removed.iter().map(Listed::from).collect();
    vault.begin_reencryption(&folder, &listed)?;
    vault.mark_exposed(&lock, &governed, &all_removed)?;
    if !removed.is_empty() {
        vault.set_recipients(&lock, &folder, Some(&new))?;
        note_new_file(&folder, inherited.as_ref());
    }
    reencrypt(&vault, &lock, &governed)?;
    vault.end_reencryption(&folder)?;
    let who = names_of(&all_removed);
    let plural = if all_removed.len() == 1 { "" } else { "s" };
    vault.commit(
        &[
            Changed::Recipients(folder.clone()),
            Changed::Folder(folder.clone()),
        ],
        &coffer::team::rotation::unchanged_message(
            &format!("Remove recipient{plural} {who} from {what}."),
            &[],
        ),
    )?;
    if removed.is_empty() {
        println!(
            "Finished removing {who} from {what}; re-encrypted {} secret(s).",
            governed.len()
        );
    } else {
        println!(
            "Removed {who} from {what}; re-encrypted {} secret(s).",
            governed.len()
        );
    }
    if governed.is_empty() {
        println!("{who} could read no secret here.");
    } else {
        println!(
            "{who} could read these {} secret(s), and may have kept them; they are marked exposed until their value changes:",
            governed.len()
        );
        for name in &governed {
            println!("  {name}");
        }
    }
    warn_still_listed_below(&vault, &folder, &all_removed)?;
    Ok(ExitCode::SUCCESS)
}

/// Who a killed `recipients rm` of `folder` had removed before it could finish.
fn unfinished_removals(vault: &Vault, folder: &Folder) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    for (at, removed) in vault.unfinished_reencryptions()? {
        if at == *folder {
            for l in removed {
                out.push(Recipient::parse(&l.key)?.with_label(l.label));
            }
        }
    }
    Ok(out)
}

fn accept(path: &PathArg, ctx: &Context) -> Result<ExitCode> {
    let (vault, folder) = ctx.vault_for_folder(&path.folder()?)?;
    let what = describe(&folder);
    let pending = vault.trust_changes_below(&folder)?;
    if pending.is_empty() {
        let lock = vault.lock_outside_git()?;
        vault.accept(&lock, &folder)?;
        println!("The recipients of {what} are already approved on this device.");
        return Ok(ExitCode::SUCCESS);
    }
    for change in &pending {
        eprintln!("{}: {}", change.what(), change.summary());
    }
    ui::confirm_or_stop("Approve these recipients for this device?")?;
    let lock = vault.lock_outside_git()?;
    let approved = vault.accept(&lock, &folder)?;
    for change in &approved {
        println!("Approved for {}: {}", change.what(), change.summary());
    }
    Ok(ExitCode::SUCCESS)
}

/// The recipients that apply to `folder` now, and the folder they are inherited from when
/// it has no file of its own.
fn current(vault: &Vault, folder: &Folder) -> Result<(Vec<Recipient>, Option<Folder>)> {
    Ok(match vault.file_recipients(folder)? {
        Some((at, r)) => {
            let inherited = (at != *folder).then_some(at);
            (r.iter().cloned().collect(), inherited)
        }
        None => (Vec::new(), None),
    })
}

fn note_new_file(folder: &Folder, inherited: Option<&Folder>) {
    if let Some(parent) = inherited {
        eprintln!(
            "{folder} now has its own {RECIPIENTS_FILE}, starting from the recipients of {}.",
            describe(parent)
        );
    }
}

fn reencrypt(vault: &Vault, lock: &StoreLock, names: &[SecretName]) -> Result<()> {
    let plan: Vec<(SecretName, SecretName)> =
        names.iter().map(|n| (n.clone(), n.clone())).collect();
    vault.transfer(lock, &plan, true)?;
    Ok(())
}

/// A removed key may still be listed in a deeper folder's file: say so.
fn warn_still_listed_below(vault: &Vault, folder: &Folder, removed: &[Recipient]) -> Result<()> {
    for below in vault.recipients_files_below(folder)? {
        if below == *folder {
            continue;
        }
        let Some((_, r)) = vault.file_recipients(&below).ok().flatten() else {
            continue;
        };
        for gone in removed {
            if r.iter().any(|k| k == gone) {
                eprintln!(
                    "coffer: {} can still read {below}: it is listed in {below}/{RECIPIENTS_FILE}; run `coffer recipients rm -p {below} {}` too",
                    display_name(gone),
                    display_name(gone)
                );
            }
        }
    }
    Ok(())
}

/// A recipient as the user knows it: its label (made terminal-safe), else its key.
fn display_name(r: &Recipient) -> String {
    terminal_safe(r.label().unwrap_or(r.key())).into_owned()
}

fn names_of(list: &[Recipient]) -> String {
    list.iter().map(display_name).collect::<Vec<_>>().join(", ")
}

fn path_flag(folder: &Folder) -> String {
    if folder.is_root() {
        String::new()
    } else {
        format!(" -p {folder}")
    }
}

/// The comment of an SSH public key line (`ssh-ed25519 AAAA… bob@laptop`), as a label.
fn ssh_comment(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if !raw.starts_with("ssh-") {
        return None;
    }
    let comment: Vec<&str> = raw.split_whitespace().skip(2).collect();
    (!comment.is_empty()).then(|| comment.join(" "))
}

/// Where clone and sync say which recipients were pinned.
pub fn print_pins(vault: &Vault) -> Result<()> {
    let Some(pins) = vault.pins()? else {
        return Ok(());
    };
    if pins.is_empty() {
        eprintln!("The store has no recipients yet.");
        return Ok(());
    }
    for (folder, keys) in pins.iter() {
        eprintln!("  {}:", describe(folder));
        for key in keys {
            eprintln!("    {key}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_comments_become_labels() {
        assert_eq!(
            ssh_comment("ssh-ed25519 AAAAC3Nz bob@laptop").as_deref(),
            Some("bob@laptop")
        );
        assert_eq!(ssh_comment("ssh-ed25519 AAAAC3Nz"), None);
        assert_eq!(ssh_comment("age1xyz"), None);
    }
}
