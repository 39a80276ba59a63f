//! A secret's history: every version, newest first, read from git without decrypting.
//!
//! One pass over the same `git log` that rotation dates read ([`rotation::LOG_ARGS`]) follows
//! a name back through coffer's moves and copies (`Coffer-Copy: A -> B` trailers) and plain
//! `git mv` (exact renames), and says what each commit did to it. The other side of a
//! resolved sync conflict is kept under [`CONFLICT_REFS`] so that `git gc` never drops it;
//! those refs are listed with the history of their name. Old ciphertext is read from git's
//! object database into memory ([`blob_at`]), never into a file.

use std::collections::BTreeSet;

use jiff::Timestamp;

use crate::store::AGE_SUFFIX;
use crate::store::name::SecretName;
use crate::team::git::{Git, GitError};
use crate::team::rotation::{self, Change, Commit};

/// Where the versions a `sync --resolve` did not keep live: one ref per kept-aside version,
/// `refs/coffer/conflicts/<encoded name>/<UTC time>`.
pub const CONFLICT_REFS: &str = "refs/coffer/conflicts/";

/// What a commit did to a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Added,
    Edited,
    Generated,
    Restored,
    /// Written again with the value unchanged (re-encryption, recipients changes).
    Reencrypted,
    /// Moved here from another name (the value unchanged).
    MovedFrom(String),
    /// Copied here from another name (the value unchanged).
    CopiedFrom(String),
    /// Moved away to another name.
    MovedTo(String),
    Removed,
    /// The side of a sync conflict that was not kept, held by the ref named.
    ConflictSide(String),
}

impl Event {
    /// Whether this version holds a new value (what `--revision -N` counts).
    pub fn changes_value(&self) -> bool {
        matches!(
            self,
            Event::Added | Event::Edited | Event::Generated | Event::Restored
        )
    }

    /// Whether the secret is gone from its name after this version.
    pub fn gone(&self) -> bool {
        matches!(self, Event::Removed | Event::MovedTo(_))
    }

    /// A short keyword, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Added => "added",
            Event::Edited => "edited",
            Event::Generated => "generated",
            Event::Restored => "restored",
            Event::Reencrypted => "reencrypted",
            Event::MovedFrom(_) => "moved",
            Event::CopiedFrom(_) => "copied",
            Event::MovedTo(_) => "moved-away",
            Event::Removed => "removed",
            Event::ConflictSide(_) => "conflict",
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Reencrypted => f.write_str("re-encrypted, value unchanged"),
            Event::MovedFrom(from) => write!(f, "moved from {from}"),
            Event::CopiedFrom(from) => write!(f, "copied from {from}"),
            Event::MovedTo(to) => write!(f, "moved to {to}"),
            Event::ConflictSide(r) => write!(f, "conflict side not kept ({r})"),
            other => f.write_str(other.kind()),
        }
    }
}

/// One version of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The full commit id.
    pub commit: String,
    /// The author date.
    pub when: Timestamp,
    pub author: String,
    /// The secret's name in that commit.
    pub name: String,
    pub event: Event,
}

impl Version {
    /// The commit id as people type it.
    pub fn short(&self) -> &str {
        &self.commit[..self.commit.len().min(10)]
    }
}

/// A revision as `show --revision`/`restore --revision` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// `-N`: N value changes before the current value.
    Back(usize),
    /// A git commit-ish (a commit id, a branch, `HEAD~3`, a conflict ref).
    Commit(String),
}

impl Revision {
    /// Parses `-N` or a commit-ish; `None` for what cannot be one (empty, an option).
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some(n) = raw.strip_prefix('-') {
            return n.parse().ok().map(Revision::Back);
        }
        let bad = raw.is_empty() || raw.contains(':') || raw.chars().any(char::is_control);
        (!bad).then(|| Revision::Commit(raw.to_owned()))
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revision::Back(n) => write!(f, "-{n}"),
            Revision::Commit(c) => f.write_str(c),
        }
    }
}

/// Every version of `name`, newest first: the commits of the current branch, followed back
/// through moves and copies, and the conflict sides kept for any name it had.
pub fn history(git: &Git, name: &SecretName) -> Result<Vec<Version>, GitError> {
    let mut versions = Vec::new();
    // One `git log --follow` limited to the name (git follows exact renames itself); a copy
    // or a coffer move that re-encrypted (a `Coffer-Copy` trailer) hops to its source, from
    // the commit before. A secret never copied costs one path-limited log, not the whole
    // history with rename detection.
    let mut current = name.as_str().to_owned();
    let mut start: Option<String> = None;
    loop {
        let path = format!("{current}{AGE_SUFFIX}");
        let mut args: Vec<&str> = FOLLOW_ARGS.to_vec();
        if let Some(rev) = &start {
            args.push(rev);
        }
        args.extend(["--", &path]);
        let log = git.run(&args)?.stdout;
        let commits = rotation::parse_log(&log);
        let (found, hop) = follow_to_copy(&commits, &current);
        versions.extend(found);
        let Some((commit, source)) = hop else {
            break;
        };
        // The trailer names the source; whether the source went away in that commit (a
        // move, not a copy) is not in a log limited to this name.
        if deleted_in(git, &commit, &source)?
            && let Some(last) = versions.last_mut()
            && let Event::CopiedFrom(from) = &last.event
        {
            last.event = Event::MovedFrom(from.clone());
        }
        start = Some(format!("{commit}^"));
        current = source;
    }
    let names: BTreeSet<String> = versions
        .iter()
        .map(|v| v.name.clone())
        .chain([name.as_str().to_owned()])
        .collect();
    let mut sides = conflict_sides(git)?;
    sides.retain(|v| names.contains(&v.name));
    // By date among the commits, which keep git's order (a rebase can leave author dates
    // out of order).
    for side in sides {
        let at = versions
            .iter()
            .position(|v| v.when < side.when)
            .unwrap_or(versions.len());
        versions.insert(at, side);
    }
    Ok(versions)
}

/// `git log` of one name, newest first, following exact renames, in the format
/// [`rotation::parse_log`] reads.
const FOLLOW_ARGS: [&str; 9] = [
    "-c",
    "log.showSignature=false",
    "log",
    "-z",
    "--format=%x1e%H%x1f%at%x1f%an%x1f%B%x1f",
    "--name-status",
    "-M100%",
    "--follow",
    "--date-order",
];

/// [`follow`] over a log limited to `name`, stopping at the first copy (a `Coffer-Copy`
/// trailer, not a rename git followed): the versions so far, and the commit and source name
/// to go on from.
fn follow_to_copy(commits: &[Commit<'_>], name: &str) -> (Vec<Version>, Option<(String, String)>) {
    let mut current = name.to_owned();
    let mut versions = Vec::new();
    for commit in commits {
        let Some((event, next)) = what_happened(commit, &current) else {
            continue;
        };
        // A rename or copy git found itself: `--follow` goes on with the old name.
        let followed = commit.changes.iter().any(|c| {
            matches!(c, Change::Renamed { to, .. } | Change::Copied { to, .. } if *to == current)
        });
        let when = if event.changes_value() {
            commit.value_date(&current)
        } else {
            Timestamp::from_second(commit.author_time).unwrap_or(Timestamp::UNIX_EPOCH)
        };
        versions.push(Version {
            commit: commit.hash.to_owned(),
            when,
            author: commit.author.to_owned(),
            name: current.clone(),
            event,
        });
        match next {
            Some(next) if followed => current = next,
            Some(next) => return (versions, Some((commit.hash.to_owned(), next))),
            None => {}
        }
    }
    (versions, None)
}

/// Whether `commit` removed the secret `name`.
fn deleted_in(git: &Git, commit: &str, name: &str) -> Result<bool, GitError> {
    let path = format!("{name}{AGE_SUFFIX}");
    let out = git.run([
        "diff-tree",
        "--no-commit-id",
        "-r",
        "--name-status",
        "-z",
        commit,
        "--",
        &path,
    ])?;
    Ok(out.stdout.first() == Some(&b'D'))
}

/// Walks the parsed log newest first, following `name` back to where each value came from.
#[cfg(test)]
fn follow(commits: &[Commit<'_>], name: &str) -> Vec<Version> {
    // Over a whole-history log: each copy's source goes on from the commit after the copy.
    let mut versions = Vec::new();
    let mut current = name.to_owned();
    let mut rest = commits;
    loop {
        let (found, hop) = follow_to_copy(rest, &current);
        versions.extend(found);
        let Some((hash, source)) = hop else {
            return versions;
        };
        let at = rest
            .iter()
            .position(|c| c.hash == hash)
            .unwrap_or(rest.len());
        rest = rest.get(at + 1..).unwrap_or_default();
        current = source;
    }
}

/// What `commit` did to the secret called `current`, and the name it had before, if that
/// changed.
fn what_happened(commit: &Commit<'_>, current: &str) -> Option<(Event, Option<String>)> {
    let change = commit.changes.iter().find(|c| match c {
        Change::Added(p) | Change::Modified(p) | Change::Deleted(p) => *p == current,
        Change::Renamed { from, to } => *from == current || *to == current,
        Change::Copied { to, .. } => *to == current,
        Change::Other => false,
    })?;
    let deleted = |path: &str| {
        commit
            .changes
            .iter()
            .any(|c| matches!(c, Change::Deleted(p) if *p == path))
    };
    Some(match change {
        Change::Deleted(_) => (Event::Removed, None),
        Change::Renamed { from, to } if *to == current => (
            Event::MovedFrom((*from).to_owned()),
            Some((*from).to_owned()),
        ),
        Change::Renamed { to, .. } => (Event::MovedTo((*to).to_owned()), None),
        Change::Copied { from, .. } => (
            Event::CopiedFrom((*from).to_owned()),
            Some((*from).to_owned()),
        ),
        Change::Added(_) | Change::Modified(_) if commit.unchanged => {
            match copy_source(commit, current) {
                Some(from) if deleted(&from) => (Event::MovedFrom(from.clone()), Some(from)),
                Some(from) => (Event::CopiedFrom(from.clone()), Some(from)),
                None => (Event::Reencrypted, None),
            }
        }
        Change::Added(_) | Change::Modified(_) => {
            let subject = commit.subject;
            let event = if subject.starts_with("Restore ") {
                Event::Restored
            } else if subject.contains("generated password") {
                Event::Generated
            } else if matches!(change, Change::Added(_)) {
                Event::Added
            } else {
                Event::Edited
            };
            (event, None)
        }
        Change::Other => return None,
    })
}

/// The name `current`'s value came from, by the commit's `Coffer-Copy` trailers (a folder
/// given as `A/ -> B/`).
fn copy_source(commit: &Commit<'_>, current: &str) -> Option<String> {
    for (from, to) in &commit.copies {
        if let Some(from_folder) = from.strip_suffix('/') {
            let to_folder = to.trim_end_matches('/');
            let rest = if to_folder.is_empty() {
                Some(current)
            } else {
                current
                    .strip_prefix(to_folder)
                    .and_then(|r| r.strip_prefix('/'))
            };
            if let Some(rest) = rest {
                return Some(if from_folder.is_empty() {
                    rest.to_owned()
                } else {
                    format!("{from_folder}/{rest}")
                });
            }
        } else if *to == current {
            return Some((*from).to_owned());
        }
    }
    None
}

/// The ref that keeps the side of `name`'s conflict not kept at `when`.
pub fn conflict_ref(name: &SecretName, when: Timestamp) -> String {
    format!(
        "{CONFLICT_REFS}{}/{}",
        encode_ref_component(name.as_str()),
        when.strftime("%Y%m%dT%H%M%S%.fZ")
    )
}

/// Every kept conflict side, as versions (newest first is left to the caller).
pub fn conflict_sides(git: &Git) -> Result<Vec<Version>, GitError> {
    if !git.is_repo() {
        return Ok(Vec::new());
    }
    let out = git.run([
        "for-each-ref",
        "--format=%(refname)%1f%(objectname)%1f%(authordate:unix)%1f%(authorname)",
        CONFLICT_REFS,
    ])?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\u{1f}');
            let refname = parts.next()?;
            let commit = parts.next()?;
            let when = parts.next()?.trim().parse().ok()?;
            let author = parts.next().unwrap_or("");
            let encoded = refname.strip_prefix(CONFLICT_REFS)?.split('/').next()?;
            Some(Version {
                commit: commit.to_owned(),
                when: Timestamp::from_second(when).unwrap_or(Timestamp::UNIX_EPOCH),
                author: author.to_owned(),
                name: decode_ref_component(encoded)?,
                event: Event::ConflictSide(refname.to_owned()),
            })
        })
        .collect())
}

/// A name as one ref component: every byte but ASCII letters, digits, `-` and `_` as `%XX`
/// (names may hold spaces, dots and `/`, which refs forbid or give meaning to).
fn encode_ref_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_ref_component(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Resolves a commit-ish to a full commit id; `None` when it names no commit.
pub fn resolve_commit(git: &Git, rev: &str) -> Result<Option<String>, GitError> {
    if rev.starts_with('-') {
        return Ok(None);
    }
    let out = git
        .command()
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(GitError::Spawn)?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.status.success() && !id.is_empty()).then_some(id))
}

/// Whether commit `older` is an ancestor of commit `newer`.
pub fn is_ancestor(git: &Git, older: &str, newer: &str) -> Result<bool, GitError> {
    let status = git
        .command()
        .args(["merge-base", "--is-ancestor", older, newer])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(GitError::Spawn)?;
    Ok(status.success())
}

/// Why an old file could not be read.
#[derive(Debug)]
pub enum BlobError {
    /// No such file in that commit.
    Missing,
    /// Larger than the limit (its size).
    TooLarge(u64),
    Git(GitError),
}

/// The ciphertext of secret `name` in `commit` (a full commit id), read into memory; at most
/// `max` bytes, checked before reading.
pub fn blob_at(git: &Git, commit: &str, name: &str, max: u64) -> Result<Vec<u8>, BlobError> {
    let object = format!("{commit}:{name}{AGE_SUFFIX}");
    let size = git
        .command()
        .args(["cat-file", "-s", &object])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| BlobError::Git(GitError::Spawn(e)))?;
    if !size.status.success() {
        return Err(BlobError::Missing);
    }
    let size: u64 = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse()
        .map_err(|_| BlobError::Missing)?;
    if size > max {
        return Err(BlobError::TooLarge(size));
    }
    git.run(["cat-file", "blob", &object])
        .map(|out| out.stdout)
        .map_err(BlobError::Git)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::team::rotation::unchanged_message;

    fn commit(hash: &str, at: i64, body: &str, files: &[&str]) -> String {
        let mut out = format!("\u{1e}{hash}\u{1f}{at}\u{1f}Ann\u{1f}{body}\u{1f}\0\n");
        for f in files {
            out.push_str(f);
            out.push('\0');
        }
        out
    }

    fn events(log: &str, name: &str) -> Vec<(String, String)> {
        follow(&rotation::parse_log(log.as_bytes()), name)
            .into_iter()
            .map(|v| (v.name, v.event.to_string()))
            .collect()
    }

    #[test]
    fn follows_coffer_moves_copies_and_plain_renames() {
        let log = [
            commit("9", 900, "Remove c from store.\n", &["D", "c.age"]),
            commit("8", 800, "Restore c to abc.\n", &["M", "c.age"]),
            commit(
                "7",
                700,
                &unchanged_message("Copy f/b to c.", &[("f/b".into(), "c".into())]),
                &["A", "c.age"],
            ),
            commit(
                "6",
                600,
                &unchanged_message("Rename e to f.", &[("e/".into(), "f/".into())]),
                &["D", "e/b.age", "A", "f/b.age"],
            ),
            commit("5", 500, "by hand\n", &["R100", "a.age", "e/b.age"]),
            commit(
                "4",
                400,
                &unchanged_message("Reencrypt password store.", &[]),
                &["M", "a.age"],
            ),
            commit("3", 300, "Add generated password for a.\n", &["M", "a.age"]),
            commit("2", 200, "Edit password for a using vi.\n", &["M", "a.age"]),
            commit(
                "1",
                100,
                "Add given password for a to store.\n",
                &["A", "a.age"],
            ),
        ]
        .concat();
        let got = events(&log, "c");
        let want = [
            ("c", "removed"),
            ("c", "restored"),
            ("c", "copied from f/b"),
            ("f/b", "moved from e/b"),
            ("e/b", "moved from a"),
            ("a", "re-encrypted, value unchanged"),
            ("a", "generated"),
            ("a", "edited"),
            ("a", "added"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
        );
        // The source of a copy does not see it; the source of a move sees it go.
        assert_eq!(events(&log, "f/b").len(), 6);
        assert_eq!(events(&log, "a")[0].1, "moved to e/b");
    }

    #[test]
    fn revisions_and_ref_names() {
        assert_eq!(Revision::parse("-2"), Some(Revision::Back(2)));
        assert_eq!(Revision::parse("-x"), None);
        assert_eq!(Revision::parse("HEAD:a"), None);
        assert_eq!(
            Revision::parse("abc123"),
            Some(Revision::Commit("abc123".into()))
        );
        let name = "team/db x.lock";
        let encoded = encode_ref_component(name);
        assert!(!encoded.contains(['/', '.', ' ']), "{encoded}");
        assert_eq!(decode_ref_component(&encoded).as_deref(), Some(name));
    }
}
