//! The access log: a hash-chained JSON-lines record of every operation (docs/BEHAVIOUR.md §6).
//!
//! Each record names the time, user, host, device, operation, secret name and outcome (never a
//! value, nor a hash of one) and carries `prev`, the SHA-256 of the previous line, so an edit,
//! removal, reordering or insertion breaks the chain where it happened. A small head file
//! beside the log keeps the record count, the last line's hash and the log's size: an append
//! reads only the head (never the whole log), and a truncated tail shows up as a head that
//! points past the end. Appends are serialized with `flock` on the log itself and are not
//! synced to disk one by one (the log must stay cheap next to `show`).
//!
//! What this proves, and what not: the chain is keyless, so someone who can write the file can
//! rewrite all of it consistently (head included), and deleting log and head together leaves
//! nothing to compare. It catches casual or partial tampering and accidents; in shared mode the
//! team's git history is the stronger witness. Anyone holding an identity can decrypt a file
//! without coffer: reads are recorded, not enforced.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{MetaDir, Storage, StoreError};
use crate::sys::private::{self, PrivateError};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The log file under the data dir (local mode).
pub const LOCAL_LOG: &str = "access.log";
/// The file under the data dir that names this device.
const DEVICE_FILE: &str = "device";
const HEAD_SUFFIX: &str = ".head";
/// The head file's fixed size (JSON padded with spaces, then a newline).
const HEAD_SIZE: usize = 160;
const SHARED_SUFFIX: &str = ".jsonl";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("access log {path}: {reason}")]
    Io { path: PathBuf, reason: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] PrivateError),
    #[error("the device id in {0} is not valid (expected lowercase letters, digits and '-')")]
    BadDevice(PathBuf),
}

type Result<T, E = LogError> = std::result::Result<T, E>;

/// Where the shared logs live in a store (`.coffer/log`), for committing them.
pub fn shared_log_dir(store: &dyn Storage) -> PathBuf {
    MetaDir::Log
        .components()
        .iter()
        .fold(store.root().to_owned(), |p, c| p.join(c))
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        })
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    pub host: String,
    pub device: String,
    /// The subcommand (`show`, `insert`, …).
    pub op: String,
    /// The secret (or folder) the operation was about, if any.
    pub name: Option<String>,
    pub outcome: Outcome,
    /// 1 for the first record of this log, then one more each time: a gap shows a removal.
    pub seq: u64,
    /// SHA-256 (hex) of the previous line, [`GENESIS`] for the first.
    pub prev: String,
}

impl Record {
    /// The record's time, for sorting and filtering.
    pub fn timestamp(&self) -> Option<jiff::Timestamp> {
        self.time.parse().ok()
    }
}

/// What the caller knows about an operation; the log adds who, where, when and the chain.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub op: &'a str,
    pub name: Option<&'a str>,
    pub outcome: Outcome,
}

/// A device's stable id: generated once, kept under the data dir, used to name its shared log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// Accepts 1–64 characters of `a-z`, `0-9` and `-` (so it is always a safe file name).
    pub fn new(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && !id.starts_with('-')
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This device's id from `<data dir>/device`, created on first use as
    /// `<hostname>-<8 random hex digits>`.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(DEVICE_FILE);
        let io = |reason| LogError::Io {
            path: path.clone(),
            reason,
        };
        match File::open(&path) {
            Ok(file) => {
                let mut buf = [0u8; 128];
                let n = file.read_at(&mut buf, 0).map_err(io)?;
                let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
                return Self::new(text.trim()).ok_or(LogError::BadDevice(path.clone()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        private::create_missing_dirs(data_dir)?;
        let host: String = hostname()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let host = host.trim_matches('-');
        let host = if host.is_empty() { "device" } else { host };
        let id = format!("{host}-{:08x}", rand::random::<u32>());
        // Atomic, so a crash never leaves an empty device file behind.
        match private::create_private_atomically(&path, format!("{id}\n").as_bytes()) {
            Ok(()) => Self::new(&id).ok_or(LogError::BadDevice(path.clone())),
            // Another process made it first: use theirs.
            Err(PrivateError::Exists(_)) => {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                Self::new(text.trim()).ok_or(LogError::BadDevice(path.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host name, as `uname -n` prints it.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The user name: `$USER`, `$LOGNAME`, else the numeric uid.
pub fn user_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string())
}

/// One device's log: the JSON-lines file and its head file, in one folder.
pub struct LogFile {
    dir: OwnedFd,
    dir_path: PathBuf,
    file_name: String,
    head_name: String,
}

/// What the head file remembers about the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    count: u64,
    last: String,
    size: u64,
}

impl LogFile {
    /// The local log, `<data dir>/access.log` (the folder is created if needed).
    pub fn local(data_dir: &Path) -> Result<Self> {
        let dir = match open_dir(data_dir) {
            Ok(dir) => dir,
            Err(_) => {
                private::create_missing_dirs(data_dir)?;
                open_dir(data_dir)?
            }
        };
        Ok(Self::in_dir(dir, data_dir.to_owned(), LOCAL_LOG.to_owned()))
    }

    /// A device's shared log, `.coffer/log/<device>.jsonl` in the store.
    pub fn shared(store: &dyn Storage, device: &DeviceId) -> Result<Self> {
        let (dir, dir_path) = store.meta_dir(MetaDir::Log, true)?;
        Ok(Self::in_dir(
            dir,
            dir_path,
            format!("{device}{SHARED_SUFFIX}"),
        ))
    }

    /// Every device's shared log in the store, sorted by device id.
    pub fn shared_all(store: &dyn Storage) -> Result<Vec<(DeviceId, LogFile)>> {
        let (_, dir_path) = match store.meta_dir(MetaDir::Log, false) {
            Ok(found) => found,
            Err(StoreError::Io { reason, .. }) if reason.kind() == io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let entries = std::fs::read_dir(&dir_path).map_err(|reason| LogError::Io {
            path: dir_path.clone(),
            reason,
        })?;
        let mut devices: Vec<DeviceId> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                DeviceId::new(name.strip_suffix(SHARED_SUFFIX)?)
            })
            .collect();
        devices.sort();
        devices
            .into_iter()
            .map(|d| {
                let log = Self::shared(store, &d)?;
                Ok((d, log))
            })
            .collect()
    }

    fn in_dir(dir: OwnedFd, dir_path: PathBuf, file_name: String) -> Self {
        let head_name = format!("{file_name}{HEAD_SUFFIX}");
        Self {
            dir,
            dir_path,
            file_name,
            head_name,
        }
    }

    /// Where the log is, for messages.
    pub fn path(&self) -> PathBuf {
        self.dir_path.join(&self.file_name)
    }

    fn head_path(&self) -> PathBuf {
        self.dir_path.join(&self.head_name)
    }

    fn io(&self, reason: io::Error) -> LogError {
        LogError::Io {
            path: self.path(),
            reason,
        }
    }

    /// Appends one record. Reads the head, not the log; holds the log's lock meanwhile.
    pub fn append(&self, device: &DeviceId, event: &Event<'_>) -> Result<Record> {
        let fd = rustix::fs::openat(
            &self.dir,
            self.file_name.as_str(),
            OFlags::RDWR | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.io(e.into()))?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive).map_err(|e| self.io(e.into()))?;
        let mut file = File::from(fd);
        let size = file.metadata().map_err(|e| self.io(e))?.len();
        // The head is read and rewritten through one handle: few system calls per command.
        let head_file = self.open_head()?;
        let (head, head_len) = read_head_from(&head_file).map_err(|e| self.head_io(e))?;
        let (count, last, needs_newline) = self.chain_end(&file, size, head)?;
        let record = Record {
            time: jiff::Timestamp::now().to_string(),
            user: user_name(),
            host: hostname(),
            device: device.to_string(),
            op: event.op.to_owned(),
            name: event.name.map(str::to_owned),
            outcome: event.outcome,
            seq: count + 1,
            prev: last,
        };
        let line = serde_json::to_string(&record)
            .map_err(|e| self.io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if needs_newline {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // One write: with O_APPEND the line lands whole at the end.
        file.write_all(&bytes).map_err(|e| self.io(e))?;
        let head = Head {
            count: count + 1,
            last: sha256_hex(line.as_bytes()),
            size: size + bytes.len() as u64,
        };
        write_head_to(&head_file, &head, head_len).map_err(|e| self.head_io(e))?;
        Ok(record)
    }

    /// Where the chain ends: the count and last hash to continue from, and whether the file
    /// ends in the middle of a line. Trusts the head; only when the log grew past it (a
    /// process died between its two writes) does it read the part after the head's end.
    fn chain_end(&self, file: &File, size: u64, head: Option<Head>) -> Result<(u64, String, bool)> {
        let ends_mid_line = |file: &File| -> Result<bool> {
            if size == 0 {
                return Ok(false);
            }
            let mut last = [0u8; 1];
            file.read_exact_at(&mut last, size - 1)
                .map_err(|e| self.io(e))?;
            Ok(last[0] != b'\n')
        };
        match head {
            Some(head) if head.size == size => Ok((head.count, head.last, false)),
            Some(head) if head.size < size => {
                let mut tail = vec![0u8; usize::try_from(size - head.size).unwrap_or(0)];
                file.read_exact_at(&mut tail, head.size)
                    .map_err(|e| self.io(e))?;
                let (mut count, mut last) = (head.count, head.last);
                for line in tail.split_inclusive(|&b| b == b'\n') {
                    let Some(line) = line.strip_suffix(b"\n") else {
                        break;
                    };
                    match serde_json::from_slice::<Record>(line) {
                        Ok(r) if r.prev == last && r.seq == count + 1 => {
                            count += 1;
                            last = sha256_hex(line);
                        }
                        _ => break,
                    }
                }
                Ok((count, last, ends_mid_line(file)?))
            }
            // The log is shorter than the head says: keep the head's view, so the next record
            // does not chain to what is left and `verify` shows the cut.
            Some(head) => Ok((head.count, head.last, ends_mid_line(file)?)),
            None if size == 0 => Ok((0, GENESIS.to_owned(), false)),
            // No head (removed, or an old log): rebuild it from the log, once.
            None => {
                let text = self.read_all()?;
                let lines: Vec<&[u8]> = text
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .collect();
                let last = lines.last().map_or(GENESIS.to_owned(), |l| sha256_hex(l));
                let count = lines
                    .last()
                    .and_then(|l| serde_json::from_slice::<Record>(l).ok())
                    .map_or(lines.len() as u64, |r| r.seq);
                Ok((count, last, ends_mid_line(file)?))
            }
        }
    }

    fn head_io(&self, reason: io::Error) -> LogError {
        LogError::Io {
            path: self.head_path(),
            reason,
        }
    }

    /// The head file, for reading and rewriting (created empty if missing).
    fn open_head(&self) -> Result<File> {
        let fd = rustix::fs::openat(
            &self.dir,
            self.head_name.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.head_io(e.into()))?;
        Ok(File::from(fd))
    }

    /// The head, for `verify` (which creates nothing).
    fn read_head(&self) -> Result<Option<Head>> {
        let fd = match rustix::fs::openat(
            &self.dir,
            self.head_name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.head_io(e.into())),
        };
        Ok(read_head_from(&File::from(fd))
            .map_err(|e| self.head_io(e))?
            .0)
    }

    /// The raw log; empty when there is none yet.
    fn read_all(&self) -> Result<Vec<u8>> {
        match read_at(&self.dir, &self.file_name) {
            Ok(bytes) => Ok(bytes),
            Err(Errno::NOENT) => Ok(Vec::new()),
            Err(e) => Err(self.io(e.into())),
        }
    }

    /// Every record that parses, in file order (`verify` reports the rest).
    pub fn records(&self) -> Result<Vec<Record>> {
        let bytes = self.read_all()?;
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }

    /// Checks the chain and the head (holding the log's lock, so that no append slips in
    /// between reading the two).
    pub fn verify(&self) -> Result<Verdict> {
        let fd = match rustix::fs::openat(
            &self.dir,
            self.file_name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Some(fd),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(self.io(e.into())),
        };
        let mut bytes = Vec::new();
        if let Some(fd) = fd.as_ref() {
            rustix::fs::flock(fd, FlockOperation::LockShared).map_err(|e| self.io(e.into()))?;
            let st = rustix::fs::fstat(fd).map_err(|e| self.io(e.into()))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            {
                return Err(self.io(io::Error::other("not a regular file")));
            }
            let mut file = File::from(rustix::io::dup(fd).map_err(|e| self.io(e.into()))?);
            file.read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        }
        let head = self.read_head()?;
        drop(fd);
        Ok(verify_bytes(&bytes, head.as_ref()))
    }
}

/// The result of checking one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Lines in the log.
    pub records: usize,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
}

/// The first bad place in a log: the record (line number, from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub record: usize,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}: {}", self.record, self.what)
    }
}

pub(crate) fn verify_bytes(bytes: &[u8], head: Option<&Head>) -> Verdict {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let records = lines.len();
    let verdict = |record: usize, what: String| Verdict {
        records,
        problem: Some(Problem { record, what }),
    };
    let hashes: Vec<String> = lines.iter().map(|l| sha256_hex(l)).collect();
    let mut first_line_of: HashMap<&str, usize> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        first_line_of.entry(h.as_str()).or_insert(i);
    }
    let mut parsed = Vec::with_capacity(records);
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => parsed.push(r),
            Err(_) => {
                return verdict(
                    i + 1,
                    "is not a valid record (edited, or a damaged line)".into(),
                );
            }
        }
    }
    for (i, record) in parsed.iter().enumerate() {
        let n = i + 1;
        let expected = if i == 0 {
            GENESIS
        } else {
            hashes[i - 1].as_str()
        };
        if record.prev == expected {
            let expected_seq = if i == 0 { 1 } else { parsed[i - 1].seq + 1 };
            if record.seq != expected_seq {
                return verdict(
                    n,
                    format!(
                        "was edited (its number is {}, not {expected_seq})",
                        record.seq
                    ),
                );
            }
            continue;
        }
        // The chain breaks between record n-1 and record n. Say how.
        let points_at = first_line_of.get(record.prev.as_str()).copied();
        if let Some(j) = points_at
            && j > i
        {
            return verdict(
                n,
                format!("is out of order (it belongs after record {})", j + 1),
            );
        }
        if i > 0 && parsed[i + 1..].iter().any(|r| r.prev == hashes[i - 1]) {
            return verdict(
                n,
                "was inserted (the record after it follows the one before it)".into(),
            );
        }
        if let Some(j) = points_at
            && j + 1 < i
        {
            return verdict(
                j + 2,
                format!(
                    "was inserted (record {n} follows record {}, not the records between)",
                    j + 1
                ),
            );
        }
        if i == 0 {
            return verdict(
                1,
                if record.seq > 1 {
                    format!(
                        "does not start the log: records 1 to {} were removed",
                        record.seq - 1
                    )
                } else {
                    "was edited, or records before it were removed".into()
                },
            );
        }
        let before = &parsed[i - 1];
        if record.seq > before.seq + 1 {
            return verdict(
                n,
                format!(
                    "does not follow record {}: {} record(s) between them were removed",
                    i,
                    record.seq - before.seq - 1
                ),
            );
        }
        return verdict(
            i,
            format!("was edited (record {n} holds the hash of a different record {i})"),
        );
    }
    // The tail: the head remembers how many records there were and the last one's hash.
    let last = hashes.last().map_or(GENESIS, String::as_str);
    let last_seq = parsed.last().map_or(0, |r| r.seq);
    if let Some(head) = head {
        if head.count > last_seq {
            return verdict(
                records + 1,
                format!(
                    "is missing: the log was cut after record {records}; {} record(s) removed from the end",
                    head.count - last_seq
                ),
            );
        }
        if head.count == last_seq && head.last != last && records > 0 {
            return verdict(
                records,
                "was edited (the head holds a different hash)".into(),
            );
        }
        if head.count < last_seq {
            // Lines after the head's end are fine if they chain (a process died between its
            // two writes) and the line the head points at is intact.
            let at = parsed.iter().position(|r| r.seq == head.count);
            let intact = match at {
                Some(k) => hashes[k] == head.last,
                None => head.count == 0 && head.last == GENESIS,
            };
            if !intact {
                return verdict(
                    at.map_or(1, |k| k + 1),
                    "was edited (the head holds a different hash)".into(),
                );
            }
        }
    } else if records > 0 {
        return Verdict {
            records,
            problem: Some(Problem {
                record: records,
                what: "has no head file beside the log, so a cut at the end cannot be ruled out"
                    .into(),
            }),
        };
    }
    Verdict {
        records,
        problem: None,
    }
}

/// Reads a head: what it says (`None` if empty or unreadable) and how many bytes it had.
fn read_head_from(file: &File) -> io::Result<(Option<Head>, usize)> {
    let mut buf = [0u8; 512];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64)? {
            0 => break,
            n => len += n,
        }
    }
    Ok((parse_head(&buf[..len]), len))
}

/// What a head file's bytes say; `None` if they do not parse.
pub(crate) fn parse_head(bytes: &[u8]) -> Option<Head> {
    serde_json::from_slice(bytes.trim_ascii()).ok()
}

/// Rewrites the head in place as one fixed-size write: no temporary file and no rename, which
/// on ext4 would start a flush each time (the log must stay cheap next to `show`). Writers hold
/// the log's lock, and `verify` too while it reads the head.
fn write_head_to(file: &File, head: &Head, old_len: usize) -> io::Result<()> {
    let text = serde_json::to_string(head).map_err(io::Error::other)?;
    let mut bytes = text.into_bytes();
    bytes.resize(HEAD_SIZE.max(bytes.len() + 1) - 1, b' ');
    bytes.push(b'\n');
    file.write_all_at(&bytes, 0)?;
    if old_len > bytes.len() {
        file.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LogError::Io {
        path: dir.to_owned(),
        reason: e.into(),
    })
}

fn read_at(dir: &OwnedFd, name: &str) -> std::result::Result<Vec<u8>, Errno> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(Errno::INVAL);
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, LogFile, DeviceId) {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::local(dir.path()).unwrap();
        let device = DeviceId::load_or_create(dir.path()).unwrap();
        (dir, log, device)
    }

    fn append(log: &LogFile, device: &DeviceId, n: usize) {
        for i in 0..n {
            let name = format!("s{i}");
            log.append(
                device,
                &Event {
                    op: "show",
                    name: Some(&name),
                    outcome: Outcome::Ok,
                },
            )
            .unwrap();
        }
    }

    fn rewrite(log: &LogFile, f: impl FnOnce(&mut Vec<String>)) {
        let text = std::fs::read_to_string(log.path()).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        f(&mut lines);
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(log.path(), out).unwrap();
    }

    fn problem(log: &LogFile) -> Problem {
        log.verify().unwrap().problem.expect("a problem")
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_t, log, dev) = log();
        assert_eq!(log.verify().unwrap().problem, None);
        append(&log, &dev, 5);
        let v = log.verify().unwrap();
        assert_eq!((v.records, v.problem), (5, None));
        let records = log.records().unwrap();
        assert_eq!(records[0].prev, GENESIS);
        assert_eq!(records[4].seq, 5);
        assert_eq!(records[2].name.as_deref(), Some("s2"));
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_record() {
        type Tamper = fn(&mut Vec<String>);
        let cases: Vec<(&str, Tamper, usize, &str)> = vec![
            (
                "edit",
                |l| l[2] = l[2].replace("\"s2\"", "\"other\""),
                3,
                "edited",
            ),
            ("remove", |l| drop(l.remove(2)), 3, "removed"),
            ("remove first", |l| drop(l.remove(0)), 1, "removed"),
            ("reorder", |l| l.swap(1, 2), 2, "out of order"),
            ("insert copy", |l| l.insert(3, l[1].clone()), 4, "inserted"),
            (
                "insert forged",
                |l| l.insert(3, l[3].replace("\"s3\"", "\"forged\"")),
                4,
                "inserted",
            ),
            ("truncate", |l| l.truncate(3), 4, "cut"),
            (
                "edit last",
                |l| l[5] = l[5].replace("\"show\"", "\"ls\""),
                6,
                "edited",
            ),
            ("garbage", |l| l[1] = "{nope".into(), 2, "not a valid"),
        ];
        for (what, tamper, record, word) in cases {
            let (_t, log, dev) = log();
            append(&log, &dev, 6);
            rewrite(&log, tamper);
            let p = problem(&log);
            assert_eq!(p.record, record, "{what}: {p}");
            assert!(p.what.contains(word), "{what}: {p}");
        }
    }

    #[test]
    fn appending_after_a_cut_keeps_the_cut_visible() {
        let (_t, log, dev) = log();
        append(&log, &dev, 4);
        rewrite(&log, |l| l.truncate(2));
        append(&log, &dev, 1);
        let p = problem(&log);
        assert_eq!(p.record, 3, "{p}");
        assert!(p.what.contains("removed"), "{p}");
    }

    #[test]
    fn a_line_written_without_its_head_update_is_adopted() {
        let (_t, log, dev) = log();
        append(&log, &dev, 2);
        let head = std::fs::read(log.head_path()).unwrap();
        append(&log, &dev, 1);
        // As if the process died after writing the line but before the head.
        std::fs::write(log.head_path(), head).unwrap();
        assert_eq!(log.verify().unwrap().problem, None);
        append(&log, &dev, 1);
        let v = log.verify().unwrap();
        assert_eq!((v.records, v.problem), (4, None));
    }

    #[test]
    fn device_ids_are_stable_and_safe() {
        let dir = tempfile::tempdir().unwrap();
        let a = DeviceId::load_or_create(dir.path()).unwrap();
        let b = DeviceId::load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(DeviceId::new("../x").is_none());
        assert!(DeviceId::new("A").is_none());
        assert!(DeviceId::new("").is_none());
        assert!(DeviceId::new("host-1a2b").is_some());
        std::fs::write(dir.path().join("device"), "../../etc\n").unwrap();
        assert!(matches!(
            DeviceId::load_or_create(dir.path()),
            Err(LogError::BadDevice(_))
        ));
    }
}
