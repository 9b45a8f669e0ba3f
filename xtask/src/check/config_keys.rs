//! The `[configs]` keys of `stack/stack.toml` whose files the checks read.
//! The paths themselves come from stack.toml ([`super::config_file`]), so a
//! config moved there is checked where it now is.

pub const PROMETHEUS: &str = "prometheus_yml";
pub const ALERTMANAGER: &str = "alertmanager_yml";
pub const ALERTMANAGER_TEMPLATES: &str = "alertmanager_tmpl";
pub const LOKI: &str = "loki_yml";
pub const PROMTAIL: &str = "promtail_yml";
pub const OTEL_COLLECTOR: &str = "otelcol_yml";
/// The per-node collector (otel-agent) that scrapes node-exporter.
pub const OTEL_AGENT: &str = "otelcol_agent_yml";
pub const GRAFANA_INI: &str = "grafana_ini";
pub const GRAFANA_DATASOURCES: &str = "grafana_datasources";
pub const GRAFANA_DASHBOARDS: &str = "grafana_dashboards";
/// The Docker API proxy's HAProxy config (`check::haproxy`).
pub const DOCKER_PROXY: &str = "docker_proxy_cfg";

/// The `[config_sets]` key of the generated Prometheus rule files.
pub const RULES_SET: &str = "rules";
