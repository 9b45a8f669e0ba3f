use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The repository root: the directory holding the workspace `Cargo.toml` and
/// `stack/stack.toml`. Found from `$CARGO_MANIFEST_DIR` at build time so
/// `cargo xtask` works from any subdirectory, or from the working directory
/// upwards for an installed binary (the Nix package).
pub fn root() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("MONITORING_REPO") {
        return Ok(PathBuf::from(dir));
    }
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    if let Some(dir) = compiled.filter(|d| d.join("stack/stack.toml").is_file()) {
        return Ok(dir);
    }
    let cwd = std::env::current_dir().context("reading the working directory")?;
    for dir in cwd.ancestors() {
        if dir.join("stack/stack.toml").is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    bail!("no stack/stack.toml in {} or any parent: run inside the repository or set MONITORING_REPO", cwd.display())
}
