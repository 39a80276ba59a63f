//! The checked-in completions/ and man/ are exactly what the clap definition generates.
//! Regenerate with `cargo run -- generate-docs .` when this fails.

use crate::common::{self, TestVault, files_below};

#[test]
fn generated_docs_are_up_to_date() {
    let v = TestVault::bare();
    let out = v.dir.path().join("docs");
    v.cmd().arg("generate-docs").arg(&out).assert().success();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["completions", "man"] {
        let generated = files_below(&out.join(sub));
        let checked_in = files_below(&repo.join(sub));
        assert_eq!(
            generated, checked_in,
            "{sub}/ has other files than generated; run `cargo run -- generate-docs .`"
        );
        for file in generated {
            let a = std::fs::read(out.join(sub).join(&file)).unwrap();
            let b = std::fs::read(repo.join(sub).join(&file)).unwrap();
            assert!(
                a == b,
                "{sub}/{file} is stale; run `cargo run -- generate-docs .`"
            );
        }
    }
}

#[test]
fn man_pages_render_without_warnings() {
    common::require_tool("groff");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for page in files_below(&repo.join("man")) {
        let out = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(repo.join("man").join(&page))
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}");
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_print_for_every_shell() {
    let v = TestVault::bare();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = v.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("coffer"),
            "{shell}"
        );
    }
}
