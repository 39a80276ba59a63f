//! Mounts: other stores shown under a folder of the main one (docs/BEHAVIOUR.md §10).
//!
//! This module only knows prefixes and directories: which store a name lives in, and whether
//! a directory may be mounted. Each mounted store is opened as a `Vault` of its own, so its
//! recipients, trust pins, exposure marks and logs stay its own.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::MountConfig;
use crate::store::name::{Folder, NameError, SecretName};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("invalid mount prefix {prefix:?}: {reason}")]
    BadPrefix {
        prefix: String,
        #[source]
        reason: NameError,
    },
    #[error("invalid mount prefix {0:?}: the store's root cannot be a mount point")]
    RootPrefix(String),
    #[error("{0} is mounted already")]
    Exists(String),
    #[error("{0} is not a mount; `coffer mount ls` lists them")]
    NotMounted(String),
    #[error("cannot mount at {new}: it is inside the mount {existing} (mounts do not nest)")]
    Nested { new: String, existing: String },
    #[error("cannot mount at {new}: the mount {existing} is inside it (mounts do not nest)")]
    Encloses { new: String, existing: String },
    #[error("cannot mount at {0}: the main store has a folder or secret {0}; pick another prefix")]
    Shadows(String),
    #[error("cannot mount {}: {what}", .dir.display())]
    BadDir { dir: PathBuf, what: String },
}

/// One mounted store: names below `prefix` live in the store at `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub prefix: Folder,
    pub dir: PathBuf,
    /// The identities file this store is read with, when not the main one.
    pub identities: Option<PathBuf>,
}

/// Where a name lives: the store (`None` for the main one) and the name inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a, T> {
    pub mount: Option<&'a Mount>,
    pub inner: T,
}

/// Every mount of the config, validated. Mounts do not nest, so at most one prefix matches
/// a name; routing still takes the longest to stay correct if that rule ever loosens.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    /// Sorted by prefix.
    mounts: Vec<Mount>,
}

impl Mounts {
    /// The `[mounts]` table of the config, checked for bad and nested prefixes (a config
    /// edited by hand gets the same checks as `mount add`).
    pub fn from_config(table: &BTreeMap<String, MountConfig>) -> Result<Self, MountError> {
        let mut mounts = Self::default();
        for (raw, entry) in table {
            let prefix = parse_prefix(raw)?;
            mounts.check_no_nesting(&prefix)?;
            mounts.mounts.push(Mount {
                prefix,
                dir: entry.dir.clone(),
                identities: entry.identities.clone(),
            });
        }
        Ok(mounts)
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter()
    }

    /// The mount at exactly `prefix`.
    pub fn get(&self, prefix: &Folder) -> Option<&Mount> {
        self.mounts.iter().find(|m| m.prefix == *prefix)
    }

    /// Refuses `prefix` if it lies inside a mount, or a mount lies inside it.
    pub fn check_no_nesting(&self, prefix: &Folder) -> Result<(), MountError> {
        for m in &self.mounts {
            if m.prefix == *prefix {
                return Err(MountError::Exists(prefix.to_string()));
            }
            if m.prefix.contains_folder(prefix) {
                return Err(MountError::Nested {
                    new: prefix.to_string(),
                    existing: m.prefix.to_string(),
                });
            }
            if prefix.contains_folder(&m.prefix) {
                return Err(MountError::Encloses {
                    new: prefix.to_string(),
                    existing: m.prefix.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The store a secret `name` lives in. A name that *is* a mount point routes to that
    /// store with `inner: None` (its root, which no secret can be).
    pub fn route_name(&self, name: &SecretName) -> Routed<'_, Option<SecretName>> {
        let folder = name.as_folder();
        match self.longest_prefix_of(&folder) {
            Some(m) if m.prefix == folder => Routed {
                mount: Some(m),
                inner: None,
            },
            Some(m) => Routed {
                mount: Some(m),
                inner: m.prefix.strip(name),
            },
            None => Routed {
                mount: None,
                inner: Some(name.clone()),
            },
        }
    }

    /// The store a folder lives in, and the folder inside it.
    pub fn route_folder(&self, folder: &Folder) -> Routed<'_, Folder> {
        match self.longest_prefix_of(folder) {
            Some(m) => {
                let inner = folder
                    .as_name()
                    .and_then(|n| m.prefix.strip(&n))
                    .map(|n| n.as_folder())
                    .unwrap_or_default();
                Routed {
                    mount: Some(m),
                    inner,
                }
            }
            None => Routed {
                mount: None,
                inner: folder.clone(),
            },
        }
    }

    /// The mounts whose prefix lies below `folder` of the main store (all of them for the
    /// root): the ones a listing of that folder shows.
    pub fn below<'m, 'f>(
        &'m self,
        folder: &'f Folder,
    ) -> impl Iterator<Item = &'m Mount> + use<'m, 'f> {
        self.mounts
            .iter()
            .filter(move |m| folder.contains_folder(&m.prefix) && m.prefix != *folder)
    }

    fn longest_prefix_of(&self, folder: &Folder) -> Option<&Mount> {
        self.mounts
            .iter()
            .filter(|m| !folder.is_root() && m.prefix.contains_folder(folder))
            .max_by_key(|m| m.prefix.as_str().len())
    }
}

/// A mount prefix from the command line or the config: a valid folder name, not the root.
pub fn parse_prefix(raw: &str) -> Result<Folder, MountError> {
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    let prefix = Folder::new(trimmed).map_err(|reason| MountError::BadPrefix {
        prefix: raw.to_owned(),
        reason,
    })?;
    if prefix.is_root() {
        return Err(MountError::RootPrefix(raw.to_owned()));
    }
    Ok(prefix)
}

/// Checks a directory to mount the way a store is checked: it exists, is a directory and not
/// a link, belongs to this user, and is a coffer or passage store (has `.age-recipients`).
/// Returns its absolute path.
pub fn check_mount_dir(dir: &Path, main_store: &Path) -> Result<PathBuf, MountError> {
    let bad = |what: &str| MountError::BadDir {
        dir: dir.to_owned(),
        what: what.to_owned(),
    };
    let absolute = std::path::absolute(dir).map_err(|_| bad("cannot work out its full path"))?;
    let meta = std::fs::symlink_metadata(&absolute).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad("it does not exist"),
        _ => bad(&format!("cannot look at it ({e})")),
    })?;
    if meta.file_type().is_symlink() {
        return Err(bad(
            "it is a symbolic link; mount the directory it points to",
        ));
    }
    if !meta.is_dir() {
        return Err(bad("it is not a directory"));
    }
    if meta.uid() != crate::sys::uid() {
        return Err(bad("it belongs to another user"));
    }
    // A link further up would let the mount's contents change under us: the full path must
    // be the real one.
    let real =
        std::fs::canonicalize(&absolute).map_err(|e| bad(&format!("cannot resolve it ({e})")))?;
    if real != absolute {
        return Err(bad(&format!(
            "its path goes through a symbolic link (it is really {})",
            real.display()
        )));
    }
    let recipients = std::fs::symlink_metadata(real.join(".age-recipients"));
    if !recipients.is_ok_and(|m| m.is_file()) {
        return Err(bad(
            "it is not a coffer or passage store (no .age-recipients file at its top)",
        ));
    }
    let main = std::fs::canonicalize(main_store).unwrap_or_else(|_| main_store.to_owned());
    if real.starts_with(&main) || main.starts_with(&real) {
        return Err(bad(
            "it is the main store, inside it, or contains it; mount a separate store",
        ));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(prefixes: &[&str]) -> Mounts {
        let table = prefixes
            .iter()
            .map(|p| {
                (
                    (*p).to_owned(),
                    MountConfig {
                        dir: PathBuf::from(format!("/stores/{p}")),
                        identities: None,
                    },
                )
            })
            .collect();
        Mounts::from_config(&table).unwrap()
    }

    fn name(raw: &str) -> SecretName {
        SecretName::new(raw).unwrap()
    }

    #[test]
    fn names_route_to_their_store() {
        let m = mounts(&["team", "work/ops"]);
        let r = m.route_name(&name("team/db"));
        assert_eq!(r.mount.unwrap().prefix.as_str(), "team");
        assert_eq!(r.inner, Some(name("db")));
        let r = m.route_name(&name("work/ops/a/b"));
        assert_eq!(r.inner, Some(name("a/b")));
        let r = m.route_name(&name("teamwork/x"));
        assert!(r.mount.is_none());
        assert_eq!(r.inner, Some(name("teamwork/x")));
        let r = m.route_name(&name("work/x"));
        assert!(r.mount.is_none());
        let r = m.route_name(&name("team"));
        assert!(r.mount.is_some() && r.inner.is_none());
        let r = m.route_folder(&Folder::new("work/ops/a").unwrap());
        assert_eq!(r.inner.as_str(), "a");
        assert!(m.route_folder(&Folder::root()).mount.is_none());
        let root = Folder::root();
        assert_eq!(m.below(&root).count(), 2);
        let work = Folder::new("work").unwrap();
        assert_eq!(m.below(&work).count(), 1);
    }

    #[test]
    fn bad_prefixes_and_nesting_are_refused() {
        assert!(parse_prefix("../x").is_err());
        assert!(parse_prefix("a/../b").is_err());
        assert!(parse_prefix("").is_err());
        assert!(parse_prefix("/").is_err());
        assert!(parse_prefix(".hidden").is_err());
        assert_eq!(parse_prefix("/team/").unwrap().as_str(), "team");
        let m = mounts(&["team"]);
        for nested in ["team", "team/sub"] {
            assert!(m.check_no_nesting(&parse_prefix(nested).unwrap()).is_err());
        }
        let outer = mounts(&["a/b"]);
        assert!(outer.check_no_nesting(&parse_prefix("a").unwrap()).is_err());
        assert!(outer.check_no_nesting(&parse_prefix("ab").unwrap()).is_ok());
    }
}
