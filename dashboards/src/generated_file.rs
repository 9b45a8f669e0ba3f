//! The files `cargo xtask gen` writes for the dashboards.

use std::collections::BTreeSet;

use report::GeneratedFile;

use crate::json::pretty;
use crate::{all, preview_svg};

/// Where the dashboard JSON lives, relative to the repository root.
pub const GENERATED_DIR: &str = "dashboards/generated";

/// Two files per dashboard, named by its UID, in [`all`]'s order: the JSON
/// Grafana provisions and, beside it, the SVG preview of its layout that a
/// pull request shows as a picture.
pub fn generated_files() -> Vec<GeneratedFile> {
    all()
        .iter()
        .flat_map(|d| {
            let value = d.to_value();
            let svg = preview_svg(&value, &BTreeSet::new());
            [
                GeneratedFile { path: format!("{GENERATED_DIR}/{}.json", d.uid()), contents: pretty(value) },
                GeneratedFile { path: format!("{GENERATED_DIR}/{}.svg", d.uid()), contents: svg },
            ]
        })
        .collect()
}
