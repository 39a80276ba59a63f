//! Generated documentation: shell completion scripts and man pages, from the clap definition.
//!
//! `coffer generate-docs DIR` writes `DIR/completions/` and `DIR/man/`; the checked-in copies
//! are produced that way and a test fails when they are stale.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

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

/// How a team shares a vault, for coffer(1): the workflow the README walks through.
const TEAM_WORKFLOW: &str = "\
Alice starts a vault and shares it: coffer init --git; coffer git remote add origin URL; coffer sync.
Bob joins: coffer clone URL, which makes his identity and prints the recipient line to send to Alice.
Alice lets Bob in: coffer recipients add -p team --label bob age1...; coffer sync. The folder's secrets are re-encrypted for both.
Bob syncs and reads: coffer sync; coffer show team/db. A change that only adds him is approved on his device at once.
Someone changes a recipients file behind your back: every command that would encrypt there stops and names who was added or removed, until coffer recipients accept after checking.
Someone leaves: coffer recipients rm -p team bob re-encrypts the folder and marks what Bob could read as exposed; coffer audit lists those until their values change.
Two people edit at once: coffer sync stops on the conflict and keeps both versions; coffer sync --resolve NAME --ours|--theirs finishes it, and the other side stays readable with coffer show NAME --revision REF.";

fn examples(command: &str) -> &'static str {
    match command {
        "coffer" => {
            "coffer init\ncoffer insert email/work\ncoffer email/work\ncoffer generate -n web/shop 32\ncoffer grep -i user:\ncoffer help run"
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
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    // A line starting with a dot or a quote would be read as a request.
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// A command's own help text after its options (`after_help`), as it prints: its examples
/// and notes, kept line for line.
fn verbatim_section(title: &str, body: &str) -> String {
    let mut out = format!(".SH {title}\n.nf\n");
    for line in body.lines() {
        out.push_str(&roff_escape(line));
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
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
    let after_help = cmd.get_after_help().map(ToString::to_string);
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if has_subcommands {
        man.render_subcommands_section(&mut out)?;
    }
    let mut extra = String::new();
    if let Some(text) = after_help.filter(|_| name != "coffer") {
        let title = if text.contains("Example") {
            "EXAMPLES"
        } else {
            "NOTES"
        };
        extra.push_str(&verbatim_section(title, &text));
    }
    if name == "coffer" {
        extra.push_str(&section("TEAM WORKFLOW", TEAM_WORKFLOW));
    }
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
    // `coffer help COMMAND` is clap's: its pages are the commands' own, so no `help` page is
    // listed (coffer(1)'s examples say how to ask for help).
    // The pages walk the tree without parsing: every command's arguments must be in it.
    let root = super::full_command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    std::fs::write(man.join("coffer.1"), man_page(root.clone(), "coffer")?)?;
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(&man, sub, "coffer", sub.get_name())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `PARENT-NAME.1` for `sub`, then a page for each of its own subcommands
/// (`coffer-import-csv(1)`), so every command a user can type has its page.
fn write_pages(man: &Path, sub: &clap::Command, parent: &str, examples_key: &str) -> Result<()> {
    let page_name = format!("{parent}-{}", sub.get_name());
    let cmd = sub
        .clone()
        .name(page_name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true);
    std::fs::write(
        man.join(format!("{page_name}.1")),
        man_page(cmd, examples_key)?,
    )?;
    for child in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
        let key = format!("{examples_key} {}", child.get_name());
        write_pages(man, child, &page_name, &key)?;
    }
    Ok(())
}
