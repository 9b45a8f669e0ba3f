//! Containers and Swarm services, from cAdvisor.
//!
//! cAdvisor runs with `--store_container_labels=false` and a whitelist of the
//! Swarm labels, so series carry `container_label_com_docker_swarm_service_name`
//! (and the stack and node labels) instead of every Docker label. Series
//! without a service name are containers outside Swarm (or cAdvisor's own
//! cgroup roots) and are left out.

use super::{Target, dashboard_for, lifetime, target_absent, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.5:8080";
const SERVICE_LABEL: &str = "container_label_com_docker_swarm_service_name";

const TARGET: Target = Target { job: job::CADVISOR, instance: INSTANCE, what: "cAdvisor", team: Team::Platform };

/// Swarm containers only.
const SEL: &str = r#"job="cadvisor",container_label_com_docker_swarm_service_name!="""#;

/// What per-container alerts keep: enough to find the task.
const BY: &str = "job, instance, container_label_com_docker_swarm_service_name, name";

const SERVICE: &str = "etl_backend";
const TASK: &str = "etl_backend.1.x1y2z3";

fn container(metric: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![
        ("container_label_com_docker_stack_namespace", "etl"),
        ("container_label_com_docker_swarm_node_id", "n0d3id"),
        (SERVICE_LABEL, SERVICE),
        ("id", "/docker/4f1c2e"),
        ("image", "registry.local/etl/backend:1.4.2"),
        ("instance", INSTANCE),
        ("job", job::CADVISOR),
        ("name", TASK),
    ];
    labels.extend_from_slice(extra);
    labels.sort();
    series(metric, &labels)
}

const TASK_LABELS: &[(&str, &str)] =
    &[(SERVICE_LABEL, SERVICE), ("instance", INSTANCE), ("job", job::CADVISOR), ("name", TASK)];

pub fn rules() -> RuleFile {
    RuleFile::new(subject::CONTAINERS).dashboard(dashboard_for(subject::CONTAINERS)).group(
        Group::new("containers")
            .alert(target_down(
                "CadvisorDown",
                &TARGET,
                Severity::Warning,
                Duration::minutes(5),
                "container metrics of that node are missing.",
            ))
            .alert(target_absent(
                "CadvisorAbsent",
                &TARGET,
                Severity::Warning,
                Duration::minutes(15),
                "no container in the Swarm is monitored.",
            ))
            .alert(cpu_near_limit())
            .alert(cpu_throttled())
            .alert(memory_near_limit())
            .alert(service_unhealthy())
            .alert(restart_loop()),
    )
}

fn cpu_near_limit() -> Alert<Tested, Tested> {
    let usage = container("container_cpu_usage_seconds_total", &[("cpu", "total")]);
    let quota = container("container_spec_cpu_quota", &[]);
    let period = container("container_spec_cpu_period", &[]);
    Alert::new("ContainerCpuNearLimit", Severity::Warning)
        .expr(&format!(
            r#"
            sum by ({BY}) (rate(container_cpu_usage_seconds_total{{{SEL}}}[5m]))
            /
            (
              sum by ({BY}) (container_spec_cpu_quota{{{SEL}}} > 0)
              /
              sum by ({BY}) (container_spec_cpu_period{{{SEL}}})
            )
            > 0.9
            "#
        ))
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A container has used more than 90% of its CPU limit for 15 minutes.")
        .description(
            "{{ $labels.name }} (service {{ $labels.container_label_com_docker_swarm_service_name }}) on \
             {{ $labels.instance }} uses {{ $value | humanizePercentage }} of its CPU limit.",
        )
        .fires(
            fires("95% of a one-CPU limit")
                .at(Duration::minutes(25))
                .series(usage.clone(), "0+57x40")
                .series(quota.clone(), "100000x40")
                .series(period.clone(), "100000x40")
                .alert_value(TASK_LABELS, 0.95),
        )
        .stays_quiet(
            quiet("no CPU limit set")
                .at(Duration::minutes(25))
                .series(usage, "0+57x40")
                .series(quota, "0x40")
                .series(period, "100000x40"),
        )
}

fn cpu_throttled() -> Alert<Tested, Tested> {
    let throttled = container("container_cpu_cfs_throttled_periods_total", &[]);
    let periods = container("container_cpu_cfs_periods_total", &[]);
    Alert::new("ContainerCpuThrottled", Severity::Warning)
        .expr(&format!(
            r#"
            sum by ({BY}) (rate(container_cpu_cfs_throttled_periods_total{{{SEL}}}[5m]))
            /
            sum by ({BY}) (rate(container_cpu_cfs_periods_total{{{SEL}}}[5m]))
            > 0.25
            "#
        ))
        .for_duration(Duration::minutes(15))
        .team(Team::Platform)
        .summary("A container has been CPU-throttled in more than 25% of periods for 15 minutes.")
        .description(
            "{{ $labels.name }} (service {{ $labels.container_label_com_docker_swarm_service_name }}) is throttled \
             in {{ $value | humanizePercentage }} of its CFS periods; its latency suffers.",
        )
        .fires(
            fires("half the periods throttled")
                .at(Duration::minutes(25))
                .series(throttled.clone(), "0+300x40")
                .series(periods.clone(), "0+600x40")
                .alert_value(TASK_LABELS, 0.5),
        )
        .stays_quiet(
            quiet("1% throttled").at(Duration::minutes(25)).series(throttled, "0+6x40").series(periods, "0+600x40"),
        )
}

fn memory_near_limit() -> Alert<Tested, Tested> {
    let ws = container("container_memory_working_set_bytes", &[]);
    let limit = container("container_spec_memory_limit_bytes", &[]);
    Alert::new("ContainerMemoryNearLimit", Severity::Warning)
        .expr(&format!(
            r#"
            sum by ({BY}) (container_memory_working_set_bytes{{{SEL}}})
            /
            sum by ({BY}) (container_spec_memory_limit_bytes{{{SEL}}} > 0)
            > 0.9
            "#
        ))
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("A container uses more than 90% of its memory limit.")
        .description(
            "{{ $labels.name }} (service {{ $labels.container_label_com_docker_swarm_service_name }}) uses \
             {{ $value | humanizePercentage }} of its memory limit; the kernel kills it at 100%.",
        )
        .fires(
            fires("95% of 1 GB")
                .at(Duration::minutes(10))
                .series(ws.clone(), "950000000x20")
                .series(limit.clone(), "1000000000x20")
                .alert_value(TASK_LABELS, 0.95),
        )
        .stays_quiet(
            quiet("no memory limit set").at(Duration::minutes(10)).series(ws, "950000000x20").series(limit, "0x20"),
        )
}

/// cAdvisor reads Docker's health status: 1 healthy, 0 starting or
/// unhealthy, -1 no health check (`getContainerHealthState`,
/// lib/metrics/prometheus.go). Swarm kills an unhealthy container as soon as
/// its retries are used up and starts another, so no single container stays
/// unhealthy for long: the alert judges the service, and fires when none of
/// its containers has been healthy at any moment for 5 minutes (a start that
/// ends healthy, or one bad replica next to good ones, stays quiet; the
/// latter cycles and is SwarmServiceRestartLoop's).
fn service_unhealthy() -> Alert<Tested, Tested> {
    let health = |task: &str| container("container_health_state", &[]).replace(TASK, task);
    let mut cycling = fires("each replacement fails its checks").at(Duration::minutes(14));
    for (k, (start, len)) in [(0, 3), (3, 3), (6, 3), (9, 8)].into_iter().enumerate() {
        cycling = cycling.series(health(&format!("{SERVICE}.1.c{k}")), lifetime(start, len, 0));
    }
    Alert::new("SwarmServiceUnhealthy", Severity::Warning)
        .expr(&format!(r#"max by (job, {SERVICE_LABEL}) (max_over_time(container_health_state{{{SEL}}}[2m])) == 0"#))
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("No container of a Swarm service has passed its health check for 5 minutes.")
        .description(
            "Service {{ $labels.container_label_com_docker_swarm_service_name }} has had no healthy container \
             for 5 minutes: its health check keeps failing, and Swarm keeps replacing the tasks.",
        )
        .fires(cycling.alert(&[(SERVICE_LABEL, SERVICE), ("job", job::CADVISOR)]))
        .stays_quiet(
            quiet("a replica starting next to a healthy one, and a service without health check")
                .at(Duration::minutes(14))
                .series(health("etl_backend.1.h1"), "1x20")
                .series(health("etl_backend.2.s2"), "_x5 0x2 1x10")
                .series(container("container_health_state", &[]).replace(SERVICE, "etl_spark-worker"), "-1x20"),
        )
        .stays_quiet(
            quiet("a lone replica starting for 4 minutes, then healthy")
                .at(Duration::minutes(8))
                .series(health("etl_backend.1.s1"), "_x3 0x3 1x10"),
        )
}

fn restart_loop() -> Alert<Tested, Tested> {
    let started = |service: &str, task: &str| {
        series(
            "container_start_time_seconds",
            &[(SERVICE_LABEL, service), ("instance", INSTANCE), ("job", job::CADVISOR), ("name", task)],
        )
    };
    let crashing = "etl_spark-worker";
    // Six short-lived containers, then the current one.
    let mut firing = fires("six containers died within 25 minutes").at(Duration::minutes(25));
    for k in 0..6 {
        firing = firing.series(started(crashing, &format!("{crashing}.1.t{k}")), lifetime(3 * k, 2, 1000 + k as u64));
    }
    firing = firing
        .series(started(crashing, &format!("{crashing}.1.t6")), lifetime(20, 10, 2000))
        .alert_value(&[(SERVICE_LABEL, crashing), ("job", job::CADVISOR)], 7.0);
    // A rolling update of two replicas: each replaced once.
    let mut update = quiet("a rolling update replaces each replica once").at(Duration::minutes(25));
    for (k, (start, len)) in [(0, 10), (0, 11), (10, 20), (11, 20)].into_iter().enumerate() {
        update = update.series(started(SERVICE, &format!("{SERVICE}.{}.u{k}", k % 2 + 1)), lifetime(start, len, 1000));
    }
    let all = format!(r#"count_over_time(container_start_time_seconds{{{SEL}}}[30m])"#);
    Alert::new("SwarmServiceRestartLoop", Severity::Warning)
        .expr(&format!(
            r#"
            count by (job, {SERVICE_LABEL}) ({all})
            >
            3 * (
              count by (job, {SERVICE_LABEL}) (container_start_time_seconds{{{SEL}}})
              or
              0 * count by (job, {SERVICE_LABEL}) ({all})
            ) + 2
            "#
        ))
        .team(Team::Platform)
        .summary("A Swarm service keeps replacing its containers.")
        .description(
            "{{ $value }} containers of service {{ $labels.container_label_com_docker_swarm_service_name }} existed \
             in the last 30 minutes, more than three per running replica: its tasks keep exiting and being restarted.",
        )
        .fires(firing)
        .stays_quiet(update)
}
