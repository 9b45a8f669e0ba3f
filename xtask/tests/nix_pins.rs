//! The pins Nix computes (`nix/pins.nix`: builtins.fromTOML and
//! builtins.hashFile only, evaluated by `nix-instantiate --eval --strict
//! --json`) must equal what `xtask pins` prints, and changing one side alone
//! must be caught with a message naming the file or image.
//!
//! Needs `nix-instantiate` (Debian's nix-bin; scripts/install-tools.sh): when
//! it is missing the tests fail if CI is set and are skipped otherwise (as in
//! the Nix sandbox of `nix flake check`, where `checks.pins` does this job).

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// False (skip) when nix-instantiate is missing; panics instead when CI is set.
fn have_nix() -> bool {
    let found = Command::new("nix-instantiate").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "nix-instantiate not found and CI is set: install nix-bin (scripts/install-tools.sh)"
        );
        eprintln!("skipped: nix-instantiate not found");
    }
    found
}

/// `nix/pins.nix` of this repository evaluated on `root`: the JSON, or the
/// error Nix printed.
fn nix_pins(root: &Path) -> Result<Value, String> {
    let out = Command::new("nix-instantiate")
        // Nix 2.8 from Debian warns about the missing nixbld group otherwise.
        .env("NIX_CONFIG", "build-users-group =")
        .args(["--eval", "--strict", "--json", "--argstr", "root"])
        .arg(root)
        .arg("--argstr")
        .arg("pins")
        .arg(repo().join("nix/pins.nix"))
        .args(["-E", "{ root, pins }: import pins root"])
        .output()
        .expect("running nix-instantiate");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("nix-instantiate printed no JSON: {e}"))
}

/// `xtask pins` run on `root` (MONITORING_REPO).
fn xtask_pins(root: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("pins")
        .env("MONITORING_REPO", root)
        .output()
        .expect("running xtask pins");
    assert!(out.status.success(), "xtask pins failed on {}:\n{}", root.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("xtask pins prints JSON")
}

/// `key -> source` from `<root>/stack/rendered/configs.lock`, to name files.
fn config_sources(root: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join("stack/rendered/configs.lock")).unwrap_or_default();
    let lock: toml::Table = toml::from_str(&text).unwrap_or_default();
    lock.get("config")
        .and_then(|c| c.as_array())
        .map(|configs| {
            configs
                .iter()
                .filter_map(|c| Some((c.get("key")?.as_str()?.to_owned(), c.get("source")?.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every difference between the two, one line each, naming the image or the
/// config and its source file.
fn compare(nix: &Value, xtask: &Value, sources: &[(String, String)]) -> Result<(), String> {
    let mut diffs = String::new();
    if nix["stack"] != xtask["stack"] {
        let _ = writeln!(diffs, "stack: nix {} != xtask {}", nix["stack"], xtask["stack"]);
    }
    for (section, what) in [("images", "image"), ("configs", "config"), ("builds", "build")] {
        let (Some(a), Some(b)) = (nix[section].as_object(), xtask[section].as_object()) else {
            let _ = writeln!(
                diffs,
                "{section}: not an object on both sides (nix {}, xtask {})",
                nix[section], xtask[section]
            );
            continue;
        };
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let (x, y) = (a.get(key), b.get(key));
            if x != y {
                let source =
                    sources.iter().find(|(k, _)| k == key).map(|(_, s)| format!(" (from {s})")).unwrap_or_default();
                let show = |v: Option<&Value>| v.map_or_else(|| "<absent>".to_owned(), Value::to_string);
                let _ = writeln!(diffs, "{what} `{key}`{source}: nix {} != xtask {}", show(x), show(y));
            }
        }
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A temporary copy of exactly what both sides read: stack/stack.toml,
/// stack/images.lock, stack/rendered/configs.lock and every config source.
/// Without a rendered configs.lock in the repository yet, one is written
/// from stack/stack.toml's `[configs]` files that exist (a fixture).
fn copy_of_inputs() -> (tempfile::TempDir, Vec<(String, String)>) {
    let src = repo();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = |rel: &str| {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(rel), &to).unwrap_or_else(|e| panic!("copying {rel}: {e}"));
    };
    copy("stack/stack.toml");
    copy("stack/images.lock");
    // Every input of a workspace-built image: both sides hash them.
    for input in build_inputs(&src) {
        copy_tree(&src.join(&input), &dir.path().join(&input));
    }
    let sources = if src.join("stack/rendered/configs.lock").is_file() {
        copy("stack/rendered/configs.lock");
        let sources = config_sources(dir.path());
        for (_, s) in &sources {
            copy(s);
        }
        sources
    } else {
        eprintln!("stack/rendered/configs.lock missing: using a fixture made from stack/stack.toml");
        let stack: toml::Table =
            toml::from_str(&std::fs::read_to_string(src.join("stack/stack.toml")).expect("stack.toml"))
                .expect("stack.toml parses");
        let name = stack["stack"]["name"].as_str().expect("[stack] name").to_owned();
        let mut sources: Vec<(String, String)> = stack
            .get("configs")
            .and_then(|c| c.as_table())
            .map(|t| t.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        sources.retain(|(_, s)| src.join(s).is_file());
        for (_, s) in &sources {
            copy(s);
        }
        if sources.is_empty() {
            let rel = "stack/configs/fixture.yml";
            std::fs::create_dir_all(dir.path().join("stack/configs")).expect("mkdir");
            std::fs::write(dir.path().join(rel), "fixture: true\n").expect("write fixture");
            sources.push(("fixture_yml".to_owned(), rel.to_owned()));
        }
        let mut lock = format!("version = 1\nstack = \"{name}\"\n");
        for (key, s) in &sources {
            let sha = sha256_hex(&std::fs::read(dir.path().join(s)).expect("read source"));
            let _ = write!(
                lock,
                "\n[[config]]\nkey = \"{key}\"\nname = \"{name}_{key}_{}\"\nsource = \"{s}\"\nsha256 = \"{sha}\"\n",
                &sha[..12]
            );
        }
        std::fs::create_dir_all(dir.path().join("stack/rendered")).expect("mkdir");
        std::fs::write(dir.path().join("stack/rendered/configs.lock"), lock).expect("write configs.lock");
        sources
    };
    (dir, sources)
}

/// The `build.inputs` of every workspace-built image of stack.toml.
fn build_inputs(root: &Path) -> Vec<String> {
    let stack: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("stack/stack.toml")).expect("stack.toml")).expect("parses");
    let images = stack.get("images").and_then(|i| i.as_table()).cloned().unwrap_or_default();
    images
        .values()
        .filter_map(|i| i.get("build")?.get("inputs")?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(|s| s.trim_end_matches('/').to_owned()))
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
    }
}

/// Replaces the first `[[image]]` digest of `<root>/stack/images.lock` with
/// `digest`; returns the image's name.
fn set_first_digest(root: &Path, digest: &str) -> String {
    let path = root.join("stack/images.lock");
    let text = std::fs::read_to_string(&path).expect("images.lock");
    let mut lock: toml::Table = toml::from_str(&text).expect("images.lock parses");
    let image = lock
        .get_mut("image")
        .and_then(|i| i.as_array_mut())
        .and_then(|i| i.first_mut())
        .and_then(|i| i.as_table_mut())
        .expect("an [[image]]");
    let name = image["name"].as_str().expect("name").to_owned();
    image.insert("digest".to_owned(), toml::Value::String(digest.to_owned()));
    std::fs::write(&path, toml::to_string(&lock).expect("serialise")).expect("write images.lock");
    name
}

#[test]
fn nix_and_xtask_agree_on_the_repository() {
    if !have_nix() {
        return;
    }
    let root = repo();
    assert!(
        root.join("stack/rendered/configs.lock").is_file(),
        "stack/rendered/configs.lock missing: run `cargo xtask gen`"
    );
    let nix = nix_pins(&root).unwrap_or_else(|e| panic!("nix/pins.nix failed on the repository:\n{e}"));
    let xtask = xtask_pins(&root);
    if let Err(diffs) = compare(&nix, &xtask, &config_sources(&root)) {
        panic!("nix/pins.nix and `xtask pins` disagree:\n{diffs}");
    }
    assert!(nix["images"].as_object().is_some_and(|i| !i.is_empty()), "no images pinned: {nix}");
}

#[test]
fn the_copy_agrees_before_any_change() {
    if !have_nix() {
        return;
    }
    let (dir, sources) = copy_of_inputs();
    let nix = nix_pins(dir.path()).unwrap_or_else(|e| panic!("nix/pins.nix failed on the copy:\n{e}"));
    if let Err(diffs) = compare(&nix, &xtask_pins(dir.path()), &sources) {
        panic!("nix/pins.nix and `xtask pins` disagree on an unchanged copy:\n{diffs}");
    }
}

#[test]
fn a_config_source_changed_alone_is_named() {
    if !have_nix() {
        return;
    }
    let (dir, sources) = copy_of_inputs();
    let before = nix_pins(dir.path()).unwrap_or_else(|e| panic!("nix/pins.nix failed on the copy:\n{e}"));
    let (key, source) = sources.first().expect("at least one config").clone();
    let path = dir.path().join(&source);
    let mut bytes = std::fs::read(&path).expect("read source");
    bytes.extend_from_slice(b"\n");
    std::fs::write(&path, &bytes).expect("edit source");
    let new_sha = sha256_hex(&bytes);

    // Nix refuses the stale configs.lock, naming the file and both hashes.
    let err =
        nix_pins(dir.path()).expect_err("nix/pins.nix must refuse a config source that differs from configs.lock");
    assert!(err.contains(&source), "the error names {source}:\n{err}");
    assert!(err.contains(&new_sha), "the error gives the file's new hash {new_sha}:\n{err}");

    // The xtask recomputes the name from the edited file, so the names the
    // lock and Nix hold no longer match it: the comparison names the file.
    let diffs =
        compare(&before, &xtask_pins(dir.path()), &sources).expect_err("a changed source changes its config name");
    assert!(
        diffs.contains(&format!("config `{key}` (from {source})")),
        "the difference names {key} and {source}:\n{diffs}"
    );
    assert!(diffs.contains(&new_sha[..12]), "the xtask's name carries the new hash:\n{diffs}");
}

#[test]
fn a_lock_digest_changed_alone_is_named() {
    if !have_nix() {
        return;
    }
    let (dir, sources) = copy_of_inputs();
    let xtask_before = xtask_pins(dir.path());
    let digest = format!("sha256:{}", sha256_hex(b"not the pinned image"));
    let image = set_first_digest(dir.path(), &digest);

    // Nix reads the changed lock; the xtask's answer from before does not
    // have it: the comparison names the image.
    let nix = nix_pins(dir.path()).unwrap_or_else(|e| panic!("a well-formed digest must evaluate:\n{e}"));
    let diffs = compare(&nix, &xtask_before, &sources).expect_err("a changed digest must differ");
    assert!(
        diffs.contains(&format!("image `{image}`")) && diffs.contains(&digest),
        "the difference names `{image}` and {digest}:\n{diffs}"
    );
    assert_eq!(diffs.lines().count(), 1, "only that image differs:\n{diffs}");

    // And both sides agree again on the changed lock.
    compare(&nix, &xtask_pins(dir.path()), &sources).unwrap_or_else(|d| panic!("both read the same lock:\n{d}"));
}

#[test]
fn a_malformed_lock_digest_is_named() {
    if !have_nix() {
        return;
    }
    let (dir, _) = copy_of_inputs();
    let image = set_first_digest(dir.path(), "sha256:NOT-HEX");
    let err = nix_pins(dir.path()).expect_err("nix/pins.nix must refuse a malformed digest");
    assert!(
        err.contains(&format!("image `{image}`")) && err.contains("sha256:NOT-HEX"),
        "the error names `{image}`:\n{err}"
    );
}

#[test]
fn a_build_input_changed_alone_is_named() {
    if !have_nix() {
        return;
    }
    let (dir, sources) = copy_of_inputs();
    let before = xtask_pins(dir.path());
    let Some((image, build)) = before["builds"].as_object().and_then(|b| b.iter().next()) else {
        panic!("no workspace-built image in stack/stack.toml: {before}");
    };
    let (image, package) = (image.clone(), build["package"].as_str().expect("package").to_owned());
    let edited = dir.path().join(&package).join("src/main.rs");
    let mut bytes = std::fs::read(&edited).expect("read main.rs");
    bytes.extend_from_slice(b"// edited\n");
    std::fs::write(&edited, bytes).expect("edit main.rs");

    // Nix refuses the stale tag, naming the image and the tag it hashes to now.
    let now = xtask_pins(dir.path());
    let tag = now["builds"][&image]["tag"].as_str().expect("tag").to_owned();
    assert_ne!(Some(tag.as_str()), before["builds"][&image]["tag"].as_str(), "an edited input changes the tag");
    let err = nix_pins(dir.path()).expect_err("nix/pins.nix must refuse a tag its inputs no longer hash to");
    assert!(
        err.contains(&format!("image `{image}`")) && err.contains(&tag),
        "the error names `{image}` and {tag}:\n{err}"
    );

    // xtask recomputes it too: the comparison with before names the image.
    let diffs = compare(&before, &now, &sources).expect_err("an edited input changes the image's tag");
    assert!(diffs.contains(&format!("image `{image}`")) && diffs.contains(&tag), "{diffs}");
}
