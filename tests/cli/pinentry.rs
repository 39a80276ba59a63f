//! pinentry: without a terminal, a passphrase-protected vault asks through pinentry (Assuan
//! on its standard streams), once per unlock; a cancel fails with one clear line. A fake
//! pinentry script plays the dialog and keeps a transcript of what coffer sent.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{StopsAgent, TestVault, stderr, stdout};

const PASSPHRASE: &str = "pinentry test passphrase";

/// A vault whose identity is protected with [`PASSPHRASE`], holding one secret.
fn protected_vault() -> TestVault {
    let v = TestVault::protected(PASSPHRASE);
    v.insert("web/a", "alpha-secret\n");
    v
}

/// Writes a pinentry named `name` in `dir` that answers GETPIN with `answer` (an Assuan
/// line or two) and appends every command it gets to `dir/transcript`.
fn fake_pinentry(dir: &Path, name: &str, answer: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let transcript = dir.join("transcript");
    let script = format!(
        r#"#!/bin/sh
echo "OK Pleased to meet you"
while IFS= read -r line; do
  printf '%s\n' "$line" >> '{}'
  case "$line" in
    GETPIN) printf '%s\n' '{answer}' ;;
    BYE) echo "OK closing connection"; exit 0 ;;
    *) echo OK ;;
  esac
done
"#,
        transcript.display()
    );
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn transcript(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("transcript")).unwrap_or_default()
}

fn configure_pinentry(v: &TestVault, program: &Path) {
    let dir = v.home().join(".config/coffer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[agent]\npinentry = \"{}\"\n", program.display()),
    )
    .unwrap();
}

#[test]
fn show_without_a_terminal_unlocks_through_the_configured_pinentry_once() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let dir = v.dir.path().join("pin");
    // The passphrase comes back %-escaped, as pinentry may send it.
    let answer = format!("D {}\nOK", PASSPHRASE.replace(' ', "%20"));
    let program = fake_pinentry(&dir, "my-pinentry", &answer);
    configure_pinentry(&v, &program);

    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "alpha-secret\n");
    let said = transcript(&dir);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "SETTITLE coffer", "{said}");
    let identities = v.identities().display().to_string();
    assert!(
        lines[1].starts_with("SETDESC ") && lines[1].contains(&identities),
        "{said}"
    );
    assert_eq!(lines[2], "SETPROMPT Passphrase:", "{said}");
    assert_eq!(
        lines[3], "SETTIMEOUT 120",
        "an unanswered dialog gives up: {said}"
    );
    assert_eq!(lines[4], "GETPIN", "{said}");
    assert!(
        !said.contains(PASSPHRASE),
        "the passphrase is never sent to pinentry"
    );

    // Unlocked once: the next command asks nothing.
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(transcript(&dir).matches("GETPIN").count(), 1);
}

#[test]
fn pinentry_on_path_is_used_when_none_is_configured() {
    let v = protected_vault();
    let dir = v.dir.path().join("bin");
    fake_pinentry(&dir, "pinentry", &format!("D {PASSPHRASE}\nOK"));
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    let out = v
        .without_terminal(&["--no-agent", "show", "web/a"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "alpha-secret\n");
    assert_eq!(transcript(&dir).matches("GETPIN").count(), 1);
}

/// `show web/a` without a terminal, through a configured pinentry that answers GETPIN with
/// `answer`: it must fail (exit 1, nothing on standard output); returns its standard error.
fn show_with_pinentry_failing(v: &TestVault, dir: &Path, answer: &str) -> String {
    let program = fake_pinentry(dir, "my-pinentry", answer);
    configure_pinentry(v, &program);
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    stderr(&out)
}

#[test]
fn a_cancelled_pinentry_fails_with_one_clear_line() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let dir = v.dir.path().join("pin");
    assert_eq!(
        show_with_pinentry_failing(&v, &dir, "ERR 83886179 Operation cancelled"),
        "coffer: pinentry was cancelled (Operation cancelled); the vault stays locked\n"
    );
    // Nothing was unlocked: asked again next time.
    let _ = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(transcript(&dir).matches("GETPIN").count(), 2);
}

#[test]
fn an_unanswered_pinentry_gives_up_with_one_clear_line() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let dir = v.dir.path().join("pin");
    // What pinentry answers GETPIN with once SETTIMEOUT has run out.
    assert_eq!(
        show_with_pinentry_failing(&v, &dir, "ERR 83886142 Timeout <Pinentry>"),
        "coffer: pinentry got no answer within 120 seconds; the vault stays locked\n"
    );
}

#[test]
fn a_configured_pinentry_that_cannot_ask_is_named() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let dir = v.dir.path().join("pin");
    let program = fake_pinentry(
        &dir,
        "my-pinentry",
        "ERR 83918950 Inappropriate ioctl for device",
    );
    configure_pinentry(&v, &program);
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("my-pinentry could not ask"), "{err}");
    assert!(
        err.contains("the vault is locked; run coffer unlock"),
        "{err}"
    );
}

/// One browserpass `fetch` of `web/a`, as a browser started from the desktop runs the host:
/// no terminal. Returns the JSON answer.
fn browserpass_fetch(v: &TestVault) -> serde_json::Value {
    let body = serde_json::json!({
        "action": "fetch", "storeId": "default", "file": "web/a.gpg",
        "settings": {"stores": {"default": {"id": "default", "name": "default", "path": v.store()}}}
    })
    .to_string();
    let mut framed = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    framed.extend_from_slice(body.as_bytes());
    let mut cmd = v.without_terminal(&["browserpass"]);
    let out = crate::common::output_with_stdin(&mut cmd, &framed);
    assert!(out.stdout.len() > 4, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout[4..]).unwrap()
}

#[test]
fn browserpass_unlocks_through_pinentry_and_reports_a_cancel() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let dir = v.dir.path().join("pin");
    let program = fake_pinentry(&dir, "no-pinentry", "ERR 83886179 Operation cancelled");
    configure_pinentry(&v, &program);
    let refused = browserpass_fetch(&v);
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(refused["code"], 24, "{refused}");
    assert!(
        refused["params"]["error"]
            .as_str()
            .unwrap()
            .contains("pinentry was cancelled"),
        "{refused}"
    );

    let program = fake_pinentry(&dir, "yes-pinentry", &format!("D {PASSPHRASE}\nOK"));
    configure_pinentry(&v, &program);
    let fetched = browserpass_fetch(&v);
    assert_eq!(fetched["data"]["contents"], "alpha-secret\n", "{fetched}");
}

#[test]
fn the_real_pinentry_tty_asks_on_the_terminal_it_is_given() {
    crate::common::require_tool("pinentry-tty");
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    // A terminal for pinentry-tty to ask on, while coffer itself runs without one (as from a
    // desktop, where the dialog is a window coffer does not own).
    let mut holder = v.tool("sh");
    holder.args(["-c", "tty; exec sleep 60"]);
    let mut terminal = crate::common::on_terminal(holder);
    let tty = terminal.read_line().unwrap().trim().to_owned();
    assert!(tty.starts_with("/dev/"), "{tty}");
    let dir = v.dir.path().join("pin");
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("pinentry-on-tty");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec pinentry-tty --ttyname '{tty}' \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    configure_pinentry(&v, &wrapper);

    let child = v
        .without_terminal(&["show", "web/a"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    terminal.exp_string("Passphrase:").unwrap();
    terminal.send_line(PASSPHRASE).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "alpha-secret\n");
}
