//! Private files and folders: the one way coffer writes a file that must survive a crash, and
//! the one check of a folder only this user may enter.
//!
//! A durable write goes: a fresh hidden temporary beside the target (`O_EXCL`, `O_NOFOLLOW`,
//! `0600`, named `.NAME.PID.RANDOM.tmp` so that [`is_temporary`] can tell a stale one from
//! anything else) → write → fsync → rename over the target → fsync the folder. A crash leaves
//! the old file or the new one, never a torn one; any error removes the temporary and leaves the
//! old file untouched. A link at the target is refused, never followed nor replaced.
//!
//! The store reaches its folders from a directory handle and uses the `*_at` functions; every
//! other writer (identities, trust pins, rendered templates, rewritten dotenv files, the scan
//! hook) names a path. The runtime folder shared by the agent's socket and the clipboard helpers
//! is made and checked by [`create_runtime_dir`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// The mode of every private file coffer creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// The mode of every private folder coffer creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// What can go wrong with a private file or folder. Each names the path, never the content.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    #[error("{0} is a symbolic link; coffer never writes through a link")]
    Symlink(PathBuf),
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("{path} belongs to uid {owner}, not to you")]
    ForeignOwner { path: PathBuf, owner: u32 },
    #[error("{path} has mode {mode:03o}; it must be 700 (chmod 700 it)")]
    OpenToOthers { path: PathBuf, mode: u32 },
    #[error("{0} already exists")]
    Exists(PathBuf),
    #[error("no space left on the device holding {0}; nothing was changed")]
    NoSpace(PathBuf),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create the folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot inspect {path}")]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl PrivateError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Symlink(path)
            | Self::NotAFile(path)
            | Self::NotADirectory(path)
            | Self::Exists(path)
            | Self::NoSpace(path)
            | Self::ForeignOwner { path, .. }
            | Self::OpenToOthers { path, .. }
            | Self::Write { path, .. }
            | Self::CreateDir { path, .. }
            | Self::Inspect { path, .. } => path,
        }
    }
}

type Result<T, E = PrivateError> = std::result::Result<T, E>;

/// What an atomic write does with a file already at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (atomically: readers see the old file or the new one).
    Replace,
    /// Fail with [`PrivateError::Exists`] and leave it alone, even if it appears during the
    /// write (`RENAME_NOREPLACE`).
    Refuse,
}

/// Writes `bytes` to `path` atomically and durably as a `0600` file, replacing what is there.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, PRIVATE_FILE_MODE, Existing::Replace)
}

/// Like [`write_private_atomically`], but never replaces an existing file: for files that are
/// created once, such as a new identity.
pub fn create_private_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, PRIVATE_FILE_MODE, Existing::Refuse)
}

/// Replaces the existing regular file at `path` atomically and durably, keeping its
/// permission bits (a dotenv file stays readable by whom it was, a hook stays executable).
/// Set-id and sticky bits are dropped.
pub fn replace_keeping_mode(path: &Path, bytes: &[u8]) -> Result<()> {
    let (dir, name) = open_parent(path)?;
    let mode = check_replaceable_at(&dir, name, path)?.ok_or_else(|| PrivateError::Write {
        path: path.to_owned(),
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    write_at(
        dir.as_fd(),
        name,
        bytes,
        path,
        mode & 0o777,
        Existing::Replace,
        true,
    )
}

/// Writes `bytes` to `path` atomically and durably with permission bits `mode` (not reduced
/// by the umask). The parent folder must exist; see [`create_missing_dirs`].
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32, existing: Existing) -> Result<()> {
    let (dir, name) = open_parent(path)?;
    write_at(dir.as_fd(), name, bytes, path, mode, existing, true)
}

/// Fails unless `path` is a regular file or absent: a link or anything else is refused.
pub fn check_replaceable(path: &Path) -> Result<()> {
    let (dir, name) = open_parent(path)?;
    check_replaceable_at(&dir, name, path).map(drop)
}

/// The store's atomic write: `file_name` in the folder `dir`, `0600`, replacing what is
/// there. `path` is only for messages. Without `sync`, neither the file nor the folder is
/// synced (the caller syncs the whole filesystem once).
pub fn write_atomically_at(
    dir: &impl AsFd,
    file_name: &str,
    bytes: &[u8],
    path: &Path,
    sync: bool,
) -> Result<()> {
    write_at(
        dir.as_fd(),
        file_name.as_ref(),
        bytes,
        path,
        PRIVATE_FILE_MODE,
        Existing::Replace,
        sync,
    )
}

/// The first half of [`write_atomically_at`], for batches: writes `bytes` to a new `0600`
/// temporary beside `file_name` (synced if `sync`) and returns the temporary's name, for the
/// caller to rename into place. On failure nothing is left behind.
pub fn write_temp_at(
    dir: &impl AsFd,
    file_name: &str,
    bytes: &[u8],
    path: &Path,
    sync: bool,
) -> Result<String> {
    let tmp = format!(".{file_name}{}", temp_suffix());
    write_temp(
        dir.as_fd(),
        tmp.as_ref(),
        bytes,
        path,
        PRIVATE_FILE_MODE,
        sync,
    )?;
    Ok(tmp)
}

/// Fails if `file_name` in `dir` is a link or not a regular file; the file's permission bits
/// if it is one, `None` if there is nothing.
pub fn check_replaceable_at(
    dir: &impl AsFd,
    file_name: &OsStr,
    path: &Path,
) -> Result<Option<u32>> {
    match rustix::fs::statat(dir, file_name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => Err(PrivateError::Symlink(path.to_owned())),
            FileType::RegularFile => Ok(Some(st.st_mode & 0o7777)),
            _ => Err(PrivateError::NotAFile(path.to_owned())),
        },
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(inspect_error(path, e)),
    }
}

/// Whether `file_name` is one of this module's temporaries: `.NAME.PID.RANDOM.tmp`.
pub fn is_temporary(file_name: &str) -> bool {
    let Some(rest) = file_name
        .strip_prefix('.')
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let mut parts = rest.rsplitn(3, '.');
    let random = parts.next().unwrap_or_default();
    let pid = parts.next().unwrap_or_default();
    let original = parts.next().unwrap_or_default();
    random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !original.is_empty()
}

/// Removes the temporaries of `path` (`.NAME.PID.RANDOM.tmp` beside it) whose writer is no
/// longer running: what a killed writer left behind, which may hold a copy of a key. A
/// temporary of a live process (this one included) is left alone. Returns how many went.
pub fn sweep_stale_temporaries(path: &Path) -> usize {
    let (Some(name), Some(dir)) = (path.file_name().and_then(|n| n.to_str()), path.parent()) else {
        return 0;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let prefix = format!(".{name}.");
    entries
        .flatten()
        .filter(|entry| {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                return false;
            };
            let pid = file_name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('.').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            is_temporary(file_name)
                && pid.is_some_and(|pid| !is_running(pid))
                && entry.file_type().is_ok_and(|t| t.is_file())
                && std::fs::remove_file(entry.path()).is_ok()
        })
        .count()
}

/// The name of a private folder that belongs to this process: `PREFIX.PID.` then whatever
/// makes it unique. [`sweep_dead_private_dirs`] recognises such folders of dead processes.
pub fn private_dir_prefix(prefix: &str) -> String {
    format!("{prefix}.{}.", std::process::id())
}

/// Removes the folders `PREFIX.PID.*` in `root` that are ours and whose process is no longer
/// running: what `kill -9` left behind (an editor's plaintext in a RAM-backed folder). Links
/// are never followed. Returns how many went.
pub fn sweep_dead_private_dirs(root: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let uid = crate::sys::uid();
    let start = format!("{prefix}.");
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(&start))
                .and_then(|rest| rest.split('.').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            let ours = std::fs::symlink_metadata(entry.path()).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                m.is_dir() && m.uid() == uid
            });
            ours && pid.is_some_and(|pid| !is_running(pid))
                && std::fs::remove_dir_all(entry.path()).is_ok()
        })
        .count()
}

/// Whether a process with this id exists (for any user).
fn is_running(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH)),
        None => false,
    }
}

/// Creates a new `0600` file at `path` holding `bytes`, failing if anything (a link included)
/// is there. Neither atomic nor synced: for scratch files in a private RAM-backed folder, such
/// as the plaintext `edit` hands to the editor, which must not outlive the process anyway.
pub fn create_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(PRIVATE_FILE_MODE),
    )
    .map_err(|e| match e {
        Errno::EXIST => PrivateError::Exists(path.to_owned()),
        e => write_error(path, e.into()),
    })?;
    let mut file = File::from(fd);
    if let Err(source) = fault::write_all(&mut file, bytes) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(write_error(path, source));
    }
    Ok(())
}

/// Creates `path` (`0700`) if it is missing, then checks it as [`check_private_dir`] does.
/// The parent must exist.
pub fn create_private_dir(path: &Path) -> Result<()> {
    match rustix::fs::mkdir(path, Mode::from_raw_mode(PRIVATE_DIR_MODE)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => {
            return Err(PrivateError::CreateDir {
                path: path.to_owned(),
                source: e.into(),
            });
        }
    }
    check_private_dir(path)
}

/// Checks that `path` is a real folder (not a link), owned by this user, with no access for
/// group or others: a folder someone else controls could hold a fake socket or swap files.
pub fn check_private_dir(path: &Path) -> Result<()> {
    let st = rustix::fs::lstat(path).map_err(|e| inspect_error(path, e))?;
    judge_private_dir(
        path,
        FileType::from_raw_mode(st.st_mode),
        st.st_uid,
        st.st_mode,
        super::uid(),
    )
}

/// The decision of [`check_private_dir`], apart from the system call.
fn judge_private_dir(path: &Path, kind: FileType, owner: u32, mode: u32, uid: u32) -> Result<()> {
    match kind {
        FileType::Directory => {}
        FileType::Symlink => return Err(PrivateError::Symlink(path.to_owned())),
        _ => return Err(PrivateError::NotADirectory(path.to_owned())),
    }
    if owner != uid {
        return Err(PrivateError::ForeignOwner {
            path: path.to_owned(),
            owner,
        });
    }
    if mode & 0o077 != 0 {
        return Err(PrivateError::OpenToOthers {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

/// The content of `path` if it is a regular file this user owns that no one else may read or
/// write, of at most `limit` bytes, reached without following a link; else nothing. For the
/// caches coffer keeps in its private folders, which are only trusted where they lie.
pub fn read_own_private_file(path: &Path, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let private = meta.is_file()
        && meta.uid() == super::uid()
        && meta.mode() & 0o077 == 0
        && meta.len() <= limit;
    if !private {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Creates `path` and any missing parents with mode `0700`, leaving existing folders as they
/// are (a home or data folder may rightly be `0755`). For a folder that must be private, use
/// [`create_private_dir`].
pub fn create_missing_dirs(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
        .map_err(|source| PrivateError::CreateDir {
            path: path.to_owned(),
            source,
        })
}

/// This user's runtime folder for coffer: `$XDG_RUNTIME_DIR/coffer`, else
/// `<temp dir>/coffer-<uid>` (docs/BEHAVIOUR.md §2). Holds the agent's socket and the clipboard helpers'.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => PathBuf::from(run).join("coffer"),
        None => std::env::temp_dir().join(format!("coffer-{}", super::uid())),
    }
}

/// Creates [`runtime_dir`] if needed and checks that it is private; returns it.
pub fn create_runtime_dir() -> Result<PathBuf> {
    let dir = runtime_dir();
    create_private_dir(&dir)?;
    Ok(dir)
}

/// Opens the folder holding `path` and returns it with the file's name.
fn open_parent(path: &Path) -> Result<(OwnedFd, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| PrivateError::NotAFile(path.to_owned()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| write_error(path, e.into()))?;
    Ok((dir, name))
}

/// temporary → write → fsync → rename (or link, with [`Existing::Refuse`]) → fsync the folder.
fn write_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    bytes: &[u8],
    path: &Path,
    mode: u32,
    existing: Existing,
    sync: bool,
) -> Result<()> {
    if check_replaceable_at(&dir, name, path)?.is_some() && existing == Existing::Refuse {
        return Err(PrivateError::Exists(path.to_owned()));
    }
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(temp_suffix());
    write_temp(dir, &tmp, bytes, path, mode, sync)?;
    if let Err(e) = install(dir, &tmp, name, path, existing) {
        let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
        return Err(e);
    }
    if sync {
        rustix::fs::fsync(dir).map_err(|e| write_error(path, e.into()))?;
    }
    Ok(())
}

/// `.PID.RANDOM.tmp`: who wrote it and a part no other writer will pick.
fn temp_suffix() -> String {
    format!(".{}.{:016x}.tmp", std::process::id(), rand::random::<u64>())
}

/// Creates the temporary `tmp` in `dir` and fills it. On failure it is removed.
///
/// Where the filesystem allows, the file is written unnamed (`O_TMPFILE`) and gets the name
/// `tmp` only once it is whole and synced: a writer killed meanwhile leaves nothing behind,
/// not even a partial copy of what it was writing (a rendered template, a key).
fn write_temp(
    dir: BorrowedFd<'_>,
    tmp: &OsStr,
    bytes: &[u8],
    path: &Path,
    mode: u32,
    sync: bool,
) -> Result<()> {
    if let Some(mut file) = open_unnamed(dir) {
        fill(&mut file, bytes, mode, sync).map_err(|source| write_error(path, source))?;
        // Named through /proc: `AT_EMPTY_PATH` would need a capability.
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        match rustix::fs::linkat(
            rustix::fs::CWD,
            proc_path.as_str(),
            dir,
            tmp,
            AtFlags::SYMLINK_FOLLOW,
        ) {
            Ok(()) => return Ok(()),
            // No /proc here: write it again, named from the start.
            Err(Errno::NOENT) => {}
            Err(e) => return Err(write_error(path, e.into())),
        }
    }
    let fd = rustix::fs::openat(
        dir,
        tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(PRIVATE_FILE_MODE),
    )
    .map_err(|e| write_error(path, e.into()))?;
    let mut file = File::from(fd);
    let written = fill(&mut file, bytes, mode, sync);
    if let Err(source) = written {
        drop(file);
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
        return Err(write_error(path, source));
    }
    Ok(())
}

/// An unnamed `0600` file in `dir`, if the filesystem supports them.
fn open_unnamed(dir: BorrowedFd<'_>) -> Option<File> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(PRIVATE_FILE_MODE),
    )
    .ok()
    .map(File::from)
}

/// Sets the mode, writes and (if asked) syncs a new temporary.
fn fill(file: &mut File, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    if mode != PRIVATE_FILE_MODE {
        // Not through `openat`'s mode, which the umask would cut down.
        rustix::fs::fchmod(&*file, Mode::from_raw_mode(mode))?;
    }
    fault::write_all(file, bytes)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// Moves the finished temporary into place.
fn install(
    dir: BorrowedFd<'_>,
    tmp: &OsStr,
    name: &OsStr,
    path: &Path,
    existing: Existing,
) -> Result<()> {
    fault::rename()?;
    let renamed = match existing {
        Existing::Replace => rustix::fs::renameat(dir, tmp, dir, name),
        Existing::Refuse => {
            match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
                // A filesystem without RENAME_NOREPLACE: a hard link cannot replace either.
                Err(Errno::INVAL | Errno::NOSYS) => {
                    rustix::fs::linkat(dir, tmp, dir, name, AtFlags::empty())
                        .and_then(|()| rustix::fs::unlinkat(dir, tmp, AtFlags::empty()))
                }
                other => other,
            }
        }
    };
    renamed.map_err(|e| match e {
        Errno::EXIST => PrivateError::Exists(path.to_owned()),
        e => write_error(path, e.into()),
    })
}

/// A failed write; a full disk or quota is named as such, since nothing was changed.
fn write_error(path: &Path, source: io::Error) -> PrivateError {
    let code = source.raw_os_error();
    if code == Some(Errno::NOSPC.raw_os_error()) || code == Some(Errno::DQUOT.raw_os_error()) {
        return PrivateError::NoSpace(path.to_owned());
    }
    PrivateError::Write {
        path: path.to_owned(),
        source,
    }
}

fn inspect_error(path: &Path, e: Errno) -> PrivateError {
    PrivateError::Inspect {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Fault injection for tests (this module's and the store's): make the next writes fail with
/// ENOSPC after a number of bytes, as a full disk would, or make the rename fail.
pub(crate) mod fault {
    use std::io::{self, Write};

    #[cfg(test)]
    thread_local! {
        pub static FAIL_AFTER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
        pub static FAIL_RENAME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    pub fn write_all(file: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(limit) = FAIL_AFTER.with(|f| f.get()) {
            let cut = limit.min(bytes.len());
            file.write_all(&bytes[..cut])?;
            if cut < bytes.len() {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::NOSPC.raw_os_error(),
                ));
            }
        }
        file.write_all(bytes)
    }

    pub fn rename() -> Result<(), super::PrivateError> {
        #[cfg(test)]
        if FAIL_RENAME.with(|f| f.get()) {
            return Err(super::PrivateError::Write {
                path: "injected".into(),
                source: io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every name in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Runs `f` with a fault injected, and clears it whatever happens.
    fn with_fault<T>(set: impl Fn(bool), f: impl FnOnce() -> T) -> T {
        struct Clear<'a>(&'a dyn Fn(bool));
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                (self.0)(false);
            }
        }
        set(true);
        let _clear = Clear(&set);
        f()
    }

    fn fail_writes_after(n: usize) -> impl Fn(bool) {
        move |on| fault::FAIL_AFTER.with(|c| c.set(on.then_some(n)))
    }

    fn fail_renames(on: bool) {
        fault::FAIL_RENAME.with(|c| c.set(on));
    }

    #[test]
    fn files_are_0600_and_folders_0700() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("id.txt");
        write_private_atomically(&file, b"one").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"one");
        assert_eq!(mode_of(&file), 0o600);
        write_private_atomically(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        assert_eq!(mode_of(&file), 0o600);

        let dir = t.path().join("run");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        create_private_dir(&dir).unwrap();

        let deep = t.path().join("a/b/c");
        create_missing_dirs(&deep).unwrap();
        assert_eq!(mode_of(&deep), 0o700);
        assert_eq!(mode_of(&t.path().join("a")), 0o700);
        assert_eq!(names(t.path()), ["a", "id.txt", "run"], "no temporary left");
    }

    #[test]
    fn an_explicit_mode_is_not_cut_by_the_umask() {
        let t = tempfile::tempdir().unwrap();
        let hook = t.path().join("pre-commit");
        let old = rustix::process::umask(Mode::from_raw_mode(0o077));
        let written = write_atomically(&hook, b"#!/bin/sh\n", 0o755, Existing::Refuse);
        rustix::process::umask(old);
        written.unwrap();
        assert_eq!(mode_of(&hook), 0o755);
    }

    #[test]
    fn create_refuses_to_replace_and_keeps_the_old_file() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("identities");
        create_private_atomically(&file, b"first").unwrap();
        assert_eq!(mode_of(&file), 0o600);
        let err = create_private_atomically(&file, b"second").unwrap_err();
        assert!(
            matches!(err, PrivateError::Exists(ref p) if p == &file),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"first");
        assert_eq!(names(t.path()), ["identities"]);
    }

    #[test]
    fn create_loses_a_race_without_replacing() {
        // The file appears after the first look: the rename itself must refuse.
        let t = tempfile::tempdir().unwrap();
        let dir =
            rustix::fs::open(t.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let file = t.path().join("device");
        std::fs::write(t.path().join(".device.1.0000000000000000.tmp"), b"mine").unwrap();
        std::fs::write(&file, b"theirs").unwrap();
        let err = install(
            dir.as_fd(),
            ".device.1.0000000000000000.tmp".as_ref(),
            "device".as_ref(),
            &file,
            Existing::Refuse,
        )
        .unwrap_err();
        assert!(matches!(err, PrivateError::Exists(_)), "{err:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"theirs");
        install(
            dir.as_fd(),
            ".device.1.0000000000000000.tmp".as_ref(),
            "device".as_ref(),
            &file,
            Existing::Replace,
        )
        .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    }

    #[test]
    fn links_are_refused_for_files_and_folders() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, b"target").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for result in [
            write_private_atomically(&link, b"evil"),
            create_private_atomically(&link, b"evil"),
            replace_keeping_mode(&link, b"evil"),
            check_replaceable(&link),
        ] {
            assert!(
                matches!(result, Err(PrivateError::Symlink(ref p)) if p == &link),
                "{result:?}"
            );
        }
        let err = create_private_file(&link, b"evil").unwrap_err();
        assert!(matches!(err, PrivateError::Exists(_)), "{err:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"target");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());

        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        chmod(&real, 0o700);
        let dir_link = t.path().join("dir-link");
        std::os::unix::fs::symlink(&real, &dir_link).unwrap();
        for result in [create_private_dir(&dir_link), check_private_dir(&dir_link)] {
            assert!(
                matches!(result, Err(PrivateError::Symlink(_))),
                "{result:?}"
            );
        }
        // A folder where a file should be, and a file where a folder should be.
        let err = write_private_atomically(&real, b"x").unwrap_err();
        assert!(matches!(err, PrivateError::NotAFile(_)), "{err:?}");
        let err = check_private_dir(&target).unwrap_err();
        assert!(matches!(err, PrivateError::NotADirectory(_)), "{err:?}");
        assert_eq!(names(t.path()), ["dir-link", "link", "real", "target"]);
    }

    #[test]
    fn permissive_or_foreign_folders_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        for mode in [0o755, 0o710, 0o701, 0o770] {
            chmod(&dir, mode);
            let err = create_private_dir(&dir).unwrap_err();
            match err {
                PrivateError::OpenToOthers { mode: m, ref path } => {
                    assert_eq!((m, path), (mode, &dir));
                    assert!(err.to_string().contains(&format!("mode {mode:o}")), "{err}");
                }
                other => panic!("{mode:o}: {other:?}"),
            }
        }
        chmod(&dir, 0o700);
        check_private_dir(&dir).unwrap();
        let me = crate::sys::uid();
        let foreign = judge_private_dir(&dir, FileType::Directory, me + 1, 0o700, me);
        assert!(
            matches!(foreign, Err(PrivateError::ForeignOwner { owner, .. }) if owner == me + 1),
            "{foreign:?}"
        );
        assert!(judge_private_dir(&dir, FileType::Directory, me, 0o40700, me).is_ok());
        if me == 0 {
            // As root the real thing can be tried too.
            rustix::fs::chown(
                &dir,
                Some(rustix::fs::Uid::from_raw(65534)),
                Some(rustix::fs::Gid::from_raw(65534)),
            )
            .unwrap();
            let err = check_private_dir(&dir).unwrap_err();
            assert!(
                matches!(err, PrivateError::ForeignOwner { owner: 65534, .. }),
                "{err:?}"
            );
        }
        let missing = check_private_dir(&t.path().join("missing")).unwrap_err();
        assert!(
            matches!(missing, PrivateError::Inspect { .. }),
            "{missing:?}"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("pins.toml");
        write_private_atomically(&file, b"old content").unwrap();
        let err = with_fault(fail_writes_after(3), || {
            write_private_atomically(&file, b"new content that does not fit")
        })
        .unwrap_err();
        assert!(
            matches!(err, PrivateError::NoSpace(ref p) if p == &file),
            "{err:?}"
        );
        let err =
            with_fault(fail_writes_after(0), || replace_keeping_mode(&file, b"new")).unwrap_err();
        assert!(matches!(err, PrivateError::NoSpace(_)), "{err:?}");
        let err = with_fault(fail_renames, || write_private_atomically(&file, b"new")).unwrap_err();
        assert!(matches!(err, PrivateError::Write { .. }), "{err:?}");
        let err = with_fault(fail_renames, || {
            create_private_atomically(&t.path().join("new"), b"x")
        })
        .unwrap_err();
        assert!(matches!(err, PrivateError::Write { .. }), "{err:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"old content");
        assert_eq!(names(t.path()), ["pins.toml"]);

        let scratch = t.path().join("scratch");
        let err = with_fault(fail_writes_after(1), || {
            create_private_file(&scratch, b"plain")
        })
        .unwrap_err();
        assert!(matches!(err, PrivateError::NoSpace(_)), "{err:?}");
        assert_eq!(names(t.path()), ["pins.toml"]);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_file() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("no/such/folder/out.env");
        let err = write_private_atomically(&file, b"x").unwrap_err();
        assert!(
            matches!(err, PrivateError::Write { ref path, .. } if path == &file),
            "{err:?}"
        );
        assert_eq!(err.path(), file);
    }

    #[test]
    fn the_store_variant_writes_beside_and_batches() {
        let t = tempfile::tempdir().unwrap();
        let dir =
            rustix::fs::open(t.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let path = t.path().join("x.age");
        write_atomically_at(&dir, "x.age", b"one", &path, true).unwrap();
        write_atomically_at(&dir, "x.age", b"two", &path, false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(mode_of(&path), 0o600);
        let tmp = write_temp_at(&dir, "y.age", b"staged", &t.path().join("y.age"), false).unwrap();
        assert!(is_temporary(&tmp), "{tmp}");
        assert!(tmp.starts_with(".y.age."), "{tmp}");
        assert_eq!(std::fs::read(t.path().join(&tmp)).unwrap(), b"staged");
        assert_eq!(mode_of(&t.path().join(&tmp)), 0o600);
        assert_eq!(names(t.path()), [tmp.as_str(), "x.age"]);
    }

    #[test]
    fn replacing_keeps_the_mode() {
        let t = tempfile::tempdir().unwrap();
        let hook = t.path().join("pre-commit");
        std::fs::write(&hook, b"#!/bin/sh\nexit 0\n").unwrap();
        for mode in [0o755, 0o640, 0o600] {
            chmod(&hook, mode);
            replace_keeping_mode(&hook, b"#!/bin/sh\nexit 1\n").unwrap();
            assert_eq!(mode_of(&hook), mode);
        }
        chmod(&hook, 0o4755);
        replace_keeping_mode(&hook, b"x").unwrap();
        assert_eq!(mode_of(&hook), 0o755, "set-id bits are dropped");
        assert_eq!(std::fs::read(&hook).unwrap(), b"x");
        let missing = replace_keeping_mode(&t.path().join("missing"), b"x").unwrap_err();
        assert!(matches!(missing, PrivateError::Write { .. }), "{missing:?}");
        assert_eq!(names(t.path()), ["pre-commit"]);
    }

    #[test]
    fn scratch_files_are_new_and_private() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("plain.txt");
        create_private_file(&file, b"secret").unwrap();
        assert_eq!(mode_of(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"secret");
        let err = create_private_file(&file, b"again").unwrap_err();
        assert!(matches!(err, PrivateError::Exists(_)), "{err:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"secret");
    }

    #[test]
    fn only_the_temporaries_of_dead_writers_are_swept() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("identities");
        std::fs::write(&file, b"whole").unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let dead = t.path().join(".identities.9999999.0123456789abcdef.tmp");
        let live = t.path().join(format!(
            ".identities.{}.0123456789abcdef.tmp",
            std::process::id()
        ));
        let other_file = t.path().join(".pins.9999999.0123456789abcdef.tmp");
        let not_ours = t.path().join(".identities.9999999.tmp");
        for p in [&dead, &live, &other_file, &not_ours] {
            std::fs::write(p, b"partial").unwrap();
        }
        assert_eq!(sweep_stale_temporaries(&file), 1);
        assert!(!dead.exists());
        assert!(live.exists() && other_file.exists() && not_ours.exists());
        assert_eq!(std::fs::read(&file).unwrap(), b"whole");
        assert!(is_running(i32::try_from(std::process::id()).unwrap()));
        assert!(!is_running(9_999_999));
        assert!(!is_running(0));
    }

    #[test]
    fn temporaries_are_recognised() {
        assert!(is_temporary(".x.age.12.0123456789abcdef.tmp"));
        assert!(is_temporary("..age-recipients.12.0123456789abcdef.tmp"));
        assert!(!is_temporary(".x.age.tmp"));
        assert!(!is_temporary("x.age.12.0123456789abcdef.tmp"));
        assert!(!is_temporary(".x.age.12.0123456789abcdef"));
        assert!(!is_temporary(".x.age.12.0123456789abcde.tmp"));
        assert!(!is_temporary(".x.age.12.0123456789abcdeg.tmp"));
        assert!(!is_temporary(".x.age..0123456789abcdef.tmp"));
        assert!(!is_temporary(".x.age.1a.0123456789abcdef.tmp"));
        assert!(!is_temporary("..12.0123456789abcdef.tmp"));
        let name = format!(".id{}", temp_suffix());
        assert!(is_temporary(&name), "{name}");
    }

    #[test]
    fn the_runtime_folder_follows_xdg_runtime_dir() {
        // Read, not set: changing the environment would race with other tests.
        let dir = runtime_dir();
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            Some(run) => assert_eq!(dir, Path::new(&run).join("coffer")),
            None => assert_eq!(
                dir,
                std::env::temp_dir().join(format!("coffer-{}", crate::sys::uid()))
            ),
        }
    }
}
