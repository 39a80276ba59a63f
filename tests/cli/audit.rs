//! `audit` and `info`: each kind of finding from a vault built for it, rotation dates that
//! survive re-encryption, moves and copies, JSON for CI, and the exit codes.

use crate::common::{self, TestVault, stderr, stdout};

const OLD: &str = "2020-01-01T12:00:00Z";

/// `audit --json …` parsed; the exit code beside it.
fn audit_json(v: &TestVault, args: &[&str]) -> (serde_json::Value, Option<i32>) {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    let out = v.run(&all);
    (common::stdout_json(&out), out.status.code())
}

/// The name groups of the findings of one kind.
fn found(json: &serde_json::Value, kind: &str) -> Vec<Vec<String>> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| {
            f["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn finding<'a>(json: &'a serde_json::Value, kind: &str, name: &str) -> &'a serde_json::Value {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind && f["names"][0] == name)
        .unwrap_or_else(|| panic!("no {kind} finding for {name}: {json:#}"))
}

/// Inserts a secret with a commit dated `when` (author and committer).
fn insert_dated(v: &TestVault, name: &str, content: &str, when: &str) {
    let out = v
        .cmd()
        .env("GIT_AUTHOR_DATE", when)
        .env("GIT_COMMITTER_DATE", when)
        .args(["insert", "-m", "-f", name])
        .write_stdin(content)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn git(v: &TestVault, args: &[&str], date: Option<&str>) {
    let mut cmd = v.tool("git");
    cmd.arg("-C").arg(v.store()).args(args);
    if let Some(d) = date {
        cmd.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

#[test]
fn a_clean_vault_has_no_findings_and_exits_0() {
    let v = TestVault::new();
    v.run(&["generate", "web/site", "30"]);
    v.insert("api/token", "ghp_Zr8Qk2Lw9xVb4Nc7Md1Pf6Hs3Jt5Gy0Ea\n");
    let out = v.run(&["audit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "No findings in 2 secrets.\n");
}

#[test]
fn weak_passwords_are_found_and_generated_tokens_are_not() {
    let v = TestVault::new();
    v.insert("email/work", "password1\nuser: alice\n");
    v.insert("shop", "alice1990\nuser: alice\n");
    v.run(&["generate", "strong", "25"]);
    v.insert("hex-key", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b\n");
    v.insert("notes", "\nonly notes, no password\n");
    let (json, code) = audit_json(&v, &[]);
    assert_eq!(code, Some(1));
    let weak = found(&json, "weak");
    assert_eq!(weak, [vec!["email/work"], vec!["shop"]]);
    let w = finding(&json, "weak", "email/work");
    assert!(w["reason"].as_str().unwrap().contains("zxcvbn"));
    let text = stdout(&v.run(&["audit"]));
    assert!(text.starts_with("Weak (2)\n"), "{text}");
    assert!(!text.contains("password1"), "a value leaked: {text}");
}

#[test]
fn reused_passwords_are_reported_as_groups() {
    let v = TestVault::new();
    let shared = "Vq7#mZ2!pL9@xR4$wT6\n";
    v.insert("a/one", shared);
    v.insert("b/two", format!("{shared}user: bob\n"));
    v.insert("c/three", shared);
    v.insert("other", "Kd3%nB8^sF1&yH5*qJ0\n");
    v.insert("pair1", "Gm4(tW7)eQ2_zX9+cV5\n");
    v.insert("pair2", "Gm4(tW7)eQ2_zX9+cV5\n");
    let (json, _) = audit_json(&v, &[]);
    let mut groups = found(&json, "reused");
    groups.sort();
    assert_eq!(
        groups,
        [vec!["a/one", "b/two", "c/three"], vec!["pair1", "pair2"]]
    );
    let text = stdout(&v.run(&["audit"]));
    assert!(text.contains("Reused (2)"), "{text}");
    assert!(text.contains("a/one, b/two, c/three"), "{text}");
    assert!(!text.contains("Vq7#"), "a value leaked: {text}");
}

#[test]
fn back_dated_git_history_is_stale_and_reencrypt_mv_cp_keep_the_date() {
    let v = TestVault::with_git();
    insert_dated(&v, "old/db", "Vq7#mZ2!pL9@xR4$wT6\n", OLD);
    insert_dated(&v, "old/ftp", "Kd3%nB8^sF1&yH5*qJ0\n", OLD);
    v.insert("fresh", "Gm4(tW7)eQ2_zX9+cV5\n");
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "stale"), [vec!["old/db"], vec!["old/ftp"]]);
    let stale = finding(&json, "stale", "old/db");
    assert_eq!(stale["date"], "2020-01-01");
    assert!(stale["days"].as_i64().unwrap() > 365);

    // None of these changes a value.
    assert!(v.run(&["reencrypt"]).status.success());
    assert!(v.run(&["mv", "old/db", "moved/db"]).status.success());
    assert!(v.run(&["cp", "old/ftp", "copy/ftp"]).status.success());
    assert!(v.run(&["mv", "old", "archive"]).status.success());
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(
        found(&json, "stale"),
        [vec!["archive/ftp"], vec!["copy/ftp"], vec!["moved/db"]]
    );
    assert_eq!(finding(&json, "stale", "moved/db")["date"], "2020-01-01");
    assert_eq!(finding(&json, "stale", "archive/ftp")["date"], "2020-01-01");

    // A new value rotates it.
    v.insert("moved/db", "Pz8&uY3*iO6^lK1%jH4\n");
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(
        found(&json, "stale"),
        [vec!["archive/ftp"], vec!["copy/ftp"]]
    );

    // The limit comes from --max-age, then the config file.
    let (json, _) = audit_json(&v, &["--max-age", "100000"]);
    assert!(found(&json, "stale").is_empty());
    // What is left: a copy is the same password twice.
    assert_eq!(
        found(&json, "reused"),
        [vec!["archive/ftp", "copy/ftp"]],
        "{json:#}"
    );
    assert_eq!(json["findings"].as_array().unwrap().len(), 1);
    let config = v.home().join(".config/coffer");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[audit]\nmax_age = 100000\n").unwrap();
    let (json, _) = audit_json(&v, &[]);
    assert!(found(&json, "stale").is_empty());
    assert_eq!(json["max_age_days"], 100000);
}

#[test]
fn a_secret_committed_with_plain_git_is_dated_by_its_commit() {
    let v = TestVault::with_git();
    v.insert("src", "Vq7#mZ2!pL9@xR4$wT6\n");
    // Someone adds a secret file by hand and commits it, back-dated.
    std::fs::copy(v.path("src"), v.store().join("by-hand.age")).unwrap();
    git(&v, &["add", "by-hand.age"], None);
    git(&v, &["commit", "-q", "-m", "add by hand"], Some(OLD));
    // A plain `git mv` of identical ciphertext keeps the date too.
    git(&v, &["mv", "by-hand.age", "renamed.age"], None);
    git(&v, &["commit", "-q", "-m", "rename by hand"], None);
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "stale"), [vec!["renamed"]]);
    let info = stdout(&v.run(&["info", "renamed"]));
    assert!(info.contains("Rotated:    2020-01-01"), "{info}");
    assert!(info.contains("from git history"), "{info}");
}

#[test]
fn without_git_the_file_time_is_the_rotation_date_and_survives_rewrites() {
    let v = TestVault::new();
    v.insert("old", "Vq7#mZ2!pL9@xR4$wT6\n");
    v.insert("new", "Kd3%nB8^sF1&yH5*qJ0\n");
    let touched = v
        .tool("touch")
        .args(["-m", "-d", OLD])
        .arg(v.path("old"))
        .status()
        .unwrap();
    assert!(touched.success());
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "stale"), [vec!["old"]]);

    assert!(v.run(&["reencrypt"]).status.success());
    assert!(v.run(&["mv", "old", "f/moved"]).status.success());
    assert!(v.run(&["cp", "f/moved", "copied"]).status.success());
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "stale"), [vec!["copied"], vec!["f/moved"]]);
    let info = stdout(&v.run(&["info", "f/moved"]));
    assert!(info.contains("Rotated:    2020-01-01"), "{info}");
    assert!(info.contains("from file time"), "{info}");

    v.insert("f/moved", "Pz8&uY3*iO6^lK1%jH4\n");
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "stale"), [vec!["copied"]]);
}

/// A self-signed certificate valid for `days`, made by openssl now: PEM (followed by its
/// private key, as a secret would hold them) and DER.
fn certificate(v: &TestVault, cn: &str, days: &str) -> (String, Vec<u8>) {
    common::require_tool("openssl");
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let out = v
        .tool("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-keyout"])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(&cert)
        .args(["-days", days, "-subj", &format!("/CN={cn}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", stderr(&out));
    let key = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
    let der = dir.path().join("cert.der");
    let out = v
        .tool("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&der)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", stderr(&out));
    let pem = format!("{}{key}", std::fs::read_to_string(cert).unwrap());
    (pem, std::fs::read(der).unwrap())
}

#[test]
fn expiry_fields_and_certificates_within_30_days_or_past_are_found() {
    let v = TestVault::new();
    let today = jiff::Zoned::now().date();
    let in_days = |d: i64| today.checked_add(jiff::Span::new().days(d)).unwrap();
    v.insert("lic/past", "Vq7#mZ2!pL9@xR4$wT6\nexpires: 2021-06-30\n");
    v.insert(
        "lic/soon",
        format!("Kd3%nB8^sF1&yH5*qJ0\nExpires: {}\n", in_days(12)),
    );
    v.insert(
        "lic/later",
        format!("Gm4(tW7)eQ2_zX9+cV5\nexpires: {}\n", in_days(200)),
    );
    v.insert("lic/typo", "Pz8&uY3*iO6^lK1%jH4\nexpires: next year\n");
    let (soon, soon_der) = certificate(&v, "soon.example.test", "10");
    v.insert("tls/soon", soon);
    v.insert("tls/soon-der", soon_der);
    v.insert("tls/fine", certificate(&v, "fine.example.test", "400").0);
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(
        found(&json, "expiring"),
        [
            vec!["lic/past"],
            vec!["lic/soon"],
            vec!["lic/typo"],
            vec!["tls/soon"],
            vec!["tls/soon-der"]
        ]
    );
    let past = finding(&json, "expiring", "lic/past");
    assert_eq!(
        (past["severity"].as_str(), past["date"].as_str()),
        (Some("high"), Some("2021-06-30"))
    );
    assert_eq!(finding(&json, "expiring", "lic/soon")["days"], 12);
    let cert = finding(&json, "expiring", "tls/soon");
    assert_eq!(cert["severity"], "medium");
    let reason = cert["reason"].as_str().unwrap();
    assert!(reason.contains("CN=soon.example.test"), "{reason}");
    let days = cert["days"].as_i64().unwrap();
    assert!((9..=10).contains(&days), "{days}");
    assert!(
        finding(&json, "expiring", "lic/typo")["reason"]
            .as_str()
            .unwrap()
            .contains("not a YYYY-MM-DD date")
    );
    // Certificates and keys are not passwords: nothing else is reported about them.
    assert!(found(&json, "weak").is_empty(), "{json:#}");
    assert!(found(&json, "reused").is_empty(), "{json:#}");
}

#[test]
fn corrupt_and_foreign_files_are_undecryptable() {
    common::require_tool("age");
    common::require_tool("age-keygen");
    let v = TestVault::new();
    v.insert("good", "Vq7#mZ2!pL9@xR4$wT6\n");
    std::fs::write(v.path("corrupt"), b"this is not an age file").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("other.key");
    let out = v.tool("age-keygen").arg("-o").arg(&key).output().unwrap();
    assert!(out.status.success());
    let other = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    v.age_encrypt(&["-r", &other], &v.path("foreign"), b"theirs\n");

    let (json, code) = audit_json(&v, &["--fail-on", "high"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        found(&json, "undecryptable"),
        [vec!["corrupt"], vec!["foreign"]]
    );
    let reason = |n| {
        finding(&json, "undecryptable", n)["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        reason("corrupt").contains("not an age file"),
        "{}",
        reason("corrupt")
    );
    assert!(
        reason("foreign").contains("no identity matches"),
        "{}",
        reason("foreign")
    );
    let text = stdout(&v.run(&["audit"]));
    assert!(text.starts_with("Undecryptable (2)\n"), "{text}");
}

#[test]
fn fail_on_sets_the_threshold_and_sub_limits_the_scope() {
    let v = TestVault::with_git();
    insert_dated(&v, "team/old", "Vq7#mZ2!pL9@xR4$wT6\n", OLD);
    v.insert("personal/weak", "password\n");
    // Stale is low: it fails by default, not from --fail-on medium up.
    assert_eq!(v.run(&["audit", "team"]).status.code(), Some(1));
    assert_eq!(
        v.run(&["audit", "team", "--fail-on", "medium"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        v.run(&["audit", "--fail-on", "medium"]).status.code(),
        Some(1)
    );
    assert_eq!(
        v.run(&["audit", "--fail-on", "never"]).status.code(),
        Some(0)
    );
    let (json, _) = audit_json(&v, &["team/"]);
    assert_eq!(json["secrets"], 1);
    assert!(found(&json, "weak").is_empty());
    let bad = v.run(&["audit", "--fail-on", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = v.run(&["audit", "../etc"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn info_shows_rotation_age_exposure_size_and_recipients() {
    let v = TestVault::with_git();
    insert_dated(&v, "team/db", "Vq7#mZ2!pL9@xR4$wT6\n", OLD);
    let me = v.recipient();
    let out = v.run(&["init", "-p", "team", &me]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = v.run(&["info", "team/db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let size = std::fs::metadata(v.path("team/db")).unwrap().len();
    assert!(text.contains("Name:       team/db\n"), "{text}");
    assert!(
        text.contains("Rotated:    2020-01-01 12:00:00 (last change of value, from git history)"),
        "setting recipients re-encrypted it without resetting the date: {text}"
    );
    assert!(text.contains("(stale: the limit is 365 days)"), "{text}");
    assert!(text.contains("Exposure:   none recorded\n"), "{text}");
    assert!(
        text.contains(&format!("Size:       {size} bytes encrypted\n")),
        "{text}"
    );
    assert!(
        text.contains("Recipients: team/.age-recipients (1 recipient)"),
        "{text}"
    );
    assert!(text.contains(&me), "{text}");

    let missing = v.run(&["info", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "coffer: nope is not in the store.\n");
}

#[test]
fn a_long_audit_shows_progress_on_a_terminal_only() {
    let v = TestVault::new();
    v.insert("seed", "Vq7#mZ2!pL9@xR4$wT6\n");
    for i in 0..250 {
        std::fs::copy(v.path("seed"), v.path(&format!("s{i:03}"))).unwrap();
    }
    // Without a terminal: the report alone.
    let out = v
        .cmd()
        .env("TERM", "xterm-256color")
        .args(["audit", "--fail-on", "never"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // On a terminal: a progress bar on stderr while it works (indicatif, like most tools,
    // draws nothing for TERM=dumb or no TERM).
    let mut cmd = v.coffer();
    cmd.env("TERM", "xterm-256color")
        .args(["audit", "--fail-on", "never"]);
    let mut p = common::on_terminal(cmd);
    p.exp_string("auditing").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("1 finding in 251 secrets."), "{rest}");
}

/// A fresh age recipient nobody here holds the key of.
fn stranger(v: &TestVault) -> String {
    common::require_tool("age-keygen");
    let out = v.tool("age-keygen").output().unwrap();
    assert!(out.status.success());
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap()
}

#[test]
fn secrets_a_removed_recipient_could_read_are_exposed_until_their_value_changes() {
    let v = TestVault::with_git();
    v.insert("public", "Pz8&uY3*iO6^lK1%jH4\n");
    let bob = stranger(&v);
    let out = v.run(&["recipients", "add", "-p", "team", "--label", "bob", &bob]);
    assert!(out.status.success(), "{}", stderr(&out));
    v.insert("team/db", "Vq7#mZ2!pL9@xR4$wT6\n");
    v.insert("team/api", "Kd3%nB8^sF1&yH5*qJ0\n");
    let out = v.run(&["recipients", "rm", "-p", "team", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (json, code) = audit_json(&v, &["--fail-on", "high"]);
    assert_eq!(code, Some(1));
    assert_eq!(found(&json, "exposed"), [vec!["team/api"], vec!["team/db"]]);
    let exposed = finding(&json, "exposed", "team/db");
    assert_eq!(exposed["severity"], "high");
    assert!(
        exposed["reason"].as_str().unwrap().contains("bob"),
        "{exposed}"
    );
    let info = stdout(&v.run(&["info", "team/db"]));
    assert!(info.contains("Exposure:   exposed to bob"), "{info}");

    // Re-encryption and a move do not change the value: still exposed.
    assert!(v.run(&["reencrypt"]).status.success());
    assert!(v.run(&["mv", "team/api", "team/api2"]).status.success());
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(
        found(&json, "exposed"),
        [vec!["team/api2"], vec!["team/db"]]
    );
    // A new value ends it.
    v.insert("team/db", "Gm4(tW7)eQ2_zX9+cV5\n");
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "exposed"), [vec!["team/api2"]]);
    let info = stdout(&v.run(&["info", "team/db"]));
    assert!(info.contains("Exposure:   none recorded"), "{info}");
}

#[test]
fn info_describes_a_folder() {
    let v = TestVault::with_git();
    insert_dated(&v, "web/old", "Vq7#mZ2!pL9@xR4$wT6\n", OLD);
    v.insert("web/shop", "pw\n");
    v.insert("web/deep/mail", "pw\n");
    v.insert("elsewhere", "pw\n");
    let me = v.recipient();
    let out = v.run(&[
        "recipients",
        "add",
        "-p",
        "web",
        "--label",
        "bob",
        &stranger(&v),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = v.run(&["recipients", "rm", "-p", "web", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = v.run(&["info", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Folder:     web/\n"), "{text}");
    assert!(text.contains("Secrets:    3\n"), "{text}");
    assert!(
        text.contains("Oldest:     2020-01-01 12:00:00 web/old"),
        "the oldest rotation: {text}"
    );
    assert!(text.contains("Exposure:   3 secrets exposed"), "{text}");
    assert!(
        text.contains("Recipients: web/.age-recipients (1 recipient)"),
        "{text}"
    );
    assert!(text.contains(&me), "{text}");
    // A trailing slash says the same.
    assert_eq!(stdout(&v.run(&["info", "web/"])), text);
}

/// Waits until the files written so far have settled: only then does the secret cache keep
/// them (a file changed within the last two seconds is always decrypted).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(2100));
}

/// The one file of the test vault's secret cache, and when it was last written.
fn cache_file(v: &TestVault) -> (std::path::PathBuf, std::time::SystemTime) {
    let dir = v.home().join(".cache/coffer/scan");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    (files[0].clone(), written)
}

#[test]
fn a_second_audit_from_the_cache_says_the_same() {
    let v = TestVault::new();
    v.insert("email/work", "password1\nuser: alice\n");
    v.insert("a/one", "Vq7#mZ2!pL9@xR4$wT6\n");
    v.insert("b/two", "Vq7#mZ2!pL9@xR4$wT6\nuser: bob\n");
    v.insert("lic/past", "Kd3%nB8^sF1&yH5*qJ0\nexpires: 2021-06-30\n");
    v.insert("lic/typo", "Gm4(tW7)eQ2_zX9+cV5\nexpires: next year\n");
    v.insert("notes", "\nonly notes\n");
    std::fs::write(v.path("corrupt"), b"this is not an age file").unwrap();
    // A scan fills the cache first: values only, so the audit still decrypts and adds facts.
    let empty = tempfile::tempdir().unwrap();
    let scanned = v.cmd().arg("scan").arg(empty.path()).output().unwrap();
    assert_eq!(scanned.status.code(), Some(0), "{}", stderr(&scanned));
    settle();
    let scanned = cache_file(&v).1;
    let first = v.run(&["audit", "--json"]);
    let (cache, written) = cache_file(&v);
    assert_ne!(
        written, scanned,
        "the audit adds its facts to the scan's records"
    );
    assert!(
        std::fs::read(&cache)
            .unwrap()
            .starts_with(b"age-encryption.org/v1\n")
    );
    let second = v.run(&["audit", "--json"]);
    assert_eq!(stdout(&second), stdout(&first));
    assert_eq!(second.status.code(), Some(1));
    assert!(stderr(&second).is_empty(), "{}", stderr(&second));
    // Served from the cache: nothing new to write.
    assert_eq!(cache_file(&v).1, written);
    let json = common::stdout_json(&second);
    assert_eq!(found(&json, "weak"), [vec!["email/work"]]);
    assert_eq!(found(&json, "reused"), [vec!["a/one", "b/two"]]);
    assert_eq!(
        found(&json, "expiring"),
        [vec!["lic/past"], vec!["lic/typo"]]
    );
    assert_eq!(found(&json, "undecryptable"), [vec!["corrupt"]]);
    assert_eq!(json["secrets"], 7);
    let text = stdout(&v.run(&["audit"]));
    assert_eq!(stdout(&v.run(&["audit"])), text);
    assert!(!text.contains("password1"), "a value leaked: {text}");
}

#[test]
fn a_secret_made_weak_between_audits_is_reported() {
    let v = TestVault::new();
    v.insert("web/shop", "Vq7#mZ2!pL9@xR4$wT6\n");
    v.insert("web/mail", "Kd3%nB8^sF1&yH5*qJ0\n");
    settle();
    assert_eq!(stdout(&v.run(&["audit"])), "No findings in 2 secrets.\n");
    let written = cache_file(&v).1;
    v.insert("web/shop", "shop2024\n");
    // Settled, so only its file's new stamp tells the cache it changed.
    settle();
    let (json, code) = audit_json(&v, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(found(&json, "weak"), [vec!["web/shop"]]);
    assert_ne!(cache_file(&v).1, written, "its record is replaced");
    let (again, _) = audit_json(&v, &[]);
    assert_eq!(again, json);
    // And back to a strong one.
    v.insert("web/shop", "Gm4(tW7)eQ2_zX9+cV5\n");
    settle();
    assert_eq!(stdout(&v.run(&["audit"])), "No findings in 2 secrets.\n");
}

#[test]
fn a_password_reused_across_secrets_is_found_from_the_cache() {
    let v = TestVault::new();
    let shared = "Vq7#mZ2!pL9@xR4$wT6\n";
    v.insert("a/one", shared);
    v.insert("b/two", shared);
    v.insert("other", "Kd3%nB8^sF1&yH5*qJ0\n");
    settle();
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "reused"), [vec!["a/one", "b/two"]]);
    let written = cache_file(&v).1;
    let (again, _) = audit_json(&v, &[]);
    assert_eq!(again, json);
    assert_eq!(cache_file(&v).1, written);
    // A third copy, new, joins the two the cache knows.
    v.insert("c/three", shared);
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(found(&json, "reused"), [vec!["a/one", "b/two", "c/three"]]);
}

#[test]
fn removing_a_secret_drops_its_findings_from_the_cache() {
    let v = TestVault::new();
    let shared = "Vq7#mZ2!pL9@xR4$wT6\n";
    v.insert("a/one", shared);
    v.insert("b/two", shared);
    v.insert("weak", "password1\n");
    v.insert("lic/past", "Kd3%nB8^sF1&yH5*qJ0\nexpires: 2021-06-30\n");
    settle();
    let (json, _) = audit_json(&v, &[]);
    assert_eq!(json["findings"].as_array().unwrap().len(), 3, "{json:#}");
    let written = cache_file(&v).1;
    v.run_ok(&["rm", "-f", "b/two"]);
    v.run_ok(&["rm", "-f", "weak"]);
    v.run_ok(&["rm", "-f", "lic/past"]);
    let out = v.run(&["audit"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "No findings in 1 secret.\n");
    assert_ne!(cache_file(&v).1, written, "their records are dropped");
}
