//! Storage: validated secret names, and the seam between the vault and where its files live.
//!
//! [`Storage`] is everything the vault asks of a place that keeps secrets: read, write in
//! batches, remove, list, say what is at a name, keep metadata files and per-secret marks, and
//! take the writer lock. [`FsStore`] is the real one (a folder on disk, reached only through
//! directory handles, never following a link); [`MemoryStore`] keeps everything in memory for
//! unit tests of the layers above. Nothing outside this module touches a secret's file.

pub mod name;

mod fs;
pub mod inspect;
mod memory;

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use fs::FsStore;
pub use memory::MemoryStore;

use name::{Folder, SecretName};

/// The suffix of every secret file.
pub const AGE_SUFFIX: &str = ".age";
/// The recipients file of a folder.
pub const RECIPIENTS_FILE: &str = ".age-recipients";
/// The largest file the store reads unless told otherwise (`[limits] max_secret_size`): far
/// above any real secret (and above age's 256-chunk stream boundary, which the CCTV vectors
/// cross), far below what hurts memory.
pub const DEFAULT_MAX_SECRET_SIZE: u64 = 64 << 20;
/// The folder for vault metadata shared with the team.
pub const META_DIR: &str = ".coffer";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("there is no store at {0}")]
    NoStore(PathBuf),
    #[error("{0} is not in the store.")]
    NotFound(String),
    #[error("{0} is a symbolic link; coffer never follows links inside the store")]
    Symlink(PathBuf),
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    #[error("{0} already exists")]
    AlreadyExists(PathBuf),
    #[error("{path} is larger than {limit} bytes (limits.max_secret_size); it was not read")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("the store is locked by another coffer process{}; try again when it has finished", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { pid: Option<u32> },
    #[error("no space left on the device holding {0}; nothing was changed")]
    NoSpace(PathBuf),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: io::Error },
    #[error("{0} is not available in this kind of store")]
    Unsupported(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What lives at a name: a secret, a folder, or both (`a.age` beside `a/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub secret: bool,
    pub folder: bool,
}

/// A node of the listing tree used by `ls` and `find`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    /// The displayed name (without `.age`).
    pub name: String,
    pub is_folder: bool,
    pub children: Vec<TreeNode>,
}

impl TreeNode {
    /// Keeps the nodes whose name matches `terms`, with a matching folder's whole subtree
    /// (`tree --prune --matchdirs`), and the folders leading to them. Pruning twice changes
    /// nothing more.
    pub fn prune(&mut self, terms: &NameTerms) {
        self.children.retain_mut(|child| {
            if terms.matches(&child.name) {
                return true;
            }
            if child.is_folder {
                child.prune(terms);
                return !child.children.is_empty();
            }
            false
        });
    }
}

/// What `find` looks for: names containing any of the terms, case-insensitively (as the
/// lower-case forms compare).
#[derive(Debug, Clone)]
pub struct NameTerms {
    lower: Vec<String>,
}

impl NameTerms {
    pub fn new<S: AsRef<str>>(terms: &[S]) -> Self {
        Self {
            lower: terms.iter().map(|t| t.as_ref().to_lowercase()).collect(),
        }
    }

    /// Whether `name` contains one of the terms, ignoring case. An ASCII name is compared in
    /// place; any other is lower-cased first, since a non-ASCII letter can lower-case to an
    /// ASCII one (the Kelvin sign to `k`).
    pub fn matches(&self, name: &str) -> bool {
        if name.is_ascii() {
            let name = name.as_bytes();
            return self.lower.iter().any(|term| {
                let term = term.as_bytes();
                term.is_empty()
                    || name
                        .windows(term.len())
                        .any(|window| window.eq_ignore_ascii_case(term))
            });
        }
        let lower = name.to_lowercase();
        self.lower.iter().any(|term| lower.contains(term.as_str()))
    }
}

/// What the file system says about a secret's file, enough to tell that it changed: any
/// write (in place or by renaming a new file over it), `chmod` or `touch` gives a different
/// stamp, because the kernel sets the change time (`ctime`) to the current time and no user
/// can set it back. Two writes within one tick of the file system's clock can share a
/// change time: [`Stamp::settled_before`] says when a stamp is old enough for that not to
/// matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub modified: (i64, i64),
    pub changed: (i64, i64),
}

impl Stamp {
    /// The stamp of a file as `stat` saw it.
    pub fn of(st: &rustix::fs::Stat) -> Self {
        Stamp {
            device: st.st_dev,
            inode: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            modified: (st.st_mtime, i64::try_from(st.st_mtime_nsec).unwrap_or(0)),
            changed: (st.st_ctime, i64::try_from(st.st_ctime_nsec).unwrap_or(0)),
        }
    }

    /// How long after a change its change time can be trusted to mark it: far above the
    /// file system clock's tick (a few milliseconds) and the 2-second timestamps of FAT.
    pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

    /// Whether the file last changed at least [`Stamp::SETTLE`] before `moment`. A change
    /// made after `moment` then gets a later change time, so it cannot share this stamp.
    pub fn settled_before(&self, moment: SystemTime) -> bool {
        let Ok(since) = moment.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let Some(limit) = since.checked_sub(Self::SETTLE) else {
            return false;
        };
        let limit = (
            i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
            i64::from(limit.subsec_nanos()),
        );
        self.changed < limit
    }

    /// The file's modification time, as [`Storage::modified`] gives it (a time before 1970
    /// counts as 1970).
    pub fn modified_time(&self) -> SystemTime {
        let (seconds, nanos) = self.modified;
        let since = std::time::Duration::new(
            u64::try_from(seconds).unwrap_or(0),
            u32::try_from(nanos).unwrap_or(0),
        );
        SystemTime::UNIX_EPOCH + since
    }
}

/// Metadata files the store may hold besides secrets. An allow-list: nothing else can be
/// written outside of `NAME.age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFile {
    /// `.age-recipients` of a folder.
    Recipients,
    /// `.gitattributes` at the root.
    GitAttributes,
    /// `.browserpass.json` at the root: browserpass's per-store settings, read only.
    BrowserpassSettings,
}

impl MetaFile {
    pub fn file_name(self) -> &'static str {
        match self {
            MetaFile::Recipients => RECIPIENTS_FILE,
            MetaFile::GitAttributes => ".gitattributes",
            MetaFile::BrowserpassSettings => ".browserpass.json",
        }
    }
}

/// Folders under `.coffer/` that hold coffer's own files (an allow-list, like [`MetaFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaDir {
    /// `.coffer/log/`: the shared access logs, one file per device.
    Log,
}

impl MetaDir {
    /// The folder's path components below the store root.
    pub fn components(self) -> [&'static str; 2] {
        match self {
            MetaDir::Log => [META_DIR, "log"],
        }
    }
}

/// Per-secret marks the team shares in `.coffer/`: a tree beside the secrets, one small text
/// file per marked secret (`.coffer/exposed/team/db.exposed` marks `team/db`). One file per
/// secret, not one list, so two people marking or clearing different secrets never conflict
/// in git. An allow-list, like [`MetaFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// Readable by a recipient who has since been removed (see `exposure`).
    Exposed,
}

impl MarkKind {
    pub fn dir_name(self) -> &'static str {
        match self {
            MarkKind::Exposed => "exposed",
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            MarkKind::Exposed => ".exposed",
        }
    }
}

/// Held by every writer; released on drop (or when the process dies). Every write takes one,
/// so a write without the lock does not compile.
pub struct StoreLock {
    _held: Box<dyn std::any::Any + Send + Sync>,
}

impl StoreLock {
    /// A lock that stays held as long as `held` lives (a locked file, a guard).
    pub fn holding(held: impl std::any::Any + Send + Sync) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

/// What the vault needs from a place that keeps secrets. Implementations must keep the
/// storage invariants: a write replaces a secret whole or not at all, nothing is written
/// outside the store, and a link inside the store is never followed.
pub trait Storage: Send + Sync {
    /// Where the store lives: for messages, and for tools like git that work on paths.
    fn root(&self) -> &Path;

    /// The one name of this store however it was reached (links resolved): what this
    /// device's trust pins are keyed by.
    fn canonical_root(&self) -> io::Result<PathBuf> {
        std::fs::canonicalize(self.root())
    }

    /// Reads a secret's ciphertext.
    fn read(&self, name: &SecretName) -> Result<Vec<u8>>;

    /// Reads many secrets' ciphertexts, in the order of `names`.
    fn read_many(&self, names: &[SecretName]) -> Vec<Result<Vec<u8>>> {
        names.iter().map(|name| self.read(name)).collect()
    }

    /// What exists at `name`: a secret, a folder, both, or neither.
    fn entry(&self, name: &SecretName) -> Result<Entry>;

    /// The size of a secret's file, in bytes, without reading it.
    fn size(&self, name: &SecretName) -> Result<u64>;

    /// When a secret was last written (its rotation date in a store without git).
    fn modified(&self, name: &SecretName) -> Result<SystemTime>;

    /// Takes the writer lock, waiting a little for another writer to finish.
    fn lock(&self) -> Result<StoreLock>;

    /// Writes one secret atomically and durably.
    fn write(&self, lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()>;

    /// Writes a new secret atomically and durably, only if nothing is at `name` yet: it never
    /// replaces a secret, not even one another process wrote a moment ago
    /// ([`StoreError::AlreadyExists`] then).
    fn create(&self, lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()>;

    /// Writes many secrets, each old or new after a crash, giving each the modification time
    /// at the same index of `times` when there is one (re-encryption keeps a secret's date).
    fn write_batch_keeping_times(
        &self,
        lock: &StoreLock,
        items: &[(SecretName, Vec<u8>)],
        times: &[Option<SystemTime>],
    ) -> Result<()>;

    /// [`Storage::write_batch_keeping_times`] with new times.
    fn write_batch(&self, lock: &StoreLock, items: &[(SecretName, Vec<u8>)]) -> Result<()> {
        self.write_batch_keeping_times(lock, items, &[])
    }

    /// Removes one secret, then any folders it leaves empty (as `pass rm` does).
    fn remove(&self, lock: &StoreLock, name: &SecretName) -> Result<()>;

    /// Removes a whole folder. Refuses if anything inside is a link.
    fn remove_folder(&self, lock: &StoreLock, folder: &Folder) -> Result<()>;

    /// Removes `folder` and its parents while they are empty (never the root).
    fn prune_empty(&self, folder: &Folder) -> Result<()>;

    /// Every secret at or below `folder`, sorted by name.
    fn list(&self, folder: &Folder) -> Result<Vec<SecretName>>;

    /// Every secret at or below `folder` with its file's [`Stamp`] (`None` where the backend
    /// has none: such a secret is never taken from a cache), sorted by name.
    fn list_stamped(&self, folder: &Folder) -> Result<Vec<(SecretName, Option<Stamp>)>> {
        Ok(self.list(folder)?.into_iter().map(|n| (n, None)).collect())
    }

    /// The direct children of `folder`: secret names (without `.age`) and sub-folders
    /// (`true`), sorted, hidden entries and links left out.
    fn children(&self, folder: &Folder) -> Result<Vec<(String, bool)>>;

    /// The listing tree below `folder`: folders that hold no secret are pruned, as `tree
    /// --prune` does for pass.
    fn tree(&self, folder: &Folder) -> Result<TreeNode> {
        Ok(build_tree(folder, &self.list(folder)?))
    }

    /// [`Storage::tree`] pruned to the names matching `terms` ([`TreeNode::prune`]), as
    /// `find` shows it.
    fn tree_matching(&self, folder: &Folder, terms: &NameTerms) -> Result<TreeNode> {
        let mut tree = self.tree(folder)?;
        tree.prune(terms);
        Ok(tree)
    }

    /// Removes temporary files left by killed writers below `folder`; returns how many.
    fn sweep_temps(&self, lock: &StoreLock, folder: &Folder) -> Result<usize>;

    /// Every file system entry at or below `folder`, for `fsck` (see [`inspect`]), the
    /// headers `known` has for a file's current stamp taken from it. A store that is not on
    /// disk has none to show.
    fn inspect(
        &self,
        _folder: &Folder,
        _known: &mut dyn inspect::KnownHeaders,
    ) -> Result<Vec<inspect::Found>> {
        Err(StoreError::Unsupported("fsck"))
    }

    /// Makes one of `fsck --fix`'s safe repairs to `path` (relative to the root, as
    /// [`Storage::inspect`] gave it).
    fn repair(&self, _lock: &StoreLock, _path: &Path, _repair: inspect::Repair) -> Result<()> {
        Err(StoreError::Unsupported("fsck --fix"))
    }

    /// Reads a metadata file of a folder, if it exists.
    fn read_meta(&self, folder: &Folder, file: MetaFile) -> Result<Option<Vec<u8>>>;

    /// Writes a metadata file atomically and durably.
    fn write_meta(
        &self,
        lock: &StoreLock,
        folder: &Folder,
        file: MetaFile,
        bytes: &[u8],
    ) -> Result<()>;

    /// Removes a metadata file; absent is fine.
    fn remove_meta(&self, lock: &StoreLock, folder: &Folder, file: MetaFile) -> Result<()>;

    /// The nearest `.age-recipients` at or above `folder`: where it is, and its bytes.
    fn nearest_recipients(&self, folder: &Folder) -> Result<Option<(Folder, Vec<u8>)>> {
        for candidate in folder.ancestors() {
            if let Some(bytes) = self.read_meta(&candidate, MetaFile::Recipients)? {
                return Ok(Some((candidate, bytes)));
            }
        }
        Ok(None)
    }

    /// Every folder at or below `folder` that holds a recipients file.
    fn recipients_files_below(&self, folder: &Folder) -> Result<Vec<Folder>>;

    /// Reads a secret's mark, if it has one.
    fn read_mark(&self, kind: MarkKind, name: &SecretName) -> Result<Option<Vec<u8>>>;

    /// Writes a secret's mark atomically and durably.
    fn write_mark(
        &self,
        lock: &StoreLock,
        kind: MarkKind,
        name: &SecretName,
        bytes: &[u8],
    ) -> Result<()>;

    /// Removes a secret's mark; returns whether there was one.
    fn remove_mark(&self, lock: &StoreLock, kind: MarkKind, name: &SecretName) -> Result<bool>;

    /// Every secret name that has a mark of `kind`, sorted.
    fn marks(&self, kind: MarkKind) -> Result<Vec<SecretName>>;

    /// Opens (creating if asked) one of coffer's metadata folders on disk, for files that are
    /// appended to in place (the shared access log). Only a store on disk has one.
    fn meta_dir(&self, dir: MetaDir, create: bool) -> Result<(std::os::fd::OwnedFd, PathBuf)> {
        let _ = (dir, create);
        Err(StoreError::Unsupported("a metadata folder on disk"))
    }

    /// The path of a secret's file, for messages and for git.
    fn path_of(&self, name: &SecretName) -> PathBuf {
        self.root().join(name.relative_path())
    }

    /// The path of a folder, for messages and for git.
    fn folder_path(&self, folder: &Folder) -> PathBuf {
        if folder.is_root() {
            self.root().to_owned()
        } else {
            self.root().join(folder.as_str())
        }
    }

    /// The path of a folder's metadata file, for messages and for git.
    fn meta_path(&self, folder: &Folder, file: MetaFile) -> PathBuf {
        self.folder_path(folder).join(file.file_name())
    }

    /// The path of a secret's mark, for messages and for git.
    fn mark_path(&self, kind: MarkKind, name: &SecretName) -> PathBuf {
        self.root()
            .join(META_DIR)
            .join(kind.dir_name())
            .join(format!("{}{}", name.as_str(), kind.suffix()))
    }
}

/// The listing tree of `names` below `folder`.
///
/// One pass: in sorted order every name below a folder `f/` is contiguous (they share the
/// prefix), so a component either extends the last child of its parent or starts a new one.
/// Unsorted input is sorted first; the final sort only orders siblings for display.
pub fn build_tree(folder: &Folder, names: &[SecretName]) -> TreeNode {
    let mut root = TreeNode {
        name: folder.to_string(),
        is_folder: true,
        children: Vec::new(),
    };
    let mut relative: Vec<&str> = names.iter().filter_map(|n| folder.relative(n)).collect();
    if !relative.is_sorted() {
        relative.sort_unstable();
    }
    for rel in relative {
        insert_sorted(&mut root, rel);
    }
    sort_tree(&mut root);
    root
}

/// A missing file or folder on the way to `name` means the secret is not in the store.
fn not_found_as(name: &SecretName, e: StoreError) -> StoreError {
    match e {
        StoreError::Io { reason, .. } if reason.kind() == io::ErrorKind::NotFound => {
            StoreError::NotFound(name.to_string())
        }
        StoreError::NoStore(_) => StoreError::NotFound(name.to_string()),
        e => e,
    }
}

/// Inserts the relative name `rel` below `node`, where every earlier name was smaller: only
/// the last child on each level can be the one it continues.
fn insert_sorted(mut node: &mut TreeNode, rel: &str) {
    let mut parts = rel.split('/').peekable();
    while let Some(part) = parts.next() {
        let is_folder = parts.peek().is_some();
        let continues = node
            .children
            .last()
            .is_some_and(|c| c.is_folder == is_folder && c.name == part);
        if !continues {
            node.children.push(TreeNode {
                name: part.to_owned(),
                is_folder,
                children: Vec::new(),
            });
        }
        let Some(next) = node.children.last_mut() else {
            return;
        };
        node = next;
    }
}

fn sort_tree(node: &mut TreeNode) {
    node.children
        .sort_by(|a, b| a.name.cmp(&b.name).then(b.is_folder.cmp(&a.is_folder)));
    node.children.iter_mut().for_each(sort_tree);
}

/// The storage contract, run against every backend: what the vault relies on.
#[cfg(test)]
mod contract {
    use super::*;

    fn name(s: &str) -> SecretName {
        SecretName::new(s).unwrap()
    }

    fn folder(s: &str) -> Folder {
        Folder::new(s).unwrap()
    }

    fn backends() -> Vec<(Box<dyn Storage>, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let fs = FsStore::open(dir.path()).unwrap();
        vec![
            (Box::new(fs), Some(dir)),
            (Box::new(MemoryStore::new("/memory")), None),
        ]
    }

    #[test]
    fn written_secrets_read_back_list_and_show_in_the_tree() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            store.write(&lock, &name("web/shop"), b"one").unwrap();
            store
                .write_batch(
                    &lock,
                    &[
                        (name("web/mail"), b"two".to_vec()),
                        (name("top"), b"3".to_vec()),
                    ],
                )
                .unwrap();
            assert_eq!(store.read(&name("web/shop")).unwrap(), b"one");
            assert_eq!(
                store
                    .read_many(&[name("top"), name("web/mail")])
                    .into_iter()
                    .map(Result::unwrap)
                    .collect::<Vec<_>>(),
                vec![b"3".to_vec(), b"two".to_vec()]
            );
            assert_eq!(
                store.list(&Folder::root()).unwrap(),
                vec![name("top"), name("web/mail"), name("web/shop")]
            );
            assert_eq!(store.list(&folder("web")).unwrap().len(), 2);
            assert_eq!(
                store.children(&Folder::root()).unwrap(),
                vec![("top".to_owned(), false), ("web".to_owned(), true)]
            );
            let tree = store.tree(&Folder::root()).unwrap();
            assert_eq!(tree.children.len(), 2);
            assert_eq!(tree.children[1].children.len(), 2);
            let web = store.entry(&name("web")).unwrap();
            assert!(web.folder && !web.secret);
            let shop = store.entry(&name("web/shop")).unwrap();
            assert!(shop.secret && !shop.folder);
            let none = store.entry(&name("nothing/here")).unwrap();
            assert!(!none.secret && !none.folder);
        }
    }

    #[test]
    fn stamped_listing_names_what_list_names_and_a_rewrite_changes_the_stamp() {
        for (store, dir) in backends() {
            let lock = store.lock().unwrap();
            for n in ["top", "web/shop", "web/deep/mail"] {
                store.write(&lock, &name(n), b"one").unwrap();
            }
            if let Some(dir) = &dir {
                // Hidden files, links and other files are not secrets.
                std::fs::write(dir.path().join("web/.hidden.age"), b"x").unwrap();
                std::fs::write(dir.path().join("web/notes.txt"), b"x").unwrap();
                std::os::unix::fs::symlink("shop.age", dir.path().join("web/link.age")).unwrap();
            }
            for folder in [Folder::root(), folder("web")] {
                let stamped = store.list_stamped(&folder).unwrap();
                let names: Vec<_> = stamped.iter().map(|(n, _)| n.clone()).collect();
                assert_eq!(names, store.list(&folder).unwrap());
            }
            let stamp = |n: &str| {
                let all = store.list_stamped(&Folder::root()).unwrap();
                all.into_iter().find(|(x, _)| *x == name(n)).unwrap().1
            };
            let before = stamp("web/shop");
            assert_eq!(before.is_some(), dir.is_some());
            store.write(&lock, &name("web/shop"), b"two").unwrap();
            if before.is_some() {
                assert_ne!(stamp("web/shop"), before);
            }
        }
    }

    #[test]
    fn a_missing_secret_is_not_found() {
        for (store, _dir) in backends() {
            assert!(matches!(
                store.read(&name("no/such")),
                Err(StoreError::NotFound(n)) if n == "no/such"
            ));
            assert!(store.modified(&name("no/such")).is_err());
            assert!(matches!(
                store.list(&folder("no")),
                Err(StoreError::Io { reason, .. }) if reason.kind() == io::ErrorKind::NotFound
            ));
        }
    }

    #[test]
    fn removing_prunes_emptied_folders_and_nothing_else() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            store.write(&lock, &name("a/b/c"), b"1").unwrap();
            store.write(&lock, &name("a/d"), b"2").unwrap();
            store.remove(&lock, &name("a/b/c")).unwrap();
            assert!(!store.entry(&name("a/b")).unwrap().folder);
            assert!(store.entry(&name("a")).unwrap().folder);
            assert_eq!(store.list(&Folder::root()).unwrap(), vec![name("a/d")]);
            store.write(&lock, &name("x/y"), b"3").unwrap();
            store.remove_folder(&lock, &folder("x")).unwrap();
            assert_eq!(store.list(&Folder::root()).unwrap(), vec![name("a/d")]);
            assert!(store.remove(&lock, &name("x/y")).is_err());
        }
    }

    #[test]
    fn the_nearest_recipients_file_applies() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            store
                .write_meta(&lock, &Folder::root(), MetaFile::Recipients, b"root\n")
                .unwrap();
            store
                .write_meta(&lock, &folder("team"), MetaFile::Recipients, b"team\n")
                .unwrap();
            let (at, bytes) = store
                .nearest_recipients(&folder("team/db"))
                .unwrap()
                .unwrap();
            assert_eq!((at, bytes), (folder("team"), b"team\n".to_vec()));
            let (at, _) = store.nearest_recipients(&folder("web")).unwrap().unwrap();
            assert!(at.is_root());
            assert_eq!(
                store.recipients_files_below(&Folder::root()).unwrap().len(),
                2
            );
            assert_eq!(
                store.recipients_files_below(&folder("team")).unwrap(),
                vec![folder("team")]
            );
            store
                .remove_meta(&lock, &folder("team"), MetaFile::Recipients)
                .unwrap();
            let (at, _) = store
                .nearest_recipients(&folder("team/db"))
                .unwrap()
                .unwrap();
            assert!(at.is_root());
        }
    }

    #[test]
    fn marks_are_kept_per_secret() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            let kind = MarkKind::Exposed;
            store.write_mark(&lock, kind, &name("a/b"), b"m").unwrap();
            store.write_mark(&lock, kind, &name("c"), b"n").unwrap();
            assert_eq!(store.read_mark(kind, &name("a/b")).unwrap().unwrap(), b"m");
            assert_eq!(store.marks(kind).unwrap(), vec![name("a/b"), name("c")]);
            assert!(store.remove_mark(&lock, kind, &name("a/b")).unwrap());
            assert!(!store.remove_mark(&lock, kind, &name("a/b")).unwrap());
            assert_eq!(store.read_mark(kind, &name("a/b")).unwrap(), None);
            assert_eq!(store.marks(kind).unwrap(), vec![name("c")]);
        }
    }

    #[test]
    fn creating_never_replaces_a_secret() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            store.create(&lock, &name("new/one"), b"first").unwrap();
            assert!(matches!(
                store.create(&lock, &name("new/one"), b"second"),
                Err(StoreError::AlreadyExists(_))
            ));
            assert_eq!(store.read(&name("new/one")).unwrap(), b"first");
            store.write(&lock, &name("new/one"), b"replaced").unwrap();
            assert_eq!(store.read(&name("new/one")).unwrap(), b"replaced");
            assert_eq!(store.list(&Folder::root()).unwrap(), vec![name("new/one")]);
        }
    }

    #[test]
    fn batch_writes_keep_the_given_times() {
        for (store, _dir) in backends() {
            let lock = store.lock().unwrap();
            let then = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
            store
                .write_batch_keeping_times(&lock, &[(name("old"), b"x".to_vec())], &[Some(then)])
                .unwrap();
            assert_eq!(store.modified(&name("old")).unwrap(), then);
        }
    }

    #[test]
    fn one_writer_at_a_time() {
        for (store, _dir) in backends() {
            let held = store.lock().unwrap();
            let store: std::sync::Arc<dyn Storage> = std::sync::Arc::from(store);
            let other = std::sync::Arc::clone(&store);
            // The fs lock is per open file description; a second lock in the same process
            // waits like another process would.
            let second = std::thread::spawn(move || other.lock().map(|_| ()));
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(
                !second.is_finished(),
                "a second writer got the lock at once"
            );
            drop(held);
            second.join().unwrap().unwrap();
        }
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<SecretName> {
        list.iter().map(|s| SecretName::new(s).unwrap()).collect()
    }

    /// Each node as `name` or `name/`, depth-first, indented by level.
    fn outline(node: &TreeNode, depth: usize, out: &mut Vec<String>) {
        for child in &node.children {
            let slash = if child.is_folder { "/" } else { "" };
            out.push(format!("{}{}{slash}", "  ".repeat(depth), child.name));
            outline(child, depth + 1, out);
        }
    }

    #[test]
    fn names_that_sort_between_a_folder_and_its_secrets_land_in_the_right_place() {
        // '!' and '-' sort before '/', so "a!" and "a-b" fall between "a" and "a/…".
        let list = [
            "a", "a!", "a-b", "a/b", "a/b!x", "a/b/c", "a/d", "z/y/x", "b",
        ];
        let expected = vec![
            "a/", "  b/", "    c", "  b", "  b!x", "  d", "a", "a!", "a-b", "b", "z/", "  y/",
            "    x",
        ];
        let mut sorted = names(&list);
        sorted.sort();
        let mut reversed = sorted.clone();
        reversed.reverse();
        for input in [names(&list), sorted, reversed] {
            let mut out = Vec::new();
            outline(&build_tree(&Folder::root(), &input), 0, &mut out);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn terms_match_names_as_their_lower_case_forms_compare() {
        let terms = NameTerms::new(&["Key", "\u{e9}T\u{e9}"]);
        assert!(terms.matches("my-KEY"));
        // The Kelvin sign lower-cases to an ASCII `k`.
        assert!(terms.matches("\u{212a}ey"));
        assert!(terms.matches("\u{c9}t\u{c9}"));
        assert!(!terms.matches("ke"));
        assert!(NameTerms::new(&[""]).matches("anything"));
        assert!(!NameTerms::new::<&str>(&[]).matches("anything"));
    }

    #[test]
    fn pruning_keeps_matching_folders_whole_and_the_way_to_matches() {
        let mut tree = build_tree(
            &Folder::root(),
            &names(&[
                "team/x",
                "team/y/z",
                "web/shop",
                "web/mail/team-key",
                "other",
            ]),
        );
        tree.prune(&NameTerms::new(&["TEAM"]));
        let mut out = Vec::new();
        outline(&tree, 0, &mut out);
        let expected = vec![
            "team/",
            "  x",
            "  y/",
            "    z",
            "web/",
            "  mail/",
            "    team-key",
        ];
        assert_eq!(out, expected);
        tree.prune(&NameTerms::new(&["team"]));
        let mut again = Vec::new();
        outline(&tree, 0, &mut again);
        assert_eq!(again, expected);
    }

    #[test]
    fn a_subfolder_tree_holds_only_what_lies_below_it() {
        let tree = build_tree(
            &Folder::new("a").unwrap(),
            &names(&["a/x", "a/y/z", "ab/q", "b"]),
        );
        let mut out = Vec::new();
        outline(&tree, 0, &mut out);
        assert_eq!(out, vec!["x", "y/", "  z"]);
    }
}
