//! Prometheus alerting and recording rules, their promtool unit tests, their
//! runbooks and the Grafana-managed log alerts, as typed Rust.
//!
//! The rules live in `src/rules/<subject>.rs`, each alert with its test cases
//! beside it; [`generated_files`] renders everything the repository commits
//! under `alerts/generated/`. See `alerts/README.md`.

mod builder;
mod duration;
pub mod grafana;
pub mod lint;
mod model;
pub mod names;
pub mod render;
mod rules;
pub mod runbooks;
pub mod slo;
mod template;
mod testing;
mod yaml;

use std::collections::BTreeMap;

use report::GeneratedFile;

pub use builder::{Alert, Tested, Untested, dedent, is_camel_case};
pub use duration::Duration;
pub use model::{AlertRule, Group, RecordingRule, Rule, RuleFile, Severity, Team};
pub use rules::targets::EXPECTED_REPLICAS;
pub use runbooks::Runbooks;
pub use testing::{ExpectedAlert, Firing, InputSeries, Quiet, TestCase, fires, quiet, series};

/// Where the links in generated annotations point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Prefix of runbook links; `<base>/<subject>.md#<alert>` must resolve.
    /// Typically the forge URL of `alerts/runbooks` on the default branch.
    pub runbook_base_url: String,
    /// Grafana's external URL, for `dashboard_url` (`<url>/d/<uid>`).
    pub grafana_url: String,
}

impl Default for Context {
    /// Repository-relative runbook links and a local Grafana: fine for tests
    /// and for reading in a checkout; deployments pass their real URLs.
    fn default() -> Self {
        Context { runbook_base_url: "alerts/runbooks".into(), grafana_url: "http://localhost:3000".into() }
    }
}

/// Whether an [`Expression`] is an alert's or a recording rule's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExprKind {
    Alert,
    Record,
}

/// A PromQL expression and where it comes from, for the xtask's parser and
/// metric catalog checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expression {
    /// Repo-relative path of the generated rule file.
    pub file: String,
    pub group: String,
    /// Alert name or recorded metric name.
    pub rule: String,
    pub kind: ExprKind,
    pub expr: String,
}

/// An alert's static labels and the generated file it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertLabels {
    /// Repo-relative path of the generated file the alert is in.
    pub file: String,
    pub alertname: String,
    /// Without `alertname`.
    pub labels: BTreeMap<String, String>,
}

/// All Prometheus rule files, links resolved, in a stable order.
pub fn rule_files(ctx: &Context) -> Vec<RuleFile> {
    rules::all().into_iter().map(|f| f.resolve_links(ctx)).collect()
}

/// Everything under `alerts/generated/`, sorted by path.
pub fn generated_files(ctx: &Context) -> Vec<GeneratedFile> {
    let mut out = Vec::new();
    for file in rule_files(ctx) {
        out.push(GeneratedFile { path: file.path(), contents: render::rule_file_yaml(&file) });
        out.push(GeneratedFile { path: file.test_path(), contents: render::test_file_yaml(&file) });
    }
    out.push(GeneratedFile { path: grafana::PROVISIONING_PATH.into(), contents: grafana::provisioning_yaml(ctx) });
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every PromQL expression of every rule (Grafana's LogQL is not PromQL:
/// see [`grafana::log_queries`]).
pub fn expressions(ctx: &Context) -> Vec<Expression> {
    let mut out = Vec::new();
    for file in rule_files(ctx) {
        for group in &file.groups {
            for rule in &group.rules {
                let (name, kind, expr) = match rule {
                    Rule::Alert(a) => (&a.name, ExprKind::Alert, &a.expr),
                    Rule::Record(r) => (&r.record, ExprKind::Record, &r.expr),
                };
                out.push(Expression {
                    file: file.path(),
                    group: group.name.clone(),
                    rule: name.clone(),
                    kind,
                    expr: expr.clone(),
                });
            }
        }
    }
    out
}

/// The static label set of every alert, Prometheus' and Grafana's, for
/// Alertmanager routing tests. Labels the expression adds at run time
/// (`instance`, `job`, ...) are not included; `alertname` is not repeated in
/// the map. Grafana alerts carry the `grafana_folder` label Grafana adds.
pub fn alert_label_sets(ctx: &Context) -> Vec<AlertLabels> {
    let mut out: Vec<AlertLabels> = rule_files(ctx)
        .iter()
        .flat_map(|f| {
            f.alerts()
                .map(|(_, a)| AlertLabels { file: f.path(), alertname: a.name.clone(), labels: a.labels() })
                .collect::<Vec<_>>()
        })
        .collect();
    out.extend(grafana::alert_label_sets(ctx));
    out
}

/// Metric names produced by recording rules, sorted and deduplicated.
pub fn recorded_metric_names(ctx: &Context) -> Vec<String> {
    let mut names: Vec<String> = rule_files(ctx)
        .iter()
        .flat_map(|f| f.groups.iter().flat_map(|g| g.recordings().map(|r| r.record.clone())).collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    names
}
