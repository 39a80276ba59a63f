//! `identity passwd|rotate|export-recipient`: an identity's life (docs/BEHAVIOUR.md §11).
//!
//! Each works on the identities file a store uses (the main one, or a mount's own), named by
//! the mount's prefix. The file handling is `crypto::identity_file`; the store side of a
//! rotation, and its order, `vault::key_rotation`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::ExposeSecret;
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};

use coffer::crypto::identity::{self, Identities, IdentityError};
use coffer::crypto::identity_file::{KeyRotation, OpenedIdentities};
use coffer::vault::key_rotation::{RotatingStore, rotate_identity};
use coffer::{Recipient, Vault};

use super::{Context, agent, complete, ui};

#[derive(Args, Debug)]
#[command(
    long_about = "Your identity is the private key that decrypts your secrets. These commands \
change the identities file a store uses: the main one (~/.local/share/coffer/identities), or \
the one a mount names (`coffer mount ls`). Give the mount's PREFIX for the latter."
)]
pub struct IdentityArgs {
    #[command(subcommand)]
    pub action: IdentityAction,
}

#[derive(Subcommand, Debug)]
pub enum IdentityAction {
    /// Add, change or remove the passphrase of the identities file a store uses
    #[command(
        long_about = "Add, change or remove the passphrase of the identities file a store uses. \
Asks for the current passphrase (if the file has one), then the new one twice; an empty new \
passphrase removes it, after a confirmation on a terminal. Without a terminal, asks through \
pinentry. The file is replaced atomically, protected with scrypt as `init` does, and a running \
agent forgets what it had unlocked from it."
    )]
    Passwd(StoreArg),
    /// Replace your key with a new one in every store that uses the identities file
    #[command(
        long_about = "Replace your key with a new one: every recipients file that lists the old \
key (in the store, and in every other store read with the same identities file) lists the new \
one in its place, with the same label; the secrets they govern are re-encrypted and each store \
commits. The old identities file is kept beside the new one as NAME.DATE.bak until you delete \
it. The new file is protected with the old one's passphrase, if it had one. Interrupted, every \
secret still decrypts with the old key or the new one, and running it again finishes the job."
    )]
    Rotate(StoreArg),
    /// Print your public key(s): the line to send to a team
    ExportRecipient(StoreArg),
}

#[derive(Args, Debug)]
pub struct StoreArg {
    /// A mount's prefix: use the identities file that store is read with (default: the main one)
    #[arg(value_name = "PREFIX", add = clap_complete::ArgValueCompleter::new(complete::folders))]
    pub prefix: Option<String>,
}

pub fn identity(args: &IdentityArgs, ctx: &Context) -> Result<ExitCode> {
    match &args.action {
        IdentityAction::Passwd(store) => passwd(ctx, &identities_of(ctx, store)?),
        IdentityAction::Rotate(store) => rotate(ctx, &identities_of(ctx, store)?),
        IdentityAction::ExportRecipient(store) => {
            export_recipient(ctx, &identities_of(ctx, store)?)
        }
    }
}

/// The identities file the store at `PREFIX` (default: the main store) is read with.
fn identities_of(ctx: &Context, store: &StoreArg) -> Result<PathBuf> {
    ctx.identities_of(store.prefix.as_deref())
}

fn passwd(ctx: &Context, path: &Path) -> Result<ExitCode> {
    let prompt = ctx.prompt();
    let file = path.display();
    let opened = OpenedIdentities::open(path, &prompt, &format!("Current passphrase for {file}"))
        .map_err(nothing_changed)?;
    let no_prompt =
        || anyhow!("no terminal or pinentry to ask for the new passphrase; nothing was changed");
    let new =
        prompt(&format!("New passphrase for {file} (empty for none)")).ok_or_else(no_prompt)?;
    let again = prompt("Repeat the new passphrase").ok_or_else(no_prompt)?;
    if new.expose_secret() != again.expose_secret() {
        bail!("the passphrases do not match; nothing was changed");
    }
    if new.expose_secret().is_empty() {
        if !opened.is_protected() {
            eprintln!("{file} has no passphrase; nothing was changed.");
            return Ok(ExitCode::SUCCESS);
        }
        ui::confirm_or_stop(&format!(
            "Store {file} without a passphrase? Anyone who can read that file can then decrypt your secrets."
        ))?;
        opened.rewrite(None)?;
        tell_agent(path);
        eprintln!("Removed the passphrase of {file}: it is stored unprotected.");
        return Ok(ExitCode::SUCCESS);
    }
    opened.rewrite(Some(&new))?;
    tell_agent(path);
    if opened.is_protected() {
        eprintln!("Changed the passphrase of {file}.");
    } else {
        eprintln!("Protected {file} with a passphrase.");
    }
    Ok(ExitCode::SUCCESS)
}

/// A wrong passphrase (or none) stops the command before anything is written: say so.
fn nothing_changed(e: IdentityError) -> anyhow::Error {
    match e {
        IdentityError::WrongPassphrase(_) | IdentityError::NoPassphrase(_) => {
            anyhow!("{e}; nothing was changed")
        }
        e => e.into(),
    }
}

/// The file changed after the agent may have unlocked it; a failure to say so is only worth a
/// line (the file is written, and the agent no longer recognises it anyway).
fn tell_agent(path: &Path) {
    if let Err(e) = agent::forget_identities(path) {
        eprintln!(
            "coffer: could not tell the agent that {} changed ({}); run `coffer lock`",
            path.display(),
            ui::error_line(&e)
        );
    }
}

fn rotate(ctx: &Context, path: &Path) -> Result<ExitCode> {
    let prompt = ctx.prompt();
    let opened =
        OpenedIdentities::open(path, &prompt, &format!("Passphrase for {}", path.display()))
            .map_err(nothing_changed)?;
    let mut rotation = KeyRotation::start_or_resume(opened)?;
    if rotation.is_resumed() {
        eprintln!(
            "Finishing the rotation of {} that was interrupted ({} to {}).",
            path.display(),
            keys(rotation.old_keys()),
            rotation.new_key().key()
        );
    }
    let stores = stores_using(ctx, path)?;
    if stores.is_empty() {
        bail!(
            "no store is read with {}; nothing was changed",
            path.display()
        );
    }
    // Every store is locked and checked before anything changes.
    let mut prepared = Vec::with_capacity(stores.len());
    for (label, vault) in &stores {
        let store = RotatingStore::prepare(vault, &rotation)
            .with_context(|| format!("{label}: nothing was changed"))?;
        prepared.push(store);
    }
    let backup = rotate_identity(&mut rotation, &prepared)?;
    tell_agent(path);
    println!(
        "Rotated the key of {}: {} is now {}.",
        path.display(),
        keys(rotation.old_keys()),
        rotation.new_key().key()
    );
    for ((label, _), store) in stores.iter().zip(&prepared) {
        println!(
            "  {label}: {} recipients file(s), {} secret(s) re-encrypted",
            store.plan.folders().len(),
            store.plan.names().len()
        );
    }
    println!(
        "The old identities file is kept as {} (private): keep it until nothing you need is \
         encrypted to the old key only (other stores, copies), then delete it.",
        backup.display()
    );
    if stores.iter().any(|(_, v)| v.git().is_repo()) {
        println!(
            "Run `coffer sync` to share the new key; teammates approve the change with `coffer recipients accept`."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every store read with the identities file at `path` (the main store, when it exists and
/// uses it, and each such mount), with a label for messages. A rotation must reach them all,
/// or the ones left out could only be read with the backup.
fn stores_using(ctx: &Context, path: &Path) -> Result<Vec<(String, Vault)>> {
    // The same file however it is spelled (relative, through a link).
    let same_file = |other: &Path| {
        other == path
            || matches!(
                (std::fs::canonicalize(other), std::fs::canonicalize(path)),
                (Ok(a), Ok(b)) if a == b
            )
    };
    let mut stores = Vec::new();
    if same_file(&ctx.paths.identities) && ctx.paths.store.is_dir() {
        stores.push(("the main store".to_owned(), ctx.vault()?));
    }
    for mount in ctx.mounts.iter() {
        if same_file(ctx.identities_for(Some(mount))) {
            stores.push((
                format!("the mount {}", mount.prefix),
                ctx.vault_at(Some(mount))?,
            ));
        }
    }
    Ok(stores)
}

fn keys(list: &[Recipient]) -> String {
    list.iter()
        .map(Recipient::key)
        .collect::<Vec<_>>()
        .join(", ")
}

fn export_recipient(ctx: &Context, path: &Path) -> Result<ExitCode> {
    let publics = match identity::public_keys_without_unlocking(path) {
        Some(keys) => keys,
        None => Identities::load_with(path, &ctx.prompt(), &ctx.config.plugins.allow)?
            .recipients()
            .to_vec(),
    };
    if publics.is_empty() {
        bail!(
            "cannot work out your public key from {}; send a member of the team your recipient",
            path.display()
        );
    }
    let lines: Vec<String> = publics.iter().map(|r| r.key().to_owned()).collect();
    print_lines_to_send(&lines);
    Ok(ExitCode::SUCCESS)
}

/// What `clone` and `identity export-recipient` say: how to send it on standard error, the
/// public key(s) alone on standard output.
pub fn print_lines_to_send(keys: &[String]) {
    if keys.len() == 1 {
        eprintln!(
            "Send this line to a member of the team, who adds you with `coffer recipients add --label YOUR-NAME LINE`:"
        );
    } else {
        eprintln!(
            "Send these lines to a member of the team, who adds you with `coffer recipients add --label YOUR-NAME LINE` (one at a time):"
        );
    }
    for key in keys {
        println!("{key}");
    }
}
