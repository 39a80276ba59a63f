//! The vault's per-secret cache: what `scan` and `audit` take from each secret's plaintext,
//! kept between runs so that the pre-commit hook costs about one decryption instead of one per
//! secret, and an audit decrypts only the secrets that changed.
//!
//! **Where.** One file per store in coffer's cache folder: `$XDG_CACHE_HOME/coffer/scan/H.age`
//! (`~/.cache/…`; the folder keeps the name it had when only scan used it), `H` a hash of the
//! store's canonical path. Never in the store, never in git.
//!
//! **What.** For each secret, the [`Stamp`] its file had when it was read, then either that
//! none of your identities opens it, or the values [`leak::secret_values`] takes from it and,
//! once an audit has read it, its [`Facts`] (line 1's hash, the weak verdict, the end dates),
//! behind a header that names the store, your identities and this version of coffer.
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
//! hide behind an equal stamp. Facts are a function of the secret's name and plaintext alone,
//! except that zxcvbn scores dates against the current year: facts taken in another epoch
//! (the audit says which) are taken again, and so are those of a record written by a scan,
//! which has none. The header binds the cache to the store's path, to the identities (the
//! file's own stamp, its public keys, the allowed plugins) and to coffer's version: any change
//! there, a damaged file or one that does not decrypt, and the cache starts afresh — never an
//! error.
//!
//! [`leak::secret_values`]: crate::formats::leak::secret_values

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::civil::Date;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::crypto::recipients::Recipients;
use crate::crypto::secret::{Plaintext, SecretBuf};
use crate::crypto::{self, DecryptError, EncryptError};
use crate::formats::leak::{PatternsBuilder, secret_values};
use crate::store::Stamp;
use crate::store::name::{Folder, SecretName};
use crate::sys::private::PrivateError;
use crate::vault::{self, Vault};

use super::cache::{self, Reader, STAMP_LEN, stamp_bytes};

/// The first line of the cache's plaintext: its format.
const MAGIC: &[u8] = b"coffer secret cache 2\n";
/// How many secrets a scan decrypts (and holds) at once.
const DECRYPT_CHUNK: usize = 256;
/// How many secrets an audit decrypts at once (holding their facts and records, not their
/// plaintexts).
const FACTS_CHUNK: usize = 4096;
/// A cache file larger than this is not read (it is rebuilt).
const MAX_CACHE_SIZE: u64 = 1 << 30;
/// Record kinds.
const VALUES: u8 = 0;
const NOT_FOR_YOU: u8 = 1;
const VALUES_AND_FACTS: u8 = 2;
/// Where a name's length would be: the records end here, and their count follows.
const END: u32 = u32::MAX;
/// About what one record takes, to size the new cache's buffer.
const RECORD_GUESS: usize = 160;

/// Why the cache could not be kept (the scan or audit itself went on without it).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write the secret cache")]
    Write(#[from] PrivateError),
    #[error("cannot encrypt the secret cache: {0}")]
    Encrypt(#[from] EncryptError),
}

/// How much the cache saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Secrets taken from the cache.
    pub reused: usize,
    /// Secrets decrypted (new, changed, not settled, without facts for an audit, or no cache).
    pub decrypted: usize,
    /// Whether the cache file was written.
    pub written: bool,
}

/// What the audit takes from one plaintext (`tools::audit` computes it and judges it), kept in
/// the cache as data: what an end date means depends on the day of the audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// SHA-256 of line 1, when line 1 looks like a password: reuse is found by comparing these.
    pub password_hash: Option<[u8; 32]>,
    /// zxcvbn's verdict, when it calls line 1 weak.
    pub weak: Option<Weak>,
    /// The end dates the secret holds.
    pub expiries: Vec<Expiry>,
}

/// zxcvbn's verdict on a weak line 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weak {
    pub score: u8,
    pub warning: Option<String>,
}

/// An end date a secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// An `expires:` field: its day, or `None` when it is not a `YYYY-MM-DD` date.
    Field(Option<Date>),
    /// A certificate: its subject and its end, in Unix seconds.
    Certificate { subject: String, not_after: i64 },
}

/// Computes a secret's [`Facts`] from its name and plaintext and nothing else, so that they
/// hold for as long as the file's stamp (and the epoch) does.
pub type FactsOf<'a> = dyn Fn(&SecretName, &Plaintext) -> Facts + Sync + 'a;

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
    let mut job = ScanJob {
        patterns: PatternsBuilder::new(min_length),
        unreadable: 0,
    };
    let passed = run(vault, cache, &Folder::root(), walked_at, &mut job)?;
    Ok(passed.map(|passed| Collected {
        patterns: job.patterns,
        unreadable: job.unreadable,
        stats: passed.stats,
        cache_error: passed.cache_error,
    }))
}

/// What the audit asks of the cache.
pub struct AuditPass<'a> {
    /// The secrets at or below this folder.
    pub folder: &'a Folder,
    /// How a plaintext's facts are taken.
    pub facts_of: &'a FactsOf<'a>,
    /// What the facts hold for besides the plaintext (the year zxcvbn scores dates against):
    /// cached facts of another epoch are taken again.
    pub epoch: u32,
    /// The moment before the walk (now; tests move it forward, as if every file had settled).
    pub walked_at: SystemTime,
}

/// One secret as [`audit_facts`] found it.
pub struct AuditedSecret {
    pub name: SecretName,
    /// Its file's modification time, when the walk could stamp it.
    pub modified: Option<SystemTime>,
    /// Its facts, or why it could not be decrypted.
    pub facts: Result<Facts, vault::Error>,
}

/// What [`audit_facts`] found.
pub struct SecretFacts {
    /// Each secret, sorted by name.
    pub secrets: Vec<AuditedSecret>,
    pub stats: CacheStats,
    /// Why the cache could not be written, if it could not.
    pub cache_error: Option<CacheError>,
}

/// The facts of every secret at or below `pass.folder`, from the cache at `cache` where it
/// still holds them, decrypting the rest in parallel; then writes the cache again (records
/// outside the folder kept as they are) if anything changed. `progress` is called once per
/// secret.
pub fn audit_facts(
    vault: &Vault,
    cache: Option<&Path>,
    pass: &AuditPass<'_>,
    progress: &(dyn Fn() + Sync),
) -> vault::Result<SecretFacts> {
    let mut job = AuditJob {
        facts_of: pass.facts_of,
        epoch: pass.epoch,
        progress,
        secrets: Vec::new(),
    };
    let passed = run(vault, cache, pass.folder, pass.walked_at, &mut job)?;
    let mut secrets = job.secrets;
    // Cached secrets come first, decrypted ones after them.
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    let (stats, cache_error) = passed.map_or_else(Default::default, |p| (p.stats, p.cache_error));
    Ok(SecretFacts {
        secrets,
        stats,
        cache_error,
    })
}

/// What a pass over the store does with each secret.
trait Job {
    /// Told once, before the first secret, how many secrets the pass will give it.
    fn expect(&mut self, _secrets: usize) {}

    /// Takes a secret from its record, whose stamp still holds; `false` when the record does
    /// not tell this job what it needs, and the secret is decrypted instead.
    fn cached(&mut self, name: &SecretName, stamp: Option<Stamp>, record: &Record<'_>) -> bool;

    /// Decrypts the `missing` secrets (in parallel), giving `next` the record of each one
    /// that opens or is not for you, once its stamp has settled before `walked_at`. Any other
    /// error is never recorded: it may be gone next time.
    fn decrypt(
        &mut self,
        vault: &Vault,
        missing: &[(&SecretName, Option<Stamp>)],
        walked_at: SystemTime,
        next: Option<&mut NextCache<'_>>,
    );
}

/// How a pass went.
struct Passed {
    stats: CacheStats,
    cache_error: Option<CacheError>,
}

/// One pass over the secrets at or below `scope`: each is given to `job`, from its cached
/// record where the record still holds and tells the job enough, decrypted where not; the
/// cache is written again only if a record was added, replaced or dropped. `None` when there
/// is no secret there.
fn run(
    vault: &Vault,
    cache: Option<&Path>,
    scope: &Folder,
    walked_at: SystemTime,
    job: &mut dyn Job,
) -> vault::Result<Option<Passed>> {
    // The walk (one `stat` per secret, in the kernel) and the cache's decryption run side by
    // side.
    let (stamped, loaded) = rayon::join(|| vault.list_stamped(scope), || load(vault, cache));
    let stamped = stamped?;
    if stamped.is_empty() {
        return Ok(None);
    }
    let Loaded {
        recipients,
        cache,
        fingerprint,
        old,
    } = loaded?;
    let old_records = old.as_ref().and_then(|p| parse(p.as_bytes(), &fingerprint));
    let records = old_records.as_deref().unwrap_or(&[]);

    let mut stats = CacheStats::default();
    let mut next = cache.map(|_| NextCache::new(&fingerprint));
    let mut missing: Vec<(&SecretName, Option<Stamp>)> = Vec::new();
    // Both lists are sorted by name: one pass over the two side by side. A record no secret
    // takes is kept when it lies outside the folder (whoever next looks there checks its
    // stamp) and dropped when its secret is gone.
    job.expect(stamped.len());
    let mut unclaimed = records.iter().peekable();
    for (name, stamp) in &stamped {
        let mut record = None;
        while let Some(&&(claimed, raw)) = unclaimed.peek() {
            if claimed > name.as_str() {
                break;
            }
            unclaimed.next();
            if claimed == name.as_str() {
                record = Record::read(raw).map(|(_, record)| record);
                break;
            }
            if let Some(next) = next.as_mut().filter(|_| !within(scope, claimed)) {
                next.kept.push(raw);
            }
        }
        match record.filter(|record| Some(record.stamp) == *stamp) {
            Some(record) if job.cached(name, *stamp, &record) => {
                stats.reused += 1;
                if let Some(next) = &mut next {
                    next.kept.push(record.raw);
                }
            }
            _ => missing.push((name, *stamp)),
        }
    }
    if let Some(next) = &mut next {
        for &(claimed, raw) in unclaimed {
            if !within(scope, claimed) {
                next.kept.push(raw);
            }
        }
        next.more = missing.len();
        // A record dropped (or no old cache): the cache changes whatever is decrypted.
        if old_records.is_none() || records.len() != next.kept.len() {
            next.begin();
        }
    }
    drop(old_records);
    stats.decrypted = missing.len();
    job.decrypt(vault, &missing, walked_at, next.as_mut());
    let mut cache_error = None;
    if let (Some(path), Some(plain)) = (cache, next.and_then(NextCache::finish)) {
        match write_cache(path, plain.as_bytes(), &recipients) {
            Ok(()) => stats.written = true,
            Err(e) => cache_error = Some(e),
        }
    }
    Ok(Some(Passed { stats, cache_error }))
}

/// What the cache's side of a pass needs: the keys to write it to, where it is (`None`: no
/// cache), what it must be valid for, and the old cache's plaintext if there is one.
struct Loaded<'a> {
    recipients: Recipients,
    cache: Option<&'a Path>,
    fingerprint: [u8; 32],
    old: Option<Plaintext>,
}

fn load<'a>(vault: &Vault, cache: Option<&'a Path>) -> vault::Result<Loaded<'a>> {
    let identities = vault.identities()?;
    // Identities whose public keys cannot be known (a plugin's) get no cache.
    let recipients = Recipients::new(identities.recipients().to_vec(), PathBuf::new());
    let cache = cache.filter(|_| !recipients.is_empty());
    let fingerprint = fingerprint(vault, cache);
    let old = cache.and_then(|path| read_cache(path, vault, &fingerprint));
    Ok(Loaded {
        recipients,
        cache,
        fingerprint,
        old,
    })
}

/// The stamp a new record may be written with: one that settled before the walk.
fn settled(stamp: Option<Stamp>, walked_at: SystemTime) -> Option<Stamp> {
    stamp.filter(|s| s.settled_before(walked_at))
}

fn not_for_you(e: &vault::Error) -> bool {
    matches!(
        e,
        vault::Error::Decrypt {
            reason: DecryptError::NoIdentityMatches,
            ..
        }
    )
}

/// Scan's pass: every secret's values, as patterns.
struct ScanJob {
    patterns: PatternsBuilder,
    unreadable: usize,
}

impl Job for ScanJob {
    fn expect(&mut self, secrets: usize) {
        self.patterns.reserve(secrets);
    }

    fn cached(&mut self, name: &SecretName, _: Option<Stamp>, record: &Record<'_>) -> bool {
        if record.kind == NOT_FOR_YOU {
            self.unreadable += 1;
        } else {
            for (field, value) in record.values() {
                self.patterns.add_value(name, field, value);
            }
        }
        true
    }

    /// A chunk at a time, so that few plaintexts are held at once: the values are taken from
    /// them on this thread, as the patterns are built.
    fn decrypt(
        &mut self,
        vault: &Vault,
        missing: &[(&SecretName, Option<Stamp>)],
        walked_at: SystemTime,
        mut next: Option<&mut NextCache<'_>>,
    ) {
        for chunk in missing.chunks(DECRYPT_CHUNK) {
            let read: Vec<_> = chunk.par_iter().map(|(name, _)| vault.read(name)).collect();
            for ((name, stamp), secret) in chunk.iter().zip(read) {
                let mut keep = |entry: &Entry<'_>| {
                    if let (Some(next), Some(stamp)) =
                        (next.as_deref_mut(), settled(*stamp, walked_at))
                    {
                        next.add(name, &stamp, entry);
                    }
                };
                match secret {
                    Ok(secret) => {
                        let values = secret_values(&secret);
                        for (field, value) in &values {
                            self.patterns.add_value(name, field, value);
                        }
                        keep(&Entry::Values(&values));
                    }
                    Err(e) => {
                        self.unreadable += 1;
                        if not_for_you(&e) {
                            keep(&Entry::NotForYou);
                        }
                    }
                }
            }
        }
    }
}

/// The audit's pass: every secret's facts.
struct AuditJob<'a> {
    facts_of: &'a FactsOf<'a>,
    epoch: u32,
    progress: &'a (dyn Fn() + Sync),
    secrets: Vec<AuditedSecret>,
}

impl AuditJob<'_> {
    fn found(&mut self, name: &SecretName, stamp: Option<Stamp>, facts: vault::Result<Facts>) {
        self.secrets.push(AuditedSecret {
            name: name.clone(),
            modified: stamp.map(|s| s.modified_time()),
            facts,
        });
        (self.progress)();
    }
}

impl Job for AuditJob<'_> {
    fn cached(&mut self, name: &SecretName, stamp: Option<Stamp>, record: &Record<'_>) -> bool {
        let facts = if record.kind == NOT_FOR_YOU {
            Err(vault::Error::Decrypt {
                name: name.to_string(),
                reason: DecryptError::NoIdentityMatches,
            })
        } else {
            match record.facts(self.epoch) {
                Some(facts) => Ok(facts),
                None => return false,
            }
        };
        self.found(name, stamp, facts);
        true
    }

    /// Everything but the bookkeeping on rayon's threads, records included, so that each
    /// plaintext is dropped as soon as its facts are taken and the chunks can be large (each
    /// ends with a wait for its slowest secret: zxcvbn takes from nothing to milliseconds).
    fn decrypt(
        &mut self,
        vault: &Vault,
        missing: &[(&SecretName, Option<Stamp>)],
        walked_at: SystemTime,
        mut next: Option<&mut NextCache<'_>>,
    ) {
        let (facts_of, epoch, recording) = (self.facts_of, self.epoch, next.is_some());
        for chunk in missing.chunks(FACTS_CHUNK) {
            let done: Vec<_> = chunk
                .par_iter()
                .map(|(name, stamp)| {
                    let settled = settled(*stamp, walked_at).filter(|_| recording);
                    let record = |entry: &Entry<'_>| {
                        let stamp = settled?;
                        let mut out = SecretBuf::with_capacity(RECORD_GUESS);
                        write_record(&mut out, name, &stamp, entry);
                        Some(out)
                    };
                    match vault.read(name) {
                        Ok(secret) => {
                            let facts = facts_of(name, &secret);
                            let values = secret_values(&secret);
                            let record = record(&Entry::ValuesAndFacts(&values, epoch, &facts));
                            (Ok(facts), record)
                        }
                        Err(e) => {
                            let record = not_for_you(&e).then(|| record(&Entry::NotForYou));
                            (Err(e), record.flatten())
                        }
                    }
                })
                .collect();
            for ((name, stamp), (facts, record)) in chunk.iter().zip(done) {
                if let (Some(next), Some(record)) = (next.as_deref_mut(), record) {
                    next.add_record(record.as_bytes());
                }
                self.found(name, *stamp, facts);
            }
        }
    }
}

/// The next cache's plaintext: the old records it keeps as they are, then new ones. Built only
/// once it is known to differ from the old cache, so that a pass that changed nothing (the
/// hook's usual case) never copies the records.
struct NextCache<'a> {
    fingerprint: &'a [u8; 32],
    /// The old records kept, borrowed from the old cache.
    kept: Vec<&'a [u8]>,
    /// How many records may be added, to size the buffer.
    more: usize,
    out: Option<SecretBuf>,
    added: usize,
}

impl<'a> NextCache<'a> {
    fn new(fingerprint: &'a [u8; 32]) -> Self {
        Self {
            fingerprint,
            kept: Vec::new(),
            more: 0,
            out: None,
            added: 0,
        }
    }

    /// The plaintext so far, begun (header and kept records) if it was not yet.
    fn begin(&mut self) -> &mut SecretBuf {
        let (fingerprint, kept, more) = (self.fingerprint, &self.kept, self.more);
        self.out.get_or_insert_with(|| {
            let size = kept.iter().map(|raw| raw.len()).sum::<usize>();
            let mut out =
                SecretBuf::with_capacity(MAGIC.len() + 32 + size + more * RECORD_GUESS + 8);
            out.put(MAGIC);
            out.put(fingerprint);
            for raw in kept {
                out.put(raw);
            }
            out
        })
    }

    fn add(&mut self, name: &SecretName, stamp: &Stamp, entry: &Entry<'_>) {
        write_record(self.begin(), name, stamp, entry);
        self.added += 1;
    }

    /// Adds a record [`write_record`] wrote elsewhere.
    fn add_record(&mut self, record: &[u8]) {
        self.begin().put(record);
        self.added += 1;
    }

    /// The whole plaintext, or `None` if nothing changed.
    fn finish(mut self) -> Option<SecretBuf> {
        let mut out = self.out.take()?;
        write_end(&mut out, self.kept.len() + self.added);
        Some(out)
    }
}

/// Whether the secret called `name` lies at or below `folder`.
fn within(folder: &Folder, name: &str) -> bool {
    folder.is_root()
        || name
            .strip_prefix(folder.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// What the cache is valid for: this store, these identities exactly as they are now, and
/// this version of coffer (whose rules made the facts).
fn fingerprint(vault: &Vault, cache: Option<&Path>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    let root = cache::canonical_root(vault);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(root.as_os_str().as_encoded_bytes());
    field(cache.map_or(&b""[..], |c| c.as_os_str().as_encoded_bytes()));
    let ids = &vault.paths().identities;
    field(ids.as_os_str().as_encoded_bytes());
    let stamp = rustix::fs::stat(ids).map(|st| stamp_bytes(&Stamp::of(&st)));
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

/// What a record says of its secret.
enum Entry<'a> {
    NotForYou,
    Values(&'a [(&'a str, &'a [u8])]),
    /// The values, the epoch of the facts, the facts.
    ValuesAndFacts(&'a [(&'a str, &'a [u8])], u32, &'a Facts),
}

/// Appends one record: name, stamp, kind, the values (none when not for you), then the epoch
/// and the facts when there are facts.
fn write_record(out: &mut SecretBuf, name: &SecretName, stamp: &Stamp, entry: &Entry<'_>) {
    put_chunk(out, name.as_str().as_bytes());
    out.put(&stamp_bytes(stamp));
    let (kind, values) = match entry {
        Entry::NotForYou => (NOT_FOR_YOU, &[][..]),
        Entry::Values(values) => (VALUES, *values),
        Entry::ValuesAndFacts(values, ..) => (VALUES_AND_FACTS, *values),
    };
    out.put(&[kind]);
    out.put(&(values.len() as u32).to_le_bytes());
    for (field, value) in values {
        put_chunk(out, field.as_bytes());
        put_chunk(out, value);
    }
    if let Entry::ValuesAndFacts(_, epoch, facts) = entry {
        out.put(&epoch.to_le_bytes());
        put_chunk(out, encode_facts(facts).as_bytes());
    }
}

fn put_chunk(out: &mut SecretBuf, bytes: &[u8]) {
    out.put(&(bytes.len() as u32).to_le_bytes());
    out.put(bytes);
}

/// [`Facts`] flags: which optional parts follow.
const HAS_HASH: u8 = 1;
const IS_WEAK: u8 = 2;
const HAS_WARNING: u8 = 4;
/// All three.
const KNOWN_FLAGS: u8 = 7;
/// [`Expiry`] tags.
const FIELD_UNDATED: u8 = 0;
const FIELD_DATED: u8 = 1;
const CERTIFICATE: u8 = 2;

/// The facts, encoded: flags, the hash, the weak score and its warning, then the end dates.
fn encode_facts(facts: &Facts) -> SecretBuf {
    let mut out = SecretBuf::with_capacity(64);
    let warning = facts.weak.as_ref().and_then(|w| w.warning.as_ref());
    let mut flags = 0;
    if facts.password_hash.is_some() {
        flags |= HAS_HASH;
    }
    if facts.weak.is_some() {
        flags |= IS_WEAK;
    }
    if warning.is_some() {
        flags |= HAS_WARNING;
    }
    out.put(&[flags]);
    if let Some(hash) = &facts.password_hash {
        out.put(hash);
    }
    if let Some(weak) = &facts.weak {
        out.put(&[weak.score]);
    }
    if let Some(warning) = warning {
        put_chunk(&mut out, warning.as_bytes());
    }
    out.put(&(facts.expiries.len() as u32).to_le_bytes());
    for expiry in &facts.expiries {
        match expiry {
            Expiry::Field(None) => out.put(&[FIELD_UNDATED]),
            Expiry::Field(Some(day)) => {
                out.put(&[FIELD_DATED]);
                out.put(&day.year().to_le_bytes());
                out.put(&[day.month() as u8, day.day() as u8]);
            }
            Expiry::Certificate { subject, not_after } => {
                out.put(&[CERTIFICATE]);
                put_chunk(&mut out, subject.as_bytes());
                out.put(&not_after.to_le_bytes());
            }
        }
    }
    out
}

/// The facts [`encode_facts`] wrote, or `None` if these bytes are not exactly that.
fn decode_facts(bytes: &[u8]) -> Option<Facts> {
    let mut reader = Reader(bytes);
    let flags = reader.u8()?;
    let warning_without_verdict = flags & HAS_WARNING != 0 && flags & IS_WEAK == 0;
    if flags > KNOWN_FLAGS || warning_without_verdict {
        return None;
    }
    let password_hash = match flags & HAS_HASH {
        0 => None,
        _ => Some(reader.array::<32>()?),
    };
    let weak = match flags & IS_WEAK {
        0 => None,
        _ => Some(Weak {
            score: reader.u8()?,
            warning: match flags & HAS_WARNING {
                0 => None,
                _ => Some(reader.text()?.to_owned()),
            },
        }),
    };
    let count = reader.u32()?;
    let mut expiries = Vec::new();
    for _ in 0..count {
        expiries.push(match reader.u8()? {
            FIELD_UNDATED => Expiry::Field(None),
            FIELD_DATED => {
                let year = i16::from_le_bytes(reader.array()?);
                let [month, day] = reader.array()?;
                Expiry::Field(Some(Date::new(year, month as i8, day as i8).ok()?))
            }
            CERTIFICATE => Expiry::Certificate {
                subject: reader.text()?.to_owned(),
                not_after: i64::from_le_bytes(reader.array()?),
            },
            _ => return None,
        });
    }
    reader.0.is_empty().then_some(Facts {
        password_hash,
        weak,
        expiries,
    })
}

/// One secret's record, read from the decrypted cache (and borrowing it).
struct Record<'a> {
    stamp: Stamp,
    kind: u8,
    /// The values, still encoded: their count, then each field and value.
    values: &'a [u8],
    /// The epoch and the encoded facts, when the record has them.
    facts: Option<(u32, &'a [u8])>,
    /// The whole record, copied as it is into the next cache.
    raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// Reads the record `bytes` begin with: the secret's name, and the record; `None` if its
    /// framing is wrong.
    fn read(bytes: &'a [u8]) -> Option<(&'a str, Record<'a>)> {
        let mut reader = Reader(bytes);
        let name = reader.text()?;
        let stamp = reader.stamp()?;
        let kind = reader.u8()?;
        let values = reader.0;
        let count = reader.u32()?;
        for _ in 0..count {
            reader.text()?;
            reader.chunk()?;
        }
        let values = &values[..values.len() - reader.0.len()];
        let facts = match kind {
            VALUES => None,
            NOT_FOR_YOU if count == 0 => None,
            VALUES_AND_FACTS => Some((reader.u32()?, reader.chunk()?)),
            _ => return None,
        };
        let raw = &bytes[..bytes.len() - reader.0.len()];
        let record = Record {
            stamp,
            kind,
            values,
            facts,
            raw,
        };
        Some((name, record))
    }

    /// The (field, value) pairs; [`Record::read`] has checked their framing.
    fn values(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        let mut reader = Reader(self.values);
        let count = reader.u32().unwrap_or(0);
        (0..count).map_while(move |_| Some((reader.text()?, reader.chunk()?)))
    }

    /// The facts, if the record has them, taken in `epoch`, and they decode.
    fn facts(&self, epoch: u32) -> Option<Facts> {
        let (taken, facts) = self.facts?;
        if taken != epoch {
            return None;
        }
        decode_facts(facts)
    }
}

/// The shortest record: a one-byte name, the stamp, the kind, no value.
const MIN_RECORD: usize = 4 + 1 + STAMP_LEN + 1 + 4;

/// Reads the framing of a decrypted cache, every record checked: each secret's name and its
/// whole record, which is read again when its secret claims it, sorted by name (a list of
/// names and slices: 3 MB at 100,000 secrets, where a map took 15). `None` if it is not a
/// cache for `fingerprint` or is damaged anywhere, a name twice included. (A record's facts
/// are decoded when an audit asks for them, and taken again if they do not decode.)
fn parse<'a>(plain: &'a [u8], fingerprint: &[u8; 32]) -> Option<Vec<(&'a str, &'a [u8])>> {
    let mut rest = plain.strip_prefix(MAGIC)?.strip_prefix(&fingerprint[..])?;
    // The count after the records sizes the list once, rather than growing it as it fills
    // (never beyond what the bytes could hold, whatever the count says).
    let count = plain
        .last_chunk()
        .map_or(0, |&last| u32::from_le_bytes(last) as usize);
    let mut records = Vec::with_capacity(count.min(rest.len() / MIN_RECORD));
    loop {
        let mut reader = Reader(rest);
        if reader.u32()? == END {
            let count = reader.u32()?;
            if !reader.0.is_empty() || count as usize != records.len() {
                return None;
            }
            break;
        }
        let (name, record) = Record::read(rest)?;
        rest = &rest[record.raw.len()..];
        records.push((name, record.raw));
    }
    // Written in the walk's order, new records last: sorted again only after a change.
    if !records.is_sorted_by(|a, b| a.0 < b.0) {
        records.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if records.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
    }
    Some(records)
}

/// Ends the records: the marker and how many there are.
fn write_end(out: &mut SecretBuf, count: usize) {
    out.put(&END.to_le_bytes());
    out.put(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
}

/// The decrypted cache, if there is one that is ours and opens. Anything else (absent,
/// damaged, not private, not for these identities) is no cache.
fn read_cache(path: &Path, vault: &Vault, fingerprint: &[u8; 32]) -> Option<Plaintext> {
    let ciphertext = cache::read_private(path, MAX_CACHE_SIZE)?;
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
    cache::write_private(path, &ciphertext)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::crypto::recipients::Recipient;
    use crate::formats::leak::Search;

    struct Fixture {
        dir: tempfile::TempDir,
        vault: Vault,
        cache: PathBuf,
    }

    fn fixture() -> Fixture {
        let (dir, vault, _) = cache::vault_for_me();
        let cache = cache_file(&dir.path().join("cache"), &vault);
        Fixture { dir, vault, cache }
    }

    /// The epoch the audits below run in, unless a test says otherwise.
    const EPOCH: u32 = 2026;

    /// A stand-in for the audit's facts: line 1's hash, weak when line 1 is shorter than 12
    /// bytes, and the `expires` field; it counts its calls.
    fn fake_facts(calls: &AtomicUsize) -> impl Fn(&SecretName, &Plaintext) -> Facts + Sync + '_ {
        move |_, plaintext| {
            calls.fetch_add(1, Ordering::Relaxed);
            let line1 = plaintext.password();
            let expires = plaintext.field("expires").map(|v| {
                Expiry::Field(
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|v| v.parse::<Date>().ok()),
                )
            });
            Facts {
                password_hash: Some(Sha256::digest(line1).into()),
                weak: (line1.len() < 12).then(|| Weak {
                    score: 1,
                    warning: Some("short".into()),
                }),
                expiries: expires.into_iter().collect(),
            }
        }
    }

    impl Fixture {
        fn write(&self, name: &str, content: &str) {
            cache::write_secret(&self.vault, name, content);
        }

        fn remove(&self, name: &str) {
            let lock = self.vault.lock().unwrap();
            self.vault
                .remove(&lock, &SecretName::new(name).unwrap())
                .unwrap();
        }

        /// Collects as if every file had settled long ago (or as of now, `settled: false`).
        fn collect(&self, settled: bool) -> Collected {
            collect_at(
                &self.vault,
                Some(&self.cache),
                8,
                cache::walk_moment(settled),
            )
            .unwrap()
            .unwrap()
        }

        /// An audit's pass over `folder` with the fake facts, every file settled; the facts,
        /// and how many times they were taken.
        fn audit(&self, folder: &str, epoch: u32) -> (SecretFacts, usize) {
            let calls = AtomicUsize::new(0);
            let facts_of = fake_facts(&calls);
            let progressed = AtomicUsize::new(0);
            let pass = AuditPass {
                folder: &Folder::new(folder).unwrap(),
                facts_of: &facts_of,
                epoch,
                walked_at: cache::walk_moment(true),
            };
            let found = audit_facts(&self.vault, Some(&self.cache), &pass, &|| {
                progressed.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert_eq!(progressed.into_inner(), found.secrets.len());
            (found, calls.load(Ordering::Relaxed))
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

    /// Each secret's name and facts (or the error's text).
    fn facts(found: &SecretFacts) -> Vec<(String, Result<Facts, String>)> {
        found
            .secrets
            .iter()
            .map(|secret| {
                let facts = secret.facts.as_ref().map_err(ToString::to_string).cloned();
                (secret.name.to_string(), facts)
            })
            .collect()
    }

    fn is_weak(found: &SecretFacts, name: &str) -> bool {
        let secret = found.secrets.iter().find(|s| s.name.as_str() == name);
        secret.unwrap().facts.as_ref().unwrap().weak.is_some()
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
        f.remove("gone");
        let after = f.collect(true);
        assert_eq!(after.stats, stats(1, 2, true));
        assert_eq!(
            found(after, "old-value-1 new-value-1 added-value removed-value"),
            ["a", "c"]
        );
        // A removed secret alone changes the cache too.
        f.remove("c");
        assert_eq!(f.collect(true).stats, stats(2, 0, true));
        assert_eq!(f.collect(true).stats, stats(2, 0, false));
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
        let now = || collect(&f.vault, Some(&f.cache), 8).unwrap().unwrap();
        assert_eq!(now().stats.decrypted, 1);
        let again = now();
        assert_eq!(again.stats.reused, 0);
        assert_eq!(found(again, "fresh-value"), ["a"]);
        // Nor by an audit: its facts are taken again each time.
        let calls = AtomicUsize::new(0);
        let facts_of = fake_facts(&calls);
        let pass = AuditPass {
            folder: &Folder::root(),
            facts_of: &facts_of,
            epoch: EPOCH,
            walked_at: cache::walk_moment(false),
        };
        for _ in 0..2 {
            let found = audit_facts(&f.vault, Some(&f.cache), &pass, &|| {}).unwrap();
            assert_eq!(found.stats.decrypted, 1);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_cache_is_private_encrypted_and_holds_no_value() {
        let f = fixture();
        f.write("db/prod", "hunter2-long\napi_token: tok_9876543210\n");
        f.write("web", "short\nexpires: 2030-01-02\n");
        f.collect(true);
        f.audit("", EPOCH);
        let bytes = std::fs::read(&f.cache).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        let hash = Sha256::digest(b"hunter2-long");
        for needle in [
            &b"hunter2"[..],
            b"tok_98",
            b"db/prod",
            b"aHVudGVy",
            b"short",
            &hash[..8],
        ] {
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
        let forged = encrypt_to_us(&f, &{
            let mut plain = MAGIC.to_vec();
            plain.extend_from_slice(&fingerprint(&f.vault, Some(&f.cache)));
            plain.extend_from_slice(&END.to_le_bytes());
            plain.extend_from_slice(&0u32.to_le_bytes());
            plain
        });
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
    fn a_cache_made_elsewhere_or_for_another_identities_file_is_rebuilt() {
        let f = fixture();
        f.write("a", "some-value-1\n");
        f.collect(true);
        assert_eq!(f.collect(true).stats, stats(1, 0, false));
        // The same bytes under another name: made for another store or cache folder.
        let moved = f.cache.with_file_name("moved.age");
        std::fs::copy(&f.cache, &moved).unwrap();
        let elsewhere = collect_at(&f.vault, Some(&moved), 8, cache::walk_moment(true));
        assert_eq!(elsewhere.unwrap().unwrap().stats, stats(0, 1, true));
        // The identities file changed (rewritten, a key added or rotated).
        std::fs::write(&f.vault.paths().identities, b"changed").unwrap();
        assert_eq!(f.collect(true).stats, stats(0, 1, true));
        assert_eq!(f.collect(true).stats, stats(1, 0, false));
    }

    fn encrypt_to_us(f: &Fixture, plain: &[u8]) -> Vec<u8> {
        let keys = f.vault.loaded_identities().unwrap().recipients().to_vec();
        crypto::encrypt(plain, &Recipients::new(keys, PathBuf::new())).unwrap()
    }

    #[test]
    fn a_cache_in_the_old_format_is_rebuilt() {
        let f = fixture();
        f.write("a", "some-value-1\n");
        f.collect(true);
        // What the first version wrote: its magic line, and records of values alone.
        let mut plain = SecretBuf::with_capacity(1);
        plain.put(b"coffer scan cache 1\n");
        plain.put(&fingerprint(&f.vault, Some(&f.cache)));
        let name = SecretName::new("a").unwrap();
        let stamp = f.vault.list_stamped(&Folder::root()).unwrap()[0].1.unwrap();
        write_record(
            &mut plain,
            &name,
            &stamp,
            &Entry::Values(&[("password", b"x")]),
        );
        write_end(&mut plain, 1);
        std::fs::write(&f.cache, encrypt_to_us(&f, plain.as_bytes())).unwrap();
        let rebuilt = f.collect(true);
        assert_eq!(rebuilt.stats, stats(0, 1, true));
        assert_eq!(found(rebuilt, "some-value-1"), ["a"]);
        std::fs::write(&f.cache, encrypt_to_us(&f, plain.as_bytes())).unwrap();
        assert_eq!(f.audit("", EPOCH).0.stats, stats(0, 1, true));
        assert_eq!(f.audit("", EPOCH).0.stats, stats(1, 0, false));
    }

    #[test]
    fn audit_facts_come_from_a_warm_cache() {
        let f = fixture();
        f.write("db/prod", "hunter2-long\nexpires: 2030-01-02\n");
        f.write("web/shop", "short\n");
        f.write("web/mail", "short\nexpires: soon\n");
        let (first, calls) = f.audit("", EPOCH);
        assert_eq!((first.stats, calls), (stats(0, 3, true), 3));
        let (second, calls) = f.audit("", EPOCH);
        assert_eq!((second.stats, calls), (stats(3, 0, false), 0));
        assert_eq!(facts(&second), facts(&first));
        let names: Vec<_> = facts(&second).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["db/prod", "web/mail", "web/shop"]);
        let web_mail = second.secrets[1].facts.as_ref().unwrap();
        assert_eq!(web_mail.expiries, [Expiry::Field(None)]);
        assert_eq!(
            web_mail.password_hash,
            Some(Sha256::digest(b"short").into())
        );
        // Each with its file's time, as the walk stamped it.
        for secret in &second.secrets {
            let path = f.vault.path_of(&secret.name);
            let time = std::fs::metadata(path).unwrap().modified().unwrap();
            assert_eq!(secret.modified, Some(time), "{}", secret.name);
        }
        // Only the changed secret is decrypted again; the list stays sorted.
        f.write("db/prod", "tiny\n");
        let (third, calls) = f.audit("", EPOCH);
        assert_eq!((third.stats, calls), (stats(2, 1, true), 1));
        let names: Vec<_> = facts(&third).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["db/prod", "web/mail", "web/shop"]);
    }

    #[test]
    fn a_changed_secret_gets_new_facts_and_a_removed_one_none() {
        let f = fixture();
        f.write("a", "weak\n");
        f.write("b", "strong-and-long\n");
        f.write("c", "strong-and-long\n");
        let (before, _) = f.audit("", EPOCH);
        assert!(is_weak(&before, "a"));
        f.write("a", "now-strong-and-long\n");
        f.write("b", "weak\n");
        f.remove("c");
        let (after, calls) = f.audit("", EPOCH);
        assert_eq!((after.stats, calls), (stats(0, 2, true), 2));
        assert!(!is_weak(&after, "a"));
        assert!(is_weak(&after, "b"));
        assert_eq!(after.secrets.len(), 2);
        let (again, _) = f.audit("", EPOCH);
        assert_eq!(again.stats, stats(2, 0, false));
        assert_eq!(facts(&again), facts(&after));
    }

    #[test]
    fn records_written_by_a_scan_have_no_facts_and_a_scan_keeps_the_audits() {
        let f = fixture();
        f.write("a", "some-value-1\n");
        f.write("b", "weak\n");
        assert_eq!(f.collect(true).stats, stats(0, 2, true));
        // The scan's records have values only: the audit decrypts, and adds its facts.
        let (first, calls) = f.audit("", EPOCH);
        assert_eq!((first.stats, calls), (stats(0, 2, true), 2));
        assert!(is_weak(&first, "b"));
        // A scan finds them as they are, the facts kept for the next audit.
        let scan = f.collect(true);
        assert_eq!(scan.stats, stats(2, 0, false));
        assert_eq!(found(scan, "some-value-1"), ["a"]);
        let (second, calls) = f.audit("", EPOCH);
        assert_eq!((second.stats, calls), (stats(2, 0, false), 0));
        assert_eq!(facts(&second), facts(&first));
        // A secret the scan read again has lost its facts.
        f.write("a", "some-value-2\n");
        assert_eq!(f.collect(true).stats, stats(1, 1, true));
        let (third, calls) = f.audit("", EPOCH);
        assert_eq!((third.stats, calls), (stats(1, 1, true), 1));
    }

    #[test]
    fn facts_of_another_epoch_are_taken_again() {
        let f = fixture();
        f.write("a", "weak\n");
        f.audit("", EPOCH);
        let (next_year, calls) = f.audit("", EPOCH + 1);
        assert_eq!((next_year.stats, calls), (stats(0, 1, true), 1));
        assert_eq!(f.audit("", EPOCH + 1).0.stats, stats(1, 0, false));
        // A scan does not care.
        assert_eq!(f.collect(true).stats, stats(1, 0, false));
    }

    #[test]
    fn an_audit_of_a_folder_keeps_the_records_outside_it() {
        let f = fixture();
        f.write("web/a", "value-one-1\n");
        f.write("web/b", "value-two-2\n");
        f.write("webby", "value-three\n");
        f.write("mail", "value-four4\n");
        assert!(f.collect(true).stats.written);
        let (web, calls) = f.audit("web", EPOCH);
        assert_eq!((web.stats, calls), (stats(0, 2, true), 2));
        assert_eq!(web.secrets.len(), 2);
        assert_eq!(f.audit("web", EPOCH).0.stats, stats(2, 0, false));
        // The scan's records of the others were kept; the web ones now have facts.
        let scan = f.collect(true);
        assert_eq!(scan.stats, stats(4, 0, false));
        assert_eq!(
            found(scan, "value-one-1 value-three value-four4"),
            ["web/a", "webby", "mail"]
        );
        let (all, calls) = f.audit("", EPOCH);
        assert_eq!((all.stats, calls), (stats(2, 2, true), 2));
        // A secret removed inside the folder drops its record; one outside stays until a
        // pass looks at it.
        f.remove("web/b");
        f.remove("mail");
        assert_eq!(f.audit("web", EPOCH).0.stats, stats(1, 0, true));
        assert_eq!(f.audit("web", EPOCH).0.stats, stats(1, 0, false));
        assert_eq!(f.audit("", EPOCH).0.stats, stats(2, 0, true));
        assert_eq!(f.collect(true).stats, stats(2, 0, false));
    }

    #[test]
    fn a_secret_not_for_you_is_cached_and_a_damaged_one_never() {
        let f = fixture();
        f.write("good", "good-value-1\n");
        let stranger = age::x25519::Identity::generate().to_public().to_string();
        let theirs = Recipients::new(vec![Recipient::parse(&stranger).unwrap()], PathBuf::new());
        let path = |name: &str| f.vault.path_of(&SecretName::new(name).unwrap());
        std::fs::write(
            path("foreign"),
            crypto::encrypt(b"not-yours-1\n", &theirs).unwrap(),
        )
        .unwrap();
        std::fs::write(path("broken"), b"not an age file").unwrap();
        let (first, calls) = f.audit("", EPOCH);
        assert_eq!((first.stats, calls), (stats(0, 3, true), 1));
        let (second, calls) = f.audit("", EPOCH);
        assert_eq!((second.stats, calls), (stats(2, 1, false), 0));
        let errors = |found: &SecretFacts| -> Vec<(String, String)> {
            facts(found)
                .into_iter()
                .filter_map(|(name, facts)| Some((name, facts.err()?)))
                .collect()
        };
        assert_eq!(errors(&second), errors(&first));
        let reasons = errors(&second);
        assert_eq!(reasons[0].0, "broken");
        assert_eq!(
            reasons[1],
            (
                "foreign".into(),
                format!("foreign: {}", DecryptError::NoIdentityMatches)
            )
        );
        let scan = f.collect(true);
        assert_eq!((scan.stats, scan.unreadable), (stats(2, 1, false), 2));
    }

    #[test]
    fn without_a_cache_path_nothing_is_kept() {
        let f = fixture();
        f.write("a", "some-value-1\n");
        for _ in 0..2 {
            let collected = collect_at(&f.vault, None, 8, cache::walk_moment(true))
                .unwrap()
                .unwrap();
            assert_eq!(collected.stats, stats(0, 1, false));
        }
        assert!(!f.cache.exists());
        let empty = fixture();
        assert!(
            collect_at(
                &empty.vault,
                Some(&empty.cache),
                8,
                cache::walk_moment(true)
            )
            .unwrap()
            .is_none()
        );
        let (found, calls) = empty.audit("", EPOCH);
        assert_eq!(
            (found.secrets.len(), found.stats, calls),
            (0, stats(0, 0, false), 0)
        );
        assert!(!empty.cache.exists());
    }

    fn all_facts() -> Facts {
        Facts {
            password_hash: Some([7u8; 32]),
            weak: Some(Weak {
                score: 2,
                warning: Some("a warning".into()),
            }),
            expiries: vec![
                Expiry::Field(None),
                Expiry::Field(Some(Date::constant(2024, 2, 29))),
                Expiry::Certificate {
                    subject: "CN=x".into(),
                    not_after: -5,
                },
            ],
        }
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
        let values: &[(&str, &[u8])] = &[("password", b"v1"), ("k", b"")];
        write_record(&mut buf, &name, &stamp, &Entry::Values(values));
        let x = SecretName::new("x").unwrap();
        write_record(&mut buf, &x, &stamp, &Entry::NotForYou);
        let facts = all_facts();
        let y = SecretName::new("y").unwrap();
        write_record(
            &mut buf,
            &y,
            &stamp,
            &Entry::ValuesAndFacts(values, EPOCH, &facts),
        );
        write_end(&mut buf, 3);
        let plain = buf.as_bytes().to_vec();
        let records = parse(&plain, &fp).unwrap();
        let names: Vec<&str> = records.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["f/s", "x", "y"]);
        let record = |name: &str| {
            let (_, raw) = records.iter().find(|(n, _)| *n == name).unwrap();
            let (read, record) = Record::read(raw).unwrap();
            assert_eq!((read, record.raw), (name, *raw));
            record
        };
        let r = record("f/s");
        assert_eq!((r.stamp, r.kind, r.facts), (stamp, VALUES, None));
        assert_eq!(r.values().collect::<Vec<_>>(), values);
        assert_eq!(record("x").kind, NOT_FOR_YOU);
        let y = record("y");
        assert_eq!(y.values().collect::<Vec<_>>(), values);
        let (epoch, encoded) = y.facts.unwrap();
        assert_eq!((epoch, decode_facts(encoded)), (EPOCH, Some(facts)));
        assert!(parse(&plain, &[8u8; 32]).is_none());
        for cut in MAGIC.len() + 33..plain.len() {
            assert!(parse(&plain[..cut], &fp).is_none(), "cut at {cut}");
        }
        // Records out of order (new ones are appended after a change) are read sorted; a
        // name twice is refused wherever the two lie.
        let unsorted = |names: &[&str]| {
            let mut buf = SecretBuf::with_capacity(1);
            buf.put(MAGIC);
            buf.put(&fp);
            for n in names {
                write_record(
                    &mut buf,
                    &SecretName::new(n).unwrap(),
                    &stamp,
                    &Entry::NotForYou,
                );
            }
            write_end(&mut buf, names.len());
            buf.as_bytes().to_vec()
        };
        let plain2 = unsorted(&["y", "b/c", "a"]);
        let names: Vec<&str> = parse(&plain2, &fp).unwrap().iter().map(|r| r.0).collect();
        assert_eq!(names, ["a", "b/c", "y"]);
        assert!(parse(&unsorted(&["y", "a", "y"]), &fp).is_none());
        assert!(parse(&unsorted(&["a", "a"]), &fp).is_none());
        // A count that does not match, a name twice, an unknown kind.
        let mut miscounted = plain.clone();
        *miscounted.last_mut().unwrap() += 1;
        assert!(parse(&miscounted, &fp).is_none());
        // A count far beyond what the bytes hold sizes nothing by it (4 billion entries would
        // not fit in memory).
        let len = plain.len();
        miscounted[len - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&miscounted, &fp).is_none());
        let mut twice = SecretBuf::with_capacity(1);
        twice.put(MAGIC);
        twice.put(&fp);
        write_record(&mut twice, &x, &stamp, &Entry::NotForYou);
        write_record(&mut twice, &x, &stamp, &Entry::NotForYou);
        write_end(&mut twice, 2);
        assert!(parse(twice.as_bytes(), &fp).is_none());
        let kind_at = MAGIC.len() + 32 + 4 + "f/s".len() + STAMP_LEN;
        for kind in [NOT_FOR_YOU, 3] {
            let mut other = plain.clone();
            other[kind_at] = kind;
            assert!(parse(&other, &fp).is_none(), "kind {kind}");
        }
    }

    #[test]
    fn facts_survive_a_round_trip_and_anything_else_is_refused() {
        let full = all_facts();
        let none = Facts::default();
        let unwarned = Facts {
            weak: Some(Weak {
                score: 0,
                warning: None,
            }),
            ..Facts::default()
        };
        for facts in [&full, &none, &unwarned] {
            let encoded = encode_facts(facts);
            assert_eq!(decode_facts(encoded.as_bytes()).as_ref(), Some(facts));
        }
        let encoded = encode_facts(&full).as_bytes().to_vec();
        for cut in 0..encoded.len() {
            assert!(decode_facts(&encoded[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(decode_facts(&longer).is_none());
        // Flags: unknown bits, a warning without a verdict.
        let empty = encode_facts(&none).as_bytes().to_vec();
        for flags in [8, HAS_WARNING, HAS_WARNING | HAS_HASH] {
            let mut bad = empty.clone();
            bad[0] = flags;
            assert!(decode_facts(&bad).is_none(), "flags {flags}");
        }
        // An unknown end-date tag, a day that does not exist.
        let dated = Facts {
            expiries: vec![Expiry::Field(Some(Date::constant(2023, 2, 28)))],
            ..Facts::default()
        };
        let good = encode_facts(&dated).as_bytes().to_vec();
        let tag_at = 1 + 4;
        let mut bad = good.clone();
        bad[tag_at] = 3;
        assert!(decode_facts(&bad).is_none());
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 29;
        assert!(decode_facts(&bad).is_none());
        let mut fine = good;
        *fine.last_mut().unwrap() = 27;
        assert_eq!(
            decode_facts(&fine).unwrap().expiries,
            [Expiry::Field(Some(Date::constant(2023, 2, 27)))]
        );
    }

    #[test]
    fn facts_that_do_not_decode_are_taken_again() {
        let f = fixture();
        f.write("a", "weak\n");
        f.audit("", EPOCH);
        // Rewrite the cache with the record's facts replaced by bytes that are not facts.
        let stamp = f.vault.list_stamped(&Folder::root()).unwrap()[0].1.unwrap();
        let mut plain = SecretBuf::with_capacity(1);
        plain.put(MAGIC);
        plain.put(&fingerprint(&f.vault, Some(&f.cache)));
        let name = SecretName::new("a").unwrap();
        write_record(&mut plain, &name, &stamp, &Entry::Values(&[]));
        plain.put(&EPOCH.to_le_bytes());
        put_chunk(&mut plain, &[0xff]);
        write_end(&mut plain, 1);
        let mut bytes = plain.as_bytes().to_vec();
        let kind_at = MAGIC.len() + 32 + 4 + 1 + STAMP_LEN;
        bytes[kind_at] = VALUES_AND_FACTS;
        std::fs::write(&f.cache, encrypt_to_us(&f, &bytes)).unwrap();
        // The framing holds, so a scan takes the record; an audit does not.
        assert_eq!(f.collect(true).stats, stats(1, 0, false));
        let (again, calls) = f.audit("", EPOCH);
        assert_eq!((again.stats, calls), (stats(0, 1, true), 1));
        assert!(is_weak(&again, "a"));
    }

    #[test]
    fn within_a_folder_means_below_it() {
        let web = Folder::new("web").unwrap();
        assert!(within(&web, "web/a"));
        assert!(within(&web, "web/a/b"));
        assert!(!within(&web, "webby"));
        assert!(!within(&web, "web"));
        assert!(!within(&web, "mail/web/a"));
        assert!(within(&Folder::root(), "anything"));
    }
}
