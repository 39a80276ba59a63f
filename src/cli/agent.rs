//! `coffer agent [status|stop]`, `coffer unlock`, `coffer lock`, and starting the agent on
//! demand (coffer re-runs itself as `coffer agent --daemon`).

use std::io::{BufRead, BufReader, Write};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use clap::{Args, Subcommand};

use coffer::agent::client::{self, ClientOptions, Connection, Launcher};
use coffer::agent::server::{self, Log, Outcome};
use coffer::agent::{self as agent_lib, protocol};
use coffer::crypto::identity;

use super::{Context, UsageError};

#[derive(Args, Debug)]
#[command(
    long_about = "The agent keeps a passphrase-protected identity unlocked, so the passphrase \
is asked once (by `coffer unlock` or the first command that needs it), not by every command. \
It is started on demand; run it in the foreground only for debugging or a service manager. \
It locks after agent.timeout without use (default 15m), and exits when locked and idle.",
    after_help = "`coffer agent status` exits 1 when no agent runs. Set COFFER_LOG=debug to \
make an agent started on demand log to agent.log beside its socket."
)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    /// Detach and tell the starting command when ready (used when started on demand)
    #[arg(long, hide = true)]
    pub daemon: bool,
    /// Announce another protocol version (for tests of the restart path)
    #[arg(long, hide = true, value_name = "N")]
    pub pretend_version: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum AgentAction {
    /// Show whether the agent runs, is unlocked, and when it locks
    Status,
    /// Stop the agent (forgetting the unlocked identities)
    Stop,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Unlock the identities the store mounted at PREFIX uses (default: the main store's)
    #[arg(value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Read the passphrase from file descriptor N instead of the terminal
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

/// How commands reach the agent, from the environment and `--no-agent`.
pub fn client_options(no_agent: bool) -> ClientOptions {
    ClientOptions {
        socket: agent_lib::socket_path(),
        use_agent: !no_agent,
        launch: launcher(),
        also_try: Vec::new(),
    }
}

fn launcher() -> Launcher {
    Arc::new(|| {
        let exe = std::env::current_exe()?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["agent", "--daemon"])
            // It must not keep whatever folder the first command ran in busy.
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(agent_log()?)
            // age's plugin debugging would print the plugin traffic (file keys) to the log.
            .env_remove("AGEDEBUG");
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no pipe to the agent"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim_end() == "ready" {
            // The agent outlives this command: it is not waited for.
            drop(child);
            Ok(())
        } else {
            let status = child.wait()?;
            Err(std::io::Error::other(format!(
                "it exited before it was ready ({status})"
            )))
        }
    })
}

/// Where an agent started on demand writes its log: nowhere, unless `COFFER_LOG` is set.
fn agent_log() -> std::io::Result<Stdio> {
    if !logging_enabled() {
        return Ok(Stdio::null());
    }
    let socket = agent_lib::socket_path();
    agent_lib::prepare_socket_dir(&socket).map_err(std::io::Error::other)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(socket.with_file_name("agent.log"))?;
    Ok(Stdio::from(file))
}

fn logging_enabled() -> bool {
    std::env::var_os("COFFER_LOG").is_some_and(|v| !v.is_empty() && v != "0" && v != "off")
}

/// Log lines on standard error, with time and pid.
fn stderr_log() -> Log {
    Arc::new(|line: &str| {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{now} coffer-agent[{}]: {line}", std::process::id());
    })
}

/// `coffer agent status` and `coffer agent stop`.
pub fn agent_action(args: &AgentArgs) -> Result<ExitCode> {
    match args.action {
        Some(AgentAction::Status) => status(),
        Some(AgentAction::Stop) => stop(),
        None => Err(UsageError("no agent action given".into()).into()),
    }
}

/// `coffer agent`: runs the agent (in the foreground, or detached with `--daemon`).
pub fn agent(args: &AgentArgs, ctx: &Context) -> Result<ExitCode> {
    if args.action.is_some() {
        return agent_action(args);
    }
    let timeout = agent_lib::parse_timeout(ctx.config.agent.timeout.as_ref())?;
    let log: Log = if !args.daemon || logging_enabled() {
        stderr_log()
    } else {
        Arc::new(|_: &str| {})
    };
    if args.daemon {
        coffer::sys::detach_session();
        // No terminal will hang up on it, but a hangup must never take the agent down.
        let _ = signal_hook::flag::register(
            signal_hook::consts::SIGHUP,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
    }
    let options = server::Options {
        socket: agent_lib::socket_path(),
        limits: server::Limits::default(),
        timeout,
        allowed_plugins: ctx.config.plugins.allow.clone(),
        version: args.pretend_version.unwrap_or(protocol::VERSION),
        log,
    };
    let daemon = args.daemon;
    let ready = move || {
        if daemon {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        }
    };
    match server::run(options, ready)? {
        Outcome::AlreadyRunning if !daemon => Err(anyhow!(
            "an agent is already running; stop it with `coffer agent stop`"
        )),
        Outcome::AlreadyRunning => Ok(ExitCode::SUCCESS),
        Outcome::Idle | Outcome::Stopped | Outcome::SocketLost => end_agent_process(),
    }
}

/// Ends an agent that has stopped serving, at once: connection threads may still be running
/// (a client that asked to stop, one waiting on a plugin), and an agent's life is not a user
/// operation, so nothing that runs after a command (the access log record) may run for it.
fn end_agent_process() -> ! {
    std::process::exit(0)
}

fn status() -> Result<ExitCode> {
    let Some(mut conn) = Connection::open(&agent_lib::socket_path())? else {
        println!("coffer agent: not running");
        return Ok(ExitCode::from(1));
    };
    let s = match conn.status() {
        Ok(s) => s,
        // It was exiting (idle and locked) as we asked: that is "not running", not an error.
        Err(_) if Connection::open(&agent_lib::socket_path())?.is_none() => {
            println!("coffer agent: not running");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "coffer agent: running, pid {}, protocol {}, coffer {}",
        s.pid, s.version, s.coffer_version
    );
    let describe = |secs| agent_lib::describe_duration(std::time::Duration::from_secs(secs));
    for held in &s.unlocked {
        println!("unlocked: {}", held.path.display());
        println!(
            "locks in {} if idle (timeout {})",
            describe(held.idle_left_secs),
            describe(held.timeout_secs)
        );
    }
    if s.unlocked.is_empty() {
        println!("locked");
        println!(
            "exits in {} if idle (timeout {})",
            describe(s.idle_left_secs),
            describe(s.timeout_secs)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn stop() -> Result<ExitCode> {
    if let Some(mut conn) = Connection::open(&agent_lib::socket_path())? {
        conn.stop()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn lock() -> Result<ExitCode> {
    if let Some(mut conn) = Connection::open(&agent_lib::socket_path())? {
        conn.lock()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn unlock(args: &UnlockArgs, ctx: &Context) -> Result<ExitCode> {
    if ctx.no_agent {
        return Err(UsageError("unlock works through the agent; drop --no-agent".into()).into());
    }
    let identities = ctx.identities_of(args.prefix.as_deref())?;
    let path = &identities;
    let file = identity::read_file(path)?;
    if !identity::is_protected(&file) {
        eprintln!(
            "{} is not passphrase-protected; there is nothing to unlock",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let options = client_options(false);
    let mut conn = Connection::open_or_start(&options.socket, &options.launch)?;
    if args.passphrase_fd.is_none() && conn.check(path, &file)?.is_some() {
        return Ok(ExitCode::SUCCESS);
    }
    let prompt = ctx.prompt();
    let passphrase = match args.passphrase_fd {
        Some(fd) => {
            let line = coffer::sys::read_fd_line(fd)
                .with_context(|| format!("cannot read the passphrase from descriptor {fd}"))?;
            age::secrecy::SecretString::from(line.as_str().to_owned())
        }
        None => prompt(&format!("Passphrase for {}", path.display())).ok_or_else(|| {
            anyhow!("no terminal to ask the passphrase on; use --passphrase-fd N")
        })?,
    };
    let timeout = agent_lib::parse_timeout(ctx.config.agent.timeout.as_ref())?;
    client::unlock_with(&mut conn, path, &file, &passphrase, timeout, &prompt)?;
    Ok(ExitCode::SUCCESS)
}

/// Tells a running agent that the identities file at `path` changed (a new passphrase, a new
/// key), so that it forgets what it unlocked from it; no agent, nothing to do. This is the one
/// call site `identity passwd` and `identity rotate` use; other unlocked files stay unlocked.
pub fn forget_identities(path: &std::path::Path) -> Result<()> {
    if let Some(mut conn) = Connection::open(&agent_lib::socket_path())? {
        conn.forget(path)?;
    }
    Ok(())
}
