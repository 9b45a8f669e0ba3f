//! The ETL frontend and backend, from their OpenTelemetry HTTP metrics.
//!
//! The SDKs record `http.server.request.duration` (a histogram in seconds)
//! and `http.server.active_requests`; the collector remote-writes them to
//! Prometheus, whose naming turns them into
//! `http_server_request_duration_seconds_{bucket,sum,count}` and
//! `http_server_active_requests`, attributes into labels
//! (`http.response.status_code` → `http_response_status_code`), and the
//! resource's `service.namespace`/`service.name` into `job`.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Dashboard, Datasource, Panel, Target, Thresholds, Unit, Variable};

const REQ: &str = "http_server_request_duration_seconds";
const SEL: &str = r#"job=~"$service", http_route=~"$route""#;
const ERRORS: &str = r#"http_response_status_code=~"5..""#;

fn quantile(q: &str, by: &str) -> String {
    format!("histogram_quantile({q}, sum by ({by}le) (rate({REQ}_bucket{{{SEL}}}[$__rate_interval])))")
}

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::SERVICES,
        "ETL services",
        "services",
        "Requests, errors and latency of the ETL frontend and backend, from their OpenTelemetry HTTP server metrics.",
    )
    .variable(
        Variable::query("service", Datasource::Prometheus, format!("label_values({REQ}_count, job)"))
            .label("Service")
            .description("OpenTelemetry service.namespace/service.name, as the job label"),
    )
    .variable(
        Variable::query(
            "route",
            Datasource::Prometheus,
            format!(r#"label_values({REQ}_count{{job=~"$service"}}, http_route)"#),
        )
        .label("Route")
        .description("Route template (http.route) of the selected services"),
    )
    .row("Golden signals")
    .panels([
        Panel::stat("Requests", "Requests per second to the selected services and routes.", Unit::ReqPerSec)
            .target(prom(
                format!("sum(rate({REQ}_count{{{SEL}}}[$__rate_interval]))"),
                "requests",
            ))
            .size(6, 4),
        Panel::stat(
            "Server errors",
            "Share of responses with a 5xx status. 4xx are the clients' doing and not counted.",
            Unit::Percent01,
        )
        .thresholds(Thresholds::traffic_light(0.01, 0.05))
        .target(prom(
            format!(
                "(sum(rate({REQ}_count{{{SEL}, {ERRORS}}}[$__rate_interval])) or vector(0)) / sum(rate({REQ}_count{{{SEL}}}[$__rate_interval]))"
            ),
            "5xx",
        ))
        .size(6, 4),
        Panel::stat(
            "Latency p95",
            "95th percentile of request duration over all selected services and routes.",
            Unit::Seconds,
        )
        .thresholds(Thresholds::traffic_light(0.5, 1.0))
        .target(prom(quantile("0.95", ""), "p95"))
        .size(6, 4),
        Panel::stat(
            "Instances",
            "Service instances (service.instance.id) reporting request metrics.",
            Unit::Short,
        )
        .target(prom(
            format!(r#"count(count by (job, instance) ({REQ}_count{{job=~"$service"}}))"#),
            "instances",
        ))
        .size(6, 4),
    ])
    .row("Traffic and errors")
    .panels([
        Panel::time_series("Requests by service", "Requests per second, per service.", Unit::ReqPerSec)
            .min(0.0)
            .target(prom(
                format!("sum by (job) (rate({REQ}_count{{{SEL}}}[$__rate_interval]))"),
                "{{job}}",
            )),
        Panel::time_series(
            "Responses by status code",
            "Responses per second by HTTP status code.",
            Unit::ReqPerSec,
        )
        .stacked()
        .target(prom(
            format!("sum by (http_response_status_code) (rate({REQ}_count{{{SEL}}}[$__rate_interval]))"),
            "{{http_response_status_code}}",
        )),
        Panel::time_series(
            "Server errors by service",
            "Share of each service's responses with a 5xx status.",
            Unit::Percent01,
        )
        .min(0.0)
        .thresholds(Thresholds::traffic_light(0.01, 0.05))
        .target(prom(
            format!(
                "sum by (job) (rate({REQ}_count{{{SEL}, {ERRORS}}}[$__rate_interval])) / sum by (job) (rate({REQ}_count{{{SEL}}}[$__rate_interval]))"
            ),
            "{{job}}",
        )),
        Panel::time_series(
            "Requests in flight",
            "Requests being served right now (http.server.active_requests), per service.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            r#"sum by (job) (http_server_active_requests{job=~"$service"})"#,
            "{{job}}",
        )),
    ])
    .row("Latency")
    .panels([
        Panel::time_series(
            "Latency by service",
            "Median, 95th and 99th percentile of request duration, per service.",
            Unit::Seconds,
        )
        .min(0.0)
        .targets([
            prom(quantile("0.5", "job, "), "{{job}} p50"),
            prom(quantile("0.95", "job, "), "{{job}} p95"),
            prom(quantile("0.99", "job, "), "{{job}} p99"),
        ]),
        Panel::time_series(
            "Latency p95 by route",
            "95th percentile of request duration, per route template.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(quantile("0.95", "job, http_route, "), "{{job}} {{http_route}}")),
        Panel::time_series(
            "Mean latency by service",
            "Mean request duration per service; compare with the percentiles to spot a slow tail.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "sum by (job) (rate({REQ}_sum{{{SEL}}}[$__rate_interval])) / sum by (job) (rate({REQ}_count{{{SEL}}}[$__rate_interval]))"
            ),
            "{{job}}",
        )),
        Panel::table(
            "Busiest routes",
            "The 15 routes with the most requests per second right now, by service and method.",
        )
        .unit(Unit::ReqPerSec)
        .hide_column("Time")
        .rename_column("job", "Service")
        .rename_column("http_route", "Route")
        .rename_column("http_request_method", "Method")
        .rename_column("Value", "Requests/s")
        .sort_by("Requests/s", true)
        .target(
            Target::prometheus(format!(
                "topk(15, sum by (job, http_route, http_request_method) (rate({REQ}_count{{{SEL}}}[$__rate_interval])))"
            ))
            .table(),
        ),
    ])
    .build()
}
