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

/// The stanza types coffer writes, in a fixed order for counting.
pub const STANZA_TYPES: [&str; 4] = ["X25519", "ssh-ed25519", "ssh-rsa", "scrypt"];

/// How many stanzas of each of [`STANZA_TYPES`].
pub type StanzaCounts = [u32; STANZA_TYPES.len()];

/// How many of `types` are each of [`STANZA_TYPES`] (others are not counted).
pub fn count_stanzas<'a>(types: impl IntoIterator<Item = &'a str>) -> StanzaCounts {
    let mut counts = StanzaCounts::default();
    for kind in types {
        if let Some(i) = STANZA_TYPES.iter().position(|k| *k == kind) {
            counts[i] += 1;
        }
    }
    counts
}

/// What an age header says without a key: how many stanzas of each type coffer writes
/// ([`STANZA_TYPES`]), and how many of any other type (a plugin's, or the random "grease"
/// stanza age adds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSummary {
    pub stanzas: StanzaCounts,
    pub others: u32,
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
/// its whole header and the [`HEADER_CHECK_EXTRA`] bytes after it) is a binary age v1 file:
/// magic, a header as the format and the `age` crate's parser want it (every stanza ending
/// with a short body line, canonical base64, one `scrypt` stanza alone), and a payload long
/// enough for its nonce and a final chunk.
///
/// One pass over the header, no allocation unless it is damaged: `fsck` checks every file of
/// a store this way. It accepts exactly the headers [`decrypt`] accepts, [`check_stanza_framing`]
/// then the `age` crate's parser (a test holds it to them).
pub fn check_header(prefix: &[u8], file_size: u64) -> Result<HeaderSummary, DecryptError> {
    let corrupt = |why: &str| DecryptError::Corrupt(why.to_owned());
    let summary = parse_header(prefix)?;
    let len = summary.len;
    if prefix.len() < len + HEADER_CHECK_EXTRA {
        return Err(corrupt("truncated: no payload"));
    }
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
    Ok(summary.summary)
}

/// A header [`parse_header`] accepted: what it says, and its length.
struct ParsedHeader {
    summary: HeaderSummary,
    len: usize,
}

/// Why a stanza is refused when its body does not end with a short line.
const LACKS_FINAL_LINE: &str = "a stanza lacks its final short body line";

/// Parses a binary age v1 header at the start of `file`, as the format says (the `age`
/// crate's parser, without its legacy leniency, which [`check_stanza_framing`] refuses).
fn parse_header(file: &[u8]) -> Result<ParsedHeader, DecryptError> {
    let invalid = |why: &str| Err(DecryptError::Corrupt(format!("invalid header: {why}")));
    let Some(mut rest) = file.strip_prefix(BINARY_MAGIC) else {
        return Err(DecryptError::Corrupt("no age header".to_owned()));
    };
    let mut summary = HeaderSummary::default();
    let mut stanzas = 0usize;
    let mut scrypt = false;
    let mut in_body = false;
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(DecryptError::Corrupt("truncated header".to_owned()));
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if line.starts_with(b"---") {
            if in_body {
                return invalid(LACKS_FINAL_LINE);
            }
            if stanzas == 0 {
                return invalid("no stanza");
            }
            if !is_mac_line(line) {
                return invalid("the MAC line is damaged");
            }
            break;
        }
        if let Some(args) = line.strip_prefix(b"-> ") {
            if in_body {
                return invalid(LACKS_FINAL_LINE);
            }
            let Some(tag) = stanza_tag(args) else {
                return invalid("a stanza's first line is damaged");
            };
            match STANZA_TYPES.iter().position(|k| k.as_bytes() == tag) {
                Some(i) => summary.stanzas[i] += 1,
                None => summary.others += 1,
            }
            scrypt |= tag == b"scrypt";
            stanzas += 1;
            in_body = true;
        } else if in_body {
            if line.len() == BODY_LINE && line.iter().all(|&b| base64_value(b).is_some()) {
                continue;
            }
            if !is_last_body_line(line) {
                return invalid("a stanza's body is not canonical base64");
            }
            in_body = false;
        } else {
            return invalid("body line outside a stanza");
        }
    }
    // The age crate's rule: a passphrase stanza is the only one.
    if scrypt && stanzas > 1 {
        return invalid("an scrypt stanza must be alone");
    }
    Ok(ParsedHeader {
        summary,
        len: file.len() - rest.len(),
    })
}

/// The length of a full line of a stanza's body.
const BODY_LINE: usize = 64;

/// The type of a stanza from what follows `-> ` on its first line: one or more arguments,
/// each one or more visible ASCII characters, separated by single spaces.
fn stanza_tag(args: &[u8]) -> Option<&[u8]> {
    let visible = |arg: &[u8]| !arg.is_empty() && arg.iter().all(|b| (33..=126).contains(b));
    let mut parts = args.split(|&b| b == b' ');
    let tag = parts.next()?;
    (visible(tag) && parts.all(visible)).then_some(tag)
}

/// A stanza's last body line: shorter than a full one, canonical unpadded base64.
fn is_last_body_line(line: &[u8]) -> bool {
    line.len() < BODY_LINE && is_canonical_base64(line)
}

/// `--- ` and the header's MAC: 32 bytes in canonical unpadded base64 (43 characters).
fn is_mac_line(line: &[u8]) -> bool {
    line.strip_prefix(b"--- ")
        .is_some_and(|mac| mac.len() == 43 && is_canonical_base64(mac))
}

/// Standard base64 without padding whose last character leaves no bits set beyond the
/// data (what the `age` crate and the format accept).
fn is_canonical_base64(text: &[u8]) -> bool {
    if !text.iter().all(|&b| base64_value(b).is_some()) {
        return false;
    }
    let last = text.last().and_then(|&b| base64_value(b)).unwrap_or(0);
    match text.len() % 4 {
        1 => false,
        2 => last & 0x0f == 0,
        3 => last & 0x03 == 0,
        _ => true,
    }
}

/// The value of a standard base64 character.
fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
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
        // The age crate adds a "grease" stanza of a random type after the real ones.
        assert_eq!(
            summary,
            HeaderSummary {
                stanzas: [1, 0, 0, 0],
                others: 1
            }
        );
        assert!(check_header(&file, len as u64 + 20).is_err());
        assert!(check_header(&file[..len - 2], size).is_err());
        assert!(check_header(&file[..len + HEADER_CHECK_EXTRA - 1], size).is_err());
        assert!(check_header(b"plain text\n", 11).is_err());
    }

    /// The header check as it was before [`parse_header`]: the framing, then the `age`
    /// crate's parser, then the payload's length. What [`check_header`] is held to.
    fn check_header_with_age(prefix: &[u8], file_size: u64) -> Option<HeaderSummary> {
        if !prefix.starts_with(BINARY_MAGIC) {
            return None;
        }
        check_stanza_framing(prefix).ok()?;
        let len = header_len(prefix)?;
        let with_nonce = &prefix[..prefix.len().min(len + HEADER_CHECK_EXTRA)];
        age::Decryptor::new_buffered(HeaderAtOnce::new(with_nonce)).ok()?;
        let payload = file_size.checked_sub(len as u64 + 16)?;
        let (tag, chunk) = (16, 64 * 1024 + 16);
        let last = payload % chunk;
        if payload < tag || (payload > chunk && last != 0 && last <= tag) {
            return None;
        }
        let types: Vec<&str> = prefix[..len]
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(b"-> "))
            .map(|rest| rest.split(|&b| b == b' ').next().unwrap_or_default())
            .map(|kind| std::str::from_utf8(kind).unwrap_or("?"))
            .collect();
        let stanzas = count_stanzas(types.iter().copied());
        let others = types.len() as u32 - stanzas.iter().sum::<u32>();
        Some(HeaderSummary { stanzas, others })
    }

    /// Holds [`check_header`] to [`check_header_with_age`] on one file.
    fn agrees(file: &[u8], what: &str) {
        let size = file.len() as u64;
        let ours = check_header(file, size);
        let theirs = check_header_with_age(file, size);
        assert_eq!(
            ours.as_ref().ok(),
            theirs.as_ref(),
            "{what}: ours {ours:?}, the age crate's {theirs:?}, file {:?}",
            String::from_utf8_lossy(&file[..file.len().min(400)])
        );
    }

    #[test]
    fn the_header_check_agrees_with_the_age_crate_on_every_damage() {
        let (_, one) = pair();
        let mut many: Vec<Recipient> = (0..3)
            .map(|_| pair().1.iter().next().unwrap().clone())
            .collect();
        many.push(Recipient::parse(SSH_ED25519).unwrap());
        let many = Recipients::new(many, PathBuf::from("many"));
        for recipients in [&one, &many] {
            for payload in [
                &b""[..],
                b"x",
                &[7u8; 64 * 1024][..],
                &[7u8; 64 * 1024 + 1][..],
            ] {
                let file = encrypt(payload, recipients).unwrap();
                agrees(&file, "as written");
                let end = header_len(&file).unwrap() + 20;
                for at in 0..end {
                    for byte in [
                        b'\n', b' ', b'-', b'>', b'A', b'B', b'w', b'=', b'\r', 0x7f, 0,
                    ] {
                        let mut changed = file.clone();
                        changed[at] = byte;
                        agrees(&changed, &format!("byte {at} set to {byte}"));
                    }
                    let mut cut = file.clone();
                    cut.remove(at);
                    agrees(&cut, &format!("byte {at} removed"));
                    agrees(&file[..at], &format!("cut at {at}"));
                    for byte in [b'\n', b' ', b'A'] {
                        let mut longer = file.clone();
                        longer.insert(at, byte);
                        agrees(&longer, &format!("{byte} inserted at {at}"));
                    }
                }
            }
        }
    }

    #[test]
    fn the_header_check_agrees_with_the_age_crate_on_the_cctv_vectors() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cctv");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let raw = std::fs::read(&path).unwrap();
            let Some(split) = raw.windows(2).position(|w| w == b"\n\n") else {
                continue;
            };
            let mut file = raw[split + 2..].to_vec();
            if raw[..split].windows(16).any(|w| w == b"compressed: zlib") {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(&file[..])
                    .read_to_end(&mut inflated)
                    .unwrap();
                file = inflated;
            }
            agrees(&file, &path.display().to_string());
            seen += 1;
        }
        assert!(seen > 100, "{seen} vectors");
    }

    /// An SSH key for a stanza of another type.
    const SSH_ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN";

    mod generated {
        use super::*;
        use base64::Engine;
        use base64::prelude::BASE64_STANDARD_NO_PAD;
        use proptest::prelude::*;

        /// An argument of a stanza's first line, a few of them not allowed there.
        fn arg() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "X25519",
                "X25519",
                "X25519",
                "scrypt",
                "ssh-rsa",
                "ssh-ed25519",
                "p-grease",
                "~!",
                "a",
                "AAAA",
                "+/",
                "",
                "\x7f",
                "é",
                "a\rb",
            ])
        }

        /// A stanza's body lines: base64 of some bytes wrapped at 64, in one of a few styles
        /// (as written, padded, with bits left over, without its short last line).
        fn body() -> impl Strategy<Value = Vec<Vec<u8>>> {
            (prop::collection::vec(any::<u8>(), 0..100), 0..12u8).prop_map(|(bytes, style)| {
                let mut text = BASE64_STANDARD_NO_PAD.encode(bytes).into_bytes();
                match style {
                    1 => text.push(b'='),
                    2 => {
                        if let Some(last) = text.last_mut() {
                            *last = b'B';
                        }
                    }
                    _ => {}
                }
                let mut lines: Vec<Vec<u8>> = text.chunks(64).map(<[u8]>::to_vec).collect();
                if text.len() % 64 == 0 && style != 3 {
                    lines.push(Vec::new());
                }
                lines
            })
        }

        /// A header's MAC line, now and then damaged.
        fn mac() -> impl Strategy<Value = Vec<u8>> {
            (any::<[u8; 32]>(), 0..12u8).prop_map(|(bytes, style)| {
                let mut mac = BASE64_STANDARD_NO_PAD.encode(bytes).into_bytes();
                match style {
                    1 => mac.truncate(42),
                    2 => mac[42] = b'B',
                    3 => mac.push(b'A'),
                    _ => {}
                }
                [&b"--- "[..], &mac].concat()
            })
        }

        /// Any line at all, for the damage.
        fn stray() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(prop::sample::select(b"-> A\n=w".to_vec()), 0..70)
        }

        /// A header as written (up to three stanzas and the MAC), then zero to two lines
        /// replaced, removed or added.
        fn header() -> impl Strategy<Value = Vec<Vec<u8>>> {
            let stanza = (prop::collection::vec(arg(), 1..4), body()).prop_map(|(args, body)| {
                let mut lines = vec![format!("-> {}", args.join(" ")).into_bytes()];
                lines.extend(body);
                lines
            });
            let damage =
                prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, stray()), 0..3);
            let damage = prop_oneof![2 => Just(Vec::new()), 1 => damage];
            (prop::collection::vec(stanza, 0..4), mac(), damage).prop_map(
                |(stanzas, mac, damage)| {
                    let mut lines: Vec<Vec<u8>> = stanzas.into_iter().flatten().collect();
                    lines.push(mac);
                    for (at, how, stray) in damage {
                        if lines.is_empty() {
                            lines.push(stray);
                            continue;
                        }
                        let at = at.index(lines.len());
                        match how {
                            0 => lines[at] = stray,
                            1 => drop(lines.remove(at)),
                            _ => lines.insert(at, stray),
                        }
                    }
                    lines
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            #[test]
            fn the_header_check_agrees_with_the_age_crate(
                lines in header(),
                payload in prop_oneof![3 => 32usize..40, 1 => 0usize..32],
            ) {
                let mut file = BINARY_MAGIC.to_vec();
                for line in &lines {
                    file.extend_from_slice(line);
                    file.push(b'\n');
                }
                file.extend(std::iter::repeat_n(0xa5, payload));
                agrees(&file, "generated");
            }
        }
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
