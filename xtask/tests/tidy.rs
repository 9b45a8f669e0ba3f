//! Repository-wide rules, checked as ordinary tests.

#![allow(clippy::unwrap_used)] // a test that cannot read the repository should panic

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn code_is_formatted() {
    let out = Command::new("cargo").args(["fmt", "--all", "--check"]).current_dir(repo()).output().unwrap();
    assert!(out.status.success(), "run `cargo fmt --all`:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    for krate in ["xtask", "dashboards", "alerts", "report"] {
        let manifest = std::fs::read_to_string(repo().join(krate).join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[lints]\nworkspace = true"), "{krate}/Cargo.toml must inherit [workspace.lints]");
    }
}

#[test]
fn no_stubs_or_debug_leftovers() {
    let mut files = Vec::new();
    for krate in ["xtask", "dashboards", "alerts", "report"] {
        rust_files(&repo().join(krate), &mut files);
    }
    let forbidden = [concat!("todo", "!("), concat!("unimplemented", "!("), concat!("dbg", "!(")];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for word in forbidden {
                assert!(!line.contains(word), "{}:{}: {word}", file.display(), n + 1);
            }
        }
    }
}

/// The README documents every subcommand the CLI has.
#[test]
fn readme_names_every_subcommand() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 9, "{help}");
    for c in commands {
        assert!(readme.contains(&format!("cargo xtask {c}")), "README.md does not document `cargo xtask {c}`");
    }
}

/// Every test ARCHITECTURE.md names as holding an invariant exists.
#[test]
fn architecture_points_at_real_tests() {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let mut named = 0;
    for cell in text.split('`').skip(1).step_by(2) {
        if cell.starts_with("xtask/tests/") {
            assert!(repo().join(cell).is_file(), "ARCHITECTURE.md names {cell}, which does not exist");
            named += 1;
        }
    }
    assert!(named >= 4);
}
