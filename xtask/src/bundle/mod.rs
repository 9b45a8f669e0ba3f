//! The rendered bundle: `docker-stack.yml`, `configs.lock` and the config
//! files, named by content hash. `gen` writes it; `plan`, `deploy` and the
//! Nix flake read it.

pub mod compose;
mod configs_lock;
mod secret_names;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use configs_lock::{ConfigsLock, LockedConfig, config_name};
pub use secret_names::{
    SECRET_KEY_LABEL, SECRET_ORIGIN_LABEL, SECRET_VERSION_LABEL, newest_version, secret_family, secret_version,
    secret_version_name,
};

/// Repository-relative directory of the committed bundle.
pub const DIR: &str = "stack/rendered";
/// The compose file `docker stack deploy -c` reads, in [`DIR`].
pub const STACK_FILE: &str = "docker-stack.yml";
pub const CONFIGS_LOCK: &str = "configs.lock";
pub const CONFIGS_DIR: &str = "configs";

/// A bundle read from disk, ready to plan and deploy.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub compose: compose::ComposeFile,
    pub configs: ConfigsLock,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let stack_path = dir.join(STACK_FILE);
        let text = std::fs::read_to_string(&stack_path)
            .with_context(|| format!("reading {} (run `cargo xtask gen`)", stack_path.display()))?;
        let compose: compose::ComposeFile =
            serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", stack_path.display()))?;
        let configs: ConfigsLock = crate::source::parse_toml(&dir.join(CONFIGS_LOCK))?;
        Ok(Bundle { dir: dir.to_path_buf(), compose, configs })
    }

    /// The stack (namespace) this bundle deploys as.
    pub fn stack(&self) -> &str {
        &self.configs.stack
    }

    /// Contents of the config under `key` in the stack file.
    pub fn config_data(&self, key: &str) -> Result<Vec<u8>> {
        let config = self.compose.configs.get(key).with_context(|| format!("config `{key}` is not in the bundle"))?;
        let path = self.dir.join(&config.file);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }
}
