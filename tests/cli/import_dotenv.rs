//! `coffer import dotenv`: a .env file moves into the vault and becomes safe to commit.

use crate::common::{TestVault, stderr, stdout};

const DOTENV: &str = "# service settings\nexport DATABASE_PASSWORD=\"correct horse battery\" # prod db\nAPI_TOKEN='tok_abc123456789'\nPORT=8080\nEMPTY=\nALREADY=coffer:shared/key\n";

#[test]
fn migration_end_to_end() {
    let v = TestVault::new();
    v.insert("shared/key", "shared-value\n");
    let env = v.dir.path().join(".env");
    std::fs::write(&env, DOTENV).unwrap();
    let out = v.run(&[
        "import",
        "dotenv",
        ".env",
        "--prefix",
        "svc/dev",
        "--rewrite",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Imported 3 secrets into svc/dev: API_TOKEN, DATABASE_PASSWORD, PORT\nRewrote .env: its values are now coffer: references.\n"
    );
    assert!(
        stderr(&out).contains("EMPTY (line 5): empty"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        v.show("svc/dev/DATABASE_PASSWORD"),
        b"correct horse battery\n"
    );
    assert_eq!(v.show("svc/dev/API_TOKEN"), b"tok_abc123456789\n");
    // Comments, export and untouched values stay; nothing secret is left.
    let rewritten = std::fs::read_to_string(&env).unwrap();
    assert_eq!(
        rewritten,
        "# service settings\nexport DATABASE_PASSWORD=coffer:svc/dev/DATABASE_PASSWORD # prod db\nAPI_TOKEN=coffer:svc/dev/API_TOKEN\nPORT=coffer:svc/dev/PORT\nEMPTY=\nALREADY=coffer:shared/key\n"
    );
    assert!(v.run(&["scan", ".env"]).status.success());
    // The program sees exactly what it saw before.
    let out = v.run(&[
        "run",
        "--env-file",
        ".env",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s|%s' \"$DATABASE_PASSWORD\" \"$API_TOKEN\" \"$PORT\" \"$ALREADY\"",
    ]);
    assert_eq!(
        stdout(&out),
        "correct horse battery|tok_abc123456789|8080|shared-value"
    );
}

#[test]
fn existing_secrets_are_not_overwritten_without_force() {
    let v = TestVault::new();
    v.insert("svc/API_TOKEN", "old-token\n");
    std::fs::write(
        v.dir.path().join(".env"),
        "API_TOKEN=new-token\nOTHER=other-value\n",
    )
    .unwrap();
    let out = v.run(&["import", "dotenv", ".env", "--prefix", "svc"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: svc/API_TOKEN already exists; nothing was imported. Use -f to overwrite\n"
    );
    assert_eq!(v.show("svc/API_TOKEN"), b"old-token\n");
    assert!(!v.path("svc/OTHER").exists());
    let out = v.run(&["import", "dotenv", ".env", "--prefix", "svc", "-f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v.show("svc/API_TOKEN"), b"new-token\n");
    assert_eq!(v.show("svc/OTHER"), b"other-value\n");
    // Without --rewrite the file is left alone, with a reminder.
    assert!(stderr(&out).contains(".env still holds the values"));
    assert_eq!(
        std::fs::read_to_string(v.dir.path().join(".env")).unwrap(),
        "API_TOKEN=new-token\nOTHER=other-value\n"
    );
}

#[test]
fn syntax_errors_name_the_line_and_import_nothing() {
    let v = TestVault::new();
    std::fs::write(
        v.dir.path().join(".env"),
        "GOOD=value-one\nBAD LINE with-secret-words\n",
    )
    .unwrap();
    let out = v.run(&["import", "dotenv", ".env", "--prefix", "svc"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("coffer: .env: line 2: "), "{err}");
    assert!(!err.contains("with-secret-words"));
    assert!(!v.path("svc/GOOD").exists());
    let missing = v.run(&["import", "dotenv", "nope.env", "--prefix", "svc"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).starts_with("coffer: cannot read nope.env"));
    let usage = v.run(&["import", "dotenv", ".env"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn multiline_values_stay_in_the_file_with_a_note() {
    let v = TestVault::new();
    let env = v.dir.path().join(".env");
    std::fs::write(
        &env,
        "KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nTOKEN=abcdefgh12\n",
    )
    .unwrap();
    let out = v.run(&["import", "dotenv", ".env", "--prefix", "p", "--rewrite"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("KEY (line 1): multi-line values cannot be referenced"));
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        "KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nTOKEN=coffer:p/TOKEN\n"
    );
    assert!(!v.path("p/KEY").exists());
}

#[test]
fn a_tracked_file_warns_about_history() {
    let v = TestVault::new();
    let project = v.dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join(".env"), "TOKEN=abcdefgh12\n").unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", ".env"],
        &["commit", "-qm", "env"],
    ] {
        assert!(
            v.tool("git")
                .args(args)
                .current_dir(&project)
                .status()
                .unwrap()
                .success()
        );
    }
    let out = v.run(&[
        "import",
        "dotenv",
        "project/.env",
        "--prefix",
        "p",
        "--rewrite",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "project/.env is tracked by git, so its old values remain in the repository's history"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(project.join(".env")).unwrap(),
        "TOKEN=coffer:p/TOKEN\n"
    );
}

#[test]
fn rewrite_keeps_the_mode_and_refuses_a_link_before_importing() {
    use std::os::unix::fs::PermissionsExt;
    let v = TestVault::new();
    let env = v.dir.path().join(".env");
    std::fs::write(&env, "KEY=value-one\n").unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = v.run(&["import", "dotenv", ".env", "--prefix", "a", "--rewrite"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&env).unwrap(), "KEY=coffer:a/KEY\n");
    let mode = std::fs::metadata(&env).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    let shared = v.dir.path().join("shared.env");
    std::fs::write(&shared, "OTHER=value-two\n").unwrap();
    let link = v.dir.path().join("link.env");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    let out = v.run(&["import", "dotenv", "link.env", "--prefix", "b", "--rewrite"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "coffer: link.env is a symbolic link; coffer never writes through a link\n"
    );
    assert_eq!(
        std::fs::read_to_string(&shared).unwrap(),
        "OTHER=value-two\n"
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(
        !v.run(&["show", "b/OTHER"]).status.success(),
        "nothing imported"
    );
}
