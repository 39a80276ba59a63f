//! What coffer's caches of a store share (`secret_cache.rs`, `fsck_cache.rs`): the name of a
//! store's cache file, and the encoding of their records (stamps, length-prefixed fields).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::Stamp;
use crate::sys::private::{self, PrivateError};
use crate::vault::Vault;

/// The name of `vault`'s store in coffer's cache folder: a hash of its canonical path, so that
/// each store has its own cache files and a moved store starts afresh.
pub(crate) fn store_key(vault: &Vault) -> String {
    let digest = Sha256::digest(canonical_root(vault).as_os_str().as_encoded_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The store's path with every link resolved (as given, if it cannot be).
pub(crate) fn canonical_root(vault: &Vault) -> PathBuf {
    std::fs::canonicalize(vault.root()).unwrap_or_else(|_| vault.root().to_owned())
}

/// The length of an encoded [`Stamp`].
pub(crate) const STAMP_LEN: usize = 7 * 8;

/// A stamp as seven little-endian words.
pub(crate) fn stamp_bytes(s: &Stamp) -> [u8; STAMP_LEN] {
    let mut out = [0u8; STAMP_LEN];
    let words = [
        s.device,
        s.inode,
        s.size,
        s.modified.0 as u64,
        s.modified.1 as u64,
        s.changed.0 as u64,
        s.changed.1 as u64,
    ];
    for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The stamp [`stamp_bytes`] encoded.
pub(crate) fn stamp_from(bytes: &[u8; STAMP_LEN]) -> Stamp {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    Stamp {
        device: word(0),
        inode: word(1),
        size: word(2),
        modified: (word(3) as i64, word(4) as i64),
        changed: (word(5) as i64, word(6) as i64),
    }
}

/// Reads a cache's fields from the front of a byte slice; `None` past its end.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    /// A field written with its length (a `u32`) first.
    pub(crate) fn chunk(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A [`chunk`](Self::chunk) that must be UTF-8.
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.chunk()?).ok()
    }

    pub(crate) fn stamp(&mut self) -> Option<Stamp> {
        let bytes = self.take(STAMP_LEN)?.try_into().ok()?;
        Some(stamp_from(bytes))
    }
}

/// A cache file's bytes, if it is one to trust: in a private folder, a regular file that is
/// yours and private, no larger than `max`, reached without a link. Anything else is no
/// cache (`None`).
pub(crate) fn read_private(path: &Path, max: u64) -> Option<Vec<u8>> {
    private::check_private_dir(path.parent()?).ok()?;
    private::read_own_private_file(path, max)
}

/// Writes a cache file privately (`0600`, atomic), creating its folder (`0700`) and the
/// folders above it if needed.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PrivateError> {
    if let Some(dir) = path.parent() {
        if let Some(parent) = dir.parent() {
            private::create_missing_dirs(parent)?;
        }
        private::create_private_dir(dir)?;
    }
    private::write_private_atomically(path, bytes)
}

/// The moment a test's walk is said to start: an hour from now when every file should count
/// as settled, now when none written in the last seconds should.
#[cfg(test)]
pub(crate) fn walk_moment(settled: bool) -> std::time::SystemTime {
    let mut at = std::time::SystemTime::now();
    if settled {
        at += std::time::Duration::from_secs(3600);
    }
    at
}

/// Writes `content` as the secret `name`.
#[cfg(test)]
pub(crate) fn write_secret(vault: &Vault, name: &str, content: &str) {
    let lock = vault.lock().unwrap();
    let plain = crate::crypto::secret::Plaintext::new(content.as_bytes().to_vec());
    vault
        .write(
            &lock,
            &crate::store::name::SecretName::new(name).unwrap(),
            &plain,
        )
        .unwrap();
}

/// What the caches' tests start from: a vault in a temporary folder, a fresh identity loaded,
/// its public key the store's one recipient.
#[cfg(test)]
pub(crate) fn vault_for_me() -> (
    tempfile::TempDir,
    Vault,
    crate::crypto::recipients::Recipient,
) {
    use std::sync::Arc;

    use age::secrecy::ExposeSecret;

    use crate::config::{Config, Paths};
    use crate::crypto::identity::Identities;
    use crate::crypto::recipients::{Recipient, Recipients};
    use crate::store::name::Folder;
    use crate::vault::RecipientOverride;

    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        store: dir.path().join("store"),
        identities: dir.path().join("ids"),
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().to_owned(),
    };
    let vault = Vault::create(
        paths,
        Config::default(),
        Arc::new(|_| None),
        RecipientOverride::None,
    )
    .unwrap();
    let id = age::x25519::Identity::generate();
    vault.set_identities(
        Identities::parse_plain(id.to_string().expose_secret().as_bytes()).unwrap(),
    );
    let me = Recipient::parse(&id.to_public().to_string()).unwrap();
    let lock = vault.lock().unwrap();
    let recipients = Recipients::new(vec![me.clone()], std::path::PathBuf::from("x"));
    vault
        .set_recipients(&lock, &Folder::root(), Some(&recipients))
        .unwrap();
    drop(lock);
    (dir, vault, me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_fields_survive_a_round_trip() {
        let stamp = Stamp {
            device: 1,
            inode: 2,
            size: 3,
            modified: (-4, 5),
            changed: (6, i64::MAX),
        };
        let mut bytes = stamp_bytes(&stamp).to_vec();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(b"abc");
        let mut reader = Reader(&bytes);
        assert_eq!(reader.stamp(), Some(stamp));
        assert_eq!(reader.chunk(), Some(&b"abc"[..]));
        assert_eq!(reader.u32(), None);
        assert!(reader.0.is_empty());
        assert_eq!(Reader(&bytes[..STAMP_LEN - 1]).stamp(), None);
        assert_eq!(Reader(&bytes[STAMP_LEN..bytes.len() - 1]).chunk(), None);
    }
}
