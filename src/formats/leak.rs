//! Finding this vault's secret values in other text: the patterns `scan` looks for and the
//! matcher that finds them all in a single pass (an Aho–Corasick DFA for whole trees, a table
//! of value prefixes and a rolling hash for a staged change).
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
use base64::engine::general_purpose::STANDARD_NO_PAD;

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
    arena: Arena,
    patterns: Vec<Pattern>,
    /// Whose values these are: a secret and the field.
    sources: Sources,
    /// Scratch space for the encoded forms of one value.
    padded: SecretBuf,
    encoded: SecretBuf,
    /// Set when a pattern did not fit the arena's 4 GiB: building then fails rather than
    /// silently leaving a value out.
    too_large: bool,
}

/// One pattern: its bytes in the arena, whose value it is and how it is encoded.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    start: u32,
    end: u32,
    owner: (u32, Encoding),
    /// A URL-safe base64 form kept as its standard twin's bytes: `+` and `/` read as `-` and
    /// `_` (the twin's bytes are shared, not stored twice).
    url_safe: bool,
}

impl Pattern {
    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Its bytes, as they appear in a text, read from `arena`.
    fn form<'a>(&self, arena: &'a Arena) -> Form<'a> {
        Form {
            stored: arena.get(self.range()),
            url_safe: self.url_safe,
        }
    }
}

/// A pattern's bytes as they appear in a text: the stored bytes, with the URL-safe alphabet's
/// two characters put in if it is a URL-safe twin.
#[derive(Clone, Copy)]
struct Form<'a> {
    stored: &'a [u8],
    url_safe: bool,
}

impl Form<'_> {
    fn bytes(self) -> impl Iterator<Item = u8> {
        let url_safe = self.url_safe;
        self.stored.iter().map(move |&b| match (url_safe, b) {
            (true, b'+') => b'-',
            (true, b'/') => b'_',
            _ => b,
        })
    }

    fn len(self) -> usize {
        self.stored.len()
    }

    fn is_prefix_of(self, text: &[u8]) -> bool {
        if !self.url_safe {
            return text.starts_with(self.stored);
        }
        text.len() >= self.len() && self.bytes().zip(text).all(|(a, &b)| a == b)
    }

    fn same_as(self, other: Form<'_>) -> bool {
        if self.url_safe == other.url_safe {
            return self.stored == other.stored;
        }
        self.bytes().eq(other.bytes())
    }

    /// The [`hash`] of its first `n` bytes.
    fn hash_of_first(self, n: usize) -> u64 {
        hash_bytes(self.bytes().take(n))
    }
}

impl<'a> Form<'a> {
    /// Its bytes for the automaton's builder, copied only for a twin (into a wiped buffer).
    fn to_bytes(self) -> FormBytes<'a> {
        if self.url_safe {
            FormBytes::Copied(zeroize::Zeroizing::new(self.bytes().collect()))
        } else {
            FormBytes::Stored(self.stored)
        }
    }
}

enum FormBytes<'a> {
    Stored(&'a [u8]),
    Copied(zeroize::Zeroizing<Vec<u8>>),
}

impl AsRef<[u8]> for FormBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            FormBytes::Stored(bytes) => bytes,
            FormBytes::Copied(bytes) => bytes,
        }
    }
}

/// The pattern bytes: zeroizing chunks filled in turn, so that growing never copies what is
/// there (nor holds it twice while it does). A pattern never straddles two chunks; offsets
/// run on from one chunk to the next.
#[derive(Default)]
struct Arena {
    chunks: Vec<SecretBuf>,
    /// Where each chunk's first byte lies.
    starts: Vec<usize>,
    len: usize,
}

/// The size of an arena's chunks (a longer pattern gets a chunk of its own size).
const CHUNK: usize = 256 * 1024;

impl Arena {
    fn len(&self) -> usize {
        self.len
    }

    fn put(&mut self, bytes: &[u8]) {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= bytes.len());
        if !fits {
            self.starts.push(self.len);
            self.chunks
                .push(SecretBuf::with_capacity(CHUNK.max(bytes.len())));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.put(bytes);
        }
        self.len += bytes.len();
    }

    /// The bytes at `range`, which a single [`put`](Self::put) wrote.
    fn get(&self, range: std::ops::Range<usize>) -> &[u8] {
        let c = self
            .starts
            .partition_point(|&s| s <= range.start)
            .saturating_sub(1);
        let at = range.start - self.starts.get(c).copied().unwrap_or(0);
        self.chunks
            .get(c)
            .and_then(|chunk| chunk.as_bytes().get(at..at + range.len()))
            .unwrap_or(&[])
    }

    /// Takes `other`'s chunks as they are: its offsets move up by this arena's length.
    fn append(&mut self, other: Arena) {
        self.starts
            .extend(other.starts.into_iter().map(|s| s + self.len));
        self.chunks.extend(other.chunks);
        self.len += other.len;
    }
}

/// Where `len` bytes put at `start` lie in the arena, if they fit its 32-bit offsets.
fn arena_span(start: usize, len: usize) -> Option<(u32, u32)> {
    Some((
        u32::try_from(start).ok()?,
        u32::try_from(start.checked_add(len)?).ok()?,
    ))
}

/// Why a matcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build the search automaton: {0}")]
    Automaton(#[from] aho_corasick::BuildError),
    #[error("the vault's values and their encoded forms exceed 4 GiB")]
    TooLarge,
}

impl PatternsBuilder {
    pub fn new(min_length: usize) -> Self {
        Self {
            min_length: min_length.max(1),
            arena: Arena::default(),
            patterns: Vec::new(),
            sources: Sources::default(),
            padded: SecretBuf::default(),
            encoded: SecretBuf::default(),
            too_large: false,
        }
    }

    /// Makes room for the patterns of about `values` more values (room never touched costs
    /// no memory, and a list that grows by copying holds itself twice while it does).
    pub fn reserve(&mut self, values: usize) {
        // A value and its encoded forms: plain, six base64 forms, URL-encoded.
        self.patterns.reserve(values.saturating_mul(8));
        self.sources.spans.reserve(values);
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
        let Some(source) = self.sources.push(name.as_str(), field) else {
            self.too_large = true;
            return;
        };
        let first = self.patterns.len();
        self.push(first, value, (source, Encoding::Plain));
        let (mut padded, mut encoded) = (
            std::mem::take(&mut self.padded),
            std::mem::take(&mut self.encoded),
        );
        for shift in 0..3 {
            let form = base64_form(value, shift, &STANDARD_NO_PAD, &mut padded, &mut encoded);
            if form.len() < self.min_length {
                continue;
            }
            let owner = (source, Encoding::Base64);
            let Some(at) = self.push(first, form, owner) else {
                continue;
            };
            // The URL-safe form differs only where the standard one has `+` or `/`: it is
            // looked for through the same bytes.
            if form.iter().any(|&b| b == b'+' || b == b'/') {
                self.patterns.push(Pattern {
                    url_safe: true,
                    owner,
                    ..self.patterns[at]
                });
            }
        }
        url_encode(value, &mut encoded);
        self.push(first, encoded.as_bytes(), (source, Encoding::UrlEncoded));
        padded.clear();
        encoded.clear();
        (self.padded, self.encoded) = (padded, encoded);
    }

    /// Adds one form of a value, unless an earlier form of the same value (from `first` on)
    /// has the same bytes; the pattern that has them, `None` if they do not fit.
    fn push(&mut self, first: usize, bytes: &[u8], owner: (u32, Encoding)) -> Option<usize> {
        let stored = Form {
            stored: bytes,
            url_safe: false,
        };
        if let Some(at) = self.patterns[first..]
            .iter()
            .position(|p| p.form(&self.arena).same_as(stored))
        {
            return Some(first + at);
        }
        let Some((start, end)) = arena_span(self.arena.len(), bytes.len()) else {
            self.too_large = true;
            return None;
        };
        self.arena.put(bytes);
        self.patterns.push(Pattern {
            start,
            end,
            owner,
            url_safe: false,
        });
        Some(self.patterns.len() - 1)
    }

    /// Takes in the patterns of another store, mounted at `prefix`: their secrets are named
    /// as the user names them (`team/db`).
    pub fn absorb(&mut self, other: PatternsBuilder, prefix: &Folder) {
        let Some((offset, _)) = arena_span(self.arena.len(), other.arena.len()) else {
            self.too_large = true;
            return;
        };
        self.too_large |= other.too_large;
        let first_source = self.sources.len();
        if !self.sources.absorb(other.sources, prefix) {
            self.too_large = true;
            return;
        }
        self.arena.append(other.arena);
        self.patterns
            .extend(other.patterns.into_iter().map(|p| Pattern {
                start: p.start + offset,
                end: p.end + offset,
                owner: (first_source.saturating_add(p.owner.0), p.owner.1),
                ..p
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
    /// hundreds of MB, costly to build); [`Search::Small`] a table of prefixes, linear and
    /// small to build, for a few kilobytes of text such as a staged change.
    pub fn build(self, search: Search) -> Result<Option<Matcher>, BuildError> {
        if self.too_large {
            return Err(BuildError::TooLarge);
        }
        if self.patterns.is_empty() {
            return Ok(None);
        }
        let engine = match search {
            Search::Bulk => Engine::Automaton(Automaton::new(self.arena, &self.patterns)?),
            Search::Small => Engine::Prefixes(PrefixSet::new(self.arena, self.patterns)),
        };
        Ok(Some(Matcher {
            engine,
            sources: self.sources,
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
    sources: Sources,
}

enum Engine {
    Automaton(Automaton),
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
            Engine::Automaton(a) => Box::new(a.dfa.find_iter(haystack).map(|m| Hit {
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
        let mut owners: Vec<(u32, Encoding)> = match &self.engine {
            Engine::Automaton(a) => {
                let others = a.more.get(&hit.pattern).map_or(&[][..], Vec::as_slice);
                std::iter::once(a.first[hit.pattern])
                    .chain(others.iter().copied())
                    .collect()
            }
            Engine::Prefixes(set) => set.owners(hit.pattern),
        };
        owners.sort_unstable();
        owners.dedup();
        let mut owners: Vec<Owner> = owners
            .into_iter()
            .filter_map(|(source, encoding)| {
                let (name, field) = self.sources.get(source)?;
                Some(Owner {
                    name,
                    field: field.to_owned(),
                    encoding,
                })
            })
            .collect();
        owners.sort();
        owners
    }
}

/// An Aho–Corasick DFA over the distinct patterns. It keeps no copy of the values besides its
/// own transition tables.
struct Automaton {
    dfa: AhoCorasick,
    /// The first owner of each distinct pattern, and the others of the few that have more.
    first: Vec<(u32, Encoding)>,
    more: HashMap<usize, Vec<(u32, Encoding)>>,
}

impl Automaton {
    /// Builds the DFA; `arena` is dropped (wiped) on return.
    fn new(arena: Arena, patterns: &[Pattern]) -> Result<Self, aho_corasick::BuildError> {
        let form = |p: &Pattern| p.form(&arena);
        // Equal values (a password reused by two secrets) become one pattern with every
        // owner: a hash of each whole value, chained through `next` on collisions.
        let mut unique: Vec<Pattern> = Vec::with_capacity(patterns.len());
        let mut next: Vec<usize> = Vec::with_capacity(patterns.len());
        let mut by_value: HashMap<u64, usize, Spread> =
            HashMap::with_capacity_and_hasher(patterns.len(), Spread);
        let mut more: HashMap<usize, Vec<(u32, Encoding)>> = HashMap::new();
        for p in patterns {
            let h = hash_bytes(form(p).bytes());
            let mut at = by_value.get(&h).copied();
            while let Some(u) = at {
                if form(&unique[u]).same_as(form(p)) {
                    break;
                }
                at = (next[u] != usize::MAX).then_some(next[u]);
            }
            match at {
                Some(u) => more.entry(u).or_default().push(p.owner),
                None => {
                    next.push(by_value.insert(h, unique.len()).unwrap_or(usize::MAX));
                    unique.push(*p);
                }
            }
        }
        drop(by_value);
        // A full DFA costs memory and build time but searches several times faster than the
        // NFA the builder would pick for thousands of patterns.
        let dfa = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(unique.iter().map(|p| form(p).to_bytes()))?;
        Ok(Self {
            dfa,
            first: unique.iter().map(|p| p.owner).collect(),
            more,
        })
    }
}

/// Rabin–Karp over many patterns: each pattern filed in a table under the hash of its first
/// `width` bytes (the shortest pattern's length), one rolling hash over the text, and a
/// byte-for-byte check of the few patterns filed where the window's hash points. Building it
/// is two linear passes (count, then place) and no sort of the whole set; equal values are
/// not merged (a hit's owners are the patterns beside it with the same bytes). The values
/// stay in the builder's zeroizing arena, wiped when the set is dropped.
struct PrefixSet {
    width: usize,
    arena: Arena,
    patterns: Vec<Pattern>,
    /// The patterns filed under slot `s` are `order[slots[s]..slots[s + 1]]`, longest first.
    slots: Vec<u32>,
    order: Vec<u32>,
    /// `64 - log2(slot count)`: a hash's slot is its top bits once spread.
    shift: u32,
    /// `BASE` to the power `width - 1`: what the byte leaving the window weighs.
    top: u64,
}

/// The multiplier of the rolling hash (odd, so multiplication is invertible mod 2^64).
const BASE: u64 = 0x100_0000_01b3;
/// Spreads a polynomial hash over all 64 bits (Fibonacci hashing: 2^64 / φ, odd).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl PrefixSet {
    fn new(arena: Arena, patterns: Vec<Pattern>) -> Self {
        let width = patterns.iter().map(Pattern::len).min().unwrap_or(1).max(1);
        // About one slot per pattern: most slots hold one pattern or none.
        let bits = patterns.len().next_power_of_two().trailing_zeros().max(1);
        let shift = 64 - bits;
        let slot_of = |h: u64| (h.wrapping_mul(SPREAD) >> shift) as usize;
        let slot: Vec<u32> = patterns
            .iter()
            .map(|p| slot_of(p.form(&arena).hash_of_first(width)) as u32)
            .collect();
        // Count each slot's patterns, then give each slot its range of `order`.
        let mut slots = vec![0u32; (1 << bits) + 1];
        for &s in &slot {
            slots[s as usize + 1] += 1;
        }
        for s in 1..slots.len() {
            slots[s] += slots[s - 1];
        }
        let mut cursor = slots.clone();
        let mut order = vec![0u32; patterns.len()];
        for (i, &s) in slot.iter().enumerate() {
            order[cursor[s as usize] as usize] = i as u32;
            cursor[s as usize] += 1;
        }
        drop((slot, cursor));
        for s in 0..slots.len() - 1 {
            let filed = &mut order[slots[s] as usize..slots[s + 1] as usize];
            if filed.len() > 1 {
                filed.sort_unstable_by_key(|&i| std::cmp::Reverse(patterns[i as usize].len()));
            }
        }
        let top = (1..width).fold(1u64, |acc, _| acc.wrapping_mul(BASE));
        Self {
            width,
            arena,
            patterns,
            slots,
            order,
            shift,
            top,
        }
    }

    fn form(&self, i: usize) -> Form<'_> {
        self.patterns[i].form(&self.arena)
    }

    /// The patterns filed under the slot of prefix hash `h`, longest first.
    fn filed(&self, h: u64) -> impl Iterator<Item = usize> + '_ {
        let s = (h.wrapping_mul(SPREAD) >> self.shift) as usize;
        self.order[self.slots[s] as usize..self.slots[s + 1] as usize]
            .iter()
            .map(|&i| i as usize)
    }

    /// The longest value starting at `at`, if any.
    fn longest_at(&self, haystack: &[u8], at: usize, h: u64) -> Option<Hit> {
        let rest = &haystack[at..];
        self.filed(h)
            .find(|&i| self.form(i).is_prefix_of(rest))
            .map(|i| Hit {
                start: at,
                end: at + self.patterns[i].len(),
                pattern: i,
            })
    }

    /// Whose values pattern `i`'s bytes are: every pattern with the same bytes.
    fn owners(&self, i: usize) -> Vec<(u32, Encoding)> {
        let Some(found) = self.patterns.get(i).map(|p| p.form(&self.arena)) else {
            return Vec::new();
        };
        self.filed(found.hash_of_first(self.width))
            .filter(|&j| self.form(j).same_as(found))
            .map(|j| self.patterns[j].owner)
            .collect()
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

/// The hasher of maps keyed by a [`hash`] of the vault's own values: one multiply spreads
/// them over the table. (SipHash's defence against chosen keys buys nothing here: the keys
/// are never chosen by the text being searched.)
#[derive(Debug, Default, Clone, Copy)]
struct Spread;

impl std::hash::BuildHasher for Spread {
    type Hasher = Spreader;
    fn build_hasher(&self) -> Spreader {
        Spreader(0)
    }
}

#[derive(Debug)]
struct Spreader(u64);

impl std::hash::Hasher for Spreader {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SPREAD);
    }
}

/// The polynomial hash `PrefixSet` rolls: `b0·BASE^(n-1) + … + b(n-1)`, mod 2^64.
fn hash(bytes: &[u8]) -> u64 {
    hash_bytes(bytes.iter().copied())
}

fn hash_bytes(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0u64, |h, b| h.wrapping_mul(BASE).wrapping_add(u64::from(b)))
}

/// Whose values the patterns are: a secret's name and a field for each source, the names
/// kept end to end in one string (a source per value, no allocation each) and the fields
/// (nearly always `password`) once each.
#[derive(Default)]
struct Sources {
    names: String,
    /// Each source: its name's start and end in `names`, and its field in `fields`.
    spans: Vec<(u32, u32, u32)>,
    fields: Vec<Box<str>>,
    field_index: HashMap<Box<str>, u32>,
}

impl Sources {
    fn len(&self) -> u32 {
        self.spans.len() as u32
    }

    /// A new source, its number; `None` past 4 GiB of names or 2^32 sources.
    fn push(&mut self, name: &str, field: &str) -> Option<u32> {
        let source = u32::try_from(self.spans.len()).ok()?;
        // The values of one secret come one after another: they share its name.
        let (start, end) = match self.spans.last() {
            Some(&(s, e, _)) if &self.names[s as usize..e as usize] == name => (s, e),
            _ => {
                let span = arena_span(self.names.len(), name.len())?;
                self.names.push_str(name);
                span
            }
        };
        let field = match self.field_index.get(field) {
            Some(&f) => f,
            None => {
                let f = u32::try_from(self.fields.len()).ok()?;
                self.fields.push(field.into());
                self.field_index.insert(field.into(), f);
                f
            }
        };
        self.spans.push((start, end, field));
        Some(source)
    }

    fn get(&self, source: u32) -> Option<(SecretName, &str)> {
        let &(start, end, field) = self.spans.get(source as usize)?;
        let name = SecretName::new(&self.names[start as usize..end as usize]).ok()?;
        Some((name, self.fields.get(field as usize)?))
    }

    /// Takes in another store's sources, their names under `prefix`, numbered after these;
    /// false if they do not fit.
    fn absorb(&mut self, other: Sources, prefix: &Folder) -> bool {
        (0..other.len()).all(|source| {
            other.get(source).is_some_and(|(name, field)| {
                self.push(prefix.join(&name).as_str(), field).is_some()
            })
        })
    }
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
    fn a_twin_reads_its_alphabet_and_never_matches_past_the_text() {
        let twin = Form {
            stored: b"ab+/",
            url_safe: true,
        };
        assert!(twin.is_prefix_of(b"ab-_x"));
        assert!(!twin.is_prefix_of(b"ab-"));
        assert!(!twin.is_prefix_of(b"ab+/"));
        assert_eq!(twin.len(), 4);
        let standard = Form {
            stored: b"ab-_",
            url_safe: false,
        };
        assert!(twin.same_as(standard) && standard.same_as(twin));
        assert!(!twin.same_as(Form {
            stored: b"ab-",
            url_safe: false
        }));
    }

    #[test]
    fn url_safe_base64_is_found_through_its_standard_twin() {
        // Its base64 has both `+` and `/` at every alignment: the URL-safe forms differ.
        let value = "~~~>>>???~~~";
        let m = matcher(&[("api", &format!("{value}\n"))], 8);
        for prefix in ["", "u:", "us:"] {
            let data = format!("{prefix}{value}");
            let standard = base64::engine::general_purpose::STANDARD.encode(&data);
            let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data);
            assert!(
                standard.contains('+') && standard.contains('/'),
                "{standard}"
            );
            assert_ne!(standard.trim_end_matches('='), url_safe);
            for text in [standard, url_safe] {
                let found = found(&m, &format!("token={text}&x=1"));
                assert_eq!(found.len(), 1, "{text}");
                assert_eq!(found[0].2, Encoding::Base64, "{text}");
            }
        }
        // The twin reads `-` and `_` only where its standard form has `+` and `/`.
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode(value);
        let mixed = standard.replacen('+', "-", 1);
        assert!(mixed.contains('/'));
        assert!(found(&m, &mixed).is_empty(), "{mixed}");
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

    #[test]
    fn arena_chunks_never_split_a_pattern_and_append_keeps_every_offset() {
        let mut a = Arena::default();
        let put = |arena: &mut Arena, fill: u8, len: usize| {
            let start = arena.len();
            arena.put(&vec![fill; len]);
            (start..start + len, fill)
        };
        let mut spans = vec![put(&mut a, 1, 10)];
        // Fills the first chunk up to 5 bytes short: the next 6 bytes open a second one.
        spans.push(put(&mut a, 2, CHUNK - 15));
        spans.push(put(&mut a, 3, 6));
        // Longer than a chunk: a chunk of its own.
        spans.push(put(&mut a, 4, CHUNK * 2 + 1));
        spans.push(put(&mut a, 5, 3));
        let mut b = Arena::default();
        let theirs = [put(&mut b, 6, 7), put(&mut b, 7, CHUNK)];
        let offset = a.len();
        a.append(b);
        spans.extend(
            theirs
                .into_iter()
                .map(|(r, f)| (r.start + offset..r.end + offset, f)),
        );
        spans.push(put(&mut a, 8, 2));
        assert_eq!(a.chunks.len(), a.starts.len());
        assert!(a.chunks.len() >= 5, "{} chunks", a.chunks.len());
        for (range, fill) in spans {
            let len = range.len();
            assert_eq!(a.get(range), vec![fill; len], "fill {fill}");
        }
    }

    #[test]
    fn the_arena_refuses_what_its_offsets_cannot_reach() {
        let max = u32::MAX as usize;
        assert_eq!(arena_span(3, 4), Some((3, 7)));
        assert_eq!(arena_span(max - 4, 4), Some((u32::MAX - 4, u32::MAX)));
        assert_eq!(arena_span(max - 4, 5), None);
        assert_eq!(arena_span(max + 1, 0), None);
        assert_eq!(arena_span(usize::MAX, 1), None);
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

        /// Many values share the prefix table's slots (and prefixes): the table must find
        /// what the DFA finds, with the same owners, wherever the values sit in the text.
        #[test]
        fn both_engines_agree_over_many_values(
            values in prop::collection::vec("[a-d]{4,9}", 1..60),
            picks in prop::collection::vec((any::<prop::sample::Index>(), "[a-e ]{0,6}"), 0..20),
        ) {
            let secrets: Vec<(String, String)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("s{i}"), format!("{v}\n")))
                .collect();
            let secrets: Vec<(&str, &str)> =
                secrets.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
            let m = matcher(&secrets, 4);
            let mut text = String::new();
            for (pick, filler) in &picks {
                text.push_str(&values[pick.index(values.len())]);
                text.push_str(filler);
            }
            // `is_match` asserts that the engines agree on every hit and its owners.
            prop_assert_eq!(m.is_match(text.as_bytes()), !picks.is_empty());
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
