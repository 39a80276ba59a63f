//! rm, mv, cp and reencrypt, with pass's git commit messages.

use crate::common::{TestVault, stderr, stdout};

#[test]
fn rm_secret_and_folder() {
    let v = TestVault::with_git();
    v.insert("a/b/c", "1\n");
    v.insert("a/d", "2\n");
    v.insert("top", "3\n");
    v.cmd().args(["rm", "a/b/c"]).assert().success();
    assert!(!v.store().join("a/b").exists(), "emptied folder removed");
    let folder = v.run(&["rm", "a"]);
    assert_eq!(folder.status.code(), Some(1));
    assert!(stderr(&folder).contains("use rm -r"), "{}", stderr(&folder));
    assert!(v.path("a/d").exists());
    v.cmd().args(["remove", "-r", "a"]).assert().success();
    assert!(!v.store().join("a").exists());
    let missing = v.run(&["delete", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "coffer: nope is not in the store.\n");
    assert_eq!(v.show("top"), b"3\n");
    let log = v.git_log();
    assert_eq!(log[0], "Remove a from store.");
    assert_eq!(log[1], "Remove a/b/c from store.");
}

#[test]
fn mv_and_cp_secrets_and_folders() {
    let v = TestVault::with_git();
    v.insert("email/work", "w\n");
    v.insert("email/home", "h\n");
    v.insert("web/shop", "s\n");
    v.cmd()
        .args(["mv", "web/shop", "web/store"])
        .assert()
        .success();
    assert_eq!(v.show("web/store"), b"s\n");
    assert!(!v.path("web/shop").exists());
    // An existing folder (or a trailing slash) receives the source.
    v.cmd()
        .args(["cp", "web/store", "email"])
        .assert()
        .success();
    assert_eq!(v.show("email/store"), b"s\n");
    v.cmd()
        .args(["copy", "email/work", "backup/"])
        .assert()
        .success();
    assert_eq!(v.show("backup/work"), b"w\n");
    // Folders move whole.
    v.cmd().args(["rename", "email", "mail"]).assert().success();
    assert_eq!(
        stdout(&v.run(&["ls", "mail"])),
        "mail\n|-- home\n|-- store\n`-- work\n"
    );
    assert!(!v.store().join("email").exists());
    let log = v.git_log();
    assert_eq!(log[0], "Rename email to mail.");
    assert_eq!(log[1], "Copy email/work to backup/.");
    assert_eq!(log[2], "Copy web/store to email.");
    assert_eq!(log[3], "Rename web/shop to web/store.");
}

#[test]
fn mv_refusals() {
    let v = TestVault::new();
    v.insert("a/x", "1\n");
    let into_itself = v.run(&["mv", "a", "a/sub"]);
    assert_eq!(into_itself.status.code(), Some(2));
    let missing = v.run(&["mv", "nope", "x"]);
    assert_eq!(stderr(&missing), "coffer: nope is not in the store.\n");
    let bad = v.run(&["mv", "a/x", "../escape"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with("coffer: invalid name"),
        "{}",
        stderr(&bad)
    );
    assert!(
        !v.dir
            .path()
            .join("home/.local/share/coffer/escape.age")
            .exists()
    );
    assert_eq!(v.show("a/x"), b"1\n");
}

#[test]
fn mv_reencrypts_for_the_destination_recipients() {
    let v = TestVault::new();
    let other = age::x25519::Identity::generate();
    let other_pub = other.to_public().to_string();
    let me = v.recipient();
    v.cmd()
        .args(["init", "-p", "shared", &me, &other_pub])
        .assert()
        .success();
    v.insert("private/key", "only me\n");
    v.cmd()
        .args(["mv", "private/key", "shared/key"])
        .assert()
        .success();
    let ct = std::fs::read(v.path("shared/key")).unwrap();
    let decrypted = age::decrypt(&other, &ct).unwrap();
    assert_eq!(
        decrypted, b"only me\n",
        "the other recipient can now read it"
    );
    // Moving a folder carries its own recipients file along.
    v.cmd().args(["mv", "shared", "team"]).assert().success();
    assert_eq!(
        std::fs::read_to_string(v.store().join("team/.age-recipients")).unwrap(),
        format!("{me}\n{other_pub}\n")
    );
    let ct = std::fs::read(v.path("team/key")).unwrap();
    assert_eq!(age::decrypt(&other, &ct).unwrap(), b"only me\n");
}

#[test]
fn reencrypt_follows_changed_recipients() {
    let v = TestVault::with_git();
    for i in 0..20 {
        v.insert(&format!("f/s{i}"), format!("secret {i}\n"));
    }
    let other = age::x25519::Identity::generate();
    let line = format!("{}\n{}\n", v.recipient(), other.to_public());
    std::fs::write(v.store().join(".age-recipients"), line).unwrap();
    // A recipients file changed behind coffer's back is not trusted until accepted.
    let refused = v.run(&["reencrypt", "-p", "f"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("recipients accept"),
        "{}",
        stderr(&refused)
    );
    v.cmd().args(["recipients", "accept"]).assert().success();
    v.cmd().args(["reencrypt", "-p", "f"]).assert().success();
    for i in 0..20 {
        let ct = std::fs::read(v.path(&format!("f/s{i}"))).unwrap();
        assert_eq!(
            age::decrypt(&other, &ct).unwrap(),
            format!("secret {i}\n").as_bytes()
        );
    }
    assert_eq!(v.git_log()[0], "Reencrypt f.");
}

/// Moving a folder back and forth while other processes insert into it: every insert that
/// reported success is still there afterwards, at the old place or the new one.
#[test]
fn moving_a_folder_keeps_concurrent_inserts() {
    let v = TestVault::new();
    // Seeds make each move long enough for inserts to land in the middle of it.
    let seeds: String = (0..100).map(|i| format!("SEED{i}=v\n")).collect();
    std::fs::write(v.dir.path().join("seeds.env"), seeds).unwrap();
    v.run_ok(&["import", "dotenv", "seeds.env", "-p", "src"]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let inserted: Vec<String> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (v, done) = (&v, &done);
                scope.spawn(move || {
                    let mut ok = Vec::new();
                    let mut i = 0;
                    while !done.load(std::sync::atomic::Ordering::SeqCst) {
                        let name = format!("w{w}-{i}");
                        let out = v
                            .cmd()
                            .args(["insert", "-m", "-f", &format!("src/{name}")])
                            .write_stdin("v\n")
                            .output()
                            .unwrap();
                        if out.status.success() {
                            ok.push(name);
                        }
                        i += 1;
                    }
                    ok
                })
            })
            .collect();
        for round in 0..10 {
            let (from, to) = if round % 2 == 0 {
                ("src", "dst")
            } else {
                ("dst", "src")
            };
            // A move that loses the race for the lock may fail; only lost inserts matter.
            let _ = v.run(&["mv", "-f", from, to]);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(!inserted.is_empty(), "no insert succeeded");
    // A move into a folder that exists meanwhile nests the source inside it: look for each
    // insert's file anywhere in the store.
    let files: std::collections::BTreeSet<String> = walk_files(&v.store());
    let lost: Vec<&String> = inserted
        .iter()
        .filter(|n| !files.contains(&format!("{n}.age")))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} inserts were lost: {lost:?}",
        lost.len(),
        inserted.len()
    );
}

/// The names of every file below `dir`.
fn walk_files(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(walk_files(&entry.path()));
        } else {
            found.insert(entry.file_name().into_string().unwrap());
        }
    }
    found
}
