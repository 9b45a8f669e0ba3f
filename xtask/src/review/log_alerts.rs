//! Grafana-managed log alerts (`alerts/generated/grafana/*.yml`, Grafana's
//! alerting file provisioning): rules added and removed, by uid; title,
//! LogQL queries (diffs), threshold (with its direction), `for`, severity,
//! labels and annotations changed; any other setting by its path. Their
//! label sets go to routing like the Prometheus rules'.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde_json::Value;

use super::alerts::{AlertLabels, RuleKey, duration_change, group_files, label_changes};
use super::revision::Tree;
use super::{Change, Section, text_diff};

const DIR: &str = "alerts/generated/grafana";

/// A log alert, split into the parts compared one by one.
#[derive(Debug, Clone, PartialEq)]
struct LogAlert {
    title: String,
    for_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// refId → LogQL.
    queries: BTreeMap<String, String>,
    /// refId → (comparison, threshold).
    thresholds: BTreeMap<String, (String, Vec<f64>)>,
    rest: Value,
}

pub struct Compared {
    pub changes: Vec<Change>,
    pub before: BTreeMap<RuleKey, AlertLabels>,
    pub after: BTreeMap<RuleKey, AlertLabels>,
}

pub fn compare(before: &Tree, after: &Tree) -> Result<Compared> {
    let (a, b) = (alerts(before)?, alerts(after)?);
    let keys: BTreeSet<&RuleKey> = a.keys().chain(b.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        changes.extend(alert(key, a.get(key), b.get(key)));
    }
    let labels = |m: &BTreeMap<RuleKey, LogAlert>| {
        m.iter()
            .map(|(k, v)| (k.clone(), AlertLabels { alertname: v.title.clone(), labels: v.labels.clone() }))
            .collect()
    };
    Ok(Compared { changes, before: labels(&a), after: labels(&b) })
}

fn strings(value: Option<Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(map)) => map.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))).collect(),
        _ => BTreeMap::new(),
    }
}

/// Keyed by uid (the rule's identity in Grafana); `name` is the uid too, so
/// a retitled alert is one change.
fn alerts(tree: &Tree) -> Result<BTreeMap<RuleKey, LogAlert>> {
    let mut out = BTreeMap::new();
    for (file, parsed) in group_files::<Value>(tree, DIR)? {
        for group in parsed.groups {
            for mut rule in group.rules {
                let Some(object) = rule.as_object_mut() else { continue };
                let uid = object.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned();
                let title = object.remove("title").and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default();
                let for_ = object.remove("for").and_then(|t| t.as_str().map(str::to_owned));
                let labels = strings(object.remove("labels"));
                let annotations = strings(object.remove("annotations"));
                let mut queries = BTreeMap::new();
                let mut thresholds = BTreeMap::new();
                for query in object.get_mut("data").and_then(Value::as_array_mut).into_iter().flatten() {
                    let ref_id = query.get("refId").and_then(Value::as_str).unwrap_or_default().to_owned();
                    let Some(model) = query.get_mut("model").and_then(Value::as_object_mut) else { continue };
                    if let Some(expr) = model.remove("expr").and_then(|e| e.as_str().map(str::to_owned)) {
                        queries.insert(ref_id.clone(), expr);
                    }
                    if model.get("type").and_then(Value::as_str) == Some("threshold") {
                        let conditions = model.remove("conditions").unwrap_or_default();
                        let evaluator = conditions.pointer("/0/evaluator").cloned().unwrap_or_default();
                        let op = evaluator.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let params = evaluator
                            .get("params")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_f64)
                            .collect();
                        thresholds.insert(ref_id, (op, params));
                    }
                }
                let key = RuleKey { file: file.clone(), group: group.name.clone(), name: uid, occurrence: 0 };
                out.insert(key, LogAlert { title, for_, labels, annotations, queries, thresholds, rest: rule });
            }
        }
    }
    Ok(out)
}

fn alert(key: &RuleKey, a: Option<&LogAlert>, b: Option<&LogAlert>) -> Vec<Change> {
    let change = |alert: &LogAlert, rule: &'static str, message: String| {
        let place = format!("log alert `{}` in group {}", alert.title, key.group);
        Change::new(Section::Alerts, rule, key.file.clone(), place, message)
    };
    let (a, b) = match (a, b) {
        (None, Some(b)) => {
            let severity = b.labels.get("severity").map(|s| format!(" (severity {s})")).unwrap_or_default();
            return vec![change(b, "rule-added", format!("added{severity}"))];
        }
        (Some(a), None) => return vec![change(a, "rule-removed", "removed".into())],
        (Some(a), Some(b)) if a != b => (a, b),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    if a.title != b.title {
        out.push(change(b, "rule-retitled", format!("retitled from `{}`", a.title)));
    }
    let refs: BTreeSet<&String> = a.queries.keys().chain(b.queries.keys()).collect();
    for r in refs {
        let (x, y) = (a.queries.get(r), b.queries.get(r));
        if x != y {
            let (x, y) = (x.cloned().unwrap_or_default(), y.cloned().unwrap_or_default());
            out.push(
                change(b, "rule-expr", format!("query {r} (LogQL) changed"))
                    .with_diff(Some(text_diff::unified(&x, &y))),
            );
        }
    }
    let refs: BTreeSet<&String> = a.thresholds.keys().chain(b.thresholds.keys()).collect();
    for r in refs {
        let (x, y) = (a.thresholds.get(r), b.thresholds.get(r));
        if x != y {
            out.push(change(b, "rule-expr", threshold(x, y)));
        }
    }
    if a.for_ != b.for_ {
        out.push(change(b, "rule-for", duration_change("for", a.for_.as_deref(), b.for_.as_deref())));
    }
    for (rule, message) in label_changes((&a.labels, &a.annotations), (&b.labels, &b.annotations)) {
        out.push(change(b, rule, message));
    }
    let mut paths = Vec::new();
    differing(String::new(), &a.rest, &b.rest, &mut paths);
    for path in paths {
        out.push(change(b, "rule-setting", format!("`{path}` changed")));
    }
    out
}

/// Grafana's threshold expression (`gt`/`lt` against one number), with the
/// direction in which it moves the alert.
fn threshold(a: Option<&(String, Vec<f64>)>, b: Option<&(String, Vec<f64>)>) -> String {
    let show = |t: Option<&(String, Vec<f64>)>| match t {
        Some((op, params)) => {
            format!("{op} {}", params.iter().map(f64::to_string).collect::<Vec<_>>().join(" "))
        }
        None => "(none)".into(),
    };
    let direction = match (a, b) {
        (Some((x_op, x)), Some((y_op, y))) if x_op == y_op && x.len() == 1 && y.len() == 1 => {
            match (x_op.as_str(), y[0] > x[0]) {
                ("gt", true) | ("lt", false) => " (**loosened**: fires less often)",
                ("gt", false) | ("lt", true) => " (**tightened**: fires more often)",
                _ => "",
            }
        }
        _ => "",
    };
    format!("threshold `{}` → `{}`{direction}", show(a), show(b))
}

fn differing(path: String, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                differing(p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differing(format!("{path}[{i}]"), p, q, out);
            }
        }
        (x, y) if x != y => out.push(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_thresholds_have_a_direction() {
        let t = |op: &str, v: f64| (op.to_owned(), vec![v]);
        assert_eq!(
            threshold(Some(&t("lt", 1.0)), Some(&t("lt", 5.0))),
            "threshold `lt 1` → `lt 5` (**tightened**: fires more often)"
        );
        assert_eq!(
            threshold(Some(&t("gt", 10.0)), Some(&t("gt", 20.0))),
            "threshold `gt 10` → `gt 20` (**loosened**: fires less often)"
        );
    }
}
