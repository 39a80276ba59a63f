//! browserpass: `coffer browserpass` answers the extension's native-messaging requests (a
//! 4-byte little-endian length, then JSON, each way) as the unmodified extension sends them;
//! `coffer browserpass install|uninstall` writes and removes the browser's manifest.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::common::{TestVault, files_below, stderr, stdout};

const VERSION: u64 = 3_001_000;

/// Sends `bytes` to `coffer browserpass` (or `program`, the installed wrapper) as the browser
/// does, and returns the process's output. Writing stops quietly when the host stops reading.
fn send_raw_to(v: &TestVault, program: Option<&Path>, bytes: &[u8]) -> Output {
    let mut cmd = match program {
        Some(p) => {
            let mut cmd = v.tool(p);
            // What Firefox passes: the manifest's path and the extension's id.
            cmd.args([
                "/somewhere/com.github.browserpass.native.json",
                "browserpass@maximbaz.com",
            ]);
            cmd
        }
        None => {
            let mut cmd = v.coffer();
            cmd.arg("browserpass");
            cmd
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn send_raw(v: &TestVault, bytes: &[u8]) -> Output {
    send_raw_to(v, None, bytes)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// The one framed JSON answer on standard output.
fn answer(out: &Output) -> Value {
    let bytes = &out.stdout;
    assert!(bytes.len() >= 4, "no answer; stderr: {}", stderr(out));
    let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(
        length,
        bytes.len() - 4,
        "the length frames the whole answer"
    );
    serde_json::from_slice(&bytes[4..]).unwrap()
}

/// Sends one request and returns the answer; checks the exit code agrees with it.
fn request(v: &TestVault, body: &Value) -> Value {
    let out = send_raw(v, &framed(body.to_string().as_bytes()));
    let answer = answer(&out);
    // (An echo is answered as sent, without a status.)
    let ok = answer["status"] != "error";
    assert_eq!(out.status.success(), ok, "{answer} / {}", stderr(&out));
    answer
}

/// The extension's settings with one store, `default`, at `path`.
fn settings(path: &Path) -> Value {
    json!({
        "gpgPath": null,
        "stores": {
            "default": {"id": "default", "name": "default", "path": path, "settings": {}}
        }
    })
}

fn action(v: &TestVault, action: &str, extra: Value) -> Value {
    let mut body = json!({"action": action, "settings": settings(&v.store())});
    for (k, val) in extra.as_object().unwrap() {
        body[k] = val.clone();
    }
    request(v, &body)
}

fn assert_error(answer: &Value, code: u64) {
    assert_eq!(answer["status"], "error", "{answer}");
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["version"], VERSION, "{answer}");
}

#[test]
fn the_extensions_session_configure_list_tree_fetch() {
    let v = TestVault::new();
    v.insert("web/site", "site-pass\nlogin: ann\nurl: site.example\n");
    v.insert("mail/work/imap", "imap-pass\n");
    std::fs::write(
        v.store().join(".browserpass.json"),
        r#"{"enableOTP": true}"#,
    )
    .unwrap();

    // With no store configured, the extension asks for the default one.
    let configure = request(
        &v,
        &json!({"action": "configure", "settings": {"gpgPath": null, "stores": {}},
                "defaultStoreSettings": {}}),
    );
    assert_eq!(configure["status"], "ok", "{configure}");
    assert_eq!(configure["version"], VERSION);
    let default_path = configure["data"]["defaultStore"]["path"].as_str().unwrap();
    assert_eq!(Path::new(default_path), v.store().canonicalize().unwrap());
    assert_eq!(
        configure["data"]["defaultStore"]["settings"],
        r#"{"enableOTP": true}"#
    );

    // Then it names that store in every request.
    let configured = action(&v, "configure", json!({}));
    assert_eq!(
        configured["data"]["storeSettings"]["default"],
        r#"{"enableOTP": true}"#
    );
    let list = action(&v, "list", json!({}));
    assert_eq!(
        list["data"]["files"]["default"],
        json!(["mail/work/imap.gpg", "web/site.gpg"])
    );
    let tree = action(&v, "tree", json!({}));
    assert_eq!(
        tree["data"]["directories"]["default"],
        json!(["mail", "mail/work", "web"])
    );
    let fetch = action(
        &v,
        "fetch",
        json!({"storeId": "default", "file": "web/site.gpg"}),
    );
    assert_eq!(
        fetch["data"]["contents"],
        "site-pass\nlogin: ann\nurl: site.example\n"
    );

    // Every action is in the access log, with the secret fetched.
    let log = v.run_ok(&["log", "--json"]);
    let records: Value = serde_json::from_slice(&log.stdout).unwrap();
    let fetched = records
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["op"] == "browserpass-fetch" && r["name"] == "web/site");
    assert!(fetched, "{records}");
}

#[test]
fn echo_answers_what_was_sent() {
    let v = TestVault::new();
    let sent = json!({"action": "echo", "echoResponse": {"a": [1, "two", null]}});
    assert_eq!(request(&v, &sent), json!({"a": [1, "two", null]}));
}

#[test]
fn save_encrypts_for_the_folders_recipients_and_commits() {
    let v = TestVault::with_git();
    let saved = action(
        &v,
        "save",
        json!({"storeId": "default", "file": "shop/new.gpg", "contents": "s3cret\nlogin: bo\n"}),
    );
    assert_eq!(saved["status"], "ok", "{saved}");
    assert_eq!(
        v.age_decrypt(&v.identities(), &v.path("shop/new")),
        b"s3cret\nlogin: bo\n"
    );
    assert_eq!(v.git_log()[0], "Add given password for shop/new to store.");

    let again = action(
        &v,
        "save",
        json!({"storeId": "default", "file": "shop/new.gpg", "contents": "changed\n"}),
    );
    assert_eq!(again["status"], "ok", "{again}");
    assert_eq!(v.show("shop/new"), b"changed\n");
    assert_eq!(
        v.git_log()[0],
        "Edit password for shop/new using browserpass."
    );
}

#[test]
fn save_keeps_the_lockout_guard_and_needs_contents() {
    let v = TestVault::new();
    let before = files_below(&v.store());
    let empty = action(
        &v,
        "save",
        json!({"storeId": "default", "file": "x.gpg", "contents": ""}),
    );
    assert_error(&empty, 27);

    // Recipients none of our identities match: the lockout guard refuses.
    let body = json!({"action": "save", "settings": settings(&v.store()),
        "storeId": "default", "file": "x.gpg", "contents": "value"});
    let mut cmd = v.coffer();
    cmd.arg("browserpass").env(
        "COFFER_RECIPIENTS",
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    );
    let out = crate::common::output_with_stdin(&mut cmd, &framed(body.to_string().as_bytes()));
    assert_error(&answer(&out), 28);
    assert_eq!(files_below(&v.store()), before, "nothing was written");
}

#[test]
fn delete_removes_the_entry_and_the_folders_it_empties() {
    let v = TestVault::with_git();
    v.insert("old/deep/entry", "gone\n");
    v.insert("keep", "kept\n");
    let deleted = action(
        &v,
        "delete",
        json!({"storeId": "default", "file": "old/deep/entry.gpg"}),
    );
    assert_eq!(deleted["status"], "ok", "{deleted}");
    assert!(
        !v.store().join("old").exists(),
        "emptied folders are removed"
    );
    assert_eq!(v.show("keep"), b"kept\n");
    assert_eq!(v.git_log()[0], "Remove old/deep/entry from store.");

    let missing = action(
        &v,
        "delete",
        json!({"storeId": "default", "file": "nope.gpg"}),
    );
    assert_error(&missing, 30);
}

#[test]
fn malformed_frames_get_protocol_errors() {
    let v = TestVault::new();
    // Not even a length.
    let out = send_raw(&v, &[3, 0]);
    assert_error(&answer(&out), 10);
    assert!(!out.status.success());
    // A length over the limit is refused before the message is read.
    let mut huge = (64u32 << 20).to_le_bytes().to_vec();
    huge.extend(std::iter::repeat_n(b' ', 256 * 1024));
    assert_error(&answer(&send_raw(&v, &huge)), 10);
    assert_error(&answer(&send_raw(&v, &u32::MAX.to_le_bytes())), 10);
    // The message ends before its length.
    let mut cut = framed(br#"{"action":"list","settings":{}}"#);
    cut.truncate(cut.len() - 5);
    assert_error(&answer(&send_raw(&v, &cut)), 11);
    // Not JSON, or JSON of the wrong shape.
    assert_error(&answer(&send_raw(&v, &framed(b"{\"action\": \"li"))), 11);
    assert_error(&answer(&send_raw(&v, &framed(b"[1,2]"))), 11);
    // An action browserpass does not have.
    let unknown = request(&v, &json!({"action": "explode", "settings": {}}));
    assert_error(&unknown, 12);
    assert_eq!(unknown["params"]["action"], "explode");
}

#[test]
fn files_outside_the_store_are_refused_and_nothing_read() {
    let v = TestVault::new();
    v.insert("inside", "in\n");
    // An age file for us, outside the store, and a link to it inside.
    let outside = v.dir.path().join("outside.age");
    v.age_encrypt(&["-r", &v.recipient()], &outside, b"OUTSIDE-SECRET\n");
    std::os::unix::fs::symlink(&outside, v.store().join("link.age")).unwrap();
    std::os::unix::fs::symlink(v.dir.path(), v.store().join("dirlink")).unwrap();
    let before = files_below(&v.store());
    let absolute = outside.with_extension("gpg").display().to_string();
    for file in [
        "../outside.gpg",
        "a/../../outside.gpg",
        absolute.as_str(),
        "link.gpg",
        "dirlink/outside.gpg",
        ".git/config.gpg",
    ] {
        for act in ["fetch", "save", "delete"] {
            let got = action(
                &v,
                act,
                json!({"storeId": "default", "file": file, "contents": "overwrite"}),
            );
            assert_error(&got, 19);
            assert_eq!(got["params"]["file"], file);
            assert!(!got.to_string().contains("OUTSIDE-SECRET"), "{got}");
        }
    }
    assert_eq!(
        files_below(&v.store()),
        before,
        "nothing was written or removed"
    );
    assert!(outside.exists());
    // Not *.gpg: browserpass's extension error.
    let wrong = action(
        &v,
        "fetch",
        json!({"storeId": "default", "file": "inside.age"}),
    );
    assert_error(&wrong, 23);
}

#[test]
fn only_coffer_and_passage_stores_are_used() {
    let v = TestVault::new();
    let gpg_store = v.dir.path().join("password-store");
    std::fs::create_dir(&gpg_store).unwrap();
    std::fs::write(gpg_store.join(".gpg-id"), "someone@example.org\n").unwrap();
    let body = json!({"action": "list", "settings": settings(&gpg_store)});
    let refused = request(&v, &body);
    assert_error(&refused, 13);
    assert!(
        refused["params"]["error"]
            .as_str()
            .unwrap()
            .contains(".age-recipients")
    );

    // A passage store elsewhere is fine.
    let other = TestVault::new();
    other.insert("there", "x\n");
    let listed = request(
        &v,
        &json!({"action": "list", "settings": settings(&other.store())}),
    );
    assert_eq!(listed["data"]["files"]["default"], json!(["there.gpg"]));

    // A store id the settings do not have.
    let unknown = action(&v, "fetch", json!({"storeId": "nope", "file": "x.gpg"}));
    assert_error(&unknown, 20);
}

#[test]
fn install_writes_manifests_that_run_this_coffer_and_uninstall_removes_them() {
    let v = TestVault::new();
    v.insert("web/site", "from-the-browser\n");
    let firefox_dir = v.home().join(".mozilla/native-messaging-hosts");
    let chrome_dir = v.home().join(".config/google-chrome/NativeMessagingHosts");
    v.run_ok(&["browserpass", "install", "--browser", "firefox"]);
    v.run_ok(&["browserpass", "install", "--browser", "chrome"]);

    let read = |dir: &Path| -> Value {
        let text = std::fs::read(dir.join("com.github.browserpass.native.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    };
    let firefox = read(&firefox_dir);
    assert_eq!(firefox["name"], "com.github.browserpass.native");
    assert_eq!(firefox["type"], "stdio");
    assert_eq!(
        firefox["allowed_extensions"],
        json!(["browserpass@maximbaz.com"])
    );
    let chrome = read(&chrome_dir);
    let origins = chrome["allowed_origins"].as_array().unwrap();
    assert!(origins.contains(&json!(
        "chrome-extension://naepdomgkenhinolocfifgehidddafch/"
    )));

    // The manifest's program runs coffer's host, whatever arguments the browser adds.
    let program = Path::new(firefox["path"].as_str().unwrap()).to_owned();
    assert!(program.starts_with(&firefox_dir));
    let mode = std::fs::metadata(&program).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let body = json!({"action": "fetch", "settings": settings(&v.store()),
                      "storeId": "default", "file": "web/site.gpg"});
    let out = send_raw_to(&v, Some(&program), &framed(body.to_string().as_bytes()));
    assert_eq!(
        answer(&out)["data"]["contents"],
        "from-the-browser\n",
        "{}",
        stderr(&out)
    );

    // Installing again replaces coffer's own manifest.
    v.run_ok(&["browserpass", "install", "--browser", "firefox"]);
    v.run_ok(&["browserpass", "uninstall", "--browser", "firefox"]);
    assert!(files_below(&firefox_dir).is_empty());
    assert!(
        chrome_dir
            .join("com.github.browserpass.native.json")
            .exists()
    );
    let again = v.run_ok(&["browserpass", "uninstall", "--browser", "firefox"]);
    assert!(stdout(&again).contains("nothing to remove"));
}

#[test]
fn install_leaves_another_hosts_manifest_alone() {
    let v = TestVault::new();
    let dir = v.home().join(".config/chromium/NativeMessagingHosts");
    std::fs::create_dir_all(&dir).unwrap();
    let theirs =
        r#"{"name":"com.github.browserpass.native","path":"/usr/bin/browserpass-linux64"}"#;
    let manifest = dir.join("com.github.browserpass.native.json");
    std::fs::write(&manifest, theirs).unwrap();
    for act in ["install", "uninstall"] {
        let out = v.run(&["browserpass", act, "--browser", "chromium"]);
        assert_eq!(out.status.code(), Some(1), "{act}");
        assert!(
            stderr(&out).contains("another browserpass host"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), theirs);
    }
    assert_eq!(files_below(&dir), ["com.github.browserpass.native.json"]);
}
