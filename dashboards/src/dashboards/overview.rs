//! The platform overview: one screen that says whether anything is wrong,
//! and links to the dashboard that says what.

use super::common::{REAL_FS, dashboard as base, loki, node_names, prom};
use super::uids;
use crate::{Color, Dashboard, DashboardLink, Panel, Thresholds, Unit, ValueMapping};

const SERVICE: &str = "container_label_com_docker_swarm_service_name";

fn about() -> String {
    [
        "Dashboards of the ETL platform's monitoring, all generated from code (`dashboards/` crate) and read-only here:",
        "",
        "- [Swarm service health](/d/etl-service-health): every service's tasks running against desired, failures and updates, per service and node",
        "- [Hosts](/d/etl-hosts): CPU, memory, disks and network per Swarm node",
        "- [Containers](/d/etl-containers): every Swarm service's containers, by service and node",
        "- [NGINX](/d/etl-nginx) and [PostgreSQL](/d/etl-postgres): the platform's proxy and database",
        "- [ETL services](/d/etl-services): frontend and backend requests, errors and latency",
        "- [Logs](/d/etl-logs): log volume, error lines and the lines themselves",
        "- [Monitoring stack](/d/etl-monitoring): Prometheus, Loki, Promtail, the collector, Alertmanager and Grafana",
    ]
    .join("\n")
}

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::OVERVIEW,
        "ETL platform overview",
        "overview",
        "Health of the whole ETL platform at a glance, with links to the detailed dashboards.",
    )
    .links([
        DashboardLink::dashboard("Service health", uids::SERVICE_HEALTH, "Swarm services' tasks and updates"),
        DashboardLink::dashboard("Hosts", uids::HOSTS, "CPU, memory, disks and network per node"),
        DashboardLink::dashboard("Containers", uids::CONTAINERS, "Swarm services' containers"),
        DashboardLink::dashboard("ETL services", uids::SERVICES, "Frontend and backend HTTP"),
        DashboardLink::dashboard("Logs", uids::LOGS, "Loki"),
        DashboardLink::dashboard("Monitoring stack", uids::MONITORING, "The monitoring's own health"),
    ])
    // Eight stats of width 3: the whole first row on one line.
    .row("Alerts and availability")
    .panels([
        Panel::stat(
            "Firing alerts",
            "Prometheus alerts firing now. Details in Alertmanager and on the dashboards linked above.",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(3, 4)
        .target(prom(r#"count(ALERTS{alertstate="firing"}) or vector(0)"#, "firing")),
        Panel::stat(
            "Targets down",
            "Scrape targets whose last scrape failed. The Monitoring stack dashboard lists them.",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(3, 4)
        .target(prom("count(up == 0) or vector(0)", "down")),
        Panel::stat(
            "Services below desired",
            "Swarm services running fewer tasks than desired (swarm-exporter). The Swarm service health dashboard says which.",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(3, 4)
        .target(prom(
            "count(swarm_service_replicas_running < swarm_service_replicas_desired) or vector(0)",
            "below desired",
        )),
        Panel::stat(
            "Task failures",
            "Swarm tasks per second that failed, were rejected or exited, all services (swarm-exporter); above zero something restarts.",
            Unit::CountPerSec,
        )
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(0.001, Color::Orange).step(0.05, Color::Red))
        .size(3, 4)
        .target(prom("sum(rate(swarm_service_task_failures_total[$__rate_interval])) or vector(0)", "failures")),
        Panel::stat("Nodes", "Swarm nodes reporting through node-exporter.", Unit::Short)
            .no_sparkline()
            .size(3, 4)
        .target(prom("count(count by (nodename) (node_uname_info))", "nodes")),
        Panel::stat(
            "NGINX",
            "Whether each NGINX answers its exporter's stub_status scrape.",
            Unit::None,
        )
        .no_sparkline()
        .background()
        .mappings(ValueMapping::up_down())
        .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
        .size(3, 4)
        .target(prom("min(nginx_up)", "NGINX")),
        Panel::stat(
            "PostgreSQL",
            "Whether the database answers its exporter.",
            Unit::None,
        )
        .no_sparkline()
        .background()
        .mappings(ValueMapping::up_down())
        .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
        .size(3, 4)
        .target(prom(r#"min(pg_up{job="postgres-exporter"})"#, "PostgreSQL")),
        Panel::stat(
            "Server errors",
            "Share of the ETL services' HTTP responses with a 5xx status.",
            Unit::Percent01,
        )
        .thresholds(Thresholds::traffic_light(0.01, 0.05))
        .size(3, 4)
        .target(prom(
            r#"(sum(rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count[$__rate_interval]))"#,
            "5xx",
        )),
    ])
    .row("Resources")
    .panels([
        Panel::bar_gauge(
            "CPU busy by node",
            "Share of CPU time not idle on each node.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .size(8, 8)
        .target(prom(
            format!(
                r#"(1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[$__rate_interval]))) * on(instance) group_left(nodename) {}"#,
                node_names("")
            ),
            "{{nodename}}",
        )),
        Panel::bar_gauge(
            "Memory used by node",
            "Share of memory not available for new allocations on each node.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .size(8, 8)
        .target(prom(
            format!(
                "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * on(instance) group_left(nodename) {}",
                node_names("")
            ),
            "{{nodename}}",
        )),
        Panel::bar_gauge(
            "Fullest file systems",
            "The five real file systems with the least free space left, across all nodes.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .size(8, 8)
        .target(prom(
            format!(
                "topk(5, (1 - node_filesystem_avail_bytes{{{REAL_FS}}} / node_filesystem_size_bytes{{{REAL_FS}}}) * on(instance) group_left(nodename) {})",
                node_names("")
            ),
            "{{nodename}} {{mountpoint}}",
        )),
        Panel::time_series(
            "CPU by Swarm service",
            "CPU used by each Swarm service's containers, in cores.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!(
                r#"sum by ({SERVICE}) (rate(container_cpu_usage_seconds_total{{{SERVICE}!=""}}[$__rate_interval]))"#
            ),
            &format!("{{{{{SERVICE}}}}}"),
        )),
        Panel::time_series(
            "Memory by Swarm service",
            "Working set of each Swarm service's containers.",
            Unit::Bytes,
        )
        .min(0.0)
        .target(prom(
            format!(r#"sum by ({SERVICE}) (container_memory_working_set_bytes{{{SERVICE}!=""}})"#),
            &format!("{{{{{SERVICE}}}}}"),
        )),
    ])
    .row("Traffic and logs")
    .panels([
        Panel::time_series(
            "ETL requests",
            "HTTP requests per second to the frontend and backend, per service.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(prom(
            "sum by (job) (rate(http_server_request_duration_seconds_count[$__rate_interval]))",
            "{{job}}",
        )),
        Panel::time_series(
            "NGINX requests",
            "Requests per second through the platform's NGINX.",
            Unit::ReqPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(prom(
            "sum(rate(nginx_http_requests_total[$__rate_interval]))",
            "requests",
        )),
        Panel::time_series(
            "Error log lines",
            "Log lines per second that look like errors, per Swarm service (Loki).",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(loki(
            r#"sum by (service) (rate({stack=~".+"} |~ `(?i)\b(error|fatal|panic|exception|critical)\b` [$__auto]))"#,
            "{{service}}",
        )),
        Panel::text("About these dashboards", "Where to go from here.", about()).size(24, 6),
    ])
    .build()
}
