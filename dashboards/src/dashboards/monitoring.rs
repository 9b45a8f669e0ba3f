//! The monitoring stack's own health: Prometheus, Loki, Promtail, the
//! OpenTelemetry Collector, Alertmanager and Grafana.
//!
//! Prometheus scrapes these components directly, so their metric names are
//! as they expose them. The collector's internal metrics follow its
//! Prometheus reader: with the default reader, counters carry `_total`
//! (`otelcol_receiver_accepted_metric_points_total`).

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Color, Dashboard, Panel, Target, Thresholds, Unit, ValueMapping};

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::MONITORING,
        "Monitoring stack",
        "monitoring",
        "Is the monitoring itself healthy? Scrape targets, Prometheus, Loki and Promtail, the OpenTelemetry Collector, Alertmanager and Grafana.",
    )
    .row("Scrape targets")
    .panels([
        Panel::stat(
            "Targets down",
            "Scrape targets whose last scrape failed, over every job (direct scrapes and those through the collector).",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(4, 8)
        .target(prom("count(up == 0) or vector(0)", "down")),
        Panel::stat(
            "Jobs",
            "Each scrape job: UP when all its targets answered the last scrape, DOWN when any did not.",
            Unit::None,
        )
        .no_sparkline()
        .background()
        .mappings(ValueMapping::up_down())
        .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
        .size(20, 8)
        .target(prom("min by (job) (up)", "{{job}}")),
        Panel::table(
            "Targets",
            "Every scrape target and the result of its last scrape, failing ones first.",
        )
        .unit(Unit::None)
        .mappings(ValueMapping::up_down())
        .size(24, 8)
        .hide_column("Time")
        .hide_column("__name__")
        .rename_column("Value", "Up")
        .sort_by("Up", false)
        .target(Target::prometheus("up").table()),
    ])
    .row("Prometheus")
    .panels([
        Panel::time_series("Head series", "Active series in the TSDB head. Growth without new targets means a cardinality leak.", Unit::Short)
            .min(0.0)
            .size(6, 8)
            .target(prom("prometheus_tsdb_head_series", "{{instance}}")),
        Panel::time_series(
            "Samples ingested",
            "Samples appended to the TSDB per second, from scrapes and remote write together.",
            Unit::CountPerSec,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom(
            "sum by (instance) (rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))",
            "{{instance}}",
        )),
        Panel::time_series(
            "Remote write received",
            "Remote-write requests from the collector per second, and those answered with an error.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .size(6, 8)
        .targets([
            prom(
                r#"sum(rate(prometheus_http_requests_total{handler="/api/v1/write"}[$__rate_interval]))"#,
                "requests",
            ),
            prom(
                r#"sum(rate(prometheus_http_requests_total{handler="/api/v1/write", code!~"2.."}[$__rate_interval]))"#,
                "errors",
            ),
        ]),
        Panel::time_series(
            "Storage",
            "Bytes of persisted TSDB blocks. Compare with the retention size limit.",
            Unit::Bytes,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom("prometheus_tsdb_storage_blocks_bytes", "{{instance}}")),
        Panel::time_series(
            "Slowest rule group",
            "Duration of the slowest rule group's last evaluation. Near its evaluation interval, rules start to lag.",
            Unit::Seconds,
        )
        .min(0.0)
        .size(8, 8)
        .target(prom(
            "max(prometheus_rule_group_last_duration_seconds)",
            "slowest group duration",
        )),
        Panel::time_series(
            "Rule evaluation failures",
            "Rule evaluations that failed, per second. Any failure means an alert may silently not fire.",
            Unit::OpsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(prom(
            "sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total[$__rate_interval]))",
            "{{rule_group}}",
        )),
        Panel::time_series(
            "Alert notifications",
            "Alerts Prometheus failed to send to Alertmanager, or dropped, per second.",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .targets([
            prom(
                "sum(rate(prometheus_notifications_errors_total[$__rate_interval]))",
                "errors",
            ),
            prom(
                "sum(rate(prometheus_notifications_dropped_total[$__rate_interval]))",
                "dropped",
            ),
        ]),
    ])
    .row("Loki and Promtail")
    .panels([
        Panel::time_series("Loki ingestion", "Log lines Loki's distributor receives per second.", Unit::EventsPerSec)
            .min(0.0)
            .size(6, 8)
            .target(prom(
                "sum(rate(loki_distributor_lines_received_total[$__rate_interval]))",
                "lines",
            )),
        Panel::time_series(
            "Loki request latency p99",
            "99th percentile duration of pushes (from Promtail and the collector) and of range queries (from Grafana).",
            Unit::Seconds,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom(
            r#"histogram_quantile(0.99, sum by (route, le) (rate(loki_request_duration_seconds_bucket{route=~"loki_api_v1_push|otlp_v1_logs|loki_api_v1_query_range"}[$__rate_interval])))"#,
            "{{route}}",
        )),
        Panel::time_series(
            "Loki server errors",
            "Requests Loki answered with a 5xx status, per second and route.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom(
            r#"sum by (route) (rate(loki_request_duration_seconds_count{status_code=~"5.."}[$__rate_interval]))"#,
            "{{route}}",
        )),
        Panel::time_series(
            "Loki streams in memory",
            "Streams the ingester holds in memory. Growth means new label values, i.e. cardinality.",
            Unit::Short,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom("sum(loki_ingester_memory_streams)", "streams")),
        Panel::time_series(
            "Promtail entries",
            "Log entries Promtail sent to Loki, and those it dropped after giving up, per second.",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .targets([
            prom("sum(rate(promtail_sent_entries_total[$__rate_interval]))", "sent"),
            prom("sum(rate(promtail_dropped_entries_total[$__rate_interval]))", "dropped"),
        ]),
        Panel::time_series(
            "Promtail failed pushes",
            "Pushes to Loki that did not get a 2xx answer, per second and Promtail instance.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .target(prom(
            r#"sum by (instance) (rate(promtail_request_duration_seconds_count{status_code!~"2.."}[$__rate_interval]))"#,
            "{{instance}}",
        )),
    ])
    .row("OpenTelemetry Collector")
    .panels([
        Panel::time_series(
            "Metric points received",
            "Metric points per second the collector's receivers accepted or refused (OTLP from the services, prometheus from the exporters).",
            Unit::CountPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .targets([
            prom(
                "sum by (receiver) (rate(otelcol_receiver_accepted_metric_points_total[$__rate_interval]))",
                "{{receiver}} accepted",
            ),
            prom(
                "sum by (receiver) (rate(otelcol_receiver_refused_metric_points_total[$__rate_interval]))",
                "{{receiver}} refused",
            ),
        ]),
        Panel::time_series(
            "Metric points exported",
            "Metric points per second the collector's exporters sent or failed to send (remote write to Prometheus).",
            Unit::CountPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .targets([
            prom(
                "sum by (exporter) (rate(otelcol_exporter_sent_metric_points_total[$__rate_interval]))",
                "{{exporter}} sent",
            ),
            prom(
                "sum by (exporter) (rate(otelcol_exporter_send_failed_metric_points_total[$__rate_interval]))",
                "{{exporter}} failed",
            ),
        ]),
        Panel::time_series(
            "Log records",
            "Log records per second received (OTLP from the services) and sent on to Loki, or failed.",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .targets([
            prom(
                "sum(rate(otelcol_receiver_accepted_log_records_total[$__rate_interval]))",
                "accepted",
            ),
            prom(
                "sum(rate(otelcol_exporter_sent_log_records_total[$__rate_interval]))",
                "sent",
            ),
            prom(
                "sum(rate(otelcol_exporter_send_failed_log_records_total[$__rate_interval]))",
                "failed",
            ),
        ]),
        Panel::time_series(
            "Exporter queue",
            "How full each exporter's sending queue is. At 100 % new data is dropped.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.5, 0.8))
        .size(24, 8)
        .target(prom(
            "max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)",
            "{{exporter}}",
        )),
    ])
    .row("Alertmanager and Grafana")
    .panels([
        Panel::stat("Active alerts", "Alerts Alertmanager holds as active (not silenced or inhibited).", Unit::Short)
            .size(6, 8)
            .target(prom(r#"sum(alertmanager_alerts{state="active"})"#, "active")),
        Panel::time_series(
            "Notifications",
            "Notifications Alertmanager sent, and those that failed, per second and integration (webhook, email…).",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(6, 8)
        .targets([
            prom(
                "sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))",
                "{{integration}} sent",
            ),
            prom(
                "sum by (integration) (rate(alertmanager_notifications_failed_total[$__rate_interval]))",
                "{{integration}} failed",
            ),
        ]),
        Panel::time_series(
            "Grafana latency p95",
            "95th percentile duration of Grafana's HTTP requests (pages, API, data source proxying).",
            Unit::Seconds,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom(
            "histogram_quantile(0.95, sum by (le) (rate(grafana_http_request_duration_seconds_bucket[$__rate_interval])))",
            "p95",
        )),
        Panel::time_series(
            "Grafana server errors",
            "Grafana HTTP requests answered with a 5xx status, per second.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .size(6, 8)
        .target(prom(
            r#"sum(rate(grafana_http_request_duration_seconds_count{status_code=~"5.."}[$__rate_interval]))"#,
            "5xx",
        )),
    ])
    .row("Resources")
    .panels([
        Panel::time_series(
            "Memory by job",
            "Resident memory of every scraped process that reports it, summed per job.",
            Unit::Bytes,
        )
        .min(0.0)
        .target(prom("sum by (job) (process_resident_memory_bytes)", "{{job}}")),
        Panel::time_series(
            "CPU by job",
            "CPU used by every scraped process that reports it, per job, in cores.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            "sum by (job) (rate(process_cpu_seconds_total[$__rate_interval]))",
            "{{job}}",
        )),
    ])
    .build()
}
