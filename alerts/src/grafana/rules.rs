//! The log alerts.
//!
//! Promtail labels container logs with `stack` (Swarm stack namespace),
//! `service` (Swarm service name) and `node`; `{stack=~".+"}` selects every
//! container of every stack. Regular expressions are in backticks, LogQL's
//! raw strings, so they need no escaping.

use super::model::{Comparison, ExecErrState, LogAlert, LogAlertGroup, NoDataState};
use crate::duration::Duration;
use crate::model::{Severity, Team};
use crate::names::dashboard;

pub fn groups() -> Vec<LogAlertGroup> {
    vec![
        LogAlertGroup { name: "log-pipeline".into(), interval: Duration::minutes(1), rules: vec![ingestion_stopped()] },
        LogAlertGroup {
            name: "service-logs".into(),
            interval: Duration::minutes(1),
            rules: vec![error_logs(), panics(), out_of_memory(), nginx_server_errors(), keycloak_login_failures()],
        },
    ]
}

/// A rule with the defaults every log alert shares.
fn base(uid: &str, title: &str, query: &str) -> LogAlert {
    LogAlert {
        uid: uid.into(),
        title: title.into(),
        query: query.into(),
        lookback: Duration::minutes(10),
        comparison: Comparison::Above,
        threshold: 0.0,
        for_duration: Duration::ZERO,
        severity: Severity::Warning,
        team: Team::Etl,
        summary: String::new(),
        description: String::new(),
        runbook_url: None,
        dashboard_uid: dashboard::LOGS.into(),
        dashboard_url: None,
        no_data: NoDataState::Ok,
        exec_err: ExecErrState::Error,
    }
}

fn ingestion_stopped() -> LogAlert {
    LogAlert {
        // `or vector(0)` turns "no lines at all" into a 0 to compare, and
        // NoData alerts as a second line of defence.
        threshold: 1.0,
        comparison: Comparison::Below,
        for_duration: Duration::minutes(5),
        severity: Severity::Critical,
        team: Team::Observability,
        no_data: NoDataState::Alerting,
        summary: "No container logs have reached Loki for 10 minutes.".into(),
        description: "Loki received {{ humanize $values.B.Value }} container log lines in the last 10 minutes: \
                      Promtail, Loki ingestion or the Docker log driver is broken, and the log alerts are blind."
            .into(),
        ..base(
            "etl-log-ingestion-stopped",
            "LogIngestionStopped",
            r#"sum(count_over_time({stack=~".+"}[10m])) or vector(0)"#,
        )
    }
}

fn error_logs() -> LogAlert {
    LogAlert {
        threshold: 50.0,
        for_duration: Duration::minutes(10),
        summary: "A service logs errors at a high rate.".into(),
        description: "Service {{ $labels.service }} (stack {{ $labels.stack }}) logged \
                      {{ humanize $values.B.Value }} error lines in 5 minutes."
            .into(),
        ..base(
            "etl-log-service-errors",
            "ServiceErrorLogsHigh",
            r#"sum by (stack, service) (count_over_time({stack=~".+"} |~ `(?i)\b(error|fatal)\b` [5m]))"#,
        )
    }
}

fn panics() -> LogAlert {
    LogAlert {
        summary: "A service crashed with a panic or an uncaught exception.".into(),
        description: "Service {{ $labels.service }} (stack {{ $labels.stack }}) logged \
                      {{ humanize $values.B.Value }} panic or uncaught-exception lines in 5 minutes."
            .into(),
        ..base(
            "etl-log-service-panics",
            "ServicePanicLogged",
            r#"sum by (stack, service) (count_over_time({stack=~".+"} |~ `panic:|PANIC:|fatal error:|Traceback \(most recent call last\)|Exception in thread "` [5m]))"#,
        )
    }
}

fn out_of_memory() -> LogAlert {
    LogAlert {
        summary: "A service logged that it ran out of memory.".into(),
        description: "Service {{ $labels.service }} (stack {{ $labels.stack }}) logged \
                      {{ humanize $values.B.Value }} out-of-memory lines in 5 minutes."
            .into(),
        team: Team::Platform,
        ..base(
            "etl-log-service-oom",
            "ServiceOutOfMemoryLogged",
            r#"sum by (stack, service) (count_over_time({stack=~".+"} |~ `java\.lang\.OutOfMemoryError|(?i:out of memory)|Cannot allocate memory` [5m]))"#,
        )
    }
}

fn nginx_server_errors() -> LogAlert {
    // Combined log format: `"GET /x HTTP/1.1" 502 157 ...`.
    LogAlert {
        threshold: 0.05,
        for_duration: Duration::minutes(10),
        team: Team::Platform,
        summary: "NGINX answers more than 5% of requests with server errors.".into(),
        description: "{{ humanize $values.B.Value }} of the requests logged by {{ $labels.service }} \
                      in 5 minutes got a 5xx status (ratio, 1 = all)."
            .into(),
        ..base(
            "etl-log-nginx-5xx",
            "NginxHighServerErrorRate",
            r#"sum by (service) (count_over_time({service=~".*nginx.*"} |~ `" 5[0-9][0-9] ` [5m]))
/
sum by (service) (count_over_time({service=~".*nginx.*"} |~ `" [1-5][0-9][0-9] ` [5m]))"#,
        )
    }
}

fn keycloak_login_failures() -> LogAlert {
    LogAlert {
        threshold: 20.0,
        for_duration: Duration::minutes(5),
        team: Team::Platform,
        summary: "Keycloak logs many failed logins.".into(),
        description: "{{ $labels.service }} logged {{ humanize $values.B.Value }} failed logins in 5 minutes: \
                      a password-guessing attempt or a misconfigured client."
            .into(),
        ..base(
            "etl-log-keycloak-login-errors",
            "KeycloakLoginFailuresHigh",
            r#"sum by (service) (count_over_time({service=~".*keycloak.*"} |~ `type="?LOGIN_ERROR` [5m]))"#,
        )
    }
}
