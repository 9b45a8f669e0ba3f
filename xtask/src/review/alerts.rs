//! Alerts: rules added and removed; expression (diff of the formatted
//! PromQL), `for`, severity, labels and annotations changed, with severity
//! raised or lowered and thresholds and `for` loosened or tightened called
//! out; the rules whose promtool tests changed; the coverage report
//! (`alerts/COVERAGE.md`) when either revision has one. (Grafana-managed
//! log alerts: `log_alerts`.)

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;

use super::revision::Tree;
use super::{Change, Section, text_diff};

pub const COVERAGE: &str = "alerts/COVERAGE.md";
const RULES_DIR: &str = "alerts/generated/rules";
const TESTS_DIR: &str = "alerts/generated/tests";

/// A file of named rule groups: a Prometheus rule file (`R` = [`Rule`]) or
/// Grafana's alert provisioning (`R` = the rule as JSON), the parts the
/// review compares.
#[derive(Debug, Deserialize)]
pub struct GroupFile<R> {
    #[serde(default = "Vec::new")]
    pub groups: Vec<Group<R>>,
}

#[derive(Debug, Deserialize)]
pub struct Group<R> {
    pub name: String,
    #[serde(default = "Vec::new")]
    pub rules: Vec<R>,
}

/// Every `.yml` group file under `dir` of `tree`, parsed, with its path.
pub fn group_files<R: serde::de::DeserializeOwned>(tree: &Tree, dir: &str) -> Result<Vec<(String, GroupFile<R>)>> {
    let mut out = Vec::new();
    for file in tree.list(dir, ".yml")? {
        let text = tree.read(&file)?.unwrap_or_default();
        let parsed = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {file}: {}", tree.label(), e.without_snippet()))?;
        out.push((file, parsed));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// An alerting rule's identity in the review: its file, group and name,
/// and which occurrence of that name in the group (one alert name can
/// carry a warning and a critical rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleKey {
    pub file: String,
    pub group: String,
    pub name: String,
    pub occurrence: usize,
}

/// An alerting rule's static labels (for routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLabels {
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
}

/// What the comparison found, and each side's alerts (for routing).
pub struct Compared {
    pub changes: Vec<Change>,
    pub before: BTreeMap<RuleKey, AlertLabels>,
    pub after: BTreeMap<RuleKey, AlertLabels>,
}

pub fn compare(before: &Tree, after: &Tree) -> Result<Compared> {
    let a = rules(before)?;
    let b = rules(after)?;
    let mut changes = Vec::new();
    let keys: BTreeSet<&RuleKey> = a.keys().chain(b.keys()).collect();
    for key in keys {
        changes.extend(rule(key, a.get(key), b.get(key)));
    }
    changes.extend(tests(before, after)?);
    let (x, y) = (before.read(COVERAGE)?.unwrap_or_default(), after.read(COVERAGE)?.unwrap_or_default());
    if x != y {
        changes.push(
            Change::new(Section::Alerts, "coverage", COVERAGE, "", "coverage changed")
                .with_diff(Some(text_diff::unified(&x, &y))),
        );
    }
    let labels = |rules: &BTreeMap<RuleKey, Rule>| -> BTreeMap<RuleKey, AlertLabels> {
        rules
            .iter()
            .filter(|(_, r)| r.alert.is_some())
            .map(|(k, r)| (k.clone(), AlertLabels { alertname: k.name.clone(), labels: r.labels.clone() }))
            .collect()
    };
    Ok(Compared { changes, before: labels(&a), after: labels(&b) })
}

fn rules(tree: &Tree) -> Result<BTreeMap<RuleKey, Rule>> {
    let mut out = BTreeMap::new();
    for (file, parsed) in group_files::<Rule>(tree, RULES_DIR)? {
        for group in parsed.groups {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for r in group.rules {
                let name = r.alert.clone().or_else(|| r.record.clone()).unwrap_or_default();
                let n = seen.entry(name.clone()).or_default();
                let key = RuleKey { file: file.clone(), group: group.name.clone(), name, occurrence: *n };
                *n += 1;
                out.insert(key, r);
            }
        }
    }
    Ok(out)
}

fn place(key: &RuleKey, rule: &Rule) -> String {
    let kind = if rule.alert.is_some() { "alert" } else { "recording rule" };
    let nth = if key.occurrence > 0 { format!(" (#{})", key.occurrence + 1) } else { String::new() };
    format!("{kind} `{}`{nth} in group {}", key.name, key.group)
}

fn rule(key: &RuleKey, a: Option<&Rule>, b: Option<&Rule>) -> Vec<Change> {
    let change = |r: &Rule, rule: &'static str, message: String| {
        Change::new(Section::Alerts, rule, key.file.clone(), place(key, r), message)
    };
    let (a, b) = match (a, b) {
        (None, Some(b)) => {
            let summary = [("severity", b.labels.get("severity")), ("team", b.labels.get("team"))]
                .into_iter()
                .filter_map(|(k, v)| Some(format!("{k} {}", v?)))
                .chain(b.for_.as_ref().map(|f| format!("for {f}")))
                .collect::<Vec<_>>()
                .join(", ");
            let message = if summary.is_empty() { "added".to_owned() } else { format!("added ({summary})") };
            return vec![change(b, "rule-added", message).with_diff(Some(text_diff::promql("", &b.expr)))];
        }
        (Some(a), None) => return vec![change(a, "rule-removed", "removed".into())],
        (Some(a), Some(b)) if a != b => (a, b),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    if a.expr != b.expr {
        let message = match threshold(&a.expr, &b.expr) {
            Some(t) => t,
            None => "expression changed".into(),
        };
        out.push(change(b, "rule-expr", message).with_diff(Some(text_diff::promql(&a.expr, &b.expr))));
    }
    for (field, x, y) in [("for", &a.for_, &b.for_), ("keep_firing_for", &a.keep_firing_for, &b.keep_firing_for)] {
        if x != y {
            out.push(change(b, "rule-for", duration_change(field, x.as_deref(), y.as_deref())));
        }
    }
    for (rule, message) in label_changes((&a.labels, &a.annotations), (&b.labels, &b.annotations)) {
        out.push(change(b, rule, message));
    }
    out
}

/// Severity, other labels and annotations changed between two versions of
/// one rule (Prometheus or Grafana-managed), as `(finding rule, message)`.
pub fn label_changes(
    (la, aa): (&BTreeMap<String, String>, &BTreeMap<String, String>),
    (lb, ab): (&BTreeMap<String, String>, &BTreeMap<String, String>),
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let (sa, sb) = (la.get("severity"), lb.get("severity"));
    if sa != sb {
        out.push(("rule-severity", severity_change(sa, sb)));
    }
    let others = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter().filter(|(k, _)| *k != "severity").map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    if let Some(message) = map_change("label", &others(la), &others(lb)) {
        out.push(("rule-labels", message));
    }
    if let Some(message) = map_change("annotation", aa, ab) {
        out.push(("rule-annotations", message));
    }
    out
}

/// Severity in the alerts crate's words, most urgent first.
fn severity_rank(s: &str) -> Option<usize> {
    use ::alerts::Severity;
    [Severity::Critical, Severity::Warning, Severity::Info].iter().position(|v| v.as_str() == s)
}

pub fn severity_change(a: Option<&String>, b: Option<&String>) -> String {
    let show = |s: Option<&String>| s.map_or("(none)".to_owned(), Clone::clone);
    let direction = match (a.and_then(|s| severity_rank(s)), b.and_then(|s| severity_rank(s))) {
        (Some(x), Some(y)) if y < x => "**raised**",
        (Some(x), Some(y)) if y > x => "**lowered**",
        _ => "changed",
    };
    format!("severity {direction}: {} → {}", show(a), show(b))
}

pub fn duration_change(field: &str, a: Option<&str>, b: Option<&str>) -> String {
    let secs = |d: Option<&str>| match d {
        None => Some(0),
        Some(d) => promql_parser::util::parse_duration(d).ok().map(|d| d.as_millis()),
    };
    let direction = match (secs(a), secs(b)) {
        (Some(x), Some(y)) if y > x => " (**loosened**: waits longer before firing)",
        (Some(x), Some(y)) if y < x => " (**tightened**: fires sooner)",
        _ => "",
    };
    format!("`{field}` {} → {}{direction}", a.unwrap_or("(none)"), b.unwrap_or("(none)"))
}

/// `x > 0.9` → `x > 0.95`: the same comparison of the same expression
/// against another number, with the direction in which it moves the alert.
fn threshold(a: &str, b: &str) -> Option<String> {
    use promql_parser::parser::{Expr, parse};
    fn split(expr: &str) -> Option<(String, String, f64)> {
        let mut e = parse(expr).ok()?;
        while let Expr::Paren(p) = e {
            e = *p.expr;
        }
        let Expr::Binary(bin) = e else { return None };
        if !bin.op.is_comparison_operator() {
            return None;
        }
        let Expr::NumberLiteral(n) = *bin.rhs else { return None };
        let modifier = bin.modifier.as_ref().map(|m| format!("{m:?}")).unwrap_or_default();
        Some((format!("{}{modifier}", bin.lhs), bin.op.to_string(), n.val))
    }
    let (lhs_a, op_a, x) = split(a)?;
    let (lhs_b, op_b, y) = split(b)?;
    if lhs_a != lhs_b || op_a != op_b || x == y {
        return None;
    }
    let fires_less = match op_a.as_str() {
        ">" | ">=" => Some(y > x),
        "<" | "<=" => Some(y < x),
        _ => None,
    };
    let direction = match fires_less {
        Some(true) => " (**loosened**: fires less often)",
        Some(false) => " (**tightened**: fires more often)",
        None => "",
    };
    Some(format!("threshold `{op_a} {x}` → `{op_a} {y}`{direction}"))
}

pub fn map_change(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Option<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let parts: Vec<String> = keys
        .into_iter()
        .filter_map(|k| match (a.get(k), b.get(k)) {
            (None, Some(v)) => Some(format!("{what} `{k}` added: \"{v}\"")),
            (Some(_), None) => Some(format!("{what} `{k}` removed")),
            (Some(x), Some(y)) if x != y => Some(format!("{what} `{k}`: \"{x}\" → \"{y}\"")),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Alert name → test case name → (test file, the case).
type CasesByAlert = BTreeMap<String, BTreeMap<String, (String, Value)>>;

/// promtool test cases by the alert they evaluate.
fn test_cases(tree: &Tree) -> Result<CasesByAlert> {
    let mut out = CasesByAlert::new();
    for file in tree.list(TESTS_DIR, ".yml")? {
        let text = tree.read(&file)?.unwrap_or_default();
        let parsed: Value = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {file}: {}", tree.label(), e.without_snippet()))?;
        for case in parsed.get("tests").and_then(Value::as_array).into_iter().flatten() {
            let name = case.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let alerts: BTreeSet<&str> = case
                .get("alert_rule_test")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("alertname").and_then(Value::as_str))
                .collect();
            for alert in alerts {
                out.entry(alert.to_owned()).or_default().insert(name.clone(), (file.clone(), case.clone()));
            }
        }
    }
    Ok(out)
}

/// The alerts whose promtool tests changed: cases added, removed, changed.
fn tests(before: &Tree, after: &Tree) -> Result<Vec<Change>> {
    let a = test_cases(before)?;
    let b = test_cases(after)?;
    let empty = BTreeMap::new();
    let alerts: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for alert in alerts {
        let (x, y) = (a.get(alert).unwrap_or(&empty), b.get(alert).unwrap_or(&empty));
        if x == y {
            continue;
        }
        let names: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        let mut parts = Vec::new();
        let mut file = String::new();
        for name in names {
            match (x.get(name), y.get(name)) {
                (None, Some((f, _))) => {
                    parts.push(format!("added \"{name}\""));
                    file = f.clone();
                }
                (Some((f, _)), None) => {
                    parts.push(format!("removed \"{name}\""));
                    file = f.clone();
                }
                (Some(p), Some(q)) if p != q => {
                    parts.push(format!("changed \"{name}\""));
                    file = q.0.clone();
                }
                _ => {}
            }
        }
        out.push(Change::new(
            Section::Alerts,
            "rule-tests",
            file,
            format!("tests of `{alert}`"),
            format!("{} → {} cases: {}", x.len(), y.len(), parts.join("; ")),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_called_loosened_or_tightened() {
        assert_eq!(
            threshold("rate(x[5m]) > 0.9", "rate(x[5m]) > 0.95").as_deref(),
            Some("threshold `> 0.9` → `> 0.95` (**loosened**: fires less often)")
        );
        assert_eq!(
            threshold("a / b < 0.10", "a / b < 0.2").as_deref(),
            Some("threshold `< 0.1` → `< 0.2` (**tightened**: fires more often)")
        );
        assert_eq!(threshold("a > 1", "b > 2"), None, "another expression is not a threshold change");
    }

    fn parsed(severity: &str, for_: &str, threshold: &str, summary: &str) -> Rule {
        let text = format!(
            "alert: A\nexpr: 'rate(x[5m]) > {threshold}'\nfor: {for_}\nlabels:\n  severity: {severity}\n  team: platform\nannotations:\n  summary: {summary}\n"
        );
        serde_saphyr::from_str(&text).unwrap()
    }

    #[test]
    fn every_changed_part_of_a_rule_is_named_once() {
        let key = RuleKey { file: "r.yml".into(), group: "g".into(), name: "A".into(), occurrence: 0 };
        let a = parsed("warning", "5m", "0.9", "Old");
        let b = parsed("critical", "10m", "0.8", "New");
        let messages: Vec<String> = rule(&key, Some(&a), Some(&b))
            .into_iter()
            .map(|c| format!("{}: {}", c.finding.place, c.finding.message))
            .collect();
        assert_eq!(
            messages,
            [
                "alert `A` in group g: threshold `> 0.9` → `> 0.8` (**tightened**: fires more often)",
                "alert `A` in group g: `for` 5m → 10m (**loosened**: waits longer before firing)",
                "alert `A` in group g: severity **raised**: warning → critical",
                "alert `A` in group g: annotation `summary`: \"Old\" → \"New\"",
            ]
        );
        assert!(rule(&key, Some(&a), Some(&a.clone())).is_empty(), "an unchanged rule reports nothing");
    }

    #[test]
    fn severities_and_durations_have_a_direction() {
        let (c, w) = ("critical".to_owned(), "warning".to_owned());
        assert_eq!(severity_change(Some(&c), Some(&w)), "severity **lowered**: critical → warning");
        assert_eq!(severity_change(Some(&w), Some(&c)), "severity **raised**: warning → critical");
        assert_eq!(
            duration_change("for", Some("5m"), Some("10m")),
            "`for` 5m → 10m (**loosened**: waits longer before firing)"
        );
    }
}
