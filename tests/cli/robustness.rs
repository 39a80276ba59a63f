//! Bad input gets a clear one-line error and a non-zero exit, and nothing is lost.

use crate::common::{self, TestVault, files_below, stderr, stdout};
use std::io::Write as _;
use std::time::Duration;

/// Asserts the SPEC §1.5 failure shape: exit `code`, one `coffer: ` line, nothing on stdout.
fn assert_fails(out: &std::process::Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(
        err.starts_with("coffer: ") && err.lines().count() == 1,
        "not one line: {err:?}"
    );
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", stdout(out));
}

#[test]
fn malformed_names_are_refused_everywhere() {
    let v = TestVault::new();
    v.insert("ok", "x\n");
    let bad = [
        "../x",
        "a/../../x",
        "./x",
        "a//b",
        // A leading `/` is the store's root, as pass's front-ends write it: `/etc/passwd`
        // names the secret etc/passwd in the store. Climbing out stays refused.
        "/../etc/passwd",
        "//etc/passwd",
        ".hidden",
        "a/.git/config",
        "a\u{1}b",
        "a\nb",
        "",
    ];
    let before = files_below(v.dir.path());
    for name in bad {
        // `show ""` is the whole tree, as in pass; every other use of "" is refused.
        let show = (!name.is_empty()).then(|| vec!["show", name]);
        for args in show.into_iter().chain([
            vec!["insert", "-m", name],
            vec!["generate", name],
            vec!["rm", "-f", name],
            vec!["mv", "ok", name],
            vec!["cp", "ok", name],
            vec!["edit", name],
        ]) {
            let out = v
                .cmd()
                .args(&args)
                .write_stdin("secret\n")
                .output()
                .unwrap();
            assert_fails(&out, 2, "invalid name");
        }
    }
    assert_eq!(
        files_below(v.dir.path()),
        before,
        "nothing was written anywhere"
    );
}

#[test]
fn over_long_and_invisible_names_are_refused() {
    let v = TestVault::new();
    v.insert("ok", "x\n");
    let long_component = "x".repeat(215);
    let long_name = "abcdefghi/".repeat(110) + "z";
    let bad = [
        long_component.as_str(),
        long_name.as_str(),
        "a\u{200b}b",
        "a\u{202e}gpj.exe",
        "\u{feff}x",
        "a\u{2066}b",
        "a\u{61c}b",
        "a\u{200f}b",
    ];
    for name in bad {
        for args in [
            vec!["insert", "-m", name],
            vec!["generate", name],
            vec!["mv", "ok", name],
            vec!["cp", "ok", name],
        ] {
            let out = v
                .cmd()
                .args(&args)
                .write_stdin("secret\n")
                .output()
                .unwrap();
            assert_fails(&out, 2, "invalid name");
        }
    }
    // The longest allowed component fits, temporary files and marks included.
    let longest = "y".repeat(214);
    v.insert(&longest, "long\n");
    assert_eq!(v.show(&longest), b"long\n");
    v.run_ok(&["reencrypt"]);
}

#[test]
fn a_file_past_the_path_limit_does_not_break_the_store() {
    let v = TestVault::new();
    v.insert("web/shop", "s\n");
    v.insert("mail", "m\n");
    // Made behind coffer's back, one folder at a time: a path longer than PATH_MAX.
    use rustix::fs::{Mode, OFlags};
    let component = "d".repeat(200);
    let mut dir = rustix::fs::open(v.store(), OFlags::DIRECTORY, Mode::empty()).unwrap();
    for _ in 0..25 {
        rustix::fs::mkdirat(&dir, component.as_str(), Mode::from_raw_mode(0o700)).unwrap();
        dir =
            rustix::fs::openat(&dir, component.as_str(), OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let deep = rustix::fs::openat(
        &dir,
        "deep.age",
        OFlags::WRONLY | OFlags::CREATE,
        Mode::from_raw_mode(0o600),
    )
    .unwrap();
    drop(deep);
    let listed = v.run_ok(&["ls"]);
    assert!(stdout(&listed).contains("shop"), "{}", stdout(&listed));
    assert!(stdout(&listed).contains("mail"), "{}", stdout(&listed));
    let found = v.run_ok(&["grep", "s"]);
    assert!(stdout(&found).contains("web/shop"), "{}", stdout(&found));
    v.run_ok(&["reencrypt"]);
    // audit exits 1 for its findings (weak passwords here), not for the deep file.
    let audit = v.run(&["audit"]);
    assert!(stderr(&audit).is_empty(), "{}", stderr(&audit));
    assert!(stdout(&audit).contains("web/shop"), "{}", stdout(&audit));
    v.run_ok(&["rm", "-r", "-f", "web"]);
    assert_eq!(v.show("mail"), b"m\n");
}

#[test]
fn symlinks_inside_the_store_are_never_followed() {
    let v = TestVault::new();
    v.insert("real", "inside\n");
    let outside = v.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(
        outside.join("target.age"),
        std::fs::read(v.path("real")).unwrap(),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.join("target.age"), v.path("link")).unwrap();
    std::os::unix::fs::symlink(&outside, v.store().join("dir")).unwrap();
    let snapshot = files_below(&outside);
    let target = std::fs::read(outside.join("target.age")).unwrap();
    assert_fails(&v.run(&["show", "link"]), 1, "symbolic link");
    assert_fails(&v.run(&["show", "dir/target"]), 1, "symbolic link");
    let out = v
        .cmd()
        .args(["insert", "-m", "-f", "link"])
        .write_stdin("evil")
        .output()
        .unwrap();
    assert_fails(&out, 1, "symbolic link");
    let out = v.try_insert("dir/new", "evil");
    assert_fails(&out, 1, "symbolic link");
    assert_fails(&v.run(&["rm", "-f", "link"]), 1, "symbolic link");
    assert_fails(&v.run(&["rm", "-rf", "dir"]), 1, "symbolic link");
    assert_fails(&v.run(&["mv", "link", "moved"]), 1, "symbolic link");
    assert_fails(&v.run(&["cp", "real", "dir/copy"]), 1, "symbolic link");
    // Links never show up in listings either.
    assert_eq!(stdout(&v.run(&["ls"])), "Coffer\n`-- real\n");
    assert_eq!(files_below(&outside), snapshot);
    assert_eq!(std::fs::read(outside.join("target.age")).unwrap(), target);
    assert!(
        v.path("link")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A link as the recipients file is refused too.
    std::fs::create_dir(v.store().join("team")).unwrap();
    std::os::unix::fs::symlink(
        v.store().join(".age-recipients"),
        v.store().join("team/.age-recipients"),
    )
    .unwrap();
    let out = v.try_insert("team/x", "y");
    assert_fails(&out, 1, "symbolic link");
}

#[test]
fn damaged_files_give_no_plaintext() {
    let v = TestVault::new();
    v.insert("good", "the secret value\n");
    let ct = std::fs::read(v.path("good")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated-header", ct[..40].to_vec()),
        ("truncated-payload", ct[..ct.len() - 5].to_vec()),
        ("not-age", b"-----BEGIN PGP MESSAGE-----\nhello\n".to_vec()),
        ("tampered", {
            let mut t = ct.clone();
            let last = t.len() - 3;
            t[last] ^= 0x40;
            t
        }),
        ("tampered-mac", {
            // (A damaged recipient stanza is indistinguishable from someone else's stanza,
            // so age calls it "no match"; a damaged MAC is damage.)
            let mut t = ct.clone();
            let mac = t.windows(5).position(|w| w == b"\n--- ").unwrap() + 8;
            t[mac] = if t[mac] == b'A' { b'B' } else { b'A' };
            t
        }),
    ];
    for (name, bytes) in &cases {
        std::fs::write(v.path(name), bytes).unwrap();
        assert_fails(&v.run(&["show", name]), 1, name);
        let out = v.run(&["show", name]);
        assert!(
            !stderr(&out).contains("no identity matches"),
            "{name}: corrupt is not 'not for you'"
        );
    }
    // grep reports the broken ones and still searches the rest.
    let out = v.run(&["grep", "secret"]);
    assert_eq!(stdout(&out), "good:\nthe secret value\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), cases.len());
}

#[test]
fn a_file_for_someone_else_is_not_corrupt() {
    let v = TestVault::new();
    let stranger = age::x25519::Identity::generate();
    let ct = age::encrypt(&stranger.to_public(), b"not yours\n").unwrap();
    std::fs::write(v.path("theirs"), ct).unwrap();
    assert_fails(&v.run(&["show", "theirs"]), 1, "no identity matches");
}

#[test]
fn identity_and_recipient_problems() {
    let v = TestVault::new();
    v.insert("s", "x\n");
    // Unreadable identities file.
    std::fs::set_permissions(
        v.identities(),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let as_root = rustix_is_root();
    if !as_root {
        assert_fails(&v.run(&["show", "s"]), 1, "cannot read the identities file");
    }
    std::fs::set_permissions(
        v.identities(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // Missing identities file.
    let out = v
        .cmd()
        .env("COFFER_IDENTITIES_FILE", v.dir.path().join("none"))
        .args(["show", "s"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "no identities file");
    // Garbage identities file: names the line, never echoes it.
    let junk = v.dir.path().join("junk");
    std::fs::write(&junk, "# ok\nAGE-SECRET-KEY-1TOPSECRETJUNK\n").unwrap();
    let out = v
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &junk)
        .args(["show", "s"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "line 2");
    assert!(!stderr(&out).contains("TOPSECRET"));
    // A recipients line of an unknown kind: file and line named, line not echoed.
    std::fs::create_dir(v.store().join("team")).unwrap();
    std::fs::write(
        v.store().join("team/.age-recipients"),
        format!("{}\nmallory-was-here\n", v.recipient()),
    )
    .unwrap();
    let out = v.try_insert("team/x", "y");
    assert_fails(&out, 1, "team/.age-recipients:2");
    assert!(!stderr(&out).contains("mallory-was-here"));
    assert!(!v.path("team/x").exists());
    // A plugin recipient the local config does not allow: refused, nothing runs.
    std::fs::write(
        v.store().join("team/.age-recipients"),
        "age1yubikey1qwerty\n",
    )
    .unwrap();
    let out = v.try_insert("team/x", "y");
    assert_fails(&out, 1, "age-plugin-yubikey");
    // No recipients anywhere.
    std::fs::remove_file(v.store().join("team/.age-recipients")).unwrap();
    std::fs::remove_file(v.store().join(".age-recipients")).unwrap();
    let out = v.try_insert("y", "z");
    assert_fails(&out, 1, "run `coffer init`");
    assert_eq!(v.show("s"), b"x\n", "reading still works");
}

fn rustix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
fn a_second_writer_waits_then_names_the_holder() {
    let v = TestVault::new();
    v.insert("s", "x\n");
    // Hold the store lock from another process with flock(1).
    common::require_tool("flock");
    let lock = v.store().join(".coffer/lock");
    let mut holder = v
        .tool("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::fs::write(&lock, holder.id().to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = v
        .cmd()
        .args(["insert", "-m", "-f", "s"])
        .write_stdin("new")
        .output()
        .unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_fails(
        &out,
        1,
        &format!("locked by another coffer process (pid {})", holder.id()),
    );
    assert_eq!(v.show("s"), b"x\n");
    // Once released, writing works again.
    v.insert("s", "new\n");
    assert_eq!(v.show("s"), b"new\n");
}

#[test]
fn killing_reencrypt_leaves_every_secret_readable() {
    let v = TestVault::new();
    let n = 600;
    for i in 0..n {
        std::fs::create_dir_all(v.store().join(format!("d{}", i % 10))).unwrap();
    }
    // Fast bulk set-up: copy one encrypted file around.
    for i in 0..n {
        v.insert(&format!("d{}/s{i}", i % 10), format!("value {i}\n"));
        if i == 20 {
            break;
        }
    }
    let template = std::fs::read(v.path("d0/s0")).unwrap();
    for i in 21..n {
        std::fs::write(v.path(&format!("d{}/s{i}", i % 10)), &template).unwrap();
    }
    let other = age::x25519::Identity::generate();
    std::fs::write(
        v.store().join(".age-recipients"),
        format!("{}\n{}\n", v.recipient(), other.to_public()),
    )
    .unwrap();
    v.cmd().args(["recipients", "accept"]).assert().success();
    let mut killed_mid_way = 0;
    for delay in [5u64, 25, 60, 120] {
        let mut child = v
            .coffer()
            .arg("reencrypt")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        let out = v.run(&["grep", "never-matches-xyz"]);
        assert!(
            stderr(&out).is_empty(),
            "after a kill at {delay} ms: {}",
            stderr(&out)
        );
    }
    assert!(killed_mid_way > 0, "no run was killed before it finished");
    // A completed run sweeps what the killed ones left behind.
    v.cmd().arg("reencrypt").assert().success();
    let temps: Vec<String> = files_below(&v.store())
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    for i in (0..n).step_by(37) {
        let expected = if i <= 20 {
            format!("value {i}\n")
        } else {
            "value 0\n".to_owned()
        };
        assert_eq!(v.show(&format!("d{}/s{i}", i % 10)), expected.as_bytes());
    }
}

#[test]
fn a_full_disk_keeps_the_old_secret_and_leaves_no_temp() {
    common::require_tool("mount");
    let v = TestVault::new();
    let mnt = v.dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .output()
        .unwrap();
    if !mounted.status.success() {
        let why = stderr(&mounted);
        // CI runs as root and can mount: there, a skip would hide a lost test.
        assert!(
            std::env::var_os("CI").is_none_or(|ci| ci.is_empty()),
            "CI must be able to mount a tmpfs for this test: {why}"
        );
        // Straight to stderr, past the test harness's capture, so the skip shows in the run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED a_full_disk_keeps_the_old_secret_and_leaves_no_temp: cannot mount a tmpfs \
             here (needs root; CI runs it): {}",
            why.trim()
        );
        return;
    }
    let store = mnt.join("store");
    let run = |args: &[&str], input: &[u8]| {
        v.cmd()
            .env("COFFER_DIR", &store)
            .args(args)
            .write_stdin(input.to_vec())
            .output()
            .unwrap()
    };
    assert!(run(&["init"], b"").status.success());
    assert!(run(&["insert", "-m", "s"], b"old value\n").status.success());
    let big = vec![b'x'; 200 * 1024];
    let out = run(&["insert", "-m", "-f", "s"], &big);
    let shown = run(&["show", "s"], b"");
    let left = files_below(&store);
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert_fails(&out, 1, "no space left");
    assert_eq!(stdout(&shown), "old value\n");
    assert!(
        left.iter().all(|f| !f.ends_with(".tmp")),
        "temp left behind: {left:?}"
    );
}

#[test]
fn oversized_files_and_lengths_are_refused_without_reading_them() {
    let v = TestVault::new();
    v.insert("ok", "x\n");
    // A sparse 2 GB "secret": refused from its size, never read.
    let big = std::fs::File::create(v.path("big")).unwrap();
    big.set_len(2 << 30).unwrap();
    drop(big);
    for args in [vec!["show", "big"], vec!["cp", "big", "copy"]] {
        let out = v.run(&args);
        assert_fails(&out, 1, "big.age");
        assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
    }
    // info takes the size from the file system.
    let info = v.run_ok(&["info", "big"]);
    assert!(!stdout(&info).is_empty());
    // The limit is configurable.
    let config = v.home().join(".config/coffer/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[limits]\nmax_secret_size = 1000\n").unwrap();
    v.insert("small", "y\n");
    let out = v.run(&["show", "ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&config, "[limits]\nmax_secret_size = 10\n").unwrap();
    assert_fails(&v.run(&["show", "ok"]), 1, "larger than 10 bytes");
    std::fs::remove_file(&config).unwrap();
    // Generated lengths are bounded.
    assert_fails(&v.run(&["generate", "g", "1000000000"]), 2, "4096");
    assert_fails(&v.run(&["generate", "g", "--words", "100000"]), 2, "1024");
    v.run_ok(&["generate", "g", "4096"]);
}

#[test]
fn endless_inputs_end_with_an_error() {
    let v = TestVault::new();
    v.insert("ok", "x\n");
    let out = v.run(&["run", "--env-file", "/dev/zero", "--", "true"]);
    assert_fails(&out, 1, "/dev/zero");
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
    let out = v.run(&["inject", "-i", "/dev/zero"]);
    assert_fails(&out, 1, "/dev/zero");
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
}
