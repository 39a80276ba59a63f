//! `run --mask`: replaces secret values in a byte stream with a fixed text, even when a
//! value arrives split over several reads.
//!
//! Output is held back only while its end could still be the start of a value (the longest
//! suffix that is a prefix of some value), so a prompt without a newline still shows at once
//! unless it ends like a secret begins.

use aho_corasick::{AhoCorasick, MatchKind};
use zeroize::Zeroizing;

/// What a concealed value is replaced with.
pub const CONCEALED: &[u8] = b"<concealed by coffer>";

pub struct Masker {
    automaton: AhoCorasick,
    values: Vec<Zeroizing<Vec<u8>>>,
    pending: Zeroizing<Vec<u8>>,
}

impl Masker {
    /// A masker for `values` (empty ones are ignored); `None` when there is nothing to mask.
    pub fn new(values: Vec<Zeroizing<Vec<u8>>>) -> Option<Self> {
        let values: Vec<_> = values.into_iter().filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return None;
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(values.iter().map(|v| v.as_slice()))
            .ok()?;
        Some(Self {
            automaton,
            values,
            pending: Zeroizing::new(Vec::new()),
        })
    }

    /// The length of the longest suffix of the pending bytes that a value starts with (but
    /// that is not yet a whole value).
    fn held_suffix(&self) -> usize {
        let longest = self.values.iter().map(|v| v.len()).max().unwrap_or(0);
        let upper = longest.saturating_sub(1).min(self.pending.len());
        (1..=upper)
            .rev()
            .find(|&k| {
                let suffix = &self.pending[self.pending.len() - k..];
                self.values
                    .iter()
                    .any(|v| v.len() > k && v.starts_with(suffix))
            })
            .unwrap_or(0)
    }

    /// Takes in `data` and appends to `out` everything that can already be shown.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(data);
        let boundary = self.pending.len() - self.held_suffix();
        let mut cursor = 0;
        // A match that starts before the boundary is final: any longer value starting there
        // would make a longer suffix a value's prefix.
        for m in self.automaton.find_iter(self.pending.as_slice()) {
            if m.start() >= boundary {
                break;
            }
            out.extend_from_slice(&self.pending[cursor..m.start()]);
            out.extend_from_slice(CONCEALED);
            cursor = m.end();
        }
        if cursor < boundary {
            out.extend_from_slice(&self.pending[cursor..boundary]);
            cursor = boundary;
        }
        // Shift the rest down in place so no copy of it is left behind.
        self.pending.copy_within(cursor.., 0);
        let kept = self.pending.len() - cursor;
        self.pending[kept..].iter_mut().for_each(|b| *b = 0);
        self.pending.truncate(kept);
    }

    /// Appends what is still held back, masked; called at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let mut cursor = 0;
        for m in self.automaton.find_iter(self.pending.as_slice()) {
            out.extend_from_slice(&self.pending[cursor..m.start()]);
            out.extend_from_slice(CONCEALED);
            cursor = m.end();
        }
        out.extend_from_slice(&self.pending[cursor..]);
        self.pending.iter_mut().for_each(|b| *b = 0);
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masker(values: &[&str]) -> Masker {
        Masker::new(
            values
                .iter()
                .map(|v| Zeroizing::new(v.as_bytes().to_vec()))
                .collect(),
        )
        .unwrap()
    }

    fn run(m: &mut Masker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            m.feed(c, &mut out);
        }
        m.finish(&mut out);
        out
    }

    #[test]
    fn values_split_across_reads_are_masked() {
        let mut m = masker(&["hunter22"]);
        let out = run(&mut m, &[b"pw=hun", b"te", b"r22 ok\n"]);
        assert_eq!(out, b"pw=<concealed by coffer> ok\n");
    }

    #[test]
    fn a_prompt_is_not_held_back() {
        let mut m = masker(&["hunter22"]);
        let mut out = Vec::new();
        m.feed(b"Password: ", &mut out);
        assert_eq!(out, b"Password: ");
        m.feed(b"hunt", &mut out);
        assert_eq!(out, b"Password: ", "a possible secret start is held");
        m.feed(b"ing season", &mut out);
        assert_eq!(out, b"Password: hunting season");
    }

    #[test]
    fn longest_value_wins() {
        let mut m = masker(&["abcd", "abcdef"]);
        assert_eq!(run(&mut m, &[b"xabcd", b"efy"]), b"x<concealed by coffer>y");
        let mut m = masker(&["abcd", "abcdef"]);
        assert_eq!(run(&mut m, &[b"xabcd", b"eZ"]), b"x<concealed by coffer>eZ");
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_output(
            values in prop::collection::vec("[0-3]{1,6}", 1..4),
            text in "[0-4]{0,60}",
            cuts in prop::collection::vec(0usize..60, 0..8),
        ) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let whole = run(&mut masker(&refs), &[text.as_bytes()]);
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= text.len()).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&text.as_bytes()[last..c]);
                last = c;
            }
            chunks.push(&text.as_bytes()[last..]);
            let pieces = run(&mut masker(&refs), &chunks);
            prop_assert_eq!(&pieces, &whole);
            // No value survives in the output (digits never occur in the mask text).
            let shown = String::from_utf8(pieces).unwrap();
            for v in &values {
                prop_assert!(!shown.contains(v.as_str()));
            }
        }
    }
}
