//! Logs of every container and host, from Loki.
//!
//! Promtail labels container streams with `stack`, `service`, `node`,
//! `container` and `stream` (stdout/stderr), and host files under /var/log
//! with `job="varlogs"` and `filename`.

use super::common::{dashboard as base, loki};
use super::uids;
use crate::{Dashboard, Datasource, Panel, Target, Unit, Variable};

/// Container streams of the selected stacks, services and nodes. Loki
/// rejects a selector whose matchers all match the empty string, hence the
/// variables' `.+` for "All".
const SEL: &str = r#"stack=~"$stack", service=~"$service", node=~"$node""#;

/// Lines that look like errors, case-insensitively, as whole words.
const ERROR_LINES: &str = r"|~ `(?i)\b(error|fatal|panic|exception|critical)\b`";

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::LOGS,
        "Logs",
        "logs",
        "Log volume, error lines and the lines themselves for every Swarm service and host (Loki, shipped by Promtail).",
    )
    .time("now-1h", "now")
    .variable(
        Variable::query("stack", Datasource::Loki, "label_values(stack)")
            .all_value(".+")
            .label("Stack"),
    )
    .variable(
        Variable::query("service", Datasource::Loki, r#"label_values({stack=~"$stack"}, service)"#)
            .all_value(".+")
            .label("Service"),
    )
    .variable(
        Variable::query("node", Datasource::Loki, r#"label_values({stack=~"$stack"}, node)"#)
            .all_value(".+")
            .label("Node"),
    )
    .variable(
        Variable::custom(
            "level",
            ["error", "fatal", "panic", "critical", "exception", "warn", "info", "debug", "trace"].map(|w| (w, w)),
        )
        .multi()
        .label("Level")
        .description("Keeps lines containing one of the selected words, case-insensitively; containers log in many formats, so this is a text match, not a parsed level"),
    )
    .variable(
        Variable::textbox("search", "")
            .label("Search")
            .description("Regular expression the lines must match (RE2 syntax)"),
    )
    .variable(
        Variable::query("filename", Datasource::Loki, r#"label_values({job="varlogs"}, filename)"#)
            .all_value(".+")
            .label("Host log file"),
    )
    .row("Volume")
    .panels([
        Panel::time_series("Lines by stack", "Log lines per second, per Swarm stack.", Unit::EventsPerSec)
            .stacked()
            .size(8, 8)
            .target(loki(r#"sum by (stack) (rate({stack=~"$stack"}[$__auto]))"#, "{{stack}}")),
        Panel::time_series(
            "Lines by service",
            "Log lines per second, per Swarm service. A sudden rise often is a retry loop.",
            Unit::EventsPerSec,
        )
        .stacked()
        .size(8, 8)
        .target(loki(format!("sum by (service) (rate({{{SEL}}}[$__auto]))"), "{{service}}")),
        Panel::time_series(
            "Bytes by service",
            "Log bytes per second, per Swarm service: what Loki stores.",
            Unit::BytesPerSec,
        )
        .stacked()
        .size(8, 8)
        .target(loki(format!("sum by (service) (bytes_rate({{{SEL}}}[$__auto]))"), "{{service}}")),
    ])
    .row("Errors")
    .panels([
        Panel::time_series(
            "Error lines by service",
            "Lines per second containing error, fatal, panic, exception or critical, per service.",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(loki(
            format!("sum by (service) (rate({{{SEL}}} {ERROR_LINES} [$__auto]))"),
            "{{service}}",
        )),
        Panel::bar_gauge(
            "Error lines in range",
            "Error lines per service over the whole time range, most first.",
            Unit::Short,
        )
        .size(8, 8)
        .target(
            Target::loki(format!(
                "sort_desc(sum by (service) (count_over_time({{{SEL}}} {ERROR_LINES} [$__range])))"
            ))
            .legend("{{service}}")
            .instant(),
        ),
        Panel::time_series(
            "Stderr lines by service",
            "Lines per second written to stderr, per service. Many programs log everything there, so compare with the usual level.",
            Unit::EventsPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(loki(
            format!(r#"sum by (service) (rate({{{SEL}, stream="stderr"}}[$__auto]))"#),
            "{{service}}",
        )),
    ])
    .row("Lines")
    .panels([
        Panel::logs(
            "Container logs",
            "Lines of the selected services, filtered by Level and Search; newest first.",
        )
        .size(24, 14)
        .target(Target::loki(format!(
            "{{{SEL}}} |~ `(?i)${{level}}` |~ `$search`"
        ))),
        Panel::logs("Host logs", "Lines of the selected files under /var/log on the hosts, filtered by Search.")
            .size(24, 10)
            .target(Target::loki(r#"{job="varlogs", filename=~"$filename"} |~ `$search`"#)),
    ])
    .build()
}
