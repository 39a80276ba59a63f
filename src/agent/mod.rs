//! The agent: unlock a passphrase-protected identity once, use it from every command.
//!
//! The trust boundary is visible in the files:
//! - [`protocol`] is what both sides share: the versioned, length-prefixed messages;
//! - [`server`] is the agent process, the only place identities live once unlocked;
//! - [`client`] is what commands use: an [`age::Identity`] that forwards header stanzas to the
//!   agent and gets a file key back, so identities never leave the agent.
//!
//! This module owns where the socket lives and how its folder is trusted.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::identity::RemoteIdentityError;
use crate::sys::private::{self, PrivateError};

/// The idle timeout when the config sets none (docs/BEHAVIOUR.md §4).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What can go wrong around the agent, on either side of the socket.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the vault is locked; run coffer unlock")]
    Locked,
    #[error("wrong passphrase for {0}")]
    WrongPassphrase(PathBuf),
    #[error("the agent folder is not safe")]
    UnsafeDir(#[source] PrivateError),
    #[error("the agent socket {0} belongs to another user; refusing to use it")]
    ForeignAgent(PathBuf),
    #[error("cannot start the coffer agent: {0}")]
    Start(String),
    #[error("the coffer agent stopped during the command (was it killed?); run the command again")]
    Gone,
    #[error("the coffer agent refused: {0}")]
    Refused(String),
    #[error("talking to the coffer agent failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the config's agent.timeout is not valid: {0}")]
    BadTimeout(String),
}

impl From<AgentError> for crate::crypto::identity::IdentityError {
    fn from(e: AgentError) -> Self {
        RemoteIdentityError(Box::new(e)).into()
    }
}

/// Where the agent's socket lives: `agent.sock` in this user's runtime folder,
/// `$XDG_RUNTIME_DIR/coffer`, else `<temp dir>/coffer-<uid>` (docs/BEHAVIOUR.md §2).
pub fn socket_path() -> PathBuf {
    private::runtime_dir().join("agent.sock")
}

/// Creates the socket's folder (`0700`) if needed and checks that it is ours and private: a
/// folder another user controls could hold a fake agent that collects passphrases.
pub fn prepare_socket_dir(socket: &Path) -> Result<(), AgentError> {
    let dir = socket.parent().unwrap_or(Path::new("/"));
    private::create_private_dir(dir).map_err(AgentError::UnsafeDir)
}

/// Parses `[agent] timeout`: whole seconds (`900`, `"900"`) or a number with a unit
/// (`"30s"`, `"15m"`, `"2h"`). Zero is refused: an agent that locks at once is a mistake.
pub fn parse_timeout(value: Option<&toml::Value>) -> Result<Duration, AgentError> {
    let bad = |v: &dyn std::fmt::Display| {
        AgentError::BadTimeout(format!(
            "{v}; use seconds or a number with s, m or h, such as \"15m\""
        ))
    };
    let seconds = match value {
        None => return Ok(DEFAULT_TIMEOUT),
        Some(toml::Value::Integer(n)) => u64::try_from(*n).map_err(|_| bad(n))?,
        Some(toml::Value::String(text)) => {
            let text = text.trim();
            let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
                Some(at) => text.split_at(at),
                None => (text, "s"),
            };
            let n: u64 = digits.parse().map_err(|_| bad(&text))?;
            let scale = match unit.trim() {
                "s" | "sec" | "secs" => 1,
                "m" | "min" | "mins" => 60,
                "h" | "hour" | "hours" => 3600,
                _ => return Err(bad(&text)),
            };
            n.checked_mul(scale).ok_or_else(|| bad(&text))?
        }
        Some(other) => return Err(bad(other)),
    };
    if seconds == 0 {
        return Err(bad(&0));
    }
    Ok(Duration::from_secs(seconds))
}

/// "14m 5s" for status lines.
pub fn describe_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: toml::Value) -> Result<Duration, AgentError> {
        parse_timeout(Some(&v))
    }

    #[test]
    fn timeouts_parse_in_seconds_or_with_units() {
        assert_eq!(parse_timeout(None).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(t(toml::Value::Integer(90)).unwrap().as_secs(), 90);
        assert_eq!(t("90".into()).unwrap().as_secs(), 90);
        assert_eq!(t("15m".into()).unwrap().as_secs(), 900);
        assert_eq!(t("2h".into()).unwrap().as_secs(), 7200);
        assert_eq!(t("3s".into()).unwrap().as_secs(), 3);
        for bad in ["", "m", "15x", "-1", "0", "1.5m"] {
            assert!(t(bad.into()).is_err(), "{bad:?}");
        }
        assert!(t(toml::Value::Integer(-5)).is_err());
        assert!(t(toml::Value::Boolean(true)).is_err());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(Duration::from_secs(845)), "14m 5s");
        assert_eq!(describe_duration(Duration::from_secs(900)), "15m");
        assert_eq!(describe_duration(Duration::from_secs(9)), "9s");
    }
}
