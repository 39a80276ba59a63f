//! init: identities, recipients, sub-folders, passphrases, git; places and precedence.

use crate::common::{self, TestVault, stderr, stdout};
use std::os::unix::fs::PermissionsExt;

#[test]
fn init_creates_store_identity_and_recipients() {
    let v = TestVault::bare();
    let out = v.run(&["init", "--no-passphrase"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = std::fs::read_to_string(v.identities()).unwrap();
    assert!(id.contains("AGE-SECRET-KEY-1"));
    let recipient = v.recipient();
    assert!(stdout(&out).contains(&recipient));
    assert_eq!(
        std::fs::read_to_string(v.store().join(".age-recipients")).unwrap(),
        format!("{recipient}\n")
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&v.identities()), 0o600);
    assert_eq!(mode(v.identities().parent().unwrap()), 0o700);
    assert_eq!(mode(&v.store()), 0o700);
    // A second init keeps the identity and rewrites nothing surprising.
    v.cmd().args(["init"]).assert().success();
    assert_eq!(std::fs::read_to_string(v.identities()).unwrap(), id);
}

#[test]
fn init_with_passphrase_fd_protects_the_identity() {
    let v = TestVault::protected("correct horse");
    let id = std::fs::read_to_string(v.identities()).unwrap();
    assert!(id.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{id}");
    assert!(!id.contains("AGE-SECRET-KEY"));
    assert!(age_header(&id).contains(" 18\n"), "scrypt work factor 18");
    // Encrypting needs no passphrase (the public half is kept beside the identity), and the
    // lockout guard still knows who you are.
    let public = std::fs::read_to_string(v.identities().with_extension("pub")).unwrap();
    assert!(public.starts_with("age1"), "{public}");
    v.insert("x", "value\n");
    let stranger = age::x25519::Identity::generate().to_public().to_string();
    v.cmd()
        .args(["init", "-p", "theirs", &stranger])
        .assert()
        .success();
    let locked_out = v
        .cmd()
        .args(["insert", "-m", "theirs/y"])
        .write_stdin("z")
        .output()
        .unwrap();
    assert_eq!(locked_out.status.code(), Some(1));
    assert!(
        stderr(&locked_out).contains("none of your identities"),
        "{}",
        stderr(&locked_out)
    );
    // Decrypting without a terminal fails at once, cleanly.
    let out = v.without_terminal(&["show", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the vault is locked; run coffer unlock"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // The real age CLI opens the identity file with the passphrase (checked in tty.rs
    // through a terminal); here, a wrong passphrase on an empty fd is refused.
    let other = TestVault::bare();
    let out = other
        .with_fd3(&["init", "--passphrase-fd", "3"], "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("passphrase is empty"),
        "{}",
        stderr(&out)
    );
    assert!(!other.identities().exists());
}

#[test]
fn init_without_terminal_or_flag_refuses_to_guess() {
    let v = TestVault::bare();
    let out = v.without_terminal(&["init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--passphrase-fd"), "{}", stderr(&out));
    assert!(!v.identities().exists());
}

fn age_header(armored: &str) -> String {
    use base64::Engine;
    let body: String = armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let end = bytes.windows(4).position(|w| w == b"\n---").unwrap();
    String::from_utf8_lossy(&bytes[..end + 1]).into_owned()
}

#[test]
fn init_sub_folder_with_given_recipients_and_removal() {
    let v = TestVault::with_git();
    v.insert("team/db", "pw\n");
    let other = age::x25519::Identity::generate();
    let other_pub = other.to_public().to_string();
    let me = v.recipient();
    let out = v.run(&["init", "-p", "team", &me, &other_pub]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(v.store().join("team/.age-recipients")).unwrap(),
        format!("{me}\n{other_pub}\n")
    );
    let ct = std::fs::read(v.path("team/db")).unwrap();
    assert_eq!(
        age::decrypt(&other, &ct).unwrap(),
        b"pw\n",
        "re-encrypted for the new set"
    );
    assert_eq!(
        v.git_log()[0],
        format!("Set age recipients to {me}, {other_pub} (team).")
    );
    // A single empty recipient removes the folder's file; the root's apply again.
    v.cmd().args(["init", "-p", "team", ""]).assert().success();
    assert!(!v.store().join("team/.age-recipients").exists());
    let ct = std::fs::read(v.path("team/db")).unwrap();
    assert!(
        age::decrypt(&other, &ct).is_err(),
        "no longer readable by the removed set"
    );
    assert_eq!(v.show("team/db"), b"pw\n");
}

#[test]
fn init_refuses_bad_recipients_and_identities_in_the_store() {
    let v = TestVault::new();
    let out = v.run(&["init", "-p", "x", "AGE-SECRET-KEY-1QQQQ"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!v.store().join("x").exists());
    let inside = v.store().join("ids");
    let out = v
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &inside)
        .args(["init", "--no-passphrase"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("inside the store"),
        "{}",
        stderr(&out)
    );
    assert!(!inside.exists());
}

#[test]
fn places_follow_flag_env_config_default() {
    let v = TestVault::new();
    v.insert("default-one", "d\n");
    let alt = v.dir.path().join("alt");
    v.cmd()
        .env("COFFER_DIR", &alt)
        .args(["init"])
        .assert()
        .success();
    v.cmd()
        .env("COFFER_DIR", &alt)
        .args(["insert", "-m", "env-one"])
        .write_stdin("e\n")
        .assert()
        .success();
    assert!(alt.join("env-one.age").exists());
    let cfg_store = v.dir.path().join("cfg");
    let config = v.home().join(".config/coffer/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("store = '{}'\n", cfg_store.display())).unwrap();
    v.cmd().args(["init"]).assert().success();
    assert!(
        cfg_store.join(".age-recipients").exists(),
        "config store used"
    );
    // flag > env > config
    let flag = v
        .cmd()
        .env("COFFER_DIR", &alt)
        .arg("--store")
        .arg(v.store())
        .arg("ls")
        .output()
        .unwrap();
    assert!(stdout(&flag).contains("default-one"));
    let env = v.cmd().env("COFFER_DIR", &alt).arg("ls").output().unwrap();
    assert!(stdout(&env).contains("env-one"));
    std::fs::write(&config, "stor = 'typo'\n").unwrap();
    let typo = v.run(&["ls"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(stderr(&typo).contains("config.toml"), "{}", stderr(&typo));
}

#[test]
fn an_existing_passage_store_is_used_in_place() {
    common::require_tool("age");
    common::require_tool("age-keygen");
    let v = TestVault::bare();
    let passage = v.home().join(".passage");
    std::fs::create_dir_all(passage.join("store/web")).unwrap();
    let keygen = v
        .tool("age-keygen")
        .arg("-o")
        .arg(passage.join("identities"))
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let recipient = String::from_utf8_lossy(&keygen.stderr)
        .trim()
        .trim_start_matches("Public key: ")
        .to_owned();
    std::fs::write(
        passage.join("store/.age-recipients"),
        format!("{recipient}\n"),
    )
    .unwrap();
    let mut age = v
        .tool("age")
        .args(["-e", "-r", &recipient, "-o"])
        .arg(passage.join("store/web/site.age"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(age.stdin.as_mut().unwrap(), b"from passage\n").unwrap();
    assert!(age.wait().unwrap().success());
    assert_eq!(v.show("web/site"), b"from passage\n");
    // PASSAGE_DIR is honoured too.
    let moved = v.dir.path().join("elsewhere");
    std::fs::rename(passage.join("store"), &moved).unwrap();
    let out = v
        .cmd()
        .env("PASSAGE_DIR", &moved)
        .args(["show", "web/site"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "from passage\n");
}

/// Whether `text` is a whole identities file as `init --no-passphrase` writes it: it parses,
/// holds one identity, and that identity's public key is the one the header announces.
fn is_whole_identity_file(text: &str) -> bool {
    let announced = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .map(str::to_owned);
    let Ok(file) = age::IdentityFile::from_buffer(text.as_bytes()) else {
        return false;
    };
    let key = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|l| l.parse::<age::x25519::Identity>().ok());
    let identities = file.into_identities().map(|ids| ids.len()).unwrap_or(0);
    text.ends_with('\n')
        && identities == 1
        && key.is_some_and(|k| Some(k.to_public().to_string()) == announced)
}

/// Kills `coffer init --no-passphrase` at every call of each file-writing system call in
/// turn (strace's fault injection: the Nth `write`, the Nth `fsync`, the Nth rename…), so the
/// kill lands on every step of writing the identity, not just near it. After each kill the
/// identities file is absent or whole (never empty or torn, which would lock the user out of
/// every secret), and the next `init` works.
#[test]
fn killing_init_at_any_step_never_leaves_a_torn_identity() {
    use std::os::unix::process::ExitStatusExt;
    common::require_tool("strace");
    let syscalls = [
        "openat",
        "mkdir",
        "mkdirat",
        "write",
        "fsync",
        "renameat",
        "renameat2",
        "linkat",
    ];
    let (mut killed, mut killed_with_a_temporary, mut killed_after_the_identity) = (0, 0, 0);
    for syscall in syscalls {
        for nth in 1.. {
            assert!(
                nth < 400,
                "init never finished under injection into {syscall}"
            );
            let v = TestVault::bare();
            let out = v
                .tool("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={syscall}"))
                .arg("-e")
                .arg(format!("inject={syscall}:signal=KILL:when={nth}"))
                .arg(common::coffer_bin())
                .args(["init", "--no-passphrase"])
                .output()
                .unwrap();
            let at = format!("killed at {syscall} #{nth}");
            if out.status.success() {
                assert!(is_whole_identity_file(
                    &std::fs::read_to_string(v.identities()).unwrap()
                ));
                break;
            }
            assert_eq!(out.status.signal(), Some(9), "{at}: {}", stderr(&out));
            killed += 1;
            let data_dir = v.identities().parent().unwrap().to_owned();
            let temporaries: Vec<String> = std::fs::read_dir(&data_dir)
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().into_string().unwrap())
                        .filter(|n| n.starts_with(".identities.") && n.ends_with(".tmp"))
                        .collect()
                })
                .unwrap_or_default();
            if !temporaries.is_empty() {
                killed_with_a_temporary += 1;
            }
            match std::fs::read(v.identities()) {
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{at}"),
                Ok(bytes) => {
                    killed_after_the_identity += 1;
                    let text = String::from_utf8(bytes).unwrap();
                    assert!(
                        is_whole_identity_file(&text),
                        "{at}: torn identity {text:?}"
                    );
                    let mode = std::fs::metadata(v.identities())
                        .unwrap()
                        .permissions()
                        .mode();
                    assert_eq!(mode & 0o777, 0o600, "{at}");
                }
            }
            // Whatever the kill left, the next init gives a usable vault.
            let again = v.run(&["init", "--no-passphrase"]);
            assert!(again.status.success(), "{at}: {}", stderr(&again));
            let text = std::fs::read_to_string(v.identities()).unwrap();
            assert!(is_whole_identity_file(&text), "{at}: after a second init");
            let left: Vec<String> = std::fs::read_dir(&data_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with(".identities.") && n.ends_with(".tmp"))
                .collect();
            assert!(
                left.is_empty(),
                "{at}: the killed run's temporary stays: {left:?}"
            );
        }
    }
    // The kills did land inside the write: some left a temporary but no identity,
    // some came after it was in place.
    assert!(
        killed_with_a_temporary > 0,
        "no kill landed mid-write ({killed} kills)"
    );
    assert!(
        killed_after_the_identity > 0,
        "no kill came after the identity ({killed} kills)"
    );
}

/// Without a git identity, `init --git` says what git needs before creating anything, in
/// git's own words; a later failure takes back what the command created.
#[test]
fn init_git_without_a_git_identity_creates_nothing() {
    let v = TestVault::bare();
    // git may not guess an identity from the host name: it must be configured.
    std::fs::write(
        v.home().join(".gitconfig"),
        "[user]\n\tuseConfigOnly = true\n",
    )
    .unwrap();
    let mut cmd = v.coffer();
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(["init", "--git", "--no-passphrase"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nothing was created"), "{err}");
    // git's advice, whole: what to run, not only its last line.
    assert!(err.contains("git config --global user.email"), "{err}");
    assert!(!v.identities().exists(), "an identity was left behind");
    assert!(!v.store().exists(), "a store was left behind");

    // A failure after the identity and the store were created takes both back.
    let v = TestVault::bare();
    let out = v
        .cmd()
        .args(["init", "--no-passphrase", "not-a-recipient"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!v.identities().exists(), "an identity was left behind");
    assert!(!v.store().exists(), "a store was left behind");
    // One that existed before is never touched.
    let v = TestVault::new();
    let before = std::fs::read(v.identities()).unwrap();
    let out = v.cmd().args(["init", "-p", "x", "bad"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(v.identities()).unwrap(), before);
    assert!(v.store().exists());
}
