//! Exposure marks as the vault keeps them: set by `recipients rm`, cleared by a new value,
//! carried by `mv`/`cp`. The mark format lives in [`crate::team::exposure`].

use crate::crypto::recipients::Recipient;
use crate::store::name::{Folder, SecretName};
use crate::store::{MarkKind, StoreLock};
use crate::team::exposure::{Exposure, Removal, parse, render};

use super::{Result, Vault};

impl Vault {
    /// Marks `names` as exposed by the removal of `removed` (added to any earlier marks).
    pub fn mark_exposed(
        &self,
        lock: &StoreLock,
        names: &[SecretName],
        removed: &[Recipient],
    ) -> Result<()> {
        let at = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        for name in names {
            let mut removals = match self.store().read_mark(MarkKind::Exposed, name)? {
                Some(bytes) => parse(&bytes),
                None => Vec::new(),
            };
            // Marked already (a rerun finishing a killed removal): once is enough.
            for r in removed {
                if removals.iter().any(|m| m.key == r.key()) {
                    continue;
                }
                removals.push(Removal {
                    at: at.clone(),
                    key: r.key().to_owned(),
                    label: r.label().map(str::to_owned),
                });
            }
            self.store()
                .write_mark(lock, MarkKind::Exposed, name, render(&removals).as_bytes())?;
            self.touched(self.store().mark_path(MarkKind::Exposed, name));
        }
        Ok(())
    }

    /// Whether `name` is marked exposed, and by whom.
    pub fn exposure(&self, name: &SecretName) -> Result<Option<Exposure>> {
        Ok(self
            .store()
            .read_mark(MarkKind::Exposed, name)?
            .map(|bytes| Exposure {
                name: name.clone(),
                removals: parse(&bytes),
            }))
    }

    /// Every existing secret at or below `folder` that is marked exposed. (A mark whose secret
    /// was removed no longer matters and is not listed.)
    pub fn exposed_below(&self, folder: &Folder) -> Result<Vec<Exposure>> {
        let mut out = Vec::new();
        for name in self.store().marks(MarkKind::Exposed)? {
            if !folder.contains(&name) || !self.store().entry(&name)?.secret {
                continue;
            }
            if let Some(e) = self.exposure(&name)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Exposure marks whose secret no longer exists (left by a hand removal, say).
    pub fn orphaned_marks(&self) -> Result<Vec<SecretName>> {
        let mut out = Vec::new();
        for name in self.store().marks(MarkKind::Exposed)? {
            if !self.store().entry(&name)?.secret {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// `names` were removed from the store (`rm`, the source of `mv`): their marks go too.
    pub fn forget_exposure(&self, lock: &StoreLock, names: &[SecretName]) -> Result<()> {
        for name in names {
            self.clear_exposure(lock, name)?;
        }
        Ok(())
    }

    /// The value of `name` changed: it is no longer exposed.
    pub(crate) fn clear_exposure(&self, lock: &StoreLock, name: &SecretName) -> Result<()> {
        if self.store().remove_mark(lock, MarkKind::Exposed, name)? {
            self.touched(self.store().mark_path(MarkKind::Exposed, name));
        }
        Ok(())
    }

    /// `to` now holds the value `from` has in the store of `source` (another store: a `mv`
    /// or `cp` across mounts): it is exposed exactly when `from` is there.
    pub fn adopt_exposure(
        &self,
        lock: &StoreLock,
        source: &Vault,
        from: &SecretName,
        to: &SecretName,
    ) -> Result<()> {
        match source.store().read_mark(MarkKind::Exposed, from)? {
            Some(bytes) => {
                self.store()
                    .write_mark(lock, MarkKind::Exposed, to, &bytes)?;
                self.touched(self.store().mark_path(MarkKind::Exposed, to));
                Ok(())
            }
            None => self.clear_exposure(lock, to),
        }
    }

    /// `to` now holds `from`'s value: it is exposed exactly when `from` is.
    pub(crate) fn carry_exposure(
        &self,
        lock: &StoreLock,
        from: &SecretName,
        to: &SecretName,
    ) -> Result<()> {
        self.adopt_exposure(lock, self, from, to)
    }
}
