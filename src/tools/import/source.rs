//! Reading a foreign store (pass's `.gpg` files, passage's `.age` files) without following
//! links.
//!
//! The walk starts from the source root's directory handle and opens every folder and file
//! relative to its parent with `O_NOFOLLOW`, so no symbolic link inside the source is followed
//! — a link is reported, not read — and nothing outside the source can be reached, whatever
//! races with us. The root itself may be a link (a store kept in a synced folder). The
//! stores' own hidden metadata (`.git`, `.gpg-id`, `.age-recipients`, …) is left alone; any
//! other hidden folder or hidden secret file is reported, since coffer names never start with
//! a dot and a secret must not be left behind silently.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::store::name::SecretName;

/// Folders nested deeper than this are reported rather than walked.
const MAX_DEPTH: usize = 64;

/// Hidden entries that are the stores' own metadata, never secrets.
const METADATA: &[&[u8]] = &[
    b".git",
    b".gitattributes",
    b".gitignore",
    b".gpg-id",
    b".age-recipients",
    b".age-identities",
    b".extensions",
    b".coffer",
    b".DS_Store",
];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("there is nothing at {0}")]
    Missing(PathBuf),
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the walk found at one place in the source.
pub enum Found {
    /// An encrypted secret and the name it has in the source.
    Secret {
        name: SecretName,
        ciphertext: Vec<u8>,
        /// The file's modification time, when the system tells it.
        modified: Option<SystemTime>,
    },
    /// Something that looks like a secret but cannot be imported. `what` is the path relative
    /// to the source, printable (control characters escaped).
    Problem { what: String, reason: String },
}

/// Every file ending in `suffix` below `root`, sorted by path, read into memory (ciphertext
/// only), plus a [`Found::Problem`] for each link, unreadable file or invalid name.
pub fn collect(root: &Path, suffix: &str) -> Result<Vec<Found>, SourceError> {
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => SourceError::Missing(root.to_owned()),
        Errno::NOTDIR => SourceError::NotAFolder(root.to_owned()),
        e => SourceError::Io {
            path: root.to_owned(),
            source: e.into(),
        },
    })?;
    let mut walk = Walk {
        root,
        suffix,
        found: Vec::new(),
    };
    walk.folder(&fd, &mut Vec::new())?;
    let mut found = walk.found;
    found.sort_by(|a, b| sort_key(a).cmp(sort_key(b)));
    Ok(found)
}

fn sort_key(found: &Found) -> &str {
    match found {
        Found::Secret { name, .. } => name.as_str(),
        Found::Problem { what, .. } => what,
    }
}

struct Walk<'a> {
    root: &'a Path,
    suffix: &'a str,
    found: Vec<Found>,
}

impl Walk<'_> {
    fn folder(&mut self, dir: &OwnedFd, trail: &mut Vec<Vec<u8>>) -> Result<(), SourceError> {
        let path = self.path(trail);
        let io = |e: Errno| SourceError::Io {
            path: path.clone(),
            source: e.into(),
        };
        let mut entries: Vec<Vec<u8>> = Vec::new();
        let mut hidden: Vec<(Vec<u8>, FileType)> = Vec::new();
        for entry in Dir::read_from(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || METADATA.contains(&name) {
                continue;
            }
            if name.starts_with(b".") {
                hidden.push((name.to_vec(), entry.file_type()));
            } else {
                entries.push(name.to_vec());
            }
        }
        entries.sort();
        hidden.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in hidden {
            let what = match kind {
                FileType::Directory => "a hidden folder",
                FileType::RegularFile if name.ends_with(self.suffix.as_bytes()) => {
                    "a hidden secret"
                }
                _ => continue,
            };
            trail.push(name);
            self.problem(
                trail,
                format!(
                    "{what}: coffer names cannot start with '.', so it is not imported; \
                     rename it in the source to import it"
                ),
            );
            trail.pop();
        }
        for name in entries {
            trail.push(name);
            let result = self.entry(dir, trail);
            trail.pop();
            result?;
        }
        Ok(())
    }

    fn entry(&mut self, dir: &OwnedFd, trail: &mut Vec<Vec<u8>>) -> Result<(), SourceError> {
        let Some(leaf) = trail.last() else {
            return Ok(());
        };
        let Ok(c_leaf) = std::ffi::CString::new(leaf.clone()) else {
            return Ok(());
        };
        let kind = match rustix::fs::statat(dir, c_leaf.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(Errno::NOENT) => return Ok(()), // removed meanwhile
            Err(e) => {
                self.problem(
                    trail,
                    format!("cannot inspect it: {}", std::io::Error::from(e)),
                );
                return Ok(());
            }
        };
        match kind {
            FileType::Directory => self.subfolder(dir, c_leaf.as_c_str(), trail),
            FileType::Symlink => {
                self.problem(
                    trail,
                    "is a symbolic link; links in the source are not followed".into(),
                );
                Ok(())
            }
            FileType::RegularFile if leaf.ends_with(self.suffix.as_bytes()) => {
                self.secret(dir, c_leaf.as_c_str(), trail);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn subfolder(
        &mut self,
        dir: &OwnedFd,
        leaf: &CStr,
        trail: &mut Vec<Vec<u8>>,
    ) -> Result<(), SourceError> {
        if trail.len() > MAX_DEPTH {
            self.problem(trail, format!("folders nested deeper than {MAX_DEPTH}"));
            return Ok(());
        }
        match rustix::fs::openat(
            dir,
            leaf,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(sub) => self.folder(&sub, trail),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                self.problem(
                    trail,
                    "is a symbolic link; links in the source are not followed".into(),
                );
                Ok(())
            }
            Err(e) => {
                self.problem(
                    trail,
                    format!("cannot open it: {}", std::io::Error::from(e)),
                );
                Ok(())
            }
        }
    }

    fn secret(&mut self, dir: &OwnedFd, leaf: &CStr, trail: &[Vec<u8>]) {
        let name = match self.name_of(trail) {
            Ok(name) => name,
            Err(reason) => {
                self.problem(trail, reason);
                return;
            }
        };
        match read_no_follow(dir, leaf) {
            Ok((ciphertext, modified)) => self.found.push(Found::Secret {
                name,
                ciphertext,
                modified,
            }),
            Err(reason) => self.problem(trail, reason),
        }
    }

    /// The secret name of the file at `trail`: its path without the suffix.
    fn name_of(&self, trail: &[Vec<u8>]) -> Result<SecretName, String> {
        let mut parts = Vec::with_capacity(trail.len());
        for (i, part) in trail.iter().enumerate() {
            let part = if i + 1 == trail.len() {
                &part[..part.len() - self.suffix.len()]
            } else {
                &part[..]
            };
            let text = std::str::from_utf8(part)
                .map_err(|_| "invalid name: not valid UTF-8".to_owned())?;
            parts.push(text);
        }
        SecretName::new(&parts.join("/")).map_err(|e| format!("invalid name: {e}"))
    }

    fn problem(&mut self, trail: &[Vec<u8>], reason: String) {
        let joined = trail.join(&b'/');
        let what = String::from_utf8_lossy(&joined);
        let what = if what.chars().any(char::is_control) {
            what.escape_debug().to_string()
        } else {
            what.into_owned()
        };
        self.found.push(Found::Problem { what, reason });
    }

    fn path(&self, trail: &[Vec<u8>]) -> PathBuf {
        let mut path = self.root.to_owned();
        for part in trail {
            path.push(String::from_utf8_lossy(part).as_ref());
        }
        path
    }
}

/// A regular file's content and modification time, read without following a link.
fn read_no_follow(dir: &OwnedFd, leaf: &CStr) -> Result<(Vec<u8>, Option<SystemTime>), String> {
    let fd = rustix::fs::openat(
        dir,
        leaf,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => "is a symbolic link; links in the source are not followed".to_owned(),
        e => format!("cannot open it: {}", std::io::Error::from(e)),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| format!("cannot inspect it: {e}"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err("is not a regular file".into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(st.st_size).unwrap_or(0));
    let mut file = File::from(fd);
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let modified = file.metadata().and_then(|m| m.modified()).ok();
    Ok((bytes, modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn summary(found: &[Found]) -> Vec<String> {
        found
            .iter()
            .map(|f| match f {
                Found::Secret {
                    name, ciphertext, ..
                } => {
                    format!("{name}={}", String::from_utf8_lossy(ciphertext))
                }
                Found::Problem { what, reason } => format!("{what}: {reason}"),
            })
            .collect()
    }

    #[test]
    fn walks_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("x.gpg"), "OUT").unwrap();
        std::fs::write(src.join("a/b/c.gpg"), "C").unwrap();
        std::fs::write(src.join("top.gpg"), "T").unwrap();
        std::fs::write(src.join(".gpg-id"), "id").unwrap();
        std::fs::write(src.join(".git/h.gpg"), "H").unwrap();
        std::fs::write(src.join("README"), "r").unwrap();
        std::fs::write(src.join("tab\there.gpg"), "bad").unwrap();
        symlink(outside.join("x.gpg"), src.join("leak.gpg")).unwrap();
        symlink(&outside, src.join("dir")).unwrap();
        let found = collect(&src, ".gpg").unwrap();
        assert_eq!(
            summary(&found),
            [
                "a/b/c=C",
                "dir: is a symbolic link; links in the source are not followed",
                "leak.gpg: is a symbolic link; links in the source are not followed",
                "tab\\there.gpg: invalid name: a secret name cannot contain NUL or control characters",
                "top=T",
            ]
        );
    }

    #[test]
    fn hidden_folders_and_secrets_are_reported_and_metadata_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join(".old/deep")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::create_dir_all(src.join("web")).unwrap();
        std::fs::write(src.join(".old/deep/x.gpg"), "X").unwrap();
        std::fs::write(src.join(".git/h.gpg"), "H").unwrap();
        std::fs::write(src.join(".gpg-id"), "id").unwrap();
        std::fs::write(src.join("web/.hidden.gpg"), "S").unwrap();
        std::fs::write(src.join("web/.notes"), "n").unwrap();
        std::fs::write(src.join("web/shop.gpg"), "W").unwrap();
        let found = collect(&src, ".gpg").unwrap();
        let because = "coffer names cannot start with '.', so it is not imported; \
                       rename it in the source to import it";
        assert_eq!(
            summary(&found),
            [
                format!(".old: a hidden folder: {because}"),
                format!("web/.hidden.gpg: a hidden secret: {because}"),
                "web/shop=W".to_owned(),
            ]
        );
    }

    #[test]
    fn a_missing_source_is_one_clear_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(&t.path().join("nope"), ".gpg"),
            Err(SourceError::Missing(_))
        ));
    }
}
