//! Team vaults: recipients, trust pinning, sync, conflicts and safe revocation — several
//! users on this machine (each their own HOME and identity) sharing a bare git remote.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{self, TestVault, require_tool, stderr, stdout};

/// Runs coffer as `user`, insists on exit 1 with one line on stderr, returns that line.
fn refused(user: &TestVault, args: &[&str]) -> String {
    let out = user.run(args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "coffer {args:?} should fail: {}{err}",
        stdout(&out)
    );
    assert!(err.starts_with("coffer: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

/// Decrypts `ciphertext` (from git, say) with the real `age` binary and an identity file.
fn age_decrypt_bytes(user: &TestVault, identity: &Path, ciphertext: &[u8]) -> Vec<u8> {
    let file = user.dir.path().join("ciphertext.age");
    std::fs::write(&file, ciphertext).unwrap();
    user.age_decrypt(identity, &file)
}

fn exposed_mark(user: &TestVault, name: &str) -> PathBuf {
    user.store()
        .join(".coffer/exposed")
        .join(format!("{name}.exposed"))
}

fn assert_clean_work_tree(user: &TestVault) {
    let status = user.git(&user.store(), &["status", "--porcelain"]);
    assert_eq!(
        stdout(&status),
        "",
        "everything coffer changed is committed"
    );
}

#[test]
fn a_team_shares_a_vault_and_survives_an_intruder_and_a_departure() {
    require_tool("age");
    let (_remote_dir, remote) = common::bare_remote();
    let remote = remote.display().to_string();

    // Alice starts the vault and pushes it.
    let alice = TestVault::with_git();
    assert_eq!(
        alice.try_insert("team/db", "alice-db-1\n").status.code(),
        Some(0)
    );
    assert_eq!(
        alice.try_insert("web/shop", "shop-1\n").status.code(),
        Some(0)
    );
    alice.run_ok(&["git", "remote", "add", "origin", &remote]);
    let out = alice.run_ok(&["sync"]);
    assert!(stderr(&out).starts_with("Pushed "), "{}", stderr(&out));

    // Bob joins: clone prints the line he sends to Alice.
    let bob = TestVault::bare();
    let out = bob.run_ok(&["clone", "--no-passphrase", &remote]);
    let bob_key = stdout(&out).trim().to_owned();
    assert_eq!(bob_key, bob.recipient(), "clone prints bob's recipient");
    assert!(
        stderr(&out).contains("Approved the recipients"),
        "{}",
        stderr(&out)
    );
    let textconv = bob.git(&bob.store(), &["config", "diff.age.textconv"]);
    assert!(stdout(&textconv).contains("textconv"));
    let symlinks = bob.git(&bob.store(), &["config", "core.symlinks"]);
    assert_eq!(stdout(&symlinks).trim(), "false");
    let err = refused(&bob, &["show", "team/db"]);
    assert!(err.contains("no identity matches"), "{err}");

    // Alice adds him; everything is re-encrypted and committed with a pass-style message.
    let out = alice.run_ok(&["recipients", "add", "--label", "bob", &bob_key]);
    assert_eq!(
        stdout(&out),
        "Added bob to the store; re-encrypted 2 secret(s).\n"
    );
    assert_eq!(alice.git_log()[0], "Add recipient bob to the store.");
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(listing.contains("(from .age-recipients)"), "{listing}");
    assert!(listing.contains(&format!("{bob_key}  (bob)")), "{listing}");
    alice.run_ok(&["sync"]);

    // Bob syncs and reads. The change only adds him: his device approves it by itself and
    // says so in one line; he can write at once.
    let out = bob.run_ok(&["sync"]);
    let err = stderr(&out);
    assert!(
        err.contains("(bob)") && err.contains("only adds you"),
        "{err}"
    );
    assert_eq!(bob.show("team/db"), b"alice-db-1\n");
    bob.run_ok(&["generate", "web/new"]);
    bob.run_ok(&["sync"]);

    // A concurrent edit: both change team/db; Bob pushes first.
    assert!(alice.try_insert("team/db", "alice-db-2\n").status.success());
    assert!(bob.try_insert("team/db", "bob-db-2\n").status.success());
    bob.run_ok(&["sync"]);
    let err = refused(&alice, &["sync"]);
    assert!(err.contains("team/db changed both"), "{err}");
    assert!(err.contains("--resolve team/db --ours"), "{err}");
    // Both versions are retrievable while the sync waits: the remote's in the work tree,
    // Alice's in git's index.
    assert_eq!(alice.show("team/db"), b"bob-db-2\n");
    let mine = alice
        .git(&alice.store(), &["show", ":3:team/db.age"])
        .stdout;
    assert_eq!(
        age_decrypt_bytes(&alice, &alice.identities(), &mine),
        b"alice-db-2\n"
    );
    let out = alice.run_ok(&["sync", "--resolve", "team/db", "--ours"]);
    assert_eq!(alice.show("team/db"), b"alice-db-2\n");
    // The version not kept stays reachable under a ref the message names, even after
    // `git gc --prune=now`, and `history` lists it.
    let refname = common::named_ref(&stderr(&out));
    assert!(
        refname.starts_with("refs/coffer/conflicts/team%2Fdb/"),
        "{refname}"
    );
    common::kept_aside_survives_gc(&alice, "team/db", &refname, b"bob-db-2\n");
    bob.run_ok(&["sync"]);
    assert_eq!(bob.show("team/db"), b"alice-db-2\n");

    // Mallory, with push access but no business here, adds herself with plain git.
    let mallory = TestVault::new();
    let mallory_key = mallory.recipient();
    let clone = mallory.dir.path().join("checkout");
    mallory.git(
        mallory.dir.path(),
        &["clone", "-q", &remote, clone.to_str().unwrap()],
    );
    let file = clone.join(".age-recipients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("# mallory\n{mallory_key}\n"));
    std::fs::write(&file, text).unwrap();
    mallory.git(&clone, &["commit", "-qam", "Tidy recipients."]);
    mallory.git(&clone, &["push", "-q", "origin", "HEAD"]);

    // Alice syncs: she is warned, can still read, and cannot write there until she accepts.
    let out = alice.run_ok(&["sync"]);
    assert!(stderr(&out).contains(&mallory_key), "{}", stderr(&out));
    assert_eq!(alice.show("web/shop"), b"shop-1\n");
    let out = alice.try_insert("web/token", "t0k3n\n");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{mallory_key} (mallory)")), "{err}");
    assert!(err.contains("coffer recipients accept"), "{err}");
    assert!(!alice.path("web/token").exists(), "nothing was written");
    let err = refused(&alice, &["reencrypt"]);
    assert!(err.contains(&mallory_key), "{err}");
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(listing.contains("Not approved on this device"), "{listing}");
    let out = alice.run_ok(&["recipients", "accept"]);
    assert!(
        stdout(&out).contains(&format!("added: {mallory_key} (mallory)")),
        "{}",
        stdout(&out)
    );
    assert!(alice.try_insert("web/token", "t0k3n\n").status.success());
    let token = std::fs::read(alice.path("web/token")).unwrap();
    assert_eq!(
        age_decrypt_bytes(&mallory, &mallory.identities(), &token),
        b"t0k3n\n"
    );

    // Alice removes Bob: what he could read is re-encrypted without him and marked exposed.
    let out = alice.run_ok(&["recipients", "rm", "bob"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("Removed bob from the store; re-encrypted 4 secret(s).\n"),
        "{text}"
    );
    for name in ["team/db", "web/new", "web/shop", "web/token"] {
        assert!(
            text.contains(&format!("\n  {name}\n")),
            "{name} listed as exposed: {text}"
        );
        let mark = std::fs::read_to_string(exposed_mark(&alice, name)).unwrap();
        assert!(mark.contains(&bob_key) && mark.contains("bob"), "{mark}");
    }
    assert_eq!(alice.git_log()[0], "Remove recipient bob from the store.");
    assert_clean_work_tree(&alice);
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(listing.contains("Exposed"), "{listing}");
    assert!(listing.contains("  team/db  (by bob"), "{listing}");

    // Re-encryption and a move do not change a value: the marks stay (and travel).
    alice.run_ok(&["reencrypt"]);
    alice.run_ok(&["mv", "web/shop", "web/store"]);
    assert!(exposed_mark(&alice, "team/db").exists());
    assert!(exposed_mark(&alice, "web/store").exists());
    assert!(!exposed_mark(&alice, "web/shop").exists(), "the mark moved");
    alice.run_ok(&["cp", "web/store", "web/copy"]);
    assert!(
        exposed_mark(&alice, "web/copy").exists(),
        "a copy is as exposed"
    );
    alice.run_ok(&["rm", "web/copy"]);
    assert!(!exposed_mark(&alice, "web/copy").exists());
    // A new value clears the mark, in the same commit.
    assert!(alice.try_insert("team/db", "rotated\n").status.success());
    assert!(!exposed_mark(&alice, "team/db").exists());
    alice.run_ok(&["generate", "-f", "web/new"]);
    assert!(!exposed_mark(&alice, "web/new").exists());
    assert_clean_work_tree(&alice);
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(!listing.contains("team/db"), "{listing}");
    assert!(listing.contains("  web/store  (by bob"), "{listing}");
    alice.run_ok(&["sync"]);

    // Bob, after syncing, can read nothing current; the team sees the marks.
    bob.run_ok(&["sync"]);
    let err = refused(&bob, &["show", "team/db"]);
    assert!(err.contains("no identity matches"), "{err}");
    assert!(exposed_mark(&bob, "web/store").exists());
    assert!(!exposed_mark(&bob, "team/db").exists());
}

#[test]
fn an_ssh_ed25519_recipient_works_with_age_and_ssh_keygen() {
    require_tool("ssh-keygen");
    require_tool("age");
    let alice = TestVault::new();
    let key = alice.dir.path().join("id_ed25519");
    let out = alice
        .tool("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "carol@laptop", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let out = alice.run_ok(&["recipients", "add", public.trim()]);
    assert!(
        stdout(&out).starts_with("Added carol@laptop to the store"),
        "{}",
        stdout(&out)
    );
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(file.contains("# carol@laptop\nssh-ed25519 "), "{file}");
    assert!(alice.try_insert("shared/api", "key-123\n").status.success());
    let ciphertext = std::fs::read(alice.path("shared/api")).unwrap();
    assert_eq!(age_decrypt_bytes(&alice, &key, &ciphertext), b"key-123\n");
    // coffer itself reads with the SSH key as identity.
    let out = alice
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &key)
        .args(["show", "shared/api"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "key-123\n", "{}", stderr(&out));
    // Removing by label works for SSH keys too.
    let out = alice.run_ok(&["recipients", "rm", "carol@laptop"]);
    assert!(stdout(&out).contains("shared/api"), "{}", stdout(&out));
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(!file.contains("ssh-ed25519"), "{file}");
}

#[test]
fn recipients_of_unknown_kinds_or_unallowed_plugins_are_refused_without_running_anything() {
    let alice = TestVault::new();
    assert!(alice.try_insert("kept", "old\n").status.success());
    // A plugin binary that would leave a trace if anything ran it.
    let bin = alice.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let trace = alice.dir.path().join("plugin-ran");
    let plugin = bin.join("age-plugin-evil");
    std::fs::write(&plugin, format!("#!/bin/sh\ntouch '{}'\n", trace.display())).unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let file = alice.store().join(".age-recipients");
    let original = std::fs::read_to_string(&file).unwrap();

    let run = |args: &[&str], stdin: &str| {
        alice
            .cmd()
            .env("PATH", &path)
            .args(args)
            .write_stdin(stdin.as_bytes().to_vec())
            .output()
            .unwrap()
    };
    for (line, expect) in [
        (
            "age1evil1qyqszqgpqyqszqgpqyqszqgpqyqszqgp",
            "age-plugin-evil",
        ),
        (
            "totally-not-a-key SECRETLOOKING",
            "not a recipient coffer accepts",
        ),
    ] {
        std::fs::write(&file, format!("{original}{line}\n")).unwrap();
        for args in [
            &["insert", "-m", "new"][..],
            &["insert", "-m", "-f", "kept"][..],
            &["reencrypt"][..],
            &["recipients"][..],
        ] {
            let out = run(args, "value\n");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains(".age-recipients:2"), "{args:?}: {err}");
            assert!(err.contains(expect), "{args:?}: {err}");
            assert!(
                !err.contains("SECRETLOOKING"),
                "never echoes the line: {err}"
            );
        }
        assert!(!trace.exists(), "no plugin ran");
        assert!(!alice.path("new").exists());
        assert_eq!(alice.show("kept"), b"old\n", "reading is never blocked");
    }
    // On the command line too, a plugin recipient is a usage error.
    let out = run(
        &["recipients", "add", "age1evil1qyqszqgpqyqszqgpqyqszqgp"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!trace.exists(), "no plugin ran");
}

#[test]
fn the_lockout_guard_refuses_files_you_could_not_read_unless_forced() {
    let alice = TestVault::new();
    let other = TestVault::new();
    // An empty folder for someone else only: writing nothing there is fine.
    alice.run_ok(&["init", "-p", "theirs", &other.recipient()]);
    let out = alice.try_insert("theirs/note", "for them\n");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("none of your identities could decrypt"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(!alice.path("theirs/note").exists());
    // `-f` keeps its pass meaning (overwrite) and does not lift the guard.
    assert_eq!(
        alice
            .cmd()
            .args(["insert", "-m", "-f", "theirs/note"])
            .write_stdin(b"x\n".to_vec())
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    let out = alice
        .cmd()
        .args(["--force", "insert", "-m", "theirs/note"])
        .write_stdin(b"for them\n".to_vec())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        other.age_decrypt(&other.identities(), &alice.path("theirs/note")),
        b"for them\n"
    );

    // Removing yourself from a folder with secrets is the same thing.
    assert!(alice.try_insert("mine", "x\n").status.success());
    alice.run_ok(&["recipients", "add", "--label", "other", &other.recipient()]);
    let err = refused(&alice, &["recipients", "rm", &alice.recipient()]);
    assert!(err.contains("none of your identities"), "{err}");
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(file.contains(&alice.recipient()), "nothing changed: {file}");
    alice.run_ok(&["recipients", "rm", "--force", &alice.recipient()]);
    assert_eq!(
        other.age_decrypt(&other.identities(), &alice.path("mine")),
        b"x\n"
    );
}

#[test]
fn own_changes_are_approved_and_hand_edits_are_not() {
    let alice = TestVault::new();
    let (bob, carol) = (TestVault::new(), TestVault::new());
    // init -p and recipients add on a folder that inherited: a file of its own, approved.
    alice.run_ok(&["init", "-p", "team", &alice.recipient(), &bob.recipient()]);
    assert!(alice.try_insert("team/x", "1\n").status.success());
    let out = alice.run_ok(&[
        "recipients",
        "add",
        "-p",
        "ops",
        "--label",
        "carol",
        &carol.recipient(),
    ]);
    assert!(
        stderr(&out).contains("ops now has its own .age-recipients"),
        "{}",
        stderr(&out)
    );
    assert!(alice.try_insert("ops/y", "2\n").status.success());
    assert_eq!(
        carol.age_decrypt(&carol.identities(), &alice.path("ops/y")),
        b"2\n"
    );
    // Moving a folder carries its recipients file, approved as it was.
    alice.run_ok(&["mv", "team", "crew"]);
    assert_eq!(
        bob.age_decrypt(&bob.identities(), &alice.path("crew/x")),
        b"1\n"
    );
    assert!(alice.try_insert("crew/z", "3\n").status.success());

    // A hand edit (as a pull would bring) is refused for writing until accepted.
    let file = alice.store().join("crew/.age-recipients");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}# carol\n{}\n", carol.recipient())).unwrap();
    let err = refused(&alice, &["cp", "ops/y", "crew/y"]);
    assert!(err.contains("recipients of crew"), "{err}");
    assert!(err.contains("accept -p crew`"), "{err}");
    let err = refused(
        &alice,
        &["recipients", "add", "-p", "crew", &alice.recipient()],
    );
    assert!(err.contains("review that first"), "{err}");
    alice.run_ok(&["recipients", "accept", "-p", "crew"]);
    alice.run_ok(&["cp", "ops/y", "crew/y"]);
    assert_eq!(
        carol.age_decrypt(&carol.identities(), &alice.path("crew/y")),
        b"2\n"
    );

    // A deleted recipients file is a change too: crew would fall back to the root's.
    std::fs::remove_file(&file).unwrap();
    let out = alice.try_insert("crew/w", "4\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("removed: "), "{err}");
    assert!(err.contains(&bob.recipient()), "{err}");
    // ... and the device's own `init -p crew ''`-style removal is approved.
    std::fs::write(&file, format!("{}\n", alice.recipient())).unwrap();
    alice.run_ok(&["recipients", "accept", "-p", "crew"]);
    alice.run_ok(&["init", "-p", "crew", ""]);
    assert!(alice.try_insert("crew/w", "4\n").status.success());
}

#[test]
fn git_diff_shows_plaintext_and_autosync_pushes_each_change() {
    let alice = TestVault::with_git();
    let (_remote_dir, remote) = common::publish(&alice);
    let config = alice.home().join(".config/coffer");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[git]\nautosync = true\n").unwrap();
    assert!(alice.try_insert("site", "first\n").status.success());
    assert!(alice.try_insert("site", "second\n").status.success());
    let log = alice
        .tool("git")
        .args(["--git-dir", &remote, "log", "--format=%s"])
        .output()
        .unwrap();
    let subjects = stdout(&log);
    assert_eq!(
        subjects.lines().take(2).collect::<Vec<_>>(),
        [
            "Add given password for site to store.",
            "Add given password for site to store."
        ],
        "{subjects}"
    );
    let diff = alice.run_ok(&["git", "diff", "HEAD~1", "HEAD", "--", "site.age"]);
    let text = stdout(&diff);
    assert!(
        text.contains("-first") && text.contains("+second"),
        "{text}"
    );

    // A hand-made change to a tracked file stops the sync before git touches anything.
    let before = std::fs::read(alice.path("site")).unwrap();
    std::fs::write(alice.path("site"), b"scribble").unwrap();
    let err = refused(&alice, &["sync"]);
    assert!(err.contains("not committed (site.age)"), "{err}");
    assert_eq!(std::fs::read(alice.path("site")).unwrap(), b"scribble");
    std::fs::write(alice.path("site"), before).unwrap();
    alice.run_ok(&["sync"]);
}

/// Runs coffer as `user` under strace, killed (SIGKILL) when it first makes one of the
/// `syscalls` on `path` (as the program passes it: a bare file name for calls relative to a
/// folder handle, a full path otherwise): a crash at that exact point.
fn killed_at(user: &TestVault, syscalls: &str, path: &str, args: &[&str], stdin: &str) -> Output {
    killed_at_nth(user, syscalls, path, 1, args, stdin)
}

/// [`killed_at`] the `nth` time (counted per thread) instead of the first.
fn killed_at_nth(
    user: &TestVault,
    syscalls: &str,
    path: &str,
    nth: usize,
    args: &[&str],
    stdin: &str,
) -> Output {
    require_tool("strace");
    let mut cmd = user.tool("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-P", path])
        .arg(format!("--trace={syscalls}"))
        .arg(format!("--inject={syscalls}:signal=SIGKILL:when={nth}"))
        .arg(common::coffer_bin())
        .args(args);
    let out = common::output_with_stdin(&mut cmd, stdin.as_bytes());
    // strace dies the way its tracee did.
    let killed = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9)
        || out.status.code() == Some(137);
    assert!(
        killed,
        "coffer {args:?} should be killed at {syscalls} {path}: {:?} {}",
        out.status,
        stderr(&out)
    );
    out
}

/// Alice and Bob share a vault; both changed `team/db`, Bob pushed first, and Alice's sync
/// stopped on the conflict.
fn stopped_sync() -> (TestVault, TestVault, tempfile::TempDir) {
    let alice = TestVault::with_git();
    alice.insert("team/db", "one\n");
    let (remote_dir, remote) = common::publish(&alice);
    let (bob, bob_key) = common::clone_as_teammate(&remote);
    alice.run_ok(&["recipients", "add", "--label", "bob", &bob_key]);
    alice.run_ok(&["sync"]);
    bob.run_ok(&["sync"]);
    bob.run_ok(&["recipients", "accept"]);
    alice.insert("team/db", "alice\n");
    bob.insert("team/db", "bob\n");
    bob.run_ok(&["sync"]);
    let err = refused(&alice, &["sync"]);
    assert!(err.contains("team/db changed both"), "{err}");
    (alice, bob, remote_dir)
}

#[test]
fn no_write_goes_into_a_stopped_sync() {
    let (alice, bob, _remote) = stopped_sync();
    let before = files_below_store(&alice);
    for args in [
        &["insert", "-m", "web/new"][..],
        &["generate", "web/gen"][..],
        &["rm", "-f", "team/db"][..],
        &["mv", "team/db", "team/moved"][..],
        &["reencrypt"][..],
        &["recipients", "rm", "bob"][..],
        &["init", "-p", "ops"][..],
    ] {
        let out = alice
            .cmd()
            .args(args)
            .write_stdin(b"value\n".to_vec())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("coffer: "), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("coffer sync --resolve"), "{args:?}: {err}");
        assert!(err.contains("team/db.age"), "{args:?}: {err}");
    }
    assert_eq!(files_below_store(&alice), before, "nothing was written");
    // Approving recipients changes nothing git tracks: allowed.
    alice.run_ok(&["recipients", "accept"]);
    let out = alice.run_ok(&["sync", "--resolve", "team/db", "--ours"]);
    assert!(stderr(&out).contains("Kept"), "{}", stderr(&out));
    let shown = alice.store_git(&["show", "--stat", "--format=%s", "HEAD"]);
    assert!(!shown.contains("web/new"), "{shown}");
    alice.insert("web/new", "now\n");
    assert_eq!(
        alice.git_log()[0],
        "Add given password for web/new to store."
    );
    alice.run_ok(&["sync"]);
    bob.run_ok(&["sync"]);
    assert_eq!(bob.show("web/new"), b"now\n");
}

fn files_below_store(user: &TestVault) -> Vec<(String, Vec<u8>)> {
    common::files_below(&user.store())
        .into_iter()
        .filter(|f| !f.starts_with(".git/") && f != ".coffer/lock")
        .map(|f| {
            let bytes = std::fs::read(user.store().join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn git_leftovers_are_named_and_then_committed() {
    let alice = TestVault::with_git();
    alice.insert("web/shop", "one\n");
    alice.insert("web/other", "x\n");
    let before = std::fs::read(alice.path("web/shop")).unwrap();

    // A git killed mid-command leaves its index lock: nothing is written, the file is named.
    let index_lock = alice.store().join(".git/index.lock");
    std::fs::write(&index_lock, b"").unwrap();
    let out = alice
        .cmd()
        .args(["insert", "-m", "-f", "web/shop"])
        .write_stdin(b"two\n".to_vec())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&index_lock.display().to_string()),
        "names the file in full: {err}"
    );
    assert_eq!(std::fs::read(alice.path("web/shop")).unwrap(), before);
    assert_eq!(alice.store_git(&["status", "--porcelain"]), "");
    std::fs::remove_file(&index_lock).unwrap();

    // A coffer killed between writing a secret and committing it (here, where it would
    // look for the secret's exposure mark) leaves the new value uncommitted ...
    killed_at(
        &alice,
        "openat",
        "exposed",
        &["insert", "-m", "-f", "web/shop"],
        "two\n",
    );
    assert_eq!(alice.show("web/shop"), b"two\n");
    assert_ne!(alice.store_git(&["status", "--porcelain"]), "");
    // ... and a hand-made scribble on another secret is not coffer's.
    let other = std::fs::read(alice.path("web/other")).unwrap();
    std::fs::write(alice.path("web/other"), b"scribble").unwrap();
    // The next write commits what coffer left, then its own change; the scribble stays.
    alice.insert("web/next", "three\n");
    assert_eq!(
        alice.git_log()[..2],
        [
            "Add given password for web/next to store.",
            "Commit changes left by an interrupted coffer command.",
        ]
    );
    assert_eq!(
        alice.store_git(&["status", "--porcelain"]),
        " M web/other.age\n"
    );
    let left = alice.store_git(&["show", "--name-only", "--format=", "HEAD~1"]);
    assert_eq!(left, "web/shop.age\n");
    std::fs::write(alice.path("web/other"), other).unwrap();
    assert_eq!(alice.store_git(&["status", "--porcelain"]), "");
}

#[test]
fn a_pushed_gitattributes_cannot_rewrite_secrets_in_a_clone() {
    let alice = TestVault::with_git();
    alice.insert("team/db", "db-password\n");
    alice.insert("web/shop", "shop\n");
    let (_remote_dir, remote) = common::publish(&alice);

    // A member with push access, using plain git, asks for CRLF line ends on every secret.
    let mallory = TestVault::new();
    let checkout = mallory.dir.path().join("checkout");
    mallory.git(
        mallory.dir.path(),
        &["clone", "-q", &remote, checkout.to_str().unwrap()],
    );
    std::fs::write(
        checkout.join(".gitattributes"),
        "*.age text eol=crlf\n.age-recipients text eol=crlf\n",
    )
    .unwrap();
    mallory.git(&checkout, &["commit", "-qam", "Normalise line ends."]);
    mallory.git(&checkout, &["push", "-q", "origin", "HEAD"]);

    // A fresh clone reads every secret as written, and git sees nothing changed.
    let carol = TestVault::bare();
    let out = carol.run_ok(&["clone", "--no-passphrase", &remote]);
    let carol_key = stdout(&out).trim().to_owned();
    alice.run_ok(&["sync"]);
    alice.run_ok(&["recipients", "add", "--label", "carol", &carol_key]);
    alice.run_ok(&["sync"]);
    carol.run_ok(&["sync"]);
    assert_eq!(carol.show("team/db"), b"db-password\n");
    assert_eq!(carol.show("web/shop"), b"shop\n");
    assert_eq!(carol.store_git(&["status", "--porcelain"]), "");
    let fresh = TestVault::bare();
    fresh.run_ok(&["clone", "--no-passphrase", &remote]);
    for name in ["team/db", "web/shop"] {
        assert_eq!(
            std::fs::read(fresh.path(name)).unwrap(),
            std::fs::read(alice.path(name)).unwrap(),
            "{name} is byte-exact in a fresh clone"
        );
    }
    let attributes = std::fs::read_to_string(fresh.store().join(".git/info/attributes")).unwrap();
    assert!(attributes.contains("*.age -text"), "{attributes}");
    // Writing and syncing keep ciphertext byte-exact too.
    carol.run_ok(&["recipients", "accept"]);
    carol.insert("web/new", "fresh\n");
    carol.run_ok(&["sync"]);
    alice.run_ok(&["sync"]);
    assert_eq!(alice.show("web/new"), b"fresh\n");
}

const RENAMES: &str = "rename,renameat,renameat2";

/// The file that holds this device's pins for the user's store.
fn pin_file(user: &TestVault) -> PathBuf {
    let dir = user.data_dir().join("trust");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn a_revocation_that_cannot_reencrypt_everything_changes_nothing() {
    let alice = TestVault::with_git();
    let bob = TestVault::new();
    alice.run_ok(&["recipients", "add", "--label", "bob", &bob.recipient()]);
    alice.insert("web/a", "a\n");
    alice.insert("web/b", "b\n");
    // A secret someone encrypted to a key Alice does not hold.
    let stranger = TestVault::new();
    let foreign = alice.path("web/foreign");
    alice.age_encrypt(&["-r", &stranger.recipient()], &foreign, b"theirs\n");
    alice.git(&alice.store(), &["add", "web/foreign.age"]);
    alice.git(&alice.store(), &["commit", "-qm", "Add foreign."]);
    let before = files_below_store(&alice);

    let err = refused(&alice, &["recipients", "rm", "bob"]);
    assert!(
        err.contains(&foreign.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(files_below_store(&alice), before, "nothing was written");
    assert!(!alice.store().join(".coffer/exposed").exists());
    assert_clean_work_tree(&alice);
    assert_eq!(
        bob.age_decrypt(&bob.identities(), &alice.path("web/a")),
        b"a\n"
    );
}

#[test]
fn a_killed_revocation_is_finished_by_running_it_again() {
    require_tool("age");
    let alice = TestVault::with_git();
    let bob = TestVault::new();
    alice.run_ok(&["recipients", "add", "--label", "bob", &bob.recipient()]);
    let names = ["web/a", "web/b", "web/c", "web/d"];
    for name in names {
        alice.insert(name, format!("{name}\n"));
    }
    // Killed while re-encrypting, after the recipients file lost Bob.
    killed_at(&alice, RENAMES, "c.age", &["recipients", "rm", "bob"], "");
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(!file.contains(&bob.recipient()), "{file}");
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(listing.contains("Unfinished"), "{listing}");

    let out = alice.run_ok(&["recipients", "rm", "bob"]);
    assert!(
        stdout(&out).starts_with("Finished removing bob from the store; re-encrypted 4"),
        "{}",
        stdout(&out)
    );
    for name in names {
        let denied = alice
            .tool("age")
            .arg("-d")
            .arg("-i")
            .arg(bob.identities())
            .arg(alice.path(name))
            .output()
            .unwrap();
        assert!(!denied.status.success(), "bob still decrypts {name}");
        assert_eq!(alice.show(name), format!("{name}\n").as_bytes());
        let mark = std::fs::read_to_string(exposed_mark(&alice, name)).unwrap();
        assert_eq!(mark.matches(&bob.recipient()).count(), 1, "{mark}");
    }
    assert_eq!(alice.git_log()[0], "Remove recipient bob from the store.");
    assert_clean_work_tree(&alice);
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(!listing.contains("Unfinished"), "{listing}");
    // Done: a third run is told so.
    let err = refused(&alice, &["recipients", "rm", "bob"]);
    assert!(err.contains("not a recipient"), "{err}");
}

#[test]
fn a_killed_recipients_add_blocks_no_later_write() {
    require_tool("age");
    let bob = TestVault::new();
    let bob_key = bob.recipient();
    // Killed at each save of this device's pins in turn: before the recipients file is
    // written, between it and its approval, and after.
    for nth in 1..=4 {
        let alice = TestVault::with_git();
        alice.insert("team/x", "x\n");
        // The pins are written relative to their folder's handle: strace sees the bare name.
        let pins = pin_file(&alice)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let args = [
            "recipients",
            "add",
            "-p",
            "team",
            "--label",
            "bob",
            &bob_key,
        ];
        killed_at_nth(&alice, RENAMES, &pins, nth, &args, "");
        let out = alice.try_insert("team/y", "y\n");
        assert!(out.status.success(), "kill {nth}: {}", stderr(&out));
        // Running it again finishes the job.
        alice.run_ok(&args);
        alice.insert("team/z", "z\n");
        for name in ["team/x", "team/y", "team/z"] {
            let value = bob.age_decrypt(&bob.identities(), &alice.path(name));
            assert_eq!(value, format!("{}\n", &name[5..]).as_bytes(), "kill {nth}");
        }
        assert_clean_work_tree(&alice);
    }
}

/// A newcomer added by a member approves that change on their own device without a
/// `recipients accept`: it only adds their own key. Anything more still waits.
#[test]
fn a_newcomer_approves_their_own_addition_and_nothing_else() {
    require_tool("age-keygen");
    let alice = TestVault::with_git();
    assert!(alice.try_insert("team/db", "db\n").status.success());
    let (_remote_dir, remote) = common::publish(&alice);
    let (bob, bob_key) = common::clone_as_teammate(&remote);
    alice.run_ok(&["recipients", "add", "--label", "bob", &bob_key]);
    alice.run_ok(&["sync"]);

    // Pulled with plain git: the first write approves it, says so in one line, and goes on.
    bob.run_ok(&["git", "pull", "-q"]);
    let out = bob.run_ok(&["generate", "web/new"]);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("approved") && err.contains(&bob_key), "{err}");
    bob.run_ok(&["sync"]);

    // Someone else added too: that is for Bob to check.
    let carol = stdout(&bob.tool("age-keygen").output().unwrap())
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    alice.run_ok(&["sync"]);
    alice.run_ok(&["recipients", "add", "--label", "carol", &carol]);
    alice.run_ok(&["sync"]);
    let out = bob.run_ok(&["sync"]);
    assert!(stderr(&out).contains("(carol)"), "{}", stderr(&out));
    let err = refused(&bob, &["generate", "web/other"]);
    assert!(err.contains(&carol), "{err}");
}
