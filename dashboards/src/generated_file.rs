//! The files `cargo xtask gen` writes for the dashboards.

use report::GeneratedFile;

use crate::all;

/// Where the dashboard JSON lives, relative to the repository root.
pub const GENERATED_DIR: &str = "dashboards/generated";

/// One JSON file per dashboard, named by its UID, in [`all`]'s order.
pub fn generated_files() -> Vec<GeneratedFile> {
    all()
        .iter()
        .map(|d| GeneratedFile { path: format!("{GENERATED_DIR}/{}.json", d.uid()), contents: d.to_json() })
        .collect()
}
