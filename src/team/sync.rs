//! Syncing a store with its git remote: fetch, fast-forward or rebase, push.
//!
//! `.gitattributes` marks `*.age` as `-merge`, so git never merges ciphertext as text: when
//! this device and the remote both changed a secret, the rebase stops with the secret
//! unmerged and both versions in git's index (and in their commits), nothing lost. The user
//! picks one with [`resolve`], and [`sync`] carries on. Recipient changes a pull brings are
//! not acted on here: trust pinning refuses to encrypt to them until they are accepted.

use crate::store::name::SecretName;
use crate::team::git::{Git, GitError};

/// How many times a push that lost a race is retried (fetch, rebase, push again).
const PUSH_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "the store is not a git repository; join a team vault with `coffer clone URL`, or run `coffer git init` and add a remote"
    )]
    NotARepo,
    #[error(
        "the store has no git remote to sync with; add one with `coffer git remote add origin URL`"
    )]
    NoRemote,
    #[error(
        "the store is not on a branch (detached HEAD); check it out with `coffer git checkout BRANCH`"
    )]
    Detached,
    #[error("{}", conflict_message(.secrets, .others))]
    Conflict {
        /// Secrets changed both here and on the remote.
        secrets: Vec<String>,
        /// Other files in conflict (recipients files, marks).
        others: Vec<String>,
    },
    #[error(
        "the store has changes that are not committed ({0}); commit them with `coffer git commit -a` or undo them with `coffer git checkout -- FILE`, then sync"
    )]
    Uncommitted(String),
    #[error("{0} is not waiting to be resolved; `coffer git status` shows what is")]
    NotConflicted(String),
    #[error("no sync is waiting to be resolved")]
    NothingToResolve,
    #[error(transparent)]
    Git(#[from] GitError),
}

fn conflict_message(secrets: &[String], others: &[String]) -> String {
    let mut parts = Vec::new();
    if !secrets.is_empty() {
        let example = &secrets[0];
        parts.push(format!(
            "sync stopped: {} changed both on this device and on the remote; both versions are kept; keep one with `coffer sync --resolve {example} --ours` (this device's) or `--theirs` (the remote's)",
            secrets.join(", ")
        ));
    }
    if !others.is_empty() {
        parts.push(format!(
            "{} {} in conflict; fix with `coffer git` (then `coffer git add FILE`) and run `coffer sync` again",
            others.join(", "),
            if others.len() == 1 { "is" } else { "are" }
        ));
    }
    if secrets.is_empty() {
        format!("sync stopped: {}", parts.join("; "))
    } else {
        parts.join("; ")
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Commits taken from the remote.
    pub pulled: usize,
    /// Commits sent to the remote.
    pub pushed: usize,
    /// The remote branch, as `origin/main`.
    pub upstream: String,
}

/// Which version of a conflicted secret to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This device's version.
    Ours,
    /// The remote's version.
    Theirs,
}

/// Fetches; fast-forwards, or rebases this device's commits on the remote's; pushes.
pub fn sync(git: &Git) -> Result<Synced, SyncError> {
    if !git.is_repo() {
        return Err(SyncError::NotARepo);
    }
    if let Some(state) = pending(git)? {
        let left = conflicts(git)?;
        if !left.is_empty() {
            return Err(conflict_error(left));
        }
        continue_pending(git, state)?;
    }
    refuse_uncommitted(git)?;
    let branch = current_branch(git)?;
    let mut synced = Synced::default();
    let (remote, merge_ref) = match upstream(git, &branch)? {
        Some(u) => u,
        None => {
            let remote = default_remote(git)?;
            git.run(["fetch", "--quiet", "--", &remote])?;
            let tracking = format!("refs/remotes/{remote}/{branch}");
            if ok(git, &["rev-parse", "--verify", "--quiet", &tracking])? {
                git.run([
                    "branch",
                    "--quiet",
                    &format!("--set-upstream-to={remote}/{branch}"),
                ])?;
            } else {
                // An empty remote: this device's history becomes the team's.
                let count = count(git, "HEAD")?;
                git.run([
                    "push",
                    "--quiet",
                    "--set-upstream",
                    &remote,
                    &format!("HEAD:refs/heads/{branch}"),
                ])?;
                synced.pushed = count;
                synced.upstream = format!("{remote}/{branch}");
                return Ok(synced);
            }
            (remote, format!("refs/heads/{branch}"))
        }
    };
    synced.upstream = format!(
        "{remote}/{}",
        merge_ref.strip_prefix("refs/heads/").unwrap_or(&merge_ref)
    );
    for attempt in 1..=PUSH_ATTEMPTS {
        git.run(["fetch", "--quiet", "--", &remote])?;
        let (ahead, behind) = ahead_behind(git)?;
        if behind > 0 {
            if ahead == 0 {
                git.run(["merge", "--ff-only", "--quiet", "@{u}"])?;
            } else {
                rebase(git)?;
            }
            synced.pulled += behind;
        }
        let (ahead, _) = ahead_behind(git)?;
        if ahead == 0 {
            return Ok(synced);
        }
        match git.run(["push", "--quiet", &remote, &format!("HEAD:{merge_ref}")]) {
            Ok(_) => {
                synced.pushed += ahead;
                return Ok(synced);
            }
            // Someone pushed in between: take their commits and try again.
            Err(GitError::Failed { .. }) if attempt < PUSH_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(synced)
}

/// The version a `resolve` did not keep: the commit holding it and the ref that keeps that
/// commit from `git gc` (see [`crate::team::history::CONFLICT_REFS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAside {
    pub commit: String,
    pub refname: String,
}

/// Keeps one version of a secret that a sync left in conflict, and, when nothing else is
/// left, finishes the stopped rebase. The version not kept stays reachable under a ref in
/// [`crate::team::history::CONFLICT_REFS`], which is returned.
pub fn resolve(git: &Git, name: &SecretName, side: Side) -> Result<Option<KeptAside>, SyncError> {
    let path = name.relative_path();
    let path = path.as_str();
    let state = pending(git)?.ok_or(SyncError::NothingToResolve)?;
    let stages = unmerged_stages(git, path)?;
    if stages.is_empty() {
        return Err(SyncError::NotConflicted(path.to_owned()));
    }
    // In a rebase git's "ours" is the remote's side (the branch being rebased onto) and
    // "theirs" is this device's commit being replayed; in a merge it is the other way round.
    let (device_flag, remote_flag, device_stage) = match state {
        Pending::Rebase => ("--theirs", "--ours", 3),
        Pending::Merge => ("--ours", "--theirs", 2),
    };
    let (flag, stage, other) = match side {
        Side::Ours => (
            device_flag,
            device_stage,
            other_commit(git, state, Side::Theirs),
        ),
        Side::Theirs => (
            remote_flag,
            5 - device_stage,
            other_commit(git, state, Side::Ours),
        ),
    };
    // First, so that nothing below can lose it: `git gc` keeps what a ref holds.
    let kept = match other {
        Some(commit) => {
            let refname = crate::team::history::conflict_ref(name, jiff::Timestamp::now());
            git.run(["update-ref", &refname, &commit])?;
            Some(KeptAside { commit, refname })
        }
        None => None,
    };
    if stages.contains(&stage) {
        git.run(["checkout", flag, "--", path])?;
        git.run(["add", "--", path])?;
    } else {
        // The side we keep deleted the secret.
        git.run(["rm", "--quiet", "--", path])?;
    }
    if conflicts(git)?.is_empty() {
        continue_pending(git, state)?;
    }
    Ok(kept)
}

/// The paths (relative to the store) git has left unmerged.
pub fn conflicts(git: &Git) -> Result<Vec<String>, SyncError> {
    Ok(git.unmerged()?)
}

/// Whether a stopped sync is waiting to be resolved.
pub fn is_pending(git: &Git) -> Result<bool, SyncError> {
    Ok(git.is_repo() && pending(git)?.is_some())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Rebase,
    Merge,
}

fn pending(git: &Git) -> Result<Option<Pending>, SyncError> {
    // One git for the three markers: this runs before every sync and in every fsck.
    let [rebase_merge, rebase_apply, merge_head] =
        git.git_paths(["rebase-merge", "rebase-apply", "MERGE_HEAD"])?;
    Ok(if rebase_merge.exists() || rebase_apply.exists() {
        Some(Pending::Rebase)
    } else if merge_head.exists() {
        Some(Pending::Merge)
    } else {
        None
    })
}

fn continue_pending(git: &Git, state: Pending) -> Result<(), SyncError> {
    let result = match state {
        Pending::Rebase => git.run(["-c", "core.editor=true", "rebase", "--continue"]),
        Pending::Merge => git.run(["-c", "core.editor=true", "commit", "--no-edit", "--quiet"]),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let left = conflicts(git)?;
            if left.is_empty() {
                Err(e.into())
            } else {
                Err(conflict_error(left))
            }
        }
    }
}

fn rebase(git: &Git) -> Result<(), SyncError> {
    match git.run(["-c", "core.editor=true", "rebase", "--quiet", "@{u}"]) {
        Ok(_) => Ok(()),
        Err(e) => {
            let left = conflicts(git)?;
            if left.is_empty() {
                // Not a conflict (a dirty work tree, say): leave things as they were.
                if pending(git)?.is_some() {
                    let _ = git.run(["rebase", "--abort"]);
                }
                Err(e.into())
            } else {
                Err(conflict_error(left))
            }
        }
    }
}

fn conflict_error(paths: Vec<String>) -> SyncError {
    let (secrets, others): (Vec<String>, Vec<String>) = paths
        .into_iter()
        .partition(|p| p.ends_with(crate::store::AGE_SUFFIX));
    let secrets = secrets
        .into_iter()
        .map(|p| {
            p.strip_suffix(crate::store::AGE_SUFFIX)
                .unwrap_or(&p)
                .to_owned()
        })
        .collect();
    SyncError::Conflict { secrets, others }
}

fn unmerged_stages(git: &Git, path: &str) -> Result<Vec<u8>, SyncError> {
    let out = git.run(["ls-files", "--unmerged", "-z", "--", path])?;
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let meta = text.split('\t').next()?;
            meta.split_whitespace().nth(2)?.parse().ok()
        })
        .collect())
}

/// The commit holding the side not kept: this device's commit being replayed, or the
/// remote's tip.
fn other_commit(git: &Git, state: Pending, side: Side) -> Option<String> {
    let rev = match (state, side) {
        (Pending::Rebase, Side::Ours) => "REBASE_HEAD",
        (Pending::Rebase, Side::Theirs) => "HEAD",
        (Pending::Merge, Side::Ours) => "HEAD",
        (Pending::Merge, Side::Theirs) => "MERGE_HEAD",
    };
    let out = git.run(["rev-parse", "--verify", "--quiet", rev]).ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!sha.is_empty()).then_some(sha)
}

/// A rebase would refuse (or carry along) hand-made changes to tracked files: say so first.
fn refuse_uncommitted(git: &Git) -> Result<(), SyncError> {
    let out = git.run(["status", "--porcelain", "--untracked-files=no", "-z"])?;
    let changed: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|entry| entry.len() > 3)
        .map(|entry| String::from_utf8_lossy(&entry[3..]).into_owned())
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(SyncError::Uncommitted(changed.join(", ")))
    }
}

fn current_branch(git: &Git) -> Result<String, SyncError> {
    let out = git
        .run(["symbolic-ref", "--quiet", "--short", "HEAD"])
        .map_err(|_| SyncError::Detached)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The remote and the remote ref the branch tracks, if it tracks one.
fn upstream(git: &Git, branch: &str) -> Result<Option<(String, String)>, SyncError> {
    let get = |key: String| -> Result<Option<String>, SyncError> {
        let out = git
            .command()
            .args(["config", "--get", &key])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(GitError::Spawn)?;
        let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok((out.status.success() && !value.is_empty()).then_some(value))
    };
    let remote = get(format!("branch.{branch}.remote"))?;
    let merge = get(format!("branch.{branch}.merge"))?;
    Ok(remote.zip(merge))
}

fn default_remote(git: &Git) -> Result<String, SyncError> {
    let out = git.run(["remote"])?;
    let remotes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if remotes.iter().any(|r| r == "origin") {
        return Ok("origin".to_owned());
    }
    remotes.into_iter().next().ok_or(SyncError::NoRemote)
}

/// Whether the store's repository has a remote to sync with.
pub fn has_remote(git: &Git) -> Result<bool, SyncError> {
    let out = git.run(["remote"])?;
    Ok(!out.stdout.iter().all(u8::is_ascii_whitespace))
}

fn ok(git: &Git, args: &[&str]) -> Result<bool, SyncError> {
    Ok(git
        .command()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(GitError::Spawn)?
        .success())
}

fn count(git: &Git, rev: &str) -> Result<usize, SyncError> {
    let out = git.run(["rev-list", "--count", rev])?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

fn ahead_behind(git: &Git) -> Result<(usize, usize), SyncError> {
    let out = git.run(["rev-list", "--left-right", "--count", "HEAD...@{u}"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().map(|n| n.parse().unwrap_or(0));
    Ok((numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_told_apart_and_named() {
        let e = conflict_error(vec![
            "team/db.age".into(),
            ".age-recipients".into(),
            "web.age".into(),
        ]);
        let text = e.to_string();
        assert!(text.contains("team/db, web changed both"), "{text}");
        assert!(text.contains("--resolve team/db --ours"), "{text}");
        assert!(text.contains(".age-recipients is in conflict"), "{text}");
        assert!(!text.contains('\n'));
        let only_other = conflict_error(vec![".age-recipients".into()]).to_string();
        assert!(
            only_other.starts_with("sync stopped: .age-recipients is"),
            "{only_other}"
        );
    }
}
