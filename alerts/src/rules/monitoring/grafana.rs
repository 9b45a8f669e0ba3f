//! Grafana (job `grafana`).
//!
//! Grafana also evaluates the log alerts; when its rule evaluations fail,
//! those are blind.

use super::FailureCounter;
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::rules::{Target, target_down};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.7:3000";
const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::GRAFANA)];

const TARGET: Target = Target { job: job::GRAFANA, instance: INSTANCE, what: "Grafana", team: Team::Observability };

pub fn group() -> Group {
    Group::new("monitoring.grafana")
        .alert(target_down(
            "GrafanaDown",
            &TARGET,
            Severity::Warning,
            Duration::minutes(5),
            "dashboards are unavailable and the log alerts are not evaluated.",
        ))
        .alert(http_errors())
        .alert(
            FailureCounter {
                name: "GrafanaAlertRuleEvaluationFailures",
                severity: Severity::Warning,
                expr: r#"sum by (job, instance) (increase(grafana_alerting_rule_evaluation_failures_total{job="grafana"}[5m])) > 0"#.into(),
                pending: Some(Duration::minutes(15)),
                summary: "Grafana fails to evaluate its alert rules.",
                description: "Alert rules on {{ $labels.instance }} fail to evaluate (often Loki unreachable or a \
                              query error); the log-based alerts are blind.",
                series_name: "grafana_alerting_rule_evaluation_failures_total",
                series_labels: &[("instance", INSTANCE), ("job", job::GRAFANA), ("org", "1")],
                alert_labels: LABELS,
            }
            .build(),
        )
}

fn http_errors() -> Alert<Tested, Tested> {
    let requests = |status: &str| {
        series(
            "grafana_http_request_duration_seconds_count",
            &[
                ("handler", "/api/ds/query"),
                ("instance", INSTANCE),
                ("job", job::GRAFANA),
                ("method", "POST"),
                ("status_code", status),
            ],
        )
    };
    Alert::new("GrafanaHttpServerErrors", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (rate(grafana_http_request_duration_seconds_count{job="grafana",status_code=~"5.."}[5m]))
            /
            sum by (job, instance) (rate(grafana_http_request_duration_seconds_count{job="grafana"}[5m]))
            > 0.05
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Grafana answers more than 5% of requests with server errors.")
        .description(
            "{{ $value | humanizePercentage }} of the requests to {{ $labels.instance }} fail with 5xx; \
             dashboards show errors instead of data.",
        )
        .fires(
            fires("a tenth failing")
                .at(Duration::minutes(25))
                .series(requests("200"), "0+270x40")
                .series(requests("500"), "0+30x40")
                .alert_value(LABELS, 0.1),
        )
        .stays_quiet(quiet("all served").at(Duration::minutes(25)).series(requests("200"), "0+300x40"))
}
