//! NGINX, from nginx-prometheus-exporter reading `stub_status`.
//!
//! stub_status has no status codes; HTTP error rates come from the access
//! logs instead (see the Grafana log alerts). Counters that the exporter
//! exposes without `_total` (`nginx_connections_accepted`) gain the suffix on
//! the way through the OTel Collector (prometheus receiver, then
//! prometheus_remote_write with its default `UnderscoreEscapingWithSuffixes`
//! translation), so the rules use the names Prometheus stores.

use super::{Target, dashboard_for, target_absent, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.7:9113";

const TARGET: Target =
    Target { job: job::NGINX_EXPORTER, instance: INSTANCE, what: "nginx-exporter", team: Team::Platform };

const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::NGINX_EXPORTER)];

pub fn rules() -> RuleFile {
    RuleFile::new(subject::NGINX).dashboard(dashboard_for(subject::NGINX)).group(
        Group::new("nginx")
            .alert(target_down(
                "NginxExporterDown",
                &TARGET,
                Severity::Warning,
                Duration::minutes(5),
                "NGINX is not monitored.",
            ))
            .alert(target_absent(
                "NginxExporterAbsent",
                &TARGET,
                Severity::Warning,
                Duration::minutes(15),
                "NGINX is not monitored.",
            ))
            .alert(nginx_down())
            .alert(dropped_connections()),
    )
}

fn nginx_down() -> Alert<Tested, Tested> {
    let up = series("nginx_up", LABELS);
    Alert::new("NginxDown", Severity::Critical)
        .expr(r#"nginx_up{job="nginx-exporter"} == 0"#)
        .for_duration(Duration::minutes(2))
        .team(Team::Platform)
        .summary("NGINX does not answer its status endpoint.")
        .description(
            "The exporter {{ $labels.instance }} cannot read NGINX's stub_status: NGINX is down or \
             not reachable, and with it the ETL frontend and APIs.",
        )
        .fires(fires("status endpoint failing").at(Duration::minutes(5)).series(up.clone(), "0x10").alert(LABELS))
        .stays_quiet(quiet("status endpoint answers").at(Duration::minutes(5)).series(up, "1x10"))
}

fn dropped_connections() -> Alert<Tested, Tested> {
    let accepted = series("nginx_connections_accepted_total", LABELS);
    let handled = series("nginx_connections_handled_total", LABELS);
    Alert::new("NginxDroppedConnections", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (rate(nginx_connections_accepted_total{job="nginx-exporter"}[5m]))
            -
            sum by (job, instance) (rate(nginx_connections_handled_total{job="nginx-exporter"}[5m]))
            > 0
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("NGINX accepts connections it then drops.")
        .description(
            "NGINX behind {{ $labels.instance }} drops {{ $value | humanize }} connections per second \
             (accepted but not handled): worker_connections or the open-file limit is exhausted.",
        )
        .fires(
            fires("one dropped connection per second")
                .at(Duration::minutes(15))
                .series(accepted.clone(), "0+600x20")
                .series(handled.clone(), "0+540x20")
                .alert_value(LABELS, 1.0),
        )
        .stays_quiet(
            quiet("every connection handled")
                .at(Duration::minutes(15))
                .series(accepted, "0+600x20")
                .series(handled, "0+600x20"),
        )
}
