//! A store kept in memory: the proof that [`Storage`] is a real seam, and a fast, isolated
//! backend for unit tests of the vault and the layers above it. It keeps the same contract as
//! the store on disk (names validated by type, writes whole or not at all, one writer at a
//! time) but has no links, no crash points and no git.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::name::{Folder, SecretName};
use super::{Entry, MarkKind, MetaFile, Result, Storage, StoreError, StoreLock};

#[derive(Default)]
struct Contents {
    secrets: BTreeMap<SecretName, (Vec<u8>, SystemTime)>,
    /// Folders that exist, secrets or not (a folder holding only a recipients file).
    folders: BTreeMap<Folder, ()>,
    meta: BTreeMap<(Folder, &'static str), Vec<u8>>,
    marks: BTreeMap<(&'static str, SecretName), Vec<u8>>,
}

/// A store that lives in memory.
pub struct MemoryStore {
    root: PathBuf,
    contents: Mutex<Contents>,
    writer: Arc<AtomicBool>,
}

impl MemoryStore {
    /// An empty store; `root` is only what messages call it.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            contents: Mutex::new(Contents::default()),
            writer: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A folder that does not exist, reported as the store on disk reports it.
    fn missing(&self, folder: &Folder) -> StoreError {
        StoreError::Io {
            path: self.folder_path(folder),
            reason: std::io::ErrorKind::NotFound.into(),
        }
    }

    fn contents(&self) -> MutexGuard<'_, Contents> {
        self.contents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Contents {
    fn add_folders(&mut self, folder: &Folder) {
        for f in folder.ancestors() {
            self.folders.insert(f, ());
        }
    }

    fn has_folder(&self, folder: &Folder) -> bool {
        folder.is_root() || self.folders.contains_key(folder)
    }

    fn prune(&mut self, folder: &Folder) {
        for candidate in folder.ancestors() {
            if candidate.is_root() || !self.is_empty(&candidate) {
                break;
            }
            self.folders.remove(&candidate);
        }
    }

    /// Whether `folder` holds nothing: no secret, sub-folder or metadata file. Range lookups
    /// in the sorted maps, so removing many secrets costs no scan of the whole store each.
    fn is_empty(&self, folder: &Folder) -> bool {
        below(&self.secrets, folder).next().is_none()
            && below(&self.folders, folder).next().is_none()
            && self
                .meta
                .range((folder.clone(), "")..)
                .next()
                .is_none_or(|((f, _), _)| f != folder)
    }
}

/// The entries of `map` strictly below `folder` (everything, for the root). Every key with
/// the prefix `folder/` sorts in one run starting at that prefix, so this walks only them.
fn below<'a, K, V>(map: &'a BTreeMap<K, V>, folder: &Folder) -> impl Iterator<Item = &'a K> + 'a
where
    K: std::borrow::Borrow<str> + Ord,
{
    let prefix = if folder.is_root() {
        String::new()
    } else {
        format!("{}/", folder.as_str())
    };
    map.range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
        .map(|(k, _)| k)
        .take_while(move |k| k.borrow().starts_with(&prefix))
}

/// How long a second writer waits, as on disk.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The writer lock, released on drop.
struct Held(Arc<AtomicBool>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Storage for MemoryStore {
    fn root(&self) -> &Path {
        &self.root
    }

    fn canonical_root(&self) -> std::io::Result<PathBuf> {
        Ok(self.root.clone())
    }

    fn read(&self, name: &SecretName) -> Result<Vec<u8>> {
        self.contents()
            .secrets
            .get(name)
            .map(|(bytes, _)| bytes.clone())
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    fn entry(&self, name: &SecretName) -> Result<Entry> {
        let contents = self.contents();
        Ok(Entry {
            secret: contents.secrets.contains_key(name),
            folder: contents.folders.contains_key(&name.as_folder()),
        })
    }

    fn size(&self, name: &SecretName) -> Result<u64> {
        self.contents()
            .secrets
            .get(name)
            .map(|(bytes, _)| bytes.len() as u64)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    fn modified(&self, name: &SecretName) -> Result<SystemTime> {
        self.contents()
            .secrets
            .get(name)
            .map(|(_, time)| *time)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    fn lock(&self) -> Result<StoreLock> {
        let started = std::time::Instant::now();
        while self
            .writer
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            if started.elapsed() > LOCK_WAIT {
                return Err(StoreError::Locked { pid: None });
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(StoreLock::holding(Held(Arc::clone(&self.writer))))
    }

    fn write(&self, _lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()> {
        let mut contents = self.contents();
        contents.add_folders(&name.parent());
        contents
            .secrets
            .insert(name.clone(), (ciphertext.to_vec(), SystemTime::now()));
        Ok(())
    }

    fn create(&self, _lock: &StoreLock, name: &SecretName, ciphertext: &[u8]) -> Result<()> {
        let mut contents = self.contents();
        if contents.secrets.contains_key(name) {
            return Err(StoreError::AlreadyExists(self.path_of(name)));
        }
        contents.add_folders(&name.parent());
        contents
            .secrets
            .insert(name.clone(), (ciphertext.to_vec(), SystemTime::now()));
        Ok(())
    }

    fn write_batch_keeping_times(
        &self,
        _lock: &StoreLock,
        items: &[(SecretName, Vec<u8>)],
        times: &[Option<SystemTime>],
    ) -> Result<()> {
        let mut contents = self.contents();
        for (i, (name, ciphertext)) in items.iter().enumerate() {
            let time = times
                .get(i)
                .copied()
                .flatten()
                .unwrap_or_else(SystemTime::now);
            contents.add_folders(&name.parent());
            contents
                .secrets
                .insert(name.clone(), (ciphertext.clone(), time));
        }
        Ok(())
    }

    fn remove(&self, _lock: &StoreLock, name: &SecretName) -> Result<()> {
        let mut contents = self.contents();
        if contents.secrets.remove(name).is_none() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        contents.prune(&name.parent());
        Ok(())
    }

    fn remove_folder(&self, _lock: &StoreLock, folder: &Folder) -> Result<()> {
        let mut contents = self.contents();
        if !contents.has_folder(folder) {
            return Err(self.missing(folder));
        }
        let inside = |f: &Folder| folder.contains_folder(f);
        contents.secrets.retain(|n, _| !folder.contains(n));
        contents.folders.retain(|f, _| !inside(f));
        contents.meta.retain(|(f, _), _| !inside(f));
        if let Some(parent) = folder.parent() {
            contents.prune(&parent);
        }
        Ok(())
    }

    fn prune_empty(&self, folder: &Folder) -> Result<()> {
        self.contents().prune(folder);
        Ok(())
    }

    fn list(&self, folder: &Folder) -> Result<Vec<SecretName>> {
        let contents = self.contents();
        if !contents.has_folder(folder) {
            return Err(self.missing(folder));
        }
        Ok(below(&contents.secrets, folder).cloned().collect())
    }

    fn children(&self, folder: &Folder) -> Result<Vec<(String, bool)>> {
        let contents = self.contents();
        let mut out: Vec<(String, bool)> = contents
            .secrets
            .keys()
            .filter(|n| n.parent() == *folder)
            .map(|n| (n.leaf().to_owned(), false))
            .chain(
                contents
                    .folders
                    .keys()
                    .filter(|f| f.parent().as_ref() == Some(folder) && !f.is_root())
                    .filter_map(|f| f.components().last().map(|c| (c.to_owned(), true))),
            )
            .collect();
        out.sort();
        Ok(out)
    }

    fn sweep_temps(&self, _lock: &StoreLock, _folder: &Folder) -> Result<usize> {
        // Writes here are whole or absent: there are never temporaries.
        Ok(0)
    }

    fn read_meta(&self, folder: &Folder, file: MetaFile) -> Result<Option<Vec<u8>>> {
        Ok(self
            .contents()
            .meta
            .get(&(folder.clone(), file.file_name()))
            .cloned())
    }

    fn write_meta(
        &self,
        _lock: &StoreLock,
        folder: &Folder,
        file: MetaFile,
        bytes: &[u8],
    ) -> Result<()> {
        let mut contents = self.contents();
        contents.add_folders(folder);
        contents
            .meta
            .insert((folder.clone(), file.file_name()), bytes.to_vec());
        Ok(())
    }

    fn remove_meta(&self, _lock: &StoreLock, folder: &Folder, file: MetaFile) -> Result<()> {
        self.contents()
            .meta
            .remove(&(folder.clone(), file.file_name()));
        Ok(())
    }

    fn recipients_files_below(&self, folder: &Folder) -> Result<Vec<Folder>> {
        Ok(self
            .contents()
            .meta
            .keys()
            .filter(|(f, file)| {
                *file == MetaFile::Recipients.file_name() && folder.contains_folder(f)
            })
            .map(|(f, _)| f.clone())
            .collect())
    }

    fn read_mark(&self, kind: MarkKind, name: &SecretName) -> Result<Option<Vec<u8>>> {
        Ok(self
            .contents()
            .marks
            .get(&(kind.dir_name(), name.clone()))
            .cloned())
    }

    fn write_mark(
        &self,
        _lock: &StoreLock,
        kind: MarkKind,
        name: &SecretName,
        bytes: &[u8],
    ) -> Result<()> {
        self.contents()
            .marks
            .insert((kind.dir_name(), name.clone()), bytes.to_vec());
        Ok(())
    }

    fn remove_mark(&self, _lock: &StoreLock, kind: MarkKind, name: &SecretName) -> Result<bool> {
        Ok(self
            .contents()
            .marks
            .remove(&(kind.dir_name(), name.clone()))
            .is_some())
    }

    fn marks(&self, kind: MarkKind) -> Result<Vec<SecretName>> {
        Ok(self
            .contents()
            .marks
            .keys()
            .filter(|(k, _)| *k == kind.dir_name())
            .map(|(_, name)| name.clone())
            .collect())
    }
}
