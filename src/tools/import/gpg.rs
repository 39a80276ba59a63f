//! Decrypting pass's `.gpg` files with the user's own `gpg`.
//!
//! gpg runs in batch mode and asks the user's gpg-agent for the key (which may show a
//! pinentry once). The ciphertext goes in on a pipe and the plaintext comes out on another,
//! straight into zeroizing memory: no temporary file, nothing in argv, and gpg never opens a
//! path of ours, so it cannot be tricked into following a link.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::crypto::secret::Plaintext;

/// The program that decrypts: `gpg`, as pass calls it, unless the caller says otherwise.
#[derive(Debug, Clone)]
pub struct Gpg {
    program: OsString,
    /// The terminal for a pinentry, when gpg cannot find one itself (its stdin is our pipe).
    tty: Option<OsString>,
}

impl Default for Gpg {
    fn default() -> Self {
        Self::new("gpg")
    }
}

impl Gpg {
    pub fn new(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
            tty: None,
        }
    }

    /// Tells gpg-agent which terminal to show a pinentry on (`GPG_TTY`), if the user has not.
    pub fn with_tty(mut self, tty: Option<OsString>) -> Self {
        self.tty = tty;
        self
    }

    /// Decrypts one `.gpg` file's content. The error is gpg's own last message (which names
    /// keys, never content), or why gpg could not run.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Plaintext, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["--quiet", "--yes", "--batch", "--decrypt"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("GPG_TTY").is_none()
            && let Some(tty) = &self.tty
        {
            cmd.env("GPG_TTY", tty);
        }
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e}",
                std::path::Path::new(&self.program).display()
            )
        })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot talk to gpg".into());
        };
        let (plaintext, messages) = std::thread::scope(|scope| {
            // gpg may stop reading early (no key): a broken pipe here is not the error to show.
            scope.spawn(move || {
                let _ = stdin.write_all(ciphertext);
            });
            let messages = scope.spawn(move || {
                let mut text = Vec::new();
                let _ = stderr.take(64 * 1024).read_to_end(&mut text);
                text
            });
            let plaintext = read_zeroizing(stdout, ciphertext.len());
            (plaintext, messages.join().unwrap_or_default())
        });
        let status = child
            .wait()
            .map_err(|e| format!("gpg did not finish: {e}"))?;
        if !status.success() {
            return Err(last_message(&messages).unwrap_or_else(|| format!("gpg failed ({status})")));
        }
        plaintext.map_err(|e| format!("cannot read gpg's output: {e}"))
    }
}

/// gpg's last meaningful line, tidied to one printable line.
fn last_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).collect())
}

/// Reads everything into zeroizing memory; growing copies into a fresh zeroizing buffer, so
/// no unwiped copy is left behind (`Vec`'s own growth would leave one).
fn read_zeroizing(mut reader: impl Read, hint: usize) -> std::io::Result<Plaintext> {
    let mut buf = Zeroizing::new(vec![0u8; hint.max(4096)]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            let mut bigger = Zeroizing::new(vec![0u8; buf.len() * 2]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut out = Plaintext::with_capacity(len);
    out.bytes_mut().extend_from_slice(&buf[..len]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_reads_are_exact() {
        let data: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
        let got = read_zeroizing(&data[..], 10).unwrap();
        assert_eq!(got.as_bytes(), &data[..]);
        assert!(read_zeroizing(&b""[..], 0).unwrap().is_empty());
    }

    #[test]
    fn gpg_messages_become_one_line() {
        let err = b"gpg: encrypted with rsa key, ID 1234\n\x1b[1mgpg: decryption failed: No secret key\n\n";
        assert_eq!(
            last_message(err).unwrap(),
            "[1mgpg: decryption failed: No secret key"
        );
        assert_eq!(last_message(b""), None);
    }

    #[test]
    fn a_missing_program_is_a_clear_failure() {
        let err = Gpg::new("/nonexistent/gpg").decrypt(b"x").err().unwrap();
        assert!(err.starts_with("cannot run /nonexistent/gpg"), "{err}");
    }
}
