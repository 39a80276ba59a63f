//! `init` (store, identity, recipients) and `reencrypt`.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use zeroize::Zeroizing;

use age::secrecy::SecretString;
use coffer::crypto::identity::NewIdentity;
use coffer::crypto::recipients::{Recipient, Recipients};
use coffer::sys::private;
use coffer::vault::Changed;
use coffer::{Folder, Vault};

use super::{Context, PathArg, UsageError, ui};

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub path: PathArg,
    /// Recipients (age1…, ssh-ed25519 …, ssh-rsa …); default: your own identity's
    pub recipients: Vec<String>,
    /// Also initialise a git repository in the store
    #[arg(long)]
    pub git: bool,
    /// Write a new identity without a passphrase
    #[arg(long, conflicts_with = "passphrase_fd")]
    pub no_passphrase: bool,
    /// Read the new identity's passphrase from file descriptor N instead of the terminal
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ReencryptArgs {
    #[command(flatten)]
    pub path: PathArg,
}

pub fn init(args: &InitArgs, ctx: &Context) -> Result<ExitCode> {
    let folder = args.path.folder()?;
    if ctx.paths.identities.starts_with(&ctx.paths.store) {
        bail!(
            "the identities file {} is inside the store; identities never live in the store",
            ctx.paths.identities.display()
        );
    }
    // What git needs is checked before anything is created.
    let git = coffer::team::git::Git::new(&ctx.paths.store);
    let new_repo = args.git && !git.is_repo();
    if new_repo && let Some(advice) = git.identity_problem() {
        bail!(
            "git cannot commit yet, so nothing was created; git says: {advice} \
             (or run `coffer init` without --git)"
        );
    }
    // Whatever this command creates is removed again if it fails: a failed init leaves
    // things as they were (an identity that was there before is never touched).
    let mut created = Created {
        store: (!ctx.paths.store.exists()).then(|| ctx.paths.store.clone()),
        ..Created::default()
    };
    let result = init_creating(args, ctx, &folder, new_repo, &mut created);
    if result.is_err() {
        created.undo();
    }
    result
}

/// What a failing `init` created and must take back.
#[derive(Default)]
struct Created {
    store: Option<std::path::PathBuf>,
    identity: Option<std::path::PathBuf>,
    git_dir: Option<std::path::PathBuf>,
}

impl Created {
    fn undo(self) {
        if let Some(identity) = self.identity {
            let _ = std::fs::remove_file(coffer::crypto::identity::public_file_of(&identity));
            let _ = std::fs::remove_file(&identity);
        }
        if let Some(store) = self.store {
            // The store folder is new: everything in it is this command's.
            let _ = std::fs::remove_dir_all(store);
        } else if let Some(git_dir) = self.git_dir {
            let _ = std::fs::remove_dir_all(git_dir);
        }
    }
}

fn init_creating(
    args: &InitArgs,
    ctx: &Context,
    folder: &Folder,
    new_repo: bool,
    created: &mut Created,
) -> Result<ExitCode> {
    let folder = folder.clone();
    let vault = ctx.create_vault()?;
    let generated = ensure_identity(ctx, args.no_passphrase, args.passphrase_fd)?;
    if generated.is_some() {
        created.identity = Some(ctx.paths.identities.clone());
    }

    if new_repo {
        created.git_dir = Some(ctx.paths.store.join(".git"));
        super::git::init_repo(&vault)?;
    }

    let removing = args.recipients.len() == 1 && args.recipients[0].is_empty();
    let lock = vault.lock()?;
    let recipients_path = vault.recipients_path(&folder);
    if removing {
        if folder.is_root() {
            return Err(UsageError("the store root must have recipients".into()).into());
        }
        if vault.own_recipients_file(&folder)?.is_none() {
            bail!(
                "{} does not exist and so cannot be removed",
                recipients_path.display()
            );
        }
        vault.set_recipients(&lock, &folder, None)?;
        println!("Removed the recipients of {folder}; those of its parent apply again.");
        reencrypt_below(&vault, &lock, &folder)?;
        vault.commit(
            &[
                Changed::Recipients(folder.clone()),
                Changed::Folder(folder.clone()),
            ],
            &coffer::team::rotation::unchanged_message(
                &format!("Deinitialize {}.", recipients_path_rel(&folder)),
                &[],
            ),
        )?;
        return Ok(ExitCode::SUCCESS);
    }

    let keys = if args.recipients.is_empty() {
        own_recipients(&vault, generated.as_ref())?
    } else {
        args.recipients
            .iter()
            .map(|r| Recipient::parse(r).map_err(|e| UsageError(e.to_string()).into()))
            .collect::<Result<Vec<_>>>()?
    };
    let recipients = Recipients::new(keys, recipients_path.clone());
    vault.set_recipients(&lock, &folder, Some(&recipients))?;
    let listed: Vec<&str> = recipients.iter().map(|r| r.key()).collect();
    let suffix = if folder.is_root() {
        String::new()
    } else {
        format!(" ({folder})")
    };
    println!("Coffer store initialized for {}{suffix}", listed.join(", "));
    reencrypt_below(&vault, &lock, &folder)?;
    vault.commit(
        &[
            Changed::Recipients(folder.clone()),
            Changed::Folder(folder.clone()),
        ],
        &coffer::team::rotation::unchanged_message(
            &format!("Set age recipients to {}{suffix}.", listed.join(", ")),
            &[],
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn recipients_path_rel(folder: &Folder) -> String {
    format!("{folder}/{}", coffer::store::RECIPIENTS_FILE)
}

/// Re-encrypts what lies below `folder` (only needs identities if there is something).
fn reencrypt_below(vault: &Vault, lock: &coffer::store::StoreLock, folder: &Folder) -> Result<()> {
    if vault.has_folder(folder)? {
        let names = vault.reencrypt(lock, folder)?;
        if !names.is_empty() {
            println!("Re-encrypted {} secret(s).", names.len());
        }
    }
    Ok(())
}

/// The public keys of this device's identities, for `init` without recipients.
fn own_recipients(vault: &Vault, generated: Option<&NewIdentity>) -> Result<Vec<Recipient>> {
    if let Some(new) = generated {
        return Ok(vec![Recipient::parse(&new.recipient())?]);
    }
    let ids = vault.identities()?;
    if ids.recipients().is_empty() {
        bail!("cannot work out the recipient of your identities; give it: coffer init RECIPIENT");
    }
    Ok(ids.recipients().to_vec())
}

/// Creates an identity if there is none; returns it when it did.
pub(super) fn ensure_identity(
    ctx: &Context,
    no_passphrase: bool,
    passphrase_fd: Option<u32>,
) -> Result<Option<NewIdentity>> {
    let path = &ctx.paths.identities;
    if path.exists() {
        return Ok(None);
    }
    let new = NewIdentity::generate();
    let bytes: Zeroizing<Vec<u8>> = if no_passphrase {
        Zeroizing::new(new.file_text().as_bytes().to_vec())
    } else {
        let passphrase = new_passphrase(passphrase_fd)?;
        Zeroizing::new(new.protected_file(passphrase)?)
    };
    write_identity_file(path, &bytes)?;
    if !no_passphrase {
        // The public half, so that encrypting (and its lockout check) never needs the
        // passphrase, as with pass.
        let public = coffer::crypto::identity::public_file_of(path);
        private::write_private_atomically(&public, format!("{}\n", new.recipient()).as_bytes())?;
    }
    eprintln!(
        "Created a new identity in {}\nYour recipient: {}",
        path.display(),
        new.recipient()
    );
    Ok(Some(new))
}

fn new_passphrase(fd: Option<u32>) -> Result<SecretString> {
    let passphrase = match fd {
        Some(fd) => coffer::sys::read_fd_line(fd)
            .with_context(|| format!("cannot read the passphrase from file descriptor {fd}"))?,
        None => {
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                bail!(
                    "no terminal to ask for the new identity's passphrase; use --passphrase-fd N or --no-passphrase"
                );
            }
            let first = ui::ask_secret("Passphrase for the new identity: ")?;
            let again = ui::ask_secret("Repeat the passphrase: ")?;
            if *first != *again {
                bail!("the passphrases do not match; nothing was created");
            }
            first
        }
    };
    if passphrase.is_empty() {
        bail!("the passphrase is empty; use --no-passphrase for an unprotected identity");
    }
    Ok(SecretString::from(passphrase.to_string()))
}

/// Writes the identities file atomically (`0600`; missing folders `0700`), refusing to
/// replace anything: a crash leaves no identities file or a whole one, never a torn key.
fn write_identity_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private::create_missing_dirs(parent)?;
    }
    private::create_private_atomically(path, bytes)?;
    // A killed earlier attempt may have left its temporary, with its unused key, beside it.
    private::sweep_stale_temporaries(path);
    Ok(())
}

pub fn reencrypt(args: &ReencryptArgs, ctx: &Context) -> Result<ExitCode> {
    let (vault, folder) = ctx.vault_for_folder(&args.path.folder()?)?;
    let lock = vault.lock()?;
    let names = vault.reencrypt(&lock, &folder)?;
    let what = if folder.is_root() {
        "password store".to_owned()
    } else {
        folder.to_string()
    };
    vault.commit(
        &[Changed::Folder(folder.clone())],
        &coffer::team::rotation::unchanged_message(&format!("Reencrypt {what}."), &[]),
    )?;
    eprintln!("Re-encrypted {} secret(s).", names.len());
    Ok(ExitCode::SUCCESS)
}
