//! What `fsck` sees of a store on disk: every entry below a folder, walked once without
//! following a link or opening anything but regular `.age` files (for their header only),
//! and the few safe repairs `fsck --fix` may make.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::{AGE_SUFFIX, Result, StoreError};

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
#[derive(Debug, Clone)]
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
    /// For a regular `.age` file: its first bytes, through the end of its header and the
    /// payload's nonce when it has them (at most [`HEADER_LIMIT`] and one read more).
    pub header: Option<Vec<u8>>,
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

/// Every entry below `root/start` (the root's own `.git` left out), sorted by path. One walk:
/// a secret's file is opened once (its header read, its mode, owner and size taken from the
/// open file), everything else is only looked at; a folder's emptiness comes from the walk.
pub fn inspect(root: &Path, start: &Path) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();
    // Folders seen so far (by path), to mark them not empty when a child turns up.
    let mut folders: std::collections::HashMap<PathBuf, usize> = std::collections::HashMap::new();
    let walk = walkdir::WalkDir::new(root.join(start))
        .follow_links(false)
        .follow_root_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.depth() == 1 && start.as_os_str().is_empty() && e.file_name() == ".git")
        });
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            StoreError::Io {
                path,
                reason: e.into(),
            }
        })?;
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_owned();
        if entry.depth() > 0
            && let Some(parent) = rel.parent()
            && let Some(&index) = folders.get(parent)
        {
            found[index].empty = false;
        }
        let ft = entry.file_type();
        let is_secret = ft.is_file()
            && entry
                .file_name()
                .as_encoded_bytes()
                .ends_with(AGE_SUFFIX.as_bytes());
        if is_secret {
            let (header, st) = read_header(entry.path())?;
            found.push(Found {
                path: rel,
                kind: FoundKind::File,
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                size: u64::try_from(st.st_size).unwrap_or(0),
                empty: false,
                header: Some(header),
            });
            continue;
        }
        let meta = entry.metadata().map_err(|e| StoreError::Io {
            path: entry.path().to_owned(),
            reason: e.into(),
        })?;
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            FoundKind::Symlink
        } else if ft.is_dir() {
            FoundKind::Folder
        } else if ft.is_file() {
            FoundKind::File
        } else if ft.is_fifo() {
            FoundKind::Fifo
        } else if ft.is_socket() {
            FoundKind::Socket
        } else {
            FoundKind::Device
        };
        if kind == FoundKind::Folder {
            folders.insert(rel.clone(), found.len());
        }
        found.push(Found {
            path: rel,
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            size: meta.len(),
            // Until a child turns up.
            empty: kind == FoundKind::Folder,
            header: None,
        });
    }
    Ok(found)
}

/// The start of a regular file, through the end of its age header if there is one, and the
/// file's status.
fn read_header(path: &Path) -> Result<(Vec<u8>, rustix::fs::Stat)> {
    let io = |e: std::io::Error| StoreError::Io {
        path: path.to_owned(),
        reason: e,
    };
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(StoreError::NotAFile(path.to_owned()));
    }
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while bytes.len() < HEADER_LIMIT {
        let n = file.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if crate::crypto::header_len(&bytes)
            .is_some_and(|len| bytes.len() >= len + crate::crypto::HEADER_CHECK_EXTRA)
        {
            break;
        }
    }
    Ok((bytes, st))
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
