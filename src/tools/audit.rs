//! The audit: findings about the secrets of a vault, each with a name and a reason, never a
//! value.
//!
//! Kinds: **weak** (line 1 scores low on zxcvbn; clearly generated tokens are not given to
//! it; every other line 1 is, as no rule short of zxcvbn's dictionaries can tell which random-
//! looking ones it calls weak: it is the audit's main cost on a first run),
//! **reused** (the same line 1 in several secrets, compared by hash in memory, reported as
//! groups), **stale** (not rotated for longer than the limit), **exposed** (readable by a
//! since-removed recipient and unchanged since), **expiring** (an `expires: YYYY-MM-DD` field
//! or a PEM certificate's end date within 30 days, or past), **undecryptable** (corrupt, or not
//! encrypted to any local identity). Secrets are decrypted in parallel; each plaintext is
//! dropped (and wiped) as soon as its facts are taken.
//!
//! The facts of a plaintext ([`Facts`]: line 1's hash, the weak verdict, the end dates as
//! data) are kept in the vault's per-secret cache ([`crate::tools::secret_cache`]), so an
//! audit decrypts only the secrets whose files changed since the last one; the findings are
//! made from the facts at every run, with today's date, the rotation dates from git and the
//! exposure marks, none of which is cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crypto::secret::Plaintext;
use crate::store::name::{Folder, SecretName};
use crate::team::rotation::Rotation;
use crate::tools::secret_cache::{self, AuditPass, CacheError, CacheStats, Expiry, Facts, Weak};
use crate::vault::{Result, Vault};

/// The default `audit.max_age`, in days.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 365;
/// How far ahead an expiry date is reported.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// zxcvbn scores below this are weak (it calls anything under 3 "too weak").
const WEAK_BELOW: u8 = 3;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Undecryptable,
    Exposed,
    Expiring,
    Reused,
    Weak,
    Stale,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Undecryptable,
        Kind::Exposed,
        Kind::Expiring,
        Kind::Reused,
        Kind::Weak,
        Kind::Stale,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Kind::Undecryptable => "Undecryptable",
            Kind::Exposed => "Exposed",
            Kind::Expiring => "Expiring",
            Kind::Reused => "Reused",
            Kind::Weak => "Weak",
            Kind::Stale => "Stale",
        }
    }
}

/// How much a finding matters; `--fail-on` compares against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// One finding: a secret (or, for reuse, a group of secrets) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    pub names: Vec<String>,
    pub reason: String,
    /// The date the finding is about (rotation, expiry), `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Days since the rotation (stale) or until the expiry (negative once past).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
}

/// What to audit and against which limits.
#[derive(Debug, Clone)]
pub struct Options {
    pub folder: Folder,
    pub max_age_days: u32,
    /// "Now", for stale and expiry checks.
    pub now: Timestamp,
    /// The store's cache file (see [`secret_cache::cache_file`]); `None`: decrypt everything.
    pub cache: Option<PathBuf>,
}

/// The audit's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How many secrets were looked at.
    pub secrets: usize,
    pub max_age_days: u32,
    pub findings: Vec<Finding>,
}

/// A secret readable by a since-removed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The removals, one readable line each (who, when).
    pub removals: Vec<String>,
    /// When the (last) removal happened, if known.
    pub since: Option<Timestamp>,
}

/// The exposure mark of a secret, if any: the one place the audit reads the marks that
/// `recipients rm` writes (see [`crate::team::exposure`]).
pub fn exposure_of(vault: &Vault, name: &SecretName) -> Result<Option<Exposure>> {
    Ok(vault.exposure(name)?.map(|e| summarize(&e)))
}

fn summarize(exposure: &crate::team::exposure::Exposure) -> Exposure {
    Exposure {
        removals: exposure.removals.iter().map(ToString::to_string).collect(),
        since: exposure
            .removals
            .iter()
            .filter_map(|r| r.at.parse::<Timestamp>().ok())
            .max(),
    }
}

/// An end date as this run sees it.
struct Ending {
    what: String,
    /// The moment it ends and its calendar day; `None` for a date that does not parse.
    end: Option<(Timestamp, Date)>,
}

/// An audit's report, and how the cache served it.
pub struct Audited {
    pub report: Report,
    pub cache: CacheStats,
    /// Why the cache could not be written, if it could not (the audit went on without it).
    pub cache_error: Option<CacheError>,
}

/// Audits the secrets at or below `options.folder`. `progress` is called once per secret.
pub fn audit(vault: &Vault, options: &Options, progress: &(dyn Fn() + Sync)) -> Result<Audited> {
    let pass = AuditPass {
        folder: &options.folder,
        facts_of: &facts_of,
        epoch: facts_epoch(),
        walked_at: SystemTime::now(),
    };
    // Fails once, clearly, when there are secrets and no identity, rather than calling every
    // secret undecryptable.
    let found = secret_cache::audit_facts(vault, options.cache.as_deref(), &pass, progress)?;
    let names: Vec<SecretName> = found.secrets.iter().map(|s| s.name.clone()).collect();
    // The walk's stamps already hold the files' times: no second stat of each file.
    let modified: Vec<_> = found.secrets.iter().map(|s| s.modified).collect();
    let rotations = vault.rotation_dates_known(&names, &modified)?;
    // One pass over the marks, not one lookup per secret.
    let exposures: HashMap<SecretName, Exposure> = vault
        .exposed_below(&options.folder)?
        .iter()
        .map(|e| (e.name.clone(), summarize(e)))
        .collect();
    let tz = TimeZone::system();
    let today = options.now.to_zoned(tz.clone()).date();
    let mut findings = Vec::new();
    let mut by_password: HashMap<[u8; 32], Vec<&SecretName>> = HashMap::new();

    for secret in &found.secrets {
        let (name, facts) = (&secret.name, &secret.facts);
        let one = |kind, severity, reason: String| Finding {
            kind,
            severity,
            names: vec![name.to_string()],
            reason,
            date: None,
            days: None,
        };
        match facts {
            Err(e) => findings.push(one(
                Kind::Undecryptable,
                Severity::High,
                undecryptable_reason(e),
            )),
            Ok(facts) => {
                if let Some(weak) = &facts.weak {
                    findings.push(one(Kind::Weak, weak_severity(weak), weak_reason(weak)));
                }
                if let Some(hash) = facts.password_hash {
                    by_password.entry(hash).or_default().push(name);
                }
                for ending in facts.expiries.iter().filter_map(|e| ending(e, &tz)) {
                    if let Some(f) = expiry_finding(name, &ending, options.now, today) {
                        findings.push(f);
                    }
                }
            }
        }
        if let Some(exposure) = exposures.get(name) {
            let still = exposure_still_counts(exposure, rotations.get(name));
            if still {
                let who = if exposure.removals.is_empty() {
                    "a removed recipient".to_owned()
                } else {
                    exposure.removals.join("; ")
                };
                findings.push(one(
                    Kind::Exposed,
                    Severity::High,
                    format!("was readable by {who}, and its value has not changed since"),
                ));
            }
        }
        if let Some(rotation) = rotations.get(name)
            && let Some(f) = stale_finding(name, rotation, options, &tz)
        {
            findings.push(f);
        }
    }
    for group in by_password.into_values().filter(|g| g.len() > 1) {
        findings.push(Finding {
            kind: Kind::Reused,
            severity: Severity::Medium,
            reason: format!("the same line 1 in {} secrets", group.len()),
            names: group.into_iter().map(ToString::to_string).collect(),
            date: None,
            days: None,
        });
    }
    findings.sort_by(|a, b| (a.kind, &a.names).cmp(&(b.kind, &b.names)));
    Ok(Audited {
        report: Report {
            secrets: names.len(),
            max_age_days: options.max_age_days,
            findings,
        },
        cache: found.stats,
        cache_error: found.cache_error,
    })
}

/// What cached facts hold for besides the plaintext: zxcvbn scores a date or a year in a
/// password by its distance from the current year (taken from the clock, in UTC), so a verdict
/// is taken again in a new year.
fn facts_epoch() -> u32 {
    let year = Timestamp::now().to_zoned(TimeZone::UTC).year();
    u32::try_from(year).unwrap_or(0)
}

fn weak_severity(weak: &Weak) -> Severity {
    if weak.score <= 1 {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn weak_reason(weak: &Weak) -> String {
    let mut reason = format!("line 1 scores {}/4 on zxcvbn", weak.score);
    if let Some(w) = &weak.warning {
        reason.push_str(&format!(" ({w})"));
    }
    reason
}

/// An end date as of this run's time zone: an `expires` day ends when the next one starts.
fn ending(expiry: &Expiry, tz: &TimeZone) -> Option<Ending> {
    Some(match expiry {
        Expiry::Field(day) => Ending {
            what: "its expires field".into(),
            end: day.and_then(|day| {
                let next = day.tomorrow().ok()?;
                Some((next.to_zoned(tz.clone()).ok()?.timestamp(), day))
            }),
        },
        Expiry::Certificate { subject, not_after } => {
            let when = Timestamp::from_second(*not_after).ok()?;
            Ending {
                what: format!("the certificate {subject:?}"),
                end: Some((when, when.to_zoned(tz.clone()).date())),
            }
        }
    })
}

/// Marks are cleared when a value changes; a mark older than the last rotation is left over
/// (the value changed somewhere that did not clear it), so it no longer counts.
fn exposure_still_counts(exposure: &Exposure, rotation: Option<&Rotation>) -> bool {
    match (exposure.since, rotation) {
        (Some(since), Some(rotation)) => rotation.when <= since,
        _ => true,
    }
}

fn expiry_finding(
    name: &SecretName,
    expiry: &Ending,
    now: Timestamp,
    today: Date,
) -> Option<Finding> {
    let mut finding = Finding {
        kind: Kind::Expiring,
        severity: Severity::Low,
        names: vec![name.to_string()],
        reason: String::new(),
        date: None,
        days: None,
    };
    let Some((when, day)) = expiry.end else {
        finding.reason = format!("{} is not a YYYY-MM-DD date", expiry.what);
        return Some(finding);
    };
    let days = today.until(day).map_or(0, |s| i64::from(s.get_days()));
    if days > EXPIRY_WARNING_DAYS {
        return None;
    }
    if when <= now {
        finding.severity = Severity::High;
        finding.reason = format!("{} expired on {day}", expiry.what);
    } else {
        let left = days.max(0);
        finding.severity = Severity::Medium;
        finding.reason = format!(
            "{} expires on {day} (in {left} day{})",
            expiry.what,
            if left == 1 { "" } else { "s" }
        );
    }
    finding.date = Some(day.to_string());
    finding.days = Some(days);
    Some(finding)
}

fn stale_finding(
    name: &SecretName,
    rotation: &Rotation,
    options: &Options,
    tz: &TimeZone,
) -> Option<Finding> {
    let age_days = (options.now.as_second() - rotation.when.as_second()).div_euclid(86_400);
    if age_days <= i64::from(options.max_age_days) {
        return None;
    }
    let day = rotation.when.to_zoned(tz.clone()).date();
    Some(Finding {
        kind: Kind::Stale,
        severity: Severity::Low,
        names: vec![name.to_string()],
        reason: format!(
            "not rotated since {day} ({age_days} days; the limit is {})",
            options.max_age_days
        ),
        date: Some(day.to_string()),
        days: Some(age_days),
    })
}

fn undecryptable_reason(e: &crate::vault::Error) -> String {
    match e {
        // The name is already on the finding.
        crate::vault::Error::Decrypt { reason, .. } => reason.to_string(),
        e => e.to_string(),
    }
}

/// Everything the audit needs from one plaintext, from the name and the plaintext alone (the
/// cache relies on it): the hints zxcvbn counts against line 1 are the name's parts and the
/// secret's own user fields; end dates are kept as data.
fn facts_of(name: &SecretName, plaintext: &Plaintext) -> Facts {
    let mut facts = Facts::default();
    let line1 = plaintext.password();
    if let Some(password) = password_text(line1) {
        facts.password_hash = Some(Sha256::digest(password.as_bytes()).into());
        let mut hints: Vec<&str> = name.components().collect();
        for key in ["user", "username", "login", "email"] {
            if let Some(v) = plaintext
                .field(key)
                .and_then(|v| std::str::from_utf8(v).ok())
            {
                hints.push(v);
            }
        }
        if !looks_generated(password) {
            let entropy = zxcvbn::zxcvbn(password, &hints);
            let score = u8::from(entropy.score());
            if score < WEAK_BELOW {
                let warning = entropy
                    .feedback()
                    .and_then(|f| f.warning())
                    .map(|w| w.to_string());
                facts.weak = Some(Weak { score, warning });
            }
        }
    }
    if let Some(value) = plaintext.field("expires") {
        let day = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<Date>().ok());
        facts.expiries.push(Expiry::Field(day));
    }
    for (subject, not_after) in certificate_end_dates(plaintext.as_bytes()) {
        if Timestamp::from_second(not_after).is_ok() {
            facts
                .expiries
                .push(Expiry::Certificate { subject, not_after });
        }
    }
    facts
}

/// Line 1 as a password: text, not empty, not the start of a PEM block or an OTP seed.
fn password_text(line1: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line1).ok()?;
    if text.trim().is_empty() || text.starts_with("-----BEGIN") || text.starts_with("otpauth://") {
        return None;
    }
    Some(text)
}

/// Whether a value is clearly a machine-made token (API key, UUID, hex or base64 blob), for
/// which a dictionary-based strength estimate means nothing.
pub fn looks_generated(value: &str) -> bool {
    let v = value.trim();
    if v.chars().any(char::is_whitespace) || v.len() < 20 {
        return false;
    }
    // Random-looking: many distinct symbols relative to length.
    let bits = shannon_bits_per_char(v);
    if bits < 3.0 {
        return false;
    }
    const PREFIXES: [&str; 10] = [
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "sk_live_",
        "sk_test_",
        "xoxb-",
        "xoxp-",
        "AKIA",
    ];
    let hex = v.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let token_chars = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_+/=.:".contains(c));
    hex || PREFIXES.iter().any(|p| v.starts_with(p)) || (token_chars && v.len() >= 32)
}

fn shannon_bits_per_char(v: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in v.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = v.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The subject and end date (Unix seconds) of every PEM certificate in `content`, and of the
/// whole content if it is one DER certificate. Only `CERTIFICATE` blocks are decoded, so a
/// private key beside them is never copied out of the zeroizing buffer.
fn certificate_end_dates(content: &[u8]) -> Vec<(String, i64)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let mut out = Vec::new();
    let begin = b"-----BEGIN CERTIFICATE-----";
    let end = b"-----END CERTIFICATE-----";
    let mut rest = content;
    while let Some(start) = find(rest, begin) {
        let block = &rest[start..];
        let Some(stop) = find(block, end) else {
            break;
        };
        let block_end = stop + end.len();
        if let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&block[..block_end])
            && let Ok(cert) = pem.parse_x509()
        {
            out.push((
                cert.subject().to_string(),
                cert.validity().not_after.timestamp(),
            ));
        }
        rest = &block[block_end..];
    }
    if out.is_empty()
        && content.first() == Some(&0x30)
        && let Ok((remaining, cert)) = X509Certificate::from_der(content)
        && remaining.is_empty()
    {
        out.push((
            cert.subject().to_string(),
            cert.validity().not_after.timestamp(),
        ));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exposure_ends_when_the_value_changes() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let exposure = Exposure {
            removals: vec!["bob".into()],
            since: Some(at("2024-05-01T00:00:00Z")),
        };
        let rotated = |s: &str| Rotation {
            when: at(s),
            source: crate::team::rotation::Source::Git,
        };
        assert!(exposure_still_counts(
            &exposure,
            Some(&rotated("2024-01-01T00:00:00Z"))
        ));
        assert!(!exposure_still_counts(
            &exposure,
            Some(&rotated("2024-06-01T00:00:00Z"))
        ));
        assert!(exposure_still_counts(&exposure, None));
    }

    #[test]
    fn generated_tokens_are_recognised() {
        assert!(looks_generated("ghp_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"));
        assert!(looks_generated("3f2a9c0e7b5d41a8b6c2e9f0a1d3c5e7"));
        assert!(looks_generated("123e4567-e89b-12d3-a456-426614174000"));
        assert!(looks_generated("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg=="));
        assert!(!looks_generated("password"));
        assert!(!looks_generated("correct horse battery staple"));
        assert!(!looks_generated("00000000000000000000000000000000"));
        assert!(!looks_generated("Summer2024Summer2024"));
    }

    #[test]
    fn password_line_rules() {
        assert_eq!(password_text(b"hunter2"), Some("hunter2"));
        assert_eq!(password_text(b""), None);
        assert_eq!(password_text(b"-----BEGIN CERTIFICATE-----"), None);
        assert_eq!(password_text(b"otpauth://totp/x"), None);
        assert_eq!(password_text(&[0xff, 0xfe]), None);
    }

    #[test]
    fn weak_and_strong_line_ones() {
        let name = SecretName::new("email/work").unwrap();
        let weak = facts_of(&name, &Plaintext::new(b"password1\n".to_vec()));
        assert!(weak.weak.is_some());
        let strong = facts_of(&name, &Plaintext::new(b"q8#Vz!r2Lw$9mKx@4Tp\n".to_vec()));
        assert!(strong.weak.is_none());
        let token = facts_of(
            &name,
            &Plaintext::new(b"ghp_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV\n".to_vec()),
        );
        assert!(token.weak.is_none() && token.password_hash.is_some());
    }

    /// zxcvbn calls a password weak when at most two of its patterns cover it (a third adds
    /// 10^8 guesses on its own), and random capitals or leet digits cost a known word only
    /// a few thousand variations: such a password looks random to any rule that does not
    /// hold zxcvbn's dictionaries, so every line 1 that is not a generated token is scored.
    #[test]
    fn known_words_in_random_capitals_and_leet_are_weak() {
        let name = SecretName::new("web/shop").unwrap();
        for password in ["chRiStOpHeR5m1tH", "iNtErNaTiOnAl5m1tH"] {
            let facts = facts_of(&name, &Plaintext::new(password.as_bytes().to_vec()));
            assert!(facts.weak.is_some(), "{password} is weak");
        }
    }

    #[test]
    fn expires_fields_parse_or_are_reported() {
        let name = SecretName::new("x").unwrap();
        let f = facts_of(
            &name,
            &Plaintext::new(b"pw\nexpires: 2020-02-03\n".to_vec()),
        );
        assert_eq!(
            f.expiries,
            [Expiry::Field(Some(Date::constant(2020, 2, 3)))]
        );
        let bad = facts_of(&name, &Plaintext::new(b"pw\nexpires: soon\n".to_vec()));
        assert_eq!(bad.expiries, [Expiry::Field(None)]);
        let bad = ending(&bad.expiries[0], &TimeZone::UTC).unwrap();
        assert!(bad.end.is_none());
        let now: Timestamp = "2024-01-10T12:00:00Z".parse().unwrap();
        let today = Date::constant(2024, 1, 10);
        let finding = expiry_finding(&name, &bad, now, today).unwrap();
        assert!(
            finding.reason.contains("not a YYYY-MM-DD"),
            "{}",
            finding.reason
        );
        let end = |d: Date| Ending {
            what: "x".into(),
            end: Some((d.to_zoned(TimeZone::UTC).unwrap().timestamp(), d)),
        };
        let soon = expiry_finding(&name, &end(Date::constant(2024, 1, 20)), now, today).unwrap();
        assert_eq!((soon.severity, soon.days), (Severity::Medium, Some(10)));
        let past = expiry_finding(&name, &end(Date::constant(2024, 1, 1)), now, today).unwrap();
        assert_eq!((past.severity, past.days), (Severity::High, Some(-9)));
        assert!(expiry_finding(&name, &end(Date::constant(2024, 3, 1)), now, today).is_none());
    }
}
