//! The platform's container registry (CNCF distribution 2.8), from its debug
//! server's Prometheus endpoint, scraped per task by the OTel Collector
//! (`job="registry"`).
//!
//! Requests are counted per route (`handler`): a pull is GET/HEAD on
//! `manifest` and GET on `blob`; a push is POST/PATCH/PUT on `blob_upload`
//! and `blob_upload_chunk` and PUT on `manifest`. Distribution 2.8 has no
//! storage-error counter: storage failures surface as 5xx on those routes.

use super::common::{dashboard as base, prom};
use super::service_logs::ServiceLogs;
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Thresholds, Unit, ValueMapping, Variable};

const SEL: &str = r#"job="registry", instance=~"$instance""#;
const REQ: &str = "registry_http_requests_total";
const PULL: &str = r#"handler=~"manifest|blob", method=~"get|head""#;
const PUSH: &str = r#"handler=~"blob_upload|blob_upload_chunk|manifest", method=~"post|patch|put""#;
const LOGS: ServiceLogs = ServiceLogs { what: "Registry", service: ".+_registry" };

pub(super) fn dashboard() -> Dashboard {
    let builder = base(
        uids::REGISTRY,
        "Registry",
        "registry",
        "The platform's container registry: pulls, pushes, errors and storage latency (distribution's debug metrics).",
    )
    .variable(
        Variable::query("instance", Datasource::Prometheus, r#"label_values(up{job="registry"}, instance)"#)
            .label("Task")
            .description("A registry task (its overlay address and debug port)"),
    )
    .row("Now")
    .panels([
        Panel::stat("Registry up", "Whether each task's debug server answered the last scrape.", Unit::None)
            .no_sparkline()
            .background()
            .mappings(ValueMapping::up_down())
            .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
            .size(6, 4)
            .target(prom(format!("up{{{SEL}}}"), "{{instance}}")),
        Panel::stat("Pull requests", "Manifest and blob reads per second.", Unit::ReqPerSec).size(6, 4).target(prom(
            format!("sum(rate({REQ}{{{SEL}, {PULL}}}[$__rate_interval]))"),
            "pulls",
        )),
        Panel::stat("Push requests", "Upload and manifest writes per second.", Unit::ReqPerSec).size(6, 4).target(prom(
            format!("sum(rate({REQ}{{{SEL}, {PUSH}}}[$__rate_interval]))"),
            "pushes",
        )),
        Panel::stat("Server errors", "Share of requests answered with a 5xx.", Unit::Percent01)
            .thresholds(Thresholds::traffic_light(0.01, 0.05))
            .size(6, 4)
            .target(prom(
                format!(
                    r#"(sum(rate({REQ}{{{SEL}, code=~"5.."}}[$__rate_interval])) or vector(0)) / sum(rate({REQ}{{{SEL}}}[$__rate_interval]))"#
                ),
                "5xx",
            )),
    ])
    .row("Pulls and pushes")
    .panels([
        Panel::time_series("Pulls by route", "Reads per second by route and method.", Unit::ReqPerSec)
            .stacked()
            .target(prom(
                format!("sum by (handler, method) (rate({REQ}{{{SEL}, {PULL}}}[$__rate_interval]))"),
                "{{method}} {{handler}}",
            )),
        Panel::time_series("Pushes by route", "Writes per second by route and method.", Unit::ReqPerSec)
            .stacked()
            .target(prom(
                format!("sum by (handler, method) (rate({REQ}{{{SEL}, {PUSH}}}[$__rate_interval]))"),
                "{{method}} {{handler}}",
            )),
        Panel::time_series(
            "Bytes served and received",
            "Response bytes (pulls) and request bytes (pushes) per second.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                format!("sum(rate(registry_http_response_size_bytes_sum{{{SEL}}}[$__rate_interval]))"),
                "served",
            ),
            prom(
                format!("sum(rate(registry_http_request_size_bytes_sum{{{SEL}}}[$__rate_interval]))"),
                "received",
            ),
        ]),
        Panel::time_series(
            "Request latency p95",
            "95th percentile of request duration by route.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.95, sum by (handler, le) (rate(registry_http_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "{{handler}}",
        )),
    ])
    .row("Errors and storage")
    .panels([
        Panel::time_series(
            "Errors by route and code",
            "4xx and 5xx answers per second. 404 on manifests and blobs is normal (clients probe before pushing); 5xx are storage or registry failures.",
            Unit::ReqPerSec,
        )
        .stacked()
        .target(prom(
            format!(r#"sum by (handler, code) (rate({REQ}{{{SEL}, code=~"[45].."}}[$__rate_interval]))"#),
            "{{code}} {{handler}}",
        )),
        Panel::time_series(
            "Storage latency p99",
            "99th percentile of storage-driver calls by action (GetContent, PutContent, Stat, Reader, Writer, ...).",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.99, sum by (action, le) (rate(registry_storage_action_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "{{action}}",
        )),
        Panel::time_series("Storage calls", "Storage-driver calls per second by action.", Unit::OpsPerSec)
            .stacked()
            .target(prom(
                format!("sum by (action) (rate(registry_storage_action_seconds_count{{{SEL}}}[$__rate_interval]))"),
                "{{action}}",
            )),
        Panel::time_series(
            "Blob descriptor cache",
            "Cache lookups per second by outcome (Hit, Miss); many misses mean storage reads for every pull.",
            Unit::OpsPerSec,
        )
        .stacked()
        .target(prom(
            format!("sum by (type) (rate(registry_storage_cache_total{{{SEL}}}[$__rate_interval]))"),
            "{{type}}",
        )),
    ]);
    LOGS.row(builder).build()
}
