//! Alertmanager (job `alertmanager`).

use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::names::job;
use crate::rules::{Target, target_down};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.4:9093";
const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::ALERTMANAGER)];

const TARGET: Target =
    Target { job: job::ALERTMANAGER, instance: INSTANCE, what: "Alertmanager", team: Team::Observability };

pub fn group() -> Group {
    Group::new("monitoring.alertmanager")
        .alert(target_down(
            "AlertmanagerDown",
            &TARGET,
            Severity::Critical,
            Duration::minutes(5),
            "no alert notification is delivered while it is down.",
        ))
        .alert(config_reload_failed())
        .alert(notifications_failing())
        .alert(config_inconsistent())
        .alert(members_inconsistent())
        .alert(failed_peers())
}

// The cluster alerts below judge the Alertmanager replicas together: they
// stay quiet with one replica and need every replica scraped as its own
// target (a `tasks.alertmanager` lookup rather than the service name).

const PEER: &str = "10.0.2.14:9093";

fn config_inconsistent() -> Alert<Tested, Tested> {
    let hash =
        |instance: &str| series("alertmanager_config_hash", &[("instance", instance), ("job", job::ALERTMANAGER)]);
    Alert::new("AlertmanagerConfigInconsistent", Severity::Critical)
        .expr(
            r#"
            count by (job) (
              count_values by (job) ("config_hash", alertmanager_config_hash{job="alertmanager"})
            )
            != 1
            "#,
        )
        .for_duration(Duration::minutes(20))
        .team(Team::Observability)
        .summary("Alertmanager replicas run different configurations.")
        .description(
            "The replicas of {{ $labels.job }} have loaded {{ $value }} different configurations: \
             a redeploy reached only some of them, and they route the same alert differently.",
        )
        .fires(
            fires("two hashes")
                .at(Duration::minutes(30))
                .series(hash(INSTANCE), "1234x40")
                .series(hash(PEER), "5678x40")
                .alert_value(&[("job", job::ALERTMANAGER)], 2.0),
        )
        .stays_quiet(
            quiet("the same hash on both")
                .at(Duration::minutes(30))
                .series(hash(INSTANCE), "1234x40")
                .series(hash(PEER), "1234x40"),
        )
}

fn members_inconsistent() -> Alert<Tested, Tested> {
    let members =
        |instance: &str| series("alertmanager_cluster_members", &[("instance", instance), ("job", job::ALERTMANAGER)]);
    Alert::new("AlertmanagerMembersInconsistent", Severity::Critical)
        .expr(
            r#"
              max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m])
            < on (job) group_left
              count by (job) (max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m]))
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("An Alertmanager replica does not see all other replicas as cluster members.")
        .description(
            "{{ $labels.instance }} sees only {{ $value }} cluster members: the gossip between replicas is \
             broken (overlay network, `--cluster.peer` names), so both may send the same notification.",
        )
        .fires(
            fires("each replica sees only itself")
                .at(Duration::minutes(25))
                .series(members(INSTANCE), "1x40")
                .series(members(PEER), "1x40")
                .alert_value(LABELS, 1.0)
                .alert_value(&[("instance", PEER), ("job", job::ALERTMANAGER)], 1.0),
        )
        .stays_quiet(
            quiet("both see two members")
                .at(Duration::minutes(25))
                .series(members(INSTANCE), "2x40")
                .series(members(PEER), "2x40"),
        )
}

fn failed_peers() -> Alert<Tested, Tested> {
    let failed = series("alertmanager_cluster_failed_peers", LABELS);
    Alert::new("AlertmanagerClusterFailedPeers", Severity::Warning)
        .expr(r#"max_over_time(alertmanager_cluster_failed_peers{job="alertmanager"}[5m]) > 0"#)
        .for_duration(Duration::minutes(15))
        .team(Team::Observability)
        .summary("An Alertmanager replica has failed cluster peers.")
        .description(
            "{{ $labels.instance }} has {{ $value }} failed cluster peers: a replica is gone or unreachable, \
             and notifications depend on the replicas left.",
        )
        .fires(
            fires("one failed peer").at(Duration::minutes(25)).series(failed.clone(), "1x40").alert_value(LABELS, 1.0),
        )
        .stays_quiet(quiet("no failed peer").at(Duration::minutes(25)).series(failed, "0x40"))
}

fn config_reload_failed() -> Alert<Tested, Tested> {
    let ok = series("alertmanager_config_last_reload_successful", LABELS);
    Alert::new("AlertmanagerConfigReloadFailed", Severity::Critical)
        .expr(r#"max_over_time(alertmanager_config_last_reload_successful{job="alertmanager"}[5m]) == 0"#)
        .for_duration(Duration::minutes(10))
        .team(Team::Observability)
        .summary("Alertmanager could not load its latest configuration.")
        .description(
            "{{ $labels.instance }} rejected its configuration and keeps routing with the old one; \
             routing or receiver changes are not in effect.",
        )
        .fires(fires("reload failed").at(Duration::minutes(25)).series(ok.clone(), "1x5 0x25").alert(LABELS))
        .stays_quiet(quiet("reloaded").at(Duration::minutes(25)).series(ok, "1x30"))
}

fn notifications_failing() -> Alert<Tested, Tested> {
    let labels = [("instance", INSTANCE), ("integration", "webhook"), ("job", job::ALERTMANAGER)];
    let total = series("alertmanager_notifications_total", &labels);
    let failed = series(
        "alertmanager_notifications_failed_total",
        &[("instance", INSTANCE), ("integration", "webhook"), ("job", job::ALERTMANAGER), ("reason", "other")],
    );
    Alert::new("AlertmanagerNotificationsFailing", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance, integration) (rate(alertmanager_notifications_failed_total{job="alertmanager"}[5m]))
            /
            sum by (job, instance, integration) (rate(alertmanager_notifications_total{job="alertmanager"}[5m]))
            > 0.01
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Observability)
        .summary("Alertmanager fails to deliver notifications.")
        .description(
            "{{ $value | humanizePercentage }} of the {{ $labels.integration }} notifications from \
             {{ $labels.instance }} fail; people are not being told about alerts.",
        )
        .fires(
            fires("half failing")
                .at(Duration::minutes(15))
                .series(total.clone(), "0+60x30")
                .series(failed.clone(), "0+30x30")
                .alert_value(&labels, 0.5),
        )
        .stays_quiet(quiet("all delivered").at(Duration::minutes(15)).series(total, "0+60x30").series(failed, "0x30"))
}
