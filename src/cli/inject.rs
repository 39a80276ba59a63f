//! `coffer inject`: renders `{{ coffer:NAME#FIELD }}` placeholders in a template.
//!
//! Only `{{` followed by a `coffer:` reference is a placeholder; every other `{{ … }}` (Helm,
//! Jinja, Go templates) passes through untouched. All references are resolved before anything
//! is written, so a failure leaves no partial output. OUT is written to a private temporary
//! file beside it and renamed into place: it is `0600` from the first byte, and it is never
//! replaced unless `-f` is given.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;

use coffer::formats::reference::{self, Reference};
use coffer::formats::template::Template;
use coffer::sys::private::{self, Existing, PrivateError};

use super::{Context, UsageError};

#[derive(Args, Debug)]
#[command(after_help = "\
Example:
  printf 'DATABASE_URL=postgres://app:{{ coffer:db/prod }}@db:5432/app\\n' | coffer inject
  coffer inject -i config.yml.tpl -o config.yml

A placeholder is {{ coffer:NAME }} (line 1 of NAME) or {{ coffer:NAME#FIELD }}; write '#', '%' \
and spaces in names as %23, %25 and %20. Other {{ … }} text is left as it is.")]
pub struct InjectArgs {
    /// The template to render (default: standard input)
    #[arg(short = 'i', long = "in-file", value_name = "TEMPLATE")]
    pub input: Option<PathBuf>,
    /// Write the result to OUT, created with mode 0600 (default: standard output)
    #[arg(short = 'o', long = "out-file", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Replace OUT if it already exists
    #[arg(short = 'f', long = "force", requires = "output")]
    pub force: bool,
}

pub fn inject(args: &InjectArgs, ctx: &Context) -> Result<ExitCode> {
    if let (Some(input), Some(output)) = (&args.input, &args.output)
        && same_file(input, output)
    {
        return Err(UsageError("the template and OUT are the same file".into()).into());
    }
    if let Some(out) = &args.output
        && !args.force
        && std::fs::symlink_metadata(out).is_ok()
    {
        bail!("{} already exists; use -f to replace it", out.display());
    }
    let limit = coffer::sys::MAX_INPUT_SIZE;
    let text = match &args.input {
        Some(path) => std::fs::File::open(path)
            .and_then(|f| coffer::sys::read_at_most(f, limit))
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => coffer::sys::read_at_most(std::io::stdin().lock(), limit)
            .context("cannot read the template from standard input")?,
    };
    let template = Template::parse(&text)?;
    let values = if template.references.is_empty() {
        Vec::new()
    } else {
        let references: Vec<Reference> =
            template.references.iter().map(|(r, _)| r.clone()).collect();
        reference::resolve_all(&super::stores::Stores::new(ctx), &references).map_err(|e| {
            let line = template
                .references
                .iter()
                .find(|(r, _)| *r == e.reference)
                .map_or(0, |(_, l)| *l);
            anyhow!("line {line}: {e}")
        })?
    };
    let read: Vec<&coffer::SecretName> =
        template.references.iter().map(|(r, _)| r.name()).collect();
    super::log::record_reads(ctx, "inject", &read);
    let rendered = template.render(&text, &values);
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&rendered)?;
            out.flush()?;
        }
        Some(path) => write_output(path, &rendered, args.force)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes the rendered text to `path`: `0600`, atomic and durable, and only over an existing
/// file when `replace`.
fn write_output(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let existing = if replace {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    match private::write_atomically(path, bytes, private::PRIVATE_FILE_MODE, existing) {
        Err(PrivateError::Exists(_)) => {
            bail!("{} already exists; use -f to replace it", path.display())
        }
        written => Ok(written?),
    }
}
