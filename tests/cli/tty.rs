//! Interactive prompts, driven through a real pseudo-terminal.

use crate::common::{self, TestVault, exit_code};

#[test]
fn insert_asks_twice_without_echo_and_refuses_a_mismatch() {
    let v = TestVault::new();
    let mut p = v.spawn(&["insert", "web/site"]);
    p.exp_string("Enter password for web/site: ").unwrap();
    p.send_line("s3cr3t-typed").unwrap();
    p.exp_string("Retype password for web/site: ").unwrap();
    p.send_line("s3cr3t-typed").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        !rest.contains("s3cr3t-typed"),
        "the password was echoed: {rest:?}"
    );
    assert_eq!(v.show("web/site"), b"s3cr3t-typed\n");

    let mut p = v.spawn(&["insert", "other"]);
    p.exp_string("Enter password for other: ").unwrap();
    p.send_line("one").unwrap();
    p.exp_string("Retype password for other: ").unwrap();
    p.send_line("two").unwrap();
    p.exp_string("coffer: the entered passwords do not match")
        .unwrap();
    assert_eq!(exit_code(&mut p), 1);
    assert!(!v.path("other").exists());
}

#[test]
fn overwriting_asks_on_a_terminal() {
    let v = TestVault::new();
    v.insert("x", "original\n");
    for args in [vec!["insert", "-e", "x"], vec!["generate", "x"]] {
        let mut p = v.spawn(&args);
        p.exp_string("An entry already exists for x. Overwrite it? [y/N] ")
            .unwrap();
        p.send_line("n").unwrap();
        assert_eq!(exit_code(&mut p), 1, "{args:?}");
        assert_eq!(v.show("x"), b"original\n");
    }
    let mut p = v.spawn(&["insert", "-e", "x"]);
    p.exp_string("Overwrite it? [y/N] ").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("Enter password for x: ").unwrap();
    p.send_line("replaced").unwrap();
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(v.show("x"), b"replaced\n");
    // -f never asks; on a terminal the output is coloured as pass does, unless NO_COLOR.
    let mut p = v.spawn(&["generate", "-f", "x", "8"]);
    p.exp_string("\x1b[1mThe generated password for \x1b[4mx\x1b[24m is:")
        .unwrap();
    assert_eq!(exit_code(&mut p), 0);
    let mut cmd = v.coffer();
    cmd.env("NO_COLOR", "1").args(["generate", "-f", "x", "8"]);
    let mut p = common::on_terminal(cmd);
    p.exp_string("The generated password for x is:\r\n")
        .unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn rm_and_mv_confirm_on_a_terminal() {
    let v = TestVault::new();
    v.insert("a", "1\n");
    v.insert("b", "2\n");
    let mut p = v.spawn(&["rm", "a"]);
    p.exp_string("Are you sure you would like to delete a? [y/N] ")
        .unwrap();
    p.send_line("").unwrap();
    assert_eq!(exit_code(&mut p), 1);
    assert!(v.path("a").exists());
    let mut p = v.spawn(&["mv", "a", "b"]);
    p.exp_string("b already exists. Overwrite it? [y/N] ")
        .unwrap();
    p.send_line("n").unwrap();
    assert_eq!(exit_code(&mut p), 1);
    assert_eq!(v.show("b"), b"2\n");
    let mut p = v.spawn(&["rm", "a"]);
    p.exp_string("[y/N] ").unwrap();
    p.send_line("y").unwrap();
    assert_eq!(exit_code(&mut p), 0);
    assert!(!v.path("a").exists());
}

#[test]
fn a_protected_identity_is_created_and_unlocked_on_the_terminal() {
    common::require_tool("age");
    let v = TestVault::bare();
    let mut p = v.spawn(&["init"]);
    p.exp_string("Passphrase for the new identity: ").unwrap();
    p.send_line("tty passphrase").unwrap();
    p.exp_string("Repeat the passphrase: ").unwrap();
    p.send_line("tty passphrase").unwrap();
    assert_eq!(exit_code(&mut p), 0);
    v.insert("s", "protected\n");

    // Reading asks once for the passphrase.
    let mut p = v.spawn(&["show", "s"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line("tty passphrase").unwrap();
    p.exp_string("protected").unwrap();
    assert_eq!(exit_code(&mut p), 0);

    // A wrong passphrase: exit 1, clear message, no plaintext. (The agent keeps the identity
    // unlocked after the first show; lock it so the passphrase is asked again.)
    v.cmd().arg("lock").assert().success();
    let mut p = v.spawn(&["show", "s"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line("wrong").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("coffer: wrong passphrase for"), "{rest:?}");
    assert!(!rest.contains("protected"));

    // The real age CLI opens the identity file coffer wrote (age -d -i asks on the tty).
    let mut cmd = v.tool("age");
    cmd.arg("-d").arg("-i").arg(v.identities()).arg(v.path("s"));
    let mut p = common::on_terminal(cmd);
    p.exp_string("passphrase").unwrap();
    p.send_line("tty passphrase").unwrap();
    p.exp_string("protected").unwrap();
}

#[test]
fn mismatched_new_passphrases_create_nothing() {
    let v = TestVault::bare();
    let mut p = v.spawn(&["init"]);
    p.exp_string("Passphrase for the new identity: ").unwrap();
    p.send_line("one").unwrap();
    p.exp_string("Repeat the passphrase: ").unwrap();
    p.send_line("two").unwrap();
    p.exp_string("do not match").unwrap();
    assert_eq!(exit_code(&mut p), 1);
    assert!(!v.identities().exists());
}

/// An answer typed the instant the prompt shows must not be echoed: echo goes off before
/// the prompt is written. strace widens the window between the two to 200 ms by delaying
/// every terminal ioctl, so a prompt printed before echo goes off is always caught. (rexpect
/// turns echo off on its pseudo-terminals; `stty echo` makes this one echo as a real one.)
#[test]
fn an_answer_typed_the_instant_the_prompt_shows_is_not_echoed() {
    use std::io::{Read, Write};
    common::require_tool("strace");
    let v = TestVault::new();
    for round in 0..2 {
        let name = format!("fast{round}");
        let mut cmd = v.tool("sh");
        cmd.args([
            "-c",
            "stty echo && exec \"$@\"",
            "sh",
            "strace",
            "-f",
            "-o",
            "/dev/null",
        ])
        .args(["-e", "trace=ioctl", "-e", "inject=ioctl:delay_enter=200000"])
        .arg(common::coffer_bin())
        .args(["insert", &name]);
        let process = rexpect::process::PtyProcess::new(cmd).unwrap();
        let mut master = process.get_file_handle().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let mut answered = 0;
        while answered < 2 {
            let n = master.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "coffer ended early: {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
            let prompts = seen.windows(9).filter(|w| w == b"password ").count();
            if prompts > answered {
                master.write_all(b"typed-ahead-answer\n").unwrap();
                answered += 1;
            }
        }
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(
            !text.contains("typed-ahead-answer"),
            "round {round}: the answer was echoed: {text:?}"
        );
        process.wait().unwrap();
        assert_eq!(v.show(&name), b"typed-ahead-answer\n");
    }
}
