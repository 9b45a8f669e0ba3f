//! `cargo xtask check`: every validation, one report. Each check adds
//! findings; nothing stops at the first problem, so one run names them all.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Finding;
use super::cache::Cache;
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

/// What runs besides the in-process checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// No external validators at all.
    pub offline: bool,
    /// Also the validators inside the Loki, Promtail and collector images,
    /// pulling those the engine lacks (without it, only images present run).
    pub with_images: bool,
}

/// Runs every check and returns the findings, sorted by file. promtool's
/// and amtool's verdicts come from `cache` when their inputs are unchanged.
pub fn all(root: &Path, offline: bool, cache: &Cache, timings: &mut Timings) -> Result<Vec<Finding>> {
    all_with(root, Options { offline, with_images: false }, cache, timings)
}

/// [`all`] with every option.
pub fn all_with(root: &Path, options: Options, cache: &Cache, timings: &mut Timings) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let source = match timings.time("source", || Source::load(root)) {
        Ok(s) => s,
        Err(e) => {
            findings.push(Finding::new(crate::source::RULE, crate::source::DEFINITION_FILE, "", format!("{e:#}")));
            return Ok(findings);
        }
    };
    let files = timings.time("generate", || generate::all_files(&source))?;
    let drift = write::drift(root, &files, generate::OWNED_DIRS)?;
    findings.extend(drift.findings());
    findings.extend(timings.time("bundle", || super::bundle_audit::check(root, bundle::DIR)));
    findings.extend(timings.time("hardening", || super::hardening::check(&source.definition)));
    findings.extend(timings.time("image inputs", || super::image_inputs::check(&source)));
    findings.extend(timings.time("component configs", || super::component_configs::check(&source)));
    findings.extend(timings.time("dashboard lint", || dashboard_lint(&source)));
    findings.extend(timings.time("rule lint", || rule_lint(root, &source)));
    findings.extend(timings.time("promql + catalog", || match promql_key(root, &source) {
        Some(key) => cache.findings("promql", key, || Ok(promql(root, &source))),
        None => promql(root, &source),
    }));
    if !options.offline {
        let alerts = alerts::alert_label_sets(&generate::alerts_context(&source));
        // The tools are independent: run them side by side.
        let (promtool, amtool, images) = std::thread::scope(|scope| {
            let promtool = scope.spawn(|| timed(|| super::promtool::check(&source, cache)));
            let amtool = scope.spawn(|| timed(|| super::amtool::check(&source, &alerts, cache)));
            let images = scope.spawn(|| timed(|| super::image_validators::check(&source, options.with_images, cache)));
            (promtool.join(), amtool.join(), images.join())
        });
        findings.extend(timings.time("haproxy", || super::haproxy::check(&source)));
        for (name, result) in [("promtool", promtool), ("amtool", amtool), ("image validators", images)] {
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

/// `cargo xtask check [--offline] [--with-images] [--no-cache]`.
pub fn run(root: &Path, options: Options, no_cache: bool) -> Result<ExitCode> {
    let mut timings = Timings::default();
    let cache = if no_cache { Cache::disabled() } else { Cache::at(root) };
    let findings = all_with(root, options, &cache, &mut timings)?;
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

/// The dashboards as generated, against the data sources Grafana provisions.
fn dashboard_lint(source: &Source) -> Vec<Finding> {
    let uids = match super::component_configs::provisioned_datasource_uids(source) {
        Ok(uids) => uids,
        Err(f) => return vec![f],
    };
    let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
    let mut findings = dashboards::lint::lint(&dashboards::all(), &uids);
    if uids.is_empty() {
        let file = source.definition.configs.get(super::config_keys::GRAFANA_DATASOURCES);
        findings.push(Finding::new(
            dashboards::lint::RULE,
            file.map_or(crate::source::DEFINITION_FILE, String::as_str),
            "",
            "no data source provisioned",
        ));
    }
    findings
}

/// Rule conventions, with the runbooks read from disk so an edited runbook
/// is checked without a rebuild.
fn rule_lint(root: &Path, source: &Source) -> Vec<Finding> {
    let dir = root.join("alerts/runbooks");
    let runbooks = match alerts::Runbooks::load(&dir) {
        Ok(r) => r,
        Err(e) => {
            return vec![Finding::new(alerts::lint::RULE, "alerts/runbooks", "", format!("reading runbooks: {e}"))];
        }
    };
    let ctx = generate::alerts_context(source);
    let mut findings = alerts::lint::lint(&alerts::rule_files(&ctx), &runbooks);
    let log_alerts: Vec<_> = alerts::grafana::log_alert_groups(&ctx).into_iter().flat_map(|g| g.rules).collect();
    findings.extend(alerts::lint::lint_log_alerts(&log_alerts, &runbooks));
    findings
}

/// The metric catalog, one file per metric source.
pub const CATALOG_DIR: &str = "stack/catalog";

/// What the in-process PromQL and catalog check reads: the dashboards and
/// rules are compiled into this executable (so its identity: path, size
/// and modification time, which every rebuild changes), stack.toml, every
/// config it names (the collector's scrape jobs decide which catalog
/// sources are ingested) and every catalog file. `None` (never cached)
/// when the executable cannot be identified.
fn promql_key(root: &Path, source: &Source) -> Option<super::cache::Key> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let configs: Vec<String> = source.definition.configs.values().cloned().collect();
    let mut catalogs: Vec<String> = std::fs::read_dir(root.join(CATALOG_DIR))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .map(|name| format!("{CATALOG_DIR}/{name}"))
        .collect();
    catalogs.sort();
    let identity = format!("{} {} {modified}", exe.display(), meta.len());
    Some(
        super::cache::Key::new("xtask promql", &identity)
            .file(root, crate::source::DEFINITION_FILE)
            .files(root, &configs)
            .text("catalog files", &catalogs.join(","))
            .files(root, &catalogs),
    )
}

/// The catalog's versions against the pins, and every PromQL expression of dashboards and rules parsed, and every metric
/// it reads found in the catalog (or produced by a recording rule).
fn promql(root: &Path, source: &Source) -> Vec<Finding> {
    let ctx = generate::alerts_context(source);
    let collector_jobs = match super::component_configs::collector_scrape_jobs(source) {
        Ok(jobs) => jobs,
        Err(finding) => return vec![finding],
    };
    let catalog = match super::catalog::Catalog::load(&root.join(CATALOG_DIR), &source.definition, collector_jobs) {
        Ok(c) => c.with_recorded(alerts::recorded_metric_names(&ctx)),
        Err(e) => return vec![Finding::new("promql", CATALOG_DIR, "", format!("{e:#}"))],
    };
    let mut findings = super::catalog::version_findings(&catalog, CATALOG_DIR, &source.definition.images);
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
    findings.extend(super::promql::check(&exprs, &catalog));
    findings
}
