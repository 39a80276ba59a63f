//! The agent process: the only place identities live once unlocked.
//!
//! It listens on a socket in a private folder, serves only peers of its own uid (checked with
//! `SO_PEERCRED` on every connection), and answers one thing about identities: the file key of
//! a header's stanzas. Identities stay here, in zeroizing types, in locked memory. It locks
//! after `timeout` without use, and exits after another `timeout` locked, or as soon as its
//! socket is removed or taken over by another agent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use age::secrecy::{ExposeSecret, SecretString};

use super::protocol::{self, ErrorKind, Request, Response, SecretBytes, Status};
use super::{AgentError, prepare_socket_dir};
use crate::crypto::identity::{Identities, IdentityError, PassphrasePrompt};

/// Receives the agent's log lines (never secrets: only events, sizes, tags and errors).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Options {
    pub socket: PathBuf,
    pub timeout: Duration,
    /// Plugin names the local config allows (`[plugins] allow`).
    pub allowed_plugins: Vec<String>,
    /// The protocol version to announce: [`protocol::VERSION`], except in tests of the restart path.
    pub version: u32,
    pub log: Log,
}

/// How [`run`] ended without error.
pub enum Outcome {
    /// Another agent already serves the socket.
    AlreadyRunning,
}

/// Runs the agent: binds the socket, calls `ready` once clients can connect, then serves
/// until it exits the process (idle, `coffer agent stop`, socket taken over). Returns only
/// if it cannot start, or finds another agent already serving.
pub fn run(options: Options, ready: impl FnOnce()) -> Result<Outcome, AgentError> {
    let log = options.log.clone();
    match crate::sys::lock_memory() {
        Ok(how) => log(&format!("memory locked ({how:?})")),
        Err(e) => log(&format!(
            "warning: cannot lock memory ({e}); identities may be swapped out. \
             Raise the locked-memory limit (ulimit -l) to at least 1 GiB"
        )),
    }
    prepare_socket_dir(&options.socket)?;
    let Some((listener, lock)) = bind_exclusively(&options.socket, &log)? else {
        ready();
        return Ok(Outcome::AlreadyRunning);
    };
    let inode = std::fs::metadata(&options.socket)?.ino();
    log(&format!(
        "listening on {} (pid {}, protocol {}, timeout {}s)",
        options.socket.display(),
        crate::sys::pid(),
        options.version,
        options.timeout.as_secs()
    ));
    let agent = Arc::new(Agent {
        state: Mutex::new(State {
            unlocked: None,
            last_use: Instant::now(),
        }),
        options,
        _lock: lock,
    });
    ready();
    {
        let agent = agent.clone();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || agent.watch(inode))?;
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let agent = agent.clone();
        let spawned = std::thread::Builder::new()
            .name("connection".into())
            .stack_size(1 << 20)
            .spawn(move || agent.serve(stream));
        if let Err(e) = spawned {
            log(&format!("cannot serve a connection: {e}"));
        }
    }
    Ok(Outcome::AlreadyRunning)
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

struct Agent {
    state: Mutex<State>,
    options: Options,
    /// Held for the agent's life; the kernel releases it however the process ends.
    _lock: std::fs::File,
}

struct State {
    unlocked: Option<Arc<Unlocked>>,
    last_use: Instant,
}

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

    /// Locks when idle, exits when locked and idle or when the socket is no longer ours.
    fn watch(&self, inode: u64) {
        let timeout = self.options.timeout;
        loop {
            std::thread::sleep(Duration::from_millis(200).min(timeout / 4));
            let ours =
                std::fs::symlink_metadata(&self.options.socket).is_ok_and(|m| m.ino() == inode);
            if !ours {
                self.log("the socket was removed or replaced; exiting");
                std::process::exit(0);
            }
            let mut state = self.state();
            if state.last_use.elapsed() < timeout {
                continue;
            }
            if state.unlocked.take().is_some() {
                state.last_use = Instant::now();
                self.log("idle timeout: locked");
            } else {
                self.log("locked and idle: exiting");
                let _ = std::fs::remove_file(&self.options.socket);
                std::process::exit(0);
            }
        }
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
        match protocol::receive::<Request>(&mut stream) {
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
            let request = match protocol::receive::<Request>(&mut stream) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
                Err(e) => {
                    self.log(&format!("bad message: {e}"));
                    return;
                }
            };
            let stop = matches!(request, Request::Stop);
            let response = self.handle(request, &stream);
            if protocol::send(&mut stream, &response).is_err() {
                return;
            }
            if stop {
                self.log("stop requested: exiting");
                let _ = std::fs::remove_file(&self.options.socket);
                std::process::exit(0);
            }
        }
    }

    fn handle(&self, request: Request, stream: &UnixStream) -> Response {
        match request {
            Request::Hello { .. } => protocol_error("Hello twice"),
            Request::Answer { .. } => protocol_error("an answer nobody asked for"),
            Request::Status => Response::Status(self.status()),
            Request::Check { identities, file } => {
                let mut state = self.state();
                state.last_use = Instant::now();
                match &state.unlocked {
                    Some(u) if u.path == identities && u.file == file => Response::Unlocked {
                        recipients: u.recipients.clone(),
                    },
                    _ => Response::Locked,
                }
            }
            Request::Unlock {
                identities,
                file,
                passphrase,
            } => self.unlock(identities, file, passphrase, stream),
            Request::Unwrap { stanzas } => {
                let unlocked = {
                    let mut state = self.state();
                    state.last_use = Instant::now();
                    state.unlocked.clone()
                };
                let Some(unlocked) = unlocked else {
                    return Response::Error {
                        kind: ErrorKind::Locked,
                        message: AgentError::Locked.to_string(),
                    };
                };
                let tags: Vec<&str> = stanzas.iter().map(|s| s.tag.as_str()).collect();
                self.log(&format!("unwrap: {} stanza(s) {tags:?}", stanzas.len()));
                let stanzas: Vec<age_core::format::Stanza> =
                    stanzas.into_iter().map(Into::into).collect();
                let result = with_asker(stream, || {
                    unlocked
                        .identities
                        .as_age()
                        .find_map(|id| id.unwrap_stanzas(&stanzas))
                });
                match result {
                    Some(Ok(key)) => {
                        Response::FileKey(SecretBytes::new(key.expose_secret().to_vec()))
                    }
                    None => Response::NoMatch,
                    Some(Err(e)) => {
                        // A wrong PIN must be asked again, not replayed.
                        unlocked.secrets.clear();
                        self.log(&format!("unwrap failed: {e}"));
                        Response::Error {
                            kind: ErrorKind::Identity,
                            message: e
                                .to_string()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" "),
                        }
                    }
                }
            }
            Request::Lock => {
                let mut state = self.state();
                if state.unlocked.take().is_some() {
                    self.log("locked on request");
                }
                state.last_use = Instant::now();
                Response::Ok
            }
            Request::Stop => Response::Ok,
        }
    }

    fn unlock(
        &self,
        path: PathBuf,
        file: Vec<u8>,
        passphrase: SecretBytes,
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
                let mut state = self.state();
                state.unlocked = Some(Arc::new(Unlocked {
                    identities,
                    path,
                    file,
                    recipients,
                    secrets,
                }));
                state.last_use = Instant::now();
                match &state.unlocked {
                    Some(u) => Response::Unlocked {
                        recipients: u.recipients.clone(),
                    },
                    None => Response::Locked,
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
        let idle_left = self
            .options
            .timeout
            .saturating_sub(state.last_use.elapsed());
        Status {
            pid: crate::sys::pid(),
            version: self.options.version,
            coffer_version: env!("CARGO_PKG_VERSION").to_owned(),
            unlocked: state.unlocked.as_ref().map(|u| u.path.clone()),
            timeout_secs: self.options.timeout.as_secs(),
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
