//! `clone URL [DIR]` (join a team vault) and `sync [--resolve NAME --ours|--theirs]`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use coffer::team::git::Git;
use coffer::team::sync::Side;
use coffer::vault::Changed;
use coffer::{Folder, Vault};

use super::{Context, init, parse_name, recipients};

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Finish a stopped sync by keeping one version of the secret NAME
    #[arg(long, value_name = "NAME", requires = "side")]
    pub resolve: Option<String>,
    /// With --resolve: keep this device's version
    #[arg(long, group = "side", requires = "resolve")]
    pub ours: bool,
    /// With --resolve: keep the remote's version
    #[arg(long, group = "side", requires = "resolve")]
    pub theirs: bool,
    /// Sync only the store mounted at PREFIX (default: the main store and every mount)
    #[arg(value_name = "PREFIX", conflicts_with = "resolve")]
    pub prefix: Option<String>,
}

#[derive(Args, Debug)]
pub struct CloneArgs {
    /// The git URL of the team's vault
    pub url: String,
    /// Where to put the store (default: where coffer looks for it)
    #[arg(conflicts_with = "mount")]
    pub dir: Option<PathBuf>,
    /// Clone into coffer's data folder (mounts/PREFIX) and mount the store at PREFIX
    #[arg(long, value_name = "PREFIX")]
    pub mount: Option<String>,
    /// If an identity is created, write it without a passphrase
    #[arg(long, conflicts_with = "passphrase_fd")]
    pub no_passphrase: bool,
    /// If an identity is created, read its passphrase from file descriptor N
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

/// `sync`: the main store and every mounted store that uses git, each reported on its own
/// (a conflict in one does not stop the others); `sync PREFIX` one mount; `--resolve NAME` the
/// store NAME lives in (docs/BEHAVIOUR.md §10).
pub fn sync(args: &SyncArgs, ctx: &Context) -> Result<ExitCode> {
    if let Some(raw) = &args.resolve {
        let routed = ctx.mounts.route_name(&parse_name(raw)?);
        let Some(name) = routed.inner else {
            bail!("{raw} is a mount point, not a secret");
        };
        return sync_store(&ctx.vault_at(routed.mount)?, Some(&name), args, ctx);
    }
    if let Some(raw) = &args.prefix {
        let prefix = coffer::vault::mounts::parse_prefix(raw)?;
        let Some(mount) = ctx.mounts.get(&prefix) else {
            bail!(coffer::vault::mounts::MountError::NotMounted(
                prefix.to_string()
            ));
        };
        return sync_store(&ctx.vault_at(Some(mount))?, None, args, ctx);
    }
    if ctx.mounts.is_empty() {
        return sync_store(&ctx.vault()?, None, args, ctx);
    }
    let mut failed = false;
    let main = std::iter::once(("main store".to_owned(), None));
    let mounts = ctx.mounts.iter().map(|m| (m.prefix.to_string(), Some(m)));
    for (label, mount) in main.chain(mounts) {
        let result = ctx.vault_at(mount).and_then(|vault| {
            if !vault.git().is_repo() {
                eprintln!("{label}: not a git repository; skipped.");
                return Ok(ExitCode::SUCCESS);
            }
            // A store kept in git only locally has nothing to sync with.
            if !coffer::team::sync::has_remote(vault.git())? {
                eprintln!("{label}: no remote; skipped.");
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("{label}:");
            sync_store(&vault, None, args, ctx)
        });
        if let Err(e) = result {
            failed = true;
            eprintln!("coffer: {label}: {}", super::ui::error_line(&e));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Syncs one store; with `resolve`, first finishes its stopped sync keeping one side of that
/// secret (its name in this store).
fn sync_store(
    vault: &Vault,
    resolve: Option<&coffer::SecretName>,
    args: &SyncArgs,
    ctx: &Context,
) -> Result<ExitCode> {
    if !vault.git().is_repo() {
        return Err(coffer::team::sync::SyncError::NotARepo.into());
    }
    // Stores cloned or set up by an older coffer get today's setup: attributes that outrank
    // the tree's, a textconv that uses the agent.
    let exe = std::env::current_exe().context("cannot find the coffer executable")?;
    vault.git().configure(&exe)?;
    if let Some(name) = resolve {
        let side = if args.ours { Side::Ours } else { Side::Theirs };
        let other = coffer::team::sync::resolve(vault.git(), name, side)?;
        let (kept, dropped) = match side {
            Side::Ours => ("this device's", "the remote's"),
            Side::Theirs => ("the remote's", "this device's"),
        };
        match other {
            Some(aside) => eprintln!(
                "Kept {kept} version of {name}; {dropped} is kept as {} (commit {}): read it with `coffer show {name} --revision {}`.",
                aside.refname,
                &aside.commit[..aside.commit.len().min(10)],
                aside.refname
            ),
            None => eprintln!("Kept {kept} version of {name}."),
        }
    } else if coffer::team::sync::is_pending(vault.git())? {
        // Re-running `sync` while it waits: say again what it waits for (or carry on).
        let left = coffer::team::sync::conflicts(vault.git())?;
        if !left.is_empty() {
            return Err(coffer::team::sync::sync(vault.git()).err().map_or_else(
                || anyhow::anyhow!("a sync is waiting to be resolved"),
                Into::into,
            ));
        }
    }
    // What this device approves is what it had before the pull, not what the pull brings.
    if vault.ensure_pinned()?.is_some() {
        eprintln!("First sync of this store on this device: approved the recipients it has now:");
        recipients::print_pins(vault)?;
    }
    // With log.shared, this device's access log travels with the sync (and a sync refuses
    // uncommitted changes).
    if ctx.config.log.shared && !coffer::team::sync::is_pending(vault.git())? {
        vault.commit(
            &[Changed::SharedLog],
            &coffer::team::rotation::unchanged_message("Update the access log.", &[]),
        )?;
    }
    let synced = coffer::team::sync::sync(vault.git())?;
    let upstream = &synced.upstream;
    match (synced.pulled, synced.pushed) {
        (0, 0) => eprintln!("Already up to date with {upstream}."),
        (pulled, 0) => eprintln!("Pulled {pulled} commit(s) from {upstream}."),
        (0, pushed) => eprintln!("Pushed {pushed} commit(s) to {upstream}."),
        (pulled, pushed) => {
            eprintln!("Pulled {pulled} commit(s) from {upstream} and pushed {pushed}.")
        }
    }
    warn_unapproved(vault);
    Ok(ExitCode::SUCCESS)
}

/// After a pull: recipients someone else changed are listed, and nothing is re-encrypted.
/// A change that only adds you (a member let you in) is approved, and said so.
fn warn_unapproved(vault: &Vault) {
    if let Err(e) = vault.approve_own_additions() {
        eprintln!("coffer: cannot check the store's recipients after the sync: {e}");
        return;
    }
    match vault.trust_changes_below(&Folder::root()) {
        Ok(changes) => {
            for change in changes {
                eprintln!(
                    "coffer: the recipients of {} changed ({}); coffer will not encrypt there until you check and run `coffer recipients accept{}`",
                    change.what(),
                    change.summary(),
                    change.accept_flag()
                );
            }
        }
        Err(e) => eprintln!("coffer: cannot check the store's recipients after the sync: {e}"),
    }
}

pub fn clone(args: &CloneArgs, ctx: &Context) -> Result<ExitCode> {
    // With --mount, the prefix is checked before anything is cloned.
    let mount_at = match &args.mount {
        Some(prefix) => Some(super::mount::check_prefix(ctx, prefix)?),
        None => None,
    };
    let dest = match &mount_at {
        Some(prefix) => ctx.paths.data_dir.join("mounts").join(prefix.as_str()),
        None => args.dir.clone().unwrap_or_else(|| ctx.paths.store.clone()),
    };
    let dest = std::path::absolute(&dest).context("cannot work out where to clone")?;
    if dest.exists()
        && std::fs::read_dir(&dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; give another DIR",
            dest.display()
        );
    }
    if ctx.paths.identities.starts_with(&dest) {
        bail!(
            "the identities file {} would be inside the store; identities never live in the store",
            ctx.paths.identities.display()
        );
    }
    // An identity first: without one, the clone would be of no use.
    let generated = init::ensure_identity(ctx, args.no_passphrase, args.passphrase_fd)?;
    let parent = dest
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    coffer::sys::private::create_missing_dirs(&parent)?;
    let dest_arg = dest.as_os_str().to_owned();
    // No checkout yet: coffer's attributes must be in place first, or a `.gitattributes`
    // in the remote (`*.age text eol=crlf`) would rewrite every secret as it is checked out.
    Git::new(&parent).run([
        "clone".as_ref(),
        "--quiet".as_ref(),
        "--no-checkout".as_ref(),
        "--".as_ref(),
        std::ffi::OsStr::new(&args.url),
        dest_arg.as_os_str(),
    ])?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dest.display()))?;
    let exe = std::env::current_exe().context("cannot find the coffer executable")?;
    let git = Git::new(&dest);
    git.configure(&exe)?;
    if git
        .run(["rev-parse", "--verify", "--quiet", "HEAD"])
        .is_ok()
    {
        git.run(["reset", "--quiet", "--hard", "HEAD"])?;
    }

    let here = ctx.for_store(dest.clone());
    let vault = here.vault()?;
    if vault.gitattributes()?.is_none() {
        let lock = vault.lock()?;
        vault.write_gitattributes(&lock, coffer::team::git::GITATTRIBUTES.as_bytes())?;
        vault.commit(
            &[Changed::GitAttributes],
            "Configure git repository for age file diff.",
        )?;
    }
    eprintln!("Cloned {} into {}.", args.url, dest.display());
    vault.ensure_pinned()?;
    eprintln!(
        "Approved the recipients the store has now (coffer will refuse to encrypt to anyone added later until you accept them):"
    );
    recipients::print_pins(&vault)?;
    if let Some(prefix) = &mount_at {
        super::mount::add(ctx, prefix.as_str(), &dest, None)?;
        eprintln!("Mounted it at {prefix}: its secrets are {prefix}/NAME.");
    } else if dest != ctx.paths.store {
        eprintln!(
            "This is not your default store: use `coffer --store {}` or set COFFER_DIR.",
            dest.display()
        );
    }
    let mine = match &generated {
        Some(new) => Some(new.recipient()),
        None => vault
            .identities()?
            .recipients()
            .first()
            .map(|r| r.key().to_owned()),
    };
    match mine {
        Some(key) => super::identity::print_lines_to_send(&[key]),
        None => eprintln!(
            "coffer: cannot work out your public key from your identities; send a member of the team your recipient"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
