//! The Nix side, as far as it runs without nixpkgs: every `.nix` file
//! parses and is formatted, `flake.lock` is a real lock, the pure pins and
//! the image layout logic evaluate (see scripts/check-nix.sh).

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

use std::path::Path;
use std::process::Command;

#[test]
fn nix_files_parse_format_and_evaluate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new("bash").arg(root.join("scripts/check-nix.sh")).current_dir(root).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/check-nix.sh failed:\n{text}");
    eprintln!("{text}");
}
