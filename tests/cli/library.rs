//! The vault as a library: no binary, no prompts — typed errors and the storage guarantees.

use std::path::PathBuf;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use coffer::config::{Config, Paths};
use coffer::crypto::identity::{Identities, PassphrasePrompt};
use coffer::crypto::recipients::{Recipient, Recipients};
use coffer::store::StoreError;
use coffer::vault::{Error, RecipientOverride, Vault};
use coffer::{Folder, Plaintext, SecretName};

fn vault() -> (tempfile::TempDir, Vault, age::x25519::Identity) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        store: dir.path().join("store"),
        identities: dir.path().join("ids"),
        config_file: dir.path().join("config.toml"),
        data_dir: dir.path().to_owned(),
    };
    let no_prompt: PassphrasePrompt = Arc::new(|_| None);
    let vault =
        Vault::create(paths, Config::default(), no_prompt, RecipientOverride::None).unwrap();
    let id = age::x25519::Identity::generate();
    vault.set_identities(
        Identities::parse_plain(id.to_string().expose_secret().as_bytes()).unwrap(),
    );
    let me = Recipient::parse(&id.to_public().to_string()).unwrap();
    let lock = vault.lock().unwrap();
    vault
        .set_recipients(
            &lock,
            &Folder::root(),
            Some(&Recipients::new(vec![me], PathBuf::from("x"))),
        )
        .unwrap();
    (dir, vault, id)
}

fn name(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

#[test]
fn write_read_and_typed_errors() {
    let (_d, v, _id) = vault();
    let lock = v.lock().unwrap();
    v.write(
        &lock,
        &name("a/b"),
        &Plaintext::new(b"value\nuser: x\n".to_vec()),
    )
    .unwrap();
    let back = v.read(&name("a/b")).unwrap();
    assert_eq!(back.field("user").unwrap(), b"x");
    assert!(matches!(
        v.read(&name("a/c")),
        Err(Error::Store(StoreError::NotFound(_)))
    ));
    std::fs::write(v.path_of(&name("bad")), b"junk").unwrap();
    match v.read(&name("bad")) {
        Err(Error::Decrypt { name, .. }) => assert_eq!(name, "bad"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn transfer_and_reencrypt_in_bulk() {
    let (_d, v, id) = vault();
    let lock = v.lock().unwrap();
    for i in 0..300 {
        v.write(
            &lock,
            &name(&format!("f{}/s{i}", i % 7)),
            &Plaintext::new(format!("v{i}\n").into_bytes()),
        )
        .unwrap();
    }
    let plan: Vec<_> = v
        .list(&Folder::new("f3").unwrap())
        .unwrap()
        .into_iter()
        .map(|n| {
            let dest = n
                .rebase(&Folder::new("f3").unwrap(), &Folder::new("g").unwrap())
                .unwrap();
            (n, dest)
        })
        .collect();
    v.transfer(&lock, &plan, false).unwrap();
    for (from, to) in &plan {
        assert!(v.read(from).unwrap() == v.read(to).unwrap());
    }
    let names = v.reencrypt(&lock, &Folder::root()).unwrap();
    assert_eq!(names.len(), 300 + plan.len());
    let ct = v.ciphertext(&name("f0/s0")).unwrap();
    assert_eq!(age::decrypt(&id, &ct).unwrap(), b"v0\n");
}

#[test]
fn no_recipients_is_a_typed_error() {
    let (_d, v, _id) = vault();
    let lock = v.lock().unwrap();
    v.set_recipients(&lock, &Folder::root(), None).unwrap();
    let err = v
        .write(&lock, &name("x"), &Plaintext::new(b"y".to_vec()))
        .unwrap_err();
    assert!(matches!(err, Error::NoRecipients(_)), "{err}");
    assert!(!v.path_of(&name("x")).exists());
}
