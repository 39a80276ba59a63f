//! Decrypted secret content and the pass conventions for reading it.
//!
//! [`Plaintext`] is the only type that holds decrypted bytes. It zeroizes on drop and has no
//! `Debug` or `Display`, so it cannot end up in a log or an error message by accident.

use zeroize::{Zeroize, Zeroizing};

/// Decrypted secret bytes, wiped from memory when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// An empty buffer that can grow to `capacity` without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::new(Vec::with_capacity(capacity))
    }

    /// The buffer itself, for filling in place.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The lines of the content, without their `\n` (or `\r\n`).
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let body = self.0.strip_suffix(b"\n").unwrap_or(&self.0);
        let mut lines = body.split(|&b| b == b'\n');
        // An empty secret has no lines at all, not one empty line.
        let empty = self.0.is_empty();
        std::iter::from_fn(move || if empty { None } else { lines.next() })
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
    }

    /// Line `n`, counting from 1 as pass does.
    pub fn line(&self, n: usize) -> Option<&[u8]> {
        self.lines().nth(n.checked_sub(1)?)
    }

    /// The password: line 1.
    pub fn password(&self) -> &[u8] {
        self.line(1).unwrap_or_default()
    }

    /// The value of a `key: value` field (key matched case-insensitively), or line 1 for
    /// `password` when no such field exists.
    pub fn field(&self, key: &str) -> Option<&[u8]> {
        let found = self
            .fields()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()));
        match found {
            Some((_, v)) => Some(v),
            None if key.eq_ignore_ascii_case("password") => Some(self.password()),
            None => None,
        }
    }

    /// The `key: value` fields after line 1, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines().skip(1).filter_map(parse_field)
    }

    /// The first `otpauth://` line, if any.
    pub fn otpauth(&self) -> Option<&[u8]> {
        self.lines().find(|l| l.starts_with(b"otpauth://"))
    }

    /// The content with line 1 replaced by `password`, keeping the rest byte-exact.
    pub fn with_password(&self, password: &[u8]) -> Plaintext {
        let rest = match self.0.iter().position(|&b| b == b'\n') {
            Some(i) => &self.0[i..],
            None => &b"\n"[..],
        };
        let mut out = Vec::with_capacity(password.len() + rest.len());
        out.extend_from_slice(password);
        out.extend_from_slice(rest);
        Plaintext::new(out)
    }
}

impl From<Vec<u8>> for Plaintext {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl Zeroize for Plaintext {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// A growing buffer of secret bytes that leaves no copy behind: when it needs more room it
/// moves itself to a larger zeroizing buffer (wiping the old one) instead of letting `Vec`
/// reallocate, which would free the old bytes as they are.
#[derive(Default)]
pub struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// Makes room for `extra` more bytes.
    pub fn reserve(&mut self, extra: usize) {
        if self.0.capacity() - self.0.len() >= extra {
            return;
        }
        let wanted = (self.0.len() + extra).max(self.0.capacity() * 2);
        let mut bigger = Zeroizing::new(Vec::with_capacity(wanted));
        bigger.extend_from_slice(&self.0);
        // The old buffer is wiped as it is dropped here.
        self.0 = bigger;
    }

    /// Appends `bytes`.
    pub fn put(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    /// Appends `n` zero bytes and returns them, to be filled in place.
    pub fn put_zeros(&mut self, n: usize) -> &mut [u8] {
        self.reserve(n);
        let start = self.0.len();
        self.0.resize(start + n, 0);
        &mut self.0[start..]
    }

    /// Wipes the bytes and empties the buffer, keeping its room.
    pub fn clear(&mut self) {
        self.0.zeroize();
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// How many bytes it holds without growing (growing copies, and wipes the old room).
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits `key: value`; a key is a non-empty run without spaces before the colon, so that
/// ordinary notes ("Remember: change it") are not mistaken for fields.
fn parse_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.starts_with(b"otpauth://") {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let key = &line[..colon];
    if key.is_empty() || key.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let value = &line[colon + 1..];
    let value = value.strip_prefix(b" ").unwrap_or(value);
    Some((key, value.trim_ascii()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Plaintext {
        Plaintext::new(s.as_bytes().to_vec())
    }

    #[test]
    fn pass_conventions() {
        let s = p(
            "hunter2\nuser: alice\nURL: https://x.test/a:b\nnotes here\notpauth://totp/x?secret=AB\n",
        );
        assert_eq!(s.password(), b"hunter2");
        assert_eq!(s.field("user").unwrap(), b"alice");
        assert_eq!(s.field("url").unwrap(), b"https://x.test/a:b");
        assert_eq!(s.field("password").unwrap(), b"hunter2");
        assert!(s.field("missing").is_none());
        assert_eq!(s.otpauth().unwrap(), b"otpauth://totp/x?secret=AB");
        assert_eq!(s.line(4).unwrap(), b"notes here");
        assert!(s.line(0).is_none());
    }

    #[test]
    fn explicit_password_field_wins_and_crlf_is_trimmed() {
        let s = p("line1\r\npassword: other\r\n");
        assert_eq!(s.password(), b"line1");
        assert_eq!(s.field("Password").unwrap(), b"other");
    }

    #[test]
    fn replacing_line_one_keeps_the_rest() {
        assert_eq!(
            p("old\nuser: a\n").with_password(b"new").as_bytes(),
            b"new\nuser: a\n"
        );
        assert_eq!(p("old").with_password(b"new").as_bytes(), b"new\n");
        assert_eq!(p("").with_password(b"new").as_bytes(), b"new\n");
    }

    #[test]
    fn empty_content_has_no_lines() {
        assert_eq!(p("").lines().count(), 0);
        assert_eq!(p("\n").lines().count(), 1);
        assert_eq!(p("a\nb").lines().count(), 2);
    }

    proptest! {
        #[test]
        fn lines_rejoin_to_the_content(s in "[a-z:\n ]{0,40}") {
            prop_assume!(!s.contains('\r'));
            let joined = p(&s).lines().collect::<Vec<_>>().join(&b'\n');
            let expected = s.strip_suffix('\n').unwrap_or(&s);
            prop_assert_eq!(joined, expected.as_bytes());
        }

        #[test]
        fn fields_are_found_case_insensitively(key in "[a-z]{1,8}", value in "[ -~]{0,20}") {
            let s = p(&format!("pw\n{key}: {value}\n"));
            let upper = key.to_uppercase();
            let got = s.field(&upper).unwrap();
            prop_assert_eq!(got, value.trim_ascii().as_bytes());
        }
    }
}
