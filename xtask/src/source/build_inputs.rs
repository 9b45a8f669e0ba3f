//! The input-addressed tag of a workspace-built image: `<crate version>-<the
//! first 12 hex digits of the inputs hash>`. The inputs hash is the sha256
//! of a `sha256sum`-style listing, `<hex>  <path>\n` for every file of the
//! build's `inputs` (directories walked), sorted by repository-relative
//! path. `nix/pins.nix` computes the same with builtins alone
//! (`xtask/tests/nix_pins.rs` holds the two together), so the image the
//! flake builds carries the tag `images.lock` records, and a tag that no
//! longer matches its sources is caught by `check` (and by Nix).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::Digest;
use super::stack_definition::WorkspaceBuild;

/// What a build's inputs hash to, and the tag that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputTag {
    pub tag: String,
    pub inputs: Digest,
}

/// Hex digits of the inputs hash in the tag: 48 bits, as a config name's.
const TAG_HEX: usize = 12;

/// The tag `build` has in the repository at `root`, from its files now.
pub fn input_tag(root: &Path, build: &WorkspaceBuild) -> Result<InputTag> {
    if !build.inputs.iter().any(|i| i.trim_end_matches('/') == build.package.trim_end_matches('/')) {
        bail!("build of `{}`: its own directory is not among its `inputs`", build.package);
    }
    let mut files = Vec::new();
    for input in &build.inputs {
        if input.starts_with('/') || input.split('/').any(|part| part == "..") {
            bail!("build input `{input}` must be a path inside the repository");
        }
        collect(root, input.trim_end_matches('/'), &mut files)?;
    }
    files.sort();
    files.dedup();
    let mut listing = String::new();
    for rel in &files {
        let bytes = std::fs::read(root.join(rel)).with_context(|| format!("reading build input {rel}"))?;
        listing.push_str(Digest::of(&bytes).hex());
        listing.push_str("  ");
        listing.push_str(rel);
        listing.push('\n');
    }
    let inputs = Digest::of(listing.as_bytes());
    let version = crate_version(root, &build.package)?;
    Ok(InputTag { tag: format!("{version}-{}", &inputs.hex()[..TAG_HEX]), inputs })
}

/// Every regular file at or under `rel`. A symlink is refused: Nix's
/// `readDir` and Rust would disagree on whether to follow it.
fn collect(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    let path = root.join(rel);
    let meta = std::fs::symlink_metadata(&path).with_context(|| format!("build input {rel}"))?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(&path).with_context(|| format!("listing build input {rel}"))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing build input {rel}"))?;
            let name = entry.file_name();
            let name = name.to_str().with_context(|| format!("{rel}: a file name that is not UTF-8"))?;
            collect(root, &format!("{rel}/{name}"), out)?;
        }
    } else if meta.is_file() {
        out.push(rel.to_owned());
    } else {
        bail!("build input {rel} is neither a file nor a directory (a symlink?)");
    }
    Ok(())
}

#[derive(Deserialize)]
struct Manifest {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    version: String,
}

fn crate_version(root: &Path, package: &str) -> Result<String> {
    let manifest: Manifest = super::parse_toml(&root.join(package).join("Cargo.toml"))?;
    Ok(manifest.package.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(inputs: &[&str]) -> WorkspaceBuild {
        WorkspaceBuild { package: "exp".into(), inputs: inputs.iter().map(|s| (*s).to_owned()).collect() }
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exp/src")).unwrap();
        std::fs::write(dir.path().join("exp/Cargo.toml"), "[package]\nname = \"exp\"\nversion = \"0.3.1\"\n").unwrap();
        std::fs::write(dir.path().join("exp/src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(dir.path().join("Cargo.lock"), "# lock\n").unwrap();
        dir
    }

    #[test]
    fn the_tag_is_the_version_and_the_hash_of_a_sorted_listing() {
        let dir = tree();
        let got = input_tag(dir.path(), &build(&["exp", "Cargo.lock"])).unwrap();
        let listing = format!(
            "{}  Cargo.lock\n{}  exp/Cargo.toml\n{}  exp/src/main.rs\n",
            Digest::of(b"# lock\n").hex(),
            Digest::of(b"[package]\nname = \"exp\"\nversion = \"0.3.1\"\n").hex(),
            Digest::of(b"fn main() {}\n").hex()
        );
        let want = Digest::of(listing.as_bytes());
        assert_eq!(got.inputs, want);
        assert_eq!(got.tag, format!("0.3.1-{}", &want.hex()[..12]));
        // Order of `inputs` does not matter; a changed byte does.
        assert_eq!(input_tag(dir.path(), &build(&["Cargo.lock", "exp/"])).unwrap(), got);
        std::fs::write(dir.path().join("exp/src/main.rs"), "fn main() { }\n").unwrap();
        assert_ne!(input_tag(dir.path(), &build(&["exp", "Cargo.lock"])).unwrap().tag, got.tag);
    }

    #[test]
    fn missing_outside_and_incomplete_inputs_are_named() {
        let dir = tree();
        let err = input_tag(dir.path(), &build(&["exp", "flake.lock"])).unwrap_err();
        assert!(format!("{err:#}").contains("build input flake.lock"), "{err:#}");
        let err = input_tag(dir.path(), &build(&["exp", "../x"])).unwrap_err();
        assert!(err.to_string().contains("inside the repository"), "{err}");
        let err = input_tag(dir.path(), &build(&["Cargo.lock"])).unwrap_err();
        assert!(err.to_string().contains("its own directory"), "{err}");
    }
}
