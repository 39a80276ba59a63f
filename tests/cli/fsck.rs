//! `fsck`: a store built with one of each problem; the default check never decrypts (it runs
//! with no identities file at all); `--fix` fixes what it says and leaves the rest.

use std::os::unix::fs::PermissionsExt;

use crate::common::{self, TestVault, stderr, stdout, stdout_json};

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

/// The ref a `sync --resolve` message names after `--revision`.
#[test]
fn fsck_reports_a_stopped_sync_and_counts_the_side_theirs_set_aside() {
    let alice = TestVault::with_git();
    alice.insert("db", "one\n");
    let (_remote_dir, remote) = common::publish(&alice);
    let (bob, bob_key) = common::clone_as_teammate(&remote);
    alice.run_ok(&["recipients", "add", "--label", "bob", &bob_key]);
    alice.run_ok(&["sync"]);
    bob.run_ok(&["sync"]);

    // Both change db; Bob pushes first, so Alice's sync stops on a conflict.
    alice.insert("db", "alice-2\n");
    bob.insert("db", "bob-2\n");
    bob.run_ok(&["sync"]);
    assert_eq!(alice.run(&["sync"]).status.code(), Some(1));
    let (code, found, text) = kinds(&alice, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(has(&found, "git-stopped", ".git"), "{text}");
    assert!(has(&found, "git-unmerged", "db.age"), "{text}");
    // --fix leaves git to the user: both are still there.
    let (_, left, text) = kinds(&alice, &["--fix"]);
    assert!(has(&left, "git-stopped", ".git"), "{text}");
    assert!(has(&left, "git-unmerged", "db.age"), "{text}");

    // Keeping theirs sets Alice's own version aside under the ref the message names.
    let out = alice.run_ok(&["sync", "--resolve", "db", "--theirs"]);
    assert_eq!(alice.show("db"), b"bob-2\n");
    let refname = common::named_ref(&stderr(&out));
    assert!(
        refname.starts_with("refs/coffer/conflicts/db/"),
        "{refname}"
    );
    common::kept_aside_survives_gc(&alice, "db", &refname, b"alice-2\n");

    // The sync is over; fsck is clean and counts the side kept.
    let out = alice.run(&["fsck", "--json"]);
    let json = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json["conflict_refs"], 1, "{json}");
    let plain = stdout(&alice.run(&["fsck"]));
    assert!(
        plain.contains("note: 1 conflict version(s) kept under refs/coffer/conflicts/"),
        "{plain}"
    );
}

#[test]
fn fsck_reports_recipients_this_device_did_not_approve() {
    let alice = TestVault::with_git();
    alice.insert("team/db", "one\n");
    let (_remote_dir, remote) = common::publish(&alice);
    let clean = alice.run(&["fsck"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));

    // Someone with push access adds a key with plain git; Alice pulls it.
    let mallory = TestVault::new();
    let checkout = mallory.dir.path().join("checkout");
    mallory.git(
        mallory.dir.path(),
        &["clone", "-q", &remote, checkout.to_str().unwrap()],
    );
    let file = checkout.join(".age-recipients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("# mallory\n{}\n", mallory.recipient()));
    std::fs::write(&file, text).unwrap();
    mallory.git(&checkout, &["commit", "-qam", "Tidy recipients."]);
    mallory.git(&checkout, &["push", "-q", "origin", "HEAD"]);
    alice.run_ok(&["sync"]);

    let (code, found, text) = kinds(&alice, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(has(&found, "unapproved", ".age-recipients"), "{text}");
    assert!(text.contains("1 added and 0 removed"), "{text}");
    // Nothing --fix may do about it: approving is the user's call.
    let (_, left, text) = kinds(&alice, &["--fix"]);
    assert!(has(&left, "unapproved", ".age-recipients"), "{text}");

    alice.run_ok(&["recipients", "accept"]);
    let (_, found, text) = kinds(&alice, &[]);
    assert!(
        !found.iter().any(|(kind, _)| kind == "unapproved"),
        "{text}"
    );
}

#[test]
fn fsck_fix_restores_the_age_line_of_gitattributes_and_keeps_the_rest() {
    let v = TestVault::with_git();
    v.insert("a", "alpha\n");
    let file = v.store().join(".gitattributes");
    let before = std::fs::read_to_string(&file).unwrap();
    let age_line = before
        .lines()
        .find(|l| l.contains("*.age"))
        .unwrap_or_else(|| panic!("no age rule in {before:?}"))
        .to_owned();
    std::fs::write(&file, "*.txt text\n").unwrap();
    v.git(&v.store(), &["commit", "-qam", "Hand edit."]);

    let (code, found, text) = kinds(&v, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        found,
        [("gitattributes".to_owned(), ".gitattributes".to_owned())],
        "{text}"
    );
    let (code, left, text) = kinds(&v, &["--fix"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(left.is_empty(), "{text}");
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.lines().any(|l| l == "*.txt text"), "{after}");
    assert!(after.lines().any(|l| l == age_line), "{after}");
    assert_eq!(v.git_log()[0], "Repair the store (coffer fsck --fix).");
    let body = v.store_git(&["log", "-1", "--format=%B"]);
    assert!(body.contains("Coffer-Value: unchanged"), "{body}");
    let status = v.store_git(&["status", "--porcelain"]);
    assert_eq!(status, "", "the repair is committed");

    // Gone altogether, it comes back too.
    std::fs::remove_file(&file).unwrap();
    let (_, found, text) = kinds(&v, &[]);
    assert!(has(&found, "gitattributes", ".gitattributes"), "{text}");
    let (code, _, text) = kinds(&v, &["--fix"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(std::fs::read_to_string(&file).unwrap().contains(&age_line));
}

#[test]
fn fsck_reports_what_another_user_owns() {
    // Giving a file away needs root; without it the check itself is covered by the unit
    // test `tools::fsck::tests::an_entry_another_user_owns_is_reported`.
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let v = TestVault::with_git();
    v.insert("web/a", "alpha\n");
    v.insert("b", "beta\n");
    let other = 4_242_424;
    std::os::unix::fs::chown(v.path("web/a"), Some(other), None).unwrap();
    std::os::unix::fs::chown(v.store().join("web"), Some(other), None).unwrap();
    let (code, found, text) = kinds(&v, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(has(&found, "owner", "web/a.age"), "{text}");
    assert!(has(&found, "owner", "web"), "{text}");
    assert!(!has(&found, "owner", "b.age"), "{text}");
    assert!(text.contains(&format!("owned by uid {other}")), "{text}");
    // Not something --fix touches.
    let (code, left, text) = kinds(&v, &["--fix"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(has(&left, "owner", "web/a.age"), "{text}");
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(v.path("web/a")).unwrap());
    assert_eq!(uid, other);
}

/// A name coffer refuses (here a right-to-left override a teammate could push) is hidden from
/// every listing, so fsck names it, escaped.
#[test]
fn fsck_names_a_file_no_command_can_list() {
    let v = TestVault::new();
    v.insert("web/a", "alpha\n");
    let hidden = v.store().join("web").join("evil\u{202e}gpj.age");
    std::fs::copy(v.path("web/a"), &hidden).unwrap();
    assert!(!stdout(&v.run_ok(&["ls"])).contains("evil"));
    let (code, found, text) = kinds(&v, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(found.iter().any(|(k, _)| k == "bad-name"), "{text}");
    let out = v.run(&["fsck"]);
    let text = stdout(&out);
    assert!(text.contains("bad-name web/evil"), "{text}");
    assert!(!text.contains('\u{202e}'), "printed escaped: {text:?}");
    // --fix never renames or deletes it.
    v.run(&["fsck", "--fix"]);
    assert!(hidden.exists());
}

/// How many headers a `fsck --json` read, and how many it took from its cache.
fn headers(json: &serde_json::Value) -> (u64, u64) {
    let headers = &json["headers"];
    (
        headers["read"].as_u64().unwrap(),
        headers["from_cache"].as_u64().unwrap(),
    )
}

#[test]
fn fsck_reads_only_the_headers_that_changed_and_full_reads_them_all() {
    use std::os::unix::fs::PermissionsExt;
    let v = TestVault::new();
    v.insert("a", "alpha\n");
    v.insert("web/b", "beta\n");
    // Let the files settle, so the cache holds them (a file changed within the last two
    // seconds is always read).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // No identities at all: neither the check nor its cache needs them.
    let ids = v.identities();
    std::fs::rename(&ids, ids.with_extension("away")).unwrap();
    let fsck = |args: &[&str]| {
        let mut full = vec!["fsck", "--json"];
        full.extend_from_slice(args);
        let out = v.run(&full);
        (out.status.code(), stdout_json(&out))
    };
    let (code, first) = fsck(&[]);
    assert_eq!((code, headers(&first)), (Some(0), (2, 0)), "{first}");
    let (code, second) = fsck(&[]);
    assert_eq!((code, headers(&second)), (Some(0), (0, 2)), "{second}");
    let dir = v.home().join(".cache/coffer/fsck");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let cache = files[0].as_ref().unwrap().path();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&cache), mode(&dir)), (0o600, 0o700));

    // A header damaged in place, its size and modification time put back: the change time
    // still tells, so it is read again.
    let path = v.path("a");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut &file, b"AGE").unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    let (code, third) = fsck(&[]);
    assert_eq!((code, headers(&third)), (Some(1), (1, 1)), "{third}");
    assert_eq!(third["problems"][0]["kind"], "not-age", "{third}");
    assert_eq!(third["problems"][0]["path"], "a.age", "{third}");
    // Said again on every run, whether the header is read or taken from the cache.
    let (code, fourth) = fsck(&[]);
    assert_eq!(code, Some(1), "{fourth}");
    assert_eq!(fourth["problems"], third["problems"]);

    // --full reads every header, cache or not.
    let (code, full) = fsck(&["--full"]);
    assert_eq!((code, headers(&full)), (Some(1), (2, 0)), "{full}");
    assert_eq!(full["problems"], third["problems"]);
    std::fs::rename(ids.with_extension("away"), &ids).unwrap();
}
