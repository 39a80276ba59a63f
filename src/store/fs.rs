//! The storage layer: the only code that touches secret files.
//!
//! Every path is reached from the store root's directory handle one validated component at a
//! time with `O_NOFOLLOW`, so no symbolic link inside the store is ever followed, whatever
//! races with us. Writes go to a fresh temporary file in the same folder (`O_EXCL`, `0600`),
//! are made durable, and are renamed over the old file: a crash, a full disk or a concurrent
//! reader sees the old secret or the new one, never a torn one. Writers hold the store lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use walkdir::WalkDir;

use super::name::{Folder, MAX_NAME_BYTES, SecretName, is_valid_component};
use super::{
    AGE_SUFFIX, Entry, META_DIR, MarkKind, MetaDir, MetaFile, NameTerms, RECIPIENTS_FILE, Result,
    Stamp, Storage, StoreError, StoreLock, TreeNode, not_found_as,
};

const LOCK_FILE: &str = "lock";
const LOCK_WAIT: Duration = Duration::from_secs(2);
/// How many threads rename a batch into place.
const RENAME_THREADS: usize = 8;

/// A store on disk.
pub struct FsStore {
    root: PathBuf,
    root_fd: OwnedFd,
    /// The largest file read (a secret, a recipients file, a mark); larger ones are refused
    /// from their size, unread.
    max_file_size: u64,
}

impl FsStore {
    /// Opens an existing store. The root itself may be a link (a store kept in a synced
    /// folder); links *inside* it are refused.
    pub fn open(root: &Path) -> Result<Self> {
        let root_fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => StoreError::NoStore(root.to_owned()),
            e => io_error(root, e),
        })?;
        Ok(Self {
            root: root.to_owned(),
            root_fd,
            max_file_size: super::DEFAULT_MAX_SECRET_SIZE,
        })
    }

    /// Refuses to read files larger than `bytes`.
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// Creates the store folder (and its parents) if needed, then opens it.
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|reason| StoreError::Io {
                path: root.to_owned(),
                reason,
            })?;
        Self::open(root)
    }

    /// Opens a folder below the root, one component at a time, refusing links.
    fn open_dir<'a>(
        &self,
        components: impl IntoIterator<Item = &'a str>,
        create: bool,
    ) -> Result<OwnedFd> {
        let mut dir = rustix::io::dup(&self.root_fd).map_err(|e| io_error(&self.root, e))?;
        let mut path = self.root.clone();
        for component in components {
            path.push(component);
            if create {
                match rustix::fs::mkdirat(&dir, component, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_error(&path, e)),
                }
            }
            dir = rustix::fs::openat(
                &dir,
                component,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| classify(&dir, component, &path, e))?;
        }
        Ok(dir)
    }

    /// The listing tree below `folder` (see [`tree_below`]).
    fn walk_tree(&self, folder: &Folder, terms: Option<&NameTerms>) -> Result<TreeNode> {
        let opened = self.open_folder(folder, false)?;
        // A handle of its own: the root's is a `dup` of `root_fd`, which shares its reading
        // position with every other walk.
        let dir = rustix::fs::openat(
            &opened,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(&self.folder_path(folder), e))?;
        // The names below are `folder/…`: their length counts the folder's.
        let name_bytes = match folder.as_str() {
            "" => 0,
            f => f.len() + 1,
        };
        let mut walk = TreeWalk {
            path: self.folder_path(folder),
            buffer: Vec::with_capacity(DIR_BUFFER_BYTES),
        };
        Ok(TreeNode {
            name: folder.to_string(),
            is_folder: true,
            children: walk.below(dir, name_bytes, terms)?,
        })
    }

    fn open_folder(&self, folder: &Folder, create: bool) -> Result<OwnedFd> {
        self.open_dir(folder.components(), create)
    }

    /// Opens the folder of `name`'s mark, refusing links like every other walk.
    fn open_mark_dir(&self, kind: MarkKind, name: &SecretName, create: bool) -> Result<OwnedFd> {
        let parent = name.parent();
        let components = [META_DIR, kind.dir_name()]
            .into_iter()
            .chain(parent.components());
        self.open_dir(components, create)
    }
}

impl Storage for FsStore {
    fn root(&self) -> &Path {
        &self.root
    }

    /// Reads a secret's ciphertext.
    fn read(&self, name: &SecretName) -> Result<Vec<u8>> {
        let not_found = |e: StoreError| not_found_as(name, e);
        let dir = self.open_folder(&name.parent(), false).map_err(not_found)?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        let path = self.path_of(name);
        read_file_at(&dir, &file_name, &path, self.max_file_size).map_err(not_found)
    }

    /// Reads many secrets' ciphertexts, opening each folder once (bulk operations read
    /// hundreds of files from a few folders). Results come back in the order of `names`.
    fn read_many(&self, names: &[SecretName]) -> Vec<Result<Vec<u8>>> {
        let mut dirs: BTreeMap<Folder, Result<OwnedFd>> = BTreeMap::new();
        names
            .iter()
            .map(|name| {
                let folder = name.parent();
                let dir = dirs
                    .entry(folder.clone())
                    .or_insert_with(|| self.open_folder(&folder, false));
                match dir {
                    Ok(dir) => {
                        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
                        read_file_at(dir, &file_name, &self.path_of(name), self.max_file_size)
                            .map_err(|e| not_found_as(name, e))
                    }
                    // Open the chain again for this name, so the error is its own.
                    Err(_) => self.read(name),
                }
            })
            .collect()
    }

    /// Reads a metadata file of a folder, if it exists.
    fn read_meta(&self, folder: &Folder, file: MetaFile) -> Result<Option<Vec<u8>>> {
        let Some(dir) = or_absent(self.open_folder(folder, false))? else {
            return Ok(None);
        };
        let path = self.meta_path(folder, file);
        or_absent(read_file_at(
            &dir,
            file.file_name(),
            &path,
            self.max_file_size,
        ))
    }

    /// What exists at `name`: a secret, a folder, both, or neither.
    fn entry(&self, name: &SecretName) -> Result<Entry> {
        let dir = match self.open_folder(&name.parent(), false) {
            Ok(dir) => dir,
            Err(StoreError::Io { reason, .. })
                if matches!(reason.kind(), io::ErrorKind::NotFound) =>
            {
                return Ok(Entry {
                    secret: false,
                    folder: false,
                });
            }
            Err(e) => return Err(e),
        };
        let kind = |file: &str| -> Result<Option<rustix::fs::FileType>> {
            match rustix::fs::statat(&dir, file, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some(rustix::fs::FileType::from_raw_mode(st.st_mode))),
                Err(Errno::NOENT) => Ok(None),
                Err(e) => Err(io_error(&self.path_of(name), e)),
            }
        };
        let secret = kind(&format!("{}{AGE_SUFFIX}", name.leaf()))?;
        let folder = kind(name.leaf())?;
        for (kind, path) in [
            (secret, self.path_of(name)),
            (folder, self.folder_path(&name.as_folder())),
        ] {
            if kind == Some(rustix::fs::FileType::Symlink) {
                return Err(StoreError::Symlink(path));
            }
        }
        Ok(Entry {
            secret: secret == Some(rustix::fs::FileType::RegularFile),
            folder: folder == Some(rustix::fs::FileType::Directory),
        })
    }

    /// Takes the store's writer lock, waiting a little for another writer to finish.
    fn lock(&self) -> Result<StoreLock> {
        let dir = self.open_dir([META_DIR], true)?;
        let meta = self.root.join(META_DIR);
        // Keep the lock file out of git.
        let ignore = ".gitignore";
        if rustix::fs::statat(&dir, ignore, AtFlags::SYMLINK_NOFOLLOW).is_err() {
            write_atomically(&dir, ignore, b"lock\n", &meta.join(ignore), true)?;
        }
        let path = meta.join(LOCK_FILE);
        let fd = rustix::fs::openat(
            &dir,
            LOCK_FILE,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| classify(&dir, LOCK_FILE, &path, e))?;
        let started = Instant::now();
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(Errno::WOULDBLOCK) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(Errno::WOULDBLOCK) => {
                    let mut text = String::new();
                    let _ = File::from(fd).read_to_string(&mut text);
                    return Err(StoreError::Locked {
                        pid: text.trim().parse().ok(),
                    });
                }
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        let mut file = File::from(fd);
        // Best effort: the pid only makes the "locked" message more helpful.
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Ok(StoreLock::holding(file))
    }

    /// Opens (creating if asked, `0700`) one of coffer's metadata folders, refusing links as
    /// everywhere else; returns its handle and path.
    fn meta_dir(&self, dir: MetaDir, create: bool) -> Result<(OwnedFd, PathBuf)> {
        let parts = dir.components();
        let fd = self.open_dir(parts, create)?;
        Ok((fd, parts.iter().fold(self.root.clone(), |p, c| p.join(c))))
    }

    /// The size of a secret's file, from its metadata.
    fn size(&self, name: &SecretName) -> Result<u64> {
        let dir = self
            .open_folder(&name.parent(), false)
            .map_err(|e| not_found_as(name, e))?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        let st = rustix::fs::statat(&dir, file_name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(
            |e| match e {
                Errno::NOENT => StoreError::NotFound(name.to_string()),
                e => io_error(&self.path_of(name), e),
            },
        )?;
        match rustix::fs::FileType::from_raw_mode(st.st_mode) {
            rustix::fs::FileType::RegularFile => Ok(u64::try_from(st.st_size).unwrap_or(0)),
            rustix::fs::FileType::Symlink => Err(StoreError::Symlink(self.path_of(name))),
            _ => Err(StoreError::NotAFile(self.path_of(name))),
        }
    }

    /// When a secret's file was last modified (its rotation date in a store without git).
    fn modified(&self, name: &SecretName) -> Result<std::time::SystemTime> {
        let dir = self.open_folder(&name.parent(), false)?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        let st = rustix::fs::statat(&dir, file_name.as_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(
            |e| match e {
                Errno::NOENT => StoreError::NotFound(name.to_string()),
                e => io_error(&self.path_of(name), e),
            },
        )?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink {
            return Err(StoreError::Symlink(self.path_of(name)));
        }
        let since_epoch = Duration::new(
            u64::try_from(st.st_mtime).unwrap_or(0),
            u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        );
        Ok(std::time::UNIX_EPOCH + since_epoch)
    }

    /// Writes one secret atomically and durably.
    fn write(&self, _lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()> {
        let dir = self.open_folder(&name.parent(), true)?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        write_atomically(&dir, &file_name, ciphertext, &self.path_of(name), true)
    }

    /// Writes a new secret only if its name is free: the temporary is renamed into place
    /// with `RENAME_NOREPLACE` (or hard-linked, which also refuses an existing name, where
    /// the filesystem cannot), so a file that appeared meanwhile is never replaced.
    fn create(&self, _lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()> {
        let dir = self.open_folder(&name.parent(), true)?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        let path = self.path_of(name);
        let tmp = write_temp(&dir, &file_name, ciphertext, &path, true)?;
        let placed = match rustix::fs::renameat_with(
            &dir,
            tmp.as_str(),
            &dir,
            file_name.as_str(),
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                let linked = rustix::fs::linkat(
                    &dir,
                    tmp.as_str(),
                    &dir,
                    file_name.as_str(),
                    AtFlags::empty(),
                );
                let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
                linked
            }
            other => other,
        };
        if let Err(e) = placed {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
            return Err(match e {
                Errno::EXIST => StoreError::AlreadyExists(path),
                e => io_error(&path, e),
            });
        }
        rustix::fs::fsync(&dir).map_err(|e| io_error(&path, e))
    }

    /// Writes a metadata file atomically and durably.
    fn write_meta(
        &self,
        _lock: &StoreLock,
        folder: &Folder,
        file: MetaFile,
        bytes: &[u8],
    ) -> Result<()> {
        let dir = self.open_folder(folder, true)?;
        write_atomically(
            &dir,
            file.file_name(),
            bytes,
            &self.meta_path(folder, file),
            true,
        )
    }

    /// Removes a metadata file; absent is fine.
    fn remove_meta(&self, _lock: &StoreLock, folder: &Folder, file: MetaFile) -> Result<()> {
        let dir = self.open_folder(folder, false)?;
        match rustix::fs::unlinkat(&dir, file.file_name(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(io_error(&self.meta_path(folder, file), e)),
        }
        rustix::fs::fsync(&dir).map_err(|e| io_error(&self.folder_path(folder), e))
    }

    /// [`FsStore::write_batch`], giving each file the modification time at the same index of
    /// `times` (when there is one): re-encrypting, moving or copying a secret does not change
    /// its value, so its rotation date in a store without git stays.
    fn write_batch_keeping_times(
        &self,
        _lock: &StoreLock,
        items: &[(SecretName, Vec<u8>)],
        times: &[Option<std::time::SystemTime>],
    ) -> Result<()> {
        let mut dirs: BTreeMap<Folder, OwnedFd> = BTreeMap::new();
        let mut staged: Vec<(&SecretName, String)> = Vec::with_capacity(items.len());
        let result = (|| {
            for (name, ciphertext) in items {
                let folder = name.parent();
                if !dirs.contains_key(&folder) {
                    let fd = self.open_folder(&folder, true)?;
                    dirs.insert(folder.clone(), fd);
                }
                let dir = &dirs[&folder];
                let path = self.path_of(name);
                let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
                let tmp = write_temp(dir, &file_name, ciphertext, &path, false)?;
                staged.push((name, tmp));
                if let Some(Some(time)) = times.get(staged.len() - 1) {
                    set_modified(dir, &staged[staged.len() - 1].1, *time, &path)?;
                }
            }
            rustix::fs::syncfs(&self.root_fd).map_err(|e| io_error(&self.root, e))?;
            Ok(())
        })();
        if let Err(e) = result {
            for (name, tmp) in &staged {
                let _ = rustix::fs::unlinkat(&dirs[&name.parent()], tmp.as_str(), AtFlags::empty());
            }
            return Err(e);
        }
        // Replacing a file frees the old one's blocks, which can wait on the device (a
        // `discard` mount issues a TRIM each time): rename from several threads so those waits
        // overlap. Each rename is atomic on its own; a crash between them leaves every secret
        // old or new.
        let rename = |(name, tmp): &(&SecretName, String)| -> Result<()> {
            let dir = &dirs[&name.parent()];
            let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
            refuse_link(dir, &file_name, &self.path_of(name))?;
            rustix::fs::renameat(dir, tmp.as_str(), dir, file_name.as_str())
                .map_err(|e| io_error(&self.path_of(name), e))
        };
        let per_thread = staged.len().div_ceil(RENAME_THREADS).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = staged
                .chunks(per_thread)
                .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(rename)))
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(StoreError::Io {
                        path: self.root.clone(),
                        reason: io::Error::other("a rename thread failed"),
                    })
                })
            })
        })?;
        rustix::fs::syncfs(&self.root_fd).map_err(|e| io_error(&self.root, e))
    }

    /// Removes one secret, then any folders it leaves empty (as `pass rm` does).
    fn remove(&self, _lock: &StoreLock, name: &SecretName) -> Result<()> {
        let dir = self.open_folder(&name.parent(), false)?;
        let file_name = format!("{}{AGE_SUFFIX}", name.leaf());
        refuse_link(&dir, &file_name, &self.path_of(name))?;
        rustix::fs::unlinkat(&dir, file_name.as_str(), AtFlags::empty()).map_err(|e| match e {
            Errno::NOENT => StoreError::NotFound(name.to_string()),
            e => io_error(&self.path_of(name), e),
        })?;
        rustix::fs::fsync(&dir).map_err(|e| io_error(&self.path_of(name), e))?;
        self.prune_empty(&name.parent())
    }

    /// Removes a whole folder. Refuses if anything inside is a link.
    fn remove_folder(&self, _lock: &StoreLock, folder: &Folder) -> Result<()> {
        let path = self.folder_path(folder);
        self.open_folder(folder, false)?;
        for entry in WalkDir::new(&path).follow_links(false) {
            let entry = entry.map_err(|e| walk_error(&path, e))?;
            if entry.path_is_symlink() {
                return Err(StoreError::Symlink(entry.path().to_owned()));
            }
        }
        std::fs::remove_dir_all(&path).map_err(|reason| StoreError::Io {
            path: path.clone(),
            reason,
        })?;
        match folder.parent() {
            Some(parent) => self.prune_empty(&parent),
            None => Ok(()),
        }
    }

    /// Removes `folder` and its parents while they are empty (never the root).
    fn prune_empty(&self, folder: &Folder) -> Result<()> {
        for candidate in folder.ancestors() {
            let Some(parent) = candidate.parent() else {
                break;
            };
            let dir = self.open_folder(&parent, false)?;
            let leaf = candidate.components().last().unwrap_or_default();
            match rustix::fs::unlinkat(&dir, leaf, AtFlags::REMOVEDIR) {
                Ok(()) => {}
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT | Errno::NOTDIR) => break,
                Err(e) => return Err(io_error(&self.folder_path(&candidate), e)),
            }
        }
        Ok(())
    }

    /// Every secret at or below `folder`, sorted by name. Links are skipped, never followed.
    fn list(&self, folder: &Folder) -> Result<Vec<SecretName>> {
        self.open_folder(folder, false)?;
        names_below(&self.folder_path(folder), &self.root, AGE_SUFFIX)
    }

    /// One pass over the folders below `folder`, building the tree as it goes: no name is
    /// built whole, and only each folder's own entries are sorted.
    fn tree(&self, folder: &Folder) -> Result<TreeNode> {
        self.walk_tree(folder, None)
    }

    /// [`FsStore::tree`], matching while it walks: a file that does not match is never kept,
    /// and below a matching folder nothing more is compared.
    fn tree_matching(&self, folder: &Folder, terms: &NameTerms) -> Result<TreeNode> {
        self.walk_tree(folder, Some(terms))
    }

    fn list_stamped(&self, folder: &Folder) -> Result<Vec<(SecretName, Option<Stamp>)>> {
        let dir = self.open_folder(folder, false)?;
        let mut found = Vec::new();
        let mut prefix = folder.to_string();
        stamps_below(dir, &mut prefix, &self.folder_path(folder), &mut found)?;
        // Names are unique: an unstable sort orders them the same, without a scratch copy.
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// The direct children of `folder`: secret names (without `.age`) and sub-folders, sorted,
    /// hidden entries and links left out. One directory read: cheap enough for every TAB.
    fn children(&self, folder: &Folder) -> Result<Vec<(String, bool)>> {
        self.open_folder(folder, false)?;
        let path = self.folder_path(folder);
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&path).map_err(|reason| StoreError::Io {
            path: path.clone(),
            reason,
        })?;
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                out.push((name, true));
            } else if kind.is_file()
                && let Some(stem) = name.strip_suffix(AGE_SUFFIX)
            {
                out.push((stem.to_owned(), false));
            }
        }
        out.sort();
        Ok(out)
    }

    fn inspect(
        &self,
        folder: &Folder,
        known: &mut dyn super::inspect::KnownHeaders,
    ) -> Result<Vec<super::inspect::Found>> {
        let start = self.folder_path(folder);
        let start = start.strip_prefix(&self.root).unwrap_or(Path::new(""));
        super::inspect::inspect(&self.root, start, known)
    }

    fn repair(&self, _lock: &StoreLock, path: &Path, repair: super::inspect::Repair) -> Result<()> {
        super::inspect::repair(&self.root, path, repair)
    }

    /// Removes temporary files left by writers that were killed mid-write (hidden
    /// `.NAME.age.PID.RANDOM.tmp` files, never renamed into place). Only the lock holder may
    /// write, so while we hold the lock every such file is stale. Returns how many were removed.
    /// Sweeping the whole store also sweeps its metadata folder (marks, `.gitignore`).
    fn sweep_temps(&self, _lock: &StoreLock, folder: &Folder) -> Result<usize> {
        let base = self.folder_path(folder);
        let mut removed = 0;
        let walker = WalkDir::new(&base)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0 || e.file_type().is_file() || !is_hidden(e.file_name())
            });
        let meta = folder
            .is_root()
            .then(|| WalkDir::new(self.root.join(META_DIR)).follow_links(false));
        for entry in walker.flatten().chain(meta.into_iter().flatten().flatten()) {
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file()
                && is_temporary(&name)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Reads a secret's mark, if it has one.
    fn read_mark(&self, kind: MarkKind, name: &SecretName) -> Result<Option<Vec<u8>>> {
        let Some(dir) = or_absent(self.open_mark_dir(kind, name, false))? else {
            return Ok(None);
        };
        let file_name = format!("{}{}", name.leaf(), kind.suffix());
        let path = self.mark_path(kind, name);
        or_absent(read_file_at(&dir, &file_name, &path, self.max_file_size))
    }

    /// Writes a secret's mark atomically and durably.
    fn write_mark(
        &self,
        _lock: &StoreLock,
        kind: MarkKind,
        name: &SecretName,
        bytes: &[u8],
    ) -> Result<()> {
        let dir = self.open_mark_dir(kind, name, true)?;
        let file_name = format!("{}{}", name.leaf(), kind.suffix());
        write_atomically(&dir, &file_name, bytes, &self.mark_path(kind, name), true)
    }

    /// Removes a secret's mark and the mark folders it leaves empty. Returns whether there
    /// was one.
    fn remove_mark(&self, _lock: &StoreLock, kind: MarkKind, name: &SecretName) -> Result<bool> {
        let path = self.mark_path(kind, name);
        let Some(dir) = or_absent(self.open_mark_dir(kind, name, false))? else {
            return Ok(false);
        };
        let file_name = format!("{}{}", name.leaf(), kind.suffix());
        refuse_link(&dir, &file_name, &path)?;
        match rustix::fs::unlinkat(&dir, file_name.as_str(), AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(io_error(&path, e)),
        }
        rustix::fs::fsync(&dir).map_err(|e| io_error(&path, e))?;
        // Prune emptied folders of the mark tree, never the tree's own root.
        for folder in name.parent().ancestors() {
            let Some(parent) = folder.parent() else {
                break;
            };
            let components = [META_DIR, kind.dir_name()]
                .into_iter()
                .chain(parent.components());
            let dir = self.open_dir(components, false)?;
            let leaf = folder.components().last().unwrap_or_default();
            match rustix::fs::unlinkat(&dir, leaf, AtFlags::REMOVEDIR) {
                Ok(()) => {}
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT | Errno::NOTDIR) => break,
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Ok(true)
    }

    /// Every secret name that has a mark of `kind`, sorted. Links are skipped, never followed.
    fn marks(&self, kind: MarkKind) -> Result<Vec<SecretName>> {
        let base = self.root.join(META_DIR).join(kind.dir_name());
        if or_absent(self.open_dir([META_DIR, kind.dir_name()], false))?.is_none() {
            return Ok(Vec::new());
        }
        names_below(&base, &base, kind.suffix())
    }

    /// Every folder below (and including) `folder` that holds a recipients file.
    fn recipients_files_below(&self, folder: &Folder) -> Result<Vec<Folder>> {
        let base = self.folder_path(folder);
        let mut found = Vec::new();
        let walker = WalkDir::new(&base)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0 || !is_hidden(e.file_name()) || e.file_name() == RECIPIENTS_FILE
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if is_past_path_limit(&e) => continue,
                Err(e) => return Err(walk_error(&base, e)),
            };
            if entry.file_name() == RECIPIENTS_FILE && entry.file_type().is_file() {
                let dir = entry.path().parent().unwrap_or(&base);
                let rel = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
                if let Some(rel) = rel.to_str()
                    && let Ok(f) = Folder::new(rel)
                {
                    found.push(f);
                }
            }
        }
        Ok(found)
    }
}

/// `Ok(None)` for a result that failed only because something was not there.
fn or_absent<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(found) => Ok(Some(found)),
        Err(StoreError::Io { reason, .. }) if reason.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names of the regular files below `base` whose names end in `suffix`, relative to
/// `relative_to` and without the suffix, sorted. Hidden entries are skipped and links are never
/// followed; paths that are not valid names are left out.
fn names_below(base: &Path, relative_to: &Path, suffix: &str) -> Result<Vec<SecretName>> {
    let mut names = Vec::new();
    walk_secrets(base, relative_to, suffix, |name, _| names.push(name))?;
    names.sort();
    Ok(names)
}

/// Calls `found` with every valid secret name below `base` (files ending in `suffix`, hidden
/// entries skipped, links never followed) and its walk entry, in walk order.
fn walk_secrets(
    base: &Path,
    relative_to: &Path,
    suffix: &str,
    mut found: impl FnMut(SecretName, &walkdir::DirEntry),
) -> Result<()> {
    let walker = WalkDir::new(base)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            // Made behind coffer's back, past the system's path limit: no valid name lies
            // there (names are far shorter), and the rest of the store must stay reachable.
            Err(e) if is_past_path_limit(&e) => continue,
            Err(e) => return Err(walk_error(base, e)),
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(relative_to) else {
            continue;
        };
        let Some(rel) = rel.to_str().and_then(|r| r.strip_suffix(suffix)) else {
            continue;
        };
        if let Ok(name) = SecretName::new(rel) {
            found(name, &entry);
        }
    }
    Ok(())
}

/// Adds every valid secret name below the open folder `dir` (whose name in the store is
/// `prefix`, `path` on disk) with its file's stamp, as [`names_below`] finds them (hidden
/// entries skipped, links never followed), each file `stat`ed beside its folder's handle
/// rather than by a path the kernel would walk again.
fn stamps_below(
    dir: OwnedFd,
    prefix: &mut String,
    path: &Path,
    found: &mut Vec<(SecretName, Option<Stamp>)>,
) -> Result<()> {
    let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| io_error(path, e))?;
    // Sub-folders are walked after this folder's own files, in parallel: the time is one
    // `stat` per file, in the kernel, and two cores do twice as many.
    let mut folders: Vec<(OwnedFd, String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(path, e))?;
        let Ok(file_name) = entry.file_name().to_str() else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let mut kind = entry.file_type();
        let wanted = kind == FileType::Directory
            || kind == FileType::Unknown
            || (kind == FileType::RegularFile && file_name.ends_with(AGE_SUFFIX));
        if !wanted {
            continue;
        }
        let st = match rustix::fs::statat(&dir, file_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            // Gone since the folder was read.
            Err(Errno::NOENT) => continue,
            Err(_) => None,
        };
        if let Some(st) = &st {
            kind = FileType::from_raw_mode(st.st_mode);
        }
        let at = prefix.len();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        if kind == FileType::Directory {
            let opened = rustix::fs::openat(
                &dir,
                file_name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            match opened {
                Ok(sub) => {
                    prefix.push_str(file_name);
                    folders.push((sub, prefix.clone(), path.join(file_name)));
                }
                // Made behind coffer's back, past the system's path limit: no valid name lies
                // there, and the rest of the store must stay reachable.
                Err(Errno::NAMETOOLONG) => {}
                Err(e) => return Err(io_error(&path.join(file_name), e)),
            }
            prefix.truncate(at);
            continue;
        }
        if kind == FileType::RegularFile
            && let Some(stem) = file_name.strip_suffix(AGE_SUFFIX)
        {
            prefix.push_str(stem);
            if let Ok(name) = SecretName::new(prefix) {
                found.push((name, st.as_ref().map(Stamp::of)));
            }
        }
        prefix.truncate(at);
    }
    let below: Vec<Vec<(SecretName, Option<Stamp>)>> = folders
        .into_par_iter()
        .map(|(sub, mut prefix, path)| {
            let mut found = Vec::new();
            stamps_below(sub, &mut prefix, &path, &mut found).map(|()| found)
        })
        .collect::<Result<_>>()?;
    // One exact allocation, not a list doubling (and copying itself) as it grows.
    found.reserve(below.iter().map(Vec::len).sum());
    found.extend(below.into_iter().flatten());
    Ok(())
}

/// How many bytes of directory entries one `getdents` call may fill.
const DIR_BUFFER_BYTES: usize = 32 * 1024;

/// The state of one listing walk: the folder being read (for error messages) and one buffer
/// for directory entries, reused by every folder.
struct TreeWalk {
    path: PathBuf,
    buffer: Vec<u8>,
}

impl TreeWalk {
    /// The listing nodes in the open folder `dir` (at `self.path`), whose names in the store
    /// start with `name_bytes` bytes: secrets (`NAME.age` regular files that make valid
    /// names) and folders that hold some, sorted as `ls` shows them. Hidden entries are
    /// skipped and links never followed, as [`walk_secrets`] does. With `terms`, only what
    /// matches and the folders leading to it ([`TreeNode::prune`]).
    fn below(
        &mut self,
        dir: OwnedFd,
        name_bytes: usize,
        terms: Option<&NameTerms>,
    ) -> Result<Vec<TreeNode>> {
        let mut nodes = Vec::new();
        // Folders to read once this one is read: (index in `nodes`, whether its name matched).
        let mut folders: Vec<(usize, bool)> = Vec::new();
        let mut entries = rustix::fs::RawDir::new(&dir, self.buffer.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(|e| io_error(&self.path, e))?;
            let Ok(file_name) = entry.file_name().to_str() else {
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            let mut kind = entry.file_type();
            if kind == FileType::Unknown {
                kind = match rustix::fs::statat(&dir, file_name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => FileType::from_raw_mode(st.st_mode),
                    Err(_) => continue,
                };
            }
            if kind == FileType::Directory {
                // Room for `/` and one more byte, or no valid name lies below.
                if is_valid_component(file_name)
                    && name_bytes + file_name.len() + 2 <= MAX_NAME_BYTES
                {
                    let matched = terms.is_none_or(|t| t.matches(file_name));
                    folders.push((nodes.len(), matched));
                    nodes.push(TreeNode {
                        name: file_name.to_owned(),
                        is_folder: true,
                        children: Vec::new(),
                    });
                }
            } else if kind == FileType::RegularFile
                && let Some(stem) = file_name.strip_suffix(AGE_SUFFIX)
                && name_bytes + stem.len() <= MAX_NAME_BYTES
                && terms.is_none_or(|t| t.matches(stem))
                && is_valid_component(stem)
            {
                nodes.push(TreeNode {
                    name: stem.to_owned(),
                    is_folder: false,
                    children: Vec::new(),
                });
            }
        }
        for (index, matched) in folders {
            let Some(node) = nodes.get_mut(index) else {
                continue;
            };
            let opened = rustix::fs::openat(
                &dir,
                node.name.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            self.path.push(&node.name);
            let children = match opened {
                Ok(sub) => self.below(
                    sub,
                    name_bytes + node.name.len() + 1,
                    if matched { None } else { terms },
                ),
                // Gone, or made a link, since the folder was read: nothing to list there.
                Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => Ok(Vec::new()),
                Err(e) => Err(io_error(&self.path, e)),
            };
            self.path.pop();
            node.children = children?;
        }
        // Folders that hold no secret (or, with terms, nothing that matched) are not shown.
        nodes.retain(|n| !n.is_folder || !n.children.is_empty());
        nodes.sort_unstable_by(|a, b| a.name.cmp(&b.name).then(b.is_folder.cmp(&a.is_folder)));
        Ok(nodes)
    }
}

/// Whether `file_name` is one of [`write_temp`]'s files: `.NAME.PID.RANDOM.tmp`.
fn is_temporary(file_name: &str) -> bool {
    crate::sys::private::is_temporary(file_name)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".")
}

/// Reads a regular file whole, refusing (from `fstat`, before reading a byte) one larger
/// than `max` bytes; a file that grows while read is cut off and refused the same way.
fn read_file_at(dir: &OwnedFd, file_name: &str, path: &Path, max: u64) -> Result<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        file_name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| classify(dir, file_name, path, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| io_error(path, e))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(StoreError::NotAFile(path.to_owned()));
    }
    let too_large = || StoreError::TooLarge {
        path: path.to_owned(),
        limit: max,
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    File::from(fd)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|reason| StoreError::Io {
            path: path.to_owned(),
            reason,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Fails if `file_name` in `dir` is a link (we would replace the link, not follow it, but an
/// operation on a link must fail and leave it alone).
fn refuse_link(dir: &OwnedFd, file_name: &str, path: &Path) -> Result<()> {
    crate::sys::private::check_replaceable_at(dir, file_name.as_ref(), path)?;
    Ok(())
}

/// Writes `bytes` to a new temporary file beside `file_name`; returns the temporary's name.
/// On failure nothing is left behind.
fn write_temp(
    dir: &OwnedFd,
    file_name: &str,
    bytes: &[u8],
    path: &Path,
    sync: bool,
) -> Result<String> {
    Ok(crate::sys::private::write_temp_at(
        dir, file_name, bytes, path, sync,
    )?)
}

/// Sets a file's modification time (access time now).
fn set_modified(
    dir: &OwnedFd,
    file_name: &str,
    time: std::time::SystemTime,
    path: &Path,
) -> Result<()> {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = rustix::fs::Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(since.subsec_nanos()),
    };
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let times = rustix::fs::Timestamps {
        last_access: now,
        last_modification: stamp,
    };
    rustix::fs::utimensat(dir, file_name, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io_error(path, e))
}

/// temp file → fsync → rename → fsync the folder, through [`private`].
fn write_atomically(
    dir: &OwnedFd,
    file_name: &str,
    bytes: &[u8],
    path: &Path,
    sync: bool,
) -> Result<()> {
    Ok(crate::sys::private::write_atomically_at(
        dir, file_name, bytes, path, sync,
    )?)
}

/// Turns an `openat` failure into the error a user should see: a link is named as such.
fn classify(dir: &OwnedFd, component: &str, path: &Path, e: Errno) -> StoreError {
    if matches!(e, Errno::LOOP | Errno::NOTDIR)
        && let Ok(st) = rustix::fs::statat(dir.as_fd(), component, AtFlags::SYMLINK_NOFOLLOW)
        && rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
    {
        return StoreError::Symlink(path.to_owned());
    }
    io_error(path, e)
}

fn io_error(path: &Path, e: Errno) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: io::Error::from(e),
    }
}

/// Whether a walk failed because a path grew past `PATH_MAX` (a tree made deeper than any
/// valid name reaches).
fn is_past_path_limit(e: &walkdir::Error) -> bool {
    e.io_error()
        .and_then(io::Error::raw_os_error)
        .is_some_and(|code| code == Errno::NAMETOOLONG.raw_os_error())
}

fn walk_error(base: &Path, e: walkdir::Error) -> StoreError {
    let path = e.path().unwrap_or(base).to_owned();
    StoreError::Io {
        path,
        reason: e.into(),
    }
}

impl From<crate::sys::private::PrivateError> for StoreError {
    fn from(e: crate::sys::private::PrivateError) -> Self {
        use crate::sys::private::PrivateError;
        match e {
            PrivateError::Symlink(path) => StoreError::Symlink(path),
            PrivateError::NotAFile(path) => StoreError::NotAFile(path),
            PrivateError::NoSpace(path) => StoreError::NoSpace(path),
            PrivateError::Write { path, source }
            | PrivateError::CreateDir { path, source }
            | PrivateError::Inspect { path, source } => StoreError::Io {
                path,
                reason: source,
            },
            other => StoreError::Io {
                path: other.path().to_owned(),
                reason: io::Error::other(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::private::fault;
    use std::os::unix::fs::PermissionsExt;

    fn store() -> (tempfile::TempDir, FsStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::create(&dir.path().join("store")).unwrap();
        (dir, store)
    }

    fn name(s: &str) -> SecretName {
        SecretName::new(s).unwrap()
    }

    #[test]
    fn write_read_list_remove() {
        let (_t, s) = store();
        let lock = s.lock().unwrap();
        s.write(&lock, &name("a/b/c"), b"one").unwrap();
        s.write(&lock, &name("top"), b"two").unwrap();
        assert_eq!(s.read(&name("a/b/c")).unwrap(), b"one");
        assert_eq!(
            s.list(&Folder::root()).unwrap(),
            [name("a/b/c"), name("top")]
        );
        let mode = std::fs::metadata(s.path_of(&name("a/b/c")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(s.root().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        s.remove(&lock, &name("a/b/c")).unwrap();
        assert!(!s.root().join("a").exists(), "emptied folders are removed");
        assert!(matches!(
            s.read(&name("a/b/c")),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn enospc_keeps_the_old_file_and_leaves_no_temp() {
        let (_t, s) = store();
        let lock = s.lock().unwrap();
        s.write(&lock, &name("x"), b"old content").unwrap();
        fault::FAIL_AFTER.with(|f| f.set(Some(3)));
        let err = s.write(&lock, &name("x"), b"new content that does not fit");
        let batch = s.write_batch(
            &lock,
            &[
                (name("y"), b"abcdef".to_vec()),
                (name("x"), b"zzzz".to_vec()),
            ],
        );
        fault::FAIL_AFTER.with(|f| f.set(None));
        assert!(matches!(err, Err(StoreError::NoSpace(_))), "{err:?}");
        assert!(matches!(batch, Err(StoreError::NoSpace(_))), "{batch:?}");
        assert_eq!(s.read(&name("x")).unwrap(), b"old content");
        assert!(matches!(s.read(&name("y")), Err(StoreError::NotFound(_))));
        let leftovers: Vec<_> = std::fs::read_dir(s.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn stale_temporaries_are_swept_under_the_lock() {
        let (_t, s) = store();
        let lock = s.lock().unwrap();
        s.write(&lock, &name("d/x"), b"x").unwrap();
        let stale = s.root().join("d/.x.age.999.0123456789abcdef.tmp");
        std::fs::write(&stale, b"partial").unwrap();
        let meta_stale = s
            .root()
            .join(".coffer/..gitignore.999.0123456789abcdef.tmp");
        std::fs::create_dir_all(meta_stale.parent().unwrap()).unwrap();
        std::fs::write(&meta_stale, b"partial").unwrap();
        let keep = s.root().join("d/.notes.tmp");
        std::fs::write(&keep, b"not ours").unwrap();
        assert_eq!(s.sweep_temps(&lock, &Folder::root()).unwrap(), 2);
        assert!(keep.exists(), "only coffer's own temporaries are swept");
        assert!(is_temporary(".x.age.12.0123456789abcdef.tmp"));
        assert!(is_temporary("..age-recipients.12.0123456789abcdef.tmp"));
        assert!(!is_temporary(".x.age.tmp"));
        assert!(!stale.exists() && !meta_stale.exists());
        assert_eq!(s.read(&name("d/x")).unwrap(), b"x");
    }

    #[test]
    fn links_are_refused_everywhere() {
        let (t, s) = store();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("x.age"), b"target").unwrap();
        std::os::unix::fs::symlink(&outside, s.root().join("dir")).unwrap();
        std::os::unix::fs::symlink(outside.join("x.age"), s.root().join("file.age")).unwrap();
        let lock = s.lock().unwrap();
        assert!(matches!(
            s.read(&name("dir/x")),
            Err(StoreError::Symlink(_))
        ));
        assert!(matches!(s.read(&name("file")), Err(StoreError::Symlink(_))));
        assert!(matches!(
            s.write(&lock, &name("dir/x"), b"evil"),
            Err(StoreError::Symlink(_))
        ));
        assert!(matches!(
            s.write(&lock, &name("file"), b"evil"),
            Err(StoreError::Symlink(_))
        ));
        assert!(matches!(
            s.remove(&lock, &name("file")),
            Err(StoreError::Symlink(_))
        ));
        assert!(s.list(&Folder::root()).unwrap().is_empty());
        assert_eq!(std::fs::read(outside.join("x.age")).unwrap(), b"target");
    }

    /// The walk that builds `ls`'s and `find`'s trees sees the store as `list` does: hidden
    /// entries, links, other files and invalid names left out, and the same tree as
    /// `build_tree` of the listed names (pruned by the same terms).
    #[test]
    fn the_tree_walk_shows_what_the_listing_shows() {
        let (t, s) = store();
        let root = s.root().to_owned();
        let outside = t.path().join("outside");
        std::fs::create_dir_all(outside.join("in")).unwrap();
        std::fs::write(outside.join("in/x.age"), b"").unwrap();
        for dir in [
            "a/b",
            "a!",
            "web/mail",
            "web/Shop",
            ".hidden",
            "empty/deeper",
            "caf\u{e9}",
            "k",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let files = [
            "a.age",
            "a!.age",
            "a-b.age",
            "a/b.age",
            "a/b!x.age",
            "a/b/c.age",
            "a/d.age",
            "a!/z.age",
            "web/mail/me.age",
            "web/Shop/KEY.age",
            "web/notes.txt",
            "top.age",
            ".hidden/x.age",
            "web/.x.age",
            "caf\u{e9}/\u{212a}ey.age",
            "k/\u{202e}x.age",
            "k/ok.age",
        ];
        for file in files {
            std::fs::write(root.join(file), b"").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        std::os::unix::fs::symlink(outside.join("in/x.age"), root.join("l.age")).unwrap();
        // A name at the length limit is listed; one byte longer is not.
        let long = "x".repeat(200);
        let deep = [long.as_str(); 5].join("/");
        std::fs::create_dir_all(root.join(&deep)).unwrap();
        let fits = "y".repeat(MAX_NAME_BYTES - deep.len() - 1);
        std::fs::write(root.join(&deep).join(format!("{fits}.age")), b"").unwrap();
        std::fs::write(root.join(&deep).join(format!("{fits}z.age")), b"").unwrap();

        let folders = [
            Folder::root(),
            Folder::new("a").unwrap(),
            Folder::new("web").unwrap(),
        ];
        for folder in folders {
            let names = s.list(&folder).unwrap();
            assert_eq!(
                s.tree(&folder).unwrap(),
                super::super::build_tree(&folder, &names)
            );
            for terms in [
                &["b"][..],
                &["SHOP"],
                &["key", "a-"],
                &["zz"],
                &[""],
                &["k"],
            ] {
                let terms = NameTerms::new(terms);
                let mut expected = super::super::build_tree(&folder, &names);
                expected.prune(&terms);
                assert_eq!(
                    s.tree_matching(&folder, &terms).unwrap(),
                    expected,
                    "{terms:?}"
                );
            }
        }
        let listed = s.list(&Folder::root()).unwrap();
        assert!(listed.contains(&name(&format!("{deep}/{fits}"))));
        assert!(
            !listed
                .iter()
                .any(|n| n.as_str().contains("hidden") || n.leaf() == "l")
        );
        assert_eq!(
            listed
                .iter()
                .filter(|n| n.as_str().starts_with("k/"))
                .count(),
            1
        );
    }

    #[test]
    fn second_writer_is_told_who_holds_the_lock() {
        let (_t, s) = store();
        let _held = s.lock().unwrap();
        // flock is per open file description, so a second open in this process contends.
        let other = FsStore::open(s.root()).unwrap();
        match other.lock() {
            Err(StoreError::Locked { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {:?}", other.err()),
        }
    }

    #[test]
    fn marks_mirror_names_and_prune() {
        let (_t, s) = store();
        let lock = s.lock().unwrap();
        assert!(s.marks(MarkKind::Exposed).unwrap().is_empty());
        s.write_mark(&lock, MarkKind::Exposed, &name("a"), b"1")
            .unwrap();
        s.write_mark(&lock, MarkKind::Exposed, &name("a/b/c"), b"2")
            .unwrap();
        assert_eq!(
            s.marks(MarkKind::Exposed).unwrap(),
            [name("a"), name("a/b/c")]
        );
        assert_eq!(
            s.read_mark(MarkKind::Exposed, &name("a/b/c"))
                .unwrap()
                .unwrap(),
            b"2"
        );
        assert!(
            s.remove_mark(&lock, MarkKind::Exposed, &name("a/b/c"))
                .unwrap()
        );
        assert!(
            !s.remove_mark(&lock, MarkKind::Exposed, &name("a/b/c"))
                .unwrap()
        );
        assert!(
            !s.root().join(".coffer/exposed/a").exists(),
            "emptied folders go"
        );
        assert_eq!(s.marks(MarkKind::Exposed).unwrap(), [name("a")]);
        assert!(
            s.list(&Folder::root()).unwrap().is_empty(),
            "marks are not secrets"
        );
    }

    #[test]
    fn marks_refuse_links() {
        let (t, s) = store();
        let lock = s.lock().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, s.root().join(".coffer/exposed")).unwrap();
        assert!(matches!(
            s.write_mark(&lock, MarkKind::Exposed, &name("x"), b"evil"),
            Err(StoreError::Symlink(_))
        ));
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    }

    #[test]
    fn nearest_recipients_wins() {
        let (_t, s) = store();
        let lock = s.lock().unwrap();
        s.write_meta(&lock, &Folder::root(), MetaFile::Recipients, b"root")
            .unwrap();
        s.write_meta(
            &lock,
            &Folder::new("team").unwrap(),
            MetaFile::Recipients,
            b"team",
        )
        .unwrap();
        let (f, b) = s
            .nearest_recipients(&Folder::new("team/db").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!((f.as_str(), &b[..]), ("team", &b"team"[..]));
        let (f, _) = s
            .nearest_recipients(&Folder::new("other").unwrap())
            .unwrap()
            .unwrap();
        assert!(f.is_root());
    }
}
