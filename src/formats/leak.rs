//! Finding this vault's secret values in other text: the patterns `scan` looks for and the
//! one Aho–Corasick automaton that finds them all in a single pass.
//!
//! From each secret we take line 1 (the password), the fields whose key suggests a secret
//! (password, token, key, …) and the seed of an `otpauth://` line; values shorter than a
//! minimum length are left out (they would match everywhere). Each value is also looked for
//! in its base64 forms (at the three byte alignments it can have inside a longer encoded
//! string, in both alphabets) and URL-encoded. The pattern bytes live in zeroizing buffers
//! that are wiped as soon as the automaton is built.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::crypto::secret::Plaintext;
use crate::store::name::SecretName;

/// The default shortest value worth looking for.
pub const DEFAULT_MIN_LENGTH: usize = 8;

/// How a value appears in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Encoding {
    Plain,
    Base64,
    UrlEncoded,
}

impl Encoding {
    pub fn label(self) -> Option<&'static str> {
        match self {
            Encoding::Plain => None,
            Encoding::Base64 => Some("base64"),
            Encoding::UrlEncoded => Some("url-encoded"),
        }
    }
}

/// Whose value a pattern is: a secret, the part of it (`password`, a field key, `otp`), and
/// how it was encoded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    pub name: SecretName,
    pub field: String,
    pub encoding: Encoding,
}

/// Whether a field's key suggests its value is secret.
pub fn is_secret_key(key: &str) -> bool {
    const HINTS: &[&str] = &[
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "cred",
        "private",
        "pin",
        "session",
        "cookie",
        "signature",
    ];
    let key = key.to_ascii_lowercase();
    HINTS.iter().any(|h| key.contains(h))
}

/// Collects the values to look for, then builds the [`Matcher`].
pub struct PatternsBuilder {
    min_length: usize,
    patterns: Vec<(Zeroizing<Vec<u8>>, Owner)>,
}

impl PatternsBuilder {
    pub fn new(min_length: usize) -> Self {
        Self {
            min_length: min_length.max(1),
            patterns: Vec::new(),
        }
    }

    /// Adds the values of one secret worth looking for.
    pub fn add_secret(&mut self, name: &SecretName, secret: &Plaintext) {
        self.add_value(name, "password", secret.password());
        for (key, value) in secret.fields() {
            if let Ok(key) = std::str::from_utf8(key)
                && is_secret_key(key)
                && !key.eq_ignore_ascii_case("password")
            {
                self.add_value(name, key, value);
            }
        }
        if let Some(uri) = secret.otpauth()
            && let Some(seed) = otp_seed(uri)
        {
            self.add_value(name, "otp", seed);
        }
    }

    /// Adds one value and its encoded forms, if it is long enough and looks like text.
    pub fn add_value(&mut self, name: &SecretName, field: &str, value: &[u8]) {
        if value.len() < self.min_length || std::str::from_utf8(value).is_err() {
            return;
        }
        // Armour lines of keys and certificates are the same everywhere, not secret.
        if value.starts_with(b"-----BEGIN ") || value.starts_with(b"-----END ") {
            return;
        }
        let owner = |encoding| Owner {
            name: name.clone(),
            field: field.to_owned(),
            encoding,
        };
        self.patterns
            .push((Zeroizing::new(value.to_vec()), owner(Encoding::Plain)));
        for form in base64_forms(value) {
            if form.len() >= self.min_length {
                self.patterns.push((form, owner(Encoding::Base64)));
            }
        }
        let url = url_encode(value);
        if url.as_slice() != value {
            self.patterns.push((url, owner(Encoding::UrlEncoded)));
        }
    }

    /// How many patterns (values and encoded forms) were collected.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Builds the automaton and wipes the collected pattern bytes. `None` when there is
    /// nothing to look for.
    pub fn build(mut self) -> Result<Option<Matcher>, aho_corasick::BuildError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        // Sorting groups equal values (a password reused by two secrets) without copying them
        // into a hash table.
        self.patterns
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut unique: Vec<&[u8]> = Vec::new();
        let mut owners: Vec<Vec<Owner>> = Vec::new();
        for (bytes, owner) in &self.patterns {
            if unique.last() == Some(&bytes.as_slice()) {
                if let Some(list) = owners.last_mut()
                    && !list.contains(owner)
                {
                    list.push(owner.clone());
                }
            } else {
                unique.push(bytes);
                owners.push(vec![owner.clone()]);
            }
        }
        // A full DFA costs some memory and build time but searches several times faster than
        // the NFA the builder would pick for thousands of patterns; scan reads hundreds of MB.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&unique)?;
        // `self.patterns` is dropped on return: every buffer is zeroized.
        Ok(Some(Matcher { automaton, owners }))
    }
}

/// The compiled patterns. It keeps no copy of the values besides the automaton's own
/// transition tables.
pub struct Matcher {
    automaton: AhoCorasick,
    owners: Vec<Vec<Owner>>,
}

/// One place where a value was found, as byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pattern: usize,
}

impl Matcher {
    /// Every non-overlapping occurrence in `haystack`, leftmost and longest first.
    pub fn find_iter<'a>(&'a self, haystack: &'a [u8]) -> impl Iterator<Item = Hit> + 'a {
        self.automaton.find_iter(haystack).map(|m| Hit {
            start: m.start(),
            end: m.end(),
            pattern: m.pattern().as_usize(),
        })
    }

    /// Whether `haystack` holds any value.
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.automaton.is_match(haystack)
    }

    /// The secrets whose value a hit is.
    pub fn owners(&self, hit: &Hit) -> &[Owner] {
        &self.owners[hit.pattern]
    }
}

/// The `secret=` parameter of an `otpauth://` URI.
fn otp_seed(uri: &[u8]) -> Option<&[u8]> {
    let query = &uri[uri.iter().position(|&b| b == b'?')? + 1..];
    query
        .split(|&b| b == b'&')
        .find_map(|pair| pair.strip_prefix(b"secret="))
}

/// The stable part of the base64 encoding of `value` at each of the three alignments it can
/// have inside a longer encoded text, in the standard and URL-safe alphabets. Characters that
/// also depend on the neighbouring bytes are dropped.
fn base64_forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut forms: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for shift in 0..3usize {
        let mut padded = Zeroizing::new(vec![0u8; shift]);
        padded.extend_from_slice(value);
        // Characters before `skip` carry bits of the zero bytes we made up.
        let skip = [0, 2, 3][shift];
        let total = shift + value.len();
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let mut encoded = Zeroizing::new(engine.encode(padded.as_slice()).into_bytes());
            if total % 3 != 0 {
                // The last character also holds bits of whatever follows the value.
                encoded.pop();
            }
            if encoded.len() <= skip {
                continue;
            }
            let form = Zeroizing::new(encoded[skip..].to_vec());
            if !forms.iter().any(|f| **f == *form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn url_encode(value: &[u8]) -> Zeroizing<Vec<u8>> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matcher(secrets: &[(&str, &str)], min: usize) -> Matcher {
        let mut b = PatternsBuilder::new(min);
        for (name, content) in secrets {
            b.add_secret(
                &SecretName::new(name).unwrap(),
                &Plaintext::new(content.as_bytes().to_vec()),
            );
        }
        b.build().unwrap().unwrap()
    }

    fn found(m: &Matcher, text: &str) -> Vec<(String, String, Encoding)> {
        m.find_iter(text.as_bytes())
            .flat_map(|h| m.owners(&h).to_vec())
            .map(|o| (o.name.to_string(), o.field, o.encoding))
            .collect()
    }

    #[test]
    fn password_secret_fields_and_otp_seed() {
        let m = matcher(
            &[(
                "web",
                "correct-horse\nuser: alice-the-admin\napi_token: tok_123456789\notpauth://totp/x?secret=JBSWY3DPEHPK3PXP&issuer=x\n",
            )],
            8,
        );
        assert_eq!(
            found(&m, "pw=correct-horse"),
            [("web".into(), "password".into(), Encoding::Plain)]
        );
        assert_eq!(found(&m, "tok_123456789")[0].1, "api_token");
        assert_eq!(found(&m, "JBSWY3DPEHPK3PXP")[0].1, "otp");
        // `user` is not a secret-ish key.
        assert!(found(&m, "alice-the-admin").is_empty());
    }

    #[test]
    fn short_values_and_armour_are_skipped() {
        let mut b = PatternsBuilder::new(8);
        let n = SecretName::new("k").unwrap();
        b.add_secret(&n, &Plaintext::new(b"short\n".to_vec()));
        b.add_secret(
            &n,
            &Plaintext::new(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n".to_vec()),
        );
        assert!(b.is_empty());
        assert!(b.build().unwrap().is_none());
    }

    #[test]
    fn encoded_forms() {
        let m = matcher(&[("db", "p@ss word/42\n")], 8);
        assert_eq!(found(&m, "x=p%40ss%20word%2F42")[0].2, Encoding::UrlEncoded);
        let b64 = base64::engine::general_purpose::STANDARD.encode("p@ss word/42");
        assert_eq!(found(&m, &b64)[0].2, Encoding::Base64);
        // Inside HTTP basic auth: "user:" shifts the alignment.
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:p@ss word/42");
        assert_eq!(
            found(&m, &format!("Authorization: Basic {basic}"))[0].2,
            Encoding::Base64
        );
    }

    #[test]
    fn reused_values_name_every_owner() {
        let m = matcher(&[("a", "same-password\n"), ("b", "same-password\n")], 8);
        let names: Vec<String> = found(&m, "same-password")
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    proptest! {
        #[test]
        fn base64_forms_are_found_at_any_alignment(
            value in "[ -~]{8,30}",
            before in prop::collection::vec(any::<u8>(), 0..5),
            after in prop::collection::vec(any::<u8>(), 0..5),
        ) {
            let m = matcher(&[("s", &format!("{value}\n"))], 4);
            let mut data = before.clone();
            data.extend_from_slice(value.as_bytes());
            data.extend_from_slice(&after);
            for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
                let text = engine.encode(&data);
                prop_assert!(m.is_match(text.as_bytes()), "{text}");
            }
        }
    }
}
