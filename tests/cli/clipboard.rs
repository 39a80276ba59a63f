//! The clipboard: `show -c`, `generate -c`, `otp -c` on a real X server (Xvfb), read back with
//! xclip: the content, the password-manager hint, restoring what was there, leaving a newer
//! copy alone, a second copy in a row, and no secret in any process's argv or environment.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestVault, require_tool, stderr, stdout};

/// Seconds before the clipboard is restored in these tests.
const CLIP_TIME: u64 = 2;

/// A private X server on a free display, stopped when dropped.
struct Display {
    server: Child,
    name: String,
}

impl Display {
    fn start() -> Self {
        require_tool("Xvfb");
        require_tool("xclip");
        // `-displayfd 1`: Xvfb picks a free display and writes its number on stdout.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "64x64x8",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb did not report a display");
        Self {
            server,
            name: format!(":{number}"),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A vault and a display, with coffer set up to use them.
struct Session {
    vault: TestVault,
    display: Display,
}

impl Session {
    fn new() -> Self {
        let vault = TestVault::new();
        std::fs::create_dir_all(vault.dir.path().join("run")).unwrap();
        Self {
            vault,
            display: Display::start(),
        }
    }

    fn coffer(&self, args: &[&str]) -> std::process::Output {
        self.vault
            .cmd()
            .env("DISPLAY", &self.display.name)
            .env("XDG_RUNTIME_DIR", self.vault.dir.path().join("run"))
            .env("COFFER_CLIP_TIME", CLIP_TIME.to_string())
            .args(args)
            .output()
            .unwrap()
    }

    fn xclip(&self, selection: &str) -> Command {
        let mut cmd = Command::new("xclip");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DISPLAY", &self.display.name)
            .args(["-selection", selection]);
        cmd
    }

    /// Copies `text` as another program would (xclip stays behind to serve it).
    fn user_copies(&self, text: &str) {
        let mut child = self
            .xclip("clipboard")
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// The selection's text, or `None` when nobody holds one.
    fn read(&self, selection: &str) -> Option<String> {
        let out = self
            .xclip(selection)
            .arg("-o")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    fn clipboard(&self) -> Option<String> {
        self.read("clipboard")
    }

    fn targets(&self) -> Vec<String> {
        let out = self
            .xclip("clipboard")
            .args(["-o", "-t", "TARGETS"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn hint(&self) -> String {
        let out = self
            .xclip("clipboard")
            .args(["-o", "-t", "x-kde-passwordManagerHint"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// Waits (up to a generous bound) for the clipboard to hold `expected`.
    fn wait_for(&self, expected: Option<&str>) {
        let limit = Instant::now() + Duration::from_secs(CLIP_TIME + 10);
        loop {
            let now = self.clipboard();
            if now.as_deref() == expected {
                return;
            }
            assert!(
                Instant::now() < limit,
                "clipboard holds {now:?}, expected {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn copied(name: &str) -> String {
    format!("Copied {name} to clipboard. Will clear in {CLIP_TIME} seconds.\n")
}

#[test]
fn show_c_copies_line_one_marked_secret_and_restores_the_previous_content() {
    let s = Session::new();
    s.vault.insert("email/work", "hunter2-Xq\nuser: alice\n");
    s.user_copies("what I had before");
    let started = Instant::now();
    let out = s.coffer(&["show", "-c", "email/work"]);
    assert_eq!(stderr(&out), "");
    assert!(out.status.success());
    assert_eq!(stdout(&out), copied("email/work"));
    assert!(
        started.elapsed() < Duration::from_secs(CLIP_TIME),
        "the command returns at once, the helper keeps the clipboard"
    );
    // The line, without its newline, served by the helper after coffer has exited.
    assert_eq!(s.clipboard().as_deref(), Some("hunter2-Xq"));
    assert!(
        s.targets()
            .contains(&"x-kde-passwordManagerHint".to_owned()),
        "{:?}",
        s.targets()
    );
    assert_eq!(s.hint(), "secret");
    s.wait_for(Some("what I had before"));
    assert!(
        started.elapsed() >= Duration::from_secs(CLIP_TIME),
        "restored too early"
    );
    // What is put back is the user's content, not marked as a password.
    assert!(
        !s.targets()
            .contains(&"x-kde-passwordManagerHint".to_owned())
    );
}

#[test]
fn a_line_number_picks_the_line_and_an_empty_clipboard_is_cleared_again() {
    let s = Session::new();
    s.vault.insert("db", "pw\nuser: admin\n");
    assert_eq!(s.clipboard(), None);
    let out = s.coffer(&["db", "-c2"]);
    assert_eq!(stdout(&out), copied("db"));
    assert_eq!(s.clipboard().as_deref(), Some("user: admin"));
    s.wait_for(None);
    let out = s.coffer(&["show", "--clip=3", "db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nothing at line 3 of db"),
        "{}",
        stderr(&out)
    );
    let out = s.coffer(&["show", "db", "--field", "user", "-c"]);
    assert_eq!(stdout(&out), copied("db"));
    assert_eq!(s.clipboard().as_deref(), Some("admin"));
}

#[test]
fn something_copied_since_is_left_alone() {
    let s = Session::new();
    s.vault.insert("a", "topsecret-1\n");
    s.user_copies("older");
    assert!(s.coffer(&["show", "-c", "a"]).status.success());
    assert_eq!(s.clipboard().as_deref(), Some("topsecret-1"));
    s.user_copies("copied by the user meanwhile");
    std::thread::sleep(Duration::from_secs(CLIP_TIME + 2));
    assert_eq!(
        s.clipboard().as_deref(),
        Some("copied by the user meanwhile")
    );
}

#[test]
fn a_second_copy_replaces_the_first_and_restores_the_original() {
    let s = Session::new();
    s.vault.insert("first", "secret-one\n");
    s.vault.insert("second", "secret-two\n");
    s.user_copies("original");
    assert!(s.coffer(&["show", "-c", "first"]).status.success());
    std::thread::sleep(Duration::from_millis(700));
    assert!(s.coffer(&["show", "-c", "second"]).status.success());
    // Until it is restored, the clipboard holds the second secret and never the first.
    let limit = Instant::now() + Duration::from_secs(CLIP_TIME + 10);
    loop {
        let now = s.clipboard();
        match now.as_deref() {
            Some("secret-two") => {}
            Some("original") => break,
            other => panic!("clipboard holds {other:?} during a second copy"),
        }
        assert!(Instant::now() < limit, "never restored");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.clipboard().as_deref(), Some("original"));
}

#[test]
fn the_secret_is_in_no_process_argv_or_environment() {
    let s = Session::new();
    let secret = format!("pw-{}-{}", std::process::id(), "ZqQ7xv");
    s.vault.insert("proc", format!("{secret}\n"));
    let out = s.coffer(&["show", "-c", "proc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.clipboard().as_deref(), Some(secret.as_str()));

    let mut helpers = 0;
    let mut helper_environs_read = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        assert!(
            !contains(&cmdline, secret.as_bytes()),
            "secret in /proc/{}/cmdline",
            pid.to_string_lossy()
        );
        let is_helper = contains(&cmdline, b"clipboard-helper");
        match std::fs::read(entry.path().join("environ")) {
            Ok(environ) => {
                assert!(
                    !contains(&environ, secret.as_bytes()),
                    "secret in /proc/{}/environ",
                    pid.to_string_lossy()
                );
                let ours = contains(&environ, format!("DISPLAY={}\0", s.display.name).as_bytes());
                if is_helper && ours {
                    helpers += 1;
                    helper_environs_read += 1;
                }
            }
            // coffer makes itself non-dumpable, so without CAP_SYS_PTRACE its environment
            // is not readable by anyone else: that is a protection, not a gap in the test.
            Err(e) if is_helper => {
                assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
                helpers += 1;
            }
            Err(_) => {}
        }
    }
    assert!(helpers >= 1, "the clipboard helper was not found in /proc");
    eprintln!("checked {helpers} helper(s), {helper_environs_read} environment(s) readable");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn generate_c_and_otp_c_copy_what_they_produce() {
    let s = Session::new();
    let out = s.coffer(&["generate", "-c", "web/shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), copied("web/shop"));
    let stored = String::from_utf8(s.vault.show("web/shop")).unwrap();
    let password = stored.strip_suffix('\n').unwrap();
    assert_eq!(password.len(), 25);
    assert_eq!(s.clipboard().as_deref(), Some(password));

    // RFC 4226 Appendix D: the code after counter 0 is 287082.
    s.vault.insert(
        "bank",
        "pin\notpauth://hotp/Bank:me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0\n",
    );
    let out = s.coffer(&["otp", "-c", "bank"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("Copied OTP code for bank to clipboard. Will clear in {CLIP_TIME} seconds.\n")
    );
    assert_eq!(s.clipboard().as_deref(), Some("287082"));
}

#[test]
fn the_primary_selection_when_asked() {
    let s = Session::new();
    s.vault.insert("p", "in-primary\n");
    let out = s
        .vault
        .cmd()
        .env("DISPLAY", &s.display.name)
        .env("XDG_RUNTIME_DIR", s.vault.dir.path().join("run"))
        .env("COFFER_CLIP_TIME", CLIP_TIME.to_string())
        .env("COFFER_X_SELECTION", "primary")
        .args(["show", "-c", "p"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.read("primary").as_deref(), Some("in-primary"));
    assert_eq!(s.clipboard(), None);
}

#[test]
fn without_a_display_nothing_is_copied_or_generated() {
    let v = TestVault::new();
    v.insert("a", "x\n");
    let out = v.run(&["show", "-c", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: no X11 or Wayland display for the clipboard\n"
    );
    assert!(out.stdout.is_empty());
    let out = v.run(&["generate", "-c", "new"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: no X11 or Wayland display for the clipboard\n"
    );
    assert!(
        !v.path("new").exists(),
        "nothing generated without a display"
    );
}

#[test]
fn bad_settings_are_usage_errors() {
    let v = TestVault::new();
    v.insert("a", "x\n");
    let out = v
        .cmd()
        .env("DISPLAY", ":99")
        .env("COFFER_CLIP_TIME", "soon")
        .args(["show", "-c", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "coffer: COFFER_CLIP_TIME \"soon\" must be a positive number of seconds\n"
    );
    let out = v
        .cmd()
        .env("DISPLAY", ":99")
        .env("COFFER_X_SELECTION", "tertiary")
        .args(["show", "-c", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("must be clipboard, primary or secondary"));
}
