//! The access log: every command leaves a record (never a value), `log` reads and filters
//! them, `log --verify` names the first bad record for each kind of tampering, concurrent
//! appends stay chained, and shared logs of two devices merge after a sync.

use crate::common::{self, TestVault, stderr, stdout};

fn log_json(v: &TestVault, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["log", "--json"];
    all.extend_from_slice(args);
    let out = v.run(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    common::stdout_json(&out).as_array().unwrap().clone()
}

fn field(records: &[serde_json::Value], key: &str) -> Vec<String> {
    records
        .iter()
        .map(|r| r[key].as_str().unwrap_or("-").to_owned())
        .collect()
}

fn local_log(v: &TestVault) -> std::path::PathBuf {
    v.data_dir().join("access.log")
}

#[test]
fn every_command_is_recorded_without_values() {
    let v = TestVault::new();
    v.insert("email/work", "s3cr3t-value-do-not-log\n");
    assert!(v.run(&["show", "email/work"]).status.success());
    assert_eq!(v.run(&["show", "missing"]).status.code(), Some(1));
    assert!(v.run(&["ls"]).status.success());
    assert!(v.run(&["mv", "email/work", "email/home"]).status.success());
    let records = log_json(&v, &[]);
    assert_eq!(
        field(&records, "op"),
        ["init", "insert", "show", "show", "ls", "mv"]
    );
    assert_eq!(
        field(&records, "name"),
        [
            "-",
            "email/work",
            "email/work",
            "missing",
            "-",
            "email/work"
        ]
    );
    assert_eq!(
        field(&records, "outcome"),
        ["ok", "ok", "ok", "failed", "ok", "ok"]
    );
    let first = &records[0];
    for key in ["time", "user", "host", "device", "prev"] {
        assert!(
            first[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {first}"
        );
    }
    assert_eq!(first["seq"], 1);
    let raw = std::fs::read_to_string(local_log(&v)).unwrap();
    assert!(!raw.contains("s3cr3t"), "a value reached the log");
    assert_eq!(raw.lines().count(), 6, "`log` itself is not recorded");

    let text = stdout(&v.run(&["log"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[3].contains(" show ") && lines[3].ends_with("failed missing"),
        "{text}"
    );

    // Filters: a name (or folder), and a date.
    assert_eq!(log_json(&v, &["email/work"]).len(), 3);
    assert_eq!(log_json(&v, &["email"]).len(), 3);
    assert_eq!(log_json(&v, &["--since", "2000-01-01"]).len(), 6);
    assert!(log_json(&v, &["--since", "2999-01-01"]).is_empty());
    let bad = v.run(&["log", "--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(2));

    let verify = v.run(&["log", "--verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    assert!(stdout(&verify).ends_with("access.log: 6 records, intact\n"));
}

/// A vault whose log holds 6 records; returns the log's lines.
fn vault_with_six_records() -> (TestVault, Vec<String>) {
    let v = TestVault::new();
    for _ in 0..5 {
        assert!(v.run(&["ls"]).status.success());
    }
    let lines: Vec<String> = std::fs::read_to_string(local_log(&v))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 6);
    (v, lines)
}

fn write_lines(v: &TestVault, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(local_log(v), text).unwrap();
}

#[test]
fn each_kind_of_tampering_is_detected_and_the_first_bad_record_named() {
    type Tamper = fn(&mut Vec<String>);
    let cases: [(&str, Tamper, &str); 6] = [
        (
            "edit",
            |l| l[2] = l[2].replace("\"op\":\"ls\"", "\"op\":\"rm\""),
            "record 3: was edited",
        ),
        (
            "removal",
            |l| drop(l.remove(3)),
            "record 4: does not follow record 3",
        ),
        ("reorder", |l| l.swap(1, 2), "record 2: is out of order"),
        (
            "insertion",
            |l| {
                let copy = l[1].clone();
                l.insert(4, copy)
            },
            "record 5: was inserted",
        ),
        ("truncation", |l| l.truncate(4), "record 5: is missing"),
        (
            "edit of the last record",
            |l| l[5] = l[5].replace("\"outcome\":\"ok\"", "\"outcome\":\"failed\""),
            "record 6: was edited",
        ),
    ];
    for (what, tamper, expected) in cases {
        let (v, mut lines) = vault_with_six_records();
        tamper(&mut lines);
        write_lines(&v, &lines);
        let out = v.run(&["log", "--verify"]);
        assert_eq!(out.status.code(), Some(1), "{what} went unnoticed");
        let err = stderr(&out);
        assert!(
            err.starts_with("coffer: access log ") && err.contains(expected),
            "{what}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
    }
}

#[test]
fn a_cut_stays_visible_after_later_appends() {
    let (v, mut lines) = vault_with_six_records();
    lines.truncate(3);
    write_lines(&v, &lines);
    assert!(v.run(&["ls"]).status.success());
    let out = v.run(&["log", "--verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("record 4: does not follow record 3: 3 record(s) between them were removed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn concurrent_commands_append_one_unbroken_chain() {
    let v = TestVault::new();
    let children: Vec<_> = (0..8)
        .map(|_| {
            v.coffer()
                .args(["ls"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let out = v.run(&["log", "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("9 records, intact"),
        "{}",
        stdout(&out)
    );
}

fn enable_shared_log(v: &TestVault) {
    let dir = v.home().join(".config/coffer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[log]\nshared = true\n").unwrap();
}

#[test]
fn shared_logs_of_two_devices_merge_after_a_sync() {
    common::require_tool("git");
    let (_remote_dir, remote) = common::bare_remote();
    let a = TestVault::with_git();
    let b = TestVault::new();
    enable_shared_log(&a);
    enable_shared_log(&b);

    // Device A: both can read the team's secrets; A works and pushes.
    a.run_ok(&["init", &a.recipient(), &b.recipient()]);
    a.insert("team/db", "Vq7#mZ2!pL9@xR4$wT6\n");
    a.run_ok(&["show", "team/db"]);
    a.insert("team/api", "Kd3%nB8^sF1&yH5*qJ0\n");
    a.run_ok(&["git", "remote", "add", "origin", remote.to_str().unwrap()]);
    a.run_ok(&["git", "push", "-q", "-u", "origin", "HEAD"]);

    // Device B: a plain clone of the same store.
    std::fs::remove_dir_all(b.store()).unwrap();
    let clone = b
        .tool("git")
        .args(["clone", "-q"])
        .arg(&remote)
        .arg(b.store())
        .output()
        .unwrap();
    assert!(clone.status.success(), "{}", stderr(&clone));
    // B's own (replaced) store had other recipients: B approves the team's.
    b.run_ok(&["recipients", "accept"]);
    b.run_ok(&["show", "team/db"]);
    b.insert("team/from-b", "Gm4(tW7)eQ2_zX9+cV5\n");
    b.run_ok(&["git", "push", "-q"]);

    // A syncs and sees both devices' records in one timeline.
    a.run_ok(&["git", "pull", "-q", "--no-rebase"]);
    let records = log_json(&a, &[]);
    let devices: std::collections::BTreeSet<String> =
        field(&records, "device").into_iter().collect();
    assert_eq!(devices.len(), 2, "{records:#?}");
    let times = field(&records, "time");
    let mut sorted = times.clone();
    sorted.sort_by_key(|t| t.parse::<jiff::Timestamp>().unwrap());
    assert_eq!(times, sorted, "merged by time");
    let b_reads: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["op"] == "show" && r["name"] == "team/db")
        .collect();
    assert_eq!(b_reads.len(), 2, "A's read and B's read: {records:#?}");
    assert_ne!(b_reads[0]["device"], b_reads[1]["device"]);
    let text = stdout(&a.run(&["log", "team/db"]));
    assert_eq!(
        text.lines().count(),
        3,
        "A's insert and read, B's read: {text}"
    );

    let verify = a.run(&["log", "--verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let report = stdout(&verify);
    assert_eq!(report.matches("intact").count(), 2, "{report}");
    assert!(report.contains(".coffer/log/"), "{report}");
    // Each device writes only its own file, so git never had anything to merge in them.
    let conflicts = a.store_git(&["diff", "--name-only", "--diff-filter=U"]);
    assert!(conflicts.is_empty(), "{conflicts}");

    // `coffer sync` carries each device's latest records (its log is never left behind as an
    // uncommitted change that would stop the sync).
    a.run_ok(&["show", "team/from-b"]);
    a.run_ok(&["sync"]);
    b.run_ok(&["sync"]);
    let seen_by_b = log_json(&b, &["team/from-b"]);
    assert!(
        seen_by_b
            .iter()
            .any(|r| r["op"] == "show" && r["device"] != seen_by_b[0]["device"]),
        "B sees A's read after a sync: {seen_by_b:#?}"
    );
    let verify = b.run(&["log", "--verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
}

#[test]
fn run_and_inject_record_each_secret_they_read() {
    let v = TestVault::new();
    v.insert("app/db", "db-value-never-logged\n");
    v.insert("app/api", "api-value-never-logged\n");
    // Without --mask, run becomes the program: its records are written before that.
    let out = v.run(&[
        "run",
        "-e",
        "DB=coffer:app/db",
        "-e",
        "API=coffer:app/api",
        "--",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let masked = v.run(&["run", "--mask", "-e", "DB=coffer:app/db", "--", "true"]);
    assert!(masked.status.success(), "{}", stderr(&masked));
    let template = v.dir.path().join("t.tmpl");
    std::fs::write(&template, "db={{ coffer:app/db }}\n").unwrap();
    let rendered = v.run(&["inject", "-i", template.to_str().unwrap()]);
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let unknown = v.run(&["run", "-e", "X=coffer:app/none", "--", "true"]);
    assert_eq!(unknown.status.code(), Some(1));

    let records = log_json(&v, &[]);
    let seen: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| r["op"] == "run" || r["op"] == "inject")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            (s("op"), s("name"), s("outcome"))
        })
        .collect();
    let want = |op: &str, name: &str, outcome: &str| (op.into(), name.into(), outcome.into());
    assert_eq!(
        seen,
        vec![
            want("run", "app/api", "ok"),
            want("run", "app/db", "ok"),
            want("run", "app/db", "ok"),
            want("inject", "app/db", "ok"),
            want("run", "-", "failed"),
        ]
    );
    let raw = std::fs::read_to_string(local_log(&v)).unwrap();
    assert!(!raw.contains("value-never-logged"));
}
