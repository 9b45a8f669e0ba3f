//! A review as Markdown for a pull-request comment (one-line summary first,
//! then one section per concern that changed, grouped by file), or as JSON
//! (`format` 1; fields are only ever added).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{Change, Review, Section};

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn places<'a>(changes: impl Iterator<Item = &'a Change>) -> usize {
    changes.map(|c| (&c.finding.file, &c.finding.place)).collect::<BTreeSet<_>>().len()
}

/// The one-line summary: what changed, by concern.
pub fn summary(review: &Review) -> String {
    let of = |s: Section| review.changes.iter().filter(move |c| c.section == s);
    let rule = |s: Section, rules: &'static [&'static str]| of(s).filter(move |c| rules.contains(&c.finding.rule));
    let mut parts = Vec::new();
    let dashboards = of(Section::Dashboards).map(|c| &c.finding.file).collect::<BTreeSet<_>>().len();
    if dashboards > 0 {
        parts.push(format!("{} changed", count(dashboards, "dashboard", "dashboards")));
    }
    let added = rule(Section::Alerts, &["rule-added"]).count();
    let removed = rule(Section::Alerts, &["rule-removed"]).count();
    let changed = places(of(Section::Alerts).filter(|c| {
        c.finding.rule.starts_with("rule-") && !["rule-added", "rule-removed", "rule-tests"].contains(&c.finding.rule)
    }));
    let tests = rule(Section::Alerts, &["rule-tests"]).count();
    for (n, what) in [(added, "added"), (removed, "removed"), (changed, "changed")] {
        if n > 0 {
            parts.push(format!("{} {what}", count(n, "rule", "rules")));
        }
    }
    if tests > 0 {
        parts.push(format!("tests of {} changed", count(tests, "alert", "alerts")));
    }
    if rule(Section::Alerts, &["coverage"]).count() > 0 {
        parts.push("coverage changed".into());
    }
    let routes = rule(Section::Routing, &["route-changed"]).count();
    if routes > 0 {
        parts.push(format!("{} routed differently", count(routes, "alert or case", "alerts or cases")));
    }
    let images = rule(Section::Stack, &["image"]).count();
    if images > 0 {
        parts.push(format!("{} changed", count(images, "image", "images")));
    }
    let configs = rule(Section::Stack, &["config-changed", "config-added", "config-removed"]).count();
    if configs > 0 {
        parts.push(format!("{} changed", count(configs, "config", "configs")));
    }
    let roll = rule(Section::Stack, &["service-rolls", "service-created", "service-removed"]).count();
    if roll > 0 {
        parts.push(format!("{} would roll", count(roll, "service", "services")));
    }
    let against = format!("`{}` (`{}`)", review.base, review.base_commit.get(..12).unwrap_or(&review.base_commit));
    if parts.is_empty() {
        format!("**Review against {against}:** no change to dashboards, alerts, routing or the stack.")
    } else {
        format!("**Review against {against}:** {}.", parts.join(", "))
    }
}

pub fn markdown(review: &Review) -> String {
    let mut out = summary(review);
    out.push('\n');
    for section in Section::ALL {
        let mut changes: Vec<&Change> = review.changes.iter().filter(|c| c.section == section).collect();
        // Grouped by file, each file's changes in the order found.
        changes.sort_by(|a, b| a.finding.file.cmp(&b.finding.file));
        if changes.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {}\n", section.title());
        let mut file = None;
        for c in changes {
            if file != Some(&c.finding.file) {
                file = Some(&c.finding.file);
                let _ = write!(out, "\n`{}`\n", c.finding.file);
                if section == Section::Dashboards {
                    let stem = c.finding.file.rsplit('/').next().unwrap_or_default().trim_end_matches(".json");
                    if let Some(p) = review.previews.iter().find(|p| p.dashboard == stem) {
                        let _ = writeln!(
                            out,
                            "- preview: [before]({}) · [after]({}) · [side by side]({})",
                            p.before, p.after, p.side_by_side
                        );
                    }
                }
            }
            let place = if c.finding.place.is_empty() { String::new() } else { format!("{}: ", c.finding.place) };
            let _ = writeln!(out, "- {place}{}", c.finding.message);
            for d in &c.details {
                let _ = writeln!(out, "  - {d}");
            }
            if let Some(diff) = &c.diff {
                let _ = write!(out, "  ```diff\n{}  ```\n", indent(diff));
            }
        }
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[derive(Serialize)]
struct JsonReview<'a> {
    format: u32,
    base: &'a str,
    base_commit: &'a str,
    summary: String,
    changes: Vec<JsonChange<'a>>,
    previews: &'a [super::Preview],
}

#[derive(Serialize)]
struct JsonChange<'a> {
    section: Section,
    rule: &'a str,
    file: &'a str,
    place: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    details: &'a [String],
}

pub fn json(review: &Review) -> String {
    let doc = JsonReview {
        format: 1,
        base: &review.base,
        base_commit: &review.base_commit,
        summary: summary(review),
        changes: review
            .changes
            .iter()
            .map(|c| JsonChange {
                section: c.section,
                rule: c.finding.rule,
                file: &c.finding.file,
                place: &c.finding.place,
                message: &c.finding.message,
                diff: c.diff.as_deref(),
                details: &c.details,
            })
            .collect(),
        previews: &review.previews,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
