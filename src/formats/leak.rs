//! Finding this vault's secret values in other text: the patterns `scan` looks for and the
//! one Aho–Corasick automaton that finds them all in a single pass.
//!
//! From each secret we take line 1 (the password), the fields whose key suggests a secret
//! (password, token, key, …) and the seed of an `otpauth://` line; values shorter than a
//! minimum length are left out (they would match everywhere). Each value is also looked for
//! in its base64 forms (at the three byte alignments it can have inside a longer encoded
//! string, in both alphabets) and URL-encoded. The pattern bytes live in zeroizing buffers
//! that are wiped as soon as the automaton is built.

use std::collections::HashMap;

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

    /// Builds the matcher and wipes the collected pattern bytes. `None` when there is
    /// nothing to look for. [`Search::Bulk`] builds a full DFA (fastest over hundreds of MB,
    /// costly to build); [`Search::Small`] a hash set of prefixes, linear and small to build,
    /// for a few kilobytes of text such as a staged change.
    pub fn build(mut self, search: Search) -> Result<Option<Matcher>, aho_corasick::BuildError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        // Sorting groups equal values (a password reused by two secrets) without copying them
        // into a hash table.
        self.patterns
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut unique: Vec<usize> = Vec::new();
        let mut owners: Vec<Vec<Owner>> = Vec::new();
        for (i, (bytes, owner)) in self.patterns.iter().enumerate() {
            let same = unique
                .last()
                .is_some_and(|&u| self.patterns[u].0.as_slice() == bytes.as_slice());
            if same {
                if let Some(list) = owners.last_mut()
                    && !list.contains(owner)
                {
                    list.push(owner.clone());
                }
            } else {
                unique.push(i);
                owners.push(vec![owner.clone()]);
            }
        }
        let engine = match search {
            Search::Bulk => {
                // A full DFA costs memory and build time but searches several times faster
                // than the NFA the builder would pick for thousands of patterns.
                let values = unique.iter().map(|&i| self.patterns[i].0.as_slice());
                Engine::Automaton(
                    AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostLongest)
                        .kind(Some(AhoCorasickKind::DFA))
                        .build(values)?,
                )
            }
            Search::Small => {
                let values = unique
                    .iter()
                    .map(|&i| std::mem::take(&mut self.patterns[i].0))
                    .collect();
                Engine::Prefixes(PrefixSet::new(values))
            }
        };
        // `self.patterns` is dropped on return: every buffer left is zeroized.
        Ok(Some(Matcher { engine, owners }))
    }
}

/// How much text a [`Matcher`] is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Whole trees and histories: build once, search hundreds of megabytes.
    Bulk,
    /// A few kilobytes (a staged change): build in linear time and little memory.
    Small,
}

/// The compiled patterns.
pub struct Matcher {
    engine: Engine,
    owners: Vec<Vec<Owner>>,
}

enum Engine {
    /// Keeps no copy of the values besides the automaton's own transition tables.
    Automaton(AhoCorasick),
    Prefixes(PrefixSet),
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
    pub fn find_iter<'a>(&'a self, haystack: &'a [u8]) -> Box<dyn Iterator<Item = Hit> + 'a> {
        match &self.engine {
            Engine::Automaton(automaton) => Box::new(automaton.find_iter(haystack).map(|m| Hit {
                start: m.start(),
                end: m.end(),
                pattern: m.pattern().as_usize(),
            })),
            Engine::Prefixes(set) => Box::new(set.find_iter(haystack)),
        }
    }

    /// Whether `haystack` holds any value.
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.find_iter(haystack).next().is_some()
    }

    /// The secrets whose value a hit is.
    pub fn owners(&self, hit: &Hit) -> &[Owner] {
        &self.owners[hit.pattern]
    }
}

/// Rabin–Karp over many patterns: the hash of every pattern's first `width` bytes (the
/// shortest pattern's length) in a map, one rolling hash over the text, and a byte-for-byte
/// check of the candidates where a hash is found. Building it is a pass over the values; the
/// values stay in zeroizing buffers, wiped when the set is dropped.
struct PrefixSet {
    width: usize,
    values: Vec<Zeroizing<Vec<u8>>>,
    /// Prefix hash → the values with that prefix hash, longest first.
    by_prefix: HashMap<u64, Vec<usize>>,
    /// `BASE` to the power `width - 1`: what the byte leaving the window weighs.
    top: u64,
}

/// The multiplier of the rolling hash (odd, so multiplication is invertible mod 2^64).
const BASE: u64 = 0x100_0000_01b3;

impl PrefixSet {
    fn new(values: Vec<Zeroizing<Vec<u8>>>) -> Self {
        let width = values.iter().map(|v| v.len()).min().unwrap_or(1).max(1);
        let mut by_prefix: HashMap<u64, Vec<usize>> = HashMap::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            by_prefix.entry(hash(&v[..width])).or_default().push(i);
        }
        for candidates in by_prefix.values_mut() {
            candidates.sort_by_key(|&i| std::cmp::Reverse(values[i].len()));
        }
        let top = (1..width).fold(1u64, |acc, _| acc.wrapping_mul(BASE));
        Self {
            width,
            values,
            by_prefix,
            top,
        }
    }

    /// The longest value starting at `at`, if any.
    fn longest_at(&self, haystack: &[u8], at: usize, h: u64) -> Option<Hit> {
        let candidates = self.by_prefix.get(&h)?;
        let rest = &haystack[at..];
        candidates
            .iter()
            .find(|&&i| rest.starts_with(&self.values[i]))
            .map(|&i| Hit {
                start: at,
                end: at + self.values[i].len(),
                pattern: i,
            })
    }

    fn find_iter<'a>(&'a self, haystack: &'a [u8]) -> impl Iterator<Item = Hit> + 'a {
        let w = self.width;
        let mut at = 0;
        let mut h: Option<u64> = None;
        std::iter::from_fn(move || {
            while at + w <= haystack.len() {
                let current = match h {
                    Some(current) => current,
                    None => hash(&haystack[at..at + w]),
                };
                if let Some(hit) = self.longest_at(haystack, at, current) {
                    at = hit.end;
                    h = None;
                    return Some(hit);
                }
                h = haystack.get(at + w).map(|&next| {
                    current
                        .wrapping_sub(u64::from(haystack[at]).wrapping_mul(self.top))
                        .wrapping_mul(BASE)
                        .wrapping_add(u64::from(next))
                });
                at += 1;
            }
            None
        })
    }
}

/// The polynomial hash `PrefixSet` rolls: `b0·BASE^(n-1) + … + b(n-1)`, mod 2^64.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, &b| {
        h.wrapping_mul(BASE).wrapping_add(u64::from(b))
    })
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

    fn built(secrets: &[(&str, &str)], min: usize, search: Search) -> Matcher {
        let mut b = PatternsBuilder::new(min);
        for (name, content) in secrets {
            b.add_secret(
                &SecretName::new(name).unwrap(),
                &Plaintext::new(content.as_bytes().to_vec()),
            );
        }
        b.build(search).unwrap().unwrap()
    }

    /// Both engines, which must agree on every text a test gives them.
    struct Both(Matcher, Matcher);

    fn matcher(secrets: &[(&str, &str)], min: usize) -> Both {
        Both(
            built(secrets, min, Search::Bulk),
            built(secrets, min, Search::Small),
        )
    }

    fn hits(m: &Matcher, text: &[u8]) -> Vec<(usize, usize, Vec<Owner>)> {
        m.find_iter(text)
            .map(|h| (h.start, h.end, m.owners(&h).to_vec()))
            .collect()
    }

    impl Both {
        fn is_match(&self, text: &[u8]) -> bool {
            assert_eq!(
                hits(&self.0, text),
                hits(&self.1, text),
                "the engines disagree"
            );
            self.0.is_match(text) && self.1.is_match(text)
        }
    }

    fn found(m: &Both, text: &str) -> Vec<(String, String, Encoding)> {
        let bulk = hits(&m.0, text.as_bytes());
        assert_eq!(bulk, hits(&m.1, text.as_bytes()), "the engines disagree");
        bulk.into_iter()
            .flat_map(|(_, _, owners)| owners)
            .map(|o| (o.name.to_string(), o.field, o.encoding))
            .collect()
    }

    #[test]
    fn leftmost_longest_without_overlaps_in_both_engines() {
        let m = matcher(
            &[
                ("a", "abcdefgh\n"),
                ("b", "abcdefghijkl\n"),
                ("c", "ghijklmnop\n"),
            ],
            8,
        );
        let names =
            |text: &str| -> Vec<String> { found(&m, text).into_iter().map(|f| f.0).collect() };
        assert_eq!(names("xxabcdefghijklmnop"), ["b"]);
        assert_eq!(names("abcdefgh ghijklmnop abcdefghijkl"), ["a", "c", "b"]);
        assert!(names("abcdefg").is_empty());
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
        assert!(b.build(Search::Small).unwrap().is_none());
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
