//! The logs of one platform service, opened from its dashboard with the same
//! time range: a header link to the Logs dashboard filtered to the service,
//! and a row with its error rate by parsed level and its lines.
//!
//! Promtail labels container streams `service` with the Swarm service name,
//! which carries the platform's stack prefix (`etl_keycloak`); the pattern
//! matches it whatever the stack is called. `level` is the label Promtail's
//! pipeline parses per log format (stack/configs/promtail/promtail.yml).

use super::common::loki;
use super::uids;
use crate::{DashboardBuilder, DashboardLink, Panel, Target, Unit};

/// A service's log streams, for a Loki selector: `service=~"<pattern>"`.
pub(super) struct ServiceLogs {
    /// What people call it ("Keycloak").
    pub what: &'static str,
    /// A regular expression for the Swarm service name (`.+_keycloak`).
    pub service: &'static str,
}

impl ServiceLogs {
    fn selector(&self) -> String {
        format!(r#"service=~"{}""#, self.service)
    }

    /// The header link: the Logs dashboard, its Service variable set to the
    /// pattern; Grafana keeps the time range (`keepTime`).
    pub fn link(&self) -> DashboardLink {
        DashboardLink::url(
            format!("{} logs", self.what),
            format!("/d/{}/logs?var-service={}", uids::LOGS, self.service),
            format!("The {} lines in the Logs dashboard, same time range", self.what),
        )
    }

    /// A "Logs" row: lines per second by level, and the lines themselves.
    pub fn row(&self, builder: DashboardBuilder) -> DashboardBuilder {
        let sel = self.selector();
        builder
            .link(self.link())
            .row("Logs")
            .panels([
                Panel::time_series(
                    "Lines by level",
                    "Log lines per second by the level Promtail parsed from each line (no level: a line the format does not say).",
                    Unit::EventsPerSec,
                )
                .stacked()
                .size(24, 7)
                .target(loki(format!("sum by (level) (rate({{{sel}}}[$__auto]))"), "{{level}}")),
                Panel::logs(
                    "Errors",
                    "Lines at level error or fatal; a Java stack trace is one entry with its first line.",
                )
                .size(24, 10)
                .target(Target::loki(format!(r#"{{{sel}, level=~"error|fatal"}}"#))),
            ])
    }
}
