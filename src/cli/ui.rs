//! Terminal interaction: prompts, confirmations, colour and the tree drawing of `ls`.

use coffer::sys::text::terminal_safe;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context as _, Result, bail};
use zeroize::Zeroizing;

use coffer::store::TreeNode;

/// Whether standard input is a terminal (pass asks confirmations only then).
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether to colour standard output: only on a terminal, never with `NO_COLOR`.
pub fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether this process has a terminal to ask on (`/dev/tty` opens).
pub fn has_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Asks for a secret on the terminal, without echo. Echo goes off *before* the prompt is
/// shown, so an answer typed the instant the prompt appears is never echoed (a prompt printed
/// first leaves a window in which it is).
pub fn ask_secret(prompt: &str) -> Result<Zeroizing<String>> {
    let no_terminal = "cannot ask on the terminal (no terminal?)";
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context(no_terminal)?;
    let original = rustix::termios::tcgetattr(&tty).context(no_terminal)?;
    let mut silent = original.clone();
    silent.local_modes.remove(rustix::termios::LocalModes::ECHO);
    silent
        .local_modes
        .insert(rustix::termios::LocalModes::ECHONL);
    rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Now, &silent)
        .context(no_terminal)?;
    // Echo comes back however this function ends.
    let _restore = RestoreTerminal {
        tty: &tty,
        original,
    };
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut answer = Zeroizing::new(String::new());
    std::io::BufReader::new(&tty).read_line(&mut answer)?;
    while answer.ends_with('\n') || answer.ends_with('\r') {
        answer.pop();
    }
    Ok(answer)
}

struct RestoreTerminal<'a> {
    tty: &'a std::fs::File,
    original: rustix::termios::Termios,
}

impl Drop for RestoreTerminal<'_> {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            self.tty,
            rustix::termios::OptionalActions::Now,
            &self.original,
        );
    }
}

/// Asks a yes/no question if standard input is a terminal; without one, the answer is yes,
/// as in pass (scripts rely on it).
pub fn confirm(question: &str) -> Result<bool> {
    if !stdin_is_tty() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Like [`confirm`], but a "no" ends the command with exit 1.
pub fn confirm_or_stop(question: &str) -> Result<()> {
    if confirm(question)? {
        Ok(())
    } else {
        bail!("cancelled; nothing was changed")
    }
}

/// Reads one line from standard input (echoed on a terminal), without its newline.
pub fn read_line(prompt: &str) -> Result<Zeroizing<String>> {
    if stdin_is_tty() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin().lock().read_line(&mut line)?;
    if n == 0 {
        bail!("no input on standard input");
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// The error and its causes on one line, each cause once: library errors often include their
/// cause in their own message already, and anyhow's `{:#}` would print it twice.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if parts
            .last()
            .is_some_and(|previous| previous.contains(&text))
        {
            continue;
        }
        parts.push(text);
    }
    // Errors carry names, labels, paths and git's words: data, never terminal instructions.
    terminal_safe(&one_line(&parts.join(": "))).into_owned()
}

/// Folds an error chain onto one line: docs/BEHAVIOUR.md §1.5 promises one line per failure.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The glyphs `tree` uses: box drawing under a UTF-8 locale, ASCII otherwise.
pub struct Glyphs {
    pub tee: &'static str,
    pub last: &'static str,
    pub pipe: &'static str,
    pub blank: &'static str,
}

impl Glyphs {
    pub fn for_locale() -> Self {
        if locale_is_utf8() {
            Self {
                tee: "├── ",
                last: "└── ",
                pipe: "│   ",
                blank: "    ",
            }
        } else {
            Self {
                tee: "|-- ",
                last: "`-- ",
                pipe: "|   ",
                blank: "    ",
            }
        }
    }
}

/// The character set of the locale, found as the C library would: `LC_ALL`, then
/// `LC_CTYPE`, then `LANG`; unset means "C", which is ASCII.
fn locale_is_utf8() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    locale.contains("utf-8") || locale.contains("utf8")
}

const BLUE_BOLD: &str = "\x1b[01;34m";
const RESET: &str = "\x1b[0m";

/// Draws `root`'s children under `header`, as pass shows `tree` output.
pub fn render_tree(header: Option<&str>, root: &TreeNode, color: bool) -> String {
    let glyphs = Glyphs::for_locale();
    let mut out = String::new();
    if let Some(header) = header {
        out.push_str(&terminal_safe(header));
        out.push('\n');
    }
    draw_children(&mut out, root, "", &glyphs, color);
    out
}

fn draw_children(out: &mut String, node: &TreeNode, prefix: &str, g: &Glyphs, color: bool) {
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        out.push_str(prefix);
        out.push_str(if last { g.last } else { g.tee });
        if child.is_folder && color {
            out.push_str(BLUE_BOLD);
            out.push_str(&terminal_safe(&child.name));
            out.push_str(RESET);
        } else {
            out.push_str(&terminal_safe(&child.name));
        }
        out.push('\n');
        if child.is_folder {
            let deeper = format!("{prefix}{}", if last { g.blank } else { g.pipe });
            draw_children(out, child, &deeper, g, color);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(io).context("writing x: disk on fire");
        assert_eq!(error_line(&e), "writing x: disk on fire");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&e), "outer: inner");
    }

    #[test]
    fn errors_fold_to_one_line() {
        assert_eq!(one_line("a\n\n  b: c\n"), "a b: c");
    }
}
