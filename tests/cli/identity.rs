//! An identity's life (docs/BEHAVIOUR.md §11): `identity passwd` on a real pseudo-terminal,
//! `identity rotate` on a store shared with a teammate and on a mount with its own identities
//! file (checked with the real `age`), rotate and passwd killed at many points, and
//! `identity export-recipient`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use crate::common::{self, StopsAgent, TestVault, require_tool, stderr, stdout};

/// The backups `identity rotate` left beside `identities`.
fn backups(identities: &Path) -> Vec<PathBuf> {
    let name = identities
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut found: Vec<PathBuf> = std::fs::read_dir(identities.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{name}.")) && n.ends_with(".bak")
        })
        .collect();
    found.sort();
    found
}

/// Whether the real `age` decrypts `file` with the identities in `identity`.
fn age_can_decrypt(v: &TestVault, identity: &Path, file: &Path) -> bool {
    require_tool("age");
    v.tool("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

/// The public keys of an unprotected identities file, in order.
fn keys_in(identities: &Path) -> Vec<String> {
    let bytes = std::fs::read(identities).unwrap();
    let ids = coffer::Identities::parse_plain(&bytes).unwrap();
    ids.recipients()
        .iter()
        .map(|r| r.key().to_owned())
        .collect()
}

fn assert_clean_work_tree(dir: &Path, v: &TestVault) {
    let status = v.git(dir, &["status", "--porcelain"]);
    assert_eq!(
        stdout(&status),
        "",
        "everything coffer changed is committed"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------
// passwd

/// `identity passwd` on a terminal: answers each prompt in turn, returns the exit code and
/// everything the terminal showed after the last answer.
fn passwd_on_terminal(v: &TestVault, answers: &[(&str, &str)]) -> (i32, String) {
    let mut p = v.spawn(&["identity", "passwd"]);
    for (prompt, answer) in answers {
        p.exp_string(prompt).unwrap();
        p.send_line(answer).unwrap();
    }
    let rest = p.exp_eof().unwrap();
    let code = match p.process_mut().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("unexpected status {other:?}"),
    };
    (code, rest)
}

/// `show NAME` in this process only (no agent), answering its passphrase prompt on a terminal.
fn show_with_passphrase(v: &TestVault, name: &str, passphrase: &str) -> (i32, String) {
    let mut p = v.spawn(&["--no-agent", "show", name]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(passphrase).unwrap();
    let rest = p.exp_eof().unwrap();
    let code = match p.process_mut().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("unexpected status {other:?}"),
    };
    (code, rest)
}

#[test]
fn passwd_adds_changes_and_removes_the_passphrase_on_a_terminal() {
    let v = TestVault::new();
    v.insert("web/a", "alpha\n");
    let key = v.recipient();
    let ids = v.identities();

    // Add: an unprotected file asks for no current passphrase.
    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("New passphrase for ", "first words"),
            ("Repeat the new passphrase: ", "first words"),
        ],
    );
    assert_eq!(code, 0, "{rest}");
    assert!(!rest.contains("first words"), "echoed: {rest:?}");
    let armored = std::fs::read_to_string(&ids).unwrap();
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{armored}"
    );
    assert_eq!(mode(&ids), 0o600);
    let public = ids.with_extension("pub");
    assert_eq!(
        std::fs::read_to_string(&public).unwrap(),
        format!("{key}\n")
    );
    // Without a terminal nothing can ask: locked; with the passphrase it reads.
    let out = v
        .without_terminal(&["--no-agent", "show", "web/a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (code, rest) = show_with_passphrase(&v, "web/a", "first words");
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("alpha"), "{rest}");
    // Encrypting still needs no passphrase (identities.pub).
    v.insert("web/b", "beta\n");

    // Change: the current one first.
    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("Current passphrase for ", "first words"),
            ("New passphrase for ", "second words"),
            ("Repeat the new passphrase: ", "second words"),
        ],
    );
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("Changed the passphrase"), "{rest}");
    let (code, _) = show_with_passphrase(&v, "web/b", "first words");
    assert_eq!(code, 1, "the old passphrase no longer opens it");
    let (code, rest) = show_with_passphrase(&v, "web/b", "second words");
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("beta"), "{rest}");

    // Remove: empty twice, then a confirmation.
    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("Current passphrase for ", "second words"),
            ("New passphrase for ", ""),
            ("Repeat the new passphrase: ", ""),
            ("without a passphrase?", "y"),
        ],
    );
    assert_eq!(code, 0, "{rest}");
    let text = std::fs::read_to_string(&ids).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1"), "stored unprotected");
    assert!(
        text.contains(&format!("# public key: {key}")),
        "the same key"
    );
    assert_eq!(mode(&ids), 0o600);
    assert_eq!(v.show("web/a"), b"alpha\n");
    assert_eq!(v.show("web/b"), b"beta\n");
}

#[test]
fn passwd_with_a_wrong_passphrase_or_a_mismatch_changes_nothing() {
    let v = TestVault::protected("right one");
    let before = std::fs::read(v.identities()).unwrap();

    let (code, rest) = passwd_on_terminal(&v, &[("Current passphrase for ", "wrong one")]);
    assert_eq!(code, 1, "{rest}");
    let line = rest
        .lines()
        .find(|l| l.starts_with("coffer: "))
        .unwrap_or_default();
    assert!(
        line.contains("wrong passphrase for") && line.contains("nothing was changed"),
        "{rest:?}"
    );
    assert_eq!(rest.matches("coffer: ").count(), 1, "one line: {rest:?}");

    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("Current passphrase for ", "right one"),
            ("New passphrase for ", "new one"),
            ("Repeat the new passphrase: ", "other one"),
        ],
    );
    assert_eq!(code, 1, "{rest}");
    assert!(
        rest.contains("coffer: the passphrases do not match; nothing was changed"),
        "{rest:?}"
    );
    // Removing, and saying no.
    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("Current passphrase for ", "right one"),
            ("New passphrase for ", ""),
            ("Repeat the new passphrase: ", ""),
            ("without a passphrase?", "n"),
        ],
    );
    assert_eq!(code, 1, "{rest}");
    assert_eq!(std::fs::read(v.identities()).unwrap(), before, "untouched");
    assert!(backups(&v.identities()).is_empty());
}

/// The agent forgets an identities file whose passphrase changed.
#[test]
fn passwd_tells_the_agent() {
    let v = TestVault::protected("agent words");
    let _stop = StopsAgent(&v);
    let out = v
        .with_fd3(&["unlock", "--passphrase-fd", "3"], "agent words\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&v.run_ok(&["agent", "status"])).contains("unlocked: "));

    let (code, rest) = passwd_on_terminal(
        &v,
        &[
            ("Current passphrase for ", "agent words"),
            ("New passphrase for ", "other words"),
            ("Repeat the new passphrase: ", "other words"),
        ],
    );
    assert_eq!(code, 0, "{rest}");
    let status = stdout(&v.run(&["agent", "status"]));
    assert!(!status.contains("unlocked: "), "{status}");
}

/// A pinentry that answers every question with `passphrase` (no terminal needed).
fn answering_pinentry(v: &TestVault, passphrase: &str) {
    let script = v.dir.path().join("answering-pinentry");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'OK hello'\nwhile IFS= read -r line; do\n  case \"$line\" in\n    GETPIN) printf 'D %s\\nOK\\n' '{}' ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n",
            passphrase.replace(' ', "%20")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = v.home().join(".config/coffer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[agent]\npinentry = \"{}\"\n", script.display()),
    )
    .unwrap();
}

/// The key an identities file holds, opened with `passphrase` when it is protected.
fn key_of(identities: &Path, passphrase: &str) -> Vec<String> {
    let bytes = std::fs::read(identities).unwrap();
    let answer = passphrase.to_owned();
    let prompt: coffer::PassphrasePrompt =
        Arc::new(move |_: &str| Some(age::secrecy::SecretString::from(answer.clone())));
    let ids = coffer::Identities::parse(&bytes, identities, &prompt).unwrap();
    ids.recipients()
        .iter()
        .map(|r| r.key().to_owned())
        .collect()
}

/// Killed at every write, sync and rename, `passwd` leaves the identities file as it was or
/// protected with the new passphrase, whole, `0600`, with the same key; run again, it
/// finishes.
#[test]
fn killing_passwd_at_any_step_never_leaves_a_torn_identity() {
    require_tool("strace");
    require_tool("setsid");
    let v = TestVault::new();
    let key = v.recipient();
    answering_pinentry(&v, "killed words");
    let plain = std::fs::read(v.identities()).unwrap();
    let mut killed = 0;
    for syscall in ["write", "fsync", "rename", "renameat", "renameat2"] {
        for nth in 1.. {
            assert!(nth < 200, "passwd never finished under {syscall}");
            // Each try starts from the unprotected file.
            std::fs::write(v.identities(), &plain).unwrap();
            let _ = std::fs::remove_file(v.identities().with_extension("pub"));
            let out = v
                .tool("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={syscall}"))
                .arg("-e")
                .arg(format!("inject={syscall}:signal=KILL:when={nth}"))
                .args(["setsid", "-w"])
                .arg(common::coffer_bin())
                .args(["identity", "passwd"])
                .output()
                .unwrap();
            let at = format!("killed at {syscall} #{nth}");
            let now = std::fs::read(v.identities()).unwrap();
            assert_eq!(mode(&v.identities()), 0o600, "{at}");
            if out.status.success() {
                assert_ne!(now, plain, "{at}: finished without a change");
                assert_eq!(
                    key_of(&v.identities(), "killed words"),
                    std::slice::from_ref(&key),
                    "{at}"
                );
                break;
            }
            killed += 1;
            if now != plain {
                // Replaced: whole, protected with the new passphrase, the same key.
                assert_eq!(
                    key_of(&v.identities(), "killed words"),
                    std::slice::from_ref(&key),
                    "{at}"
                );
            }
            let public = std::fs::read_to_string(v.identities().with_extension("pub")).ok();
            if let Some(public) = &public {
                assert_eq!(*public, format!("{key}\n"), "{at}: a whole public file");
            }
            let temporaries = || -> Vec<String> {
                std::fs::read_dir(v.data_dir())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .filter(|n| n.starts_with(".identities.") && n.ends_with(".tmp"))
                    .collect()
            };
            // Killed between its first write and the file's: a second run finishes, and
            // sweeps what the killed one left.
            if now == plain && (public.is_some() || !temporaries().is_empty()) {
                let again = v
                    .without_terminal(&["identity", "passwd"])
                    .output()
                    .unwrap();
                assert!(again.status.success(), "{at}: {}", stderr(&again));
                assert_eq!(
                    key_of(&v.identities(), "killed words"),
                    std::slice::from_ref(&key),
                    "{at}"
                );
                assert_eq!(temporaries(), Vec::<String>::new(), "{at}: left behind");
            }
        }
    }
    assert!(killed > 5, "only {killed} kills: the test lost its reach");
}

// ---------------------------------------------------------------------------------------
// rotate

#[test]
fn rotate_on_a_store_shared_with_a_teammate() {
    require_tool("age");
    let alice = TestVault::with_git();
    alice.insert("web/mine", "mine\n");
    alice.insert("team/db", "db\n");
    let (_remote_dir, remote) = common::publish(&alice);
    let (bob, bob_key) = common::clone_as_teammate(&remote);
    alice.run_ok(&[
        "recipients",
        "add",
        "-p",
        "team",
        "--label",
        "bob",
        &bob_key,
    ]);
    // A folder where Alice's own key has a label of its own: it must keep it.
    let old = alice.recipient();
    std::fs::create_dir_all(alice.store().join("ops")).unwrap();
    std::fs::write(
        alice.store().join("ops/.age-recipients"),
        format!("# alice laptop\n{old}\n# bob\n{bob_key}\n"),
    )
    .unwrap();
    alice.run_ok(&["recipients", "accept", "-p", "ops"]);
    alice.run_ok(&["git", "add", "ops/.age-recipients"]);
    alice.run_ok(&["git", "commit", "-qm", "ops recipients"]);
    alice.insert("ops/deploy", "deploy\n");
    alice.run_ok(&["sync"]);
    bob.run_ok(&["sync"]);
    let old_identities = std::fs::read(alice.identities()).unwrap();

    let out = alice.run_ok(&["identity", "rotate"]);
    let new = alice.recipient();
    assert_ne!(new, old);
    assert!(stdout(&out).contains(&new), "{}", stdout(&out));

    // The old file is kept, private, byte for byte; the new one holds the new key alone.
    let kept = backups(&alice.identities());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), old_identities);
    assert_eq!(mode(&kept[0]), 0o600);
    assert_eq!(mode(&alice.identities()), 0o600);
    assert!(stdout(&out).contains(&kept[0].display().to_string()));
    assert_eq!(keys_in(&alice.identities()), std::slice::from_ref(&new));

    // Every recipients file lists the new key where the old one was, labels kept.
    let root = std::fs::read_to_string(alice.store().join(".age-recipients")).unwrap();
    assert_eq!(root, format!("{new}\n"));
    let ops = std::fs::read_to_string(alice.store().join("ops/.age-recipients")).unwrap();
    assert_eq!(ops, format!("# alice laptop\n{new}\n# bob\n{bob_key}\n"));
    let team = std::fs::read_to_string(alice.store().join("team/.age-recipients")).unwrap();
    assert!(team.contains(&new) && !team.contains(&old), "{team}");

    // Every secret: the new key reads it, the old one no longer does.
    for name in ["web/mine", "team/db", "ops/deploy"] {
        let file = alice.path(name);
        assert_eq!(
            alice.age_decrypt(&alice.identities(), &file),
            format!("{}\n", name.rsplit('/').next().unwrap()).as_bytes()
        );
        assert!(!age_can_decrypt(&alice, &kept[0], &file), "{name}");
    }
    assert!(alice.git_log()[0].starts_with(&format!("Rotate key {old} to {new}")));
    assert_clean_work_tree(&alice.store(), &alice);
    // This device approved its own change: writing goes on without a question.
    alice.insert("team/new", "new\n");
    assert!(!age_can_decrypt(&alice, &kept[0], &alice.path("team/new")));
    let listing = stdout(&alice.run_ok(&["recipients"]));
    assert!(!listing.contains("Not approved"), "{listing}");

    // Bob still reads, after a sync that shows him the change.
    alice.run_ok(&["sync"]);
    let out = bob.run_ok(&["sync"]);
    assert!(stderr(&out).contains(&new), "{}", stderr(&out));
    assert_eq!(bob.show("team/db"), b"db\n");
    assert_eq!(bob.show("team/new"), b"new\n");
    assert_eq!(bob.show("ops/deploy"), b"deploy\n");
}

/// A store (a mount's) made with `coffer --store DIR init` for `recipient`, with git.
fn side_store(v: &TestVault, dir: &Path, recipient: &str) {
    let dir = dir.display().to_string();
    v.run_ok(&[
        "--store",
        &dir,
        "init",
        "--git",
        "--no-passphrase",
        recipient,
    ]);
}

#[test]
fn rotate_reaches_every_store_read_with_the_file_and_only_those() {
    require_tool("age");
    require_tool("age-keygen");
    let v = TestVault::with_git();
    v.insert("web/a", "a\n");
    // `team` is read with its own identities file; `shared` with the main one.
    let team_ids = v.dir.path().join("team-identities");
    let keygen = v
        .tool("age-keygen")
        .arg("-o")
        .arg(&team_ids)
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let team_key = std::fs::read_to_string(&team_ids)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    let team_dir = v.dir.path().join("team-store");
    side_store(&v, &team_dir, &team_key);
    let shared_dir = v.dir.path().join("shared-store");
    side_store(&v, &shared_dir, &v.recipient());
    v.run_ok(&[
        "mount",
        "add",
        "team",
        team_dir.to_str().unwrap(),
        "--identities",
        team_ids.to_str().unwrap(),
    ]);
    v.run_ok(&["mount", "add", "shared", shared_dir.to_str().unwrap()]);
    // `linked` names the main file too, through a link: the same file.
    let linked_dir = v.dir.path().join("linked-store");
    side_store(&v, &linked_dir, &v.recipient());
    let link = v.dir.path().join("link-to-identities");
    std::os::unix::fs::symlink(v.identities(), &link).unwrap();
    v.run_ok(&[
        "mount",
        "add",
        "linked",
        linked_dir.to_str().unwrap(),
        "--identities",
        link.to_str().unwrap(),
    ]);
    v.insert("team/x", "x\n");
    v.insert("shared/y", "y\n");
    v.insert("linked/z", "z\n");
    let main_before = std::fs::read(v.identities()).unwrap();

    // The mount's own file: its store changes, the main identities and stores do not.
    let out = v.run_ok(&["identity", "rotate", "team"]);
    assert!(stdout(&out).contains("the mount team"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("main store"), "{}", stdout(&out));
    let kept = backups(&team_ids);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(mode(&kept[0]), 0o600);
    let new_team = keys_in(&team_ids);
    assert_eq!(new_team.len(), 1);
    assert_ne!(new_team[0], team_key);
    assert_eq!(
        v.age_decrypt(&team_ids, &team_dir.join("x.age")),
        b"x\n".to_vec()
    );
    assert!(!age_can_decrypt(&v, &kept[0], &team_dir.join("x.age")));
    assert_eq!(std::fs::read(v.identities()).unwrap(), main_before);
    assert!(backups(&v.identities()).is_empty());
    assert_eq!(v.show("team/x"), b"x\n");
    assert_eq!(v.git_log()[0], "Add given password for web/a to store.");
    assert_clean_work_tree(&team_dir, &v);

    // The main file: the main store and the mount read with it both follow.
    let out = v.run_ok(&["identity", "rotate", "shared"]);
    for store in ["the main store", "the mount shared", "the mount linked"] {
        assert!(stdout(&out).contains(store), "{store}: {}", stdout(&out));
    }
    let kept = backups(&v.identities());
    assert_eq!(kept.len(), 1);
    for file in [
        v.path("web/a"),
        shared_dir.join("y.age"),
        linked_dir.join("z.age"),
    ] {
        assert!(age_can_decrypt(&v, &v.identities(), &file), "{file:?}");
        assert!(!age_can_decrypt(&v, &kept[0], &file), "{file:?}");
    }
    assert_eq!(
        keys_in(&team_ids),
        new_team,
        "the team's file is not touched"
    );
    for (name, value) in [
        ("web/a", "a\n"),
        ("team/x", "x\n"),
        ("shared/y", "y\n"),
        ("linked/z", "z\n"),
    ] {
        assert_eq!(v.show(name), value.as_bytes());
    }
    assert_clean_work_tree(&v.store(), &v);
    assert_clean_work_tree(&shared_dir, &v);
}

/// A protected identities file stays protected, with the same passphrase.
#[test]
fn rotate_keeps_the_passphrase() {
    require_tool("age");
    let v = TestVault::protected("kept words");
    v.insert("web/a", "a\n");
    answering_pinentry(&v, "kept words");
    let old = v.recipient_from_pub();
    let out = v
        .without_terminal(&["--no-agent", "identity", "rotate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(v.identities()).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let new = key_of(&v.identities(), "kept words");
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old);
    assert_eq!(v.recipient_from_pub(), new[0], "identities.pub follows");
    let kept = backups(&v.identities());
    assert_eq!(key_of(&kept[0], "kept words"), [old]);
    let out = v
        .without_terminal(&["--no-agent", "show", "web/a"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "a\n", "{}", stderr(&out));
}

trait PublicFile {
    fn recipient_from_pub(&self) -> String;
}

impl PublicFile for TestVault {
    fn recipient_from_pub(&self) -> String {
        std::fs::read_to_string(self.identities().with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// `identity rotate` under strace, killed at the `nth` call of `syscalls` (counted per
/// thread and process) that names `path` (any call, without one).
fn rotate_killed_at(v: &TestVault, syscalls: &str, path: Option<&str>, nth: usize) -> Output {
    require_tool("strace");
    let mut cmd = v.tool("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null"]);
    if let Some(path) = path {
        cmd.args(["-P", path]);
    }
    cmd.arg(format!("--trace={syscalls}"))
        .arg(format!("--inject={syscalls}:signal=SIGKILL:when={nth}"))
        .arg(common::coffer_bin())
        .args(["identity", "rotate"])
        .output()
        .unwrap()
}

/// Where `a_killed_rotation_…` kills: each durable write's rename, aimed by the name it
/// renames to (files are written relative to their folder's handle: strace sees the bare
/// name), git's own renames, and every publishing `linkat` and many `fsync`s of the main
/// thread.
fn kill_points(pins: &str) -> Vec<(&'static str, Option<String>, usize)> {
    const RENAMES: &str = "rename,renameat,renameat2";
    let mut points = vec![
        // The backup (the only RENAME_NOREPLACE), then the file with both keys, the last one.
        ("renameat2", None, 1),
        (RENAMES, Some("identities".to_owned()), 1),
        (RENAMES, Some("identities".to_owned()), 2),
    ];
    for nth in 1..=6 {
        points.push((RENAMES, Some(pins.to_owned()), nth));
    }
    for nth in 1..=3 {
        points.push((RENAMES, Some(".age-recipients".to_owned()), nth));
    }
    for secret in ["a.age", "b.age", "c.age", "d.age"] {
        points.push((RENAMES, Some(secret.to_owned()), 1));
    }
    for git in ["index", "master"] {
        points.push(("rename", Some(git.to_owned()), 1));
    }
    for nth in 1..=14 {
        points.push(("linkat", None, nth));
    }
    for nth in (1..=30).step_by(3) {
        points.push(("fsync", None, nth));
    }
    points
}

/// The file name of this device's pins for the main store (derived from the store's path).
fn pin_file_name(v: &TestVault) -> String {
    let names: Vec<String> = std::fs::read_dir(v.data_dir().join("trust"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names[0].clone()
}

/// Removes the `*.lock` files a killed git left in `git_dir`.
fn remove_git_locks(git_dir: &Path) {
    for entry in walkdir::WalkDir::new(git_dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "lock") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
}

/// A store Alice shares with Bob: the root hers alone, `team` and `team/deep` with Bob.
fn rotation_setup(bob_key: &str) -> TestVault {
    let v = TestVault::with_git();
    v.insert("web/a", "a\n");
    v.insert("team/b", "b\n");
    v.insert("team/c", "c\n");
    v.run_ok(&["recipients", "add", "-p", "team", "--label", "bob", bob_key]);
    v.run_ok(&[
        "recipients",
        "add",
        "-p",
        "team/deep",
        "--label",
        "bob2",
        bob_key,
    ]);
    v.insert("team/deep/d", "d\n");
    v
}

const SECRETS: [&str; 4] = ["web/a", "team/b", "team/c", "team/deep/d"];

/// Killed at every rename (each durable write's last step, git's included) and at a spread
/// of writes, `identity rotate` leaves every secret readable with the identities file as it is
/// or with the backup of the old one (checked with the real `age`); run again, it finishes:
/// every secret reads with the new key alone, the old key reads none, Bob reads his, and the
/// store's git is clean.
#[test]
fn a_killed_rotation_loses_nothing_and_is_finished_by_running_it_again() {
    require_tool("age");
    let bob = TestVault::new();
    let bob_key = bob.recipient();
    let mut kills = 0;
    let mut mid_rotation = 0;
    for point in 0..kill_points("").len() {
        let v = rotation_setup(&bob_key);
        let (syscalls, path, nth) = kill_points(&pin_file_name(&v)).swap_remove(point);
        let old = v.recipient();
        let out = rotate_killed_at(&v, syscalls, path.as_deref(), nth);
        let at = format!("killed at {syscalls} {path:?} #{nth}");
        if out.status.success() {
            // That call never came: nothing to check.
            continue;
        }
        // The kill may hit coffer, or a git it runs (coffer then fails with git's error).
        let killed = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9)
            || out.status.code() == Some(137);
        let child_killed = out.status.code() == Some(1) && stderr(&out).starts_with("coffer: ");
        assert!(
            killed || child_killed,
            "{at}: {:?} {}",
            out.status,
            stderr(&out)
        );
        // A git killed mid-write leaves its lock files, which coffer names and refuses to
        // work past; the user removes them, as after any crash of git.
        remove_git_locks(&v.store().join(".git"));
        kills += 1;
        let kept = backups(&v.identities());
        assert!(kept.len() <= 1, "{at}: {kept:?}");
        let in_file = keys_in(&v.identities());
        if in_file.len() == 2 {
            mid_rotation += 1;
        }
        for name in SECRETS {
            let file = v.path(name);
            let readable = age_can_decrypt(&v, &v.identities(), &file)
                || kept.iter().any(|b| age_can_decrypt(&v, b, &file));
            assert!(readable, "{at}: {name} reads with neither key");
        }
        // Coffer itself reads everything meanwhile.
        for name in SECRETS {
            let out = v.run(&["show", name]);
            assert!(out.status.success(), "{at}: show {name}: {}", stderr(&out));
        }

        let again = v.run(&["identity", "rotate"]);
        assert!(again.status.success(), "{at}: {}", stderr(&again));
        let kept = backups(&v.identities());
        assert_eq!(kept.len(), 1, "{at}: one backup: {kept:?}");
        assert_eq!(
            keys_in(&kept[0]),
            std::slice::from_ref(&old),
            "{at}: the backup is the old key"
        );
        let new = keys_in(&v.identities());
        assert_eq!(new.len(), 1, "{at}: the new key alone: {new:?}");
        for name in SECRETS {
            let file = v.path(name);
            assert!(age_can_decrypt(&v, &v.identities(), &file), "{at}: {name}");
            assert!(
                !age_can_decrypt(&v, &kept[0], &file),
                "{at}: old key reads {name}"
            );
            if name.starts_with("team/") {
                assert!(
                    age_can_decrypt(&v, &bob.identities(), &file),
                    "{at}: bob {name}"
                );
            }
        }
        assert_clean_work_tree(&v.store(), &v);
        let listing = stdout(&v.run_ok(&["recipients", "-p", "team"]));
        assert!(!listing.contains("Not approved"), "{at}: {listing}");
        let temporaries: Vec<String> = std::fs::read_dir(v.data_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(temporaries.is_empty(), "{at}: left behind: {temporaries:?}");
    }
    assert!(kills >= 20, "only {kills} kills: the test lost its reach");
    assert!(mid_rotation >= 5, "only {mid_rotation} kills mid-rotation");
}

// ---------------------------------------------------------------------------------------
// export-recipient and bad input

#[test]
fn export_recipient_prints_what_init_printed() {
    let v = TestVault::bare();
    let out = v.run_ok(&["init", "--no-passphrase"]);
    let printed = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Your recipient: ").map(str::to_owned))
        .unwrap();
    let out = v.run_ok(&["identity", "export-recipient"]);
    assert_eq!(stdout(&out), format!("{printed}\n"));
    assert!(
        stderr(&out).starts_with("Send this line to a member of the team"),
        "{}",
        stderr(&out)
    );

    // Protected: read from identities.pub, without asking anything.
    let p = TestVault::bare();
    let out = p
        .with_fd3(&["init", "--passphrase-fd", "3"], "some words\n")
        .output()
        .unwrap();
    let printed = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Your recipient: ").map(str::to_owned))
        .unwrap();
    let out = p
        .without_terminal(&["identity", "export-recipient"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{printed}\n"));
}

#[test]
fn export_recipient_of_a_mount_prints_its_own_key() {
    require_tool("age-keygen");
    let v = TestVault::new();
    let ids = v.dir.path().join("team-identities");
    assert!(
        v.tool("age-keygen")
            .arg("-o")
            .arg(&ids)
            .output()
            .unwrap()
            .status
            .success()
    );
    let key = keys_in(&ids)[0].clone();
    let dir = v.dir.path().join("team-store");
    side_store(&v, &dir, &key);
    v.run_ok(&[
        "mount",
        "add",
        "team",
        dir.to_str().unwrap(),
        "--identities",
        ids.to_str().unwrap(),
    ]);
    let out = v.run_ok(&["identity", "export-recipient", "team"]);
    assert_eq!(stdout(&out), format!("{key}\n"));
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let v = TestVault::with_git();
    v.insert("web/a", "a\n");
    let before = std::fs::read(v.identities()).unwrap();
    let log = v.git_log();
    for command in ["passwd", "rotate", "export-recipient"] {
        let err = v.fails(&["identity", command, "nope"], 1);
        assert!(err.contains("nope is not a mount"), "{err}");
        v.fails(&["identity", command, "../x"], 2);
    }
    assert_eq!(std::fs::read(v.identities()).unwrap(), before);

    // No identities file: named, and nothing is created.
    let moved = v.dir.path().join("elsewhere");
    std::fs::rename(v.identities(), &moved).unwrap();
    for command in ["passwd", "rotate", "export-recipient"] {
        let err = v.fails(&["identity", command], 1);
        assert!(
            err.contains(&format!(
                "no identities file at {}",
                v.identities().display()
            )),
            "{err}"
        );
        assert!(!v.identities().exists(), "{command} created one");
    }
    assert!(backups(&v.identities()).is_empty());
    assert_eq!(v.git_log(), log);
    assert_clean_work_tree(&v.store(), &v);
}

/// A store this rotation cannot finish (a secret not encrypted to you) is refused before
/// anything changes.
#[test]
fn rotate_refuses_before_anything_changes_when_a_secret_cannot_be_reencrypted() {
    require_tool("age");
    let v = TestVault::with_git();
    v.insert("web/a", "a\n");
    let stranger = TestVault::new();
    let foreign = v.path("web/foreign");
    v.age_encrypt(&["-r", &stranger.recipient()], &foreign, b"theirs\n");
    v.git(&v.store(), &["add", "web/foreign.age"]);
    v.git(&v.store(), &["commit", "-qm", "Add foreign."]);
    let before = std::fs::read(v.identities()).unwrap();
    let root = std::fs::read(v.store().join(".age-recipients")).unwrap();
    let err = v.fails(&["identity", "rotate"], 1);
    assert!(err.contains(&foreign.display().to_string()), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(std::fs::read(v.identities()).unwrap(), before);
    assert_eq!(
        std::fs::read(v.store().join(".age-recipients")).unwrap(),
        root
    );
    assert!(backups(&v.identities()).is_empty());
    assert_clean_work_tree(&v.store(), &v);
}
