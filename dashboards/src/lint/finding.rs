//! How the lint reports: as the workspace's one finding type.

use report::Finding;

use crate::GENERATED_DIR;

/// The rule name the dashboard lint's findings carry.
pub const RULE: &str = "dashboard-lint";

/// A finding in the dashboard `dashboard_uid`, placed in the JSON file it is
/// rendered to. `place` is e.g. `panel 7 "CPU busy" target B`,
/// `variable "node"`, `link "Hosts"` or `dashboard`.
pub(crate) fn finding(dashboard_uid: &str, place: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding::new(RULE, file_of(dashboard_uid), place, message)
}

/// The generated file of a dashboard.
pub fn file_of(dashboard_uid: &str) -> String {
    format!("{GENERATED_DIR}/{dashboard_uid}.json")
}
