//! The committed files under `alerts/generated/` are exactly what the code
//! generates with the default context.
//!
//! `cargo xtask gen` writes them; until then, or to bless a change from the
//! crate alone, run with `ALERTS_BLESS=1`.

use std::path::{Path, PathBuf};

use alerts::{Context, generated_files};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate is inside the repo").to_path_buf()
}

#[test]
fn committed_files_are_up_to_date() {
    let root = repo_root();
    let bless = std::env::var_os("ALERTS_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for file in generated_files(&Context::default()) {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        if bless {
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create dir");
            std::fs::write(&path, &file.contents).expect("write generated file");
        } else {
            stale.push(file.path);
        }
    }
    assert!(
        stale.is_empty(),
        "generated files out of date (run `cargo xtask gen`, or `ALERTS_BLESS=1 cargo test -p alerts --test generated`): {stale:#?}"
    );
}

#[test]
fn output_is_deterministic_and_newline_terminated() {
    let a = generated_files(&Context::default());
    let b = generated_files(&Context::default());
    assert_eq!(a, b);
    for f in &a {
        assert!(f.contents.ends_with('\n') && !f.contents.ends_with("\n\n"), "{}", f.path);
        assert!(!f.contents.contains('\r'), "{}", f.path);
    }
    let mut paths: Vec<&str> = a.iter().map(|f| f.path.as_str()).collect();
    let sorted = {
        let mut p = paths.clone();
        p.sort();
        p
    };
    assert_eq!(paths, sorted);
    paths.dedup();
    assert_eq!(paths.len(), a.len());
}
