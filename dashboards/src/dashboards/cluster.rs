//! The cluster: Swarm's managers and every node's Docker engine, from the
//! engines' own metrics endpoint (`metrics-addr`), scraped on each node by
//! its otel-agent (`job="docker-engine"`, labelled `node` with the host
//! name). Raft and node-state families exist only on managers.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Color, Dashboard, Panel, Thresholds, Unit, ValueMapping};

const SEL: &str = r#"job="docker-engine""#;

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::CLUSTER,
        "Cluster",
        "cluster",
        "The Docker Swarm itself: managers, raft leader and latency, node states, and each node's engine (the engines' metrics endpoint).",
    )
    .row("Managers")
    .panels([
        Panel::stat("Managers reporting", "Nodes whose engine reports itself a Swarm manager.", Unit::Short)
            .no_sparkline()
            .size(6, 4)
            .target(prom(format!("count(swarm_node_manager{{{SEL}}} == 1) or vector(0)"), "managers")),
        Panel::stat("Raft leader", "The manager that is raft leader now; none means the quorum is lost.", Unit::None)
            .no_sparkline()
            .background()
            .mappings(ValueMapping::up_down())
            .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
            .size(6, 4)
            .target(prom(format!("max(swarm_manager_leader{{{SEL}}})"), "leader")),
        Panel::stat(
            "Nodes down",
            "Nodes not ready (down, disconnected or unknown), as the managers' stores see them.",
            Unit::Short,
        )
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(6, 4)
        .target(prom(
            format!(r#"max(sum by (node) (swarm_manager_nodes{{{SEL}, state!="ready"}})) or vector(0)"#),
            "down",
        )),
        Panel::stat("Engines reporting", "Nodes whose engine metrics endpoint answered the last scrape.", Unit::Short)
            .no_sparkline()
            .size(6, 4)
            .target(prom(format!("count(up{{{SEL}}} == 1) or vector(0)"), "engines")),
        Panel::time_series("Leader", "Which manager is raft leader over time.", Unit::None)
            .range(0.0, 1.0)
            .target(prom(format!("swarm_manager_leader{{{SEL}}}"), "{{node}}")),
        Panel::time_series("Nodes by state", "Nodes of the Swarm by state, as each manager's store sees them.", Unit::Short)
            .min(0.0)
            .target(prom(format!("max by (state) (swarm_manager_nodes{{{SEL}}})"), "{{state}}")),
        Panel::time_series(
            "Raft transaction latency p99",
            "99th percentile of raft proposals, per manager: slow disks or a distant manager raise it.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.99, sum by (node, le) (rate(swarm_raft_transaction_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "{{node}}",
        )),
        Panel::time_series(
            "Scheduling delay p95",
            "Time tasks take from NEW to RUNNING, as the dispatcher measures it.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.95, sum by (le) (rate(swarm_dispatcher_scheduling_delay_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "p95",
        )),
    ])
    .row("Engines")
    .panels([
        Panel::time_series("Engine up", "Whether each node's engine metrics endpoint answered.", Unit::None)
            .range(0.0, 1.0)
            .target(prom(format!("up{{{SEL}}}"), "{{node}}")),
        Panel::time_series("Containers by state", "Containers per node, running, paused and stopped.", Unit::Short)
            .stacked()
            .target(prom(
                format!("sum by (node, state) (engine_daemon_container_states_containers{{{SEL}}})"),
                "{{node}} {{state}}",
            )),
        Panel::time_series(
            "Failed health checks",
            "Container health checks failing per second, per node.",
            Unit::OpsPerSec,
        )
        .min(0.0)
        .target(prom(
            format!("sum by (node) (rate(engine_daemon_health_checks_failed_total{{{SEL}}}[$__rate_interval]))"),
            "{{node}}",
        )),
        Panel::time_series(
            "Container action latency p95",
            "How long the engine takes to create, start, stop and delete containers, per node.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!(
                "histogram_quantile(0.95, sum by (node, action, le) (rate(engine_daemon_container_actions_seconds_bucket{{{SEL}}}[$__rate_interval])))"
            ),
            "{{node}} {{action}}",
        )),
        Panel::table("Engines", "Engine version, kernel and storage driver of each node.")
            .target(prom(
                format!("max by (node, version, kernel, graphdriver) (engine_daemon_engine_info{{{SEL}}})"),
                "",
            )),
    ])
    .build()
}
