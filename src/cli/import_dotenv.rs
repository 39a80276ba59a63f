//! `coffer import dotenv FILE --prefix SUB`: moves the values of a `.env` file into the vault.
//!
//! Each `KEY=VALUE` becomes the secret `SUB/KEY` (the value on line 1). Values that are
//! already references, empty values and multi-line values (which a one-line reference cannot
//! reproduce) are left in the file and reported. Nothing is written unless every secret can
//! be (no overwrite without `-f`); the secrets are stored before `--rewrite` replaces the
//! file's values with references, so a failure never loses a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use zeroize::Zeroizing;

use coffer::formats::reference::Reference;
use coffer::sys::private;
use coffer::tools::import;
use coffer::{Plaintext, SecretName};

use super::{Context, UsageError, parse_folder, parse_name};

#[derive(Args, Debug)]
#[command(after_help = "\
Example:
  coffer import dotenv .env --prefix app/dev --rewrite
  coffer run --env-file .env -- npm start

Quotes, `export`, comments and multi-line values are read as dotenv does. With --rewrite, \
each imported value in FILE is replaced by its reference (API_KEY=coffer:app/dev/API_KEY) and \
everything else in the file is kept.")]
pub struct DotenvArgs {
    /// The .env file to import
    pub file: PathBuf,
    /// The folder to store the variables in: KEY becomes SUB/KEY
    #[arg(short = 'p', long, value_name = "SUB", required = true)]
    pub prefix: String,
    /// Replace the values in FILE with coffer: references, so that it is safe to commit
    #[arg(long)]
    pub rewrite: bool,
    /// Overwrite secrets that already exist
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn dotenv(args: &DotenvArgs, ctx: &Context) -> Result<ExitCode> {
    let folder = parse_folder(&args.prefix)?;
    let file = &args.file;
    if args.rewrite {
        // Refused now rather than after the import: the file is replaced, never a link's target.
        private::check_replaceable(file)?;
    }
    let bytes = Zeroizing::new(
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("{}: not a UTF-8 text file", file.display()))?;
    let entries =
        coffer::formats::dotenv::parse(text).map_err(|e| anyhow!("{}: {e}", file.display()))?;

    // The last assignment of a key wins, as when a shell sources the file.
    let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
    let mut left = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if Reference::is_reference(&entry.value) {
            continue;
        }
        if entry.value.is_empty() {
            left.push(format!("{} (line {}): empty", entry.key, entry.line));
            continue;
        }
        if entry.is_multiline() {
            left.push(format!(
                "{} (line {}): multi-line values cannot be referenced (a reference is one line); \
store it with `coffer insert -m` and keep it out of this file by hand",
                entry.key, entry.line
            ));
            continue;
        }
        chosen.insert(entry.key.clone(), i);
    }
    let mut plan: Vec<(SecretName, &coffer::formats::dotenv::Entry)> =
        Vec::with_capacity(chosen.len());
    for (key, &i) in &chosen {
        let leaf = parse_name(key)?;
        let name = folder
            .try_join(&leaf)
            .map_err(|e| UsageError(format!("invalid name \"{folder}/{leaf}\": {e}")))?;
        plan.push((name, &entries[i]));
    }
    for note in &left {
        eprintln!("coffer: left in {}: {note}", file.display());
    }
    if plan.is_empty() {
        println!("Nothing to import from {}.", file.display());
        warn_if_tracked(file);
        return Ok(ExitCode::SUCCESS);
    }

    let vault = ctx.vault()?;
    // Looked at under the lock, so a secret written meanwhile is not overwritten unasked.
    let lock = vault.lock()?;
    if !args.force {
        let existing: Vec<&SecretName> = plan
            .iter()
            .map(|(name, _)| name)
            .filter(|name| vault.entry(name).is_ok_and(|e| e.secret))
            .collect();
        if let Some(first) = existing.first() {
            let more = match existing.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            bail!("{first} already exists{more}; nothing was imported. Use -f to overwrite");
        }
    }
    // The import module's steps: recipients checked (and approved) before anything is
    // written, encryption in parallel, crash-safe batches, one commit.
    let outcome = import::import(
        &vault,
        &lock,
        plan.clone(),
        &import::Dates::new(),
        |_, entry| {
            let mut content = Vec::with_capacity(entry.value.len() + 1);
            content.extend_from_slice(entry.value.as_bytes());
            content.push(b'\n');
            Ok(Plaintext::new(content))
        },
        &|| {},
    )?;
    if let Some(failure) = outcome.failures.first() {
        bail!("{}: {}", failure.what, failure.reason);
    }
    if let Some(stopped) = outcome.stopped {
        return Err(stopped.into());
    }
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    import::commit(
        &vault,
        &outcome.imported,
        &import::commit_message(outcome.imported.len(), &file_name),
        &import::Dates::new(),
    )?;
    drop(lock);
    let keys: Vec<&str> = plan.iter().map(|(_, e)| e.key.as_str()).collect();
    let shown_folder = if folder.is_root() {
        "the store".to_owned()
    } else {
        folder.to_string()
    };
    println!(
        "Imported {} secret{} into {shown_folder}: {}",
        plan.len(),
        if plan.len() == 1 { "" } else { "s" },
        keys.join(", ")
    );

    if args.rewrite {
        let references: BTreeMap<&str, String> = plan
            .iter()
            .map(|(name, e)| {
                Ok((
                    e.key.as_str(),
                    Reference::new(name.clone(), None)?.to_string(),
                ))
            })
            .collect::<Result<_, coffer::formats::reference::ReferenceError>>()?;
        let rewritten = Zeroizing::new(coffer::formats::dotenv::rewrite(text, &entries, |e| {
            let value_is_plain = !Reference::is_reference(&e.value) && !e.is_multiline();
            references
                .get(e.key.as_str())
                .filter(|_| value_is_plain && !e.value.is_empty())
                .cloned()
        }));
        private::replace_keeping_mode(file, rewritten.as_bytes())?;
        println!(
            "Rewrote {}: its values are now coffer: references.",
            file.display()
        );
    } else {
        eprintln!(
            "coffer: {} still holds the values; delete it, or import again with --rewrite",
            file.display()
        );
    }
    warn_if_tracked(file);
    Ok(ExitCode::SUCCESS)
}

/// Warns when git tracks `file`: its old values live on in the repository's history.
fn warn_if_tracked(file: &Path) {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = file.file_name() else {
        return;
    };
    let tracked = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if tracked {
        eprintln!(
            "coffer: warning: {} is tracked by git, so its old values remain in the repository's \
history; rotate them (for example `coffer generate -i NAME`)",
            file.display()
        );
    }
}
