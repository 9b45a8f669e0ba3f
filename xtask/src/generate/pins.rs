//! `cargo xtask pins`: the resolved image references and config names as
//! JSON. The Nix flake computes the same from the same files with builtins
//! alone; `xtask/tests/nix_pins.rs` holds the two together.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::bundle::{self, ConfigsLock};
use crate::source::{self, Digest, ImageLock, ImageOrigin, StackDefinition};

#[derive(Debug, Serialize)]
pub struct Pins {
    pub stack: String,
    pub images: BTreeMap<String, String>,
    pub configs: BTreeMap<String, String>,
    /// Workspace-built images: what the flake's image outputs are named.
    pub builds: BTreeMap<String, Build>,
}

/// A workspace-built image as the flake builds it (`nix/swarm-exporter-image.nix`).
#[derive(Debug, Serialize)]
pub struct Build {
    pub repository: String,
    /// Recomputed from the inputs on disk, as Nix does.
    pub tag: String,
    pub package: String,
}

/// Computed from the committed lock files and the config sources on disk, as
/// Nix does, so a lock that disagrees with a file shows up as a difference.
pub fn compute(root: &Path) -> Result<Pins> {
    let lock = ImageLock::load(&root.join(source::IMAGE_LOCK))?;
    let configs: ConfigsLock = source::parse_toml(&root.join(bundle::DIR).join(bundle::CONFIGS_LOCK))?;
    let definition: StackDefinition = source::parse_toml(&root.join(source::DEFINITION_FILE))?;
    let mut images: BTreeMap<String, String> = lock.images.iter().map(|p| (p.name.clone(), p.reference())).collect();
    let mut builds = BTreeMap::new();
    for (name, image) in &definition.images {
        let ImageOrigin::Workspace(build) = &image.origin else { continue };
        // Like a config's name, the tag comes from the files, not the lock:
        // a stale lock shows up as a difference (and Nix refuses it).
        let tag = source::input_tag(root, build)?.tag;
        images.insert(name.clone(), format!("{}:{tag}", image.repository));
        builds
            .insert(name.clone(), Build { repository: image.repository.clone(), tag, package: build.package.clone() });
    }
    let mut names = BTreeMap::new();
    for c in &configs.configs {
        let bytes = std::fs::read(root.join(&c.source)).map_err(|e| anyhow::anyhow!("{}: {e}", c.source))?;
        names.insert(c.key.clone(), bundle::config_name(&configs.stack, &c.key, &Digest::of(&bytes)));
    }
    Ok(Pins { stack: configs.stack, images, configs: names, builds })
}

pub fn run(root: &Path) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&compute(root)?)?);
    Ok(ExitCode::SUCCESS)
}
