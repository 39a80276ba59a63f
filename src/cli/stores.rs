//! The main store and its mounts seen as one tree (docs/BEHAVIOUR.md §10): each store is
//! opened the first time a name routes to it, once per command, so its identities are loaded
//! (or asked for) once however many of its secrets a command reads.

use std::sync::{Mutex, OnceLock};

use anyhow::Result;

use coffer::vault::mounts::Mount;
use coffer::vault::{self, Reader};
use coffer::{Plaintext, SecretName, StoreError, Vault};

use super::Context;

pub struct Stores<'a> {
    ctx: &'a Context,
    /// The main store's vault, then one per mount in the order of `ctx.mounts`.
    opened: Vec<OnceLock<Vault>>,
    /// Held while a store is opened, so parallel readers open (and ask) once.
    opening: Mutex<()>,
}

impl<'a> Stores<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Self {
            ctx,
            opened: (0..=ctx.mounts.iter().count())
                .map(|_| OnceLock::new())
                .collect(),
            opening: Mutex::new(()),
        }
    }

    pub fn ctx(&self) -> &Context {
        self.ctx
    }

    /// The vault of `mount` (`None`: the main store), opened on first use.
    pub fn vault(&self, mount: Option<&Mount>) -> Result<&Vault> {
        let slot = match mount {
            None => 0,
            Some(m) => {
                1 + self
                    .ctx
                    .mounts
                    .iter()
                    .position(|known| known.prefix == m.prefix)
                    .unwrap_or_default()
            }
        };
        let cell = &self.opened[slot];
        if let Some(vault) = cell.get() {
            return Ok(vault);
        }
        let _opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(vault) = cell.get() {
            return Ok(vault);
        }
        let vault = self.ctx.vault_at(mount)?;
        Ok(cell.get_or_init(|| vault))
    }

    /// The vault a secret lives in and its name there.
    pub fn route(&self, name: &SecretName) -> Result<(&Vault, SecretName)> {
        let (mount, inner) = self.ctx.route_secret(name)?;
        Ok((self.vault(mount)?, inner))
    }
}

impl Reader for Stores<'_> {
    /// Reads `name` from its store; errors name it as the user wrote it, not as the mounted
    /// store knows it.
    fn read(&self, name: &SecretName) -> vault::Result<Plaintext> {
        let (vault, inner) = self.route(name).map_err(|e| {
            let prefix = self.ctx.mounts.route_name(name).mount;
            vault::Error::Mount {
                prefix: prefix.map_or_else(String::new, |m| m.prefix.to_string()),
                reason: format!("{e:#}"),
            }
        })?;
        vault.read(&inner).map_err(|e| match e {
            vault::Error::Decrypt { reason, .. } => vault::Error::Decrypt {
                name: name.to_string(),
                reason,
            },
            vault::Error::Store(StoreError::NotFound(_)) => {
                vault::Error::Store(StoreError::NotFound(name.to_string()))
            }
            other => other,
        })
    }
}
