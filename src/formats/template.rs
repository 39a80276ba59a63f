//! Templates with `{{ coffer:NAME#FIELD }}` placeholders (what `coffer inject` renders).
//!
//! Only `{{` followed by a `coffer:` reference is a placeholder; every other `{{ … }}` (Helm,
//! Jinja, Go templates) is literal text. Parsing finds the placeholders and the distinct
//! references; rendering splices values in, so the caller can resolve every reference before
//! writing anything.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::crypto::secret::Plaintext;
use crate::formats::reference::{Reference, ReferenceError, SCHEME};

/// Why a template cannot be rendered; names the line, never the text.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("line {0}: a {{{{ coffer:… placeholder is not closed with }}}} on the same line")]
    Unclosed(usize),
    #[error("line {0}: the placeholder is not valid UTF-8")]
    NotUtf8(usize),
    #[error("line {line}: invalid reference")]
    Reference {
        line: usize,
        #[source]
        source: ReferenceError,
    },
}

/// A piece of the template: literal bytes, or the reference with this index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(Range<usize>),
    Reference(usize),
}

/// A parsed template: its pieces and the distinct references, each with the line (from 1)
/// where it first appears.
#[derive(Debug)]
pub struct Template {
    pub pieces: Vec<Piece>,
    pub references: Vec<(Reference, usize)>,
}

const OPEN: &[u8] = b"{{";
const CLOSE: &[u8] = b"}}";

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

impl Template {
    /// Finds the placeholders of `text`; a malformed one fails the whole template. One pass:
    /// the line number is counted as the scan moves on, and each reference is looked up in a
    /// map, so thousands of placeholders cost the template's length, not its length times
    /// their number.
    pub fn parse(text: &[u8]) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut references: Vec<(Reference, usize)> = Vec::new();
        let mut index_of: std::collections::HashMap<Reference, usize> =
            std::collections::HashMap::new();
        // The line number at offset `counted`, which only moves forward.
        let (mut line, mut counted) = (1, 0);
        let mut last = 0;
        let mut at = 0;
        while let Some(open) = find(text, OPEN, at) {
            let inner_start = open + OPEN.len();
            let body = &text[inner_start..];
            let skip = body
                .iter()
                .take_while(|b| b.is_ascii_whitespace() && **b != b'\n')
                .count();
            if !body[skip..].starts_with(SCHEME.as_bytes()) {
                at = inner_start;
                continue;
            }
            line += text[counted..open].iter().filter(|&&b| b == b'\n').count();
            counted = open;
            let line_end = find(text, b"\n", inner_start).unwrap_or(text.len());
            let close = find(text, CLOSE, inner_start)
                .filter(|&c| c <= line_end)
                .ok_or(TemplateError::Unclosed(line))?;
            let inner = std::str::from_utf8(&text[inner_start..close])
                .map_err(|_| TemplateError::NotUtf8(line))?
                .trim();
            let parsed = Reference::parse(inner)
                .map_err(|source| TemplateError::Reference { line, source })?;
            let index = *index_of.entry(parsed.clone()).or_insert_with(|| {
                references.push((parsed, line));
                references.len() - 1
            });
            pieces.push(Piece::Text(last..open));
            pieces.push(Piece::Reference(index));
            last = close + CLOSE.len();
            at = last;
        }
        pieces.push(Piece::Text(last..text.len()));
        Ok(Self { pieces, references })
    }

    /// `text` (the bytes this template was parsed from) with each placeholder replaced by the
    /// value of its reference; `values` follow the order of [`Template::references`].
    pub fn render(&self, text: &[u8], values: &[Plaintext]) -> Zeroizing<Vec<u8>> {
        let mut rendered = Zeroizing::new(Vec::with_capacity(text.len()));
        for piece in &self.pieces {
            match piece {
                Piece::Text(range) => {
                    rendered.extend_from_slice(text.get(range.clone()).unwrap_or_default())
                }
                Piece::Reference(i) => {
                    rendered.extend_from_slice(values.get(*i).map_or(&[][..], Plaintext::as_bytes))
                }
            }
        }
        rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        Template::parse(text.as_bytes())
            .unwrap()
            .references
            .into_iter()
            .map(|(r, l)| format!("{r}@{l}"))
            .collect()
    }

    #[test]
    fn placeholders_and_other_braces() {
        assert_eq!(
            refs("a {{ coffer:db }} b\n{{coffer:x%20y#user}} {{ .Values.x }} {{ coffer:db }}"),
            ["coffer:db@1", "coffer:x%20y#user@2"]
        );
        assert!(refs("{{ not coffer }} {{}} }} {{").is_empty());
    }

    #[test]
    fn malformed_placeholders_name_the_line() {
        let err = Template::parse(b"ok\n{{ coffer:db\n}}").err().unwrap();
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        let err = Template::parse(b"{{ coffer:a b }}").err().unwrap();
        assert_eq!(err.to_string(), "line 1: invalid reference");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn rendering_splices_values_in() {
        let text = b"a={{ coffer:x }} b={{coffer:y}} again={{ coffer:x }}";
        let t = Template::parse(text).unwrap();
        let values = [Plaintext::new(b"1".to_vec()), Plaintext::new(b"2".to_vec())];
        assert_eq!(&t.render(text, &values)[..], b"a=1 b=2 again=1");
    }
}
