//! Checks on the typed dashboards, before anything is rendered.
//!
//! Rules (each finding names the dashboard's generated file and the place in
//! it):
//!
//! - identity: UID of 8–40 characters from `[A-Za-z0-9_-]`, unique; title
//!   present and unique; `editable` false; tags present; a default time range
//!   and a refresh interval;
//! - elements: unique panel/row ids; title on every row and panel; a
//!   description on every panel; a unit on every time series, stat, gauge and
//!   bar gauge; queries on every panel but text; unique, non-empty refIds;
//!   non-empty queries; every gridPos inside the 24 columns; no two rows or
//!   panels overlapping;
//! - data sources: every reference is a provisioned UID or a datasource
//!   variable of the dashboard; a target's data source speaks its language
//!   and is its panel's; datasource variables start on a provisioned UID;
//! - variables: every `$var`, `${var}`, `[[var]]` in queries, legends,
//!   titles, descriptions, links and other variables is defined (Grafana's
//!   `$__…` built-ins excepted); variables are defined before the variables
//!   that use them; no variable is defined twice or left unused;
//! - intervals: PromQL `rate`, `irate`, `increase` use `[$__rate_interval]`;
//!   LogQL range aggregations use a Grafana window (`$__auto`, `$__range`…);
//! - links: `/d/<uid>` links lead to a linted dashboard; tag links list at
//!   least one other dashboard.

mod datasources;
mod elements;
mod finding;
mod identity;
mod intervals;
mod links;
mod scan;
mod variables;

pub use finding::{RULE, file_of};
use report::Finding;

use crate::Dashboard;

/// Every finding in `dashboards`, given the UIDs of the data sources Grafana
/// is provisioned with. An empty result means clean.
pub fn lint(dashboards: &[Dashboard], provisioned_datasource_uids: &[&str]) -> Vec<Finding> {
    let mut problems = Vec::new();
    identity::check(dashboards, &mut problems);
    for d in dashboards {
        elements::check(d, &mut problems);
        datasources::check(d, provisioned_datasource_uids, &mut problems);
        variables::check(d, &mut problems);
        intervals::check(d, &mut problems);
        links::check(d, dashboards, &mut problems);
    }
    problems
}
