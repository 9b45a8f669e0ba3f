//! Log alert rules as data.

use std::collections::BTreeMap;

use crate::Context;
use crate::duration::Duration;
use crate::model::{Severity, Team};

/// How the reduced query value is compared with the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Above,
    Below,
}

impl Comparison {
    /// Grafana's threshold evaluator type.
    pub const fn evaluator(self) -> &'static str {
        match self {
            Comparison::Above => "gt",
            Comparison::Below => "lt",
        }
    }
}

/// Grafana's state when the query returns nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoDataState {
    /// No matching log lines is the healthy case for "count of bad lines".
    Ok,
    /// No log lines at all is the very thing some rules look for.
    Alerting,
}

impl NoDataState {
    pub const fn as_str(self) -> &'static str {
        match self {
            NoDataState::Ok => "OK",
            NoDataState::Alerting => "Alerting",
        }
    }
}

/// Grafana's state when the query fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecErrState {
    /// Raise Grafana's `DatasourceError` alert instead: a broken Loki is
    /// its own incident, not a burst of error logs.
    Error,
}

impl ExecErrState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecErrState::Error => "Error",
        }
    }
}

/// One Grafana-managed alert rule on a LogQL metric query.
#[derive(Clone, Debug, PartialEq)]
pub struct LogAlert {
    /// Grafana rule uid (at most 40 characters).
    pub uid: String,
    /// Rule title; Alertmanager sees it as `alertname`, so CamelCase too.
    pub title: String,
    /// A LogQL metric query, evaluated as an instant query.
    pub query: String,
    /// How far back the query looks (its range selector must fit inside).
    pub lookback: Duration,
    pub comparison: Comparison,
    pub threshold: f64,
    pub for_duration: Duration,
    pub severity: Severity,
    pub team: Team,
    pub summary: String,
    /// Grafana template: `{{ $labels.x }}`, `{{ humanize $values.B.Value }}`.
    pub description: String,
    pub runbook_url: Option<String>,
    pub dashboard_uid: String,
    pub dashboard_url: Option<String>,
    pub no_data: NoDataState,
    pub exec_err: ExecErrState,
}

impl LogAlert {
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("severity".to_string(), self.severity.as_str().to_string()),
            ("team".to_string(), self.team.as_str().to_string()),
        ])
    }

    /// The runbook file for all log alerts.
    pub const RUNBOOK_FILE: &'static str = "logs.md";
}

/// A Grafana rule group: rules evaluated together at one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct LogAlertGroup {
    pub name: String,
    pub interval: Duration,
    pub rules: Vec<LogAlert>,
}

impl LogAlertGroup {
    pub fn resolve_links(mut self, ctx: &Context) -> Self {
        for rule in &mut self.rules {
            rule.runbook_url.get_or_insert_with(|| ctx.runbook_url(LogAlert::RUNBOOK_FILE, &rule.title));
            rule.dashboard_url.get_or_insert_with(|| ctx.dashboard_url(&rule.dashboard_uid));
        }
        self
    }
}
