//! The clipboard (docs/BEHAVIOUR.md §7): copies that clipboard managers skip, served by a detached helper
//! that puts back what was there before, and only if the secret is still there.
//!
//! On X11 and Wayland the content of a selection dies with the process that owns it, so
//! `coffer` re-executes itself as `coffer clipboard-helper` in its own process group. The
//! secret reaches the helper through its standard input (a pipe), never argv or the
//! environment. The helper reads what the clipboard held, takes it over with the secret marked
//! `x-kde-passwordManagerHint: secret`, tells its parent it is ready, and after
//! `COFFER_CLIP_TIME` seconds restores the previous content if the clipboard still holds the
//! secret. It then keeps serving that restored content until someone copies something else,
//! as `xclip` does for pass.
//!
//! A second copy replaces a pending helper: the new helper connects to the old one's socket
//! (in a private `0700` folder), receives the content to restore, takes the selection and
//! tells the old helper to go without touching the clipboard. A file lock orders helpers of
//! the same display and selection.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use arboard::{ClearExtLinux, Clipboard, GetExtLinux, LinuxClipboardKind, SetExtLinux};
use clap::{Args, ValueEnum};
use rustix::fs::FlockOperation;
use zeroize::Zeroizing;

use super::{UsageError, ui};

/// Seconds before the clipboard is restored, unless `COFFER_CLIP_TIME` says otherwise.
pub const DEFAULT_CLIP_TIME: u64 = 45;
/// The hidden subcommand the helper runs as.
pub const HELPER_COMMAND: &str = "clipboard-helper";
/// How often a helper serving restored content checks that it still owns the selection.
const RESTORED_POLL: Duration = Duration::from_secs(1);
/// How long a helper waits on the other side of a handover before giving up on it.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Which X selection (`COFFER_X_SELECTION`, as pass's `PASSWORD_STORE_X_SELECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Selection {
    Clipboard,
    Primary,
    Secondary,
}

impl Selection {
    fn kind(self) -> LinuxClipboardKind {
        match self {
            Self::Clipboard => LinuxClipboardKind::Clipboard,
            Self::Primary => LinuxClipboardKind::Primary,
            Self::Secondary => LinuxClipboardKind::Secondary,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Clipboard => "clipboard",
            Self::Primary => "primary",
            Self::Secondary => "secondary",
        }
    }
}

/// Where and for how long to copy, read from the environment and checked before anything
/// is decrypted or changed.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seconds: u64,
    pub selection: Selection,
}

impl Settings {
    /// `COFFER_CLIP_TIME`, `COFFER_X_SELECTION`, and a display to copy to.
    pub fn from_env() -> Result<Self> {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        let seconds = match super::env_setting("CLIP_TIME") {
            Some((key, raw)) => raw.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                UsageError(format!(
                    "{key} {raw:?} must be a positive number of seconds"
                ))
            })?,
            None => DEFAULT_CLIP_TIME,
        };
        let selection = match super::env_setting("X_SELECTION") {
            Some((key, raw)) => Selection::from_str(&raw, true).map_err(|_| {
                UsageError(format!(
                    "{key} {raw:?} must be clipboard, primary or secondary"
                ))
            })?,
            None => Selection::Clipboard,
        };
        if var("WAYLAND_DISPLAY").is_none() && var("DISPLAY").is_none() {
            bail!("no X11 or Wayland display for the clipboard");
        }
        Ok(Self { seconds, selection })
    }
}

/// Copies `text` to the clipboard through a detached helper and prints pass's message,
/// `Copied LABEL to clipboard. Will clear in S seconds.`
pub fn copy(settings: &Settings, text: &[u8], label: &str) -> Result<()> {
    if std::str::from_utf8(text).is_err() {
        bail!("{label} is not text, so it cannot go on the clipboard");
    }
    let exe = std::env::current_exe().context("cannot find the coffer executable")?;
    let mut child = std::process::Command::new(exe)
        .arg(HELPER_COMMAND)
        .arg("--selection")
        .arg(settings.selection.name())
        .arg("--seconds")
        .arg(settings.seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Keep no folder (or mount) busy for the helper's lifetime.
        .current_dir("/")
        // Its own process group: a Ctrl+C or a closed terminal does not take the clipboard
        // (and the countdown that restores it) down with the command.
        .process_group(0)
        .spawn()
        .context("cannot start the clipboard helper")?;
    let sent = match child.stdin.take() {
        Some(mut pipe) => pipe.write_all(text).and_then(|()| pipe.flush()),
        None => Err(std::io::Error::other("no pipe to the clipboard helper")),
    };
    let mut answer = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).take(4096).read_line(&mut answer);
    }
    if answer.trim_end() != "ok" {
        let _ = child.wait();
        let reason = answer
            .trim_end()
            .strip_prefix("error: ")
            .map(str::to_owned)
            .or_else(|| sent.err().map(|e| e.to_string()))
            .unwrap_or_else(|| "the clipboard helper stopped unexpectedly".to_owned());
        bail!("cannot copy {label} to the clipboard: {reason}");
    }
    // The helper lives on by design; it is not waited for.
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Copied {label} to clipboard. Will clear in {} seconds.",
        settings.seconds
    )?;
    Ok(())
}

/// `coffer clipboard-helper`: what the detached helper runs. Not for people.
#[derive(Args, Debug)]
pub struct HelperArgs {
    #[arg(long, value_enum)]
    pub selection: Selection,
    #[arg(long)]
    pub seconds: u64,
}

/// The helper: read the secret from standard input, take the selection, report `ok` (or
/// `error: …`) on standard output, then count down and restore.
pub fn helper(args: &HelperArgs) -> Result<ExitCode> {
    // The terminal may close under us; the countdown must still finish. Ignoring SIGHUP
    // is done by catching it into a flag nobody reads.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let serving = match Serving::start(args) {
        Ok(serving) => serving,
        Err(e) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "error: {}", ui::one_line(&format!("{e:#}")));
            let _ = out.flush();
            return Ok(ExitCode::FAILURE);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"ok\n");
        let _ = out.flush();
    }
    // Let go of the parent's pipe so that nothing waits on us.
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(null.as_fd());
    }
    serving.count_down_and_restore();
    Ok(ExitCode::SUCCESS)
}

/// A helper that has taken the selection with the secret.
struct Serving {
    clipboard: Clipboard,
    kind: LinuxClipboardKind,
    secret: Zeroizing<String>,
    /// What to put back: the clipboard's text before the first of a run of copies.
    previous: Option<Zeroizing<String>>,
    rendezvous: Rendezvous,
    listener: UnixListener,
    deadline: Instant,
}

impl Serving {
    fn start(args: &HelperArgs) -> Result<Self> {
        let mut secret = Zeroizing::new(Vec::new());
        std::io::stdin()
            .lock()
            .read_to_end(&mut secret)
            .context("cannot read the secret from the pipe")?;
        let secret = Zeroizing::new(
            String::from_utf8(std::mem::take(&mut *secret))
                .map_err(|_| anyhow!("the secret is not text"))?,
        );
        if secret.is_empty() {
            bail!("no secret came through the pipe");
        }
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let kind = args.selection.kind();
        let rendezvous = Rendezvous::new(args.selection)?;
        let mut clipboard = Clipboard::new().map_err(|e| anyhow!("{e}"))?;
        let lock = rendezvous.lock(false)?;
        let mut predecessor = UnixStream::connect(&rendezvous.socket).ok();
        let handed = predecessor.as_mut().and_then(receive_handover);
        let previous = match handed {
            Some(previous) => previous,
            None => {
                predecessor = None;
                read_text(&mut clipboard, kind)
            }
        };
        clipboard
            .set()
            .clipboard(kind)
            .exclude_from_history()
            .text(secret.as_str())
            .map_err(|e| anyhow!("{e}"))?;
        // A read is a round trip: when it returns, the display server has processed our
        // claim on the selection. Without it, an old helper told to go could still see itself
        // as the owner and give up "its" selection, which would be ours by then.
        drop(read_text(&mut clipboard, kind));
        if let Some(mut old) = predecessor {
            // Only now, with the selection ours, may the old helper go.
            let _ = old.write_all(b"done\n");
        }
        let _ = std::fs::remove_file(&rendezvous.socket);
        let listener = UnixListener::bind(&rendezvous.socket)
            .with_context(|| format!("cannot listen on {}", rendezvous.socket.display()))?;
        drop(lock);
        Ok(Self {
            clipboard,
            kind,
            secret,
            previous,
            rendezvous,
            listener,
            deadline,
        })
    }

    fn count_down_and_restore(mut self) {
        let (tx, rx) = mpsc::channel();
        if let Ok(listener) = self.listener.try_clone() {
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    if tx.send(stream).is_err() {
                        break;
                    }
                }
            });
        }
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(stream) => {
                    if self.hand_over(stream) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(self.deadline.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
        // Time is up. A successor holds the lock while it waits for our answer, so keep
        // answering until the lock is ours.
        let lock = loop {
            match self.rendezvous.lock(true) {
                Ok(Some(lock)) => break Some(lock),
                Ok(None) => {
                    if let Ok(stream) = rx.recv_timeout(Duration::from_millis(20))
                        && self.hand_over(stream)
                    {
                        return;
                    }
                }
                // No lock to be had: restore anyway rather than leave the secret behind.
                Err(_) => break None,
            }
        };
        let _ = std::fs::remove_file(&self.rendezvous.socket);
        let current = read_text(&mut self.clipboard, self.kind);
        let still_secret = current.as_deref().map(String::as_str) == Some(self.secret.as_str());
        drop(current);
        if !still_secret {
            // The user copied something since (or the display is gone): leave it alone.
            return;
        }
        self.secret = Zeroizing::new(String::new());
        let Some(previous) = self.previous.take() else {
            let _ = self.clipboard.clear_with().clipboard(self.kind);
            return;
        };
        if self
            .clipboard
            .set()
            .clipboard(self.kind)
            .text(previous.as_str())
            .is_err()
        {
            let _ = self.clipboard.clear_with().clipboard(self.kind);
            return;
        }
        drop(lock);
        // Serve the restored content until someone else owns the selection (or the display
        // goes away), as xclip would.
        loop {
            std::thread::sleep(RESTORED_POLL);
            match read_text(&mut self.clipboard, self.kind) {
                Some(now) if now.as_str() == previous.as_str() => {}
                _ => return,
            }
        }
    }

    /// Answers a successor: sends the content to restore and, once it has taken the
    /// selection, reports that this helper is done. `false` if the successor gave up.
    fn hand_over(&mut self, mut stream: UnixStream) -> bool {
        let _ = stream.set_read_timeout(Some(HANDOVER_TIMEOUT));
        let _ = stream.set_write_timeout(Some(HANDOVER_TIMEOUT));
        let mut reader = match stream.try_clone() {
            Ok(s) => BufReader::new(s),
            Err(_) => return false,
        };
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() || request != "handover\n" {
            return false;
        }
        let mut message = Zeroizing::new(Vec::new());
        match &self.previous {
            Some(text) => {
                message.extend_from_slice(format!("text {}\n", text.len()).as_bytes());
                message.extend_from_slice(text.as_bytes());
            }
            None => message.extend_from_slice(b"none\n"),
        }
        if stream.write_all(&message).is_err() {
            return false;
        }
        let mut answer = String::new();
        let done = reader.read_line(&mut answer).is_ok() && answer == "done\n";
        if done {
            self.previous = None;
            self.secret = Zeroizing::new(String::new());
        }
        done
    }
}

/// The successor's side of a handover: the predecessor's content to restore, or `None` if
/// there is no live predecessor to ask.
fn receive_handover(stream: &mut UnixStream) -> Option<Option<Zeroizing<String>>> {
    stream.set_read_timeout(Some(HANDOVER_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(HANDOVER_TIMEOUT)).ok()?;
    stream.write_all(b"handover\n").ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut header = String::new();
    reader.read_line(&mut header).ok()?;
    if header == "none\n" {
        return Some(None);
    }
    let len: usize = header.strip_prefix("text ")?.trim_end().parse().ok()?;
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    reader.read_exact(&mut bytes).ok()?;
    let text = String::from_utf8(std::mem::take(&mut *bytes)).ok()?;
    Some(Some(Zeroizing::new(text)))
}

/// The selection's text, if it holds text.
fn read_text(clipboard: &mut Clipboard, kind: LinuxClipboardKind) -> Option<Zeroizing<String>> {
    clipboard
        .get()
        .clipboard(kind)
        .text()
        .ok()
        .map(Zeroizing::new)
}

/// Where helpers of one display and selection meet: a lock file and a socket in a private
/// folder (`$XDG_RUNTIME_DIR/coffer`, else `coffer-UID` in the temporary folder).
struct Rendezvous {
    lock: PathBuf,
    socket: PathBuf,
}

impl Rendezvous {
    fn new(selection: Selection) -> Result<Self> {
        let dir = coffer::sys::private::create_runtime_dir()
            .context("no private folder for the clipboard")?;
        let display = std::env::var("WAYLAND_DISPLAY")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| format!("wl{v}"))
            .or_else(|| std::env::var("DISPLAY").ok().map(|v| format!("x{v}")))
            .unwrap_or_default();
        let safe: String = display
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        let stem = format!("clip-{}-{safe}", selection.name());
        Ok(Self {
            lock: dir.join(format!("{stem}.lock")),
            socket: dir.join(format!("{stem}.sock")),
        })
    }

    /// Takes the exclusive lock; with `try_only`, `None` when another helper holds it.
    fn lock(&self, try_only: bool) -> Result<Option<File>> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .with_context(|| format!("cannot open {}", self.lock.display()))?;
        let op = if try_only {
            FlockOperation::NonBlockingLockExclusive
        } else {
            FlockOperation::LockExclusive
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) if try_only => Ok(None),
            Err(e) => Err(anyhow!("cannot lock {}: {e}", self.lock.display())),
        }
    }
}
