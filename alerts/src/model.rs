//! The plain data a rule file is made of.
//!
//! Everything here is public and inspectable so the lint, the renderers and
//! the xtask can read it. Building rules goes through [`crate::Alert`], which
//! adds the compile-time guarantees; this layer only holds what was built.

use std::collections::BTreeMap;

use crate::Context;
use crate::duration::Duration;
use crate::runbooks::anchor;
use crate::testing::TestCase;

/// The only severities the mixin guidelines (and our Alertmanager routes)
/// know. `none` is deliberately absent: the Watchdog is `info`, routed by its
/// `alertname`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Wakes someone up: user-facing impact now or imminent.
    Critical,
    /// Needs attention within working hours.
    Warning,
    /// For context and dashboards; never pages.
    Info,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Who owns an alert; Alertmanager routes on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Team {
    /// Hosts, containers, the Swarm, NGINX.
    Platform,
    /// PostgreSQL.
    Database,
    /// The ETL application services (frontend, backend, Spark).
    Etl,
    /// The monitoring stack itself.
    Observability,
}

impl Team {
    pub const fn as_str(self) -> &'static str {
        match self {
            Team::Platform => "platform",
            Team::Database => "database",
            Team::Etl => "etl",
            Team::Observability => "observability",
        }
    }
}

/// An alerting rule with its metadata and its promtool test cases.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    pub for_duration: Option<Duration>,
    pub keep_firing_for: Option<Duration>,
    pub severity: Option<Severity>,
    pub team: Option<Team>,
    /// Labels beyond `severity` and `team`.
    pub extra_labels: BTreeMap<String, String>,
    pub summary: String,
    pub description: String,
    /// Filled in from the [`Context`] when the rule file is assembled.
    pub runbook_url: Option<String>,
    pub dashboard_uid: Option<String>,
    /// Filled in from the [`Context`] and `dashboard_uid`.
    pub dashboard_url: Option<String>,
    pub tests: Vec<TestCase>,
    /// An alert that must always fire (the Watchdog); it has no quiet case.
    pub always_firing: bool,
}

impl AlertRule {
    /// The labels written into the rule: `severity`, `team`, then the rest.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.extra_labels.clone();
        if let Some(s) = self.severity {
            labels.insert("severity".into(), s.as_str().into());
        }
        if let Some(t) = self.team {
            labels.insert("team".into(), t.as_str().into());
        }
        labels
    }

    /// The annotations in the order they are written.
    pub fn annotations(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("summary", self.summary.clone()), ("description", self.description.clone())];
        if let Some(url) = &self.runbook_url {
            out.push(("runbook_url", url.clone()));
        }
        if let Some(url) = &self.dashboard_url {
            out.push(("dashboard_url", url.clone()));
        }
        out.retain(|(_, v)| !v.is_empty());
        out
    }
}

/// A recording rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingRule {
    pub record: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

impl RecordingRule {
    pub fn new(record: impl Into<String>, expr: impl Into<String>) -> Self {
        RecordingRule { record: record.into(), expr: crate::builder::dedent(&expr.into()), labels: BTreeMap::new() }
    }

    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Alert(AlertRule),
    Record(RecordingRule),
}

/// A rule group: rules evaluated together, in order, at one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    /// `None` uses Prometheus' global `evaluation_interval`.
    pub interval: Option<Duration>,
    pub rules: Vec<Rule>,
}

impl Group {
    pub fn new(name: impl Into<String>) -> Self {
        Group { name: name.into(), interval: None, rules: Vec::new() }
    }

    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Only fully tested alerts are accepted here: a firing and a quiet case.
    pub fn alert(mut self, alert: crate::Alert<crate::Tested, crate::Tested>) -> Self {
        self.rules.push(Rule::Alert(alert.into_rule()));
        self
    }

    pub fn record(mut self, rule: RecordingRule) -> Self {
        self.rules.push(Rule::Record(rule));
        self
    }

    pub fn alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Alert(a) => Some(a),
            Rule::Record(_) => None,
        })
    }

    pub fn recordings(&self) -> impl Iterator<Item = &RecordingRule> {
        self.rules.iter().filter_map(|r| match r {
            Rule::Record(r) => Some(r),
            Rule::Alert(_) => None,
        })
    }
}

/// One Prometheus rule file, about one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFile {
    pub subject: String,
    /// Dashboard linked from alerts that do not name their own.
    pub default_dashboard: Option<String>,
    pub groups: Vec<Group>,
}

impl RuleFile {
    pub fn new(subject: &str) -> Self {
        RuleFile { subject: subject.into(), default_dashboard: None, groups: Vec::new() }
    }

    pub fn dashboard(mut self, uid: &str) -> Self {
        self.default_dashboard = Some(uid.into());
        self
    }

    pub fn group(mut self, group: Group) -> Self {
        self.groups.push(group);
        self
    }

    /// Repo-relative path of the generated rule file.
    pub fn path(&self) -> String {
        format!("alerts/generated/rules/{}.rules.yml", self.subject)
    }

    /// Repo-relative path of the generated promtool test file.
    pub fn test_path(&self) -> String {
        format!("alerts/generated/tests/{}.test.yml", self.subject)
    }

    /// The runbook file name, relative to `alerts/runbooks/`.
    pub fn runbook_file(&self) -> String {
        format!("{}.md", self.subject)
    }

    pub fn alerts(&self) -> impl Iterator<Item = (&Group, &AlertRule)> {
        self.groups.iter().flat_map(|g| g.alerts().map(move |a| (g, a)))
    }

    /// Fills in the links that depend on where runbooks and Grafana live.
    /// Links already set are kept, so a rule can point elsewhere on purpose.
    pub fn resolve_links(mut self, ctx: &Context) -> Self {
        let runbook_file = self.runbook_file();
        for group in &mut self.groups {
            for rule in &mut group.rules {
                let Rule::Alert(alert) = rule else { continue };
                if alert.runbook_url.is_none() {
                    alert.runbook_url = Some(ctx.runbook_url(&runbook_file, &alert.name));
                }
                if alert.dashboard_uid.is_none() {
                    alert.dashboard_uid = self.default_dashboard.clone();
                }
                if alert.dashboard_url.is_none() {
                    alert.dashboard_url = alert.dashboard_uid.as_deref().map(|uid| ctx.dashboard_url(uid));
                }
            }
        }
        self
    }
}

impl Context {
    /// `<base>/<file>#<anchor>`; the anchor is what Markdown renderers derive
    /// from a `## AlertName` heading.
    pub fn runbook_url(&self, file: &str, alert: &str) -> String {
        format!("{}/{}#{}", self.runbook_base_url.trim_end_matches('/'), file, anchor(alert))
    }

    pub fn dashboard_url(&self, uid: &str) -> String {
        format!("{}/d/{}", self.grafana_url.trim_end_matches('/'), uid)
    }
}
