use std::path::{Path, PathBuf};

/// An external validator the checks run (promtool, amtool, ...).
///
/// Looked up as `$<NAME>` (e.g. `PROMTOOL`), then `<repo>/.tools/bin/<name>`
/// (what `scripts/install-tools.sh` installs), then `PATH` (the Nix dev shell).
pub fn find(repo: &Path, name: &str) -> Option<PathBuf> {
    let var = name.to_ascii_uppercase().replace('-', "_");
    if let Some(path) = std::env::var_os(&var).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(path);
    }
    let local = repo.join(".tools/bin").join(name);
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|dir| dir.join(name)).find(|p| p.is_file())
}
