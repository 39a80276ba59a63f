//! Finding this vault's secret values in other text: the patterns `scan` looks for and the
//! matcher that finds them all in a single pass (an Aho–Corasick DFA for whole trees, a hash
//! set of prefixes with a rolling hash for a staged change).
//!
//! From each secret we take line 1 (the password), the fields whose key suggests a secret
//! (password, token, key, …) and the seed of an `otpauth://` line; values shorter than a
//! minimum length are left out (they would match everywhere). Each value is also looked for
//! in its base64 forms (at the three byte alignments it can have inside a longer encoded
//! string, in both alphabets) and URL-encoded. The pattern bytes live in one zeroizing arena,
//! wiped as soon as the automaton is built (or when the prefix set, which needs them to
//! verify a hit, is dropped).

use std::collections::HashMap;

use crate::crypto::secret::{Plaintext, SecretBuf};
use crate::store::name::{Folder, SecretName};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

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

/// The parts of a secret worth looking for, each with the field it comes from: line 1
/// (`password`), the fields whose key suggests a secret, the seed of an `otpauth://` line.
/// Nothing is filtered by length here; [`PatternsBuilder::add_value`] does that.
pub fn secret_values(secret: &Plaintext) -> Vec<(&str, &[u8])> {
    let mut values = vec![("password", secret.password())];
    for (key, value) in secret.fields() {
        if let Ok(key) = std::str::from_utf8(key)
            && is_secret_key(key)
            && !key.eq_ignore_ascii_case("password")
        {
            values.push((key, value));
        }
    }
    if let Some(uri) = secret.otpauth()
        && let Some(seed) = otp_seed(uri)
    {
        values.push(("otp", seed));
    }
    values
}

/// Collects the values to look for, then builds the [`Matcher`]. Every pattern's bytes live
/// in one zeroizing arena: no allocation per pattern, and nothing left behind as it grows.
pub struct PatternsBuilder {
    min_length: usize,
    arena: SecretBuf,
    patterns: Vec<Pattern>,
    /// Whose values these are: a secret and the field.
    sources: Vec<(SecretName, String)>,
    /// Scratch space for the encoded forms of one value.
    padded: SecretBuf,
    encoded: SecretBuf,
}

/// One pattern: its bytes in the arena, whose value it is and how it is encoded.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    start: usize,
    end: usize,
    owner: (u32, Encoding),
}

impl PatternsBuilder {
    pub fn new(min_length: usize) -> Self {
        Self {
            min_length: min_length.max(1),
            arena: SecretBuf::default(),
            patterns: Vec::new(),
            sources: Vec::new(),
            padded: SecretBuf::default(),
            encoded: SecretBuf::default(),
        }
    }

    /// Adds the values of one secret worth looking for.
    pub fn add_secret(&mut self, name: &SecretName, secret: &Plaintext) {
        for (field, value) in secret_values(secret) {
            self.add_value(name, field, value);
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
        let source = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.sources.push((name.clone(), field.to_owned()));
        let first = self.patterns.len();
        self.push(first, value, (source, Encoding::Plain));
        let (mut padded, mut encoded) = (
            std::mem::take(&mut self.padded),
            std::mem::take(&mut self.encoded),
        );
        for shift in 0..3 {
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                let form = base64_form(value, shift, engine, &mut padded, &mut encoded);
                if form.len() >= self.min_length {
                    self.push(first, form, (source, Encoding::Base64));
                }
            }
        }
        url_encode(value, &mut encoded);
        self.push(first, encoded.as_bytes(), (source, Encoding::UrlEncoded));
        padded.clear();
        encoded.clear();
        (self.padded, self.encoded) = (padded, encoded);
    }

    /// Adds one form of a value, unless an earlier form of the same value (from `first` on)
    /// has the same bytes.
    fn push(&mut self, first: usize, bytes: &[u8], owner: (u32, Encoding)) {
        let arena = self.arena.as_bytes();
        if self.patterns[first..]
            .iter()
            .any(|p| &arena[p.start..p.end] == bytes)
        {
            return;
        }
        let start = self.arena.len();
        self.arena.put(bytes);
        self.patterns.push(Pattern {
            start,
            end: self.arena.len(),
            owner,
        });
    }

    /// Takes in the patterns of another store, mounted at `prefix`: their secrets are named
    /// as the user names them (`team/db`).
    pub fn absorb(&mut self, other: PatternsBuilder, prefix: &Folder) {
        let offset = self.arena.len();
        let first_source = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.arena.put(other.arena.as_bytes());
        self.sources.extend(
            other
                .sources
                .into_iter()
                .map(|(name, field)| (prefix.join(&name), field)),
        );
        self.patterns
            .extend(other.patterns.into_iter().map(|p| Pattern {
                start: p.start + offset,
                end: p.end + offset,
                owner: (first_source.saturating_add(p.owner.0), p.owner.1),
            }));
    }

    /// How many patterns (values and encoded forms) were collected.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Builds the matcher; the pattern bytes are wiped once it no longer needs them. `None`
    /// when there is nothing to look for. [`Search::Bulk`] builds a full DFA (fastest over
    /// hundreds of MB, costly to build); [`Search::Small`] a hash set of prefixes, linear and
    /// small to build, for a few kilobytes of text such as a staged change.
    pub fn build(self, search: Search) -> Result<Option<Matcher>, aho_corasick::BuildError> {
        if self.patterns.is_empty() {
            return Ok(None);
        }
        let arena = self.arena;
        let bytes = |p: &Pattern| &arena.as_bytes()[p.start..p.end];
        // Equal values (a password reused by two secrets) become one pattern with every
        // owner: a hash of each whole value, chained through `next` on collisions.
        let mut unique: Vec<Pattern> = Vec::with_capacity(self.patterns.len());
        let mut next: Vec<usize> = Vec::with_capacity(self.patterns.len());
        let mut by_value: HashMap<u64, usize> = HashMap::with_capacity(self.patterns.len());
        let mut more: HashMap<usize, Vec<(u32, Encoding)>> = HashMap::new();
        for p in &self.patterns {
            let h = hash(bytes(p));
            let mut at = by_value.get(&h).copied();
            while let Some(u) = at {
                if bytes(&unique[u]) == bytes(p) {
                    break;
                }
                at = (next[u] != usize::MAX).then_some(next[u]);
            }
            match at {
                Some(u) => {
                    let others = more.entry(u).or_default();
                    if unique[u].owner != p.owner && !others.contains(&p.owner) {
                        others.push(p.owner);
                    }
                }
                None => {
                    next.push(by_value.insert(h, unique.len()).unwrap_or(usize::MAX));
                    unique.push(*p);
                }
            }
        }
        drop(by_value);
        let first = unique.iter().map(|p| p.owner).collect();
        let engine = match search {
            Search::Bulk => {
                // A full DFA costs memory and build time but searches several times faster
                // than the NFA the builder would pick for thousands of patterns.
                let automaton = AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(unique.iter().map(bytes))?;
                // `arena` is dropped (wiped) on return: the automaton keeps its own tables.
                Engine::Automaton(automaton)
            }
            Search::Small => Engine::Prefixes(PrefixSet::new(
                arena,
                unique.iter().map(|p| (p.start, p.end)).collect(),
            )),
        };
        Ok(Some(Matcher {
            engine,
            sources: self.sources,
            first,
            more,
        }))
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
    sources: Vec<(SecretName, String)>,
    /// The first owner of each pattern, and the others of the few that have more.
    first: Vec<(u32, Encoding)>,
    more: HashMap<usize, Vec<(u32, Encoding)>>,
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

    /// The secrets whose value a hit is, sorted.
    pub fn owners(&self, hit: &Hit) -> Vec<Owner> {
        let others = self.more.get(&hit.pattern).map_or(&[][..], Vec::as_slice);
        let mut owners: Vec<Owner> = std::iter::once(&self.first[hit.pattern])
            .chain(others)
            .filter_map(|&(source, encoding)| {
                let (name, field) = self.sources.get(source as usize)?;
                Some(Owner {
                    name: name.clone(),
                    field: field.clone(),
                    encoding,
                })
            })
            .collect();
        owners.sort();
        owners
    }
}

/// Rabin–Karp over many patterns: the hash of every pattern's first `width` bytes (the
/// shortest pattern's length) in a map, one rolling hash over the text, and a byte-for-byte
/// check of the candidates where a hash is found. Building it is a pass over the values and
/// a sort of their indices; the values stay in the builder's zeroizing arena, wiped when the
/// set is dropped.
struct PrefixSet {
    width: usize,
    arena: SecretBuf,
    /// Each pattern's bytes in the arena.
    ranges: Vec<(usize, usize)>,
    /// Pattern indices grouped by prefix hash, longest first within a group.
    order: Vec<u32>,
    /// Prefix hash → its group in `order`.
    by_prefix: HashMap<u64, (u32, u32)>,
    /// `BASE` to the power `width - 1`: what the byte leaving the window weighs.
    top: u64,
}

/// The multiplier of the rolling hash (odd, so multiplication is invertible mod 2^64).
const BASE: u64 = 0x100_0000_01b3;

impl PrefixSet {
    fn new(arena: SecretBuf, ranges: Vec<(usize, usize)>) -> Self {
        let width = ranges.iter().map(|(s, e)| e - s).min().unwrap_or(1).max(1);
        let bytes = arena.as_bytes();
        let mut keyed: Vec<(u64, std::cmp::Reverse<usize>, u32)> = ranges
            .iter()
            .enumerate()
            .map(|(i, &(s, e))| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                (hash(&bytes[s..s + width]), std::cmp::Reverse(e - s), i)
            })
            .collect();
        keyed.sort_unstable();
        let mut by_prefix: HashMap<u64, (u32, u32)> = HashMap::with_capacity(keyed.len());
        let mut order = Vec::with_capacity(keyed.len());
        for (at, &(h, _, i)) in keyed.iter().enumerate() {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            by_prefix.entry(h).or_insert((at, at)).1 = at + 1;
            order.push(i);
        }
        let top = (1..width).fold(1u64, |acc, _| acc.wrapping_mul(BASE));
        Self {
            width,
            arena,
            ranges,
            order,
            by_prefix,
            top,
        }
    }

    /// The longest value starting at `at`, if any.
    fn longest_at(&self, haystack: &[u8], at: usize, h: u64) -> Option<Hit> {
        let &(from, to) = self.by_prefix.get(&h)?;
        let rest = &haystack[at..];
        let bytes = self.arena.as_bytes();
        self.order[from as usize..to as usize]
            .iter()
            .map(|&i| i as usize)
            .find(|&i| {
                let (s, e) = self.ranges[i];
                rest.starts_with(&bytes[s..e])
            })
            .map(|i| Hit {
                start: at,
                end: at + (self.ranges[i].1 - self.ranges[i].0),
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

/// The stable part of the base64 encoding of `value` at one of the three alignments (`shift`)
/// it can have inside a longer encoded text, in one alphabet: characters that also depend on
/// the neighbouring bytes are dropped. Written into `encoded`; `padded` is scratch space.
fn base64_form<'a>(
    value: &[u8],
    shift: usize,
    engine: &base64::engine::GeneralPurpose,
    padded: &mut SecretBuf,
    encoded: &'a mut SecretBuf,
) -> &'a [u8] {
    padded.clear();
    padded.put_zeros(shift);
    padded.put(value);
    encoded.clear();
    let len = base64::encoded_len(padded.len(), false).unwrap_or(0);
    let out = encoded.put_zeros(len);
    let written = engine.encode_slice(padded.as_bytes(), out).unwrap_or(0);
    // Characters before `skip` carry bits of the zero bytes we made up; the last one, unless
    // the value ends on a 3-byte boundary, also holds bits of whatever follows the value.
    let skip = [0, 2, 3][shift];
    let end = written - usize::from(padded.len() % 3 != 0 && written > 0);
    encoded.as_bytes().get(skip..end).unwrap_or(&[])
}

/// Percent-encodes every byte outside RFC 3986's unreserved set, into `out`.
fn url_encode(value: &[u8], out: &mut SecretBuf) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.clear();
    out.reserve(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.put(&[b]);
        } else {
            out.put(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
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
            .map(|h| (h.start, h.end, m.owners(&h)))
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
        fn values_are_found_at_any_offset_in_both_engines(
            value in "[!-~]{8,40}",
            before in prop::collection::vec(any::<u8>(), 0..300),
            after in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let m = matcher(&[("s", &format!("{value}\n"))], 8);
            let mut text = before.clone();
            text.extend_from_slice(value.as_bytes());
            text.extend_from_slice(&after);
            prop_assert!(m.is_match(&text));
            let at = before.len();
            let plain = hits(&m.1, &text)
                .into_iter()
                .any(|(s, e, o)| s == at && e == at + value.len() && o[0].encoding == Encoding::Plain);
            prop_assert!(plain);
        }

        #[test]
        fn values_shorter_than_the_minimum_are_never_looked_for(
            value in "[!-~]{1,20}",
            min in 1usize..24,
        ) {
            let mut b = PatternsBuilder::new(min);
            b.add_value(&SecretName::new("s").unwrap(), "password", value.as_bytes());
            prop_assert_eq!(b.is_empty(), value.len() < min);
            if let Some(m) = b.build(Search::Small).unwrap() {
                prop_assert!(m.is_match(value.as_bytes()));
            }
        }

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
