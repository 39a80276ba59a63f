//! Untrusted text made safe for a terminal.
//!
//! Labels in a pushed `.age-recipients`, secret names made by a teammate, git's output and
//! file paths are data, never instructions: printed raw, an escape sequence could redraw a
//! warning ("recipients unchanged") and a right-to-left override could make
//! `invoice\u{202e}gpj.exe` read as `invoiceexe.jpg`. [`terminal_safe`] shows every such
//! character as a visible escape instead. Secret values are never passed through it: `show`
//! prints them byte-exact, as pass does.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` changes what a terminal shows rather than being shown: C0 and C1 controls,
/// DEL, bidirectional controls, and invisible zero-width characters.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Bidirectional controls and zero-width characters: shown as nothing, they change how the
/// text around them reads (and are refused in new secret names).
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// `text` with every unsafe character replaced by a visible escape (`\e`, `\r`, `\u{202e}`),
/// borrowed when there is nothing to replace. Tabs stay, so tabular output keeps its shape.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\t' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push('\t'),
            '\x1b' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "team/db — prod\tlabel: Alice Émile";
        assert!(matches!(terminal_safe(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escapes_and_invisible_characters_become_visible() {
        assert_eq!(
            terminal_safe("evil\x1b[2K\rrecipients unchanged"),
            "evil\\e[2K\\rrecipients unchanged"
        );
        assert_eq!(
            terminal_safe("invoice\u{202e}gpj.exe"),
            "invoice\\u{202e}gpj.exe"
        );
        assert_eq!(terminal_safe("a\u{200b}b\u{feff}"), "a\\u{200b}b\\u{feff}");
        assert_eq!(
            terminal_safe("bell\x07\u{9b}31m"),
            "bell\\u{0007}\\u{009b}31m"
        );
        assert_eq!(terminal_safe("two\nlines"), "two\\nlines");
    }

    #[test]
    fn every_unsafe_character_is_caught() {
        for c in [
            '\u{0}', '\u{1f}', '\u{7f}', '\u{85}', '\u{2066}', '\u{2069}', '\u{61c}',
        ] {
            assert!(is_unsafe(c), "{c:?}");
            assert!(!terminal_safe(&c.to_string()).contains(c), "{c:?}");
        }
        for c in ['a', 'é', '€', '\u{2065}', '\u{2070}', '\u{2010}'] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }
}
