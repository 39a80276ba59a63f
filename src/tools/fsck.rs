//! `fsck`: what is wrong with a store, found without decrypting (unless asked), and the few
//! safe repairs. The store is walked once ([`Vault::inspect`]): links and special files are
//! reported, never followed or opened; `.age` files are read as far as their header, unless
//! [`fsck_cache`] holds it for the file's unchanged stamp.

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rayon::prelude::*;

use crate::crypto::recipients::Recipients;
use crate::crypto::{self, DecryptError};
use crate::store::inspect::{Found, FoundKind, KnownHeaders, NoKnownHeaders, Repair};
use crate::store::{AGE_SUFFIX, META_DIR, RECIPIENTS_FILE};
use crate::sys::private::PrivateError;
use crate::team::git::GITATTRIBUTES;
use crate::team::log::LogFile;
use crate::tools::fsck_cache::{self, CacheStats, HeaderCache};
use crate::vault::{Changed, Error, Result, Vault};
use crate::{Folder, SecretName};

/// What `fsck` checks beyond the default, and where its cache lies.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also decrypt every secret (and so read every header: the cache is not used).
    pub decrypt: bool,
    /// Read every header again, whatever the cache says (and refresh the cache): finds a
    /// header damaged in place without a change of its file's stamp.
    pub full: bool,
    /// The store's cache of checked headers ([`fsck_cache::cache_file`]); `None`: no cache.
    pub cache: Option<PathBuf>,
}

/// What `--fix` would do about a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    Repair(Repair),
    /// Re-encrypt to the folder's recipients (if you can decrypt it).
    Reencrypt(SecretName),
    RemoveMark(SecretName),
    InfoAttributes,
    GitAttributes,
}

impl Fix {
    pub fn describe(&self) -> &'static str {
        match self {
            Fix::Repair(Repair::Permissions) => "remove group and other permissions",
            Fix::Repair(Repair::Temporary) => "remove it if its writer is gone",
            Fix::Repair(Repair::EmptyFolder) => "remove the folder",
            Fix::Reencrypt(_) => "re-encrypt to the folder's recipients, if you can decrypt it",
            Fix::RemoveMark(_) => "remove the mark",
            Fix::InfoAttributes => "write coffer's rules to .git/info/attributes",
            Fix::GitAttributes => "add coffer's line to .gitattributes",
        }
    }

    /// Whether the fix changes files git tracks (and so waits for a writable git).
    fn tracked(&self) -> bool {
        matches!(
            self,
            Fix::Reencrypt(_) | Fix::RemoveMark(_) | Fix::GitAttributes
        )
    }
}

/// One problem: a kind (a short keyword), the path (relative to the store), what is wrong
/// (never a secret's content), and the fix `--fix` would apply, if any.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
    pub fix: Option<Fix>,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Secrets looked at.
    pub secrets: usize,
    /// Conflict sides kept under `refs/coffer/conflicts/` (not a problem).
    pub conflict_refs: usize,
    /// Headers read and taken from the cache.
    pub cache: CacheStats,
    /// Why the cache could not be written, if it could not (the check is whole without it).
    pub cache_error: Option<PrivateError>,
}

fn problem(kind: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Problem {
    Problem {
        kind,
        path: path.into(),
        detail: detail.into(),
        fix: None,
    }
}

fn with_fix(mut p: Problem, fix: Fix) -> Problem {
    p.fix = Some(fix);
    p
}

/// The last component of a path the walk gave (`a/b.age` → `b.age`), without the parsing
/// `Path::file_name` does: it is asked of every entry of the store.
fn file_name(path: &Path) -> &[u8] {
    let bytes = path.as_os_str().as_bytes();
    bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes)
}

/// A path as a problem shows it (borrowed, not copied, for the many entries with none).
fn shown(path: &Path) -> Cow<'_, str> {
    if path.as_os_str().is_empty() {
        Cow::Borrowed(".")
    } else {
        path.to_string_lossy()
    }
}

/// Checks the store at or below `folder`. `progress` is called once per secret decrypted
/// (with `decrypt`).
pub fn check(
    vault: &Vault,
    folder: &Folder,
    options: &Options,
    progress: &(dyn Fn() + Sync),
) -> Result<Report> {
    check_at(vault, folder, options, progress, SystemTime::now())
}

/// [`check`] with the moment taken before the walk given (tests move it forward, as if every
/// file had settled).
#[doc(hidden)]
pub fn check_at(
    vault: &Vault,
    folder: &Folder,
    options: &Options,
    progress: &(dyn Fn() + Sync),
    walked_at: SystemTime,
) -> Result<Report> {
    let mut report = Report::default();
    // The access logs and git do not depend on the walk, and git's part is mostly waiting
    // for git processes: both run beside it.
    let (walked, beside) = std::thread::scope(|scope| {
        let beside = scope.spawn(|| {
            let mut logs = Vec::new();
            check_logs(vault, &mut logs);
            (logs, check_git(vault))
        });
        let walked = check_store(vault, folder, options, walked_at, &mut report);
        let beside = beside
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (walked, beside)
    });
    let headers = walked?;
    let (logs, git) = beside;
    let git = git?;
    report.problems.extend(logs);
    report.problems.extend(git.problems);
    report.conflict_refs = git.conflict_refs;
    if options.decrypt {
        // Only secrets whose header is sound: the others are reported as `not-age`.
        let names: Vec<SecretName> = headers.iter().map(|(name, _)| name.clone()).collect();
        decrypt_all(vault, &names, progress, &mut report)?;
    }
    report.secrets = headers.len();
    Ok(report)
}

/// The store's files: the walk, the recipients, trust and marks. Returns the secrets with a
/// sound header, sorted by name.
fn check_store(
    vault: &Vault,
    folder: &Folder,
    options: &Options,
    walked_at: SystemTime,
    report: &mut Report,
) -> Result<Vec<(SecretName, crypto::HeaderSummary)>> {
    let found = walk(vault, folder, options, walked_at, report)?;
    let with_recipients = folders_with_recipients(&found);
    let headers = check_files(vault, found, report);
    check_stanzas(vault, &headers, report);
    check_trust(vault, folder, with_recipients, report);
    for name in vault.orphaned_marks()? {
        if folder.contains(&name) {
            let path = format!("{META_DIR}/exposed/{name}.exposed");
            report.problems.push(with_fix(
                problem("orphaned-mark", path, format!("{name} is not in the store")),
                Fix::RemoveMark(name),
            ));
        }
    }
    Ok(headers)
}

/// The walk ([`Vault::inspect`]), with the headers the cache holds for files whose stamp has
/// not changed (unless every header is to be read); then the cache is brought up to date.
fn walk(
    vault: &Vault,
    folder: &Folder,
    options: &Options,
    walked_at: SystemTime,
    report: &mut Report,
) -> Result<Vec<Found>> {
    let bytes = options.cache.as_deref().and_then(fsck_cache::read);
    let mut cache = bytes
        .as_deref()
        .and_then(|bytes| HeaderCache::parse(bytes, vault));
    let mut none = NoKnownHeaders;
    let known: &mut dyn KnownHeaders = match &mut cache {
        Some(cache) if !options.full && !options.decrypt => cache,
        _ => &mut none,
    };
    let found = vault.inspect(folder, known)?;
    let scope = Path::new(folder.as_str());
    let (next, stats) = fsck_cache::update(vault, cache.as_ref(), scope, &found, walked_at);
    report.cache = stats;
    if let (Some(path), Some(next)) = (&options.cache, next) {
        match super::cache::write_private(path, &next) {
            Ok(()) => report.cache.written = true,
            Err(e) => report.cache_error = Some(e),
        }
    }
    Ok(found)
}

/// Permissions, owners, kinds, temporaries, empty folders, age headers, recipients files.
/// Returns every secret whose header is sound, sorted by name. Entries are checked in
/// parallel (parsing ten thousand headers is most of the work; each entry's memory is freed
/// where it was checked), problems kept in walk order.
fn check_files(
    vault: &Vault,
    found: Vec<Found>,
    report: &mut Report,
) -> Vec<(SecretName, crypto::HeaderSummary)> {
    let uid = rustix::process::geteuid().as_raw();
    let checked: Vec<Checked> = found
        .into_par_iter()
        .map(|entry| check_entry(vault, entry, uid))
        .collect();
    let mut headers = Vec::with_capacity(checked.len());
    for entry in checked {
        report.problems.extend(entry.problems);
        headers.extend(entry.secret);
    }
    // Walk order puts `a/b` before `a.b`; names sort the other way.
    headers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    headers
}

/// What one entry of the walk showed.
#[derive(Default)]
struct Checked {
    problems: Vec<Problem>,
    /// A secret with a sound header.
    secret: Option<(SecretName, crypto::HeaderSummary)>,
}

fn check_entry(vault: &Vault, entry: Found, uid: u32) -> Checked {
    let mut out = Checked::default();
    let path = shown(&entry.path);
    let in_meta = entry
        .path
        .as_os_str()
        .as_bytes()
        .strip_prefix(META_DIR.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"));
    match entry.kind {
        FoundKind::Symlink => {
            out.problems.push(problem(
                "link",
                path,
                "a symbolic link: coffer never follows it; remove or replace it by hand",
            ));
            return out;
        }
        FoundKind::Fifo | FoundKind::Socket | FoundKind::Device => {
            out.problems.push(problem(
                "special-file",
                path,
                "a FIFO, socket or device: it has no place in a store; remove it by hand",
            ));
            return out;
        }
        FoundKind::File | FoundKind::Folder => {}
    }
    if entry.uid != uid {
        out.problems.push(problem(
            "owner",
            path.clone(),
            format!("owned by uid {}, not by you", entry.uid),
        ));
    }
    if entry.mode & 0o077 != 0 {
        out.problems.push(with_fix(
            problem(
                "permissions",
                path.clone(),
                format!("mode {:04o}: group or others have access", entry.mode),
            ),
            Fix::Repair(Repair::Permissions),
        ));
    }
    let file_name = String::from_utf8_lossy(file_name(&entry.path));
    if entry.kind == FoundKind::Folder {
        if entry.empty && !in_meta && !entry.path.as_os_str().is_empty() {
            out.problems.push(with_fix(
                problem("empty-folder", path, "an empty folder"),
                Fix::Repair(Repair::EmptyFolder),
            ));
        }
        return out;
    }
    if crate::sys::private::is_temporary(&file_name) {
        out.problems.push(with_fix(
            problem(
                "temporary",
                path,
                "a temporary a killed writer left (it may hold a copy of a key)",
            ),
            Fix::Repair(Repair::Temporary),
        ));
        return out;
    }
    if file_name == RECIPIENTS_FILE {
        out.problems
            .extend(check_recipients_file(vault, &entry.path));
        return out;
    }
    let (Some(header), false) = (entry.header, in_meta) else {
        return out;
    };
    let Some(stem) = path.strip_suffix(AGE_SUFFIX) else {
        return out;
    };
    // A file no command lists or reads (a teammate pushed a name with invisible characters,
    // say): hidden from every listing, so said here.
    let name = match SecretName::new(stem) {
        Ok(name) => name,
        Err(reason) => {
            out.problems.push(problem(
                "bad-name",
                path,
                format!("coffer cannot use this name ({reason}), so no command lists or reads it; rename it by hand"),
            ));
            return out;
        }
    };
    match header.verdict {
        Ok(summary) => out.secret = Some((name, summary)),
        Err(e) => out.problems.push(problem(
            "not-age",
            path,
            format!("{e}; restore it with `coffer restore {name} --revision REV`"),
        )),
    }
    out
}

fn check_recipients_file(vault: &Vault, path: &Path) -> Option<Problem> {
    let folder = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = Folder::new(&folder).ok()?;
    match vault.own_recipients_file(&folder) {
        // The error names the file and line, never the line's text.
        Ok(Some(bytes)) => Recipients::parse(&bytes, path)
            .err()
            .map(|e| problem("recipients-file", shown(path), e.to_string())),
        Ok(None) => None,
        Err(e) => Some(problem("recipients-file", shown(path), e.to_string())),
    }
}

/// Secrets whose header stanzas do not match their folder's recipients. Each folder's
/// recipients are read once, not once per secret.
fn check_stanzas(
    vault: &Vault,
    headers: &[(SecretName, crypto::HeaderSummary)],
    report: &mut Report,
) {
    let mut expected: HashMap<&str, Option<crypto::StanzaCounts>> = HashMap::new();
    // Sorted by name, a folder's secrets mostly come one after another.
    let mut last: Option<(&str, Option<crypto::StanzaCounts>)> = None;
    for (name, summary) in headers {
        let folder = name.as_str().rsplit_once('/').map_or("", |(f, _)| f);
        let want = match last {
            Some((at, want)) if at == folder => want,
            _ => {
                let want = *expected.entry(folder).or_insert_with(|| {
                    let folder = Folder::new(folder).ok()?;
                    let (_, r) = vault.file_recipients(&folder).ok()??;
                    Some(crypto::count_stanzas(r.iter().map(|r| r.stanza_type())))
                });
                last = Some((folder, want));
                want
            }
        };
        let Some(want) = want else { continue };
        if summary.stanzas == want {
            continue;
        }
        let (had, wanted): (u32, u32) = (summary.stanzas.iter().sum(), want.iter().sum());
        let why = if had > wanted {
            "a removed recipient may still be able to read it"
        } else if had < wanted {
            "a recipient added since cannot read it"
        } else {
            "its recipients' kinds differ from the folder's"
        };
        report.problems.push(with_fix(
            problem(
                "recipients-mismatch",
                name.relative_path(),
                format!("encrypted to {had} recipient(s), its folder has {wanted}: {why}"),
            ),
            Fix::Reencrypt(name.clone()),
        ));
    }
}

/// The folders holding a recipients file, as the walk found them (hidden ones and names
/// that are not valid folders left out, as `recipients` does).
fn folders_with_recipients(found: &[Found]) -> Vec<Folder> {
    found
        .iter()
        .filter(|e| e.kind == FoundKind::File && file_name(&e.path) == RECIPIENTS_FILE.as_bytes())
        .filter_map(|e| Folder::new(e.path.parent()?.to_str()?).ok())
        .collect()
}

fn check_trust(vault: &Vault, folder: &Folder, with_recipients: Vec<Folder>, report: &mut Report) {
    let Ok(changes) = vault.trust_changes_among(folder, with_recipients) else {
        return;
    };
    for change in changes {
        let governed = change.governed_by.as_ref().unwrap_or(&change.folder);
        let path = if governed.is_root() {
            RECIPIENTS_FILE.to_owned()
        } else {
            format!("{governed}/{RECIPIENTS_FILE}")
        };
        report.problems.push(problem(
            "unapproved",
            path,
            format!(
                "{} added and {} removed since this device approved them; review with `coffer recipients`, then `coffer recipients accept`",
                change.added.len(),
                change.removed.len()
            ),
        ));
    }
}

fn check_logs(vault: &Vault, problems: &mut Vec<Problem>) {
    let mut logs: Vec<LogFile> = LogFile::local(&vault.paths().data_dir)
        .into_iter()
        .collect();
    if let Ok(shared) = vault.shared_logs() {
        logs.extend(shared.into_iter().map(|(_, log)| log));
    }
    for log in logs {
        let path = log.path();
        let shown_path = path
            .strip_prefix(vault.root())
            .map(|p| shown(p).into_owned())
            .unwrap_or_else(|_| path.display().to_string());
        match log.verify() {
            Ok(verdict) => {
                if let Some(p) = verdict.problem {
                    problems.push(problem(
                        "access-log",
                        shown_path,
                        format!("the chain breaks at {p}"),
                    ));
                }
            }
            Err(e) => problems.push(problem("access-log", shown_path, e.to_string())),
        }
    }
}

/// What git's side of the store showed.
#[derive(Default)]
struct GitFindings {
    problems: Vec<Problem>,
    conflict_refs: usize,
}

fn check_git(vault: &Vault) -> Result<GitFindings> {
    let mut report = GitFindings::default();
    let git = vault.git();
    if !git.is_repo() {
        return Ok(report);
    }
    let sync_err = |e: crate::team::sync::SyncError| match e {
        crate::team::sync::SyncError::Git(g) => Error::Git(g),
        other => Error::Git(crate::team::git::GitError::Failed {
            command: "status".into(),
            message: other.to_string(),
        }),
    };
    if crate::team::sync::is_pending(git).map_err(sync_err)? {
        report.problems.push(problem(
            "git-stopped",
            ".git",
            "a rebase or merge is in progress; finish it with `coffer sync --resolve NAME --ours|--theirs`",
        ));
    }
    for path in crate::team::sync::conflicts(git).map_err(sync_err)? {
        report.problems.push(problem(
            "git-unmerged",
            path,
            "unmerged; keep one side with `coffer sync --resolve`",
        ));
    }
    if !git.has_info_attributes()? {
        report.problems.push(with_fix(
            problem(
                "git-attributes",
                ".git/info/attributes",
                "coffer's rules are missing: a checkout could rewrite ciphertext",
            ),
            Fix::InfoAttributes,
        ));
    }
    let has_line = vault.gitattributes()?.is_some_and(|bytes| {
        String::from_utf8_lossy(&bytes)
            .lines()
            .any(|l| l.trim() == GITATTRIBUTES.trim())
    });
    if !has_line {
        report.problems.push(with_fix(
            problem(
                "gitattributes",
                ".gitattributes",
                format!("the line `{}` is missing", GITATTRIBUTES.trim()),
            ),
            Fix::GitAttributes,
        ));
    }
    report.conflict_refs = crate::team::history::conflict_sides(git)?.len();
    Ok(report)
}

fn decrypt_all(
    vault: &Vault,
    names: &[SecretName],
    progress: &(dyn Fn() + Sync),
    report: &mut Report,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    vault.identities()?;
    let failed: Vec<Problem> = names
        .par_iter()
        .map(|name| {
            let result = vault.read(name);
            progress();
            match result {
                Ok(_) => Ok(None),
                Err(Error::Decrypt {
                    reason: DecryptError::Agent(m),
                    name,
                }) => Err(Error::Decrypt {
                    name,
                    reason: DecryptError::Agent(m),
                }),
                Err(Error::Decrypt { reason, .. }) => Ok(Some(problem(
                    "undecryptable",
                    name.relative_path(),
                    reason.to_string(),
                ))),
                Err(e) => Ok(Some(problem(
                    "undecryptable",
                    name.relative_path(),
                    e.to_string(),
                ))),
            }
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut failed = failed;
    failed.sort_by(|a, b| a.path.cmp(&b.path));
    report.problems.extend(failed);
    Ok(())
}

/// Applies the fixes of `problems` that have one. Returns each problem tried, with why its
/// fix failed, if it did. Files git does not track are fixed first (even while a sync
/// waits); re-encryption, marks and `.gitattributes` need a writable git and are committed.
pub fn fix(vault: &Vault, problems: &[Problem]) -> Result<Vec<(Problem, Option<String>)>> {
    let mut outcomes = Vec::new();
    let (tracked, local): (Vec<&Problem>, Vec<&Problem>) = problems
        .iter()
        .filter(|p| p.fix.is_some())
        .partition(|p| p.fix.as_ref().is_some_and(Fix::tracked));
    if !local.is_empty() {
        let lock = vault.lock_outside_git()?;
        for p in local {
            let result = match &p.fix {
                Some(Fix::Repair(repair)) => {
                    let path = PathBuf::from(if p.path == "." { "" } else { &p.path });
                    vault.repair(&lock, &path, *repair)
                }
                Some(Fix::InfoAttributes) => {
                    vault.git().write_info_attributes().map_err(Into::into)
                }
                _ => Ok(()),
            };
            outcomes.push((p.clone(), result.err().map(|e| e.to_string())));
        }
    }
    if tracked.is_empty() {
        return Ok(outcomes);
    }
    let lock = match vault.lock() {
        Ok(lock) => lock,
        Err(e) => {
            let why = e.to_string();
            outcomes.extend(tracked.into_iter().map(|p| (p.clone(), Some(why.clone()))));
            return Ok(outcomes);
        }
    };
    let mut changed = Vec::new();
    for p in tracked {
        let result = match &p.fix {
            Some(Fix::Reencrypt(name)) => vault
                .transfer(&lock, &[(name.clone(), name.clone())], true)
                .map(|()| changed.push(Changed::Secret(name.clone()))),
            Some(Fix::RemoveMark(name)) => vault.forget_exposure(&lock, std::slice::from_ref(name)),
            Some(Fix::GitAttributes) => {
                let mut bytes = vault.gitattributes()?.unwrap_or_default();
                if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                bytes.extend_from_slice(GITATTRIBUTES.as_bytes());
                vault
                    .write_gitattributes(&lock, &bytes)
                    .map(|()| changed.push(Changed::GitAttributes))
            }
            _ => Ok(()),
        };
        outcomes.push((p.clone(), result.err().map(|e| e.to_string())));
    }
    vault.commit(
        &changed,
        &crate::team::rotation::unchanged_message("Repair the store (coffer fsck --fix).", &[]),
    )?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Paths};
    use crate::store::MemoryStore;
    use crate::vault::RecipientOverride;

    /// A vault in memory: enough for the checks that only look at an entry.
    fn vault(data: &tempfile::TempDir) -> Vault {
        let paths = Paths {
            store: PathBuf::from("/memory"),
            identities: data.path().join("identities"),
            config_file: data.path().join("config.toml"),
            data_dir: data.path().to_owned(),
        };
        Vault::with_storage(
            Box::new(MemoryStore::new("/memory")),
            paths,
            Config::default(),
            std::sync::Arc::new(|_: &str| None),
            RecipientOverride::None,
        )
    }

    fn entry(path: &str, kind: FoundKind, uid: u32) -> Found {
        Found {
            path: PathBuf::from(path),
            kind,
            mode: if kind == FoundKind::Folder {
                0o700
            } else {
                0o600
            },
            uid,
            size: 0,
            empty: false,
            header: None,
        }
    }

    /// Through the binary this needs root (to give a file away): `tests/cli/fsck.rs`
    /// `fsck_reports_what_another_user_owns` runs only then.
    #[test]
    fn an_entry_another_user_owns_is_reported() {
        let data = tempfile::tempdir().unwrap();
        let vault = vault(&data);
        let me = 1000;
        let problems = |e: Found| -> Vec<(&'static str, String, String)> {
            check_entry(&vault, e, me)
                .problems
                .into_iter()
                .map(|p| (p.kind, p.path, p.detail))
                .collect()
        };
        for (path, kind) in [("web/a.age", FoundKind::File), ("web", FoundKind::Folder)] {
            assert_eq!(
                problems(entry(path, kind, me + 1)),
                [(
                    "owner",
                    path.to_owned(),
                    "owned by uid 1001, not by you".to_owned()
                )]
            );
            assert_eq!(problems(entry(path, kind, me)), []);
        }
    }
}
