//! `audit`: weak, reused, stale, exposed, expiring and undecryptable secrets, as a grouped
//! report or JSON; exit 1 when findings reach `--fail-on`. Each store's secret cache spares
//! decrypting what did not change since the last audit (or scan).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use clap_complete::ArgValueCompleter;

use coffer::tools::audit::{self, Finding, Kind, Options, Report, Severity};
use coffer::tools::secret_cache;

use super::{Context, parse_folder};

/// Below this many secrets an audit is quick: no progress bar.
const PROGRESS_FROM: usize = 200;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Audit only the secrets below this folder
    #[arg(add = ArgValueCompleter::new(super::complete::folders))]
    pub subfolder: Option<String>,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
    /// Call a secret stale when its value is older than DAYS (default: audit.max_age, or 365)
    #[arg(long, value_name = "DAYS")]
    pub max_age: Option<u32>,
    /// Exit 1 only for findings of at least this severity
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = FailOn::Any)]
    pub fail_on: FailOn,
}

/// Which findings make `audit` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding
    Any,
    /// Low, medium or high severity (the same as any)
    Low,
    /// Medium or high: weak, reused, expiring soon, and worse
    Medium,
    /// High: exposed, expired, undecryptable, very weak
    High,
    /// Never: report only
    Never,
}

impl FailOn {
    fn fails(self, severity: Severity) -> bool {
        match self {
            FailOn::Any | FailOn::Low => true,
            FailOn::Medium => severity >= Severity::Medium,
            FailOn::High => severity >= Severity::High,
            FailOn::Never => false,
        }
    }
}

pub fn audit(args: &AuditArgs, ctx: &Context) -> Result<ExitCode> {
    let folder = parse_folder(
        args.subfolder
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/'),
    )?;
    let stores = ctx.stores_below(&folder)?;
    let max_age_days = args
        .max_age
        .or(ctx.config.audit.max_age)
        .unwrap_or(audit::DEFAULT_MAX_AGE_DAYS);
    let now = jiff::Timestamp::now();
    let on_terminal = std::io::stderr().is_terminal();
    let mut total = 0;
    // Counting is a walk of the stores of its own: only for a bar someone will see.
    if on_terminal {
        for (_, inner, vault) in &stores {
            total += vault.list(inner)?.len();
        }
    }
    let bar = if on_terminal && total >= PROGRESS_FROM {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("auditing {bar:30} {pos}/{len} {eta}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report = Report {
        secrets: 0,
        max_age_days,
        findings: Vec::new(),
    };
    let cache_dir = coffer::config::cache_dir();
    for (mount, inner, vault) in &stores {
        let options = Options {
            folder: inner.clone(),
            max_age_days,
            now,
            cache: cache_dir
                .as_deref()
                .map(|dir| secret_cache::cache_file(dir, vault)),
        };
        let audited = audit::audit(vault, &options, &|| bar.inc(1))?;
        if let Some(e) = audited.cache_error {
            bar.suspend(|| {
                eprintln!(
                    "coffer: warning: {} (the audit went on without it)",
                    super::ui::error_line(&e.into())
                );
            });
        }
        let part = audited.report;
        report.secrets += part.secrets;
        report
            .findings
            .extend(part.findings.into_iter().map(|mut f| {
                if let Some(m) = mount {
                    f.names = f
                        .names
                        .iter()
                        .map(|n| format!("{}/{n}", m.prefix))
                        .collect();
                }
                f
            }));
    }
    bar.finish_and_clear();

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&report).as_bytes())?;
    }
    let fail = report
        .findings
        .iter()
        .any(|f| args.fail_on.fails(f.severity));
    Ok(if fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The readable report: one section per kind, a summary line at the end.
fn render(report: &Report) -> String {
    let mut out = String::new();
    for kind in Kind::ALL {
        let found: Vec<&Finding> = report.findings.iter().filter(|f| f.kind == kind).collect();
        if found.is_empty() {
            continue;
        }
        out.push_str(&format!("{} ({})\n", kind.title(), found.len()));
        for f in found {
            let severity = match f.severity {
                Severity::Low => "low",
                Severity::Medium => "medium",
                Severity::High => "high",
            };
            out.push_str(&format!(
                "  {:<30} {severity:<6}  {}\n",
                f.names.join(", "),
                f.reason
            ));
        }
        out.push('\n');
    }
    let n = report.findings.len();
    let secrets = report.secrets;
    let plural = |k: usize, word: &str| format!("{k} {word}{}", if k == 1 { "" } else { "s" });
    if n == 0 {
        out.push_str(&format!("No findings in {}.\n", plural(secrets, "secret")));
    } else {
        out.push_str(&format!(
            "{} in {}.\n",
            plural(n, "finding"),
            plural(secrets, "secret")
        ));
    }
    out
}
