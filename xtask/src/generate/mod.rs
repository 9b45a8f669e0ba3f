//! Generate: dashboards, rule files and the stack bundle, all written through
//! [`write::apply`] so `gen --check` can name every stale file.

pub mod pins;
mod stack_bundle;
pub mod write;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

pub use stack_bundle::NAMESPACE_LABEL;
pub use write::GeneratedFile;

use crate::source::Source;

/// Directories whose whole content `gen` owns.
pub const OWNED_DIRS: &[&str] = &["dashboards/generated", "alerts/generated", crate::bundle::DIR];

/// Every generated file, in a stable order.
pub fn all_files(source: &Source) -> Result<Vec<GeneratedFile>> {
    let mut files = dashboards::generated_files();
    files.extend(alerts::generated_files(&alerts_context(source)));
    let generated: BTreeMap<String, String> = files.iter().map(|f| (f.path.clone(), f.contents.clone())).collect();
    files.extend(stack_bundle::render(source, &generated)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Where alert annotations point people: from `[alerts]` in stack.toml.
pub fn alerts_context(source: &Source) -> alerts::Context {
    let settings = &source.definition.alerts;
    alerts::Context { runbook_base_url: settings.runbook_base_url.clone(), grafana_url: settings.grafana_url.clone() }
}

/// `cargo xtask gen [--check]`.
pub fn run(root: &Path, check: bool) -> Result<ExitCode> {
    let source = Source::load(root)?;
    let files = all_files(&source)?;
    if check {
        let drift = write::drift(root, &files, OWNED_DIRS)?;
        if drift.is_empty() {
            println!("generated files are up to date ({} files)", files.len());
            return Ok(ExitCode::SUCCESS);
        }
        for line in drift.describe() {
            eprintln!("{line}");
        }
        eprintln!("run `cargo xtask gen` and commit the result");
        return Ok(ExitCode::FAILURE);
    }
    let drift = write::apply(root, &files, OWNED_DIRS)?;
    for line in drift.describe() {
        println!("updated {line}");
    }
    println!(
        "{} generated files, {} changed",
        files.len(),
        drift.changed.len() + drift.missing.len() + drift.extra.len()
    );
    Ok(ExitCode::SUCCESS)
}
