//! Encryption and decryption of whole secrets with the `age` crate, in process.
//!
//! Decryption reads and authenticates the *entire* payload before returning anything, so a
//! truncated or tampered file yields an error and not one byte of plaintext.

pub mod identity;
pub mod identity_file;
pub mod recipients;
pub mod secret;

use std::io::{BufRead, Read, Write};

use age::armor::ArmoredReader;

use crate::crypto::identity::{Identities, RemoteIdentityError};
use crate::crypto::recipients::Recipients;
use crate::crypto::secret::Plaintext;

/// Why a file could not be decrypted. The two cases users must tell apart are kept apart:
/// "not for you" and "damaged".
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error("no identity matches: the file is encrypted to other recipients")]
    NoIdentityMatches,
    #[error("not an age file, or damaged ({0})")]
    Corrupt(String),
    #[error("the file is encrypted with a passphrase, not to a recipient")]
    PassphraseOnly,
    #[error("an identity failed: {0}")]
    Identity(String),
    /// The agent could not answer (locked, stopped): its message says what to do.
    #[error("{0}")]
    Agent(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("no recipients")]
    NoRecipients,
    #[error("encryption failed: {0}")]
    Failed(String),
}

/// Encrypts `plaintext` to every recipient, as a binary age v1 file (what passage writes).
pub fn encrypt(plaintext: &[u8], recipients: &Recipients) -> Result<Vec<u8>, EncryptError> {
    if recipients.is_empty() {
        return Err(EncryptError::NoRecipients);
    }
    let encryptor = age::Encryptor::with_recipients(recipients.as_age())
        .map_err(|e| EncryptError::Failed(e.to_string()))?;
    // Header (~100 bytes per recipient) + 16-byte tag per 64 KiB chunk.
    let mut out = Vec::with_capacity(plaintext.len() + 200 + 120 * recipients.len());
    let fail = |e: std::io::Error| EncryptError::Failed(e.to_string());
    let mut writer = encryptor.wrap_output(&mut out).map_err(fail)?;
    writer.write_all(plaintext).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

/// Decrypts a binary or armored age file with the given identities.
pub fn decrypt(ciphertext: &[u8], identities: &Identities) -> Result<Plaintext, DecryptError> {
    if ciphertext.starts_with(BINARY_MAGIC) {
        // The common case (what coffer and passage write): no armor to look through.
        return decrypt_binary(ciphertext, identities);
    }
    // Armor may be surrounded by whitespace. Ciphertext is not secret, so it is simply
    // unwrapped into a buffer first and then held to the same rules as a binary file.
    let mut binary = Vec::with_capacity(ciphertext.len());
    ArmoredReader::new(ciphertext.trim_ascii_start())
        .read_to_end(&mut binary)
        .map_err(|e| DecryptError::Corrupt(e.to_string()))?;
    decrypt_binary(&binary, identities)
}

const BINARY_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Whether `file` is a whole binary age file as coffer writes them (its header parses; the
/// payload is not checked). Tells a secret coffer wrote from a hand-made scribble.
pub fn is_age_file(file: &[u8]) -> bool {
    file.starts_with(BINARY_MAGIC)
        && check_stanza_framing(file).is_ok()
        && age::Decryptor::new_buffered(HeaderAtOnce::new(file)).is_ok()
}

/// What an age header says without a key: the type of each stanza (`X25519`, `ssh-ed25519`,
/// `ssh-rsa`, `scrypt`, a plugin's), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSummary {
    pub stanza_types: Vec<String>,
}

/// Where a binary age header ends (just past its `--- MAC` line) in `prefix`, if it does.
pub fn header_len(prefix: &[u8]) -> Option<usize> {
    let mut at = 0;
    for line in prefix.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if line.starts_with(b"---") && line.ends_with(b"\n") {
            return Some(at);
        }
    }
    None
}

/// How many bytes of the payload [`check_header`] wants after the header: the nonce.
pub const HEADER_CHECK_EXTRA: usize = 16;

/// Checks, without any key, that `prefix` (the start of a file of `file_size` bytes, holding
/// its whole header and the [`HEADER_CHECK_EXTRA`] bytes after it) is a binary age v1 file: magic, stanza framing, a header the
/// `age` crate parses, and a payload long enough for its nonce and a final chunk.
pub fn check_header(prefix: &[u8], file_size: u64) -> Result<HeaderSummary, DecryptError> {
    let corrupt = |why: &str| DecryptError::Corrupt(why.to_owned());
    if !prefix.starts_with(BINARY_MAGIC) {
        return Err(corrupt("no age header"));
    }
    check_stanza_framing(prefix)?;
    let len = header_len(prefix).ok_or_else(|| corrupt("truncated header"))?;
    let with_nonce = &prefix[..prefix.len().min(len + HEADER_CHECK_EXTRA)];
    // In one piece, as for decryption: line by line is quadratic in the recipients.
    age::Decryptor::new_buffered(HeaderAtOnce::new(with_nonce)).map_err(map_error)?;
    // Payload: a 16-byte nonce, then chunks of up to 64 KiB each with a 16-byte tag; only
    // the first may be empty.
    const NONCE: u64 = 16;
    const TAG: u64 = 16;
    const CHUNK: u64 = 64 * 1024 + TAG;
    let payload = file_size
        .checked_sub(len as u64 + NONCE)
        .ok_or_else(|| corrupt("truncated: no payload"))?;
    let last = payload % CHUNK;
    if payload < TAG || (payload > CHUNK && last != 0 && last <= TAG) {
        return Err(corrupt("truncated payload"));
    }
    let stanza_types = prefix[..len]
        .split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"-> "))
        .map(|rest| {
            let kind = rest.split(|&b| b == b' ').next().unwrap_or_default();
            String::from_utf8_lossy(kind).into_owned()
        })
        .collect();
    Ok(HeaderSummary { stanza_types })
}

fn decrypt_binary(file: &[u8], identities: &Identities) -> Result<Plaintext, DecryptError> {
    check_stanza_framing(file)?;
    let decryptor = age::Decryptor::new_buffered(HeaderAtOnce::new(file)).map_err(map_error)?;
    if decryptor.is_scrypt() {
        return Err(DecryptError::PassphraseOnly);
    }
    let mut reader = decryptor.decrypt(identities.as_age()).map_err(map_error)?;
    // The plaintext is never longer than the ciphertext, so this buffer never reallocates
    // (which would leave an unwiped copy behind). On error it is dropped, and wiped, unread.
    let mut buf = Plaintext::with_capacity(file.len());
    reader
        .read_to_end(buf.bytes_mut())
        .map_err(|e| DecryptError::Corrupt(e.to_string()))?;
    Ok(buf)
}

/// An age file in memory, read by the `age` crate's header parser in one piece.
///
/// The crate reads a header line by line and parses it again from the start after each line,
/// which is quadratic in the number of stanzas (one per recipient): a file for 5,000
/// recipients took 4 CPU-seconds to open, one for 40,000 eight minutes. Handing it the whole
/// header on its first read makes the first parse the only one. Exactly the header, never a
/// byte more: the crate authenticates what it read as the header.
struct HeaderAtOnce<'a> {
    rest: &'a [u8],
    /// Bytes still to hand over in one piece: the whole header, then nothing.
    header: usize,
}

impl<'a> HeaderAtOnce<'a> {
    fn new(file: &'a [u8]) -> Self {
        Self {
            rest: file,
            header: header_len(file).unwrap_or(0),
        }
    }
}

impl Read for HeaderAtOnce<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.header = 0;
        self.rest.read(buf)
    }
}

impl BufRead for HeaderAtOnce<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(self.rest)
    }

    fn consume(&mut self, amount: usize) {
        self.header = 0;
        self.rest = self.rest.get(amount..).unwrap_or_default();
    }

    fn read_until(&mut self, byte: u8, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match std::mem::take(&mut self.header) {
            0 => self.rest.read_until(byte, buf),
            whole => {
                let (header, rest) = self.rest.split_at(whole.min(self.rest.len()));
                buf.extend_from_slice(header);
                self.rest = rest;
                Ok(header.len())
            }
        }
    }
}

/// Every stanza must end with a short (< 64 characters, possibly empty) body line. The
/// `age` crate accepts a header whose last stanza lacks it, which the format forbids (CCTV
/// `stanza_missing_body`, `stanza_missing_final_line`), so the framing is checked here first.
fn check_stanza_framing(file: &[u8]) -> Result<(), DecryptError> {
    let bad = |why: &str| Err(DecryptError::Corrupt(format!("invalid header: {why}")));
    let mut in_body = false;
    for line in file.split(|&b| b == b'\n').skip(1) {
        if line.starts_with(b"---") {
            return if in_body {
                bad("a stanza lacks its final short body line")
            } else {
                Ok(())
            };
        }
        if line.starts_with(b"-> ") {
            if in_body {
                return bad("a stanza lacks its final short body line");
            }
            in_body = true;
        } else if in_body {
            in_body = line.len() == 64;
        } else {
            return bad("body line outside a stanza");
        }
    }
    // No end of header: the crate reports the truncation.
    Ok(())
}

fn map_error(e: age::DecryptError) -> DecryptError {
    use age::DecryptError as E;
    match e {
        E::NoMatchingKeys => DecryptError::NoIdentityMatches,
        E::KeyDecryptionFailed => DecryptError::Identity("could not unwrap the file key".into()),
        E::Io(e)
            if e.get_ref()
                .is_some_and(|inner| inner.is::<RemoteIdentityError>()) =>
        {
            DecryptError::Agent(e.to_string())
        }
        other => DecryptError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::recipients::Recipient;
    use age::secrecy::ExposeSecret;
    use std::path::PathBuf;

    fn pair() -> (Identities, Recipients) {
        let id = age::x25519::Identity::generate();
        let r = Recipient::parse(&id.to_public().to_string()).unwrap();
        let ids = Identities::parse_plain(id.to_string().expose_secret().as_bytes()).unwrap();
        (ids, Recipients::new(vec![r], PathBuf::from("test")))
    }

    #[test]
    fn round_trip_and_binary_exactness() {
        let (ids, rs) = pair();
        let data: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let ct = encrypt(&data, &rs).unwrap();
        assert!(ct.starts_with(b"age-encryption.org/v1\n"));
        assert_eq!(decrypt(&ct, &ids).unwrap().as_bytes(), &data[..]);
    }

    #[test]
    fn headers_are_checked_without_a_key() {
        let (_, recipients) = pair();
        let file = encrypt(b"hello", &recipients).unwrap();
        let size = file.len() as u64;
        let len = header_len(&file).unwrap();
        let summary = check_header(&file[..len + HEADER_CHECK_EXTRA], size).unwrap();
        // The age crate may add a "grease" stanza of a random type after the real ones.
        assert_eq!(summary.stanza_types[0], "X25519");
        assert!(check_header(&file, len as u64 + 20).is_err());
        assert!(check_header(&file[..len - 2], size).is_err());
        assert!(check_header(b"plain text\n", 11).is_err());
    }

    #[test]
    fn a_header_with_many_stanzas_is_read_in_one_piece() {
        let (ids, mine) = pair();
        let mut list: Vec<Recipient> = (0..300)
            .map(|_| pair().1.iter().next().unwrap().clone())
            .collect();
        list.push(mine.iter().next().unwrap().clone());
        let ct = encrypt(b"value", &Recipients::new(list, PathBuf::from("many"))).unwrap();
        let end = header_len(&ct).unwrap();
        assert!(
            ct[..end].ends_with(b"\n")
                && ct[..end]
                    .split(|&b| b == b'\n')
                    .rev()
                    .nth(1)
                    .unwrap()
                    .starts_with(b"--- ")
        );
        assert_eq!(decrypt(&ct, &ids).unwrap().as_bytes(), b"value");
        assert!(is_age_file(&ct));
        // Cut inside the header: no end found, the crate reads line by line and says why.
        assert_eq!(header_len(&ct[..end / 2]), None);
        assert!(matches!(
            decrypt(&ct[..end / 2], &ids),
            Err(DecryptError::Corrupt(_))
        ));
        // Cut inside the payload: the header is whole, the payload is not.
        assert!(matches!(
            decrypt(&ct[..ct.len() - 1], &ids),
            Err(DecryptError::Corrupt(_))
        ));
    }

    #[test]
    fn wrong_identity_is_not_corruption() {
        let (_, rs) = pair();
        let (other, _) = pair();
        let ct = encrypt(b"x", &rs).unwrap();
        assert!(matches!(
            decrypt(&ct, &other),
            Err(DecryptError::NoIdentityMatches)
        ));
    }

    #[test]
    fn every_truncation_and_bit_flip_fails() {
        let (ids, rs) = pair();
        let ct = encrypt(b"secret value\n", &rs).unwrap();
        for len in 0..ct.len() {
            assert!(decrypt(&ct[..len], &ids).is_err(), "truncated to {len}");
        }
        for i in (0..ct.len()).step_by(7) {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(decrypt(&bad, &ids).is_err(), "flip at {i}");
        }
    }
}
