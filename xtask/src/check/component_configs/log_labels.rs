//! One log query for a service, whichever way its lines came. The labels
//! the log panels and log alerts select a service's lines by
//! ([`SERVICE_LOG_LABELS`]) must be stream labels on both paths:
//!
//! - **Promtail** (container logs): a relabel rule of its `docker` job writes
//!   the label (`target_label`);
//! - **OTLP** (through the collector): the collector's logs pipeline runs a
//!   `resource` processor that sets a resource attribute of that name, and
//!   Loki indexes that attribute (`limits_config.otlp_config.resource_attributes`,
//!   action `index_label`). Loki turns an attribute name into a label name
//!   with otlptranslator's LabelNamer (`.` becomes `_`,
//!   pkg/loghttp/push/otlp.go attributeToLabels, v3.7.6), so a name without
//!   dots is the label itself.

use std::collections::BTreeSet;

use serde_json::Value;

use super::CHECK;
use crate::check::Finding;

/// Labels a log query uses to find one service's lines.
pub const SERVICE_LOG_LABELS: [&str; 3] = ["service", "stack", "node"];

/// The three configs, as parsed YAML, with their repository paths.
pub struct Configs<'a> {
    pub promtail: (&'a str, &'a Value),
    pub collector: (&'a str, &'a Value),
    pub loki: (&'a str, &'a Value),
}

pub fn check(configs: &Configs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let promtail = promtail_labels(configs.promtail.1);
    let collector = collector_log_attributes(configs.collector.1);
    let loki = loki_index_attributes(configs.loki.1);
    for label in SERVICE_LOG_LABELS {
        if !promtail.contains(label) {
            out.push(finding(configs.promtail.0, format!("the `docker` job writes no `{label}` label")));
        }
        if !collector.contains(label) {
            out.push(finding(
                configs.collector.0,
                format!("no `resource` processor in a logs pipeline sets the attribute `{label}`"),
            ));
        }
        if !loki.contains(label) {
            out.push(finding(
                configs.loki.0,
                format!(
                    "limits_config.otlp_config does not index the resource attribute `{label}` (action index_label)"
                ),
            ));
        }
    }
    out
}

fn finding(file: &str, what: String) -> Finding {
    Finding::new(
        CHECK,
        file,
        "",
        format!(
            "{what}: log panels and log alerts select a service's lines by it, whether Promtail or OTLP carried them"
        ),
    )
}

fn list<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// `target_label`s of the relabel rules of Promtail's `docker` job.
fn promtail_labels(promtail: &Value) -> BTreeSet<String> {
    list(promtail, "scrape_configs")
        .filter(|job| job.get("job_name").and_then(Value::as_str) == Some("docker"))
        .flat_map(|job| list(job, "relabel_configs"))
        .filter_map(|rule| rule.get("target_label").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Resource attributes the `resource` processors of the collector's logs
/// pipelines set (insert, update or upsert).
fn collector_log_attributes(collector: &Value) -> BTreeSet<String> {
    let pipelines = collector.pointer("/service/pipelines").and_then(Value::as_object);
    let processors: BTreeSet<&str> = pipelines
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.as_str() == "logs" || name.starts_with("logs/"))
        .flat_map(|(_, p)| list(p, "processors"))
        .filter_map(Value::as_str)
        .filter(|id| id.split('/').next() == Some("resource"))
        .collect();
    processors
        .into_iter()
        .filter_map(|id| collector.get("processors").and_then(|p| p.get(id)))
        .flat_map(|p| list(p, "attributes"))
        .filter(|a| matches!(a.get("action").and_then(Value::as_str), Some("insert" | "update" | "upsert")))
        .filter_map(|a| a.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Resource attributes Loki indexes, by attribute name (not by regex).
fn loki_index_attributes(loki: &Value) -> BTreeSet<String> {
    let configs = loki.pointer("/limits_config/otlp_config/resource_attributes/attributes_config");
    configs
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("action").and_then(Value::as_str) == Some("index_label"))
        .flat_map(|c| list(c, "attributes"))
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn repo_file(rel: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML")
    }

    fn repo() -> (Value, Value, Value) {
        (
            repo_file("stack/configs/promtail/promtail.yml"),
            repo_file("stack/configs/otel-collector/otelcol.yml"),
            repo_file("stack/configs/loki/loki.yml"),
        )
    }

    fn run(promtail: &Value, collector: &Value, loki: &Value) -> Vec<Finding> {
        check(&Configs { promtail: ("p.yml", promtail), collector: ("c.yml", collector), loki: ("l.yml", loki) })
    }

    #[test]
    fn the_repository_maps_every_service_label_on_both_paths() {
        let (p, c, l) = repo();
        assert_eq!(run(&p, &c, &l), vec![]);
        // The mapping itself: semantic-convention attributes to the labels.
        let insert = |key: &str, from: &str| {
            list(&c["processors"]["resource/loki_labels"], "attributes")
                .any(|a| a["key"] == key && a["from_attribute"] == from && a["action"] == "insert")
        };
        assert!(insert("service", "service.name"));
        assert!(insert("stack", "service.namespace"));
        assert!(insert("node", "host.name"));
        let defaults_off = l.pointer("/limits_config/otlp_config/resource_attributes/ignore_defaults");
        assert_eq!(defaults_off, Some(&Value::Bool(true)), "Loki's default list indexes service.instance.id");
    }

    #[test]
    fn a_label_missing_on_one_path_is_named() {
        let (p, mut c, mut l) = repo();
        let attrs = c["processors"]["resource/loki_labels"]["attributes"].as_array_mut().unwrap();
        attrs.retain(|a| a["key"] != "node");
        let findings = run(&p, &c, &l);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].to_string().contains("`node`"), "{}", findings[0]);

        let (_, c, _) = repo();
        let index = l.pointer_mut("/limits_config/otlp_config/resource_attributes/attributes_config/0/attributes");
        index.unwrap().as_array_mut().unwrap().retain(|a| a != "stack");
        let findings = run(&p, &c, &l);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].to_string().contains("l.yml") && findings[0].to_string().contains("`stack`"));
    }

    /// The labels the log panels and log alerts select services by are the
    /// ones this check holds both paths to; `stream` (stdout/stderr) and the
    /// host-log job's `job`/`filename` exist on Promtail's path only, and the
    /// panels using them say so by what they show. So does `level`, which
    /// Promtail's pipeline parses from container lines (OTLP records carry
    /// their severity as structured metadata instead); the platform services
    /// whose panels select on it (Keycloak, Spark, the registry) log through
    /// Promtail.
    #[test]
    fn log_queries_select_services_by_these_labels() {
        let promtail_only = ["stream", "job", "filename", "level"];
        let mut exprs: Vec<String> = dashboards::all()
            .iter()
            .flat_map(|d| d.queries())
            .filter(|q| q.datasource == dashboards::Datasource::Loki)
            .map(|q| q.expr)
            .collect();
        let ctx = alerts::Context::default();
        exprs.extend(alerts::grafana::log_queries(&ctx).into_iter().map(|(_, query)| query));
        assert!(!exprs.is_empty());
        for expr in exprs {
            for label in selector_labels(&expr) {
                assert!(
                    SERVICE_LOG_LABELS.contains(&label.as_str()) || promtail_only.contains(&label.as_str()),
                    "`{label}` in {expr}"
                );
            }
        }
    }

    /// Label names matched in the stream selectors (`{a="x", b=~"y"}`);
    /// Grafana variables (`${level}`) are not selectors.
    fn selector_labels(expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = expr;
        while let Some(start) = rest.find('{') {
            let Some(end) = rest[start..].find('}') else { break };
            if rest[..start].ends_with('$') {
                rest = &rest[start + end + 1..];
                continue;
            }
            for matcher in rest[start + 1..start + end].split(',') {
                let name: String =
                    matcher.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
            rest = &rest[start + end + 1..];
        }
        out
    }
}
