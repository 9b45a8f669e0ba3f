//! `cargo xtask review`: what a change does to the monitoring stack, read
//! from the generated files of two revisions (the base, read with git, and
//! the working tree, which must be freshly generated), for a pull-request
//! comment. Each concern is its own module: `dashboards`, `alerts` (rules,
//! rule tests, coverage), `log_alerts` (Grafana-managed), `routing` (amtool on both revisions' rendered
//! Alertmanager config) and `stack` (images, configs and the services that
//! would roll, computed by `plan`'s comparison). Nothing that did not
//! change is reported.

mod alerts;
mod dashboards;
mod log_alerts;
mod render;
mod revision;
mod routing;
mod stack;
mod text_diff;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

pub use report::Finding;

use crate::cli::{ReviewArgs, ReviewFormat};
use revision::Tree;

/// The parts of a review, in the order a reviewer reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    Dashboards,
    Alerts,
    Routing,
    Stack,
}

impl Section {
    pub const ALL: [Section; 4] = [Section::Dashboards, Section::Alerts, Section::Routing, Section::Stack];

    pub fn title(self) -> &'static str {
        match self {
            Section::Dashboards => "Dashboards",
            Section::Alerts => "Alerts",
            Section::Routing => "Routing",
            Section::Stack => "Stack",
        }
    }
}

/// One reported change: the project's one finding type (rule = the kind of
/// change, file = the generated file, place = the panel, rule or service),
/// and, for changed text (queries, expressions, configs), a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub section: Section,
    pub finding: Finding,
    pub diff: Option<String>,
    /// One line each, under the change (e.g. each field a service changes).
    pub details: Vec<String>,
}

impl Change {
    pub fn new(
        section: Section,
        rule: &'static str,
        file: impl Into<String>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Change {
        Change { section, finding: Finding::new(rule, file, place, message), diff: None, details: Vec::new() }
    }

    #[must_use]
    pub fn with_diff(mut self, diff: Option<String>) -> Change {
        self.diff = diff.filter(|d| !d.is_empty());
        self
    }

    #[must_use]
    pub fn with_details(mut self, details: Vec<String>) -> Change {
        self.details = details;
        self
    }
}

/// Before/after SVG previews of a changed dashboard that exists at both
/// revisions, changed panels marked, and both side by side (paths relative
/// to the previews directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub dashboard: String,
    pub before: String,
    pub after: String,
    pub side_by_side: String,
}

/// A whole review.
#[derive(Debug, Clone)]
pub struct Review {
    /// The base as given (`origin/main`) and the commit it resolved to.
    pub base: String,
    pub base_commit: String,
    pub changes: Vec<Change>,
    pub previews: Vec<Preview>,
}

/// Compares `base` with the working tree of `root`. `previews_dir`: where
/// before/after SVG previews of changed dashboards are copied (links in the
/// review are relative to it).
pub fn review(root: &Path, base: &str, previews_dir: Option<&Path>) -> Result<Review> {
    let before = Tree::from_git(root, base)?;
    let after = Tree::working(root)?;
    let mut changes = Vec::new();
    let mut dashboards = dashboards::compare(&before, &after)?;
    changes.append(&mut dashboards.changes);
    let rules = alerts::compare(&before, &after)?;
    changes.extend(rules.changes);
    let log_rules = log_alerts::compare(&before, &after)?;
    changes.extend(log_rules.changes);
    let mut alerts_before = rules.before;
    alerts_before.extend(log_rules.before);
    let mut alerts_after = rules.after;
    alerts_after.extend(log_rules.after);
    changes.extend(routing::compare(root, &before, &after, &alerts_before, &alerts_after)?);
    changes.extend(stack::compare(&before, &after)?);
    let previews = match previews_dir {
        Some(dir) => dashboards::write_previews(&before, &after, &dashboards, dir)?,
        None => Vec::new(),
    };
    Ok(Review { base: base.to_owned(), base_commit: before.commit().to_owned(), changes, previews })
}

/// `cargo xtask review`.
pub fn run(root: &Path, args: ReviewArgs) -> Result<ExitCode> {
    let previews: Option<PathBuf> = args.previews_dir;
    let review = review(root, &args.base, previews.as_deref())?;
    match args.output {
        ReviewFormat::Markdown => print!("{}", render::markdown(&review)),
        ReviewFormat::Json => println!("{}", render::json(&review)),
    }
    Ok(ExitCode::SUCCESS)
}
