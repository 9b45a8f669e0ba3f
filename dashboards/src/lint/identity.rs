//! Rules on a dashboard as a whole: UID, title, editability, tags, time.

use super::finding::finding;
use crate::Dashboard;
use report::Finding;

const DASHBOARD: &str = "dashboard";

pub(super) fn check(dashboards: &[Dashboard], problems: &mut Vec<Finding>) {
    for (i, d) in dashboards.iter().enumerate() {
        let uid = d.uid();
        let len = uid.chars().count();
        if !(8..=40).contains(&len) {
            problems.push(finding(
                uid,
                DASHBOARD,
                format!("uid {uid:?} is {len} characters long; Grafana takes 8 to 40"),
            ));
        }
        if !uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            problems.push(finding(
                uid,
                DASHBOARD,
                format!("uid {uid:?} may only contain letters, digits, '-' and '_' (it is part of the URL)"),
            ));
        }
        if let Some(first) = dashboards[..i].iter().find(|o| o.uid() == uid) {
            problems.push(finding(
                uid,
                DASHBOARD,
                format!("uid {uid:?} is also the uid of {:?}; provisioning would load only one of them", first.title()),
            ));
        }
        if d.title().trim().is_empty() {
            problems.push(finding(uid, DASHBOARD, "the dashboard has no title"));
        } else if let Some(first) = dashboards[..i].iter().find(|o| o.title() == d.title()) {
            problems.push(finding(
                uid,
                DASHBOARD,
                format!(
                    "title {:?} is also the title of dashboard {}; titles must be unique within a folder",
                    d.title(),
                    first.uid()
                ),
            ));
        }
        if d.editable() {
            problems.push(finding(
                uid,
                DASHBOARD,
                "editable is true; generated dashboards must be read-only, edits in the UI are lost on the next deploy",
            ));
        }
        if d.tags().iter().all(|t| t.trim().is_empty()) {
            problems.push(finding(uid, DASHBOARD, "no tags; tags group the dashboards in search and in the tag links"));
        }
        let (from, to) = d.time();
        if from.trim().is_empty() || to.trim().is_empty() {
            problems.push(finding(uid, DASHBOARD, "no default time range"));
        }
        if d.refresh().trim().is_empty() {
            problems.push(finding(uid, DASHBOARD, "no refresh interval"));
        }
    }
}
