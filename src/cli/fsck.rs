//! `fsck [SUB] [--full] [--decrypt] [--fix] [--json]`: what is wrong with the store, one line
//! per problem; the checks and fixes live in [`coffer::tools::fsck`], its cache of checked
//! headers in [`coffer::tools::fsck_cache`].

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::sys::text::terminal_safe;
use coffer::tools::fsck::{self, Options, Problem, Report};
use coffer::tools::fsck_cache;
use coffer::{Folder, Vault};

use super::{Context, parse_folder};

/// Below this many secrets decryption is quick: no progress bar.
const PROGRESS_FROM: usize = 200;

#[derive(Args, Debug)]
pub struct FsckArgs {
    /// Check only this folder (default: the whole store)
    #[arg(add = ArgValueCompleter::new(super::complete::folders))]
    pub subfolder: Option<String>,
    /// Read every secret's header again instead of trusting fsck's cache for files whose
    /// stamp (inode, size, times) has not changed, and refresh the cache: finds a header
    /// damaged in place by the disk beneath the file system
    #[arg(long)]
    pub full: bool,
    /// Also decrypt every secret and report those you cannot read (reads every header, as
    /// --full does)
    #[arg(long)]
    pub decrypt: bool,
    /// Apply the safe fixes (permissions, stray temporaries, empty folders, orphaned marks,
    /// git attributes, re-encrypting mismatched secrets you can read); never deletes a secret
    #[arg(long)]
    pub fix: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn fsck(args: &FsckArgs, ctx: &Context) -> Result<ExitCode> {
    let folder = match args.subfolder.as_deref() {
        None | Some("") | Some("/") => Folder::root(),
        Some(raw) => parse_folder(raw.trim_end_matches('/'))?,
    };
    // A mounted store's paths are shown under its prefix.
    let mut report = Report::default();
    let mut fixed = Vec::new();
    for (mount, inner, vault) in ctx.stores_below(&folder)? {
        let (part, part_fixed) = check_store(&vault, &inner, args)?;
        let prefix = |mut p: Problem| {
            if let Some(m) = mount {
                p.path = format!("{}/{}", m.prefix, p.path);
            }
            p
        };
        report.secrets += part.secrets;
        report.conflict_refs += part.conflict_refs;
        report.cache.read += part.cache.read;
        report.cache.reused += part.cache.reused;
        if let Some(e) = part.cache_error {
            eprintln!(
                "coffer: warning: {} (fsck went on without its cache)",
                super::ui::error_line(&e.into())
            );
        }
        report
            .problems
            .extend(part.problems.into_iter().map(prefix));
        fixed.extend(part_fixed.into_iter().map(|(p, e)| (prefix(p), e)));
    }
    let mut out = String::new();
    if args.json {
        let item = |p: &Problem| {
            serde_json::json!({
                "kind": p.kind,
                "path": p.path,
                "detail": p.detail,
                "fix": p.fix.as_ref().map(|f| f.describe()),
            })
        };
        let json = serde_json::json!({
            "secrets": report.secrets,
            "problems": report.problems.iter().map(item).collect::<Vec<_>>(),
            "fixed": fixed.iter().filter(|(_, e)| e.is_none()).map(|(p, _)| item(p)).collect::<Vec<_>>(),
            "not_fixed": fixed.iter().filter_map(|(p, e)| e.as_ref().map(|e| {
                let mut v = item(p);
                v["error"] = serde_json::Value::String(e.clone());
                v
            })).collect::<Vec<_>>(),
            "conflict_refs": report.conflict_refs,
            "headers": {
                "read": report.cache.read,
                "from_cache": report.cache.reused,
            },
        });
        out.push_str(&json.to_string());
        out.push('\n');
    } else {
        for (p, error) in &fixed {
            let line = match error {
                None => format!(
                    "fixed {} {}: {}",
                    p.kind,
                    p.path,
                    p.fix.as_ref().map_or("", |f| f.describe())
                ),
                Some(e) => format!("not fixed {} {}: {e}", p.kind, p.path),
            };
            out.push_str(&terminal_safe(&line));
            out.push('\n');
        }
        for p in &report.problems {
            let fix = match &p.fix {
                Some(f) if !args.fix => format!(" (--fix: {})", f.describe()),
                _ => String::new(),
            };
            out.push_str(&terminal_safe(&format!(
                "{} {}: {}{fix}",
                p.kind, p.path, p.detail
            )));
            out.push('\n');
        }
        if report.conflict_refs > 0 {
            out.push_str(&format!(
                "note: {} conflict version(s) kept under refs/coffer/conflicts/ (`coffer history NAME` lists them)\n",
                report.conflict_refs
            ));
        }
        let problems = report.problems.len();
        out.push_str(&format!(
            "{} secret(s) checked{}, {problems} problem(s){}\n",
            report.secrets,
            if args.decrypt { " and decrypted" } else { "" },
            if args.fix { " left" } else { " found" }
        ));
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A fix `--fix` tried, with its error if it failed.
type Tried = (Problem, Option<String>);

/// Checks one store (and fixes what `--fix` may): the report after any fixes, and each fix
/// tried with its error, if it failed.
fn check_store(vault: &Vault, folder: &Folder, args: &FsckArgs) -> Result<(Report, Vec<Tried>)> {
    let options = Options {
        decrypt: args.decrypt,
        full: args.full,
        cache: coffer::config::cache_dir().map(|dir| fsck_cache::cache_file(&dir, vault)),
    };
    let run = || -> Result<Report> {
        let total = if args.decrypt {
            vault.list(folder)?.len()
        } else {
            0
        };
        let bar = if total >= PROGRESS_FROM && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("decrypting {bar:30} {pos}/{len} {eta}")
            {
                bar.set_style(style);
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let report = fsck::check(vault, folder, &options, &|| bar.inc(1))?;
        bar.finish_and_clear();
        Ok(report)
    };
    let mut report = run()?;
    let mut fixed = Vec::new();
    if args.fix && report.problems.iter().any(|p| p.fix.is_some()) {
        fixed = fsck::fix(vault, &report.problems)?;
        report = run()?;
    }
    Ok((report, fixed))
}
