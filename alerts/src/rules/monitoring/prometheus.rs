//! Prometheus itself (job `prometheus`, scraping itself).
//!
//! There is no "Prometheus down" rule: a dead Prometheus evaluates nothing.
//! The Watchdog covers that.

use super::FailureCounter;
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.3:9090";
const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::PROMETHEUS)];
const RULE_GROUP: &str = "/etc/prometheus/rules/hosts.rules.yml;hosts.storage";
const GROUP_LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::PROMETHEUS), ("rule_group", RULE_GROUP)];

pub fn group() -> Group {
    Group::new("monitoring.prometheus")
        .alert(config_reload_failed())
        .alert(
            FailureCounter {
                name: "PrometheusRuleEvaluationFailures",
                severity: Severity::Critical,
                expr: r#"sum by (job, instance, rule_group) (increase(prometheus_rule_evaluation_failures_total{job="prometheus"}[5m])) > 0"#.into(),
                pending: Some(Duration::minutes(15)),
                summary: "Prometheus fails to evaluate rules.",
                description: "Rules of group {{ $labels.rule_group }} fail to evaluate on {{ $labels.instance }}; \
                              their alerts cannot fire.",
                series_name: "prometheus_rule_evaluation_failures_total",
                series_labels: GROUP_LABELS,
                alert_labels: GROUP_LABELS,
            }
            .build(),
        )
        .alert(
            FailureCounter {
                name: "PrometheusRuleGroupMissedEvaluations",
                severity: Severity::Warning,
                expr: r#"sum by (job, instance, rule_group) (increase(prometheus_rule_group_iterations_missed_total{job="prometheus"}[5m])) > 0"#.into(),
                pending: Some(Duration::minutes(15)),
                summary: "Prometheus skips rule group evaluations.",
                description: "Group {{ $labels.rule_group }} on {{ $labels.instance }} takes longer than its interval \
                              and misses evaluations; its alerts fire late.",
                series_name: "prometheus_rule_group_iterations_missed_total",
                series_labels: GROUP_LABELS,
                alert_labels: GROUP_LABELS,
            }
            .build(),
        )
        .alert(alertmanager_not_connected())
        .alert(notification_errors())
        .alert(
            FailureCounter {
                name: "PrometheusTsdbCompactionsFailing",
                severity: Severity::Warning,
                expr: r#"increase(prometheus_tsdb_compactions_failed_total{job="prometheus"}[3h]) > 0"#.into(),
                pending: None,
                summary: "Prometheus fails to compact its TSDB.",
                description: "{{ $labels.instance }} failed to compact its storage in the last 3 hours; \
                              disk use grows and queries slow down.",
                series_name: "prometheus_tsdb_compactions_failed_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(
            FailureCounter {
                name: "PrometheusTsdbReloadsFailing",
                severity: Severity::Warning,
                expr: r#"increase(prometheus_tsdb_reloads_failures_total{job="prometheus"}[3h]) > 0"#.into(),
                pending: None,
                summary: "Prometheus fails to reload TSDB blocks from disk.",
                description: "{{ $labels.instance }} failed to reload blocks in the last 3 hours; \
                              a block on disk may be corrupt.",
                series_name: "prometheus_tsdb_reloads_failures_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(remote_write_errors())
}

fn config_reload_failed() -> Alert<Tested, Tested> {
    let ok = series("prometheus_config_last_reload_successful", LABELS);
    Alert::new("PrometheusConfigReloadFailed", Severity::Critical)
        .expr(r#"max_over_time(prometheus_config_last_reload_successful{job="prometheus"}[5m]) == 0"#)
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("Prometheus could not load its latest configuration.")
        .description(
            "{{ $labels.instance }} rejected its configuration at the last reload and keeps running the old one; \
             the next restart will fail.",
        )
        .fires(fires("reload failed").at(Duration::minutes(25)).series(ok.clone(), "1x5 0x25").alert(LABELS))
        .stays_quiet(quiet("reload fixed").at(Duration::minutes(25)).series(ok, "1x5 0x5 1x20"))
}

fn alertmanager_not_connected() -> Alert<Tested, Tested> {
    let discovered = series("prometheus_notifications_alertmanagers_discovered", LABELS);
    Alert::new("PrometheusAlertmanagerNotConnected", Severity::Warning)
        .expr(r#"max_over_time(prometheus_notifications_alertmanagers_discovered{job="prometheus"}[5m]) < 1"#)
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("Prometheus has no Alertmanager to send alerts to.")
        .description(
            "{{ $labels.instance }} has discovered no Alertmanager: alerts are evaluated but not delivered \
             (check the Alertmanager service and its DNS name).",
        )
        .fires(fires("none discovered").at(Duration::minutes(20)).series(discovered.clone(), "0x30").alert(LABELS))
        .stays_quiet(quiet("one discovered").at(Duration::minutes(20)).series(discovered, "1x30"))
}

fn notification_errors() -> Alert<Tested, Tested> {
    let am = [("alertmanager", "http://10.0.2.4:9093/api/v2/alerts"), ("instance", INSTANCE), ("job", job::PROMETHEUS)];
    let errors = series("prometheus_notifications_errors_total", &am);
    let sent = series("prometheus_notifications_sent_total", &am);
    Alert::new("PrometheusAlertNotificationErrors", Severity::Critical)
        .expr(
            r#"
            sum by (job, instance) (rate(prometheus_notifications_errors_total{job="prometheus"}[5m]))
            /
            sum by (job, instance) (rate(prometheus_notifications_sent_total{job="prometheus"}[5m]))
            > 0.03
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Prometheus fails to send alerts to Alertmanager.")
        .description(
            "{{ $value | humanizePercentage }} of the alert notifications from {{ $labels.instance }} to \
             Alertmanager fail.",
        )
        .fires(
            fires("10% failing")
                .at(Duration::minutes(25))
                .series(errors.clone(), "0+6x40")
                .series(sent.clone(), "0+60x40")
                .alert_value(LABELS, 0.1),
        )
        .stays_quiet(quiet("all delivered").at(Duration::minutes(25)).series(errors, "0x40").series(sent, "0+60x40"))
}

fn remote_write_errors() -> Alert<Tested, Tested> {
    let requests = |code: &str| {
        series(
            "prometheus_http_requests_total",
            &[("code", code), ("handler", "/api/v1/write"), ("instance", INSTANCE), ("job", job::PROMETHEUS)],
        )
    };
    Alert::new("PrometheusRemoteWriteReceiveErrors", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (rate(prometheus_http_requests_total{job="prometheus",handler="/api/v1/write",code!~"2.."}[5m]))
            /
            sum by (job, instance) (rate(prometheus_http_requests_total{job="prometheus",handler="/api/v1/write"}[5m]))
            > 0.05
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Prometheus rejects remote-write requests from the OTel Collector.")
        .description(
            "{{ $value | humanizePercentage }} of the remote-write requests to {{ $labels.instance }} fail; \
             exporter and service metrics are being lost.",
        )
        .fires(
            fires("one in eleven rejected")
                .at(Duration::minutes(25))
                .series(requests("204"), "0+600x40")
                .series(requests("400"), "0+60x40")
                .alert_value(LABELS, 60.0 / 660.0),
        )
        .stays_quiet(quiet("all accepted").at(Duration::minutes(25)).series(requests("204"), "0+600x40"))
}
