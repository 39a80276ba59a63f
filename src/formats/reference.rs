//! Secret references: `coffer:NAME` (line 1) and `coffer:NAME#FIELD` (a `key:` field).
//!
//! This is the one parser for references; `run`, `inject` and `import dotenv` all go through
//! it. A name or field holding `#`, `%`, white space, quotes, `$`, braces or control characters
//! is percent-encoded (`coffer:team/my%20db#api%23key`), so that a reference is always one
//! word that survives dotenv files, shell words and `{{ … }}` templates unchanged.
//!
//! Resolution decrypts each secret once, in parallel, and returns the values as [`Plaintext`].

use std::collections::HashMap;
use std::fmt;

use rayon::prelude::*;

use crate::crypto::secret::Plaintext;
use crate::store::name::{NameError, SecretName};
use crate::vault::{self, Reader};

/// What every reference starts with.
pub const SCHEME: &str = "coffer:";

/// The field that asks for the current one-time password rather than a stored value.
pub const OTP_FIELD: &str = "otp";

/// Why a piece of text is not a valid reference. Never carries the text itself: a value that
/// was mistaken for a reference may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("a reference starts with `coffer:`")]
    NoScheme,
    #[error("the reference has no secret name")]
    EmptyName,
    #[error("the field after '#' is empty")]
    EmptyField,
    #[error("a '#' inside a name or field must be written %23")]
    ExtraHash,
    #[error("white space in a reference must be written %20")]
    WhiteSpace,
    #[error("'%' must be followed by two hexadecimal digits (write a literal '%' as %25)")]
    BadEscape,
    #[error("the percent-decoded reference is not valid UTF-8")]
    NotUtf8,
    #[error("invalid secret name: {0}")]
    Name(#[from] NameError),
}

/// A parsed reference to a secret's password (line 1) or one of its fields.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    name: SecretName,
    field: Option<String>,
}

impl Reference {
    /// A reference to line 1 of `name`, or to its field `field`.
    pub fn new(name: SecretName, field: Option<String>) -> Result<Self, ReferenceError> {
        if field.as_deref() == Some("") {
            return Err(ReferenceError::EmptyField);
        }
        Ok(Self { name, field })
    }

    /// Whether `text` claims to be a reference (starts with `coffer:`), valid or not.
    pub fn is_reference(text: &str) -> bool {
        text.starts_with(SCHEME)
    }

    /// Parses `coffer:NAME` or `coffer:NAME#FIELD`, percent-decoding both parts.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let body = text.strip_prefix(SCHEME).ok_or(ReferenceError::NoScheme)?;
        if body.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ReferenceError::WhiteSpace);
        }
        let (raw_name, raw_field) = match body.split_once('#') {
            Some((name, field)) => (name, Some(field)),
            None => (body, None),
        };
        if raw_field.is_some_and(|f| f.contains('#')) {
            return Err(ReferenceError::ExtraHash);
        }
        if raw_name.is_empty() {
            return Err(ReferenceError::EmptyName);
        }
        let name = SecretName::new(&percent_decode(raw_name)?)?;
        let field = match raw_field {
            None => None,
            Some("") => return Err(ReferenceError::EmptyField),
            Some(f) => Some(percent_decode(f)?),
        };
        Ok(Self { name, field })
    }

    pub fn name(&self) -> &SecretName {
        &self.name
    }

    /// The field, or `None` for line 1.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Whether this asks for the current one-time password (`#otp`).
    pub fn is_otp(&self) -> bool {
        self.field
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case(OTP_FIELD))
    }

    /// The value this reference stands for in an already-decrypted secret.
    pub fn select(&self, secret: &Plaintext) -> Result<Plaintext, ResolveKind> {
        if self.is_otp() {
            return current_otp(secret);
        }
        let value = match &self.field {
            None => secret.password(),
            Some(key) => secret
                .field(key)
                .ok_or_else(|| ResolveKind::NoField(self.name.clone(), key.clone()))?,
        };
        Ok(Plaintext::new(value.to_vec()))
    }
}

/// The canonical spelling, percent-encoded where needed; [`Reference::parse`] reads it back.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        f.write_str(&percent_encode(self.name.as_str()))?;
        if let Some(field) = &self.field {
            write!(f, "#{}", percent_encode(field))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Whether a character is written as `%XX` in a reference: anything that would end or change
/// a word in a dotenv file, a shell or a template, and anything invisible.
fn needs_encoding(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '%' | '#' | '"' | '\'' | '`' | '\\' | '$' | '{' | '}' | '<' | '>' | '|' | ';' | '&'
        )
}

/// Percent-encodes the characters [`needs_encoding`] picks; everything else (Unicode
/// included) stays as written, so references stay readable.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_encoding(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes every `%XX`; a `%` without two hexadecimal digits is an error.
pub fn percent_decode(text: &str) -> Result<String, ReferenceError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(ReferenceError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ReferenceError::BadEscape)?;
            let byte = u8::from_str_radix(hex, 16).map_err(|_| ReferenceError::BadEscape)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ReferenceError::BadEscape);
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ReferenceError::NotUtf8)
}

/// What went wrong resolving one reference.
#[derive(Debug, thiserror::Error)]
pub enum ResolveKind {
    #[error(transparent)]
    Vault(#[from] vault::Error),
    #[error("{0} has no field {1:?}")]
    NoField(SecretName, String),
    #[error("{0}")]
    Otp(crate::formats::otp::OtpError),
    #[error(
        "an HOTP code would advance the stored counter; use `coffer otp NAME` for HOTP (#otp works for TOTP)"
    )]
    HotpInReference,
}

/// A reference that could not be resolved, named in the message.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {reference}: {kind}")]
pub struct ResolveError {
    pub reference: Reference,
    #[source]
    pub kind: ResolveKind,
}

/// The current TOTP code of a secret's `otpauth://` line. HOTP is refused: resolving a
/// reference must not change the store.
fn current_otp(secret: &Plaintext) -> Result<Plaintext, ResolveKind> {
    let next = crate::formats::otp::next_code(secret, &crate::formats::otp::SystemClock)
        .map_err(ResolveKind::Otp)?;
    if next.updated.is_some() {
        return Err(ResolveKind::HotpInReference);
    }
    Ok(Plaintext::new(next.code.as_str().as_bytes().to_vec()))
}

/// Resolves one reference.
pub fn resolve(
    vault: &(impl Reader + ?Sized),
    reference: &Reference,
) -> Result<Plaintext, ResolveError> {
    let fail = |kind| ResolveError {
        reference: reference.clone(),
        kind,
    };
    let secret = vault.read(reference.name()).map_err(|e| fail(e.into()))?;
    reference.select(&secret).map_err(fail)
}

/// Resolves every reference, decrypting each secret once and in parallel; the values come
/// back in the order of `references`. Fails with the first reference (in that order) that
/// cannot be resolved, so the message is the same from run to run.
pub fn resolve_all(
    vault: &(impl Reader + ?Sized),
    references: &[Reference],
) -> Result<Vec<Plaintext>, ResolveError> {
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<&SecretName> = references.iter().map(Reference::name).collect();
    names.sort();
    names.dedup();
    let mut decrypted: HashMap<&SecretName, Result<Plaintext, vault::Error>> = names
        .into_par_iter()
        .map(|name| (name, vault.read(name)))
        .collect();
    let mut values = Vec::with_capacity(references.len());
    for reference in references {
        let fail = |kind| ResolveError {
            reference: reference.clone(),
            kind,
        };
        let value = match decrypted.get(reference.name()) {
            Some(Ok(secret)) => reference.select(secret).map_err(fail)?,
            _ => match decrypted.remove(reference.name()) {
                Some(Err(e)) => return Err(fail(e.into())),
                _ => resolve(vault, reference)?,
            },
        };
        values.push(value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(text: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(text)
    }

    #[test]
    fn plain_and_field_references() {
        let a = r("coffer:db/prod").unwrap();
        assert_eq!(a.name().as_str(), "db/prod");
        assert_eq!(a.field(), None);
        let b = r("coffer:db/prod#user").unwrap();
        assert_eq!(b.field(), Some("user"));
        assert!(!b.is_otp());
        assert!(r("coffer:x#OTP").unwrap().is_otp());
        assert_eq!(b.to_string(), "coffer:db/prod#user");
    }

    #[test]
    fn percent_encoding_of_hash_space_and_percent() {
        let a = r("coffer:my%20team/a%23b%25c#api%23key").unwrap();
        assert_eq!(a.name().as_str(), "my team/a#b%c");
        assert_eq!(a.field(), Some("api#key"));
        assert_eq!(a.to_string(), "coffer:my%20team/a%23b%25c#api%23key");
        // Lower-case hex is accepted; Unicode stays readable.
        assert_eq!(r("coffer:a%2fb").unwrap().name().as_str(), "a/b");
        let u = Reference::new(SecretName::new("clés/ключ").unwrap(), None).unwrap();
        assert_eq!(u.to_string(), "coffer:clés/ключ");
    }

    #[test]
    fn malformed_references() {
        assert_eq!(r("db/prod"), Err(ReferenceError::NoScheme));
        assert_eq!(r("coffer:"), Err(ReferenceError::EmptyName));
        assert_eq!(r("coffer:#user"), Err(ReferenceError::EmptyName));
        assert_eq!(r("coffer:a#"), Err(ReferenceError::EmptyField));
        assert_eq!(r("coffer:a#b#c"), Err(ReferenceError::ExtraHash));
        assert_eq!(r("coffer:a b"), Err(ReferenceError::WhiteSpace));
        assert_eq!(r("coffer:a\tb"), Err(ReferenceError::WhiteSpace));
        assert_eq!(r("coffer:a%2"), Err(ReferenceError::BadEscape));
        assert_eq!(r("coffer:a%zz"), Err(ReferenceError::BadEscape));
        assert_eq!(r("coffer:a%+1"), Err(ReferenceError::BadEscape));
        assert_eq!(r("coffer:%ff"), Err(ReferenceError::NotUtf8));
        assert!(matches!(
            r("coffer:../etc/passwd"),
            Err(ReferenceError::Name(_))
        ));
        assert!(matches!(
            r("coffer:a%2F..%2Fb"),
            Err(ReferenceError::Name(_))
        ));
    }

    #[test]
    fn selecting_values() {
        let secret = Plaintext::new(b"pw1\nuser: alice\napi-key: k3y\n".to_vec());
        let pick = |t: &str| r(t).unwrap().select(&secret).map(|p| p.as_bytes().to_vec());
        assert_eq!(pick("coffer:x").unwrap(), b"pw1");
        assert_eq!(pick("coffer:x#USER").unwrap(), b"alice");
        assert_eq!(pick("coffer:x#password").unwrap(), b"pw1");
        assert_eq!(pick("coffer:x#api-key").unwrap(), b"k3y");
        assert!(matches!(
            pick("coffer:x#nope"),
            Err(ResolveKind::NoField(..))
        ));
        assert!(matches!(
            pick("coffer:x#otp"),
            Err(ResolveKind::Otp(crate::formats::otp::OtpError::NoUri))
        ));
        let totp = Plaintext::new(
            b"pw\notpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8\n".to_vec(),
        );
        let code = r("coffer:x#otp").unwrap().select(&totp).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.as_bytes().iter().all(u8::is_ascii_digit));
        let hotp = Plaintext::new(b"otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ&counter=1\n".to_vec());
        assert!(matches!(
            r("coffer:x#otp").unwrap().select(&hotp),
            Err(ResolveKind::HotpInReference)
        ));
    }

    fn component() -> impl Strategy<Value = String> {
        // Printable text with the characters that need encoding mixed in; no leading '.'.
        "[a-zA-Z0-9 #%é$'\"{}\\\\:_-][a-zA-Z0-9 #%é$'\"{}\\\\.:_-]{0,8}"
    }

    proptest! {
        #[test]
        fn formatting_round_trips(
            parts in prop::collection::vec(component(), 1..4),
            field in prop::option::of("[a-zA-Z0-9 #%é$_-]{1,10}"),
        ) {
            let name = SecretName::new(&parts.join("/")).unwrap();
            let reference = Reference::new(name, field).unwrap();
            let text = reference.to_string();
            // One word: no white space, one '#' at most, nothing a template or shell ends on.
            prop_assert!(!text.chars().any(char::is_whitespace));
            prop_assert!(text.matches('#').count() <= 1);
            let special = ['}', '$', '"'];
            prop_assert!(!text.contains(special), "special character in {}", text);
            prop_assert_eq!(Reference::parse(&text).unwrap(), reference);
        }

        #[test]
        fn parsing_never_panics_and_valid_names_stay_in_the_store(text in "coffer:[ -~é%#./]{0,24}") {
            if let Ok(reference) = Reference::parse(&text) {
                prop_assert!(!reference.name().as_str().starts_with('/'));
                prop_assert!(reference.name().components().all(|c| c != ".." && c != "."));
                // Parsing what we print gives the same reference back.
                prop_assert_eq!(Reference::parse(&reference.to_string()).unwrap(), reference);
            }
        }

        #[test]
        fn decoding_inverts_encoding(text in "\\PC{0,20}") {
            prop_assert_eq!(percent_decode(&percent_encode(&text)).unwrap(), text);
        }
    }
}
