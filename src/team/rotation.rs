//! Rotation dates: when each secret's value last changed.
//!
//! `insert`, `edit`, `generate`, HOTP counter updates and imports change a value;
//! re-encryption, `mv`, `cp` and recipient changes do not. In a git store the date comes from
//! one pass over `git log`: commits that change no value carry the trailer
//! [`VALUE_UNCHANGED`], and those that move or copy secrets say where each value came from
//! with `Coffer-Copy: OLD -> NEW` trailers (a folder as `OLD/ -> NEW/`), so a moved secret keeps
//! its source's date. An exact rename made with plain `git mv` counts the same way (identical
//! ciphertext is an identical value). A commit that writes values last changed elsewhere (an
//! import from pass keeps the pass store's dates) says so with one [`ROTATED_KEY`] trailer per
//! secret, `Coffer-Rotated: NAME RFC3339`, and that date stands in for the commit's. Without
//! git (or for a file git does not know), the date is the file's modification time, which
//! re-encryption, `mv`, `cp` and imports set.

use std::collections::HashMap;
use std::time::SystemTime;

use jiff::Timestamp;

use crate::store::name::SecretName;
use crate::store::{AGE_SUFFIX, Storage, StoreError};
use crate::team::git::Git;

/// The trailer that marks a commit as changing no secret's value.
pub const VALUE_UNCHANGED: &str = "Coffer-Value: unchanged";
/// The trailer key that says where a moved or copied value came from.
pub const COPY_KEY: &str = "Coffer-Copy";

/// The trailer key that dates a value a commit writes as last changed earlier.
pub const ROTATED_KEY: &str = "Coffer-Rotated";

/// `Coffer-Rotated: NAME WHEN` lines, one per secret, for a commit that writes values whose
/// last change was earlier (to the second).
pub fn rotated_trailers<'a>(
    dates: impl IntoIterator<Item = (&'a SecretName, Timestamp)>,
) -> String {
    let mut trailers = String::new();
    for (name, when) in dates {
        let when = Timestamp::from_second(when.as_second()).unwrap_or(when);
        trailers.push_str(&format!("{ROTATED_KEY}: {name} {when}\n"));
    }
    trailers
}

/// A commit message for a change that leaves every value as it was (re-encryption, recipient
/// changes, `mv`, `cp`): pass's subject, then trailers. `copies` are `(from, to)` names; a
/// folder is given with a trailing `/`.
pub fn unchanged_message(subject: &str, copies: &[(String, String)]) -> String {
    let mut message = format!("{subject}\n\n{VALUE_UNCHANGED}\n");
    for (from, to) in copies {
        message.push_str(&format!("{COPY_KEY}: {from} -> {to}\n"));
    }
    message
}

/// Where a rotation date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The author date of the last commit that changed the value.
    Git,
    /// The file's modification time.
    FileTime,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Git => "git history",
            Source::FileTime => "file time",
        }
    }
}

/// When a secret's value last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub when: Timestamp,
    pub source: Source,
}

/// The rotation date of each of `names` (those whose file cannot be read are left out).
pub fn rotation_dates(
    store: &dyn Storage,
    git: &Git,
    names: &[SecretName],
) -> Result<HashMap<SecretName, Rotation>, StoreError> {
    rotation_dates_known(store, git, names, &[])
}

/// [`rotation_dates`], with the modification times of the files already known where
/// `modified` has one (at the name's index; from the walk that stamped them), so that a
/// store without git is not asked for each file again.
pub fn rotation_dates_known(
    store: &dyn Storage,
    git: &Git,
    names: &[SecretName],
    modified: &[Option<SystemTime>],
) -> Result<HashMap<SecretName, Rotation>, StoreError> {
    let mut dates = HashMap::with_capacity(names.len());
    if git.is_repo()
        && let Some(log) = git_log(git)
    {
        for (index, when) in dates_from_history(&log, names) {
            dates.insert(
                names[index].clone(),
                Rotation {
                    when,
                    source: Source::Git,
                },
            );
        }
    }
    for (index, name) in names.iter().enumerate() {
        if dates.contains_key(name) {
            continue;
        }
        let known = modified.get(index).copied().flatten();
        let modified = match known.map_or_else(|| store.modified(name), Ok) {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        if let Ok(when) = Timestamp::try_from(modified) {
            dates.insert(
                name.clone(),
                Rotation {
                    when,
                    source: Source::FileTime,
                },
            );
        }
    }
    Ok(dates)
}

/// The whole history of `.age` files in one `git log`; `None` when there is none yet.
fn git_log(git: &Git) -> Option<Vec<u8>> {
    git.run(LOG_ARGS).ok().map(|out| out.stdout)
}

/// The one `git log` pass that rotation dates and [`crate::team::history`] read: every
/// commit that touched a secret, newest first, with its trailers and exact renames (identical
/// ciphertext is an identical value, so only exact renames count).
pub(crate) const LOG_ARGS: [&str; 10] = [
    "-c",
    "log.showSignature=false",
    "log",
    "--date-order",
    "-z",
    "--format=%x1e%H%x1f%at%x1f%an%x1f%B%x1f",
    "--name-status",
    "-M100%",
    "--",
    "*.age",
];

/// One file change in a commit (names without `.age`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// Added (a new value, unless the commit says otherwise).
    Added(&'a str),
    /// Modified (a new value, unless the commit says otherwise).
    Modified(&'a str),
    Deleted(&'a str),
    /// An exact rename: the same ciphertext under a new name.
    Renamed {
        from: &'a str,
        to: &'a str,
    },
    /// An exact copy (only `git log --follow` reports them): the same ciphertext under a
    /// second name.
    Copied {
        from: &'a str,
        to: &'a str,
    },
    Other,
}

#[derive(Debug)]
pub(crate) struct Commit<'a> {
    pub hash: &'a str,
    pub author_time: i64,
    pub author: &'a str,
    pub subject: &'a str,
    pub unchanged: bool,
    pub copies: Vec<(&'a str, &'a str)>,
    /// Values written by this commit that last changed earlier ([`ROTATED_KEY`] trailers).
    pub rotated: HashMap<&'a str, Timestamp>,
    pub changes: Vec<Change<'a>>,
}

impl Commit<'_> {
    /// When the value this commit wrote at `path` last changed: its [`ROTATED_KEY`] trailer,
    /// never later than the commit, else the commit's author date.
    pub fn value_date(&self, path: &str) -> Timestamp {
        let committed = Timestamp::from_second(self.author_time).unwrap_or(Timestamp::UNIX_EPOCH);
        match self.rotated.get(path) {
            Some(&earlier) => earlier.min(committed),
            None => committed,
        }
    }
}

/// Parses [`LOG_ARGS`]' output, newest commit first.
pub(crate) fn parse_log(bytes: &[u8]) -> Vec<Commit<'_>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Names are UTF-8, but a foreign commit message may not be: go through it lossily
        // per commit below instead of giving up on the whole history.
        return parse_log_lossy(bytes);
    };
    text.split('\u{1e}').filter_map(parse_commit).collect()
}

fn parse_log_lossy(bytes: &[u8]) -> Vec<Commit<'_>> {
    bytes
        .split(|&b| b == 0x1e)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .filter_map(parse_commit)
        .collect()
}

fn parse_commit(chunk: &str) -> Option<Commit<'_>> {
    let mut parts = chunk.splitn(5, '\u{1f}');
    let hash = parts.next()?;
    let author_time = parts.next()?.trim().parse().ok()?;
    let author = parts.next()?;
    let body = parts.next()?;
    let files = parts.next().unwrap_or("");
    let mut unchanged = false;
    let mut copies = Vec::new();
    let mut rotated = HashMap::new();
    for line in body.lines() {
        let line = line.trim();
        if line.eq_ignore_ascii_case(VALUE_UNCHANGED) {
            unchanged = true;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case(COPY_KEY)
            && let Some((from, to)) = value.split_once(" -> ")
            && !to.contains(" -> ")
        {
            copies.push((from.trim(), to.trim()));
        } else if key.eq_ignore_ascii_case(ROTATED_KEY)
            && let Some((name, when)) = value.rsplit_once(' ')
            && let Ok(when) = when.parse::<Timestamp>()
        {
            rotated.insert(name.trim_end(), when);
        }
    }
    let mut tokens = files
        .trim_start_matches(['\0', '\n'])
        .split('\0')
        .filter(|t| !t.is_empty());
    let mut changes = Vec::new();
    while let Some(status) = tokens.next() {
        let status = status.trim();
        let change = match status.chars().next() {
            Some('A') => Change::Added(strip_age(tokens.next()?)?),
            Some('M' | 'T') => Change::Modified(strip_age(tokens.next()?)?),
            Some('D') => Change::Deleted(strip_age(tokens.next()?)?),
            Some('R') => {
                let from = tokens.next()?;
                let to = tokens.next()?;
                match (strip_age(from), strip_age(to)) {
                    (Some(from), Some(to)) => Change::Renamed { from, to },
                    _ => Change::Other,
                }
            }
            Some('C') => {
                let from = tokens.next()?;
                let to = tokens.next()?;
                match (strip_age(from), strip_age(to)) {
                    (Some(from), Some(to)) => Change::Copied { from, to },
                    _ => Change::Other,
                }
            }
            _ => {
                tokens.next()?;
                Change::Other
            }
        };
        changes.push(change);
    }
    Some(Commit {
        hash,
        author_time,
        author,
        subject: body.lines().next().unwrap_or("").trim(),
        unchanged,
        copies,
        rotated,
        changes,
    })
}

fn strip_age(path: &str) -> Option<&str> {
    path.strip_suffix(AGE_SUFFIX)
}

/// Walks the history newest first, following each current name back through moves and copies
/// to the last commit that wrote a new value. Returns `(index into names, date)`.
pub(crate) fn dates_from_history(log: &[u8], names: &[SecretName]) -> Vec<(usize, Timestamp)> {
    // Where each current secret's value is found at the point of history being looked at.
    let mut pending: HashMap<String, Vec<usize>> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        pending.entry(name.as_str().to_owned()).or_default().push(i);
    }
    let mut found = Vec::with_capacity(names.len());
    for commit in parse_log(log) {
        if pending.is_empty() {
            break;
        }
        let mut follow = |from: &str, to: &str| {
            if let Some(from_folder) = from.strip_suffix('/') {
                let to_folder = to.trim_end_matches('/');
                if to_folder.is_empty() {
                    return;
                }
                let prefix = format!("{to_folder}/");
                let moved: Vec<String> = pending
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for key in moved {
                    let rest = &key[prefix.len()..];
                    let source = if from_folder.is_empty() {
                        rest.to_owned()
                    } else {
                        format!("{from_folder}/{rest}")
                    };
                    if let Some(waiting) = pending.remove(&key) {
                        pending.entry(source).or_default().extend(waiting);
                    }
                }
            } else if let Some(waiting) = pending.remove(to) {
                pending.entry(from.to_owned()).or_default().extend(waiting);
            }
        };
        for change in &commit.changes {
            if let Change::Renamed { from, to } = change {
                follow(from, to);
            }
        }
        if commit.unchanged {
            for (from, to) in &commit.copies {
                follow(from, to);
            }
            continue;
        }
        for change in &commit.changes {
            if let Change::Added(path) | Change::Modified(path) = change
                && let Some(waiting) = pending.remove(*path)
            {
                let when = commit.value_date(path);
                found.extend(waiting.into_iter().map(|i| (i, when)));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(at: i64, body: &str, files: &[&str]) -> String {
        let mut out = format!("\u{1e}0123abcd\u{1f}{at}\u{1f}A U Thor\u{1f}{body}\u{1f}\0\n");
        for f in files {
            out.push_str(f);
            out.push('\0');
        }
        out
    }

    fn names(list: &[&str]) -> Vec<SecretName> {
        list.iter().map(|n| SecretName::new(n).unwrap()).collect()
    }

    fn dates(log: &str, list: &[&str]) -> HashMap<String, i64> {
        let names = names(list);
        dates_from_history(log.as_bytes(), &names)
            .into_iter()
            .map(|(i, t)| (names[i].to_string(), t.as_second()))
            .collect()
    }

    #[test]
    fn the_last_value_change_wins_and_unchanged_commits_are_skipped() {
        let log = [
            commit(
                300,
                &unchanged_message("Reencrypt password store.", &[]),
                &["M", "a.age", "M", "b.age"],
            ),
            commit(200, "Edit password for a using vi.\n", &["M", "a.age"]),
            commit(
                100,
                "Add given password for a to store.\n",
                &["A", "a.age", "A", "b.age"],
            ),
        ]
        .concat();
        let d = dates(&log, &["a", "b", "never"]);
        assert_eq!(d["a"], 200);
        assert_eq!(d["b"], 100);
        assert!(!d.contains_key("never"));
    }

    #[test]
    fn moves_and_copies_keep_the_source_date() {
        let log = [
            commit(
                400,
                &unchanged_message("Rename team to crew.", &[("team/".into(), "crew/".into())]),
                &["D", "team/db.age", "A", "crew/db.age"],
            ),
            commit(
                300,
                &unchanged_message("Copy a to c d.", &[("a".into(), "c d".into())]),
                &["A", "c d.age"],
            ),
            commit(250, "by hand\n", &["R100", "old.age", "x/new.age"]),
            commit(200, "Add\n", &["A", "team/db.age", "A", "old.age"]),
            commit(100, "Add\n", &["A", "a.age"]),
        ]
        .concat();
        let d = dates(&log, &["a", "c d", "crew/db", "x/new"]);
        assert_eq!(d["a"], 100);
        assert_eq!(d["c d"], 100);
        assert_eq!(d["crew/db"], 200);
        assert_eq!(d["x/new"], 200);
    }

    #[test]
    fn folder_moves_and_odd_bodies_parse() {
        let log = [
            commit(400, "Add\n\nCoffer-Copy: nonsense", &["A", "f/t.age"]),
            commit(
                300,
                &unchanged_message("Rename x/f to f.", &[("x/f/".into(), "f/".into())]),
                &["A", "f/s.age"],
            ),
            commit(100, "Add\n", &["A", "x/f/s.age"]),
        ]
        .concat();
        let d = dates(&log, &["f/s", "f/t"]);
        assert_eq!((d["f/s"], d["f/t"]), (100, 400));
        assert!(parse_log(b"garbage without separators").is_empty());
    }

    #[test]
    fn an_import_dates_its_values_by_their_trailers_and_later_changes_win() {
        let names_ = names(&["a b", "c"]);
        let import = format!(
            "Import 3 secrets from pass.\n\n{}",
            rotated_trailers([
                (&names_[0], Timestamp::from_second(50).unwrap()),
                (&names_[1], Timestamp::from_second(60).unwrap()),
            ]) + "Coffer-Rotated: d 2999-01-01T00:00:00Z\nCoffer-Rotated: nonsense\n"
        );
        assert!(import.contains("\nCoffer-Rotated: a b 1970-01-01T00:00:50Z\n"));
        let log = [
            commit(
                400,
                &unchanged_message("Rename a b to m.", &[("a b".into(), "m".into())]),
                &["D", "a b.age", "A", "m.age"],
            ),
            commit(300, "Edit password for c using vi.\n", &["M", "c.age"]),
            commit(
                200,
                &import,
                &["A", "a b.age", "A", "c.age", "A", "d.age", "A", "e.age"],
            ),
        ]
        .concat();
        let d = dates(&log, &["m", "c", "d", "e"]);
        assert_eq!(d["m"], 50, "a move keeps the imported date");
        assert_eq!(d["c"], 300, "a later value change wins");
        assert_eq!(d["d"], 200, "never later than the import itself");
        assert_eq!(d["e"], 200, "no trailer: the commit's date");
    }

    #[test]
    fn known_file_times_stand_in_for_asking_the_store() {
        use crate::store::MemoryStore;
        let store = MemoryStore::new("/no/such/store");
        let lock = store.lock().unwrap();
        for name in names(&["a", "b"]) {
            store.write(&lock, &name, b"x").unwrap();
        }
        let git = Git::new(std::path::Path::new("/no/such/store"));
        let day_one = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400);
        let asked = names(&["a", "b", "gone"]);
        let dates = rotation_dates_known(&store, &git, &asked, &[Some(day_one), None]).unwrap();
        let a = dates[&asked[0]];
        assert_eq!((a.when.as_second(), a.source), (86_400, Source::FileTime));
        let b_time = store.modified(&asked[1]).unwrap();
        assert_eq!(dates[&asked[1]].when, Timestamp::try_from(b_time).unwrap());
        assert!(!dates.contains_key(&asked[2]));
        assert_eq!(rotation_dates(&store, &git, &asked).unwrap().len(), 2);
    }

    #[test]
    fn messages_keep_pass_subjects() {
        let m = unchanged_message("Copy a to b.", &[("a".into(), "b".into())]);
        assert_eq!(m.lines().next(), Some("Copy a to b."));
        assert!(m.contains("\n\nCoffer-Value: unchanged\nCoffer-Copy: a -> b\n"));
    }
}
