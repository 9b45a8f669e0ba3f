//! The rules, one module per subject.

mod cluster;
mod containers;
mod hosts;
mod keycloak;
mod monitoring;
mod nginx;
mod postgres;
mod registry;
mod service_health;
mod services;
mod spark;
pub mod targets;

use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{RuleFile, Severity, Team};
use crate::testing::{fires, quiet, series};
use crate::{Tested, names};

/// Every rule file, in the order they are generated.
pub fn all() -> Vec<RuleFile> {
    vec![
        cluster::rules(),
        containers::rules(),
        hosts::rules(),
        keycloak::rules(),
        monitoring::rules(),
        nginx::rules(),
        postgres::rules(),
        registry::rules(),
        service_health::rules(),
        services::rules(),
        spark::rules(),
        targets::rules(),
    ]
}

/// Describes a scrape target for the shared `up`-based alerts.
pub struct Target {
    pub job: &'static str,
    /// Example `instance` for the tests (`10.0.1.5:9100`).
    pub instance: &'static str,
    /// Human name for summaries ("node-exporter").
    pub what: &'static str,
    pub team: Team,
}

/// `up == 0` for a job. Through the OTel Collector the receiver still writes
/// `up` per target, so this works for exporters behind it too.
pub fn target_down(
    name: &str,
    t: &Target,
    severity: Severity,
    pending: Duration,
    impact: &str,
) -> Alert<Tested, Tested> {
    let up = |values: &str| (series("up", &[("instance", t.instance), ("job", t.job)]), values.to_string());
    let (s_down, v_down) = up("0x20");
    let (s_blip, v_blip) = up("1x5 0x2 1x10");
    Alert::new(name, severity)
        .expr(&format!("up{{job=\"{}\"}} == 0", t.job))
        .for_duration(pending)
        .team(t.team)
        .summary(&format!("A {} scrape target is down.", t.what))
        .description(&format!(
            "{{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) has failed its scrapes for {pending}: {impact}"
        ))
        .fires(
            fires("target down for the whole run")
                .at(pending + Duration::minutes(5))
                .series(s_down, v_down)
                .alert(&[("instance", t.instance), ("job", t.job)]),
        )
        .stays_quiet(quiet("a two-minute blip is still pending").at(Duration::minutes(7)).series(s_blip, v_blip))
}

/// `absent(up{job=...})`: no target of the job is known at all, which
/// `up == 0` cannot see (for exporters behind the collector, the collector
/// being gone, or service discovery finding nothing).
pub fn target_absent(
    name: &str,
    t: &Target,
    severity: Severity,
    pending: Duration,
    impact: &str,
) -> Alert<Tested, Tested> {
    let other = series("up", &[("instance", "10.0.9.9:9999"), ("job", "some-other-job")]);
    Alert::new(name, severity)
        .expr(&format!("absent(up{{job=\"{}\"}})", t.job))
        .for_duration(pending)
        .team(t.team)
        .summary(&format!("No {} scrape target is known.", t.what))
        .description(&format!(
            "Prometheus has had no `up` series for job {{{{ $labels.job }}}} for {pending}: {impact}"
        ))
        .fires(
            fires("only other jobs have targets")
                .at(pending + Duration::minutes(5))
                .series(other.clone(), "1x30")
                .alert(&[("job", t.job)]),
        )
        .stays_quiet(
            quiet("one target reports, even if down")
                .at(pending + Duration::minutes(5))
                .series(other, "1x30")
                .series(series("up", &[("instance", t.instance), ("job", t.job)]), "0x30"),
        )
}

/// The dashboard each subject links to by default.
pub fn dashboard_for(subject: &str) -> &'static str {
    match subject {
        names::subject::HOSTS => names::dashboard::HOSTS,
        names::subject::CONTAINERS => names::dashboard::CONTAINERS,
        names::subject::NGINX => names::dashboard::NGINX,
        names::subject::POSTGRES => names::dashboard::POSTGRES,
        names::subject::SERVICES => names::dashboard::SERVICES,
        names::subject::LOGS => names::dashboard::LOGS,
        names::subject::SERVICE_HEALTH => names::dashboard::SERVICE_HEALTH,
        names::subject::KEYCLOAK => names::dashboard::KEYCLOAK,
        names::subject::SPARK => names::dashboard::SPARK,
        names::subject::REGISTRY => names::dashboard::REGISTRY,
        names::subject::CLUSTER => names::dashboard::CLUSTER,
        _ => names::dashboard::MONITORING,
    }
}

/// `_ _ … v v … stale`: a series that exists for `len` samples from sample
/// `start`, then disappears (as a container's series does when it exits).
pub fn lifetime(start: usize, len: usize, value: u64) -> String {
    let mut parts: Vec<String> = vec!["_".to_string(); start];
    parts.extend(std::iter::repeat_n(value.to_string(), len));
    parts.push("stale".to_string());
    parts.join(" ")
}
