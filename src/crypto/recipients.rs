//! Recipients: who can read a folder, parsed once into an allow-listed type.
//!
//! A `.age-recipients` file uses age's recipients-file format. Each key line becomes a
//! [`Recipient`]; a `#` comment line directly above it becomes its label. Raw lines never reach
//! the encryptor, and a line that is not an accepted kind is an error naming the file and line
//! number — never the line itself, which could be anything.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::sys::text::terminal_safe;

/// Why a recipients file or argument was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error("{file}:{line}: not a recipient coffer accepts (age1…, ssh-ed25519 or ssh-rsa)")]
    UnknownKind { file: PathBuf, line: usize },
    #[error(
        "{file}:{line}: plugin recipient for age-plugin-{plugin}, which is not allowed in this device's config"
    )]
    PluginNotAllowed {
        file: PathBuf,
        line: usize,
        plugin: String,
    },
    #[error("{file}: not valid UTF-8")]
    NotUtf8 { file: PathBuf },
    #[error("{0:?} is not a recipient coffer accepts (age1…, ssh-ed25519 or ssh-rsa)")]
    BadArgument(String),
}

/// The kind of a parsed recipient.
#[derive(Clone)]
enum Kind {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

/// One accepted recipient: a public key and an optional human label.
#[derive(Clone)]
pub struct Recipient {
    kind: Kind,
    /// The canonical text of the key, as written to a recipients file.
    key: String,
    label: Option<String>,
}

impl Recipient {
    /// Parses one public key as it would appear on a recipients-file line.
    pub fn parse(text: &str) -> Result<Self, RecipientError> {
        parse_key(text.trim()).ok_or_else(|| RecipientError::BadArgument(text.to_owned()))
    }

    /// The type of the header stanza age writes for this recipient.
    pub fn stanza_type(&self) -> &'static str {
        match &self.kind {
            Kind::X25519(_) => "X25519",
            Kind::Ssh(_) if self.key.starts_with("ssh-rsa") => "ssh-rsa",
            Kind::Ssh(_) => "ssh-ed25519",
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    pub fn with_label(mut self, label: Option<String>) -> Self {
        self.label = label;
        self
    }

    pub(crate) fn as_age(&self) -> &dyn age::Recipient {
        match &self.kind {
            Kind::X25519(r) => r,
            Kind::Ssh(r) => r,
        }
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Recipient {}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.key)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A label comes from a file anyone with push access can edit.
        match &self.label {
            Some(label) => write!(f, "{} ({})", self.key, terminal_safe(label)),
            None => f.write_str(&self.key),
        }
    }
}

fn parse_key(text: &str) -> Option<Recipient> {
    if text.starts_with("age1") {
        let r: age::x25519::Recipient = text.parse().ok()?;
        return Some(Recipient {
            key: r.to_string(),
            kind: Kind::X25519(r),
            label: None,
        });
    }
    if text.starts_with("ssh-ed25519 ") || text.starts_with("ssh-rsa ") {
        let r: age::ssh::Recipient = text.parse().ok()?;
        // Keep the key type and blob, drop the trailing comment (often an e-mail address).
        let key: Vec<&str> = text.split_whitespace().take(2).collect();
        return Some(Recipient {
            key: key.join(" "),
            kind: Kind::Ssh(r),
            label: None,
        });
    }
    None
}

/// Whether `text` looks like a plugin recipient (`age1NAME1…`), and for which plugin.
fn plugin_name(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("age1")?;
    let end = rest.find('1')?;
    let name = &rest[..end];
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
    .then_some(name)
}

/// The recipients that apply to a folder, and where they came from.
#[derive(Clone, Debug)]
pub struct Recipients {
    list: Vec<Recipient>,
    source: PathBuf,
}

impl Recipients {
    pub fn new(list: Vec<Recipient>, source: PathBuf) -> Self {
        Self { list, source }
    }

    /// Parses a recipients file. `source` is only used to name the file in errors.
    pub fn parse(bytes: &[u8], source: &Path) -> Result<Self, RecipientError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RecipientError::NotUtf8 {
            file: source.to_owned(),
        })?;
        let mut list: Vec<Recipient> = Vec::new();
        // Keys seen so far: duplicates are dropped in one pass, whatever the file's size.
        let mut seen: HashSet<String> = HashSet::new();
        let mut pending_label: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                pending_label = None;
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim();
                pending_label = (!comment.is_empty()).then(|| comment.to_owned());
                continue;
            }
            let recipient = match parse_key(line) {
                Some(r) => r,
                None => {
                    let file = source.to_owned();
                    let line = index + 1;
                    return Err(match plugin_name(line_text(text, index)) {
                        Some(plugin) => RecipientError::PluginNotAllowed {
                            file,
                            line,
                            plugin: plugin.to_owned(),
                        },
                        None => RecipientError::UnknownKind { file, line },
                    });
                }
            };
            let recipient = recipient.with_label(pending_label.take());
            if seen.insert(recipient.key.clone()) {
                list.push(recipient);
            }
        }
        Ok(Self {
            list,
            source: source.to_owned(),
        })
    }

    /// Renders the recipients-file text: each label as a comment above its key.
    pub fn to_file_text(&self) -> String {
        let mut out = String::new();
        for r in &self.list {
            if let Some(label) = &r.label {
                out.push_str("# ");
                out.push_str(label);
                out.push('\n');
            }
            out.push_str(&r.key);
            out.push('\n');
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Recipient> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The file (or variable) these recipients came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Whether both sets hold the same keys, whatever their order and labels.
    pub fn same_keys(&self, other: &Recipients) -> bool {
        fn keys(r: &Recipients) -> HashSet<&str> {
            r.list.iter().map(Recipient::key).collect()
        }
        self.list.len() == other.list.len() && keys(self) == keys(other)
    }

    pub(crate) fn as_age(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.list.iter().map(Recipient::as_age)
    }
}

fn line_text(text: &str, index: usize) -> &str {
    text.lines().nth(index).unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn key() -> String {
        age::x25519::Identity::generate().to_public().to_string()
    }

    #[test]
    fn parses_keys_labels_and_comments() {
        let (a, b) = (key(), key());
        let text = format!("# alice\n{a}\n\n# not a label, blank line follows\n\n{b}  \n{a}\n");
        let r = Recipients::parse(text.as_bytes(), Path::new("x")).unwrap();
        assert_eq!(r.len(), 2, "duplicates are dropped");
        let v: Vec<_> = r.iter().collect();
        assert_eq!(v[0].key(), a);
        assert_eq!(v[0].label(), Some("alice"));
        assert_eq!(v[1].label(), None);
        let again = Recipients::parse(r.to_file_text().as_bytes(), Path::new("y")).unwrap();
        assert!(again.same_keys(&r));
    }

    #[test]
    fn unknown_lines_name_file_and_line_without_echoing() {
        let text = format!("{}\nAGE-SECRET-KEY-1NOTHINGTOSEEHERE\n", key());
        let err = Recipients::parse(text.as_bytes(), Path::new("store/.age-recipients"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store/.age-recipients:2"), "{err}");
        assert!(!err.contains("NOTHINGTOSEE"), "{err}");
    }

    #[test]
    fn plugin_recipients_are_refused_by_name() {
        let err = Recipients::parse(b"age1yubikey1qwertyuiop\n", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("age-plugin-yubikey"), "{err}");
        assert!(err.contains("f:1"), "{err}");
    }

    #[test]
    fn a_secret_key_is_not_a_recipient() {
        let id = age::x25519::Identity::generate();
        assert!(Recipient::parse(id.to_string().expose_secret()).is_err());
    }
}
