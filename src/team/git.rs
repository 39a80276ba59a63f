//! git, the way pass drives it: every change to a store that is a git work tree is committed.
//!
//! git runs with the variables that could point it at another repository removed, and with
//! `GIT_CEILING_DIRECTORIES` set to the store's parent, so it only ever sees the store's own
//! repository. Paths always come after `--`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `.gitattributes` line that keeps git from treating ciphertext as text or merging it.
pub const GITATTRIBUTES: &str = "*.age -text -merge diff=age\n";

/// What coffer writes to `.git/info/attributes`, which outranks every `.gitattributes` in
/// the tree: a teammate's pushed `*.age text eol=crlf` (or a filter, `ident`, an encoding)
/// must not rewrite ciphertext or recipients files on checkout (docs/BEHAVIOUR.md §5).
pub const INFO_ATTRIBUTES: &str = "# Written by coffer: these win over any .gitattributes in the store.\n\
*.age -text -merge diff=age -ident -filter -working-tree-encoding -eol\n\
.age-recipients -text -merge -ident -filter -working-tree-encoding -eol\n";

/// The commit message for what an interrupted coffer command left uncommitted.
pub const LEFTOVERS_MESSAGE: &str = "Commit changes left by an interrupted coffer command.";

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {command} failed: {message}")]
    Failed { command: String, message: String },
    #[error(
        "a sync is waiting to be resolved ({what}); nothing was changed: finish it with `coffer sync --resolve NAME --ours|--theirs` (or `coffer git status` to see what is left) first"
    )]
    Unresolved { what: String },
    #[error(
        "git's index is locked by {}: nothing was changed; if no git command is running, an interrupted one left it behind: remove that file and try again",
        .0.display()
    )]
    IndexLocked(PathBuf),
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A change git sees in the work tree: the path (relative to the store) and whether the
/// file is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkTreeChange {
    pub path: PathBuf,
    pub deleted: bool,
}

/// A git repository whose work tree is the store.
#[derive(Debug, Clone)]
pub struct Git {
    store: PathBuf,
}

const SCRUBBED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
];

impl Git {
    pub fn new(store: &Path) -> Self {
        Self {
            store: store.to_owned(),
        }
    }

    /// Whether the store has its own repository (`store/.git`), as pass checks.
    pub fn is_repo(&self) -> bool {
        self.store.join(".git").exists()
    }

    /// A `git` command set up to run in the store.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.store);
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        let ceiling = self.store.parent().unwrap_or(&self.store);
        cmd.env("GIT_CEILING_DIRECTORIES", ceiling);
        cmd
    }

    /// Whether git can make commits here (it knows who is committing), asked before anything
    /// is created: `None` if it can, else git's whole explanation ("Author identity unknown
    /// … Please tell me who you are …"), for the user to act on. Works before the store
    /// exists.
    pub fn identity_problem(&self) -> Option<String> {
        let mut cmd = self.command();
        // The store may not exist yet: ask from the nearest folder that does.
        let here = self
            .store
            .ancestors()
            .find(|dir| dir.is_dir())
            .unwrap_or(Path::new("/"));
        cmd.current_dir(here);
        let output = match cmd
            .args(["var", "GIT_COMMITTER_IDENT"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(output) => output,
            Err(e) => return Some(format!("cannot run git: {e}")),
        };
        if output.status.success() {
            return None;
        }
        let advice = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Some(advice)
    }

    /// Runs git with `args`, capturing its output; fails with git's own message.
    pub fn run<I, S>(&self, args: I) -> Result<Output, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let output = self
            .command()
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(GitError::Spawn)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(&args, &output))
        }
    }

    /// Stages `paths` (added, changed or removed) and commits them with `message`, if the
    /// store is a repository. Nothing to commit is not an error.
    pub fn commit(&self, paths: &[PathBuf], message: &str) -> Result<(), GitError> {
        if !self.is_repo() {
            return Ok(());
        }
        // `git add` refuses a path that matches nothing, so paths that are gone (removed
        // secrets and folders) are dropped from the index instead.
        let (present, gone): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
            .iter()
            .partition(|p| self.store.join(p).symlink_metadata().is_ok());
        if !present.is_empty() {
            let mut add: Vec<&OsStr> = vec!["add".as_ref(), "-A".as_ref(), "--".as_ref()];
            add.extend(present.iter().map(|p| p.as_os_str()));
            self.run(&add)?;
        }
        if !gone.is_empty() {
            let mut rm: Vec<&OsStr> = ["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--"]
                .iter()
                .map(OsStr::new)
                .collect();
            rm.extend(gone.iter().map(|p| p.as_os_str()));
            self.run(&rm)?;
        }
        let staged = self
            .command()
            .args([
                "diff",
                "--cached",
                "--quiet",
                "--no-textconv",
                "--no-ext-diff",
            ])
            .stdin(Stdio::null())
            .status()
            .map_err(GitError::Spawn)?;
        if staged.success() {
            return Ok(());
        }
        // On standard input: an import's trailers can outgrow one command-line argument.
        self.run_with_input(["commit", "-q", "--cleanup=whitespace", "-F", "-"], message)?;
        Ok(())
    }

    /// [`Git::run`] with `input` on git's standard input.
    fn run_with_input<I, S>(&self, args: I, input: &str) -> Result<Output, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .command()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let stdin = child.stdin.take();
        let output = std::thread::scope(|scope| {
            scope.spawn(move || {
                if let Some(mut stdin) = stdin {
                    // git may stop reading early; its exit status tells what happened.
                    let _ = std::io::Write::write_all(&mut stdin, input.as_bytes());
                }
            });
            child.wait_with_output()
        })
        .map_err(GitError::Spawn)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(&args, &output))
        }
    }

    /// Where `rel` (`index.lock`, `MERGE_HEAD`, …) lives in the repository's git folder.
    /// In the common case, `.git` a folder of its own, that is `.git/rel` and no git needs to
    /// run (this is asked before every write and by every `fsck`); a `.git` file (a linked
    /// worktree, a submodule) or link, or a folder naming a common one, is left to git.
    pub(crate) fn git_paths<const N: usize>(
        &self,
        rels: [&str; N],
    ) -> Result<[PathBuf; N], GitError> {
        let dot_git = self.store.join(".git");
        let own_folder = dot_git.symlink_metadata().is_ok_and(|m| m.is_dir())
            && dot_git.join("commondir").symlink_metadata().is_err();
        if own_folder {
            return Ok(rels.map(|rel| dot_git.join(rel)));
        }
        let mut args = vec!["rev-parse"];
        for rel in rels {
            args.extend(["--git-path", rel]);
        }
        let out = self.run(&args)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        Ok(rels.map(|rel| {
            let p = PathBuf::from(lines.next().unwrap_or(rel));
            if p.is_absolute() {
                p
            } else {
                self.store.join(p)
            }
        }))
    }

    /// Refuses, before anything is written, while git is in the middle of something a write
    /// would end up inside: a stopped rebase or merge (the write would ride along in the
    /// resolved commit), or an index locked by a git that is running or was killed.
    pub fn check_writable(&self) -> Result<(), GitError> {
        if !self.is_repo() {
            return Ok(());
        }
        let [
            rebase_merge,
            rebase_apply,
            merge,
            cherry_pick,
            revert,
            index_lock,
        ] = self.git_paths([
            "rebase-merge",
            "rebase-apply",
            "MERGE_HEAD",
            "CHERRY_PICK_HEAD",
            "REVERT_HEAD",
            "index.lock",
        ])?;
        let operation = if rebase_merge.exists() || rebase_apply.exists() {
            Some("a rebase")
        } else if merge.exists() {
            Some("a merge")
        } else if cherry_pick.exists() {
            Some("a cherry-pick")
        } else if revert.exists() {
            Some("a revert")
        } else {
            None
        };
        let unmerged = self.unmerged()?;
        if operation.is_some() || !unmerged.is_empty() {
            let mut what = format!("{} stopped", operation.unwrap_or("git"));
            if !unmerged.is_empty() {
                what.push_str(&format!(" with {} unmerged", unmerged.join(", ")));
            }
            return Err(GitError::Unresolved { what });
        }
        if index_lock.symlink_metadata().is_ok() {
            return Err(GitError::IndexLocked(index_lock));
        }
        Ok(())
    }

    /// The paths (relative to the store) git's index holds unmerged, sorted. Read from the
    /// index alone (`ls-files -u`): `diff --diff-filter=U` would also look at every file of
    /// the work tree (33 ms of `fsck` in a store of 10,000 secrets, against 2 ms).
    pub fn unmerged(&self) -> Result<Vec<String>, GitError> {
        let out = self.run(["ls-files", "--unmerged", "-z"])?;
        // One record per stage: `MODE OBJECT STAGE<TAB>PATH`.
        let mut paths: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter_map(|record| {
                let tab = record.iter().position(|b| *b == b'\t')?;
                Some(String::from_utf8_lossy(&record[tab + 1..]).into_owned())
            })
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Uncommitted changes (tracked or not) to the files coffer manages: secrets, recipients
    /// files and `.coffer/` (its own `.gitignore` aside).
    pub fn uncommitted_coffer_files(&self) -> Result<Vec<WorkTreeChange>, GitError> {
        if !self.is_repo() {
            return Ok(Vec::new());
        }
        let out = self.run([
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            ":(glob)**/*.age",
            ":(glob)**/.age-recipients",
            ".coffer",
            ":(exclude).coffer/.gitignore",
        ])?;
        Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|entry| entry.len() > 3)
            .map(|entry| WorkTreeChange {
                path: PathBuf::from(String::from_utf8_lossy(&entry[3..]).into_owned()),
                deleted: entry[..2].contains(&b'D'),
            })
            .collect())
    }

    /// `git init` plus coffer's setup: attributes, textconv, no symlinks.
    pub fn init(&self, coffer_exe: &Path) -> Result<(), GitError> {
        self.run(["init", "-q"])?;
        self.configure(coffer_exe)
    }

    /// Sets the repository config coffer needs (docs/BEHAVIOUR.md §5).
    pub fn configure(&self, coffer_exe: &Path) -> Result<(), GitError> {
        // Through the agent, as every command: an unlocked identity serves `git log -p`
        // without a prompt per blob (docs/BEHAVIOUR.md §4).
        let textconv = format!("{} textconv", shell_quote(&coffer_exe.to_string_lossy()));
        self.run(["config", "--local", "core.symlinks", "false"])?;
        self.run(["config", "--local", "diff.age.binary", "true"])?;
        self.run(["config", "--local", "diff.age.textconv", &textconv])?;
        self.run(["config", "--local", "diff.age.cachetextconv", "false"])?;
        self.write_info_attributes()
    }

    /// Whether `.git/info/attributes` starts with coffer's rules (as
    /// [`Git::write_info_attributes`] leaves it).
    pub fn has_info_attributes(&self) -> Result<bool, GitError> {
        let [path] = self.git_paths(["info/attributes"])?;
        Ok(std::fs::read_to_string(&path).is_ok_and(|text| text.starts_with(INFO_ATTRIBUTES)))
    }

    /// Writes coffer's attributes to `.git/info/attributes`, where they outrank whatever the
    /// tree's `.gitattributes` say (docs/BEHAVIOUR.md §5). Lines the user added are kept.
    pub fn write_info_attributes(&self) -> Result<(), GitError> {
        let [path] = self.git_paths(["info/attributes"])?;
        let io = |source| GitError::Io {
            path: path.clone(),
            source,
        };
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        if old.starts_with(INFO_ATTRIBUTES) {
            return Ok(());
        }
        let theirs: String = old
            .lines()
            .filter(|l| !INFO_ATTRIBUTES.lines().any(|ours| ours == *l))
            .map(|l| format!("{l}\n"))
            .collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, format!("{INFO_ATTRIBUTES}{theirs}").as_bytes())
            .map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// A failed git command, named by its first argument, with git's own message.
fn failed(args: &[std::ffi::OsString], output: &Output) -> GitError {
    let command = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    GitError::Failed {
        command,
        message: main_line(&stderr),
    }
}

/// The line of git's stderr that says what went wrong: its last `fatal:`/`error:` line (the
/// lines after it are advice), else its last line.
fn main_line(stderr: &str) -> String {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .rfind(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| lines().next_back())
        .unwrap_or("no message")
        .to_owned()
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
