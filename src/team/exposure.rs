//! Exposure: which secrets a since-removed recipient could read.
//!
//! Removing someone from a recipients file and re-encrypting does not take back what they
//! already decrypted (or kept in their clone of the git history). So `recipients rm` marks
//! every secret they could read as *exposed*, in `.coffer/exposed/NAME.exposed` inside the
//! store, where the whole team sees it after a sync. A mark goes away when the secret's value
//! changes (insert, edit, generate: [`Vault::write`]); re-encryption leaves it, and `mv`/`cp`
//! carry it to the new name along with the unchanged value.

use std::fmt;

use crate::store::name::SecretName;
use crate::sys::text::terminal_safe;

const HEADER: &str = "# coffer: this secret was readable by a recipient who has since been removed.\n\
# Change its value (coffer edit / generate / insert) to clear this mark.\n";

/// One removal that exposed a secret: when, and who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// RFC 3339 time of the removal.
    pub at: String,
    pub key: String,
    pub label: Option<String>,
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(
                f,
                "{} ({}), removed {}",
                terminal_safe(label),
                terminal_safe(&self.key),
                terminal_safe(&self.at)
            ),
            None => write!(
                f,
                "{}, removed {}",
                terminal_safe(&self.key),
                terminal_safe(&self.at)
            ),
        }
    }
}

/// A secret marked exposed, and by which removals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub name: SecretName,
    pub removals: Vec<Removal>,
}

/// Keeps a mark's fields on their own line and column, whatever a label holds.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

pub(crate) fn render(removals: &[Removal]) -> String {
    let mut out = String::from(HEADER);
    for r in removals {
        out.push_str(&clean(&r.at));
        out.push('\t');
        out.push_str(&clean(&r.key));
        if let Some(label) = &r.label {
            out.push('\t');
            out.push_str(&clean(label));
        }
        out.push('\n');
    }
    out
}

/// Parses a mark. A mark is a fact ("exposed"), so even one whose lines cannot be read
/// still counts: it just lists no details.
pub(crate) fn parse(bytes: &[u8]) -> Vec<Removal> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let at = fields.next()?.trim().to_owned();
            let key = fields.next()?.trim().to_owned();
            let label = fields
                .next()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty());
            Some(Removal { at, key, label })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_labels_cannot_break_lines() {
        let removals = vec![
            Removal {
                at: "2025-01-01T00:00:00Z".into(),
                key: "age1abc".into(),
                label: Some("bob\n\tevil".into()),
            },
            Removal {
                at: "2025-02-01T00:00:00Z".into(),
                key: "ssh-ed25519 AAAA".into(),
                label: None,
            },
        ];
        let text = render(&removals);
        let back = parse(text.as_bytes());
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].label.as_deref(), Some("bob  evil"));
        assert_eq!(back[1], removals[1]);
        assert!(parse(b"# only a header\ngarbage\n").is_empty());
    }
}
