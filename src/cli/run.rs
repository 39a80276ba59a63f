//! `coffer run`: starts a program with secrets in its environment.
//!
//! The environment is built from coffer's own (where a value that is a reference is resolved
//! too, as `op run` does), then `--prefix` folders, then `--env-file`s in order, then `-e`;
//! later sources override earlier ones. Every reference is resolved before anything starts,
//! so a typo fails the whole run. Without `--mask` coffer replaces itself with the program
//! (exec), so signals, the terminal and the exit status are the program's own. With `--mask`
//! the program's output goes through [`mask::Masker`], signals sent to coffer are forwarded,
//! and its exit code or signal is passed on.

mod mask;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use zeroize::Zeroizing;

use coffer::formats::reference::{self, Reference};
use coffer::{Folder, Plaintext};

use super::stores::Stores;
use super::{Context, UsageError, parse_folder};

/// Values shorter than this are not masked: they would conceal ordinary text everywhere.
const MASK_MIN_LENGTH: usize = 4;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  coffer run --env-file .env -- npm start
  coffer run -e DATABASE_URL=coffer:db/prod#url -e API_KEY=coffer:api/stripe -- ./server
  coffer run --prefix app/prod --mask -- ./deploy.sh

In an env file, a value `coffer:NAME` is line 1 of the secret NAME and `coffer:NAME#FIELD` its \
field FIELD; other values pass through unchanged. Write '#', '%' and spaces in names as %23, %25 \
and %20. Variables of coffer's own environment whose value is a reference are resolved too. \
Without --mask coffer executes CMD in its place; the exit code (or signal) is CMD's. --mask \
conceals values of 4 characters or more.")]
pub struct RunArgs {
    /// Read variables from a dotenv file; values that are references are resolved (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Set VAR to the value of the reference REF (repeatable)
    #[arg(short = 'e', long = "env", value_name = "VAR=REF")]
    pub env: Vec<String>,
    /// Export each secret directly in SUB as an upper-cased variable (db-pass → DB_PASS)
    #[arg(long, value_name = "SUB")]
    pub prefix: Vec<String>,
    /// Replace secret values in CMD's output and errors with <concealed by coffer>
    #[arg(long)]
    pub mask: bool,
    /// The program to run and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Where a variable's value comes from (for messages).
enum Value {
    Literal(OsString),
    Reference {
        reference: Reference,
        origin: String,
    },
}

pub fn run(args: &RunArgs, ctx: &Context) -> Result<ExitCode> {
    match run_program(args, ctx) {
        Err(e) if e.downcast_ref::<SpawnFailed>().is_some() => {
            let code = e.downcast_ref::<SpawnFailed>().map_or(1, |s| s.code);
            eprintln!("coffer: {e}");
            Ok(ExitCode::from(code))
        }
        other => other,
    }
}

fn run_program(args: &RunArgs, ctx: &Context) -> Result<ExitCode> {
    let (program, program_args) = args
        .command
        .split_first()
        .ok_or_else(|| UsageError("no command to run after `--`".into()))?;

    let mut vars: HashMap<OsString, Value> = HashMap::new();
    let mut order: Vec<OsString> = Vec::new();
    let mut set = |name: OsString, value: Value| {
        if !vars.contains_key(&name) {
            order.push(name.clone());
        }
        vars.insert(name, value);
    };

    for (name, value) in std::env::vars_os() {
        let value = match value.to_str() {
            Some(text) if Reference::is_reference(text) => {
                let origin = format!("{} in the environment", name.to_string_lossy());
                let reference = Reference::parse(text)
                    .map_err(|e| anyhow!("{origin}: invalid reference: {e}"))?;
                Value::Reference { reference, origin }
            }
            _ => Value::Literal(value),
        };
        set(name, value);
    }

    let stores = Stores::new(ctx);
    for raw in &args.prefix {
        let folder = parse_folder(raw)?;
        for (var, reference) in prefix_variables(&stores, &folder)? {
            let origin = format!("{var} (from --prefix {raw})");
            set(var.into(), Value::Reference { reference, origin });
        }
    }

    for file in &args.env_files {
        let text = std::fs::File::open(file)
            .and_then(|f| coffer::sys::read_at_most(f, coffer::sys::MAX_INPUT_SIZE))
            .with_context(|| format!("cannot read {}", file.display()))?;
        let text = std::str::from_utf8(&text)
            .map_err(|_| anyhow!("{}: not a UTF-8 text file", file.display()))?;
        let entries =
            coffer::formats::dotenv::parse(text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
        for entry in entries {
            let origin = format!("{} ({}, line {})", entry.key, file.display(), entry.line);
            let value = if Reference::is_reference(&entry.value) {
                let reference = Reference::parse(&entry.value)
                    .map_err(|e| anyhow!("{origin}: invalid reference: {e}"))?;
                Value::Reference { reference, origin }
            } else {
                Value::Literal(OsString::from(entry.value.as_str()))
            };
            set(entry.key.into(), value);
        }
    }

    for assignment in &args.env {
        let (var, raw) = assignment.split_once('=').ok_or_else(|| {
            UsageError("-e takes VAR=REF, for example -e DB_PASS=coffer:db/prod".into())
        })?;
        check_variable_name(var)?;
        let reference = Reference::parse(raw).map_err(|e| {
            UsageError(format!(
                "-e {var}=…: not a reference coffer:NAME[#FIELD] ({e})"
            ))
        })?;
        let origin = format!("{var} (from -e)");
        set(var.into(), Value::Reference { reference, origin });
    }

    // Resolve what survived the overrides, all before anything runs.
    let wanted: Vec<(&OsString, &Reference, &str)> = order
        .iter()
        .filter_map(|name| match &vars[name] {
            Value::Reference { reference, origin } => Some((name, reference, origin.as_str())),
            Value::Literal(_) => None,
        })
        .collect();
    let mut resolved: HashMap<&OsString, Plaintext> = HashMap::new();
    if !wanted.is_empty() {
        let references: Vec<Reference> = wanted.iter().map(|w| w.1.clone()).collect();
        let values = reference::resolve_all(&stores, &references).map_err(|e| {
            let origin = wanted
                .iter()
                .find(|w| *w.1 == e.reference)
                .map_or("", |w| w.2);
            anyhow!("{origin}: {e}")
        })?;
        for ((name, _, _), value) in wanted.iter().zip(values) {
            resolved.insert(name, value);
        }
    }

    let mut command = Command::new(program);
    command.args(program_args).env_clear();
    let mut mask_values = Vec::new();
    for name in &order {
        match &vars[name] {
            Value::Literal(value) => {
                command.env(name, value);
            }
            Value::Reference { .. } => {
                let Some(value) = resolved.get(name) else {
                    continue;
                };
                command.env(name, OsStr::from_bytes(value.as_bytes()));
                if args.mask && value.len() >= MASK_MIN_LENGTH {
                    mask_values.push(Zeroizing::new(value.as_bytes().to_vec()));
                }
            }
        }
    }
    drop(resolved);

    let read: Vec<&coffer::SecretName> = wanted.iter().map(|w| w.1.name()).collect();
    super::log::record_reads(ctx, "run", &read);
    if args.mask {
        return run_masked(command, mask_values, program);
    }
    let error = command.exec();
    Err(spawn_error(program, &error))
}

/// The variables `--prefix SUB` defines: one per secret directly in SUB (in whichever store
/// SUB lives).
fn prefix_variables(stores: &Stores, folder: &Folder) -> Result<Vec<(String, Reference)>> {
    let routed = stores.ctx().mounts.route_folder(folder);
    let inner = &routed.inner;
    let names: Vec<_> = stores
        .vault(routed.mount)?
        .list(inner)?
        .into_iter()
        .filter(|n| n.parent() == *inner)
        .map(|n| match routed.mount {
            Some(m) => m.prefix.join(&n),
            None => n,
        })
        .collect();
    if names.is_empty() {
        bail!("there are no secrets directly in {folder}");
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let var = variable_name(name.leaf());
        if let Some(other) = seen.insert(var.clone(), name.to_string()) {
            bail!("{other} and {name} both become the variable {var}; rename one of them");
        }
        out.push((var, Reference::new(name, None)?));
    }
    Ok(out)
}

/// `db-pass` → `DB_PASS`: upper case, anything but letters and digits becomes `_`, and a
/// leading digit gets a `_` in front.
pub fn variable_name(leaf: &str) -> String {
    let mut var: String = leaf
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if var.starts_with(|c: char| c.is_ascii_digit()) {
        var.insert(0, '_');
    }
    var
}

fn check_variable_name(var: &str) -> Result<()> {
    if var.is_empty() || var.contains('\0') {
        return Err(UsageError(format!("-e {var:?}=…: invalid variable name")).into());
    }
    Ok(())
}

/// What a failed exec or spawn means, with the shell's exit codes (127 not found, 126 not
/// executable) carried in the error.
fn spawn_error(program: &OsStr, error: &std::io::Error) -> anyhow::Error {
    let program = program.to_string_lossy();
    let code = match error.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    };
    anyhow::Error::new(SpawnFailed {
        code,
        message: format!("cannot run {program}: {error}"),
    })
}

/// The program could not be started: exits 127 or 126, as a shell would.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SpawnFailed {
    pub code: u8,
    message: String,
}

/// Runs the program with its output masked, forwards signals, and passes its status on.
fn run_masked(
    mut command: Command,
    values: Vec<Zeroizing<Vec<u8>>>,
    program: &OsStr,
) -> Result<ExitCode> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;

    // Installed before the child exists so that no signal is lost in between.
    let mut signals =
        SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
            .context("cannot set up signal forwarding")?;
    let mut child = command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(program, &e))?;
    drop(command);
    let pid = rustix::process::Pid::from_child(&child);
    let handle = signals.handle();
    let forwarder = std::thread::spawn(move || {
        for origin in signals.forever() {
            // A signal from the terminal (Ctrl-C) already reached the whole foreground group,
            // the child included: sending it again would deliver it twice.
            if origin.cause == Cause::Kernel {
                continue;
            }
            if let Some(signal) = rustix::process::Signal::from_named_raw(origin.signal) {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    });

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let copy_out = stdout.map(|s| {
        let masker = mask::Masker::new(values.clone());
        std::thread::spawn(move || copy_masked(s, std::io::stdout(), masker))
    });
    let copy_err = stderr.map(|s| {
        let masker = mask::Masker::new(values.clone());
        std::thread::spawn(move || copy_masked(s, std::io::stderr(), masker))
    });
    drop(values);
    let status = child.wait().context("cannot wait for the program")?;
    for copier in [copy_out, copy_err].into_iter().flatten() {
        let _ = copier.join();
    }
    handle.close();
    let _ = forwarder.join();

    if let Some(code) = status.code() {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    let signal = status.signal().unwrap_or(0);
    // Die of the same signal, so that our parent sees what happened to the program.
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    Ok(ExitCode::from(
        u8::try_from(128 + signal).unwrap_or(u8::MAX),
    ))
}

/// Copies `from` to `to` through the masker, flushing after each read so that interactive
/// output is not delayed.
fn copy_masked(mut from: impl Read, to: impl Write, masker: Option<mask::Masker>) {
    let mut to = to;
    let mut masker = masker;
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut out = Zeroizing::new(Vec::with_capacity(64 * 1024));
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        match masker.as_mut() {
            Some(m) => m.feed(&buf[..n], &mut out),
            None => out.extend_from_slice(&buf[..n]),
        }
        if to.write_all(&out).and_then(|()| to.flush()).is_err() {
            // Our reader is gone: stop reading so the program sees a broken pipe too.
            return;
        }
    }
    out.clear();
    if let Some(m) = masker.as_mut() {
        m.finish(&mut out);
    }
    let _ = to.write_all(&out).and_then(|()| to.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_variable_names() {
        assert_eq!(variable_name("db-pass"), "DB_PASS");
        assert_eq!(variable_name("api.key v2"), "API_KEY_V2");
        assert_eq!(variable_name("2fa"), "_2FA");
        assert_eq!(variable_name("clé"), "CL_");
    }
}
