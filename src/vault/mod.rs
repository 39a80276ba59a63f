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
use crate::store::{MetaFile, Store, StoreError, StoreLock};
use crate::team::git::{Git, GitError};
use crate::team::sync::SyncError;
use crate::team::trust::TrustError;

/// How many secrets a bulk operation holds in memory at once.
const BATCH: usize = 1024;

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
    #[error("committed, but the automatic sync failed: {0}")]
    AutoSync(SyncError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    store: Store,
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
}

impl Vault {
    /// Opens the vault at `paths.store`, which must exist.
    pub fn open(
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Result<Self> {
        let store = Store::open(&paths.store)?;
        Ok(Self::with_store(store, paths, config, prompt, overrides))
    }

    /// Creates the store folder if needed and opens it.
    pub fn create(
        paths: Paths,
        config: Config,
        prompt: PassphrasePrompt,
        overrides: RecipientOverride,
    ) -> Result<Self> {
        let store = Store::create(&paths.store)?;
        Ok(Self::with_store(store, paths, config, prompt, overrides))
    }

    fn with_store(
        store: Store,
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

    pub fn store(&self) -> &Store {
        &self.store
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

    /// The identities if they were loaded already (never prompts).
    pub fn loaded_identities(&self) -> Option<&Identities> {
        self.identities.get()
    }

    /// Uses already-loaded identities (tests, benchmarks, the agent).
    pub fn set_identities(&self, ids: Identities) {
        let _ = self.identities.set(ids);
    }

    pub fn lock(&self) -> Result<StoreLock> {
        Ok(self.store.lock()?)
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
                self.store.write_meta(
                    lock,
                    folder,
                    MetaFile::Recipients,
                    r.to_file_text().as_bytes(),
                )?;
            }
            None => self.store.remove_meta(lock, folder, MetaFile::Recipients)?,
        }
        self.approve_written(folder, recipients)?;
        Ok(())
    }

    /// Commits `paths` (relative to the store or absolute inside it), and the metadata this
    /// command changed on the side, if the store uses git. With `log.shared`, this device's
    /// access log rides along. With `git.autosync`, then syncs.
    pub fn commit(&self, paths: &[PathBuf], message: &str) -> Result<()> {
        let mut all = paths.to_vec();
        all.append(
            &mut self
                .touched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if self.config.log.shared {
            all.push(crate::team::log::shared_log_dir(&self.store));
        }
        self.git.commit(&all, message)?;
        if self.config.git.autosync && self.git.is_repo() {
            crate::team::sync::sync(&self.git).map_err(Error::AutoSync)?;
        }
        Ok(())
    }
}
