//! The values `coffer scan` looks for, kept between runs so that the pre-commit hook costs
//! about one decryption instead of one per secret.
//!
//! **Where.** One file per store in coffer's cache folder: `$XDG_CACHE_HOME/coffer/scan/H.age`
//! (`~/.cache/…`), `H` a hash of the store's canonical path. Never in the store, never in git.
//!
//! **What.** For each secret, the [`Stamp`] its file had when it was read and the values
//! [`leak::secret_values`] takes from it (or that none of your identities opens it), behind a
//! header that names the store and your identities.
//!
//! **How it is protected.** It is an age file encrypted to the public keys of your own
//! identities, so whoever can read it could read the secrets anyway; it is written with the
//! one private writer (`sys/private.rs`: `0600`, atomic) in a folder only you may enter, and
//! read only from there (age hides a file but does not authenticate who wrote it: anyone can
//! encrypt to a public key, so where it lies is what makes it yours). Its plaintext lives in
//! zeroizing buffers only.
//!
//! **How it is invalidated.** Per secret: a file whose stamp differs from the cached one is
//! decrypted again, a new one is decrypted, a removed one is dropped. A stamp is only cached
//! once it has settled ([`Stamp::settled_before`] the walk that took it), so a change can never
//! hide behind an equal stamp. The header binds the cache to the store's path and to the
//! identities (the file's own stamp, its public keys, the allowed plugins): any change there,
//! a damaged file or one that does not decrypt, and the cache starts afresh — never an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::crypto::recipients::Recipients;
use crate::crypto::secret::SecretBuf;
use crate::crypto::{self, DecryptError, EncryptError};
use crate::formats::leak::{PatternsBuilder, secret_values};
use crate::store::Stamp;
use crate::store::name::{Folder, SecretName};
use crate::sys::private::{self, PrivateError};
use crate::vault::{self, Vault};

use super::cache::{self, Reader, stamp_bytes};

/// The first line of the cache's plaintext: its format.
const MAGIC: &[u8] = b"coffer scan cache 1\n";
/// How many secrets are decrypted (and held) at once.
const DECRYPT_CHUNK: usize = 256;
/// A cache file larger than this is not read (it is rebuilt).
const MAX_CACHE_SIZE: u64 = 1 << 30;
/// Record kinds.
const VALUES: u8 = 0;
const NOT_FOR_YOU: u8 = 1;
/// Where a name's length would be: the records end here, and their count follows.
const END: u32 = u32::MAX;

/// Why the cache could not be kept (the scan itself went on without it).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write the scan cache")]
    Write(#[from] PrivateError),
    #[error("cannot encrypt the scan cache: {0}")]
    Encrypt(#[from] EncryptError),
}

/// What [`collect`] found.
pub struct Collected {
    /// Every value to look for.
    pub patterns: PatternsBuilder,
    /// Secrets none of your identities could decrypt (not looked for).
    pub unreadable: usize,
    pub stats: CacheStats,
    /// Why the cache could not be written, if it could not.
    pub cache_error: Option<CacheError>,
}

/// How much the cache saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Secrets taken from the cache.
    pub reused: usize,
    /// Secrets decrypted (new, changed, not settled, or no cache).
    pub decrypted: usize,
    /// Whether the cache file was written.
    pub written: bool,
}

/// The cache file of `vault`'s store inside `cache_dir` (coffer's cache folder).
pub fn cache_file(cache_dir: &Path, vault: &Vault) -> PathBuf {
    cache_dir
        .join("scan")
        .join(format!("{}.age", cache::store_key(vault)))
}

/// Collects the values of every secret in the vault with at least `min_length` bytes, from
/// the cache at `cache` where it is still true, decrypting the rest; then writes the cache
/// again if anything changed. `None` when the vault holds no secret.
pub fn collect(
    vault: &Vault,
    cache: Option<&Path>,
    min_length: usize,
) -> vault::Result<Option<Collected>> {
    collect_at(vault, cache, min_length, SystemTime::now())
}

/// [`collect`] with the moment taken before the walk given (tests move it forward, as if
/// every file had settled).
#[doc(hidden)]
pub fn collect_at(
    vault: &Vault,
    cache: Option<&Path>,
    min_length: usize,
    walked_at: SystemTime,
) -> vault::Result<Option<Collected>> {
    let stamped = vault.list_stamped(&Folder::root())?;
    if stamped.is_empty() {
        return Ok(None);
    }
    let identities = vault.identities()?;
    let fingerprint = fingerprint(vault, cache);
    let old = cache.and_then(|path| read_cache(path, vault, &fingerprint));
    let old_records = old.as_ref().and_then(|p| parse(p.as_bytes(), &fingerprint));

    let mut patterns = PatternsBuilder::new(min_length);
    let mut stats = CacheStats::default();
    let mut unreadable = 0usize;
    let mut out = SecretBuf::with_capacity(old.as_ref().map_or(64 * 1024, |p| p.len() + 4096));
    out.put(MAGIC);
    out.put(&fingerprint);
    let mut missing: Vec<(&SecretName, Option<Stamp>)> = Vec::new();
    // How many records the new cache holds.
    let mut records = 0usize;
    for (name, stamp) in &stamped {
        let cached = old_records
            .as_ref()
            .and_then(|records| records.get(name.as_str()))
            .filter(|record| Some(record.stamp) == *stamp);
        match cached {
            Some(record) => {
                stats.reused += 1;
                if record.kind == NOT_FOR_YOU {
                    unreadable += 1;
                } else {
                    for (field, value) in record.values() {
                        patterns.add_value(name, field, value);
                    }
                }
                out.put(record.raw);
                records += 1;
            }
            None => missing.push((name, *stamp)),
        }
    }
    let mut changed = old_records.as_ref().is_none_or(|r| r.len() != stats.reused);
    for chunk in missing.chunks(DECRYPT_CHUNK) {
        let secrets: Vec<_> = chunk.par_iter().map(|(name, _)| vault.read(name)).collect();
        for ((name, stamp), secret) in chunk.iter().zip(secrets) {
            stats.decrypted += 1;
            let settled = stamp.filter(|s| s.settled_before(walked_at));
            match secret {
                Ok(secret) => {
                    let values = secret_values(&secret);
                    for (field, value) in &values {
                        patterns.add_value(name, field, value);
                    }
                    if let Some(stamp) = settled {
                        write_record(&mut out, name, &stamp, VALUES, &values);
                        records += 1;
                        changed = true;
                    }
                }
                Err(e) => {
                    unreadable += 1;
                    let not_for_you = matches!(
                        e,
                        vault::Error::Decrypt {
                            reason: DecryptError::NoIdentityMatches,
                            ..
                        }
                    );
                    if let (Some(stamp), true) = (settled, not_for_you) {
                        write_record(&mut out, name, &stamp, NOT_FOR_YOU, &[]);
                        records += 1;
                        changed = true;
                    }
                }
            }
        }
    }
    drop(old_records);
    drop(old);
    write_end(&mut out, records);
    let mut cache_error = None;
    if let (Some(path), true) = (cache, changed) {
        let recipients = Recipients::new(identities.recipients().to_vec(), PathBuf::new());
        // Identities whose public keys cannot be known (a plugin's) get no cache.
        if !recipients.is_empty() {
            match write_cache(path, out.as_bytes(), &recipients) {
                Ok(()) => stats.written = true,
                Err(e) => cache_error = Some(e),
            }
        }
    }
    Ok(Some(Collected {
        patterns,
        unreadable,
        stats,
        cache_error,
    }))
}

/// What the cache is valid for: this store, and these identities exactly as they are now.
fn fingerprint(vault: &Vault, cache: Option<&Path>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    let root = cache::canonical_root(vault);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(root.as_os_str().as_encoded_bytes());
    field(cache.map_or(&b""[..], |c| c.as_os_str().as_encoded_bytes()));
    let ids = &vault.paths().identities;
    field(ids.as_os_str().as_encoded_bytes());
    let stamp = std::fs::metadata(ids).map(|m| stamp_bytes(&stamp_of(&m)));
    field(stamp.as_ref().map_or(&b""[..], |s| &s[..]));
    if let Some(loaded) = vault.loaded_identities() {
        let mut keys: Vec<String> = loaded.recipients().iter().map(|r| r.to_string()).collect();
        keys.sort();
        field(&(loaded.len() as u64).to_le_bytes());
        for key in keys {
            field(key.as_bytes());
        }
    }
    for plugin in &vault.config().plugins.allow {
        field(plugin.as_bytes());
    }
    h.finalize().into()
}

fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp {
        device: m.dev(),
        inode: m.ino(),
        size: m.size(),
        modified: (m.mtime(), m.mtime_nsec()),
        changed: (m.ctime(), m.ctime_nsec()),
    }
}

/// Appends one record: name, stamp, kind, then the values.
fn write_record(
    out: &mut SecretBuf,
    name: &SecretName,
    stamp: &Stamp,
    kind: u8,
    values: &[(&str, &[u8])],
) {
    let name = name.as_str().as_bytes();
    out.put(&(name.len() as u32).to_le_bytes());
    out.put(name);
    out.put(&stamp_bytes(stamp));
    out.put(&[kind]);
    out.put(&(values.len() as u32).to_le_bytes());
    for (field, value) in values {
        out.put(&(field.len() as u32).to_le_bytes());
        out.put(field.as_bytes());
        out.put(&(value.len() as u32).to_le_bytes());
        out.put(value);
    }
}

/// One secret as the cache has it, borrowed from the decrypted cache.
struct Record<'a> {
    stamp: Stamp,
    kind: u8,
    /// The values, still encoded.
    body: &'a [u8],
    /// The whole record, copied as it is into the next cache.
    raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// The (field, value) pairs; [`parse`] has checked their framing.
    fn values(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        let mut reader = Reader(self.body);
        let count = reader.u32().unwrap_or(0);
        (0..count).map_while(move |_| {
            let field = std::str::from_utf8(reader.chunk()?).ok()?;
            Some((field, reader.chunk()?))
        })
    }
}

/// Reads the framing of a decrypted cache, every record checked; `None` if it is not one
/// for `fingerprint` or is damaged anywhere.
fn parse<'a>(plain: &'a [u8], fingerprint: &[u8; 32]) -> Option<HashMap<&'a str, Record<'a>>> {
    let rest = plain.strip_prefix(MAGIC)?.strip_prefix(&fingerprint[..])?;
    let mut reader = Reader(rest);
    let mut records = HashMap::new();
    loop {
        let start = reader.0;
        if reader.u32()? == END {
            let count = reader.u32()?;
            return (reader.0.is_empty() && count as usize == records.len()).then_some(records);
        }
        reader.0 = start;
        let name = std::str::from_utf8(reader.chunk()?).ok()?;
        let stamp = reader.stamp()?;
        let kind = *reader.take(1)?.first()?;
        let body = reader.0;
        let count = reader.u32()?;
        for _ in 0..count {
            std::str::from_utf8(reader.chunk()?).ok()?;
            reader.chunk()?;
        }
        if kind != VALUES && (kind != NOT_FOR_YOU || count != 0) {
            return None;
        }
        let used = start.len() - reader.0.len();
        let record = Record {
            stamp,
            kind,
            body: &body[..body.len() - reader.0.len()],
            raw: &start[..used],
        };
        if records.insert(name, record).is_some() {
            return None;
        }
    }
}

/// Ends the records: the marker and how many there are.
fn write_end(out: &mut SecretBuf, count: usize) {
    out.put(&END.to_le_bytes());
    out.put(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
}

/// The decrypted cache, if there is one that is ours and opens. Anything else (absent,
/// damaged, not private, not for these identities) is no cache.
fn read_cache(
    path: &Path,
    vault: &Vault,
    fingerprint: &[u8; 32],
) -> Option<crate::crypto::secret::Plaintext> {
    let dir = path.parent()?;
    private::check_private_dir(dir).ok()?;
    let ciphertext = private::read_own_private_file(path, MAX_CACHE_SIZE)?;
    let plain = crypto::decrypt(&ciphertext, vault.identities().ok()?).ok()?;
    let fits = plain
        .as_bytes()
        .strip_prefix(MAGIC)
        .is_some_and(|rest| rest.starts_with(fingerprint));
    fits.then_some(plain)
}

/// Encrypts the new cache and writes it privately, creating its folder (`0700`) if needed.
fn write_cache(path: &Path, plain: &[u8], recipients: &Recipients) -> Result<(), CacheError> {
    let ciphertext = crypto::encrypt(plain, recipients)?;
    if let Some(dir) = path.parent() {
        if let Some(parent) = dir.parent() {
            private::create_missing_dirs(parent)?;
        }
        private::create_private_dir(dir)?;
    }
    private::write_private_atomically(path, &ciphertext)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::time::Duration;

    use age::secrecy::ExposeSecret;

    use super::*;
    use crate::config::{Config, Paths};
    use crate::crypto::identity::Identities;
    use crate::crypto::recipients::Recipient;
    use crate::crypto::secret::Plaintext;
    use crate::formats::leak::Search;
    use crate::vault::RecipientOverride;

    struct Fixture {
        dir: tempfile::TempDir,
        vault: Vault,
        cache: PathBuf,
    }

    fn fixture() -> Fixture {
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
        let recipients = Recipients::new(vec![me], PathBuf::from("x"));
        vault
            .set_recipients(&lock, &Folder::root(), Some(&recipients))
            .unwrap();
        let cache = cache_file(&dir.path().join("cache"), &vault);
        Fixture { dir, vault, cache }
    }

    impl Fixture {
        fn write(&self, name: &str, content: &str) {
            let lock = self.vault.lock().unwrap();
            let plain = Plaintext::new(content.as_bytes().to_vec());
            self.vault
                .write(&lock, &SecretName::new(name).unwrap(), &plain)
                .unwrap();
        }

        /// Collects as if every file had settled long ago (or as of now, `settled: false`).
        fn collect(&self, settled: bool) -> Collected {
            let mut at = SystemTime::now();
            if settled {
                at += Duration::from_secs(3600);
            }
            collect_at(&self.vault, Some(&self.cache), 8, at)
                .unwrap()
                .unwrap()
        }
    }

    /// The secrets whose values `text` holds.
    fn found(collected: Collected, text: &str) -> Vec<String> {
        let matcher = collected.patterns.build(Search::Small).unwrap().unwrap();
        let mut names: Vec<String> = matcher
            .find_iter(text.as_bytes())
            .flat_map(|hit| matcher.owners(&hit))
            .map(|o| o.name.to_string())
            .collect();
        names.dedup();
        names
    }

    fn stats(reused: usize, decrypted: usize, written: bool) -> CacheStats {
        CacheStats {
            reused,
            decrypted,
            written,
        }
    }

    #[test]
    fn a_warm_cache_is_used_and_finds_leaks() {
        let f = fixture();
        f.write("db/prod", "hunter2-long\napi_token: tok_9876543210\n");
        f.write("web", "correct-horse\n");
        let first = f.collect(true);
        assert_eq!(first.stats, stats(0, 2, true));
        let second = f.collect(true);
        assert_eq!(second.stats, stats(2, 0, false));
        assert_eq!(second.unreadable, 0);
        assert_eq!(
            found(second, "x tok_9876543210 y correct-horse"),
            ["db/prod", "web"]
        );
    }

    #[test]
    fn changed_added_and_removed_secrets_are_never_missed() {
        let f = fixture();
        f.write("a", "old-value-1\n");
        f.write("b", "other-value\n");
        f.write("gone", "removed-value\n");
        assert!(f.collect(true).stats.written);
        // Same length, so the file keeps its size.
        f.write("a", "new-value-1\n");
        f.write("c", "added-value\n");
        let lock = f.vault.lock().unwrap();
        f.vault
            .remove(&lock, &SecretName::new("gone").unwrap())
            .unwrap();
        drop(lock);
        let after = f.collect(true);
        assert_eq!(after.stats, stats(1, 2, true));
        assert_eq!(
            found(after, "old-value-1 new-value-1 added-value removed-value"),
            ["a", "c"]
        );
    }

    #[test]
    fn a_file_rewritten_in_place_with_its_old_size_and_time_is_still_read() {
        let f = fixture();
        f.write("a", "first-value\n");
        f.write("b", "other-value\n");
        let path = f.vault.path_of(&SecretName::new("a").unwrap());
        let old_time = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(f.collect(true).stats.written);
        // Another value of `a`'s size (age pads headers at random, so try until one fits),
        // written over it in place (same inode), then its modification time put back: only
        // the change time tells.
        let size = std::fs::metadata(&path).unwrap().len() as usize;
        let keys = f.vault.loaded_identities().unwrap().recipients().to_vec();
        let keys = Recipients::new(keys, PathBuf::new());
        let replacement = (0..100_000)
            .map(|_| crypto::encrypt(b"later-value\n", &keys).unwrap())
            .find(|c| c.len() == size)
            .unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut &file, &replacement).unwrap();
        file.set_modified(old_time).unwrap();
        drop(file);
        let after = f.collect(true);
        assert_eq!(after.stats.decrypted, 1, "{:?}", after.stats);
        assert_eq!(found(after, "first-value later-value"), ["a"]);
    }

    #[test]
    fn files_changed_moments_ago_are_not_cached() {
        let f = fixture();
        f.write("a", "fresh-value\n");
        assert_eq!(f.collect(false).stats.decrypted, 1);
        let again = f.collect(false);
        assert_eq!(again.stats.reused, 0);
        assert_eq!(found(again, "fresh-value"), ["a"]);
    }

    #[test]
    fn the_cache_is_private_encrypted_and_holds_no_value() {
        let f = fixture();
        f.write("db/prod", "hunter2-long\napi_token: tok_9876543210\n");
        f.collect(true);
        let bytes = std::fs::read(&f.cache).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        for needle in [&b"hunter2"[..], b"tok_98", b"db/prod", b"aHVudGVy"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&f.cache), 0o600);
        assert_eq!(mode(f.cache.parent().unwrap()), 0o700);
        assert!(!f.cache.starts_with(f.vault.root()));
    }

    #[test]
    fn a_damaged_foreign_or_exposed_cache_is_rebuilt_not_trusted() {
        let f = fixture();
        f.write("a", "some-value-1\n");
        f.collect(true);
        let good = std::fs::read(&f.cache).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        // A cache encrypted by someone else to our key: right format, but claims nothing.
        let forged = {
            let mut plain = MAGIC.to_vec();
            plain.extend_from_slice(&fingerprint(&f.vault, Some(&f.cache)));
            plain.extend_from_slice(&END.to_le_bytes());
            plain.extend_from_slice(&0u32.to_le_bytes());
            let keys = f.vault.loaded_identities().unwrap().recipients().to_vec();
            crypto::encrypt(&plain, &Recipients::new(keys, PathBuf::new())).unwrap()
        };
        for (bytes, mode) in [
            (&b"garbage"[..], 0o600),
            (&flipped[..], 0o600),
            (&good[..], 0o644),
        ] {
            std::fs::write(&f.cache, bytes).unwrap();
            std::fs::set_permissions(&f.cache, std::fs::Permissions::from_mode(mode)).unwrap();
            let rebuilt = f.collect(true);
            assert_eq!(rebuilt.stats, stats(0, 1, true));
            assert_eq!(found(rebuilt, "some-value-1"), ["a"]);
        }
        // The forged one is well-formed, so it is trusted only because the folder and file
        // are ours: it holds no record, so every secret is read anyway.
        std::fs::write(&f.cache, forged).unwrap();
        assert_eq!(f.collect(true).stats.decrypted, 1);
        // A cache folder others may enter is not read at all.
        let dir = f.cache.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exposed = f.collect(true);
        assert_eq!(exposed.stats.reused, 0);
        assert!(exposed.cache_error.is_some());
        drop(f.dir);
    }

    #[test]
    fn records_survive_a_round_trip_and_damage_anywhere_is_refused() {
        let name = SecretName::new("f/s").unwrap();
        let stamp = Stamp {
            device: 1,
            inode: 2,
            size: 3,
            modified: (-4, 5),
            changed: (6, 7),
        };
        let fp = [9u8; 32];
        let mut buf = SecretBuf::with_capacity(1);
        buf.put(MAGIC);
        buf.put(&fp);
        write_record(
            &mut buf,
            &name,
            &stamp,
            VALUES,
            &[("password", b"v1"), ("k", b"")],
        );
        write_record(
            &mut buf,
            &SecretName::new("x").unwrap(),
            &stamp,
            NOT_FOR_YOU,
            &[],
        );
        write_end(&mut buf, 2);
        let plain = buf.as_bytes().to_vec();
        let records = parse(&plain, &fp).unwrap();
        let r = &records["f/s"];
        assert_eq!(r.stamp, stamp);
        assert_eq!(
            r.values().collect::<Vec<_>>(),
            [("password", &b"v1"[..]), ("k", &b""[..])]
        );
        assert_eq!(records["x"].kind, NOT_FOR_YOU);
        assert!(parse(&plain, &[8u8; 32]).is_none());
        for cut in MAGIC.len() + 33..plain.len() {
            assert!(parse(&plain[..cut], &fp).is_none(), "cut at {cut}");
        }
    }
}
