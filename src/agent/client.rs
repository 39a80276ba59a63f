//! The client side: what commands use to reach the agent.
//!
//! [`load_identities`] is the vault's identity source: an unprotected identities file loads
//! in-process as before; a passphrase-protected one is unlocked in the agent (asking once)
//! and becomes an [`AgentIdentity`], which sends each file's header stanzas to the agent and
//! gets the file key back. Before anything is sent, the socket's folder must be private and
//! ours, and the process listening must run as our uid.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};

use super::AgentError;
use super::protocol::{self, ErrorKind, Request, Response, SecretBytes, Status, VERSION};
use crate::config::{Config, Paths};
use crate::crypto::identity::{
    self, Identities, IdentityError, PassphrasePrompt, RemoteIdentityError,
};
use crate::crypto::recipients::Recipient;

/// Starts an agent and returns once it is ready for connections (the command line re-runs
/// itself as `coffer agent --daemon`).
pub type Launcher = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// How commands reach the agent.
#[derive(Clone)]
pub struct ClientOptions {
    pub socket: PathBuf,
    /// `false` with `--no-agent`: protected identities are decrypted in-process.
    pub use_agent: bool,
    pub launch: Launcher,
    /// Identities files the agent tries after the store's own when they are already unlocked
    /// there (the main identities, for a mount with its own): never asked for.
    pub also_try: Vec<PathBuf>,
}

/// One connection to an agent that answered `Hello` with our protocol version.
pub struct Connection {
    stream: UnixStream,
    pid: u32,
}

/// What is at the socket.
enum Found {
    Agent(Connection),
    /// An agent of another protocol version, with its pid.
    OtherVersion(u32),
    Nothing,
}

impl Connection {
    /// Connects to a running agent, if there is one (no start).
    pub fn open(socket: &Path) -> Result<Option<Self>, AgentError> {
        match find(socket)? {
            Found::Agent(c) => Ok(Some(c)),
            Found::OtherVersion(_) | Found::Nothing => Ok(None),
        }
    }

    /// Connects to the agent, starting it if none runs and restarting one of another version.
    pub fn open_or_start(socket: &Path, launch: &Launcher) -> Result<Self, AgentError> {
        for _ in 0..3 {
            match find(socket)? {
                Found::Agent(c) => return Ok(c),
                Found::OtherVersion(pid) => {
                    // Its protocol may differ in everything but Hello: stop it by signal.
                    crate::sys::terminate(pid).map_err(|e| {
                        AgentError::Start(format!(
                            "an agent of another version (pid {pid}) runs and cannot be stopped: {e}"
                        ))
                    })?;
                    wait_until_closed(socket);
                }
                Found::Nothing => {}
            }
            super::prepare_socket_dir(socket)?;
            launch().map_err(|e| AgentError::Start(e.to_string()))?;
        }
        Err(AgentError::Start("it did not answer after starting".into()))
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn request(&mut self, request: &Request) -> Result<Response, AgentError> {
        protocol::send(&mut self.stream, request).map_err(gone)?;
        protocol::receive(&mut self.stream).map_err(gone)
    }

    pub fn status(&mut self) -> Result<Status, AgentError> {
        match self.request(&Request::Status)? {
            Response::Status(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// The public keys of the unlocked identities if the agent holds this identities file.
    pub fn check(&mut self, path: &Path, file: &[u8]) -> Result<Option<Vec<String>>, AgentError> {
        let request = Request::Check {
            identities: path.to_owned(),
            file: file.to_vec(),
        };
        match self.request(&request)? {
            Response::Unlocked { recipients } => Ok(Some(recipients)),
            Response::Locked => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Hands the identities file and its passphrase to the agent, to keep until `timeout`
    /// passes without use; returns the public keys.
    pub fn unlock(
        &mut self,
        path: &Path,
        file: &[u8],
        passphrase: &age::secrecy::SecretString,
        timeout: Duration,
        prompt: &PassphrasePrompt,
    ) -> Result<Vec<String>, AgentError> {
        let request = Request::Unlock {
            identities: path.to_owned(),
            file: file.to_vec(),
            passphrase: SecretBytes::new(passphrase.expose_secret().as_bytes().to_vec()),
            timeout_secs: timeout.as_secs(),
        };
        protocol::send(&mut self.stream, &request).map_err(gone)?;
        match self.answer_questions(prompt)? {
            Response::Unlocked { recipients } => Ok(recipients),
            other => Err(unexpected(other)),
        }
    }

    /// Forgets every unlocked identities file.
    pub fn lock(&mut self) -> Result<(), AgentError> {
        match self.request(&Request::Lock)? {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Forgets one identities file, keeping the others unlocked.
    pub fn forget(&mut self, path: &Path) -> Result<(), AgentError> {
        let request = Request::Forget {
            identities: path.to_owned(),
        };
        match self.request(&request)? {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    pub fn stop(&mut self) -> Result<(), AgentError> {
        match self.request(&Request::Stop) {
            Ok(Response::Ok) | Err(AgentError::Gone) => Ok(()),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        }
    }

    /// Asks the agent to unwrap one header's stanzas with the identities of `paths` (the
    /// first must be unlocked); `None` if no identity matches.
    fn unwrap(
        &mut self,
        paths: &[PathBuf],
        stanzas: &[Stanza],
        prompt: &PassphrasePrompt,
    ) -> Result<Option<FileKey>, AgentError> {
        let request = Request::Unwrap {
            identities: paths.to_vec(),
            stanzas: stanzas.iter().map(Into::into).collect(),
        };
        protocol::send(&mut self.stream, &request).map_err(gone)?;
        match self.answer_questions(prompt)? {
            Response::FileKey(bytes) => {
                let key = FileKey::try_init_with_mut(|key| {
                    if bytes.expose().len() == key.len() {
                        key.copy_from_slice(bytes.expose());
                        Ok(())
                    } else {
                        Err(AgentError::Refused("a file key of the wrong size".into()))
                    }
                })?;
                Ok(Some(key))
            }
            Response::NoMatch => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Reads the reply to a request, answering the agent's questions (a plugin's PIN) on the
    /// way with `prompt`.
    fn answer_questions(&mut self, prompt: &PassphrasePrompt) -> Result<Response, AgentError> {
        loop {
            match protocol::receive(&mut self.stream).map_err(gone)? {
                Response::Ask { description } => {
                    let secret = prompt(&description)
                        .map(|s| SecretBytes::new(s.expose_secret().as_bytes().to_vec()));
                    protocol::send(&mut self.stream, &Request::Answer { secret }).map_err(gone)?;
                }
                Response::Error { kind, message } => {
                    return Err(match kind {
                        ErrorKind::Locked => AgentError::Locked,
                        ErrorKind::WrongPassphrase => AgentError::WrongPassphrase(PathBuf::new()),
                        ErrorKind::Identity | ErrorKind::Protocol => AgentError::Refused(message),
                    });
                }
                other => return Ok(other),
            }
        }
    }
}

fn gone(_: io::Error) -> AgentError {
    AgentError::Gone
}

fn unexpected(response: Response) -> AgentError {
    let what = match response {
        Response::Error { message, .. } => message,
        _ => "an unexpected answer".to_owned(),
    };
    AgentError::Refused(what)
}

/// Looks at the socket: checks that its folder is private and ours and that the agent runs
/// as our uid, then says `Hello`.
fn find(socket: &Path) -> Result<Found, AgentError> {
    let dir = socket.parent().unwrap_or(Path::new("/"));
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        _ => crate::sys::private::check_private_dir(dir).map_err(AgentError::UnsafeDir)?,
    }
    match std::fs::symlink_metadata(socket) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(e.into()),
        Ok(meta) if meta.uid() != crate::sys::uid() => {
            return Err(AgentError::ForeignAgent(socket.to_owned()));
        }
        Ok(_) => {}
    }
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        // A socket file with no agent behind it: left by one that crashed.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            return Ok(Found::Nothing);
        }
        Err(e) => return Err(e.into()),
    };
    let (uid, pid) = crate::sys::peer_credentials(&stream)?;
    if uid != crate::sys::uid() {
        return Err(AgentError::ForeignAgent(socket.to_owned()));
    }
    protocol::send(&mut stream, &Request::Hello { version: VERSION }).map_err(gone)?;
    match protocol::receive::<Response>(&mut stream) {
        Ok(Response::Hello { version, .. }) if version == VERSION => {
            Ok(Found::Agent(Connection { stream, pid }))
        }
        Ok(Response::Hello { .. }) => Ok(Found::OtherVersion(pid)),
        // Closed without a Hello we understand: a different protocol altogether.
        Ok(_) | Err(_) => Ok(Found::OtherVersion(pid)),
    }
}

/// Waits (briefly) until nothing answers at the socket any more.
fn wait_until_closed(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && UnixStream::connect(socket).is_ok() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The vault's identity source. See the module documentation.
pub fn load_identities(
    paths: &Paths,
    config: &Config,
    prompt: &PassphrasePrompt,
    options: &ClientOptions,
) -> Result<Identities, IdentityError> {
    let path = &paths.identities;
    let file = identity::read_file(path)?;
    let allowed = &config.plugins.allow;
    if !identity::is_protected(&file) || !options.use_agent {
        return Identities::parse_with(&file, path, prompt, allowed);
    }
    // Without an agent (it cannot start), the command asks and works in-process (docs/BEHAVIOUR.md §4).
    let Ok(mut conn) = Connection::open_or_start(&options.socket, &options.launch) else {
        return Identities::parse_with(&file, path, prompt, allowed);
    };
    let recipients = match conn.check(path, &file)? {
        Some(recipients) => recipients,
        None => {
            let timeout = super::parse_timeout(config.agent.timeout.as_ref())?;
            let passphrase =
                prompt(&format!("Passphrase for {}", path.display())).ok_or(AgentError::Locked)?;
            unlock_with(&mut conn, path, &file, &passphrase, timeout, prompt)?
        }
    };
    let publics = recipients
        .iter()
        .filter_map(|r| Recipient::parse(r).ok())
        .collect();
    let mut paths = vec![path.clone()];
    paths.extend(options.also_try.iter().filter(|p| *p != path).cloned());
    let identity = AgentIdentity {
        socket: options.socket.clone(),
        paths,
        pool: Mutex::new(vec![conn]),
        prompt: prompt.clone(),
    };
    Ok(Identities::remote(Box::new(identity), publics))
}

/// Unlocks, turning the agent's refusal of the passphrase into the usual error.
pub fn unlock_with(
    conn: &mut Connection,
    path: &Path,
    file: &[u8],
    passphrase: &age::secrecy::SecretString,
    timeout: Duration,
    prompt: &PassphrasePrompt,
) -> Result<Vec<String>, IdentityError> {
    match conn.unlock(path, file, passphrase, timeout, prompt) {
        Ok(recipients) => Ok(recipients),
        Err(AgentError::WrongPassphrase(_)) => Err(IdentityError::WrongPassphrase(path.to_owned())),
        Err(AgentError::Refused(message)) => Err(IdentityError::Invalid(message)),
        Err(e) => Err(e.into()),
    }
}

/// An identity held by the agent. Bulk commands decrypt in parallel: each worker takes a
/// connection from a small pool (opening one if none is free), so the agent unwraps in
/// parallel too.
pub struct AgentIdentity {
    socket: PathBuf,
    /// The identities files the agent tries, the store's own first.
    paths: Vec<PathBuf>,
    pool: Mutex<Vec<Connection>>,
    prompt: PassphrasePrompt,
}

impl AgentIdentity {
    fn unwrap_on_new(
        &self,
        stanzas: &[Stanza],
    ) -> Result<(Connection, Option<FileKey>), AgentError> {
        // The agent that answered at the start is gone (or replaced): say so.
        let mut conn = Connection::open(&self.socket)?.ok_or(AgentError::Gone)?;
        let key = conn.unwrap(&self.paths, stanzas, &self.prompt)?;
        Ok((conn, key))
    }

    fn try_unwrap(&self, stanzas: &[Stanza]) -> Result<Option<FileKey>, AgentError> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let (conn, key) = match pooled {
            Some(mut conn) => match conn.unwrap(&self.paths, stanzas, &self.prompt) {
                Ok(key) => (conn, key),
                // The agent closes connections left idle: a pooled one may be gone. Once
                // more, on a new connection.
                Err(AgentError::Io(_) | AgentError::Gone) => self.unwrap_on_new(stanzas)?,
                Err(e) => return Err(e),
            },
            None => self.unwrap_on_new(stanzas)?,
        };
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(conn);
        }
        Ok(key)
    }
}

impl age::Identity for AgentIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        match self.try_unwrap(stanzas) {
            Ok(Some(key)) => Some(Ok(key)),
            Ok(None) => None,
            Err(e) => Some(Err(age::DecryptError::Io(io::Error::other(
                RemoteIdentityError(Box::new(e)),
            )))),
        }
    }
}
