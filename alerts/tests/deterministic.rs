//! What `generated_files` renders is the same on every call, sorted, and
//! plain text. (That the committed files are what `cargo xtask gen` renders
//! from stack.toml is `xtask/tests/cli.rs`'s `generated_files_are_up_to_date`:
//! only `gen` knows the context the files are written with.)

use alerts::{Context, generated_files};

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
