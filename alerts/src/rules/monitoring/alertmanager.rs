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
