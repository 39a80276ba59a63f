//! `history NAME` (every version, never decrypted) and `restore NAME --revision REV` (an old
//! value written again as a new version, for today's recipients).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::sys::text::terminal_safe;
use coffer::team::history::Revision;
use coffer::vault::Changed;

use super::{Context, UsageError, parse_name};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The secret (its current or a former name)
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Print one JSON object per line instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The secret to restore
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// The version to bring back: a commit (or branch, or conflict ref), or -N for N value
    /// changes back
    #[arg(long, short = 'r', value_name = "REV", allow_hyphen_values = true)]
    pub revision: String,
}

/// Parses `--revision`: `-N` or a commit-ish (exit 2 for anything else).
pub fn parse_revision(raw: &str) -> Result<Revision> {
    Revision::parse(raw).ok_or_else(|| {
        UsageError(format!(
            "invalid revision {raw:?}: give a commit, a ref, or -N for N value changes back"
        ))
        .into()
    })
}

pub fn history(args: &HistoryArgs, ctx: &Context) -> Result<ExitCode> {
    let (vault, name) = ctx.vault_for(&parse_name(args.name.trim_end_matches('/'))?)?;
    let versions = vault.history(&name)?;
    if versions.is_empty() {
        bail!("{name} has no history in the store's git repository.");
    }
    let tz = jiff::tz::TimeZone::system();
    let mut out = String::new();
    for v in &versions {
        if args.json {
            let mut item = serde_json::json!({
                "revision": v.short(),
                "commit": v.commit,
                "date": v.when.to_string(),
                "author": v.author,
                "name": v.name,
                "event": v.event.kind(),
                "value_changed": v.event.changes_value(),
            });
            use coffer::team::history::Event;
            let other = match &v.event {
                Event::MovedFrom(n) | Event::CopiedFrom(n) => Some(("from", n)),
                Event::MovedTo(n) => Some(("to", n)),
                Event::ConflictSide(r) => Some(("ref", r)),
                _ => None,
            };
            if let Some((key, value)) = other {
                item[key] = serde_json::Value::String(value.clone());
            }
            out.push_str(&item.to_string());
            out.push('\n');
        } else {
            let when = v.when.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M");
            let renamed = if v.name == name.as_str() {
                String::new()
            } else {
                format!(" [as {}]", v.name)
            };
            out.push_str(&terminal_safe(&format!(
                "{}  {when}  {}  {}{renamed}",
                v.short(),
                v.author,
                v.event
            )));
            out.push('\n');
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: &RestoreArgs, ctx: &Context) -> Result<ExitCode> {
    let rev = parse_revision(&args.revision)?;
    let (vault, name) = ctx.vault_for(&parse_name(args.name.trim_end_matches('/'))?)?;
    let old = vault.read_at(&name, &rev)?;
    let lock = vault.lock()?;
    // A new version for today's recipients (never the old ones), and a value change:
    // exposure goes, the rotation date is now.
    vault.write(&lock, &name, &old.plaintext)?;
    vault.commit(
        &[Changed::Secret(name.clone())],
        &format!("Restore {name} to {}.", args.revision),
    )?;
    eprintln!(
        "Restored {name} to its value at {} ({}).",
        args.revision,
        &old.commit[..old.commit.len().min(10)]
    );
    Ok(ExitCode::SUCCESS)
}
