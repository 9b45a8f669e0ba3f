//! Swarm service health, from swarm-exporter (`swarm-exporter/` in this
//! workspace): per service and per node, tasks running against desired,
//! tasks by state, tasks that failed, were rejected or exited, update and
//! rollback state.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Target, Thresholds, Unit, Variable};

/// Services and nodes the variables select; a task not yet assigned to a
/// node has no `node` label, which `=~".*"` (All) still matches.
const SERVICE_SEL: &str = r#"stack=~"$stack", service=~"$service""#;
const TASK_SEL: &str = r#"stack=~"$stack", service=~"$service", node=~"$node""#;

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::SERVICE_HEALTH,
        "Swarm service health",
        "swarm",
        "Every Swarm service of the platform and of the monitoring stack as the engine reports it (swarm-exporter): tasks running against desired, tasks by node and state, tasks that failed, were rejected or exited, update and rollback state.",
    )
    .variable(
        Variable::query("stack", Datasource::Prometheus, "label_values(swarm_service_update_state, stack)")
            .label("Stack")
            .description("Stack namespace (com.docker.stack.namespace)")
            .multi()
            .all_value(".*"),
    )
    .variable(
        Variable::query(
            "service",
            Datasource::Prometheus,
            r#"label_values(swarm_service_update_state{stack=~"$stack"}, service)"#,
        )
        .label("Service")
        .description("Full Swarm service name")
        .multi()
        .all_value(".*"),
    )
    .variable(
        Variable::query("node", Datasource::Prometheus, "label_values(swarm_service_tasks, node)")
            .label("Node")
            .description("Node host name, for the per-node panels")
            .multi()
            .all_value(".*"),
    )
    .row("Now")
    .panels([
        Panel::stat(
            "Services below desired",
            "Services running fewer tasks than desired (jobs excluded).",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Red))
        .size(6, 4)
        .target(prom(
            format!(
                "count(swarm_service_replicas_running{{{SERVICE_SEL}}} < swarm_service_replicas_desired{{{SERVICE_SEL}}}) or vector(0)"
            ),
            "below desired",
        )),
        Panel::stat("Tasks running", "Tasks running against tasks desired, all selected services.", Unit::Short)
            .no_sparkline()
            .size(6, 4)
            .targets([
                prom(format!("sum(swarm_service_replicas_running{{{SERVICE_SEL}}})"), "running"),
                prom(format!("sum(swarm_service_replicas_desired{{{SERVICE_SEL}}})"), "desired"),
            ]),
        Panel::stat(
            "Task failures",
            "Tasks per second that failed, were rejected or exited, selected services; above zero something restarts.",
            Unit::CountPerSec,
        )
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(0.001, Color::Orange).step(0.05, Color::Red))
        .size(6, 4)
        .target(prom(
            format!(
                "sum(rate(swarm_service_task_failures_total{{{SERVICE_SEL}}}[$__rate_interval])) or vector(0)"
            ),
            "failures",
        )),
        Panel::stat(
            "Updates not completed",
            "Services updating, paused or rolled back now.",
            Unit::Short,
        )
        .no_sparkline()
        .background()
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Orange))
        .size(6, 4)
        .target(prom(
            format!(
                r#"count(swarm_service_update_state{{{SERVICE_SEL}, state=~"updating|paused|rollback_.*"}} == 1) or vector(0)"#
            ),
            "not completed",
        )),
        Panel::table(
            "Services",
            "Each service's desired and running tasks now, fewest running (relative to desired) first.",
        )
        .unit(Unit::Short)
        .size(24, 9)
        .hide_column("Time")
        .rename_column("stack", "Stack")
        .rename_column("service", "Service")
        .rename_column("mode", "Mode")
        .rename_column("Value", "Running minus desired")
        .sort_by("Running minus desired", false)
        .target(
            Target::prometheus(format!(
                "max by (stack, service, mode) (swarm_service_replicas_running{{{SERVICE_SEL}}} - swarm_service_replicas_desired{{{SERVICE_SEL}}})"
            ))
            .table(),
        ),
    ])
    .row("Per service")
    .panels([
        Panel::time_series(
            "Running against desired",
            "Per service, tasks running minus tasks desired: below zero the service is short of tasks.",
            Unit::Short,
        )
        .target(prom(
            format!(
                "max by (stack, service) (swarm_service_replicas_running{{{SERVICE_SEL}}} - swarm_service_replicas_desired{{{SERVICE_SEL}}})"
            ),
            "{{service}}",
        )),
        Panel::time_series(
            "Task failures",
            "Tasks per second that failed (crash, failed health check), were rejected (image, mounts, resources) or exited 0, per service.",
            Unit::CountPerSec,
        )
        .min(0.0)
        .target(prom(
            format!(
                "sum by (service, state) (rate(swarm_service_task_failures_total{{{SERVICE_SEL}}}[$__rate_interval]))"
            ),
            "{{service}} {{state}}",
        )),
        Panel::time_series(
            "Update state",
            "Services whose update is not completed: 1 while in the state named in the legend.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!(
                r#"max by (service, state) (swarm_service_update_state{{{SERVICE_SEL}, state=~"updating|paused|rollback_.*"}}) > 0"#
            ),
            "{{service}} {{state}}",
        )),
    ])
    .row("Per node")
    .panels([
        Panel::time_series(
            "Tasks by node and state",
            "Tasks Swarm wants running, by node and current state; no node means not yet assigned (pending).",
            Unit::Short,
        )
        .stacked()
        .min(0.0)
        .target(prom(format!("sum by (node, state) (swarm_service_tasks{{{TASK_SEL}}})"), "{{node}} {{state}}")),
        Panel::time_series(
            "Task failures by node",
            "Failures per node: when they gather on one node, look at that node (disk, image, mounts).",
            Unit::CountPerSec,
        )
        .min(0.0)
        .target(prom(
            format!("sum by (node, state) (rate(swarm_service_task_failures_total{{{TASK_SEL}}}[$__rate_interval]))"),
            "{{node}} {{state}}",
        )),
        Panel::table("Tasks not running", "Tasks Swarm wants running that are in another state now, by service and node.")
            .unit(Unit::Short)
            .size(8, 8)
            .hide_column("Time")
            .rename_column("service", "Service")
            .rename_column("node", "Node")
            .rename_column("state", "State")
            .rename_column("Value", "Tasks")
            .sort_by("Tasks", true)
            .target(
                Target::prometheus(format!(
                    r#"sum by (service, node, state) (swarm_service_tasks{{{TASK_SEL}, state!="running"}}) > 0"#
                ))
                .table(),
            ),
    ])
    .row("Exporter")
    .panels([
        Panel::stat("Engine readable", "Whether swarm-exporter's last reading of the engine worked.", Unit::None)
            .no_sparkline()
            .background()
            .mappings(crate::ValueMapping::up_down())
            .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
            .size(8, 6)
            .target(prom("min(swarm_exporter_engine_up)", "engine")),
        Panel::time_series("Engine read time", "How long each reading of services, tasks and nodes took.", Unit::Seconds)
            .min(0.0)
            .size(8, 6)
            .target(prom("max(swarm_exporter_engine_read_duration_seconds)", "read")),
        Panel::time_series("Engine errors", "Failed engine reads per second, by endpoint.", Unit::CountPerSec)
            .min(0.0)
            .size(8, 6)
            .target(prom(
                "sum by (endpoint) (rate(swarm_exporter_engine_errors_total[$__rate_interval]))",
                "{{endpoint}}",
            )),
    ])
    .build()
}
