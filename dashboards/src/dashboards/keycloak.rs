//! Keycloak, from its Micrometer metrics on the management interface
//! (`:9000/metrics`), scraped per task by the OTel Collector
//! (`job="keycloak"`). Logins and their errors come from the user event
//! metrics (`keycloak_user_events_total`; a failed login is event `login`
//! with a non-empty `error`), sessions from the embedded Infinispan caches.

use super::common::{dashboard as base, prom};
use super::service_logs::ServiceLogs;
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Thresholds, Unit, ValueMapping, Variable};

const SEL: &str = r#"job="keycloak", instance=~"$instance""#;
const LOGS: ServiceLogs = ServiceLogs { what: "Keycloak", service: ".+_keycloak" };

pub(super) fn dashboard() -> Dashboard {
    let builder = base(
        uids::KEYCLOAK,
        "Keycloak",
        "keycloak",
        "The platform's identity provider: logins and their errors, sessions, HTTP errors and latency, database pool and JVM (Keycloak's own metrics).",
    )
    .variable(
        Variable::query("instance", Datasource::Prometheus, r#"label_values(up{job="keycloak"}, instance)"#)
            .label("Task")
            .description("A Keycloak task (its overlay address and management port)"),
    )
    .row("Now")
    .panels([
        Panel::stat("Keycloak up", "Whether each task's management interface answered the last scrape.", Unit::None)
            .no_sparkline()
            .background()
            .mappings(ValueMapping::up_down())
            .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
            .size(6, 4)
            .target(prom(format!("up{{{SEL}}}"), "{{instance}}")),
        Panel::stat("Logins", "Successful logins per second, all realms.", Unit::OpsPerSec).size(6, 4).target(prom(
            format!(r#"sum(rate(keycloak_user_events_total{{{SEL}, event="login", error=""}}[$__rate_interval]))"#),
            "logins",
        )),
        Panel::stat("Failed logins", "Share of login attempts that failed, all realms.", Unit::Percent01)
            .thresholds(Thresholds::traffic_light(0.2, 0.5))
            .size(6, 4)
            .target(prom(
                format!(
                    r#"(sum(rate(keycloak_user_events_total{{{SEL}, event="login", error!=""}}[$__rate_interval])) or vector(0)) / sum(rate(keycloak_user_events_total{{{SEL}, event="login"}}[$__rate_interval]))"#
                ),
                "failed",
            )),
        Panel::stat(
            "Sessions",
            "User sessions in the embedded cache (entries each task owns, summed).",
            Unit::Short,
        )
        .size(6, 4)
        .target(prom(
            format!(r#"sum(vendor_statistics_approximate_entries_unique{{{SEL}, cache="sessions"}})"#),
            "sessions",
        )),
    ])
    .row("Logins")
    .panels([
        Panel::time_series("Logins by realm", "Successful logins per second, per realm.", Unit::OpsPerSec)
            .min(0.0)
            .target(prom(
                format!(
                    r#"sum by (realm) (rate(keycloak_user_events_total{{{SEL}, event="login", error=""}}[$__rate_interval]))"#
                ),
                "{{realm}}",
            )),
        Panel::time_series(
            "Login errors by cause",
            "Failed logins per second by Keycloak's error (invalid_user_credentials, user_not_found, ...).",
            Unit::OpsPerSec,
        )
        .stacked()
        .target(prom(
            format!(
                r#"sum by (realm, error) (rate(keycloak_user_events_total{{{SEL}, event="login", error!=""}}[$__rate_interval]))"#
            ),
            "{{realm}} {{error}}",
        )),
        Panel::time_series(
            "User events",
            "Every counted user event per second (token refreshes, code exchanges, logouts, ...), errors included.",
            Unit::OpsPerSec,
        )
        .stacked()
        .target(prom(
            format!("sum by (event) (rate(keycloak_user_events_total{{{SEL}}}[$__rate_interval]))"),
            "{{event}}",
        )),
        Panel::time_series(
            "Sessions",
            "User and offline sessions in the embedded caches.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!(
                r#"sum by (cache) (vendor_statistics_approximate_entries_unique{{{SEL}, cache=~"sessions|offlineSessions|clientSessions"}})"#
            ),
            "{{cache}}",
        )),
    ])
    .row("HTTP and database")
    .panels([
        Panel::time_series(
            "Server errors by URI",
            "HTTP requests answered with a 5xx, per second, by route template.",
            Unit::ReqPerSec,
        )
        .stacked()
        .target(prom(
            format!(
                r#"sum by (uri) (rate(http_server_requests_seconds_count{{{SEL}, outcome="SERVER_ERROR"}}[$__rate_interval]))"#
            ),
            "{{uri}}",
        )),
        Panel::time_series(
            "Request latency p95",
            "95th percentile of HTTP request duration, by route template (needs http-metrics-histograms-enabled).",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.95, sum by (uri, le) (rate(http_server_requests_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "{{uri}}",
        )),
        Panel::time_series(
            "Database connections",
            "The connection pool per task: in use, idle, and threads waiting for one.",
            Unit::Short,
        )
        .min(0.0)
        .targets([
            prom(format!("sum by (instance) (agroal_active_count{{{SEL}}})"), "{{instance}} active"),
            prom(format!("sum by (instance) (agroal_available_count{{{SEL}}})"), "{{instance}} idle"),
            prom(format!("sum by (instance) (agroal_awaiting_count{{{SEL}}})"), "{{instance}} waiting"),
        ]),
        Panel::time_series("JVM heap", "Heap memory in use per task.", Unit::Bytes).min(0.0).target(prom(
            format!(r#"sum by (instance) (jvm_memory_used_bytes{{{SEL}, area="heap"}})"#),
            "{{instance}}",
        )),
    ]);
    LOGS.row(builder).build()
}
