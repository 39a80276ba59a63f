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

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {command} failed: {message}")]
    Failed { command: String, message: String },
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
            let command = args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .trim()
                .to_owned();
            Err(GitError::Failed { command, message })
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
        self.run(["commit", "-q", "-m", message])?;
        Ok(())
    }

    /// `git init` plus coffer's setup: attributes, textconv, no symlinks.
    pub fn init(&self, coffer_exe: &Path) -> Result<(), GitError> {
        self.run(["init", "-q"])?;
        self.configure(coffer_exe)
    }

    /// Sets the repository config coffer needs (docs/BEHAVIOUR.md §5).
    pub fn configure(&self, coffer_exe: &Path) -> Result<(), GitError> {
        let textconv = format!(
            "{} --no-agent textconv",
            shell_quote(&coffer_exe.to_string_lossy())
        );
        self.run(["config", "--local", "core.symlinks", "false"])?;
        self.run(["config", "--local", "diff.age.binary", "true"])?;
        self.run(["config", "--local", "diff.age.textconv", &textconv])?;
        self.run(["config", "--local", "diff.age.cachetextconv", "false"])?;
        Ok(())
    }
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
