//! Writing secrets without a terminal: insert, generate, edit (with scripted editors).

use crate::common::{self, TestVault, files_below, stderr, stdout};

#[test]
fn insert_reads_one_line_or_everything() {
    let v = TestVault::new();
    v.cmd()
        .args(["insert", "web/a"])
        .write_stdin("pw-one\nignored\n")
        .assert()
        .success();
    assert_eq!(v.show("web/a"), b"pw-one\n");
    v.cmd()
        .args(["add", "-e", "web/b"])
        .write_stdin("pw-two\n")
        .assert()
        .success();
    assert_eq!(v.show("web/b"), b"pw-two\n");
    let bytes = b"line1\r\n\0binary\xff\nno final newline";
    v.cmd()
        .args(["insert", "-m", "web/c"])
        .write_stdin(&bytes[..])
        .assert()
        .success();
    assert_eq!(v.show("web/c"), bytes);
    let meta = std::fs::metadata(v.path("web/c")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn insert_without_a_terminal_overwrites_like_pass() {
    // pass asks only on a terminal; scripts rely on that.
    let v = TestVault::new();
    v.insert("x", "old\n");
    v.cmd()
        .args(["insert", "x"])
        .write_stdin("new\n")
        .assert()
        .success();
    assert_eq!(v.show("x"), b"new\n");
}

#[test]
fn insert_with_empty_input_fails_and_writes_nothing() {
    let v = TestVault::new();
    let out = v
        .cmd()
        .args(["insert", "x"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!v.path("x").exists());
}

#[test]
fn generate_lengths_sets_and_words() {
    let v = TestVault::new();
    let out = v.run(&["generate", "g/default"]);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("The generated password for g/default is:")
    );
    let pw = lines.next().unwrap();
    assert_eq!(pw.chars().count(), 25);
    assert_eq!(v.show("g/default"), format!("{pw}\n").as_bytes());

    let out = stdout(&v.run(&["generate", "-n", "g/alnum", "40"]));
    let pw = out.lines().nth(1).unwrap();
    assert_eq!(pw.len(), 40);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));

    let out = v
        .cmd()
        .env("COFFER_CHARACTER_SET", "a-c")
        .args(["generate", "g/abc", "30"])
        .output()
        .unwrap();
    let pw = stdout(&out).lines().nth(1).unwrap().to_owned();
    assert!(pw.chars().all(|c| "abc".contains(c)), "{pw}");

    let out = v
        .cmd()
        .env("COFFER_GENERATED_LENGTH", "7")
        .args(["generate", "g/seven"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().nth(1).unwrap().len(), 7);

    let out = stdout(&v.run(&["generate", "--words", "5", "g/words"]));
    let phrase = out.lines().nth(1).unwrap();
    assert!(phrase.split('-').count() >= 5, "{phrase}");

    let bad = v.run(&["generate", "g/bad", "abc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!v.path("g/bad").exists());
}

#[test]
fn generate_in_place_keeps_the_rest() {
    let v = TestVault::new();
    v.insert("site", "oldpw\nuser: me\nnotes\n");
    let out = stdout(&v.run(&["generate", "-i", "site", "12"]));
    let pw = out.lines().nth(1).unwrap();
    assert_eq!(
        v.show("site"),
        format!("{pw}\nuser: me\nnotes\n").as_bytes()
    );
    v.run(&["generate", "-f", "site", "5"]);
    assert_eq!(v.show("site").len(), 6, "-f replaces everything");
}

/// An editor script that replaces the file's content.
fn editor(v: &TestVault, body: &str) -> String {
    let path = v.dir.path().join("editor.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// A tmpfs folder for `edit`'s plaintext, so tests can check it is left empty.
fn runtime_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    assert!(shm.is_dir(), "edit tests need /dev/shm (tmpfs)");
    tempfile::Builder::new()
        .prefix("coffer-test-")
        .tempdir_in(shm)
        .unwrap()
        .keep()
}

/// `coffer edit NAME` with `editor` and `runtime` as its RAM-backed folder.
fn edit(
    v: &TestVault,
    editor: &str,
    runtime: &std::path::Path,
    name: &str,
) -> std::process::Output {
    v.cmd()
        .env("EDITOR", editor)
        .env("XDG_RUNTIME_DIR", runtime)
        .args(["edit", name])
        .output()
        .unwrap()
}

#[test]
fn edit_changes_creates_and_leaves_no_plaintext() {
    let v = TestVault::with_git();
    v.insert("e", "before\n");
    let rt = runtime_dir();
    let ed = editor(&v, r#"printf 'after\nuser: x\n' > "$1""#);
    let out = edit(&v, &ed, &rt, "e");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("e"), b"after\nuser: x\n");
    let out = edit(&v, &ed, &rt, "new/one");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("new/one"), b"after\nuser: x\n");
    assert!(
        files_below(&rt).is_empty(),
        "plaintext left behind: {:?}",
        files_below(&rt)
    );
    let log = v.git_log();
    assert!(
        log[0].starts_with("Edit password for new/one using "),
        "{log:?}"
    );
    std::fs::remove_dir_all(rt).unwrap();
}

#[test]
fn edit_with_a_failing_or_killed_editor_changes_nothing() {
    let v = TestVault::new();
    v.insert("e", "before\n");
    let rt = runtime_dir();
    for body in [
        r#"printf 'half-written' > "$1"; exit 3"#,
        r#"printf 'half-written' > "$1"; kill -TERM $PPID; sleep 0.2; kill -KILL $$"#,
    ] {
        let ed = editor(&v, body);
        let out = edit(&v, &ed, &rt, "e");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("e was not changed"),
            "{}",
            stderr(&out)
        );
        assert_eq!(v.show("e"), b"before\n");
        assert!(
            files_below(&rt).is_empty(),
            "plaintext left behind: {:?}",
            files_below(&rt)
        );
    }
    std::fs::remove_dir_all(rt).unwrap();
}

#[test]
fn edit_refuses_to_clobber_a_concurrent_change() {
    let v = TestVault::new();
    v.insert("e", "before\n");
    let rt = runtime_dir();
    // While "the user" edits, another process changes the secret.
    let bin = common::coffer_bin();
    let ed = editor(
        &v,
        &format!(
            r#"printf 'theirs\n' | {} insert -m -f e && printf 'mine\n' > "$1""#,
            bin.display()
        ),
    );
    let out = edit(&v, &ed, &rt, "e");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("changed on disk"), "{err}");
    assert_eq!(v.show("e"), b"theirs\n");
    let saved = stdout(&v.run(&["ls"]));
    let aside = saved.lines().find(|l| l.contains("e-conflict-")).unwrap();
    let aside = aside.trim_start_matches(|c: char| !c.is_alphanumeric());
    assert_eq!(v.show(aside), b"mine\n", "nothing is lost");
    std::fs::remove_dir_all(rt).unwrap();
}

#[test]
fn conflict_copies_never_overwrite_each_other() {
    let v = TestVault::new();
    v.insert("e", "before\n");
    // Conflict copies already taken for the next seconds (two conflicting edits in one second
    // name their copies alike): a new one must find a name of its own.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for t in now..now + 8 {
        v.insert(&format!("e-conflict-{t}"), format!("earlier {t}\n"));
    }
    let rt = runtime_dir();
    let bin = common::coffer_bin();
    let ed = editor(
        &v,
        &format!(
            r#"printf 'theirs\n' | {} insert -m -f e && printf 'mine\n' > "$1""#,
            bin.display()
        ),
    );
    let out = edit(&v, &ed, &rt, "e");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for t in now..now + 8 {
        assert_eq!(
            v.show(&format!("e-conflict-{t}")),
            format!("earlier {t}\n").as_bytes(),
            "an earlier conflict copy was overwritten: {}",
            stderr(&out)
        );
    }
    let listed = stdout(&v.run(&["ls"]));
    let copies: Vec<&str> = listed
        .lines()
        .map(|l| l.trim_start_matches(|c: char| !c.is_alphanumeric()))
        .filter(|l| l.starts_with("e-conflict-"))
        .collect();
    assert_eq!(copies.len(), 9, "{listed}");
    assert!(
        copies.iter().any(|c| v.show(c) == b"mine\n"),
        "the edit was lost: {listed}"
    );
    std::fs::remove_dir_all(rt).unwrap();
}

#[test]
fn edit_refuses_disk_tmp_unless_allowed() {
    common::require_tool("unshare");
    let v = TestVault::new();
    v.insert("e", "x\n");
    let ed = editor(&v, r#"printf 'y\n' > "$1""#);
    // In a private mount namespace, hide /dev/shm behind a disk folder: no tmpfs is left.
    let disk = v.dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let bin = common::coffer_bin();
    let script = format!(
        "mount --bind {disk} /dev/shm && exec {bin} edit \"$@\"",
        disk = disk.display(),
        bin = bin.display()
    );
    let run = |extra: &[&str]| {
        let mut cmd = v.tool("unshare");
        cmd.args(["-rm", "sh", "-c", &script, "sh"])
            .args(extra)
            .arg("e")
            .env("EDITOR", &ed);
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-disk-tmp"),
        "{}",
        stderr(&out)
    );
    assert_eq!(v.show("e"), b"x\n");
    let out = run(&["--allow-disk-tmp"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("e"), b"y\n");
}

/// `kill -9` of `edit` cannot remove its plaintext; the next `edit` does.
#[test]
fn a_killed_edits_plaintext_is_swept_by_the_next_edit() {
    let v = TestVault::new();
    v.insert("e", "kill-nine-plaintext\n");
    let rt = runtime_dir();
    // The editor runs under `sh -c`: it kills coffer, the shell's parent, with SIGKILL.
    let ed = editor(
        &v,
        "kill -KILL $(awk '{print $4}' /proc/$PPID/stat); exit 0",
    );
    let out = edit(&v, &ed, &rt, "e");
    assert_eq!(out.status.code(), None, "coffer was killed");
    let left = files_below(&rt);
    assert_eq!(left.len(), 1, "the killed edit left its file: {left:?}");
    let ok = editor(&v, "true");
    let out = edit(&v, &ok, &rt, "e");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        files_below(&rt).is_empty(),
        "plaintext of a dead edit is still there: {:?}",
        files_below(&rt)
    );
    std::fs::remove_dir_all(rt).unwrap();
}

/// `inject -o` killed at each sync of its output leaves no copy of the rendered secret.
#[test]
fn a_killed_inject_leaves_no_plaintext_on_disk() {
    common::require_tool("strace");
    let v = TestVault::new();
    v.insert("db", "rendered-plaintext-value\n");
    let template = v.dir.path().join("t.tmpl");
    std::fs::write(&template, "DB={{ coffer:db }}\n").unwrap();
    let out_dir = v.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("app.env");
    for when in 1..=4 {
        let run = v
            .tool("strace")
            .args(["-f", "-o", "/dev/null", "-e", "trace=fsync,fdatasync"])
            .arg(format!("--inject=fsync:signal=SIGKILL:when={when}"))
            .arg(common::coffer_bin())
            .args(["inject", "-f", "-i"])
            .arg(&template)
            .arg("-o")
            .arg(&target)
            .output()
            .unwrap();
        for entry in std::fs::read_dir(&out_dir).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let holds = bytes.windows(24).any(|w| w == b"rendered-plaintext-value");
            assert!(
                !holds || entry.path() == target,
                "kill at fsync #{when} left plaintext in {}",
                entry.path().display()
            );
        }
        if run.status.success() {
            break;
        }
    }
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "DB=rendered-plaintext-value\n"
    );
}
