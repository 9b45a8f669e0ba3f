//! The one way generated files reach the disk. In check mode nothing is
//! written: every file that differs, is missing or should not exist is named,
//! with the command that fixes it.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use report::Finding;
pub use report::GeneratedFile;

/// The rule name of drift findings in `cargo xtask check`.
const RULE: &str = "gen";
/// What fixes any drift.
pub const FIX: &str = "run `cargo xtask gen`";
const STALE: &str = "stale (generated content differs)";
const MISSING: &str = "missing";
const EXTRA: &str = "no longer generated";

/// What differs between the generated set and the disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub changed: Vec<String>,
    pub missing: Vec<String>,
    /// Files in a generated directory that nothing generates any more.
    pub extra: Vec<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }

    /// One finding per file that differs, with the command that fixes it.
    pub fn findings(&self) -> Vec<Finding> {
        let finding = |path: &String, message: &str| Finding::new(RULE, path, "", message).with_hint(FIX);
        let mut out = Vec::new();
        out.extend(self.changed.iter().map(|p| finding(p, STALE)));
        out.extend(self.missing.iter().map(|p| finding(p, MISSING)));
        out.extend(self.extra.iter().map(|p| finding(p, EXTRA)));
        out
    }

    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.changed.iter().map(|p| format!("{p}: {STALE}")));
        out.extend(self.missing.iter().map(|p| format!("{p}: {MISSING}")));
        out.extend(self.extra.iter().map(|p| format!("{p}: {EXTRA}")));
        out
    }
}

/// Compares `files` with the disk. `owned_dirs` are directories whose whole
/// content is generated, so anything else found there is extra.
pub fn drift(root: &Path, files: &[GeneratedFile], owned_dirs: &[&str]) -> Result<Drift> {
    let mut drift = Drift::default();
    for file in files {
        match std::fs::read(root.join(&file.path)) {
            Ok(bytes) if bytes == file.contents.as_bytes() => {}
            Ok(_) => drift.changed.push(file.path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => drift.missing.push(file.path.clone()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.path)),
        }
    }
    let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for dir in owned_dirs {
        for path in list_files(root, dir)? {
            if !wanted.contains(path.as_str()) {
                drift.extra.push(path);
            }
        }
    }
    Ok(drift)
}

/// Brings the disk in line with `files`, returning what it changed.
pub fn apply(root: &Path, files: &[GeneratedFile], owned_dirs: &[&str]) -> Result<Drift> {
    let drift = drift(root, files, owned_dirs)?;
    for file in files {
        if drift.changed.contains(&file.path) || drift.missing.contains(&file.path) {
            let path = root.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, &file.contents).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    for extra in &drift.extra {
        std::fs::remove_file(root.join(extra)).with_context(|| format!("removing {extra}"))?;
    }
    Ok(drift)
}

fn list_files(root: &Path, dir: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(root.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {rel}")),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {rel}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = format!("{rel}/{name}");
            if entry.file_type()?.is_dir() {
                stack.push(child);
            } else {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_changed_missing_and_extra_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("gen")).unwrap();
        std::fs::write(root.join("gen/a.txt"), "old").unwrap();
        std::fs::write(root.join("gen/zombie.txt"), "x").unwrap();
        let files = vec![
            GeneratedFile { path: "gen/a.txt".into(), contents: "new".into() },
            GeneratedFile { path: "gen/b.txt".into(), contents: "b".into() },
        ];
        let d = drift(root, &files, &["gen"]).unwrap();
        assert_eq!(d.changed, ["gen/a.txt"]);
        assert_eq!(d.missing, ["gen/b.txt"]);
        assert_eq!(d.extra, ["gen/zombie.txt"]);
        apply(root, &files, &["gen"]).unwrap();
        assert!(drift(root, &files, &["gen"]).unwrap().is_empty());
        assert!(!root.join("gen/zombie.txt").exists());
    }
}
