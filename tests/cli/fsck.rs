//! `fsck`: a store built with one of each problem; the default check never decrypts (it runs
//! with no identities file at all); `--fix` fixes what it says and leaves the rest.

use std::os::unix::fs::PermissionsExt;

use crate::common::{TestVault, stdout};

fn kinds(v: &TestVault, args: &[&str]) -> (Option<i32>, Vec<(String, String)>, String) {
    let mut full = vec!["fsck", "--json"];
    full.extend_from_slice(args);
    let out = v.run(&full);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let list = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code(), list, stdout(&out))
}

fn has(list: &[(String, String)], kind: &str, path: &str) -> bool {
    list.iter().any(|(k, p)| k == kind && p == path)
}

#[test]
fn fsck_finds_each_problem_without_decrypting_and_fixes_the_safe_ones() {
    let v = TestVault::with_git();
    v.insert("a", "alpha\n");
    v.insert("web/b", "beta\n");
    let clean = v.run(&["fsck"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "a clean store: {}",
        stdout(&clean)
    );
    let other = age::x25519::Identity::generate().to_public().to_string();
    let two = format!("{} {other}", v.recipient());
    let out = v
        .cmd()
        .env("COFFER_RECIPIENTS", &two)
        .args(["insert", "-m", "team/c"])
        .write_stdin("gamma\n")
        .output()
        .unwrap();
    assert!(out.status.success());

    let store = v.store();
    std::fs::set_permissions(v.path("web/b"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(store.join(".a.age.999999.0123456789abcdef.tmp"), b"x").unwrap();
    std::fs::create_dir(store.join("empty")).unwrap();
    std::fs::write(store.join("bad.age"), b"not an age file\n").unwrap();
    let whole = std::fs::read(v.path("a")).unwrap();
    let header_end = whole.windows(4).position(|w| w == b"\n---").unwrap();
    std::fs::write(store.join("trunc.age"), &whole[..header_end + 60]).unwrap();
    std::os::unix::fs::symlink(v.path("a"), store.join("link.age")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(store.join("web/pipe.age"))
        .status()
        .unwrap();
    assert!(fifo.success());
    std::fs::create_dir(store.join("broken")).unwrap();
    std::fs::write(
        store.join("broken/.age-recipients"),
        "# ok\nhunter2-not-a-key\n",
    )
    .unwrap();
    std::fs::create_dir_all(store.join(".coffer/exposed")).unwrap();
    std::fs::write(store.join(".coffer/exposed/gone.exposed"), b"").unwrap();
    std::fs::remove_file(store.join(".git/info/attributes")).unwrap();
    let log = v.data_dir().join("access.log");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("insert", "inzert", 1)).unwrap();

    // No identities at all: the default check never needs them.
    let ids = v.identities();
    std::fs::rename(&ids, ids.with_extension("away")).unwrap();
    let (code, found, text) = kinds(&v, &[]);
    assert_eq!(code, Some(1), "{text}");
    for (kind, path) in [
        ("permissions", "web/b.age"),
        ("temporary", ".a.age.999999.0123456789abcdef.tmp"),
        ("empty-folder", "empty"),
        ("not-age", "bad.age"),
        ("not-age", "trunc.age"),
        ("link", "link.age"),
        ("special-file", "web/pipe.age"),
        ("recipients-file", "broken/.age-recipients"),
        ("recipients-mismatch", "team/c.age"),
        ("orphaned-mark", ".coffer/exposed/gone.exposed"),
        ("access-log", &log.display().to_string()),
        ("git-attributes", ".git/info/attributes"),
    ] {
        assert!(has(&found, kind, path), "{kind} {path} in {text}");
    }
    assert!(!text.contains("hunter2"), "never echoes a line: {text}");
    assert!(text.contains("broken/.age-recipients:2"), "{text}");
    let plain = stdout(&v.run(&["fsck"]));
    assert!(
        plain.contains("permissions web/b.age: mode 0644"),
        "{plain}"
    );
    assert!(plain.contains("(--fix: "), "{plain}");
    std::fs::rename(ids.with_extension("away"), &ids).unwrap();

    // --fix: the safe ones go, the rest stay, nothing is deleted or followed.
    let (code, left, text) = kinds(&v, &["--fix"]);
    assert_eq!(code, Some(1), "{text}");
    for (kind, path) in [
        ("permissions", "web/b.age"),
        ("temporary", ".a.age.999999.0123456789abcdef.tmp"),
        ("empty-folder", "empty"),
        ("recipients-mismatch", "team/c.age"),
        ("orphaned-mark", ".coffer/exposed/gone.exposed"),
        ("git-attributes", ".git/info/attributes"),
    ] {
        assert!(!has(&left, kind, path), "{kind} {path} fixed: {text}");
    }
    for kind in [
        "not-age",
        "link",
        "special-file",
        "recipients-file",
        "access-log",
    ] {
        assert!(left.iter().any(|(k, _)| k == kind), "{kind} left: {text}");
    }
    let mode = std::fs::metadata(v.path("web/b"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!store.join("empty").exists());
    assert!(store.join("bad.age").exists() && store.join("trunc.age").exists());
    assert!(
        std::fs::symlink_metadata(store.join("link.age"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(v.show("a"), b"alpha\n");
    assert_eq!(v.show("team/c"), b"gamma\n");
}

#[test]
fn fsck_decrypt_reports_what_you_cannot_read() {
    let v = TestVault::with_git();
    v.insert("mine", "x\n");
    let other = age::x25519::Identity::generate().to_public().to_string();
    let out = v
        .cmd()
        .env("COFFER_RECIPIENTS", &other)
        .args(["--force", "insert", "-m", "theirs"])
        .write_stdin("y\n")
        .output()
        .unwrap();
    assert!(out.status.success());
    let clean = v.run(&["fsck"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    let (code, found, text) = kinds(&v, &["--decrypt"]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        found,
        [("undecryptable".to_owned(), "theirs.age".to_owned())]
    );
    assert_eq!(v.run(&["fsck", "../x"]).status.code(), Some(2));
}
