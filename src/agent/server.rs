//! The agent process: the only place identities live once unlocked.
//!
//! It listens on a socket in a private folder, serves only peers of its own uid (checked with
//! `SO_PEERCRED` on every connection), and answers one thing about identities: the file key of
//! a header's stanzas. Identities stay here, in zeroizing types, in locked memory. It holds
//! several identities files at once (a personal one, a team's), each unlocked once and each
//! locked after its own timeout without use (the `[agent] timeout` in force when it was
//! unlocked); once nothing is unlocked it stops serving after another timeout, on
//! `coffer agent stop`, or as soon as its socket is removed or taken over by another agent;
//! [`run`] then says which ([`Outcome`]) and the command line ends the process.
//!
//! While nothing happens the agent does not wake up: its main thread sleeps in `poll` on the
//! listening socket, a wake-up channel (for `stop`), and an inotify watch on the socket's
//! folder, with the time left until the next idle deadline as the only timeout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use age::secrecy::{ExposeSecret, SecretString};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify;

use super::protocol::{
    self, ErrorKind, HeldStatus, Request, Response, SecretBytes, Status, WireStanza,
};
use super::{AgentError, prepare_socket_dir};
use crate::crypto::identity::{Identities, IdentityError, PassphrasePrompt};

/// Receives the agent's log lines (never secrets: only events, sizes, tags and errors).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// How often the socket is checked when its folder cannot be watched (inotify instances
/// exhausted): rare enough to cost nothing, soon enough that a replaced agent does not linger.
const SOCKET_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// What the agent needs to run.
pub struct Options {
    pub socket: PathBuf,
    /// What one client, or many, may make the agent hold.
    pub limits: Limits,
    /// Stops after this long with nothing unlocked and no use, until an unlock brings its own
    /// timeout (which then serves for both).
    pub timeout: Duration,
    /// Plugin names the local config allows (`[plugins] allow`).
    pub allowed_plugins: Vec<String>,
    /// The protocol version to announce: [`protocol::VERSION`], except in tests of the restart path.
    pub version: u32,
    pub log: Log,
}

/// Bounds on what clients can make the agent do: at most `connections` at once (each can
/// hold one frame of at most [`protocol::MAX_FRAME`]), a frame once begun must arrive within
/// `frame_time`, and a connection silent for `idle_connection` is closed (clients open a new
/// one).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    pub frame_time: Duration,
    pub idle_connection: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: 64,
            frame_time: Duration::from_secs(10),
            idle_connection: Duration::from_secs(120),
        }
    }
}

/// How [`run`] ended without error. Only [`Outcome::AlreadyRunning`] returns before serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Another agent already serves the socket.
    AlreadyRunning,
    /// Locked and unused for the idle timeout; the socket was removed.
    Idle,
    /// A client asked it to stop (`coffer agent stop`); the socket was removed.
    Stopped,
    /// The socket was removed or replaced (by another agent, or a cleaned runtime folder).
    SocketLost,
}

/// Runs the agent: locks memory, binds the socket, calls `ready` once clients can connect,
/// then serves until it locks and idles out, is stopped, or loses its socket. Connection
/// threads may still run when it returns: the caller is expected to end the process.
pub fn run(options: Options, ready: impl FnOnce()) -> Result<Outcome, AgentError> {
    let log = options.log.clone();
    match crate::sys::lock_memory() {
        Ok(how) => log(&format!("memory locked ({how:?})")),
        Err(e) => log(&format!(
            "warning: cannot lock memory ({e}); identities may be swapped out. \
             Raise the locked-memory limit (ulimit -l) to at least 1 GiB"
        )),
    }
    let Some(server) = Server::bind(options)? else {
        ready();
        return Ok(Outcome::AlreadyRunning);
    };
    ready();
    server.serve()
}

/// A bound agent, ready to serve: what [`run`] does after locking memory, apart so tests can
/// drive the whole state machine in-process.
struct Server {
    listener: UnixListener,
    agent: Arc<Agent>,
    /// Readable when a connection thread wants the main loop to look at the state (`stop`).
    wake: UnixStream,
    /// An inotify watch on the socket's folder; `None` if it could not be set up.
    folder_watch: Option<OwnedFd>,
    /// Held for the server's life; the kernel releases it however the process ends.
    _lock: std::fs::File,
}

impl Server {
    /// Binds the socket; `None` if a live agent already serves it.
    fn bind(options: Options) -> Result<Option<Self>, AgentError> {
        prepare_socket_dir(&options.socket)?;
        let log = options.log.clone();
        let Some((listener, lock)) = bind_exclusively(&options.socket, &log)? else {
            return Ok(None);
        };
        listener.set_nonblocking(true)?;
        let inode = std::fs::metadata(&options.socket)?.ino();
        let folder_watch = match watch_folder(&options.socket) {
            Ok(fd) => Some(fd),
            Err(e) => {
                log(&format!(
                    "cannot watch the socket folder ({e}); checking the socket every {}s",
                    SOCKET_CHECK_INTERVAL.as_secs()
                ));
                None
            }
        };
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        log(&format!(
            "listening on {} (pid {}, protocol {}, timeout {}s)",
            options.socket.display(),
            crate::sys::pid(),
            options.version,
            options.timeout.as_secs()
        ));
        let agent = Arc::new(Agent {
            state: Mutex::new(State {
                held: Vec::new(),
                last_use: Instant::now(),
                exit_timeout: options.timeout,
                busy: 0,
            }),
            options,
            inode,
            stopping: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            waker,
        });
        Ok(Some(Self {
            listener,
            agent,
            wake,
            folder_watch,
            _lock: lock,
        }))
    }

    /// The main loop: sleeps until a connection, a stop, a change in the socket's folder or
    /// the next idle deadline, and handles what came. Never wakes up on its own otherwise.
    fn serve(self) -> Result<Outcome, AgentError> {
        let agent = &self.agent;
        loop {
            // Checked on every turn: a stop sets the flag before it removes the socket.
            if agent.stopping.load(Ordering::SeqCst) {
                agent.log("stop requested: exiting");
                return Ok(Outcome::Stopped);
            }
            if !agent.socket_is_ours() {
                agent.log("the socket was removed or replaced; exiting");
                return Ok(Outcome::SocketLost);
            }
            let now = Instant::now();
            let mut wait = match agent.state().step_idle_clock(now) {
                IdleStep::Wait(left) => left,
                IdleStep::Locked => {
                    agent.log("idle timeout: locked");
                    continue;
                }
                IdleStep::Exit => {
                    agent.log("locked and idle: exiting");
                    agent.remove_socket();
                    return Ok(Outcome::Idle);
                }
            };
            if self.folder_watch.is_none() {
                wait = wait.min(SOCKET_CHECK_INTERVAL);
            }
            let ready = self.wait_for_events(wait)?;
            if ready.wake {
                drain(&self.wake);
            }
            if ready.folder {
                if let Some(fd) = &self.folder_watch {
                    drain_inotify(fd);
                }
            }
            if ready.connection {
                self.accept_waiting();
            }
        }
    }

    /// Blocks until one of the descriptors is readable or `timeout` has passed.
    fn wait_for_events(&self, timeout: Duration) -> Result<Ready, AgentError> {
        // A deadline too far for a timespec is as good as none.
        let timeout = Timespec::try_from(timeout).ok();
        let mut fds = vec![
            PollFd::new(&self.listener, PollFlags::IN),
            PollFd::new(&self.wake, PollFlags::IN),
        ];
        if let Some(fd) = &self.folder_watch {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Ready::default()),
            Err(e) => return Err(std::io::Error::from(e).into()),
        }
        let readable = |fd: &PollFd<'_>| !fd.revents().is_empty();
        Ok(Ready {
            connection: readable(&fds[0]),
            wake: readable(&fds[1]),
            folder: fds.get(2).is_some_and(readable),
        })
    }

    /// Accepts every pending connection, each served on its own thread.
    fn accept_waiting(&self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // Out of descriptors or memory: the listener stays readable, so without
                    // a pause this would spin until a connection ends.
                    self.agent.log(&format!("cannot accept a connection: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                    return;
                }
            };
            let limit = self.agent.options.limits.connections;
            if self.agent.connections.load(Ordering::SeqCst) >= limit {
                self.agent.log(&format!(
                    "{limit} connections already open: closing a new one"
                ));
                continue;
            }
            // Connections are served with blocking reads, whatever the listener does.
            if let Err(e) = stream.set_nonblocking(false) {
                self.agent.log(&format!("cannot serve a connection: {e}"));
                continue;
            }
            let agent = self.agent.clone();
            agent.connections.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name("connection".into())
                .stack_size(1 << 20)
                .spawn(move || {
                    agent.serve(stream);
                    agent.connections.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                self.agent.connections.fetch_sub(1, Ordering::SeqCst);
                self.agent.log(&format!("cannot serve a connection: {e}"));
            }
        }
    }
}

/// Reads from a connection until a deadline, however the bytes trickle in.
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "a message did not arrive in time",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buf)
    }
}

/// Which of the main loop's descriptors `poll` found readable.
#[derive(Default)]
struct Ready {
    connection: bool,
    wake: bool,
    folder: bool,
}

/// Watches the socket's folder for anything that removes or replaces an entry, or the folder
/// itself: the main loop then checks whether the socket is still ours. This is what lets the
/// agent notice a lost socket at once without polling for it. What a watch cannot see (a
/// parent folder renamed) is noticed at the next wake-up, the idle deadline at the latest.
fn watch_folder(socket: &Path) -> std::io::Result<OwnedFd> {
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::DELETE
            | inotify::WatchFlags::MOVED_FROM
            | inotify::WatchFlags::MOVED_TO
            | inotify::WatchFlags::DELETE_SELF
            | inotify::WatchFlags::MOVE_SELF
            | inotify::WatchFlags::ONLYDIR,
    )?;
    Ok(fd)
}

/// Reads and discards what is queued on a non-blocking inotify descriptor: the events only
/// say "look again", the socket's inode says what happened.
fn drain_inotify(fd: &OwnedFd) {
    let mut buf = [0u8; 4096];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Reads and discards what is queued on the non-blocking wake-up channel.
fn drain(mut wake: &UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(wake.read(&mut buf), Ok(n) if n > 0) {}
}

/// Binds the socket while holding `agent.lock` beside it for the agent's whole life: holding
/// the lock proves any existing socket file is stale. `None` if a live agent already serves.
fn bind_exclusively(
    socket: &Path,
    log: &Log,
) -> Result<Option<(UnixListener, std::fs::File)>, AgentError> {
    let lock_path = socket.with_file_name("agent.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !crate::sys::try_lock_exclusive(&lock)? {
        if UnixStream::connect(socket).is_ok() {
            log("another agent is already running");
            return Ok(None);
        }
        if Instant::now() > deadline {
            return Err(AgentError::Start(format!(
                "{} stays locked by another process",
                lock_path.display()
            )));
        }
        // A dying agent still holds the lock for a moment.
        std::thread::sleep(Duration::from_millis(25));
    }
    match std::fs::remove_file(socket) {
        Ok(()) => log("replaced a stale socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let listener = UnixListener::bind(socket)?;
    Ok(Some((listener, lock)))
}

/// What the main loop and the connection threads share.
struct Agent {
    state: Mutex<State>,
    options: Options,
    /// The inode of the socket this agent bound, to tell it from a replacement.
    inode: u64,
    /// Set (before the socket is removed) when a client asked the agent to stop.
    stopping: AtomicBool,
    /// Connections being served now.
    connections: AtomicUsize,
    /// The writing end of [`Server::wake`].
    waker: UnixStream,
}

struct State {
    /// The unlocked identities files, oldest unlock first.
    held: Vec<Held>,
    /// The last use of the agent at all (or the last lock): the exit clock starts here.
    last_use: Instant,
    /// How long the agent stays with nothing unlocked: the timeout of the latest unlock.
    exit_timeout: Duration,
    /// Requests being answered now: the agent is not idle while one runs (an unlock's scrypt
    /// or a plugin waiting for a PIN can outlast a short timeout).
    busy: usize,
}

/// One unlocked identities file and its own idle clock.
struct Held {
    unlocked: Arc<Unlocked>,
    last_use: Instant,
    timeout: Duration,
}

impl Held {
    fn left(&self, now: Instant) -> Duration {
        self.timeout
            .saturating_sub(now.saturating_duration_since(self.last_use))
    }
}

/// What the idle clock asks for at a given moment.
#[derive(Debug, PartialEq, Eq)]
enum IdleStep {
    /// Nothing to do before this much more idleness.
    Wait(Duration),
    /// An unlocked file's timeout passed: its identities were just dropped.
    Locked,
    /// Nothing is unlocked and the exit timeout passed: time to go.
    Exit,
}

impl State {
    /// Advances the idle clocks to `now`: each unlocked file locks after its own timeout
    /// without use; with nothing unlocked, the agent asks to exit after `exit_timeout`. Every
    /// use (and every lock) restarts the exit clock.
    fn step_idle_clock(&mut self, now: Instant) -> IdleStep {
        if self.busy > 0 {
            let shortest = self.held.iter().map(|h| h.timeout).min();
            return IdleStep::Wait(shortest.unwrap_or(self.exit_timeout).min(self.exit_timeout));
        }
        let before = self.held.len();
        self.held.retain(|h| !h.left(now).is_zero());
        if self.held.len() < before {
            self.last_use = now;
            return IdleStep::Locked;
        }
        if let Some(next) = self.held.iter().map(|h| h.left(now)).min() {
            return IdleStep::Wait(next);
        }
        let idle = now.saturating_duration_since(self.last_use);
        match self.exit_timeout.checked_sub(idle) {
            Some(left) if !left.is_zero() => IdleStep::Wait(left),
            _ => IdleStep::Exit,
        }
    }

    /// The unlocked file at `path`, its clock restarted: it is being used.
    fn use_held(&mut self, path: &Path, now: Instant) -> Option<Arc<Unlocked>> {
        let held = self.held.iter_mut().find(|h| h.unlocked.path == path)?;
        held.last_use = now;
        Some(held.unlocked.clone())
    }

    /// Forgets the file at `path`; whether it was held.
    fn forget(&mut self, path: &Path) -> bool {
        let before = self.held.len();
        self.held.retain(|h| h.unlocked.path != path);
        self.held.len() < before
    }
}

/// At most this many identities files are held at once: a person has a few, not hundreds,
/// and each costs locked memory.
const MAX_HELD: usize = 32;

/// What an unlock holds: the identities and what they were unlocked from.
struct Unlocked {
    identities: Identities,
    path: PathBuf,
    /// The identities file as it was (still encrypted), to recognise it in `Check`.
    file: Vec<u8>,
    recipients: Vec<String>,
    secrets: Arc<SecretCache>,
}

impl Agent {
    fn log(&self, line: &str) {
        (self.options.log)(line)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not make the agent unusable; the state is always consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the socket path still names the socket this agent bound.
    fn socket_is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.options.socket).is_ok_and(|m| m.ino() == self.inode)
    }

    /// Removes the socket on the way out, unless another agent has taken its place.
    fn remove_socket(&self) {
        if self.socket_is_ours() {
            let _ = std::fs::remove_file(&self.options.socket);
        }
    }

    /// Called by the connection that was asked to stop, after its answer: marks the agent
    /// stopping, removes the socket so no new client finds it, and wakes the main loop.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.remove_socket();
        // A full channel already holds a wake-up, so a failed write loses nothing.
        let _ = (&self.waker).write(&[1]);
    }

    fn serve(&self, mut stream: UnixStream) {
        match crate::sys::peer_credentials(&stream) {
            Ok((uid, pid)) if uid == crate::sys::uid() => {
                self.log(&format!("connection from pid {pid}"));
            }
            Ok((uid, pid)) => {
                self.log(&format!("refused a connection from uid {uid} (pid {pid})"));
                return;
            }
            Err(e) => {
                self.log(&format!("refused a connection: no peer credentials ({e})"));
                return;
            }
        }
        match self.receive(&stream) {
            Ok(Request::Hello { version }) => {
                let hello = Response::Hello {
                    version: self.options.version,
                    pid: crate::sys::pid(),
                };
                if protocol::send(&mut stream, &hello).is_err() || version != self.options.version {
                    if version != self.options.version {
                        self.log(&format!("client speaks protocol {version}; closing"));
                    }
                    return;
                }
            }
            _ => {
                self.log("a client did not start with Hello; closing");
                return;
            }
        }
        loop {
            let request = match self.receive(&stream) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
                Err(e) => {
                    self.log(&format!("bad message: {e}"));
                    return;
                }
            };
            let stop = matches!(request, Request::Stop);
            // Asking for the status is not a use: it must not keep the agent unlocked.
            let is_use = !matches!(request, Request::Status | Request::Stop);
            self.state().busy += 1;
            let response = self.handle(request, &stream);
            {
                let mut state = self.state();
                state.busy -= 1;
                if is_use {
                    state.last_use = Instant::now();
                }
            }
            if protocol::send(&mut stream, &response).is_err() {
                return;
            }
            if stop {
                self.stop();
                return;
            }
        }
    }

    /// Reads the next request: waits up to `idle_connection` for it to begin, then gives it
    /// `frame_time` to arrive whole, so a client trickling bytes cannot hold a connection
    /// (and its buffer) for long.
    fn receive(&self, mut stream: &UnixStream) -> std::io::Result<Request> {
        let limits = self.options.limits;
        stream.set_read_timeout(Some(limits.idle_connection))?;
        let mut first = [0u8; 1];
        if let Err(e) = stream.read_exact(&mut first) {
            return Err(match e.kind() {
                // The client went quiet: as good as gone.
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    std::io::ErrorKind::UnexpectedEof.into()
                }
                _ => e,
            });
        }
        let mut rest = Deadline {
            stream,
            deadline: Instant::now() + limits.frame_time,
        };
        protocol::receive(&mut (&first[..]).chain(&mut rest))
    }

    fn handle(&self, request: Request, stream: &UnixStream) -> Response {
        match request {
            Request::Hello { .. } => protocol_error("Hello twice"),
            Request::Answer { .. } => protocol_error("an answer nobody asked for"),
            Request::Status => Response::Status(self.status()),
            Request::Check { identities, file } => {
                let mut state = self.state();
                let now = Instant::now();
                state.last_use = now;
                match state.use_held(&identities, now) {
                    Some(u) if u.file == file => Response::Unlocked {
                        recipients: u.recipients.clone(),
                    },
                    _ => Response::Locked,
                }
            }
            Request::Unlock {
                identities,
                file,
                passphrase,
                timeout_secs,
            } => {
                let timeout = Duration::from_secs(timeout_secs.max(1));
                self.unlock(identities, file, passphrase, timeout, stream)
            }
            Request::Unwrap {
                identities,
                stanzas,
            } => self.unwrap(&identities, stanzas, stream),
            Request::Lock => {
                let mut state = self.state();
                if !state.held.is_empty() {
                    self.log(&format!("locked {} on request", state.held.len()));
                }
                state.held.clear();
                state.last_use = Instant::now();
                Response::Ok
            }
            Request::Forget { identities } => {
                let mut state = self.state();
                if state.forget(&identities) {
                    self.log(&format!("forgot {}", identities.display()));
                }
                state.last_use = Instant::now();
                Response::Ok
            }
            Request::Stop => Response::Ok,
        }
    }

    /// Tries the unlocked files named, in order, on one header's stanzas. The first is the
    /// store's own and must be unlocked; the rest (the main identities, for a mount with its
    /// own) are tried only if they already are, so this never asks for a second passphrase.
    fn unwrap(&self, paths: &[PathBuf], stanzas: Vec<WireStanza>, stream: &UnixStream) -> Response {
        let candidates: Vec<Arc<Unlocked>> = {
            let mut state = self.state();
            let now = Instant::now();
            state.last_use = now;
            let Some(first) = paths.first().and_then(|p| state.use_held(p, now)) else {
                return Response::Error {
                    kind: ErrorKind::Locked,
                    message: AgentError::Locked.to_string(),
                };
            };
            let rest = paths[1..].iter().filter_map(|p| state.use_held(p, now));
            std::iter::once(first).chain(rest).collect()
        };
        let tags: Vec<&str> = stanzas.iter().map(|s| s.tag.as_str()).collect();
        self.log(&format!("unwrap: {} stanza(s) {tags:?}", stanzas.len()));
        let stanzas: Vec<age_core::format::Stanza> = stanzas.into_iter().map(Into::into).collect();
        for unlocked in candidates {
            let result = with_asker(stream, || {
                unlocked
                    .identities
                    .as_age()
                    .find_map(|id| id.unwrap_stanzas(&stanzas))
            });
            match result {
                Some(Ok(key)) => {
                    return Response::FileKey(SecretBytes::new(key.expose_secret().to_vec()));
                }
                None => continue,
                Some(Err(e)) => {
                    // A wrong PIN must be asked again, not replayed.
                    unlocked.secrets.clear();
                    self.log(&format!("unwrap failed: {e}"));
                    return Response::Error {
                        kind: ErrorKind::Identity,
                        message: e
                            .to_string()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                }
            }
        }
        Response::NoMatch
    }

    fn unlock(
        &self,
        path: PathBuf,
        file: Vec<u8>,
        passphrase: SecretBytes,
        timeout: Duration,
        stream: &UnixStream,
    ) -> Response {
        self.state().last_use = Instant::now();
        let Ok(passphrase) = std::str::from_utf8(passphrase.expose()) else {
            return Response::Error {
                kind: ErrorKind::WrongPassphrase,
                message: AgentError::WrongPassphrase(path).to_string(),
            };
        };
        // The first question is the file's own passphrase; later ones (an SSH key inside,
        // a plugin's PIN) go to the client's terminal, once per unlock.
        let first = Arc::new(Mutex::new(Some(SecretString::from(passphrase.to_owned()))));
        let secrets = Arc::new(SecretCache::default());
        let prompt: PassphrasePrompt = {
            let first = first.clone();
            let secrets = secrets.clone();
            Arc::new(move |description: &str| {
                let given = first.lock().ok().and_then(|mut f| f.take());
                given.or_else(|| secrets.get_or_ask(description))
            })
        };
        let started = Instant::now();
        let parsed = with_asker(stream, || {
            Identities::parse_with(&file, &path, &prompt, &self.options.allowed_plugins)
        });
        if let Ok(mut f) = first.lock() {
            f.take();
        }
        match parsed {
            Ok(identities) => {
                self.log(&format!(
                    "unlocked {} ({} identities, {} ms)",
                    path.display(),
                    identities.len(),
                    started.elapsed().as_millis()
                ));
                let recipients = identities
                    .recipients()
                    .iter()
                    .map(|r| r.key().to_owned())
                    .collect();
                let unlocked = Arc::new(Unlocked {
                    identities,
                    path,
                    file,
                    recipients,
                    secrets,
                });
                let mut state = self.state();
                state.forget(&unlocked.path);
                if state.held.len() >= MAX_HELD {
                    return protocol_error(&format!(
                        "{MAX_HELD} identities files are already unlocked; run coffer lock"
                    ));
                }
                let now = Instant::now();
                state.held.push(Held {
                    unlocked: unlocked.clone(),
                    last_use: now,
                    timeout,
                });
                state.last_use = now;
                // The latest unlock's timeout is the one in force (docs/BEHAVIOUR.md §4).
                state.exit_timeout = timeout;
                Response::Unlocked {
                    recipients: unlocked.recipients.clone(),
                }
            }
            Err(IdentityError::WrongPassphrase(p)) => {
                self.log("unlock refused: wrong passphrase");
                Response::Error {
                    kind: ErrorKind::WrongPassphrase,
                    message: AgentError::WrongPassphrase(p).to_string(),
                }
            }
            Err(e) => {
                self.log(&format!("unlock failed: {e}"));
                Response::Error {
                    kind: ErrorKind::Identity,
                    message: e.to_string(),
                }
            }
        }
    }

    fn status(&self) -> Status {
        let state = self.state();
        let now = Instant::now();
        let unlocked = state
            .held
            .iter()
            .map(|h| HeldStatus {
                path: h.unlocked.path.clone(),
                timeout_secs: h.timeout.as_secs(),
                idle_left_secs: h.left(now).as_secs(),
            })
            .collect();
        let idle_left = state
            .exit_timeout
            .saturating_sub(now.saturating_duration_since(state.last_use));
        Status {
            pid: crate::sys::pid(),
            version: self.options.version,
            coffer_version: env!("CARGO_PKG_VERSION").to_owned(),
            unlocked,
            timeout_secs: state.exit_timeout.as_secs(),
            idle_left_secs: idle_left.as_secs(),
        }
    }
}

fn protocol_error(what: &str) -> Response {
    Response::Error {
        kind: ErrorKind::Protocol,
        message: what.to_owned(),
    }
}

/// Answers a plugin may need more than once per unlock (a hardware key's PIN), asked on the
/// client's terminal the first time and kept, wiped, until the agent locks.
#[derive(Default)]
struct SecretCache {
    answers: Mutex<HashMap<String, SecretString>>,
}

impl SecretCache {
    fn get_or_ask(&self, description: &str) -> Option<SecretString> {
        // Held while asking, so parallel unwraps ask once, not once each.
        let mut answers = self.answers.lock().ok()?;
        if let Some(known) = answers.get(description) {
            return Some(SecretString::from(known.expose_secret().to_owned()));
        }
        let answer = ask_client(description)?;
        answers.insert(
            description.to_owned(),
            SecretString::from(answer.expose_secret().to_owned()),
        );
        Some(answer)
    }

    fn clear(&self) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.clear();
        }
    }
}

thread_local! {
    /// The connection whose request is being served on this thread: plugin callbacks run
    /// synchronously on it, so this is where their questions go.
    static ASKER: RefCell<Option<UnixStream>> = const { RefCell::new(None) };
}

fn with_asker<T>(stream: &UnixStream, work: impl FnOnce() -> T) -> T {
    ASKER.with(|a| *a.borrow_mut() = stream.try_clone().ok());
    let result = work();
    ASKER.with(|a| *a.borrow_mut() = None);
    result
}

/// Asks the client being served for a secret; `None` if it cannot answer.
fn ask_client(description: &str) -> Option<SecretString> {
    ASKER.with(|a| {
        let mut slot = a.borrow_mut();
        let stream = slot.as_mut()?;
        let ask = Response::Ask {
            description: description.to_owned(),
        };
        protocol::send(stream, &ask).ok()?;
        match protocol::receive::<Request>(stream).ok()? {
            Request::Answer { secret } => {
                let secret = secret?;
                let text = std::str::from_utf8(secret.expose()).ok()?;
                Some(SecretString::from(text.to_owned()))
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::identity::NewIdentity;
    use std::sync::mpsc;

    const PASSPHRASE: &str = "unit test passphrase";

    /// A fresh identities file protected with `passphrase`, at a work factor low enough for
    /// unit tests (the agent accepts any factor up to its maximum).
    fn protected_identities(passphrase: &str) -> Vec<u8> {
        let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
        recipient.set_work_factor(10);
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).unwrap();
        writer
            .write_all(NewIdentity::generate().file_text().as_bytes())
            .unwrap();
        writer.finish().unwrap();
        out
    }

    /// An agent serving on a thread, in a private temporary folder.
    struct TestAgent {
        _dir: tempfile::TempDir,
        socket: PathBuf,
        ended: mpsc::Receiver<Result<Outcome, AgentError>>,
        lines: Arc<Mutex<Vec<String>>>,
    }

    fn start(timeout: Duration) -> TestAgent {
        start_with(timeout, Limits::default())
    }

    fn start_with(timeout: Duration, limits: Limits) -> TestAgent {
        let dir = tempfile::tempdir().unwrap();
        // The agent makes its folder 0700, as it would under the runtime folder.
        let socket = dir.path().join("coffer").join("agent.sock");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log: Log = {
            let lines = lines.clone();
            Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_owned()))
        };
        let options = Options {
            socket: socket.clone(),
            limits,
            timeout,
            allowed_plugins: Vec::new(),
            version: protocol::VERSION,
            log,
        };
        let server = Server::bind(options)
            .unwrap()
            .expect("nothing serves a fresh folder");
        let (tx, ended) = mpsc::channel();
        std::thread::spawn(move || tx.send(server.serve()));
        TestAgent {
            _dir: dir,
            socket,
            ended,
            lines,
        }
    }

    impl TestAgent {
        /// Sends one request on a new connection, after the greeting.
        fn ask(&self, request: Request) -> Response {
            let mut stream = UnixStream::connect(&self.socket).unwrap();
            let hello = Request::Hello {
                version: protocol::VERSION,
            };
            protocol::send(&mut stream, &hello).unwrap();
            let Response::Hello { .. } = protocol::receive(&mut stream).unwrap() else {
                panic!("no Hello back");
            };
            protocol::send(&mut stream, &request).unwrap();
            protocol::receive(&mut stream).unwrap()
        }

        fn unlock(&self, file: &[u8], passphrase: &str) -> Response {
            self.unlock_at(
                "/test/identities",
                file,
                passphrase,
                Duration::from_secs(600),
            )
        }

        fn unlock_at(
            &self,
            path: &str,
            file: &[u8],
            passphrase: &str,
            timeout: Duration,
        ) -> Response {
            self.ask(Request::Unlock {
                identities: PathBuf::from(path),
                file: file.to_vec(),
                passphrase: SecretBytes::new(passphrase.as_bytes().to_vec()),
                timeout_secs: timeout.as_secs(),
            })
        }

        fn status(&self) -> Status {
            match self.ask(Request::Status) {
                Response::Status(s) => s,
                _ => panic!("no status"),
            }
        }

        /// The unlocked files, by path.
        fn held(&self) -> Vec<String> {
            let status = self.status();
            status
                .unlocked
                .iter()
                .map(|h| h.path.display().to_string())
                .collect()
        }

        fn is_unlocked(&self) -> bool {
            !self.status().unlocked.is_empty()
        }

        /// How the serve loop ended; fails if it still runs after `limit`.
        fn outcome(&self, limit: Duration) -> Outcome {
            match self.ended.recv_timeout(limit) {
                Ok(result) => result.unwrap(),
                Err(_) => panic!("the agent still serves after {limit:?}"),
            }
        }

        fn logged(&self, text: &str) -> bool {
            self.lines.lock().unwrap().iter().any(|l| l.contains(text))
        }
    }

    fn unlocked_recipients(response: Response) -> Vec<String> {
        match response {
            Response::Unlocked { recipients } => recipients,
            Response::Error { message, .. } => panic!("not unlocked: {message}"),
            _ => panic!("not unlocked"),
        }
    }

    fn held(path: &str, at: Instant, timeout: Duration) -> Held {
        let identities =
            Identities::parse_plain(NewIdentity::generate().file_text().as_bytes()).unwrap();
        Held {
            unlocked: Arc::new(Unlocked {
                identities,
                path: PathBuf::from(path),
                file: Vec::new(),
                recipients: Vec::new(),
                secrets: Arc::default(),
            }),
            last_use: at,
            timeout,
        }
    }

    #[test]
    fn the_idle_clock_locks_then_asks_to_exit() {
        let start = Instant::now();
        let timeout = Duration::from_secs(900);
        let mut state = State {
            held: vec![held("/test/identities", start, timeout)],
            last_use: start,
            exit_timeout: timeout,
            busy: 0,
        };
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(
            state.step_idle_clock(at(100)),
            IdleStep::Wait(Duration::from_secs(800))
        );
        assert_eq!(state.step_idle_clock(at(900)), IdleStep::Locked);
        assert!(state.held.is_empty());
        // Locking restarts the clock: another full timeout before it exits.
        assert_eq!(state.step_idle_clock(at(900)), IdleStep::Wait(timeout));
        assert_eq!(
            state.step_idle_clock(at(1799)),
            IdleStep::Wait(Duration::from_secs(1))
        );
        assert_eq!(state.step_idle_clock(at(1800)), IdleStep::Exit);
    }

    #[test]
    fn each_unlocked_file_keeps_its_own_clock() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut state = State {
            held: vec![
                held("/personal", start, Duration::from_secs(900)),
                held("/team", start, Duration::from_secs(60)),
            ],
            last_use: start,
            exit_timeout: Duration::from_secs(60),
            busy: 0,
        };
        // The shorter timeout is the next deadline; using the team file at 50 s moves it.
        assert_eq!(
            state.step_idle_clock(at(10)),
            IdleStep::Wait(Duration::from_secs(50))
        );
        assert!(state.use_held(Path::new("/team"), at(50)).is_some());
        assert_eq!(
            state.step_idle_clock(at(60)),
            IdleStep::Wait(Duration::from_secs(50))
        );
        assert_eq!(state.step_idle_clock(at(110)), IdleStep::Locked);
        let left: Vec<_> = state.held.iter().map(|h| h.unlocked.path.clone()).collect();
        assert_eq!(
            left,
            [PathBuf::from("/personal")],
            "only the team file locked"
        );
        // Using one file never restarts another's clock.
        assert_eq!(state.step_idle_clock(at(900)), IdleStep::Locked);
        assert!(state.held.is_empty());
        assert!(state.use_held(Path::new("/personal"), at(900)).is_none());
        assert_eq!(
            state.step_idle_clock(at(959)),
            IdleStep::Wait(Duration::from_secs(1))
        );
        assert_eq!(state.step_idle_clock(at(960)), IdleStep::Exit);
    }

    #[test]
    fn forgetting_says_whether_the_file_was_held() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut state = State {
            held: vec![
                held("/personal", start, minute),
                held("/team", start, minute),
            ],
            last_use: start,
            exit_timeout: minute,
            busy: 0,
        };
        assert!(state.forget(Path::new("/team")));
        assert!(!state.forget(Path::new("/team")), "forgotten already");
        assert!(!state.forget(Path::new("/elsewhere")));
        assert!(state.use_held(Path::new("/personal"), start).is_some());
        assert!(state.use_held(Path::new("/team"), start).is_none());
    }

    #[test]
    fn a_request_in_progress_keeps_the_agent_from_idling() {
        let start = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut state = State {
            held: Vec::new(),
            last_use: start,
            exit_timeout: timeout,
            busy: 1,
        };
        // A slow unlock (scrypt on a loaded machine) outlasts the timeout: no exit under it.
        let late = start + Duration::from_secs(60);
        assert_eq!(state.step_idle_clock(late), IdleStep::Wait(timeout));
        state.busy = 0;
        assert_eq!(state.step_idle_clock(late), IdleStep::Exit);
    }

    /// Whether the agent closed `stream` without answering (within a few seconds).
    fn closed_unanswered(stream: &mut UnixStream) -> bool {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0u8; 1];
        matches!(stream.read(&mut byte), Ok(0))
            || matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }

    fn hello(stream: &mut UnixStream) -> Response {
        let hello = Request::Hello {
            version: protocol::VERSION,
        };
        protocol::send(stream, &hello).unwrap();
        protocol::receive(stream).unwrap()
    }

    #[test]
    fn connections_past_the_limit_are_closed_and_the_rest_served() {
        let limits = Limits {
            connections: 3,
            ..Limits::default()
        };
        let agent = start_with(Duration::from_secs(600), limits);
        let mut held: Vec<UnixStream> = (0..3)
            .map(|_| {
                let mut s = UnixStream::connect(&agent.socket).unwrap();
                assert!(matches!(hello(&mut s), Response::Hello { .. }));
                s
            })
            .collect();
        let mut extra = UnixStream::connect(&agent.socket).unwrap();
        assert!(
            closed_unanswered(&mut extra),
            "a fourth connection was served"
        );
        held.pop();
        // A slot freed is a slot used again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = UnixStream::connect(&agent.socket).unwrap();
            let _ = protocol::send(
                &mut s,
                &Request::Hello {
                    version: protocol::VERSION,
                },
            );
            if protocol::receive::<Response>(&mut s).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the freed slot was never reused");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_frame_past_the_maximum_is_refused_without_being_read() {
        let agent = start(Duration::from_secs(600));
        let mut stream = UnixStream::connect(&agent.socket).unwrap();
        let len = u32::try_from(protocol::MAX_FRAME + 1).unwrap();
        stream.write_all(&len.to_be_bytes()).unwrap();
        assert!(closed_unanswered(&mut stream));
        assert!(!agent.is_unlocked(), "the agent still answers");
    }

    #[test]
    fn a_frame_that_trickles_in_is_cut_off() {
        let limits = Limits {
            frame_time: Duration::from_millis(300),
            ..Limits::default()
        };
        let agent = start_with(Duration::from_secs(600), limits);
        let mut stream = UnixStream::connect(&agent.socket).unwrap();
        // Announces 64 KiB, then sends a byte at a time, slower than the frame may take.
        stream.write_all(&(64u32 << 10).to_be_bytes()).unwrap();
        let started = Instant::now();
        let mut cut = false;
        while started.elapsed() < Duration::from_secs(5) {
            if stream.write_all(b"{").is_err() {
                cut = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            cut || closed_unanswered(&mut stream),
            "the trickle was never cut"
        );
        assert!(!agent.is_unlocked(), "the agent still answers");
    }

    #[test]
    fn a_silent_connection_is_closed_after_the_idle_limit() {
        let limits = Limits {
            idle_connection: Duration::from_millis(200),
            ..Limits::default()
        };
        let agent = start_with(Duration::from_secs(600), limits);
        let mut stream = UnixStream::connect(&agent.socket).unwrap();
        assert!(matches!(hello(&mut stream), Response::Hello { .. }));
        assert!(closed_unanswered(&mut stream));
    }

    #[test]
    fn it_locks_after_the_timeout_and_then_ends_idle() {
        // Whole seconds: the unlock's timeout travels in seconds.
        let timeout = Duration::from_secs(1);
        let agent = start(Duration::from_secs(600));
        let file = protected_identities(PASSPHRASE);
        // Taken before the unlock: the clock starts no earlier than this.
        let unlocked_at = Instant::now();
        unlocked_recipients(agent.unlock_at("/test/identities", &file, PASSPHRASE, timeout));
        assert!(agent.is_unlocked());
        while agent.is_unlocked() {
            assert!(
                unlocked_at.elapsed() < Duration::from_secs(5),
                "never locked"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(unlocked_at.elapsed() >= timeout, "locked too early");
        assert!(agent.logged("idle timeout: locked"));
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Idle);
        assert!(unlocked_at.elapsed() >= timeout * 2, "exited too early");
        assert!(!agent.socket.exists(), "the idle agent removes its socket");
    }

    #[test]
    fn stop_ends_serving_and_removes_the_socket() {
        let agent = start(Duration::from_secs(60));
        let Response::Ok = agent.ask(Request::Stop) else {
            panic!("stop not acknowledged");
        };
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
        assert!(!agent.socket.exists());
    }

    #[test]
    fn unlocking_twice_answers_the_same_identities() {
        let agent = start(Duration::from_secs(60));
        let file = protected_identities(PASSPHRASE);
        let first = unlocked_recipients(agent.unlock(&file, PASSPHRASE));
        let second = unlocked_recipients(agent.unlock(&file, PASSPHRASE));
        assert_eq!(first.len(), 1);
        assert_eq!(first, second);
        let check = |file: &[u8]| {
            agent.ask(Request::Check {
                identities: PathBuf::from("/test/identities"),
                file: file.to_vec(),
            })
        };
        assert!(matches!(check(&file), Response::Unlocked { recipients } if recipients == first));
        // Another file at the same path (rewritten since) is not what the agent holds.
        let other = protected_identities(PASSPHRASE);
        assert!(matches!(check(&other), Response::Locked));
        agent.ask(Request::Stop);
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
    }

    #[test]
    fn a_wrong_passphrase_is_refused_and_leaves_it_locked() {
        let agent = start(Duration::from_secs(60));
        let file = protected_identities(PASSPHRASE);
        let Response::Error { kind, message } = agent.unlock(&file, "not the passphrase") else {
            panic!("a wrong passphrase unlocked");
        };
        assert_eq!(kind, ErrorKind::WrongPassphrase);
        assert!(!message.contains("not the passphrase"), "{message}");
        assert!(!agent.is_unlocked());
        let unwrap = agent.ask(Request::Unwrap {
            identities: vec![PathBuf::from("/test/identities")],
            stanzas: Vec::new(),
        });
        assert!(matches!(
            unwrap,
            Response::Error {
                kind: ErrorKind::Locked,
                ..
            }
        ));
        unlocked_recipients(agent.unlock(&file, PASSPHRASE));
        assert!(agent.is_unlocked());
        agent.ask(Request::Stop);
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
    }

    /// The stanzas of a header encrypted to `recipient`.
    fn stanzas_for(recipient: &str) -> Vec<WireStanza> {
        let recipient: age::x25519::Recipient = recipient.parse().unwrap();
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let mut out = Vec::new();
        encryptor.wrap_output(&mut out).unwrap().finish().unwrap();
        // age hands an identity the header's stanzas: one that keeps them and matches nothing.
        struct Keep(Mutex<Vec<WireStanza>>);
        impl age::Identity for Keep {
            fn unwrap_stanza(
                &self,
                stanza: &age_core::format::Stanza,
            ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
                self.0.lock().unwrap().push(stanza.into());
                None
            }
        }
        let keep = Keep(Mutex::default());
        let decryptor = age::Decryptor::new(&out[..]).unwrap();
        assert!(decryptor.decrypt(std::iter::once(&keep as _)).is_err());
        keep.0.into_inner().unwrap()
    }

    fn unwrap(agent: &TestAgent, paths: &[&str], stanzas: Vec<WireStanza>) -> Response {
        agent.ask(Request::Unwrap {
            identities: paths.iter().map(PathBuf::from).collect(),
            stanzas,
        })
    }

    #[test]
    fn two_identities_files_stay_unlocked_side_by_side() {
        let agent = start(Duration::from_secs(600));
        let (personal, team) = (protected_identities("one"), protected_identities("two"));
        let mine = unlocked_recipients(agent.unlock_at(
            "/personal",
            &personal,
            "one",
            Duration::from_secs(600),
        ));
        let ours =
            unlocked_recipients(agent.unlock_at("/team", &team, "two", Duration::from_secs(60)));
        assert_eq!(
            agent.held(),
            ["/personal", "/team"],
            "the second unlock locked the first"
        );
        let status = agent.status();
        assert_eq!(
            status.unlocked[1].timeout_secs, 60,
            "each keeps the timeout it came with"
        );
        assert_eq!(
            status.timeout_secs, 60,
            "the latest unlock's timeout is in force"
        );

        // Each file answers for its own key; the first named must be unlocked, the rest are
        // a fallback.
        assert!(matches!(
            unwrap(&agent, &["/team"], stanzas_for(&ours[0])),
            Response::FileKey(_)
        ));
        assert!(matches!(
            unwrap(&agent, &["/team"], stanzas_for(&mine[0])),
            Response::NoMatch
        ));
        assert!(matches!(
            unwrap(&agent, &["/team", "/personal"], stanzas_for(&mine[0])),
            Response::FileKey(_)
        ));
        assert!(matches!(
            unwrap(&agent, &["/elsewhere", "/personal"], stanzas_for(&mine[0])),
            Response::Error {
                kind: ErrorKind::Locked,
                ..
            }
        ));

        // Forgetting one leaves the other; lock forgets all.
        assert!(matches!(
            agent.ask(Request::Forget {
                identities: "/team".into()
            }),
            Response::Ok
        ));
        assert_eq!(agent.held(), ["/personal"]);
        assert!(matches!(
            unwrap(&agent, &["/team"], stanzas_for(&ours[0])),
            Response::Error {
                kind: ErrorKind::Locked,
                ..
            }
        ));
        unlocked_recipients(agent.unlock_at("/team", &team, "two", Duration::from_secs(60)));
        assert!(matches!(agent.ask(Request::Lock), Response::Ok));
        assert!(agent.held().is_empty());
        assert!(
            agent.logged("locked 2 on request"),
            "the log says what was locked"
        );
        assert!(matches!(agent.ask(Request::Lock), Response::Ok));
        assert!(!agent.logged("locked 0"), "locking nothing logs nothing");
        agent.ask(Request::Stop);
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
    }

    #[test]
    fn unlocking_a_file_again_replaces_it_in_place() {
        let agent = start(Duration::from_secs(600));
        let first = protected_identities(PASSPHRASE);
        let rewritten = protected_identities(PASSPHRASE);
        unlocked_recipients(agent.unlock(&first, PASSPHRASE));
        let now = unlocked_recipients(agent.unlock(&rewritten, PASSPHRASE));
        assert_eq!(agent.held(), ["/test/identities"]);
        let check = agent.ask(Request::Check {
            identities: PathBuf::from("/test/identities"),
            file: rewritten.clone(),
        });
        assert!(matches!(check, Response::Unlocked { recipients } if recipients == now));
        agent.ask(Request::Stop);
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
    }

    #[test]
    fn a_removed_socket_ends_it_at_once() {
        // Far from any idle deadline: only the folder watch can end it in time.
        let agent = start(Duration::from_secs(600));
        std::fs::remove_file(&agent.socket).unwrap();
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::SocketLost);
    }

    #[test]
    fn a_replaced_socket_ends_it_and_stays_in_place() {
        let agent = start(Duration::from_secs(600));
        std::fs::remove_file(&agent.socket).unwrap();
        let _other = UnixListener::bind(&agent.socket).unwrap();
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::SocketLost);
        assert!(
            agent.socket.exists(),
            "the other agent's socket is left alone"
        );
    }

    #[test]
    fn a_second_agent_finds_the_first_running() {
        let agent = start(Duration::from_secs(60));
        let options = Options {
            socket: agent.socket.clone(),
            limits: Limits::default(),
            timeout: Duration::from_secs(60),
            allowed_plugins: Vec::new(),
            version: protocol::VERSION,
            log: Arc::new(|_: &str| {}),
        };
        assert!(Server::bind(options).unwrap().is_none());
        agent.ask(Request::Stop);
        assert_eq!(agent.outcome(Duration::from_secs(5)), Outcome::Stopped);
    }
}
