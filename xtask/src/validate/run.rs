//! `cargo xtask check`: every validation, one report. Each check adds
//! findings; nothing stops at the first problem, so one run names them all.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Finding;
use crate::bundle;
use crate::generate::{self, write};
use crate::source::Source;

/// Time spent per check, for `cargo xtask bench check`.
#[derive(Debug, Default)]
pub struct Timings {
    pub entries: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.entries.push((name, start.elapsed()));
        out
    }
}

/// Runs every check and returns the findings, sorted by file.
pub fn all(root: &Path, offline: bool, timings: &mut Timings) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let source = match timings.time("source", || Source::load(root)) {
        Ok(s) => s,
        Err(e) => {
            findings.push(Finding::new("source", crate::source::STACK_FILE, "", format!("{e:#}")));
            return Ok(findings);
        }
    };
    let files = timings.time("generate", || generate::all_files(&source))?;
    let drift = write::drift(root, &files, generate::OWNED_DIRS)?;
    findings.extend(drift.describe().into_iter().map(|d| {
        let (file, message) = d.split_once(": ").unwrap_or((&d, ""));
        Finding::new("gen", file, "", format!("{message}: run `cargo xtask gen`"))
    }));
    findings.extend(timings.time("bundle", || super::bundle_audit::check(&root.join(bundle::DIR), bundle::DIR)));
    findings.extend(timings.time("component configs", || super::component_configs::check(root)));
    findings.extend(timings.time("dashboard lint", || dashboard_lint(root)));
    findings.extend(timings.time("rule lint", || rule_lint(root, &source)));
    findings.extend(timings.time("promql + catalog", || promql(root, &source)));
    if !offline {
        let tag = |image: &str| source.definition.images.get(image).map(|i| i.tag.clone()).unwrap_or_default();
        // The two tools are independent: run them side by side.
        let (prometheus, alertmanager) = (tag("prometheus"), tag("alertmanager"));
        let (promtool, amtool) = std::thread::scope(|scope| {
            let promtool = scope.spawn(|| timed(|| super::promtool::check(root, &prometheus)));
            let amtool = scope.spawn(|| timed(|| super::amtool::check(root, &alertmanager)));
            (promtool.join(), amtool.join())
        });
        for (name, result) in [("promtool", promtool), ("amtool", amtool)] {
            match result {
                Ok((found, took)) => {
                    findings.extend(found);
                    timings.entries.push((name, took));
                }
                Err(_) => findings.push(Finding::new(name, "", "", "the check panicked")),
            }
        }
    }
    findings.sort();
    findings.dedup();
    Ok(findings)
}

pub fn run(root: &Path, offline: bool) -> Result<ExitCode> {
    let mut timings = Timings::default();
    let findings = all(root, offline, &mut timings)?;
    if findings.is_empty() {
        println!("check: no problems");
        return Ok(ExitCode::SUCCESS);
    }
    for f in &findings {
        eprintln!("{f}");
    }
    eprintln!("check: {} problem(s)", findings.len());
    Ok(ExitCode::FAILURE)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    (f(), start.elapsed())
}

const DATASOURCES: &str = "stack/configs/grafana/provisioning/datasources.yml";

/// The dashboards as generated, against the data sources Grafana provisions.
fn dashboard_lint(root: &Path) -> Vec<Finding> {
    let uids = match super::component_configs::provisioned_datasource_uids(root) {
        Ok(uids) => uids,
        Err(f) => return vec![f],
    };
    let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
    dashboards::lint::lint(&dashboards::all(), &uids)
        .into_iter()
        .map(|p| {
            Finding::new(
                "dashboard-lint",
                format!("{}/{}.json", dashboards::GENERATED_DIR, p.dashboard_uid),
                p.location,
                p.message,
            )
        })
        .chain(uids.is_empty().then(|| Finding::new("dashboard-lint", DATASOURCES, "", "no data source provisioned")))
        .collect()
}

/// Rule conventions, with the runbooks read from disk so an edited runbook
/// is checked without a rebuild.
fn rule_lint(root: &Path, source: &Source) -> Vec<Finding> {
    let dir = root.join("alerts/runbooks");
    let runbooks = match alerts::Runbooks::load(&dir) {
        Ok(r) => r,
        Err(e) => return vec![Finding::new("rule-lint", "alerts/runbooks", "", format!("reading runbooks: {e}"))],
    };
    let ctx = generate::alerts_context(source);
    let mut problems = alerts::lint::lint(&alerts::rule_files(&ctx), &runbooks);
    let log_alerts: Vec<_> = alerts::grafana::log_alert_groups(&ctx).into_iter().flat_map(|g| g.rules).collect();
    problems.extend(alerts::lint::lint_log_alerts(&log_alerts, &runbooks));
    problems
        .into_iter()
        .map(|p| Finding::new("rule-lint", p.file, format!("group {} rule {}", p.group, p.rule), p.message))
        .collect()
}

/// Every PromQL expression of dashboards and rules parsed, and every metric
/// it reads found in the catalog (or produced by a recording rule).
fn promql(root: &Path, source: &Source) -> Vec<Finding> {
    let ctx = generate::alerts_context(source);
    let catalog = match super::catalog::Catalog::load(&root.join("stack/catalog")) {
        Ok(c) => c.with_recorded(alerts::recorded_metric_names(&ctx)),
        Err(e) => return vec![Finding::new("promql", "stack/catalog", "", format!("{e:#}"))],
    };
    let dashboards = dashboards::all();
    let panel_queries: Vec<(String, String, String)> = dashboards
        .iter()
        .flat_map(|d| d.queries())
        .filter(|q| q.datasource == dashboards::Datasource::Prometheus)
        .map(|q| {
            (
                format!("{}/{}.json", dashboards::GENERATED_DIR, q.dashboard_uid),
                format!("panel {} \"{}\" target {}", q.panel_id, q.panel_title, q.ref_id),
                q.expr,
            )
        })
        .collect();
    // Variable queries (`label_values(metric, label)`) name metrics too.
    let variable_queries: Vec<(String, String, String)> = dashboards
        .iter()
        .flat_map(|d| {
            d.variables().iter().filter_map(move |v| match v.kind() {
                dashboards::VariableKind::Query { datasource, query, .. } if datasource.type_id() == "prometheus" => {
                    Some((
                        format!("{}/{}.json", dashboards::GENERATED_DIR, d.uid()),
                        format!("variable ${}", v.name()),
                        query.clone(),
                    ))
                }
                _ => None,
            })
        })
        .collect();
    let rules = alerts::expressions(&ctx);
    let mut exprs: Vec<super::promql::Expr> = panel_queries
        .iter()
        .chain(&variable_queries)
        .map(|(file, location, expr)| super::promql::Expr {
            file,
            location: location.clone(),
            dialect: super::promql::Dialect::Grafana,
            expr,
        })
        .collect();
    exprs.extend(rules.iter().map(|r| super::promql::Expr {
        file: &r.file,
        location: format!("group {} rule {}", r.group, r.rule),
        dialect: super::promql::Dialect::Rule,
        expr: &r.expr,
    }));
    super::promql::check(&exprs, &catalog)
}
