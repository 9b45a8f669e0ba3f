//! Typed checks of the hand-written component configs under `stack/configs/`
//! whose real validators (`loki -verify-config`, `otelcol validate`, Grafana,
//! Promtail) cannot run on the project's machines.
//!
//! Each config is parsed with `serde-saphyr` into structs marked
//! `#[serde(deny_unknown_fields)]` that list the keys the pinned version
//! accepts (every key we use plus the documented neighbours people often
//! write), so a typo or a removed key — Loki's `compactor.shared_store`, the
//! collector's `service.telemetry.metrics.address` — is reported with its file
//! and line. Blocks with a long documented key list (Loki's `limits_config`)
//! are checked against that list instead ([`KeyMap`]). Then the cross-checks
//! each component's own validator would make (pipelines refer to defined
//! components, retention needs a delete-request store, data-source uids...).
//!
//! A key the component really accepts but these structs do not list is a
//! false alarm: add it to the struct (with its type when we use it, as
//! `Option<IgnoredAny>` otherwise), citing the upstream reference.
//!
//! Prometheus and Alertmanager configs are checked by their own tools instead
//! (`check::promtool`, `check::amtool`).

mod grafana;
mod log_labels;
mod loki;
mod otel_collector;
mod promtail;
#[cfg(test)]
mod promtail_pipeline;

pub(crate) use otel_collector::relabelled_address;

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::Finding;
use crate::source::{ServiceDef, Source, StackDefinition};

/// The rule name these findings carry.
pub const CHECK: &str = "config";

use super::config_keys::{
    GRAFANA_DASHBOARDS, GRAFANA_DATASOURCES, GRAFANA_INI, LOKI, OTEL_AGENT, OTEL_COLLECTOR, PROMTAIL,
};

/// A component check: (repository-relative file, its text, the stack) -> findings.
type ComponentCheck = fn(&str, &str, &StackDefinition) -> Vec<Finding>;

/// Checks every component config this module knows, plus the references
/// between them and `stack/stack.toml`. Findings are sorted.
pub fn check(source: &Source) -> Vec<Finding> {
    let mut findings = Vec::new();
    let checks: [(&str, ComponentCheck); 7] = [
        (LOKI, loki::check),
        (PROMTAIL, promtail::check),
        (OTEL_COLLECTOR, otel_collector::check),
        (OTEL_AGENT, otel_collector::check),
        (GRAFANA_INI, grafana::check_ini),
        (GRAFANA_DATASOURCES, grafana::check_datasources),
        (GRAFANA_DASHBOARDS, grafana::check_dashboards),
    ];
    for (key, check) in checks {
        match read_config(source, key) {
            Ok((file, text)) => findings.extend(check(file, &text, &source.definition)),
            Err(finding) => findings.push(finding),
        }
    }
    if let Ok(jobs) = collector_scrape_jobs(source) {
        findings.extend(check_expected_jobs(source, &jobs));
    }
    findings.extend(check_log_labels(source));
    findings.sort();
    findings
}

/// The repository-relative path `[configs] <key>` names, and its text.
fn read_config<'s>(source: &'s Source, key: &str) -> Result<(&'s str, String), Finding> {
    let file = super::config_file(source, CHECK, key)?;
    std::fs::read_to_string(source.root.join(file))
        .map(|text| (file, text))
        .map_err(|err| Finding::new(CHECK, file, "", format!("cannot read: {err}")))
}

/// The dskit `server.log_level`/`log_format` values Loki and Promtail accept.
fn check_log_settings(file: &str, level: Option<&Spanned<String>>, format: Option<&Spanned<String>>) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(level) = level
        && !["debug", "info", "warn", "error"].contains(&level.value.as_str())
    {
        out.push(finding_at(
            file,
            level,
            format!("server.log_level `{}`: one of debug, info, warn, error", level.value),
        ));
    }
    if let Some(format) = format
        && !["logfmt", "json"].contains(&format.value.as_str())
    {
        out.push(finding_at(file, format, format!("server.log_format `{}`: logfmt or json", format.value)));
    }
    out
}

/// The data source uids Grafana is provisioned with.
pub fn provisioned_datasource_uids(source: &Source) -> Result<Vec<String>, Finding> {
    let (file, text) = read_config(source, GRAFANA_DATASOURCES)?;
    grafana::provisioned_uids(file, &text)
}

/// The sources the OTel Collectors scrape: the job names in otelcol.yml
/// (the stack-wide collector) and agent.yml (the per-node agent).
pub fn collector_scrape_jobs(source: &Source) -> Result<BTreeSet<String>, Finding> {
    let mut jobs = BTreeSet::new();
    for key in [OTEL_COLLECTOR, OTEL_AGENT] {
        let (file, text) = read_config(source, key)?;
        jobs.extend(otel_collector::scrape_job_names(file, &text)?);
    }
    Ok(jobs)
}

/// The labels a service's log lines are selected by exist on both paths
/// (Promtail and OTLP through the collector into Loki). A config that does
/// not read or parse is reported by its own check.
fn check_log_labels(source: &Source) -> Vec<Finding> {
    let parsed = |key: &str| -> Option<(&str, serde_json::Value)> {
        let (file, text) = read_config(source, key).ok()?;
        Some((file, serde_saphyr::from_str(&text).ok()?))
    };
    let (Some(promtail), Some(collector), Some(loki)) = (parsed(PROMTAIL), parsed(OTEL_COLLECTOR), parsed(LOKI)) else {
        return Vec::new();
    };
    log_labels::check(&log_labels::Configs {
        promtail: (promtail.0, &promtail.1),
        collector: (collector.0, &collector.1),
        loki: (loki.0, &loki.1),
    })
}

/// Every job dashboards and alerts select on is scraped by one of the
/// collectors; a missing one is reported against otelcol.yml.
fn check_expected_jobs(source: &Source, jobs: &BTreeSet<String>) -> Vec<Finding> {
    let file = super::config_file(source, CHECK, OTEL_COLLECTOR).unwrap_or("otelcol.yml");
    otel_collector::EXPECTED_SCRAPE_JOBS
        .iter()
        .filter(|expected| !jobs.contains(**expected))
        .map(|expected| {
            Finding::new(
                CHECK,
                file,
                "",
                format!(
                    "no collector scrapes job `{expected}` (otelcol.yml or agent.yml): dashboards and alerts select job=\"{expected}\""
                ),
            )
        })
        .collect()
}

/// The service `name` of the stack, if it has one.
fn service<'s>(stack: &'s StackDefinition, name: &str) -> Option<&'s ServiceDef> {
    stack.services.get(name)
}

/// Checks that an `http://host:port/...` URL names a service of the stack
/// (the short service names are the aliases on the stack's network).
/// `None` when fine or when the stack has no services (unit tests).
pub(crate) fn check_service_url(stack: &StackDefinition, url: &str) -> Option<String> {
    if stack.services.is_empty() {
        return None;
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    let host = host.strip_prefix("tasks.").unwrap_or(host);
    if host == "localhost" || host == "127.0.0.1" || stack.services.contains_key(host) {
        None
    } else {
        Some(format!(
            "`{url}`: host `{host}` is not a service of stack/stack.toml (known: {})",
            stack.services.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Parses YAML into `T`, turning a parse error into a [`Finding`] that names
/// the file, the line and column, and what serde-saphyr says (for an unknown
/// key: the key and the keys that are allowed there).
pub(crate) fn parse_yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Finding> {
    serde_saphyr::from_str::<T>(text).map_err(|err| {
        let location = err.location().map(|l| at(&l)).unwrap_or_default();
        let mut message = err.without_snippet().to_string();
        // The plain message ends in " at line L, column C": already in `location`.
        if let Some(cut) = message.rfind(" at line ") {
            message.truncate(cut);
        }
        Finding::new(CHECK, file, location, message)
    })
}

/// `line L, column C`, or empty when serde-saphyr does not know.
pub(crate) fn at(location: &Location) -> String {
    if location.line() == 0 { String::new() } else { format!("line {}, column {}", location.line(), location.column()) }
}

/// A finding about a value, placed where the value is.
pub(crate) fn finding_at<T>(file: &str, value: &Spanned<T>, message: impl Into<String>) -> Finding {
    Finding::new(CHECK, file, at(&value.referenced), message)
}

/// A mapping checked against a documented key list instead of a struct:
/// keys keep their position, values stay untyped (JSON).
#[derive(Debug, Default)]
pub(crate) struct KeyMap {
    pub(crate) entries: Vec<(Spanned<String>, serde_json::Value)>,
}

impl KeyMap {
    pub(crate) fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }

    /// Where `key` is, or empty.
    pub(crate) fn location_of(&self, key: &str) -> String {
        self.entries.iter().find(|(k, _)| k.value == key).map(|(k, _)| at(&k.referenced)).unwrap_or_default()
    }

    /// One finding per key that is not in `allowed`.
    pub(crate) fn unknown_keys(&self, file: &str, block: &str, allowed: &[&str]) -> Vec<Finding> {
        self.entries
            .iter()
            .filter(|(key, _)| !allowed.contains(&key.value.as_str()))
            .map(|(key, _)| finding_at(file, key, format!("unknown field `{}` in `{block}`", key.value)))
            .collect()
    }
}

impl<'de> Deserialize<'de> for KeyMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyMapVisitor;
        impl<'de> Visitor<'de> for KeyMapVisitor {
            type Value = KeyMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<KeyMap, E> {
                Ok(KeyMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyMap, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<serde_json::Value>()?));
                }
                Ok(KeyMap { entries })
            }
        }
        deserializer.deserialize_map(KeyMapVisitor)
    }
}

/// A mapping whose keys keep their position (`Spanned` has no `Ord`, so no
/// `BTreeMap`), in file order.
#[derive(Debug)]
pub(crate) struct Entries<V> {
    pub(crate) entries: Vec<(Spanned<String>, V)>,
}

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries { entries: Vec::new() }
    }
}

impl<V> Entries<V> {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Spanned<String>, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Entries<V>, E> {
                Ok(Entries::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<V>()?));
                }
                Ok(Entries { entries })
            }
        }
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

/// A value we accept but do not look into.
pub(crate) type Any = Option<IgnoredAny>;

/// Parses a Prometheus/Loki style duration (`744h`, `31d`, `1h30m`, `500ms`)
/// into seconds. `None` if it is not one.
pub(crate) fn duration_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    if text == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Today as days since 1970-01-01 (UTC), for "is this date in the past".
pub(crate) fn today_days() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(secs / 86_400).unwrap_or(i64::MAX)
}

/// `YYYY-MM-DD` as days since 1970-01-01 (proleptic Gregorian).
pub(crate) fn date_days(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
    }

    /// The repository's stack definition, parsed as `Source::load` does.
    pub(crate) fn repository_stack() -> StackDefinition {
        crate::source::parse_toml(&repo().join(crate::source::DEFINITION_FILE)).expect("stack.toml parses")
    }

    #[test]
    fn the_repository_configs_pass() {
        let source = Source::load(&repo()).expect("the repository's source loads");
        let findings = check(&source);
        assert!(
            findings.is_empty(),
            "findings:\n{}",
            findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        );
    }

    #[test]
    fn a_job_no_collector_scrapes_is_named() {
        let source = Source::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
            .expect("the repository's source loads");
        let mut jobs = collector_scrape_jobs(&source).expect("both collector configs parse");
        assert_eq!(check_expected_jobs(&source, &jobs), vec![]);
        assert!(jobs.remove("node-exporter"), "agent.yml scrapes node-exporter: {jobs:?}");
        let findings = check_expected_jobs(&source, &jobs);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].to_string().contains("job `node-exporter`"), "{}", findings[0]);
    }

    #[test]
    fn every_checked_config_is_in_stack_toml() {
        let stack = repository_stack();
        for key in [LOKI, PROMTAIL, OTEL_COLLECTOR, OTEL_AGENT, GRAFANA_INI, GRAFANA_DATASOURCES, GRAFANA_DASHBOARDS] {
            assert!(stack.configs.contains_key(key), "[configs] of stack.toml has no `{key}`");
        }
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(duration_seconds("744h"), Some(744.0 * 3600.0));
        assert_eq!(duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(duration_seconds("31d"), Some(31.0 * 86400.0));
        assert_eq!(duration_seconds("500ms"), Some(0.5));
        assert_eq!(duration_seconds("forever"), None);
        assert_eq!(date_days("1970-01-01"), Some(0));
        assert_eq!(date_days("2024-04-01"), Some(19_814));
        assert!(date_days("2024-13-01").is_none());
        assert!(today_days() > 19_814);
    }

    #[test]
    fn parse_errors_name_line_and_key() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Small {
            a: Option<u32>,
        }
        let err = parse_yaml::<Small>("x.yml", "a: 1\nb: 2\n").expect_err("unknown key");
        assert_eq!(err.file, "x.yml");
        assert_eq!(err.place, "line 2, column 1");
        assert!(err.message.contains("unknown field `b`"), "{}", err.message);
    }

    #[test]
    fn service_urls() {
        let stack = repository_stack();
        assert_eq!(check_service_url(&stack, "http://loki:3100/otlp"), None);
        assert_eq!(check_service_url(&stack, "http://tasks.prometheus:9090"), None);
        let message = check_service_url(&stack, "http://lokii:3100/loki/api/v1/push").expect("unknown host");
        assert!(message.contains("`lokii`"), "{message}");
    }
}
