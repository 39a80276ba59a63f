//! `info NAME`: rotation date, age, exposure, size, and the recipients file that governs a
//! secret; `info FOLDER`: how many secrets are below it, the oldest rotation, how many are
//! exposed, and the recipients file in force there. Nothing is decrypted.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::tools::audit;
use coffer::{Folder, Vault};

use super::{Context, parse_name};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The secret (or folder) to describe
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
}

pub fn info(args: &InfoArgs, ctx: &Context) -> Result<ExitCode> {
    let name = parse_name(args.name.trim_end_matches('/'))?;
    let (vault, name) = ctx.vault_for(&name)?;
    let entry = vault.entry(&name)?;
    // As `show`: a folder beside a secret of the same name is meant by a trailing slash.
    if entry.folder && (!entry.secret || args.name.ends_with('/')) {
        return info_folder(&vault, &name.as_folder(), ctx);
    }
    if !entry.secret {
        bail!("{name} is not in the store.");
    }
    let size = vault.size(&name)?;
    let rotations = vault.rotation_dates(std::slice::from_ref(&name))?;
    let tz = jiff::tz::TimeZone::system();
    let now = jiff::Timestamp::now();

    let mut out = format!("Name:       {name}\n");
    match rotations.get(&name) {
        Some(r) => {
            let when = r.when.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S");
            let days = (now.as_second() - r.when.as_second()).div_euclid(86_400);
            let stale = stale_note(ctx, days)
                .map(|note| format!(" ({note})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "Rotated:    {when} (last change of value, from {})\n",
                r.source.describe()
            ));
            out.push_str(&format!(
                "Age:        {days} day{}{stale}\n",
                if days == 1 { "" } else { "s" }
            ));
        }
        None => out.push_str("Rotated:    unknown\n"),
    }
    match audit::exposure_of(&vault, &name)? {
        Some(e) if e.removals.is_empty() => {
            out.push_str("Exposure:   exposed to a removed recipient\n");
        }
        Some(e) => {
            out.push_str(&format!(
                "Exposure:   exposed to {}\n",
                e.removals.join("; ")
            ));
        }
        None => out.push_str("Exposure:   none recorded\n"),
    }
    out.push_str(&format!("Size:       {size} bytes encrypted\n"));
    push_recipients(&mut out, &vault, &name.parent());
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `info FOLDER`: the secrets below it, the oldest rotation, exposure, and its recipients.
fn info_folder(vault: &Vault, folder: &Folder, ctx: &Context) -> Result<ExitCode> {
    let names = vault.list(folder)?;
    let rotations = vault.rotation_dates(&names)?;
    let exposed = vault.exposed_below(folder)?;
    let mut out = format!("Folder:     {}/\n", folder.as_str());
    out.push_str(&format!("Secrets:    {}\n", names.len()));
    match rotations.iter().min_by_key(|(_, r)| r.when) {
        Some((oldest, r)) => {
            let when = r
                .when
                .to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S");
            let days = (jiff::Timestamp::now().as_second() - r.when.as_second()).div_euclid(86_400);
            let stale = stale_note(ctx, days)
                .map(|note| format!("; {note}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "Oldest:     {when} {oldest} ({days} day{}{stale})\n",
                if days == 1 { "" } else { "s" }
            ));
        }
        None => out.push_str("Oldest:     no secrets\n"),
    }
    match exposed.len() {
        0 => out.push_str("Exposure:   none recorded\n"),
        n => out.push_str(&format!(
            "Exposure:   {n} secret{} exposed (see `coffer recipients -p {}`)\n",
            if n == 1 { "" } else { "s" },
            folder.as_str()
        )),
    }
    push_recipients(&mut out, vault, folder);
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The recipients file in force for `folder`, its size and each recipient with its label.
fn push_recipients(out: &mut String, vault: &Vault, folder: &Folder) {
    match vault.recipients_for(folder) {
        Ok(r) => {
            let source = r.source();
            let shown = source
                .strip_prefix(vault.root())
                .unwrap_or(source)
                .display();
            out.push_str(&format!(
                "Recipients: {shown} ({} recipient{})\n",
                r.len(),
                if r.len() == 1 { "" } else { "s" }
            ));
            for recipient in r.iter() {
                match recipient.label() {
                    Some(label) => {
                        out.push_str(&format!("            {label}: {}\n", recipient.key()))
                    }
                    None => out.push_str(&format!("            {}\n", recipient.key())),
                }
            }
        }
        Err(e) => out.push_str(&format!("Recipients: {e}\n")),
    }
}

/// `stale: the limit is N days` when a value `days` old is past `audit.max_age`.
fn stale_note(ctx: &Context, days: i64) -> Option<String> {
    let max_age = ctx
        .config
        .audit
        .max_age
        .unwrap_or(audit::DEFAULT_MAX_AGE_DAYS);
    (days > i64::from(max_age)).then(|| format!("stale: the limit is {max_age} days"))
}
