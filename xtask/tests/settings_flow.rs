//! The settings of `stack/stack.toml` that flow into generated files, changed
//! as the README asks a deployment to change them, leave every test green:
//! `gen` is the one writer and renders with those settings, and no test
//! renders generated files with other settings and compares them to the disk.
//!
//! A scratch copy of the repository gets new `[alerts]` URLs and a new
//! `[stack]` log setting; `cargo xtask gen` rewrites it; then `gen --check`,
//! `check --offline` and the tests of the crate those settings flow into
//! (`cargo test -p alerts`) run there. (The bundle settings reach only the
//! xtask, whose checks `gen --check` and `check` are.)

#![allow(clippy::unwrap_used)] // a test that cannot set up its scratch copy should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the workspace needs to build and test in the copy.
const COPIED: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
    "rustfmt.toml",
    "clippy.toml",
    "xtask",
    "dashboards",
    "alerts",
    "report",
    "swarm-exporter",
    "stack",
    // The rest of the workspace-built image's inputs, which `check` hashes.
    "flake.lock",
    "nix",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target dir of this build; the copy lives and builds inside it.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Makes `to` a copy of `from`, writing only files whose bytes differ (so
/// the copy's unchanged files keep their modification times and a second run
/// of this test rebuilds nothing) and removing what `from` no longer has.
fn sync(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let name = entry.unwrap().file_name();
            if name != "target" {
                sync(&from.join(&name), &to.join(&name));
            }
        }
        for entry in std::fs::read_dir(to).unwrap() {
            let entry = entry.unwrap();
            if !from.join(entry.file_name()).exists() {
                let gone = entry.path();
                if gone.is_dir() { std::fs::remove_dir_all(gone).unwrap() } else { std::fs::remove_file(gone).unwrap() }
            }
        }
    } else if from.is_file() {
        let bytes = std::fs::read(from).unwrap();
        if std::fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, bytes).unwrap();
        }
    }
}

/// `text` with `old` replaced by `new`, which must be there exactly once.
fn replace_once(text: &str, old: &str, new: &str) -> String {
    assert_eq!(text.matches(old).count(), 1, "stack.toml should contain `{old}` once");
    text.replacen(old, new, 1)
}

#[test]
fn changed_stack_settings_leave_the_tests_green() {
    // A fixed place inside the target dir, so a second run builds nothing
    // again.
    let copy = target_dir().join("settings-flow").join("repo");
    for item in COPIED {
        sync(&repo().join(item), &copy.join(item));
    }
    let stack = copy.join("stack/stack.toml");
    let original = std::fs::read_to_string(repo().join("stack/stack.toml")).unwrap();
    let mut edited = replace_once(
        &original,
        "runbook_base_url = \"alerts/runbooks\"",
        "runbook_base_url = \"https://forge.example/etl/monitoring/-/blob/main/alerts/runbooks\"",
    );
    edited =
        replace_once(&edited, "grafana_url = \"http://localhost:3000\"", "grafana_url = \"https://grafana.example\"");
    edited = replace_once(&edited, "log_max_file = 3", "log_max_file = 5");
    std::fs::write(&stack, edited).unwrap();

    let xtask = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask")).env("MONITORING_REPO", &copy).args(args).output().unwrap()
    };
    let out = xtask(&["gen"]);
    assert!(out.status.success(), "{}", text(&out));
    let rules = std::fs::read_to_string(copy.join("alerts/generated/rules/hosts.rules.yml")).unwrap();
    assert!(rules.contains("https://forge.example/etl/monitoring/-/blob/main/alerts/runbooks/hosts.md#"), "{rules}");
    assert!(rules.contains("https://grafana.example/d/"), "{rules}");

    let out = xtask(&["gen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = xtask(&["check", "--offline"]);
    assert!(out.status.success(), "{}", text(&out));

    // Its own target dir: cargo names a workspace crate's artifacts by its
    // path relative to the workspace root, so the copy's crates would
    // overwrite this checkout's in a shared one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--locked", "--offline", "-p", "alerts"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target_dir().join("settings-flow").join("target"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo test in the scratch copy:\n{}", text(&out));
}
