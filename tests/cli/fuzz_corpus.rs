//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and any saved crash inputs
//! (`fuzz/artifacts/<target>/`) through the same entry points the fuzz targets use
//! (`coffer::fuzzing`), so every input the fuzzer ever kept is checked on each `cargo test`.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|p| p.is_file());
    files.sort();
    files
}

#[test]
fn every_corpus_input_parses_without_panicking() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, entry) in coffer::fuzzing::TARGETS {
        let corpus = files_in(&fuzz_dir().join("corpus").join(target));
        assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ has no seed");
        let artifacts = files_in(&fuzz_dir().join("artifacts").join(target));
        for file in corpus.iter().chain(&artifacts) {
            let data = std::fs::read(file).unwrap();
            replayed += 1;
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs panicked: {failures:#?}",
        failures.len()
    );
}

#[test]
fn every_target_has_a_fuzz_binary_and_every_corpus_a_target() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (target, _) in coffer::fuzzing::TARGETS {
        assert!(
            fuzz_dir()
                .join(format!("fuzz_targets/{target}.rs"))
                .is_file()
                && manifest.contains(&format!("name = \"{target}\"")),
            "no fuzz binary for {target}"
        );
    }
    for dir in std::fs::read_dir(fuzz_dir().join("corpus")).unwrap() {
        let name = dir.unwrap().file_name().into_string().unwrap();
        assert!(
            coffer::fuzzing::entry(&name).is_some(),
            "fuzz/corpus/{name}/ belongs to no target"
        );
    }
}
