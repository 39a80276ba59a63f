//! A throw-away vault for tests: a temporary HOME, a generated identity, a clean environment,
//! and helpers that run the real `coffer` binary.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use assert_cmd::Command;
use rexpect::session::{PtySession, spawn_command};
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

/// A throw-away coffer installation: its own HOME, runtime folder and (once initialised) store
/// and identity, deleted when dropped. Not to be confused with the library's `coffer::Vault`.
pub struct TestVault {
    pub dir: TempDir,
}

impl TestVault {
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
    pub fn tool(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear()
            .envs(self.envs())
            .current_dir(self.dir.path());
        cmd
    }

    /// `coffer` as a plain `std::process::Command` with the test environment, for control over
    /// its standard streams, signals or a pseudo-terminal.
    pub fn coffer(&self) -> std::process::Command {
        self.tool(coffer_bin())
    }

    /// `coffer ARGS` on a pseudo-terminal.
    pub fn spawn(&self, args: &[&str]) -> PtySession {
        let mut cmd = self.coffer();
        cmd.args(args);
        on_terminal(cmd)
    }

    /// `coffer ARGS` without a controlling terminal (`setsid -w`), so nothing can be asked.
    pub fn without_terminal(&self, args: &[&str]) -> std::process::Command {
        require_tool("setsid");
        let mut cmd = self.tool("setsid");
        cmd.arg("-w").arg(coffer_bin()).args(args);
        cmd
    }

    /// `coffer ARGS` without a controlling terminal, with `input` readable on descriptor 3 (for
    /// `--passphrase-fd 3`).
    pub fn with_fd3(&self, args: &[&str], input: &str) -> std::process::Command {
        require_tool("setsid");
        let (mut file, path) = tempfile::Builder::new()
            .prefix("fd3-")
            .tempfile_in(self.dir.path())
            .unwrap()
            .keep()
            .unwrap();
        file.write_all(input.as_bytes()).unwrap();
        let mut cmd = self.tool("sh");
        cmd.arg("-c")
            .arg(format!(
                "exec setsid -w '{}' \"$@\" 3<\"$0\"",
                coffer_bin().display()
            ))
            .arg(path)
            .args(args);
        cmd
    }

    /// A vault whose new identity is protected with `passphrase` (given on descriptor 3).
    pub fn protected(passphrase: &str) -> Self {
        let v = Self::bare();
        let out = v
            .with_fd3(
                &["init", "--passphrase-fd", "3"],
                &format!("{passphrase}\n"),
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        v
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

    /// Runs coffer with `args` and insists on success.
    /// Runs coffer, insists on exit `code` with one `coffer: ` line on stderr, returns it.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}{err}",
            stdout(&out)
        );
        assert!(err.starts_with("coffer: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        err
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "coffer {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    /// Runs git in `dir` with the test environment, whatever the outcome.
    pub fn try_git(&self, dir: &Path, args: &[&str]) -> Output {
        self.tool("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs git in `dir` with the test environment and insists on success.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Output {
        let out = self.try_git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} in {}: {}",
            dir.display(),
            stderr(&out)
        );
        out
    }

    /// Runs git in the store and insists on success; its stdout.
    pub fn store_git(&self, args: &[&str]) -> String {
        stdout(&self.git(&self.store(), args))
    }

    /// Decrypts `file` with the real `age` binary and `identity`, and insists on success.
    pub fn age_decrypt(&self, identity: &Path, file: &Path) -> Vec<u8> {
        require_tool("age");
        let out = self
            .tool("age")
            .arg("-d")
            .arg("-i")
            .arg(identity)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "age -d {}: {}",
            file.display(),
            stderr(&out)
        );
        out.stdout
    }

    /// Encrypts `data` into `out_file` with the real `age` binary (`args` name the recipients).
    pub fn age_encrypt<A: AsRef<OsStr>>(&self, args: &[A], out_file: &Path, data: &[u8]) {
        require_tool("age");
        let mut cmd = self.tool("age");
        cmd.args(args).arg("-o").arg(out_file);
        let out = output_with_stdin(&mut cmd, data);
        assert!(
            out.status.success(),
            "age -o {}: {}",
            out_file.display(),
            stderr(&out)
        );
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
        let out = self.git(&self.store(), &["log", "--format=%s"]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `cmd` on a pseudo-terminal that echoes what is typed, as a real one does (rexpect
/// turns echo off on its terminals, which would hide an answer a prompt failed to hide).
pub fn on_terminal(cmd: std::process::Command) -> PtySession {
    // Every command here comes from the harness, with a cleared and complete environment.
    let mut echoing = std::process::Command::new("sh");
    echoing
        .env_clear()
        .args(["-c", "stty echo && exec \"$@\"", "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => echoing.env(key, value),
            None => echoing.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        echoing.current_dir(dir);
    }
    spawn_command(echoing, Some(30_000)).unwrap()
}

/// Waits for a program on a pseudo-terminal to end and returns its exit code.
pub fn exit_code(p: &mut PtySession) -> i32 {
    p.exp_eof().unwrap();
    match p.process_mut().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("unexpected status {other:?}"),
    }
}

/// Runs `cmd` with `input` on its stdin and collects its output.
pub fn output_with_stdin(cmd: &mut std::process::Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A bare git repository to act as a shared remote: the folder that holds it, and its path.
pub fn bare_remote() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remote.git");
    let out = std::process::Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["init", "--bare", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, path)
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

/// stdout parsed as JSON (a `--json` report); a clear failure when it is not JSON.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Stops the vault's agent when the test ends, however it ends.
pub struct StopsAgent<'a>(pub &'a TestVault);

impl Drop for StopsAgent<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd().args(["agent", "stop"]).output();
    }
}

/// The ref a `sync --resolve` message names (`… --revision REF` …).
pub fn named_ref(message: &str) -> String {
    message
        .split("--revision ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no ref named in {message:?}"))
        .to_owned()
}

/// With every reflog expired and `git gc --prune=now` run, `name` at `refname` (a side a
/// resolved conflict set aside) still reads `value`, and `history` lists the ref.
pub fn kept_aside_survives_gc(v: &TestVault, name: &str, refname: &str, value: &[u8]) {
    v.git(&v.store(), &["reflog", "expire", "--expire=now", "--all"]);
    v.git(&v.store(), &["gc", "--quiet", "--prune=now"]);
    let kept = v.run_ok(&["show", name, "--revision", refname]);
    assert_eq!(kept.stdout, value);
    let history = stdout(&v.run_ok(&["history", name]));
    assert!(history.contains(refname), "{history}");
}

/// Publishes `owner`'s store: a new bare remote as `origin`, pushed by `coffer sync`. The
/// folder keeps the remote alive; the string is its URL.
pub fn publish(owner: &TestVault) -> (TempDir, String) {
    let (dir, remote) = bare_remote();
    let remote = remote.display().to_string();
    owner.run_ok(&["git", "remote", "add", "origin", &remote]);
    owner.run_ok(&["sync"]);
    (dir, remote)
}

/// A new teammate who clones the vault at `remote` (an identity without a passphrase), and the
/// recipient line `clone` printed for them to send.
pub fn clone_as_teammate(remote: &str) -> (TestVault, String) {
    let member = TestVault::bare();
    let key = stdout(&member.run_ok(&["clone", "--no-passphrase", remote]))
        .trim()
        .to_owned();
    (member, key)
}
