//! Keycloak, from its own Micrometer metrics on the management interface
//! (`:9000/metrics`), scraped by the OTel Collector per task (`tasks.keycloak`).
//!
//! Every family here already ends in `_total` where it is a counter, so the
//! names Prometheus stores are the exposed ones. Login outcomes come from the
//! user event metrics (`keycloak_user_events_total`): Keycloak counts a failed
//! login as event `login` with a non-empty `error` tag
//! (MicrometerUserEventMetricsEventListenerProvider strips `_ERROR` from the
//! event name), so `error!=""` selects the failures.

use super::{Target, dashboard_for, target_absent, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.2.5:9000";

const TARGET: Target = Target { job: job::KEYCLOAK, instance: INSTANCE, what: "Keycloak", team: Team::Platform };

const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::KEYCLOAK)];

pub fn rules() -> RuleFile {
    RuleFile::new(subject::KEYCLOAK).dashboard(dashboard_for(subject::KEYCLOAK)).group(
        Group::new("keycloak")
            .alert(target_down(
                "KeycloakDown",
                &TARGET,
                Severity::Critical,
                Duration::minutes(3),
                "the Keycloak task runs but its management interface does not answer; logins to the platform are probably failing.",
            ))
            .alert(target_absent(
                "KeycloakMetricsAbsent",
                &TARGET,
                Severity::Warning,
                Duration::minutes(15),
                "no Keycloak task runs, or its metrics are not enabled (metrics-enabled=true).",
            ))
            .alert(login_failures())
            .alert(server_errors())
            .alert(database_pool_waiting()),
    )
}

fn events(realm: &str, error: Option<&str>) -> String {
    let mut labels = vec![("event", "login"), ("instance", INSTANCE), ("job", job::KEYCLOAK), ("realm", realm)];
    if let Some(e) = error {
        labels.push(("error", e));
    }
    series("keycloak_user_events_total", &labels)
}

fn login_failures() -> Alert<Tested, Tested> {
    Alert::new("KeycloakLoginFailuresHigh", Severity::Warning)
        .expr(
            r#"
            sum by (realm) (rate(keycloak_user_events_total{job="keycloak", event="login", error!=""}[10m]))
            /
            sum by (realm) (rate(keycloak_user_events_total{job="keycloak", event="login"}[10m]))
            > 0.5
            and
            sum by (realm) (rate(keycloak_user_events_total{job="keycloak", event="login", error!=""}[10m])) > 0.05
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Platform)
        .summary("Most logins to a Keycloak realm fail.")
        .description(
            "{{ $value | humanizePercentage }} of the logins to realm {{ $labels.realm }} failed over the last \
             10 minutes: a credential-stuffing attempt, a broken identity provider or user federation, or a \
             client sending wrong credentials.",
        )
        .fires(
            fires("two of three logins fail")
                .at(Duration::minutes(25))
                .series(events("etl", None), "0+60x30")
                .series(events("etl", Some("invalid_user_credentials")), "0+120x30")
                .alert_value(&[("realm", "etl")], 2.0 / 3.0),
        )
        .stays_quiet(
            quiet("one login in eleven fails")
                .at(Duration::minutes(25))
                .series(events("etl", None), "0+60x30")
                .series(events("etl", Some("invalid_user_credentials")), "0+6x30"),
        )
        .stays_quiet(
            quiet("a handful of failures on an idle realm")
                .at(Duration::minutes(25))
                .series(events("etl", None), "0x30")
                .series(events("etl", Some("invalid_user_credentials")), "0+1x30"),
        )
}

fn requests(outcome: &str, status: &str) -> String {
    series(
        "http_server_requests_seconds_count",
        &[
            ("instance", INSTANCE),
            ("job", job::KEYCLOAK),
            ("method", "POST"),
            ("outcome", outcome),
            ("status", status),
            ("uri", "/realms/{realm}/protocol/openid-connect/token"),
        ],
    )
}

fn server_errors() -> Alert<Tested, Tested> {
    Alert::new("KeycloakServerErrors", Severity::Critical)
        .expr(
            r#"
            sum by (job) (rate(http_server_requests_seconds_count{job="keycloak", outcome="SERVER_ERROR"}[5m]))
            /
            sum by (job) (rate(http_server_requests_seconds_count{job="keycloak"}[5m]))
            > 0.05
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("Keycloak answers many requests with server errors.")
        .description(
            "{{ $value | humanizePercentage }} of Keycloak's HTTP requests end in a 5xx: its database, cache \
             cluster or a provider is failing, and logins and token refreshes fail with it.",
        )
        .fires(
            fires("one request in five fails")
                .at(Duration::minutes(15))
                .series(requests("SUCCESS", "200"), "0+240x20")
                .series(requests("SERVER_ERROR", "500"), "0+60x20")
                .alert_value(&[("job", job::KEYCLOAK)], 0.2),
        )
        .stays_quiet(
            quiet("one request in a hundred fails")
                .at(Duration::minutes(15))
                .series(requests("SUCCESS", "200"), "0+297x20")
                .series(requests("SERVER_ERROR", "500"), "0+3x20"),
        )
}

fn database_pool_waiting() -> Alert<Tested, Tested> {
    let awaiting =
        series("agroal_awaiting_count", &[("datasource", "default"), ("instance", INSTANCE), ("job", job::KEYCLOAK)]);
    Alert::new("KeycloakDatabasePoolExhausted", Severity::Warning)
        .expr(r#"max by (job, instance) (agroal_awaiting_count{job="keycloak"}) > 0"#)
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("Keycloak threads wait for a database connection.")
        .description(
            "{{ $value }} threads of {{ $labels.instance }} have waited for a free database connection for 5 \
             minutes: the pool (db-pool-max-size) is used up, or PostgreSQL is slow; logins queue behind it.",
        )
        .fires(
            fires("threads wait for ten minutes")
                .at(Duration::minutes(15))
                .series(awaiting.clone(), "0x5 3x15")
                .alert_value(LABELS, 3.0),
        )
        .stays_quiet(quiet("a short burst of waiting").at(Duration::minutes(15)).series(awaiting, "0x10 4x2 0x5"))
}
