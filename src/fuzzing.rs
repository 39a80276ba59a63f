//! Entry points for fuzzing: one function per parser of untrusted bytes.
//!
//! The fuzz targets in `fuzz/` call these, and `cargo test` replays every input kept in
//! `fuzz/corpus/` through them (`tests/cli/fuzz_corpus.rs`), so a crash once found stays
//! fixed. Each function must not panic on any input; where a parser has a property that is
//! cheap to check (a reference prints back to itself, a rewrite keeps a dotenv file's keys)
//! it is asserted, so the fuzzer looks for wrong answers as well as crashes.
//!
//! Not part of coffer's API: hidden, and free to change with the parsers.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::agent::protocol::{self, Request, Response};
use crate::config::Config;
use crate::crypto::identity::{Identities, NewIdentity};
use crate::crypto::recipients::Recipients;
use crate::crypto::secret::Plaintext;
use crate::formats::dotenv;
use crate::formats::otp::{self, FixedClock, OtpUri};
use crate::formats::reference::{self, Reference};
use crate::formats::template::{Piece, Template};
use crate::store::name::{Folder, SecretName};
use crate::team::trust::Pins;
use crate::team::{exposure, log, rotation};
use crate::tools::import::csv::{self, CsvFormat};

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every target, by the name of its binary in `fuzz/` and its folder in `fuzz/corpus/`.
pub const TARGETS: &[(&str, Entry)] = &[
    ("age", age),
    ("recipients", recipients),
    ("identities", identities),
    ("otp", otp),
    ("dotenv", dotenv),
    ("csv", csv),
    ("reference", reference),
    ("template", template),
    ("config", config),
    ("agent_frame", agent_frame),
    ("access_log", access_log),
    ("trust_pins", trust_pins),
    ("git_log", git_log),
    ("exposure", exposure),
];

/// The entry point of the target called `name`.
pub fn entry(name: &str) -> Option<Entry> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// A fresh identity per process: nothing secret is ever kept in the corpus.
fn own_identity() -> Option<&'static Identities> {
    static IDENTITY: OnceLock<Option<Identities>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            Identities::parse_plain(NewIdentity::generate().file_text().as_bytes()).ok()
        })
        .as_ref()
}

/// Decrypts arbitrary bytes (binary or armored; the header framing check first). An input in
/// the CCTV vector layout (`identity: …` lines, a blank line, the file) is decrypted with the
/// vector's public test identities, so the public vectors in `tests/cctv/` can seed the
/// corpus and reach the payload; anything else goes to a generated identity.
pub fn age(data: &[u8]) {
    let vector = (data.starts_with(b"expect: ") || data.starts_with(b"identity: "))
        .then(|| data.windows(2).position(|w| w == b"\n\n"))
        .flatten();
    let (ids, file) = match vector {
        Some(split) => {
            let keys: Vec<&[u8]> = data[..split]
                .split(|&b| b == b'\n')
                .filter_map(|l| l.strip_prefix(b"identity: "))
                .collect();
            (
                Identities::parse_plain(&keys.join(&b'\n')).ok(),
                &data[split + 2..],
            )
        }
        None => (None, data),
    };
    let Some(ids) = ids.as_ref().or_else(|| own_identity()) else {
        return;
    };
    let _ = crate::crypto::decrypt(file, ids);
}

/// A `.age-recipients` file; what parses must render and parse back to the same keys.
pub fn recipients(data: &[u8]) {
    let Ok(parsed) = Recipients::parse(data, Path::new("fuzz")) else {
        return;
    };
    let again = Recipients::parse(parsed.to_file_text().as_bytes(), Path::new("fuzz"));
    assert!(again.is_ok_and(|again| again.same_keys(&parsed)));
}

/// An unencrypted identities file (native, plugin or SSH keys).
pub fn identities(data: &[u8]) {
    let _ = Identities::parse_plain(data);
}

/// An `otpauth://` URI and codes from it, and a secret's content (password line, fields, the
/// OTP line) as `otp`, `show` and references read it.
pub fn otp(data: &[u8]) {
    if let Ok(uri) = OtpUri::parse(data) {
        for counter in [0, 1, u64::MAX] {
            let code = uri.hotp(counter);
            assert_eq!(code.as_str().len(), uri.digits() as usize);
            let _ = uri.totp_at(counter);
        }
    }
    let content = Plaintext::new(data.to_vec());
    let _ = content.password();
    let _ = content.fields().count();
    let _ = content.field("user");
    let _ = content.otpauth();
    let _ = otp::next_code(&content, &FixedClock(1_700_000_000));
    let _ = otp::with_uri(&content, b"otpauth://totp/x?secret=GEZDGNBV");
}

/// A dotenv file; replacing every value with a reference (what `import dotenv --rewrite`
/// does) must leave a file with the same keys, whose values are those references.
pub fn dotenv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = dotenv::parse(text) else {
        return;
    };
    let rewritten = dotenv::rewrite(text, &entries, |_| Some("coffer:x".to_owned()));
    let again = dotenv::parse(&rewritten);
    assert!(again.as_ref().is_ok(), "a rewrite does not parse");
    let again = again.unwrap_or_default();
    let keys = |list: &[dotenv::Entry]| list.iter().map(|e| e.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&entries), keys(&again));
    assert!(again.iter().all(|e| e.value.as_str() == "coffer:x"));
}

/// A password manager's CSV export; the first byte picks the format.
pub fn csv(data: &[u8]) {
    const FORMATS: [CsvFormat; 5] = [
        CsvFormat::Bitwarden,
        CsvFormat::OnePassword,
        CsvFormat::KeePassXc,
        CsvFormat::LastPass,
        CsvFormat::Generic,
    ];
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let _ = csv::parse(rest, FORMATS[usize::from(first) % FORMATS.len()]);
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = csv::otpauth_line(text, "title");
    }
}

/// A `coffer:` reference; what parses must print back to itself.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Reference::parse(text) {
        assert_eq!(Reference::parse(&parsed.to_string()), Ok(parsed.clone()));
        let secret = Plaintext::new(b"pw\nuser: u\notpauth://totp/x?secret=GEZDGNBV\n".to_vec());
        let _ = parsed.select(&secret);
    }
    if let Ok(decoded) = reference::percent_decode(text) {
        assert_eq!(
            reference::percent_decode(&reference::percent_encode(&decoded)),
            Ok(decoded)
        );
    }
    let _ = SecretName::new(text);
    let _ = Folder::new(text);
}

/// An `inject` template; its pieces must tile the text in order.
pub fn template(data: &[u8]) {
    let Ok(parsed) = Template::parse(data) else {
        return;
    };
    let mut end = 0;
    for piece in &parsed.pieces {
        match piece {
            Piece::Text(range) => {
                assert!(end <= range.start && range.start <= range.end && range.end <= data.len());
                end = range.end;
            }
            Piece::Reference(i) => assert!(*i < parsed.references.len()),
        }
    }
    let values: Vec<Plaintext> = parsed
        .references
        .iter()
        .map(|_| Plaintext::new(b"v".to_vec()))
        .collect();
    let _ = parsed.render(data, &values);
}

/// The config file (TOML), and the agent timeout it may hold.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, Path::new("fuzz.toml")) {
        let _ = crate::agent::parse_timeout(config.agent.timeout.as_ref());
    }
}

/// A stream of agent frames, read as requests (what the agent reads) and as responses (what
/// a client reads); a request that arrives must survive being sent again.
pub fn agent_frame(data: &[u8]) {
    let mut input = data;
    while let Ok(request) = protocol::receive::<Request>(&mut input) {
        let mut frame = Vec::new();
        assert!(protocol::send(&mut frame, &request).is_ok());
        assert!(protocol::receive::<Request>(&mut &frame[..]).is_ok());
    }
    let mut input = data;
    while protocol::receive::<Response>(&mut input).is_ok() {}
}

/// An access log and its head file (`head NUL log`, or just a log), checked as `log
/// --verify` checks them.
pub fn access_log(data: &[u8]) {
    let (head, log) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (log::parse_head(&data[..nul]), &data[nul + 1..]),
        None => (None, data),
    };
    let verdict = log::verify_bytes(log, head.as_ref());
    if let Some(problem) = verdict.problem {
        assert!(problem.record >= 1);
    }
}

/// A trust pin file (TOML) for the store `/store`.
pub fn trust_pins(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = PathBuf::from("/fuzz/trust.toml");
    if let Ok(pins) = Pins::from_text(text, file, PathBuf::from("/store")) {
        let _ = pins.iter().count();
        if let Ok(folder) = Folder::new("team/web") {
            let _ = pins.approved_for(&folder);
        }
    }
}

/// `git log`'s output as rotation dates read it.
pub fn git_log(data: &[u8]) {
    let names: Vec<SecretName> = ["a", "web/shop", "team/db"]
        .iter()
        .filter_map(|n| SecretName::new(n).ok())
        .collect();
    for (index, _) in rotation::dates_from_history(data, &names) {
        assert!(index < names.len());
    }
}

/// An exposure mark file (`.coffer/exposed/…`), which teammates' commits bring in.
pub fn exposure(data: &[u8]) {
    let removals = exposure::parse(data);
    let _ = exposure::parse(exposure::render(&removals).as_bytes());
}
