//! pass's front-ends (passff, QtPass, rofi scripts) drive `pass` the way its own scripts
//! allow: a `--` before the names, names with a leading `/`, grep's options, pass's
//! environment. With `coffer` in `pass`'s place, each request gets the answer pass would give.

use crate::common::{TestVault, output_with_stdin, stderr, stdout};

/// What passff's host runs for one request: `coffer OPTIONS -- ARGS`, with stdin.
fn request(v: &TestVault, opts: &[&str], args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = v.coffer();
    cmd.args(opts).arg("--").args(args);
    output_with_stdin(&mut cmd, stdin.as_bytes())
}

#[test]
fn a_front_end_script_gets_passs_answers() {
    let v = TestVault::new();
    v.insert(
        "web/site",
        "site-pass\nlogin: ann\nurl: https://site.example\n",
    );
    v.insert(
        "web/otp",
        "otp-pass\notpauth://totp/Site:ann?secret=JBSWY3DPEHPK3PXP&issuer=Site\n",
    );

    // 1. The whole tree, asked for as `show -- /`.
    let out = request(&v, &["show"], &["/"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Coffer\n`-- web\n    |-- otp\n    `-- site\n");

    // 2. One entry, by its absolute name.
    let out = request(&v, &["show"], &["/web/site"], "");
    assert_eq!(
        stdout(&out),
        "site-pass\nlogin: ann\nurl: https://site.example\n"
    );

    // 3. A new entry, its content on stdin (`insert -m`).
    let out = request(
        &v,
        &["insert", "-m"],
        &["/web/new"],
        "new-pass\nurl: https://new.example\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("web/new"), b"new-pass\nurl: https://new.example\n");

    // 4. A generated one, length after the name; pass's two lines back.
    let out = request(&v, &["generate", "-n"], &["/web/gen", "16"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "The generated password for web/gen is:");
    assert_eq!(lines[1].len(), 16);
    assert!(lines[1].chars().all(|c| c.is_ascii_alphanumeric()));

    // 5. The URL fields of every entry, as passff greps them.
    let out = request(&v, &["grep", "-iE"], &["^(url|link|website|web|site):"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "web/new:\nurl: https://new.example\nweb/site:\nurl: https://site.example\n"
    );

    // 6. An OTP code for an absolute name: six digits and a newline.
    let out = request(&v, &["otp"], &["/web/otp"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let code = stdout(&out);
    assert!(
        code.len() == 7 && code[..6].chars().all(|c| c.is_ascii_digit()),
        "{code:?}"
    );

    // 7. A path outside the store is still refused, however it is spelt.
    let out = request(&v, &["show"], &["/../web/site"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
}

#[test]
fn grep_takes_the_options_pass_passes_through() {
    let v = TestVault::new();
    v.insert("a", "one\nuser: alice\nnote: Alice in wonderland\ntail\n");
    v.insert("b", "two\nuser: bob\n");
    let grep = |opts: &[&str], pattern: &str| {
        let mut args = vec!["grep"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["--", pattern]);
        v.run(&args)
    };
    assert_eq!(
        stdout(&grep(&["-i"], "ALICE")),
        "a:\nuser: alice\nnote: Alice in wonderland\n"
    );
    assert_eq!(stdout(&grep(&["-c"], "user")), "a:\n1\nb:\n1\n");
    assert_eq!(stdout(&grep(&["-n"], "bob")), "b:\n2:user: bob\n");
    assert_eq!(stdout(&grep(&["-w"], "alic")), "");
    assert_eq!(grep(&["-w"], "alic").status.code(), Some(1));
    assert_eq!(stdout(&grep(&["-w", "-F"], "alice")), "a:\nuser: alice\n");
    assert_eq!(stdout(&grep(&["-v"], "e")), "a:\ntail\nb:\ntwo\n");
    assert_eq!(
        stdout(&grep(&["-n", "-A", "1"], "one")),
        "a:\n1:one\n2-user: alice\n"
    );
    assert_eq!(
        stdout(&grep(&["-B", "1"], "tail")),
        "a:\nnote: Alice in wonderland\ntail\n"
    );
    assert_eq!(
        stdout(&grep(&["-n", "-C", "0"], "one|tail")),
        "",
        "a basic expression's | is a literal"
    );
    assert_eq!(
        stdout(&grep(&["-n", "-E"], "one|tail")),
        "a:\n1:one\n--\n4:tail\n"
    );
    let coloured = stdout(&grep(&["--color=always"], "bob"));
    assert_eq!(
        coloured,
        "\x1b[94m\x1b[1;94mb\x1b[0m:\nuser: \x1b[01;31mbob\x1b[0m\n"
    );
    assert_eq!(stdout(&grep(&["--color=never"], "bob")), "b:\nuser: bob\n");
}

#[test]
fn passs_environment_works_when_coffers_is_unset() {
    let v = TestVault::new();
    let out = v
        .coffer()
        .env("PASSWORD_STORE_GENERATED_LENGTH", "31")
        .env("PASSWORD_STORE_CHARACTER_SET", "x")
        .args(["generate", "env/pass"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("env/pass"),
        format!("{}\n", "x".repeat(31)).as_bytes()
    );
    // coffer's own variable wins.
    let out = v
        .coffer()
        .env("PASSWORD_STORE_GENERATED_LENGTH", "31")
        .env("COFFER_GENERATED_LENGTH", "7")
        .env("PASSWORD_STORE_CHARACTER_SET_NO_SYMBOLS", "y")
        .args(["generate", "-n", "env/both"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("env/both"), b"yyyyyyy\n");
    let out = v
        .coffer()
        .env("PASSWORD_STORE_CLIP_TIME", "soon")
        .args(["show", "-c", "env/both"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PASSWORD_STORE_CLIP_TIME"),
        "{}",
        stderr(&out)
    );

    // PASSWORD_STORE_DIR is a gpg store: never read, but named when coffer has none.
    let bare = TestVault::bare();
    let out = bare
        .coffer()
        .env("PASSWORD_STORE_DIR", bare.home().join(".password-store"))
        .args(["ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("PASSWORD_STORE_DIR=") && err.contains("coffer import pass"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
