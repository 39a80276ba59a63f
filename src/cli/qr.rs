//! QR codes in the terminal (`show -q`, `generate -q`, `otp -q`), drawn with Unicode half
//! blocks: two rows of modules per line of text.
//!
//! A QR code of a secret is the secret, so it is drawn only on a terminal; `--force` draws it
//! into a pipe or file anyway.

use std::io::{IsTerminal, Write};

use anyhow::{Result, bail};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use zeroize::Zeroizing;

/// Refuses unless standard output is a terminal or the user insisted.
pub fn check_terminal(force: bool) -> Result<()> {
    if !force && !std::io::stdout().is_terminal() {
        bail!(
            "refusing to draw a QR code of a secret: standard output is not a terminal (use --force to draw it anyway)"
        );
    }
    Ok(())
}

/// The QR code of `data` as lines of half blocks, with the standard four-module quiet zone.
/// Light modules are drawn as blocks (the terminal's foreground) and dark modules as spaces,
/// which reads as dark-on-light on the usual light-on-dark terminal, as `qrencode -t UTF8`.
pub fn render(data: &[u8]) -> Result<Zeroizing<String>> {
    let Ok(code) = QrCode::new(data) else {
        bail!("the text is too long for a QR code");
    };
    let drawing = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    Ok(Zeroizing::new(drawing))
}

/// Draws `data` on standard output (after [`check_terminal`]).
pub fn show(data: &[u8]) -> Result<()> {
    let drawing = render(data)?;
    let mut out = std::io::stdout().lock();
    out.write_all(drawing.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
