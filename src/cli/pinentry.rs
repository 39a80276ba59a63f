//! Asking for a passphrase through pinentry, when there is no terminal to ask on (a browser or
//! git started from the desktop): docs/BEHAVIOUR.md §4.
//!
//! pinentry speaks the Assuan protocol on its standard streams: coffer sends `SETTITLE`,
//! `SETDESC` (what is asked for: the identities file), `SETPROMPT` and `GETPIN`; pinentry
//! answers `OK`, `ERR CODE TEXT`, or the passphrase in `D` lines (`%XX`-escaped) then `OK`.
//! The passphrase only ever travels on pinentry's standard output, into zeroizing buffers:
//! never in an argument or the environment.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use zeroize::Zeroizing;

/// gpg-error's "operation cancelled" and "fully cancelled", whatever the error source.
const CANCELLED: [u32; 2] = [99, 198];
/// `GPG_ERR_TIMEOUT`: nobody answered before `SETTIMEOUT` ran out.
const TIMED_OUT: u32 = 62;
/// Assuan lines are at most 1000 bytes; anything far longer is not pinentry.
const MAX_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PinentryError {
    /// The user closed the dialog: what pinentry said.
    #[error("pinentry was cancelled ({0})")]
    Cancelled(String),
    /// Nobody answered the dialog in time.
    #[error("pinentry got no answer within {} seconds", TIMEOUT.as_secs())]
    TimedOut,
    /// pinentry could not ask (no display, not a pinentry, …).
    #[error("pinentry {program} could not ask: {reason}")]
    Failed { program: String, reason: String },
}

/// The pinentry to use: `configured` (`[agent] pinentry`; a bare name is looked up on
/// `PATH`), else `pinentry` on `PATH`.
pub fn find(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(path) if path.components().count() > 1 => Some(path.to_owned()),
        Some(name) => Some(on_path(name).unwrap_or_else(|| name.to_owned())),
        None => on_path(Path::new("pinentry")),
    }
}

fn on_path(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// How long a pinentry dialog waits for an answer before it gives up.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Asks `program` for a passphrase, showing `description`.
pub fn ask(program: &Path, description: &str) -> Result<Zeroizing<String>, PinentryError> {
    let failed = |reason: String| PinentryError::Failed {
        program: program.display().to_string(),
        reason,
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    let result = match (child.stdin.take(), child.stdout.take()) {
        (Some(input), Some(output)) => {
            let mut session = Session { input, output };
            converse(&mut session, description)
        }
        _ => Err(Reply::Broken("its standard streams are missing".into())),
    };
    finish(&mut child, result.is_ok());
    result.map_err(|reply| match reply {
        Reply::Err { code, text } if CANCELLED.contains(&(code & 0xffff)) => {
            PinentryError::Cancelled(text)
        }
        Reply::Err { code, .. } if code & 0xffff == TIMED_OUT => PinentryError::TimedOut,
        Reply::Err { code, text } => failed(format!("ERR {code} {text}")),
        Reply::Broken(reason) => failed(reason),
    })
}

/// Ends pinentry: it leaves by itself once its input closes (after `BYE`); one that went wrong
/// is not waited for.
fn finish(child: &mut Child, ok: bool) {
    if !ok {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// What went wrong in the conversation.
enum Reply {
    Err { code: u32, text: String },
    Broken(String),
}

struct Session {
    input: ChildStdin,
    output: ChildStdout,
}

fn converse(session: &mut Session, description: &str) -> Result<Zeroizing<String>, Reply> {
    session.response(None)?; // the greeting
    session.command("SETTITLE coffer")?;
    session.command(&format!("SETDESC {}", escape(description)))?;
    session.command("SETPROMPT Passphrase:")?;
    // A dialog nobody answers must not hold the command (and the agent's unlock) for ever;
    // a pinentry too old to know SETTIMEOUT simply waits, as before.
    match session.command(&format!("SETTIMEOUT {}", TIMEOUT.as_secs())) {
        Ok(()) | Err(Reply::Err { .. }) => {}
        Err(broken) => return Err(broken),
    }
    session.send("GETPIN")?;
    let mut pin = Zeroizing::new(Vec::new());
    session.response(Some(&mut pin))?;
    let _ = session.send("BYE");
    let pin = std::str::from_utf8(&pin)
        .map_err(|_| Reply::Broken("the passphrase is not UTF-8".into()))?;
    Ok(Zeroizing::new(pin.to_owned()))
}

impl Session {
    fn send(&mut self, line: &str) -> Result<(), Reply> {
        let broken = |e: std::io::Error| Reply::Broken(format!("it stopped listening: {e}"));
        self.input.write_all(line.as_bytes()).map_err(broken)?;
        self.input.write_all(b"\n").map_err(broken)?;
        self.input.flush().map_err(broken)
    }

    fn command(&mut self, line: &str) -> Result<(), Reply> {
        self.send(line)?;
        self.response(None)
    }

    /// Reads lines up to `OK` or `ERR`; `D` lines are decoded into `data` (refused where no
    /// data is expected); status and comment lines are skipped.
    fn response(&mut self, mut data: Option<&mut Zeroizing<Vec<u8>>>) -> Result<(), Reply> {
        loop {
            let line = self.read_line()?;
            let (word, rest) = match line.iter().position(|&b| b == b' ') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (&line[..], &[][..]),
            };
            match word {
                b"OK" => return Ok(()),
                b"ERR" => {
                    let rest = String::from_utf8_lossy(rest);
                    let (code, text) = rest.split_once(' ').unwrap_or((&rest, ""));
                    return Err(Reply::Err {
                        code: code.parse().unwrap_or(0),
                        text: text.trim().to_owned(),
                    });
                }
                b"D" => match data.as_deref_mut() {
                    Some(data) => unescape_into(rest, data)?,
                    None => return Err(Reply::Broken("it sent data unasked".into())),
                },
                b"S" | b"#" => {}
                b"INQUIRE" => return Err(Reply::Broken("it asked a question back".into())),
                _ => return Err(Reply::Broken("it does not speak Assuan".into())),
            }
        }
    }

    /// One line, without its newline, read a byte at a time so that no buffer outside the
    /// zeroizing line holds the passphrase.
    fn read_line(&mut self) -> Result<Zeroizing<Vec<u8>>, Reply> {
        let mut line = Zeroizing::new(Vec::with_capacity(MAX_LINE));
        let mut byte = [0u8; 1];
        loop {
            match self.output.read(&mut byte) {
                Ok(0) => return Err(Reply::Broken("it ended the conversation".into())),
                Ok(_) if byte[0] == b'\n' => return Ok(line),
                Ok(_) if line.len() >= MAX_LINE => {
                    return Err(Reply::Broken("it sent an overlong line".into()));
                }
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Reply::Broken(format!("cannot read its answer: {e}"))),
            }
        }
    }
}

/// Assuan's escaping of a command's argument: `%`, CR, LF and other control characters as
/// `%XX`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes a `D` line's `%XX` escapes onto `out`.
fn unescape_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), Reply> {
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'%' {
            let hex = data
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Reply::Broken("it sent a bad %-escape".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_both_ways() {
        assert_eq!(escape("100% of\nyou"), "100%25 of%0Ayou");
        let mut out = Vec::new();
        assert!(unescape_into(b"a%25b%0Ac", &mut out).is_ok());
        assert_eq!(out, b"a%b\nc");
        assert!(unescape_into(b"bad%2", &mut Vec::new()).is_err());
        assert!(unescape_into(b"bad%zz", &mut Vec::new()).is_err());
    }
}
