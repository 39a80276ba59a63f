//! The vault: a store plus the keys to read and write it.
//!
//! This is the library's front door. It knows which recipients govern a folder, decrypts and
//! encrypts whole secrets, and does the bulk work (re-encryption, copies of folders) in
//! parallel, one process, identities loaded once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::config::{Config, Paths};
use crate::crypto::identity::{Identities, IdentityError, PassphrasePrompt};
use crate::crypto::recipients::{Recipient, RecipientError, Recipients};
use crate::crypto::secret::Plaintext;
use crate::crypto::{self, DecryptError, EncryptError};
use crate::store::name::{Folder, NameError, SecretName};
use crate::store::{Entry, FsStore, MetaFile, NameTerms, Storage, StoreError, StoreLock, TreeNode};
use crate::team::git::{Git, GitError};
use crate::team::sync::SyncError;
use crate::team::trust::TrustError;

/// What a command changed, named by what it is rather than by path: the vault knows where
/// each lives and commits it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// A secret written, removed or moved.
    Secret(SecretName),
    /// A folder: everything below it.
    Folder(Folder),
    /// A folder's `.age-recipients`.
    Recipients(Folder),
    /// The root's `.gitattributes`.
    GitAttributes,
    /// This device's shared access log (`log.shared`).
    SharedLog,
}

/// How many secrets a bulk operation holds in memory at once.
const BATCH: usize = 1024;

mod exposure;
mod history;
pub mod key_rotation;
pub mod mounts;
mod trust;

pub use history::{HistoryError, OldValue};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{name}: {reason}")]
    Decrypt { name: String, reason: DecryptError },
    #[error("{name}: {reason}")]
    Encrypt { name: String, reason: EncryptError },
    #[error(transparent)]
    Recipients(#[from] RecipientError),
    #[error("no recipients for {0}; run `coffer init` to set them")]
    NoRecipients(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A mounted store that could not be opened (docs/BEHAVIOUR.md §10).
    #[error("the mount {prefix}: {reason}")]
    Mount { prefix: String, reason: String },
    #[error("committed, but the automatic sync failed: {0}")]
    AutoSync(SyncError),
    #[error(
        "{} cannot be re-encrypted: {}{}: {reason}; nothing was changed",
        if .paths.len() == 1 { "a secret" } else { "secrets" },
        .paths.iter().take(5).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        if .paths.len() > 5 { format!(" and {} more", .paths.len() - 5) } else { String::new() }
    )]
    NotReencryptable {
        /// Every file that cannot be decrypted here.
        paths: Vec<PathBuf>,
        /// Why the first of them cannot.
        reason: DecryptError,
    },
    #[error(
        "$COFFER_RECIPIENTS or $COFFER_RECIPIENTS_FILE is set and overrides the store's recipients; unset it to change them"
    )]
    RecipientsOverridden,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something secrets are read from by name: one vault, or a main store with its mounts seen
/// as one tree (the command line's view). References (`coffer:NAME`) resolve through it.
pub trait Reader: Sync {
    /// Decrypts the secret `name`.
    fn read(&self, name: &SecretName) -> Result<Plaintext>;
}

impl Reader for Vault {
    fn read(&self, name: &SecretName) -> Result<Plaintext> {
        Vault::read(self, name)
    }
}

/// Recipients given in the environment, overriding the store's files (as in passage).
#[derive(Debug, Clone, Default)]
pub enum RecipientOverride {
    #[default]
    None,
    /// `COFFER_RECIPIENTS`: space-separated keys.
    List(String),
    /// `COFFER_RECIPIENTS_FILE`.
    File(PathBuf),
}

impl RecipientOverride {
    pub fn from_env() -> Self {
        let var = |k| {
            std::env::var(k)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        if let Some(file) = var("COFFER_RECIPIENTS_FILE") {
            Self::File(PathBuf::from(file))
        } else if let Some(list) = var("COFFER_RECIPIENTS") {
            Self::List(list)
        } else {
            Self::None
        }
    }
}

/// How a vault gets its identities when something other than the file itself holds them
/// (the command line plugs the agent in here).
pub type IdentitySource = Box<
    dyn Fn(&Paths, &Config, &PassphrasePrompt) -> Result<Identities, IdentityError> + Send + Sync,
>;

pub struct Vault {
    store: Box<dyn Storage>,
    git: Git,
    paths: Paths,
    config: Config,
    prompt: PassphrasePrompt,
    overrides: RecipientOverride,
    identities: OnceLock<Identities>,
    identity_source: Option<IdentitySource>,
    /// `--force`: write files none of our identities can decrypt.
    allow_lockout: bool,
    /// Metadata files changed on the side (exposure marks) that the next commit includes.
    touched: Mutex<Vec<PathBuf>>,
    /// Told when this device approves a recipients change by itself (it only added one of
    /// your own keys), so the command line can say so.
    on_self_approval: Option<SelfApprovalNotice>,
}

/// What the vault calls when it approves a recipients change by itself (see
/// [`Vault::approve_own_additions`]).
pub type SelfApprovalNotice = Box<dyn Fn(&crate::team::trust::Change) + Send + Sync>;

impl Vault {
    /// Opens the vault at `paths.store`, which must exist.
    pub fn open(
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Result<Self> {
        let store = FsStore::open(&paths.store)?;
        Ok(Self::on_disk(store, paths, config, prompt, overrides))
    }

    /// Creates the store folder if needed and opens it.
    pub fn create(
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Result<Self> {
        let store = FsStore::create(&paths.store)?;
        Ok(Self::on_disk(store, paths, config, prompt, overrides))
    }

    fn on_disk(
        store: FsStore,
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Self {
        let store = store.with_max_file_size(config.limits.max_secret_size());
        Self::with_storage(Box::new(store), paths, config, prompt, overrides)
    }

    /// A vault over any storage backend (the in-memory one in tests).
    pub fn with_storage(
        store: Box<dyn Storage>,
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Self {
        Self {
            git: Git::new(store.root()),
            store,
            paths,
            config,
            prompt,
            overrides,
            identities: OnceLock::new(),
            identity_source: None,
            allow_lockout: false,
            touched: Mutex::new(Vec::new()),
            on_self_approval: None,
        }
    }

    /// Allows (`--force`) encrypting to recipients none of our identities match.
    pub fn with_lockout_allowed(mut self, allowed: bool) -> Self {
        self.allow_lockout = allowed;
        self
    }

    pub fn lockout_allowed(&self) -> bool {
        self.allow_lockout
    }

    pub fn recipient_override(&self) -> &RecipientOverride {
        &self.overrides
    }

    /// Remembers a metadata file changed on the side, for the next commit.
    pub(crate) fn touched(&self, path: PathBuf) {
        self.touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(path);
    }

    /// The storage behind the vault: only the vault's own layers reach it.
    pub(crate) fn store(&self) -> &dyn Storage {
        self.store.as_ref()
    }

    pub fn git(&self) -> &Git {
        &self.git
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The identities, loaded (and unlocked) on first use.
    pub fn identities(&self) -> Result<&Identities> {
        if let Some(ids) = self.identities.get() {
            return Ok(ids);
        }
        let loaded = match &self.identity_source {
            Some(source) => source(&self.paths, &self.config, &self.prompt)?,
            None => Identities::load_with(
                &self.paths.identities,
                &self.prompt,
                &self.config.plugins.allow,
            )?,
        };
        Ok(self.identities.get_or_init(|| loaded))
    }

    /// Loads identities through `source` instead of from the file (the agent).
    pub fn set_identity_source(&mut self, source: IdentitySource) {
        self.identity_source = Some(source);
    }

    /// Who to tell when a recipients change that only adds your own key is approved.
    pub fn set_self_approval_notice(&mut self, notice: SelfApprovalNotice) {
        self.on_self_approval = Some(notice);
    }

    pub(crate) fn notify_self_approval(&self, change: &crate::team::trust::Change) {
        if let Some(notice) = &self.on_self_approval {
            notice(change);
        }
    }

    /// The identities if they were loaded already (never prompts).
    pub fn loaded_identities(&self) -> Option<&Identities> {
        self.identities.get()
    }

    /// Uses already-loaded identities (tests, benchmarks, the agent).
    pub fn set_identities(&self, ids: Identities) {
        let _ = self.identities.set(ids);
    }

    /// Takes the store's writer lock: every change to the store holds it. In a git work
    /// tree it refuses, before anything is written, while a sync waits to be resolved or git's
    /// index is locked, and first commits what an interrupted coffer command left
    /// uncommitted (docs/BEHAVIOUR.md §5).
    pub fn lock(&self) -> Result<StoreLock> {
        let lock = self.store.lock()?;
        self.git.check_writable()?;
        self.commit_leftovers(&lock)?;
        Ok(lock)
    }

    /// The writer lock alone, for work that changes nothing git tracks (approving
    /// recipients on this device): it may run while a sync waits to be resolved.
    pub fn lock_outside_git(&self) -> Result<StoreLock> {
        Ok(self.store.lock()?)
    }

    /// Commits the coffer-made changes a killed command left in the work tree: secrets that
    /// are whole age files (or are gone), recipients files this device approved, `.coffer/`.
    /// Anything else (a scribbled secret, someone's hand-edited recipients) stays as it is,
    /// for the user. Returns the paths committed.
    fn commit_leftovers(&self, _lock: &StoreLock) -> Result<Vec<PathBuf>> {
        let changes = self.git.uncommitted_coffer_files()?;
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let shared_log = crate::team::log::shared_log_dir(self.store());
        let mut ours = Vec::new();
        for change in changes {
            let full = self.root().join(&change.path);
            if full.starts_with(&shared_log) {
                // This device's log rides along with every commit anyway.
                continue;
            }
            if change.deleted || self.made_by_coffer(&change.path)? {
                ours.push(full);
            }
        }
        if !ours.is_empty() {
            self.git
                .commit(&ours, crate::team::git::LEFTOVERS_MESSAGE)?;
        }
        Ok(ours)
    }

    /// Whether a changed file (relative to the store) is one coffer could have written.
    fn made_by_coffer(&self, path: &std::path::Path) -> Result<bool> {
        let text = path.to_string_lossy();
        if text.starts_with(".coffer/") {
            return Ok(true);
        }
        if let Some(folder) = text.strip_suffix(crate::store::RECIPIENTS_FILE) {
            let Some(folder) = folder
                .strip_suffix('/')
                .or((folder.is_empty()).then_some(""))
                .and_then(|f| Folder::new(f).ok())
            else {
                return Ok(false);
            };
            // Only a file this device approved: someone's hand edit is theirs to commit.
            return Ok(matches!(self.trust_change(&folder), Ok(None)));
        }
        let Some(name) = text
            .strip_suffix(crate::store::AGE_SUFFIX)
            .and_then(|n| SecretName::new(n).ok())
        else {
            return Ok(false);
        };
        Ok(match self.store.read(&name) {
            Ok(bytes) => crypto::is_age_file(&bytes),
            Err(_) => false,
        })
    }

    /// Every file system entry at or below `folder`, links and all, never followed (for
    /// `fsck`; see [`crate::store::inspect`]); a secret's file is not opened when `known` has
    /// its header for the stamp it still has.
    pub fn inspect(
        &self,
        folder: &Folder,
        known: &mut dyn crate::store::inspect::KnownHeaders,
    ) -> Result<Vec<crate::store::inspect::Found>> {
        Ok(self.store.inspect(folder, known)?)
    }

    /// One of `fsck --fix`'s safe repairs (permissions, a dead writer's temporary, an empty
    /// folder) to a path [`Vault::inspect`] gave.
    pub fn repair(
        &self,
        lock: &StoreLock,
        path: &std::path::Path,
        repair: crate::store::inspect::Repair,
    ) -> Result<()> {
        Ok(self.store.repair(lock, path, repair)?)
    }

    /// Where the store lives, for messages.
    pub fn root(&self) -> &std::path::Path {
        self.store().root()
    }

    /// The file of a secret, for messages.
    pub fn path_of(&self, name: &SecretName) -> PathBuf {
        self.store().path_of(name)
    }

    /// The folder's path, for messages.
    pub fn folder_path(&self, folder: &Folder) -> PathBuf {
        self.store().folder_path(folder)
    }

    /// The recipients file of a folder (which may not exist), for messages.
    pub fn recipients_path(&self, folder: &Folder) -> PathBuf {
        self.store().meta_path(folder, MetaFile::Recipients)
    }

    /// What exists at `name`: a secret, a folder, both, or neither.
    pub fn entry(&self, name: &SecretName) -> Result<Entry> {
        Ok(self.store().entry(name)?)
    }

    /// Whether `folder` exists (the root always does).
    pub fn has_folder(&self, folder: &Folder) -> Result<bool> {
        match folder.as_name() {
            Some(name) => Ok(self.store().entry(&name)?.folder),
            None => Ok(true),
        }
    }

    /// Every secret at or below `folder`, sorted.
    pub fn list(&self, folder: &Folder) -> Result<Vec<SecretName>> {
        Ok(self.store().list(folder)?)
    }

    /// Every secret at or below `folder` with what its file looks like now, sorted: what a
    /// cache keyed by the store's state compares with (see [`crate::store::Stamp`]).
    pub fn list_stamped(
        &self,
        folder: &Folder,
    ) -> Result<Vec<(SecretName, Option<crate::store::Stamp>)>> {
        Ok(self.store().list_stamped(folder)?)
    }

    /// The listing tree below `folder`, as `ls` shows it.
    pub fn tree(&self, folder: &Folder) -> Result<TreeNode> {
        Ok(self.store().tree(folder)?)
    }

    /// The listing tree below `folder` pruned to the names matching `terms`, as `find` shows
    /// it; matched while the store is walked.
    pub fn tree_matching(&self, folder: &Folder, terms: &NameTerms) -> Result<TreeNode> {
        Ok(self.store().tree_matching(folder, terms)?)
    }

    /// The direct children of `folder`: names and sub-folders (`true`), sorted, hidden
    /// entries and links left out. One directory read: cheap enough for every TAB.
    pub fn children(&self, folder: &Folder) -> Result<Vec<(String, bool)>> {
        Ok(self.store().children(folder)?)
    }

    /// The size of a secret's file, without reading it.
    pub fn size(&self, name: &SecretName) -> Result<u64> {
        Ok(self.store().size(name)?)
    }

    /// A secret's ciphertext, as stored (to notice a concurrent change).
    pub fn ciphertext(&self, name: &SecretName) -> Result<Vec<u8>> {
        Ok(self.store().read(name)?)
    }

    /// Removes one secret (and the folders it leaves empty) and its exposure mark.
    pub fn remove(&self, lock: &StoreLock, name: &SecretName) -> Result<()> {
        self.store().remove(lock, name)?;
        self.forget_exposure(lock, std::slice::from_ref(name))
    }

    /// Removes exactly `names` (their folders pruned when emptied) and their exposure marks:
    /// never anything else, so a secret written meanwhile stays.
    pub fn remove_all(&self, lock: &StoreLock, names: &[SecretName]) -> Result<()> {
        for name in names {
            self.store().remove(lock, name)?;
        }
        self.forget_exposure(lock, names)
    }

    /// Removes what a folder move carried away: exactly `names`, then the recipients files of
    /// `recipients_of` (which travelled with them), pruning the folders left empty. Anything
    /// else (a file coffer does not know) stays where it is.
    pub fn remove_moved(
        &self,
        lock: &StoreLock,
        names: &[SecretName],
        recipients_of: &[Folder],
    ) -> Result<()> {
        self.remove_all(lock, names)?;
        for folder in recipients_of {
            self.store()
                .remove_meta(lock, folder, MetaFile::Recipients)?;
            self.store().prune_empty(folder)?;
        }
        Ok(())
    }

    /// Removes a whole folder and the exposure marks of what was in it.
    pub fn remove_folder(&self, lock: &StoreLock, folder: &Folder) -> Result<()> {
        let gone = self.store().list(folder)?;
        self.store().remove_folder(lock, folder)?;
        self.forget_exposure(lock, &gone)
    }

    /// The recipients file of `folder` itself, as bytes, if it has one.
    pub fn own_recipients_file(&self, folder: &Folder) -> Result<Option<Vec<u8>>> {
        Ok(self.store().read_meta(folder, MetaFile::Recipients)?)
    }

    /// Every folder at or below `folder` that has its own recipients file.
    pub fn recipients_files_below(&self, folder: &Folder) -> Result<Vec<Folder>> {
        Ok(self.store().recipients_files_below(folder)?)
    }

    /// The secrets whose recipients are `folder`'s file: those below it, except below a
    /// deeper recipients file. None when the folder does not exist.
    pub fn governed_by(&self, folder: &Folder) -> Result<Vec<SecretName>> {
        let names = match self.store().list(folder) {
            Ok(names) => names,
            Err(StoreError::Io { reason, .. }) if reason.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let deeper: Vec<Folder> = self
            .recipients_files_below(folder)?
            .into_iter()
            .filter(|f| f != folder)
            .collect();
        Ok(names
            .into_iter()
            .filter(|n| !deeper.iter().any(|d| d.contains(n)))
            .collect())
    }

    /// The store's `.gitattributes`, if it has one.
    pub fn gitattributes(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store()
            .read_meta(&Folder::root(), MetaFile::GitAttributes)?)
    }

    /// The root's `.browserpass.json`, as bytes, if it has one (read like any file in the
    /// store: never through a link, never past the size limit).
    pub fn browserpass_settings(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store()
            .read_meta(&Folder::root(), MetaFile::BrowserpassSettings)?)
    }

    /// Writes the store's `.gitattributes`.
    pub fn write_gitattributes(&self, lock: &StoreLock, bytes: &[u8]) -> Result<()> {
        Ok(self
            .store()
            .write_meta(lock, &Folder::root(), MetaFile::GitAttributes, bytes)?)
    }

    /// Writes already-encrypted secrets as one batch, each with the modification time at the
    /// same index of `times` when there is one (see [`Storage::write_batch_keeping_times`]).
    pub fn write_encrypted(
        &self,
        lock: &StoreLock,
        items: &[(SecretName, Vec<u8>)],
        times: &[Option<std::time::SystemTime>],
    ) -> Result<()> {
        Ok(self.store().write_batch_keeping_times(lock, items, times)?)
    }

    /// This device's shared access log, kept in the store (`log.shared`).
    pub fn shared_log(
        &self,
        device: &crate::team::log::DeviceId,
    ) -> Result<crate::team::log::LogFile, crate::team::log::LogError> {
        crate::team::log::LogFile::shared(self.store(), device)
    }

    /// The shared access logs of every device, kept in the store (`log.shared`).
    pub fn shared_logs(
        &self,
    ) -> Result<
        Vec<(crate::team::log::DeviceId, crate::team::log::LogFile)>,
        crate::team::log::LogError,
    > {
        crate::team::log::LogFile::shared_all(self.store())
    }

    /// When each of `names` last changed value (see [`crate::team::rotation`]).
    pub fn rotation_dates(
        &self,
        names: &[SecretName],
    ) -> Result<HashMap<SecretName, crate::team::rotation::Rotation>> {
        Ok(crate::team::rotation::rotation_dates(
            self.store(),
            &self.git,
            names,
        )?)
    }

    /// [`Vault::rotation_dates`], with the files' modification times already known where
    /// `modified` has one (at the name's index), as a walk that stamped them knows them.
    pub fn rotation_dates_known(
        &self,
        names: &[SecretName],
        modified: &[Option<std::time::SystemTime>],
    ) -> Result<HashMap<SecretName, crate::team::rotation::Rotation>> {
        Ok(crate::team::rotation::rotation_dates_known(
            self.store(),
            &self.git,
            names,
            modified,
        )?)
    }

    /// The recipients that govern `folder`: the environment override, else the nearest
    /// `.age-recipients` walking up to the root.
    pub fn recipients_for(&self, folder: &Folder) -> Result<Recipients> {
        let recipients = match &self.overrides {
            RecipientOverride::List(list) => {
                let keys = list
                    .split_whitespace()
                    .map(Recipient::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                Recipients::new(keys, PathBuf::from("$COFFER_RECIPIENTS"))
            }
            RecipientOverride::File(path) => {
                let bytes = std::fs::read(path).map_err(|reason| StoreError::Io {
                    path: path.clone(),
                    reason,
                })?;
                Recipients::parse(&bytes, path)?
            }
            RecipientOverride::None => match self.store.nearest_recipients(folder)? {
                Some((at, bytes)) => {
                    let path = self
                        .store
                        .folder_path(&at)
                        .join(crate::store::RECIPIENTS_FILE);
                    Recipients::parse(&bytes, &path)?
                }
                None => Recipients::new(Vec::new(), PathBuf::new()),
            },
        };
        if recipients.is_empty() {
            let what = if folder.is_root() {
                "the store".to_owned()
            } else {
                folder.to_string()
            };
            return Err(Error::NoRecipients(what));
        }
        Ok(recipients)
    }

    /// Decrypts one secret.
    pub fn read(&self, name: &SecretName) -> Result<Plaintext> {
        let ciphertext = self.store.read(name)?;
        self.decrypt(name, &ciphertext)
    }

    /// Decrypts ciphertext that belongs to `name` (for messages).
    pub fn decrypt(&self, name: &SecretName, ciphertext: &[u8]) -> Result<Plaintext> {
        crypto::decrypt(ciphertext, self.identities()?).map_err(|reason| Error::Decrypt {
            name: name.to_string(),
            reason,
        })
    }

    /// Encrypts `plaintext` for wherever `name` lives, if this device approved its
    /// recipients and would still be able to read the result.
    pub fn encrypt_for(&self, name: &SecretName, plaintext: &Plaintext) -> Result<Vec<u8>> {
        let recipients = self.check_can_encrypt(&name.parent())?;
        crypto::encrypt(plaintext.as_bytes(), &recipients).map_err(|reason| Error::Encrypt {
            name: name.to_string(),
            reason,
        })
    }

    /// Encrypts and writes one secret atomically. This is a new value, so the secret is
    /// no longer exposed.
    pub fn write(&self, lock: &StoreLock, name: &SecretName, plaintext: &Plaintext) -> Result<()> {
        let ciphertext = self.encrypt_for(name, plaintext)?;
        self.store.write(lock, name, &ciphertext)?;
        self.clear_exposure(lock, name)?;
        Ok(())
    }

    /// Checks, changing nothing, that every one of `names` can be decrypted here (so it can
    /// be re-encrypted); fails naming every file that cannot. Values are dropped as read.
    pub fn check_reencryptable(&self, names: &[SecretName]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        self.identities()?;
        let mut failed: Vec<(SecretName, DecryptError)> = Vec::new();
        for chunk in names.chunks(BATCH) {
            let results: Vec<Option<(SecretName, DecryptError)>> = chunk
                .par_iter()
                .map(|name| match self.read(name) {
                    Ok(_) => Ok(None),
                    Err(Error::Decrypt {
                        reason: DecryptError::Agent(message),
                        name,
                    }) => Err(Error::Decrypt {
                        name,
                        reason: DecryptError::Agent(message),
                    }),
                    Err(Error::Decrypt { reason, .. }) => Ok(Some((name.clone(), reason))),
                    Err(e) => Err(e),
                })
                .collect::<Result<_>>()?;
            failed.extend(results.into_iter().flatten());
        }
        let mut failed = failed.into_iter();
        let Some((first, reason)) = failed.next() else {
            return Ok(());
        };
        let mut paths = vec![self.path_of(&first)];
        paths.extend(failed.map(|(name, _)| self.path_of(&name)));
        Err(Error::NotReencryptable { paths, reason })
    }

    /// Encrypts and writes a new secret, only if `name` is free: never replaces one
    /// (`StoreError::AlreadyExists` then).
    pub fn write_new(
        &self,
        lock: &StoreLock,
        name: &SecretName,
        plaintext: &Plaintext,
    ) -> Result<()> {
        let ciphertext = self.encrypt_for(name, plaintext)?;
        self.store.create(lock, name, &ciphertext)?;
        self.clear_exposure(lock, name)?;
        Ok(())
    }

    /// Re-encrypts every secret at or below `folder` to its current recipients. Decryption
    /// and encryption run in parallel; writes are batched with one sync per batch.
    /// Returns the names re-encrypted.
    pub fn reencrypt(&self, lock: &StoreLock, folder: &Folder) -> Result<Vec<SecretName>> {
        self.store.sweep_temps(lock, folder)?;
        let names = self.store.list(folder)?;
        let plan: Vec<(SecretName, SecretName)> =
            names.iter().map(|n| (n.clone(), n.clone())).collect();
        self.transfer(lock, &plan, true)?;
        Ok(names)
    }

    /// Copies secrets `from → to` (re-encrypting for the destination's recipients when they
    /// differ from the source's, or always when `force_reencrypt`), writing in batches.
    pub fn transfer(
        &self,
        lock: &StoreLock,
        plan: &[(SecretName, SecretName)],
        force_reencrypt: bool,
    ) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        // Resolve recipients once per folder, not once per secret.
        let mut by_folder: HashMap<Folder, Recipients> = HashMap::new();
        for (from, to) in plan {
            for folder in [from.parent(), to.parent()] {
                if let std::collections::hash_map::Entry::Vacant(slot) = by_folder.entry(folder) {
                    let r = self.recipients_for(slot.key())?;
                    slot.insert(r);
                }
            }
        }
        let reencrypts = |from: &SecretName, to: &SecretName| {
            force_reencrypt || !by_folder[&from.parent()].same_keys(&by_folder[&to.parent()])
        };
        let destinations: std::collections::BTreeSet<Folder> =
            plan.iter().map(|(_, to)| to.parent()).collect();
        self.check_approved(&destinations)?;
        let encrypted_into: std::collections::BTreeSet<Folder> = plan
            .iter()
            .filter(|(from, to)| reencrypts(from, to))
            .map(|(_, to)| to.parent())
            .collect();
        for folder in &encrypted_into {
            self.check_lockout(folder, &by_folder[folder])?;
        }
        if !encrypted_into.is_empty() {
            self.identities()?;
        }
        for chunk in plan.chunks(BATCH) {
            let sources: Vec<SecretName> = chunk.iter().map(|(from, _)| from.clone()).collect();
            let ciphertexts = self.store.read_many(&sources);
            let written = chunk
                .par_iter()
                .zip(ciphertexts)
                .map(|((from, to), ciphertext)| {
                    // The value does not change: without git, the file time is its rotation date.
                    let modified = self.store.modified(from).ok();
                    let ciphertext = ciphertext?;
                    let src = &by_folder[&from.parent()];
                    let dst = &by_folder[&to.parent()];
                    if !force_reencrypt && src.same_keys(dst) {
                        return Ok(((to.clone(), ciphertext), modified));
                    }
                    let plaintext = self.decrypt(from, &ciphertext)?;
                    let out = crypto::encrypt(plaintext.as_bytes(), dst).map_err(|reason| {
                        Error::Encrypt {
                            name: to.to_string(),
                            reason,
                        }
                    })?;
                    Ok(((to.clone(), out), modified))
                })
                .collect::<Result<Vec<_>>>()?;
            let (written, times): (Vec<_>, Vec<_>) = written.into_iter().unzip();
            self.store
                .write_batch_keeping_times(lock, &written, &times)?;
            // The values did not change: exposure travels with them.
            for (from, to) in chunk.iter().filter(|(from, to)| from != to) {
                self.carry_exposure(lock, from, to)?;
            }
        }
        Ok(())
    }

    /// Sets (or with `None`, removes) the recipients file of `folder`. This device's own
    /// change is approved as it is made (trust pinning). Refuses recipients that would lock
    /// you out of secrets already there, unless `--force`.
    pub fn set_recipients(
        &self,
        lock: &StoreLock,
        folder: &Folder,
        recipients: Option<&Recipients>,
    ) -> Result<()> {
        match recipients {
            Some(r) => {
                let has_secrets = match self.store.list(folder) {
                    Ok(names) => !names.is_empty(),
                    Err(StoreError::Io { reason, .. })
                        if reason.kind() == std::io::ErrorKind::NotFound =>
                    {
                        false
                    }
                    Err(e) => return Err(e.into()),
                };
                if has_secrets {
                    self.check_lockout(folder, r)?;
                }
                // Approval first: a kill between the file and its pin blocks nothing.
                self.begin_writing(folder, recipients)?;
                self.store.write_meta(
                    lock,
                    folder,
                    MetaFile::Recipients,
                    r.to_file_text().as_bytes(),
                )?;
            }
            None => {
                self.begin_writing(folder, None)?;
                self.store.remove_meta(lock, folder, MetaFile::Recipients)?;
            }
        }
        self.approve_written(folder, recipients)?;
        Ok(())
    }

    /// Commits what a command changed, and the metadata it changed on the side, if the store
    /// uses git. With `log.shared`, this device's access log rides along. With
    /// `git.autosync`, then syncs.
    pub fn commit(&self, changed: &[Changed], message: &str) -> Result<()> {
        let mut all: Vec<PathBuf> = changed.iter().map(|c| self.path_of_change(c)).collect();
        all.append(
            &mut self
                .touched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if self.config.log.shared {
            all.push(crate::team::log::shared_log_dir(self.store()));
        }
        self.git.commit(&all, message)?;
        if self.config.git.autosync && self.git.is_repo() {
            crate::team::sync::sync(&self.git).map_err(Error::AutoSync)?;
        }
        Ok(())
    }

    fn path_of_change(&self, changed: &Changed) -> PathBuf {
        match changed {
            Changed::Secret(name) => self.store().path_of(name),
            Changed::Folder(folder) => self.store().folder_path(folder),
            Changed::Recipients(folder) => self.store().meta_path(folder, MetaFile::Recipients),
            Changed::GitAttributes => self
                .store()
                .meta_path(&Folder::root(), MetaFile::GitAttributes),
            Changed::SharedLog => crate::team::log::shared_log_dir(self.store()),
        }
    }
}

/// The vault over the in-memory store: its rules (recipients, trust, lockout, exposure,
/// bulk copies) hold whatever the storage behind it.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use age::secrecy::ExposeSecret;

    struct Key {
        identity: age::x25519::Identity,
    }

    impl Key {
        fn new() -> Self {
            Self {
                identity: age::x25519::Identity::generate(),
            }
        }

        fn recipient(&self) -> Recipient {
            Recipient::parse(&self.identity.to_public().to_string()).unwrap()
        }

        fn identities(&self) -> Identities {
            let text = format!("{}\n", self.identity.to_string().expose_secret());
            Identities::parse_plain(text.as_bytes()).unwrap()
        }
    }

    fn name(s: &str) -> SecretName {
        SecretName::new(s).unwrap()
    }

    fn folder(s: &str) -> Folder {
        Folder::new(s).unwrap()
    }

    /// A vault in memory whose root is encrypted to `key`, with pins kept under `data`.
    fn vault(key: &Key, data: &tempfile::TempDir) -> Vault {
        let paths = Paths {
            store: PathBuf::from("/memory"),
            identities: data.path().join("identities"),
            config_file: data.path().join("config.toml"),
            data_dir: data.path().to_owned(),
        };
        let vault = Vault::with_storage(
            Box::new(MemoryStore::new("/memory")),
            paths,
            Config::default(),
            std::sync::Arc::new(|_: &str| None),
            RecipientOverride::None,
        );
        vault.set_identities(key.identities());
        let lock = vault.lock().unwrap();
        let r = Recipients::new(
            vec![key.recipient()],
            vault.recipients_path(&Folder::root()),
        );
        vault
            .set_recipients(&lock, &Folder::root(), Some(&r))
            .unwrap();
        vault
    }

    fn secret(text: &str) -> Plaintext {
        Plaintext::new(text.as_bytes().to_vec())
    }

    #[test]
    fn a_secret_written_in_memory_is_age_encrypted_and_reads_back() {
        let (key, data) = (Key::new(), tempfile::tempdir().unwrap());
        let vault = vault(&key, &data);
        let lock = vault.lock().unwrap();
        vault
            .write(&lock, &name("web/shop"), &secret("hunter2\n"))
            .unwrap();
        let stored = vault.ciphertext(&name("web/shop")).unwrap();
        assert!(stored.starts_with(b"age-encryption.org/v1\n"));
        assert!(!stored.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            vault.read(&name("web/shop")).unwrap().as_bytes(),
            b"hunter2\n"
        );
        assert_eq!(vault.list(&Folder::root()).unwrap(), vec![name("web/shop")]);
    }

    #[test]
    fn transfer_reencrypts_for_the_destination_and_keeps_the_value() {
        let (alice, bob, data) = (Key::new(), Key::new(), tempfile::tempdir().unwrap());
        let vault = vault(&alice, &data);
        let lock = vault.lock().unwrap();
        let team = Recipients::new(
            vec![alice.recipient(), bob.recipient()],
            vault.recipients_path(&folder("team")),
        );
        vault
            .set_recipients(&lock, &folder("team"), Some(&team))
            .unwrap();
        vault.write(&lock, &name("mine"), &secret("v")).unwrap();
        vault
            .transfer(&lock, &[(name("mine"), name("team/shared"))], false)
            .unwrap();
        let moved = vault.ciphertext(&name("team/shared")).unwrap();
        assert_eq!(
            crypto::decrypt(&moved, &bob.identities())
                .unwrap()
                .as_bytes(),
            b"v"
        );
        // The source is untouched: only a move removes it.
        assert!(
            crypto::decrypt(&vault.ciphertext(&name("mine")).unwrap(), &bob.identities()).is_err()
        );
    }

    #[test]
    fn encrypting_to_recipients_that_exclude_you_is_refused() {
        let (alice, mallory, data) = (Key::new(), Key::new(), tempfile::tempdir().unwrap());
        let vault = vault(&alice, &data);
        let lock = vault.lock().unwrap();
        vault.write(&lock, &name("x/a"), &secret("1")).unwrap();
        let only_mallory = Recipients::new(
            vec![mallory.recipient()],
            vault.recipients_path(&folder("x")),
        );
        let refused = vault.set_recipients(&lock, &folder("x"), Some(&only_mallory));
        assert!(matches!(
            refused,
            Err(Error::Trust(TrustError::Lockout { .. }))
        ));
        assert_eq!(vault.read(&name("x/a")).unwrap().as_bytes(), b"1");
    }

    #[test]
    fn exposure_marks_follow_values_not_files() {
        let (key, data) = (Key::new(), tempfile::tempdir().unwrap());
        let vault = vault(&key, &data);
        let lock = vault.lock().unwrap();
        vault.write(&lock, &name("db"), &secret("old")).unwrap();
        vault
            .mark_exposed(&lock, &[name("db")], &[Key::new().recipient()])
            .unwrap();
        vault
            .transfer(&lock, &[(name("db"), name("db2"))], false)
            .unwrap();
        assert!(
            vault.exposure(&name("db2")).unwrap().is_some(),
            "a copy keeps the mark"
        );
        vault.write(&lock, &name("db2"), &secret("new")).unwrap();
        assert!(
            vault.exposure(&name("db2")).unwrap().is_none(),
            "a new value clears it"
        );
        vault.remove(&lock, &name("db")).unwrap();
        assert!(vault.exposure(&name("db")).unwrap().is_none());
        assert_eq!(vault.list(&Folder::root()).unwrap(), vec![name("db2")]);
    }

    #[test]
    fn reencrypt_rewrites_every_secret_below_a_folder() {
        let (key, data) = (Key::new(), tempfile::tempdir().unwrap());
        let vault = vault(&key, &data);
        let lock = vault.lock().unwrap();
        vault.write(&lock, &name("a/one"), &secret("1")).unwrap();
        vault.write(&lock, &name("b/two"), &secret("2")).unwrap();
        let before = vault.ciphertext(&name("a/one")).unwrap();
        let done = vault.reencrypt(&lock, &folder("a")).unwrap();
        assert_eq!(done, vec![name("a/one")]);
        assert_ne!(vault.ciphertext(&name("a/one")).unwrap(), before);
        assert_eq!(vault.read(&name("a/one")).unwrap().as_bytes(), b"1");
    }
}
