//! The ETL services' SLOs, on their OpenTelemetry HTTP server metrics.
//!
//! The services push OTLP to the collector, which remote-writes to
//! Prometheus: `http.server.request.duration` (seconds) becomes
//! `http_server_request_duration_seconds_{bucket,count,sum}`, the attribute
//! `http.response.status_code` the label `http_response_status_code`, and
//! `service.name` the `job` label. The latency threshold is a bucket boundary
//! of the semantic conventions' default buckets (0.5 s), so `le="0.5"` exists.

use std::collections::BTreeMap;

use crate::model::{RuleFile, Team};
use crate::names::{dashboard, job, subject};
use crate::slo::{Sli, Slo, WINDOW, fmt_amount, steady_counter};
use crate::testing::{InputSeries, series};

const METRIC: &str = "http_server_request_duration_seconds";

/// Requests per sample interval in the synthetic test traffic.
const TRAFFIC: f64 = 1000.0;

/// Latency objective: this share of requests faster than `LATENCY_LE` seconds.
const LATENCY_LE: &str = "0.5";

pub fn rules() -> RuleFile {
    let mut file = RuleFile::new(subject::SERVICES).dashboard(dashboard::SERVICES);
    for (service, prefix) in [(job::BACKEND, "Backend"), (job::FRONTEND, "Frontend")] {
        file = file.group(availability(service, prefix).group()).group(latency(service, prefix).group());
    }
    file
}

fn job_labels(service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("job".to_string(), service.to_string())])
}

fn request_series(service: &str, suffix: &str, status: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![
        ("http_request_method", "GET"),
        ("http_response_status_code", status),
        ("http_route", "/api/v1/jobs"),
        ("job", service),
    ];
    labels.extend_from_slice(extra);
    labels.sort();
    series(&format!("{METRIC}_{suffix}"), &labels)
}

/// Share of requests answered with a 5xx status.
fn availability(service: &'static str, prefix: &'static str) -> Slo {
    let count = format!("{METRIC}_count");
    Slo {
        id: format!("{service}-availability"),
        alert_prefix: format!("{prefix}Availability"),
        objective_percent: "99.9",
        sli: Sli {
            errors: format!(
                r#"sum by (job) (rate({count}{{job="{service}",http_response_status_code=~"5.."}}[{WINDOW}]))"#
            ),
            total: format!(r#"sum by (job) (rate({count}{{job="{service}"}}[{WINDOW}]))"#),
            labels: job_labels(service),
            synthesize: Box::new(move |ratio| {
                let bad = ratio * TRAFFIC;
                vec![
                    InputSeries {
                        series: request_series(service, "count", "200", &[]),
                        values: steady_counter(TRAFFIC - bad),
                    },
                    InputSeries { series: request_series(service, "count", "500", &[]), values: steady_counter(bad) },
                ]
            }),
            bad_events: "5xx responses",
        },
        team: Team::Etl,
        dashboard: dashboard::SERVICES,
    }
}

/// Share of requests slower than `LATENCY_LE` seconds.
fn latency(service: &'static str, prefix: &'static str) -> Slo {
    let count = format!("{METRIC}_count");
    let bucket = format!("{METRIC}_bucket");
    Slo {
        id: format!("{service}-latency"),
        alert_prefix: format!("{prefix}Latency"),
        objective_percent: "99",
        sli: Sli {
            errors: format!(
                r#"sum by (job) (rate({count}{{job="{service}"}}[{WINDOW}]))
  -
  sum by (job) (rate({bucket}{{job="{service}",le="{LATENCY_LE}"}}[{WINDOW}]))"#
            ),
            total: format!(r#"sum by (job) (rate({count}{{job="{service}"}}[{WINDOW}]))"#),
            labels: job_labels(service),
            synthesize: Box::new(move |ratio| {
                let fast = TRAFFIC - ratio * TRAFFIC;
                vec![
                    InputSeries {
                        series: request_series(service, "count", "200", &[]),
                        values: steady_counter(TRAFFIC),
                    },
                    InputSeries {
                        series: request_series(service, "bucket", "200", &[("le", LATENCY_LE)]),
                        values: format!("0+{}x70", fmt_amount(fast)),
                    },
                ]
            }),
            bad_events: "slower than 500ms",
        },
        team: Team::Etl,
        dashboard: dashboard::SERVICES,
    }
}
