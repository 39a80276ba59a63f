//! Generated documentation: shell completion scripts and man pages, from the clap definition.
//!
//! `coffer generate-docs DIR` writes `DIR/completions/` and `DIR/man/`; the checked-in copies
//! are produced that way and a test fails when they are stale.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory, ValueEnum};

use super::Cli;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl ShellArg {
    /// The file name a shell looks for.
    fn file_name(self) -> &'static str {
        match self {
            ShellArg::Bash => "coffer.bash",
            ShellArg::Zsh => "_coffer",
            ShellArg::Fish => "coffer.fish",
            ShellArg::Elvish => "coffer.elv",
            ShellArg::Powershell => "_coffer.ps1",
        }
    }
}

/// The shell's registration script: a few lines that ask `coffer` itself for candidates
/// (`COMPLETE=SHELL coffer -- WORDS…`), so secret names are completed live.
fn script(shell: ShellArg) -> Result<Vec<u8>> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        ShellArg::Bash => &Bash,
        ShellArg::Zsh => &Zsh,
        ShellArg::Fish => &Fish,
        ShellArg::Elvish => &Elvish,
        ShellArg::Powershell => &Powershell,
    };
    let mut out = Vec::new();
    completer.write_registration("COMPLETE", "coffer", "coffer", "coffer", &mut out)?;
    if matches!(shell, ShellArg::Zsh) {
        out = zsh_runs_when_autoloaded(&String::from_utf8_lossy(&out)).into_bytes();
    }
    Ok(out)
}

/// clap's zsh script only registers its function, which suits `source`, but not `_coffer` on
/// `fpath`: compinit autoloads the file on the first TAB of each shell and runs its body, which
/// then merely registered the function, so that TAB completed nothing. Autoloaded (the file
/// runs as `_coffer`), the body now also completes; sourced, it registers as before.
fn zsh_runs_when_autoloaded(script: &str) -> String {
    const REGISTER: &str = "compdef _clap_dynamic_completer_coffer coffer\n";
    const REGISTER_OR_RUN: &str = "\
if [[ \"${funcstack[1]}\" == _coffer ]]; then
    _clap_dynamic_completer_coffer \"$@\"
else
    compdef _clap_dynamic_completer_coffer coffer
fi
";
    script.replacen(REGISTER, REGISTER_OR_RUN, 1)
}

pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    use std::io::Write;
    std::io::stdout().lock().write_all(&script(args.shell)?)?;
    Ok(ExitCode::SUCCESS)
}

const ENVIRONMENT: &str = "\
COFFER_DIR: the store (default: ~/.local/share/coffer/store).
COFFER_IDENTITIES_FILE: the identities file (default: ~/.local/share/coffer/identities).
COFFER_CONFIG: the config file (default: ~/.config/coffer/config.toml).
COFFER_RECIPIENTS, COFFER_RECIPIENTS_FILE: recipients that override the store's .age-recipients files.
COFFER_GENERATED_LENGTH: default length of generated passwords (25).
COFFER_CHARACTER_SET, COFFER_CHARACTER_SET_NO_SYMBOLS: characters for generated passwords, in tr syntax.
COFFER_CLIP_TIME: seconds before the clipboard is restored (45).
PASSAGE_DIR, PASSAGE_IDENTITIES_FILE: used when coffer has no store or identities of its own.
VISUAL, EDITOR: the editor for edit. NO_COLOR: never colour output.";

const FILES: &str = "\
STORE/NAME.age: one secret, an age v1 file readable by age -d.
STORE/.age-recipients: who can read the secrets of a folder; the nearest one up the tree applies.
STORE/.gitattributes: keeps git from merging ciphertext.
STORE/.coffer/: vault metadata and the writer lock.
~/.local/share/coffer/identities: your age identities, optionally passphrase-protected.
~/.config/coffer/config.toml: settings.";

const EXIT_STATUS: &str = "\
0: success. 1: failure (not in the store, refused, decryption failed, findings). 2: usage error.
Confirmations are asked only when standard input is a terminal; without one the command proceeds, as in pass.";

fn examples(command: &str) -> &'static str {
    match command {
        "coffer" => {
            "coffer init\ncoffer insert email/work\ncoffer email/work\ncoffer generate -n web/shop 32\ncoffer grep -i user:"
        }
        "init" => {
            "coffer init\ncoffer init -p team age1… ssh-ed25519 AAAA…\ncoffer init -p team ''"
        }
        "ls" => "coffer ls\ncoffer ls email",
        "find" => "coffer find bank mail",
        "show" => "coffer show email/work\ncoffer show email/work --field user",
        "grep" => "coffer grep -i 'user: alice'",
        "insert" => {
            "coffer insert email/work\nprintf 'pw\\nuser: me\\n' | coffer insert -m email/work"
        }
        "edit" => "EDITOR=nano coffer edit email/work",
        "generate" => {
            "coffer generate web/shop 32\ncoffer generate --words 6 disk/luks\ncoffer generate -i web/shop"
        }
        "rm" => "coffer rm email/old\ncoffer rm -r archive",
        "mv" => "coffer mv email/work email/old-work\ncoffer mv web/ archive/",
        "cp" => "coffer cp team/db/prod ops/db/prod",
        "reencrypt" => "coffer reencrypt -p team",
        "git" => "coffer git init\ncoffer git log --oneline",
        "completions" => {
            "coffer completions bash > ~/.local/share/bash-completion/completions/coffer"
        }
        _ => "",
    }
}

fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

fn section(title: &str, body: &str) -> String {
    let mut out = format!(".SH {title}\n");
    for line in body.lines() {
        let line = roff_escape(line);
        if let Some((head, rest)) = line.split_once(": ").filter(|_| title != "EXAMPLES") {
            out.push_str(&format!(".TP\n\\fB{head}\\fR\n{rest}\n"));
        } else if title == "EXAMPLES" {
            out.push_str(&format!(".PP\n.nf\n{line}\n.fi\n"));
        } else {
            out.push_str(&format!(".PP\n{line}\n"));
        }
    }
    out
}

fn man_page(cmd: clap::Command, name: &str) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if name == "coffer" {
        man.render_subcommands_section(&mut out)?;
    }
    let mut extra = String::new();
    extra.push_str(&section("ENVIRONMENT", ENVIRONMENT));
    extra.push_str(&section("FILES", FILES));
    extra.push_str(&section("EXIT STATUS", EXIT_STATUS));
    let examples = examples(name);
    if !examples.is_empty() {
        extra.push_str(&section("EXAMPLES", examples));
    }
    out.extend_from_slice(extra.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(ascii_roff(&String::from_utf8_lossy(&out)).into_bytes())
}

/// groff reads Latin-1 by default: spell every other character as a `\[uXXXX]` escape so
/// the pages render cleanly everywhere.
fn ascii_roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// Writes every completion script and man page under `dir`.
pub fn generate_all(dir: &Path) -> Result<ExitCode> {
    let completions = dir.join("completions");
    let man = dir.join("man");
    for d in [&completions, &man] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    for shell in ShellArg::value_variants() {
        std::fs::write(completions.join(shell.file_name()), script(*shell)?)?;
    }
    let root = Cli::command().version(env!("CARGO_PKG_VERSION"));
    std::fs::write(man.join("coffer.1"), man_page(root.clone(), "coffer")?)?;
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_owned();
        let page_name = format!("coffer-{name}");
        let cmd = sub
            .clone()
            .name(page_name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        std::fs::write(man.join(format!("{page_name}.1")), man_page(cmd, &name)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
