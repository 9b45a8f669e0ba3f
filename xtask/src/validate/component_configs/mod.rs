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
//! (`validate::promtool`, `validate::amtool`).

mod grafana;
mod loki;
mod otel_collector;
mod promtail;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::Finding;

/// The `check` name these findings carry.
pub const CHECK: &str = "config";

/// Repository-relative paths of the configs checked here (the values of
/// `[configs]` in `stack/stack.toml`; a test keeps them equal).
pub const LOKI: &str = "stack/configs/loki/loki.yml";
pub const PROMTAIL: &str = "stack/configs/promtail/promtail.yml";
pub const OTEL_COLLECTOR: &str = "stack/configs/otel-collector/otelcol.yml";
pub const GRAFANA_INI: &str = "stack/configs/grafana/grafana.ini";
pub const GRAFANA_DATASOURCES: &str = "stack/configs/grafana/provisioning/datasources.yml";
pub const GRAFANA_DASHBOARDS: &str = "stack/configs/grafana/provisioning/dashboards.yml";

const STACK_TOML: &str = "stack/stack.toml";

/// A component check: (repository-relative file, its text, stack facts) -> findings.
type ComponentCheck = fn(&str, &str, &StackFacts) -> Vec<Finding>;

/// Checks every component config this module knows, plus the references
/// between them and `stack/stack.toml`. Findings are sorted.
pub fn check(repo: &Path) -> Vec<Finding> {
    let stack = StackFacts::load(repo);
    let mut findings = stack.findings.clone();
    let checks: [(&str, ComponentCheck); 6] = [
        (LOKI, loki::check),
        (PROMTAIL, promtail::check),
        (OTEL_COLLECTOR, otel_collector::check),
        (GRAFANA_INI, grafana::check_ini),
        (GRAFANA_DATASOURCES, grafana::check_datasources),
        (GRAFANA_DASHBOARDS, grafana::check_dashboards),
    ];
    for (file, check) in checks {
        match std::fs::read_to_string(repo.join(file)) {
            Ok(text) => findings.extend(check(file, &text, &stack)),
            Err(err) => findings.push(Finding::new(CHECK, file, "", format!("cannot read: {err}"))),
        }
    }
    findings.sort();
    findings
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
pub fn provisioned_datasource_uids(repo: &Path) -> Result<Vec<String>, Finding> {
    let text = std::fs::read_to_string(repo.join(GRAFANA_DATASOURCES))
        .map_err(|e| Finding::new(CHECK, GRAFANA_DATASOURCES, "", format!("cannot read: {e}")))?;
    grafana::provisioned_uids(GRAFANA_DATASOURCES, &text)
}

/// What the component checks need to know about `stack/stack.toml`: which
/// services exist (URLs must name one) and where Grafana's files are mounted.
/// Read loosely (a `toml::Value`), so this module does not depend on the
/// stack definition's Rust types; the stack's own validation is elsewhere.
#[derive(Debug, Default, Clone)]
pub struct StackFacts {
    /// Service names, the network aliases other containers reach them by.
    pub services: BTreeSet<String>,
    /// `(service, source, target)` of every `services.*.configs` mount.
    pub config_mounts: Vec<(String, String, String)>,
    /// `(service, target)` of every named-volume mount.
    pub volume_targets: Vec<(String, String)>,
    /// `(service, source, target)` of every bind mount.
    pub binds: Vec<(String, String, String)>,
    /// Command-line arguments per service.
    pub args: Vec<(String, Vec<String>)>,
    /// `[images.<name>].tag`.
    pub image_tags: std::collections::BTreeMap<String, String>,
    /// `(service, target_dir)` of every config-set mount.
    pub config_set_dirs: Vec<(String, String)>,
    /// Container ports (`ports[].target`) per service.
    pub ports: Vec<(String, u16)>,
    findings: Vec<Finding>,
}

impl StackFacts {
    fn load(repo: &Path) -> StackFacts {
        match std::fs::read_to_string(repo.join(STACK_TOML)) {
            Ok(text) => StackFacts::parse(&text),
            Err(err) => StackFacts {
                findings: vec![Finding::new(CHECK, STACK_TOML, "", format!("cannot read: {err}"))],
                ..StackFacts::default()
            },
        }
    }

    /// Parses the parts of `stack.toml` the config checks use.
    pub fn parse(text: &str) -> StackFacts {
        let mut facts = StackFacts::default();
        let value: toml::Table = match toml::from_str(text) {
            Ok(value) => value,
            Err(err) => {
                facts.findings.push(Finding::new(CHECK, STACK_TOML, "", format!("cannot parse: {err}")));
                return facts;
            }
        };
        for (name, image) in value.get("images").and_then(toml::Value::as_table).into_iter().flatten() {
            if let Some(tag) = image.get("tag").and_then(toml::Value::as_str) {
                facts.image_tags.insert(name.clone(), tag.to_owned());
            }
        }
        let Some(services) = value.get("services").and_then(toml::Value::as_table) else {
            return facts;
        };
        for (name, service) in services {
            facts.services.insert(name.clone());
            let list = |key: &str| service.get(key).and_then(toml::Value::as_array).cloned().unwrap_or_default();
            let field = |v: &toml::Value, key: &str| v.get(key).and_then(toml::Value::as_str).unwrap_or("").to_owned();
            for mount in list("configs") {
                facts.config_mounts.push((name.clone(), field(&mount, "source"), field(&mount, "target")));
            }
            for volume in list("volumes") {
                facts.volume_targets.push((name.clone(), field(&volume, "target")));
            }
            for bind in list("binds") {
                facts.binds.push((name.clone(), field(&bind, "source"), field(&bind, "target")));
            }
            let args = list("args").iter().filter_map(|a| a.as_str().map(str::to_owned)).collect();
            facts.args.push((name.clone(), args));
            for set in list("config_sets") {
                facts.config_set_dirs.push((name.clone(), field(&set, "target_dir")));
            }
            for port in list("ports") {
                if let Some(target) = port.get("target").and_then(toml::Value::as_integer) {
                    facts.ports.push((name.clone(), u16::try_from(target).unwrap_or(0)));
                }
            }
        }
        facts
    }

    /// The arguments of `service` (empty when unknown).
    pub fn args_of(&self, service: &str) -> &[String] {
        self.args.iter().find(|(s, _)| s == service).map(|(_, a)| a.as_slice()).unwrap_or_default()
    }

    /// Facts for unit tests: these services, nothing mounted.
    #[cfg(test)]
    pub fn with_services(names: &[&str]) -> StackFacts {
        StackFacts { services: names.iter().map(|s| (*s).to_owned()).collect(), ..StackFacts::default() }
    }
}

/// Checks that an `http://host:port/...` URL names a service of the stack
/// (the short service names are the aliases on the stack's network).
/// `None` when fine or when the stack is unknown (no services parsed).
pub(crate) fn check_service_url(stack: &StackFacts, url: &str) -> Option<String> {
    if stack.services.is_empty() {
        return None;
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    let host = host.strip_prefix("tasks.").unwrap_or(host);
    if host == "localhost" || host == "127.0.0.1" || stack.services.contains(host) {
        None
    } else {
        Some(format!(
            "`{url}`: host `{host}` is not a service of stack/stack.toml (known: {})",
            stack.services.iter().cloned().collect::<Vec<_>>().join(", ")
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
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
    }

    #[test]
    fn the_repository_configs_pass() {
        let findings = check(&repo());
        assert!(
            findings.is_empty(),
            "findings:\n{}",
            findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        );
    }

    #[test]
    fn paths_match_stack_toml() {
        let text = std::fs::read_to_string(repo().join(STACK_TOML)).expect("stack.toml");
        let value: toml::Table = toml::from_str(&text).expect("stack.toml parses");
        let configs = value["configs"].as_table().expect("[configs]");
        let values: Vec<&str> = configs.values().filter_map(toml::Value::as_str).collect();
        for path in [LOKI, PROMTAIL, OTEL_COLLECTOR, GRAFANA_INI, GRAFANA_DATASOURCES, GRAFANA_DASHBOARDS] {
            assert!(values.contains(&path), "{path} is not a [configs] value of stack.toml");
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
        assert_eq!(err.location, "line 2, column 1");
        assert!(err.message.contains("unknown field `b`"), "{}", err.message);
    }

    #[test]
    fn service_urls() {
        let stack = StackFacts::with_services(&["loki", "prometheus"]);
        assert_eq!(check_service_url(&stack, "http://loki:3100/otlp"), None);
        assert_eq!(check_service_url(&stack, "http://tasks.prometheus:9090"), None);
        let message = check_service_url(&stack, "http://lokii:3100/loki/api/v1/push").expect("unknown host");
        assert!(message.contains("`lokii`"), "{message}");
    }
}
