//! Shell completion through real shells: bash, fish and zsh source the checked-in scripts and
//! ask coffer for live secret names. Completion never decrypts: these stores hold no readable
//! secrets at all (files are named, not encrypted).

use crate::common::{self, TestVault, require_tool, stdout};

/// A store with names only: completion must not need to decrypt anything.
fn store_with_names(names: &[&str]) -> TestVault {
    let v = TestVault::bare();
    for name in names {
        let path = v.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"not even age").unwrap();
    }
    v
}

fn script(file: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(file)
        .display()
        .to_string()
}

/// Runs `shell -c code` with coffer on PATH, as an installed coffer would be. Flags (offered
/// alongside values when nothing is typed yet) are left out of the result.
fn shell(v: &TestVault, shell: &str, code: &str) -> Vec<String> {
    let bin_dir = common::coffer_bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = v
        .tool(shell)
        .env("PATH", path)
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .collect();
    lines.sort();
    lines
}

fn bash(v: &TestVault, words: &[&str]) -> Vec<String> {
    let words_array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cword = words.len() - 1;
    let code = format!(
        "source '{}'; COMP_WORDS=({words_array}); COMP_CWORD={cword}; COMP_TYPE=9; \
         _clap_complete_coffer coffer '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script("coffer.bash"),
        words[cword],
        words[cword.saturating_sub(1)]
    );
    shell(v, "bash", &code)
}

fn fish(v: &TestVault, line: &str) -> Vec<String> {
    shell(
        v,
        "fish",
        &format!("source '{}'; complete -C '{line}'", script("coffer.fish")),
    )
}

/// zsh's completion system needs a terminal; this harness stubs `compdef` and `_describe`
/// and calls the registered function with `words` and `CURRENT` set, as zle would.
fn zsh(v: &TestVault, words: &[&str]) -> Vec<String> {
    let words_array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let code = format!(
        "compdef() {{ :; }}; _describe() {{ local arr=$3; local suffix=''; [[ $4 == -S ]] && suffix=$5; \
         for c in \"${{(@P)arr}}\"; do print -r -- \"${{c%%:*}}$suffix\"; done }}; \
         source '{}'; words=({words_array}); CURRENT={}; _clap_dynamic_completer_coffer; true",
        script("_coffer"),
        words.len()
    );
    shell(v, "zsh", &code)
}

#[test]
fn bash_completes_commands_names_and_folders() {
    require_tool("bash");
    let v = store_with_names(&["email/work", "email/home", "web/shop", "top"]);
    assert_eq!(bash(&v, &["coffer", "show", "em"]), ["email/"]);
    assert_eq!(
        bash(&v, &["coffer", "show", "email/"]),
        ["email/home", "email/work"]
    );
    assert_eq!(bash(&v, &["coffer", "rm", "t"]), ["top"]);
    assert_eq!(
        bash(&v, &["coffer", "ls", ""]),
        ["email/", "web/"],
        "ls completes folders only"
    );
    assert!(bash(&v, &["coffer", "gen"]).contains(&"generate".to_owned()));
    // `coffer NAME` is `show NAME`: names are offered where a command is expected.
    assert!(bash(&v, &["coffer", "we"]).contains(&"web/".to_owned()));
    let flags = shell(
        &v,
        "bash",
        &format!(
            "source '{}'; COMP_WORDS=(coffer show --fi); COMP_CWORD=2; _clap_complete_coffer coffer --fi show; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\" | tr - +",
            script("coffer.bash")
        ),
    );
    assert_eq!(flags, ["++field"]);
}

#[test]
fn fish_completes_names_and_flags() {
    require_tool("fish");
    let v = store_with_names(&["email/work", "email/home", "web/shop"]);
    assert_eq!(fish(&v, "coffer show email/"), ["email/home", "email/work"]);
    assert_eq!(fish(&v, "coffer mv web/shop we"), ["web/"]);
    assert_eq!(fish(&v, "coffer show --field us"), ["user", "username"]);
    assert!(fish(&v, "coffer ins").contains(&"insert".to_owned()));
}

#[test]
fn zsh_completes_names() {
    require_tool("zsh");
    let v = store_with_names(&["email/work", "email/home", "web/shop"]);
    assert_eq!(zsh(&v, &["coffer", "show", "email/w"]), ["email/work"]);
    assert_eq!(zsh(&v, &["coffer", "edit", "e"]), ["email/"]);
    assert_eq!(
        zsh(&v, &["coffer", "reencrypt", "-p", ""]),
        ["email/", "web/"]
    );
}

#[test]
fn completion_honours_coffer_dir_and_hides_metadata_and_links() {
    require_tool("fish");
    let v = store_with_names(&["mine"]);
    let other = v.dir.path().join("other-store");
    std::fs::create_dir_all(other.join(".git")).unwrap();
    std::fs::write(other.join("theirs.age"), b"x").unwrap();
    std::fs::write(other.join(".age-recipients"), b"x").unwrap();
    std::os::unix::fs::symlink(v.store(), other.join("linked")).unwrap();
    let bin_dir = common::coffer_bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = v
        .tool("fish")
        .env("PATH", path)
        .env("COFFER_DIR", &other)
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C 'coffer show '",
            script("coffer.fish")
        ))
        .output()
        .unwrap();
    let text = stdout(&out);
    let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('-')).collect();
    assert_eq!(names, ["theirs"]);
}

/// Every candidate fish offers for `line`, flags included, without descriptions.
fn fish_all(v: &TestVault, line: &str) -> Vec<String> {
    let bin_dir = common::coffer_bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = v
        .tool("fish")
        .env("PATH", path)
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C '{line}'",
            script("coffer.fish")
        ))
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect()
}

#[test]
fn completion_offers_canonical_names_and_flags_only_after_a_dash() {
    require_tool("fish");
    let v = store_with_names(&["web/shop"]);
    let top = fish_all(&v, "coffer ");
    for name in ["ls", "insert", "rm", "cp", "mv", "find", "show", "web/"] {
        assert!(top.contains(&name.to_owned()), "{name} in {top:?}");
    }
    for alias in [
        "list", "add", "remove", "delete", "rename", "copy", "search",
    ] {
        assert!(!top.contains(&alias.to_owned()), "{alias} in {top:?}");
    }
    assert!(top.iter().all(|c| !c.starts_with('-')), "{top:?}");
    assert_eq!(fish_all(&v, "coffer show "), ["web/"]);
    let flags = fish_all(&v, "coffer show -");
    for flag in ["--field", "-c", "--store", "-h"] {
        assert!(flags.contains(&flag.to_owned()), "{flag} in {flags:?}");
    }
    // An alias typed out still completes.
    assert_eq!(fish_all(&v, "coffer lis"), ["list"]);
}

#[test]
fn bash_offers_canonical_names_without_flags() {
    require_tool("bash");
    let v = store_with_names(&["web/shop"]);
    let code = format!(
        "source '{}'; COMP_WORDS=(coffer ''); COMP_CWORD=1; COMP_TYPE=9; \
         _clap_complete_coffer coffer '' coffer; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script("coffer.bash")
    );
    let bin_dir = common::coffer_bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = v
        .tool("bash")
        .env("PATH", path)
        .arg("-c")
        .arg(code)
        .output()
        .unwrap();
    let words: Vec<String> = stdout(&out).lines().map(|l| l.trim().to_owned()).collect();
    assert!(words.contains(&"rm".to_owned()), "{words:?}");
    assert!(!words.contains(&"delete".to_owned()), "{words:?}");
    assert!(words.iter().all(|w| !w.starts_with('-')), "{words:?}");
}

/// A real interactive zsh on a pseudo-terminal, with `_coffer` on `fpath` and `compinit` run
/// as a user's `.zshrc` would: the very first TAB of the new shell completes.
#[test]
fn zsh_first_tab_of_a_new_shell_completes() {
    require_tool("zsh");
    let v = store_with_names(&["web/shop"]);
    let zdotdir = v.dir.path().join("zdotdir");
    let fpath_dir = v.dir.path().join("zfunc");
    std::fs::create_dir_all(&zdotdir).unwrap();
    std::fs::create_dir_all(&fpath_dir).unwrap();
    std::fs::copy(script("_coffer"), fpath_dir.join("_coffer")).unwrap();
    std::fs::write(
        zdotdir.join(".zshrc"),
        format!(
            "fpath=('{}' $fpath)\nautoload -Uz compinit\ncompinit -u -d '{}/zcompdump'\nPS1='READY> '\n",
            fpath_dir.display(),
            zdotdir.display()
        ),
    )
    .unwrap();
    let bin_dir = common::coffer_bin().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut zsh = v.tool("zsh");
    zsh.env("PATH", path)
        .env("ZDOTDIR", &zdotdir)
        .env("TERM", "xterm")
        .args(["-d", "-i"]);
    let mut p = common::on_terminal(zsh);
    p.exp_string("READY> ").unwrap();
    p.send("coffer sh").unwrap();
    p.flush().unwrap();
    p.exp_string("coffer sh").unwrap();
    // zle draws only what the TAB added: `sh` becomes `show`.
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("ow").unwrap();
    p.send_control('u').unwrap();
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
}
