//! git, the pass way: commits with pass's messages, attributes, textconv, a scrubbed env.

use crate::common::{self, TestVault, stderr, stdout};

#[test]
fn git_init_sets_up_the_repository_like_pass() {
    common::require_tool("git");
    let v = TestVault::new();
    v.insert("before", "x\n");
    let out = v.run(&["git", "log"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("try \"coffer git init\""));
    v.cmd().args(["git", "init"]).assert().success();
    assert_eq!(
        std::fs::read_to_string(v.store().join(".gitattributes")).unwrap(),
        "*.age -text -merge diff=age\n"
    );
    assert_eq!(v.store_git(&["config", "core.symlinks"]), "false\n");
    assert_eq!(
        v.store_git(&["config", "diff.age.cachetextconv"]),
        "false\n"
    );
    assert!(
        v.store_git(&["config", "diff.age.textconv"])
            .contains("textconv")
    );
    assert_eq!(
        v.git_log(),
        [
            "Configure git repository for age file diff.",
            "Add current contents of password store."
        ]
    );
    assert!(v.store_git(&["ls-files"]).contains("before.age"));
    assert!(
        !v.store_git(&["ls-files"]).contains(".coffer/lock"),
        "the lock file is not tracked"
    );
}

#[test]
fn every_change_commits_with_pass_messages() {
    let v = TestVault::with_git();
    v.cmd()
        .args(["insert", "-e", "a"])
        .write_stdin("1\n")
        .assert()
        .success();
    v.run(&["generate", "b", "10"]);
    v.run(&["generate", "-i", "b", "10"]);
    v.run(&["cp", "a", "c"]);
    v.run(&["mv", "c", "d"]);
    v.run(&["rm", "-f", "d"]);
    v.run(&["reencrypt"]);
    let log = v.git_log();
    assert_eq!(
        &log[..7],
        [
            "Reencrypt password store.",
            "Remove d from store.",
            "Rename c to d.",
            "Copy a to c.",
            "Replace generated password for b.",
            "Add generated password for b.",
            "Add given password for a to store.",
        ]
    );
    assert!(
        v.store_git(&["status", "--porcelain"]).is_empty(),
        "nothing left uncommitted"
    );
}

#[test]
fn git_diff_shows_plaintext_without_caching_it() {
    let v = TestVault::with_git();
    v.insert("s", "old-value\n");
    v.insert("s", "new-value\n");
    let diff = v.store_git(&["log", "-p", "-1", "--format="]);
    assert!(
        diff.contains("-old-value") && diff.contains("+new-value"),
        "{diff}"
    );
    let refs = v.store_git(&["for-each-ref"]);
    assert!(
        !refs.contains("notes/textconv"),
        "textconv results are not cached: {refs}"
    );
}

#[test]
fn git_passes_arguments_and_exit_codes_through() {
    let v = TestVault::with_git();
    v.insert("s", "x\n");
    let out = v.run(&["git", "log", "--oneline", "-1"]);
    assert!(stdout(&out).contains("Add given password for s to store."));
    let out = v.run(&["git", "rev-parse", "--verify", "no-such-ref"]);
    assert_eq!(out.status.code(), Some(128));
}

#[test]
fn git_environment_from_outside_is_ignored() {
    let v = TestVault::with_git();
    let decoy = v.dir.path().join("decoy");
    std::fs::create_dir(&decoy).unwrap();
    v.tool("git")
        .args(["init", "-q"])
        .arg(&decoy)
        .status()
        .unwrap();
    v.cmd()
        .env("GIT_DIR", decoy.join(".git"))
        .env("GIT_WORK_TREE", &decoy)
        .args(["insert", "-m", "s"])
        .write_stdin("x\n")
        .assert()
        .success();
    assert_eq!(v.git_log()[0], "Add given password for s to store.");
    let decoy_log = v
        .tool("git")
        .arg("-C")
        .arg(&decoy)
        .args(["log"])
        .output()
        .unwrap();
    assert!(
        !decoy_log.status.success(),
        "the decoy repository got no commit"
    );
}
