//! Recipient trust pinning and the self-lockout guard.
//!
//! A pull can bring a `.age-recipients` file that someone else edited. passage and prs would
//! encrypt the next secret to whoever is listed; coffer remembers, per store and folder, the
//! recipients this device approved and refuses to encrypt where the effective recipients
//! differ, until the user runs `coffer recipients accept`. Decryption is never blocked.
//!
//! The pins live outside the store (an attacker who can push to the store cannot edit them),
//! in `<data dir>/trust/<hash of the store's canonical path>.toml`. A pin holds the approved
//! keys of one folder; it applies to that folder and to everything below it down to the next
//! pinned folder, just as a recipients file does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::recipients::RecipientError;
use crate::crypto::recipients::{Recipient, Recipients};
use crate::store::name::Folder;
use crate::store::{MetaFile, Storage, StoreError};
use crate::sys::private::{self, PrivateError};
use crate::sys::text::terminal_safe;

type Result<T, E = TrustError> = std::result::Result<T, E>;

/// Why encryption was refused, or the pins could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "the recipients of {} are not the ones this device approved ({}); if that change is expected, run `coffer recipients accept{}`",
        .0.what(),
        .0.summary(),
        .0.accept_flag()
    )]
    Unapproved(Box<Change>),
    #[error(
        "none of your identities could decrypt what would be written to {what}: its recipients do not include you; add yourself with `coffer recipients add`, or rerun as `coffer --force …` to write it anyway"
    )]
    Lockout { what: String },
    #[error("cannot keep the approved recipients in {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot keep the approved recipients")]
    Write(#[from] PrivateError),
    #[error(
        "the approved recipients in {path} are damaged ({message}); remove the file and run `coffer recipients accept`"
    )]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recipients(#[from] RecipientError),
}

/// One recipient as shown to the user: its key and, if the file had one, its label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listed {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl From<&Recipient> for Listed {
    fn from(r: &Recipient) -> Self {
        Self {
            key: r.key().to_owned(),
            label: r.label().map(str::to_owned),
        }
    }
}

impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A label comes from a file anyone with push access can edit.
        let key = terminal_safe(&self.key);
        match &self.label {
            Some(label) => write!(f, "{key} ({})", terminal_safe(label)),
            None => f.write_str(&key),
        }
    }
}

/// How the effective recipients of a folder differ from what this device approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The folder whose recipients were compared.
    pub folder: Folder,
    /// The folder whose `.age-recipients` now governs it (`None`: no file at all).
    pub governed_by: Option<Folder>,
    pub added: Vec<Listed>,
    pub removed: Vec<Listed>,
}

impl Change {
    /// "the store" or the folder, for messages.
    pub fn what(&self) -> String {
        describe(&self.folder)
    }

    /// `added: K (label), …; removed: …` on one line.
    pub fn summary(&self) -> String {
        let list = |v: &[Listed]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter()
                    .map(Listed::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        format!(
            "added: {}; removed: {}",
            list(&self.added),
            list(&self.removed)
        )
    }

    /// The ` -p SUB` that `accept` needs to approve this change (empty for the root).
    pub fn accept_flag(&self) -> String {
        let at = self.governed_by.as_ref().unwrap_or(&self.folder);
        if at.is_root() {
            String::new()
        } else {
            format!(" -p {at}")
        }
    }
}

/// "the store" for the root, else the folder's name.
pub fn describe(folder: &Folder) -> String {
    if folder.is_root() {
        "the store".to_owned()
    } else {
        folder.to_string()
    }
}

/// The pins of one store: approved keys per folder.
#[derive(Debug, Clone)]
pub struct Pins {
    file: PathBuf,
    store: PathBuf,
    pub(crate) folders: BTreeMap<Folder, Vec<Listed>>,
    /// A recipients file this device is writing (`None` keys: removing), saved before the
    /// file changes so that a kill between the file and its approval blocks nothing.
    pub(crate) writing: Option<(Folder, Option<Vec<Listed>>)>,
    /// Folders whose re-encryption after a recipients change (and who was removed) is not
    /// finished yet: a rerun of `recipients add|rm` finishes it.
    pub(crate) unfinished: BTreeMap<Folder, Vec<Listed>>,
}

/// The on-disk form (TOML), readable by a curious user.
#[derive(Serialize, Deserialize)]
struct PinFile {
    /// The canonical path of the store these pins belong to.
    store: PathBuf,
    /// Folder (`""` for the root) → approved recipients.
    #[serde(default)]
    folders: BTreeMap<String, Vec<Listed>>,
    /// The recipients file being written, if a command is (or was killed) writing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    writing: Option<WritingFile>,
    /// Folder → the recipients removed there, while its re-encryption is unfinished.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unfinished: BTreeMap<String, Vec<Listed>>,
}

#[derive(Serialize, Deserialize)]
struct WritingFile {
    folder: String,
    /// The keys written; absent when the file is being removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<Listed>>,
}

impl Pins {
    /// Where the pins of the store at `store_root` live under `data_dir`.
    pub fn location(
        data_dir: &Path,
        store: &dyn Storage,
    ) -> Result<(PathBuf, PathBuf), TrustError> {
        let canonical = store.canonical_root().map_err(|source| TrustError::Io {
            path: store.root().to_owned(),
            source,
        })?;
        let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok((
            data_dir.join("trust").join(format!("{hex}.toml")),
            canonical,
        ))
    }

    /// Loads the pins of a store; `None` if this device never pinned it.
    pub fn load(data_dir: &Path, store: &dyn Storage) -> Result<Option<Self>, TrustError> {
        let (file, store) = Self::location(data_dir, store)?;
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(TrustError::Io { path: file, source }),
        };
        Self::from_text(&text, file, store).map(Some)
    }

    /// Reads a pin file's text, which must name `store` (the canonical store root).
    pub(crate) fn from_text(text: &str, file: PathBuf, store: PathBuf) -> Result<Self, TrustError> {
        let invalid = |message: String| TrustError::Invalid {
            path: file.clone(),
            message,
        };
        let parsed: PinFile = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        if parsed.store != store {
            return Err(invalid(format!(
                "it belongs to {}, not {}",
                parsed.store.display(),
                store.display()
            )));
        }
        let parse_folder = |f: &str| Folder::new(f).map_err(|e| invalid(e.to_string()));
        let mut folders = BTreeMap::new();
        for (folder, keys) in parsed.folders {
            folders.insert(parse_folder(&folder)?, keys);
        }
        let writing = match parsed.writing {
            Some(w) => Some((parse_folder(&w.folder)?, w.keys)),
            None => None,
        };
        let mut unfinished = BTreeMap::new();
        for (folder, removed) in parsed.unfinished {
            unfinished.insert(parse_folder(&folder)?, removed);
        }
        Ok(Self {
            file,
            store,
            folders,
            writing,
            unfinished,
        })
    }

    /// Pins everything as it is now: every recipients file in the store that parses. (One
    /// that does not parse stays unpinned; encryption there fails on the file anyway.)
    pub fn snapshot(data_dir: &Path, store: &dyn Storage) -> Result<Self> {
        let (file, canonical) = Self::location(data_dir, store)?;
        let mut pins = Self {
            file,
            store: canonical,
            folders: BTreeMap::new(),
            writing: None,
            unfinished: BTreeMap::new(),
        };
        for folder in store.recipients_files_below(&Folder::root())? {
            if let Some(r) = own_recipients(store, &folder).ok().flatten() {
                pins.folders
                    .insert(folder, r.iter().map(Listed::from).collect());
            }
        }
        Ok(pins)
    }

    /// Writes the pins atomically (`0600` in a `0700` folder).
    pub fn save(&self) -> Result<(), TrustError> {
        if let Some(dir) = self.file.parent() {
            private::create_missing_dirs(dir)?;
        }
        let file = PinFile {
            store: self.store.clone(),
            folders: self
                .folders
                .iter()
                .map(|(f, keys)| (f.to_string(), keys.clone()))
                .collect(),
            writing: self.writing.as_ref().map(|(folder, keys)| WritingFile {
                folder: folder.to_string(),
                keys: keys.clone(),
            }),
            unfinished: self
                .unfinished
                .iter()
                .map(|(f, removed)| (f.to_string(), removed.clone()))
                .collect(),
        };
        let body = toml::to_string(&file).map_err(|e| TrustError::Invalid {
            path: self.file.clone(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# Recipients this device approved for the coffer store at {}.\n\
             # Change them with `coffer recipients accept`, not by hand.\n{body}",
            self.store.display()
        );
        private::write_private_atomically(&self.file, text.as_bytes())?;
        Ok(())
    }

    /// Where the pins are kept.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// How many folders are pinned.
    pub fn len(&self) -> usize {
        self.folders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }

    /// The pinned folders and their keys.
    pub fn iter(&self) -> impl Iterator<Item = (&Folder, &[Listed])> {
        self.folders.iter().map(|(f, k)| (f, k.as_slice()))
    }

    /// The approved keys that apply to `folder`: those of the nearest pinned folder at or
    /// above it (none at all if nothing above is pinned).
    pub fn approved_for(&self, folder: &Folder) -> &[Listed] {
        folder
            .ancestors()
            .find_map(|f| self.folders.get(&f))
            .map_or(&[], Vec::as_slice)
    }

    /// Compares the effective recipients of `folder` with the approved ones.
    pub fn compare(
        &self,
        folder: &Folder,
        effective: Option<&(Folder, Recipients)>,
    ) -> Option<Change> {
        let approved = self.approved_for(folder);
        let approved_keys: BTreeSet<&str> = approved.iter().map(|l| l.key.as_str()).collect();
        let current: Vec<Listed> = effective
            .map(|(_, r)| r.iter().map(Listed::from).collect())
            .unwrap_or_default();
        let current_keys: BTreeSet<&str> = current.iter().map(|l| l.key.as_str()).collect();
        let added: Vec<Listed> = current
            .iter()
            .filter(|l| !approved_keys.contains(l.key.as_str()))
            .cloned()
            .collect();
        let removed: Vec<Listed> = approved
            .iter()
            .filter(|l| !current_keys.contains(l.key.as_str()))
            .cloned()
            .collect();
        if added.is_empty() && removed.is_empty() {
            return None;
        }
        Some(Change {
            folder: folder.clone(),
            governed_by: effective.map(|(f, _)| f.clone()),
            added,
            removed,
        })
    }

    /// Settles a recipients write this device began and may have been killed in: if the
    /// folder's file is what was being written, that is approved (it is this device's own
    /// change); otherwise the write never happened and the old approval stands.
    pub fn settle_writing(&mut self, store: &dyn Storage) -> Result<()> {
        let Some((folder, keys)) = self.writing.take() else {
            return Ok(());
        };
        let own = own_recipients(store, &folder).ok().flatten();
        match (keys, own) {
            (Some(keys), Some(own)) => {
                let written: BTreeSet<&str> = keys.iter().map(|l| l.key.as_str()).collect();
                let there: BTreeSet<&str> = own.iter().map(|r| r.key()).collect();
                if written == there {
                    self.set(store, &folder, keys)?;
                }
            }
            (None, None) => self.drop_inheriting_below(store, &folder, true)?,
            _ => {}
        }
        Ok(())
    }

    /// Approves `keys` for `folder`. Pins below it that only inherited from this folder's
    /// file are dropped: they now inherit the new pin.
    pub fn set(&mut self, store: &dyn Storage, folder: &Folder, keys: Vec<Listed>) -> Result<()> {
        self.drop_inheriting_below(store, folder, false)?;
        self.folders.insert(folder.clone(), keys);
        Ok(())
    }

    /// Drops the pins strictly below `folder` (and at it, if `including`) whose folder has no
    /// recipients file of its own between it and `folder`.
    pub fn drop_inheriting_below(
        &mut self,
        store: &dyn Storage,
        folder: &Folder,
        including: bool,
    ) -> Result<()> {
        let below: Vec<Folder> = self
            .folders
            .keys()
            .filter(|f| folder.contains_folder(f) && (including || *f != folder))
            .cloned()
            .collect();
        for f in below {
            let own = match store.nearest_recipients(&f)? {
                Some((at, _)) => folder.contains_folder(&at) && (including || at != *folder),
                None => false,
            };
            if !own {
                self.folders.remove(&f);
            }
        }
        Ok(())
    }
}

/// The recipients file of `folder` itself, parsed (ignoring environment overrides).
pub fn own_recipients(store: &dyn Storage, folder: &Folder) -> Result<Option<Recipients>> {
    match store.read_meta(folder, MetaFile::Recipients)? {
        Some(bytes) => {
            let path = store.meta_path(folder, MetaFile::Recipients);
            Ok(Some(Recipients::parse(&bytes, &path)?))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(label: Option<&str>) -> Recipient {
        Recipient::parse(&age::x25519::Identity::generate().to_public().to_string())
            .unwrap()
            .with_label(label.map(str::to_owned))
    }

    fn folder(s: &str) -> Folder {
        Folder::new(s).unwrap()
    }

    fn pins(entries: &[(&str, &[&Recipient])]) -> Pins {
        Pins {
            file: PathBuf::from("x"),
            store: PathBuf::from("/s"),
            writing: None,
            unfinished: BTreeMap::new(),
            folders: entries
                .iter()
                .map(|(f, keys)| (folder(f), keys.iter().map(|r| Listed::from(*r)).collect()))
                .collect(),
        }
    }

    #[test]
    fn nearest_pin_applies_and_changes_list_labels() {
        let (alice, bob, mallory) = (key(Some("alice")), key(None), key(Some("mallory")));
        let p = pins(&[("", &[&alice]), ("team", &[&alice, &bob])]);
        assert_eq!(p.approved_for(&folder("other/x")).len(), 1);
        assert_eq!(p.approved_for(&folder("team/db")).len(), 2);
        let same = (
            folder(""),
            Recipients::new(vec![alice.clone()], PathBuf::new()),
        );
        assert_eq!(p.compare(&folder("web"), Some(&same)), None);
        let grown = (
            folder(""),
            Recipients::new(vec![alice.clone(), mallory.clone()], PathBuf::new()),
        );
        let change = p.compare(&folder("web"), Some(&grown)).unwrap();
        assert_eq!(change.added, [Listed::from(&mallory)]);
        assert!(change.removed.is_empty());
        assert!(
            change.summary().contains("(mallory)"),
            "{}",
            change.summary()
        );
        assert_eq!(change.accept_flag(), "");
        // team's own file vanished: the root's recipients apply there now, bob is gone.
        let change = p.compare(&folder("team/db"), Some(&same)).unwrap();
        assert_eq!(change.removed, [Listed::from(&bob)]);
        // Nothing pinned and nothing there: no change; something appeared: a change.
        let empty = pins(&[]);
        assert_eq!(empty.compare(&folder("a"), None), None);
        assert!(empty.compare(&folder("a"), Some(&same)).is_some());
    }

    #[test]
    fn labels_do_not_count_as_a_change() {
        let alice = key(Some("alice"));
        let p = pins(&[("", &[&alice])]);
        let relabelled = alice.clone().with_label(Some("someone else".into()));
        let now = (
            folder(""),
            Recipients::new(vec![relabelled], PathBuf::new()),
        );
        assert_eq!(p.compare(&folder(""), Some(&now)), None);
    }

    #[test]
    fn pin_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::FsStore::create(&dir.path().join("store")).unwrap();
        let lock = store.lock().unwrap();
        let (a, b) = (key(Some("alice")), key(None));
        let root = Recipients::new(vec![a.clone()], PathBuf::new());
        let team = Recipients::new(vec![a, b], PathBuf::new());
        store
            .write_meta(
                &lock,
                &Folder::root(),
                MetaFile::Recipients,
                root.to_file_text().as_bytes(),
            )
            .unwrap();
        store
            .write_meta(
                &lock,
                &folder("team"),
                MetaFile::Recipients,
                team.to_file_text().as_bytes(),
            )
            .unwrap();
        store
            .write_meta(&lock, &folder("bad"), MetaFile::Recipients, b"nonsense\n")
            .unwrap();
        let data = dir.path().join("data");
        let snap = Pins::snapshot(&data, &store).unwrap();
        assert_eq!(snap.len(), 2, "the unparseable file stays unpinned");
        snap.save().unwrap();
        let loaded = Pins::load(&data, &store).unwrap().unwrap();
        assert_eq!(loaded.folders, snap.folders);
        assert_eq!(
            loaded.approved_for(&folder("team/x"))[0].label.as_deref(),
            Some("alice")
        );
        // Another store's pins are elsewhere.
        let other = crate::store::FsStore::create(&dir.path().join("other")).unwrap();
        assert!(Pins::load(&data, &other).unwrap().is_none());
    }
}
