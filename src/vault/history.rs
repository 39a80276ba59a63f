//! Old versions of a secret, read from git: the history (never decrypted) and the value at a
//! revision (decrypted in memory). The log reading lives in [`crate::team::history`].

use crate::crypto::DecryptError;
use crate::crypto::secret::Plaintext;
use crate::store::name::SecretName;
use crate::team::history::{self, BlobError, Revision, Version};

use super::{Error, Result, Vault};

/// Why an old version cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the store is not a git repository: it keeps no history")]
    NoRepository,
    #[error("{0} names no commit in the store's repository")]
    NoSuchRevision(String),
    #[error("{name} has no value {back} change(s) back (its history holds {have})")]
    NotThatFarBack {
        name: String,
        back: usize,
        have: usize,
    },
    #[error("{name} did not exist at {rev}; `coffer history {name}` lists its versions")]
    NotAtRevision { name: String, rev: String },
    #[error("{name} at {rev} is {size} bytes, larger than the limit of {limit}")]
    TooLarge {
        name: String,
        rev: String,
        size: u64,
        limit: u64,
    },
    #[error("{name} was not encrypted to you at {rev} (you were added later?)")]
    NotForYou { name: String, rev: String },
}

/// A value read from history, and where it was found.
pub struct OldValue {
    pub plaintext: Plaintext,
    /// The full commit id it was read from.
    pub commit: String,
    /// The secret's name in that commit.
    pub name: String,
}

impl Vault {
    /// Every version of `name`, newest first (see [`crate::team::history`]). Never decrypts.
    pub fn history(&self, name: &SecretName) -> Result<Vec<Version>> {
        if !self.git.is_repo() {
            return Err(HistoryError::NoRepository.into());
        }
        Ok(history::history(&self.git, name)?)
    }

    /// The value `name` had at `rev`, decrypted in memory: `-N` counts value changes back
    /// (re-encryptions do not count); a commit-ish finds the name it had then.
    pub fn read_at(&self, name: &SecretName, rev: &Revision) -> Result<OldValue> {
        let versions = self.history(name)?;
        let rev_text = rev.to_string();
        let candidates: Vec<(String, String)> = match rev {
            Revision::Back(back) => {
                let changes: Vec<usize> = (0..versions.len())
                    .filter(|&i| versions[i].event.changes_value())
                    .collect();
                let Some(&at) = changes.get(*back) else {
                    return Err(HistoryError::NotThatFarBack {
                        name: name.to_string(),
                        back: *back,
                        have: changes.len().saturating_sub(1),
                    }
                    .into());
                };
                // That value lives from its change up to the next one: in the change's commit
                // and in every re-encryption or move after it. The newest copy is tried first,
                // so a member added after the change reads the re-encrypted one.
                let newer = if *back == 0 {
                    0
                } else {
                    changes[*back - 1] + 1
                };
                versions[newer..=at]
                    .iter()
                    .filter(|v| !v.event.gone())
                    .map(|v| (v.commit.clone(), v.name.clone()))
                    .collect()
            }
            Revision::Commit(raw) => {
                let commit = history::resolve_commit(&self.git, raw)?
                    .ok_or_else(|| HistoryError::NoSuchRevision(raw.clone()))?;
                // What the name was then: the newest version at or before that commit.
                let mut found = None;
                for v in &versions {
                    if v.commit == commit || history::is_ancestor(&self.git, &v.commit, &commit)? {
                        found = Some(v);
                        break;
                    }
                }
                match found {
                    Some(v) if !v.event.gone() => vec![(commit, v.name.clone())],
                    _ => return Err(not_there(name, &rev_text)),
                }
            }
        };
        // Only a copy not encrypted to you sends the search on to an older copy; anything
        // else wrong with a copy is the answer.
        let mut not_for_you = None;
        for (commit, at_name) in candidates {
            match self.read_blob_at(name, &rev_text, commit, at_name) {
                Err(e @ Error::History(HistoryError::NotForYou { .. })) => not_for_you = Some(e),
                done => return done,
            }
        }
        Err(not_for_you.unwrap_or_else(|| not_there(name, &rev_text)))
    }

    /// Decrypts `at_name`'s file in `commit` (`name` and `rev` are for messages).
    fn read_blob_at(
        &self,
        name: &SecretName,
        rev: &str,
        commit: String,
        at_name: String,
    ) -> Result<OldValue> {
        let limit = self.config.limits.max_secret_size();
        let ciphertext = match history::blob_at(&self.git, &commit, &at_name, limit) {
            Ok(bytes) => bytes,
            Err(BlobError::Missing) => return Err(not_there(name, rev)),
            Err(BlobError::TooLarge(size)) => {
                return Err(HistoryError::TooLarge {
                    name: at_name,
                    rev: rev.to_owned(),
                    size,
                    limit,
                }
                .into());
            }
            Err(BlobError::Git(e)) => return Err(e.into()),
        };
        let plaintext = match self.decrypt(name, &ciphertext) {
            Ok(p) => p,
            Err(Error::Decrypt {
                reason: DecryptError::NoIdentityMatches,
                ..
            }) => {
                return Err(HistoryError::NotForYou {
                    name: name.to_string(),
                    rev: rev.to_owned(),
                }
                .into());
            }
            Err(e) => return Err(e),
        };
        Ok(OldValue {
            plaintext,
            commit,
            name: at_name,
        })
    }
}

/// `name` did not exist (under any of its names) at `rev`.
fn not_there(name: &SecretName, rev: &str) -> Error {
    HistoryError::NotAtRevision {
        name: name.to_string(),
        rev: rev.to_owned(),
    }
    .into()
}
