//! `coffer scan`: vault values found in files, staged changes and history; the pre-commit hook.

use std::path::{Path, PathBuf};

use crate::common::{self, TestVault, stderr, stdout};
use base64::Engine as _;

/// A vault with a few secrets, and an empty project folder beside it.
fn setup() -> (TestVault, PathBuf) {
    let v = TestVault::new();
    v.insert(
        "db/prod",
        "hunter2-long\nuser: alice-the-admin\napi_token: tok_9876543210\n",
    );
    v.insert("short", "abc\n");
    let project = v.dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    (v, project)
}

fn scan_in(v: &TestVault, dir: &Path, args: &[&str]) -> std::process::Output {
    v.cmd()
        .current_dir(dir)
        .arg("scan")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn finds_values_and_their_encodings_without_printing_them() {
    let (v, p) = setup();
    std::fs::write(
        p.join("config.js"),
        "const a = 1;\nconst pw = 'hunter2-long';\n",
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode("admin:hunter2-long");
    std::fs::write(
        p.join("curl.sh"),
        format!("curl -H 'Authorization: Basic {b64}'\n"),
    )
    .unwrap();
    std::fs::write(p.join("url.txt"), "x\ny\nhttps://h/?t=tok_9876543210&z=1\n").unwrap();
    std::fs::write(p.join(".env"), "TOKEN=tok_9876543210\n").unwrap();
    std::fs::write(p.join("clean.txt"), "alice-the-admin abc nothing here\n").unwrap();
    let out = scan_in(&v, &p, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        ".env:1:7: secret db/prod (api_token)\n\
config.js:2:13: secret db/prod (password)\n\
curl.sh:1:39: secret db/prod (password, base64)\n\
url.txt:3:14: secret db/prod (api_token)\n"
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("hunter2") && !all.contains("tok_98"), "{all}");
    // URL-encoded values, and explicit paths.
    std::fs::write(p.join("form.txt"), "password=p%40ss+word\n").unwrap();
    v.insert("web", "p@ss word!\n");
    let out = scan_in(&v, &p, &["form.txt", "clean.txt"]);
    assert_eq!(stdout(&out), "");
    std::fs::write(p.join("form.txt"), "password=p%40ss%20word%21\n").unwrap();
    let out = scan_in(&v, &p, &["form.txt", "clean.txt"]);
    assert_eq!(
        stdout(&out),
        "form.txt:1:10: secret web (password, url-encoded)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn clean_trees_exit_0_and_min_length_applies() {
    let (v, p) = setup();
    std::fs::write(p.join("a.txt"), "abc and hunter2 but not the whole thing\n").unwrap();
    let out = scan_in(&v, &p, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(out.stdout.is_empty());
    let out = scan_in(&v, &p, &["--min-length", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "a.txt:1:1: secret short (password)\n");
}

#[test]
fn ignored_binary_and_oversized_files_are_skipped() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    std::fs::write(p.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir(p.join("build")).unwrap();
    std::fs::write(p.join("build/out.txt"), "hunter2-long\n").unwrap();
    let mut binary = b"\x7fELF\0\0\0".to_vec();
    binary.extend_from_slice(b"hunter2-long");
    std::fs::write(p.join("app.bin"), &binary).unwrap();
    let mut big = "x".repeat(2000);
    big.push_str("hunter2-long\n");
    std::fs::write(p.join("big.log"), &big).unwrap();
    let out = scan_in(&v, &p, &["--max-filesize", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stderr(&out).contains("skipped 1 file(s) larger than 1000 bytes"));
    let out = scan_in(&v, &p, &[]);
    assert_eq!(stdout(&out), "big.log:1:2001: secret db/prod (password)\n");
    // A file named explicitly is scanned even if ignored.
    let out = scan_in(&v, &p, &["build/out.txt"]);
    assert_eq!(
        stdout(&out),
        "build/out.txt:1:1: secret db/prod (password)\n"
    );
}

#[test]
fn json_output() {
    let (v, p) = setup();
    std::fs::write(p.join("a.txt"), "\n  hunter2-long\n").unwrap();
    let out = scan_in(&v, &p, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let parsed: serde_json::Value = common::stdout_json(&out);
    assert_eq!(
        parsed,
        serde_json::json!([{"path": "a.txt", "line": 2, "column": 3, "secret": "db/prod",
            "field": "password", "encoding": "plain"}])
    );
}

#[test]
fn usage_errors_exit_2() {
    let (v, p) = setup();
    let out = scan_in(&v, &p, &["no/such/path"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "coffer: no/such/path: no such file or folder\n"
    );
    let out = scan_in(&v, &p, &["--staged"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not inside a git work tree"));
    assert_eq!(scan_in(&v, &p, &["--staged", "x"]).status.code(), Some(2));
    assert_eq!(
        scan_in(&v, &p, &["--min-length", "0"]).status.code(),
        Some(2)
    );
}

#[test]
fn staged_scans_only_what_the_commit_would_add() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    std::fs::write(p.join("old.txt"), "hunter2-long\n").unwrap();
    v.git(&p, &["add", "old.txt"]);
    v.git(&p, &["commit", "-qm", "old", "--no-verify"]);
    std::fs::write(p.join("new file.txt"), "line one\nline two\n").unwrap();
    std::fs::write(p.join("unstaged.txt"), "tok_9876543210\n").unwrap();
    v.git(&p, &["add", "new file.txt"]);
    assert_eq!(scan_in(&v, &p, &["--staged"]).status.code(), Some(0));
    std::fs::write(
        p.join("new file.txt"),
        "line one\nline two\ntoken = tok_9876543210\n",
    )
    .unwrap();
    v.git(&p, &["add", "new file.txt"]);
    let out = scan_in(&v, &p, &["--staged"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "new file.txt:3:9: secret db/prod (api_token)\n"
    );
    assert!(stderr(&out).contains("the commit is refused"));
}

#[test]
fn history_finds_secrets_that_were_removed_since() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    std::fs::write(p.join("a.txt"), "one\npw: hunter2-long\n").unwrap();
    v.git(&p, &["add", "a.txt"]);
    v.git(&p, &["commit", "-qm", "leak"]);
    let leak = stdout(&v.try_git(&p, &["rev-parse", "HEAD"]))[..12].to_owned();
    std::fs::write(p.join("a.txt"), "one\n").unwrap();
    v.git(&p, &["commit", "-qam", "fix"]);
    assert_eq!(scan_in(&v, &p, &[]).status.code(), Some(0));
    let out = scan_in(&v, &p, &["--git-history"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!("{leak}:a.txt:2:5: secret db/prod (password)\n")
    );
}

#[test]
fn the_hook_refuses_a_commit_with_a_vault_secret() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    let out = scan_in(&v, &p, &["--install-hook"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hook = p.join(".git/hooks/pre-commit");
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("scan --staged")
    );

    std::fs::write(p.join("README"), "hello\n").unwrap();
    v.git(&p, &["add", "README"]);
    v.git(&p, &["commit", "-qm", "clean"]);

    std::fs::write(p.join("settings.py"), "DB_PASSWORD = 'hunter2-long'\n").unwrap();
    v.git(&p, &["add", "settings.py"]);
    let refused = v.try_git(&p, &["commit", "-qm", "leak"]);
    assert!(!refused.status.success());
    // git shows a hook's output on its standard error.
    let said = stderr(&refused);
    assert!(
        said.contains("settings.py:1:16: secret db/prod (password)"),
        "{said}"
    );
    assert!(said.contains("the commit is refused"));
    assert!(!said.contains("hunter2"));
    let log = stdout(&v.try_git(&p, &["log", "--format=%s"]));
    assert_eq!(log, "clean\n");
    // `git commit -a` uses a temporary index: the hook still sees the change.
    v.git(&p, &["reset", "-q"]);
    std::fs::write(p.join("README"), "hello hunter2-long\n").unwrap();
    let refused = v.try_git(&p, &["commit", "-qam", "leak again"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("README:1:7:"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn an_existing_hook_is_chained_and_kept() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    let hooks = p.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let old =
        "#!/bin/sh\necho previous-hook-ran > \"$(git rev-parse --show-toplevel)/marker\"\nexit 0\n";
    std::fs::write(hooks.join("pre-commit"), old).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        hooks.join("pre-commit"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = scan_in(&v, &p, &["--install-hook"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("kept as pre-commit.before-coffer"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit.before-coffer")).unwrap(),
        old
    );
    // Installing twice changes nothing.
    let again = scan_in(&v, &p, &["--install-hook"]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("already runs coffer scan"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit.before-coffer")).unwrap(),
        old
    );

    std::fs::write(p.join("a"), "fine\n").unwrap();
    v.git(&p, &["add", "a"]);
    v.git(&p, &["commit", "-qm", "ok"]);
    assert!(
        p.join("marker").exists(),
        "the previous hook ran after the scan"
    );
    std::fs::remove_file(p.join("marker")).unwrap();
    std::fs::write(p.join("a"), "tok_9876543210\n").unwrap();
    v.git(&p, &["add", "a"]);
    assert!(!v.try_git(&p, &["commit", "-qm", "leak"]).status.success());
    assert!(
        !p.join("marker").exists(),
        "a refused commit stops before the previous hook"
    );

    // A foreign hook plus a leftover chained one: refuse rather than lose either.
    std::fs::write(hooks.join("pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
    let out = scan_in(&v, &p, &["--install-hook"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("pre-commit.before-coffer exists already"));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit")).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
}

/// The one cache file of the test vault's store.
fn cache_file(v: &TestVault) -> PathBuf {
    let dir = v.home().join(".cache/coffer/scan");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Stages `text` as `leak.txt` and runs the hook's scan.
fn stage_and_scan(v: &TestVault, p: &Path, text: &str) -> std::process::Output {
    std::fs::write(p.join("leak.txt"), text).unwrap();
    v.git(p, &["add", "leak.txt"]);
    scan_in(v, p, &["--staged"])
}

#[test]
fn the_pattern_cache_is_encrypted_private_and_never_stale() {
    use std::os::unix::fs::PermissionsExt;
    let (v, p) = setup();
    v.insert("gone", "removed-value\n");
    v.git(&p, &["init", "-q"]);
    // Let the secrets' files settle, so the cache holds them (a file changed within the last
    // two seconds is always decrypted).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = stage_and_scan(&v, &p, "pw = hunter2-long\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let cache = cache_file(&v);
    let bytes = std::fs::read(&cache).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    assert!(!bytes.windows(7).any(|w| w == b"hunter2" || w == b"tok_987"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
    // Encrypted to the user's own identity: the real age opens it.
    let plain = v.age_decrypt(&v.identities(), &cache);
    assert!(plain.windows(7).any(|w| w == b"db/prod"));

    // Served from the cache: the same findings, and the cache is not written again.
    let written = std::fs::metadata(&cache).unwrap().modified().unwrap();
    let out = stage_and_scan(&v, &p, "pw = hunter2-long\nremoved-value\n");
    assert_eq!(
        stdout(&out),
        "leak.txt:1:6: secret db/prod (password)\nleak.txt:2:1: secret gone (password)\n"
    );
    assert_eq!(
        std::fs::metadata(&cache).unwrap().modified().unwrap(),
        written
    );

    // A changed, an added and a removed secret: the cache is never trusted for them.
    v.insert("db/prod", "fresh-pass-9\n");
    v.insert("new", "added-value-1\n");
    v.run_ok(&["rm", "-f", "gone"]);
    let out = stage_and_scan(
        &v,
        &p,
        "hunter2-long removed-value\nfresh-pass-9\nadded-value-1\n",
    );
    assert_eq!(
        stdout(&out),
        "leak.txt:2:1: secret db/prod (password)\nleak.txt:3:1: secret new (password)\n"
    );

    // A damaged cache is rebuilt, not an error.
    std::fs::write(&cache, b"not an age file").unwrap();
    let out = stage_and_scan(&v, &p, "fresh-pass-9\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "leak.txt:1:1: secret db/prod (password)\n");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(
        std::fs::read(&cache)
            .unwrap()
            .starts_with(b"age-encryption.org/v1\n")
    );
}

#[test]
fn a_staged_line_longer_than_the_read_buffer_is_searched_whole() {
    let (v, p) = setup();
    v.git(&p, &["init", "-q"]);
    // The value straddles the 256 KiB boundary of the buffer git's output is read through,
    // and a second one sits at the end of a line with no newline after it.
    let mut line = "x".repeat(256 * 1024 - 5);
    line.push_str("hunter2-long");
    line.push_str(&"y".repeat(1000));
    line.push_str("\ntok_9876543210");
    let out = stage_and_scan(&v, &p, &line);
    assert_eq!(
        stdout(&out),
        format!(
            "leak.txt:1:{}: secret db/prod (password)\nleak.txt:2:1: secret db/prod (api_token)\n",
            256 * 1024 - 4
        )
    );
    // Files are read whole, too.
    std::fs::write(p.join("big.txt"), &line).unwrap();
    let out = scan_in(&v, &p, &["big.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("big.txt:1:"), "{}", stdout(&out));
}
