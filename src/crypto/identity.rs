//! Identities: the private keys that decrypt the store.
//!
//! An identities file is what `age -d -i` accepts: `AGE-SECRET-KEY-1…` lines with comments, an
//! OpenSSH private key, or either of those age-encrypted with a passphrase (armored or binary).
//! Passphrases are asked through a callback, so this module never touches a terminal.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::crypto::recipients::Recipient;

/// The scrypt work factor for passphrase-protected identities (2^18, as the issue asks).
pub const SCRYPT_WORK_FACTOR: u8 = 18;
/// Refuse files that would take absurd time or memory to unlock.
const MAX_SCRYPT_WORK_FACTOR: u8 = 22;

/// Asks for a passphrase; the argument says what for. `None` means none could be asked.
pub type PassphrasePrompt = Arc<dyn Fn(&str) -> Option<SecretString> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no identities file at {0}")]
    Missing(PathBuf),
    #[error("cannot read the identities file {path}: {reason}")]
    Unreadable {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("the identities file {0} holds no identity")]
    Empty(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(PathBuf),
    #[error("the identities file {0} is passphrase-protected and no passphrase could be asked")]
    NoPassphrase(PathBuf),
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "{path} needs the plugin age-plugin-{name}, which this device does not allow; \
         add \"{name}\" to [plugins] allow in the config to use it"
    )]
    PluginNotAllowed { path: PathBuf, name: String },
    /// An identity held by another process (the agent) could not answer.
    #[error(transparent)]
    Remote(#[from] RemoteIdentityError),
    /// An identities file (or its backup or public half) could not be written.
    #[error(transparent)]
    Write(#[from] crate::sys::private::PrivateError),
}

/// The failure of an identity held by another process (the agent): not a damaged file, and
/// not a wrong key. The agent layer fills it in; this layer only carries it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RemoteIdentityError(pub Box<dyn std::error::Error + Send + Sync>);

/// The identities loaded for this process.
pub struct Identities {
    list: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Public keys of the native identities (the ones we can derive), for `init` and the
    /// self-lockout guard.
    publics: Vec<Recipient>,
}

impl Identities {
    /// Loads the identities file at `path`, asking `prompt` for a passphrase if it is encrypted.
    /// Plugin identities are refused (see [`Identities::load_with`]).
    pub fn load(path: &Path, prompt: &PassphrasePrompt) -> Result<Self, IdentityError> {
        Self::load_with(path, prompt, &[])
    }

    /// Like [`Identities::load`], allowing the plugins named in `allowed_plugins` (the local
    /// config's `[plugins] allow`). A plugin runs only when a file is decrypted, never here.
    pub fn load_with(
        path: &Path,
        prompt: &PassphrasePrompt,
        allowed_plugins: &[String],
    ) -> Result<Self, IdentityError> {
        let bytes = read_file(path)?;
        Self::parse_with(&bytes, path, prompt, allowed_plugins)
    }

    /// Parses the contents of an identities file.
    pub fn parse(
        bytes: &[u8],
        path: &Path,
        prompt: &PassphrasePrompt,
    ) -> Result<Self, IdentityError> {
        Self::parse_with(bytes, path, prompt, &[])
    }

    /// Parses the contents of an identities file, allowing the named plugins.
    pub fn parse_with(
        bytes: &[u8],
        path: &Path,
        prompt: &PassphrasePrompt,
        allowed_plugins: &[String],
    ) -> Result<Self, IdentityError> {
        if is_age_file(bytes) {
            let question = format!("Passphrase for {}", path.display());
            let inner = decrypt_with_passphrase(bytes, path, prompt, &question)?;
            return Self::parse_unencrypted(&inner, path, prompt, allowed_plugins);
        }
        Self::parse_unencrypted(bytes, path, prompt, allowed_plugins)
    }

    /// Parses an unencrypted file of native identities (used by tests and benchmarks).
    pub fn parse_plain(bytes: &[u8]) -> Result<Self, IdentityError> {
        let prompt: PassphrasePrompt = Arc::new(|_| None);
        Self::parse_unencrypted(bytes, Path::new("(memory)"), &prompt, &[])
    }

    /// Identities held elsewhere (by the agent): `identity` unwraps file keys, `publics` are
    /// the public keys the holder could derive.
    pub fn remote(identity: Box<dyn age::Identity + Send + Sync>, publics: Vec<Recipient>) -> Self {
        Self {
            list: vec![identity],
            publics,
        }
    }

    fn parse_unencrypted(
        bytes: &[u8],
        path: &Path,
        prompt: &PassphrasePrompt,
        allowed_plugins: &[String],
    ) -> Result<Self, IdentityError> {
        let ids = if is_ssh_key(bytes) {
            Self::parse_ssh(bytes, path, prompt)?
        } else {
            Self::parse_native(bytes, path, prompt, allowed_plugins)?
        };
        if ids.list.is_empty() {
            return Err(IdentityError::Empty(path.to_owned()));
        }
        Ok(ids)
    }

    fn parse_native(
        bytes: &[u8],
        path: &Path,
        prompt: &PassphrasePrompt,
        allowed_plugins: &[String],
    ) -> Result<Self, IdentityError> {
        let (native, plugins) = split_plugin_identities(bytes, path)?;
        let file = age::IdentityFile::from_buffer(&native[..]).map_err(|e| {
            // age names the line number, never the line.
            IdentityError::Invalid(format!("{}: {e}", path.display()))
        })?;
        let mut list = file
            .into_identities()
            .map_err(|e| IdentityError::Invalid(format!("{}: {e}", path.display())))?;
        let mut refusal = None;
        for (name, ids) in plugins {
            // The allow-list is checked before anything could run the plugin.
            if !allowed_plugins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&name))
            {
                refusal.get_or_insert(IdentityError::PluginNotAllowed {
                    path: path.to_owned(),
                    name,
                });
                continue;
            }
            let callbacks = PromptCallbacks(prompt.clone());
            match age::plugin::IdentityPluginV1::new(&name, &ids, callbacks) {
                Ok(plugin) => list.push(Box::new(plugin)),
                // A missing plugin (a hardware key not set up here) must not stop the others.
                Err(e) => {
                    refusal.get_or_insert(IdentityError::Unsupported(format!(
                        "{}: {}",
                        path.display(),
                        single_line(&e.to_string())
                    )));
                }
            }
        }
        if list.is_empty()
            && let Some(refusal) = refusal
        {
            return Err(refusal);
        }
        let mut publics = Vec::new();
        for line in bytes.lines() {
            let line = Zeroizing::new(line.unwrap_or_default());
            if let Ok(id) = line.trim().parse::<age::x25519::Identity>()
                && let Ok(r) = Recipient::parse(&id.to_public().to_string())
            {
                publics.push(r);
            }
        }
        Ok(Self { list, publics })
    }

    fn parse_ssh(
        bytes: &[u8],
        path: &Path,
        prompt: &PassphrasePrompt,
    ) -> Result<Self, IdentityError> {
        let name = path.display().to_string();
        let id = age::ssh::Identity::from_buffer(bytes, Some(name.clone()))
            .map_err(|e| IdentityError::Invalid(format!("{name}: {e}")))?;
        if let age::ssh::Identity::Unsupported(k) = &id {
            return Err(IdentityError::Unsupported(format!(
                "{name}: unsupported SSH key ({k:?})"
            )));
        }
        let callbacks = PromptCallbacks(prompt.clone());
        // The public half sits beside the private key, as ssh-keygen writes it.
        let publics = std::fs::read_to_string(public_file_of(path))
            .ok()
            .and_then(|text| Recipient::parse(&text).ok())
            .into_iter()
            .collect();
        Ok(Self {
            list: vec![Box::new(id.with_callbacks(callbacks))],
            publics,
        })
    }

    /// The identities, in the form the `age` crate decrypts with.
    pub(crate) fn as_age(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.list.iter().map(|i| i.as_ref() as &dyn age::Identity)
    }

    /// Public keys this device can derive from its identities.
    pub fn recipients(&self) -> &[Recipient] {
        &self.publics
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Splits plugin identities (`AGE-PLUGIN-…` lines) from the rest, grouped by plugin name.
/// Their lines are blanked in the rest, so age's line numbers in errors stay right.
#[allow(clippy::type_complexity)]
fn split_plugin_identities(
    bytes: &[u8],
    path: &Path,
) -> Result<
    (
        Zeroizing<Vec<u8>>,
        Vec<(String, Vec<age::plugin::Identity>)>,
    ),
    IdentityError,
> {
    let mut rest = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut plugins: Vec<(String, Vec<age::plugin::Identity>)> = Vec::new();
    for (number, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = std::str::from_utf8(line).unwrap_or_default().trim();
        if !text.starts_with("AGE-PLUGIN-") {
            rest.extend_from_slice(line);
            continue;
        }
        let id: age::plugin::Identity = text.parse().map_err(|_| {
            IdentityError::Invalid(format!(
                "{}: line {}: not a valid plugin identity",
                path.display(),
                number + 1
            ))
        })?;
        let name = id.plugin().to_owned();
        match plugins.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ids)) => ids.push(id),
            None => plugins.push((name, vec![id])),
        }
        rest.push(b'\n');
    }
    Ok((rest, plugins))
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether an identities file is itself age-encrypted (with a passphrase): such a file is
/// unlocked through the agent.
pub fn is_protected(bytes: &[u8]) -> bool {
    is_age_file(bytes)
}

/// Reads an identities file (for the agent's client, which sends it still encrypted).
pub fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    read_private(path)
}

/// The public keys of the identities file at `path`, found without asking for a passphrase:
/// from the keys themselves when the file is not encrypted, else from the public file beside
/// it (`identities.pub`, `id_ed25519.pub`), as coffer and ssh-keygen write them. `None` when
/// they cannot be known without unlocking.
pub fn public_keys_without_unlocking(path: &Path) -> Option<Vec<Recipient>> {
    let bytes = read_private(path).ok()?;
    if !is_age_file(&bytes) && !is_ssh_key(&bytes) {
        let no_prompt: PassphrasePrompt = Arc::new(|_| None);
        let ids = Identities::parse_unencrypted(&bytes, path, &no_prompt, &[]).ok()?;
        return (ids.publics.len() == ids.list.len()).then_some(ids.publics);
    }
    let text = std::fs::read_to_string(public_file_of(path)).ok()?;
    let keys: Vec<Recipient> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(Recipient::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (!keys.is_empty()).then_some(keys)
}

/// Where the public half of an identities file is kept.
pub fn public_file_of(path: &Path) -> PathBuf {
    path.with_extension("pub")
}

pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Zeroizing::new(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(IdentityError::Missing(path.to_owned()))
        }
        Err(reason) => Err(IdentityError::Unreadable {
            path: path.to_owned(),
            reason,
        }),
    }
}

pub(crate) fn is_age_file(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"age-encryption.org/v1\n")
        || start.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

pub(crate) fn is_ssh_key(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----")
        || start.starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
}

/// Decrypts a passphrase-protected identities file, asking `question` of `prompt`.
pub(crate) fn decrypt_with_passphrase(
    bytes: &[u8],
    path: &Path,
    prompt: &PassphrasePrompt,
    question: &str,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let invalid = |e: age::DecryptError| IdentityError::Invalid(format!("{}: {e}", path.display()));
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(bytes)).map_err(invalid)?;
    if !decryptor.is_scrypt() {
        return Err(IdentityError::Unsupported(format!(
            "{}: an identities file must be encrypted with a passphrase",
            path.display()
        )));
    }
    let passphrase = prompt(question).ok_or_else(|| IdentityError::NoPassphrase(path.into()))?;
    let mut identity = age::scrypt::Identity::new(passphrase);
    identity.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                IdentityError::WrongPassphrase(path.to_owned())
            }
            other => invalid(other),
        })?;
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    std::io::Read::read_to_end(&mut reader, &mut out)
        .map_err(|e| IdentityError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(out)
}

/// A freshly generated native identity.
pub struct NewIdentity {
    identity: age::x25519::Identity,
}

impl NewIdentity {
    pub fn generate() -> Self {
        Self {
            identity: age::x25519::Identity::generate(),
        }
    }

    /// The public key to put in `.age-recipients`.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// The identities-file text, as `age-keygen` writes it.
    pub fn file_text(&self) -> Zeroizing<String> {
        let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        Zeroizing::new(format!(
            "# created: {created}\n# public key: {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        ))
    }

    /// The identities file, age-encrypted (armored) with `passphrase` at scrypt work factor
    /// [`SCRYPT_WORK_FACTOR`] — the same thing `age -p -a` makes, so `age -d` opens it.
    pub fn protected_file(&self, passphrase: SecretString) -> Result<Vec<u8>, IdentityError> {
        protect(self.file_text().as_bytes(), &passphrase)
    }
}

/// Encrypts identities-file text with `passphrase` (armored, scrypt at work factor
/// [`SCRYPT_WORK_FACTOR`]): what `age -p -a` makes, so `age -d` opens it. `init` and
/// `identity passwd` protect files this one way.
pub fn protect(text: &[u8], passphrase: &SecretString) -> Result<Vec<u8>, IdentityError> {
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(SCRYPT_WORK_FACTOR);
    let fail = |e: String| IdentityError::Invalid(format!("cannot protect the identity: {e}"));
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
        .map_err(|e| fail(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|e| fail(e.to_string()))?;
    std::io::Write::write_all(&mut writer, text).map_err(|e| fail(e.to_string()))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// Bridges age's callbacks (used by encrypted SSH keys) to our prompt.
#[derive(Clone)]
struct PromptCallbacks(PassphrasePrompt);

impl age::Callbacks for PromptCallbacks {
    fn display_message(&self, _: &str) {}
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        (self.0)(description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_parses_and_knows_its_recipient() {
        let new = NewIdentity::generate();
        let ids = Identities::parse_plain(new.file_text().as_bytes()).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.recipients()[0].key(), new.recipient());
    }

    #[test]
    fn garbage_is_refused_without_echo() {
        let err = Identities::parse_plain(b"# hi\nAGE-SECRET-KEY-1NOPE-TOPSECRET\n")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(matches!(
            Identities::parse_plain(b"# only comments\n"),
            Err(IdentityError::Empty(_))
        ));
    }
}
