//! `fsck`'s cache of checked headers, kept between runs so that a check of a large store opens
//! only the secrets' files that changed since the last one.
//!
//! **Where.** One file per store in coffer's cache folder: `$XDG_CACHE_HOME/coffer/fsck/H`
//! (`~/.cache/…`), `H` a hash of the store's canonical path, as for scan's cache. Never in the
//! store, never in git.
//!
//! **What.** For each `.age` file, its path in the store, the [`Stamp`] it had when its header
//! was checked, and what the check found: how many stanzas of each type, or why it is not age.
//! Behind a magic line and the store's canonical path, and followed by a SHA-256 of all that.
//!
//! **Not encrypted.** It holds no secret — file names, which anyone who may list the store
//! sees, and header facts — and `fsck` must never need or touch an identity, so it is not
//! encrypted. It is written with the one private writer (`sys/private.rs`: `0600`, atomic) in a
//! folder only you may enter, and read only if it is a regular file you own that no one else
//! may read or write, never through a link.
//!
//! **How it is used.** A file whose stamp is the cached one is looked at (`fstatat`, which its
//! permissions and owner need anyway) but not opened: the cached facts stand for its header.
//! Comparing the stanzas with the folder's recipients, and every other check, runs every time.
//! A stamp is only cached once it has settled ([`Stamp::settled_before`] the walk that took
//! it), so a change can never hide behind an equal stamp: any write through the file system
//! sets the change time, which no user can set back.
//!
//! **What it cannot see.** A header damaged in place without any change of stamp: bit rot
//! beneath the file system (a failing disk, controller or memory). `fsck --full` ignores the
//! cache and reads every header again (and refreshes the cache), as `--decrypt` does.
//!
//! **How it is invalidated.** Per file, by its stamp; a file no longer in the store is
//! dropped. A cache that is absent, damaged, of another format or store, or not private is no
//! cache: it is rebuilt, never an error.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::crypto::{DecryptError, HeaderSummary, STANZA_TYPES};
use crate::store::Stamp;
use crate::store::inspect::{Found, HeaderVerdict, KnownHeaders};
use crate::vault::Vault;

use super::cache::{self, Reader, stamp_bytes};

/// The first line of the cache: its format.
const MAGIC: &[u8] = b"coffer fsck cache 1\n";
/// A cache file larger than this is not read (it is rebuilt).
const MAX_CACHE_SIZE: u64 = 1 << 30;
/// What a record says of its header.
const SOUND: u8 = 0;
const DAMAGED: u8 = 1;
/// The length of the SHA-256 that ends the cache.
const CHECKSUM_LEN: usize = 32;

/// How much the cache saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Headers taken from the cache (their files were not opened).
    pub reused: usize,
    /// Headers read (new, changed, not settled, `--full`, or no cache).
    pub read: usize,
    /// Whether the cache file was written.
    pub written: bool,
}

/// The cache file of `vault`'s store inside `cache_dir` (coffer's cache folder).
pub fn cache_file(cache_dir: &Path, vault: &Vault) -> PathBuf {
    cache_dir.join("fsck").join(cache::store_key(vault))
}

/// The cache file's bytes, if it is one to trust: in a private folder, a regular file that is
/// yours and private, reached without a link. Anything else is no cache.
pub fn read(path: &Path) -> Option<Vec<u8>> {
    cache::read_private(path, MAX_CACHE_SIZE)
}

/// The headers a cache holds, borrowed from its bytes, in the walk's order.
pub struct HeaderCache<'a> {
    /// The whole cache, as read.
    bytes: &'a [u8],
    records: Vec<Record<'a>>,
    /// Where the next file the walk asks about should be.
    next: usize,
}

/// One file as the cache has it.
#[derive(Debug, Clone, Copy)]
struct Record<'a> {
    path: &'a [u8],
    stamp: Stamp,
    fact: Fact<'a>,
}

/// What a header showed.
#[derive(Debug, Clone, Copy)]
enum Fact<'a> {
    Sound(HeaderSummary),
    /// Why it is not age.
    Damaged(&'a str),
}

impl<'a> Fact<'a> {
    /// What a header check's verdict says, if it is about the header (soundness or damage).
    fn of(verdict: &'a HeaderVerdict) -> Option<Self> {
        match verdict {
            Ok(summary) => Some(Fact::Sound(*summary)),
            Err(DecryptError::Corrupt(why)) => Some(Fact::Damaged(why)),
            Err(_) => None,
        }
    }

    fn verdict(self) -> HeaderVerdict {
        match self {
            Fact::Sound(summary) => Ok(summary),
            Fact::Damaged(why) => Err(DecryptError::Corrupt(why.to_owned())),
        }
    }
}

impl<'a> HeaderCache<'a> {
    /// The records of `bytes` if they are a whole, undamaged cache of this format for
    /// `vault`'s store, each path once and in the walk's order; `None` otherwise.
    pub fn parse(bytes: &'a [u8], vault: &Vault) -> Option<Self> {
        let body = bytes.get(..bytes.len().checked_sub(CHECKSUM_LEN)?)?;
        if Sha256::digest(body)[..] != bytes[body.len()..] {
            return None;
        }
        let mut reader = Reader(body.strip_prefix(MAGIC)?);
        let root = cache::canonical_root(vault);
        if reader.chunk()? != root.as_os_str().as_bytes() {
            return None;
        }
        let count = reader.u32()?;
        let mut records: Vec<Record> = Vec::new();
        for _ in 0..count {
            let path = reader.chunk()?;
            let stamp = reader.stamp()?;
            let fact = match *reader.take(1)?.first()? {
                SOUND => {
                    let mut stanzas = [0u32; STANZA_TYPES.len()];
                    for count in &mut stanzas {
                        *count = reader.u32()?;
                    }
                    let others = reader.u32()?;
                    Fact::Sound(HeaderSummary { stanzas, others })
                }
                DAMAGED => Fact::Damaged(std::str::from_utf8(reader.chunk()?).ok()?),
                _ => return None,
            };
            if records
                .last()
                .is_some_and(|last| walk_order(last.path, path).is_ge())
            {
                return None;
            }
            records.push(Record { path, stamp, fact });
        }
        let cache = HeaderCache {
            bytes,
            records,
            next: 0,
        };
        reader.0.is_empty().then_some(cache)
    }
}

impl KnownHeaders for HeaderCache<'_> {
    /// Asked in the walk's order, which is the records' order: each time a step forward past
    /// the file asked before (and the files gone since).
    fn known(&mut self, path: &Path) -> Option<(Stamp, HeaderVerdict)> {
        let path = path.as_os_str().as_bytes();
        self.next += self.records[self.next..]
            .iter()
            .take_while(|r| walk_order(r.path, path).is_lt())
            .count();
        let record = self.records.get(self.next).filter(|r| r.path == path)?;
        Some((record.stamp, record.fact.verdict()))
    }
}

/// The order of the walk ([`crate::store::inspect`]: each folder's entries sorted by name,
/// a folder's contents right after it): paths compared component by component, which is
/// byte order with `/` below every other byte.
fn walk_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    // A path holds no NUL byte, so `/` may take its rank.
    let rank = |b: u8| if b == b'/' { 0 } else { b };
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match (a.get(common), b.get(common)) {
        (Some(&x), Some(&y)) => rank(x).cmp(&rank(y)),
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

/// The cache after a check of `folder` (relative to the store's root; empty for all of it)
/// whose walk began at `walked_at` and found `found`: a record for each header read or reused
/// whose stamp has settled by then, and `old`'s records outside `folder`. With the count of
/// headers reused and read, and the bytes to write — `None` when the cache would not change
/// (as after `--full` found every header as it was).
pub fn update(
    vault: &Vault,
    old: Option<&HeaderCache>,
    folder: &Path,
    found: &[Found],
    walked_at: SystemTime,
) -> (Option<Vec<u8>>, CacheStats) {
    let folder = folder.as_os_str().as_bytes();
    let inside = |path: &[u8]| {
        folder.is_empty()
            || path
                .strip_prefix(folder)
                .is_some_and(|r| r.starts_with(b"/"))
    };
    let old_bytes = old.map(|old| old.bytes);
    let old = old.map_or(&[][..], |old| &old.records[..]);
    let outside: Vec<Record> = old.iter().filter(|r| !inside(r.path)).copied().collect();
    let mut stats = CacheStats::default();
    let mut settled = 0usize;
    let headers = found.iter().filter_map(|e| Some((e, e.header.as_ref()?)));
    for (_, header) in headers.clone() {
        if header.known {
            stats.reused += 1;
        } else {
            stats.read += 1;
            settled += usize::from(header.stamp.settled_before(walked_at));
        }
    }
    // Unchanged if no header was read that could be cached and none of the old ones went
    // (gone from the store, or changed): then the cache is not even encoded (the comparison
    // below would find it unchanged too, at the cost of encoding and hashing it).
    if settled == 0 && old.len() == stats.reused + outside.len() {
        return (None, stats);
    }
    let checked = headers.filter_map(|(entry, header)| {
        let fact = Fact::of(&header.verdict)?;
        let path = entry.path.as_os_str().as_bytes();
        let record = Record {
            path,
            stamp: header.stamp,
            fact,
        };
        header.stamp.settled_before(walked_at).then_some(record)
    });
    // In the walk's order: what lies before the folder, the folder, what lies after.
    let (before, after): (Vec<Record>, Vec<Record>) = outside
        .into_iter()
        .partition(|r| walk_order(r.path, folder).is_lt());
    let records = before.into_iter().chain(checked).chain(after);
    let new = encode(vault, records);
    if old_bytes == Some(&new[..]) {
        return (None, stats);
    }
    (Some(new), stats)
}

/// The cache holding `records` (in the walk's order) for `vault`'s store.
fn encode<'a>(vault: &Vault, records: impl Iterator<Item = Record<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(MAGIC);
    put_chunk(
        &mut out,
        cache::canonical_root(vault).as_os_str().as_bytes(),
    );
    let count_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count = 0u32;
    for record in records {
        put_record(&mut out, record.path, &record.stamp, record.fact);
        count += 1;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Appends a field with its length first.
fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Appends one record: path, stamp, then what the header showed.
fn put_record(out: &mut Vec<u8>, path: &[u8], stamp: &Stamp, fact: Fact) {
    put_chunk(out, path);
    out.extend_from_slice(&stamp_bytes(stamp));
    match fact {
        Fact::Sound(summary) => {
            out.push(SOUND);
            for count in summary.stanzas.iter().chain([&summary.others]) {
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        Fact::Damaged(why) => {
            out.push(DAMAGED);
            put_chunk(out, why.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::crypto::recipients::{Recipient, Recipients};
    use crate::store::name::{Folder, SecretName};
    use crate::tools::fsck::{self, Options, Report};

    struct Fixture {
        dir: tempfile::TempDir,
        vault: Vault,
        cache: PathBuf,
        me: Recipient,
    }

    fn fixture() -> Fixture {
        let (dir, vault, me) = cache::vault_for_me();
        Fixture {
            cache: cache_file(&dir.path().join("cache"), &vault),
            dir,
            vault,
            me,
        }
    }

    impl Fixture {
        fn write(&self, name: &str, content: &str) {
            cache::write_secret(&self.vault, name, content);
        }

        /// Writes the root's recipients file (nothing is re-encrypted).
        fn set_recipients(&self, list: &[Recipient]) {
            let lock = self.vault.lock().unwrap();
            let recipients = Recipients::new(list.to_vec(), PathBuf::from("x"));
            self.vault
                .set_recipients(&lock, &Folder::root(), Some(&recipients))
                .unwrap();
        }

        fn file(&self, name: &str) -> PathBuf {
            self.vault.path_of(&SecretName::new(name).unwrap())
        }

        /// Checks the whole store as if every file had settled long ago (or as of now,
        /// `settled: false`).
        fn check(&self, settled: bool) -> Report {
            self.check_with(&Folder::root(), Options::default(), settled)
        }

        fn check_with(&self, folder: &Folder, options: Options, settled: bool) -> Report {
            let at = cache::walk_moment(settled);
            let options = Options {
                cache: Some(self.cache.clone()),
                ..options
            };
            fsck::check_at(&self.vault, folder, &options, &|| {}, at).unwrap()
        }
    }

    fn stats(reused: usize, read: usize, written: bool) -> CacheStats {
        CacheStats {
            reused,
            read,
            written,
        }
    }

    /// Each problem's kind, path and what is wrong.
    fn problems(report: &Report) -> Vec<(&'static str, String, String)> {
        report
            .problems
            .iter()
            .map(|p| (p.kind, p.path.clone(), p.detail.clone()))
            .collect()
    }

    /// Overwrites the start of a file in place (same inode, same size), then puts its
    /// modification time back: only the change time tells.
    fn damage_in_place(path: &Path) {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        std::io::Write::write_all(&mut &file, b"AGE").unwrap();
        file.set_modified(modified).unwrap();
    }

    /// A cache's bytes with their checksum.
    fn sealed(mut body: Vec<u8>) -> Vec<u8> {
        let sum = Sha256::digest(&body);
        body.extend_from_slice(&sum);
        body
    }

    #[test]
    fn a_warm_cache_spares_opening_every_unchanged_file() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.write("web/b", "beta\n");
        let first = f.check(true);
        assert_eq!(first.cache, stats(0, 2, true));
        assert_eq!(first.secrets, 2);
        let second = f.check(true);
        assert_eq!(second.cache, stats(2, 0, false));
        assert_eq!(second.secrets, 2);
        assert_eq!(problems(&second), []);
        // The check of what is not a header still runs: a file opened to others is seen.
        std::fs::set_permissions(f.file("a"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let third = f.check(true);
        assert_eq!(third.cache, stats(1, 1, true));
        assert_eq!(
            problems(&third),
            [(
                "permissions",
                "a.age".to_owned(),
                "mode 0640: group or others have access".to_owned()
            )]
        );
    }

    #[test]
    fn a_changed_file_is_read_again_and_its_damage_reported() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.write("b", "beta\n");
        f.write("c", "gamma\n");
        f.check(true);
        std::fs::write(f.file("a"), b"not an age file\n").unwrap();
        std::fs::remove_file(f.file("c")).unwrap();
        std::os::unix::fs::symlink(f.file("b"), f.file("c")).unwrap();
        let after = f.check(true);
        assert_eq!(after.cache, stats(1, 1, true));
        let found = problems(&after);
        assert_eq!(
            found,
            [
                (
                    "not-age",
                    "a.age".to_owned(),
                    "not an age file, or damaged (no age header); restore it with `coffer restore a --revision REV`".to_owned()
                ),
                (
                    "link",
                    "c.age".to_owned(),
                    "a symbolic link: coffer never follows it; remove or replace it by hand"
                        .to_owned()
                ),
            ]
        );
        // The damage is cached too, and said again word for word.
        let again = f.check(true);
        assert_eq!(again.cache, stats(2, 0, false));
        assert_eq!(problems(&again), found);
    }

    #[test]
    fn damage_written_in_place_with_the_old_size_and_time_is_still_found() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.write("b", "beta\n");
        f.check(true);
        let before = std::fs::metadata(f.file("a")).unwrap();
        damage_in_place(&f.file("a"));
        let after = std::fs::metadata(f.file("a")).unwrap();
        assert_eq!(
            (before.len(), before.modified().unwrap()),
            (after.len(), after.modified().unwrap())
        );
        let report = f.check(true);
        assert_eq!(report.cache, stats(1, 1, true));
        assert_eq!(problems(&report)[0].0, "not-age", "{:?}", report.problems);
        assert_eq!(report.secrets, 1);
    }

    #[test]
    fn files_changed_moments_ago_are_read_every_time() {
        let f = fixture();
        f.write("a", "alpha\n");
        assert_eq!(f.check(false).cache, stats(0, 1, false));
        assert_eq!(f.check(false).cache, stats(0, 1, false));
        assert!(!f.cache.exists());
        // Settled, then changed: the old record goes, the new stamp is not cached yet.
        f.check(true);
        f.write("a", "alpha again\n");
        assert_eq!(f.check(false).cache, stats(0, 1, true));
        assert_eq!(f.check(false).cache, stats(0, 1, false));
    }

    #[test]
    fn removed_and_added_files_leave_and_join_the_cache() {
        let f = fixture();
        for name in ["a", "b", "c", "e"] {
            f.write(name, "value\n");
        }
        f.check(true);
        let lock = f.vault.lock().unwrap();
        f.vault
            .remove(&lock, &SecretName::new("b").unwrap())
            .unwrap();
        drop(lock);
        f.write("d", "value\n");
        assert_eq!(f.check(true).cache, stats(3, 1, true));
        assert_eq!(f.check(true).cache, stats(4, 0, false));
    }

    #[test]
    fn a_file_removed_from_the_folder_checked_leaves_the_cache_and_the_rest_stays() {
        let f = fixture();
        for name in ["a", "b", "c", "web/d", "web/e", "web/f"] {
            f.write(name, "value\n");
        }
        f.check(true);
        let lock = f.vault.lock().unwrap();
        f.vault
            .remove(&lock, &SecretName::new("web/f").unwrap())
            .unwrap();
        drop(lock);
        let web = Folder::new("web").unwrap();
        assert_eq!(
            f.check_with(&web, Options::default(), true).cache,
            stats(2, 0, true)
        );
        assert_eq!(f.check(true).cache, stats(5, 0, false));
    }

    #[test]
    fn names_the_walk_and_byte_order_sort_apart_are_all_found() {
        let f = fixture();
        // Byte order puts `a-b/c`, `a.b` and `a/b` in that order; the walk goes through
        // `a/` first (`a` before `a-b` and `a.b`), and in it through the folders `b/` and
        // `b-c/` before `b.age`.
        let names = [
            "a-b/c", "a.b", "a/b", "a/b/c", "a/b-c/d", "a0", "a/b.c", "B", "é",
        ];
        for name in names {
            f.write(name, "value\n");
        }
        assert_eq!(f.check(true).cache, stats(0, names.len(), true));
        assert_eq!(f.check(true).cache, stats(names.len(), 0, false));
        let mut sorted = names.map(|n| format!("{n}.age"));
        sorted.sort_by(|a, b| walk_order(a.as_bytes(), b.as_bytes()));
        assert_eq!(
            sorted,
            [
                "B", "a/b/c", "a/b-c/d", "a/b", "a/b.c", "a-b/c", "a.b", "a0", "é"
            ]
            .map(|n| format!("{n}.age"))
        );
    }

    #[test]
    fn a_check_of_one_folder_keeps_the_rest_of_the_cache() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.write("web/b", "beta\n");
        f.write("web/c", "gamma\n");
        f.write("webmail/d", "delta\n");
        f.check(true);
        let web = Folder::new("web").unwrap();
        let options = Options::default;
        assert_eq!(
            f.check_with(&web, options(), true).cache,
            stats(2, 0, false)
        );
        f.write("web/b", "beta again\n");
        assert_eq!(f.check_with(&web, options(), true).cache, stats(1, 1, true));
        assert_eq!(f.check(true).cache, stats(4, 0, false));
        let full = Options {
            full: true,
            ..options()
        };
        // Every header as it was: nothing to write.
        assert_eq!(f.check_with(&web, full, true).cache, stats(0, 2, false));
        assert_eq!(f.check(true).cache, stats(4, 0, false));
    }

    #[test]
    fn the_stanzas_are_held_to_the_folders_recipients_every_time() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.check(true);
        let other =
            Recipient::parse(&age::x25519::Identity::generate().to_public().to_string()).unwrap();
        f.set_recipients(&[f.me.clone(), other]);
        let report = f.check(true);
        assert_eq!(report.cache, stats(1, 0, false));
        assert_eq!(
            problems(&report),
            [(
                "recipients-mismatch",
                "a.age".to_owned(),
                "encrypted to 1 recipient(s), its folder has 2: a recipient added since cannot read it".to_owned()
            )]
        );
    }

    /// Rewrites the cache so that it says what it said, but with each file's current stamp:
    /// what bit rot beneath the file system would leave (a header changed, its stamp not).
    fn forge_current_stamps(f: &Fixture) {
        let bytes = std::fs::read(&f.cache).unwrap();
        let old = HeaderCache::parse(&bytes, &f.vault).unwrap();
        let mut body = MAGIC.to_vec();
        put_chunk(
            &mut body,
            cache::canonical_root(&f.vault).as_os_str().as_bytes(),
        );
        body.extend_from_slice(&(old.records.len() as u32).to_le_bytes());
        for record in &old.records {
            let file = f
                .vault
                .root()
                .join(std::ffi::OsStr::from_bytes(record.path));
            let st = rustix::fs::lstat(&file).unwrap();
            put_record(&mut body, record.path, &Stamp::of(&st), record.fact);
        }
        crate::sys::private::write_private_atomically(&f.cache, &sealed(body)).unwrap();
    }

    #[test]
    fn full_and_decrypt_read_every_header_and_find_what_the_cache_hides() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.write("b", "beta\n");
        f.check(true);
        damage_in_place(&f.file("a"));
        forge_current_stamps(&f);
        // The cache is trusted: the damage stays hidden from the default check.
        let trusting = f.check(true);
        assert_eq!(trusting.cache, stats(2, 0, false));
        assert_eq!(problems(&trusting), []);
        let full = Options {
            full: true,
            ..Options::default()
        };
        let report = f.check_with(&Folder::root(), full, true);
        assert_eq!(report.cache, stats(0, 2, true));
        assert_eq!(problems(&report)[0].0, "not-age", "{:?}", report.problems);
        // The cache was refreshed: the default check says it from now on.
        let after = f.check(true);
        assert_eq!(after.cache, stats(2, 0, false));
        assert_eq!(problems(&after)[0].0, "not-age");
        // Nothing changed since: --full has nothing to write.
        let full = Options {
            full: true,
            ..Options::default()
        };
        let again = f.check_with(&Folder::root(), full, true);
        assert_eq!(again.cache, stats(0, 2, false));
        // --decrypt reads every header too.
        damage_in_place(&f.file("b"));
        forge_current_stamps(&f);
        let decrypt = Options {
            decrypt: true,
            ..Options::default()
        };
        let report = f.check_with(&Folder::root(), decrypt, true);
        assert_eq!(report.cache, stats(0, 2, true));
        let found: Vec<_> = problems(&report).into_iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(
            found,
            [
                ("not-age", "a.age".to_owned()),
                ("not-age", "b.age".to_owned())
            ]
        );
    }

    #[test]
    fn the_cache_is_private_and_holds_names_not_secrets() {
        let f = fixture();
        f.write("db/prod", "hunter2-long\n");
        f.check(true);
        assert!(f.cache.starts_with(f.dir.path().join("cache/fsck")));
        assert!(!f.cache.starts_with(f.vault.root()));
        let bytes = std::fs::read(&f.cache).unwrap();
        // Not encrypted: names and header facts only.
        assert!(bytes.starts_with(MAGIC));
        assert!(bytes.windows(11).any(|w| w == b"db/prod.age"));
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
        let ciphertext = std::fs::read(f.file("db/prod")).unwrap();
        assert!(
            !bytes
                .windows(32)
                .any(|w| ciphertext.windows(32).any(|c| c == w))
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&f.cache), 0o600);
        assert_eq!(mode(f.cache.parent().unwrap()), 0o700);
    }

    #[test]
    fn a_damaged_foreign_or_exposed_cache_is_rebuilt_not_trusted() {
        let f = fixture();
        f.write("a", "alpha\n");
        f.check(true);
        let good = std::fs::read(&f.cache).unwrap();
        let mut flipped = good.clone();
        flipped[MAGIC.len() + 10] ^= 1;
        let other = fixture();
        other.write("a", "alpha\n");
        other.check(true);
        let foreign = std::fs::read(&other.cache).unwrap();
        for (bytes, mode) in [
            (&b"garbage"[..], 0o600),
            (&b""[..], 0o600),
            (&flipped[..], 0o600),
            (&foreign[..], 0o600),
            (&good[..], 0o644),
            (&good[..], 0o620),
        ] {
            std::fs::write(&f.cache, bytes).unwrap();
            std::fs::set_permissions(&f.cache, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(f.check(true).cache, stats(0, 1, true), "mode {mode:o}");
            assert_eq!(std::fs::read(&f.cache).unwrap().len(), good.len());
            assert_eq!(f.check(true).cache, stats(1, 0, false));
        }
        // Never read through a link, even to a good cache, nor written through one.
        let elsewhere = f.dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &good).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(&f.cache).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &f.cache).unwrap();
        let linked = f.check(true);
        assert_eq!(linked.cache, stats(0, 1, false));
        assert!(linked.cache_error.is_some());
        assert_eq!(std::fs::read(&elsewhere).unwrap(), good);
        std::fs::remove_file(&f.cache).unwrap();
        f.check(true);
        // A cache folder others may enter is not read, nor written.
        let dir = f.cache.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exposed = f.check(true);
        assert_eq!(exposed.cache, stats(0, 1, false));
        assert!(exposed.cache_error.is_some());
        assert_eq!(problems(&exposed), []);
    }

    #[test]
    fn records_survive_a_round_trip_and_damage_anywhere_is_refused() {
        let f = fixture();
        let stamp = Stamp {
            device: 1,
            inode: 2,
            size: 3,
            modified: (-4, 5),
            changed: (6, 7),
        };
        let sound = HeaderSummary {
            stanzas: [1, 2, 3, 4],
            others: 5,
        };
        let body = |records: &[(&[u8], Fact)], count: u32| {
            let mut body = MAGIC.to_vec();
            put_chunk(
                &mut body,
                cache::canonical_root(&f.vault).as_os_str().as_bytes(),
            );
            body.extend_from_slice(&count.to_le_bytes());
            for (path, fact) in records {
                put_record(&mut body, path, &stamp, *fact);
            }
            body
        };
        let two: [(&[u8], Fact); 2] = [
            (b"f/s.age", Fact::Sound(sound)),
            (b"x.age", Fact::Damaged("why")),
        ];
        let whole = sealed(body(&two, 2));
        let mut cache = HeaderCache::parse(&whole, &f.vault).unwrap();
        assert_eq!(cache.records.len(), 2);
        let (at, verdict) = cache.known(Path::new("f/s.age")).unwrap();
        assert_eq!((at, verdict.ok()), (stamp, Some(sound)));
        assert!(cache.known(Path::new("f/t.age")).is_none());
        let (at, damaged) = cache.known(Path::new("x.age")).unwrap();
        assert_eq!(at, stamp);
        assert!(matches!(damaged, Err(DecryptError::Corrupt(why)) if why == "why"));
        assert!(cache.known(Path::new("y.age")).is_none());
        // Cut anywhere (and sealed again), counted wrong, a name twice, an unknown kind,
        // bytes after the end: refused.
        let full = body(&two, 2);
        for cut in 0..full.len() {
            assert!(HeaderCache::parse(&sealed(full[..cut].to_vec()), &f.vault).is_none());
        }
        for count in [1, 3] {
            assert!(HeaderCache::parse(&sealed(body(&two, count)), &f.vault).is_none());
        }
        let twice = [two[0], two[0]];
        assert!(HeaderCache::parse(&sealed(body(&twice, 2)), &f.vault).is_none());
        let backwards = [two[1], two[0]];
        assert!(HeaderCache::parse(&sealed(body(&backwards, 2)), &f.vault).is_none());
        let mut unknown = body(&two[..1], 1);
        let kind = unknown.len() - 4 * 5 - 1;
        assert_eq!(unknown[kind], SOUND);
        unknown[kind] = 2;
        assert!(HeaderCache::parse(&sealed(unknown), &f.vault).is_none());
        let mut longer = body(&two, 2);
        longer.push(0);
        assert!(HeaderCache::parse(&sealed(longer), &f.vault).is_none());
        assert!(HeaderCache::parse(&whole[1..], &f.vault).is_none());
        assert!(HeaderCache::parse(&whole[..whole.len() - 1], &f.vault).is_none());
        assert!(HeaderCache::parse(&whole[..CHECKSUM_LEN - 1], &f.vault).is_none());
    }
}
