//! What `fsck` sees of a store on disk: every entry below a folder, walked once without
//! following a link or opening anything but regular `.age` files (for their header only, and
//! only those whose header is not already known for their current [`Stamp`]), and the few
//! safe repairs `fsck --fix` may make.

use std::ffi::{CStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, Stat};
use rustix::io::Errno;

use super::{AGE_SUFFIX, Result, Stamp, StoreError};
use crate::crypto;

/// The kind of a file system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundKind {
    File,
    Folder,
    Symlink,
    Fifo,
    Socket,
    Device,
}

/// One entry below the store's root.
#[derive(Debug)]
pub struct Found {
    /// Relative to the store's root.
    pub path: PathBuf,
    pub kind: FoundKind,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
    /// A folder with nothing in it.
    pub empty: bool,
    /// For a regular `.age` file: what [`crypto::check_header`] made of its first bytes
    /// (through the end of its header and the payload's nonce, at most [`HEADER_LIMIT`] and
    /// one read more), or what [`KnownHeaders`] says of it. Checked as soon as read, so that
    /// the headers of a whole store are never held in memory at once.
    pub header: Option<CheckedHeader>,
}

/// What a secret's header showed, and when.
#[derive(Debug)]
pub struct CheckedHeader {
    pub verdict: HeaderVerdict,
    /// The file's stamp when its header was read (or, if `known`, found unchanged).
    pub stamp: Stamp,
    /// Taken from [`KnownHeaders`]: the file was not opened.
    pub known: bool,
}

/// Headers checked before, by the path of their file (relative to the store's root): a file
/// whose stamp is still the one given is looked at (`fstatat`) but not opened, and what its
/// header showed then stands for what it shows now.
pub trait KnownHeaders: Send {
    /// The stamp the file at `path` had and what its header showed, if known. Asked once per
    /// secret's file, in walk order (each folder's entries sorted by name, byte by byte, a
    /// folder's contents right after it).
    fn known(&mut self, path: &Path) -> Option<(Stamp, HeaderVerdict)>;
}

/// No header known: every secret's file is opened and read.
pub struct NoKnownHeaders;

impl KnownHeaders for NoKnownHeaders {
    fn known(&mut self, _path: &Path) -> Option<(Stamp, HeaderVerdict)> {
        None
    }
}

/// The most read of a file looking for the end of its age header.
pub const HEADER_LIMIT: usize = 1 << 20;

/// A safe repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Remove group and other permissions.
    Permissions,
    /// Remove a temporary a killed writer left (only if that writer is not running).
    Temporary,
    /// Remove an empty folder.
    EmptyFolder,
}

/// Every entry below `root/start` (the root's own `.git` left out), in walk order: each
/// folder, then what it holds, sorted by name. One walk, relative to each folder's descriptor
/// (no path is looked up twice): everything is only looked at (`lstat`), except a secret's
/// file, which is opened once, without following a link, for its header (checked at once),
/// mode, owner and size — unless `known` has its header for the stamp it still has. Those
/// reads are most of the work: batches of them run on the other threads while the walk goes
/// on, so a store of many small files costs little more than its reads spread over the
/// processors.
pub fn inspect(root: &Path, start: &Path, known: &mut dyn KnownHeaders) -> Result<Vec<Found>> {
    let top = root.join(start);
    // The root itself may be reached through a link (a store kept elsewhere), as for every
    // other command; nothing below it is.
    let fd = rustix::fs::open(
        &top,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(&top, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_error(&top, e))?;
    let read = Mutex::new(Vec::new());
    let in_flight = AtomicUsize::new(0);
    let mut found = rayon::scope(|scope| {
        let mut walk = Walk {
            root,
            skip_git: start.as_os_str().is_empty(),
            found: vec![found_from_stat(start.to_owned(), &st)],
            batch: Batch::new(),
            scope,
            read: &read,
            in_flight: &in_flight,
            known,
        };
        let walked = walk.folder(Arc::new(fd), 0);
        walk.send();
        walked.map(|()| walk.found)
    })?;
    // Of several unreadable files, the first in walk order is the one reported.
    let mut unreadable: Option<(usize, Unreadable)> = None;
    for (index, result) in read.into_inner().unwrap_or_else(PoisonError::into_inner) {
        match result {
            Ok(file) => {
                let entry = &mut found[index];
                entry.mode = file.mode;
                entry.uid = file.uid;
                entry.size = file.header.stamp.size;
                entry.header = Some(file.header);
            }
            Err(e) if unreadable.as_ref().is_none_or(|(first, _)| index < *first) => {
                unreadable = Some((index, e));
            }
            Err(_) => {}
        }
    }
    match unreadable {
        None => Ok(found),
        Some((index, e)) => {
            let path = root.join(&found[index].path);
            Err(match e {
                Unreadable::NotAFile => StoreError::NotAFile(path),
                Unreadable::Io(e) => io_error(&path, e),
            })
        }
    }
}

/// The most secrets in one batch of header reads, and the most folders (each batch holds its
/// folders open until it is done).
const BATCH_SECRETS: usize = 64;
const BATCH_FOLDERS: usize = 16;
/// The most batches waiting or being read at once; past it the walk reads the next batch
/// itself. With [`BATCH_FOLDERS`] this bounds the folders held open, whatever the store's
/// shape, far below the usual limit of 1,024 open files.
const IN_FLIGHT: usize = 8;

/// What checking a secret's file gave, or why it could not be read.
type HeaderRead = std::result::Result<SecretFile, Unreadable>;

/// A secret's file: its header, permission bits and owner.
struct SecretFile {
    header: CheckedHeader,
    mode: u32,
    uid: u32,
}

impl SecretFile {
    fn new(verdict: HeaderVerdict, st: &Stat, known: bool) -> Self {
        let header = CheckedHeader {
            verdict,
            stamp: Stamp::of(st),
            known,
        };
        SecretFile {
            header,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
        }
    }
}

/// What a secret's header showed: its stanzas, or why it is not age.
pub type HeaderVerdict = std::result::Result<crypto::HeaderSummary, crypto::DecryptError>;

/// Secrets' files to check, their folders and names held once for the whole batch (not one
/// allocation per file, freed on another thread).
struct Batch {
    dirs: Vec<Arc<OwnedFd>>,
    /// The files' names, each ending with a NUL.
    names: Vec<u8>,
    files: Vec<BatchFile>,
}

/// One file of a batch: its folder (in `dirs`), where its name starts (in `names`), its
/// entry (`found[index]`), and its header if it is known.
struct BatchFile {
    dir: usize,
    name: usize,
    index: usize,
    known: Option<(Stamp, HeaderVerdict)>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            dirs: Vec::with_capacity(BATCH_FOLDERS),
            names: Vec::with_capacity(BATCH_SECRETS * 32),
            files: Vec::with_capacity(BATCH_SECRETS),
        }
    }
}

/// A walk in progress: what was found so far, the batch of secrets being gathered, and where
/// the batches sent off put what they read.
struct Walk<'a, 's> {
    root: &'a Path,
    /// Leave out the store's own `.git` (the walk starts at the store's root).
    skip_git: bool,
    found: Vec<Found>,
    batch: Batch,
    scope: &'a rayon::Scope<'s>,
    read: &'s Mutex<Vec<(usize, HeaderRead)>>,
    in_flight: &'s AtomicUsize,
    known: &'a mut dyn KnownHeaders,
}

impl Walk<'_, '_> {
    /// Adds what the folder `found[index]` (open as `dir`) holds, and everything below it.
    fn folder(&mut self, dir: Arc<OwnedFd>, index: usize) -> Result<()> {
        let rel = self.found[index].path.clone();
        let listing = list(&dir, &self.root.join(&rel), self.skip_git && index == 0)?;
        self.found[index].empty = listing.entries.is_empty();
        for entry in &listing.entries {
            let (name, file_type) = (listing.name(entry), entry.2);
            let path = child(&rel, name.to_bytes());
            let is_age = name.to_bytes().ends_with(AGE_SUFFIX.as_bytes());
            // A listing that does not say the kind costs an `lstat` to learn it.
            let st = match file_type {
                FileType::RegularFile if is_age => None,
                _ => Some(
                    rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io_error(&self.root.join(&path), e))?,
                ),
            };
            let st = match st {
                Some(st)
                    if !is_age || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile =>
                {
                    st
                }
                _ => {
                    self.add_secret(&dir, name, path);
                    continue;
                }
            };
            let entry = found_from_stat(path, &st);
            let below = entry.kind == FoundKind::Folder;
            self.found.push(entry);
            if below {
                let index = self.found.len() - 1;
                let child = rustix::fs::openat(
                    &*dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_error(&self.root.join(&self.found[index].path), e))?;
                self.folder(Arc::new(child), index)?;
            }
        }
        Ok(())
    }

    /// Adds a secret's entry, its header to be read with the next batch.
    fn add_secret(&mut self, dir: &Arc<OwnedFd>, name: &CStr, path: PathBuf) {
        let batch = &mut self.batch;
        if batch.dirs.last().is_none_or(|last| !Arc::ptr_eq(last, dir)) {
            batch.dirs.push(Arc::clone(dir));
        }
        batch.files.push(BatchFile {
            dir: batch.dirs.len() - 1,
            name: batch.names.len(),
            index: self.found.len(),
            known: self.known.known(&path),
        });
        batch.names.extend_from_slice(name.to_bytes_with_nul());
        self.found.push(Found {
            path,
            kind: FoundKind::File,
            mode: 0,
            uid: 0,
            size: 0,
            empty: false,
            header: None,
        });
        if self.batch.files.len() >= BATCH_SECRETS || self.batch.dirs.len() >= BATCH_FOLDERS {
            self.send();
        }
    }

    /// Hands the batch to another thread, or reads it here when enough are waiting.
    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Batch::new());
        if batch.files.is_empty() {
            return;
        }
        let (read, in_flight) = (self.read, self.in_flight);
        if in_flight.load(Ordering::Acquire) >= IN_FLIGHT {
            read_batch(batch, read);
            return;
        }
        in_flight.fetch_add(1, Ordering::AcqRel);
        self.scope.spawn(move |_| {
            read_batch(batch, read);
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Reads and checks the headers of a batch, adding what each gave to `read`.
fn read_batch(batch: Batch, read: &Mutex<Vec<(usize, HeaderRead)>>) {
    let Batch { dirs, names, files } = batch;
    let out: Vec<(usize, HeaderRead)> = files
        .into_iter()
        .map(|file| {
            let name = CStr::from_bytes_until_nul(&names[file.name..]).unwrap_or_default();
            (file.index, check_secret(&dirs[file.dir], name, file.known))
        })
        .collect();
    read.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(out);
}

/// `rel/name`, in one allocation (`Path::join` makes two, and parses `rel` again).
fn child(rel: &Path, name: &[u8]) -> PathBuf {
    let rel = rel.as_os_str().as_bytes();
    let mut path = Vec::with_capacity(rel.len() + 1 + name.len());
    path.extend_from_slice(rel);
    if !rel.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(path))
}

/// A folder's entries, their names in one buffer (each ending with a NUL), sorted by name,
/// with the kind the listing gives (which may be unknown on some file systems).
struct Listing {
    names: Vec<u8>,
    /// Where each name starts and ends (before its NUL) in `names`, and its kind.
    entries: Vec<(usize, usize, FileType)>,
}

impl Listing {
    fn name(&self, &(start, end, _): &(usize, usize, FileType)) -> &CStr {
        CStr::from_bytes_with_nul(&self.names[start..=end]).unwrap_or_default()
    }
}

/// The entries of a folder (`.` and `..` left out, and `.git` if `skip_git`).
fn list(dir: &OwnedFd, path: &Path, skip_git: bool) -> Result<Listing> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut entries = RawDir::new(dir, buf.spare_capacity_mut());
    let mut listing = Listing {
        names: Vec::with_capacity(4096),
        entries: Vec::new(),
    };
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(|e| io_error(path, e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." || (skip_git && name == b".git") {
            continue;
        }
        let start = listing.names.len();
        listing.names.extend_from_slice(name);
        listing.names.push(0);
        listing
            .entries
            .push((start, start + name.len(), entry.file_type()));
    }
    let names = &listing.names;
    listing
        .entries
        .sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
    Ok(listing)
}

fn found_from_stat(path: PathBuf, st: &rustix::fs::Stat) -> Found {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => FoundKind::Symlink,
        FileType::Directory => FoundKind::Folder,
        FileType::RegularFile => FoundKind::File,
        FileType::Fifo => FoundKind::Fifo,
        FileType::Socket => FoundKind::Socket,
        _ => FoundKind::Device,
    };
    Found {
        path,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        size: u64::try_from(st.st_size).unwrap_or(0),
        // Until its listing is read.
        empty: kind == FoundKind::Folder,
        header: None,
    }
}

/// Why a secret's header could not be read (the path is added by the caller, who has it).
enum Unreadable {
    /// Not a regular file any more (replaced since the folder was listed).
    NotAFile,
    Io(Errno),
}

/// The header of the regular file `name` in `dir` and the file's status: `known` if the file
/// still has the stamp given with it (it is then looked at, not opened), else read and
/// checked.
fn check_secret(dir: &OwnedFd, name: &CStr, known: Option<(Stamp, HeaderVerdict)>) -> HeaderRead {
    if let Some((stamp, verdict)) = known
        && let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        && FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
        && Stamp::of(&st) == stamp
    {
        return Ok(SecretFile::new(verdict, &st, true));
    }
    // Changed, gone or replaced since: read as if it were not known (and fail as that would).
    read_header_at(dir, name)
}

/// The header of the regular file `name` in `dir`, checked ([`crypto::check_header`]), and
/// the file's status. Reads through the end of the header and the payload's nonce, at most
/// [`HEADER_LIMIT`] and one read more; never follows a link, never blocks on a FIFO.
fn read_header_at(dir: &OwnedFd, name: &CStr) -> HeaderRead {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(Unreadable::Io)?;
    let st = rustix::fs::fstat(&fd).map_err(Unreadable::Io)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Unreadable::NotAFile);
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let checked = |verdict| Ok(SecretFile::new(verdict, &st, false));
    // Most headers (one stanza per recipient) fit the first read: no allocation for them.
    let mut first = [0u8; 4096];
    let n = read_some(&fd, &mut first)?;
    if n == 0 || header_read(&first[..n]) {
        return checked(crypto::check_header(&first[..n], size));
    }
    let mut bytes = first[..n].to_vec();
    let mut chunk = [0u8; 4096];
    while bytes.len() < HEADER_LIMIT {
        let n = read_some(&fd, &mut chunk)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if header_read(&bytes) {
            break;
        }
    }
    checked(crypto::check_header(&bytes, size))
}

/// Whether `bytes` hold a whole header and the nonce after it.
fn header_read(bytes: &[u8]) -> bool {
    crypto::header_len(bytes).is_some_and(|len| bytes.len() >= len + crypto::HEADER_CHECK_EXTRA)
}

fn read_some(fd: &OwnedFd, buf: &mut [u8]) -> std::result::Result<usize, Unreadable> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(Unreadable::Io),
        }
    }
}

fn io_error(path: &Path, e: Errno) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: e.into(),
    }
}

/// Makes one safe repair to `root/path` (relative), never following a link.
pub fn repair(root: &Path, path: &Path, repair: Repair) -> Result<()> {
    let full = root.join(path);
    let io = |e: std::io::Error| StoreError::Io {
        path: full.clone(),
        reason: e,
    };
    let meta = full.symlink_metadata().map_err(io)?;
    if meta.file_type().is_symlink() {
        return Err(StoreError::Symlink(full));
    }
    match repair {
        Repair::Permissions => {
            let mode = Mode::from_raw_mode(meta.mode() & 0o700);
            rustix::fs::chmodat(rustix::fs::CWD, &full, mode, AtFlags::empty())
                .map_err(|e| io(e.into()))?;
        }
        Repair::Temporary => {
            let (Some(name), Some(dir)) = (path.file_name(), full.parent()) else {
                return Ok(());
            };
            let name = name.to_string_lossy();
            // `.NAME.PID.RANDOM.tmp` → NAME, whose temporaries the sweep removes if dead.
            let original = name
                .strip_prefix('.')
                .and_then(|r| r.strip_suffix(".tmp"))
                .and_then(|r| r.rsplitn(3, '.').nth(2))
                .unwrap_or_default();
            crate::sys::private::sweep_stale_temporaries(&dir.join(original));
        }
        Repair::EmptyFolder => std::fs::remove_dir(&full).map_err(io)?,
    }
    Ok(())
}
