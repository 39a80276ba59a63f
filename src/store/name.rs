//! Secret names and folders: the only way to turn user input into a place in the store.
//!
//! A [`SecretName`] can only be built by validating it, and every path under the store is
//! derived from one (or from a [`Folder`]), so a traversal bug would have to defeat the type,
//! not just a check someone forgot.

use std::fmt;

/// Why a name was refused. Never carries the name's bytes beyond what is printable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a secret name cannot be empty")]
    Empty,
    #[error("a secret name cannot start with '/'")]
    Absolute,
    #[error("a secret name cannot have an empty component (\"//\" or a trailing '/')")]
    EmptyComponent,
    #[error("a secret name cannot contain '.' or '..' components")]
    DotComponent,
    #[error("a name component cannot start with '.' (reserved for store metadata)")]
    Hidden,
    #[error("a secret name cannot contain NUL or control characters")]
    Control,
    #[error(
        "a secret name cannot contain invisible or direction-changing characters (zero-width, bidi controls)"
    )]
    Invisible,
    #[error("a name component can be at most {MAX_COMPONENT_BYTES} bytes long")]
    ComponentTooLong,
    #[error("a secret name can be at most {MAX_NAME_BYTES} bytes long")]
    TooLong,
}

/// The longest file name the filesystems coffer runs on accept (`NAME_MAX`).
const FILE_NAME_MAX: usize = 255;

/// The most the store adds to a component in the files made from it: the longest suffix (an
/// exposure mark's `.exposed`; a secret's `.age` is shorter) inside a temporary file's
/// `.NAME.PID.RANDOM.tmp` (a pid of up to ten digits, sixteen hex digits).
const STORE_AFFIXES: usize =
    ".exposed".len() + ".".len() + ".4294967295.0123456789abcdef.tmp".len();

/// The longest name component, in bytes: every file the store makes from it, temporary
/// files included, still fits in [`FILE_NAME_MAX`].
pub const MAX_COMPONENT_BYTES: usize = FILE_NAME_MAX - STORE_AFFIXES;

/// The longest name, in bytes: with the store's own path it stays far below `PATH_MAX`
/// (4096), so tools that work on whole paths (git, a file manager) can reach every secret.
pub const MAX_NAME_BYTES: usize = 1024;

/// Characters that are invisible or reorder the text around them: two names that look the
/// same, or a name that displays as something else (`invoice\u{202e}fdp.exe`). The same set
/// that terminal-safe printing escapes.
pub use crate::sys::text::is_invisible_format as is_invisible;

/// Checks one `/`-free component of a name.
fn check_component(component: &str) -> Result<(), NameError> {
    if component.is_empty() {
        return Err(NameError::EmptyComponent);
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(NameError::ComponentTooLong);
    }
    if component == "." || component == ".." {
        return Err(NameError::DotComponent);
    }
    if component.starts_with('.') {
        return Err(NameError::Hidden);
    }
    if component.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if component.chars().any(is_invisible) {
        return Err(NameError::Invisible);
    }
    Ok(())
}

/// Whether `component` could be one `/`-free part of a name: what a walk of the store checks
/// per directory entry instead of building and validating each whole name.
pub fn is_valid_component(component: &str) -> bool {
    check_component(component).is_ok()
}

fn check_path(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.starts_with('/') {
        return Err(NameError::Absolute);
    }
    if raw.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    raw.split('/').try_for_each(check_component)
}

/// A validated secret name such as `email/work`: one or more components joined by `/`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Validates `raw` as a secret name.
    pub fn new(raw: &str) -> Result<Self, NameError> {
        check_path(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name as the user writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, from the store root down.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component: what `ls` shows.
    pub fn leaf(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The folder that holds this secret (the root for a top-level name).
    pub fn parent(&self) -> Folder {
        match self.0.rfind('/') {
            Some(i) => Folder(self.0[..i].to_owned()),
            None => Folder::root(),
        }
    }

    /// This name seen as a folder (for `show NAME` where NAME is a directory).
    pub fn as_folder(&self) -> Folder {
        Folder(self.0.clone())
    }

    /// `self` with `from`'s prefix replaced by `to` (for moving folders); `None` if `self`
    /// is not below `from` or the result would be longer than [`MAX_NAME_BYTES`].
    pub fn rebase(&self, from: &Folder, to: &Folder) -> Option<SecretName> {
        let rest = from.strip(self)?;
        to.try_join(&rest).ok()
    }

    /// The file name of this secret's age file, relative to the store root.
    pub fn relative_path(&self) -> String {
        format!("{}.age", self.0)
    }
}

/// Ordered as the name's text, so sorted maps of names can be searched by a prefix.
impl std::borrow::Borrow<str> for SecretName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({:?})", self.0)
    }
}

impl std::str::FromStr for SecretName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A validated folder inside the store; the empty folder is the store root.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Folder(String);

impl Folder {
    /// The store root.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Validates `raw` as a folder; `""` and `"/"` mean the root, a trailing `/` is ignored.
    pub fn new(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        check_path(trimmed)?;
        Ok(Self(trimmed.to_owned()))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The enclosing folder, or `None` for the root.
    pub fn parent(&self) -> Option<Folder> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => Folder(self.0[..i].to_owned()),
            None => Folder::root(),
        })
    }

    /// This folder and every folder above it, nearest first, ending with the root.
    pub fn ancestors(&self) -> impl Iterator<Item = Folder> {
        std::iter::successors(Some(self.clone()), Folder::parent)
    }

    /// A secret directly inside this folder, or a relative path below it. The result may be
    /// longer than [`MAX_NAME_BYTES`]; use [`Folder::try_join`] for names that will be written.
    pub fn join(&self, rest: &SecretName) -> SecretName {
        if self.is_root() {
            rest.clone()
        } else {
            SecretName(format!("{}/{}", self.0, rest.0))
        }
    }

    /// [`Folder::join`], refusing a result longer than [`MAX_NAME_BYTES`] (both parts are
    /// valid, so that is all that can go wrong).
    pub fn try_join(&self, rest: &SecretName) -> Result<SecretName, NameError> {
        let joined = self.join(rest);
        if joined.0.len() > MAX_NAME_BYTES {
            return Err(NameError::TooLong);
        }
        Ok(joined)
    }

    /// Whether `name` lies somewhere below this folder.
    pub fn contains(&self, name: &SecretName) -> bool {
        self.strip(name).is_some()
    }

    /// Whether `other` is this folder or lies below it.
    pub fn contains_folder(&self, other: &Folder) -> bool {
        self.is_root()
            || other.0 == self.0
            || other
                .0
                .strip_prefix(&self.0)
                .is_some_and(|r| r.starts_with('/'))
    }

    /// `name` relative to this folder, if it lies below it.
    pub fn strip(&self, name: &SecretName) -> Option<SecretName> {
        self.relative(name).map(|rest| SecretName(rest.to_owned()))
    }

    /// [`Folder::strip`] without the copy: the rest of `name` below this folder, borrowed.
    pub fn relative<'a>(&self, name: &'a SecretName) -> Option<&'a str> {
        if self.is_root() {
            return Some(&name.0);
        }
        name.0.strip_prefix(&self.0)?.strip_prefix('/')
    }

    /// The folder as a secret name, if it is not the root.
    pub fn as_name(&self) -> Option<SecretName> {
        (!self.is_root()).then(|| SecretName(self.0.clone()))
    }
}

/// Ordered as the folder's text, so sorted maps of folders can be searched by a prefix.
impl std::borrow::Borrow<str> for Folder {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Folder({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joining_stops_at_the_length_limit() {
        // A folder of exactly MAX - 3 bytes: `/xy` brings a name to the limit, `/xyz` past it.
        let mut path = String::new();
        while path.len() < MAX_NAME_BYTES - 3 {
            if !path.is_empty() {
                path.push('/');
            }
            let room = (MAX_NAME_BYTES - 3 - path.len()).min(100);
            path.push_str(&"f".repeat(room.max(1)));
        }
        assert_eq!(path.len(), MAX_NAME_BYTES - 3);
        let folder = Folder::new(&path).unwrap();
        let joined = folder.try_join(&SecretName::new("xy").unwrap()).unwrap();
        assert_eq!(joined.as_str().len(), MAX_NAME_BYTES);
        assert_eq!(joined.as_str(), format!("{path}/xy"));
        assert_eq!(
            folder.try_join(&SecretName::new("xyz").unwrap()),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn names_print_as_typed() {
        let name = SecretName::new("web/shop").unwrap();
        assert_eq!(name.to_string(), "web/shop");
        assert!(format!("{name:?}").contains("web/shop"));
        let folder = Folder::new("web").unwrap();
        assert_eq!(folder.to_string(), "web");
        assert!(format!("{folder:?}").contains("web"));
        assert!(Folder::root().is_root() && Folder::root().to_string().is_empty());
    }

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "a",
            "email/work",
            "Ünïcode/ключ",
            "with space/x y",
            "a.b",
            "x.age",
        ] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_and_oddities() {
        let cases = [
            ("", NameError::Empty),
            ("/etc/passwd", NameError::Absolute),
            ("a//b", NameError::EmptyComponent),
            ("a/", NameError::EmptyComponent),
            ("..", NameError::DotComponent),
            ("a/../../b", NameError::DotComponent),
            ("./a", NameError::DotComponent),
            (".git/config", NameError::Hidden),
            ("a/.age-recipients", NameError::Hidden),
            ("a\0b", NameError::Control),
            ("a\nb", NameError::Control),
            ("a\x1b[31m", NameError::Control),
            ("a\u{200b}b", NameError::Invisible),
            ("x/invoice\u{202e}fdp.exe", NameError::Invisible),
            ("\u{feff}x", NameError::Invisible),
            ("a\u{2069}", NameError::Invisible),
            ("a\u{61c}b", NameError::Invisible),
        ];
        for (raw, err) in cases {
            assert_eq!(SecretName::new(raw), Err(err), "{raw:?}");
        }
    }

    #[test]
    fn folder_relations() {
        let f = Folder::new("team/").unwrap();
        let n = SecretName::new("team/db/prod").unwrap();
        assert!(f.contains(&n));
        assert!(!Folder::new("tea").unwrap().contains(&n));
        assert_eq!(f.strip(&n).unwrap().as_str(), "db/prod");
        assert_eq!(
            n.rebase(&f, &Folder::new("ops").unwrap()).unwrap().as_str(),
            "ops/db/prod"
        );
        let chain: Vec<String> = n.parent().ancestors().map(|f| f.to_string()).collect();
        assert_eq!(chain, ["team/db", "team", ""]);
    }

    #[test]
    fn lengths_are_limited_so_every_file_fits() {
        // A temporary file for the longest component's longest file still fits in NAME_MAX.
        let longest = "x".repeat(MAX_COMPONENT_BYTES);
        let temp = format!(".{longest}.exposed.{}.{:016x}.tmp", u32::MAX, u64::MAX);
        assert!(temp.len() <= FILE_NAME_MAX, "{}", temp.len());
        assert!(SecretName::new(&longest).is_ok());
        assert_eq!(
            SecretName::new(&format!("{longest}x")),
            Err(NameError::ComponentTooLong)
        );
        // Multi-byte characters count in bytes.
        assert_eq!(
            SecretName::new(&"é".repeat(MAX_COMPONENT_BYTES / 2 + 1)),
            Err(NameError::ComponentTooLong)
        );
        let deep = vec!["abcdefg"; MAX_NAME_BYTES / 8].join("/");
        assert!(SecretName::new(&deep).is_ok(), "{}", deep.len());
        // The limit itself is allowed; one byte more is not.
        let exact = format!("{deep}x");
        assert_eq!(exact.len(), MAX_NAME_BYTES);
        assert!(SecretName::new(&exact).is_ok());
        assert_eq!(
            SecretName::new(&format!("{exact}y")),
            Err(NameError::TooLong)
        );
        assert_eq!(
            SecretName::new(&format!("{deep}/abcdefg")),
            Err(NameError::TooLong)
        );
        assert_eq!(
            Folder::new(&format!("{deep}/abcdefg")),
            Err(NameError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn valid_names_never_escape(raw in "[a-z./\\\\\\x00-\\x1f \u{200b}\u{202e}]{0,12}|[a-z/]{200,1100}") {
            if let Ok(name) = SecretName::new(&raw) {
                prop_assert!(!name.as_str().starts_with('/'));
                for c in name.components() {
                    prop_assert!(!c.is_empty() && !c.starts_with('.'));
                    prop_assert!(!c.chars().any(char::is_control));
                    prop_assert!(c.len() <= MAX_COMPONENT_BYTES);
                }
                prop_assert!(name.as_str().len() <= MAX_NAME_BYTES);
            }
        }

        #[test]
        fn any_printable_component_round_trips(parts in prop::collection::vec("[a-zA-Z0-9 _@é-]{1,8}", 1..4)) {
            let raw = parts.join("/");
            let name = SecretName::new(&raw).unwrap();
            prop_assert_eq!(name.as_str(), raw.as_str());
            prop_assert_eq!(name.components().count(), parts.len());
        }
    }
}
