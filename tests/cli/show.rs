//! Reading secrets: show, ls, find, grep, --field, bare `coffer` and `coffer NAME`.

use crate::common::{TestVault, stderr, stdout};

#[test]
fn show_is_byte_exact_for_text_and_binary() {
    let v = TestVault::new();
    v.insert("email/work", "hunter2\nuser: alice\n");
    let binary: Vec<u8> = (0..=255u8).rev().cycle().take(70_000).collect();
    v.insert("keys/blob", &binary);
    v.insert("no-newline", "abc");
    assert_eq!(v.show("email/work"), b"hunter2\nuser: alice\n");
    assert_eq!(v.show("keys/blob"), binary);
    assert_eq!(v.show("no-newline"), b"abc");
    // pass habit: `coffer NAME` is `show NAME`, flags may come after the name.
    let out = v.run(&["email/work", "--field", "user"]);
    assert_eq!(stdout(&out), "alice\n");
}

#[test]
fn fields_and_missing_fields() {
    let v = TestVault::new();
    v.insert("db", "s3cret\nUser: admin\nurl: postgres://h:5432/x\n");
    assert_eq!(
        stdout(&v.run(&["show", "--field", "password", "db"])),
        "s3cret\n"
    );
    assert_eq!(
        stdout(&v.run(&["show", "db", "--field", "user"])),
        "admin\n"
    );
    assert_eq!(
        stdout(&v.run(&["show", "db", "--field", "URL"])),
        "postgres://h:5432/x\n"
    );
    let out = v.run(&["show", "db", "--field", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert_eq!(stderr(&out), "coffer: db has no field \"nope\"\n");
}

#[test]
fn missing_secret_is_one_line_exit_1() {
    let v = TestVault::new();
    let out = v.run(&["show", "nope/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "coffer: nope/x is not in the store.\n");
    assert!(out.stdout.is_empty());
}

#[test]
fn ls_draws_a_tree_with_locale_glyphs() {
    let v = TestVault::new();
    for n in ["email/work", "email/home", "web/shop", "top", "deep/a/b/c"] {
        v.insert(n, "x\n");
    }
    let ascii = stdout(&v.run(&[]));
    assert_eq!(
        ascii,
        "Coffer\n|-- deep\n|   `-- a\n|       `-- b\n|           `-- c\n|-- email\n|   |-- home\n|   `-- work\n|-- top\n`-- web\n    `-- shop\n"
    );
    let utf8 = v.cmd().env("LANG", "C.UTF-8").arg("ls").output().unwrap();
    assert_eq!(
        stdout(&utf8),
        "Coffer\n├── deep\n│   └── a\n│       └── b\n│           └── c\n├── email\n│   ├── home\n│   └── work\n├── top\n└── web\n    └── shop\n"
    );
    // LC_ALL wins over LANG, as in the C library.
    let lc_all = v
        .cmd()
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C")
        .arg("list")
        .output()
        .unwrap();
    assert!(stdout(&lc_all).contains("`-- web"));
    // A folder: header is the folder's name; `show FOLDER` is `ls FOLDER`.
    assert_eq!(
        stdout(&v.run(&["ls", "email"])),
        "email\n|-- home\n`-- work\n"
    );
    assert_eq!(stdout(&v.run(&["email"])), "email\n|-- home\n`-- work\n");
    assert!(!ascii.contains('\x1b'), "no colour off a terminal");
}

#[test]
fn find_prunes_and_keeps_matching_folders_whole() {
    let v = TestVault::new();
    for n in ["email/work", "email/home", "web/shop", "bank/Work-card"] {
        v.insert(n, "x\n");
    }
    let out = stdout(&v.run(&["find", "WORK", "shop"]));
    assert_eq!(
        out,
        "Search Terms: WORK,shop\n|-- bank\n|   `-- Work-card\n|-- email\n|   `-- work\n`-- web\n    `-- shop\n"
    );
    let folder = stdout(&v.run(&["search", "mail"]));
    assert_eq!(
        folder,
        "Search Terms: mail\n`-- email\n    |-- home\n    `-- work\n"
    );
}

#[test]
fn grep_prints_names_and_matching_lines() {
    let v = TestVault::new();
    v.insert("a", "pw1\nuser: alice\nurl: x\n");
    v.insert("b/c", "pw2\nuser: bob\n");
    v.insert("d", "nothing here\n");
    let out = v.run(&["grep", "user:"]);
    assert_eq!(stdout(&out), "a:\nuser: alice\nb/c:\nuser: bob\n");
    assert!(out.status.success());
    assert_eq!(
        stdout(&v.run(&["grep", "-i", "ALICE"])),
        "a:\nuser: alice\n"
    );
    assert_eq!(
        stdout(&v.run(&["grep", "-E", "pw[0-9]$"])),
        "a:\npw1\nb/c:\npw2\n"
    );
    assert_eq!(stdout(&v.run(&["grep", "-F", "u.er"])), "");
    assert_eq!(stdout(&v.run(&["grep", "u.er: b"])), "b/c:\nuser: bob\n");
    let none = v.run(&["grep", "zzz"]);
    assert_eq!(none.status.code(), Some(1));
    let bad = v.run(&["grep", "-E", "("]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).starts_with("coffer: invalid pattern"));
}

#[test]
fn version_and_help_work_without_a_store() {
    let v = TestVault::bare();
    let out = v.run(&["version"]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("coffer "));
    assert!(v.run(&["help"]).status.success());
    assert!(v.run(&["--help"]).status.success());
    assert!(v.run(&["help", "show"]).status.success());
    let ls = v.run(&["ls"]);
    assert_eq!(ls.status.code(), Some(1));
    assert!(stderr(&ls).contains("run `coffer init`"), "{}", stderr(&ls));
}

#[test]
fn a_mistyped_command_is_not_taken_for_a_secret() {
    let v = TestVault::new();
    v.insert("web/shop", "pw\n");
    let out = v.run(&["shwo", "web/shop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert_eq!(
        stderr(&out),
        "coffer: no secret \"shwo\"; did you mean the command \"show\"?\n"
    );
    let out = v.run(&["lst"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: no secret \"lst\"; did you mean the command \"ls\"?\n"
    );
    // Far from every command, it is pass's message for a missing secret.
    let out = v.run(&["nothing-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "coffer: nothing-here is not in the store.\n");
    // A secret or folder by that name is what the user meant.
    v.insert("shwo", "mine\n");
    assert_eq!(stdout(&v.run(&["shwo"])), "mine\n");
    v.insert("lst/a", "x\n");
    let out = v.run(&["lst"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains('a'));
}
