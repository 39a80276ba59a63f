//! Process hygiene (docs/BEHAVIOUR.md §7) and the few system calls coffer needs, through
//! `rustix`; [`private`] owns private files and folders, [`text`] terminal-safe text.

pub mod private;
pub mod text;

use std::io::Read;
use std::path::PathBuf;

use rustix::process::{DumpableBehavior, Resource, Rlimit};
use zeroize::Zeroizing;

/// Called first thing in every coffer process: no core dumps, no ptrace attachment by other
/// processes of the same user, and private file modes for anything we create.
pub fn harden_process() {
    // Failures are ignored on purpose: hardening must never stop the user from reaching
    // their secrets, and the calls only fail on exotic kernels.
    let _ = rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable);
    let _ = rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Reads a passphrase (one line) from an inherited file descriptor, such as the one
/// `--passphrase-fd N` names. Goes through `/proc/self/fd` so no raw descriptor is adopted.
pub fn read_fd_line(fd: u32) -> std::io::Result<Zeroizing<String>> {
    let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
    let mut file = std::fs::File::open(path)?;
    let mut buf = Zeroizing::new(Vec::new());
    file.read_to_end(&mut buf)?;
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let text = std::str::from_utf8(line).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "passphrase is not UTF-8")
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Whether `path` is on a RAM-backed filesystem (tmpfs or ramfs), where `edit` may put
/// plaintext for the editor.
pub fn is_ram_fs(path: &std::path::Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    match rustix::fs::statfs(path) {
        Ok(st) => {
            #[allow(clippy::unnecessary_cast)] // f_type's width differs between platforms
            let kind = st.f_type as i64;
            kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
        }
        Err(_) => false,
    }
}

/// The real user id, for checks on who owns a socket or folder.
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// How much of the agent's memory [`lock_memory`] could lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLock {
    /// Everything, now and later (`MCL_CURRENT | MCL_FUTURE`).
    All,
    /// What is mapped now: the locked-memory limit is too small to lock future mappings
    /// without making allocations fail.
    CurrentOnly,
}

/// Locks the process's memory so identities are never swapped out (docs/BEHAVIOUR.md §7). Pages are locked
/// as they are touched (`MCL_ONFAULT`), so reserved but unused stacks cost nothing.
pub fn lock_memory() -> std::io::Result<MemoryLock> {
    use rustix::mm::{MlockAllFlags, mlockall};
    let limit = rustix::process::getrlimit(Resource::Memlock);
    let _ = rustix::process::setrlimit(
        Resource::Memlock,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    // Root (CAP_IPC_LOCK) is not bound by the limit; otherwise only a large limit leaves room
    // for locking every future mapping (the heap, thread stacks).
    let roomy = rustix::process::geteuid().is_root() || limit.maximum.is_none_or(|m| m >= 1 << 30);
    if roomy {
        mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT)?;
        Ok(MemoryLock::All)
    } else {
        mlockall(MlockAllFlags::CURRENT | MlockAllFlags::ONFAULT)?;
        Ok(MemoryLock::CurrentOnly)
    }
}

/// The uid and pid of the process at the other end of a Unix socket (`SO_PEERCRED`).
pub fn peer_credentials(stream: &std::os::unix::net::UnixStream) -> std::io::Result<(u32, u32)> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok((
        cred.uid.as_raw(),
        cred.pid.as_raw_nonzero().get().unsigned_abs(),
    ))
}

/// Asks process `pid` to stop (SIGTERM).
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::kill_process(
        pid,
        rustix::process::Signal::TERM,
    )?)
}

/// Leaves the terminal's session, so the agent outlives the shell that started it.
pub fn detach_session() {
    let _ = rustix::process::setsid();
}

/// Takes an exclusive lock on `file` without waiting; `false` if another process holds it.
pub fn try_lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// The most coffer reads of an input it is handed (an env file, a template, standard input):
/// far above any real one, and an endless input (`/dev/zero`) stops here.
pub const MAX_INPUT_SIZE: u64 = 16 << 20;

/// Reads `input` whole into zeroizing memory, failing (with `ErrorKind::FileTooLarge`) once
/// it passes `limit` bytes instead of reading on.
pub fn read_at_most(input: impl Read, limit: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}
