//! `log`: read and verify the access log; and [`record`], the one hook in `run` that appends a
//! record for every command.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::SecretName;
use coffer::sys::text::terminal_safe;
use coffer::team::log::{DeviceId, Event, LogFile, Outcome, Record};
use coffer::vault::{RecipientOverride, Vault};

use coffer::vault::mounts::{Mount, Routed};

use super::{Command, Context, UsageError, parse_name};

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Only records about this secret, or about the secrets below this folder
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: Option<String>,
    /// Only records from this day (YYYY-MM-DD, local time) or moment (RFC 3339) on
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Print the records as a JSON array
    #[arg(long)]
    pub json: bool,
    /// Check that no record was edited, removed, reordered or inserted; exit 1 naming the first
    /// bad record if one was
    #[arg(long, conflicts_with_all = ["name", "since", "json"])]
    pub verify: bool,
}

/// Appends the record of one command to this device's log. Called once, from `run`, after the
/// command: it knows the outcome. A log that cannot be written is a warning, not a failure of
/// a command that has already happened.
pub fn record(ctx: &Context, command: &Command, result: &Result<ExitCode>) {
    if matches!(command, Command::Log(_)) {
        return;
    }
    // `run`, `inject` and `git-credential get` record what they read as they read it
    // ([`record_reads`]): `run` becomes the program and never returns. Only their failures
    // are recorded here.
    let records_itself = match command {
        Command::Run(_) | Command::Inject(_) => true,
        Command::GitCredential(a) => a.action == super::credential::Action::Get,
        // The native host records each request's action, secret and outcome itself.
        Command::Browserpass(a) => a.action.is_none(),
        _ => false,
    };
    if records_itself && result.is_ok() {
        return;
    }
    let (op, name) = describe(command);
    // A command that ran to its end is ok even when its exit code reports something (audit
    // findings, git's own status); one that stopped with an error failed.
    let outcome = match result {
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Failed,
    };
    append(ctx, &op, &[name.as_ref()], outcome);
}

/// Records that `op` read `names` (each secret once), or one record without a name when it
/// read none: `run` and `inject` call this once every reference resolved, before the
/// program starts or the output is written.
pub fn record_reads(ctx: &Context, op: &str, names: &[&SecretName]) {
    let mut unique: Vec<&SecretName> = names.to_vec();
    unique.sort();
    unique.dedup();
    let names: Vec<Option<&SecretName>> = if unique.is_empty() {
        vec![None]
    } else {
        unique.into_iter().map(Some).collect()
    };
    append(ctx, op, &names, Outcome::Ok);
}

/// Records one operation on `name` (or on no secret) and whether it succeeded: for commands
/// that serve a protocol and report failures in it rather than as errors (`browserpass`).
pub fn record_outcome(ctx: &Context, op: &str, name: Option<&SecretName>, ok: bool) {
    let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
    append(ctx, op, &[name], outcome);
}

fn append(ctx: &Context, op: &str, names: &[Option<&SecretName>], outcome: Outcome) {
    let written = if ctx.config.log.shared && !ctx.mounts.is_empty() {
        append_per_store(ctx, op, names, outcome)
    } else {
        own_log(ctx, None).and_then(|log| write_events(log, op, names, outcome))
    };
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "coffer: warning: the access log was not written: {}",
            super::ui::one_line(&format!("{e:#}"))
        );
    }
}

fn write_events(
    log: Option<(LogFile, DeviceId)>,
    op: &str,
    names: &[Option<&SecretName>],
    outcome: Outcome,
) -> Result<()> {
    let Some((log, device)) = log else {
        return Ok(());
    };
    for name in names {
        let event = Event {
            op,
            name: name.map(SecretName::as_str),
            outcome,
        };
        log.append(&device, &event)?;
    }
    Ok(())
}

/// Shared logs stay per store (docs/BEHAVIOUR.md §10): a secret under a mount is recorded in
/// that store's log under the name that store knows it by; the rest in the main store's.
fn append_per_store(
    ctx: &Context,
    op: &str,
    names: &[Option<&SecretName>],
    outcome: Outcome,
) -> Result<()> {
    let mut main: Vec<Option<&SecretName>> = Vec::new();
    let mut mounted: Vec<(&Mount, Vec<SecretName>)> = Vec::new();
    for name in names {
        let routed = name.map(|n| ctx.mounts.route_name(n));
        match routed {
            // The mount point itself (`ls team`) is a folder of the main tree.
            Some(Routed {
                mount: Some(mount),
                inner: Some(inner),
            }) => match mounted.iter_mut().find(|(m, _)| m.prefix == mount.prefix) {
                Some((_, list)) => list.push(inner),
                None => mounted.push((mount, vec![inner])),
            },
            _ => main.push(*name),
        }
    }
    if !main.is_empty() || mounted.is_empty() {
        write_events(own_log(ctx, None)?, op, &main, outcome)?;
    }
    for (mount, inner) in &mounted {
        let names: Vec<Option<&SecretName>> = inner.iter().map(Some).collect();
        write_events(own_log(ctx, Some(mount))?, op, &names, outcome)
            .with_context(|| format!("the mount {}", mount.prefix))?;
    }
    Ok(())
}

/// The subcommand's name and the secret (or folder) it is about, if any. Only names that
/// validate are recorded; nothing else from the command line is.
fn describe(command: &Command) -> (String, Option<SecretName>) {
    let raw: Option<&str> = match command {
        Command::Show(a) => a.name.as_deref(),
        Command::Insert(a) => Some(&a.name),
        Command::Edit(a) => Some(&a.name),
        Command::Generate(a) => Some(&a.name),
        Command::Rm(a) => Some(&a.name),
        Command::Mv(a) | Command::Cp(a) => Some(&a.old),
        Command::Ls(a) => a.subfolder.as_deref(),
        Command::Init(a) => a.path.path.as_deref(),
        Command::Reencrypt(a) => a.path.path.as_deref(),
        Command::Audit(a) => a.subfolder.as_deref(),
        Command::Info(a) => Some(&a.name),
        Command::History(a) => Some(&a.name),
        Command::Restore(a) => Some(&a.name),
        Command::Fsck(a) => a.subfolder.as_deref(),
        Command::Recipients(a) => a.path.path.as_deref(),
        Command::Otp(a) => match &a.command {
            Some(super::otp::OtpCommand::Show(c)) => c.name.as_deref(),
            Some(super::otp::OtpCommand::Insert(i) | super::otp::OtpCommand::Append(i)) => {
                Some(&i.name)
            }
            Some(super::otp::OtpCommand::Uri(u)) => Some(&u.name),
            None => a.show.name.as_deref(),
        },
        _ => None,
    };
    let name = raw.and_then(|r| SecretName::new(r.trim_end_matches('/')).ok());
    (op_name(command), name)
}

/// The subcommand's name as typed (`generate-docs` for `GenerateDocs`), from the variant's
/// name, so a new command is logged without being listed here.
fn op_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    let variant: String = debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let mut op = String::with_capacity(variant.len() + 2);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            op.push('-');
        }
        op.push(c.to_ascii_lowercase());
    }
    op
}

/// This device's log: `<data dir>/access.log`, or with `log.shared` its file in the store
/// (the main one, or `mount`'s; `None` when there is no store to keep it in).
fn own_log(ctx: &Context, mount: Option<&Mount>) -> Result<Option<(LogFile, DeviceId)>> {
    let device = DeviceId::load_or_create(&ctx.paths.data_dir)?;
    if !ctx.config.log.shared {
        return Ok(Some((LogFile::local(&ctx.paths.data_dir)?, device)));
    }
    if let Some(mount) = mount {
        return Ok(Some((
            ctx.vault_at(Some(mount))?.shared_log(&device)?,
            device,
        )));
    }
    match Vault::open(
        ctx.paths.clone(),
        ctx.config.clone(),
        ctx.prompt(),
        RecipientOverride::None,
    ) {
        Ok(vault) => Ok(Some((vault.shared_log(&device)?, device))),
        Err(coffer::Error::Store(coffer::store::StoreError::NoStore(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every log to read, with the mount its names are relative to: this device's, or in shared
/// mode every device's in the main store and in each mounted one.
fn all_logs(ctx: &Context) -> Result<Vec<(Option<&Mount>, LogFile)>> {
    if !ctx.config.log.shared {
        return Ok(vec![(None, LogFile::local(&ctx.paths.data_dir)?)]);
    }
    let mut logs: Vec<(Option<&Mount>, LogFile)> = ctx
        .vault()?
        .shared_logs()?
        .into_iter()
        .map(|(_, log)| (None, log))
        .collect();
    for mount in ctx.mounts.iter() {
        let vault = ctx.vault_at(Some(mount))?;
        logs.extend(
            vault
                .shared_logs()?
                .into_iter()
                .map(|(_, log)| (Some(mount), log)),
        );
    }
    Ok(logs)
}

pub fn log(args: &LogArgs, ctx: &Context) -> Result<ExitCode> {
    let logs = all_logs(ctx)?;
    if args.verify {
        let files: Vec<LogFile> = logs.into_iter().map(|(_, log)| log).collect();
        return verify(&files);
    }
    let name = args
        .name
        .as_deref()
        .map(|raw| parse_name(raw.trim_end_matches('/')))
        .transpose()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let mut records: Vec<(jiff::Timestamp, Record)> = Vec::new();
    for (mount, log) in &logs {
        for mut record in log.records()? {
            // A mounted store's records name secrets as that store knows them.
            if let (Some(mount), Some(inner)) = (mount, &record.name) {
                record.name = Some(match SecretName::new(inner) {
                    Ok(inner) => mount.prefix.join(&inner).to_string(),
                    Err(_) => format!("{}/{inner}", mount.prefix),
                });
            }
            let Some(at) = record.timestamp() else {
                continue;
            };
            if since.is_some_and(|s| at < s) {
                continue;
            }
            if let Some(name) = &name {
                let about = record.name.as_deref().unwrap_or("");
                let below = about
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
                if !below {
                    continue;
                }
            }
            records.push((at, record));
        }
    }
    // All devices' records in one timeline; a device's own order breaks ties.
    records.sort_by(|(a, ra), (b, rb)| (a, &ra.device, ra.seq).cmp(&(b, &rb.device, rb.seq)));
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<&Record> = records.iter().map(|(_, r)| r).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let tz = jiff::tz::TimeZone::system();
    let shared = ctx.config.log.shared;
    for (at, r) in &records {
        let when = at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S");
        let who = format!("{}@{}", r.user, r.host);
        let device = if shared {
            format!("  {}", r.device)
        } else {
            String::new()
        };
        let line = format!(
            "{when}  {who}{device}  {:<10} {:<6} {}",
            r.op,
            r.outcome,
            r.name.as_deref().unwrap_or("")
        );
        // Shared logs are written by other devices: their fields are data, not instructions.
        writeln!(out, "{}", terminal_safe(line.trim_end()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(logs: &[LogFile]) -> Result<ExitCode> {
    if logs.is_empty() {
        println!("There is no access log yet.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut bad = false;
    for log in logs {
        let verdict = log.verify()?;
        let path = log.path();
        match verdict.problem {
            None => println!(
                "{}: {} record{}, intact",
                path.display(),
                verdict.records,
                if verdict.records == 1 { "" } else { "s" }
            ),
            Some(problem) => {
                bad = true;
                let _ = writeln!(
                    std::io::stderr(),
                    "coffer: access log {}: {problem}",
                    path.display()
                );
            }
        }
    }
    Ok(if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `YYYY-MM-DD` (the start of that day, local time) or an RFC 3339 moment.
fn parse_since(raw: &str) -> Result<jiff::Timestamp> {
    if let Ok(at) = raw.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    let day: jiff::civil::Date = raw.parse().map_err(|_| {
        UsageError(format!(
            "--since {raw:?}: expected a date (YYYY-MM-DD) or a time (RFC 3339)"
        ))
    })?;
    Ok(day
        .to_zoned(jiff::tz::TimeZone::system())
        .with_context(|| format!("--since {raw:?}"))?
        .timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_are_the_subcommand_names() {
        assert_eq!(op_name(&Command::Version), "version");
        assert_eq!(
            op_name(&Command::GenerateDocs { dir: "x".into() }),
            "generate-docs"
        );
        assert_eq!(op_name(&Command::Textconv { file: "x".into() }), "textconv");
    }

    #[test]
    fn since_accepts_days_and_moments() {
        assert!(parse_since("2024-01-02").is_ok());
        assert_eq!(
            parse_since("2024-01-02T03:04:05Z").unwrap().as_second(),
            1_704_164_645
        );
        assert!(parse_since("yesterday").is_err());
    }
}
