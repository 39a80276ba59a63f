//! The agent: unlock once, lock, time out, trust only our own uid, restart across versions,
//! drive plugins, keep secrets out of logs. Every test has its own `XDG_RUNTIME_DIR` (see
//! `crate::common::TestVault`), so agents never meet, and stops its agent at the end.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{self, StopsAgent, TestVault, exit_code, stderr, stdout};
use age::secrecy::{ExposeSecret, SecretString};

const PASSPHRASE: &str = "agent test passphrase";

/// A vault whose identity is protected with [`PASSPHRASE`], holding two secrets.
fn protected_vault() -> TestVault {
    let v = TestVault::protected(PASSPHRASE);
    v.insert("web/a", "alpha-secret\nuser: ann\n");
    v.insert("web/b", "beta-secret\nuser: bob\n");
    v
}

/// coffer without a controlling terminal, with `passphrase` readable on descriptor 3.
fn with_passphrase(v: &TestVault, args: &[&str], passphrase: &str) -> std::process::Command {
    v.with_fd3(args, &format!("{passphrase}\n"))
}

fn unlock(v: &TestVault) {
    let out = with_passphrase(v, &["unlock", "--passphrase-fd", "3"], PASSPHRASE)
        .output()
        .unwrap();
    assert!(out.status.success(), "unlock: {}", stderr(&out));
}

/// `coffer agent status`: its output, or `None` when no agent runs.
fn status(v: &TestVault) -> Option<String> {
    let out = v.run(&["agent", "status"]);
    match out.status.code() {
        Some(0) => Some(stdout(&out)),
        Some(1) => {
            assert_eq!(stdout(&out), "coffer agent: not running\n");
            None
        }
        other => panic!("status exited {other:?}: {}", stderr(&out)),
    }
}

fn agent_pid(v: &TestVault) -> u32 {
    let text = status(v).expect("an agent runs");
    text.split("pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"))
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn process_exists(pid: u32) -> bool {
    // A zombie has no memory map left; count it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| !s.contains("State:\tZ"))
}

#[test]
fn the_first_command_asks_once_and_the_next_ones_do_not() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    assert!(status(&v).is_none(), "no agent before it is needed");

    let mut p = v.spawn(&["show", "web/a"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("alpha-secret"), "{rest:?}");
    assert!(
        !rest.contains(PASSPHRASE),
        "the passphrase was echoed: {rest:?}"
    );

    // Later commands, on a terminal or not, ask nothing.
    let mut p = v.spawn(&["show", "web/b"]);
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("beta-secret"), "{rest:?}");
    assert!(!rest.contains("Passphrase"), "asked again: {rest:?}");
    let out = v.without_terminal(&["grep", "user"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "web/a:\nuser: ann\nweb/b:\nuser: bob\n");
    assert!(status(&v).unwrap().contains("unlocked: "));

    // After `lock`, the next command asks again.
    v.cmd().arg("lock").assert().success();
    assert!(status(&v).unwrap().contains("\nlocked\n"));
    let mut p = v.spawn(&["show", "web/a"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.exp_string("alpha-secret").unwrap();
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn a_wrong_passphrase_fails_and_leaves_the_agent_locked() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let mut p = v.spawn(&["show", "web/a"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line("not the passphrase").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("coffer: wrong passphrase for "), "{rest:?}");
    assert!(!rest.contains("alpha-secret"));
    assert!(status(&v).unwrap().contains("\nlocked\n"));

    let mut p = v.spawn(&["unlock"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line("still wrong").unwrap();
    p.exp_string("coffer: wrong passphrase for ").unwrap();
    assert_eq!(exit_code(&mut p), 1);
    assert!(status(&v).unwrap().contains("\nlocked\n"));

    let out = with_passphrase(&v, &["unlock", "--passphrase-fd", "3"], "wrong again")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("coffer: wrong passphrase for "));
    assert!(status(&v).unwrap().contains("\nlocked\n"));
}

#[test]
fn unlock_with_a_descriptor_serves_scripts() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let started = Instant::now();
    unlock(&v);
    let unlock_time = started.elapsed();
    let text = status(&v).unwrap();
    assert!(text.contains("protocol 2"), "{text}");
    assert!(
        text.contains(&format!("unlocked: {}", v.identities().display())),
        "{text}"
    );
    assert!(text.contains("locks in 1"), "default timeout 15m: {text}");
    let out = v.without_terminal(&["show", "web/b"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"beta-secret\nuser: bob\n");
    // Bulk commands go through the agent too: re-encrypt everything, then read it back.
    let out = v.without_terminal(&["reencrypt"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("web/a"), b"alpha-secret\nuser: ann\n");
    // unlock when already unlocked asks nothing and succeeds.
    let out = v.without_terminal(&["unlock"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("unlock took {unlock_time:?}");
}

#[test]
fn a_locked_agent_without_a_terminal_fails_at_once() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let started = Instant::now();
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "it hung");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: the vault is locked; run coffer unlock\n"
    );
    assert!(out.stdout.is_empty());
    // The same for grep and for unlock itself (which has nothing to ask on).
    let out = v.without_terminal(&["grep", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the vault is locked; run coffer unlock"));
    let out = v.without_terminal(&["unlock"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--passphrase-fd"), "{}", stderr(&out));
}

#[test]
fn no_agent_decrypts_in_process_and_starts_nothing() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let mut p = v.spawn(&["--no-agent", "show", "web/a"]);
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.exp_string("alpha-secret").unwrap();
    assert_eq!(exit_code(&mut p), 0);
    assert!(!v.agent_socket().exists(), "an agent was started");
    let out = v
        .without_terminal(&["--no-agent", "show", "web/a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("passphrase"), "{}", stderr(&out));
    assert!(!v.agent_socket().exists());
}

#[test]
fn an_unprotected_identity_never_starts_an_agent() {
    let v = TestVault::new();
    let _stop = StopsAgent(&v);
    v.insert("x", "plain\n");
    assert_eq!(v.show("x"), b"plain\n");
    let out = v.without_terminal(&["grep", "plain"]).output().unwrap();
    assert!(out.status.success());
    assert!(!v.agent_socket().exists(), "an agent was started");
    let out = v.run(&["unlock"]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("not passphrase-protected"));
    assert!(!v.agent_socket().exists());
}

#[test]
fn another_user_cannot_use_the_agent() {
    common::require_tool("setpriv");
    common::require_tool("perl");
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    unlock(&v);
    let socket = v.agent_socket();
    let as_nobody = |program: &str| {
        let mut cmd = v.tool("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
        cmd
    };

    // The coffer client of another user refuses the folder before connecting.
    let out = as_nobody(common::coffer_bin().to_str().unwrap())
        .args(["agent", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("is not safe"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // Open the folders so another user can reach the socket at all: the agent itself must
    // then refuse the connection (SO_PEERCRED), sending nothing, not even its Hello.
    let opened: Vec<PathBuf> = vec![
        v.dir.path().to_owned(),
        v.dir.path().join("run"),
        socket.parent().unwrap().to_owned(),
    ];
    for dir in &opened {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let hello = r#"
        use IO::Socket::UNIX;
        $SIG{PIPE} = 'IGNORE';
        my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";
        my $m = '{"Hello":{"version":1}}';
        print $s pack("N", length $m) . $m;
        my $m2 = '{"Unwrap":{"stanzas":[]}}';
        print $s pack("N", length $m2) . $m2;
        my $n = sysread($s, my $buf, 4096);
        print "read ", ($n // 0), "\n";
    "#;
    let run_hello = |mut cmd: std::process::Command| {
        let out = cmd.arg("-e").arg(hello).arg(&socket).output().unwrap();
        assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
        stdout(&out)
    };
    let control = run_hello(v.tool("perl"));
    assert!(
        control.starts_with("read ") && control != "read 0\n",
        "{control}"
    );
    assert_eq!(run_hello(as_nobody("perl")), "read 0\n");

    for dir in &opened {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // Still serving its own user.
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_unsafe_socket_folder_is_refused() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    unlock(&v);
    let dir = v.agent_socket().parent().unwrap().to_owned();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = v.run(&["agent", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "the agent folder is not safe: {} has mode 755",
            dir.display()
        )),
        "{}",
        stderr(&out)
    );
    // A command never sends anything there; it asks and works in-process instead.
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("alpha"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn the_agent_locks_when_idle_and_then_exits() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let config = v.home().join(".config/coffer");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[agent]\ntimeout = \"2s\"\n").unwrap();
    unlock(&v);
    let unlocked_at = Instant::now();
    let text = status(&v).unwrap();
    let pid = agent_pid(&v);
    assert!(text.contains("(timeout 2s)"), "{text}");
    assert!(text.contains("unlocked: "), "{text}");
    wait_for("the idle lock", Duration::from_secs(10), || {
        status(&v).unwrap().contains("\nlocked\n")
    });
    assert!(
        unlocked_at.elapsed() >= Duration::from_secs(2),
        "locked too early"
    );
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the vault is locked"));
    // That command was a use; two more seconds of nothing and the locked agent exits.
    wait_for("the idle exit", Duration::from_secs(10), || {
        status(&v).is_none()
    });
    wait_for("the process to end", Duration::from_secs(5), || {
        !process_exists(pid)
    });
    assert!(
        !v.agent_socket().exists(),
        "the exiting agent removes its socket"
    );
}

#[test]
fn an_agent_of_another_version_is_restarted() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    let mut old = v
        .coffer()
        .args(["agent", "--pretend-version", "999"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the old agent", Duration::from_secs(10), || {
        v.agent_socket().exists()
    });
    unlock(&v);
    let text = status(&v).unwrap();
    assert!(text.contains("protocol 2"), "{text}");
    assert!(text.contains("unlocked: "), "{text}");
    assert_ne!(agent_pid(&v), old.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = old.try_wait().unwrap() {
            assert!(!status.success() || status.code() == Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "the old agent still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_stale_socket_is_replaced() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    unlock(&v);
    let pid = agent_pid(&v);
    common::require_tool("kill");
    assert!(
        v.tool("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the kill", Duration::from_secs(5), || !process_exists(pid));
    assert!(
        v.agent_socket().exists(),
        "a crashed agent leaves its socket"
    );
    // The next command finds nothing behind it, starts a fresh (locked) agent.
    let out = v.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(
        stderr(&out),
        "coffer: the vault is locked; run coffer unlock\n"
    );
    unlock(&v);
    assert_ne!(agent_pid(&v), pid);
    assert_eq!(v.show("web/a"), b"alpha-secret\nuser: ann\n");
}

#[test]
fn the_agent_locks_its_memory() {
    let v = protected_vault();
    let _stop = StopsAgent(&v);
    unlock(&v);
    let pid = agent_pid(&v);
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked_kb: u64 = proc_status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmLck line");
    assert!(locked_kb > 0, "{proc_status}");
}

#[test]
fn debug_logs_never_show_identities_passphrases_or_secrets() {
    let v = protected_vault();
    let log = v.dir.path().join("agent.log");
    let mut agent = v
        .coffer()
        .arg("agent")
        .env("COFFER_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the agent", Duration::from_secs(10), || {
        v.agent_socket().exists()
    });
    let mut outputs = Vec::new();
    outputs.push(
        with_passphrase(&v, &["unlock", "--passphrase-fd", "3"], "a wrong one")
            .output()
            .unwrap(),
    );
    outputs.push(
        with_passphrase(&v, &["unlock", "--passphrase-fd", "3"], PASSPHRASE)
            .output()
            .unwrap(),
    );
    for args in [
        &["show", "web/a"][..],
        &["grep", "user"],
        &["reencrypt"],
        &["lock"],
        &["show", "web/b"],
        &["agent", "stop"],
    ] {
        outputs.push(
            v.without_terminal(args)
                .env("COFFER_LOG", "debug")
                .output()
                .unwrap(),
        );
    }
    agent.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    // The log is not empty: it recorded what happened.
    for event in [
        "listening on",
        "memory locked",
        "wrong passphrase",
        "unlocked",
        "unwrap",
    ] {
        assert!(text.contains(event), "no {event:?} in the log:\n{text}");
    }
    let mut everything = text.clone();
    for out in &outputs {
        everything.push_str(&stderr(out));
    }
    for secret in [
        "AGE-SECRET-KEY",
        PASSPHRASE,
        "a wrong one",
        "alpha-secret",
        "beta-secret",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret:?} leaked:\n{everything}"
        );
    }
    let identity = v.identities();
    assert!(!text.contains(&std::fs::read_to_string(identity).unwrap()[40..80]));
}

// ---- plugins ------------------------------------------------------------------------------

/// A fake `age-plugin-fake`: its stanza `fake` carries the file key in the clear. It records
/// each run in `plugin-ran`, asks for the PIN in `pin` if that file exists, and with
/// `plugin-slow` present, marks `plugin-waiting` and sleeps before answering.
fn install_fake_plugin(v: &TestVault) -> PathBuf {
    let bin = v.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let dir = v.dir.path().display().to_string();
    let script = format!(
        r#"#!/bin/sh
dir='{dir}'
[ "$1" = "--age-plugin=identity-v1" ] || exit 1
echo $$ >> "$dir/plugin-ran"
b64() {{ base64 -w0 | tr -d '='; }}
key=
while IFS= read -r line; do
  case "$line" in
    '-> done') IFS= read -r _; break ;;
    '-> recipient-stanza 0 fake') IFS= read -r key ;;
    '-> '*) while IFS= read -r body; do [ ${{#body}} -lt 64 ] && break; done ;;
  esac
done
if [ -e "$dir/plugin-slow" ]; then echo $$ > "$dir/plugin-waiting"; sleep 30; fi
if [ -e "$dir/pin" ]; then
  printf '%s\n%s\n' '-> request-secret' "$(printf 'Enter the PIN of the fake key' | b64)"
  IFS= read -r reply; IFS= read -r pin
  if [ "$reply" != '-> ok' ] || [ "$pin" != "$(tr -d '\n' < "$dir/pin" | b64)" ]; then
    printf '%s\n%s\n' '-> error internal' "$(printf 'wrong PIN' | b64)"
    IFS= read -r _; IFS= read -r _
    printf '%s\n\n' '-> done'
    exit 0
  fi
fi
if [ -n "$key" ]; then
  printf '%s\n%s\n' '-> file-key 0' "$key"
  IFS= read -r _; IFS= read -r _
fi
printf '%s\n\n' '-> done'
"#
    );
    let path = bin.join("age-plugin-fake");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Env with the fake plugin's folder first on PATH.
fn plugin_path(v: &TestVault, bin: &Path) -> String {
    let path = v
        .envs()
        .into_iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, p)| p)
        .unwrap_or_default();
    format!("{}:{path}", bin.display())
}

/// The recipient side of the fake plugin, for writing test files.
struct FakeRecipient;

impl age::Recipient for FakeRecipient {
    fn wrap_file_key(
        &self,
        file_key: &age_core::format::FileKey,
    ) -> Result<(Vec<age_core::format::Stanza>, HashSet<String>), age::EncryptError> {
        let stanza = age_core::format::Stanza {
            tag: "fake".into(),
            args: vec![],
            body: file_key.expose_secret().to_vec(),
        };
        Ok((vec![stanza], HashSet::new()))
    }
}

fn encrypt(recipient: &dyn age::Recipient, plaintext: &[u8]) -> Vec<u8> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, plaintext).unwrap();
    w.finish().unwrap();
    out
}

/// A vault whose identities file holds only the fake plugin's identity (protected with
/// [`PASSPHRASE`] when `protect`), and a secret `hw/one` and `hw/two` for it.
fn plugin_vault(protect: bool, allow: bool) -> (TestVault, String) {
    let v = TestVault::new();
    let bin = install_fake_plugin(&v);
    let identity = age::plugin::Identity::default_for_plugin("fake")
        .unwrap()
        .to_string();
    let text = format!("# a hardware key\n{identity}\n");
    let file = if protect {
        let mut r = age::scrypt::Recipient::new(SecretString::from(PASSPHRASE.to_owned()));
        r.set_work_factor(10);
        encrypt(&r, text.as_bytes())
    } else {
        text.into_bytes()
    };
    std::fs::write(v.identities(), file).unwrap();
    std::fs::create_dir_all(v.store().join("hw")).unwrap();
    for (name, value) in [("one", "hardware-one\n"), ("two", "hardware-two\n")] {
        let path = v.store().join(format!("hw/{name}.age"));
        std::fs::write(&path, encrypt(&FakeRecipient, value.as_bytes())).unwrap();
    }
    let config = v.home().join(".config/coffer");
    std::fs::create_dir_all(&config).unwrap();
    let allow = if allow {
        "[plugins]\nallow = [\"fake\"]\n"
    } else {
        ""
    };
    std::fs::write(config.join("config.toml"), allow).unwrap();
    let path = plugin_path(&v, &bin);
    (v, path)
}

fn plugin_runs(v: &TestVault) -> usize {
    std::fs::read_to_string(v.dir.path().join("plugin-ran"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_plugin_not_allowed_locally_never_runs() {
    for protect in [false, true] {
        let (v, path) = plugin_vault(protect, false);
        let _stop = StopsAgent(&v);
        let out = if protect {
            with_passphrase(&v, &["unlock", "--passphrase-fd", "3"], PASSPHRASE)
                .env("PATH", &path)
                .output()
                .unwrap()
        } else {
            v.without_terminal(&["show", "hw/one"])
                .env("PATH", &path)
                .output()
                .unwrap()
        };
        assert_eq!(out.status.code(), Some(1), "protect={protect}");
        let err = stderr(&out);
        assert!(
            err.contains("needs the plugin age-plugin-fake, which this device does not allow"),
            "{err}"
        );
        assert!(err.contains("[plugins] allow"), "{err}");
        assert_eq!(plugin_runs(&v), 0, "the plugin ran");
    }
}

#[test]
fn an_allowed_plugin_unwraps_without_an_agent() {
    let (v, path) = plugin_vault(false, true);
    let _stop = StopsAgent(&v);
    let out = v
        .without_terminal(&["show", "hw/one"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"hardware-one\n");
    assert_eq!(plugin_runs(&v), 1);
    assert!(!v.agent_socket().exists());
}

#[test]
fn the_agent_drives_the_plugin_and_asks_its_pin_once_per_unlock() {
    let (v, path) = plugin_vault(true, true);
    let _stop = StopsAgent(&v);
    std::fs::write(v.dir.path().join("pin"), "4321").unwrap();
    let spawn_show = |name: &str| {
        let mut cmd = v.coffer();
        cmd.env("PATH", &path).args(["show", name]);
        common::on_terminal(cmd)
    };
    let mut p = spawn_show("hw/one");
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.exp_string("Enter the PIN of the fake key: ").unwrap();
    p.send_line("4321").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("hardware-one"), "{rest:?}");
    assert!(!rest.contains("4321"), "the PIN was echoed");
    // The next file: the plugin runs again (in the agent), but nobody is asked anything.
    let mut p = spawn_show("hw/two");
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("hardware-two"), "{rest:?}");
    assert!(!rest.contains("PIN"), "{rest:?}");
    assert_eq!(plugin_runs(&v), 2);

    // A new unlock forgets the PIN; a wrong one fails cleanly.
    v.cmd().arg("lock").assert().success();
    let mut p = spawn_show("hw/one");
    p.exp_string("Passphrase for ").unwrap();
    p.send_line(PASSPHRASE).unwrap();
    p.exp_string("Enter the PIN of the fake key: ").unwrap();
    p.send_line("0000").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("coffer: hw/one: "), "{rest:?}");
    assert!(rest.contains("wrong PIN"), "{rest:?}");
    assert!(!rest.contains("hardware-one"));
}

#[test]
fn an_agent_killed_mid_command_gives_a_clear_error() {
    let (v, path) = plugin_vault(true, true);
    let _stop = StopsAgent(&v);
    let out = with_passphrase(&v, &["unlock", "--passphrase-fd", "3"], PASSPHRASE)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let agent = agent_pid(&v);
    std::fs::write(v.dir.path().join("plugin-slow"), "").unwrap();
    let show = v
        .without_terminal(&["show", "hw/one"])
        .env("PATH", &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = v.dir.path().join("plugin-waiting");
    wait_for("the plugin to start", Duration::from_secs(20), || {
        waiting.exists()
    });
    let plugin = std::fs::read_to_string(&waiting).unwrap();
    let killed = Instant::now();
    assert!(
        v.tool("kill")
            .args(["-9", &agent.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = show.wait_with_output().unwrap();
    let _ = v.tool("kill").args([plugin.trim()]).status();
    assert!(killed.elapsed() < Duration::from_secs(10), "it hung");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: hw/one: the coffer agent stopped during the command (was it killed?); \
         run the command again\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn git_log_p_uses_the_unlocked_agent_without_a_terminal() {
    let v = TestVault::bare();
    let out = with_passphrase(&v, &["init", "--git", "--passphrase-fd", "3"], PASSPHRASE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let _stop = StopsAgent(&v);
    v.insert("web/a", "first-value\n");
    v.insert("web/a", "second-value\n");
    let log_p = || {
        common::require_tool("setsid");
        v.tool("setsid")
            .args(["-w", "git", "-C"])
            .arg(v.store())
            .args(["log", "-p", "--", "web/a.age"])
            .output()
            .unwrap()
    };
    // Locked and no terminal: coffer says so, once per blob git asks about, in one line.
    let out = log_p();
    let err = stderr(&out);
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("coffer")).collect();
    assert!(!ours.is_empty(), "{err}");
    for line in ours {
        assert_eq!(
            line, "coffer: the vault is locked; run coffer unlock",
            "{err}"
        );
    }
    // Unlocked: every blob is shown through the agent, nothing is asked.
    unlock(&v);
    let out = log_p();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("-first-value"), "{text}");
    assert!(text.contains("+second-value"), "{text}");
    assert!(text.contains("+first-value"), "{text}");
}

/// The agent holds a personal and a team identities file at once (issue 15): each unlocked
/// once, without a terminal; a command that needs the other asks for that one only.
#[test]
fn two_identities_files_are_unlocked_side_by_side() {
    const TEAM_PASSPHRASE: &str = "team key passphrase";
    let alice = protected_vault();
    let _stop = StopsAgent(&alice);
    // The team's vault, readable with its own protected key, mounted by Alice at `work`.
    let work = TestVault::protected(TEAM_PASSPHRASE);
    work.insert("db", "team-db-secret\n");
    let (store, ids) = (work.store(), work.identities());
    let mount = [
        "mount",
        "add",
        "work",
        store.to_str().unwrap(),
        "--identities",
        ids.to_str().unwrap(),
    ];
    alice.run_ok(&mount);

    unlock(&alice);
    // Without the team key unlocked, a team secret fails as locked, naming nothing else, and
    // the personal key stays unlocked.
    let out = alice
        .without_terminal(&["show", "work/db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    let text = status(&alice).unwrap();
    assert_eq!(text.matches("unlocked: ").count(), 1, "{text}");

    // A timeout changed since the agent started applies to the next unlock.
    let config = alice.home().join(".config/coffer/config.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("[agent]\ntimeout = \"2h\"\n{before}")).unwrap();
    let out = with_passphrase(
        &alice,
        &["unlock", "work", "--passphrase-fd", "3"],
        TEAM_PASSPHRASE,
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "unlock work: {}", stderr(&out));

    let text = status(&alice).unwrap();
    let personal = format!("unlocked: {}\nlocks in 1", alice.identities().display());
    let team = format!(
        "unlocked: {}\nlocks in 1h 59m if idle (timeout 2h)",
        ids.display()
    );
    assert!(text.contains(&personal), "{text}");
    assert!(text.contains(&team), "{text}");
    assert!(
        text.contains("(timeout 15m)"),
        "the first kept its timeout: {text}"
    );
    for (name, value) in [("web/a", "alpha-secret"), ("work/db", "team-db-secret")] {
        let out = alice.without_terminal(&["show", name]).output().unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(stdout(&out).starts_with(value), "{name}: {}", stdout(&out));
    }

    // A new passphrase for the team file makes the agent forget that file only.
    let mut p = alice.spawn(&["identity", "passwd", "work"]);
    p.exp_string("Current passphrase for ").unwrap();
    p.send_line(TEAM_PASSPHRASE).unwrap();
    p.exp_string("New passphrase for ").unwrap();
    p.send_line("new team words").unwrap();
    p.exp_string("Repeat the new passphrase: ").unwrap();
    p.send_line("new team words").unwrap();
    assert_eq!(exit_code(&mut p), 0);
    let text = status(&alice).unwrap();
    assert!(
        text.contains(&personal),
        "the personal file stays unlocked: {text}"
    );
    assert!(!text.contains(&ids.display().to_string()), "{text}");

    // `lock` forgets everything.
    alice.run_ok(&["lock"]);
    assert!(status(&alice).unwrap().contains("\nlocked\n"));
    let out = alice.without_terminal(&["show", "web/a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn unlock_names_a_mount_that_exists() {
    let v = protected_vault();
    // As every command that takes a mount's prefix says it (docs/BEHAVIOUR.md §11).
    let err = v.fails(&["unlock", "nowhere", "--passphrase-fd", "3"], 1);
    assert_eq!(
        err,
        "coffer: nowhere is not a mount; `coffer mount ls` lists them\n"
    );
    let out = v.run(&["unlock", "../x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
