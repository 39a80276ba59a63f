//! Password and passphrase generation: cryptographically random and uniform.
//!
//! Characters are drawn with rejection sampling (`rand`'s uniform range sampling over `OsRng`),
//! so there is no modulo bias. Character sets use `tr` syntax, as pass's
//! `PASSWORD_STORE_CHARACTER_SET` does: `[:punct:][:alnum:]`, ranges like `a-z`, literals.

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use zeroize::Zeroizing;

/// pass's default: printable ASCII symbols and alphanumerics.
pub const DEFAULT_SET: &str = "[:punct:][:alnum:]";
/// pass's `-n` set.
pub const NO_SYMBOLS_SET: &str = "[:alnum:]";
pub const DEFAULT_LENGTH: usize = 25;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenerateError {
    #[error("the character set {0:?} is empty or not understood")]
    BadCharacterSet(String),
    #[error("the length must be a positive number")]
    BadLength,
}

/// Expands a `tr`-style set into its distinct characters, in a stable order.
pub fn expand_set(spec: &str) -> Result<Vec<char>, GenerateError> {
    let bad = || GenerateError::BadCharacterSet(spec.to_owned());
    let mut out: Vec<char> = Vec::new();
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            let end = rest.find(":]").ok_or_else(bad)?;
            let class = &rest[..end];
            let members: Vec<char> = (' '..='~').filter(|c| in_class(class, *c)).collect();
            if members.is_empty() {
                return Err(bad());
            }
            out.extend(members);
            i += 2 + class.chars().count() + 2;
        } else if chars.get(i + 1) == Some(&'-') && i + 2 < chars.len() {
            let (lo, hi) = (chars[i], chars[i + 2]);
            if lo > hi {
                return Err(bad());
            }
            out.extend(lo..=hi);
            i += 3;
        } else {
            let c = if chars[i] == '\\' && i + 1 < chars.len() {
                i += 1;
                chars[i]
            } else {
                chars[i]
            };
            out.push(c);
            i += 1;
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| !c.is_control() && seen.insert(*c));
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

fn in_class(class: &str, c: char) -> bool {
    match class {
        "alnum" => c.is_ascii_alphanumeric(),
        "alpha" => c.is_ascii_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "lower" => c.is_ascii_lowercase(),
        "upper" => c.is_ascii_uppercase(),
        "punct" => c.is_ascii_punctuation(),
        "xdigit" => c.is_ascii_hexdigit(),
        "graph" => c.is_ascii_graphic(),
        "print" => c.is_ascii_graphic() || c == ' ',
        "space" => c == ' ',
        _ => false,
    }
}

/// A random password of `length` characters from `set`.
/// The longest password `generate` makes, in characters.
pub const MAX_LENGTH: usize = 4096;
/// The most words in a generated passphrase.
pub const MAX_WORDS: usize = 1024;

pub fn password(length: usize, set: &[char]) -> Result<Zeroizing<String>, GenerateError> {
    if length == 0 {
        return Err(GenerateError::BadLength);
    }
    let mut out = Zeroizing::new(String::with_capacity(length * 4));
    for _ in 0..length {
        let c = set.choose(&mut OsRng).ok_or(GenerateError::BadLength)?;
        out.push(*c);
    }
    Ok(out)
}

/// The longest word of the EFF large list, in bytes (a longer one fails the build: the
/// packing below would index past a word's room).
const WORD_BYTES: usize = 9;
const WORD_COUNT: usize = eff_wordlist::large::LIST.len();

/// The EFF large list packed into fixed-width bytes at compile time, with each word's length.
/// The crate's own table of `&str`s would cost every run of coffer 7,776 relocations and
/// ≈120 KB of pages written at start-up (pointers in a position-independent program), for a
/// list only `generate` reads.
static WORDS: ([[u8; WORD_BYTES]; WORD_COUNT], [u8; WORD_COUNT]) =
    pack_words(eff_wordlist::large::LIST);

const fn pack_words(list: &[(u32, &str)]) -> ([[u8; WORD_BYTES]; WORD_COUNT], [u8; WORD_COUNT]) {
    let mut bytes = [[0u8; WORD_BYTES]; WORD_COUNT];
    let mut lengths = [0u8; WORD_COUNT];
    let mut i = 0;
    while i < list.len() {
        let word = list[i].1.as_bytes();
        let mut j = 0;
        while j < word.len() {
            bytes[i][j] = word[j];
            j += 1;
        }
        lengths[i] = word.len() as u8;
        i += 1;
    }
    (bytes, lengths)
}

/// Word `index` of the EFF large list.
fn eff_word(index: usize) -> Option<&'static str> {
    let (bytes, lengths) = &WORDS;
    let word = bytes.get(index)?.get(..usize::from(*lengths.get(index)?))?;
    std::str::from_utf8(word).ok()
}

/// A diceware passphrase of `words` words from the EFF large word list (7,776 words,
/// ≈12.9 bits each), joined by `separator`.
pub fn passphrase(words: usize, separator: &str) -> Result<Zeroizing<String>, GenerateError> {
    if words == 0 {
        return Err(GenerateError::BadLength);
    }
    // Room for every word up front: a growing buffer leaves unwiped copies behind.
    let mut out = Zeroizing::new(String::with_capacity(
        words * (WORD_BYTES + separator.len()),
    ));
    for i in 0..words {
        if i > 0 {
            out.push_str(separator);
        }
        let index = rand::Rng::gen_range(&mut OsRng, 0..WORD_COUNT);
        out.push_str(eff_word(index).ok_or(GenerateError::BadLength)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_expand_like_tr() {
        assert_eq!(expand_set(DEFAULT_SET).unwrap().len(), 94);
        assert_eq!(expand_set(NO_SYMBOLS_SET).unwrap().len(), 62);
        assert_eq!(expand_set("a-f0-9").unwrap().len(), 16);
        assert_eq!(expand_set("[:digit:]x").unwrap().len(), 11);
        assert!(expand_set("[:nonsense:]").is_err());
        assert!(expand_set("").is_err());
        assert!(expand_set("z-a").is_err());
    }

    #[test]
    fn passwords_use_only_the_set_and_cover_it() {
        let set = expand_set("ab").unwrap();
        let pw = password(2000, &set).unwrap();
        assert_eq!(pw.chars().count(), 2000);
        let a = pw.chars().filter(|c| *c == 'a').count();
        // Uniform: 1000 expected; 6 sigma is about 134.
        assert!((866..=1134).contains(&a), "{a}");
        assert!(pw.chars().all(|c| c == 'a' || c == 'b'));
    }

    #[test]
    fn passphrases_have_the_requested_words() {
        let p = passphrase(6, "/").unwrap();
        assert_eq!(p.split('/').count(), 6);
        assert_eq!(eff_wordlist::large::LIST.len(), 7776);
    }

    #[test]
    fn the_packed_word_list_is_the_eff_list() {
        for (index, (_, word)) in eff_wordlist::large::LIST.iter().enumerate() {
            assert_eq!(eff_word(index), Some(*word));
        }
        assert_eq!(eff_word(WORD_COUNT), None);
    }
}
