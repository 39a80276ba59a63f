//! Team vaults: recipients, trust pinning, sync, conflicts and safe revocation — several
//! users on this machine (each their own HOME and identity) sharing a bare git remote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Vault, require_tool, stderr, stdout};
use tempfile::TempDir;

/// Runs coffer as `user` and insists on success.
fn ok(user: &Vault, args: &[&str]) -> Output {
    let out = user.run(args);
    assert!(
        out.status.success(),
        "coffer {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Runs coffer as `user`, insists on exit 1 with one line on stderr, returns that line.
fn refused(user: &Vault, args: &[&str]) -> String {
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

/// Stores `content` with `insert -m` (no `-f`: there is no terminal, so nothing is asked).
fn put(user: &Vault, name: &str, content: &str) -> Output {
    user.cmd()
        .args(["insert", "-m", name])
        .write_stdin(content.as_bytes().to_vec())
        .output()
        .unwrap()
}

/// Runs git as `user` in `dir`.
fn git(user: &Vault, dir: &Path, args: &[&str]) -> Output {
    let out = user
        .tool("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        stderr(&out)
    );
    out
}

/// A bare repository to act as the team's remote.
fn bare_remote() -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.git");
    let out = std::process::Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["init", "--bare", "-q"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, path.display().to_string())
}

/// Decrypts an age file with the real `age` binary and the given identity file.
fn age_decrypt(user: &Vault, identity: &Path, ciphertext: &[u8]) -> Vec<u8> {
    let file = user.dir.path().join("ciphertext.age");
    std::fs::write(&file, ciphertext).unwrap();
    let out = user
        .tool("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "age -d failed: {}", stderr(&out));
    out.stdout
}

/// Decrypts a secret file of any store with `user`'s identity, through the real `age`.
fn read_as(user: &Vault, file: &Path) -> Vec<u8> {
    age_decrypt(user, &identity(user), &std::fs::read(file).unwrap())
}

/// A user's identity as `age -i` takes it.
fn identity(user: &Vault) -> PathBuf {
    user.identities()
}

fn exposed_mark(user: &Vault, name: &str) -> PathBuf {
    user.store()
        .join(".coffer/exposed")
        .join(format!("{name}.exposed"))
}

fn assert_clean_work_tree(user: &Vault) {
    let status = git(user, &user.store(), &["status", "--porcelain"]);
    assert_eq!(
        stdout(&status),
        "",
        "everything coffer changed is committed"
    );
}

#[test]
fn a_team_shares_a_vault_and_survives_an_intruder_and_a_departure() {
    require_tool("age");
    let (_remote_dir, remote) = bare_remote();

    // Alice starts the vault and pushes it.
    let alice = Vault::with_git();
    assert_eq!(
        put(&alice, "team/db", "alice-db-1\n").status.code(),
        Some(0)
    );
    assert_eq!(put(&alice, "web/shop", "shop-1\n").status.code(), Some(0));
    ok(&alice, &["git", "remote", "add", "origin", &remote]);
    let out = ok(&alice, &["sync"]);
    assert!(stderr(&out).starts_with("Pushed "), "{}", stderr(&out));

    // Bob joins: clone prints the line he sends to Alice.
    let bob = Vault::bare();
    let out = ok(&bob, &["clone", "--no-passphrase", &remote]);
    let bob_key = stdout(&out).trim().to_owned();
    assert_eq!(bob_key, bob.recipient(), "clone prints bob's recipient");
    assert!(
        stderr(&out).contains("Approved the recipients"),
        "{}",
        stderr(&out)
    );
    let textconv = git(&bob, &bob.store(), &["config", "diff.age.textconv"]);
    assert!(stdout(&textconv).contains("textconv"));
    let symlinks = git(&bob, &bob.store(), &["config", "core.symlinks"]);
    assert_eq!(stdout(&symlinks).trim(), "false");
    let err = refused(&bob, &["show", "team/db"]);
    assert!(err.contains("no identity matches"), "{err}");

    // Alice adds him; everything is re-encrypted and committed with a pass-style message.
    let out = ok(&alice, &["recipients", "add", "--label", "bob", &bob_key]);
    assert_eq!(
        stdout(&out),
        "Added bob to the store; re-encrypted 2 secret(s).\n"
    );
    assert_eq!(alice.git_log()[0], "Add recipient bob to the store.");
    let listing = stdout(&ok(&alice, &["recipients"]));
    assert!(listing.contains("(from .age-recipients)"), "{listing}");
    assert!(listing.contains(&format!("{bob_key}  (bob)")), "{listing}");
    ok(&alice, &["sync"]);

    // Bob syncs and reads. He is told the recipients changed (he was added); reading is
    // never blocked, writing waits until he accepts.
    let out = ok(&bob, &["sync"]);
    assert!(stderr(&out).contains("(bob)"), "{}", stderr(&out));
    assert_eq!(bob.show("team/db"), b"alice-db-1\n");
    let err = refused(&bob, &["generate", "web/new"]);
    assert!(err.contains(&bob_key), "{err}");
    ok(&bob, &["recipients", "accept"]);
    ok(&bob, &["generate", "web/new"]);
    ok(&bob, &["sync"]);

    // A concurrent edit: both change team/db; Bob pushes first.
    assert!(put(&alice, "team/db", "alice-db-2\n").status.success());
    assert!(put(&bob, "team/db", "bob-db-2\n").status.success());
    ok(&bob, &["sync"]);
    let err = refused(&alice, &["sync"]);
    assert!(err.contains("team/db changed both"), "{err}");
    assert!(err.contains("--resolve team/db --ours"), "{err}");
    // Both versions are retrievable while the sync waits: the remote's in the work tree,
    // Alice's in git's index.
    assert_eq!(alice.show("team/db"), b"bob-db-2\n");
    let mine = git(&alice, &alice.store(), &["show", ":3:team/db.age"]).stdout;
    assert_eq!(
        age_decrypt(&alice, &identity(&alice), &mine),
        b"alice-db-2\n"
    );
    let out = ok(&alice, &["sync", "--resolve", "team/db", "--ours"]);
    assert_eq!(alice.show("team/db"), b"alice-db-2\n");
    // The version not kept stays in history, in the commit the message names.
    let message = stderr(&out);
    let commit = message
        .split("in commit ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_else(|| panic!("no commit named in {message:?}"));
    let theirs = git(
        &alice,
        &alice.store(),
        &["show", &format!("{commit}:team/db.age")],
    )
    .stdout;
    assert_eq!(
        age_decrypt(&alice, &identity(&alice), &theirs),
        b"bob-db-2\n"
    );
    ok(&bob, &["sync"]);
    assert_eq!(bob.show("team/db"), b"alice-db-2\n");

    // Mallory, with push access but no business here, adds herself with plain git.
    let mallory = Vault::new();
    let mallory_key = mallory.recipient();
    let clone = mallory.dir.path().join("checkout");
    git(
        &mallory,
        mallory.dir.path(),
        &["clone", "-q", &remote, clone.to_str().unwrap()],
    );
    let file = clone.join(".age-recipients");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("# mallory\n{mallory_key}\n"));
    std::fs::write(&file, text).unwrap();
    git(&mallory, &clone, &["commit", "-qam", "Tidy recipients."]);
    git(&mallory, &clone, &["push", "-q", "origin", "HEAD"]);

    // Alice syncs: she is warned, can still read, and cannot write there until she accepts.
    let out = ok(&alice, &["sync"]);
    assert!(stderr(&out).contains(&mallory_key), "{}", stderr(&out));
    assert_eq!(alice.show("web/shop"), b"shop-1\n");
    let out = put(&alice, "web/token", "t0k3n\n");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{mallory_key} (mallory)")), "{err}");
    assert!(err.contains("coffer recipients accept"), "{err}");
    assert!(!alice.path("web/token").exists(), "nothing was written");
    let err = refused(&alice, &["reencrypt"]);
    assert!(err.contains(&mallory_key), "{err}");
    let listing = stdout(&ok(&alice, &["recipients"]));
    assert!(listing.contains("Not approved on this device"), "{listing}");
    let out = ok(&alice, &["recipients", "accept"]);
    assert!(
        stdout(&out).contains(&format!("added: {mallory_key} (mallory)")),
        "{}",
        stdout(&out)
    );
    assert!(put(&alice, "web/token", "t0k3n\n").status.success());
    let token = std::fs::read(alice.path("web/token")).unwrap();
    assert_eq!(
        age_decrypt(&mallory, &identity(&mallory), &token),
        b"t0k3n\n"
    );

    // Alice removes Bob: what he could read is re-encrypted without him and marked exposed.
    let out = ok(&alice, &["recipients", "rm", "bob"]);
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
    let listing = stdout(&ok(&alice, &["recipients"]));
    assert!(listing.contains("Exposed"), "{listing}");
    assert!(listing.contains("  team/db  (by bob"), "{listing}");

    // Re-encryption and a move do not change a value: the marks stay (and travel).
    ok(&alice, &["reencrypt"]);
    ok(&alice, &["mv", "web/shop", "web/store"]);
    assert!(exposed_mark(&alice, "team/db").exists());
    assert!(exposed_mark(&alice, "web/store").exists());
    assert!(!exposed_mark(&alice, "web/shop").exists(), "the mark moved");
    ok(&alice, &["cp", "web/store", "web/copy"]);
    assert!(
        exposed_mark(&alice, "web/copy").exists(),
        "a copy is as exposed"
    );
    ok(&alice, &["rm", "web/copy"]);
    assert!(!exposed_mark(&alice, "web/copy").exists());
    // A new value clears the mark, in the same commit.
    assert!(put(&alice, "team/db", "rotated\n").status.success());
    assert!(!exposed_mark(&alice, "team/db").exists());
    ok(&alice, &["generate", "-f", "web/new"]);
    assert!(!exposed_mark(&alice, "web/new").exists());
    assert_clean_work_tree(&alice);
    let listing = stdout(&ok(&alice, &["recipients"]));
    assert!(!listing.contains("team/db"), "{listing}");
    assert!(listing.contains("  web/store  (by bob"), "{listing}");
    ok(&alice, &["sync"]);

    // Bob, after syncing, can read nothing current; the team sees the marks.
    ok(&bob, &["sync"]);
    let err = refused(&bob, &["show", "team/db"]);
    assert!(err.contains("no identity matches"), "{err}");
    assert!(exposed_mark(&bob, "web/store").exists());
    assert!(!exposed_mark(&bob, "team/db").exists());
}

#[test]
fn an_ssh_ed25519_recipient_works_with_age_and_ssh_keygen() {
    require_tool("ssh-keygen");
    require_tool("age");
    let alice = Vault::new();
    let key = alice.dir.path().join("id_ed25519");
    let out = alice
        .tool("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "carol@laptop", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let out = ok(&alice, &["recipients", "add", public.trim()]);
    assert!(
        stdout(&out).starts_with("Added carol@laptop to the store"),
        "{}",
        stdout(&out)
    );
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(file.contains("# carol@laptop\nssh-ed25519 "), "{file}");
    assert!(put(&alice, "shared/api", "key-123\n").status.success());
    let ciphertext = std::fs::read(alice.path("shared/api")).unwrap();
    assert_eq!(age_decrypt(&alice, &key, &ciphertext), b"key-123\n");
    // coffer itself reads with the SSH key as identity.
    let out = alice
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &key)
        .args(["show", "shared/api"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "key-123\n", "{}", stderr(&out));
    // Removing by label works for SSH keys too.
    let out = ok(&alice, &["recipients", "rm", "carol@laptop"]);
    assert!(stdout(&out).contains("shared/api"), "{}", stdout(&out));
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(!file.contains("ssh-ed25519"), "{file}");
}

#[test]
fn recipients_of_unknown_kinds_or_unallowed_plugins_are_refused_without_running_anything() {
    let alice = Vault::new();
    assert!(put(&alice, "kept", "old\n").status.success());
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
    let alice = Vault::new();
    let other = Vault::new();
    // An empty folder for someone else only: writing nothing there is fine.
    ok(&alice, &["init", "-p", "theirs", &other.recipient()]);
    let out = put(&alice, "theirs/note", "for them\n");
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
    assert_eq!(read_as(&other, &alice.path("theirs/note")), b"for them\n");

    // Removing yourself from a folder with secrets is the same thing.
    assert!(put(&alice, "mine", "x\n").status.success());
    ok(
        &alice,
        &["recipients", "add", "--label", "other", &other.recipient()],
    );
    let err = refused(&alice, &["recipients", "rm", &alice.recipient()]);
    assert!(err.contains("none of your identities"), "{err}");
    let file = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert!(file.contains(&alice.recipient()), "nothing changed: {file}");
    ok(&alice, &["recipients", "rm", "--force", &alice.recipient()]);
    assert_eq!(read_as(&other, &alice.path("mine")), b"x\n");
}

#[test]
fn own_changes_are_approved_and_hand_edits_are_not() {
    let alice = Vault::new();
    let (bob, carol) = (Vault::new(), Vault::new());
    // init -p and recipients add on a folder that inherited: a file of its own, approved.
    ok(
        &alice,
        &["init", "-p", "team", &alice.recipient(), &bob.recipient()],
    );
    assert!(put(&alice, "team/x", "1\n").status.success());
    let out = ok(
        &alice,
        &[
            "recipients",
            "add",
            "-p",
            "ops",
            "--label",
            "carol",
            &carol.recipient(),
        ],
    );
    assert!(
        stderr(&out).contains("ops now has its own .age-recipients"),
        "{}",
        stderr(&out)
    );
    assert!(put(&alice, "ops/y", "2\n").status.success());
    assert_eq!(read_as(&carol, &alice.path("ops/y")), b"2\n");
    // Moving a folder carries its recipients file, approved as it was.
    ok(&alice, &["mv", "team", "crew"]);
    assert_eq!(read_as(&bob, &alice.path("crew/x")), b"1\n");
    assert!(put(&alice, "crew/z", "3\n").status.success());

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
    ok(&alice, &["recipients", "accept", "-p", "crew"]);
    ok(&alice, &["cp", "ops/y", "crew/y"]);
    assert_eq!(read_as(&carol, &alice.path("crew/y")), b"2\n");

    // A deleted recipients file is a change too: crew would fall back to the root's.
    std::fs::remove_file(&file).unwrap();
    let out = put(&alice, "crew/w", "4\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("removed: "), "{err}");
    assert!(err.contains(&bob.recipient()), "{err}");
    // ... and the device's own `init -p crew ''`-style removal is approved.
    std::fs::write(&file, format!("{}\n", alice.recipient())).unwrap();
    ok(&alice, &["recipients", "accept", "-p", "crew"]);
    ok(&alice, &["init", "-p", "crew", ""]);
    assert!(put(&alice, "crew/w", "4\n").status.success());
}

#[test]
fn git_diff_shows_plaintext_and_autosync_pushes_each_change() {
    let (_remote_dir, remote) = bare_remote();
    let alice = Vault::with_git();
    ok(&alice, &["git", "remote", "add", "origin", &remote]);
    ok(&alice, &["sync"]);
    let config = alice.home().join(".config/coffer");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[git]\nautosync = true\n").unwrap();
    assert!(put(&alice, "site", "first\n").status.success());
    assert!(put(&alice, "site", "second\n").status.success());
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
    let diff = ok(&alice, &["git", "diff", "HEAD~1", "HEAD", "--", "site.age"]);
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
    ok(&alice, &["sync"]);
}
