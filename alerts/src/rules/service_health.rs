//! Swarm service health as the engine reports it, from swarm-exporter (this
//! workspace's `swarm-exporter/` crate): tasks running against desired,
//! failed and rejected tasks, and the update/rollback state of every service
//! of the platform and of the monitoring stack.
//!
//! Unlike the cAdvisor-based `SwarmServiceRestartLoop` and the `up`-based
//! `*ReplicasMissing`, these see tasks that never got a container (pending
//! on a constraint or resources, rejected by the node) and services that
//! expose no metrics of their own.
//!
//! The service alerts drop the exporter's `instance` (`max without
//! (instance)`): the alert is about a service, not about the exporter that
//! reported it, so a second exporter replica does not double it, and
//! Alertmanager's "a critical alert mutes the warnings of the same job and
//! instance" cannot let one service's `SwarmServiceNoTaskRunning` mute every
//! other service's warnings.

use super::{Target, dashboard_for, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.3:9324";
const STACK: &str = "etl";
const SERVICE: &str = "etl_backend";

/// The job label plus the series' own labels, for a replica gauge.
fn replicas(metric: &str, service: &str) -> String {
    series(
        metric,
        &[
            ("instance", INSTANCE),
            ("job", job::SWARM_EXPORTER),
            ("mode", "replicated"),
            ("service", service),
            ("stack", STACK),
        ],
    )
}

/// The labels a service alert keeps (the exporter's `instance` dropped).
fn service_labels(service: &str) -> [(&str, &str); 4] {
    [("job", job::SWARM_EXPORTER), ("mode", "replicated"), ("service", service), ("stack", STACK)]
}

fn update_state(service: &str, state: &str) -> String {
    series(
        "swarm_service_update_state",
        &[
            ("instance", INSTANCE),
            ("job", job::SWARM_EXPORTER),
            ("service", service),
            ("stack", STACK),
            ("state", state),
        ],
    )
}

pub fn rules() -> RuleFile {
    RuleFile::new(subject::SERVICE_HEALTH).dashboard(dashboard_for(subject::SERVICE_HEALTH)).group(
        Group::new("service-health")
            .alert(below_desired())
            .alert(no_task_running())
            .alert(tasks_failing())
            .alert(update_stuck())
            .alert(update_paused())
            .alert(rolled_back())
            .alert(engine_unreadable())
            .alert(target_down(
                "SwarmExporterDown",
                &EXPORTER,
                Severity::Critical,
                Duration::minutes(5),
                "Swarm service health is unknown and none of its alerts can fire (a service below its replicas, a crash loop, a stuck update go unseen).",
            )),
    )
}

/// The exporter itself, scraped by service name (prometheus.yml): a missing
/// task is `up == 0` at once, so no `absent()` twin is needed.
const EXPORTER: Target = Target {
    job: job::SWARM_EXPORTER,
    instance: "swarm-exporter:9324",
    what: "swarm-exporter",
    team: Team::Observability,
};

fn below_desired() -> Alert<Tested, Tested> {
    Alert::new("SwarmServiceBelowDesired", Severity::Warning)
        .expr(
            r#"
            max without (instance) (swarm_service_replicas_running{job="swarm-exporter"})
            <
            max without (instance) (swarm_service_replicas_desired{job="swarm-exporter"})
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("A Swarm service runs fewer tasks than desired.")
        .description(
            "{{ $labels.service }} (stack {{ $labels.stack }}) has run only {{ $value }} of its desired tasks \
             for 5 minutes: tasks are pending (no node satisfies its constraints or resources), failing, \
             or a node is down.",
        )
        .fires(
            fires("one of two replicas missing")
                .at(Duration::minutes(10))
                .series(replicas("swarm_service_replicas_running", SERVICE), "2x2 1x20")
                .series(replicas("swarm_service_replicas_desired", SERVICE), "2x22")
                .alert_value(&service_labels(SERVICE), 1.0),
        )
        .stays_quiet(
            quiet("a rolling update is one replica short for two minutes")
                .at(Duration::minutes(10))
                .series(replicas("swarm_service_replicas_running", SERVICE), "2x5 1x2 2x15")
                .series(replicas("swarm_service_replicas_desired", SERVICE), "2x22"),
        )
        .stays_quiet(
            quiet("scaled up and the new replica started")
                .at(Duration::minutes(10))
                .series(replicas("swarm_service_replicas_running", SERVICE), "2x3 3x20")
                .series(replicas("swarm_service_replicas_desired", SERVICE), "2x2 3x20"),
        )
}

fn no_task_running() -> Alert<Tested, Tested> {
    Alert::new("SwarmServiceNoTaskRunning", Severity::Critical)
        .expr(
            r#"
            max without (instance) (swarm_service_replicas_running{job="swarm-exporter"}) == 0
            and
            max without (instance) (swarm_service_replicas_desired{job="swarm-exporter"}) > 0
            "#,
        )
        .for_duration(Duration::minutes(3))
        .team(Team::Platform)
        .summary("A Swarm service has no task running.")
        .description(
            "{{ $labels.service }} (stack {{ $labels.stack }}) should run tasks but has run none for 3 minutes: \
             the service is down.",
        )
        .fires(
            fires("both replicas gone")
                .at(Duration::minutes(10))
                .series(replicas("swarm_service_replicas_running", SERVICE), "2x2 0x20")
                .series(replicas("swarm_service_replicas_desired", SERVICE), "2x22")
                .alert_value(&service_labels(SERVICE), 0.0),
        )
        .stays_quiet(
            quiet("scaled to zero on purpose")
                .at(Duration::minutes(10))
                .series(replicas("swarm_service_replicas_running", SERVICE), "2x2 0x20")
                .series(replicas("swarm_service_replicas_desired", SERVICE), "2x2 0x20"),
        )
}

fn tasks_failing() -> Alert<Tested, Tested> {
    let failures = |node: &str, state: &str| {
        series(
            "swarm_service_task_failures_total",
            &[
                ("instance", INSTANCE),
                ("job", job::SWARM_EXPORTER),
                ("node", node),
                ("service", SERVICE),
                ("stack", STACK),
                ("state", state),
            ],
        )
    };
    Alert::new("SwarmServiceCrashLoop", Severity::Warning)
        .expr(
            r#"
            sum by (job, stack, service) (
              max without (instance) (increase(swarm_service_task_failures_total{job="swarm-exporter"}[15m]))
            )
            > 3
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("A Swarm service's tasks keep failing: a restart loop.")
        .description(
            "{{ $value | humanize }} tasks of {{ $labels.service }} (stack {{ $labels.stack }}) failed, were \
             rejected or exited in the last 15 minutes: Swarm keeps replacing them (crash, failed health check, \
             image pull or mount errors, a process that exits).",
        )
        .fires(
            fires("a task fails every minute on one node, and is rejected on another")
                .at(Duration::minutes(20))
                .series(failures("node-a", "failed"), "1+1x30")
                .series(failures("node-b", "rejected"), "1+0x30")
                .series(failures("node-b", "complete"), "0x30")
                .alert_value(&[("job", job::SWARM_EXPORTER), ("service", SERVICE), ("stack", STACK)], 15.0),
        )
        .stays_quiet(
            quiet("two failures in a quarter of an hour")
                .at(Duration::minutes(20))
                .series(failures("node-a", "failed"), "1x10 2x5 3x15"),
        )
}

fn update_stuck() -> Alert<Tested, Tested> {
    Alert::new("SwarmServiceUpdateStuck", Severity::Warning)
        .expr(
            r#"max without (instance) (swarm_service_update_state{job="swarm-exporter", state=~"updating|rollback_started"}) == 1"#,
        )
        .for_duration(Duration::minutes(30))
        .team(Team::Platform)
        .summary("A Swarm service update has not finished in 30 minutes.")
        .description(
            "{{ $labels.service }} (stack {{ $labels.stack }}) has been in {{ $labels.state }} for 30 minutes. \
             Swarm waits without a deadline for a new task to run: a task pending on a constraint or resources \
             holds the update forever.",
        )
        .fires(
            fires("updating for 40 minutes")
                .at(Duration::minutes(40))
                .series(update_state(SERVICE, "updating"), "1x45")
                .series(update_state(SERVICE, "completed"), "0x45")
                .alert_value(
                    &[
                        ("job", job::SWARM_EXPORTER),
                        ("service", SERVICE),
                        ("stack", STACK),
                        ("state", "updating"),
                    ],
                    1.0,
                ),
        )
        .stays_quiet(
            quiet("an update that completes in ten minutes")
                .at(Duration::minutes(40))
                .series(update_state(SERVICE, "updating"), "1x10 0x35")
                .series(update_state(SERVICE, "completed"), "0x10 1x35"),
        )
}

fn update_paused() -> Alert<Tested, Tested> {
    Alert::new("SwarmServiceUpdatePaused", Severity::Warning)
        .expr(
            r#"max without (instance) (swarm_service_update_state{job="swarm-exporter", state=~"paused|rollback_paused"}) == 1"#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("Swarm paused a service update after failed tasks.")
        .description(
            "{{ $labels.service }} (stack {{ $labels.stack }}) is {{ $labels.state }}: new tasks failed during the \
             update (failure_action pause), so the service runs a mix of old and new tasks until someone acts.",
        )
        .fires(
            fires("paused for ten minutes")
                .at(Duration::minutes(10))
                .series(update_state(SERVICE, "paused"), "0 1x20")
                .alert_value(
                    &[
                        ("job", job::SWARM_EXPORTER),
                        ("service", SERVICE),
                        ("stack", STACK),
                        ("state", "paused"),
                    ],
                    1.0,
                ),
        )
        .stays_quiet(
            quiet("paused for two minutes, then resumed")
                .at(Duration::minutes(10))
                .series(update_state(SERVICE, "paused"), "0 1x2 0x20"),
        )
}

fn rolled_back() -> Alert<Tested, Tested> {
    Alert::new("SwarmServiceRolledBack", Severity::Warning)
        .expr(
            r#"max without (instance) (swarm_service_update_state{job="swarm-exporter", state="rollback_completed"}) == 1"#,
        )
        .for_duration(Duration::minutes(1))
        .team(Team::Platform)
        .summary("A Swarm service was rolled back to its previous spec.")
        .description(
            "{{ $labels.service }} (stack {{ $labels.stack }}) runs its previous spec: its last update was rolled \
             back (by Swarm's failure_action rollback, `docker service rollback`, or a reverted `cargo xtask \
             deploy`). The change it was meant to ship is not running. Resolves with the next update.",
        )
        .fires(
            fires("rolled back")
                .at(Duration::minutes(5))
                .series(update_state(SERVICE, "rollback_completed"), "0x2 1x10")
                .alert_value(
                    &[
                        ("job", job::SWARM_EXPORTER),
                        ("service", SERVICE),
                        ("stack", STACK),
                        ("state", "rollback_completed"),
                    ],
                    1.0,
                ),
        )
        .stays_quiet(
            quiet("the update completed")
                .at(Duration::minutes(5))
                .series(update_state(SERVICE, "rollback_completed"), "0x10")
                .series(update_state(SERVICE, "completed"), "1x10"),
        )
}

fn engine_unreadable() -> Alert<Tested, Tested> {
    let up = series("swarm_exporter_engine_up", &[("instance", INSTANCE), ("job", job::SWARM_EXPORTER)]);
    Alert::new("SwarmExporterEngineUnreadable", Severity::Warning)
        .expr(r#"swarm_exporter_engine_up{job="swarm-exporter"} == 0"#)
        .for_duration(Duration::minutes(5))
        .team(Team::Observability)
        .summary("The Swarm service health exporter cannot read the Docker engine.")
        .description(
            "{{ $labels.instance }} has failed to read services, tasks or nodes from the engine for 5 minutes: \
             Swarm service health is unknown and its alerts cannot fire.",
        )
        .fires(
            fires("the engine refuses every read")
                .at(Duration::minutes(10))
                .series(up.clone(), "1x2 0x20")
                .alert_value(&[("instance", INSTANCE), ("job", job::SWARM_EXPORTER)], 0.0),
        )
        .stays_quiet(quiet("one failed read").at(Duration::minutes(10)).series(up, "1x4 0 1x20"))
}
