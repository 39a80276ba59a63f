//! Moving in: `import pass` (a real pass store, real gpg), `import passage` (a store made with
//! the `age` CLI) and `import csv` (one export per password manager).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{self, TestVault, files_below, require_tool, stderr, stdout};

/// A GnuPG home with one unprotected key, generated for the test; its agent is stopped when
/// the test ends.
struct Gnupg {
    home: PathBuf,
    email: String,
}

impl Gnupg {
    fn new(dir: &Path, email: &str) -> Self {
        require_tool("gpg");
        require_tool("gpgconf");
        let home = dir.to_owned();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let g = Self {
            home,
            email: email.to_owned(),
        };
        let params = format!(
            "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\n\
Subkey-Curve: cv25519\nName-Real: Test\nName-Email: {email}\nExpire-Date: 0\n%commit\n"
        );
        let out = g.run(&["--batch", "--gen-key"], params.as_bytes());
        assert!(out.status.success(), "gpg --gen-key: {}", stderr(&out));
        g
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("GNUPGHOME", &self.home).env("LANG", "C");
        cmd
    }

    fn run(&self, args: &[&str], input: &[u8]) -> Output {
        common::output_with_stdin(self.command("gpg").args(args), input)
    }

    /// Encrypts `content` to this key into `file`, as pass would.
    fn encrypt_to(&self, file: &Path, content: &[u8]) {
        let out = self.run(
            &[
                "--batch",
                "--yes",
                "--trust-model",
                "always",
                "-e",
                "-r",
                &self.email,
                "-o",
                file.to_str().unwrap(),
            ],
            content,
        );
        assert!(out.status.success(), "gpg -e: {}", stderr(&out));
    }
}

impl Drop for Gnupg {
    fn drop(&mut self) {
        let _ = self
            .command("gpgconf")
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// A pass store in the test's folder, driven by Debian's `pass`.
struct PassStore {
    dir: PathBuf,
    gpg: Gnupg,
}

impl PassStore {
    fn new(v: &TestVault) -> Self {
        require_tool("pass");
        let gpg = Gnupg::new(&v.dir.path().join("gnupg"), "pass-user@example.invalid");
        let store = Self {
            dir: v.dir.path().join("password-store"),
            gpg,
        };
        let out = store.pass(v, &["init", "pass-user@example.invalid"], b"");
        assert!(out.status.success(), "pass init: {}", stderr(&out));
        store
    }

    fn pass(&self, v: &TestVault, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = v.tool("pass");
        cmd.args(args)
            .env("GNUPGHOME", &self.gpg.home)
            .env("PASSWORD_STORE_DIR", &self.dir);
        common::output_with_stdin(&mut cmd, input)
    }

    fn insert(&self, v: &TestVault, name: &str, content: &[u8]) {
        let out = self.pass(v, &["insert", "-m", name], content);
        assert!(out.status.success(), "pass insert {name}: {}", stderr(&out));
    }

    /// `pass insert` in a pass store kept with git, committed as of `when`.
    fn insert_dated(&self, v: &TestVault, name: &str, content: &[u8], when: &str) {
        let mut cmd = v.tool("pass");
        cmd.args(["insert", "-m", "-f", name])
            .env("GNUPGHOME", &self.gpg.home)
            .env("PASSWORD_STORE_DIR", &self.dir)
            .env("GIT_AUTHOR_DATE", when)
            .env("GIT_COMMITTER_DATE", when);
        let out = common::output_with_stdin(&mut cmd, content);
        assert!(out.status.success(), "pass insert {name}: {}", stderr(&out));
    }

    fn show(&self, v: &TestVault, name: &str) -> Vec<u8> {
        let out = self.pass(v, &["show", name], b"");
        assert!(out.status.success(), "pass show {name}: {}", stderr(&out));
        out.stdout
    }

    /// `coffer import pass …` with this store's GnuPG home.
    fn import(&self, v: &TestVault, args: &[&str]) -> Output {
        let mut cmd = v.cmd();
        cmd.args(["import", "pass", "--from", self.dir.to_str().unwrap()])
            .args(args)
            .env("GNUPGHOME", &self.gpg.home);
        cmd.output().unwrap()
    }
}

fn binary_blob() -> Vec<u8> {
    (0..=255u8).rev().cycle().take(3000).collect()
}

/// The pass store every pass test starts from.
const PASS_SECRETS: &[(&str, &[u8])] = &[
    (
        "email/work",
        b"hunter2\nuser: alice\nurl: https://mail.example\n\nnotes, line two\n",
    ),
    ("deep/a/b/c", b"no newline at the end"),
    (
        "\u{fc}n\u{ef}/\u{43a}\u{43b}\u{44e}\u{447} 1",
        "пароль\n".as_bytes(),
    ),
    ("trailing", b"pw\n\n\n"),
];

fn pass_store_with_secrets(v: &TestVault) -> PassStore {
    let pass = PassStore::new(v);
    for (name, content) in PASS_SECRETS {
        pass.insert(v, name, content);
    }
    pass.insert(v, "keys/blob", &binary_blob());
    pass
}

#[test]
fn pass_store_imports_byte_exact_and_reports_what_it_cannot_read() {
    let v = TestVault::new();
    let pass = pass_store_with_secrets(&v);
    // A secret for someone else's key: gpg cannot decrypt it.
    let stranger = Gnupg::new(&v.dir.path().join("gnupg-other"), "other@example.invalid");
    stranger.encrypt_to(&pass.dir.join("locked.gpg"), b"not for you\n");
    // A link out of the store, a linked folder, and a name coffer cannot hold.
    let outside = v.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(pass.dir.join("email/work.gpg"), outside.join("x.gpg")).unwrap();
    std::os::unix::fs::symlink(outside.join("x.gpg"), pass.dir.join("leak.gpg")).unwrap();
    std::os::unix::fs::symlink(&outside, pass.dir.join("linked")).unwrap();
    std::fs::copy(
        pass.dir.join("trailing.gpg"),
        pass.dir.join("tab\there.gpg"),
    )
    .unwrap();

    let out = pass.import(&v, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("coffer: locked: gpg: decryption failed: No secret key\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "coffer: leak.gpg: is a symbolic link; links in the source are not followed\n"
        ),
        "{err}"
    );
    assert!(err.contains("coffer: linked: is a symbolic link"), "{err}");
    assert!(
        err.contains("coffer: tab\\there.gpg: invalid name: a secret name cannot contain NUL or control characters\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 4, "{err}");
    let text = stdout(&out);
    assert!(text.contains("Imported 5 secrets from pass.\n"), "{text}");
    assert!(
        text.contains("Could not import 4 (see the reasons above).\n"),
        "{text}"
    );

    for (name, _) in PASS_SECRETS {
        assert_eq!(v.show(name), pass.show(&v, name), "{name}");
    }
    assert_eq!(v.show("keys/blob"), binary_blob());
    assert_eq!(pass.show(&v, "keys/blob"), binary_blob());
    let names = files_below(&v.store());
    assert!(
        !names
            .iter()
            .any(|n| n.contains("leak") || n.contains("locked") || n.contains("linked"))
    );
    // Encrypted for coffer's recipients: the real age CLI opens it with coffer's identity.
    assert_eq!(
        v.age_decrypt(&v.identities(), &v.path("email/work")),
        PASS_SECRETS[0].1
    );
}

#[test]
fn pass_import_skips_existing_secrets_until_forced_and_commits_once() {
    let v = TestVault::with_git();
    let pass = pass_store_with_secrets(&v);
    v.insert("email/work", "old password\n");
    let commits_before = v.git_log().len();

    let dry = pass.import(&v, &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let listed = stdout(&dry);
    assert!(
        listed.starts_with("deep/a/b/c\nkeys/blob\ntrailing\n"),
        "{listed}"
    );
    assert!(listed.contains("Would import 4 secrets from pass (dry run; nothing was changed).\n"));
    assert!(listed.contains(
        "Would skip 1 secret already in the store (use -f to overwrite):\n  email/work\n"
    ));
    assert_eq!(v.git_log().len(), commits_before);
    assert!(!v.path("keys/blob").exists());

    let out = pass.import(&v, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "Skipped 1 secret already in the store (use -f to overwrite):\n  email/work\n"
        )
    );
    assert_eq!(v.show("email/work"), b"old password\n");
    assert_eq!(v.show("keys/blob"), binary_blob());
    let log = v.git_log();
    assert_eq!(log.len(), commits_before + 1);
    assert_eq!(log[0], "Import 4 secrets from pass.");
    assert_eq!(
        v.store_git(&["status", "--porcelain"]),
        "",
        "everything imported is committed"
    );

    let forced = pass.import(&v, &["-f"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(v.show("email/work"), PASS_SECRETS[0].1);
    assert_eq!(v.git_log()[0], "Import 5 secrets from pass.");

    let below = pass.import(&v, &["-p", "old/pass"]);
    assert!(below.status.success(), "{}", stderr(&below));
    assert_eq!(v.show("old/pass/deep/a/b/c"), b"no newline at the end");
    assert_eq!(v.show("old/pass/keys/blob"), binary_blob());
}

/// A pass store kept with git: `old/db` and `old/ftp` last changed in 2020 (re-encrypted
/// for a second key by `pass init` since, which changes no value), `fresh` today, and
/// `loose`, a file git does not know, dated 2020 by its file time.
fn pass_store_with_history(v: &TestVault) -> PassStore {
    const OLD: &str = "2020-01-01T12:00:00Z";
    let pass = PassStore::new(v);
    let out = pass.pass(v, &["git", "init"], b"");
    assert!(out.status.success(), "pass git init: {}", stderr(&out));
    pass.insert_dated(
        v,
        "old/db",
        b"Vq7#mZ2!pL9@xR4$wT6\n",
        "2019-06-01T12:00:00Z",
    );
    pass.insert_dated(v, "old/db", b"Kd3%nB8^sF1&yH5*qJ0\n", OLD);
    pass.insert_dated(v, "old/ftp", b"Gm4(tW7)eQ2_zX9+cV5\n", OLD);
    // A second key in the same keyring; `pass init` re-encrypts old/ for both.
    let _second = Gnupg::new(&pass.gpg.home, "second@example.invalid");
    let out = pass.pass(
        v,
        &[
            "init",
            "-p",
            "old",
            "pass-user@example.invalid",
            "second@example.invalid",
        ],
        b"",
    );
    assert!(out.status.success(), "pass init -p old: {}", stderr(&out));
    pass.insert(v, "fresh", b"Pz8&uY3*iO6^lK1%jH4\n");
    std::fs::copy(pass.dir.join("fresh.gpg"), pass.dir.join("loose.gpg")).unwrap();
    let touched = v
        .tool("touch")
        .args(["-m", "-d", OLD])
        .arg(pass.dir.join("loose.gpg"))
        .status()
        .unwrap();
    assert!(touched.success());
    pass
}

/// The names `audit --json` finds stale, and the date of the first.
fn stale(v: &TestVault) -> (Vec<String>, String) {
    let out = v.run(&["audit", "--json"]);
    let json = common::stdout_json(&out);
    let stale: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "stale")
        .collect();
    let names = stale
        .iter()
        .map(|f| f["names"][0].as_str().unwrap().to_owned())
        .collect();
    let date = stale.first().map_or("", |f| f["date"].as_str().unwrap());
    (names, date.to_owned())
}

#[test]
fn pass_import_keeps_the_pass_stores_rotation_dates_with_git() {
    let v = TestVault::with_git();
    let pass = pass_store_with_history(&v);
    let out = pass.import(&v, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.git_log()[0], "Import 4 secrets from pass.");
    let (names, date) = stale(&v);
    assert_eq!(names, ["loose", "old/db", "old/ftp"]);
    assert_eq!(date, "2020-01-01");
    let info = stdout(&v.run(&["info", "old/ftp"]));
    assert!(
        info.contains("Rotated:    2020-01-01 12:00:00 (last change of value, from git history)"),
        "{info}"
    );
    let history = stdout(&v.run(&["history", "old/db"]));
    assert!(history.contains("2020-01-01"), "{history}");

    // A move keeps the date; a new value after the import is today's.
    assert!(v.run(&["mv", "old/db", "moved/db"]).status.success());
    v.insert("old/ftp", "Tb5!rN2@wQ8#mK4$zL7\n");
    let (names, _) = stale(&v);
    assert_eq!(names, ["loose", "moved/db"]);
    let info = stdout(&v.run(&["info", "old/ftp"]));
    assert!(!info.contains("2020-01-01"), "{info}");
}

#[test]
fn pass_import_keeps_the_pass_stores_rotation_dates_as_file_times_without_git() {
    let v = TestVault::new();
    let pass = pass_store_with_history(&v);
    let out = pass.import(&v, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (names, date) = stale(&v);
    assert_eq!(names, ["loose", "old/db", "old/ftp"]);
    assert_eq!(date, "2020-01-01");
    let info = stdout(&v.run(&["info", "old/db"]));
    assert!(
        info.contains("Rotated:    2020-01-01 12:00:00 (last change of value, from file time)"),
        "{info}"
    );
    v.insert("old/db", "Tb5!rN2@wQ8#mK4$zL7\n");
    let (names, _) = stale(&v);
    assert_eq!(names, ["loose", "old/ftp"]);
}

#[test]
fn pass_import_without_a_store_is_one_clear_error() {
    let v = TestVault::new();
    let out = v
        .cmd()
        .args(["import", "pass", "--from", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: cannot read the pass store (give its place with --from DIR): there is nothing at nowhere\n"
    );
    // The default place is ~/.password-store, or $PASSWORD_STORE_DIR.
    let default = v.run(&["import", "pass"]);
    assert!(
        stderr(&default).contains(".password-store"),
        "{}",
        stderr(&default)
    );
    let from_env = v
        .cmd()
        .env("PASSWORD_STORE_DIR", "/nonexistent/elsewhere")
        .args(["import", "pass"])
        .output()
        .unwrap();
    assert!(stderr(&from_env).contains("/nonexistent/elsewhere"));
}

/// A passage store made with the real `age` CLI.
struct PassageStore {
    store: PathBuf,
    identities: PathBuf,
}

impl PassageStore {
    fn new(v: &TestVault) -> Self {
        require_tool("age");
        require_tool("age-keygen");
        let root = v.dir.path().join("passage");
        let store = root.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let identities = root.join("identities");
        let out = v
            .tool("age-keygen")
            .arg("-o")
            .arg(&identities)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let public = v
            .tool("age-keygen")
            .arg("-y")
            .arg(&identities)
            .output()
            .unwrap();
        std::fs::write(store.join(".age-recipients"), &public.stdout).unwrap();
        Self { store, identities }
    }

    fn insert(&self, v: &TestVault, name: &str, content: &[u8], recipients: &Path) {
        let file = self.store.join(format!("{name}.age"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        v.age_encrypt(
            &[OsStr::new("-e"), OsStr::new("-R"), recipients.as_os_str()],
            &file,
            content,
        );
    }
}

#[test]
fn passage_store_imports_in_process_and_is_reencrypted_for_coffer() {
    let v = TestVault::new();
    let passage = PassageStore::new(&v);
    let recipients = passage.store.join(".age-recipients");
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("web/shop", b"shop-pw\nuser: me\n".to_vec()),
        ("ключ/ü x", "значение\n".as_bytes().to_vec()),
        ("team/db/prod", binary_blob()),
    ];
    for (name, content) in &secrets {
        passage.insert(&v, name, content, &recipients);
    }
    // One file for a key this passage user does not hold.
    let other = v.dir.path().join("other-key");
    v.tool("age-keygen").arg("-o").arg(&other).output().unwrap();
    let other_public = v.dir.path().join("other.pub");
    let public = v.tool("age-keygen").arg("-y").arg(&other).output().unwrap();
    std::fs::write(&other_public, public.stdout).unwrap();
    passage.insert(&v, "elsewhere", b"x\n", &other_public);

    let out = v
        .cmd()
        .args(["import", "passage", "--from"])
        .arg(&passage.store)
        .arg("--identities")
        .arg(&passage.identities)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "coffer: elsewhere: no identity matches: the file is encrypted to other recipients\n"
    );
    assert!(stdout(&out).starts_with("Imported 3 secrets from passage.\n"));
    for (name, content) in &secrets {
        assert_eq!(&v.show(name), content, "{name}");
        // Re-encrypted: passage's identity no longer opens coffer's copy.
        let age = v
            .tool("age")
            .args(["-d", "-i"])
            .arg(&passage.identities)
            .arg(v.path(name))
            .output()
            .unwrap();
        assert!(
            !age.status.success(),
            "{name} still readable by the passage key"
        );
    }
    assert!(!v.path("elsewhere").exists());

    // The passage variables are the defaults.
    let again = v
        .cmd()
        .env("PASSAGE_DIR", &passage.store)
        .env("PASSAGE_IDENTITIES_FILE", &passage.identities)
        .args(["import", "passage", "-p", "from-env"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(v.show("from-env/web/shop"), b"shop-pw\nuser: me\n");

    // A wrong identities file is one clear error, before anything is written.
    let bad = v
        .cmd()
        .args(["import", "passage", "-p", "bad", "--from"])
        .arg(&passage.store)
        .args(["--identities", "/nonexistent/ids"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        stderr(&bad),
        "coffer: cannot load the passage identities (give them with --identities FILE): no identities file at /nonexistent/ids\n"
    );
    assert!(!v.store().join("bad").exists());
}

/// Writes `text` as an export in the test folder and returns its path.
fn export(v: &TestVault, file: &str, text: &str) -> PathBuf {
    let path = v.dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn import_csv(v: &TestVault, file: &Path, format: &str, extra: &[&str]) -> Output {
    v.cmd()
        .args(["import", "csv"])
        .arg(file)
        .args(["--format", format])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn bitwarden_export() {
    let v = TestVault::with_git();
    let csv = export(
        &v,
        "bitwarden.csv",
        "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,login_password,login_totp\n\
Social,1,login,Mastodon,\"first line\nsecond, with comma\",,0,https://mastodon.example,alice,\"pa,ss\"\"word\",JBSW Y3DP EHPK 3PXP\n\
,,login,GitHub,,\"Recovery: abc\",0,https://github.com,bob,gh-pass,otpauth://totp/GitHub:bob?secret=ABCDEF&issuer=GitHub\n\
,,note,Wifi,SSID: home,,0,,,,\n",
    );
    let before = std::fs::read(&csv).unwrap();
    let out = import_csv(&v, &csv, "bitwarden", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("Social/Mastodon"),
        b"pa,ss\"word\nuser: alice\nurl: https://mastodon.example\n\
otpauth://totp/Mastodon?secret=JBSWY3DPEHPK3PXP\nfirst line\nsecond, with comma\n"
    );
    assert_eq!(
        v.show("GitHub"),
        b"gh-pass\nuser: bob\nurl: https://github.com\nRecovery: abc\n\
otpauth://totp/GitHub:bob?secret=ABCDEF&issuer=GitHub\n"
    );
    assert_eq!(v.show("Wifi"), b"\nSSID: home\n");
    assert_eq!(v.git_log()[0], "Import 3 secrets from Bitwarden CSV.");
    let text = stdout(&out);
    assert!(
        text.starts_with("Imported 3 secrets from Bitwarden CSV.\n"),
        "{text}"
    );
    assert!(
        text.contains("delete it securely now (for example `shred -u "),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&csv).unwrap(),
        before,
        "the export is never changed"
    );
}

#[test]
fn onepassword_export() {
    let v = TestVault::new();
    let csv = export(
        &v,
        "1password.csv",
        "Title,Url,Username,Password,OTPAuth,Favorite,Archived,Tags,Notes\n\
\"Bank, Inc.\",https://bank.example,carol,\"s3cr3t \"\"x\"\"\",otpauth://totp/Bank?secret=JBSWY3DPEHPK3PXP,false,false,finance,\"Branch 12\nCall first\"\n\
Plain,,,p,,false,false,,\n",
    );
    let out = import_csv(&v, &csv, "1password", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("Bank, Inc."),
        b"s3cr3t \"x\"\nuser: carol\nurl: https://bank.example\ntags: finance\n\
otpauth://totp/Bank?secret=JBSWY3DPEHPK3PXP\nBranch 12\nCall first\n"
    );
    assert_eq!(v.show("Plain"), b"p\n");
}

#[test]
fn keepassxc_export() {
    let v = TestVault::new();
    let csv = export(
        &v,
        "keepassxc.csv",
        "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\n\
\"Root/Email\",\"Mail\",\"dave\",\"pw, \"\"quoted\"\"\",\"https://mail.example\",\"line 1\nline 2\",\"otpauth://totp/Mail:dave?secret=JBSWY3DPEHPK3PXP&period=30&digits=6&issuer=Mail\",\"0\",\"2024-01-01T00:00:00Z\",\"2024-01-01T00:00:00Z\"\n\
\"Root/Recycle Bin\",\"Deleted\",\"\",\"gone\",\"\",\"\",\"\",\"0\",\"\",\"\"\n\
\"Root\",\"Router\",\"admin\",\"r0uter\",\"http://192.168.1.1\",\"\",\"\",\"0\",\"\",\"\"\n",
    );
    let out = import_csv(&v, &csv, "keepassxc", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("Email/Mail"),
        b"pw, \"quoted\"\nuser: dave\nurl: https://mail.example\n\
otpauth://totp/Mail:dave?secret=JBSWY3DPEHPK3PXP&period=30&digits=6&issuer=Mail\nline 1\nline 2\n"
    );
    assert_eq!(
        v.show("Router"),
        b"r0uter\nuser: admin\nurl: http://192.168.1.1\n"
    );
    assert!(stdout(&out).contains("Left out 1 entry in KeePassXC's recycle bin.\n"));
    assert!(!v.store().join("Recycle Bin").exists());
}

#[test]
fn lastpass_export_with_nested_groups_notes_and_duplicates() {
    let v = TestVault::new();
    let csv = export(
        &v,
        "lastpass.csv",
        "url,username,password,totp,extra,name,grouping,fav\n\
https://shop.example,erin,shop-pw,jbsw y3dp ehpk 3pxp,\"likes, commas\",Shop,Personal\\Shopping,0\n\
http://sn,,,,\"NoteType:Server\nHostname:db1\",db1,Ops,0\n\
https://a.example,u1,one,,,Twin,,0\n\
https://b.example,u2,two,,,Twin,,0\n",
    );
    let before = files_below(&v.store());
    let out = import_csv(&v, &csv, "lastpass", &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Personal/Shopping/Shop\nOps/db1\nTwin\nTwin-2\n\
Would import 4 secrets from LastPass CSV (dry run; nothing was changed).\n"
    );
    assert_eq!(files_below(&v.store()), before);
    let out = import_csv(&v, &csv, "lastpass", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("Personal/Shopping/Shop"),
        b"shop-pw\nuser: erin\nurl: https://shop.example\n\
otpauth://totp/Shop?secret=JBSWY3DPEHPK3PXP\nlikes, commas\n"
    );
    assert_eq!(v.show("Ops/db1"), b"\nNoteType:Server\nHostname:db1\n");
    assert_eq!(v.show("Twin"), b"one\nuser: u1\nurl: https://a.example\n");
    assert_eq!(v.show("Twin-2"), b"two\nuser: u2\nurl: https://b.example\n");
}

#[test]
fn generic_export_sanitises_names_predictably() {
    let v = TestVault::new();
    let csv = export(
        &v,
        "generic.csv",
        "folder,name,password,username,url,notes,totp\n\
../../etc,https://site.example/login,pw1,,,,\n\
,.hidden,pw2,,,,\n\
Work,\"two\nlines\",pw3,,,,\n\
Work,,pw4,,,,\n",
    );
    let out = import_csv(&v, &csv, "generic", &["-p", "imported"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("imported/etc/https:--site.example-login"), b"pw1\n");
    assert_eq!(v.show("imported/hidden"), b"pw2\n");
    assert_eq!(v.show("imported/Work/two lines"), b"pw3\n");
    assert_eq!(v.show("imported/Work/untitled"), b"pw4\n");
    assert!(!v.dir.path().join("etc").exists());
    assert!(!v.store().join("etc").exists());
}

#[test]
fn a_malformed_row_names_its_line_and_nothing_is_written() {
    let v = TestVault::new();
    let csv = export(
        &v,
        "broken.csv",
        "name,password,notes\nok,pw,\"multi\nline\"\nbroken,pw\nfine,pw,n\n",
    );
    let before = files_below(&v.store());
    let out = import_csv(&v, &csv, "generic", &[]);
    assert_eq!(out.status.code(), Some(1));
    let path = csv.display().to_string();
    assert_eq!(
        stderr(&out),
        format!(
            "coffer: {path}: line 4: the row has 2 fields where the header has 3; nothing was imported\n"
        )
    );
    assert_eq!(files_below(&v.store()), before);
    // The wrong --format is caught by the header, before anything happens.
    let wrong = import_csv(&v, &csv, "bitwarden", &[]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains(
            "this does not look like a Bitwarden export: it has no \"login_password\" column"
        ),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn csv_existing_secrets_are_skipped_without_force_and_bad_rows_fail_alone() {
    let v = TestVault::new();
    v.insert("Mail", "mine\n");
    let csv = export(
        &v,
        "g.csv",
        "title,password\nMail,imported\nNew,fresh\nBroken,\"line\nbreak\"\n",
    );
    let out = import_csv(&v, &csv, "generic", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: line 4 (Broken): the password has a line break; a pass-format secret keeps the password on line 1\n"
    );
    let text = stdout(&out);
    assert!(
        text.contains("Imported 1 secret from generic CSV.\n"),
        "{text}"
    );
    assert!(
        text.contains("Skipped 1 secret already in the store (use -f to overwrite):\n  Mail\n"),
        "{text}"
    );
    assert_eq!(v.show("Mail"), b"mine\n");
    assert_eq!(v.show("New"), b"fresh\n");
    let forced = import_csv(&v, &csv, "generic", &["-f"]);
    assert_eq!(forced.status.code(), Some(1));
    assert_eq!(v.show("Mail"), b"imported\n");
}

#[test]
fn a_progress_bar_shows_only_on_a_terminal() {
    let v = TestVault::new();
    let mut rows = String::from("name,password\n");
    for i in 0..200 {
        rows.push_str(&format!("site{i},pw{i}\n"));
    }
    let csv = export(&v, "many.csv", &rows);
    // Off a terminal: no bar, no escape sequences (even where TERM says one could draw).
    let piped = v
        .cmd()
        .env("TERM", "xterm")
        .args([
            "import",
            "csv",
            csv.to_str().unwrap(),
            "--format",
            "generic",
            "-p",
            "piped",
        ])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!stderr(&piped).contains("Importing"));
    assert!(!stdout(&piped).contains('\x1b'));
    // On a terminal: the bar is drawn on stderr, then cleared.
    let mut cmd = v.coffer();
    cmd.env("TERM", "xterm").args([
        "import",
        "csv",
        csv.to_str().unwrap(),
        "--format",
        "generic",
    ]);
    let mut session = common::on_terminal(cmd);
    session.exp_string("Importing").unwrap();
    session
        .exp_string("Imported 200 secrets from generic CSV.")
        .unwrap();
    session.exp_eof().unwrap();
    assert_eq!(v.show("site199"), b"pw199\n");
}
