//! Moving secrets in from pass, passage and password-manager exports.
//!
//! Each source yields `(name, source item)` pairs; [`plan`] sets aside the names that already
//! exist (unless forced), and [`import`] turns each item into plaintext (decrypting with gpg,
//! with identities, or taking a CSV row), encrypts it to the recipients of its destination
//! folder and writes the results in crash-safe batches. Work runs in parallel; one item that
//! fails is reported and the rest go on. Nothing here prints: the command line reports.
//!
//! A secret whose value last changed before the import ([`Dates`], from the source store's
//! history: [`dates`]) keeps that date: its file gets it as modification time and the import
//! commit a `Coffer-Rotated` trailer (see [`crate::team::rotation`]).

pub mod csv;
pub mod dates;
pub mod gpg;
pub mod names;
pub mod source;

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use rayon::prelude::*;

use crate::crypto;
use crate::crypto::recipients::Recipients;
use crate::crypto::secret::Plaintext;
use crate::store::StoreLock;
use crate::store::name::{Folder, SecretName};
use crate::team::rotation;
use crate::vault::{Changed, Error, Result, Vault};

/// How many secrets are encrypted and written per batch (one filesystem sync each).
const BATCH: usize = 256;

/// Above this many secrets, the commit names top-level folders instead of every file, to keep
/// git's command line short.
const MAX_COMMIT_PATHS: usize = 1000;

/// When imported values last changed, by destination name; a name left out is dated by the
/// import.
pub type Dates = HashMap<SecretName, Timestamp>;

/// Something that could not be imported, and why. `what` is a name, a source path or a CSV
/// line, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub what: String,
    pub reason: String,
}

impl Failure {
    pub fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// What to write, and what was set aside because it already exists.
pub struct Plan<S> {
    pub write: Vec<(SecretName, S)>,
    pub skipped: Vec<SecretName>,
}

/// Sorts `items` into those to write and those skipped because a secret of that name exists
/// (all are written when `force`). A destination that cannot be inspected (a link in the
/// way) becomes a failure.
pub fn plan<S>(
    vault: &Vault,
    items: Vec<(SecretName, S)>,
    force: bool,
    failures: &mut Vec<Failure>,
) -> Plan<S> {
    let mut out = Plan {
        write: Vec::with_capacity(items.len()),
        skipped: Vec::new(),
    };
    for (name, item) in items {
        match vault.entry(&name) {
            Ok(entry) if entry.secret && !force => out.skipped.push(name),
            Ok(_) => out.write.push((name, item)),
            Err(e) => failures.push(Failure::new(name.as_str(), e.to_string())),
        }
    }
    out
}

/// The result of an import that ran.
#[derive(Default)]
pub struct Outcome {
    pub imported: Vec<SecretName>,
    pub failures: Vec<Failure>,
    /// A failure that stopped the import part-way (a full disk): what was written before it
    /// is in `imported`.
    pub stopped: Option<Error>,
}

/// Writes every item of `plan`: `open` turns an item into plaintext (or says why it cannot),
/// which is encrypted to the recipients of the item's destination folder. The first item goes
/// alone, so that a tool asking for a passphrase (gpg's pinentry) asks once; the rest go in
/// parallel, in batches. `progress` is called once per item done. A file written for a name
/// in `dates` gets that date as its modification time.
///
/// Fails before writing anything if a destination folder has no usable recipients.
pub fn import<S, F>(
    vault: &Vault,
    lock: &StoreLock,
    plan: Vec<(SecretName, S)>,
    dates: &Dates,
    open: F,
    progress: &(dyn Fn() + Sync),
) -> Result<Outcome>
where
    S: Send,
    F: Fn(&SecretName, S) -> Result<Plaintext, String> + Sync,
{
    let mut recipients: HashMap<Folder, Recipients> = HashMap::new();
    for (name, _) in &plan {
        if let std::collections::hash_map::Entry::Vacant(slot) = recipients.entry(name.parent()) {
            // The same checks as every other write: approved recipients, no lockout.
            let found = vault.check_can_encrypt(slot.key())?;
            slot.insert(found);
        }
    }
    let seal = |name: SecretName, item: S| -> std::result::Result<(SecretName, Vec<u8>), Failure> {
        let plaintext = open(&name, item).map_err(|r| Failure::new(name.as_str(), r))?;
        let ciphertext = recipients
            .get(&name.parent())
            .ok_or_else(|| Failure::new(name.as_str(), "no recipients"))
            .and_then(|r| {
                crypto::encrypt(plaintext.as_bytes(), r)
                    .map_err(|e| Failure::new(name.as_str(), e.to_string()))
            })?;
        Ok((name, ciphertext))
    };

    let mut outcome = Outcome::default();
    let mut items = plan.into_iter();
    let mut first = true;
    loop {
        let size = if first { 1 } else { BATCH };
        first = false;
        let chunk: Vec<(SecretName, S)> = items.by_ref().take(size).collect();
        if chunk.is_empty() {
            break;
        }
        let results: Vec<_> = chunk
            .into_par_iter()
            .map(|(name, item)| {
                let result = seal(name, item);
                progress();
                result
            })
            .collect();
        let mut sealed = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(pair) => sealed.push(pair),
                Err(failure) => outcome.failures.push(failure),
            }
        }
        let times: Vec<_> = sealed
            .iter()
            .map(|(name, _)| {
                dates
                    .get(name)
                    .map(|&when| std::time::SystemTime::from(when))
            })
            .collect();
        if let Err(e) = vault.write_encrypted(lock, &sealed, &times) {
            outcome.stopped = Some(e);
            break;
        }
        outcome
            .imported
            .extend(sealed.into_iter().map(|(name, _)| name));
    }
    Ok(outcome)
}

/// Commits the imported secrets (if the store is a git repository) with `message`, followed
/// by a `Coffer-Rotated` trailer for each one in `dates`.
pub fn commit(vault: &Vault, imported: &[SecretName], message: &str, dates: &Dates) -> Result<()> {
    if imported.is_empty() {
        return Ok(());
    }
    let trailers = rotation::rotated_trailers(
        imported
            .iter()
            .filter_map(|name| dates.get(name).map(|&when| (name, when))),
    );
    let message = if trailers.is_empty() {
        message.to_owned()
    } else {
        format!("{message}\n\n{trailers}")
    };
    let changed: Vec<Changed> = if imported.len() <= MAX_COMMIT_PATHS {
        imported.iter().cloned().map(Changed::Secret).collect()
    } else {
        let tops: BTreeSet<Changed> = imported
            .iter()
            .map(|n| match n.components().next().map(Folder::new) {
                Some(Ok(top)) if n.components().nth(1).is_some() => Changed::Folder(top),
                _ => Changed::Secret(n.clone()),
            })
            .collect();
        tops.into_iter().collect()
    };
    vault.commit(&changed, &message)
}

/// `Import N secrets from SOURCE.`, as a commit message.
pub fn commit_message(count: usize, source: &str) -> String {
    format!("Import {count} {} from {source}.", plural(count, "secret"))
}

/// `word` or `words` for `count`.
pub fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_count_properly() {
        assert_eq!(commit_message(1, "pass"), "Import 1 secret from pass.");
        assert_eq!(
            commit_message(3, "Bitwarden CSV"),
            "Import 3 secrets from Bitwarden CSV."
        );
    }
}
