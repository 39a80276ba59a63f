//! Trust pinning as the vault applies it: which recipients this device approved, checked
//! before anything is encrypted, and the self-lockout guard. The pins themselves (their file,
//! comparison and snapshot) live in [`crate::team::trust`].

use std::collections::BTreeSet;

use crate::crypto::recipients::Recipients;
use crate::store::name::Folder;
use crate::store::{MetaFile, StoreLock};
use crate::team::trust::{Change, Listed, Pins, TrustError, describe, own_recipients};

use super::{RecipientOverride, Result, Vault};

impl Vault {
    /// This store's pins, if this device pinned it. Pins of folders that no longer exist are
    /// left out: the folder went away with its file (`rm -r`, `mv`), and a folder made later
    /// under the same name starts afresh. (A folder that exists but lost its file keeps its
    /// pin, so a deleted recipients file still shows as a change.)
    pub fn pins(&self) -> Result<Option<Pins>> {
        let Some(mut pins) = Pins::load(&self.paths().data_dir, self.store())? else {
            return Ok(None);
        };
        // A kill between this device's own recipients file and its approval: settled here,
        // in memory, and saved with the next change of the pins.
        pins.settle_writing(self.store())?;
        let mut vanished = Vec::new();
        for folder in pins.folders.keys() {
            if let Some(name) = folder.as_name()
                && !self.store().entry(&name)?.folder
            {
                vanished.push(folder.clone());
            }
        }
        for folder in vanished {
            pins.folders.remove(&folder);
        }
        Ok(Some(pins))
    }

    /// Pins the store as it is if this device never did (trust on first use). Returns the
    /// new pins when it did, so the command line can say so.
    pub fn ensure_pinned(&self) -> Result<Option<Pins>> {
        if self.pins()?.is_some() {
            return Ok(None);
        }
        let pins = Pins::snapshot(&self.paths().data_dir, self.store())?;
        pins.save()?;
        Ok(Some(pins))
    }

    fn pins_or_snapshot(&self) -> Result<Pins> {
        match self.pins()? {
            Some(p) => Ok(p),
            None => Ok(Pins::snapshot(&self.paths().data_dir, self.store())?),
        }
    }

    /// The recipients the store's files give `folder` — the nearest `.age-recipients` and
    /// where it is — ignoring `$COFFER_RECIPIENTS*`.
    pub fn file_recipients(&self, folder: &Folder) -> Result<Option<(Folder, Recipients)>> {
        match self.store().nearest_recipients(folder)? {
            Some((at, bytes)) => {
                let path = self.store().meta_path(&at, MetaFile::Recipients);
                let r = Recipients::parse(&bytes, &path)?;
                Ok(Some((at, r)))
            }
            None => Ok(None),
        }
    }

    /// How the recipients of `folder` differ from what this device approved, if they do.
    pub fn trust_change(&self, folder: &Folder) -> Result<Option<Change>> {
        let pins = self.pins_or_snapshot()?;
        let effective = self.file_recipients(folder)?;
        Ok(pins.compare(folder, effective.as_ref()))
    }

    /// Every unapproved change at or below `folder`.
    pub fn trust_changes_below(&self, folder: &Folder) -> Result<Vec<Change>> {
        let with_files = self.store().recipients_files_below(folder)?;
        self.trust_changes_among(folder, with_files)
    }

    /// [`Vault::trust_changes_below`] for a caller that has walked the store already
    /// (`fsck`) and so knows `with_files`, the folders at or below `folder` that hold a
    /// recipients file: the store is not walked a second time.
    pub fn trust_changes_among(
        &self,
        folder: &Folder,
        with_files: impl IntoIterator<Item = Folder>,
    ) -> Result<Vec<Change>> {
        let pins = self.pins_or_snapshot()?;
        changes_below(self, &pins, folder, with_files)
    }

    /// Approves the current recipients of `folder` and of every folder below it.
    /// Returns what changed compared with the previous approval.
    pub fn accept(&self, _lock: &StoreLock, folder: &Folder) -> Result<Vec<Change>> {
        let mut pins = self.pins_or_snapshot()?;
        let with_files = self.store().recipients_files_below(folder)?;
        let changes = changes_below(self, &pins, folder, with_files.iter().cloned())?;
        pins.folders.retain(|f, _| !folder.contains_folder(f));
        let effective = self
            .file_recipients(folder)?
            .map(|(_, r)| r.iter().map(Listed::from).collect())
            .unwrap_or_default();
        pins.folders.insert(folder.clone(), effective);
        for below in with_files {
            if below == *folder {
                continue;
            }
            if let Some(r) = own_recipients(self.store(), &below)? {
                pins.folders
                    .insert(below, r.iter().map(Listed::from).collect());
            }
        }
        pins.save()?;
        Ok(changes)
    }

    /// Saves, before a recipients file is written (`Some`) or removed (`None`), that this
    /// device is doing so: killed before its approval, the change still counts as its own.
    pub(crate) fn begin_writing(
        &self,
        folder: &Folder,
        written: Option<&Recipients>,
    ) -> Result<()> {
        let mut pins = self.pins_or_snapshot()?;
        pins.writing = Some((
            folder.clone(),
            written.map(|r| r.iter().map(Listed::from).collect()),
        ));
        pins.save()?;
        Ok(())
    }

    /// Remembers, before a recipients change of `folder` touches the store, that its secrets
    /// must be re-encrypted (and that `removed` were removed), until
    /// [`Vault::end_reencryption`]: a killed `recipients add|rm` is finished by running it
    /// again.
    pub fn begin_reencryption(&self, folder: &Folder, removed: &[Listed]) -> Result<()> {
        let mut pins = self.pins_or_snapshot()?;
        let entry = pins.unfinished.entry(folder.clone()).or_default();
        let mut known: std::collections::HashSet<String> =
            entry.iter().map(|l| l.key.clone()).collect();
        for r in removed {
            if known.insert(r.key.clone()) {
                entry.push(r.clone());
            }
        }
        pins.save()?;
        Ok(())
    }

    /// The re-encryption of `folder` is done.
    pub fn end_reencryption(&self, folder: &Folder) -> Result<()> {
        let mut pins = self.pins_or_snapshot()?;
        if pins.unfinished.remove(folder).is_some() {
            pins.save()?;
        }
        Ok(())
    }

    /// Recipients changes whose re-encryption a killed command left unfinished: the folder
    /// and who was removed there.
    pub fn unfinished_reencryptions(&self) -> Result<Vec<(Folder, Vec<Listed>)>> {
        Ok(self
            .pins()?
            .map(|p| p.unfinished.into_iter().collect())
            .unwrap_or_default())
    }

    /// Records a recipients file this device wrote (`Some`) or removed (`None`) as approved.
    pub(crate) fn approve_written(
        &self,
        folder: &Folder,
        written: Option<&Recipients>,
    ) -> Result<()> {
        let mut pins = self.pins_or_snapshot()?;
        match written {
            Some(r) => pins.set(self.store(), folder, r.iter().map(Listed::from).collect())?,
            None => pins.drop_inheriting_below(self.store(), folder, true)?,
        }
        pins.save()?;
        Ok(())
    }

    /// Copies a recipients file to another folder (`mv`/`cp` of a folder carry it along).
    /// The copy is approved only as far as the original was: a file this device has not
    /// approved is refused before anything is written.
    pub fn copy_recipients_file(
        &self,
        lock: &StoreLock,
        from: &Folder,
        to: &Folder,
        bytes: &[u8],
    ) -> Result<()> {
        let mut pins = self.pins_or_snapshot()?;
        let effective = self.file_recipients(from)?;
        if matches!(self.recipient_override(), RecipientOverride::None)
            && let Some(change) = pins.compare(from, effective.as_ref())
        {
            return Err(TrustError::Unapproved(Box::new(change)).into());
        }
        let approved = pins.approved_for(from).to_vec();
        pins.writing = Some((to.clone(), Some(approved.clone())));
        pins.save()?;
        self.store()
            .write_meta(lock, to, MetaFile::Recipients, bytes)?;
        pins.writing = None;
        pins.set(self.store(), to, approved)?;
        pins.save()?;
        Ok(())
    }

    /// Refuses to encrypt into any of `folders` whose recipients this device has not
    /// approved. Recipients given in the environment are the user's own choice: no check.
    pub(crate) fn check_approved<'a>(
        &self,
        folders: impl IntoIterator<Item = &'a Folder>,
    ) -> Result<()> {
        if !matches!(self.recipient_override(), RecipientOverride::None) {
            return Ok(());
        }
        let pins = match self.pins()? {
            Some(p) => p,
            None => {
                // First encryption on this device: pin what is there.
                let p = Pins::snapshot(&self.paths().data_dir, self.store())?;
                p.save()?;
                p
            }
        };
        let mut pins = pins;
        for folder in folders {
            let effective = self.file_recipients(folder)?;
            if let Some(change) = pins.compare(folder, effective.as_ref()) {
                if !self.only_adds_own_keys(&change) {
                    return Err(TrustError::Unapproved(Box::new(change)).into());
                }
                self.approve_change(&mut pins, &change)?;
            }
        }
        Ok(())
    }

    /// Approves every change at or below the root that only adds one of your own keys and
    /// removes nobody (a member added you, and you pulled): nothing there for you to check.
    /// Returns them; each is also told to the self-approval notice.
    pub fn approve_own_additions(&self) -> Result<Vec<Change>> {
        let mut pins = self.pins_or_snapshot()?;
        let mut approved = Vec::new();
        let root = Folder::root();
        let with_files = self.store().recipients_files_below(&root)?;
        for change in changes_below(self, &pins, &root, with_files)? {
            if self.only_adds_own_keys(&change) {
                self.approve_change(&mut pins, &change)?;
                approved.push(change);
            }
        }
        Ok(approved)
    }

    /// Whether `change` adds only keys of this device's identities and removes none.
    fn only_adds_own_keys(&self, change: &Change) -> bool {
        if !change.removed.is_empty() || change.added.is_empty() {
            return false;
        }
        let Some(own) = self.own_public_keys() else {
            return false;
        };
        let own: Vec<String> = own.iter().map(|r| Listed::from(r).key).collect();
        change.added.iter().all(|added| own.contains(&added.key))
    }

    /// Pins the recipients file that governs `change.folder` as it is now, saves, and says so.
    fn approve_change(&self, pins: &mut Pins, change: &Change) -> Result<()> {
        let at = change.governed_by.as_ref().unwrap_or(&change.folder);
        let effective = self
            .file_recipients(at)?
            .map(|(_, r)| r.iter().map(Listed::from).collect())
            .unwrap_or_default();
        pins.set(self.store(), at, effective)?;
        pins.save()?;
        self.notify_self_approval(change);
        Ok(())
    }

    /// This device's public keys, when they are known without unlocking anything (loaded
    /// identities, `identities.pub`, an SSH key's `.pub`).
    fn own_public_keys(&self) -> Option<Vec<crate::crypto::recipients::Recipient>> {
        match self.loaded_identities() {
            Some(ids) if ids.recipients().len() == ids.len() => Some(ids.recipients().to_vec()),
            Some(_) => None,
            None => {
                crate::crypto::identity::public_keys_without_unlocking(&self.paths().identities)
            }
        }
    }

    /// Refuses recipients that none of this device's identities could decrypt for, unless
    /// `--force`. When an identity's public key cannot be known without unlocking it (a
    /// plugin, an SSH key without its `.pub`, a protected file without `identities.pub`),
    /// there is no telling, and nothing is refused.
    pub fn check_lockout(&self, folder: &Folder, recipients: &Recipients) -> Result<()> {
        if self.lockout_allowed() {
            return Ok(());
        }
        // Encrypting never needs the private keys: use what is known without unlocking.
        let Some(own) = self.own_public_keys() else {
            return Ok(());
        };
        if recipients.iter().any(|r| own.contains(r)) {
            return Ok(());
        }
        Err(TrustError::Lockout {
            what: describe(folder),
        }
        .into())
    }

    /// Everything encryption into `folder` needs, checked up front: recipients, approval,
    /// and that you would still be able to read the result.
    pub fn check_can_encrypt(&self, folder: &Folder) -> Result<Recipients> {
        let recipients = self.recipients_for(folder)?;
        self.check_approved([folder])?;
        self.check_lockout(folder, &recipients)?;
        Ok(recipients)
    }
}

fn changes_below(
    vault: &Vault,
    pins: &Pins,
    folder: &Folder,
    with_files: impl IntoIterator<Item = Folder>,
) -> Result<Vec<Change>> {
    let mut candidates: BTreeSet<Folder> = BTreeSet::new();
    candidates.insert(folder.clone());
    candidates.extend(with_files);
    candidates.extend(
        pins.folders
            .keys()
            .filter(|f| folder.contains_folder(f))
            .cloned(),
    );
    let mut changes = Vec::new();
    for f in candidates {
        let effective = vault.file_recipients(&f)?;
        if let Some(change) = pins.compare(&f, effective.as_ref()) {
            // A folder without its own file repeats its parent's change: report it once.
            let repeated = changes.iter().any(|c: &Change| {
                c.governed_by == change.governed_by
                    && c.added == change.added
                    && c.removed == change.removed
            });
            if !repeated {
                changes.push(change);
            }
        }
    }
    Ok(changes)
}
