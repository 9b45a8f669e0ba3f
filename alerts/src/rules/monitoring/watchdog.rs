//! The dead-man's switch.
//!
//! `Watchdog` fires at every evaluation. Alertmanager routes it (matching
//! `alertname="Watchdog"`, which Prometheus always sets, so no extra label is
//! needed) to a receiver that *expects* a notification every few minutes and
//! pages when they stop: that is how a dead Prometheus, a broken rule
//! pipeline or a dead Alertmanager gets noticed. Its severity is `info`, the
//! honest value: it is never an incident by itself, and `none` is not a
//! severity our routes or the mixin guidelines know.

use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, Severity, Team};
use crate::testing::fires;

pub fn group() -> Group {
    Group::new("monitoring.watchdog").alert(
        Alert::new("Watchdog", Severity::Info)
            .expr("vector(1)")
            .team(Team::Observability)
            .summary("The alerting pipeline is alive; this alert always fires.")
            .description(
                "This alert fires at every evaluation so that a dead-man's switch outside the stack notices \
                 when it stops arriving: then Prometheus, its rule evaluation or Alertmanager is down.",
            )
            .fires(fires("at every evaluation").at(Duration::minutes(1)).alert(&[]))
            .always_firing(),
    )
}
