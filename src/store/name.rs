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
}

/// Checks one `/`-free component of a name.
fn check_component(component: &str) -> Result<(), NameError> {
    if component.is_empty() {
        return Err(NameError::EmptyComponent);
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
    Ok(())
}

fn check_path(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.starts_with('/') {
        return Err(NameError::Absolute);
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

    /// `self` with `from`'s prefix replaced by `to` (for moving folders).
    pub fn rebase(&self, from: &Folder, to: &Folder) -> Option<SecretName> {
        let rest = from.strip(self)?;
        Some(to.join(&rest))
    }

    /// The file name of this secret's age file, relative to the store root.
    pub fn relative_path(&self) -> String {
        format!("{}.age", self.0)
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

    /// A secret directly inside this folder, or a relative path below it.
    pub fn join(&self, rest: &SecretName) -> SecretName {
        if self.is_root() {
            rest.clone()
        } else {
            SecretName(format!("{}/{}", self.0, rest.0))
        }
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
        if self.is_root() {
            return Some(name.clone());
        }
        let rest = name.0.strip_prefix(&self.0)?.strip_prefix('/')?;
        Some(SecretName(rest.to_owned()))
    }

    /// The folder as a secret name, if it is not the root.
    pub fn as_name(&self) -> Option<SecretName> {
        (!self.is_root()).then(|| SecretName(self.0.clone()))
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

    proptest! {
        #[test]
        fn valid_names_never_escape(raw in "[a-z./\\\\\\x00-\\x1f ]{0,12}") {
            if let Ok(name) = SecretName::new(&raw) {
                prop_assert!(!name.as_str().starts_with('/'));
                for c in name.components() {
                    prop_assert!(!c.is_empty() && !c.starts_with('.'));
                    prop_assert!(!c.chars().any(char::is_control));
                }
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
