//! Hosts (Swarm nodes), from node-exporter.
//!
//! node-exporter runs globally in each host's network namespace and is
//! scraped by the otel-agent of the same node, so `instance` (and `node`) is
//! the node's hostname.

use super::{Target, dashboard_for, target_absent, target_down};
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.5:9100";

const TARGET: Target =
    Target { job: job::NODE_EXPORTER, instance: INSTANCE, what: "node-exporter", team: Team::Platform };

/// Real filesystems only: tmpfs and container layers fill and empty by design.
const FS: &str = r#"job="node-exporter",fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs""#;

/// Block devices worth watching (the node-exporter mixin's list).
const DISKS: &str =
    r#"job="node-exporter",device=~"(/dev/)?(mmcblk.p.+|nvme.+|rbd.+|sd.+|vd.+|xvd.+|dm-.+|md.+|dasd.+)""#;

fn node(name: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![("instance", INSTANCE), ("job", job::NODE_EXPORTER)];
    labels.extend_from_slice(extra);
    labels.sort();
    series(name, &labels)
}

const NODE: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::NODE_EXPORTER)];

const ROOT_FS: &[(&str, &str)] = &[
    ("device", "/dev/sda1"),
    ("fstype", "ext4"),
    ("instance", INSTANCE),
    ("job", job::NODE_EXPORTER),
    ("mountpoint", "/"),
];

fn root_fs(name: &str) -> String {
    node(name, &[("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/")])
}

pub fn rules() -> RuleFile {
    RuleFile::new(subject::HOSTS)
        .dashboard(dashboard_for(subject::HOSTS))
        .group(
            Group::new("hosts.availability")
                .alert(target_down(
                    "NodeExporterDown",
                    &TARGET,
                    Severity::Warning,
                    Duration::minutes(5),
                    "the host may be down, and every host alert for it is blind.",
                ))
                .alert(target_absent(
                    "NodeExporterAbsent",
                    &TARGET,
                    Severity::Warning,
                    Duration::minutes(15),
                    "no host in the Swarm is monitored.",
                ))
                .alert(host_rebooted()),
        )
        .group(
            Group::new("hosts.resources")
                .alert(cpu())
                .alert(memory_pressure())
                .alert(out_of_memory())
                .alert(oom_kill())
                .alert(conntrack())
                .alert(file_descriptors())
                .alert(cpu_mode("HostCpuStealHigh", "steal", "0.10", "A host's CPUs lose more than 10% of their time to steal.",
                    "The hypervisor gives {{ $labels.instance }} only part of its CPUs: {{ $value | humanizePercentage }} \
                     of CPU time is stolen by other guests; everything on the node runs slower."))
                .alert(cpu_mode("HostCpuIowaitHigh", "iowait", "0.20", "A host's CPUs spend more than 20% of their time waiting for I/O.",
                    "{{ $labels.instance }} spends {{ $value | humanizePercentage }} of its CPU time in iowait: \
                     its disks cannot keep up with the load."))
                .alert(system_saturated())
                .alert(major_page_faults())
                .alert(swap_filling_up()),
        )
        .group(
            Group::new("hosts.storage")
                .alert(disk_space_low())
                .alert(disk_space_critical())
                .alert(disk_will_fill())
                .alert(disk_will_fill_soon())
                .alert(inodes_low())
                .alert(inodes_will_fill())
                .alert(disk_io_saturated())
                .alert(raid_degraded())
                .alert(raid_disk_failed()),
        )
        .group(
            Group::new("hosts.network-and-time")
                .alert(network_errors("Receive", "received"))
                .alert(network_errors("Transmit", "transmitted"))
                .alert(bond_degraded())
                .alert(clock_skew())
                .alert(clock_not_synchronising()),
        )
}

fn cpu() -> Alert<crate::Tested, crate::Tested> {
    let idle = |cpu: &str| node("node_cpu_seconds_total", &[("cpu", cpu), ("mode", "idle")]);
    Alert::new("HostHighCpuUsage", Severity::Warning)
        .expr(
            r#"
            1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{job="node-exporter",mode="idle"}[5m])) > 0.9
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A host's CPUs have been more than 90% busy for 15 minutes.")
        .description("CPU usage on {{ $labels.instance }} is {{ $value | humanizePercentage }}.")
        // Idle seconds grow 3 per minute per CPU: 5% idle, 95% busy.
        .fires(
            fires("95% busy on both CPUs")
                .at(Duration::minutes(30))
                .series(idle("0"), "0+3x40")
                .series(idle("1"), "0+3x40")
                .alert_value(NODE, 0.95),
        )
        .stays_quiet(
            quiet("half busy").at(Duration::minutes(30)).series(idle("0"), "0+30x40").series(idle("1"), "0+30x40"),
        )
}

/// Available memory below a threshold; tested just below and well above.
struct MemoryThreshold<'a> {
    name: &'a str,
    severity: Severity,
    threshold: &'a str,
    pending: Duration,
    summary: &'a str,
    /// Available bytes (of 16 GB) in the firing case, and the resulting ratio.
    hit: (&'a str, f64),
    /// Available bytes in the quiet case.
    miss: &'a str,
}

impl MemoryThreshold<'_> {
    fn build(self) -> Alert<crate::Tested, crate::Tested> {
        let total = node("node_memory_MemTotal_bytes", &[]);
        let avail = node("node_memory_MemAvailable_bytes", &[]);
        let threshold = self.threshold;
        Alert::new(self.name, self.severity)
            .expr(&format!(
                r#"node_memory_MemAvailable_bytes{{job="node-exporter"}} / node_memory_MemTotal_bytes{{job="node-exporter"}} < {threshold}"#
            ))
            .for_duration(self.pending)
            .team(Team::Platform)
            .summary(self.summary)
            .description(
                "Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is available; \
                 containers on it risk the OOM killer.",
            )
            .fires(
                fires("little memory available")
                    .at(self.pending + Duration::minutes(5))
                    .series(total.clone(), "16000000000x30")
                    .series(avail.clone(), format!("{}x30", self.hit.0))
                    .alert_value(NODE, self.hit.1),
            )
            .stays_quiet(
                quiet("above the threshold")
                    .at(self.pending + Duration::minutes(5))
                    .series(total, "16000000000x30")
                    .series(avail, format!("{}x30", self.miss)),
            )
    }
}

fn memory_pressure() -> Alert<crate::Tested, crate::Tested> {
    MemoryThreshold {
        name: "HostMemoryPressure",
        severity: Severity::Warning,
        threshold: "0.10",
        pending: Duration::minutes(15),
        summary: "A host has had less than 10% of its memory available for 15 minutes.",
        hit: ("1200000000", 0.075),
        miss: "4000000000",
    }
    .build()
}

fn out_of_memory() -> Alert<crate::Tested, crate::Tested> {
    MemoryThreshold {
        name: "HostOutOfMemory",
        severity: Severity::Critical,
        threshold: "0.05",
        pending: Duration::minutes(5),
        summary: "A host has less than 5% of its memory available.",
        hit: ("400000000", 0.025),
        miss: "1200000000",
    }
    .build()
}

fn oom_kill() -> Alert<crate::Tested, crate::Tested> {
    let kills = node("node_vmstat_oom_kill", &[]);
    Alert::new("HostOomKillDetected", Severity::Warning)
        .expr(r#"increase(node_vmstat_oom_kill{job="node-exporter"}[5m]) > 0"#)
        // One kill is one event; keep it visible long enough to be read.
        .keep_firing_for(Duration::minutes(10))
        .team(Team::Platform)
        .summary("The kernel OOM killer terminated a process on a host.")
        .description(
            "The OOM killer ran on {{ $labels.instance }} in the last 5 minutes \
             (a container over its memory limit, or the host out of memory).",
        )
        .fires(fires("one kill").at(Duration::minutes(13)).series(kills.clone(), "0x10 1x10").alert(NODE))
        .stays_quiet(quiet("no kills").at(Duration::minutes(13)).series(kills, "0x20"))
}

/// A ratio of two node gauges above a threshold.
struct NodeRatio<'a> {
    name: &'a str,
    numerator: &'a str,
    denominator: &'a str,
    threshold: &'a str,
    pending: Duration,
    summary: &'a str,
    description: &'a str,
    /// Numerator, denominator and resulting ratio in the firing case.
    hit: (&'a str, &'a str, f64),
    /// Numerator in the quiet case.
    miss: &'a str,
}

impl NodeRatio<'_> {
    fn build(self) -> Alert<crate::Tested, crate::Tested> {
        let (n, d) = (node(self.numerator, &[]), node(self.denominator, &[]));
        let (numerator, denominator, threshold) = (self.numerator, self.denominator, self.threshold);
        let (hit_num, hit_den, hit_ratio) = self.hit;
        Alert::new(self.name, Severity::Warning)
            .expr(&format!(
                r#"{numerator}{{job="node-exporter"}} / {denominator}{{job="node-exporter"}} > {threshold}"#
            ))
            .for_duration(self.pending)
            .team(Team::Platform)
            .summary(self.summary)
            .description(self.description)
            .fires(
                fires("over the threshold")
                    .at(self.pending + Duration::minutes(5))
                    .series(n.clone(), format!("{hit_num}x30"))
                    .series(d.clone(), format!("{hit_den}x30"))
                    .alert_value(NODE, hit_ratio),
            )
            .stays_quiet(
                quiet("well below")
                    .at(self.pending + Duration::minutes(5))
                    .series(n, format!("{}x30", self.miss))
                    .series(d, format!("{hit_den}x30")),
            )
    }
}

fn conntrack() -> Alert<crate::Tested, crate::Tested> {
    NodeRatio {
        name: "HostConntrackNearLimit",
        numerator: "node_nf_conntrack_entries",
        denominator: "node_nf_conntrack_entries_limit",
        threshold: "0.8",
        pending: Duration::minutes(5),
        summary: "A host's connection tracking table is more than 80% full.",
        description: "Conntrack on {{ $labels.instance }} is {{ $value | humanizePercentage }} full; \
                      when it is full the kernel drops new connections, including Swarm overlay traffic.",
        hit: ("85000", "100000", 0.85),
        miss: "20000",
    }
    .build()
}

fn file_descriptors() -> Alert<crate::Tested, crate::Tested> {
    NodeRatio {
        name: "HostFileDescriptorsNearLimit",
        numerator: "node_filefd_allocated",
        denominator: "node_filefd_maximum",
        threshold: "0.8",
        pending: Duration::minutes(10),
        summary: "A host has used more than 80% of its file descriptors.",
        description: "{{ $labels.instance }} has allocated {{ $value | humanizePercentage }} of its file descriptors.",
        hit: ("900000", "1000000", 0.9),
        miss: "10000",
    }
    .build()
}

fn fs_ratio_expr(avail: &str, size: &str, op_threshold: &str) -> String {
    format!(
        r#"
        (
          {avail}{{{FS}}}
          /
          {size}{{{FS}}}
        ) {op_threshold}
        and
        node_filesystem_readonly{{{FS}}} == 0
        "#
    )
}

fn disk_alert(
    name: &str,
    severity: Severity,
    threshold: &str,
    pending: Duration,
    summary: &str,
    hit: (&str, f64),
) -> Alert<crate::Tested, crate::Tested> {
    let size = "100000000000x30";
    Alert::new(name, severity)
        .expr(&fs_ratio_expr("node_filesystem_avail_bytes", "node_filesystem_size_bytes", &format!("< {threshold}")))
        .for_duration(pending)
        .team(Team::Platform)
        .summary(summary)
        .description(
            "Only {{ $value | humanizePercentage }} of {{ $labels.mountpoint }} ({{ $labels.device }}) \
             on {{ $labels.instance }} is free.",
        )
        .fires(
            fires("root filesystem nearly full")
                .at(pending + Duration::minutes(5))
                .series(root_fs("node_filesystem_avail_bytes"), format!("{}x30", hit.0))
                .series(root_fs("node_filesystem_size_bytes"), size)
                .series(root_fs("node_filesystem_readonly"), "0x30")
                .alert_value(ROOT_FS, hit.1),
        )
        .stays_quiet(
            quiet("a full read-only mount is not a problem")
                .at(pending + Duration::minutes(5))
                .series(root_fs("node_filesystem_avail_bytes"), "1000000000x30")
                .series(root_fs("node_filesystem_size_bytes"), size)
                .series(root_fs("node_filesystem_readonly"), "1x30"),
        )
}

fn disk_space_low() -> Alert<crate::Tested, crate::Tested> {
    disk_alert(
        "HostDiskSpaceLow",
        Severity::Warning,
        "0.10",
        Duration::minutes(10),
        "A host filesystem has less than 10% free space.",
        ("8000000000", 0.08),
    )
}

fn disk_space_critical() -> Alert<crate::Tested, crate::Tested> {
    disk_alert(
        "HostDiskSpaceCritical",
        Severity::Critical,
        "0.05",
        Duration::minutes(5),
        "A host filesystem has less than 5% free space.",
        ("3000000000", 0.03),
    )
}

fn disk_will_fill() -> Alert<crate::Tested, crate::Tested> {
    let expr = format!(
        r#"
        (
          node_filesystem_avail_bytes{{{FS}}}
          /
          node_filesystem_size_bytes{{{FS}}}
        ) < 0.25
        and
        predict_linear(node_filesystem_avail_bytes{{{FS}}}[6h], 24 * 3600) < 0
        and
        node_filesystem_readonly{{{FS}}} == 0
        "#
    );
    Alert::new("HostDiskWillFillIn24Hours", Severity::Warning)
        .expr(&expr)
        .for_duration(Duration::hours(1))
        .team(Team::Platform)
        .summary("A host filesystem will be full within 24 hours at the current rate.")
        .description(
            "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} has \
             {{ $value | humanizePercentage }} free and is filling up fast enough to be full within a day.",
        )
        // Loses 50 MB a minute: 72 GB a day against 15 GB left.
        .fires(
            fires("steady 50 MB/min growth")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_avail_bytes"), "20000000000-50000000x120")
                .series(root_fs("node_filesystem_size_bytes"), "100000000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120")
                .alert_value(ROOT_FS, 0.15),
        )
        .stays_quiet(
            quiet("slow growth")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_avail_bytes"), "20000000000-1000000x120")
                .series(root_fs("node_filesystem_size_bytes"), "100000000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120"),
        )
}

fn inodes_low() -> Alert<crate::Tested, crate::Tested> {
    Alert::new("HostInodesLow", Severity::Warning)
        .expr(&fs_ratio_expr("node_filesystem_files_free", "node_filesystem_files", "< 0.10"))
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A host filesystem has less than 10% of its inodes free.")
        .description(
            "Only {{ $value | humanizePercentage }} of the inodes of {{ $labels.mountpoint }} on \
             {{ $labels.instance }} are free; file creation fails when none are left.",
        )
        .fires(
            fires("many small files")
                .at(Duration::minutes(20))
                .series(root_fs("node_filesystem_files_free"), "50000x30")
                .series(root_fs("node_filesystem_files"), "1000000x30")
                .series(root_fs("node_filesystem_readonly"), "0x30")
                .alert_value(ROOT_FS, 0.05),
        )
        .stays_quiet(
            quiet("half the inodes free")
                .at(Duration::minutes(20))
                .series(root_fs("node_filesystem_files_free"), "500000x30")
                .series(root_fs("node_filesystem_files"), "1000000x30")
                .series(root_fs("node_filesystem_readonly"), "0x30"),
        )
}

fn disk_io_saturated() -> Alert<crate::Tested, crate::Tested> {
    let io = node("node_disk_io_time_weighted_seconds_total", &[("device", "sda")]);
    Alert::new("HostDiskIoSaturated", Severity::Warning)
        .expr(&format!("rate(node_disk_io_time_weighted_seconds_total{{{DISKS}}}[5m]) > 10"))
        .for_duration(Duration::minutes(30))
        .team(Team::Platform)
        .summary("A host disk has had a long I/O queue for 30 minutes.")
        .description(
            "Disk {{ $labels.device }} on {{ $labels.instance }} has an average I/O queue of \
             {{ $value | humanize }} requests; everything on it is slowed down.",
        )
        .fires(
            fires("queue of 15")
                .at(Duration::minutes(40))
                .series(io.clone(), "0+900x50")
                .alert_value(&[("device", "sda"), ("instance", INSTANCE), ("job", job::NODE_EXPORTER)], 15.0),
        )
        .stays_quiet(quiet("queue of 1").at(Duration::minutes(40)).series(io, "0+60x50"))
}

fn network_errors(direction: &str, done: &str) -> Alert<crate::Tested, crate::Tested> {
    let lower = direction.to_lowercase();
    let errs = format!("node_network_{lower}_errs_total");
    let packets = format!("node_network_{lower}_packets_total");
    let dev = [("device", "eth0")];
    Alert::new(&format!("HostNetwork{direction}Errors"), Severity::Warning)
        .expr(&format!(
            r#"
            rate({errs}{{job="node-exporter"}}[5m])
            /
            rate({packets}{{job="node-exporter"}}[5m])
            > 0.01
            "#
        ))
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary(&format!("A host network interface has more than 1% {lower} errors."))
        .description(&format!(
            "{{{{ $value | humanizePercentage }}}} of the packets {done} on {{{{ $labels.device }}}} of \
             {{{{ $labels.instance }}}} fail (cabling, driver, or an overloaded NIC)."
        ))
        .fires(
            fires("3% errors")
                .at(Duration::minutes(25))
                .series(node(&errs, &dev), "0+30x40")
                .series(node(&packets, &dev), "0+1000x40")
                .alert_value(&[("device", "eth0"), ("instance", INSTANCE), ("job", job::NODE_EXPORTER)], 0.03),
        )
        .stays_quiet(
            quiet("no errors")
                .at(Duration::minutes(25))
                .series(node(&errs, &dev), "0x40")
                .series(node(&packets, &dev), "0+1000x40"),
        )
}

fn clock_skew() -> Alert<crate::Tested, crate::Tested> {
    let offset = node("node_timex_offset_seconds", &[]);
    Alert::new("HostClockSkew", Severity::Warning)
        .expr(r#"abs(node_timex_offset_seconds{job="node-exporter"}) > 0.05"#)
        .for_duration(Duration::minutes(10))
        .team(Team::Platform)
        .summary("A host clock is more than 50ms off.")
        .description(
            "The clock of {{ $labels.instance }} is off by {{ $value | humanizeDuration }}; \
             Swarm certificates, Raft and log ordering depend on synchronised clocks.",
        )
        .fires(fires("200ms off").at(Duration::minutes(15)).series(offset.clone(), "-0.2x20").alert_value(NODE, 0.2))
        .stays_quiet(quiet("1ms off").at(Duration::minutes(15)).series(offset, "0.001x20"))
}

fn clock_not_synchronising() -> Alert<crate::Tested, crate::Tested> {
    let status = node("node_timex_sync_status", &[]);
    let maxerror = node("node_timex_maxerror_seconds", &[]);
    Alert::new("HostClockNotSynchronising", Severity::Warning)
        .expr(
            r#"
            min_over_time(node_timex_sync_status{job="node-exporter"}[5m]) == 0
            and
            node_timex_maxerror_seconds{job="node-exporter"} >= 16
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Platform)
        .summary("A host clock is not being synchronised.")
        .description("NTP is not synchronising the clock of {{ $labels.instance }}; it will drift.")
        .fires(
            fires("NTP lost")
                .at(Duration::minutes(15))
                .series(status.clone(), "0x20")
                .series(maxerror.clone(), "16x20")
                .alert(NODE),
        )
        .stays_quiet(quiet("synchronised").at(Duration::minutes(15)).series(status, "1x20").series(maxerror, "0.01x20"))
}

fn host_rebooted() -> Alert<crate::Tested, crate::Tested> {
    let boot = node("node_boot_time_seconds", &[]);
    Alert::new("HostRebooted", Severity::Info)
        .expr(r#"changes(node_boot_time_seconds{job="node-exporter"}[15m]) > 0"#)
        .team(Team::Platform)
        .summary("A host rebooted.")
        .description("{{ $labels.instance }} booted in the last 15 minutes; its Swarm tasks were rescheduled.")
        .fires(fires("boot time moved").at(Duration::minutes(15)).series(boot.clone(), "1000x9 5000x10").alert(NODE))
        .stays_quiet(quiet("same boot").at(Duration::minutes(15)).series(boot, "1000x20"))
}

/// Share of CPU time in one mode, averaged over the host's CPUs.
fn cpu_mode(
    name: &str,
    mode: &str,
    threshold: &str,
    summary: &str,
    description: &str,
) -> Alert<crate::Tested, crate::Tested> {
    let time = |cpu: &str| node("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)]);
    Alert::new(name, Severity::Warning)
        .expr(&format!(
            r#"avg without (cpu, mode) (rate(node_cpu_seconds_total{{job="node-exporter",mode="{mode}"}}[5m])) > {threshold}"#
        ))
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary(summary)
        .description(description)
        // 18 s a minute on each CPU: 30%.
        .fires(
            fires("30% of the time on both CPUs")
                .at(Duration::minutes(30))
                .series(time("0"), "0+18x40")
                .series(time("1"), "0+18x40")
                .alert_value(NODE, 0.3),
        )
        .stays_quiet(quiet("1% of the time").at(Duration::minutes(30)).series(time("0"), "0+0.6x40").series(time("1"), "0+0.6x40"))
}

fn system_saturated() -> Alert<crate::Tested, crate::Tested> {
    let load = node("node_load1", &[]);
    let idle = |cpu: &str| node("node_cpu_seconds_total", &[("cpu", cpu), ("mode", "idle")]);
    Alert::new("HostSystemSaturated", Severity::Warning)
        .expr(
            r#"
            node_load1{job="node-exporter"}
            /
            count without (cpu, mode) (node_cpu_seconds_total{job="node-exporter",mode="idle"})
            > 2
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A host's load is more than twice its number of CPUs.")
        .description(
            "The one-minute load of {{ $labels.instance }} is {{ $value | humanize }} per CPU: \
             runnable and I/O-blocked tasks queue up and every container on the node slows down.",
        )
        .fires(
            fires("load 6 on 2 CPUs")
                .at(Duration::minutes(20))
                .series(load.clone(), "6x30")
                .series(idle("0"), "0+30x30")
                .series(idle("1"), "0+30x30")
                .alert_value(NODE, 3.0),
        )
        .stays_quiet(
            quiet("load 1.5 on 2 CPUs")
                .at(Duration::minutes(20))
                .series(load, "1.5x30")
                .series(idle("0"), "0+30x30")
                .series(idle("1"), "0+30x30"),
        )
}

fn major_page_faults() -> Alert<crate::Tested, crate::Tested> {
    // `untyped` in /proc/vmstat, so no `_total` is appended on the collector path.
    let faults = node("node_vmstat_pgmajfault", &[]);
    Alert::new("HostMemoryMajorPageFaults", Severity::Warning)
        .expr(r#"rate(node_vmstat_pgmajfault{job="node-exporter"}[5m]) > 500"#)
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A host takes more than 500 major page faults a second.")
        .description(
            "{{ $labels.instance }} reads {{ $value | humanize }} pages a second back from disk: \
             its memory is too small for its working set (thrashing).",
        )
        .fires(
            fires("1000 a second")
                .at(Duration::minutes(25))
                .series(faults.clone(), "0+60000x40")
                .alert_value(NODE, 1000.0),
        )
        .stays_quiet(quiet("10 a second").at(Duration::minutes(25)).series(faults, "0+600x40"))
}

fn swap_filling_up() -> Alert<crate::Tested, crate::Tested> {
    let (free, total) = (node("node_memory_SwapFree_bytes", &[]), node("node_memory_SwapTotal_bytes", &[]));
    Alert::new("HostSwapFillingUp", Severity::Warning)
        .expr(
            r#"
            1 - node_memory_SwapFree_bytes{job="node-exporter"} / (node_memory_SwapTotal_bytes{job="node-exporter"} > 0)
            > 0.8
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Platform)
        .summary("A host has used more than 80% of its swap.")
        .description(
            "{{ $labels.instance }} has {{ $value | humanizePercentage }} of its swap in use: memory is short, \
             and when swap is full the OOM killer runs.",
        )
        .fires(
            fires("90% of 4 GB swapped")
                .at(Duration::minutes(15))
                .series(free.clone(), "400000000x20")
                .series(total.clone(), "4000000000x20")
                .alert_value(NODE, 0.9),
        )
        .stays_quiet(quiet("a host without swap").at(Duration::minutes(15)).series(free, "0x20").series(total, "0x20"))
}

fn disk_will_fill_soon() -> Alert<crate::Tested, crate::Tested> {
    let expr = format!(
        r#"
        (
          node_filesystem_avail_bytes{{{FS}}}
          /
          node_filesystem_size_bytes{{{FS}}}
        ) < 0.15
        and
        predict_linear(node_filesystem_avail_bytes{{{FS}}}[6h], 4 * 3600) < 0
        and
        node_filesystem_readonly{{{FS}}} == 0
        "#
    );
    Alert::new("HostDiskWillFillIn4Hours", Severity::Critical)
        .expr(&expr)
        .for_duration(Duration::hours(1))
        .team(Team::Platform)
        .summary("A host filesystem will be full within 4 hours at the current rate.")
        .description(
            "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} has \
             {{ $value | humanizePercentage }} free and is filling up fast enough to be full within 4 hours.",
        )
        // Loses 100 MB a minute: 24 GB in 4 hours against 10 GB left at minute
        // 40 (the condition then holds for the hour) and 4 GB at minute 100.
        .fires(
            fires("steady 100 MB/min growth")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_avail_bytes"), "14000000000-100000000x120")
                .series(root_fs("node_filesystem_size_bytes"), "100000000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120")
                .alert_value(ROOT_FS, 0.04),
        )
        .stays_quiet(
            quiet("fills within a day, not within 4 hours")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_avail_bytes"), "14000000000-20000000x120")
                .series(root_fs("node_filesystem_size_bytes"), "100000000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120"),
        )
}

fn inodes_will_fill() -> Alert<crate::Tested, crate::Tested> {
    let expr = format!(
        r#"
        (
          node_filesystem_files_free{{{FS}}}
          /
          node_filesystem_files{{{FS}}}
        ) < 0.40
        and
        predict_linear(node_filesystem_files_free{{{FS}}}[6h], 24 * 3600) < 0
        and
        node_filesystem_readonly{{{FS}}} == 0
        "#
    );
    Alert::new("HostInodesWillFillIn24Hours", Severity::Warning)
        .expr(&expr)
        .for_duration(Duration::hours(1))
        .team(Team::Platform)
        .summary("A host filesystem will run out of inodes within 24 hours at the current rate.")
        .description(
            "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} has \
             {{ $value | humanizePercentage }} of its inodes free and creates files fast enough to run out within a day.",
        )
        // 300 000 inodes left of 1 000 000, 500 more used a minute: 720 000 a day.
        .fires(
            fires("500 files a minute")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_files_free"), "350000-500x120")
                .series(root_fs("node_filesystem_files"), "1000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120")
                .alert_value(ROOT_FS, 0.3),
        )
        .stays_quiet(
            quiet("10 files a minute")
                .at(Duration::minutes(100))
                .series(root_fs("node_filesystem_files_free"), "350000-10x120")
                .series(root_fs("node_filesystem_files"), "1000000x120")
                .series(root_fs("node_filesystem_readonly"), "0x120"),
        )
}

fn md(name: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![("device", "md0")];
    labels.extend_from_slice(extra);
    node(name, &labels)
}

const MD0: &[(&str, &str)] = &[("device", "md0"), ("instance", INSTANCE), ("job", job::NODE_EXPORTER)];

fn raid_degraded() -> Alert<crate::Tested, crate::Tested> {
    Alert::new("HostRaidDegraded", Severity::Critical)
        .expr(
            r#"
            node_md_disks_required{job="node-exporter"}
            -
            ignoring (state) (node_md_disks{job="node-exporter",state="active"})
            > 0
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A host's software RAID array is degraded.")
        .description(
            "Array {{ $labels.device }} on {{ $labels.instance }} is missing {{ $value }} active disks; \
             one more failure may lose its data.",
        )
        .fires(
            fires("one of two mirrors gone")
                .at(Duration::minutes(20))
                .series(md("node_md_disks_required", &[]), "2x30")
                .series(md("node_md_disks", &[("state", "active")]), "1x30")
                .alert_value(MD0, 1.0),
        )
        .stays_quiet(
            quiet("both mirrors active")
                .at(Duration::minutes(20))
                .series(md("node_md_disks_required", &[]), "2x30")
                .series(md("node_md_disks", &[("state", "active")]), "2x30"),
        )
}

fn raid_disk_failed() -> Alert<crate::Tested, crate::Tested> {
    let failed = md("node_md_disks", &[("state", "failed")]);
    let mut labels = MD0.to_vec();
    labels.push(("state", "failed"));
    Alert::new("HostRaidDiskFailed", Severity::Warning)
        .expr(r#"node_md_disks{job="node-exporter",state="failed"} > 0"#)
        .team(Team::Platform)
        .summary("A disk of a host's software RAID array failed.")
        .description(
            "Array {{ $labels.device }} on {{ $labels.instance }} has {{ $value }} failed disks; replace them.",
        )
        .fires(
            fires("one failed disk").at(Duration::minutes(5)).series(failed.clone(), "1x10").alert_value(&labels, 1.0),
        )
        .stays_quiet(quiet("no failed disk").at(Duration::minutes(5)).series(failed, "0x10"))
}

fn bond_degraded() -> Alert<crate::Tested, crate::Tested> {
    let bond = |name: &str| node(name, &[("master", "bond0")]);
    Alert::new("HostNetworkBondDegraded", Severity::Warning)
        .expr(
            r#"
            node_bonding_slaves{job="node-exporter"} - node_bonding_active{job="node-exporter"} > 0
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("A host's bonded network interface lost a member.")
        .description(
            "Bond {{ $labels.master }} on {{ $labels.instance }} has {{ $value }} inactive members: \
             the node has no link redundancy left.",
        )
        .fires(
            fires("one of two links down")
                .at(Duration::minutes(10))
                .series(bond("node_bonding_slaves"), "2x20")
                .series(bond("node_bonding_active"), "1x20")
                .alert_value(&[("instance", INSTANCE), ("job", job::NODE_EXPORTER), ("master", "bond0")], 1.0),
        )
        .stays_quiet(
            quiet("both links up")
                .at(Duration::minutes(10))
                .series(bond("node_bonding_slaves"), "2x20")
                .series(bond("node_bonding_active"), "2x20"),
        )
}
