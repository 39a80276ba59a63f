//! When each secret of a pass (or passage) store last changed, so that an import keeps those
//! dates instead of starting every secret as rotated today.
//!
//! If the source store has its own git repository, one `git log` pass over it dates each
//! name by the newest commit that touched `NAME.gpg` (re-encryptions aside: they change no
//! value). git runs as coffer runs it on its own store ([`Git::command`]: the variables that
//! could point it elsewhere removed, `GIT_CEILING_DIRECTORIES` set), and `git log` runs no
//! hook; with `--name-only`, `--no-textconv` and `--no-ext-diff` it runs no filter or diff
//! driver of that repository either. A file git does not know is dated by its modification
//! time, which the walk reads ([`super::source::Found::Secret`]).

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;

use crate::team::git::Git;

/// The name (the path without `suffix`) → the author date of the newest commit that changed
/// its value, for every `*suffix` file in the history of the repository at `root`; empty when
/// `root` has no repository of its own or git cannot read it.
pub fn from_git(root: &Path, suffix: &str) -> HashMap<String, Timestamp> {
    let git = Git::new(root);
    if !git.is_repo() {
        return HashMap::new();
    }
    let pathspec = format!("*{suffix}");
    let args = [
        "-c",
        "log.showSignature=false",
        "log",
        "--date-order",
        "--no-renames",
        "--no-textconv",
        "--no-ext-diff",
        "-z",
        "--name-only",
        "--format=%x1e%at%x1f%s%x1f",
        "--",
        &pathspec,
    ];
    match git.run(args) {
        Ok(out) => parse(&out.stdout, suffix),
        Err(_) => HashMap::new(),
    }
}

/// Reads `from_git`'s log, newest commit first: the first commit naming a file dates it.
fn parse(log: &[u8], suffix: &str) -> HashMap<String, Timestamp> {
    let mut dates = HashMap::new();
    for chunk in log.split(|&b| b == 0x1e) {
        let mut parts = chunk.splitn(3, |&b| b == 0x1f);
        let (Some(time), Some(subject), Some(files)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // pass's `init` (and coffer's `reencrypt`) write every file again, values unchanged.
        if subject.starts_with(b"Reencrypt ") {
            continue;
        }
        let Some(when) = std::str::from_utf8(time)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .and_then(|t| Timestamp::from_second(t).ok())
        else {
            continue;
        };
        for path in files.split(|&b| b == 0) {
            let path = path.trim_ascii_start();
            if let Ok(path) = std::str::from_utf8(path)
                && let Some(name) = path.strip_suffix(suffix)
                && !name.is_empty()
            {
                dates.entry(name.to_owned()).or_insert(when);
            }
        }
    }
    dates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_commit_naming_a_file_dates_it_and_reencryptions_do_not() {
        let log = "\u{1e}400\u{1f}Reencrypt password store using new GPG id x.\u{1f}\0\na.gpg\0b c/d.gpg\0\
                   \u{1e}300\u{1f}Edit password for a using vi.\u{1f}\0\na.gpg\0\
                   \u{1e}200\u{1f}Add given password for b c/d to store.\u{1f}\0\nb c/d.gpg\0\
                   \u{1e}100\u{1f}Add given password for a to store.\u{1f}\0\na.gpg\0notes.txt\0\
                   \u{1e}junk\u{1f}x\u{1f}\0\ne.gpg\0";
        let dates = parse(log.as_bytes(), ".gpg");
        let seconds = |name: &str| dates.get(name).map(|t| t.as_second());
        assert_eq!(seconds("a"), Some(300));
        assert_eq!(seconds("b c/d"), Some(200));
        assert_eq!(dates.len(), 2, "{dates:?}");
    }

    #[test]
    fn a_folder_without_a_repository_has_no_dates() {
        let t = tempfile::tempdir().unwrap();
        assert!(from_git(t.path(), ".gpg").is_empty());
    }
}
