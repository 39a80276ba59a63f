//! Interoperability with the real `age` CLI, and the age format's CCTV test vectors.

use crate::common::{TestVault, require_tool, stderr, stdout};
use std::io::Read;

#[test]
fn age_decrypts_every_kind_of_file_coffer_writes() {
    require_tool("age");
    let v = TestVault::new();
    let binary: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    v.insert("text", "pw\nuser: me\n");
    v.insert("bin/blob", &binary);
    v.insert("empty", "");
    let generated = stdout(&v.run(&["generate", "gen/x", "30"]));
    let pw = generated.lines().nth(1).unwrap().to_owned();
    v.cmd()
        .args(["cp", "text", "copied/text"])
        .assert()
        .success();
    v.cmd().args(["reencrypt"]).assert().success();
    let ids = v.identities();
    assert_eq!(v.age_decrypt(&ids, &v.path("text")), b"pw\nuser: me\n");
    assert_eq!(v.age_decrypt(&ids, &v.path("bin/blob")), binary);
    assert_eq!(v.age_decrypt(&ids, &v.path("empty")), b"");
    assert_eq!(
        v.age_decrypt(&ids, &v.path("gen/x")),
        format!("{pw}\n").as_bytes()
    );
    assert_eq!(
        v.age_decrypt(&ids, &v.path("copied/text")),
        b"pw\nuser: me\n"
    );
    // Binary age v1, as passage writes.
    assert!(
        std::fs::read(v.path("text"))
            .unwrap()
            .starts_with(b"age-encryption.org/v1\n")
    );
}

#[test]
fn coffer_reads_what_age_writes() {
    require_tool("age");
    let v = TestVault::new();
    let recipients = v.store().join(".age-recipients");
    let recipients = recipients.to_str().unwrap();
    v.age_encrypt(
        &["-e", "-R", recipients],
        &v.path("by-age"),
        b"from age -R\n",
    );
    v.age_encrypt(
        &["-e", "-a", "-R", recipients],
        &v.path("armored"),
        b"from age -a\n",
    );
    v.age_encrypt(
        &["-e", "-r", &v.recipient()],
        &v.path("by-r"),
        b"from age -r\n",
    );
    assert_eq!(v.show("by-age"), b"from age -R\n");
    assert_eq!(v.show("armored"), b"from age -a\n");
    assert_eq!(v.show("by-r"), b"from age -r\n");
    assert_eq!(stdout(&v.run(&["grep", "from"])).lines().count(), 6);
}

#[test]
fn ssh_ed25519_identities_decrypt() {
    require_tool("ssh-keygen");
    require_tool("age");
    let v = TestVault::bare();
    let key = v.dir.path().join("id_ed25519");
    let keygen = v
        .tool("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let out = v
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &key)
        .args(["init", public.trim()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    v.cmd()
        .env("COFFER_IDENTITIES_FILE", &key)
        .args(["insert", "-m", "s"])
        .write_stdin("via ssh\n")
        .assert()
        .success();
    let shown = v
        .cmd()
        .env("COFFER_IDENTITIES_FILE", &key)
        .args(["show", "s"])
        .output()
        .unwrap();
    assert_eq!(stdout(&shown), "via ssh\n", "{}", stderr(&shown));
    assert_eq!(v.age_decrypt(&key, &v.path("s")), b"via ssh\n");
}

/// One CCTV vector: its header fields and the age file.
struct Vector {
    name: String,
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    file: Vec<u8>,
}

fn load_vectors() -> Vec<Vector> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cctv");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("README") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
        let header = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut body = raw[split + 2..].to_vec();
        let mut v = Vector {
            name,
            expect: String::new(),
            payload: None,
            identities: Vec::new(),
            file: Vec::new(),
        };
        for line in header.lines() {
            let (k, val) = line.split_once(": ").unwrap();
            match k {
                "expect" => v.expect = val.to_owned(),
                "payload" => v.payload = Some(val.to_owned()),
                "identity" => v.identities.push(val.to_owned()),
                "compressed" => {
                    assert_eq!(val, "zlib");
                    let mut inflated = Vec::new();
                    flate2::read::ZlibDecoder::new(&body[..])
                        .read_to_end(&mut inflated)
                        .unwrap();
                    body = inflated;
                }
                _ => {}
            }
        }
        v.file = body;
        out.push(v);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn cctv_vectors_for_native_identities() {
    use sha2::Digest;
    let v = TestVault::bare();
    let store = v.dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let ids = v.dir.path().join("ids");
    let (mut checked, mut failures) = (0, Vec::new());
    for vector in load_vectors() {
        let native = !vector.identities.is_empty()
            && vector
                .identities
                .iter()
                .all(|i| i.starts_with("AGE-SECRET-KEY-1"));
        if !native {
            continue; // post-quantum and passphrase-only vectors do not apply to a store
        }
        checked += 1;
        std::fs::write(&ids, vector.identities.join("\n") + "\n").unwrap();
        std::fs::write(store.join("v.age"), &vector.file).unwrap();
        let out = v
            .cmd()
            .env("COFFER_DIR", &store)
            .env("COFFER_IDENTITIES_FILE", &ids)
            .args(["show", "v"])
            .output()
            .unwrap();
        let verdict = if vector.expect == "success" {
            let digest = hex(&sha2::Sha256::digest(&out.stdout));
            (out.status.success() && Some(digest) == vector.payload)
                .then_some(())
                .ok_or_else(|| format!("expected success: {}", stderr(&out)))
        } else if out.status.code() == Some(1) && out.stdout.is_empty() {
            let err = stderr(&out);
            let one_line = err.starts_with("coffer: ") && err.lines().count() == 1;
            let right_kind = (vector.expect == "no match") == err.contains("no identity matches");
            (one_line && right_kind)
                .then_some(())
                .ok_or_else(|| format!("expected {}: {err:?}", vector.expect))
        } else {
            Err(format!(
                "expected {} with no output, got {:?} and {} bytes",
                vector.expect,
                out.status.code(),
                out.stdout.len()
            ))
        };
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", vector.name));
        }
    }
    assert!(checked > 80, "only {checked} vectors applied");
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
