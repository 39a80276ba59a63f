//! `coffer git-credential get|store|erase`: git's credential helper protocol, so HTTPS pushes
//! take their passwords from the vault.
//!
//! git writes `key=value` lines (`protocol`, `host`, `path`, `username`, `password`, …) and a
//! blank line on standard input. `get` answers with `username=` and `password=` lines from the
//! first secret found: `git/HOST/USERNAME` when git names a user, then `git/HOST` (line 1 the
//! password, the user from a `username:`, `user:` or `login:` field). Nothing found, or a
//! vault that cannot be opened without asking (locked, no terminal): nothing on standard
//! output and exit 0, so git moves on to its next helper or asks the user, and never hangs.
//! `store` writes `git/HOST/USERNAME` only when the value changed; `erase` removes it only if
//! its password is the one git sends.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use coffer::vault::Changed;
use coffer::{Plaintext, SecretName, Vault};

use super::{Context, ui};

/// The folder credentials live in.
const FOLDER: &str = "git";
/// git's own limit on a credential line is far below this.
const MAX_INPUT: u64 = 64 * 1024;

#[derive(Args, Debug)]
#[command(after_help = "\
Configure git to use it, for every host or for one:
  git config --global credential.helper '!coffer git-credential'
  git config --global credential.https://git.example.com.helper '!coffer git-credential'

Entries live in git/HOST/USERNAME (or git/HOST with a username: field). git's own cache \
helpers can be listed before it.")]
pub struct CredentialArgs {
    /// What git asks for
    #[arg(value_enum)]
    pub action: Action,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Print the username and password for the host on standard input
    Get,
    /// Remember the username and password git just used successfully
    Store,
    /// Forget a password the server refused
    Erase,
}

/// What git said, one value per key (the last wins, as in git).
struct Request {
    fields: BTreeMap<String, Zeroizing<String>>,
}

impl Request {
    /// Reads git's lines up to a blank line or the end of input. A carriage return, NUL or
    /// other control character in a value is refused: it could end or forge a line of the
    /// answer.
    fn read(input: impl BufRead) -> Result<Self> {
        let mut fields = BTreeMap::new();
        let mut input = input.take(MAX_INPUT);
        loop {
            let mut line = Zeroizing::new(String::new());
            if input.read_line(&mut line)? == 0 {
                break;
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if line.is_empty() {
                break;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("git sent a line without `=`; nothing was done");
            };
            if value.chars().any(char::is_control) || key.chars().any(char::is_control) {
                bail!(
                    "git sent a control character in `{}`; nothing was done",
                    key.trim()
                );
            }
            fields.insert(key.to_owned(), Zeroizing::new(value.to_owned()));
        }
        Ok(Self { fields })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `git/HOST` and, when git names a user, `git/HOST/USERNAME`. A host or user that
    /// cannot be part of a name is refused.
    fn names(&self) -> Result<(SecretName, Option<SecretName>)> {
        let Some(host) = self.get("host") else {
            bail!("git sent no host");
        };
        // Each is one component of the name: a `/` would make a folder of it.
        for (what, value) in [("host", Some(host)), ("username", self.get("username"))] {
            if value.is_some_and(|v| v.contains('/')) {
                bail!("the {what} git sent contains `/`; nothing was done");
            }
        }
        let by_host = SecretName::new(&format!("{FOLDER}/{host}"))
            .map_err(|e| anyhow::anyhow!("the host {host:?} cannot be a secret name: {e}"))?;
        let by_user = match self.get("username") {
            Some(user) => Some(SecretName::new(&format!("{FOLDER}/{host}/{user}")).map_err(
                |e| anyhow::anyhow!("the username for {host} cannot be a secret name: {e}"),
            )?),
            None => None,
        };
        Ok((by_host, by_user))
    }
}

pub fn git_credential(args: &CredentialArgs, ctx: &Context) -> Result<ExitCode> {
    let request = Request::read(std::io::stdin().lock());
    match args.action {
        Action::Get => {
            // git must never hang on a helper or stop because of one: whatever goes wrong
            // is said on standard error, and git goes on without an answer.
            if let Err(e) = request.and_then(|request| get(&request, ctx)) {
                let e = ctx.explain_prompt_failure(e);
                eprintln!("coffer: {}", ui::error_line(&e));
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Store => store(&request?, ctx),
        Action::Erase => erase(&request?, ctx),
    }
}

fn get(request: &Request, ctx: &Context) -> Result<()> {
    let (by_host, by_user) = request.names()?;
    let vault = ctx.vault()?;
    for name in by_user.iter().chain([&by_host]) {
        if !vault.entry(name)?.secret {
            continue;
        }
        let secret = vault.read(name)?;
        super::log::record_reads(ctx, "git-credential", &[name]);
        let user = match (request.get("username"), username_field(&secret)) {
            (Some(given), _) => Some(given.as_bytes().to_vec()),
            (None, Some(field)) => Some(field.to_vec()),
            (None, None) => None,
        };
        let password = secret.password();
        if [password, user.as_deref().unwrap_or_default()]
            .iter()
            .any(|v| v.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0))
        {
            bail!("{name} holds a line break in its username or password; git cannot take it");
        }
        let mut answer = Zeroizing::new(Vec::new());
        if let Some(user) = user {
            answer.extend_from_slice(b"username=");
            answer.extend_from_slice(&user);
            answer.push(b'\n');
        }
        answer.extend_from_slice(b"password=");
        answer.extend_from_slice(password);
        answer.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&answer)?;
        out.flush()?;
        return Ok(());
    }
    Ok(())
}

/// The username a `git/HOST` secret names, from its first `username:`, `user:` or `login:`.
fn username_field(secret: &Plaintext) -> Option<&[u8]> {
    ["username", "user", "login"]
        .iter()
        .find_map(|key| secret.field(key))
}

/// What `store` keeps: the password on line 1, the user as a field.
fn credential_text(password: &str, user: &str) -> Plaintext {
    let mut text = Zeroizing::new(String::with_capacity(password.len() + user.len() + 12));
    text.push_str(password);
    text.push_str("\nusername: ");
    text.push_str(user);
    text.push('\n');
    Plaintext::new(text.as_bytes().to_vec())
}

fn store(request: &Request, ctx: &Context) -> Result<ExitCode> {
    let (_, by_user) = request.names()?;
    let (Some(name), Some(user), Some(password)) =
        (by_user, request.get("username"), request.get("password"))
    else {
        // git stores only complete credentials; anything less has nothing to keep.
        return Ok(ExitCode::SUCCESS);
    };
    let vault = ctx.vault()?;
    let lock = vault.lock()?;
    let wanted = credential_text(password, user);
    if vault.entry(&name)?.secret {
        let current = vault.read(&name)?;
        let same_user = username_field(&current) == Some(user.as_bytes());
        if current.password() == password.as_bytes() && same_user {
            return Ok(ExitCode::SUCCESS);
        }
    }
    vault.write(&lock, &name, &wanted)?;
    vault.commit(
        &[Changed::Secret(name.clone())],
        &format!("Add given password for {name} to store."),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn erase(request: &Request, ctx: &Context) -> Result<ExitCode> {
    let (by_host, by_user) = request.names()?;
    let Some(password) = request.get("password") else {
        // Without the refused password there is no telling which one git means.
        return Ok(ExitCode::SUCCESS);
    };
    let vault = ctx.vault()?;
    let lock = vault.lock()?;
    let Some(name) = matching_entry(&vault, by_user.iter().chain([&by_host]), password)? else {
        return Ok(ExitCode::SUCCESS);
    };
    vault.remove(&lock, &name)?;
    vault.commit(
        &[Changed::Secret(name.clone())],
        &format!("Remove {name} from store."),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The first of `names` that exists and holds `password` on line 1.
fn matching_entry<'a>(
    vault: &Vault,
    names: impl Iterator<Item = &'a SecretName>,
    password: &str,
) -> Result<Option<SecretName>> {
    for name in names {
        if vault.entry(name)?.secret && vault.read(name)?.password() == password.as_bytes() {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}
