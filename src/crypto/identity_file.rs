//! An identities file as a whole, for the commands that change it (`identity passwd`,
//! `identity rotate`): opened into zeroizing memory (unlocked if it is protected), sealed again
//! with a passphrase or without one, replaced atomically through [`crate::sys::private`], and
//! kept as a dated backup.
//!
//! It also owns the file's side of a key rotation ([`KeyRotation`]). While the store's
//! recipients change and its secrets are re-encrypted, the identities file holds the new key
//! *and* the old ones, below a marker line; only when every store is done does it hold the
//! new key alone. A rotation killed at any point is recognised from that marker, and every
//! secret stays readable with the file as it is (or with the backup of the old one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::identity::{
    self, Identities, IdentityError, NewIdentity, PassphrasePrompt, decrypt_with_passphrase,
    is_age_file, is_ssh_key, read_private,
};
use super::recipients::Recipient;
use crate::sys::private::{self, PrivateError};

/// The line that separates the new key (above) from the old ones (below) while a rotation
/// runs; the backup's file name follows it on the same line.
const ROTATION_MARK: &str = "# coffer: rotation in progress (`coffer identity rotate` finishes it); the old keys below are also kept in ";

/// An identities file read for a change: its text in the clear and how it was protected.
pub struct OpenedIdentities {
    path: PathBuf,
    /// The bytes on disk, as read (a backup is byte-exact).
    original: Zeroizing<Vec<u8>>,
    /// The identities-file text, unlocked.
    text: Zeroizing<Vec<u8>>,
    /// The passphrase that protects it, if one does.
    passphrase: Option<SecretString>,
}

impl OpenedIdentities {
    /// Reads the identities file at `path`, asking `prompt` the `question` for its passphrase
    /// if it is protected. An SSH private key is refused: its passphrase and its key are
    /// changed with `ssh-keygen`, not here.
    pub fn open(
        path: &Path,
        prompt: &PassphrasePrompt,
        question: &str,
    ) -> Result<Self, IdentityError> {
        let original = read_private(path)?;
        if is_ssh_key(&original) {
            return Err(IdentityError::Unsupported(format!(
                "{} is an SSH private key; change it with ssh-keygen (`ssh-keygen -p -f {}`)",
                path.display(),
                path.display()
            )));
        }
        if !is_age_file(&original) {
            return Ok(Self {
                path: path.to_owned(),
                text: original.clone(),
                original,
                passphrase: None,
            });
        }
        let passphrase =
            prompt(question).ok_or_else(|| IdentityError::NoPassphrase(path.into()))?;
        let given = passphrase.clone();
        let answer: PassphrasePrompt = Arc::new(move |_| Some(given.clone()));
        let text = decrypt_with_passphrase(&original, path, &answer, question)?;
        Ok(Self {
            path: path.to_owned(),
            original,
            text,
            passphrase: Some(passphrase),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file on disk is protected with a passphrase.
    pub fn is_protected(&self) -> bool {
        self.passphrase.is_some()
    }

    /// Writes the same identities back, protected with `passphrase` (`None`: unprotected).
    pub fn rewrite(&self, passphrase: Option<&SecretString>) -> Result<(), IdentityError> {
        replace(&self.path, &self.text, passphrase)
    }
}

/// The public keys of the native identities in identities-file text, when every identity in
/// it is one (no plugin, no SSH key), else `None`.
fn public_keys(text: &[u8]) -> Option<Vec<Recipient>> {
    let ids = Identities::parse_plain(text).ok()?;
    (ids.recipients().len() == ids.len()).then(|| ids.recipients().to_vec())
}

/// Replaces the identities file at `path` with `text`, protected with `passphrase` when there
/// is one, atomically (the old file or the new one, never a torn one). The public half
/// beside it (`identities.pub`) is written first when the new file is protected or when
/// there was one: a kill in between leaves a public file that still names every key.
pub fn replace(
    path: &Path,
    text: &[u8],
    passphrase: Option<&SecretString>,
) -> Result<(), IdentityError> {
    let sealed = match passphrase {
        Some(passphrase) => Zeroizing::new(identity::protect(text, passphrase)?),
        None => Zeroizing::new(text.to_vec()),
    };
    let public = identity::public_file_of(path);
    if (passphrase.is_some() || public.exists())
        && let Some(keys) = public_keys(text)
    {
        let lines: String = keys.iter().map(|k| format!("{}\n", k.key())).collect();
        private::write_private_atomically(&public, lines.as_bytes())?;
    }
    private::write_private_atomically(path, &sealed)?;
    // A killed earlier write may have left its temporaries (one with a key in it) beside
    // the files.
    private::sweep_stale_temporaries(path);
    private::sweep_stale_temporaries(&public);
    Ok(())
}

/// Keeps `bytes` (an identities file as it was) beside `path` as
/// `NAME.YYYY-MM-DDTHHMMSSZ.bak`, private, never replacing anything: a backup with those
/// very bytes is reused (a rotation killed just after making it, run again), another one of
/// the same second gets a `-2`, `-3`, … suffix. Returns its path.
pub fn write_backup(path: &Path, bytes: &[u8]) -> Result<PathBuf, IdentityError> {
    sweep_backup_temporaries(path);
    if let Some(same) = backups_of(path)
        .into_iter()
        .find(|b| read_private(b).is_ok_and(|kept| *kept == *bytes))
    {
        return Ok(same);
    }
    let stamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H%M%SZ")
        .to_string();
    write_backup_stamped(path, bytes, &stamp)
}

fn write_backup_stamped(path: &Path, bytes: &[u8], stamp: &str) -> Result<PathBuf, IdentityError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "identities".to_owned());
    let mut last = None;
    for n in 1..=100 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let backup = path.with_file_name(format!("{name}.{stamp}{suffix}.bak"));
        match private::create_private_atomically(&backup, bytes) {
            Ok(()) => return Ok(backup),
            Err(PrivateError::Exists(there)) => {
                if read_private(&backup).is_ok_and(|kept| *kept == *bytes) {
                    return Ok(backup);
                }
                last = Some(there);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PrivateError::Exists(last.unwrap_or_else(|| path.to_owned())).into())
}

/// Removes what backups of `path` killed while being written left (each a copy of a key):
/// `.NAME.STAMP.bak.PID.RANDOM.tmp` of writers no longer running.
fn sweep_backup_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !private::is_temporary(&file_name) || !file_name.starts_with(&prefix) {
            continue;
        }
        // `.NAME.STAMP.bak.PID.RANDOM.tmp` → `NAME.STAMP.bak`, whose temporaries these are.
        let mut parts = file_name[1..].rsplitn(4, '.');
        let original = parts.nth(3).unwrap_or_default();
        if original.ends_with(".bak") {
            private::sweep_stale_temporaries(&path.with_file_name(original));
        }
    }
}

/// The backups [`write_backup`] made of the file at `path`.
pub fn backups_of(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix)
                && n.ends_with(".bak")
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|e| path.with_file_name(e.file_name()))
        .collect();
    found.sort();
    found
}

/// The identities file's side of `coffer identity rotate` (see the module documentation).
pub struct KeyRotation {
    path: PathBuf,
    /// Kept for the new file: the rotation does not change how the file is protected.
    passphrase: Option<SecretString>,
    /// The new key's identities-file text.
    new_block: Zeroizing<Vec<u8>>,
    /// The old identities-file text (unlocked).
    old_block: Zeroizing<Vec<u8>>,
    /// The file on disk before the rotation, for its backup; `None` when resuming one.
    original: Option<Zeroizing<Vec<u8>>>,
    /// Where the old file is kept; known from the marker when resuming.
    backup: Option<PathBuf>,
    old: Vec<Recipient>,
    new: Recipient,
}

impl KeyRotation {
    /// Starts a rotation of the opened file (a new key), or resumes the one a killed run left
    /// in it. Every identity in the file must be a native age key: those are what a new key
    /// replaces in the store's recipients files.
    pub fn start_or_resume(opened: OpenedIdentities) -> Result<Self, IdentityError> {
        let OpenedIdentities {
            path,
            original,
            text,
            passphrase,
        } = opened;
        if let Some((new_block, backup, old_block)) = split_rotating(&text) {
            let old = native_keys(&old_block, &path)?;
            let new = match native_keys(&new_block, &path)?.as_slice() {
                [one] => one.clone(),
                _ => return Err(damaged_rotation(&path)),
            };
            return Ok(Self {
                backup: Some(path.with_file_name(backup)),
                path,
                passphrase,
                new_block,
                old_block,
                original: None,
                old,
                new,
            });
        }
        let old = native_keys(&text, &path)?;
        let generated = NewIdentity::generate();
        let new = Recipient::parse(&generated.recipient())
            .map_err(|e| IdentityError::Invalid(e.to_string()))?;
        let new_block = Zeroizing::new(generated.file_text().as_bytes().to_vec());
        Ok(Self {
            path,
            passphrase,
            new_block,
            old_block: text,
            original: Some(original),
            backup: None,
            old,
            new,
        })
    }

    /// Whether this finishes a rotation a killed run started.
    pub fn is_resumed(&self) -> bool {
        self.original.is_none()
    }

    /// The keys being replaced.
    pub fn old_keys(&self) -> &[Recipient] {
        &self.old
    }

    /// The new key's public half (the recipient to list).
    pub fn new_key(&self) -> &Recipient {
        &self.new
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the old identities file is kept (known once [`KeyRotation::keep_both`] ran, or
    /// from the file when resuming).
    pub fn backup(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// The new key and the old ones, to decrypt and re-encrypt with while the store changes.
    pub fn identities(&self) -> Result<Identities, IdentityError> {
        let both = self.both_text("");
        Identities::parse_plain(&both)
    }

    /// First steps, before any store changes: the old file is kept as a dated backup, then
    /// the identities file is replaced by one holding the new key and the old ones. Nothing
    /// to do when resuming (the file holds both already). Returns the backup's path.
    pub fn keep_both(&mut self) -> Result<PathBuf, IdentityError> {
        if let Some(original) = &self.original
            && self.backup.is_none()
        {
            let backup = write_backup(&self.path, original)?;
            let name = backup
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            replace(&self.path, &self.both_text(&name), self.passphrase.as_ref())?;
            self.backup = Some(backup);
        }
        self.backup
            .clone()
            .ok_or_else(|| damaged_rotation(&self.path))
    }

    /// Last step, once every store lists the new key instead of the old ones: the identities
    /// file holds the new key alone (protected as the old one was).
    pub fn finish(&self) -> Result<(), IdentityError> {
        replace(&self.path, &self.new_block, self.passphrase.as_ref())
    }

    fn both_text(&self, backup_name: &str) -> Zeroizing<Vec<u8>> {
        let mut both = Zeroizing::new(Vec::with_capacity(
            self.new_block.len() + self.old_block.len() + ROTATION_MARK.len() + 64,
        ));
        both.extend_from_slice(&self.new_block);
        if !both.ends_with(b"\n") {
            both.push(b'\n');
        }
        both.extend_from_slice(ROTATION_MARK.as_bytes());
        both.extend_from_slice(backup_name.as_bytes());
        both.push(b'\n');
        both.extend_from_slice(&self.old_block);
        both
    }
}

/// The public keys of identities-file text that must hold native age keys only.
fn native_keys(text: &[u8], path: &Path) -> Result<Vec<Recipient>, IdentityError> {
    public_keys(text)
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| {
            IdentityError::Unsupported(format!(
                "{} holds identities other than age keys (AGE-SECRET-KEY-1…), such as a plugin's; \
                 only age keys can be rotated",
                path.display()
            ))
        })
}

fn damaged_rotation(path: &Path) -> IdentityError {
    IdentityError::Invalid(format!(
        "{}: the rotation in progress in this file is damaged; restore the backup it names",
        path.display()
    ))
}

/// A file in the middle of a rotation: the new key's text, the backup's file name and the
/// old keys' text.
#[allow(clippy::type_complexity)]
fn split_rotating(text: &[u8]) -> Option<(Zeroizing<Vec<u8>>, String, Zeroizing<Vec<u8>>)> {
    let mut offset = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(ROTATION_MARK.as_bytes()) {
            let backup = String::from_utf8_lossy(rest).trim().to_owned();
            let new_block = Zeroizing::new(text[..offset].to_vec());
            let old_block = Zeroizing::new(text[offset + line.len()..].to_vec());
            return Some((new_block, backup, old_block));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(dir: &Path, text: &[u8]) -> OpenedIdentities {
        let path = dir.join("identities");
        std::fs::write(&path, text).unwrap();
        let no_prompt: PassphrasePrompt = Arc::new(|_| None);
        OpenedIdentities::open(&path, &no_prompt, "?").unwrap()
    }

    #[test]
    fn a_rotation_keeps_both_keys_until_it_finishes_and_resumes_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = NewIdentity::generate();
        let mut rotation =
            KeyRotation::start_or_resume(opened(dir.path(), old.file_text().as_bytes())).unwrap();
        assert!(!rotation.is_resumed());
        assert_eq!(rotation.old_keys()[0].key(), old.recipient());
        let backup = rotation.keep_both().unwrap();
        assert_eq!(std::fs::read(&backup).unwrap(), old.file_text().as_bytes());
        let on_disk = std::fs::read(dir.path().join("identities")).unwrap();
        let both = Identities::parse_plain(&on_disk).unwrap();
        assert_eq!(both.len(), 2);

        // A killed run is recognised from the file, with the same keys and backup.
        let resumed = KeyRotation::start_or_resume(opened(dir.path(), &on_disk)).unwrap();
        assert!(resumed.is_resumed());
        assert_eq!(resumed.new_key(), rotation.new_key());
        assert_eq!(resumed.old_keys(), rotation.old_keys());
        assert_eq!(resumed.backup(), Some(backup.as_path()));
        resumed.finish().unwrap();
        let done = Identities::parse_plain(&std::fs::read(dir.path().join("identities")).unwrap())
            .unwrap();
        assert_eq!(done.recipients(), std::slice::from_ref(rotation.new_key()));
    }

    #[test]
    fn a_backup_never_replaces_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities");
        let stamp = "2026-12-01T101530Z";
        let first = write_backup_stamped(&path, b"one", stamp).unwrap();
        assert_eq!(
            first.file_name().unwrap(),
            "identities.2026-12-01T101530Z.bak"
        );
        let again = write_backup_stamped(&path, b"one", stamp).unwrap();
        assert_eq!(again, first, "the same bytes: reused");
        assert_eq!(
            write_backup(&path, b"one").unwrap(),
            first,
            "whatever the time"
        );
        let second = write_backup_stamped(&path, b"two", stamp).unwrap();
        assert_eq!(
            second.file_name().unwrap(),
            "identities.2026-12-01T101530Z-2.bak"
        );
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        let mut both = vec![first, second];
        both.sort();
        assert_eq!(backups_of(&path), both);

        // What a killed backup left (a dead writer's temporary) goes with the next backup.
        let left = dir
            .path()
            .join(".identities.2026-11-30T000000Z.bak.999999999.0123456789abcdef.tmp");
        std::fs::write(&left, b"old key").unwrap();
        write_backup(&path, b"three").unwrap();
        assert!(!left.exists());
    }
}
