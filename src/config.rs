//! Where things live, and the optional config file.
//!
//! Precedence everywhere: flag > environment > config file > default. Defaults come from the
//! `directories` crate (XDG on Linux). An existing passage install is picked up when coffer has
//! no store of its own yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    Unreadable {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot find a home directory; set COFFER_DIR and COFFER_IDENTITIES_FILE")]
    NoHome,
    #[error("cannot write the config file {path}")]
    Unwritable {
        path: PathBuf,
        #[source]
        source: crate::sys::private::PrivateError,
    },
}

/// The contents of `config.toml`. Unknown keys are an error, so a typo is not silently ignored.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub store: Option<PathBuf>,
    pub identities: Option<PathBuf>,
    #[serde(default)]
    pub agent: AgentConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub git: GitConfig,
    #[serde(default)]
    pub plugins: PluginConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[mounts]`: prefix → another store shown under that folder (docs/BEHAVIOUR.md §10).
    #[serde(default)]
    pub mounts: BTreeMap<String, MountConfig>,
}

/// One entry of `[mounts]`: where the mounted store is, and the identities it uses (the main
/// ones when absent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    pub dir: PathBuf,
    pub identities: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Idle timeout: seconds, or "15m"-style.
    pub timeout: Option<toml::Value>,
    /// The pinentry program that asks for a passphrase when there is no terminal (else
    /// `pinentry` on `PATH`).
    pub pinentry: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub max_age: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    #[serde(default)]
    pub autosync: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Plugin names (`yubikey` for `age-plugin-yubikey`) this device allows.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[limits]`: how much coffer reads of any one file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// The largest secret file (ciphertext) coffer reads, in bytes.
    pub max_secret_size: Option<u64>,
}

impl LimitsConfig {
    pub fn max_secret_size(&self) -> u64 {
        self.max_secret_size
            .unwrap_or(crate::store::DEFAULT_MAX_SECRET_SIZE)
    }
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }
}

/// Changes the `[mounts]` table of the config file at `path`, keeping everything else in it:
/// `Some` adds or replaces `prefix`, `None` removes it. The file is written atomically and
/// privately; a file that does not parse is refused, never overwritten.
pub fn write_mount(
    path: &Path,
    prefix: &str,
    mount: Option<&MountConfig>,
) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(reason) => {
            return Err(ConfigError::Unreadable {
                path: path.to_owned(),
                reason,
            });
        }
    };
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    // Edited in place: the user's comments, order and layout stay as they were.
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid(e.message().to_owned()))?;
    let mounts = doc
        .entry("mounts")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(mounts) = mounts.as_table_like_mut() else {
        return Err(invalid("`mounts` is not a table".into()));
    };
    match mount {
        Some(m) => {
            let mut entry = toml_edit::InlineTable::new();
            entry.insert("dir", path_value(&m.dir)?);
            if let Some(ids) = &m.identities {
                entry.insert("identities", path_value(ids)?);
            }
            mounts.insert(prefix, toml_edit::value(entry));
        }
        None => {
            mounts.remove(prefix);
        }
    }
    if mounts.is_empty() {
        doc.remove("mounts");
    }
    let out = doc.to_string();
    // What is written must read back as a config: never leave a file coffer then refuses.
    Config::parse(&out, path)?;
    let unwritable = |source| ConfigError::Unwritable {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        crate::sys::private::create_missing_dirs(parent).map_err(unwritable)?;
    }
    crate::sys::private::write_private_atomically(path, out.as_bytes()).map_err(unwritable)
}

fn path_value(p: &Path) -> Result<toml_edit::Value, ConfigError> {
    p.to_str()
        .map(toml_edit::Value::from)
        .ok_or_else(|| ConfigError::Invalid {
            path: p.to_owned(),
            message: "the path is not UTF-8, which the config file cannot hold".into(),
        })
}

/// Where the store, the identities and the config are, resolved once per process.
#[derive(Debug, Clone)]
pub struct Paths {
    pub store: PathBuf,
    pub identities: PathBuf,
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
}

/// coffer's cache folder (`$XDG_CACHE_HOME/coffer`, else `~/.cache/coffer`): what can be
/// rebuilt at any time, never the store. `None` without a home folder.
pub fn cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "coffer").map(|d| d.cache_dir().to_owned())
}

/// The environment, read once, so resolution is a pure function (and testable).
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub coffer_dir: Option<PathBuf>,
    pub identities_file: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub passage_dir: Option<PathBuf>,
    pub passage_identities: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            coffer_dir: var("COFFER_DIR"),
            identities_file: var("COFFER_IDENTITIES_FILE"),
            config: var("COFFER_CONFIG"),
            passage_dir: var("PASSAGE_DIR"),
            passage_identities: var("PASSAGE_IDENTITIES_FILE"),
            home: directories::BaseDirs::new().map(|b| b.home_dir().to_owned()),
        }
    }
}

/// Loads the config file (absent is fine) and resolves every path.
pub fn resolve(store_flag: Option<&Path>, env: &Env) -> Result<(Paths, Config), ConfigError> {
    let dirs = directories::ProjectDirs::from("", "", "coffer").ok_or(ConfigError::NoHome)?;
    let config_file = env
        .config
        .clone()
        .unwrap_or_else(|| dirs.config_dir().join("config.toml"));
    let config = match std::fs::read_to_string(&config_file) {
        Ok(text) => Config::parse(&text, &config_file)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(reason) => {
            return Err(ConfigError::Unreadable {
                path: config_file,
                reason,
            });
        }
    };
    let data_dir = dirs.data_dir().to_owned();
    let default_store = data_dir.join("store");
    let default_identities = data_dir.join("identities");
    let passage_home = env.home.as_ref().map(|h| h.join(".passage"));

    let explicit_store = store_flag
        .map(Path::to_owned)
        .or_else(|| env.coffer_dir.clone())
        .or_else(|| config.store.clone());
    let store = explicit_store.clone().unwrap_or_else(|| {
        // A passage user can start at once: use their store while coffer has none.
        let passage = env
            .passage_dir
            .clone()
            .or_else(|| passage_home.as_ref().map(|p| p.join("store")));
        match passage {
            Some(p) if !default_store.exists() && p.is_dir() => p,
            _ => default_store.clone(),
        }
    });
    let identities = env
        .identities_file
        .clone()
        .or_else(|| config.identities.clone())
        .unwrap_or_else(|| {
            let passage = env
                .passage_identities
                .clone()
                .or_else(|| passage_home.as_ref().map(|p| p.join("identities")));
            match passage {
                Some(p) if !default_identities.exists() && p.is_file() => p,
                _ => default_identities.clone(),
            }
        });
    let paths = Paths {
        store: absolute(store),
        identities: absolute(identities),
        config_file,
        data_dir,
    };
    Ok((paths, config))
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rejects_typos() {
        assert!(Config::parse("stor = '/x'", Path::new("c")).is_err());
        let c = Config::parse("store = '/x'\n[log]\nshared = true\n", Path::new("c")).unwrap();
        assert_eq!(c.store.unwrap(), PathBuf::from("/x"));
        assert!(c.log.shared);
    }

    #[test]
    fn mounts_are_edited_keeping_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let before = "# my settings\nstore = '/x' # where\n\n[log]\n# keep it\nshared = true\n";
        std::fs::write(&path, before).unwrap();
        let mount = MountConfig {
            dir: PathBuf::from("/teams/a"),
            identities: None,
        };
        write_mount(&path, "work/team", Some(&mount)).unwrap();
        let c = Config::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(c.store.unwrap(), PathBuf::from("/x"));
        assert!(c.log.shared);
        assert_eq!(c.mounts["work/team"], mount);
        let with_mount = std::fs::read_to_string(&path).unwrap();
        assert!(
            with_mount.starts_with(before),
            "comments and layout kept: {with_mount}"
        );
        write_mount(&path, "work/team", None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text, before,
            "removing the mount gives back the file as it was"
        );
    }
}
