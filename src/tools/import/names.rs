//! Turning foreign titles and folders into secret names, predictably.
//!
//! A password manager allows anything in a title: slashes, newlines, a leading dot, a thousand
//! characters. [`sanitize_component`] maps any text to a valid name component (or nothing) by
//! fixed rules, so the same export always yields the same names, and [`NameAllocator`] numbers
//! collisions `name`, `name-2`, `name-3`, … in the order the entries come.

use std::collections::HashSet;

use crate::store::name::{self, NameError, SecretName};

/// The longest component we produce, in bytes. File names are limited to 255 bytes, and the
/// storage layer needs room for `.age` and its temporary-file decoration.
pub const MAX_COMPONENT_BYTES: usize = 200;

/// The name given to an entry without a usable title.
pub const UNTITLED: &str = "untitled";

/// Makes `raw` a valid name component, or `None` if nothing is left of it.
///
/// The rules, applied in order:
/// 1. control characters (newlines, tabs, escapes, NUL) become spaces, `/` becomes `-`, and
///    invisible or direction-changing characters (zero-width, bidi controls) are dropped;
/// 2. runs of whitespace become one space;
/// 3. leading dots and spaces are removed (a leading dot is reserved for store metadata),
///    and trailing spaces;
/// 4. the result is cut to [`MAX_COMPONENT_BYTES`] on a character boundary.
///
/// Sanitising is idempotent, and a component that is already tidy comes out unchanged.
pub fn sanitize_component(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars().filter(|c| !name::is_invisible(*c)) {
        let c = if c == '/' {
            '-'
        } else if c.is_control() {
            ' '
        } else {
            c
        };
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if out.is_empty() && c == '.' {
            // Leading dots go, and the spaces between them with them.
            pending_space = false;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    if out.len() > MAX_COMPONENT_BYTES {
        let mut cut = MAX_COMPONENT_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
    }
    (!out.is_empty()).then_some(out)
}

/// The longest name we produce, in bytes: room is left for [`NameAllocator`]'s `-N`.
pub const MAX_NAME_BYTES: usize = name::MAX_NAME_BYTES - "-18446744073709551615".len();

/// The name for an entry in `folders` (outermost first) titled `title`: each part sanitised,
/// empty folders dropped, an empty title replaced by [`UNTITLED`]. When the whole would be
/// longer than [`MAX_NAME_BYTES`], the folders are cut to equal shares of what the title
/// leaves. Every part is a valid component by construction, so the error is only there to
/// keep this total.
pub fn name_from_parts<'a>(
    folders: impl IntoIterator<Item = &'a str>,
    title: &str,
) -> Result<SecretName, NameError> {
    let mut parts: Vec<String> = folders.into_iter().filter_map(sanitize_component).collect();
    let title = sanitize_component(title).unwrap_or_else(|| UNTITLED.to_owned());
    let total = parts.iter().map(|p| p.len() + 1).sum::<usize>() + title.len();
    if total > MAX_NAME_BYTES {
        let share = ((MAX_NAME_BYTES - title.len()) / parts.len()).saturating_sub(1);
        parts = parts
            .into_iter()
            .filter_map(|p| sanitize_component(cut_at(&p, share)))
            .collect();
    }
    parts.push(title);
    SecretName::new(&parts.join("/"))
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut_at(text: &str, max: usize) -> &str {
    let mut cut = max.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Hands out names without repeats: the first `x` is `x`, the next `x-2`, then `x-3`, …
#[derive(Debug, Default)]
pub struct NameAllocator {
    used: HashSet<SecretName>,
}

impl NameAllocator {
    pub fn new() -> Self {
        Self::default()
    }

    /// `wanted`, or the first free numbered variant of it.
    pub fn allocate(&mut self, wanted: SecretName) -> SecretName {
        if self.used.insert(wanted.clone()) {
            return wanted;
        }
        let folder = wanted.parent();
        let leaf = wanted.leaf();
        let mut n: u64 = 2;
        loop {
            let candidate = format!("{leaf}-{n}");
            if let Ok(name) = SecretName::new(&candidate).map(|c| folder.join(&c))
                && self.used.insert(name.clone())
            {
                return name;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tidy_components_are_unchanged() {
        for ok in [
            "GitHub",
            "my bank",
            "Ünïcode ключ",
            "a.b",
            "x-2",
            "e-mail@work",
        ] {
            assert_eq!(sanitize_component(ok).as_deref(), Some(ok));
        }
    }

    #[test]
    fn the_rules_in_action() {
        let cases = [
            (
                "https://example.com/login",
                Some("https:--example.com-login"),
            ),
            ("  two\n lines\t", Some("two lines")),
            (".ssh", Some("ssh")),
            ("..", None),
            (". . .hidden", Some("hidden")),
            ("", None),
            ("\x1b[31mred", Some("[31mred")),
            ("a\0b", Some("a b")),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_component(raw).as_deref(), want, "{raw:?}");
        }
        let long = "é".repeat(150);
        let cut = sanitize_component(&long).unwrap();
        assert_eq!(cut.len(), 200);
        assert!(long.starts_with(&cut));
    }

    #[test]
    fn names_from_folders_and_titles() {
        assert_eq!(
            name_from_parts(["Work", "", "../Mail"], "Inbox/Main")
                .unwrap()
                .as_str(),
            "Work/-Mail/Inbox-Main"
        );
        assert_eq!(name_from_parts([], "  ").unwrap().as_str(), "untitled");
        assert_eq!(name_from_parts(["."], ".x").unwrap().as_str(), "x");
        assert_eq!(
            name_from_parts(["a\u{202e}b"], "x\u{200b}y")
                .unwrap()
                .as_str(),
            "ab/xy"
        );
        // Deep folders are shortened so the whole name fits, the title kept.
        let deep = vec!["f".repeat(200); 10];
        let name = name_from_parts(deep.iter().map(String::as_str), &"t".repeat(200)).unwrap();
        assert!(
            name.as_str().len() <= MAX_NAME_BYTES,
            "{}",
            name.as_str().len()
        );
        assert_eq!(name.components().count(), 11);
        assert_eq!(name.leaf(), "t".repeat(200));
    }

    #[test]
    fn collisions_are_numbered_in_order() {
        let mut alloc = NameAllocator::new();
        let n = |s: &str| SecretName::new(s).unwrap();
        assert_eq!(alloc.allocate(n("a/x")).as_str(), "a/x");
        assert_eq!(alloc.allocate(n("a/x")).as_str(), "a/x-2");
        assert_eq!(alloc.allocate(n("a/x-2")).as_str(), "a/x-2-2");
        assert_eq!(alloc.allocate(n("a/x")).as_str(), "a/x-3");
        assert_eq!(alloc.allocate(n("b/x")).as_str(), "b/x");
    }

    proptest! {
        #[test]
        fn sanitised_components_are_valid_and_stable(raw in any::<String>()) {
            if let Some(c) = sanitize_component(&raw) {
                prop_assert!(SecretName::new(&c).is_ok(), "{c:?}");
                prop_assert!(!c.contains('/'));
                prop_assert!(c.len() <= MAX_COMPONENT_BYTES);
                prop_assert_eq!(sanitize_component(&c), Some(c.clone()));
            }
        }

        #[test]
        fn hostile_text_never_escapes(raw in "[./\\\\ \\x00-\\x1f a-z]{0,24}") {
            if let Some(c) = sanitize_component(&raw) {
                prop_assert!(!c.starts_with('.'));
                prop_assert!(c != "..");
                prop_assert!(!c.chars().any(char::is_control));
            }
        }

        #[test]
        fn any_parts_make_a_valid_name(
            folders in prop::collection::vec(any::<String>(), 0..12),
            title in any::<String>(),
        ) {
            let name = name_from_parts(folders.iter().map(String::as_str), &title);
            prop_assert!(name.is_ok_and(|n| n.as_str().len() <= MAX_NAME_BYTES));
        }

        #[test]
        fn allocated_names_are_unique(titles in prop::collection::vec("[ab]{1,2}", 0..30)) {
            let mut alloc = NameAllocator::new();
            let mut seen = HashSet::new();
            for t in titles {
                let name = alloc.allocate(name_from_parts([], &t).unwrap());
                prop_assert!(seen.insert(name));
            }
        }
    }
}
