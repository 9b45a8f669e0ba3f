//! The committed `dashboards/generated/*.json` are exactly what
//! `generated_files()` renders.
//!
//! `cargo xtask gen` writes them; so does this test when run with
//! `DASHBOARDS_BLESS=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dashboards::{GENERATED_DIR, generated_files};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_files_match_the_code() {
    let root = repo_root();
    let bless = std::env::var_os("DASHBOARDS_BLESS").is_some();
    let files = generated_files();
    let mut stale = Vec::new();

    for file in &files {
        let path = root.join(&file.path);
        if bless {
            if let Some(dir) = path.parent()
                && let Err(err) = std::fs::create_dir_all(dir)
            {
                panic!("cannot create {}: {err}", dir.display());
            }
            if let Err(err) = std::fs::write(&path, &file.contents) {
                panic!("cannot write {}: {err}", path.display());
            }
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(file.contents.as_str()) {
            stale.push(file.path.clone());
        }
    }

    // A dashboard renamed or removed leaves its old file behind.
    let expected: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let dir = root.join(GENERATED_DIR);
    let entries = std::fs::read_dir(&dir).map(|rd| rd.filter_map(Result::ok).collect::<Vec<_>>());
    for entry in entries.unwrap_or_default() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{GENERATED_DIR}/{name}");
        if name.ends_with(".json") && !expected.contains(&rel) {
            if bless {
                if let Err(err) = std::fs::remove_file(entry.path()) {
                    panic!("cannot remove {rel}: {err}");
                }
            } else {
                stale.push(format!("{rel} (no dashboard renders it)"));
            }
        }
    }

    assert!(
        stale.is_empty(),
        "out of date: {}\nrun `cargo xtask gen` (or DASHBOARDS_BLESS=1 cargo test -p dashboards --test generated_up_to_date)",
        stale.join(", ")
    );
}
