//! `.env` files: values as `dotenvy` reads them, plus where each one sits in the file.
//!
//! The values (quotes, escapes, `export`, comments, multi-line values, `${VAR}` substitution)
//! come from `dotenvy`, the maintained dotenv parser, so coffer agrees with the programs
//! that read the same file. `dotenvy` does not say where an entry is, and its error message
//! quotes the offending line — which may hold a secret. So this module also groups the file
//! into logical lines exactly as `dotenvy` does (a quoted value may span lines, a `#` after
//! white space starts a comment), pairs each entry with its line, reports errors as
//! `line N: …` without the content, and can rewrite a value in place (`import --rewrite`).

use std::ops::Range;

use zeroize::Zeroizing;

/// One `KEY=VALUE` assignment.
pub struct Entry {
    pub key: String,
    /// The value after dotenv's unquoting, escapes and substitution.
    pub value: Zeroizing<String>,
    /// The 1-based line where the assignment starts.
    pub line: usize,
    /// The value as written (quotes included), as a byte range of the source: what a rewrite
    /// replaces. Comments and the `KEY=` part lie outside it.
    pub value_span: Range<usize>,
}

impl Entry {
    /// Whether the value spans several lines.
    pub fn is_multiline(&self) -> bool {
        self.value.contains('\n')
    }
}

/// A syntax error, located but never quoting the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct DotenvError {
    pub line: usize,
    pub reason: &'static str,
}

/// A logical line: one assignment, possibly spanning physical lines.
struct Logical {
    /// The content as `dotenvy` sees it (comment cut off, newline removed).
    range: Range<usize>,
    line: usize,
    /// Where the file ended inside this line's value, if it did: a quote still open, or
    /// white space with no newline after it.
    unterminated: Option<State>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Complete,
    Escape,
    StrongOpen,
    StrongOpenEscape,
    WeakOpen,
    WeakOpenEscape,
    WhiteSpace,
}

/// The end state after `text`, or the offset of a comment's `#`: `dotenvy`'s own automaton
/// (`iter.rs`, `eval_end_state`), so both agree on where values end.
fn end_state(mut state: State, text: &str) -> Result<State, usize> {
    for (pos, c) in text.char_indices() {
        state = match state {
            State::WhiteSpace => match c {
                '#' => return Err(pos),
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::Escape => State::Complete,
            State::Complete => match c {
                c if c.is_whitespace() && c != '\n' && c != '\r' => State::WhiteSpace,
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::WeakOpen => match c {
                '\\' => State::WeakOpenEscape,
                '"' => State::Complete,
                _ => State::WeakOpen,
            },
            State::WeakOpenEscape => State::WeakOpen,
            State::StrongOpen => match c {
                '\\' => State::StrongOpenEscape,
                '\'' => State::Complete,
                _ => State::StrongOpen,
            },
            State::StrongOpenEscape => State::StrongOpen,
        };
    }
    Ok(state)
}

/// Splits `source` (from `start`) into the logical lines that hold something other than
/// blanks or comments.
fn logical_lines(source: &str, start: usize) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut pos = start;
    let mut line_no = 1;
    while pos < source.len() {
        let first_line = line_no;
        let begin = pos;
        let mut state = State::Complete;
        let end;
        let mut unterminated = None;
        loop {
            let line_end = source[pos..]
                .find('\n')
                .map_or(source.len(), |i| pos + i + 1);
            let physical = &source[pos..line_end];
            line_no += 1;
            // A line starting with '#' is a comment, even inside an unfinished value: this is
            // dotenvy's reading too.
            if source[begin..line_end].trim_start().starts_with('#') {
                end = begin;
                pos = line_end;
                break;
            }
            match end_state(state, physical) {
                Err(hash) => {
                    end = pos + hash;
                    pos = line_end;
                    break;
                }
                Ok(State::Complete) => {
                    end = line_end;
                    pos = line_end;
                    break;
                }
                Ok(next) => {
                    state = next;
                    pos = line_end;
                    if pos >= source.len() {
                        end = pos;
                        unterminated = Some(next);
                        break;
                    }
                }
            }
        }
        let text = source[begin..end]
            .trim_end_matches('\n')
            .trim_end_matches('\r');
        let end = begin + text.len();
        let blank = {
            let t = source[begin..end].trim();
            t.is_empty() || t.starts_with('#')
        };
        if !blank || unterminated.is_some() {
            out.push(Logical {
                range: begin..end,
                line: first_line,
                unterminated,
            });
        }
    }
    out
}

/// Where the value starts in an assignment: after `KEY`, `=` and white space.
fn value_start(text: &str) -> Option<usize> {
    let eq = text.find('=')?;
    let rest = &text[eq + 1..];
    Some(eq + 1 + (rest.len() - rest.trim_start().len()))
}

/// Where the value ends in an assignment: before trailing white space, except the one
/// character a trailing backslash escapes (`KEY=\<VT>`: that character is the value).
fn value_end(text: &str) -> usize {
    let trimmed = text.trim_end();
    let backslashes = trimmed.len() - trimmed.trim_end_matches('\\').len();
    match text[trimmed.len()..].chars().next() {
        Some(escaped) if backslashes % 2 == 1 => trimmed.len() + escaped.len_utf8(),
        _ => trimmed.len(),
    }
}

/// The key of an assignment, as `dotenvy` reads it (`export` is an optional prefix).
fn key_of(text: &str) -> Option<&str> {
    let left = text[..text.find('=')?].trim();
    let key = match left.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => left,
    };
    Some(key)
}

/// Parses a `.env` file. A byte-order mark is skipped, as `dotenvy` does when loading.
pub fn parse(source: &str) -> Result<Vec<Entry>, DotenvError> {
    let start = if source.starts_with('\u{feff}') { 3 } else { 0 };
    let lines = logical_lines(source, start);
    let mut entries = Vec::with_capacity(lines.len());
    let mut parsed = dotenvy::from_read_iter(&source.as_bytes()[start..]);
    for logical in &lines {
        match logical.unterminated {
            None => {}
            // dotenvy refuses this too; say what to change rather than blame a quote.
            Some(State::WhiteSpace) => {
                return Err(DotenvError {
                    line: logical.line,
                    reason: "the file ends in white space with no newline after it; end it with a newline",
                });
            }
            Some(_) => {
                return Err(DotenvError {
                    line: logical.line,
                    reason: "a quote opened here is never closed",
                });
            }
        }
        let fail = |reason| DotenvError {
            line: logical.line,
            reason,
        };
        let (key, value) = match parsed.next() {
            Some(Ok(item)) => item,
            Some(Err(dotenvy::Error::LineParse(..))) => {
                return Err(fail(
                    "not a valid KEY=VALUE assignment (check quotes, escapes and spaces)",
                ));
            }
            Some(Err(_)) => return Err(fail("cannot be read (is the file UTF-8?)")),
            None => return Err(fail("could not be matched with the parsed entries")),
        };
        let value = Zeroizing::new(value);
        let text = &source[logical.range.clone()];
        if key_of(text) != Some(key.as_str()) {
            return Err(fail("could not be matched with the parsed entries"));
        }
        let mut from = logical.range.start + value_start(text).unwrap_or(text.len());
        let mut to = logical.range.start + value_end(text);
        if to <= from {
            // No value: a replacement goes right after `=`, never up against a comment
            // (`KEY= # note` must not become `KEY= coffer:x# note`, another reference).
            from = logical.range.start + text.find('=').map_or(text.len(), |eq| eq + 1);
            to = from;
        }
        entries.push(Entry {
            key,
            value,
            line: logical.line,
            value_span: from..to,
        });
    }
    if parsed.next().is_some() {
        // dotenvy found an entry our line grouping did not: never guess.
        let line = lines.last().map_or(1, |l| l.line);
        return Err(DotenvError {
            line,
            reason: "could not be matched with the parsed entries",
        });
    }
    Ok(entries)
}

/// `source` with the values of some entries replaced: `replacement` returns the new value
/// text (written as is, so it must be a single dotenv word) or `None` to keep an entry.
pub fn rewrite(
    source: &str,
    entries: &[Entry],
    mut replacement: impl FnMut(&Entry) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for entry in entries {
        if let Some(new) = replacement(entry) {
            out.push_str(&source[last..entry.value_span.start]);
            out.push_str(&new);
            last = entry.value_span.end;
        }
    }
    out.push_str(&source[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(source: &str) -> Vec<(String, String, usize)> {
        parse(source)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.to_string(), e.line))
            .collect()
    }

    /// Fuzzing found `p=\<VT>`: the value span must cover what the parser read as the value,
    /// so the rewrite leaves a file that parses to the same keys.
    #[test]
    fn a_rewrite_of_odd_whitespace_after_the_equals_parses_again() {
        for source in [
            "p=\\\u{b}",
            "p=\u{b}x",
            "p=\u{c}\u{b}",
            "p=\\\u{c}\n",
            "p=a\\ \n",
        ] {
            crate::fuzzing::dotenv(source.as_bytes());
        }
        let err = parse("A=1 ").err().map(|e| e.reason);
        assert_eq!(
            err,
            Some("the file ends in white space with no newline after it; end it with a newline")
        );
    }

    #[test]
    fn quotes_export_comments_and_multiline_values() {
        let source = "# header\n\nA=1\nexport B='two words' # note\nC=\"x\\ny\"\nD=\"line1\nline2\"\n  # indented comment\nE=e#not-a-comment\nF=\nG = spaced\n";
        assert_eq!(
            pairs(source),
            [
                ("A".into(), "1".into(), 3),
                ("B".into(), "two words".into(), 4),
                ("C".into(), "x\ny".into(), 5),
                ("D".into(), "line1\nline2".into(), 6),
                ("E".into(), "e#not-a-comment".into(), 9),
                ("F".into(), "".into(), 10),
                ("G".into(), "spaced".into(), 11),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_never_the_content() {
        let err = parse("A=1\nB=2\nthis is not valid hunter2\n")
            .err()
            .unwrap();
        assert_eq!(err.line, 3);
        assert!(!err.to_string().contains("hunter2"));
        let err = parse("A=1\nB=\"open\nC=3\n").err().unwrap();
        assert_eq!(err.line, 2);
        assert_eq!(err.reason, "a quote opened here is never closed");
        let err = parse("A=1\nB=x y\n").err().unwrap();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn rewriting_keeps_everything_but_the_values() {
        let source = "# db\nexport DB_PASS=\"s3 cret\" # prod\nUSER=alice\nKEY='multi\nline'\n";
        let entries = parse(source).unwrap();
        let out = rewrite(source, &entries, |e| {
            (e.key != "USER").then(|| format!("coffer:app/{}", e.key))
        });
        assert_eq!(
            out,
            "# db\nexport DB_PASS=coffer:app/DB_PASS # prod\nUSER=alice\nKEY=coffer:app/KEY\n"
        );
        let again = pairs(&out);
        assert_eq!(again[0].1, "coffer:app/DB_PASS");
    }

    #[test]
    fn an_empty_value_before_a_comment_is_rewritten_before_it() {
        // Found by fuzzing (fuzz/artifacts/dotenv/).
        let source = "A=\t# note\nB= #x\n";
        let entries = parse(source).unwrap();
        let out = rewrite(source, &entries, |_| Some("coffer:x".into()));
        assert_eq!(out, "A=coffer:x\t# note\nB=coffer:x #x\n");
        assert!(parse(&out).unwrap().iter().all(|e| *e.value == "coffer:x"));
    }

    #[test]
    fn crlf_and_bom() {
        assert_eq!(
            pairs("\u{feff}A=1\r\nB=\"2\"\r\n"),
            [("A".into(), "1".into(), 1), ("B".into(), "2".into(), 2)]
        );
    }

    proptest! {
        #[test]
        fn quoted_values_round_trip(
            values in prop::collection::vec("[a-zA-Z0-9 #=!@^&*()_+.,:/\n-]{0,20}", 1..5),
        ) {
            let mut source = String::from("# generated\n");
            for (i, v) in values.iter().enumerate() {
                source.push_str(&format!("K{i}='{v}'\n"));
            }
            let entries = parse(&source).unwrap();
            prop_assert_eq!(entries.len(), values.len());
            let mut line = 2;
            for (entry, v) in entries.iter().zip(&values) {
                prop_assert_eq!(entry.value.as_str(), v.as_str());
                prop_assert_eq!(entry.line, line);
                line += 1 + v.matches('\n').count();
            }
        }

        #[test]
        fn parsing_never_panics(source in "[A-Z=#'\" \\\\\n$a-z{}]{0,40}") {
            let _ = parse(&source);
        }
    }
}
