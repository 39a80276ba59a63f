//! git's credential helper: the real `git credential fill|approve|reject` against
//! `coffer git-credential`.

use std::process::Output;

use crate::common::{self, TestVault, output_with_stdin, stderr, stdout};

/// `git credential ACTION` with coffer as the only helper and no terminal prompts.
fn git_credential(v: &TestVault, action: &str, input: &str) -> Output {
    let helper = format!("!{} git-credential", common::coffer_bin().display());
    let mut cmd = v.tool("git");
    cmd.args(["-c", "credential.helper="])
        .args(["-c", &format!("credential.helper={helper}")])
        .args(["credential", action])
        .env("GIT_TERMINAL_PROMPT", "0");
    output_with_stdin(&mut cmd, input.as_bytes())
}

/// The helper itself, as git runs it.
fn helper(v: &TestVault, action: &str, input: &str) -> Output {
    let mut cmd = v.coffer();
    cmd.args(["git-credential", action]);
    output_with_stdin(&mut cmd, input.as_bytes())
}

#[test]
fn fill_finds_the_host_entry_and_prefers_the_users_own() {
    let v = TestVault::new();
    v.insert("git/git.example.com", "host-pass\nlogin: ann\n");
    let out = git_credential(&v, "fill", "protocol=https\nhost=git.example.com\n\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("username=ann\n"), "{text}");
    assert!(text.contains("password=host-pass\n"), "{text}");

    v.insert("git/git.example.com/bob", "bobs-pass\n");
    let out = git_credential(
        &v,
        "fill",
        "protocol=https\nhost=git.example.com\nusername=bob\n\n",
    );
    let text = stdout(&out);
    assert!(
        text.contains("username=bob\npassword=bobs-pass\n"),
        "{text}"
    );
}

#[test]
fn approve_stores_once_and_reject_erases_only_the_refused_password() {
    let v = TestVault::with_git();
    let creds = "protocol=https\nhost=forge.test\nusername=carol\npassword=first-pass\n\n";
    let out = git_credential(&v, "approve", creds);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v.show("git/forge.test/carol"),
        b"first-pass\nusername: carol\n"
    );
    let commits = v.git_log().len();
    // The same value again: nothing to write, nothing to commit.
    git_credential(&v, "approve", creds);
    assert_eq!(v.git_log().len(), commits);

    // A password the server refused, but not the stored one: kept.
    let wrong = "protocol=https\nhost=forge.test\nusername=carol\npassword=other\n\n";
    git_credential(&v, "reject", wrong);
    assert!(v.path("git/forge.test/carol").exists());
    git_credential(&v, "reject", creds);
    assert!(!v.path("git/forge.test/carol").exists());
    assert_eq!(v.git_log()[0], "Remove git/forge.test/carol from store.");
}

#[test]
fn nothing_found_answers_nothing_and_git_moves_on() {
    let v = TestVault::new();
    let out = helper(&v, "get", "protocol=https\nhost=unknown.test\n\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    let out = git_credential(&v, "fill", "protocol=https\nhost=unknown.test\n\n");
    assert!(!out.status.success(), "git had nothing to fill in");
}

#[test]
fn a_locked_vault_without_a_terminal_says_so_and_answers_nothing() {
    let v = TestVault::protected("a passphrase");
    v.insert("git/h.test", "locked-pass\n");
    let mut cmd = v.without_terminal(&["git-credential", "get"]);
    let out = output_with_stdin(&mut cmd, b"protocol=https\nhost=h.test\n\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let v = TestVault::new();
    for input in [
        "protocol=https\nhost=evil.test\nusername=x\npassword=p\rpassword=q\n\n",
        "protocol=https\nhost=../escape\nusername=x\npassword=p\n\n",
        "protocol=https\nhost=ok.test\nusername=a/b\npassword=p\n\n",
        "no equals sign here\n\n",
    ] {
        let out = helper(&v, "store", input);
        assert_eq!(out.status.code(), Some(1), "{input:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("coffer: "), "{}", stderr(&out));
        let out = helper(&v, "get", input);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(stdout(&out), "");
    }
    assert!(!v.store().join("git").exists(), "something was written");
}
