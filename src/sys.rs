//! Process hygiene (SPEC §7) and the few system calls coffer needs, through `rustix`.

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
