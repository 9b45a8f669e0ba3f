//! Offline checks of the rule model: the monitoring-mixin alert guidelines
//! (as `mixtool lint` applies them) plus this repository's own rules.
//!
//! Each [`Finding`] names the generated file and, as its place, the group and
//! the rule, so it can be found in both the YAML and the Rust source.

use std::collections::{BTreeMap, BTreeSet};

use report::Finding;

use crate::builder::is_camel_case;
use crate::grafana::LogAlert;
use crate::model::{AlertRule, RuleFile};
use crate::names::dashboard;
use crate::render::{expected_annotations, expected_labels};
use crate::runbooks::Runbooks;
use crate::template;

/// The rule name the rule lint's findings carry.
pub const RULE: &str = "rule-lint";

/// The place of a rule in a rule file, as findings name it.
pub fn place(group: &str, rule: &str) -> String {
    format!("group {group} rule {rule}")
}

/// Lints Prometheus rule files against the runbooks they link to.
pub fn lint(files: &[RuleFile], runbooks: &Runbooks) -> Vec<Finding> {
    let mut problems = Vec::new();
    let mut seen_alerts: BTreeMap<(String, BTreeMap<String, String>), String> = BTreeMap::new();
    let mut seen_records: BTreeMap<(String, BTreeMap<String, String>), String> = BTreeMap::new();
    for file in files {
        for group in &file.groups {
            let mut report = |rule: &str, message: String| {
                problems.push(Finding::new(RULE, file.path(), place(&group.name, rule), message))
            };
            for alert in group.alerts() {
                for message in alert_problems(alert, runbooks) {
                    report(&alert.name, message);
                }
                let key = (alert.name.clone(), alert.labels());
                if let Some(first) = seen_alerts.insert(key, file.path()) {
                    report(&alert.name, format!("duplicate alert: same name and labels as in {first}"));
                }
            }
            for record in group.recordings() {
                if !is_metric_name(&record.record) {
                    report(&record.record, "recorded metric name is not a valid Prometheus metric name".into());
                }
                if record.labels.values().any(|v| v.contains("$value")) {
                    report(&record.record, "label uses $value".into());
                }
                let key = (record.record.clone(), record.labels.clone());
                if let Some(first) = seen_records.insert(key, file.path()) {
                    report(&record.record, format!("duplicate recording rule: same name and labels as in {first}"));
                }
            }
        }
    }
    problems
}

/// Lints the Grafana-managed log alerts (uid rules, plus the same
/// annotation guidelines as Prometheus alerts).
pub fn lint_log_alerts(rules: &[LogAlert], runbooks: &Runbooks) -> Vec<Finding> {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for r in rules {
        let mut report = |message: String| {
            problems.push(Finding::new(
                RULE,
                crate::grafana::PROVISIONING_PATH,
                place(crate::grafana::FOLDER, &r.title),
                message,
            ))
        };
        if r.uid.is_empty()
            || r.uid.len() > 40
            || !r.uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            report(format!("uid {:?} must be 1-40 characters of [A-Za-z0-9_-]", r.uid));
        }
        if !uids.insert(r.uid.clone()) {
            report(format!("duplicate uid {:?}", r.uid));
        }
        if !titles.insert(r.title.clone()) {
            report("duplicate title (Alertmanager sees it as alertname)".into());
        }
        if !is_camel_case(&r.title) {
            report("title is not CamelCase".into());
        }
        summary_problems(&r.summary).into_iter().for_each(&mut report);
        if r.description.trim().is_empty() {
            report("description is missing".into());
        } else if !template::is_templated(&r.description) {
            report("description is not templated".into());
        }
        if r.description.contains("${") || r.summary.contains("${") {
            report("`${` in an annotation would be expanded by Grafana provisioning as an environment variable".into());
        }
        match &r.runbook_url {
            None => report("runbook_url is missing".into()),
            Some(url) => {
                if let Err(e) = runbooks.check_url(url) {
                    report(e)
                }
            }
        }
        if !dashboard::ALL.contains(&r.dashboard_uid.as_str()) {
            report(format!("dashboard uid {:?} is not a generated dashboard", r.dashboard_uid));
        }
        if r.lookback.is_zero() {
            report("lookback is zero".into());
        }
    }
    problems
}

fn alert_problems(a: &AlertRule, runbooks: &Runbooks) -> Vec<String> {
    let mut out = Vec::new();
    if !is_camel_case(&a.name) {
        out.push("alert name is not CamelCase (^([A-Z]+[a-z0-9]+)+$)".into());
    }
    if a.expr.trim().is_empty() {
        out.push("expression is empty".into());
    }
    if a.severity.is_none() || a.extra_labels.contains_key("severity") {
        out.push("severity must be set, through the Severity enum only (critical, warning or info)".into());
    }
    out.extend(summary_problems(&a.summary));
    if a.description.trim().is_empty() {
        out.push("description is missing".into());
    } else if !template::is_templated(&a.description) && !a.always_firing {
        out.push("description is not templated: show the labels or value that make this instance specific".into());
    }
    match &a.runbook_url {
        None => out.push("runbook_url is missing".into()),
        Some(url) => {
            if let Err(e) = runbooks.check_url(url) {
                out.push(e)
            }
        }
    }
    if let Some(uid) = &a.dashboard_uid
        && !dashboard::ALL.contains(&uid.as_str())
    {
        out.push(format!("dashboard uid {uid:?} is not a generated dashboard"));
    }
    if a.labels().values().any(|v| v.contains("$value")) {
        out.push("a label uses $value: every new value would make a new alert".into());
    }
    if (a.expr.contains("absent(") || a.expr.contains("absent_over_time("))
        && a.for_duration.is_none_or(|d| d.is_zero())
    {
        out.push("uses absent() without `for`: it would fire during every restart and rollout".into());
    }
    out.extend(test_problems(a));
    out
}

fn summary_problems(summary: &str) -> Vec<String> {
    let mut out = Vec::new();
    if summary.trim().is_empty() {
        out.push("summary is missing".into());
        return out;
    }
    if template::is_templated(summary) {
        out.push("summary is templated: keep it static so notifications group".into());
    }
    if !summary.starts_with(|c: char| c.is_uppercase()) {
        out.push("summary must start with a capital letter".into());
    }
    if !summary.ends_with('.') {
        out.push("summary must end with a period".into());
    }
    out
}

fn test_problems(a: &AlertRule) -> Vec<String> {
    let mut out = Vec::new();
    if !a.tests.iter().any(|t| t.is_firing()) {
        out.push("no promtool test case in which the alert fires".into());
    }
    if !a.always_firing && !a.tests.iter().any(|t| !t.is_firing()) {
        out.push("no promtool test case in which the alert stays quiet".into());
    }
    if a.always_firing && a.expr.trim() != "vector(1)" {
        out.push("only `vector(1)` may be marked always firing".into());
    }
    for case in &a.tests {
        if case.eval_time.is_zero() {
            out.push(format!("test {:?} evaluates at time 0", case.name));
        }
        for expected in &case.expected {
            if let Err(e) = expected_annotations(a, expected) {
                out.push(format!("test {:?}: expected annotations cannot be rendered: {e}", case.name));
            }
            let labels = expected_labels(a, expected);
            if labels.keys().any(|k| k == "alertname") {
                out.push(format!("test {:?}: alertname is implied, do not expect it as a label", case.name));
            }
        }
        let mut keys = BTreeSet::new();
        for expected in &case.expected {
            if !keys.insert(&expected.labels) {
                out.push(format!("test {:?} expects the same alert twice", case.name));
            }
        }
    }
    out
}

fn is_metric_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
