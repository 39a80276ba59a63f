//! Hostile content: what a teammate who turned hostile can push into the store (labels,
//! names) is data, never terminal instructions.

use crate::common::{TestVault, stderr, stdout};

/// Appends `label` and a fresh key to the root recipients file, as a pull would.
fn push_labelled_key(v: &TestVault, label: &str) {
    let stranger = TestVault::new();
    let path = v.store().join(".age-recipients");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("# {label}\n{}\n", stranger.recipient()));
    std::fs::write(&path, text).unwrap();
}

#[test]
fn a_pushed_label_cannot_redraw_the_trust_warning() {
    let v = TestVault::new();
    v.insert("first", "one\n");
    push_labelled_key(&v, "mallory\x1b[2K\r\x1b[1Arecipients unchanged\u{9b}2J");
    let out = v.run(&["insert", "-e", "second"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains('\x1b') && !err.contains('\r') && !err.contains('\u{9b}'),
        "{err:?}"
    );
    assert!(
        err.contains("mallory\\e[2K\\r\\e[1Arecipients unchanged\\u{009b}2J"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let listing = v.run(&["recipients", "ls"]);
    let text = format!("{}{}", stdout(&listing), stderr(&listing));
    assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
    assert!(text.contains("mallory\\e[2K"), "{text}");
}

#[test]
fn names_with_invisible_characters_print_escaped() {
    let v = TestVault::new();
    v.insert("docs/readme", "x\n");
    // A teammate's commit can bring any file name; coffer never prints it raw.
    let sneaky = "invoice\u{202e}gpj.exe";
    std::fs::copy(
        v.path("docs/readme"),
        v.store().join(format!("docs/{sneaky}.age")),
    )
    .unwrap();
    for args in [&["ls"][..], &["find", "invoice"], &["grep", "x"]] {
        let out = v.run(args);
        let text = stdout(&out);
        assert!(!text.contains('\u{202e}'), "{args:?}: {text:?}");
    }
    // Escaped (or, where such names are refused, left out): the rest still lists.
    assert!(stdout(&v.run(&["ls"])).contains("readme"));
}
