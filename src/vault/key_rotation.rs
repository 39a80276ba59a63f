//! Replacing your keys with a new one across a store (`coffer identity rotate`,
//! docs/BEHAVIOUR.md §11): every recipients file that lists an old key lists the new one in its
//! place, with the same label, and the secrets those files govern are re-encrypted for it.
//!
//! The identities file's side is [`crate::crypto::identity_file::KeyRotation`];
//! [`rotate_identity`] puts the two in the one order that keeps every secret readable when a
//! kill interrupts it: the old file is backed up and the identities file holds the new key and
//! the old ones *before* any store changes, and the old keys leave it only after every store is
//! done. In between, a secret is encrypted to the old key or to the new one, and the file holds
//! both. Running it again finishes the job: the file says a rotation is in progress, and the
//! recipients files still listing an old key, or already listing the new one, say where.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::crypto::identity_file::KeyRotation;
use crate::crypto::recipients::{Recipient, Recipients};
use crate::store::StoreLock;
use crate::store::name::{Folder, SecretName};
use crate::team::trust::TrustError;

use super::{Changed, Error, RecipientOverride, Result, Vault};

/// What a rotation changes in one store: the folders whose own recipients file lists an old
/// key or the new one, and every secret those files govern.
#[derive(Debug, Clone, Default)]
pub struct StorePlan {
    folders: Vec<Folder>,
    names: Vec<SecretName>,
}

impl StorePlan {
    /// The folders whose recipients file is (or was) rewritten.
    pub fn folders(&self) -> &[Folder] {
        &self.folders
    }

    /// The secrets re-encrypted.
    pub fn names(&self) -> &[SecretName] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }
}

/// One store taking part in a rotation: its vault (reading with the rotation's keys), its
/// writer lock, held from the checks to the end, and its plan.
pub struct RotatingStore<'a> {
    pub vault: &'a Vault,
    pub lock: StoreLock,
    pub plan: StorePlan,
}

impl<'a> RotatingStore<'a> {
    /// Gives `vault` the rotation's keys (new and old), takes its writer lock and checks,
    /// changing nothing, what the rotation will change there (see [`Vault::plan_key_rotation`]).
    /// `vault` must not have loaded its identities yet.
    pub fn prepare(vault: &'a Vault, rotation: &KeyRotation) -> Result<Self> {
        vault.set_identities(rotation.identities()?);
        let lock = vault.lock()?;
        let plan = vault.plan_key_rotation(rotation.old_keys(), rotation.new_key())?;
        Ok(Self { vault, lock, plan })
    }
}

/// Runs a prepared rotation (see the module documentation for the order). Returns where the
/// old identities file is kept.
pub fn rotate_identity(
    rotation: &mut KeyRotation,
    stores: &[RotatingStore<'_>],
) -> Result<PathBuf> {
    let backup = rotation.keep_both()?;
    for store in stores {
        store.vault.rotate_key(
            &store.lock,
            &store.plan,
            rotation.old_keys(),
            rotation.new_key(),
        )?;
    }
    rotation.finish()?;
    Ok(backup)
}

impl Vault {
    /// Checks, changing nothing, what replacing `old` with `new` changes in this store: the
    /// folders whose own recipients file lists one of them — each must be as this device
    /// approved it, or the rotation would approve someone else's change unseen — and the
    /// secrets they govern, each of which must decrypt with this vault's identities.
    pub fn plan_key_rotation(&self, old: &[Recipient], new: &Recipient) -> Result<StorePlan> {
        if !matches!(self.recipient_override(), RecipientOverride::None) {
            return Err(Error::RecipientsOverridden);
        }
        let mut folders = Vec::new();
        for folder in self.recipients_files_below(&Folder::root())? {
            let Some(listed) = self.own_recipients(&folder)? else {
                continue;
            };
            if !listed.iter().any(|r| old.contains(r) || r == new) {
                continue;
            }
            if let Some(change) = self.trust_change(&folder)? {
                return Err(TrustError::Unapproved(Box::new(change)).into());
            }
            folders.push(folder);
        }
        let mut names = BTreeSet::new();
        for folder in &folders {
            names.extend(self.governed_by(folder)?);
        }
        let names: Vec<SecretName> = names.into_iter().collect();
        self.check_reencryptable(&names)?;
        Ok(StorePlan { folders, names })
    }

    /// Lists `new` in place of `old` in each recipients file of `plan` (with the label the old
    /// key had; approved on this device as it is written), re-encrypts every secret they
    /// govern, and commits. A file that lists the new key already (a killed run wrote it) is
    /// left as it is and its secrets are re-encrypted again.
    pub fn rotate_key(
        &self,
        lock: &StoreLock,
        plan: &StorePlan,
        old: &[Recipient],
        new: &Recipient,
    ) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        for folder in &plan.folders {
            let Some(listed) = self.own_recipients(folder)? else {
                continue;
            };
            if let Some(replaced) = with_key_replaced(&listed, old, new) {
                self.set_recipients(lock, folder, Some(&replaced))?;
            }
        }
        let same: Vec<(SecretName, SecretName)> =
            plan.names.iter().map(|n| (n.clone(), n.clone())).collect();
        self.transfer(lock, &same, true)?;
        let mut changed = Vec::new();
        for folder in &plan.folders {
            changed.push(Changed::Recipients(folder.clone()));
            changed.push(Changed::Folder(folder.clone()));
        }
        let old_keys: Vec<&str> = old.iter().map(Recipient::key).collect();
        let subject = format!("Rotate key {} to {}.", old_keys.join(", "), new.key());
        self.commit(
            &changed,
            &crate::team::rotation::unchanged_message(&subject, &[]),
        )
    }

    /// The recipients file of `folder` itself, parsed, if it has one.
    fn own_recipients(&self, folder: &Folder) -> Result<Option<Recipients>> {
        let Some(bytes) = self.own_recipients_file(folder)? else {
            return Ok(None);
        };
        Ok(Some(Recipients::parse(
            &bytes,
            &self.recipients_path(folder),
        )?))
    }
}

/// `listed` with `new` where the first old key was (keeping its label) and without the other
/// old keys; `None` when it lists no old key (nothing to change).
fn with_key_replaced(
    listed: &Recipients,
    old: &[Recipient],
    new: &Recipient,
) -> Option<Recipients> {
    if !listed.iter().any(|r| old.contains(r)) {
        return None;
    }
    let mut placed = listed.iter().any(|r| r == new);
    let mut list = Vec::with_capacity(listed.len());
    for r in listed.iter() {
        if !old.contains(r) {
            list.push(r.clone());
        } else if !placed {
            list.push(new.clone().with_label(r.label().map(str::to_owned)));
            placed = true;
        }
    }
    Some(Recipients::new(list, listed.source().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Recipient {
        Recipient::parse(&age::x25519::Identity::generate().to_public().to_string()).unwrap()
    }

    #[test]
    fn the_new_key_takes_the_old_ones_place_and_label() {
        let (alice, bob, new) = (key(), key(), key());
        let listed = Recipients::new(
            vec![
                bob.clone().with_label(Some("bob".into())),
                alice.clone().with_label(Some("alice".into())),
            ],
            PathBuf::from("f"),
        );
        let replaced = with_key_replaced(&listed, std::slice::from_ref(&alice), &new).unwrap();
        assert_eq!(
            replaced.to_file_text(),
            format!("# bob\n{}\n# alice\n{}\n", bob.key(), new.key())
        );
        assert!(with_key_replaced(&replaced, &[alice], &new).is_none());
    }
}
