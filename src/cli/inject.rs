//! `coffer inject`: renders `{{ coffer:NAME#FIELD }}` placeholders in a template.
//!
//! Only `{{` followed by a `coffer:` reference is a placeholder; every other `{{ … }}` (Helm,
//! Jinja, Go templates) passes through untouched. All references are resolved before anything
//! is written, so a failure leaves no partial output. OUT is written to a private temporary
//! file beside it and renamed into place: it is `0600` from the first byte, and it is never
//! replaced unless `-f` is given.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use zeroize::Zeroizing;

use coffer::formats::reference::{self, Reference};
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

/// A piece of the template: literal bytes, or the reference with this index.
enum Piece {
    Text(std::ops::Range<usize>),
    Reference(usize),
}

/// A parsed template: its pieces and the distinct references, each with the line where it
/// first appears.
struct Template {
    pieces: Vec<Piece>,
    references: Vec<(Reference, usize)>,
}

const OPEN: &[u8] = b"{{";
const CLOSE: &[u8] = b"}}";

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

/// Splits a template into text and placeholders in one pass over it: the line number is
/// counted as the scan moves on, and each reference is looked up in a map, so a template
/// with thousands of placeholders costs its length, not its length times their number.
fn parse_template(text: &[u8]) -> Result<Template> {
    let mut pieces = Vec::new();
    let mut references: Vec<(Reference, usize)> = Vec::new();
    let mut index_of: HashMap<Reference, usize> = HashMap::new();
    let mut last = 0;
    let mut at = 0;
    // The line number of `counted`, an offset that only moves forward.
    let (mut line, mut counted) = (1, 0);
    while let Some(open) = find(text, OPEN, at) {
        let inner_start = open + OPEN.len();
        let body = &text[inner_start..];
        let skip = body
            .iter()
            .take_while(|b| b.is_ascii_whitespace() && **b != b'\n')
            .count();
        if !body[skip..].starts_with(coffer::formats::reference::SCHEME.as_bytes()) {
            at = inner_start;
            continue;
        }
        line += text[counted..open].iter().filter(|&&b| b == b'\n').count();
        counted = open;
        let close = find(text, CLOSE, inner_start)
            .filter(|&c| !text[inner_start..c].contains(&b'\n'))
            .ok_or_else(|| anyhow!("line {line}: a {{{{ coffer:… placeholder is not closed with }}}} on the same line"))?;
        let inner = std::str::from_utf8(&text[inner_start..close])
            .map_err(|_| anyhow!("line {line}: the placeholder is not valid UTF-8"))?
            .trim();
        let parsed =
            Reference::parse(inner).map_err(|e| anyhow!("line {line}: invalid reference: {e}"))?;
        let index = *index_of.entry(parsed.clone()).or_insert_with(|| {
            references.push((parsed, line));
            references.len() - 1
        });
        pieces.push(Piece::Text(last..open));
        pieces.push(Piece::Reference(index));
        last = close + CLOSE.len();
        at = last;
    }
    pieces.push(Piece::Text(last..text.len()));
    Ok(Template { pieces, references })
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
    let template = parse_template(&text)?;
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
    let read: Vec<&coffer::SecretName> =
        template.references.iter().map(|(r, _)| r.name()).collect();
    super::log::record_reads(ctx, "inject", &read);
    let mut rendered = Zeroizing::new(Vec::with_capacity(text.len()));
    for piece in &template.pieces {
        match piece {
            Piece::Text(range) => rendered.extend_from_slice(&text[range.clone()]),
            Piece::Reference(i) => rendered.extend_from_slice(values[*i].as_bytes()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        parse_template(text.as_bytes())
            .unwrap()
            .references
            .into_iter()
            .map(|(r, l)| format!("{r}@{l}"))
            .collect()
    }

    #[test]
    fn placeholders_and_other_braces() {
        assert_eq!(
            refs("a {{ coffer:db }} b\n{{coffer:x%20y#user}} {{ .Values.x }} {{ coffer:db }}"),
            ["coffer:db@1", "coffer:x%20y#user@2"]
        );
        assert!(refs("{{ not coffer }} {{}} }} {{").is_empty());
    }

    #[test]
    fn malformed_placeholders_name_the_line() {
        let err = parse_template(b"ok\n{{ coffer:db\n}}").err().unwrap();
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = parse_template(b"{{ coffer:a b }}").err().unwrap();
        assert!(
            err.to_string().contains("line 1: invalid reference"),
            "{err}"
        );
    }
}
