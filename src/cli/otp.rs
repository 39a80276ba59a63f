//! `otp`: one-time codes from a secret's `otpauth://` line, as pass-otp does it.
//!
//! `otp [show] NAME` prints the code (HOTP first stores the advanced counter, committing like
//! any change); `otp insert NAME` reads a URI (or, with `--secret`, a bare base32 seed it
//! builds the URI from) from the terminal or standard input, never from the command line; `otp uri NAME` prints the URI; `-q` draws the URI as a QR code for a
//! phone, `-c` copies instead of printing.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use clap_complete::ArgValueCompleter;
use zeroize::Zeroizing;

use coffer::formats::otp::{self, OtpError, OtpUri, SystemClock};
use coffer::vault::Changed;
use coffer::{Plaintext, SecretName, Vault};

use super::{Context, UsageError, clip, parse_name, qr, ui};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct OtpArgs {
    #[command(subcommand)]
    pub command: Option<OtpCommand>,
    #[command(flatten)]
    pub show: CodeArgs,
}

#[derive(Subcommand, Debug)]
pub enum OtpCommand {
    /// Print the current code (the default)
    Show(CodeArgs),
    /// Store an otpauth:// URI read from the terminal or standard input
    #[command(visible_alias = "add")]
    Insert(InsertArgs),
    /// Add an otpauth:// URI to an existing secret (as `insert --append`)
    Append(InsertArgs),
    /// Print the otpauth:// URI
    Uri(UriArgs),
}

#[derive(Args, Debug)]
pub struct CodeArgs {
    /// The secret holding an otpauth:// line
    #[arg(required = true, add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: Option<String>,
    /// Copy the code to the clipboard instead of printing it
    #[arg(short = 'c', long = "clip")]
    pub clip: bool,
    /// Show the URI as a QR code, to enrol a phone (the code is not advanced)
    #[arg(short = 'q', long = "qrcode", conflicts_with = "clip")]
    pub qrcode: bool,
    /// Draw the QR code even when standard output is not a terminal
    #[arg(long, requires = "qrcode")]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct InsertArgs {
    /// The secret to store the URI in
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Add the URI to an existing secret (replacing its otpauth:// line, if any)
    #[arg(short = 'a', long = "append")]
    pub append: bool,
    /// Read the URI once, echoing it (no confirmation)
    #[arg(short = 'e', long = "echo")]
    pub echo: bool,
    /// Overwrite without asking
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Read a bare base32 seed instead of a URI, and build a TOTP URI from it (as pass-otp's -s)
    #[arg(long = "secret")]
    pub secret: bool,
    /// With --secret: the issuer (the service), in the URI's label and issuer parameter
    #[arg(long, value_name = "ISSUER", requires = "secret")]
    pub issuer: Option<String>,
    /// With --secret: the account, in the URI's label (default: the secret's name)
    #[arg(long, value_name = "ACCOUNT", requires = "secret")]
    pub account: Option<String>,
}

#[derive(Args, Debug)]
pub struct UriArgs {
    /// The secret holding an otpauth:// line
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
    /// Copy the URI to the clipboard instead of printing it
    #[arg(short = 'c', long = "clip")]
    pub clip: bool,
    /// Show the URI as a QR code
    #[arg(short = 'q', long = "qrcode", conflicts_with = "clip")]
    pub qrcode: bool,
    /// Draw the QR code even when standard output is not a terminal
    #[arg(long, requires = "qrcode")]
    pub force: bool,
}

pub fn otp(args: &OtpArgs, ctx: &Context) -> Result<ExitCode> {
    match &args.command {
        None => code(&args.show, ctx),
        Some(OtpCommand::Show(a)) => code(a, ctx),
        Some(OtpCommand::Insert(a)) => insert(a, a.append, ctx),
        Some(OtpCommand::Append(a)) => insert(a, true, ctx),
        Some(OtpCommand::Uri(a)) => uri(a, ctx),
    }
}

/// Names the secret and what is wrong with its URI (never the URI itself).
fn explain(name: &SecretName, e: OtpError) -> anyhow::Error {
    match e {
        OtpError::NoUri => anyhow!(
            "{name} has no otpauth:// line; add one with `coffer otp insert --append {name}`"
        ),
        e => anyhow!("{name}: invalid otpauth:// URI: {e}"),
    }
}

/// The first `otpauth://` line of `name`, checked.
fn stored_uri(vault: &Vault, name: &SecretName) -> Result<Zeroizing<Vec<u8>>> {
    let secret = vault.read(name)?;
    let line = secret
        .otpauth()
        .ok_or_else(|| explain(name, OtpError::NoUri))?;
    OtpUri::parse(line).map_err(|e| explain(name, e))?;
    Ok(Zeroizing::new(line.to_vec()))
}

fn code(args: &CodeArgs, ctx: &Context) -> Result<ExitCode> {
    let raw = args
        .name
        .as_deref()
        .ok_or_else(|| UsageError("otp needs the name of a secret".into()))?;
    let name = parse_name(raw)?;
    let settings = check_outputs(args.clip, args.qrcode, args.force)?;
    let (vault, name) = ctx.vault_for(&name)?;
    if args.qrcode {
        let uri = stored_uri(&vault, &name)?;
        qr::show(&uri)?;
        return Ok(ExitCode::SUCCESS);
    }
    let secret = vault.read(&name)?;
    let mut next = otp::next_code(&secret, &SystemClock).map_err(|e| explain(&name, e))?;
    if next.updated.is_some() {
        // HOTP: advance the counter under the store lock, from the content as it is now, and
        // store it before the code is shown, so a code is never handed out twice.
        let lock = vault.lock()?;
        let current = vault.read(&name)?;
        next = otp::next_code(&current, &SystemClock).map_err(|e| explain(&name, e))?;
        if let Some(updated) = &next.updated {
            vault.write(&lock, &name, updated)?;
            vault.commit(
                &[Changed::Secret(name.clone())],
                &format!("Increment HOTP counter for {name}."),
            )?;
        }
    }
    match settings {
        Some(settings) => clip::copy(
            &settings,
            next.code.as_str().as_bytes(),
            &format!("OTP code for {name}"),
        )?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(next.code.as_str().as_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn insert(args: &InsertArgs, append: bool, ctx: &Context) -> Result<ExitCode> {
    let name = parse_name(&args.name)?;
    let (vault, name) = ctx.vault_for(&name)?;
    vault.recipients_for(&name.parent())?;
    let existing = if vault.entry(&name)?.secret {
        Some(vault.read(&name)?)
    } else {
        None
    };
    if let Some(old) = &existing
        && !args.force
    {
        let question = if !append {
            Some(format!("An entry already exists for {name}. Overwrite it?"))
        } else if old.otpauth().is_some() {
            Some(format!(
                "An OTP secret already exists for {name}. Overwrite it?"
            ))
        } else {
            None
        };
        if let Some(question) = question {
            ui::confirm_or_stop(&question)?;
        }
    }
    let uri = if args.secret {
        let seed = read_typed(&name, "base32 secret", "secrets", args.echo)?;
        let account = args.account.as_deref().unwrap_or(name.as_str());
        otp::uri_from_seed(&seed, args.issuer.as_deref(), account)
            .map_err(|e| anyhow!("invalid OTP secret: {e}"))?
    } else {
        let uri = read_typed(&name, "otpauth:// URI", "URIs", args.echo)?;
        OtpUri::parse(uri.as_bytes()).map_err(|e| anyhow!("invalid otpauth:// URI: {e}"))?;
        uri
    };
    let (content, message) = match &existing {
        Some(old) if append => (
            otp::with_uri(old, uri.as_bytes()),
            format!("Append OTP secret for {name} to store."),
        ),
        _ => (
            otp::with_uri(&Plaintext::default(), uri.as_bytes()),
            format!("Add OTP secret for {name} to store."),
        ),
    };
    let lock = vault.lock()?;
    if existing.is_some() {
        // Refuse to overwrite a change made since we read it (another coffer, a sync).
        let now = vault.read(&name)?;
        if Some(&now) != existing.as_ref() {
            bail!("{name} changed while the URI was being entered; nothing was stored");
        }
    }
    vault.write(&lock, &name, &content)?;
    vault.commit(&[Changed::Secret(name.clone())], &message)?;
    Ok(ExitCode::SUCCESS)
}

/// The URI or seed (`what`), from the terminal (hidden and typed twice unless `echo`) or one
/// line of standard input. Never from the command line: argv is visible to every local user.
fn read_typed(
    name: &SecretName,
    what: &str,
    plural: &str,
    echo: bool,
) -> Result<Zeroizing<String>> {
    let prompt = format!("Enter {what} for {name}: ");
    let typed = if echo || !ui::stdin_is_tty() {
        ui::read_line(&prompt)?
    } else {
        let first = ui::ask_secret(&prompt)?;
        let again = ui::ask_secret(&format!("Retype {what} for {name}: "))?;
        if *first != *again {
            bail!("the entered {plural} do not match");
        }
        first
    };
    Ok(Zeroizing::new(typed.trim().to_owned()))
}

/// Checks the requested outputs before anything is decrypted: the clipboard's settings, and
/// that a QR code may be drawn here.
fn check_outputs(clip: bool, qrcode: bool, force: bool) -> Result<Option<clip::Settings>> {
    let settings = if clip {
        Some(clip::Settings::from_env()?)
    } else {
        None
    };
    if qrcode {
        qr::check_terminal(force)?;
    }
    Ok(settings)
}

fn uri(args: &UriArgs, ctx: &Context) -> Result<ExitCode> {
    let name = parse_name(&args.name)?;
    let settings = check_outputs(args.clip, args.qrcode, args.force)?;
    let (vault, name) = ctx.vault_for(&name)?;
    let uri = stored_uri(&vault, &name)?;
    if let Some(settings) = settings {
        clip::copy(&settings, &uri, &format!("OTP URI for {name}"))?;
    } else if args.qrcode {
        qr::show(&uri)?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(&uri)?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
