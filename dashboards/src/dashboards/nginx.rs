//! NGINX, from nginx-prometheus-exporter (stub_status).
//!
//! The exporter is scraped by the collector's prometheus receiver and reaches
//! Prometheus by remote write, which appends `_total` to counters that lack
//! it: `nginx_connections_accepted` arrives as
//! `nginx_connections_accepted_total`.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Thresholds, Unit, ValueMapping, Variable};

const SEL: &str = r#"instance=~"$instance""#;

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::NGINX,
        "NGINX",
        "nginx",
        "The platform's NGINX reverse proxy: requests and connections as stub_status reports them (nginx-prometheus-exporter).",
    )
    .variable(
        Variable::query("instance", Datasource::Prometheus, "label_values(nginx_up, instance)")
            .label("Exporter")
            .description("nginx-prometheus-exporter instance; each scrapes one NGINX"),
    )
    .row("Now")
    .panels([
        Panel::stat(
            "NGINX reachable",
            "Whether the exporter could read NGINX's stub_status on its last scrape.",
            Unit::None,
        )
        .no_sparkline()
        .background()
        .mappings(ValueMapping::up_down())
        .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
        .size(6, 4)
        .target(prom(format!("nginx_up{{{SEL}}}"), "{{instance}}")),
        Panel::stat("Requests", "Requests per second, all hosts and locations.", Unit::ReqPerSec)
            .size(6, 4)
            .target(prom(
                format!("sum(rate(nginx_http_requests_total{{{SEL}}}[$__rate_interval]))"),
                "requests",
            )),
        Panel::stat("Active connections", "Client connections open now, including idle keep-alives.", Unit::Short)
            .size(6, 4)
            .target(prom(format!("sum(nginx_connections_active{{{SEL}}})"), "active")),
        Panel::stat(
            "Dropped connections",
            "Connections accepted but not handled, per second. Above zero NGINX hit worker_connections or another resource limit.",
            Unit::CountPerSec,
        )
        .thresholds(Thresholds::absolute(Color::Green).step(0.001, Color::Red))
        .size(6, 4)
        .target(prom(
            format!(
                "sum(rate(nginx_connections_accepted_total{{{SEL}}}[$__rate_interval])) - sum(rate(nginx_connections_handled_total{{{SEL}}}[$__rate_interval]))"
            ),
            "dropped",
        )),
    ])
    .row("Traffic")
    .panels([
        Panel::time_series("Requests", "Requests per second per NGINX.", Unit::ReqPerSec)
            .min(0.0)
            .target(prom(
                format!("sum by (instance) (rate(nginx_http_requests_total{{{SEL}}}[$__rate_interval]))"),
                "{{instance}}",
            )),
        Panel::time_series(
            "Connections by state",
            "Open connections: reading a request, writing a response, or waiting (idle keep-alive).",
            Unit::Short,
        )
        .stacked()
        .targets([
            prom(format!("sum(nginx_connections_reading{{{SEL}}})"), "reading"),
            prom(format!("sum(nginx_connections_writing{{{SEL}}})"), "writing"),
            prom(format!("sum(nginx_connections_waiting{{{SEL}}})"), "waiting"),
        ]),
        Panel::time_series(
            "Connections accepted and handled",
            "New client connections per second. The two lines part when NGINX drops connections.",
            Unit::CountPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                format!("sum(rate(nginx_connections_accepted_total{{{SEL}}}[$__rate_interval]))"),
                "accepted",
            ),
            prom(
                format!("sum(rate(nginx_connections_handled_total{{{SEL}}}[$__rate_interval]))"),
                "handled",
            ),
        ]),
        Panel::time_series(
            "Requests per connection",
            "Requests served per accepted connection: how well clients reuse keep-alive connections.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!(
                "sum(rate(nginx_http_requests_total{{{SEL}}}[$__rate_interval])) / sum(rate(nginx_connections_accepted_total{{{SEL}}}[$__rate_interval]))"
            ),
            "requests per connection",
        )),
    ])
    .build()
}
