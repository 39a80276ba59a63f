//! `coffer import csv`: moving in from a password manager's CSV export.
//!
//! The mapping from rows to pass-format secrets lives in `coffer::tools::import::csv`; this module
//! reads the file (into zeroizing memory, never changing it), reports and writes.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use coffer::Plaintext;
use coffer::tools::import::csv::{self, CsvFormat};
use coffer::tools::import::{self, Failure};

use super::Context;
use super::import_pass::{ImportFlags, Report, progress_bar};

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Bitwarden's "Vault (.csv)" export
    Bitwarden,
    /// 1Password's CSV export
    #[value(name = "1password")]
    OnePassword,
    /// KeePassXC's "Export to CSV"
    Keepassxc,
    /// LastPass's "Export" (CSV)
    Lastpass,
    /// Any CSV with a header row naming name/title and password columns (and optionally
    /// folder, username, url, totp, notes)
    Generic,
}

impl From<Format> for CsvFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Bitwarden => CsvFormat::Bitwarden,
            Format::OnePassword => CsvFormat::OnePassword,
            Format::Keepassxc => CsvFormat::KeePassXc,
            Format::Lastpass => CsvFormat::LastPass,
            Format::Generic => CsvFormat::Generic,
        }
    }
}

/// The long help of `import csv`.
pub const CSV_ABOUT: &str = "Imports a password manager's CSV export. Each row becomes one secret in \
pass's format: the password on line 1, then `user:` and `url:` fields, any custom fields, an \
otpauth:// line when the row has a TOTP seed (a bare base32 seed becomes \
otpauth://totp/TITLE?secret=SEED), then the notes.\n\n\
The folder and title make the name. Characters a name cannot hold are replaced (`/` in a \
title becomes `-`, line breaks become spaces, leading dots are dropped), an empty title \
becomes `untitled`, and repeated names are numbered: NAME, NAME-2, NAME-3…\n\n\
Columns are found by the header row. The file is read, never changed; delete it securely \
afterwards, as it holds every password in plain text.";

#[derive(Args, Debug)]
pub struct CsvArgs {
    /// The CSV export to import
    pub file: PathBuf,
    /// Which password manager wrote the file
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Format,
    #[command(flatten)]
    pub flags: ImportFlags,
}

pub fn csv(args: &CsvArgs, ctx: &Context) -> Result<ExitCode> {
    let format = CsvFormat::from(args.format);
    let source = format!("{} CSV", format.display_name());
    let prefix = args.flags.folder()?;
    let vault = ctx.vault()?;
    let bytes = read_private(&args.file)?;
    let parsed = csv::parse(&bytes, format).with_context(|| format!("{}", args.file.display()))?;
    drop(bytes);

    let mut failures: Vec<Failure> = parsed
        .failures
        .iter()
        .map(|f| {
            let what = match &f.name {
                Some(name) => format!("line {} ({})", f.line, prefix.join(name)),
                None => format!("line {}", f.line),
            };
            Failure::new(what, f.reason.clone())
        })
        .collect();
    let mut items = Vec::with_capacity(parsed.entries.len());
    for e in parsed.entries {
        match prefix.try_join(&e.name) {
            Ok(name) => items.push((name, e.content)),
            Err(reason) => failures.push(Failure::new(
                format!("line {} ({})", e.line, e.name),
                format!("under {prefix}: {reason}"),
            )),
        }
    }
    let report = Report { source };
    if parsed.recycled > 0 {
        println!(
            "Left out {} {} in KeePassXC's recycle bin.",
            parsed.recycled,
            if parsed.recycled == 1 {
                "entry"
            } else {
                "entries"
            }
        );
    }
    if args.flags.dry_run {
        let plan = import::plan(&vault, items, args.flags.force, &mut failures);
        return Ok(report.dry_run(&plan.write, &plan.skipped, &failures));
    }
    let lock = vault.lock()?;
    let plan = import::plan(&vault, items, args.flags.force, &mut failures);
    let bar = progress_bar(plan.write.len());
    let outcome = import::import(
        &vault,
        &lock,
        plan.write,
        &import::Dates::new(),
        |_, content: Plaintext| Ok(content),
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    failures.extend(outcome.failures);
    let message = import::commit_message(outcome.imported.len(), &report.source);
    import::commit(&vault, &outcome.imported, &message, &import::Dates::new())?;
    let code = report.finish(&outcome.imported, &plan.skipped, &failures, outcome.stopped)?;
    println!(
        "{} holds your passwords in plain text: delete it securely now (for example `shred -u {}`).",
        args.file.display(),
        shell_quote(&args.file.to_string_lossy())
    );
    Ok(code)
}

/// `text` as one shell word, for a command the user may paste.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Reads the export into zeroizing memory. The file is opened read-only and never changed.
fn read_private(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // The whole file fits in this buffer, so reading never reallocates (which would leave an
    // unwiped copy behind); anything beyond the size we were told is refused, not regrown.
    let capacity = usize::try_from(size).unwrap_or(0) + 1;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    (&mut file)
        .take(capacity as u64)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() >= capacity {
        anyhow::bail!("{} changed while it was being read", path.display());
    }
    Ok(bytes)
}
