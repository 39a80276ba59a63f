//! QR codes: `show -q`, `generate -q`, `otp -q` draw half-block codes that decode back to the
//! same text, only on a terminal unless `--force`.

use crate::common::{self, TestVault, stderr, stdout};

/// Decodes a half-block drawing: each character is two modules, top and bottom; a block
/// (the terminal's foreground) is a light module and a space a dark one.
fn decode(drawing: &str) -> String {
    let rows: Vec<Vec<char>> = drawing
        .lines()
        .map(|l| l.trim_end_matches('\r').chars().collect())
        .filter(|l: &Vec<char>| !l.is_empty())
        .collect();
    assert!(!rows.is_empty(), "no drawing in {drawing:?}");
    let width = rows[0].len();
    assert!(
        rows.iter().all(|r| r.len() == width),
        "ragged drawing: {drawing:?}"
    );
    let mut modules = Vec::new(); // true = light
    for row in &rows {
        let (top, bottom): (Vec<bool>, Vec<bool>) = row
            .iter()
            .map(|c| match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in a QR drawing"),
            })
            .unzip();
        modules.push(top);
        modules.push(bottom);
    }
    const SCALE: usize = 4;
    let height = modules.len();
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width * SCALE, height * SCALE, |x, y| {
            if modules[y / SCALE][x / SCALE] {
                255
            } else {
                0
            }
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code");
    grids[0].decode().expect("QR decodes").1
}

#[test]
fn show_q_refuses_a_pipe_and_force_draws_a_decodable_code() {
    let v = TestVault::new();
    v.insert("wifi", "correct horse battery staple\nssid: home-net\n");
    let out = v.run(&["show", "-q", "wifi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        "coffer: refusing to draw a QR code of a secret: standard output is not a terminal (use --force to draw it anyway)\n"
    );
    let out = v.run(&["show", "-q", "--force", "wifi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(decode(&stdout(&out)), "correct horse battery staple");
    let out = v.run(&["wifi", "-q2", "--force"]);
    assert_eq!(decode(&stdout(&out)), "ssid: home-net");
    let out = v.run(&["show", "wifi", "--field", "ssid", "-q", "--force"]);
    assert_eq!(decode(&stdout(&out)), "home-net");
    let out = v.run(&["show", "--qrcode=0", "--force", "wifi"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn on_a_terminal_no_force_is_needed() {
    let v = TestVault::new();
    v.insert("term", "on-a-tty-Secret\n");
    let mut cmd = v.coffer();
    cmd.env("LANG", "C.UTF-8").args(["show", "-q", "term"]);
    let mut session = common::on_terminal(cmd);
    // rexpect hands back one char per byte; put the UTF-8 back together.
    let raw: Vec<u8> = session
        .exp_eof()
        .unwrap()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    assert_eq!(decode(&String::from_utf8(raw).unwrap()), "on-a-tty-Secret");
}

#[test]
fn generate_q_draws_the_stored_password() {
    let v = TestVault::new();
    let out = v.run(&["generate", "-q", "new/one"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!v.path("new/one").exists(), "refused before generating");
    let out = v.run(&["generate", "-q", "-f", "new/one", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = String::from_utf8(v.show("new/one")).unwrap();
    assert_eq!(decode(&stdout(&out)), stored.trim_end_matches('\n'));
    assert_eq!(stored.len(), 31);
}

#[test]
fn otp_q_draws_the_uri_for_a_phone_without_advancing_hotp() {
    let v = TestVault::new();
    let uri = "otpauth://hotp/Bank:me?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=4";
    v.insert("bank", format!("pin\n{uri}\n"));
    let out = v.run(&["otp", "-q", "--force", "bank"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(decode(&stdout(&out)), uri);
    let out = v.run(&["otp", "uri", "-q", "--force", "bank"]);
    assert_eq!(decode(&stdout(&out)), uri);
    assert_eq!(v.show("bank"), format!("pin\n{uri}\n").as_bytes());
    let out = v.run(&["otp", "uri", "-q", "bank"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}
