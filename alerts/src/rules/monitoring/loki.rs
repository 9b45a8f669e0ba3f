//! Loki, single binary (job `loki`).

use super::FailureCounter;
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::rules::{Target, target_down};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.6:3100";
const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::LOKI)];

const TARGET: Target = Target { job: job::LOKI, instance: INSTANCE, what: "Loki", team: Team::Observability };

pub fn group() -> Group {
    Group::new("monitoring.loki")
        .alert(target_down(
            "LokiDown",
            &TARGET,
            Severity::Critical,
            Duration::minutes(5),
            "logs are neither stored nor searchable, and Promtail buffers until it drops them.",
        ))
        .alert(request_errors())
        .alert(
            FailureCounter {
                name: "LokiRequestPanics",
                severity: Severity::Critical,
                expr: r#"sum by (job, instance) (increase(loki_panic_total{job="loki"}[10m])) > 0"#.into(),
                pending: None,
                summary: "Loki panicked while serving requests.",
                description: "{{ $labels.instance }} recovered from panics in the last 10 minutes; \
                              the requests involved failed.",
                series_name: "loki_panic_total",
                series_labels: LABELS,
                alert_labels: LABELS,
            }
            .build(),
        )
        .alert(ingestion_latency())
        .alert(discarding_samples())
        .alert(compactor_not_running())
}

fn request_series(status: &str) -> String {
    series(
        "loki_request_duration_seconds_count",
        &[
            ("instance", INSTANCE),
            ("job", job::LOKI),
            ("method", "POST"),
            ("route", "loki_api_v1_push"),
            ("status_code", status),
        ],
    )
}

fn request_errors() -> Alert<Tested, Tested> {
    Alert::new("LokiRequestErrors", Severity::Critical)
        .expr(
            r#"
            sum by (job, instance, route) (rate(loki_request_duration_seconds_count{job="loki",status_code=~"5.."}[5m]))
            /
            sum by (job, instance, route) (rate(loki_request_duration_seconds_count{job="loki"}[5m]))
            > 0.10
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Loki answers more than 10% of requests with server errors.")
        .description(
            "{{ $value | humanizePercentage }} of the {{ $labels.route }} requests to {{ $labels.instance }} fail \
             with 5xx.",
        )
        .fires(
            fires("a fifth of pushes failing")
                .at(Duration::minutes(25))
                .series(request_series("204"), "0+240x40")
                .series(request_series("500"), "0+60x40")
                .alert_value(&[("instance", INSTANCE), ("job", job::LOKI), ("route", "loki_api_v1_push")], 0.2),
        )
        .stays_quiet(quiet("all pushes accepted").at(Duration::minutes(25)).series(request_series("204"), "0+300x40"))
}

fn ingestion_latency() -> Alert<Tested, Tested> {
    let bucket = |le: &str| {
        series(
            "loki_request_duration_seconds_bucket",
            &[
                ("instance", INSTANCE),
                ("job", job::LOKI),
                ("le", le),
                ("method", "POST"),
                ("route", "loki_api_v1_push"),
                ("status_code", "204"),
            ],
        )
    };
    Alert::new("LokiIngestionLatencyHigh", Severity::Warning)
        .expr(
            r#"
            histogram_quantile(0.99,
              sum by (job, instance, le) (rate(loki_request_duration_seconds_bucket{job="loki",route=~"loki_api_v1_push|/logproto.Pusher/Push"}[5m]))
            ) > 1
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Loki takes more than a second to accept 1% of log pushes.")
        .description(
            "The 99th percentile of push latency on {{ $labels.instance }} is {{ $value | humanizeDuration }}; \
             Promtail falls behind and may drop entries.",
        )
        .fires(
            fires("pushes take 1 to 2.5 seconds")
                .at(Duration::minutes(25))
                .series(bucket("0.5"), "0x40")
                .series(bucket("1"), "0x40")
                .series(bucket("2.5"), "0+100x40")
                .series(bucket("+Inf"), "0+100x40")
                .alert_value(LABELS, 2.485),
        )
        .stays_quiet(
            quiet("pushes under 500ms")
                .at(Duration::minutes(25))
                .series(bucket("0.5"), "0+100x40")
                .series(bucket("1"), "0+100x40")
                .series(bucket("2.5"), "0+100x40")
                .series(bucket("+Inf"), "0+100x40"),
        )
}

fn discarding_samples() -> Alert<Tested, Tested> {
    let discarded = series(
        "loki_discarded_samples_total",
        &[("instance", INSTANCE), ("job", job::LOKI), ("reason", "rate_limited"), ("tenant", "fake")],
    );
    Alert::new("LokiDiscardingSamples", Severity::Warning)
        .expr(r#"sum by (job, instance, reason) (rate(loki_discarded_samples_total{job="loki"}[5m])) > 0"#)
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Loki rejects incoming log lines.")
        .description(
            "{{ $labels.instance }} discards {{ $value | humanize }} log lines per second \
             (reason: {{ $labels.reason }}); those lines are lost.",
        )
        .fires(
            fires("one line a second rate-limited")
                .at(Duration::minutes(25))
                .series(discarded.clone(), "0+60x40")
                .alert_value(&[("instance", INSTANCE), ("job", job::LOKI), ("reason", "rate_limited")], 1.0),
        )
        .stays_quiet(quiet("nothing discarded").at(Duration::minutes(25)).series(discarded, "0x40"))
}

fn compactor_not_running() -> Alert<Tested, Tested> {
    // The metric keeps its boltdb-shipper name with the tsdb store too.
    let last = series("loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds", LABELS);
    Alert::new("LokiCompactorNotRunning", Severity::Warning)
        .expr(
            r#"
            time() - max by (job, instance) (loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds{job="loki"} > 0)
            > 3 * 3600
            "#,
        )
        .for_duration(Duration::hours(1))
        .team(Team::Observability)
        .summary("Loki's compactor has not completed a run for more than 3 hours.")
        .description(
            "The last successful compaction on {{ $labels.instance }} was {{ $value | humanizeDuration }} ago; \
             retention is not applied and the index grows.",
        )
        .fires(
            fires("last run at second 1000")
                .at(Duration::hours(5))
                .series(last.clone(), "1000x300")
                .alert_value(LABELS, 17_000.0),
        )
        .stays_quiet(quiet("runs every minute").at(Duration::hours(5)).series(last, "0+60x300"))
}
