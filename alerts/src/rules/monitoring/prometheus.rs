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
        .alert(not_ingesting())
        .alert(
            FailureCounter {
                name: "PrometheusServiceDiscoveryFailing",
                severity: Severity::Warning,
                expr: r#"sum by (job, instance) (increase(prometheus_sd_dns_lookup_failures_total{job="prometheus"}[10m])) > 0"#.into(),
                pending: Some(Duration::minutes(20)),
                summary: "Prometheus fails to look up its scrape targets in DNS.",
                description: "{{ $labels.instance }} has failed DNS service discovery (tasks.<service> names) for 20 minutes; \
                              targets it cannot resolve are kept at their last known addresses or dropped.",
                series_name: "prometheus_sd_dns_lookup_failures_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(
            FailureCounter {
                name: "PrometheusTargetSyncFailure",
                severity: Severity::Critical,
                expr: r#"sum by (job, instance, scrape_job) (increase(prometheus_target_sync_failed_total{job="prometheus"}[30m])) > 0"#.into(),
                pending: Some(Duration::minutes(5)),
                summary: "Prometheus cannot turn discovered targets into scrapes.",
                description: "Scrape job {{ $labels.scrape_job }} on {{ $labels.instance }} failed to sync its targets \
                              (an invalid relabelling result or scrape setting); those targets are not scraped.",
                series_name: "prometheus_target_sync_failed_total",
                series_labels: SYNC_LABELS,
                alert_labels: SYNC_LABELS,
            }
            .build(),
        )
        .alert(
            FailureCounter {
                name: "PrometheusDuplicateTimestamps",
                severity: Severity::Warning,
                expr: r#"sum by (job, instance) (increase(prometheus_target_scrapes_sample_duplicate_timestamp_total{job="prometheus"}[5m])) > 0"#.into(),
                pending: Some(Duration::minutes(10)),
                summary: "Prometheus drops scraped samples with duplicate timestamps.",
                description: "{{ $labels.instance }} drops samples because a target exposes the same series twice \
                              with different values; those series have gaps.",
                series_name: "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(
            FailureCounter {
                name: "PrometheusOutOfOrderTimestamps",
                severity: Severity::Warning,
                expr: r#"sum by (job, instance) (increase(prometheus_target_scrapes_sample_out_of_order_total{job="prometheus"}[5m])) > 0"#.into(),
                pending: Some(Duration::minutes(10)),
                summary: "Prometheus drops scraped samples that arrive out of order.",
                description: "{{ $labels.instance }} drops scraped samples older than the newest of their series \
                              (a target with explicit timestamps, or a clock jump); those series have gaps.",
                series_name: "prometheus_target_scrapes_sample_out_of_order_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(notification_queue_full())
        .alert(high_query_load())
}

const SYNC_LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::PROMETHEUS), ("scrape_job", "promtail")];

fn not_ingesting() -> Alert<Tested, Tested> {
    let appended = series(
        "prometheus_tsdb_head_samples_appended_total",
        &[("instance", INSTANCE), ("job", job::PROMETHEUS), ("type", "float")],
    );
    Alert::new("PrometheusNotIngestingSamples", Severity::Critical)
        .expr(
            r#"sum by (job, instance) (rate(prometheus_tsdb_head_samples_appended_total{job="prometheus"}[5m])) <= 0"#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("Prometheus stores no new samples.")
        .description(
            "{{ $labels.instance }} has appended no sample to its TSDB for 10 minutes: neither its scrapes nor \
             the collector's remote writes arrive, and every alert on them is blind.",
        )
        .fires(
            fires("appends stopped")
                .at(Duration::minutes(30))
                .series(appended.clone(), "0+1000x10 10000x30")
                .alert(LABELS),
        )
        .stays_quiet(quiet("1000 samples a minute").at(Duration::minutes(30)).series(appended, "0+1000x40"))
}

fn notification_queue_full() -> Alert<Tested, Tested> {
    let length = series("prometheus_notifications_queue_length", LABELS);
    let capacity = series("prometheus_notifications_queue_capacity", LABELS);
    Alert::new("PrometheusNotificationQueueRunningFull", Severity::Warning)
        .expr(
            r#"
            predict_linear(prometheus_notifications_queue_length{job="prometheus"}[5m], 60 * 30)
            >
            min_over_time(prometheus_notifications_queue_capacity{job="prometheus"}[5m])
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Prometheus' queue of alerts for Alertmanager will be full within 30 minutes.")
        .description(
            "The alert notification queue of {{ $labels.instance }} grows fast enough to be full within \
             30 minutes; then alerts are dropped before they reach Alertmanager.",
        )
        .fires(
            fires("queue grows by 500 a minute")
                .at(Duration::minutes(25))
                .series(length.clone(), "0+500x40")
                .series(capacity.clone(), "10000x40")
                .alert(LABELS),
        )
        .stays_quiet(
            quiet("queue drains").at(Duration::minutes(25)).series(length, "3x40").series(capacity, "10000x40"),
        )
}

fn high_query_load() -> Alert<Tested, Tested> {
    let queries = series("prometheus_engine_queries", LABELS);
    let max = series("prometheus_engine_queries_concurrent_max", LABELS);
    Alert::new("PrometheusHighQueryLoad", Severity::Warning)
        .expr(
            r#"
            avg_over_time(prometheus_engine_queries{job="prometheus"}[5m])
            /
            max_over_time(prometheus_engine_queries_concurrent_max{job="prometheus"}[5m])
            > 0.8
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Prometheus runs close to its limit of concurrent queries.")
        .description(
            "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of its concurrent query slots; \
             dashboards and rule evaluations queue and time out.",
        )
        .fires(
            fires("18 of 20 slots busy")
                .at(Duration::minutes(25))
                .series(queries.clone(), "18x40")
                .series(max.clone(), "20x40")
                .alert_value(LABELS, 0.9),
        )
        .stays_quiet(quiet("2 of 20 slots busy").at(Duration::minutes(25)).series(queries, "2x40").series(max, "20x40"))
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
