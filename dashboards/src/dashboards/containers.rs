//! Containers per Swarm service and node, from cAdvisor.
//!
//! cAdvisor copies Docker labels into `container_label_*` labels; Swarm sets
//! `com.docker.swarm.service.name`, `com.docker.stack.namespace` and
//! `com.docker.swarm.node.id` on every task's container.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Dashboard, Datasource, Panel, Target, Thresholds, Unit, Variable};

const SERVICE: &str = "container_label_com_docker_swarm_service_name";
const STACK: &str = "container_label_com_docker_stack_namespace";
const NODE_ID: &str = "container_label_com_docker_swarm_node_id";

/// Swarm task containers of the selected stacks, services and nodes. The
/// `!=""` matcher drops cAdvisor's cgroup roots and non-Swarm containers,
/// which `=~".*"` (the "All" value) would let through.
fn sel() -> String {
    format!(r#"{SERVICE}!="", {STACK}=~"$stack", {SERVICE}=~"$service", {NODE_ID}=~"$swarm_node""#)
}

fn by_service(metric_expr: &str) -> Target {
    prom(format!("sum by ({SERVICE}) ({metric_expr})"), &format!("{{{{{SERVICE}}}}}"))
}

pub(super) fn dashboard() -> Dashboard {
    let s = sel();
    base(
        uids::CONTAINERS,
        "Containers",
        "containers",
        "CPU, memory and network of every Swarm task container, by service and by node (cAdvisor).",
    )
    .variable(
        Variable::query(
            "stack",
            Datasource::Prometheus,
            format!("label_values(container_memory_working_set_bytes, {STACK})"),
        )
        .label("Stack")
        .description("Swarm stack (com.docker.stack.namespace)"),
    )
    .variable(
        Variable::query(
            "service",
            Datasource::Prometheus,
            format!(r#"label_values(container_memory_working_set_bytes{{{STACK}=~"$stack"}}, {SERVICE})"#),
        )
        .label("Service")
        .description("Swarm service (com.docker.swarm.service.name)"),
    )
    .variable(
        Variable::query(
            "swarm_node",
            Datasource::Prometheus,
            format!(r#"label_values(container_memory_working_set_bytes{{{STACK}=~"$stack"}}, {NODE_ID})"#),
        )
        .label("Swarm node ID")
        .description("Swarm node ID (com.docker.swarm.node.id); `docker node ls` maps it to a host name"),
    )
    .row("Summary")
    .panels([
        Panel::stat("Containers", "Running task containers in the selection.", Unit::Short)
            .size(5, 4)
            .target(prom(format!("count(container_memory_working_set_bytes{{{s}}})"), "containers")),
        Panel::stat("Services", "Swarm services with at least one running container.", Unit::Short)
            .size(5, 4)
            .target(prom(
                format!("count(count by ({SERVICE}) (container_memory_working_set_bytes{{{s}}}))"),
                "services",
            )),
        Panel::stat("CPU cores used", "CPU used by the selection, in cores.", Unit::Short)
            .size(5, 4)
            .decimals(2)
            .target(prom(
                format!("sum(rate(container_cpu_usage_seconds_total{{{s}}}[$__rate_interval]))"),
                "cores",
            )),
        Panel::stat(
            "Memory working set",
            "Memory the selection uses and the kernel cannot reclaim without swapping; the figure OOM kills are based on.",
            Unit::Bytes,
        )
        .size(5, 4)
        .target(prom(format!("sum(container_memory_working_set_bytes{{{s}}})"), "working set")),
        Panel::stat(
            "CPU throttled",
            "Share of CFS periods in which containers hit their CPU limit and had to wait.",
            Unit::Percent01,
        )
        .thresholds(Thresholds::traffic_light(0.1, 0.25))
        .target(prom(
            format!(
                "sum(rate(container_cpu_cfs_throttled_periods_total{{{s}}}[$__rate_interval])) / sum(rate(container_cpu_cfs_periods_total{{{s}}}[$__rate_interval]))"
            ),
            "throttled",
        )),
    ])
    .row("By service")
    .panels([
        Panel::time_series("CPU by service", "CPU used per Swarm service, in cores.", Unit::Short)
            .min(0.0)
            .target(by_service(&format!(
                "rate(container_cpu_usage_seconds_total{{{s}}}[$__rate_interval])"
            ))),
        Panel::time_series(
            "Memory by service",
            "Working set per Swarm service, summed over its containers.",
            Unit::Bytes,
        )
        .min(0.0)
        .target(by_service(&format!("container_memory_working_set_bytes{{{s}}}"))),
        Panel::time_series(
            "Memory against limit",
            "Working set of each container as a share of its memory limit (containers without a limit left out). At 100 % the kernel kills it.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.95))
        .target(prom(
            format!(
                "max by ({SERVICE}, name) (container_memory_working_set_bytes{{{s}}}) / max by ({SERVICE}, name) (container_spec_memory_limit_bytes{{{s}}} > 0)"
            ),
            "{{name}}",
        )),
        Panel::time_series(
            "CPU throttling by service",
            "Share of CFS periods in which a service's containers were throttled by their CPU limit.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .target(prom(
            format!(
                "sum by ({SERVICE}) (rate(container_cpu_cfs_throttled_periods_total{{{s}}}[$__rate_interval])) / sum by ({SERVICE}) (rate(container_cpu_cfs_periods_total{{{s}}}[$__rate_interval]))"
            ),
            &format!("{{{{{SERVICE}}}}}"),
        )),
        // cAdvisor's OOM counter (container_oom_events_total) reads /dev/kmsg,
        // which a Swarm service cannot be given, so it never moves here; the
        // cgroup's own memory.events `max` count is readable through /sys.
        Panel::time_series(
            "Memory limit hits by service",
            "Times the containers of each service reached their memory limit (cgroup v2 memory.events `max`), per $__rate_interval window. The kernel then reclaims cache, and OOM-kills when it cannot: see the node's OOM kills (HostOomKillDetected) and exit code 137 in `docker service ps`.",
            Unit::Short,
        )
        .min(0.0)
        .target(by_service(&format!(
            "increase(container_memory_events_max_total{{{s}}}[$__rate_interval])"
        )))
        .size(8, 8),
        Panel::time_series(
            "Network received by service",
            "Bytes received per Swarm service, all interfaces of its containers.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .target(by_service(&format!(
            "rate(container_network_receive_bytes_total{{{s}}}[$__rate_interval])"
        )))
        .size(8, 8),
        Panel::time_series(
            "Network sent by service",
            "Bytes sent per Swarm service, all interfaces of its containers.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .target(by_service(&format!(
            "rate(container_network_transmit_bytes_total{{{s}}}[$__rate_interval])"
        )))
        .size(8, 8),
    ])
    .row("By node")
    .panels([
        Panel::time_series(
            "CPU by node",
            "CPU used by the selected containers on each Swarm node, in cores.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!("sum by ({NODE_ID}) (rate(container_cpu_usage_seconds_total{{{s}}}[$__rate_interval]))"),
            &format!("{{{{{NODE_ID}}}}}"),
        )),
        Panel::time_series(
            "Memory by node",
            "Working set of the selected containers on each Swarm node.",
            Unit::Bytes,
        )
        .min(0.0)
        .target(prom(
            format!("sum by ({NODE_ID}) (container_memory_working_set_bytes{{{s}}})"),
            &format!("{{{{{NODE_ID}}}}}"),
        )),
        Panel::table(
            "Largest containers",
            "The 20 containers with the largest working set right now, with their service and node.",
        )
        .unit(Unit::Bytes)
        .size(24, 10)
        .hide_column("Time")
        .rename_column(SERVICE, "Service")
        .rename_column(NODE_ID, "Node ID")
        .rename_column("name", "Container")
        .rename_column("Value", "Working set")
        .sort_by("Working set", true)
        .target(
            Target::prometheus(format!(
                "topk(20, max by ({SERVICE}, {NODE_ID}, name) (container_memory_working_set_bytes{{{s}}}))"
            ))
            .table(),
        ),
    ])
    .build()
}
