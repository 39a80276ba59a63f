//! One-time passwords: the RFC 4226 and RFC 6238 test vectors through the library with a
//! pinned clock, then `otp`, `otp insert`, `otp uri` through the real binary.

use crate::common::{self, TestVault, files_below, stderr, stdout};
use coffer::Plaintext;
use coffer::formats::otp::{self, FixedClock, OtpUri};

/// The RFC test secrets: ASCII "1234567890" repeated to the hash's length.
fn rfc_secret(len: usize) -> String {
    let bytes: Vec<u8> = b"1234567890".iter().copied().cycle().take(len).collect();
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// RFC 4226 Appendix D: HOTP-SHA1, 6 digits, counters 0 to 9.
const RFC4226: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
    "520489",
];

#[test]
fn rfc4226_appendix_d() {
    let uri = format!("otpauth://hotp/rfc?secret={}&counter=0", rfc_secret(20));
    let parsed = OtpUri::parse(uri.as_bytes()).unwrap();
    for (counter, expected) in RFC4226.iter().enumerate() {
        assert_eq!(
            parsed.hotp(counter as u64).as_str(),
            *expected,
            "count {counter}"
        );
    }
}

#[test]
fn rfc6238_appendix_b_with_a_pinned_clock() {
    // (time, SHA1, SHA256, SHA512), 8 digits, 30-second steps.
    let table: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    for (time, sha1, sha256, sha512) in table {
        for (algorithm, len, expected) in [
            ("SHA1", 20, sha1),
            ("SHA256", 32, sha256),
            ("SHA512", 64, sha512),
        ] {
            let content = Plaintext::new(
                format!(
                    "password\notpauth://totp/rfc?secret={}&algorithm={algorithm}&digits=8&period=30\n",
                    rfc_secret(len)
                )
                .into_bytes(),
            );
            let next = otp::next_code(&content, &FixedClock(time)).unwrap();
            assert_eq!(next.code.as_str(), expected, "{algorithm} at {time}");
            assert!(next.updated.is_none(), "TOTP never rewrites the secret");
        }
    }
}

#[test]
fn hotp_through_the_binary_advances_and_commits_the_counter() {
    let v = TestVault::with_git();
    let uri = format!(
        "otpauth://hotp/Example:alice?issuer=Example&counter=0&secret={}",
        rfc_secret(20)
    );
    v.insert("bank/token", format!("pin 1234\n{uri}\nnotes: keep\n"));
    for expected in &RFC4226[1..] {
        let out = v.run(&["otp", "bank/token"]);
        assert_eq!(stderr(&out), "");
        assert_eq!(stdout(&out), format!("{expected}\n"));
    }
    // Only the counter changed; the rest is byte-exact.
    let expected_uri = uri.replace("counter=0", "counter=9");
    assert_eq!(
        v.show("bank/token"),
        format!("pin 1234\n{expected_uri}\nnotes: keep\n").as_bytes()
    );
    assert_eq!(
        stdout(&v.run(&["otp", "uri", "bank/token"])),
        format!("{expected_uri}\n")
    );
    let log = v.git_log();
    assert_eq!(
        log.iter()
            .filter(|m| *m == "Increment HOTP counter for bank/token.")
            .count(),
        9,
        "{log:?}"
    );
    // `otp show NAME` is `otp NAME`: counter 10, past the RFC's table.
    let parsed = OtpUri::parse(uri.as_bytes()).unwrap();
    let out = v.run(&["otp", "show", "bank/token"]);
    assert_eq!(stdout(&out), format!("{}\n", parsed.hotp(10).as_str()));
    assert_ne!(stdout(&out), format!("{}\n", RFC4226[9]));
}

#[test]
fn totp_through_the_binary_matches_the_clock() {
    let v = TestVault::new();
    let uri = format!(
        "otpauth://totp/Site:me?secret={}&algorithm=SHA256&digits=8&period=60",
        rfc_secret(32)
    );
    v.insert("site", format!("{uri}\n"));
    let parsed = OtpUri::parse(uri.as_bytes()).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    let out = v.run(&["otp", "site"]);
    let after = now();
    let code = stdout(&out);
    let allowed = [
        format!("{}\n", parsed.totp_at(before).as_str()),
        format!("{}\n", parsed.totp_at(after).as_str()),
    ];
    assert!(allowed.contains(&code), "{code:?} not in {allowed:?}");
    assert_eq!(code.len(), 9);
    // TOTP leaves the secret untouched.
    assert_eq!(v.show("site"), format!("{uri}\n").as_bytes());
}

#[test]
fn insert_reads_the_uri_from_stdin_and_validates_it() {
    let v = TestVault::with_git();
    let uri = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example";
    let out = v
        .cmd()
        .args(["otp", "insert", "web/example"])
        .write_stdin(format!("{uri}\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("web/example"), format!("{uri}\n").as_bytes());
    assert_eq!(v.git_log()[0], "Add OTP secret for web/example to store.");
    assert_eq!(
        stdout(&v.run(&["otp", "uri", "web/example"])),
        format!("{uri}\n")
    );
    assert_eq!(stdout(&v.run(&["otp", "web/example"])).len(), 7);
}

#[test]
fn the_uri_is_never_taken_from_the_command_line() {
    let v = TestVault::new();
    let out = v.run(&[
        "otp",
        "insert",
        "x",
        "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!v.path("x").exists());
}

#[test]
fn append_keeps_the_secret_and_replaces_an_old_uri() {
    let v = TestVault::with_git();
    v.insert("mail", "hunter2\nuser: alice\n");
    let first = "otpauth://totp/Mail:alice?secret=JBSWY3DPEHPK3PXP";
    let second = "otpauth://totp/Mail:alice?secret=KRUGKIDROVUWG2ZA&digits=8";
    let out = v
        .cmd()
        .args(["otp", "insert", "-a", "mail"])
        .write_stdin(format!("{first}\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("mail"),
        format!("hunter2\nuser: alice\n{first}\n").as_bytes()
    );
    assert_eq!(v.git_log()[0], "Append OTP secret for mail to store.");
    // pass-otp's spelling, `otp append`, does the same.
    let out = v
        .cmd()
        .args(["otp", "append", "mail"])
        .write_stdin(format!("{second}\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("mail"),
        format!("hunter2\nuser: alice\n{second}\n").as_bytes()
    );
    assert_eq!(stdout(&v.run(&["otp", "mail"])).len(), 9);
    // Without -a, an existing secret is replaced (no terminal: no question, as in pass).
    let out = v
        .cmd()
        .args(["otp", "insert", "mail"])
        .write_stdin(format!("{first}\n"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(v.show("mail"), format!("{first}\n").as_bytes());
}

#[test]
fn bad_uris_are_refused_naming_what_is_wrong_and_nothing_is_stored() {
    let v = TestVault::new();
    v.insert("keep", "old content\n");
    let before = files_below(&v.store());
    let cases = [
        (
            "https://example.com",
            "the URI does not start with otpauth://",
        ),
        (
            "otpauth://sotp/x?secret=JBSWY3DP",
            "unknown OTP type \"sotp\"; expected totp or hotp",
        ),
        (
            "otpauth://totp/x?issuer=A",
            "the URI has no secret parameter",
        ),
        (
            "otpauth://totp/x?secret=JBSW1Y3DP",
            "the secret parameter is not valid base32 (letters A-Z and digits 2-7)",
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DP&algorithm=MD5",
            "unknown algorithm \"MD5\"; expected SHA1, SHA256 or SHA512",
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DP&digits=10",
            "digits must be 6, 7 or 8, not \"10\"",
        ),
        (
            "otpauth://totp/x?secret=JBSWY3DP&period=0",
            "period must be a whole number of seconds from 1 up, not \"0\"",
        ),
        (
            "otpauth://hotp/x?secret=JBSWY3DP",
            "an HOTP URI needs a counter parameter (…&counter=0)",
        ),
    ];
    for (uri, reason) in cases {
        for target in ["new", "keep"] {
            let out = v
                .cmd()
                .args(["otp", "insert", "-a", target])
                .write_stdin(format!("{uri}\n"))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{uri}");
            assert_eq!(
                stderr(&out),
                format!("coffer: invalid otpauth:// URI: {reason}\n"),
                "{uri}"
            );
        }
    }
    assert_eq!(files_below(&v.store()), before);
    assert_eq!(v.show("keep"), b"old content\n");
    // No input at all.
    let out = v
        .cmd()
        .args(["otp", "insert", "empty"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!v.path("empty").exists());
}

#[test]
fn secrets_without_or_with_a_broken_uri() {
    let v = TestVault::new();
    v.insert("plain", "just a password\n");
    let out = v.run(&["otp", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: plain has no otpauth:// line; add one with `coffer otp insert --append plain`\n"
    );
    let out = v.run(&["otp", "uri", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    v.insert("broken", "pw\notpauth://totp/x?secret=SECRETSTUFF1\n");
    let out = v.run(&["otp", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: broken: invalid otpauth:// URI: the secret parameter is not valid base32 (letters A-Z and digits 2-7)\n"
    );
    assert!(!stderr(&out).contains("SECRETSTUFF"));
    let out = v.run(&["otp", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "coffer: missing is not in the store.\n");
    let out = v.run(&["otp"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn on_a_terminal_the_uri_is_typed_twice_without_echo() {
    let v = TestVault::new();
    let uri = "otpauth://totp/Term:me?secret=JBSWY3DPEHPK3PXP";
    let spawn = |name: &str| {
        let mut cmd = v.coffer();
        cmd.args(["otp", "insert", name]);
        common::on_terminal(cmd)
    };
    let mut session = spawn("typed");
    session
        .exp_string("Enter otpauth:// URI for typed: ")
        .unwrap();
    session.send_line(uri).unwrap();
    session
        .exp_string("Retype otpauth:// URI for typed: ")
        .unwrap();
    session.send_line(uri).unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(!rest.contains("JBSWY3DP"), "the URI was echoed: {rest:?}");
    assert_eq!(v.show("typed"), format!("{uri}\n").as_bytes());

    let mut session = spawn("mismatch");
    session.exp_string("Enter otpauth:// URI").unwrap();
    session.send_line(uri).unwrap();
    session.exp_string("Retype otpauth:// URI").unwrap();
    session.send_line("otpauth://totp/x?secret=AAAA").unwrap();
    session
        .exp_string("coffer: the entered URIs do not match")
        .unwrap();
    session.exp_eof().unwrap();
    assert!(!v.path("mismatch").exists());
}

#[test]
fn insert_builds_the_uri_from_a_bare_seed() {
    let v = TestVault::with_git();
    let out = v
        .cmd()
        .args([
            "otp",
            "insert",
            "web/github",
            "--secret",
            "--issuer",
            "GitHub",
            "--account",
            "alice@example.com",
        ])
        .write_stdin("jbsw y3dp-ehpk 3pxp\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let uri = "otpauth://totp/GitHub:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub";
    assert_eq!(
        stdout(&v.run(&["otp", "uri", "web/github"])),
        format!("{uri}\n")
    );
    assert_eq!(stdout(&v.run(&["otp", "web/github"])).len(), 7);
    assert_eq!(v.git_log()[0], "Add OTP secret for web/github to store.");
    // Without an account or issuer, the secret's name labels it.
    let out = v
        .cmd()
        .args(["otp", "insert", "bare", "--secret"])
        .write_stdin("JBSWY3DPEHPK3PXP\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&v.run(&["otp", "uri", "bare"])),
        "otpauth://totp/bare?secret=JBSWY3DPEHPK3PXP\n"
    );
    // Not base32: refused, nothing stored, the seed never echoed.
    let out = v
        .cmd()
        .args(["otp", "insert", "bad", "--secret"])
        .write_stdin("not-a-seed-1890\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("seed-1890"), "{}", stderr(&out));
    assert!(!v.path("bad").exists());
}

#[test]
fn on_a_terminal_the_seed_is_typed_twice_without_echo() {
    let v = TestVault::new();
    let mut cmd = v.coffer();
    cmd.args([
        "otp",
        "insert",
        "typed",
        "--secret",
        "--issuer",
        "X",
        "--account",
        "Y",
    ]);
    let mut session = common::on_terminal(cmd);
    session
        .exp_string("Enter base32 secret for typed: ")
        .unwrap();
    session.send_line("JBSWY3DPEHPK3PXP").unwrap();
    session
        .exp_string("Retype base32 secret for typed: ")
        .unwrap();
    session.send_line("JBSWY3DPEHPK3PXP").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(!rest.contains("JBSWY3DP"), "the seed was echoed: {rest:?}");
    assert_eq!(
        v.show("typed"),
        b"otpauth://totp/X:Y?secret=JBSWY3DPEHPK3PXP&issuer=X\n"
    );
}
