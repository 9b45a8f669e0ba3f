//! Hosts: CPU, memory, disks and network of every Swarm node, from
//! node-exporter.

use super::common::{REAL_FS, dashboard as base, node_variable, on_node, prom};
use super::uids;
use crate::{Dashboard, Panel, Thresholds, Unit};

/// Interfaces that belong to Docker's plumbing rather than the host's links.
const VIRTUAL_NICS: &str = r#"device!~"lo|veth.*|docker.*|br-.*|vxlan.*|vx-.*|ov-.*""#;

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::HOSTS,
        "Hosts",
        "hosts",
        "CPU, memory, disks and network of each Swarm node (node-exporter). Pick nodes with the Node variable.",
    )
    .variable(node_variable())
    .row("Now")
    .panels([
        Panel::stat("Uptime", "Time since the host booted. A recent reboot explains gaps elsewhere.", Unit::Seconds)
            .no_sparkline()
            .size(4, 6)
            .target(prom(on_node("time() - node_boot_time_seconds"), "{{nodename}}")),
        Panel::stat("CPU cores", "Logical CPUs the kernel sees.", Unit::Short)
            .no_sparkline()
            .size(4, 6)
            .target(prom(
                on_node(r#"count by (instance) (node_cpu_seconds_total{mode="idle"})"#),
                "{{nodename}}",
            )),
        Panel::stat("Memory", "Physical memory installed.", Unit::Bytes)
            .no_sparkline()
            .size(4, 6)
            .target(prom(on_node("node_memory_MemTotal_bytes"), "{{nodename}}")),
        Panel::gauge(
            "CPU busy",
            "Share of CPU time not idle, averaged over all cores. Sustained values above 80 % leave no headroom for Spark jobs.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .target(prom(
            on_node(r#"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))"#),
            "{{nodename}}",
        )),
        Panel::gauge(
            "Memory used",
            "Share of memory not available for new allocations (MemAvailable), i.e. what the kernel cannot reclaim.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .target(prom(
            on_node("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"),
            "{{nodename}}",
        )),
        Panel::gauge(
            "Root file system used",
            "Share of the root file system in use. Docker images and volumes live here unless moved.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .target(prom(
            on_node(
                r#"1 - node_filesystem_avail_bytes{mountpoint="/", fstype!="rootfs"} / node_filesystem_size_bytes{mountpoint="/", fstype!="rootfs"}"#,
            ),
            "{{nodename}}",
        )),
    ])
    .row("CPU and memory")
    .panels([
        Panel::time_series(
            "CPU busy",
            "Share of CPU time not idle per node, averaged over its cores.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .target(prom(
            on_node(r#"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))"#),
            "{{nodename}}",
        )),
        Panel::time_series(
            "CPU time by mode",
            "Where CPU time goes, as a share of all cores: user, system, iowait (waiting for disks), steal (taken by the hypervisor)…",
            Unit::Percent01,
        )
        .stacked()
        .target(prom(
            on_node(
                r#"sum by (instance, mode) (rate(node_cpu_seconds_total{mode!="idle"}[$__rate_interval])) / on(instance) group_left count by (instance) (node_cpu_seconds_total{mode="idle"})"#,
            ),
            "{{nodename}} {{mode}}",
        )),
        Panel::time_series(
            "Load per core",
            "5-minute load average divided by the number of cores. Above 1, runnable tasks wait for a CPU.",
            Unit::Short,
        )
        .min(0.0)
        .thresholds(Thresholds::traffic_light(1.0, 2.0))
        .target(prom(
            on_node(r#"node_load5 / on(instance) count by (instance) (node_cpu_seconds_total{mode="idle"})"#),
            "{{nodename}}",
        )),
        Panel::time_series(
            "Memory",
            "Memory in use (total minus available) and still available, per node.",
            Unit::Bytes,
        )
        .min(0.0)
        .targets([
            prom(
                on_node("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes"),
                "{{nodename}} used",
            ),
            prom(on_node("node_memory_MemAvailable_bytes"), "{{nodename}} available"),
        ]),
        Panel::time_series(
            "Major page faults",
            "Page faults that had to read from disk. A rise means memory pressure: the kernel is evicting pages still in use.",
            Unit::OpsPerSec,
        )
        .min(0.0)
        .target(prom(
            on_node("rate(node_vmstat_pgmajfault[$__rate_interval])"),
            "{{nodename}}",
        )),
        Panel::time_series(
            "Swap used",
            "Swap in use. Any steady use slows containers down; the platform expects none.",
            Unit::Bytes,
        )
        .min(0.0)
        .target(prom(
            on_node("node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes"),
            "{{nodename}}",
        )),
    ])
    .row("Disks")
    .panels([
        Panel::time_series(
            "File system used",
            "Share of each real file system in use (tmpfs, overlay and other pseudo file systems left out).",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.8, 0.9))
        .target(prom(
            on_node(&format!(
                "1 - node_filesystem_avail_bytes{{{REAL_FS}}} / node_filesystem_size_bytes{{{REAL_FS}}}"
            )),
            "{{nodename}} {{mountpoint}}",
        ))
        .size(8, 8),
        Panel::time_series(
            "Disk throughput",
            "Bytes read from and written to block devices, summed per node.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                on_node("sum by (instance) (rate(node_disk_read_bytes_total[$__rate_interval]))"),
                "{{nodename}} read",
            ),
            prom(
                on_node("sum by (instance) (rate(node_disk_written_bytes_total[$__rate_interval]))"),
                "{{nodename}} written",
            ),
        ])
        .size(8, 8),
        Panel::time_series(
            "Disk busy",
            "Share of time each device had I/O in flight. Near 100 %, the disk is the bottleneck (PostgreSQL, Loki, Prometheus).",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .target(prom(
            on_node("rate(node_disk_io_time_seconds_total[$__rate_interval])"),
            "{{nodename}} {{device}}",
        ))
        .size(8, 8),
    ])
    .row("Network")
    .panels([
        Panel::time_series(
            "Network traffic",
            "Bytes received and sent on physical interfaces (Docker bridges and veths left out), per node.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                on_node(&format!(
                    "sum by (instance) (rate(node_network_receive_bytes_total{{{VIRTUAL_NICS}}}[$__rate_interval]))"
                )),
                "{{nodename}} received",
            ),
            prom(
                on_node(&format!(
                    "sum by (instance) (rate(node_network_transmit_bytes_total{{{VIRTUAL_NICS}}}[$__rate_interval]))"
                )),
                "{{nodename}} sent",
            ),
        ])
        .size(8, 8),
        Panel::time_series(
            "Network errors and drops",
            "Packets with errors or dropped on physical interfaces. Anything above zero deserves a look at cables, drivers or buffers.",
            Unit::PacketsPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                on_node(&format!(
                    "sum by (instance) (rate(node_network_receive_errs_total{{{VIRTUAL_NICS}}}[$__rate_interval]) + rate(node_network_transmit_errs_total{{{VIRTUAL_NICS}}}[$__rate_interval]))"
                )),
                "{{nodename}} errors",
            ),
            prom(
                on_node(&format!(
                    "sum by (instance) (rate(node_network_receive_drop_total{{{VIRTUAL_NICS}}}[$__rate_interval]) + rate(node_network_transmit_drop_total{{{VIRTUAL_NICS}}}[$__rate_interval]))"
                )),
                "{{nodename}} drops",
            ),
        ])
        .size(8, 8),
        Panel::time_series(
            "TCP connections",
            "Established TCP connections per node.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(on_node("node_netstat_Tcp_CurrEstab"), "{{nodename}}"))
        .size(8, 8),
    ])
    .build()
}
