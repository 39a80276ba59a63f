//! The command line: clap definitions, dispatch, and the one place errors become exit codes.
//!
//! Each command group lives in its own module with a `run(args, &Context) -> Result<()>`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::ArgValueCompleter;
use clap_complete::engine::SubcommandCandidates;

use coffer::config::{self, Config, Env, Paths};
use coffer::crypto::identity::PassphrasePrompt;
use coffer::vault::mounts::{Mount, Mounts};
use coffer::vault::{RecipientOverride, Vault};
use coffer::{Folder, SecretName};

mod agent;
mod audit;
mod browserpass;
mod clip;
mod complete;
pub mod credential;
pub mod docs;
mod edit;
mod fsck;
mod git;
mod history;
mod identity;
mod import;
mod import_csv;
mod import_dotenv;
mod import_pass;
mod info;
mod init;
mod inject;
mod log;
mod manage;
mod mount;
mod otp;
mod pinentry;
mod qr;
mod recipients;
mod run;
mod scan;
mod show;
mod stores;
mod suggest;
mod sync;
mod ui;

/// A local, age-encrypted secrets vault for the terminal, compatible with pass and passage.
#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
    about,
    long_about = "coffer keeps each secret as an age-encrypted file NAME.age in a directory \
tree (the store). A .age-recipients file in a folder lists who can read the secrets below it. \
The store is file-compatible with passage, and the command line with pass.\n\n\
Run without a command, coffer lists the store; `coffer NAME` shows a secret.",
    after_help = "Confirmations are asked only on a terminal; without one, commands proceed \
as in pass.",
    propagate_version = true,
    subcommand_required = false,
    add = SubcommandCandidates::new(complete::top_level_names)
)]
pub struct Cli {
    /// Use the store in DIR (overrides $COFFER_DIR and the config file)
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Decrypt identities in this process instead of through the agent
    #[arg(long, global = true)]
    pub no_agent: bool,

    /// Encrypt even to recipients none of your identities can decrypt. Give it before the
    /// command (`coffer --force reencrypt`): after it, `-f/--force` keeps its pass meaning.
    #[arg(long = "force")]
    pub allow_lockout: bool,

    #[command(subcommand)]
    pub command: Option<Run>,
}

/// The command being run. Its tree for a run holds that one command ([`main`] chooses it
/// before clap builds anything): building a tree copies every global option (`--store`,
/// `--no-agent`, `--help`, `--version`) into every command it holds, and with forty-odd
/// commands those copies cost `coffer show` 37 of its 276 page faults.
/// Help and errors about a command read the same as in the whole tree; `coffer help`,
/// completions and the man pages build the whole tree.
#[derive(Debug)]
pub struct Run(pub Command);

thread_local! {
    /// The commands [`Run`] puts in the tree being built ([`tree`]); none set: every one.
    static ONLY: std::cell::RefCell<Option<Vec<clap::Command>>> = const { std::cell::RefCell::new(None) };
}

/// The tree clap parses with: the root and the commands `only` holds, or every command.
fn tree(only: Option<Vec<clap::Command>>) -> clap::Command {
    ONLY.set(only);
    let tree = Cli::command();
    ONLY.set(None);
    tree
}

impl Subcommand for Run {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        match ONLY.take() {
            Some(only) => cmd.subcommands(only),
            None => Command::augment_subcommands(cmd),
        }
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Command::augment_subcommands_for_update(cmd)
    }
    fn has_subcommand(name: &str) -> bool {
        Command::has_subcommand(name)
    }
}

impl FromArgMatches for Run {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Command::from_arg_matches(matches).map(Run)
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        Command::from_arg_matches_mut(matches).map(Run)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

/// The commands without the root: their names and aliases, nothing built.
fn commands() -> clap::Command {
    Command::augment_subcommands(clap::Command::new("coffer"))
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the store, an identity if there is none, and set recipients
    Init(Deferred<init::InitArgs>),
    /// List secrets as a tree
    #[command(visible_alias = "list")]
    Ls(Deferred<show::LsArgs>),
    /// List secrets whose names match any of the terms
    #[command(visible_alias = "search")]
    Find(Deferred<show::FindArgs>),
    /// Show a secret, one of its lines or fields
    Show(Deferred<show::ShowArgs>),
    /// Search the content of every secret
    Grep(Deferred<show::GrepArgs>),
    /// Insert a new secret (typed, or read from standard input)
    #[command(visible_alias = "add")]
    Insert(Deferred<edit::InsertArgs>),
    /// Edit a secret with $VISUAL or $EDITOR, in a private RAM-backed folder
    Edit(Deferred<edit::EditArgs>),
    /// Generate a new password or passphrase
    Generate(Deferred<edit::GenerateArgs>),
    /// Remove a secret or, with -r, a folder
    #[command(visible_aliases = ["remove", "delete"])]
    Rm(Deferred<manage::RmArgs>),
    /// Move or rename a secret or folder, re-encrypting for the destination
    #[command(visible_alias = "rename")]
    Mv(Deferred<manage::MoveArgs>),
    /// Copy a secret or folder, re-encrypting for the destination
    #[command(visible_alias = "copy")]
    Cp(Deferred<manage::MoveArgs>),
    /// Re-encrypt every secret (below a folder) to its current recipients
    Reencrypt(Deferred<init::ReencryptArgs>),
    /// Run git in the store
    Git(Deferred<git::GitArgs>),
    /// Show or change who can read a folder; approve others' changes
    Recipients(Deferred<recipients::RecipientsArgs>),
    /// Pull (fast-forward or rebase) and push the store's git repository
    Sync(Deferred<sync::SyncArgs>),
    /// Join a team vault: clone it, pin its recipients, print your recipient to send
    Clone(Deferred<sync::CloneArgs>),
    /// Move secrets in from a .env file, pass, passage or a CSV export
    Import(Deferred<import::ImportArgs>),
    /// Unlock the passphrase-protected identity in the agent, once for many commands
    Unlock(Deferred<agent::UnlockArgs>),
    /// Lock the agent: forget the unlocked identity
    Lock,
    /// Your identity: change its passphrase, rotate its key, print its public key
    Identity(Deferred<identity::IdentityArgs>),
    /// Run the agent in the foreground, or show its status
    Agent(Deferred<agent::AgentArgs>),
    /// Show other stores (team vaults) under a folder: add, remove, list mounts
    Mount(Deferred<mount::MountArgs>),
    /// Run a program with secrets in its environment
    Run(Deferred<run::RunArgs>),
    /// Render a template, replacing {{ coffer:NAME#FIELD }} with secret values
    Inject(Deferred<inject::InjectArgs>),
    /// Find this vault's secret values in files or staged changes
    Scan(Deferred<scan::ScanArgs>),
    /// One-time codes (TOTP, HOTP) from a secret's otpauth:// line
    Otp(Deferred<otp::OtpArgs>),
    /// Find weak, reused, stale, exposed, expiring and undecryptable secrets
    Audit(Deferred<audit::AuditArgs>),
    /// Show a secret's (or a folder's) rotation date, age, exposure, size and recipients
    Info(Deferred<info::InfoArgs>),
    /// Show or verify the access log
    Log(Deferred<log::LogArgs>),
    /// git's credential helper: passwords for HTTPS remotes from git/HOST[/USER]
    #[command(name = "git-credential")]
    GitCredential(Deferred<credential::CredentialArgs>),
    /// List every version of a secret, following moves and copies (never decrypts)
    History(Deferred<history::HistoryArgs>),
    /// Write a secret's value at an earlier revision as its new version
    Restore(Deferred<history::RestoreArgs>),
    /// Check the store for problems without decrypting; --fix applies the safe fixes
    Fsck(Deferred<fsck::FsckArgs>),
    /// browserpass's native host: the browser extension on this vault; `install` registers it
    Browserpass(Deferred<browserpass::BrowserpassArgs>),
    /// Print the version
    Version,
    /// Print a shell completion script
    Completions(Deferred<docs::CompletionsArgs>),
    /// Decrypt an age file for git's diff textconv (used by `git diff`)
    #[command(hide = true)]
    Textconv { file: PathBuf },
    /// Serve a copied secret on the clipboard, then restore it (run by coffer itself)
    #[command(hide = true, name = "clipboard-helper")]
    ClipboardHelper(Deferred<clip::HelperArgs>),
    /// Write completions/ and man/ from the command definition
    #[command(hide = true, name = "generate-docs")]
    GenerateDocs { dir: PathBuf },
}

/// A command's own arguments, added to clap's command tree only when that command is the
/// one being run (`Command::defer`): building every command's arguments is most of clap's
/// start-up, and a run needs one command's. Help, completions and man pages build the whole
/// tree as before.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

/// Set by [`full_command`]: every command's arguments are added at once.
static EAGER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The whole command tree with every command's arguments in place, for what walks it
/// without parsing (the man pages).
pub fn full_command() -> clap::Command {
    EAGER.store(true, std::sync::atomic::Ordering::Relaxed);
    Cli::command()
}

/// Adds a command's arguments now. Kept out of line: inlined, every command's argument
/// definitions would sit in the one function that lists the commands, and a run would fault in
/// pages of them to step over.
#[cold]
#[inline(never)]
fn eager(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    augment(cmd)
}

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        if EAGER.load(std::sync::atomic::Ordering::Relaxed) {
            return eager(cmd, T::augment_args);
        }
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        if EAGER.load(std::sync::atomic::Ordering::Relaxed) {
            return eager(cmd, T::augment_args_for_update);
        }
        cmd.defer(T::augment_args_for_update)
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// What a usage error looks like when it is found after parsing (a bad name, say): it
/// exits 2, as clap's own do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything a command needs to know about its surroundings.
pub struct Context {
    pub paths: Paths,
    pub config: Config,
    /// `--no-agent`: decrypt protected identities in this process.
    pub no_agent: bool,
    /// `--force`: allow encrypting to recipients none of your identities match.
    pub force: bool,
    /// Why a passphrase prompt gave no answer, when it is worth more than "locked": pinentry
    /// was cancelled, or the configured one could not ask. Shared by the prompts it makes.
    prompt_failure: Arc<Mutex<Option<pinentry::PinentryError>>>,
    /// The `[mounts]` of the config, validated (docs/BEHAVIOUR.md §10).
    pub mounts: Mounts,
}

impl Context {
    fn new(cli: &Cli) -> Result<Self> {
        let (paths, config) = config::resolve(cli.store.as_deref(), &Env::from_process())?;
        let mounts = Mounts::from_config(&config.mounts)
            .with_context(|| format!("in the config file {}", paths.config_file.display()))?;
        Ok(Self {
            paths,
            config,
            no_agent: cli.no_agent,
            force: cli.allow_lockout,
            prompt_failure: Arc::default(),
            mounts,
        })
    }

    /// This context for another store (the same config, identities and flags; one the
    /// browserpass extension names, or a mount's).
    pub fn for_store(&self, store: PathBuf) -> Self {
        Self {
            paths: Paths {
                store,
                ..self.paths.clone()
            },
            config: self.config.clone(),
            no_agent: self.no_agent,
            force: self.force,
            prompt_failure: self.prompt_failure.clone(),
            mounts: self.mounts.clone(),
        }
    }

    /// Protected identities are unlocked in the agent (unless `--no-agent`); a recipients
    /// change the vault approves by itself (it only adds you) is said in one line.
    fn with_agent(&self, mut vault: Vault) -> Vault {
        let mut options = agent::client_options(self.no_agent);
        // A mount's own identities come first; the main ones are tried after them when the
        // agent already holds them (docs/BEHAVIOUR.md §10).
        options.also_try = vec![self.paths.identities.clone()];
        vault.set_identity_source(Box::new(move |paths, config, prompt| {
            coffer::agent::client::load_identities(paths, config, prompt, &options)
        }));
        vault.set_self_approval_notice(Box::new(|change| {
            eprintln!(
                "coffer: approved the change to the recipients of {} ({}): it only adds you",
                change.what(),
                change.summary()
            );
        }));
        vault
    }

    /// Asks for a passphrase on the terminal; without one, through pinentry (the one in
    /// `[agent] pinentry`, else `pinentry` on `PATH`), once per question.
    pub fn prompt(&self) -> PassphrasePrompt {
        let configured = self.config.agent.pinentry.clone();
        let failure = self.prompt_failure.clone();
        Arc::new(move |description: &str| {
            let answer = if ui::has_terminal() {
                ui::ask_secret(&format!("{description}: ")).ok()?
            } else {
                let program = pinentry::find(configured.as_deref())?;
                match pinentry::ask(&program, description) {
                    Ok(answer) => answer,
                    Err(e) => {
                        // A pinentry that cannot show anything here (pinentry-curses with no
                        // terminal) is no prompt at all; a cancel, or a failure of the one
                        // the user named, explains the error that follows.
                        let explains = configured.is_some()
                            || matches!(
                                e,
                                pinentry::PinentryError::Cancelled(_)
                                    | pinentry::PinentryError::TimedOut
                            );
                        if let (true, Ok(mut slot)) = (explains, failure.lock()) {
                            *slot = Some(e);
                        }
                        return None;
                    }
                }
            };
            Some(age::secrecy::SecretString::from(answer.as_str().to_owned()))
        })
    }

    /// What a prompt that gave no answer has to say, if anything, in one line.
    pub fn prompt_failure(&self) -> Option<String> {
        let slot = self.prompt_failure.lock().ok()?;
        slot.as_ref().map(ToString::to_string)
    }

    /// `error`, said better when a cancelled or failed pinentry caused it: a cancel replaces
    /// it ("locked" is no news to whoever just cancelled), a failure leads it.
    pub fn explain_prompt_failure(&self, error: anyhow::Error) -> anyhow::Error {
        let Ok(slot) = self.prompt_failure.lock() else {
            return error;
        };
        match slot.as_ref() {
            Some(
                cancel
                @ (pinentry::PinentryError::Cancelled(_) | pinentry::PinentryError::TimedOut),
            ) => {
                anyhow::anyhow!("{cancel}; the vault stays locked")
            }
            Some(failed) => error.context(failed.to_string()),
            None => error,
        }
    }

    /// Opens the existing store.
    pub fn vault(&self) -> Result<Vault> {
        let vault = Vault::open(
            self.paths.clone(),
            self.config.clone(),
            self.prompt(),
            RecipientOverride::from_env(),
        )
        .map(|v| v.with_lockout_allowed(self.force))
        .map_err(|e| match e {
            coffer::Error::Store(coffer::store::StoreError::NoStore(p)) => {
                // A pass user's PASSWORD_STORE_DIR names a gpg store: say why it is not used.
                let pass_note = match std::env::var_os("PASSWORD_STORE_DIR") {
                    Some(dir) if !dir.is_empty() => format!(
                        " (PASSWORD_STORE_DIR={} is a pass store, which coffer does not read; \
                         `coffer import pass` moves its secrets in)",
                        Path::new(&dir).display()
                    ),
                    _ => String::new(),
                };
                anyhow::anyhow!(
                    "there is no store at {}; run `coffer init` to create one{pass_note}",
                    p.display()
                )
            }
            e => anyhow::Error::from(e),
        })?;
        Ok(self.with_agent(vault))
    }

    /// The vault of a mounted store (`None`: the main one). The directory is checked again as
    /// `mount add` checked it. A mount with its own identities file is unlocked in the agent
    /// beside the main one.
    pub fn vault_at(&self, mount: Option<&Mount>) -> Result<Vault> {
        let Some(mount) = mount else {
            return self.vault();
        };
        let dir = coffer::vault::mounts::check_mount_dir(&mount.dir, &self.paths.store)
            .with_context(|| format!("the mount {}", mount.prefix))?;
        let paths = Paths {
            store: dir,
            identities: self.identities_for(Some(mount)).to_owned(),
            ..self.paths.clone()
        };
        let vault = Vault::open(
            paths,
            self.config.clone(),
            self.prompt(),
            RecipientOverride::from_env(),
        )
        .with_context(|| format!("the mount {}", mount.prefix))?
        .with_lockout_allowed(self.force);
        Ok(self.with_agent(vault))
    }

    /// The vault a folder lives in and the folder inside it (a mount point is its store's
    /// root).
    pub fn vault_for_folder(&self, folder: &Folder) -> Result<(Vault, Folder)> {
        let routed = self.mounts.route_folder(folder);
        Ok((self.vault_at(routed.mount)?, routed.inner))
    }

    /// The stores a command over `folder` covers (docs/BEHAVIOUR.md §10), each with the
    /// folder inside it: the store `folder` lives in and, for a folder of the main store, every
    /// mount below it (at its root). A main-store folder that exists only as the way to a mount
    /// point is left out.
    pub fn stores_below(&self, folder: &Folder) -> Result<Vec<(Option<&Mount>, Folder, Vault)>> {
        let routed = self.mounts.route_folder(folder);
        let main = self.vault_at(routed.mount)?;
        let below: Vec<&Mount> = match routed.mount {
            Some(_) => Vec::new(),
            None => self.mounts.below(folder).collect(),
        };
        let mut stores = Vec::with_capacity(1 + below.len());
        if below.is_empty() || main.has_folder(&routed.inner)? {
            stores.push((routed.mount, routed.inner, main));
        }
        for mount in below {
            stores.push((Some(mount), Folder::root(), self.vault_at(Some(mount))?));
        }
        Ok(stores)
    }

    /// The identities file a store is read with: the mount's own, else the main one.
    pub fn identities_for<'a>(&'a self, mount: Option<&'a Mount>) -> &'a Path {
        mount
            .and_then(|m| m.identities.as_deref())
            .unwrap_or(&self.paths.identities)
    }

    /// The identities file of the store mounted at the prefix `raw` (`None`: the main store).
    pub fn identities_of(&self, raw: Option<&str>) -> Result<PathBuf> {
        let Some(raw) = raw else {
            return Ok(self.paths.identities.clone());
        };
        let prefix = mount::usage(coffer::vault::mounts::parse_prefix(raw))?;
        let Some(mount) = self.mounts.get(&prefix) else {
            bail!(coffer::vault::mounts::MountError::NotMounted(
                prefix.to_string()
            ));
        };
        Ok(self.identities_for(Some(mount)).to_owned())
    }

    /// The store a secret lives in and its name there (a name below a mount lives in the
    /// mounted store). A mount point itself is a folder, never a secret.
    pub fn route_secret(&self, name: &SecretName) -> Result<(Option<&Mount>, SecretName)> {
        let routed = self.mounts.route_name(name);
        let Some(inner) = routed.inner else {
            bail!("{name} is a mount point (a folder), not a secret");
        };
        Ok((routed.mount, inner))
    }

    /// The vault a secret lives in and its name there ([`Context::route_secret`]).
    pub fn vault_for(&self, name: &SecretName) -> Result<(Vault, SecretName)> {
        let (mount, inner) = self.route_secret(name)?;
        Ok((self.vault_at(mount)?, inner))
    }

    /// Creates the store folder if needed.
    pub fn create_vault(&self) -> Result<Vault> {
        let vault = Vault::create(
            self.paths.clone(),
            self.config.clone(),
            self.prompt(),
            RecipientOverride::from_env(),
        )?
        .with_lockout_allowed(self.force);
        Ok(self.with_agent(vault))
    }
}

/// Validates a secret name from the command line. A leading `/` is dropped, as pass's
/// front-ends send `/web/site` for `web/site`; everything else is checked as always (so
/// `/../x` is still refused).
pub fn parse_name(raw: &str) -> Result<SecretName> {
    SecretName::new(without_root_slash(raw))
        .map_err(|e| UsageError(format!("invalid name {raw:?}: {e}")).into())
}

/// Validates a folder from the command line (`""` and `/` are the root).
pub fn parse_folder(raw: &str) -> Result<Folder> {
    Folder::new(without_root_slash(raw))
        .map_err(|e| UsageError(format!("invalid folder {raw:?}: {e}")).into())
}

/// `raw` without one leading `/`: the store's root, as pass writes it.
pub fn without_root_slash(raw: &str) -> &str {
    raw.strip_prefix('/').unwrap_or(raw)
}

/// A setting from the environment: coffer's variable `COFFER_X`, else pass's
/// `PASSWORD_STORE_X` (so a pass user's dotfiles keep working). Returns the variable that was
/// set, for messages, and its value; empty counts as unset.
pub fn env_setting(suffix: &str) -> Option<(String, String)> {
    ["COFFER_", "PASSWORD_STORE_"].iter().find_map(|prefix| {
        let key = format!("{prefix}{suffix}");
        std::env::var(&key)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (key, v))
    })
}

/// The command line after [`rewrite_args`].
struct Rewritten {
    args: Vec<OsString>,
    /// The word taken for a secret's name when `show` was put in front of it (`coffer NAME`).
    implicit_name: Option<String>,
    /// The commands clap needs to see to parse it.
    needs: Needs,
}

/// What of the command tree a command line needs.
enum Needs {
    /// Every command: help, and what is not known before clap reads it.
    Every,
    /// The root alone: `--version`.
    Root,
    /// The command being run, as written (a name or an alias).
    One(String),
}

/// pass habits: bare `coffer` lists, `coffer NAME` shows, `-c2`/`-q2` pick a line. `commands`
/// holds the commands' names and aliases ([`commands`]).
fn rewrite_args(commands: &clap::Command, args: Vec<OsString>) -> Rewritten {
    let mut args = attach_line_numbers(args);
    let is_command = |word: &str| commands.find_subcommand(word).is_some();
    let done = |args, needs| Rewritten {
        args,
        implicit_name: None,
        needs,
    };
    // Find the first word that is not a global option (or its value).
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy().into_owned();
        match word.as_str() {
            "--store" => i += 2,
            w if w.starts_with("--store=") || w == "--no-agent" || w == "--force" => i += 1,
            "-h" | "--help" | "help" => return done(args, Needs::Every),
            "-V" | "--version" => return done(args, Needs::Root),
            "--" => {
                args.insert(i, "show".into());
                return done(args, Needs::One("show".into()));
            }
            w if !w.starts_with('-') && is_command(w) => {
                return done(args, Needs::One(w.into()));
            }
            _ => {
                // A name, or show's own flags (`coffer -c NAME`): it is `show`.
                args.insert(i, "show".into());
                let implicit_name = (!word.starts_with('-')).then_some(word);
                return Rewritten {
                    args,
                    implicit_name,
                    needs: Needs::One("show".into()),
                };
            }
        }
    }
    args.push("ls".into());
    done(args, Needs::One("ls".into()))
}

/// The global `--store DIR` of a command line clap has not parsed yet.
fn store_flag(args: &[OsString]) -> Option<PathBuf> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            return None;
        }
        if word == "--store" {
            return words.next().map(PathBuf::from);
        }
        if let Some(dir) = word.to_str().and_then(|w| w.strip_prefix("--store=")) {
            return Some(PathBuf::from(dir));
        }
    }
    None
}

/// `coffer shwo web/shop`: when the word taken for a name is close to a command and names
/// neither a secret nor a folder, the user mistyped the command (`docs/BEHAVIOUR.md §3`).
fn mistyped_command(rewritten: &Rewritten) -> Option<String> {
    let word = rewritten.implicit_name.as_deref()?;
    let command = suggest::command_like(word)?;
    let names_something = || -> Option<bool> {
        let store = store_flag(&rewritten.args);
        let (paths, config) = config::resolve(store.as_deref(), &Env::from_process()).ok()?;
        let vault = Vault::open(
            paths,
            config,
            Arc::new(|_: &str| None),
            RecipientOverride::None,
        )
        .ok()?;
        let entry = vault
            .entry(&SecretName::new(word.trim_end_matches('/')).ok()?)
            .ok()?;
        Some(entry.secret || entry.folder)
    };
    if names_something().unwrap_or(false) {
        return None;
    }
    Some(format!(
        "no secret {word:?}; did you mean the command {command:?}?"
    ))
}

pub fn main() -> ExitCode {
    // `COMPLETE=bash coffer -- …`: the shell asks for candidates; answer and exit.
    clap_complete::CompleteEnv::with_factory(complete::completion_command)
        .bin("coffer")
        .completer("coffer")
        .complete();
    // pass's habits are read from the commands' names; the tree clap parses with then holds
    // the command being run alone ([`Run`]), and only it gets its arguments ([`Deferred`]).
    let commands = commands();
    let rewritten = rewrite_args(&commands, std::env::args_os().collect());
    let only = match &rewritten.needs {
        Needs::Every => None,
        Needs::Root => Some(Vec::new()),
        Needs::One(word) => commands.find_subcommand(word).cloned().map(|c| vec![c]),
    };
    let mut cmd = tree(only);
    if let Some(message) = mistyped_command(&rewritten) {
        let _ = writeln!(std::io::stderr().lock(), "coffer: {message}");
        return ExitCode::FAILURE;
    }
    let parsed = cmd
        .try_get_matches_from_mut(rewritten.args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
        .map_err(|e| e.format(&mut cmd));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "coffer: {}", ui::error_line(&e));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let Some(Run(command)) = &cli.command else {
        return Err(UsageError("no command given".into()).into());
    };
    // These need neither a store nor a config (the agent ones talk to the agent only: a
    // broken config or store must not stop them).
    match command {
        Command::Version => {
            println!("coffer {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => docs::completions(args),
        Command::GenerateDocs { dir } => docs::generate_all(dir),
        Command::ClipboardHelper(args) => clip::helper(args),
        Command::Agent(args) if args.action.is_some() => agent::agent_action(args),
        Command::Lock => agent::lock(),
        Command::Browserpass(args) if args.action.is_some() => args
            .action
            .as_ref()
            .map_or(Ok(ExitCode::SUCCESS), browserpass::install_action),
        command => {
            let ctx = Context::new(&cli)?;
            let result = run_in_context(command, &ctx).map_err(|e| ctx.explain_prompt_failure(e));
            log::record(&ctx, command, &result);
            result
        }
    }
}

/// Runs a command that works on the store, in its context (`dispatch` handled the rest).
fn run_in_context(command: &Command, ctx: &Context) -> Result<ExitCode> {
    match command {
        Command::Init(args) => init::init(args, ctx),
        Command::Ls(args) => show::ls(args, ctx),
        Command::Find(args) => show::find(args, ctx),
        Command::Show(args) => show::show(args, ctx),
        Command::Grep(args) => show::grep(args, ctx),
        Command::Insert(args) => edit::insert(args, ctx),
        Command::Edit(args) => edit::edit(args, ctx),
        Command::Generate(args) => edit::generate(args, ctx),
        Command::Rm(args) => manage::rm(args, ctx),
        Command::Mv(args) => manage::mv(args, ctx, manage::Mode::Move),
        Command::Cp(args) => manage::mv(args, ctx, manage::Mode::Copy),
        Command::Reencrypt(args) => init::reencrypt(args, ctx),
        Command::Git(args) => git::git(args, ctx),
        Command::Recipients(args) => recipients::recipients(args, ctx),
        Command::Sync(args) => sync::sync(args, ctx),
        Command::Clone(args) => sync::clone(args, ctx),
        Command::Import(args) => import::import(args, ctx),
        Command::Mount(args) => mount::mount(args, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::Inject(args) => inject::inject(args, ctx),
        Command::Scan(args) => scan::scan(args, ctx),
        Command::Otp(args) => otp::otp(args, ctx),
        Command::Audit(args) => audit::audit(args, ctx),
        Command::Info(args) => info::info(args, ctx),
        Command::Log(args) => log::log(args, ctx),
        Command::GitCredential(args) => credential::git_credential(args, ctx),
        Command::History(args) => history::history(args, ctx),
        Command::Restore(args) => history::restore(args, ctx),
        Command::Fsck(args) => fsck::fsck(args, ctx),
        Command::Browserpass(_) => browserpass::browserpass(ctx),
        Command::Textconv { file } => show::textconv(file, ctx),
        Command::Unlock(args) => agent::unlock(args, ctx),
        Command::Identity(args) => identity::identity(args, ctx),
        Command::Agent(args) => agent::agent(args, ctx),
        Command::Version
        | Command::Completions(_)
        | Command::GenerateDocs { .. }
        | Command::ClipboardHelper(_)
        | Command::Lock => Err(UsageError(format!("{command:?} runs without a store")).into()),
    }
}

/// pass spells "line 2" as `-c2` (getopt's optional argument); clap needs `--clip=2`.
fn attach_line_numbers(args: Vec<OsString>) -> Vec<OsString> {
    let mut seen_dashdash = false;
    args.into_iter()
        .map(|arg| {
            if seen_dashdash {
                return arg;
            }
            seen_dashdash = arg == "--";
            let Some(text) = arg.to_str() else {
                return arg;
            };
            for (short, long) in [("-c", "--clip"), ("-q", "--qrcode")] {
                if let Some(n) = text.strip_prefix(short)
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                {
                    return format!("{long}={n}").into();
                }
            }
            arg
        })
        .collect()
}

/// Shared flag: `-p SUB` / `--path SUB`.
#[derive(Args, Debug, Clone, Default)]
pub struct PathArg {
    /// Work on the folder SUB instead of the whole store
    #[arg(short = 'p', long = "path", value_name = "SUB", add = ArgValueCompleter::new(complete::folders))]
    pub path: Option<String>,
}

impl PathArg {
    pub fn folder(&self) -> Result<Folder> {
        parse_folder(self.path.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Start-up builds one command's arguments, not forty: the others wait in `defer` (help,
    /// completions and the man pages build them).
    #[test]
    fn only_the_command_being_run_gets_its_arguments() {
        let mut cmd = Cli::command();
        let show = cmd.find_subcommand("show");
        assert!(show.is_some_and(|s| s.get_arguments().next().is_none()));
        let parsed = cmd.try_get_matches_from_mut(["coffer", "show", "--clip=2", "web/shop"]);
        let clip = parsed.ok().and_then(|m| {
            let show = m.subcommand_matches("show")?;
            show.get_one::<usize>("clip").copied()
        });
        assert_eq!(clip, Some(2));
        // Only the global options reach `insert`; its own are still waiting.
        let insert = cmd.find_subcommand("insert");
        assert!(insert.is_some_and(|s| s.get_arguments().all(|a| a.is_global_set())));
    }

    /// A run's tree holds its one command, and every command line parses, fails and shows
    /// help in it exactly as in the whole tree.
    #[test]
    fn a_runs_tree_answers_as_the_whole_tree() {
        let whole = Cli::command();
        let answer = |tree: &clap::Command, line: &[&str]| {
            let parsed = tree
                .clone()
                .try_get_matches_from(line)
                .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
            match parsed {
                Ok(cli) => format!("{cli:?}"),
                Err(e) => format!("{:?}: {}", e.kind(), e.render()),
            }
        };
        let mut checked = 0;
        for command in commands().get_subcommands() {
            let names = std::iter::once(command.get_name()).chain(command.get_all_aliases());
            for name in names {
                let tree = tree(Some(vec![command.clone()]));
                assert_eq!(tree.get_subcommands().count(), 1);
                for line in [
                    &["coffer", name][..],
                    &["coffer", name, "--help"],
                    &["coffer", "--store", "s", name, "--bogus"],
                    &["coffer", name, "web/shop", "-c", "2"],
                    &["coffer", "--no-agent", name, "a", "b", "c"],
                ] {
                    assert_eq!(answer(&tree, line), answer(&whole, line), "{line:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 200, "{checked} command lines");
        let root = tree(Some(Vec::new()));
        assert_eq!(root.get_subcommands().count(), 0);
        for line in [
            &["coffer", "--version"][..],
            &["coffer", "--store", "s", "-V"],
        ] {
            assert_eq!(answer(&root, line), answer(&whole, line), "{line:?}");
        }
    }

    #[test]
    fn lockout_force_is_not_a_commands_own_force() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args);
            assert!(cli.is_ok(), "{args:?} parses");
            cli.is_ok_and(|cli| cli.allow_lockout)
        };
        assert!(!parse(&["coffer", "insert", "-f", "x"]));
        assert!(!parse(&["coffer", "insert", "--force", "x"]));
        assert!(parse(&["coffer", "--force", "insert", "x"]));
        assert!(parse(&["coffer", "--force", "reencrypt"]));
    }

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        rewrite_args(&commands(), args)
            .args
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn pass_habits() {
        assert_eq!(rewrite(&["coffer"]), ["coffer", "ls"]);
        assert_eq!(
            rewrite(&["coffer", "--store", "x"]),
            ["coffer", "--store", "x", "ls"]
        );
        assert_eq!(
            rewrite(&["coffer", "email/work"]),
            ["coffer", "show", "email/work"]
        );
        assert_eq!(
            rewrite(&["coffer", "-c", "a"]),
            ["coffer", "show", "-c", "a"]
        );
        assert_eq!(rewrite(&["coffer", "list"]), ["coffer", "list"]);
        assert_eq!(rewrite(&["coffer", "--help"]), ["coffer", "--help"]);
        assert_eq!(
            rewrite(&["coffer", "-c2", "a"]),
            ["coffer", "show", "--clip=2", "a"]
        );
        assert_eq!(
            rewrite(&["coffer", "git", "--", "-c2"]),
            ["coffer", "git", "--", "-c2"]
        );
    }
}
