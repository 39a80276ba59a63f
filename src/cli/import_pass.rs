//! `coffer import pass` and `coffer import passage`: moving in from another store.
//!
//! The source is walked without following links (`coffer::tools::import::source`); pass's files are
//! decrypted by the user's `gpg` through their agent, passage's in this process with the given
//! identities. Each secret keeps its name (below `-p SUB`) and its rotation date (the last
//! change in the source store's git history, else its file time), is encrypted to coffer's
//! recipients for its folder, and the whole import is one commit.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;

use coffer::crypto;
use coffer::crypto::identity::{Identities, PassphrasePrompt};
use coffer::tools::import::gpg::Gpg;
use coffer::tools::import::source::{self, Found};
use coffer::tools::import::{self, Failure};
use coffer::{Folder, Plaintext, SecretName};

use super::{Context, parse_folder, ui};

/// Flags every import shares.
#[derive(Args, Debug, Clone, Default)]
pub struct ImportFlags {
    /// Put the imported secrets below the folder SUB
    #[arg(short = 'p', long = "path", value_name = "SUB")]
    pub path: Option<String>,
    /// Overwrite secrets that already exist (they are skipped otherwise)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// List the names that would be written; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

impl ImportFlags {
    pub fn folder(&self) -> Result<Folder> {
        parse_folder(self.path.as_deref().unwrap_or(""))
    }
}

/// The long help of `import pass`.
pub const PASS_ABOUT: &str = "Imports a pass store. Each NAME.gpg is decrypted by your own gpg (in batch \
mode, through your gpg-agent, which may ask for your passphrase once) and stored as NAME, \
encrypted to coffer's recipients for its folder, byte for byte. The plaintext travels over \
pipes only; no temporary file is written.\n\n\
Each secret keeps its rotation date: its last change in the pass store's git history, else \
its file's modification time. Secrets that already exist in coffer are skipped unless -f. Symbolic links in the pass store \
are not followed, and files whose names coffer cannot use are reported. The store is read, \
never changed.";

#[derive(Args, Debug)]
pub struct PassArgs {
    /// The pass store (default $PASSWORD_STORE_DIR, else ~/.password-store)
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub flags: ImportFlags,
}

/// The long help of `import passage`.
pub const PASSAGE_ABOUT: &str = "Imports a passage store. Each NAME.age is decrypted in this process with the \
passage identities and stored as NAME, encrypted to coffer's recipients for its folder, byte \
for byte. Each secret keeps its rotation date: its last change in the passage store's git \
history, else its file's modification time.\n\n\
A passage store can also be used in place, without importing: point COFFER_DIR at it and \
COFFER_IDENTITIES_FILE at its identities.";

#[derive(Args, Debug)]
pub struct PassageArgs {
    /// The passage store (default $PASSAGE_DIR, else ~/.passage/store)
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// The passage identities (default $PASSAGE_IDENTITIES_FILE, else ~/.passage/identities)
    #[arg(long, value_name = "FILE")]
    pub identities: Option<PathBuf>,
    #[command(flatten)]
    pub flags: ImportFlags,
}

pub fn pass(args: &PassArgs, ctx: &Context) -> Result<ExitCode> {
    let from = source_dir(
        args.from.as_deref(),
        "PASSWORD_STORE_DIR",
        ".password-store",
    )?;
    let gpg = Gpg::default().with_tty(terminal_name());
    run_store_import(ctx, &args.flags, &from, ".gpg", "pass", |_, ciphertext| {
        gpg.decrypt(&ciphertext)
    })
}

pub fn passage(args: &PassageArgs, ctx: &Context) -> Result<ExitCode> {
    let from = source_dir(args.from.as_deref(), "PASSAGE_DIR", ".passage/store")?;
    let identities_file = match &args.identities {
        Some(file) => file.clone(),
        None => source_dir(None, "PASSAGE_IDENTITIES_FILE", ".passage/identities")?,
    };
    // Loaded only when there is something to decrypt (not for a dry run).
    let identities = std::sync::OnceLock::new();
    let load = || -> Result<&Identities> {
        if let Some(ids) = identities.get() {
            return Ok(ids);
        }
        let loaded = Identities::load(&identities_file, &passphrase_prompt())
            .context("cannot load the passage identities (give them with --identities FILE)")?;
        Ok(identities.get_or_init(|| loaded))
    };
    if !args.flags.dry_run {
        load()?;
    }
    run_store_import(
        ctx,
        &args.flags,
        &from,
        ".age",
        "passage",
        |_, ciphertext| {
            let ids = load().map_err(|e| format!("{e:#}"))?;
            crypto::decrypt(&ciphertext, ids).map_err(|e| e.to_string())
        },
    )
}

/// The source folder: the flag, else the environment variable, else `~/DEFAULT`.
fn source_dir(flag: Option<&Path>, var: &str, default: &str) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = directories::BaseDirs::new()
        .map(|b| b.home_dir().to_owned())
        .context("cannot find a home directory; give the source with --from")?;
    Ok(home.join(default))
}

/// The terminal gpg-agent can show a pinentry on: ours, when gpg's stdin is a pipe.
fn terminal_name() -> Option<std::ffi::OsString> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    rustix::termios::ttyname(&stdin, Vec::new())
        .ok()
        .map(|name| std::ffi::OsString::from(name.to_string_lossy().into_owned()))
}

fn passphrase_prompt() -> PassphrasePrompt {
    Arc::new(|description: &str| {
        let answer = ui::ask_secret(&format!("{description}: ")).ok()?;
        Some(age::secrecy::SecretString::from(answer.as_str().to_owned()))
    })
}

/// Imports every `*SUFFIX` file below `from`; `open` decrypts one file's content.
fn run_store_import(
    ctx: &Context,
    flags: &ImportFlags,
    from: &Path,
    suffix: &str,
    what: &str,
    open: impl Fn(&SecretName, Vec<u8>) -> Result<Plaintext, String> + Sync,
) -> Result<ExitCode> {
    let prefix = flags.folder()?;
    let vault = ctx.vault()?;
    let found = source::collect(from, suffix).with_context(|| {
        format!("cannot read the {what} store (give its place with --from DIR)")
    })?;
    let history = if flags.dry_run {
        Default::default()
    } else {
        import::dates::from_git(from, suffix)
    };
    let mut dates = import::Dates::new();
    let mut failures = Vec::new();
    let mut items = Vec::new();
    for entry in found {
        match entry {
            Found::Secret {
                name,
                ciphertext,
                modified,
            } => match prefix.try_join(&name) {
                Ok(joined) => {
                    let when = history
                        .get(name.as_str())
                        .copied()
                        .or_else(|| modified.and_then(|t| jiff::Timestamp::try_from(t).ok()));
                    if let Some(when) = when {
                        dates.insert(joined.clone(), when);
                    }
                    items.push((joined, ciphertext));
                }
                Err(reason) => failures.push(Failure::new(
                    name.to_string(),
                    format!("under {prefix}: {reason}"),
                )),
            },
            Found::Problem { what, reason } => failures.push(Failure::new(what, reason)),
        }
    }
    let report = Report {
        source: what.to_owned(),
    };
    if flags.dry_run {
        let plan = import::plan(&vault, items, flags.force, &mut failures);
        return Ok(report.dry_run(&plan.write, &plan.skipped, &failures));
    }
    let lock = vault.lock()?;
    let plan = import::plan(&vault, items, flags.force, &mut failures);
    let bar = progress_bar(plan.write.len());
    let outcome = import::import(&vault, &lock, plan.write, &dates, open, &|| bar.inc(1))?;
    bar.finish_and_clear();
    failures.extend(outcome.failures);
    let message = import::commit_message(outcome.imported.len(), what);
    import::commit(&vault, &outcome.imported, &message, &dates)?;
    report.finish(&outcome.imported, &plan.skipped, &failures, outcome.stopped)
}

/// A progress bar on standard error, only when it is a terminal.
pub fn progress_bar(len: usize) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || len < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template("Importing {bar:30} {pos}/{len} {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// How an import tells the user what happened: names on standard output, a summary after,
/// one `coffer: …` line on standard error per failure, exit 1 if anything failed.
pub struct Report {
    /// "pass", "passage", "Bitwarden CSV", …
    pub source: String,
}

impl Report {
    pub fn dry_run(
        &self,
        write: &[(SecretName, impl Sized)],
        skipped: &[SecretName],
        failures: &[Failure],
    ) -> ExitCode {
        for (name, _) in write {
            println!("{name}");
        }
        print_failures(failures);
        let n = write.len();
        println!(
            "Would import {n} {} from {} (dry run; nothing was changed).",
            import::plural(n, "secret"),
            self.source
        );
        print_skipped(skipped, "Would skip");
        print_failed_count(failures);
        exit_code(failures)
    }

    pub fn finish(
        &self,
        imported: &[SecretName],
        skipped: &[SecretName],
        failures: &[Failure],
        stopped: Option<coffer::Error>,
    ) -> Result<ExitCode> {
        print_failures(failures);
        let n = imported.len();
        println!(
            "Imported {n} {} from {}.",
            import::plural(n, "secret"),
            self.source
        );
        print_skipped(skipped, "Skipped");
        print_failed_count(failures);
        if let Some(e) = stopped {
            return Err(anyhow::Error::from(e).context(format!(
                "the import stopped after {n} {}",
                import::plural(n, "secret")
            )));
        }
        Ok(exit_code(failures))
    }
}

fn print_failures(failures: &[Failure]) {
    for f in failures {
        eprintln!("coffer: {}: {}", f.what, ui::one_line(&f.reason));
    }
}

fn print_skipped(skipped: &[SecretName], verb: &str) {
    if skipped.is_empty() {
        return;
    }
    let n = skipped.len();
    println!(
        "{verb} {n} {} already in the store (use -f to overwrite):",
        import::plural(n, "secret")
    );
    for name in skipped {
        println!("  {name}");
    }
}

fn print_failed_count(failures: &[Failure]) {
    if !failures.is_empty() {
        println!(
            "Could not import {} (see the reasons above).",
            failures.len()
        );
    }
}

fn exit_code(failures: &[Failure]) -> ExitCode {
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
