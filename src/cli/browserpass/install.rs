//! `coffer browserpass install|uninstall --browser B`: registers this coffer as browserpass's
//! native host with one browser, for this user.
//!
//! A browser finds the host through a manifest, `com.github.browserpass.native.json`, in its
//! per-user folder; the manifest names the extensions allowed to talk to it (browserpass's
//! published ids) and the program to run. That program must take no arguments of its own
//! (browsers pass the manifest's path and the extension id, or the extension's origin), so
//! beside the manifest coffer writes a two-line script that runs `coffer browserpass` and
//! drops them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use coffer::sys::private::{self, Existing};

/// The host's name, as the extension asks for it.
const HOST_NAME: &str = "com.github.browserpass.native";
/// The script the manifest points at, beside it.
const WRAPPER_NAME: &str = "coffer-browserpass-host";
/// browserpass's id on addons.mozilla.org.
const FIREFOX_EXTENSION: &str = "browserpass@maximbaz.com";
/// browserpass's origins in the Chrome Web Store (and its other published builds).
const CHROMIUM_ORIGINS: [&str; 3] = [
    "chrome-extension://naepdomgkenhinolocfifgehidddafch/",
    "chrome-extension://pjmbgaakjkbhpopmakjoedenlfdmcdgm/",
    "chrome-extension://klfoddkbhleoaabpmiigbmpbjfljimgb/",
];

#[derive(Subcommand, Debug)]
pub enum BrowserpassAction {
    /// Register coffer as browserpass's native host with a browser (for this user)
    Install(BrowserArgs),
    /// Remove the registration `install` wrote
    Uninstall(BrowserArgs),
}

#[derive(Args, Debug)]
pub struct BrowserArgs {
    /// The browser to register with
    #[arg(long, value_enum)]
    pub browser: Browser,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Browser {
    Firefox,
    Chromium,
    Chrome,
    Brave,
    Vivaldi,
}

impl Browser {
    /// The browser's per-user folder of native-messaging manifests.
    fn hosts_dir(self) -> Result<PathBuf> {
        let dirs = directories::BaseDirs::new().context("cannot find your home folder")?;
        let config = dirs.config_dir();
        Ok(match self {
            Browser::Firefox => dirs.home_dir().join(".mozilla/native-messaging-hosts"),
            Browser::Chromium => config.join("chromium/NativeMessagingHosts"),
            Browser::Chrome => config.join("google-chrome/NativeMessagingHosts"),
            Browser::Brave => config.join("BraveSoftware/Brave-Browser/NativeMessagingHosts"),
            Browser::Vivaldi => config.join("vivaldi/NativeMessagingHosts"),
        })
    }
}

#[derive(Serialize)]
struct Manifest<'a> {
    name: &'static str,
    description: &'static str,
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_extensions: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_origins: Option<Vec<&'static str>>,
}

pub fn install_action(action: &BrowserpassAction) -> Result<ExitCode> {
    match action {
        BrowserpassAction::Install(args) => install(args.browser),
        BrowserpassAction::Uninstall(args) => uninstall(args.browser),
    }
}

fn install(browser: Browser) -> Result<ExitCode> {
    let dir = browser.hosts_dir()?;
    let manifest_path = dir.join(format!("{HOST_NAME}.json"));
    let wrapper = dir.join(WRAPPER_NAME);
    check_ours_or_absent(&manifest_path, &wrapper)?;
    let coffer = std::env::current_exe().context("cannot tell where this coffer is")?;
    let wrapper_text = wrapper_script(&coffer)?;
    let Some(wrapper_str) = wrapper.to_str() else {
        bail!(
            "{} is not UTF-8; a manifest cannot name it",
            wrapper.display()
        );
    };
    let firefox = browser == Browser::Firefox;
    let manifest = Manifest {
        name: HOST_NAME,
        description: "coffer as browserpass's native host",
        path: wrapper_str,
        kind: "stdio",
        allowed_extensions: firefox.then(|| vec![FIREFOX_EXTENSION]),
        allowed_origins: (!firefox).then(|| CHROMIUM_ORIGINS.to_vec()),
    };
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    private::create_missing_dirs(&dir)?;
    // The script first: a manifest never points at nothing.
    private::write_atomically(&wrapper, wrapper_text.as_bytes(), 0o700, Existing::Replace)?;
    private::write_private_atomically(&manifest_path, &json)?;
    println!(
        "browserpass in {} now uses {} (manifest {})",
        browser_name(browser),
        coffer.display(),
        manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall(browser: Browser) -> Result<ExitCode> {
    let dir = browser.hosts_dir()?;
    let manifest_path = dir.join(format!("{HOST_NAME}.json"));
    let wrapper = dir.join(WRAPPER_NAME);
    check_ours_or_absent(&manifest_path, &wrapper)?;
    let mut removed = false;
    for path in [&manifest_path, &wrapper] {
        match std::fs::remove_file(path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    if removed {
        println!(
            "browserpass in {} no longer uses coffer (removed {})",
            browser_name(browser),
            manifest_path.display()
        );
    } else {
        println!(
            "coffer was not registered with {}; nothing to remove",
            browser_name(browser)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses to replace or remove a manifest coffer did not write (browserpass-native's own,
/// say): it is the user's, and they may want it back.
fn check_ours_or_absent(manifest_path: &Path, wrapper: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(manifest_path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", manifest_path.display()));
        }
    };
    let points_at_us = meta.is_file()
        && std::fs::read(manifest_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|m| m.get("path").and_then(|p| p.as_str()) == wrapper.to_str());
    if !points_at_us {
        bail!(
            "{} registers another browserpass host; coffer leaves it alone (remove it, or \
             uninstall browserpass-native, first)",
            manifest_path.display()
        );
    }
    Ok(())
}

/// `exec 'COFFER' browserpass`, the browser's arguments dropped.
fn wrapper_script(coffer: &Path) -> Result<String> {
    let Some(coffer) = coffer.to_str() else {
        bail!("the path of coffer, {}, is not UTF-8", coffer.display());
    };
    let quoted = coffer.replace('\'', r"'\''");
    Ok(format!(
        "#!/bin/sh\n\
         # Written by `coffer browserpass install`: the browser runs this as browserpass's\n\
         # native host. The arguments browsers add (manifest, extension id or origin) are dropped.\n\
         exec '{quoted}' browserpass\n"
    ))
}

fn browser_name(browser: Browser) -> &'static str {
    match browser {
        Browser::Firefox => "Firefox",
        Browser::Chromium => "Chromium",
        Browser::Chrome => "Google Chrome",
        Browser::Brave => "Brave",
        Browser::Vivaldi => "Vivaldi",
    }
}
