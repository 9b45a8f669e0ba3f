//! `cargo xtask pins`: the resolved image references and config names as
//! JSON. The Nix flake computes the same from the same files with builtins
//! alone; `xtask/tests/nix_pins.rs` holds the two together.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::bundle::{self, ConfigsLock};
use crate::source::{self, Digest, ImageLock};

#[derive(Debug, Serialize)]
pub struct Pins {
    pub stack: String,
    pub images: BTreeMap<String, String>,
    pub configs: BTreeMap<String, String>,
}

/// Computed from the committed lock files and the config sources on disk, as
/// Nix does, so a lock that disagrees with a file shows up as a difference.
pub fn compute(root: &Path) -> Result<Pins> {
    let lock = ImageLock::load(&root.join(source::IMAGE_LOCK))?;
    let configs: ConfigsLock = source::parse_toml(&root.join(bundle::DIR).join(bundle::CONFIGS_LOCK))?;
    let images = lock.images.iter().map(|p| (p.name.clone(), p.reference())).collect();
    let mut names = BTreeMap::new();
    for c in &configs.configs {
        let bytes = std::fs::read(root.join(&c.source)).map_err(|e| anyhow::anyhow!("{}: {e}", c.source))?;
        names.insert(c.key.clone(), bundle::config_name(&configs.stack, &c.key, &Digest::of(&bytes)));
    }
    Ok(Pins { stack: configs.stack, images, configs: names })
}

pub fn run(root: &Path) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&compute(root)?)?);
    Ok(ExitCode::SUCCESS)
}
