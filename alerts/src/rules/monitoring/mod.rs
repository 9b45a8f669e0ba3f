//! The monitoring stack watching itself.
//!
//! Prometheus scrapes these components directly (not through the OTel
//! Collector), so their alerts keep working when the collector is down, and
//! the collector's own absence is visible. Prometheus cannot report its own
//! death: that is the Watchdog's job, with a dead-man's switch outside.

mod alertmanager;
mod grafana;
mod loki;
mod otel_collector;
mod prometheus;
mod promtail;
mod watchdog;

use super::dashboard_for;
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::subject;
use crate::testing::{fires, quiet, series};

pub fn rules() -> RuleFile {
    RuleFile::new(subject::MONITORING)
        .dashboard(dashboard_for(subject::MONITORING))
        .group(watchdog::group())
        .group(prometheus::group())
        .group(alertmanager::group())
        .group(otel_collector::group())
        .group(loki::group())
        .group(promtail::group())
        .group(grafana::group())
        .group(Group::new("monitoring.restarts").alert(crash_looping()))
}

/// The components Prometheus scrapes by service name (`static_configs`), so
/// that a replacement task keeps the `instance` and its new start time lands
/// in the same series. Targets found through `tasks.<service>` DNS get a new
/// address per task: their restarts are SwarmServiceRestartLoop's (cAdvisor).
const RESTARTING_JOBS: &str = "prometheus|alertmanager|loki|grafana";

fn crash_looping() -> Alert<Tested, Tested> {
    let start = series("process_start_time_seconds", &[("instance", "10.0.2.6:3100"), ("job", "loki")]);
    Alert::new("MonitoringComponentRestarting", Severity::Warning)
        .expr(&format!(r#"changes(process_start_time_seconds{{job=~"{RESTARTING_JOBS}"}}[15m]) > 2"#))
        .team(Team::Observability)
        .summary("A monitoring component restarted more than twice in 15 minutes.")
        .description(
            "{{ $labels.job }} at {{ $labels.instance }} restarted {{ $value }} times in 15 minutes: it crashes \
             (out of memory, a bad configuration) and each restart loses what it held in memory.",
        )
        .fires(
            fires("three restarts")
                .at(Duration::minutes(14))
                .series(start.clone(), "100x3 400x3 700x3 1000x5")
                .alert_value(&[("instance", "10.0.2.6:3100"), ("job", "loki")], 3.0),
        )
        .stays_quiet(quiet("one restart").at(Duration::minutes(14)).series(start, "100x5 700x10"))
}

/// A counter of failures that should never move: fires when it grew within
/// `window`. Tested with one failure a minute against a flat counter.
struct FailureCounter<'a> {
    name: &'a str,
    severity: Severity,
    /// The full expression; `increase(...) > 0` in some form.
    expr: String,
    pending: Option<Duration>,
    summary: &'a str,
    description: &'a str,
    /// The input series (a counter) and the labels the expression keeps.
    series_name: &'a str,
    series_labels: &'a [(&'a str, &'a str)],
    alert_labels: &'a [(&'a str, &'a str)],
}

impl FailureCounter<'_> {
    fn build(self) -> Alert<Tested, Tested> {
        let s = series(self.series_name, self.series_labels);
        let at = self.pending.unwrap_or(Duration::ZERO) + Duration::minutes(10);
        let mut alert = Alert::new(self.name, self.severity)
            .expr(&self.expr)
            .team(Team::Observability)
            .summary(self.summary)
            .description(self.description);
        if let Some(p) = self.pending {
            alert = alert.for_duration(p);
        }
        alert
            .fires(fires("a failure every minute").at(at).series(s.clone(), "0+1x60").alert(self.alert_labels))
            .stays_quiet(quiet("old failures only, counter flat").at(at).series(s, "7x60"))
    }
}
