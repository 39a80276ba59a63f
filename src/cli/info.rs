//! `info NAME`: rotation date, age, exposure, size, and the recipients file that governs a
//! secret. Nothing is decrypted.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use clap_complete::ArgValueCompleter;

use coffer::tools::audit;

use super::{Context, parse_name};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The secret to describe
    #[arg(add = ArgValueCompleter::new(super::complete::secret_names))]
    pub name: String,
}

pub fn info(args: &InfoArgs, ctx: &Context) -> Result<ExitCode> {
    let name = parse_name(args.name.trim_end_matches('/'))?;
    let (vault, name) = ctx.vault_for(&name)?;
    if !vault.entry(&name)?.secret {
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
            let max_age = ctx
                .config
                .audit
                .max_age
                .unwrap_or(audit::DEFAULT_MAX_AGE_DAYS);
            let stale = if days > i64::from(max_age) {
                format!(" (stale: the limit is {max_age} days)")
            } else {
                String::new()
            };
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
    match vault.recipients_for(&name.parent()) {
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
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
