//! `coffer inject`: templates rendered all-or-nothing, OUT private and never clobbered.

use std::os::unix::fs::PermissionsExt;

use crate::common::{TestVault, stderr, stdout};

fn vault() -> TestVault {
    let v = TestVault::new();
    v.insert("db/prod", "hunter2-long\nuser: alice\n");
    v.insert("api key", "sk_live_123\n");
    v
}

#[test]
fn renders_placeholders_and_leaves_other_braces() {
    let v = vault();
    let out = v
        .cmd()
        .arg("inject")
        .write_stdin(
            "url: postgres://{{ coffer:db/prod#user }}:{{coffer:db/prod}}@db/app\nkey: {{ coffer:api%20key }}\nhelm: {{ .Values.image }}\n",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "url: postgres://alice:hunter2-long@db/app\nkey: sk_live_123\nhelm: {{ .Values.image }}\n"
    );
}

#[test]
fn output_file_is_private_and_never_overwritten_without_force() {
    let v = vault();
    let dir = v.dir.path();
    std::fs::write(dir.join("app.tpl"), "PASSWORD={{ coffer:db/prod }}\n").unwrap();
    let out = v.run(&["inject", "-i", "app.tpl", "-o", "app.env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let rendered = dir.join("app.env");
    assert_eq!(
        std::fs::read_to_string(&rendered).unwrap(),
        "PASSWORD=hunter2-long\n"
    );
    assert_eq!(
        std::fs::metadata(&rendered).unwrap().permissions().mode() & 0o777,
        0o600
    );

    std::fs::write(&rendered, "keep me\n").unwrap();
    std::fs::set_permissions(&rendered, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = v.run(&["inject", "-i", "app.tpl", "-o", "app.env"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again),
        "coffer: app.env already exists; use -f to replace it\n"
    );
    assert_eq!(std::fs::read_to_string(&rendered).unwrap(), "keep me\n");

    let forced = v.run(&["inject", "-i", "app.tpl", "-o", "app.env", "-f"]);
    assert!(forced.status.success());
    assert_eq!(
        std::fs::read_to_string(&rendered).unwrap(),
        "PASSWORD=hunter2-long\n"
    );
    assert_eq!(
        std::fs::metadata(&rendered).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".coffer-"))
        .collect();
    names.sort();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn an_unresolved_reference_writes_nothing() {
    let v = vault();
    let dir = v.dir.path();
    std::fs::write(
        dir.join("t.tpl"),
        "A={{ coffer:db/prod }}\nB={{ coffer:db/prod#token }}\n",
    )
    .unwrap();
    let out = v.run(&["inject", "-i", "t.tpl", "-o", "out.env"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: line 2: cannot resolve coffer:db/prod#token: db/prod has no field \"token\"\n"
    );
    assert!(!dir.join("out.env").exists());
    // To standard output: nothing at all, not the part before the failure.
    let out = v
        .cmd()
        .arg("inject")
        .write_stdin("A={{ coffer:db/prod }}\nB={{ coffer:nope }}\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("coffer:nope: nope is not in the store."));
}

#[test]
fn malformed_placeholders_and_usage() {
    let v = vault();
    let out = v
        .cmd()
        .arg("inject")
        .write_stdin("ok\nA={{ coffer:db/prod\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("coffer: line 2: a {{ coffer:… placeholder is not closed"));
    let out = v.run(&["inject", "-f"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(v.dir.path().join("same"), "{{ coffer:db/prod }}").unwrap();
    let out = v.run(&["inject", "-i", "same", "-o", "same", "-f"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(v.dir.path().join("same")).unwrap(),
        "{{ coffer:db/prod }}"
    );
}
