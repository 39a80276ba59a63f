//! `coffer run`: secrets reach the program's environment, references fail before anything
//! runs, exit codes and signals pass through, `--mask` conceals values.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::common::{TestVault, stderr, stdout};

/// coffer as a plain `std::process::Command`, for control over its standard streams.
fn coffer(v: &TestVault) -> std::process::Command {
    let mut cmd = v.coffer();
    cmd.stdin(Stdio::null());
    cmd
}

fn vault() -> TestVault {
    let v = TestVault::new();
    v.insert(
        "db/prod",
        "hunter2-long\nuser: alice\nurl: postgres://db:5432/app\n",
    );
    v.insert("app/api-token", "tok-9876543210\n");
    v.insert("app/db.pass", "pa55word\n");
    v.insert("my team/a#b%c", "odd-name-value\n");
    v
}

#[test]
fn env_file_references_resolve_and_literals_pass_through() {
    let v = vault();
    std::fs::write(
        v.dir.path().join(".env"),
        "# app settings\nDB_PASS=coffer:db/prod\nDB_USER=\"coffer:db/prod#user\"\nMODE=production\nexport ODD=coffer:my%20team/a%23b%25c\n",
    )
    .unwrap();
    let out = v.run(&[
        "run",
        "--env-file",
        ".env",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s|%s' \"$DB_PASS\" \"$DB_USER\" \"$MODE\" \"$ODD\"",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hunter2-long|alice|production|odd-name-value");
}

#[test]
fn flags_prefix_and_precedence() {
    let v = vault();
    std::fs::write(
        v.dir.path().join("a.env"),
        "X=from-file\nY=coffer:db/prod#url\n",
    )
    .unwrap();
    let out = v
        .cmd()
        .env("FROM_ENV", "coffer:app/api-token")
        .args([
            "run",
            "--prefix",
            "app",
            "--env-file",
            "a.env",
            "-e",
            "X=coffer:db/prod",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s|%s|%s' \"$X\" \"$Y\" \"$API_TOKEN\" \"$DB_PASS\" \"$FROM_ENV\"",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hunter2-long|postgres://db:5432/app|tok-9876543210|pa55word|tok-9876543210"
    );
}

#[test]
fn an_unknown_reference_stops_everything_before_the_program_starts() {
    let v = vault();
    let marker = v.dir.path().join("ran");
    std::fs::write(
        v.dir.path().join(".env"),
        "GOOD=coffer:db/prod\nBAD=coffer:db/staging\n",
    )
    .unwrap();
    let out = v.run(&[
        "run",
        "--env-file",
        ".env",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists(), "the program must not run");
    assert_eq!(
        stderr(&out),
        "coffer: BAD (.env, line 2): cannot resolve coffer:db/staging: db/staging is not in the store.\n"
    );
    // A missing field, named the same way.
    let out = v.run(&["run", "-e", "U=coffer:db/prod#login", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: U (from -e): cannot resolve coffer:db/prod#login: db/prod has no field \"login\"\n"
    );
    // #otp on a secret without an otpauth:// line: a clear error, not a wrong value.
    let out = v.run(&["run", "-e", "C=coffer:db/prod#otp", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("C (from -e): cannot resolve coffer:db/prod#otp"),
        "{}",
        stderr(&out)
    );
    // With a TOTP seed, #otp is the current code.
    v.insert(
        "web/totp",
        "pw\notpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
    );
    let out = v.run(&[
        "run",
        "-e",
        "C=coffer:web/totp#otp",
        "--",
        "sh",
        "-c",
        "printf %s \"$C\"",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let code = stdout(&out);
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code:?}"
    );
}

#[test]
fn dotenv_syntax_errors_name_the_line_not_the_content() {
    let v = vault();
    std::fs::write(
        v.dir.path().join(".env"),
        "A=1\n# comment\nthis line has the value s3cr3t-in-the-file\n",
    )
    .unwrap();
    let out = v.run(&["run", "--env-file", ".env", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("coffer: .env: line 3: "), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
    std::fs::write(v.dir.path().join(".env"), "A=1\nB='never closed\nC=3\n").unwrap();
    let out = v.run(&["run", "--env-file", ".env", "--", "true"]);
    assert_eq!(
        stderr(&out),
        "coffer: .env: line 2: a quote opened here is never closed\n"
    );
    std::fs::write(v.dir.path().join(".env"), "A=coffer:db/pr%zz\n").unwrap();
    let out = v.run(&["run", "--env-file", ".env", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("coffer: A (.env, line 1): invalid reference"));
}

#[test]
fn usage_errors_exit_2() {
    let v = vault();
    for args in [
        &["run", "true"][..],
        &["run", "--"],
        &["run", "-e", "NOEQUALS", "--", "true"],
        &["run", "-e", "X=db/prod", "--", "true"],
    ] {
        let out = v.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = v.run(&["run", "-e", "X=not-a-reference-but-a-secret", "--", "true"]);
    assert!(!stderr(&out).contains("not-a-reference-but-a-secret"));
}

#[test]
fn exit_codes_and_signals_pass_through() {
    let v = vault();
    for mask in [false, true] {
        let mut args = vec!["run"];
        if mask {
            args.push("--mask");
        }
        let code = v.run(&[&args[..], &["--", "sh", "-c", "exit 7"]].concat());
        assert_eq!(code.status.code(), Some(7), "mask={mask}");
        let killed = v.run(&[&args[..], &["--", "sh", "-c", "kill -TERM $$"]].concat());
        assert_eq!(killed.status.signal(), Some(15), "mask={mask}");
    }
    let missing = v.run(&["run", "--", "no-such-program-here"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(stderr(&missing).starts_with("coffer: cannot run no-such-program-here"));
}

#[test]
fn mask_conceals_values_even_split_across_writes() {
    let v = vault();
    let out = v.run(&[
        "run",
        "--mask",
        "-e",
        "PW=coffer:db/prod",
        "--",
        "sh",
        "-c",
        "echo \"pw=$PW\"; printf 'hunt'; sleep 0.2; printf 'er2-long done\\n'; echo \"$PW\" >&2",
    ]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "pw=<concealed by coffer>\n<concealed by coffer> done\n"
    );
    assert_eq!(stderr(&out), "<concealed by coffer>\n");
    // Without --mask the program's output is its own.
    let plain = v.run(&[
        "run",
        "-e",
        "PW=coffer:db/prod",
        "--",
        "sh",
        "-c",
        "echo $PW",
    ]);
    assert_eq!(stdout(&plain), "hunter2-long\n");
}

#[test]
fn mask_forwards_signals_to_the_program() {
    let v = vault();
    let mut child = coffer(&v)
        .args([
            "run",
            "--mask",
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

#[test]
fn a_locked_vault_runs_nothing() {
    let v = TestVault::bare();
    v.cmd()
        .args(["init", "--passphrase-fd", "0"])
        .write_stdin("correct horse\n")
        .assert()
        .success();
    v.insert("a", "abcdefgh\n");
    let marker = v.dir.path().join("ran");
    let out = coffer(&v)
        .args([
            "run",
            "-e",
            "X=coffer:a",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists());
    assert!(
        stderr(&out).contains("cannot resolve coffer:a"),
        "{}",
        stderr(&out)
    );
}
