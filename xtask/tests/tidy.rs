//! Repository-wide rules, checked as ordinary tests.

#![allow(clippy::unwrap_used)] // a test that cannot read the repository should panic

use std::collections::BTreeSet;
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
    for krate in ["xtask", "dashboards", "alerts", "report", "swarm-exporter"] {
        let manifest = std::fs::read_to_string(repo().join(krate).join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[lints]\nworkspace = true"), "{krate}/Cargo.toml must inherit [workspace.lints]");
    }
}

#[test]
fn no_stubs_or_debug_leftovers() {
    let mut files = Vec::new();
    for krate in ["xtask", "dashboards", "alerts", "report", "swarm-exporter"] {
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

// ------------------------------------------------------------------ layering
//
// The layering rule of ARCHITECTURE.md, checked: which module of the xtask
// may import which (`crate::<module>`), and which workspace crate may depend
// on which. A module or crate the tables do not list fails the test, so a
// new one gets a place in the layering when it is added.

/// Every top-level module of `xtask/src/` and the modules it may import.
/// Lower layers first. A module listed here that does not exist (yet) is
/// fine: `swarm` is the Swarm model that plan and deploy share.
const XTASK_MODULES: &[(&str, &[&str])] = &[
    ("cli", &[]),
    ("repo", &[]),
    ("tools", &[]),
    ("source", &[]),
    ("bundle", &["source"]),
    ("generate", &["source", "bundle"]),
    ("swarm", &["source", "bundle", "generate"]),
    ("check", &["swarm", "source", "bundle", "generate", "tools"]),
    ("extract", &["check", "source", "cli"]),
    ("pin", &["source", "cli"]),
    ("history", &["swarm", "source", "bundle", "generate", "cli"]),
    ("plan", &["swarm", "history", "source", "bundle", "generate", "cli"]),
    ("verify", &["swarm", "check", "source", "bundle", "generate", "cli"]),
    ("deploy", &["plan", "swarm", "history", "check", "verify", "source", "bundle", "generate", "cli"]),
    ("bench", &["check", "deploy", "verify", "plan", "swarm", "history", "source", "bundle", "generate", "cli"]),
    ("review", &["plan", "swarm", "history", "check", "source", "bundle", "generate", "cli", "tools"]),
];

/// Imports that break the rule today, each to be removed by the change
/// named beside it (none now).
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

/// Every workspace crate and the workspace crates it may depend on.
const CRATES: &[(&str, &[&str])] = &[
    ("report", &[]),
    ("dashboards", &["report"]),
    ("alerts", &["report", "dashboards"]),
    ("xtask", &["report", "dashboards", "alerts"]),
    // A program of its own (an image of the stack), no workspace crate.
    ("swarm-exporter", &[]),
];

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a piece of Rust names through `crate::`, in
/// `crate::a::b`, `crate::{a, b::c}` and `use crate::a;` alike. Comments are
/// skipped, so prose about other modules does not count.
fn crate_imports(source: &str) -> BTreeSet<String> {
    let code: Vec<&str> = source.lines().map(|line| line.split("//").next().unwrap_or("")).collect();
    let code = code.join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at].chars().next_back().is_some_and(|c| is_ident(c) || c == ':');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            out.extend(group_heads(group));
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The first identifier of each depth-0 item of a `{a, b::c, d::{e, f}}` group
/// (the text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    let mut take = true;
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                take = false;
            }
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(std::mem::take(&mut item));
                take = true;
            }
            c if take && depth == 0 && is_ident(c) => item.push(c),
            ':' if depth == 0 => take = false,
            _ => {}
        }
    }
    heads.push(item);
    heads.into_iter().filter(|h| !h.is_empty() && h != "self").collect()
}

#[test]
fn imports_parse() {
    let found = crate_imports(
        "use crate::source::{Source, Digest};\nuse crate::{\n    bundle,\n    generate::write,\n};\n// crate::deploy\nlet x = crate::plan::run();\nuse super::crate_like::x;",
    );
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["bundle", "generate", "plan", "source"]);
}

#[test]
fn every_module_imports_only_what_its_layer_allows() {
    let src = repo().join("xtask/src");
    let mut unlisted = Vec::new();
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if name == "main" || !(path.is_dir() || path.extension().is_some_and(|e| e == "rs")) {
            continue;
        }
        let Some((_, allowed)) = XTASK_MODULES.iter().find(|(m, _)| *m == name) else {
            unlisted.push(name);
            continue;
        };
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        for file in files {
            for import in crate_imports(&std::fs::read_to_string(&file).unwrap()) {
                let known = XTASK_MODULES.iter().any(|(m, _)| *m == import);
                if import == name || !known || allowed.contains(&import.as_str()) {
                    continue;
                }
                if KNOWN_EXCEPTIONS.contains(&(name.as_str(), import.as_str())) {
                    continue;
                }
                violations
                    .push(format!("{}: {name} imports crate::{import}", file.strip_prefix(repo()).unwrap().display()));
            }
        }
    }
    assert!(unlisted.is_empty(), "modules without a row in XTASK_MODULES (give them a layer): {unlisted:?}");
    violations.sort();
    violations.dedup();
    assert!(violations.is_empty(), "imports against the layering (ARCHITECTURE.md):\n{}", violations.join("\n"));
}

#[test]
fn every_crate_depends_only_on_the_crates_below_it() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members_line = manifest.lines().find(|l| l.starts_with("members")).unwrap();
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    let mut problems = Vec::new();
    for member in &members {
        let Some((_, allowed)) = CRATES.iter().find(|(c, _)| c == member) else {
            problems.push(format!("crate {member} has no row in CRATES"));
            continue;
        };
        let text = std::fs::read_to_string(repo().join(member).join("Cargo.toml")).unwrap();
        let dependencies = text.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
        for line in dependencies.lines() {
            let dependency = line.split(['.', ' ', '=']).next().unwrap_or("");
            if members.contains(&dependency) && !allowed.contains(&dependency) {
                problems.push(format!("{member} depends on {dependency}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
}
