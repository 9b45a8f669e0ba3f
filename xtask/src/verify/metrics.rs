//! Every metric a dashboard panel, a dashboard variable or an alert rule
//! reads has at least one series in Prometheus, unless [`super::absent`]
//! lists it as absent until an event happens.
//!
//! Only metrics of sources the stack runs are expected: the metric catalog
//! (`stack/catalog/`) says which source exposes each; a recorded metric is
//! Prometheus' own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{ALERTMANAGER, COLLECTOR, Finding, Live, PROMETHEUS, RULE_METRICS, absent};
use crate::check::catalog::Catalog;
use crate::check::promql::{Dialect, names_read};
use crate::source::Source;

/// Catalog sources that are not a service of the stack: who produces them.
fn producer(source: &str) -> &str {
    match source {
        // `up`, `scrape_*`, `ALERTS`: made by Prometheus (or the collector's
        // prometheus receiver) itself.
        "synthetic" => PROMETHEUS.0,
        // The applications' OTLP metrics arrive through the collector.
        "otel-semconv" => COLLECTOR,
        // Catalog files written from source beside a captured one (what the
        // capture host could not show): the same exporter produces them.
        "node-exporter-hardware" => "node-exporter",
        "alertmanager-cluster" => ALERTMANAGER.0,
        "postgres-exporter-slots" | "postgres-exporter-postmaster" => "postgres-exporter",
        // The collector's job probing each platform database through the
        // exporter's /probe (otelcol.yml).
        "postgres-tables" => "postgres-exporter",
        other => other,
    }
}

/// The service of the stack that produces `name`, if one does: its
/// catalog source, or for a recorded metric Prometheus, when a metric the
/// recording rule reads is produced here.
fn produced_here(
    name: &str,
    catalog: &Catalog,
    inputs: &BTreeMap<&str, BTreeSet<String>>,
    services: &BTreeMap<String, crate::bundle::compose::Service>,
    depth: usize,
) -> Option<String> {
    let (info, _) = catalog.lookup_with_suffix(name)?;
    if info.recorded {
        // Recording rules build on each other; a few levels at most.
        let read = inputs.get(info.name.as_str())?;
        return (depth < 8 && read.iter().any(|n| produced_here(n, catalog, inputs, services, depth + 1).is_some()))
            .then(|| PROMETHEUS.0.to_owned());
    }
    info.sources.iter().map(|s| producer(s)).find(|s| services.contains_key(*s)).map(str::to_owned)
}

/// Where a metric is read: (file, place).
type Usage = (String, String);

pub async fn check(live: &Live<'_>, root: &Path, source: &Source) -> Vec<Finding> {
    let Some(url) = live.base_url(PROMETHEUS) else { return Vec::new() };
    let url = match url {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    let ctx = crate::generate::alerts_context(source);
    let jobs = crate::check::component_configs::collector_scrape_jobs(source).unwrap_or_default();
    let catalog = match Catalog::load(&root.join(crate::check::run::CATALOG_DIR), &source.definition, jobs) {
        Ok(c) => c.with_recorded(alerts::recorded_metric_names(&ctx)),
        Err(e) => return vec![Finding::new(RULE_METRICS, crate::check::run::CATALOG_DIR, "", format!("{e:#}"))],
    };
    let mut used: BTreeMap<String, Vec<Usage>> = BTreeMap::new();
    let mut note = |names: Result<BTreeSet<String>, String>, file: String, place: String| {
        // An expression that does not parse is `check`'s finding, not ours.
        for name in names.unwrap_or_default() {
            used.entry(name).or_default().push((file.clone(), place.clone()));
        }
    };
    for d in dashboards::all() {
        let file = format!("{}/{}.json", dashboards::GENERATED_DIR, d.uid());
        for q in d.queries().into_iter().filter(|q| q.datasource == dashboards::Datasource::Prometheus) {
            let place = format!("panel {} \"{}\" target {}", q.panel_id, q.panel_title, q.ref_id);
            note(names_read(&q.expr, Dialect::Grafana), file.clone(), place);
        }
        for v in d.variables() {
            if let dashboards::VariableKind::Query { datasource, query, .. } = v.kind()
                && datasource.type_id() == "prometheus"
            {
                note(names_read(query, Dialect::Grafana), file.clone(), format!("variable ${}", v.name()));
            }
        }
    }
    let rules = alerts::expressions(&ctx);
    // What each recording rule reads: its output exists only when they do.
    let mut inputs: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &rules {
        note(names_read(&r.expr, Dialect::Rule), r.file.clone(), format!("group {} rule {}", r.group, r.rule));
        if r.kind == alerts::ExprKind::Record {
            inputs.entry(&r.rule).or_default().extend(names_read(&r.expr, Dialect::Rule).unwrap_or_default());
        }
    }
    let services = &live.bundle.compose.services;
    let producer_of = |name: &str| produced_here(name, &catalog, &inputs, services, 0);
    let expected: BTreeMap<&String, (&Vec<Usage>, String)> = used
        .iter()
        .filter_map(|(name, usages)| Some((name, (usages, producer_of(name)?))))
        .filter(|(name, _)| absent::reason(name).is_none())
        .collect();
    if expected.is_empty() {
        return Vec::new();
    }
    let selector = expected.keys().map(|n| n.as_str()).collect::<Vec<_>>().join("|");
    let query = format!("group by (__name__) ({{__name__=~\"{selector}\"}})");
    let answer = match live.post_json(&format!("{url}/api/v1/query"), &[("query", &query)]).await {
        Ok(v) => v,
        Err(e) => {
            return vec![live.service_finding(RULE_METRICS, PROMETHEUS.0, format!("querying the metric names: {e:#}"))];
        }
    };
    let present: BTreeSet<&str> = answer["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metric"]["__name__"].as_str())
        .collect();
    let mut findings = Vec::new();
    for (name, (usages, from)) in expected {
        if present.contains(name.as_str()) {
            continue;
        }
        let (file, place) = &usages[0];
        let more = match usages.len() {
            1 => String::new(),
            n => format!(" (read in {} more place(s))", n - 1),
        };
        findings.push(
            Finding::new(
                RULE_METRICS,
                file,
                place,
                format!("metric `{name}` (from service {from}) has no series in Prometheus{more}"),
            )
            .with_hint(format!(
                "is {from} scraped and exposing it? A metric that exists only after an event belongs in {}",
                absent::FILE
            )),
        );
    }
    findings
}
