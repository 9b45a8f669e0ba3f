//! The platform's container registry (CNCF distribution 2.8, `registry:2`),
//! from its debug server's Prometheus endpoint, scraped by the OTel Collector
//! per task (`tasks.registry`).
//!
//! Distribution 2.8 counts requests per route (`handler`: base, blob,
//! blob_upload, blob_upload_chunk, manifest, tags, catalog) and times every
//! storage-driver call (`registry_storage_action_seconds`); it has no
//! storage-error counter: a failing storage backend shows as 5xx answers on
//! the blob and manifest routes, which is what these rules watch.

use super::{Target, dashboard_for, target_absent, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.4.2:5001";

const TARGET: Target = Target { job: job::REGISTRY, instance: INSTANCE, what: "registry", team: Team::Platform };

pub fn rules() -> RuleFile {
    RuleFile::new(subject::REGISTRY).dashboard(dashboard_for(subject::REGISTRY)).group(
        Group::new("registry")
            .alert(target_down(
                "RegistryMetricsDown",
                &TARGET,
                Severity::Warning,
                Duration::minutes(5),
                "the registry task runs but its debug server does not answer (http.debug.addr); pushes and pulls are not monitored.",
            ))
            .alert(target_absent(
                "RegistryMetricsAbsent",
                &TARGET,
                Severity::Warning,
                Duration::minutes(15),
                "no registry task runs, or its debug Prometheus endpoint is not enabled.",
            ))
            .alert(server_errors())
            .alert(storage_slow()),
    )
}

fn requests(handler: &str, method: &str, code: &str) -> String {
    series(
        "registry_http_requests_total",
        &[("code", code), ("handler", handler), ("instance", INSTANCE), ("job", job::REGISTRY), ("method", method)],
    )
}

fn server_errors() -> Alert<Tested, Tested> {
    Alert::new("RegistryServerErrors", Severity::Critical)
        .expr(
            r#"
            sum by (job, handler) (rate(registry_http_requests_total{job="registry", code=~"5.."}[5m]))
            /
            sum by (job, handler) (rate(registry_http_requests_total{job="registry"}[5m]))
            > 0.05
            and
            sum by (job, handler) (rate(registry_http_requests_total{job="registry", code=~"5.."}[5m])) > 0.01
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("The registry fails pushes or pulls with server errors.")
        .description(
            "{{ $value | humanizePercentage }} of the registry's {{ $labels.handler }} requests end in a 5xx: \
             its storage backend fails (disk full, object store unreachable or denying), so deploys that pull \
             from it fail.",
        )
        .fires(
            fires("blob reads fail")
                .at(Duration::minutes(15))
                .series(requests("blob", "get", "200"), "0+30x20")
                .series(requests("blob", "get", "500"), "0+30x20")
                .series(requests("manifest", "get", "200"), "0+60x20")
                .alert_value(&[("handler", "blob"), ("job", job::REGISTRY)], 0.5),
        )
        .stays_quiet(
            quiet("404s for missing manifests are not errors")
                .at(Duration::minutes(15))
                .series(requests("manifest", "get", "200"), "0+30x20")
                .series(requests("manifest", "get", "404"), "0+30x20"),
        )
}

fn storage_slow() -> Alert<Tested, Tested> {
    let bucket = |le: &str| {
        series(
            "registry_storage_action_seconds_bucket",
            &[
                ("action", "GetContent"),
                ("driver", "s3aws"),
                ("instance", INSTANCE),
                ("job", job::REGISTRY),
                ("le", le),
            ],
        )
    };
    Alert::new("RegistryStorageSlow", Severity::Warning)
        .expr(
            r#"
            histogram_quantile(0.99,
              sum by (job, driver, action, le) (rate(registry_storage_action_seconds_bucket{job="registry"}[10m]))
            ) > 2
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Platform)
        .summary("The registry's storage backend is slow.")
        .description(
            "The slowest 1 % of the registry's {{ $labels.action }} calls to its {{ $labels.driver }} storage \
             take over {{ $value | humanizeDuration }}: pulls and pushes stall, and clients time out.",
        )
        .fires(
            fires("every call takes five seconds")
                .at(Duration::minutes(25))
                .series(bucket("1"), "0x30")
                .series(bucket("2.5"), "0x30")
                .series(bucket("10"), "0+60x30")
                .series(bucket("+Inf"), "0+60x30")
                .alert_value(&[("action", "GetContent"), ("driver", "s3aws"), ("job", job::REGISTRY)], 9.925),
        )
        .stays_quiet(
            quiet("calls answer within a second")
                .at(Duration::minutes(25))
                .series(bucket("1"), "0+60x30")
                .series(bucket("2.5"), "0+60x30")
                .series(bucket("10"), "0+60x30")
                .series(bucket("+Inf"), "0+60x30"),
        )
}
