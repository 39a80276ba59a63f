//! The checked-in completions/ and man/ are exactly what the clap definition generates.
//! Regenerate with `cargo run -- generate-docs .` when this fails.

use crate::common::{self, TestVault, files_below};

#[test]
fn generated_docs_are_up_to_date() {
    let v = TestVault::bare();
    let out = v.dir.path().join("docs");
    v.cmd().arg("generate-docs").arg(&out).assert().success();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["completions", "man"] {
        let generated = files_below(&out.join(sub));
        let checked_in = files_below(&repo.join(sub));
        assert_eq!(
            generated, checked_in,
            "{sub}/ has other files than generated; run `cargo run -- generate-docs .`"
        );
        for file in generated {
            let a = std::fs::read(out.join(sub).join(&file)).unwrap();
            let b = std::fs::read(repo.join(sub).join(&file)).unwrap();
            assert!(
                a == b,
                "{sub}/{file} is stale; run `cargo run -- generate-docs .`"
            );
        }
    }
}

#[test]
fn man_pages_render_without_warnings() {
    common::require_tool("groff");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for page in files_below(&repo.join("man")) {
        let out = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(repo.join("man").join(&page))
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}");
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_print_for_every_shell() {
    let v = TestVault::bare();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = v.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("coffer"),
            "{shell}"
        );
    }
}

fn readme() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .unwrap()
}

/// The lines of the README's ```sh blocks, the commands a reader copies.
fn readme_sh_lines() -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in readme().lines() {
        if line.trim_start().starts_with("```") {
            inside = line.trim_start() == "```sh";
            continue;
        }
        if inside {
            lines.push(line.to_owned());
        }
    }
    lines
}

fn rust_version() -> String {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
    )
    .unwrap();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

#[test]
fn readme_install_line_says_what_it_needs_and_is_locked() {
    let lines = readme_sh_lines();
    let install = lines
        .iter()
        .find(|l| l.contains("cargo install"))
        .expect("an install line");
    assert!(install.contains("--locked"), "{install}");
    assert!(install.contains("rustup"), "{install}");
    assert!(
        install.contains(&rust_version()),
        "the install line names the minimum Rust, {}: {install}",
        rust_version()
    );
    assert!(
        install.contains("coffer init"),
        "install and quick start are one line"
    );
    let test = lines
        .iter()
        .find(|l| l.contains("cargo test"))
        .expect("a test line");
    assert!(
        test.contains("apt-get update"),
        "a fresh machine has no package lists: {test}"
    );
}

/// As root there may be no sudo at all; as a user it is needed. Every sudo in a command the
/// reader copies is `$(command -v sudo)`, which is empty for root without sudo.
#[test]
fn readme_commands_work_as_root_and_as_a_user() {
    for line in readme_sh_lines() {
        let without = line.replace("$(command -v sudo)", "");
        assert!(
            !without.split_whitespace().any(|w| w == "sudo"),
            "bare sudo in: {line}"
        );
    }
}

/// The completion install lines, run as written in a HOME where nothing exists yet.
#[test]
fn readme_completion_install_lines_work_on_a_fresh_home() {
    let v = TestVault::bare();
    let lines: Vec<String> = readme_sh_lines()
        .into_iter()
        .filter(|l| l.contains("cp completions/"))
        .collect();
    assert_eq!(lines.len(), 3, "bash, zsh and fish: {lines:?}");
    for line in &lines {
        let out = v
            .tool("sh")
            .arg("-c")
            .arg(line)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {}", common::stderr(&out));
    }
    let home = v.home();
    for installed in [
        ".local/share/bash-completion/completions/coffer",
        ".zfunc/_coffer",
        ".config/fish/completions/coffer.fish",
    ] {
        assert!(home.join(installed).is_file(), "{installed}");
    }
}

/// A new user learns, before anything else, where the identity is, that losing it loses
/// every secret, how to back it up, and that it is the one file never to commit.
#[test]
fn readme_says_where_the_identity_is_and_how_to_keep_it() {
    let readme = readme();
    let start = readme
        .find("\n## Your identity")
        .expect("a section on the identity");
    assert!(
        start < readme.find("\n## Commands").unwrap(),
        "it comes before the command reference"
    );
    let section = &readme[start..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    for needed in [
        "~/.local/share/coffer/identities",
        "every secret",
        "back it up",
        "never commit",
        "identities.pub",
    ] {
        assert!(section.contains(needed), "the section says {needed:?}");
    }
}

/// Every `coffer-X(1)` a page refers to exists, and commands with subcommands document each
/// of them on a page of its own.
#[test]
fn every_referenced_man_page_exists() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = files_below(&repo);
    let reference = regex::Regex::new(r"\b(coffer(?:\\-[a-z0-9]+)+)\(1\)").unwrap();
    for page in &pages {
        let text = std::fs::read_to_string(repo.join(page)).unwrap();
        for found in reference.captures_iter(&text) {
            let name = found[1].replace("\\-", "-");
            assert!(
                pages.contains(&format!("{name}.1")),
                "{page} refers to {name}(1), which has no page"
            );
        }
    }
    for leaf in [
        "coffer-import-csv.1",
        "coffer-import-pass.1",
        "coffer-import-dotenv.1",
        "coffer-recipients-add.1",
        "coffer-recipients-rm.1",
        "coffer-recipients-accept.1",
        "coffer-otp-insert.1",
    ] {
        assert!(pages.iter().any(|p| p == leaf), "no page {leaf}");
    }
    // The examples `coffer help run` shows are on coffer-run(1) too.
    let run = std::fs::read_to_string(repo.join("coffer-run.1")).unwrap();
    assert!(
        run.contains(".SH EXAMPLES") && run.contains("coffer run \\-\\-env\\-file"),
        "{run}"
    );
    // The team workflow is in the manual, not only the README.
    let main = std::fs::read_to_string(repo.join("coffer.1")).unwrap();
    assert!(
        main.contains(".SH TEAM WORKFLOW"),
        "coffer(1) lacks the team workflow"
    );
}

/// The README's test command installs every package CI installs: following it on a fresh
/// machine runs the same tests CI does.
#[test]
fn readme_test_line_installs_what_ci_installs() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ci = std::fs::read_to_string(repo.join(".ci/run")).unwrap();
    let install = ci
        .split("apt-get install")
        .nth(1)
        .expect(".ci/run installs packages");
    let packages: Vec<&str> = install
        .split(">/dev/null")
        .next()
        .unwrap()
        .split_whitespace()
        .filter(|w| !w.starts_with('-') && *w != "\\")
        .collect();
    assert!(packages.contains(&"age"), "{packages:?}");
    let test_line = readme_sh_lines()
        .into_iter()
        .find(|l| l.contains("cargo test"))
        .expect("a test command in the README");
    for package in packages {
        assert!(
            test_line.split_whitespace().any(|w| w == package),
            "the README's test command does not install {package}"
        );
    }
}
