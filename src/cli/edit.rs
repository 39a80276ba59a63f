//! Writing commands that produce new content: `insert`, `edit`, `generate`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;
use zeroize::Zeroizing;

use coffer::formats::generate;
use coffer::vault::Changed;
use coffer::{Plaintext, SecretName, Vault};

use super::{Context, UsageError, parse_name, ui};

#[derive(Args, Debug)]
pub struct InsertArgs {
    /// The secret to create
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Read one line, echoing it (no confirmation)
    #[arg(short = 'e', long = "echo", conflicts_with = "multiline")]
    pub echo: bool,
    /// Read everything until end of input, byte-exact
    #[arg(short = 'm', long = "multiline")]
    pub multiline: bool,
    /// Overwrite an existing secret without asking
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// The secret to edit (created if it does not exist)
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Allow the plaintext on a disk-backed temporary folder when no RAM-backed one exists
    #[arg(long)]
    pub allow_disk_tmp: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The secret to create or update
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Length of the password (default $COFFER_GENERATED_LENGTH or 25)
    pub length: Option<String>,
    /// Use only letters and digits
    #[arg(short = 'n', long = "no-symbols")]
    pub no_symbols: bool,
    /// Copy the password to the clipboard instead of printing it
    #[arg(short = 'c', long = "clip")]
    pub clip: bool,
    /// Show the password as a QR code
    #[arg(short = 'q', long = "qrcode")]
    pub qrcode: bool,
    /// Replace only line 1 of an existing secret and keep the rest
    #[arg(short = 'i', long = "in-place", conflicts_with = "force")]
    pub in_place: bool,
    /// Overwrite an existing secret without asking; with -q, also draw the QR code when
    /// standard output is not a terminal
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// A diceware passphrase of N words from the EFF list instead of characters
    #[arg(long, value_name = "N", conflicts_with_all = ["length", "no_symbols"])]
    pub words: Option<usize>,
    /// Separator between the words of a passphrase
    #[arg(long, value_name = "SEP", default_value = "-", requires = "words")]
    pub separator: String,
}

/// Refuses to overwrite `name` (`shown` to the user) unless forced or confirmed (terminal
/// only).
fn check_overwrite(
    vault: &Vault,
    name: &SecretName,
    shown: &SecretName,
    force: bool,
) -> Result<()> {
    if !force && vault.entry(name)?.secret {
        ui::confirm_or_stop(&format!(
            "An entry already exists for {shown}. Overwrite it?"
        ))?;
    }
    Ok(())
}

pub fn insert(args: &InsertArgs, ctx: &Context) -> Result<ExitCode> {
    // `shown` is the name as the user gave it; `name` is its name in the store it lives in
    // (below a mount, the mounted store), which commits use (docs/BEHAVIOUR.md §10).
    let shown = parse_name(&args.name)?;
    let (vault, name) = ctx.vault_for(&shown)?;
    vault.check_can_encrypt(&name.parent())?;
    check_overwrite(&vault, &name, &shown, args.force)?;
    let content = if args.multiline {
        if ui::stdin_is_tty() {
            eprintln!("Enter contents of {shown} and press Ctrl+D when finished:\n");
        }
        let mut buf = Zeroizing::new(Vec::new());
        std::io::stdin().lock().read_to_end(&mut buf)?;
        Plaintext::new(std::mem::take(&mut *buf))
    } else if args.echo || !ui::stdin_is_tty() {
        let line = ui::read_line(&format!("Enter password for {shown}: "))?;
        line_content(&line)
    } else {
        let first = ui::ask_secret(&format!("Enter password for {shown}: "))?;
        let again = ui::ask_secret(&format!("Retype password for {shown}: "))?;
        if *first != *again {
            bail!("the entered passwords do not match");
        }
        line_content(&first)
    };
    let lock = vault.lock()?;
    vault.write(&lock, &name, &content)?;
    vault.commit(
        &[Changed::Secret(name.clone())],
        &format!("Add given password for {name} to store."),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A one-line secret as pass stores it: the line and a newline.
fn line_content(line: &str) -> Plaintext {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    Plaintext::new(bytes)
}

pub fn generate(args: &GenerateArgs, ctx: &Context) -> Result<ExitCode> {
    let shown = parse_name(&args.name)?;
    // Checked before anything is generated or stored.
    let clip_settings = if args.clip {
        Some(super::clip::Settings::from_env()?)
    } else {
        None
    };
    if args.qrcode && !args.clip {
        super::qr::check_terminal(args.force)?;
    }
    let password = if let Some(words) = args.words {
        if words > generate::MAX_WORDS {
            return Err(UsageError(format!(
                "--words {words} is too many; at most {} words",
                generate::MAX_WORDS
            ))
            .into());
        }
        generate::passphrase(words, &args.separator)?
    } else {
        let length = match &args.length {
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    UsageError(format!("pass-length {raw:?} must be a positive number"))
                })?,
            None => env_length()?,
        };
        if length > generate::MAX_LENGTH {
            return Err(UsageError(format!(
                "pass-length {length} is too long; at most {} characters",
                generate::MAX_LENGTH
            ))
            .into());
        }
        let set = character_set(args.no_symbols);
        let set = generate::expand_set(&set)?;
        generate::password(length, &set)?
    };
    let (vault, name) = ctx.vault_for(&shown)?;
    vault.check_can_encrypt(&name.parent())?;
    let exists = vault.entry(&name)?.secret;
    if !args.in_place {
        check_overwrite(&vault, &name, &shown, args.force)?;
    }
    let lock = vault.lock()?;
    let (content, message) = if args.in_place && exists {
        let old = vault.read(&name)?;
        (
            old.with_password(password.as_bytes()),
            format!("Replace generated password for {name}."),
        )
    } else {
        (
            line_content(&password),
            format!("Add generated password for {name}."),
        )
    };
    vault.write(&lock, &name, &content)?;
    vault.commit(&[Changed::Secret(name.clone())], &message)?;
    drop(lock);
    if let Some(settings) = clip_settings {
        super::clip::copy(&settings, password.as_bytes(), shown.as_str())
            .with_context(|| format!("the password was stored in {shown}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.qrcode {
        super::qr::show(password.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if ui::color_stdout() {
        write!(
            out,
            "\x1b[1mThe generated password for \x1b[4m{shown}\x1b[24m is:\x1b[0m\n\x1b[1m\x1b[93m"
        )?;
        out.write_all(password.as_bytes())?;
        out.write_all(b"\x1b[0m\n")?;
    } else {
        writeln!(out, "The generated password for {shown} is:")?;
        out.write_all(password.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn env_length() -> Result<usize> {
    match super::env_setting("GENERATED_LENGTH") {
        Some((var, raw)) => {
            raw.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                UsageError(format!("{var} {raw:?} must be a positive number")).into()
            })
        }
        None => Ok(generate::DEFAULT_LENGTH),
    }
}

fn character_set(no_symbols: bool) -> String {
    let (suffix, default) = if no_symbols {
        ("CHARACTER_SET_NO_SYMBOLS", generate::NO_SYMBOLS_SET)
    } else {
        ("CHARACTER_SET", generate::DEFAULT_SET)
    };
    super::env_setting(suffix).map_or_else(|| default.to_owned(), |(_, set)| set)
}

pub fn edit(args: &EditArgs, ctx: &Context) -> Result<ExitCode> {
    let (vault, name) = ctx.vault_for(&parse_name(&args.name)?)?;
    vault.check_can_encrypt(&name.parent())?;
    let before = match vault.ciphertext(&name) {
        Ok(ciphertext) => Some(ciphertext),
        Err(coffer::Error::Store(coffer::store::StoreError::NotFound(_))) => None,
        Err(e) => return Err(e.into()),
    };
    let original = match &before {
        Some(ct) => vault.decrypt(&name, ct)?,
        None => Plaintext::default(),
    };
    let tmp_root = private_tmp_root(args.allow_disk_tmp)?;
    // An edit killed with -9 could not remove its plaintext: the next edit does.
    coffer::sys::private::sweep_dead_private_dirs(&tmp_root, EDIT_DIR);
    // Dropping the TempDir removes the plaintext on every path out of this function.
    let dir = tempfile::Builder::new()
        .prefix(&coffer::sys::private::private_dir_prefix(EDIT_DIR))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&tmp_root)
        .with_context(|| format!("cannot create a private folder in {}", tmp_root.display()))?;
    let file = dir
        .path()
        .join(format!("{}.txt", name.as_str().replace('/', "-")));
    // A scratch file in a private RAM-backed folder: exclusive and `0600`, but neither atomic
    // nor synced, since it must not outlive this process.
    coffer::sys::private::create_private_file(&file, original.as_bytes())?;

    let editor = editor_command();
    let interrupted = Arc::new(AtomicBool::new(false));
    let _guards = catch_signals(&interrupted)?;
    let status = run_editor(&editor, &file)?;
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted; {name} was not changed");
    }
    if !status.success() {
        bail!("the editor exited with {status}; {name} was not changed");
    }
    let edited = Plaintext::new(read_private(&file)?);
    drop(dir);
    if edited == original {
        eprintln!("{name} is unchanged.");
        return Ok(ExitCode::SUCCESS);
    }
    let lock = vault.lock()?;
    let now = match vault.ciphertext(&name) {
        Ok(ct) => Some(ct),
        Err(coffer::Error::Store(coffer::store::StoreError::NotFound(_))) => None,
        Err(e) => return Err(e.into()),
    };
    if now != before {
        // Someone else changed it while we edited: keep both, lose nothing.
        let aside = save_aside(&vault, &lock, &name, &edited)?;
        vault.commit(
            &[Changed::Secret(aside.clone())],
            &format!("Add given password for {aside} to store."),
        )?;
        bail!(
            "{name} changed on disk while you were editing; your version was saved as {aside} and {name} was left as it is"
        );
    }
    vault.write(&lock, &name, &edited)?;
    let editor_name = editor.split_whitespace().next().unwrap_or("editor");
    vault.commit(
        &[Changed::Secret(name.clone())],
        &format!("Edit password for {name} using {editor_name}."),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// How many names `save_aside` tries before giving up.
const ASIDE_ATTEMPTS: u32 = 1000;

/// Saves `edited` as a new secret `NAME-conflict-TIME` (then `-2`, `-3`, … when that is
/// taken: two conflicting edits in one second), created exclusively so that no earlier copy
/// is ever overwritten. Returns the name used.
fn save_aside(
    vault: &Vault,
    lock: &coffer::store::StoreLock,
    name: &SecretName,
    edited: &Plaintext,
) -> Result<SecretName> {
    let stamp = jiff::Timestamp::now().as_second();
    for attempt in 1..=ASIDE_ATTEMPTS {
        let raw = match attempt {
            1 => format!("{name}-conflict-{stamp}"),
            n => format!("{name}-conflict-{stamp}-{n}"),
        };
        let aside = parse_name(&raw)?;
        match vault.write_new(lock, &aside, edited) {
            Ok(()) => return Ok(aside),
            Err(coffer::Error::Store(coffer::store::StoreError::AlreadyExists(_))) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "{name} changed on disk while you were editing, and no free name was left for your version ({name}-conflict-{stamp}-…); {name} was left as it is"
    )
}

/// A RAM-backed folder for plaintext: `$XDG_RUNTIME_DIR` or `/dev/shm` when they are tmpfs.
/// The prefix of `edit`'s private folders (`coffer-edit.PID.RANDOM`).
const EDIT_DIR: &str = "coffer-edit";

fn private_tmp_root(allow_disk: bool) -> Result<PathBuf> {
    let candidates = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/dev/shm")]);
    for candidate in candidates {
        if candidate.is_dir() && coffer::sys::is_ram_fs(&candidate) {
            return Ok(candidate);
        }
    }
    if allow_disk {
        return Ok(std::env::temp_dir());
    }
    bail!(
        "no RAM-backed folder (tmpfs) for the plaintext; rerun with --allow-disk-tmp to accept a disk-backed temporary file"
    )
}

fn read_private(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read back {}", path.display()))
}

fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs the editor through `sh` so `EDITOR="code --wait"` works; vim and neovim get options
/// that keep swap, backup, undo and viminfo files from copying the plaintext to disk.
fn run_editor(editor: &str, file: &Path) -> Result<std::process::ExitStatus> {
    let program = editor.split_whitespace().next().unwrap_or_default();
    let base = Path::new(program)
        .file_name()
        .and_then(|b| b.to_str())
        .unwrap_or_default();
    let extra = if matches!(
        base,
        "vi" | "vim" | "nvim" | "gvim" | "vim.basic" | "vim.tiny"
    ) {
        " -n -i NONE -c 'set nobackup nowritebackup noundofile'"
    } else {
        ""
    };
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor}{extra} \"$1\""))
        .arg("coffer-editor")
        .arg(file)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))
}

/// While the editor runs, SIGINT/SIGTERM/SIGHUP only set a flag: coffer outlives the
/// editor and removes the plaintext before it exits.
fn catch_signals(flag: &Arc<AtomicBool>) -> Result<Vec<signal_hook::SigId>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .map(|sig| signal_hook::flag::register(sig, flag.clone()).map_err(Into::into))
        .collect()
}
