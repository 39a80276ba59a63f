//! A throw-away vault for tests: a temporary HOME, a generated identity, a clean environment,
//! and helpers that run the real `coffer` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

/// The coffer binary under test.
pub fn coffer_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("coffer")
}

/// Fails loudly when a tool the test needs is missing: CI must install it (see `.ci/run`).
pub fn require_tool(tool: &str) {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` on PATH; .ci/run installs it (apt-get install …)"
    );
}

pub struct Vault {
    pub dir: TempDir,
}

impl Vault {
    /// A home with nothing in it yet (no store, no identity).
    pub fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        // Each vault has its own runtime folder, so agents of different tests never meet; an
        // agent exits by itself once its socket disappears with the folder.
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Self { dir }
    }

    /// A vault initialised with an unprotected generated identity.
    pub fn new() -> Self {
        let v = Self::bare();
        v.cmd().args(["init", "--no-passphrase"]).assert().success();
        v
    }

    /// A vault whose store is a git repository.
    pub fn with_git() -> Self {
        let v = Self::bare();
        v.cmd()
            .args(["init", "--no-passphrase", "--git"])
            .assert()
            .success();
        v
    }

    /// The agent's socket for this vault.
    pub fn agent_socket(&self) -> PathBuf {
        self.dir.path().join("run/coffer/agent.sock")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home().join(".local/share/coffer")
    }

    pub fn store(&self) -> PathBuf {
        self.data_dir().join("store")
    }

    pub fn identities(&self) -> PathBuf {
        self.data_dir().join("identities")
    }

    /// The age file of a secret.
    pub fn path(&self, name: &str) -> PathBuf {
        self.store().join(format!("{name}.age"))
    }

    /// The environment every coffer (and age, git) process in a test gets: nothing from the
    /// developer's own session leaks in.
    pub fn envs(&self) -> Vec<(String, String)> {
        let home = self.home();
        vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_DATA_HOME".into(),
                home.join(".local/share").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "XDG_RUNTIME_DIR".into(),
                self.dir.path().join("run").display().to_string(),
            ),
            ("LANG".into(), "C".into()),
            ("GIT_AUTHOR_NAME".into(), "Test".into()),
            ("GIT_AUTHOR_EMAIL".into(), "test@example.invalid".into()),
            ("GIT_COMMITTER_NAME".into(), "Test".into()),
            ("GIT_COMMITTER_EMAIL".into(), "test@example.invalid".into()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("EDITOR".into(), "false".into()),
        ]
    }

    /// `coffer` with the test environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(coffer_bin());
        cmd.env_clear()
            .envs(self.envs())
            .current_dir(self.dir.path());
        cmd
    }

    /// Any program with the test environment.
    pub fn tool(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear()
            .envs(self.envs())
            .current_dir(self.dir.path());
        cmd
    }

    /// Stores `content` byte-exact under `name`.
    pub fn insert(&self, name: &str, content: impl AsRef<[u8]>) {
        self.cmd()
            .args(["insert", "-m", "-f", name])
            .write_stdin(content.as_ref().to_vec())
            .assert()
            .success();
    }

    /// `insert -m NAME` with `content` on stdin, whatever the outcome.
    pub fn try_insert(&self, name: &str, content: impl AsRef<[u8]>) -> Output {
        self.cmd()
            .args(["insert", "-m", name])
            .write_stdin(content.as_ref().to_vec())
            .output()
            .unwrap()
    }

    /// The decrypted content of `name`.
    pub fn show(&self, name: &str) -> Vec<u8> {
        let out = self.cmd().args(["show", name]).output().unwrap();
        assert!(
            out.status.success(),
            "show {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs coffer with `args` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// This vault's own recipient (from the identity file's `# public key:` comment).
    pub fn recipient(&self) -> String {
        let text = std::fs::read_to_string(self.identities()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("identity file has a public key comment")
            .to_owned()
    }

    /// Commit subjects in the store's git log, newest first.
    pub fn git_log(&self) -> Vec<String> {
        let out = self
            .tool("git")
            .args(["-C", self.store().to_str().unwrap(), "log", "--format=%s"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Every file below `dir`, relative, sorted (to assert that nothing else was written).
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
