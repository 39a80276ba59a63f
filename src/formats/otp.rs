//! One-time passwords: `otpauth://` URIs (the key-URI format of Google Authenticator, which
//! pass-otp stores), HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, SHA-256 or SHA-512.
//!
//! The time comes from a [`Clock`], so tests can pin it. HOTP codes come with the secret's new
//! content, its counter advanced, for the caller to store before the code is shown: as in
//! pass-otp the stored counter is the last one used, and a code is never handed out twice.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use crate::crypto::secret::Plaintext;

/// What a bad `otpauth://` URI gets told. Messages name what is wrong and never echo the
/// secret parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OtpError {
    #[error("there is no otpauth:// line")]
    NoUri,
    #[error("the URI does not start with otpauth://")]
    NotOtpauth,
    #[error("the URI is not valid UTF-8")]
    NotUtf8,
    #[error("the URI holds a control character or a space")]
    ControlCharacter,
    #[error("unknown OTP type {0:?}; expected totp or hotp")]
    UnknownType(String),
    #[error("the URI has no label (otpauth://TYPE/LABEL?secret=…)")]
    NoLabel,
    #[error("the URI has no parameters (…?secret=…)")]
    NoParameters,
    #[error("the URI has no secret parameter")]
    MissingSecret,
    #[error("the secret parameter is empty")]
    EmptySecret,
    #[error("the secret parameter is not valid base32 (letters A-Z and digits 2-7)")]
    BadSecret,
    #[error("unknown algorithm {0:?}; expected SHA1, SHA256 or SHA512")]
    UnknownAlgorithm(String),
    #[error("digits must be 6, 7 or 8, not {0:?}")]
    BadDigits(String),
    #[error("period must be a whole number of seconds from 1 up, not {0:?}")]
    BadPeriod(String),
    #[error("an HOTP URI needs a counter parameter (…&counter=0)")]
    MissingCounter,
    #[error("counter must be a whole number from 0 up, not {0:?}")]
    BadCounter(String),
    #[error("the HOTP counter cannot go beyond its maximum")]
    CounterOverflow,
    #[error("the parameter {0:?} appears more than once")]
    Duplicate(String),
    #[error("a parameter is not percent-encoded UTF-8")]
    BadEncoding,
}

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn parse(raw: &str) -> Result<Self, OtpError> {
        match raw.to_ascii_uppercase().as_str() {
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            "SHA512" => Ok(Self::Sha512),
            _ => Err(OtpError::UnknownAlgorithm(shorten(raw))),
        }
    }

    fn mac(self, key: &[u8], message: &[u8]) -> Zeroizing<Vec<u8>> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback
        // keeps this total without a panic.
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Zeroizing<Vec<u8>> {
            match <M as Mac>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    Zeroizing::new(mac.finalize().into_bytes().to_vec())
                }
                Err(_) => Zeroizing::new(Vec::new()),
            }
        }
        match self {
            Self::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
            Self::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
            Self::Sha512 => run::<Hmac<sha2::Sha512>>(key, message),
        }
    }
}

/// Time-based or counter-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Totp { period: u64 },
    Hotp { counter: u64 },
}

/// Where the current time comes from.
pub trait Clock {
    /// Seconds since the Unix epoch.
    fn unix_time(&self) -> u64;
}

/// The system's real-time clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_time(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock stopped at a given second (tests, and codes for another moment).
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn unix_time(&self) -> u64 {
        self.0
    }
}

/// A one-time code: digits only, wiped from memory when dropped, no `Debug`.
pub struct Code(Zeroizing<String>);

impl Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A parsed and validated `otpauth://` URI.
pub struct OtpUri {
    kind: Kind,
    algorithm: Algorithm,
    digits: u32,
    key: Zeroizing<Vec<u8>>,
}

impl OtpUri {
    /// Parses and validates a URI: type, base32 secret, algorithm, digits, period, counter.
    pub fn parse(uri: &[u8]) -> Result<Self, OtpError> {
        let parts = split_uri(uri)?;
        let mut secret = None;
        let mut algorithm = None;
        let mut digits = None;
        let mut period = None;
        let mut counter = None;
        for param in &parts.params {
            let slot = match param.key.as_str() {
                "secret" => &mut secret,
                "algorithm" => &mut algorithm,
                "digits" => &mut digits,
                "period" => &mut period,
                "counter" => &mut counter,
                _ => continue,
            };
            if slot.is_some() {
                return Err(OtpError::Duplicate(param.key.clone()));
            }
            *slot = Some(param.value(uri)?);
        }
        let secret = secret.ok_or(OtpError::MissingSecret)?;
        let key = decode_base32(&secret)?;
        let algorithm = match algorithm {
            Some(raw) => Algorithm::parse(&raw)?,
            None => Algorithm::Sha1,
        };
        let digits = match digits {
            Some(raw) => match raw.parse::<u32>() {
                Ok(n @ 6..=8) if raw.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(OtpError::BadDigits(shorten(&raw))),
            },
            None => 6,
        };
        let kind = if parts.hotp {
            let raw = counter.ok_or(OtpError::MissingCounter)?;
            let counter = parse_number(&raw).ok_or_else(|| OtpError::BadCounter(shorten(&raw)))?;
            Kind::Hotp { counter }
        } else {
            let period = match period {
                Some(raw) => parse_number(&raw)
                    .filter(|p| *p > 0)
                    .ok_or_else(|| OtpError::BadPeriod(shorten(&raw)))?,
                None => 30,
            };
            Kind::Totp { period }
        };
        Ok(Self {
            kind,
            algorithm,
            digits,
            key,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The HOTP value for `counter` (RFC 4226 §5.3).
    pub fn hotp(&self, counter: u64) -> Code {
        let mac = self.algorithm.mac(&self.key, &counter.to_be_bytes());
        let value = match mac.last() {
            Some(last) => {
                let offset = usize::from(last & 0x0f);
                match mac.get(offset..offset + 4) {
                    Some(b) => u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]),
                    None => 0,
                }
            }
            None => 0,
        };
        let modulus = 10u32.pow(self.digits);
        let width = self.digits as usize;
        Code(Zeroizing::new(format!("{:0width$}", value % modulus)))
    }

    /// The TOTP value at `unix_time` (RFC 6238 §4), whatever the URI's type.
    pub fn totp_at(&self, unix_time: u64) -> Code {
        let period = match self.kind {
            Kind::Totp { period } => period,
            Kind::Hotp { .. } => 30,
        };
        self.hotp(unix_time / period)
    }
}

/// The code to show for a secret, and for HOTP the content to store first.
pub struct NextCode {
    pub code: Code,
    /// HOTP only: the secret's content with the counter advanced to the one just used.
    pub updated: Option<Plaintext>,
    /// TOTP only: seconds until the code changes.
    pub valid_for: Option<u64>,
}

/// The code for the first `otpauth://` line of `content`: TOTP at `clock`'s time, or HOTP for
/// the stored counter plus one, with the content to store (everything else byte-exact).
pub fn next_code(content: &Plaintext, clock: &dyn Clock) -> Result<NextCode, OtpError> {
    let (start, end) = otpauth_line(content.as_bytes()).ok_or(OtpError::NoUri)?;
    let line = &content.as_bytes()[start..end];
    let uri = OtpUri::parse(line)?;
    match uri.kind {
        Kind::Totp { period } => {
            let now = clock.unix_time();
            Ok(NextCode {
                code: uri.totp_at(now),
                updated: None,
                valid_for: Some(period - now % period),
            })
        }
        Kind::Hotp { counter } => {
            let next = counter.checked_add(1).ok_or(OtpError::CounterOverflow)?;
            let parts = split_uri(line)?;
            let param = parts
                .params
                .iter()
                .find(|p| p.key == "counter")
                .ok_or(OtpError::MissingCounter)?;
            let mut bytes = Vec::with_capacity(content.len() + 4);
            bytes.extend_from_slice(&content.as_bytes()[..start + param.value_start]);
            bytes.extend_from_slice(next.to_string().as_bytes());
            bytes.extend_from_slice(&content.as_bytes()[start + param.value_end..]);
            Ok(NextCode {
                code: uri.hotp(next),
                updated: Some(Plaintext::new(bytes)),
                valid_for: None,
            })
        }
    }
}

/// A TOTP URI built from a bare base32 seed, as pass-otp's `insert -s` does:
/// `otpauth://totp/ISSUER:ACCOUNT?secret=SEED&issuer=ISSUER` (without an issuer,
/// `otpauth://totp/ACCOUNT?secret=SEED`). The seed may be typed as authenticator sites show
/// it (any case, spaces, dashes, `=` padding); it is checked, and the URI with it.
pub fn uri_from_seed(
    seed: &str,
    issuer: Option<&str>,
    account: &str,
) -> Result<Zeroizing<String>, OtpError> {
    decode_base32(seed)?;
    let seed: Zeroizing<String> = Zeroizing::new(
        seed.chars()
            .filter(|c| *c != ' ' && *c != '-' && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    let uri = Zeroizing::new(match issuer {
        Some(issuer) => format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}",
            encode_component(issuer),
            encode_component(account),
            seed.as_str(),
            encode_component(issuer)
        ),
        None => format!(
            "otpauth://totp/{}?secret={}",
            encode_component(account),
            seed.as_str()
        ),
    });
    OtpUri::parse(uri.as_bytes())?;
    Ok(uri)
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode_component(text: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

/// The content with `uri` in place of its first `otpauth://` line, or appended as a new last
/// line when it has none. Everything else stays byte-exact.
pub fn with_uri(content: &Plaintext, uri: &[u8]) -> Plaintext {
    let old = content.as_bytes();
    let mut out = Vec::with_capacity(old.len() + uri.len() + 2);
    match otpauth_line(old) {
        Some((start, end)) => {
            out.extend_from_slice(&old[..start]);
            out.extend_from_slice(uri);
            out.extend_from_slice(&old[end..]);
        }
        None => {
            out.extend_from_slice(old);
            if !old.is_empty() && !old.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(uri);
            out.push(b'\n');
        }
    }
    Plaintext::new(out)
}

/// Byte range of the first line starting with `otpauth://`, without its `\r\n`.
fn otpauth_line(content: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start <= content.len() {
        let end = content[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(content.len(), |i| start + i);
        let line_end = if end > start && content[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        if content[start..line_end].starts_with(b"otpauth://") {
            return Some((start, line_end));
        }
        start = end + 1;
    }
    None
}

struct Parts {
    hotp: bool,
    params: Vec<Param>,
}

/// One `key=value` of the query, with the value's byte range in the URI.
struct Param {
    key: String,
    value_start: usize,
    value_end: usize,
}

impl Param {
    fn value(&self, uri: &[u8]) -> Result<String, OtpError> {
        percent_encoding::percent_decode(&uri[self.value_start..self.value_end])
            .decode_utf8()
            .map(|v| v.into_owned())
            .map_err(|_| OtpError::BadEncoding)
    }
}

fn split_uri(uri: &[u8]) -> Result<Parts, OtpError> {
    let rest = uri
        .strip_prefix(b"otpauth://")
        .ok_or(OtpError::NotOtpauth)?;
    let text = std::str::from_utf8(uri).map_err(|_| OtpError::NotUtf8)?;
    if text.chars().any(|c| c.is_control() || c == ' ') {
        return Err(OtpError::ControlCharacter);
    }
    let base = uri.len() - rest.len();
    let type_end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let kind = String::from_utf8_lossy(&rest[..type_end]).to_ascii_lowercase();
    let hotp = match kind.as_str() {
        "totp" => false,
        "hotp" => true,
        _ => return Err(OtpError::UnknownType(shorten(&kind))),
    };
    if rest.get(type_end) != Some(&b'/') {
        return Err(OtpError::NoLabel);
    }
    let query_start = rest
        .iter()
        .position(|&b| b == b'?')
        .ok_or(OtpError::NoParameters)?
        + 1;
    let query_end = rest[query_start..]
        .iter()
        .position(|&b| b == b'#')
        .map_or(rest.len(), |i| query_start + i);
    let mut params = Vec::new();
    let mut at = query_start;
    for piece in rest[query_start..query_end].split(|&b| b == b'&') {
        let eq = piece.iter().position(|&b| b == b'=');
        let (key, value_start, value_end) = match eq {
            Some(eq) => (&piece[..eq], at + eq + 1, at + piece.len()),
            None => (piece, at + piece.len(), at + piece.len()),
        };
        params.push(Param {
            key: String::from_utf8_lossy(key).to_ascii_lowercase(),
            value_start: base + value_start,
            value_end: base + value_end,
        });
        at += piece.len() + 1;
    }
    Ok(Parts { hotp, params })
}

/// Base32 as authenticator apps write it: any case, optional `=` padding, spaces ignored.
fn decode_base32(raw: &str) -> Result<Zeroizing<Vec<u8>>, OtpError> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        raw.chars()
            .filter(|c| *c != ' ' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
            .trim_end_matches('=')
            .to_owned(),
    );
    if cleaned.is_empty() {
        return Err(OtpError::EmptySecret);
    }
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    let encoding = spec.encoding().map_err(|_| OtpError::BadSecret)?;
    encoding
        .decode(cleaned.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| OtpError::BadSecret)
}

fn parse_number(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// Keeps an echoed (non-secret) parameter value short in a message.
fn shorten(raw: &str) -> String {
    raw.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Plaintext {
        Plaintext::new(s.as_bytes().to_vec())
    }

    #[test]
    fn defaults_and_parameters() {
        let u = OtpUri::parse(b"otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(u.kind(), Kind::Totp { period: 30 });
        assert_eq!(u.algorithm(), Algorithm::Sha1);
        assert_eq!(u.digits(), 6);
        let u = OtpUri::parse(
            b"otpauth://TOTP/x?Secret=jbsw%20y3dp&algorithm=sha512&digits=8&period=60&issuer=A%20B",
        )
        .unwrap();
        assert_eq!(u.kind(), Kind::Totp { period: 60 });
        assert_eq!(u.algorithm(), Algorithm::Sha512);
        assert_eq!(u.digits(), 8);
    }

    #[test]
    fn each_mistake_is_named() {
        let cases: &[(&str, OtpError)] = &[
            ("https://x", OtpError::NotOtpauth),
            (
                "otpauth://motp/x?secret=AA",
                OtpError::UnknownType("motp".into()),
            ),
            ("otpauth://totp?secret=AA", OtpError::NoLabel),
            ("otpauth://totp/x", OtpError::NoParameters),
            ("otpauth://totp/x?issuer=a", OtpError::MissingSecret),
            ("otpauth://totp/x?secret=", OtpError::EmptySecret),
            ("otpauth://totp/x?secret=AB1C", OtpError::BadSecret),
            (
                "otpauth://totp/x?secret=AA&algorithm=MD5",
                OtpError::UnknownAlgorithm("MD5".into()),
            ),
            (
                "otpauth://totp/x?secret=AA&digits=5",
                OtpError::BadDigits("5".into()),
            ),
            (
                "otpauth://totp/x?secret=AA&digits=+6",
                OtpError::BadDigits("+6".into()),
            ),
            (
                "otpauth://totp/x?secret=AA&period=0",
                OtpError::BadPeriod("0".into()),
            ),
            ("otpauth://hotp/x?secret=AA", OtpError::MissingCounter),
            (
                "otpauth://hotp/x?secret=AA&counter=-1",
                OtpError::BadCounter("-1".into()),
            ),
            (
                "otpauth://hotp/x?secret=AA&counter=1&counter=2",
                OtpError::Duplicate("counter".into()),
            ),
            ("otpauth://totp/x?secret=AA\x07", OtpError::ControlCharacter),
        ];
        for (uri, expected) in cases {
            assert_eq!(
                OtpUri::parse(uri.as_bytes()).err().as_ref(),
                Some(expected),
                "{uri}"
            );
        }
    }

    #[test]
    fn errors_never_echo_the_secret() {
        let err = OtpUri::parse(b"otpauth://totp/x?secret=SECRETVALUE1")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("SECRETVALUE"));
    }

    #[test]
    fn hotp_advances_only_the_counter() {
        let content = p(
            "pw\r\nuser: a\r\notpauth://hotp/I:a?issuer=I&counter=8&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\r\nnotes\n",
        );
        let next = next_code(&content, &SystemClock).unwrap();
        // RFC 4226 Appendix D: count 9 is 520489.
        assert_eq!(next.code.as_str(), "520489");
        assert!(next.valid_for.is_none());
        assert_eq!(
            next.updated.unwrap().as_bytes(),
            b"pw\r\nuser: a\r\notpauth://hotp/I:a?issuer=I&counter=9&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\r\nnotes\n"
        );
    }

    #[test]
    fn totp_does_not_change_the_content() {
        let content = p("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=30");
        let next = next_code(&content, &FixedClock(59)).unwrap();
        assert_eq!(next.code.as_str(), "287082");
        assert_eq!(next.valid_for, Some(1));
        assert!(next.updated.is_none());
        assert_eq!(
            next_code(&p("just a password\n"), &FixedClock(0)).err(),
            Some(OtpError::NoUri)
        );
    }

    #[test]
    fn counter_overflow_is_refused() {
        let content = p(&format!("otpauth://hotp/x?secret=AA&counter={}", u64::MAX));
        assert_eq!(
            next_code(&content, &SystemClock).err(),
            Some(OtpError::CounterOverflow)
        );
    }

    #[test]
    fn with_uri_replaces_or_appends() {
        let uri = b"otpauth://totp/new?secret=AA";
        assert_eq!(
            with_uri(&p("pw\notpauth://totp/old?secret=BB\nnote\n"), uri).as_bytes(),
            b"pw\notpauth://totp/new?secret=AA\nnote\n"
        );
        assert_eq!(
            with_uri(&p("pw\nnote"), uri).as_bytes(),
            b"pw\nnote\notpauth://totp/new?secret=AA\n"
        );
        assert_eq!(
            with_uri(&p(""), uri).as_bytes(),
            b"otpauth://totp/new?secret=AA\n"
        );
    }

    proptest! {
        #[test]
        fn codes_have_the_requested_width(counter in any::<u64>(), digits in 6u32..=8) {
            let uri = format!("otpauth://hotp/x?secret=GEZDGNBV&counter=0&digits={digits}");
            let code = OtpUri::parse(uri.as_bytes()).unwrap().hotp(counter);
            prop_assert_eq!(code.as_str().len(), digits as usize);
            prop_assert!(code.as_str().bytes().all(|b| b.is_ascii_digit()));
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut uri = b"otpauth://".to_vec();
            uri.extend_from_slice(&bytes);
            let _ = OtpUri::parse(&uri);
        }
    }
}
