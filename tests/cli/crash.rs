//! Crash points: each write command is killed (SIGKILL, through `strace`'s fault injection)
//! just before its K-th call of a file-system system call, and then the vault must hold every
//! secret at its old or its new value (checked with the real `age`), must work for the next
//! command without repair, must sweep the temporary files the killed writer left, and must
//! have no plaintext lying around.
//!
//! `cargo test` tries a handful of kill points; `fuzz/crash-sweep.sh` tries every one
//! (`COFFER_CRASH_SWEEP=full`) and prints the figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

/// The system calls a kill lands before: everything that opens, writes, syncs, renames or
/// removes files.
const SYSCALLS: &[&str] = &[
    "openat",
    "write",
    "fsync",
    "fdatasync",
    "renameat",
    "renameat2",
    "rename",
    "unlinkat",
    "mkdirat",
    "ftruncate",
];

/// Marks every value, so that any file holding plaintext can be found by content.
const MARK: &str = "PLAINTEXT-MARK-7f3a";

/// What a secret may be after a killed command.
#[derive(Clone, Debug)]
enum Allowed {
    Absent,
    Value(String),
    /// A generated password of this length.
    Generated(usize),
}

impl Allowed {
    fn admits(&self, found: Option<&str>) -> bool {
        match (self, found) {
            (Allowed::Absent, None) => true,
            (Allowed::Value(v), Some(f)) => v == f,
            (Allowed::Generated(n), Some(f)) => f.trim_end().chars().count() == *n,
            _ => false,
        }
    }
}

fn val(s: &str) -> Allowed {
    Allowed::Value(format!("{s} {MARK}\n"))
}

/// One write command, run on a vault prepared the same way each time.
struct Scenario {
    name: &'static str,
    args: Vec<String>,
    stdin: Option<String>,
    /// Name → what it may be after a kill (names not listed must keep their base value).
    allowed: Vec<(&'static str, Vec<Allowed>)>,
    /// Values that must still be found under some name (a move must not lose its secret).
    conserved: Vec<Allowed>,
    /// `init` runs in a bare home.
    bare: bool,
}

fn scenario(name: &'static str, args: &[&str]) -> Scenario {
    Scenario {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
        allowed: Vec::new(),
        conserved: Vec::new(),
        bare: false,
    }
}

impl Scenario {
    fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.to_owned());
        self
    }
    fn may(mut self, name: &'static str, allowed: Vec<Allowed>) -> Self {
        self.allowed.push((name, allowed));
        self
    }
    fn keeps(mut self, value: Allowed) -> Self {
        self.conserved.push(value);
        self
    }
}

/// The secrets every vault starts with.
const BASE: &[&str] = &["a", "web/shop", "team/db"];

fn scenarios(second_key: &str) -> Vec<Scenario> {
    let old = |n: &str| val(&format!("old {n}"));
    vec![
        scenario("insert", &["insert", "-m", "new"])
            .stdin(&format!("new value {MARK}\n"))
            .may("new", vec![Allowed::Absent, val("new value")]),
        scenario("insert-overwrite", &["insert", "-m", "-f", "a"])
            .stdin(&format!("new a {MARK}\n"))
            .may("a", vec![old("a"), val("new a")]),
        scenario("generate", &["generate", "gen", "20"])
            .may("gen", vec![Allowed::Absent, Allowed::Generated(20)]),
        scenario("edit", &["edit", "a"]).may("a", vec![old("a"), val("edited a")]),
        scenario("rm", &["rm", "-f", "a"]).may("a", vec![old("a"), Allowed::Absent]),
        scenario("mv", &["mv", "a", "moved/a"])
            .may("a", vec![old("a"), Allowed::Absent])
            .may("moved/a", vec![Allowed::Absent, old("a")])
            .keeps(old("a")),
        scenario("cp", &["cp", "web/shop", "copy"])
            .may("copy", vec![Allowed::Absent, old("web/shop")]),
        scenario("reencrypt", &["reencrypt"]),
        scenario(
            "recipients-add",
            &["recipients", "add", "-p", "team", second_key],
        ),
        scenario(
            "recipients-rm",
            &["recipients", "rm", "-p", "web", second_key],
        ),
        scenario(
            "import",
            &["import", "dotenv", "input/app.env", "--prefix", "imp"],
        )
        .may("imp/ONE", vec![Allowed::Absent, val("one")])
        .may("imp/TWO", vec![Allowed::Absent, val("two")]),
        Scenario {
            bare: true,
            ..scenario("init", &["init", "--no-passphrase"])
        },
    ]
}

/// A second recipient's public key, the same for every vault of the run (only the public
/// key is kept: it is never used to decrypt).
fn second_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let out = Command::new("age-keygen").output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned()
    })
}

/// A vault in the state every scenario starts from.
struct Setup {
    vault: TestVault,
}

fn setup(bare: bool) -> Setup {
    let second_key = second_key();
    let vault = TestVault::bare();
    let input = vault.dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(
        input.join("app.env"),
        format!("ONE=\"one {MARK}\\n\"\nTWO=\"two {MARK}\\n\"\n"),
    )
    .unwrap();
    // The editor `edit` runs: replaces the file with the new value.
    let editor = input.join("editor");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\nprintf 'edited a {MARK}\\n' > \"$1\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    if !bare {
        vault
            .cmd()
            .args(["init", "--no-passphrase"])
            .assert()
            .success();
        for name in BASE {
            vault.insert(name, format!("old {name} {MARK}\n"));
        }
        for folder in ["team", "web"] {
            vault
                .cmd()
                .args(["recipients", "add", "-p", folder, second_key])
                .assert()
                .success();
        }
        // `recipients add` to team re-adds a key it has: start team from the store's own.
        vault
            .cmd()
            .args(["recipients", "rm", "-p", "team", second_key])
            .assert()
            .success();
    }
    Setup { vault }
}

/// Runs the scenario under strace, killed before the `k`-th `syscall` (or not at all with
/// `None`); returns whether it was killed.
fn run(
    s: &Scenario,
    setup: &Setup,
    kill: Option<(&str, usize)>,
    count_into: Option<&Path>,
) -> bool {
    let v = &setup.vault;
    let mut cmd = v.tool("strace");
    cmd.args(["-f", "-qq"]);
    match count_into {
        Some(summary) => {
            cmd.arg("-c").arg("-o").arg(summary);
        }
        None => {
            cmd.args(["-o", "/dev/null"]);
        }
    }
    cmd.arg(format!("-etrace={}", SYSCALLS.join(",")));
    if let Some((syscall, k)) = kill {
        cmd.arg(format!("-einject={syscall}:signal=SIGKILL:when={k}"));
    }
    cmd.arg(coffer_bin()).args(&s.args);
    if s.args[0] != "init" {
        cmd.arg("--no-agent");
    }
    let input = v.dir.path().join("input");
    cmd.env("EDITOR", input.join("editor"));
    cmd.env("TMPDIR", v.dir.path().join("tmp"));
    std::fs::create_dir_all(v.dir.path().join("tmp")).unwrap();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = &s.stdin {
        let _ = std::io::Write::write_all(&mut stdin, text.as_bytes());
    }
    drop(stdin);
    let status = child.wait().unwrap();
    std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) || status.code() == Some(137)
}

/// How many times the scenario calls each traced system call, when not killed.
fn syscall_counts(s: &Scenario) -> BTreeMap<String, usize> {
    let setup = setup(s.bare);
    let summary = setup.vault.dir.path().join("strace-summary");
    run(s, &setup, None, Some(&summary));
    let text = std::fs::read_to_string(&summary).unwrap();
    text.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors], syscall
            let name = *cols.last()?;
            if !SYSCALLS.contains(&name) || cols.len() < 5 {
                return None;
            }
            Some((name.to_owned(), cols[3].parse().ok()?))
        })
        .collect()
}

/// The plaintext of every `.age` file in the store, by name, decrypted by the real `age`.
fn decrypt_store(v: &TestVault, problems: &mut Vec<String>) -> BTreeMap<String, String> {
    let store = v.store();
    let mut found = BTreeMap::new();
    let Ok(walk) = walk(&store) else {
        return found;
    };
    for path in walk {
        let rel = path
            .strip_prefix(&store)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Some(name) = rel.strip_suffix(".age") else {
            continue;
        };
        if rel.split('/').any(|c| c.starts_with('.')) {
            continue; // a temporary or a metadata file, not a secret
        }
        let out = v
            .tool("age")
            .arg("-d")
            .arg("-i")
            .arg(v.identities())
            .arg(&path)
            .output()
            .unwrap();
        if out.status.success() {
            found.insert(
                name.to_owned(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            );
        } else {
            problems.push(format!("{name} does not decrypt with age"));
        }
    }
    found
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// Files under `dir` holding the plaintext mark (the inputs given to coffer excepted).
fn plaintext_files(dir: &Path) -> Vec<String> {
    walk(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.starts_with(dir.join("input")))
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.windows(MARK.len()).any(|w| w == MARK.as_bytes()))
                .unwrap_or(false)
        })
        .map(|p| p.display().to_string())
        .collect()
}

fn shm_entries() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir("/dev/shm")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    list.sort();
    list
}

/// Checks the vault after a kill; returns what is wrong.
fn check(s: &Scenario, setup: &Setup, shm_before: &[PathBuf]) -> Vec<String> {
    let v = &setup.vault;
    let mut problems = Vec::new();
    for leaked in plaintext_files(v.dir.path()) {
        problems.push(format!("plaintext left in {leaked}"));
    }
    // `edit` keeps its plaintext in a RAM folder (`/dev/shm` here), outside the test's folder.
    for entry in shm_entries().iter().filter(|e| !shm_before.contains(e)) {
        let leaked = if entry.is_dir() {
            !plaintext_files(entry).is_empty()
        } else {
            std::fs::read(entry).is_ok_and(|b| b.windows(MARK.len()).any(|w| w == MARK.as_bytes()))
        };
        if leaked {
            problems.push(format!("plaintext left in {}", entry.display()));
        }
        let _ = std::fs::remove_dir_all(entry);
    }
    let found = decrypt_store(v, &mut problems);
    let expect = |name: &str| -> Vec<Allowed> {
        if let Some((_, allowed)) = s.allowed.iter().find(|(n, _)| *n == name) {
            return allowed.clone();
        }
        if !s.bare && BASE.contains(&name) {
            vec![val(&format!("old {name}"))]
        } else {
            vec![Allowed::Absent]
        }
    };
    let mut names: Vec<String> = found.keys().cloned().collect();
    names.extend(BASE.iter().map(|n| n.to_string()));
    names.extend(s.allowed.iter().map(|(n, _)| n.to_string()));
    names.sort();
    names.dedup();
    for name in &names {
        let now = found.get(name).map(String::as_str);
        if !expect(name).iter().any(|a| a.admits(now)) {
            problems.push(format!(
                "{name} is {}, neither old nor new",
                now.map_or("missing".into(), |_| "a third value".to_string())
            ));
        }
    }
    for value in &s.conserved {
        if !found.values().any(|f| value.admits(Some(f))) {
            problems.push(format!("{value:?} was lost"));
        }
    }
    // The next commands work as they are: `init` again where it was killed, then a bulk
    // write (which sweeps stale temporaries), then listing and reading.
    let mut next = vec![];
    if s.bare {
        next.push(vec!["init", "--no-passphrase"]);
    }
    next.push(vec!["reencrypt", "--no-agent"]);
    next.push(vec!["ls"]);
    for args in next {
        let out = v.cmd().args(&args).output().unwrap();
        // A second `init` may refuse an existing identity or store: that is not damage.
        let init_again =
            s.bare && args[0] == "init" && v.identities().exists() && v.store().exists();
        if !(out.status.success() || init_again) {
            problems.push(format!(
                "next `coffer {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    for name in found.keys() {
        let out = v.cmd().args(["show", "--no-agent", name]).output().unwrap();
        if !out.status.success() {
            problems.push(format!("next `coffer show {name}` failed"));
        }
    }
    let temps: Vec<String> = walk(&v.store())
        .unwrap_or_default()
        .iter()
        .map(|p| p.display().to_string())
        .filter(|p| p.ends_with(".tmp"))
        .collect();
    if !temps.is_empty() {
        problems.push(format!("temporaries left after reencrypt: {temps:?}"));
    }
    problems
}

/// Figures of one sweep.
#[derive(Default, Debug)]
struct Figures {
    killed: usize,
    not_reached: usize,
    secrets_checked: usize,
    failures: Vec<String>,
}

/// Kills `s` before the `k`-th call of each traced system call, for every `k` that `pick`
/// keeps out of `1..=count`.
fn sweep(s: &Scenario, pick: &dyn Fn(usize) -> Vec<usize>, only: &[&str], figures: &mut Figures) {
    for (syscall, count) in syscall_counts(s) {
        if !only.is_empty() && !only.contains(&syscall.as_str()) {
            continue;
        }
        for k in pick(count) {
            let setup = setup(s.bare);
            let shm_before = shm_entries();
            if !run(s, &setup, Some((&syscall, k)), None) {
                figures.not_reached += 1;
                continue;
            }
            figures.killed += 1;
            let problems = check(s, &setup, &shm_before);
            figures.secrets_checked += walk(&setup.vault.store())
                .map(|w| {
                    w.iter()
                        .filter(|p| p.extension().is_some_and(|e| e == "age"))
                        .count()
                })
                .unwrap_or(0);
            for p in problems {
                figures
                    .failures
                    .push(format!("{} killed at {syscall} #{k}: {p}", s.name));
            }
        }
    }
}

fn strace_or_fail() -> bool {
    let found = Command::new("strace").arg("-V").output().is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "the crash tests need `strace`; .ci/run installs it"
    );
    if !found {
        eprintln!("crash tests skipped: `strace` is not installed (required when CI is set)");
    }
    found
}

#[test]
fn killed_writes_leave_old_or_new_values() {
    if !strace_or_fail() {
        return;
    }
    require_tool("age");
    let mut figures = Figures::default();
    // A few kill points around the commit point of the commonest writes: the first and last
    // rename and sync (temporary written; renamed into place; folder synced).
    for s in scenarios(second_key())
        .into_iter()
        .filter(|s| ["insert-overwrite", "mv"].contains(&s.name))
    {
        let pick = |count: usize| vec![1, count];
        sweep(&s, &pick, &["renameat", "fsync"], &mut figures);
    }
    assert!(figures.killed > 0, "no kill point was reached: {figures:?}");
    assert!(figures.failures.is_empty(), "{:#?}", figures.failures);
}

/// Every kill point of every write command: `fuzz/crash-sweep.sh` runs it.
#[test]
#[ignore = "the full sweep takes minutes: run fuzz/crash-sweep.sh"]
fn crash_sweep() {
    assert!(strace_or_fail(), "the sweep needs strace");
    let only = std::env::var("COFFER_CRASH_ONLY").ok();
    let mut total = Figures::default();
    for s in scenarios(second_key()) {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == s.name))
        {
            continue;
        }
        let mut figures = Figures::default();
        sweep(&s, &|count| (1..=count).collect(), &[], &mut figures);
        println!(
            "crash-sweep {:<16} kill points {:>4}  not reached {:>3}  secrets checked {:>5}  failures {:>3}",
            s.name,
            figures.killed,
            figures.not_reached,
            figures.secrets_checked,
            figures.failures.len()
        );
        total.killed += figures.killed;
        total.not_reached += figures.not_reached;
        total.secrets_checked += figures.secrets_checked;
        total.failures.extend(figures.failures);
    }
    println!(
        "crash-sweep TOTAL            kill points {:>4}  not reached {:>3}  secrets checked {:>5}  failures {:>3}",
        total.killed,
        total.not_reached,
        total.secrets_checked,
        total.failures.len()
    );
    for f in &total.failures {
        println!("FAIL {f}");
    }
    assert!(
        total.failures.is_empty(),
        "{} failures",
        total.failures.len()
    );
}
