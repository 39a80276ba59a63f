//! The floor `coffer show` is measured against (issue 17): the least a program can do to show
//! a secret — read an identity file and one age file, decrypt it with the `age` crate, print
//! it. No command line parsing, no config, no store checks.
//!
//!   cargo build --release --example floor
//!   target/release/examples/floor IDENTITIES FILE.age...
//!   find STORE -name '*.age' | target/release/examples/floor IDENTITIES   (paths on stdin)
//!
//! With many files it is also the decrypt floor of `grep` and `audit`: CPU per secret.

use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let Some(identities) = args.next() else {
        return Err("usage: floor IDENTITIES [FILE.age...]".into());
    };
    let identities = age::IdentityFile::from_file(identities.to_string_lossy().into_owned())?
        .into_identities()?;
    let mut files: Vec<std::path::PathBuf> = args.map(Into::into).collect();
    if files.is_empty() {
        files = std::io::stdin()
            .lines()
            .map_while(Result::ok)
            .map(Into::into)
            .collect();
    }
    let mut out = std::io::stdout().lock();
    for file in files {
        let ciphertext = std::fs::read(file)?;
        let decryptor = age::Decryptor::new(&ciphertext[..])?;
        let mut reader =
            decryptor.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))?;
        let mut plaintext = Vec::new();
        reader.read_to_end(&mut plaintext)?;
        out.write_all(&plaintext)?;
    }
    Ok(())
}
