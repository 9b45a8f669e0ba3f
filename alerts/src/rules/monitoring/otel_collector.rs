//! The OpenTelemetry Collector (job `otel-collector`, its `:8888` internal
//! metrics scraped by Prometheus directly).
//!
//! Every exporter's `up` series comes *through* the collector, so when it
//! dies they vanish instead of turning 0: its absence has its own alert.

use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::rules::{Target, target_absent, target_down};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.5:8888";

const TARGET: Target =
    Target { job: job::OTEL_COLLECTOR, instance: INSTANCE, what: "OTel Collector", team: Team::Observability };

fn internal(metric: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![
        ("instance", INSTANCE),
        ("job", job::OTEL_COLLECTOR),
        ("service_instance_id", "6f1d0c2a"),
        ("service_name", "otelcol-contrib"),
        ("service_version", "0.161.0"),
    ];
    labels.extend_from_slice(extra);
    labels.sort();
    series(metric, &labels)
}

pub fn group() -> Group {
    Group::new("monitoring.otel-collector")
        .alert(target_down(
            "OtelCollectorDown",
            &TARGET,
            Severity::Critical,
            Duration::minutes(5),
            "exporter and service metrics are not reaching Prometheus.",
        ))
        .alert(target_absent(
            "OtelCollectorAbsent",
            &TARGET,
            Severity::Critical,
            Duration::minutes(5),
            "no collector runs, so no exporter or service metric reaches Prometheus and their alerts are blind.",
        ))
        .alert(exporter_failures())
        .alert(queue_nearly_full())
        .alert(refusing_data())
        .alert(refusing_logs())
        .alert(log_export_failures())
        .alert(high_memory())
}

fn high_memory() -> Alert<Tested, Tested> {
    let heap = internal("otelcol_process_runtime_heap_alloc_bytes", &[]);
    let sys = internal("otelcol_process_runtime_total_sys_memory_bytes", &[]);
    Alert::new("OtelCollectorHighMemoryUsage", Severity::Warning)
        .expr(
            r#"
            max by (job, instance) (otelcol_process_runtime_heap_alloc_bytes{job="otel-collector"})
            /
            max by (job, instance) (otelcol_process_runtime_total_sys_memory_bytes{job="otel-collector"})
            > 0.9
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("The OTel Collector's live heap fills the memory it holds from the system.")
        .description(
            "The heap of {{ $labels.instance }} is {{ $value | humanizePercentage }} of the memory its runtime \
             holds: the garbage collector cannot free memory, and the memory_limiter starts refusing data.",
        )
        .fires(
            fires("95% of held memory live")
                .at(Duration::minutes(20))
                .series(heap.clone(), "190000000x30")
                .series(sys.clone(), "200000000x30")
                .alert_value(&[("instance", INSTANCE), ("job", job::OTEL_COLLECTOR)], 0.95),
        )
        .stays_quiet(
            quiet("half live").at(Duration::minutes(20)).series(heap, "100000000x30").series(sys, "200000000x30"),
        )
}

fn refusing_logs() -> Alert<Tested, Tested> {
    let refused =
        internal("otelcol_receiver_refused_log_records_total", &[("receiver", "otlp"), ("transport", "http")]);
    Alert::new("OtelCollectorRefusingLogs", Severity::Warning)
        .expr(
            r#"sum by (job, instance, receiver) (rate(otelcol_receiver_refused_log_records_total{job="otel-collector"}[5m])) > 0"#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("The OTel Collector refuses incoming log records.")
        .description(
            "Receiver {{ $labels.receiver }} of {{ $labels.instance }} refuses {{ $value | humanize }} \
             log records per second, usually the memory_limiter pushing back; the services' OTLP logs are lost \
             unless they retry.",
        )
        .fires(
            fires("five records a second refused")
                .at(Duration::minutes(20))
                .series(refused.clone(), "0+300x30")
                .alert_value(&[("instance", INSTANCE), ("job", job::OTEL_COLLECTOR), ("receiver", "otlp")], 5.0),
        )
        .stays_quiet(quiet("nothing refused").at(Duration::minutes(20)).series(refused, "0x30"))
}

fn log_export_failures() -> Alert<Tested, Tested> {
    let loki = [("exporter", "otlp_http/loki")];
    let sent = internal("otelcol_exporter_sent_log_records_total", &loki);
    let failed = internal("otelcol_exporter_send_failed_log_records_total", &loki);
    Alert::new("OtelCollectorLogExportFailures", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance, exporter) (rate(otelcol_exporter_send_failed_log_records_total{job="otel-collector"}[5m]))
            /
            (
              sum by (job, instance, exporter) (rate(otelcol_exporter_sent_log_records_total{job="otel-collector"}[5m]))
              +
              sum by (job, instance, exporter) (rate(otelcol_exporter_send_failed_log_records_total{job="otel-collector"}[5m]))
            )
            > 0.05
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("The OTel Collector fails to export log records to Loki.")
        .description(
            "Exporter {{ $labels.exporter }} of {{ $labels.instance }} fails to send \
             {{ $value | humanizePercentage }} of its log records; they are dropped after retries.",
        )
        .fires(
            fires("20% of records failing")
                .at(Duration::minutes(20))
                .series(sent.clone(), "0+800x30")
                .series(failed.clone(), "0+200x30")
                .alert_value(
                    &[("exporter", "otlp_http/loki"), ("instance", INSTANCE), ("job", job::OTEL_COLLECTOR)],
                    0.2,
                ),
        )
        .stays_quiet(quiet("all sent").at(Duration::minutes(20)).series(sent, "0+800x30").series(failed, "0x30"))
}

fn exporter_failures() -> Alert<Tested, Tested> {
    let prw = [("exporter", "prometheus_remote_write")];
    let sent = internal("otelcol_exporter_sent_metric_points_total", &prw);
    let failed = internal("otelcol_exporter_send_failed_metric_points_total", &prw);
    Alert::new("OtelCollectorExporterFailures", Severity::Critical)
        .expr(
            r#"
            sum by (job, instance, exporter) (rate(otelcol_exporter_send_failed_metric_points_total{job="otel-collector"}[5m]))
            /
            (
              sum by (job, instance, exporter) (rate(otelcol_exporter_sent_metric_points_total{job="otel-collector"}[5m]))
              +
              sum by (job, instance, exporter) (rate(otelcol_exporter_send_failed_metric_points_total{job="otel-collector"}[5m]))
            )
            > 0.05
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("The OTel Collector fails to export metrics.")
        .description(
            "Exporter {{ $labels.exporter }} of {{ $labels.instance }} fails to send \
             {{ $value | humanizePercentage }} of its metric points; they are dropped after retries.",
        )
        .fires(
            fires("10% of points failing")
                .at(Duration::minutes(20))
                .series(sent.clone(), "0+900x30")
                .series(failed.clone(), "0+100x30")
                .alert_value(
                    &[("exporter", "prometheus_remote_write"), ("instance", INSTANCE), ("job", job::OTEL_COLLECTOR)],
                    0.1,
                ),
        )
        .stays_quiet(
            quiet("all sent")
                .at(Duration::minutes(20))
                .series(sent, "0+900x30")
                .series(failed, "0x30"),
        )
}

fn queue_nearly_full() -> Alert<Tested, Tested> {
    let prw = [("data_type", "metrics"), ("exporter", "prometheus_remote_write")];
    let size = internal("otelcol_exporter_queue_size", &prw);
    let capacity = internal("otelcol_exporter_queue_capacity", &prw);
    Alert::new("OtelCollectorExporterQueueNearlyFull", Severity::Warning)
        .expr(
            r#"
            max by (job, instance, exporter) (otelcol_exporter_queue_size{job="otel-collector"})
            /
            max by (job, instance, exporter) (otelcol_exporter_queue_capacity{job="otel-collector"})
            > 0.8
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Observability)
        .summary("An OTel Collector export queue is more than 80% full.")
        .description(
            "The queue of exporter {{ $labels.exporter }} on {{ $labels.instance }} is \
             {{ $value | humanizePercentage }} full; when full, new data is dropped.",
        )
        .fires(
            fires("900 of 1000")
                .at(Duration::minutes(10))
                .series(size.clone(), "900x20")
                .series(capacity.clone(), "1000x20")
                .alert_value(
                    &[("exporter", "prometheus_remote_write"), ("instance", INSTANCE), ("job", job::OTEL_COLLECTOR)],
                    0.9,
                ),
        )
        .stays_quiet(quiet("nearly empty").at(Duration::minutes(10)).series(size, "3x20").series(capacity, "1000x20"))
}

fn refusing_data() -> Alert<Tested, Tested> {
    let refused =
        internal("otelcol_receiver_refused_metric_points_total", &[("receiver", "otlp"), ("transport", "grpc")]);
    Alert::new("OtelCollectorRefusingData", Severity::Warning)
        .expr(
            r#"sum by (job, instance, receiver) (rate(otelcol_receiver_refused_metric_points_total{job="otel-collector"}[5m])) > 0"#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("The OTel Collector refuses incoming metrics.")
        .description(
            "Receiver {{ $labels.receiver }} of {{ $labels.instance }} refuses {{ $value | humanize }} \
             metric points per second, usually the memory_limiter pushing back.",
        )
        .fires(
            fires("ten points a second refused")
                .at(Duration::minutes(20))
                .series(refused.clone(), "0+600x30")
                .alert_value(&[("instance", INSTANCE), ("job", job::OTEL_COLLECTOR), ("receiver", "otlp")], 10.0),
        )
        .stays_quiet(quiet("nothing refused").at(Duration::minutes(20)).series(refused, "0x30"))
}
