//! Mounts: a personal store plus team stores shown under a folder (docs/BEHAVIOUR.md §10).
//! Alice has her own store; Bob's and Carol's team vaults (each with its own recipients and
//! bare remote) are cloned by her with `clone --mount`.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::common::{self, TestVault, stderr, stdout};

/// Alice (main store), and two team vaults she mounts at `team` and `ops`.
struct Setup {
    alice: TestVault,
    bob: TestVault,
    carol: TestVault,
    _remotes: Vec<TempDir>,
}

/// A team vault started by `owner`, with Alice as a second recipient, pushed to a new bare
/// remote; Alice clones it with `--mount prefix`.
fn team_vault(owner: &TestVault, alice: &TestVault, prefix: &str, secret: &str) -> TempDir {
    owner.insert(secret, format!("{prefix}-value\n"));
    owner.run_ok(&["recipients", "add", "--label", "alice", &alice.recipient()]);
    let (dir, remote) = common::publish(owner);
    let out = alice.run_ok(&["clone", "--mount", prefix, &remote]);
    assert!(
        stderr(&out).contains(&format!("Mounted it at {prefix}")),
        "{}",
        stderr(&out)
    );
    dir
}

fn setup() -> Setup {
    let alice = TestVault::with_git();
    alice.insert("web/shop", "shop-pass\n");
    let bob = TestVault::with_git();
    let carol = TestVault::with_git();
    let r1 = team_vault(&bob, &alice, "team", "db");
    let r2 = team_vault(&carol, &alice, "ops", "deploy/key");
    Setup {
        alice,
        bob,
        carol,
        _remotes: vec![r1, r2],
    }
}

fn mount_dir(alice: &TestVault, prefix: &str) -> PathBuf {
    alice.data_dir().join("mounts").join(prefix)
}

fn config_text(v: &TestVault) -> String {
    std::fs::read_to_string(v.home().join(".config/coffer/config.toml")).unwrap_or_default()
}

#[test]
fn mount_add_ls_rm_and_clone_mount() {
    let s = setup();
    let a = &s.alice;
    let ls = stdout(&a.run_ok(&["mount", "ls"]));
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 2, "{ls}");
    assert!(lines[0].starts_with("ops\t"), "{ls}");
    assert!(lines[1].starts_with("team\t"), "{ls}");
    assert!(
        lines[1].contains(&mount_dir(a, "team").display().to_string()),
        "{ls}"
    );
    assert!(lines[1].contains("remote.git"), "{ls}");
    assert!(lines[1].contains("(main identities)"), "{ls}");

    // rm unmounts; the files stay; add mounts the same directory again.
    a.run_ok(&["mount", "rm", "team"]);
    assert!(mount_dir(a, "team").join("db.age").is_file());
    assert!(!stdout(&a.run_ok(&["mount", "ls"])).contains("team"));
    let dir = mount_dir(a, "team").display().to_string();
    a.run_ok(&["mount", "add", "team", &dir]);
    assert!(stdout(&a.run_ok(&["mount", "ls"])).contains("team\t"));
    // Other settings in the config survive the edits.
    assert!(config_text(a).contains("[mounts"), "{}", config_text(a));
}

#[test]
fn bad_mounts_are_refused_and_change_nothing() {
    let s = setup();
    let a = &s.alice;
    let before = config_text(a);
    let team = mount_dir(a, "team").display().to_string();

    // Over an existing folder of the main store: named.
    let err = a.fails(&["mount", "add", "web", &team], 1);
    assert!(err.contains("web"), "{err}");
    // A prefix with `..`, or the root: usage errors.
    a.fails(&["mount", "add", "../x", &team], 2);
    a.fails(&["mount", "add", "a/../b", &team], 2);
    a.fails(&["mount", "add", "/", &team], 2);
    // Nested in a mount, or around one.
    let err = a.fails(&["mount", "add", "team/sub", &team], 1);
    assert!(err.contains("do not nest"), "{err}");
    // A link to a store.
    let link = a.dir.path().join("link-to-team");
    std::os::unix::fs::symlink(mount_dir(a, "team"), &link).unwrap();
    let err = a.fails(&["mount", "add", "linked", link.to_str().unwrap()], 1);
    assert!(err.contains("symbolic link"), "{err}");
    // A directory that is not a store, and one that does not exist.
    let plain = a.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = a.fails(&["mount", "add", "plain", plain.to_str().unwrap()], 1);
    assert!(err.contains("not a coffer or passage store"), "{err}");
    let err = a.fails(&["mount", "add", "gone", "/nonexistent/store"], 1);
    assert!(err.contains("does not exist"), "{err}");
    // The main store itself.
    let main = a.store().display().to_string();
    let err = a.fails(&["mount", "add", "me", &main], 1);
    assert!(err.contains("main store"), "{err}");
    // Removing a mount that does not exist.
    let err = a.fails(&["mount", "rm", "nothing"], 1);
    assert!(err.contains("nothing is not a mount"), "{err}");
    // A clone over a bad prefix clones nothing.
    a.fails(&["clone", "--mount", "web", "/nonexistent/remote.git"], 1);
    assert!(!mount_dir(a, "web").exists());

    assert_eq!(config_text(a), before, "nothing changed");
    let _ = (&s.bob, &s.carol);
}

#[test]
fn commands_route_to_the_store_a_name_lives_in() {
    let s = setup();
    let a = &s.alice;
    // Reading.
    assert_eq!(a.show("team/db"), b"team-value\n");
    assert_eq!(a.show("ops/deploy/key"), b"ops-value\n");
    assert_eq!(a.show("web/shop"), b"shop-pass\n");
    // ls: mount points are marked folders; ls of a mount is its tree.
    let ls = stdout(&a.run_ok(&["ls"]));
    assert!(ls.contains("team (mount)"), "{ls}");
    assert!(ls.contains("ops (mount)"), "{ls}");
    assert!(ls.contains("deploy"), "{ls}");
    let ls = stdout(&a.run_ok(&["ls", "team"]));
    assert!(ls.starts_with("team\n") && ls.contains("db"), "{ls}");
    assert_eq!(
        stdout(&a.run_ok(&["show", "ops/deploy"])),
        stdout(&a.run_ok(&["ls", "ops/deploy/"]))
    );
    let found = stdout(&a.run_ok(&["find", "key"]));
    assert!(
        found.contains("ops (mount)") && found.contains("key"),
        "{found}"
    );
    assert!(!found.contains("team"), "{found}");

    // Writing: the file lands in the mounted store, encrypted for its recipients, committed
    // there under its own name.
    a.insert("team/api", "api-token\n");
    let team = mount_dir(a, "team");
    assert!(team.join("api.age").is_file());
    assert!(!a.path("team/api").exists());
    assert_eq!(
        s.bob
            .age_decrypt(&s.bob.identities(), &team.join("api.age")),
        b"api-token\n"
    );
    let log = stdout(&a.git(&team, &["log", "--format=%s", "-1"]));
    assert_eq!(log.trim(), "Add given password for api to store.");
    assert_eq!(stdout(&a.git(&team, &["status", "--porcelain"])), "");
    let out = a.run_ok(&["generate", "ops/new", "12"]);
    assert!(
        stdout(&out).contains("The generated password for ops/new is:"),
        "{}",
        stdout(&out)
    );
    assert!(mount_dir(a, "ops").join("new.age").is_file());
    let value = a.show("ops/new");
    assert_eq!(
        s.carol
            .age_decrypt(&s.carol.identities(), &mount_dir(a, "ops").join("new.age")),
        value
    );
    // otp and info.
    a.insert("team/otp", "pw\notpauth://totp/x?secret=JBSWY3DPEHPK3PXP\n");
    let code = stdout(&a.run_ok(&["otp", "team/otp"]));
    assert_eq!(code.trim().len(), 6, "{code}");
    let info = stdout(&a.run_ok(&["info", "team/db"]));
    assert!(info.contains("alice"), "{info}");
    // grep names secrets as the user does.
    let grep = stdout(&a.run_ok(&["grep", "value"]));
    assert!(grep.contains("team/db:\nteam-value\n"), "{grep}");
    assert!(grep.contains("ops/deploy/key:\nops-value\n"), "{grep}");
    // rm in the mount; a mount point itself is not removed.
    a.run_ok(&["rm", "-f", "team/api"]);
    assert!(!team.join("api.age").exists());
    let err = a.fails(&["rm", "-rf", "team"], 1);
    assert!(err.contains("mount rm"), "{err}");
    let err = a.fails(&["insert", "-m", "team"], 1);
    assert!(err.contains("mount point"), "{err}");
    // The main store is untouched by all of this.
    assert_eq!(a.git_log().len(), 3, "{:?}", a.git_log());
}

/// `find` matches each store while it walks it; the result is the one pruned tree of the
/// whole listing: a mount point whose name matches is kept whole, folders made only to lead
/// to a mount are dropped when nothing below them matches.
#[test]
fn find_prunes_mounted_stores_as_folders_of_the_listing() {
    let s = setup();
    let a = &s.alice;
    let teams = mount_dir(a, "teams-red");
    let dir = mount_dir(a, "team").display().to_string();
    a.run_ok(&["mount", "rm", "team"]);
    std::fs::rename(&dir, &teams).unwrap();
    a.run_ok(&["mount", "add", "teams/red", &teams.display().to_string()]);
    a.insert("teams/notes", "n\n");
    a.insert("ops-notes/deploy", "d\n");

    let find = |terms: &[&str]| {
        let mut args = vec!["find"];
        args.extend_from_slice(terms);
        stdout(&a.run_ok(&args))
    };
    assert_eq!(
        find(&["RED"]),
        "Search Terms: RED\n`-- teams\n    `-- red (mount)\n        `-- db\n"
    );
    assert_eq!(
        find(&["teams"]),
        "Search Terms: teams\n`-- teams\n    |-- notes\n    `-- red (mount)\n        `-- db\n"
    );
    assert_eq!(
        find(&["deploy"]),
        "Search Terms: deploy\n|-- ops (mount)\n|   `-- deploy\n|       `-- key\n\
         `-- ops-notes\n    `-- deploy\n"
    );
    assert_eq!(
        find(&["db", "shop"]),
        "Search Terms: db,shop\n|-- teams\n|   `-- red (mount)\n|       `-- db\n\
         `-- web\n    `-- shop\n"
    );
    assert_eq!(find(&["nothing"]), "Search Terms: nothing\n");
}

#[test]
fn mv_and_cp_across_mounts_reencrypt_for_the_destination() {
    let s = setup();
    let a = &s.alice;
    let (team, ops) = (mount_dir(a, "team"), mount_dir(a, "ops"));
    // team → ops: Carol (ops) reads it with the real age; Bob (team) no longer has it.
    a.run_ok(&["mv", "team/db", "ops/db"]);
    assert!(!team.join("db.age").exists());
    assert_eq!(
        s.carol
            .age_decrypt(&s.carol.identities(), &ops.join("db.age")),
        b"team-value\n"
    );
    assert_eq!(a.show("ops/db"), b"team-value\n");
    for dir in [&team, &ops] {
        assert_eq!(stdout(&a.git(dir, &["status", "--porcelain"])), "");
        let subject = stdout(&a.git(dir, &["log", "--format=%s", "-1"]));
        assert_eq!(subject.trim(), "Rename team/db to ops/db.");
    }
    // A value keeps its rotation date and its exposure when it moves to another store.
    let gone = age::x25519::Identity::generate().to_public().to_string();
    a.insert("team/exposed", "old-value\n");
    a.run_ok(&[
        "recipients",
        "add",
        "-p",
        "team",
        "--label",
        "leaver",
        &gone,
    ]);
    a.run_ok(&["recipients", "rm", "-p", "team", "leaver"]);
    let info = stdout(&a.run_ok(&["info", "team/exposed"]));
    assert!(info.contains("exposed to leaver"), "{info}");
    a.run_ok(&["mv", "team/exposed", "ops/exposed"]);
    let info = stdout(&a.run_ok(&["info", "ops/exposed"]));
    assert!(
        info.contains("exposed to leaver"),
        "the mark travels: {info}"
    );
    assert_eq!(stdout(&a.git(&ops, &["status", "--porcelain"])), "");
    let body = stdout(&a.git(&ops, &["log", "--format=%B", "-1"]));
    assert!(body.contains("Coffer-Rotated: exposed "), "{body}");

    // main → mount (into the mount point), copy: both stay.
    a.run_ok(&["cp", "web/shop", "team"]);
    assert_eq!(
        s.bob
            .age_decrypt(&s.bob.identities(), &team.join("shop.age")),
        b"shop-pass\n"
    );
    assert_eq!(a.show("web/shop"), b"shop-pass\n");
    // A folder, mount → main.
    a.run_ok(&["mv", "ops/deploy", "moved/"]);
    assert_eq!(a.show("moved/deploy/key"), b"ops-value\n");
    assert!(!ops.join("deploy").exists());
    assert_eq!(
        a.age_decrypt(&a.identities(), &a.path("moved/deploy/key")),
        b"ops-value\n"
    );
    // Within one mount: that store's own names in its commit.
    a.run_ok(&["mv", "team/shop", "team/web-shop"]);
    let subject = stdout(&a.git(&team, &["log", "--format=%s", "-1"]));
    assert_eq!(subject.trim(), "Rename shop to web-shop.");
    // A source that is not there: nothing written anywhere.
    let err = a.fails(&["mv", "team/nothing", "ops/x"], 1);
    assert!(err.contains("not in the store"), "{err}");
    assert!(!ops.join("x.age").exists());
}

#[test]
fn sync_reports_per_store_and_a_conflict_stops_only_its_own() {
    let s = setup();
    let a = &s.alice;
    // Bob adds a secret to the team vault; Carol and Alice both change ops' deploy/key.
    s.bob.insert("from-bob", "bob-value\n");
    s.bob.run_ok(&["sync"]);
    s.carol.insert("deploy/key", "carol-2\n");
    s.carol.run_ok(&["sync"]);
    a.insert("ops/deploy/key", "alice-2\n");

    let out = a.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("main store:"), "{err}");
    assert!(err.contains("coffer: ops: "), "{err}");
    assert!(err.contains("deploy/key changed both"), "{err}");
    // The team vault synced all the same.
    assert_eq!(a.show("team/from-bob"), b"bob-value\n");

    // `sync PREFIX` one store; resolving names the secret as the user does.
    a.run_ok(&["sync", "--resolve", "ops/deploy/key", "--ours"]);
    assert_eq!(a.show("ops/deploy/key"), b"alice-2\n");
    a.run_ok(&["sync", "team"]);
    let err = a.fails(&["sync", "nothing"], 1);
    assert!(err.contains("not a mount"), "{err}");
    // Alice's own store is in git but has no remote: skipped, not a failure.
    let out = a.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("main store: no remote; skipped."), "{err}");
}

#[test]
fn names_under_mounts_complete_like_any_folder() {
    let s = setup();
    let complete = |typed: &str| -> Vec<String> {
        let out = s
            .alice
            .cmd()
            .env("COMPLETE", "fish")
            .args(["--", "coffer", "show", typed])
            .output()
            .unwrap();
        stdout(&out)
            .lines()
            .filter(|l| !l.starts_with('-'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(complete(""), ["ops/", "team/", "web/"]);
    assert_eq!(complete("te"), ["team/"]);
    assert_eq!(complete("team/"), ["team/db"]);
    assert_eq!(complete("ops/"), ["ops/deploy/"]);
    assert_eq!(complete("ops/deploy/"), ["ops/deploy/key"]);
}

#[test]
fn references_recipients_history_and_logs_work_across_mounts() {
    let s = setup();
    let a = &s.alice;
    let team = mount_dir(a, "team");
    a.insert("team/app/token", "tok-123\nuser: svc\n");
    // run: -e references and --prefix variables from a mounted store; inject likewise.
    let out = a.run_ok(&[
        "run",
        "-e",
        "DB=coffer:team/db",
        "-e",
        "USER=coffer:team/app/token#user",
        "--prefix",
        "team/app",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s' \"$DB\" \"$USER\" \"$TOKEN\"",
    ]);
    assert_eq!(stdout(&out), "team-value|svc|tok-123");
    let out = common::output_with_stdin(
        a.coffer().args(["inject"]),
        b"db={{ coffer:team/db }} key={{ coffer:ops/deploy/key }} web={{ coffer:web/shop }}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "db=team-value key=ops-value web=shop-pass\n");
    // A reference to a missing secret names it as the user wrote it.
    let err = a.fails(&["run", "-e", "X=coffer:team/nope", "--", "true"], 1);
    assert!(err.contains("team/nope"), "{err}");

    // recipients -p routes to the mounted store: its own list, its own commits.
    let ls = stdout(&a.run_ok(&["recipients", "-p", "team"]));
    assert!(ls.contains(&s.bob.recipient()), "{ls}");
    assert!(ls.contains("(alice)"), "{ls}");
    assert!(!ls.contains(&s.carol.recipient()), "{ls}");
    a.run_ok(&[
        "recipients",
        "add",
        "-p",
        "team/app",
        "--label",
        "carol",
        &s.carol.recipient(),
    ]);
    assert!(team.join("app/.age-recipients").is_file());
    assert!(
        !a.path("team/app").exists(),
        "nothing lands in the main store"
    );
    assert_eq!(
        s.carol
            .age_decrypt(&s.carol.identities(), &team.join("app/token.age")),
        b"tok-123\nuser: svc\n"
    );
    a.run_ok(&["reencrypt", "-p", "team"]);
    let subjects = stdout(&a.git(&team, &["log", "--format=%s", "-3"]));
    assert!(
        subjects.starts_with("Reencrypt password store."),
        "{subjects}"
    );
    assert!(
        subjects.contains("Add recipient carol to app."),
        "{subjects}"
    );
    assert_eq!(
        a.git_log().len(),
        3,
        "the main store is untouched: {:?}",
        a.git_log()
    );

    // history, show --revision and restore follow the name into its store.
    a.insert("team/db", "team-value-2\n");
    let history = stdout(&a.run_ok(&["history", "team/db"]));
    let first = history.lines().next().unwrap_or_default();
    assert!(first.ends_with("edited"), "{history}");
    assert!(
        history
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with("added"),
        "{history}"
    );
    assert_eq!(
        stdout(&a.run_ok(&["show", "team/db", "--revision", "-1"])),
        "team-value\n"
    );
    a.run_ok(&["restore", "team/db", "--revision", "-1"]);
    assert_eq!(a.show("team/db"), b"team-value\n");
    let subject = stdout(&a.git(&team, &["log", "--format=%s", "-1"]));
    assert_eq!(subject.trim(), "Restore db to -1.");
}

#[test]
fn shared_access_logs_stay_per_store() {
    let s = setup();
    let a = &s.alice;
    let config = a.home().join(".config/coffer/config.toml");
    let text = config_text(a);
    std::fs::write(&config, format!("[log]\nshared = true\n{text}")).unwrap();
    a.show("team/db");
    a.show("web/shop");
    a.run_ok(&["run", "-e", "K=coffer:ops/deploy/key", "--", "true"]);
    // Each store's log holds its own reads, under its own names.
    let in_store = |dir: &std::path::Path| -> String {
        common::files_below(&dir.join(".coffer"))
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(".coffer").join(f)).unwrap_or_default())
            .collect()
    };
    let team_log = in_store(&mount_dir(a, "team"));
    assert!(team_log.contains("\"name\":\"db\""), "{team_log}");
    assert!(!team_log.contains("shop"), "{team_log}");
    let ops_log = in_store(&mount_dir(a, "ops"));
    assert!(ops_log.contains("\"name\":\"deploy/key\""), "{ops_log}");
    let main_log = in_store(&a.store());
    assert!(main_log.contains("web/shop"), "{main_log}");
    assert!(
        !main_log.contains("team/db") && !main_log.contains("\"db\""),
        "{main_log}"
    );
    // `log` shows one timeline with the names as the user sees them.
    let log = stdout(&a.run_ok(&["log"]));
    for name in ["team/db", "web/shop", "ops/deploy/key"] {
        assert!(log.contains(name), "{name}: {log}");
    }
    let only = stdout(&a.run_ok(&["log", "team"]));
    assert!(
        only.contains("team/db") && !only.contains("web/shop"),
        "{only}"
    );
    let verify = stdout(&a.run_ok(&["log", "--verify"]));
    assert!(verify.lines().count() >= 3, "{verify}");
}

#[test]
fn scan_and_audit_look_into_every_store() {
    let s = setup();
    let a = &s.alice;
    a.insert("team/weak", "password1\n");
    a.insert("ops/token", "ops-token-0123456789abcdef\n");
    // scan: a value from a mounted store, in a file, is found and named as the user names it.
    let code = a.dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("deploy.sh"), "TOKEN=ops-token-0123456789abcdef\n").unwrap();
    let out = a.run(&["scan", code.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("ops/token"), "{}", stdout(&out));
    // Found again from the caches, after one of them changed.
    a.insert("team/new", "team-token-abcdef0123456789\n");
    std::fs::write(code.join("app.env"), "X=team-token-abcdef0123456789\n").unwrap();
    let out = a.run(&["scan", code.to_str().unwrap()]);
    let found = stdout(&out);
    assert!(
        found.contains("team/new") && found.contains("ops/token"),
        "{found}"
    );

    // audit: every store's findings, named as the user names them.
    let out = a.run(&["audit"]);
    let report = stdout(&out);
    assert!(report.contains("team/weak"), "{report}");
    let out = a.run(&["audit", "team"]);
    let report = stdout(&out);
    assert!(report.contains("team/weak"), "{report}");
    assert!(
        !report.contains("web/shop") && !report.contains("ops/"),
        "{report}"
    );
    let json = common::stdout_json(&a.run(&["audit", "--json"]));
    let secrets = json["secrets"].as_u64().unwrap();
    assert_eq!(secrets, 6, "main 1 + team 2 + ops 2 + new 1: {json}");
}

#[test]
fn fsck_checks_every_store_below_the_folder() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let a = &s.alice;
    let key = mount_dir(a, "ops").join("deploy/key.age");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = a.run(&["fsck"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("permissions ops/deploy/key.age"), "{text}");
    assert!(
        text.contains("3 secret(s) checked"),
        "main 1 + team 1 + ops 1: {text}"
    );
    // Only the store asked about.
    let out = a.run_ok(&["fsck", "team"]);
    assert!(
        stdout(&out).contains("1 secret(s) checked, 0 problem(s)"),
        "{}",
        stdout(&out)
    );
    // Fixed in the mounted store itself.
    a.run_ok(&["fsck", "--fix"]);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    a.run_ok(&["fsck"]);
}
