//! What the agent and its clients say to each other: the only code both sides share.
//!
//! A message is a 4-byte big-endian length, then that many bytes of JSON. The first exchange
//! on every connection is `Hello` both ways, carrying [`VERSION`]; that exchange and the
//! framing never change, so any client can tell an agent of another version and restart it.
//! Secret fields ([`SecretBytes`]) are wiped on drop, and so is every frame buffer.

use std::io::{Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The protocol version. Bump it on any change to the messages below.
pub const VERSION: u32 = 2;

/// No message comes near this: an identities file is a few KiB, a header a few stanzas. With
/// the agent's cap on connections it bounds what clients can make the agent hold.
pub const MAX_FRAME: usize = 1 << 20;

/// Bytes that must not outlive their use: a passphrase, a file key, a PIN.
///
/// They travel as one hex string, decoded straight into a buffer of the right size: a JSON
/// array would grow a vector element by element, leaving unwiped copies in freed memory.
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretBytes(Vec<u8>);

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for b in &self.0 {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = SecretBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretBytes, E> {
                let digit = |c: u8| match c {
                    b'0'..=b'9' => Ok(c - b'0'),
                    b'a'..=b'f' => Ok(c - b'a' + 10),
                    _ => Err(E::custom("not a hex digit")),
                };
                if text.len() % 2 != 0 {
                    return Err(E::custom("odd hex length"));
                }
                let mut out = SecretBytes(Vec::with_capacity(text.len() / 2));
                for pair in text.as_bytes().chunks_exact(2) {
                    out.0.push((digit(pair[0])? << 4) | digit(pair[1])?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_str(Hex)
    }
}

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// An age header stanza as it travels to the agent.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct WireStanza {
    pub tag: String,
    pub args: Vec<String>,
    pub body: Vec<u8>,
}

impl From<&age_core::format::Stanza> for WireStanza {
    fn from(s: &age_core::format::Stanza) -> Self {
        Self {
            tag: s.tag.clone(),
            args: s.args.clone(),
            body: s.body.clone(),
        }
    }
}

impl From<WireStanza> for age_core::format::Stanza {
    fn from(s: WireStanza) -> Self {
        Self {
            tag: s.tag,
            args: s.args,
            body: s.body,
        }
    }
}

/// Client → agent.
#[derive(Serialize, Deserialize)]
pub enum Request {
    /// Always first. Stable across versions.
    Hello {
        version: u32,
    },
    Status,
    /// Is the agent unlocked with this identities file (path and encrypted bytes)?
    Check {
        identities: PathBuf,
        file: Vec<u8>,
    },
    /// Decrypt the identities file with the passphrase and keep the identities, beside any
    /// other file already unlocked, until `timeout_secs` pass without use.
    Unlock {
        identities: PathBuf,
        file: Vec<u8>,
        passphrase: SecretBytes,
        timeout_secs: u64,
    },
    /// Try the identities of these files, in order, on the stanzas of one file header. The
    /// first must be unlocked (else `Locked`); the others are tried only if they are.
    Unwrap {
        identities: Vec<PathBuf>,
        stanzas: Vec<WireStanza>,
    },
    /// The answer to an [`Response::Ask`] (a plugin's PIN); `None` if it could not be asked.
    Answer {
        secret: Option<SecretBytes>,
    },
    /// Forget every unlocked identities file.
    Lock,
    /// Forget one identities file (its passphrase or key changed).
    Forget {
        identities: PathBuf,
    },
    /// Exit now (`coffer agent stop`).
    Stop,
}

/// Agent → client.
#[derive(Serialize, Deserialize)]
pub enum Response {
    Hello {
        version: u32,
        pid: u32,
    },
    Status(Status),
    Ok,
    /// Unlocked with the identities asked about; their public keys where derivable.
    Unlocked {
        recipients: Vec<String>,
    },
    Locked,
    FileKey(SecretBytes),
    NoMatch,
    /// A plugin asks for a secret (a PIN) during `Unwrap`; answer with [`Request::Answer`].
    Ask {
        description: String,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    WrongPassphrase,
    Locked,
    Identity,
    Protocol,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Status {
    pub pid: u32,
    pub version: u32,
    pub coffer_version: String,
    /// The identities files the agent holds, in the order they were unlocked.
    pub unlocked: Vec<HeldStatus>,
    /// How long the agent stays once nothing is unlocked.
    pub timeout_secs: u64,
    /// Seconds until it exits, if nothing is unlocked and nothing uses it.
    pub idle_left_secs: u64,
}

/// One unlocked identities file in [`Status`].
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HeldStatus {
    pub path: PathBuf,
    /// The idle timeout it was unlocked with.
    pub timeout_secs: u64,
    /// Seconds until it locks if unused.
    pub idle_left_secs: u64,
}

/// Writes one message. The encoded frame is wiped after sending.
pub fn send<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    // Room enough that the buffer never grows (growing would leave unwiped copies behind).
    let mut body = Zeroizing::new(Vec::with_capacity(64 * 1024));
    serde_json::to_writer(&mut *body, message).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one message. A clean end of stream before a message is `UnexpectedEof`.
pub fn receive<T: for<'de> Deserialize<'de>>(input: &mut impl Read) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "message too large",
        ));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_frames() {
        let mut wire = Vec::new();
        send(
            &mut wire,
            &Request::Unwrap {
                identities: vec![PathBuf::from("/ids")],
                stanzas: vec![WireStanza {
                    tag: "X25519".into(),
                    args: vec!["abc".into()],
                    body: vec![1, 2, 3],
                }],
            },
        )
        .unwrap();
        send(&mut wire, &Request::Hello { version: VERSION }).unwrap();
        let mut input = &wire[..];
        match receive::<Request>(&mut input).unwrap() {
            Request::Unwrap {
                identities,
                stanzas,
            } => {
                assert_eq!(stanzas[0].body, [1, 2, 3]);
                assert_eq!(identities, [PathBuf::from("/ids")]);
            }
            _ => panic!("wrong message"),
        }
        assert!(matches!(
            receive::<Request>(&mut input).unwrap(),
            Request::Hello { version: VERSION }
        ));
        let err = receive::<Request>(&mut input).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn secrets_travel_as_hex_and_come_back_exact() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = serde_json::to_string(&SecretBytes::new(bytes.clone())).unwrap();
        assert!(text.starts_with("\"000102"), "{text}");
        let back: SecretBytes = serde_json::from_str(&text).unwrap();
        assert_eq!(back.expose(), &bytes[..]);
        for bad in ["\"0\"", "\"zz\"", "[1,2]"] {
            assert!(serde_json::from_str::<SecretBytes>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oversized_and_garbage_frames_are_refused() {
        let mut huge = (u32::MAX).to_be_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(receive::<Request>(&mut &huge[..]).is_err());
        let mut junk = 3u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{{{");
        assert_eq!(
            receive::<Request>(&mut &junk[..]).err().unwrap().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
