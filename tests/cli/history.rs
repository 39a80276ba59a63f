//! `history`, `show --revision` and `restore`: a secret's versions from git, through moves
//! and copies made by coffer and by plain git.

use crate::common::{TestVault, stderr, stdout};

fn events(v: &TestVault, name: &str) -> Vec<(String, String)> {
    stdout(&v.run_ok(&["history", "--json", name]))
        .lines()
        .map(|l| {
            let item: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                item["name"].as_str().unwrap().to_owned(),
                item["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn history_follows_two_renames_and_a_copy_and_old_values_come_back() {
    let v = TestVault::with_git();
    v.insert("web/a", "one\n");
    v.insert("web/a", "two\n");
    v.run_ok(&["generate", "-f", "web/a", "12"]);
    v.run_ok(&["mv", "web/a", "web/b"]);
    v.git(&v.store(), &["mv", "web/b.age", "c.age"]);
    v.git(&v.store(), &["commit", "-q", "-m", "by hand"]);
    v.run_ok(&["cp", "c", "d"]);
    v.run_ok(&["reencrypt"]);
    assert_eq!(
        events(&v, "d"),
        pairs(&[
            ("d", "reencrypted"),
            ("d", "copied"),
            ("c", "moved"),
            ("web/b", "moved"),
            ("web/a", "generated"),
            ("web/a", "edited"),
            ("web/a", "added"),
        ])
    );
    let text = stdout(&v.run_ok(&["history", "d"]));
    assert!(text.contains("copied from c"), "{text}");
    assert!(text.contains("moved from web/a [as web/b]"), "{text}");
    assert!(text.contains("re-encrypted, value unchanged"), "{text}");
    assert_eq!(text.lines().count(), 7, "{text}");

    // -N counts value changes only: the generated value is -0, "two" -1, "one" -2.
    let now = v.show("d");
    assert_eq!(v.run_ok(&["show", "d", "--revision", "-0"]).stdout, now);
    assert_eq!(
        v.run_ok(&["show", "d", "--revision", "-1"]).stdout,
        b"two\n"
    );
    assert_eq!(v.run_ok(&["show", "d", "-r", "-2"]).stdout, b"one\n");
    assert_eq!(
        v.run_ok(&["show", "d", "--revision", "-2", "--field", "password"])
            .stdout,
        b"one\n"
    );
    let out = v.run(&["show", "d", "--revision", "-3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no value 3 change(s) back"));

    // By commit: the one that added web/a, under its old name.
    let first = stdout(&v.run_ok(&["history", "--json", "d"]))
        .lines()
        .last()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["commit"].clone())
        .unwrap();
    let first = first.as_str().unwrap();
    assert_eq!(
        v.run_ok(&["show", "d", "--revision", first]).stdout,
        b"one\n"
    );
    let out = v.run(&["show", "d", "--revision", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("names no commit"), "{}", stderr(&out));
    let out = v.run(&["show", "d", "--revision", "HEAD:x"]);
    assert_eq!(out.status.code(), Some(2));

    // Restore: the old value as a new version, a value change, pass-style commit.
    v.run_ok(&["restore", "d", "--revision", "-2"]);
    assert_eq!(v.show("d"), b"one\n");
    assert_eq!(v.git_log()[0], "Restore d to -2.");
    assert_eq!(events(&v, "d")[0], ("d".to_owned(), "restored".to_owned()));
    assert_eq!(v.run_ok(&["show", "d", "-r", "-1"]).stdout, now);

    // A removed secret's history and values stay readable.
    v.run_ok(&["rm", "-f", "d"]);
    assert_eq!(events(&v, "d")[0], ("d".to_owned(), "removed".to_owned()));
    assert_eq!(v.run_ok(&["show", "d", "-r", "HEAD~1"]).stdout, b"one\n");
    assert_eq!(v.run_ok(&["show", "d", "-r", "-1"]).stdout, now);
    let out = v.run(&["show", "d", "-r", "HEAD"]);
    assert!(
        stderr(&out).contains("did not exist at HEAD"),
        "{}",
        stderr(&out)
    );
}

/// `db` written with `value` for someone else only (you were not a recipient yet); their key.
fn written_for_someone_else(v: &TestVault, value: &str) -> String {
    let other = age::x25519::Identity::generate().to_public().to_string();
    let out = v
        .cmd()
        .env("COFFER_RECIPIENTS", &other)
        .args(["--force", "insert", "-m", "db"])
        .write_stdin(value)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    other
}

#[test]
fn a_version_from_before_you_were_a_recipient_says_so() {
    let v = TestVault::with_git();
    written_for_someone_else(&v, "theirs\n");
    v.insert("db", "mine\n");
    assert_eq!(v.run_ok(&["show", "db", "-r", "-0"]).stdout, b"mine\n");
    let out = v.run(&["show", "db", "-r", "-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: db was not encrypted to you at -1 (you were added later?)\n"
    );
    // Restoring it cannot work either, and changes nothing.
    let out = v.run(&["restore", "db", "-r", "-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v.show("db"), b"mine\n");
}

/// A value written before you were added, then re-encrypted for you by `reencrypt`, is read
/// from the re-encrypted copy: `-N` names a value, and that value has a copy you can read.
#[test]
fn an_old_value_is_read_from_the_copy_reencrypted_for_you() {
    let v = TestVault::with_git();
    let other = written_for_someone_else(&v, "first\n");
    // Someone who could read it re-encrypts it for the store's recipients (you among them):
    // here, by hand, as their `coffer reencrypt` would, then committed by git.
    let file = v.path("db");
    let mine = v.recipient();
    v.age_encrypt(&["-r", &mine, "-r", &other], &file, b"first\n");
    v.store_git(&[
        "commit",
        "-qam",
        "Reencrypt password store.\n\nCoffer-Value: unchanged",
    ]);
    v.insert("db", "second\n");
    assert_eq!(v.run_ok(&["show", "db", "-r", "-1"]).stdout, b"first\n");
    v.run_ok(&["restore", "db", "-r", "-1"]);
    assert_eq!(v.show("db"), b"first\n");
}

/// A commit that did not touch the secret shows the value it had then: the newest version
/// at or before that commit.
#[test]
fn a_revision_that_did_not_touch_the_secret_shows_its_value_then() {
    let v = TestVault::with_git();
    v.insert("db", "first\n");
    v.insert("other", "x\n");
    let then = v.store_git(&["rev-parse", "HEAD"]);
    v.insert("db", "second\n");
    v.insert("other", "y\n");
    assert_eq!(
        v.run_ok(&["show", "db", "-r", then.trim()]).stdout,
        b"first\n"
    );
    assert_eq!(v.run_ok(&["show", "db", "-r", "HEAD"]).stdout, b"second\n");
}

#[test]
fn history_needs_git_and_a_known_name() {
    let v = TestVault::new();
    v.insert("a", "x\n");
    let out = v.run(&["history", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
    let g = TestVault::with_git();
    let out = g.run(&["history", "never"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no history"), "{}", stderr(&out));
    assert_eq!(g.run(&["history", "../x"]).status.code(), Some(2));
}
