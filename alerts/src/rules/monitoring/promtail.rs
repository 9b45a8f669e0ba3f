//! Promtail, one per node (job `promtail`).

use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::rules::{Target, target_absent, target_down};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.5:9080";
const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::PROMTAIL)];

const TARGET: Target = Target { job: job::PROMTAIL, instance: INSTANCE, what: "Promtail", team: Team::Observability };

pub fn group() -> Group {
    Group::new("monitoring.promtail")
        .alert(target_down(
            "PromtailDown",
            &TARGET,
            Severity::Warning,
            Duration::minutes(5),
            "logs of that node are not shipped (Docker keeps them until they rotate).",
        ))
        .alert(target_absent(
            "PromtailAbsent",
            &TARGET,
            Severity::Warning,
            Duration::minutes(15),
            "no node ships its logs to Loki.",
        ))
        .alert(request_errors())
        .alert(dropping_entries())
        .alert(request_latency())
}

fn request_latency() -> Alert<Tested, Tested> {
    let bucket = |le: &str| {
        series(
            "promtail_request_duration_seconds_bucket",
            &[
                ("host", "loki:3100"),
                ("instance", INSTANCE),
                ("job", job::PROMTAIL),
                ("le", le),
                ("status_code", "204"),
            ],
        )
    };
    Alert::new("PromtailRequestLatencyHigh", Severity::Warning)
        .expr(
            r#"
            histogram_quantile(0.99,
              sum by (job, instance, host, le) (rate(promtail_request_duration_seconds_bucket{job="promtail"}[5m]))
            ) > 1
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Promtail takes more than a second for 1% of its pushes to Loki.")
        .description(
            "The 99th percentile of push latency from {{ $labels.instance }} to {{ $labels.host }} is \
             {{ $value | humanizeDuration }}; Promtail falls behind reading logs and may drop batches.",
        )
        // 60 pushes a minute, all between 1 and 2.5 seconds.
        .fires(
            fires("pushes take 1 to 2.5 seconds")
                .at(Duration::minutes(25))
                .series(bucket("0.5"), "0x40")
                .series(bucket("1"), "0x40")
                .series(bucket("2.5"), "0+60x40")
                .series(bucket("+Inf"), "0+60x40")
                .alert_value(&[("host", "loki:3100"), ("instance", INSTANCE), ("job", job::PROMTAIL)], 2.485),
        )
        .stays_quiet(
            quiet("pushes under 500ms")
                .at(Duration::minutes(25))
                .series(bucket("0.5"), "0+60x40")
                .series(bucket("1"), "0+60x40")
                .series(bucket("2.5"), "0+60x40")
                .series(bucket("+Inf"), "0+60x40"),
        )
}

fn request_errors() -> Alert<Tested, Tested> {
    let requests = |status: &str| {
        series(
            "promtail_request_duration_seconds_count",
            &[("host", "loki:3100"), ("instance", INSTANCE), ("job", job::PROMTAIL), ("status_code", status)],
        )
    };
    Alert::new("PromtailRequestErrors", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance, host) (rate(promtail_request_duration_seconds_count{job="promtail",status_code=~"5..|failed"}[5m]))
            /
            sum by (job, instance, host) (rate(promtail_request_duration_seconds_count{job="promtail"}[5m]))
            > 0.10
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("Promtail fails more than 10% of its pushes to Loki.")
        .description(
            "{{ $value | humanizePercentage }} of the pushes from {{ $labels.instance }} to {{ $labels.host }} fail; \
             it retries, then drops batches.",
        )
        .fires(
            fires("a quarter failing")
                .at(Duration::minutes(25))
                .series(requests("204"), "0+90x40")
                .series(requests("500"), "0+30x40")
                .alert_value(&[("host", "loki:3100"), ("instance", INSTANCE), ("job", job::PROMTAIL)], 0.25),
        )
        .stays_quiet(quiet("all accepted").at(Duration::minutes(25)).series(requests("204"), "0+120x40"))
}

fn dropping_entries() -> Alert<Tested, Tested> {
    let dropped = series(
        "promtail_dropped_entries_total",
        &[("host", "loki:3100"), ("instance", INSTANCE), ("job", job::PROMTAIL), ("reason", "ingester_error")],
    );
    Alert::new("PromtailDroppingEntries", Severity::Warning)
        .expr(r#"sum by (job, instance) (increase(promtail_dropped_entries_total{job="promtail"}[10m])) > 0"#)
        .team(Team::Observability)
        .summary("Promtail dropped log entries it could not deliver.")
        .description(
            "{{ $labels.instance }} dropped {{ $value | humanize }} log entries in the last 10 minutes after \
             exhausting its retries; they are lost.",
        )
        .fires(
            fires("five entries a minute")
                .at(Duration::minutes(20))
                .series(dropped.clone(), "0+5x30")
                .alert_value(LABELS, 50.0),
        )
        .stays_quiet(quiet("nothing dropped").at(Duration::minutes(20)).series(dropped, "0x30"))
}
