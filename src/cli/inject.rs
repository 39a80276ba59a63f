//! `coffer inject`: renders `{{ coffer:NAME#FIELD }}` placeholders in a template.
//!
//! Only `{{` followed by a `coffer:` reference is a placeholder; every other `{{ … }}` (Helm,
//! Jinja, Go templates) passes through untouched. All references are resolved before anything
//! is written, so a failure leaves no partial output. OUT is written to a private temporary
//! file beside it and renamed into place: it is `0600` from the first byte, and it is never
//! replaced unless `-f` is given.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use zeroize::Zeroizing;

use coffer::formats::reference::{self, Reference};
use coffer::formats::template::Template;

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
    let mut text = Zeroizing::new(Vec::new());
    match &args.input {
        Some(path) => {
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut text))
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut text)
                .context("cannot read the template from standard input")?;
        }
    }
    let template = Template::parse(&text)?;
    let values = if template.references.is_empty() {
        Vec::new()
    } else {
        let vault = ctx.vault()?;
        let references: Vec<Reference> =
            template.references.iter().map(|(r, _)| r.clone()).collect();
        reference::resolve_all(&vault, &references).map_err(|e| {
            let line = template
                .references
                .iter()
                .find(|(r, _)| *r == e.reference)
                .map_or(0, |(_, l)| *l);
            anyhow!("line {line}: {e}")
        })?
    };
    let rendered = template.render(&text, &values);
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&rendered)?;
            out.flush()?;
        }
        Some(path) => write_private(path, &rendered, args.force)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes `bytes` to `path` through a `0600` temporary file in the same folder, made durable
/// and then renamed into place (only over an existing file when `replace`).
pub fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".coffer-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let persisted = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow!("{} already exists; use -f to replace it", path.display())
        } else {
            anyhow!("cannot write {}: {}", path.display(), e.error)
        }
    })?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
