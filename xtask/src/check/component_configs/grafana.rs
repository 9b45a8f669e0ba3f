//! Grafana 13: `grafana.ini` and the provisioning files (data sources,
//! dashboard provider).
//!
//! Provisioning keys from Grafana's provisioning docs (apiVersion 1;
//! `pkg/services/provisioning/{datasources,dashboards}` config types). The
//! INI sections and keys from `conf/defaults.ini`; sections whose keys are
//! open-ended (feature toggles, auth providers, custom headers) accept any key.

#![allow(
    dead_code,
    reason = "the structs list every key the component accepts, so serde rejects the others; most fields are never read"
)]

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Any, CHECK, Entries, check_service_url, finding_at, parse_yaml, service};
use crate::check::Finding;
use crate::source::StackDefinition;

/// The uids the generated dashboards and alerts reference.
pub const DATASOURCE_UIDS: [&str; 3] = [
    dashboards::Datasource::Prometheus.uid(),
    dashboards::Datasource::Loki.uid(),
    dashboards::Datasource::Alertmanager.uid(),
];

// ---------------------------------------------------------------- data sources

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DatasourcesFile {
    api_version: Spanned<u32>,
    #[serde(default)]
    datasources: Vec<Datasource>,
    delete_datasources: Any,
    prune: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Datasource {
    name: Spanned<String>,
    uid: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    access: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    org_id: Any,
    user: Any,
    database: Any,
    basic_auth: Any,
    basic_auth_user: Any,
    with_credentials: Any,
    is_default: Option<Spanned<bool>>,
    json_data: Option<Entries<serde_json::Value>>,
    secure_json_data: Option<Entries<Spanned<String>>>,
    version: Any,
    editable: Option<Spanned<bool>>,
}

/// The uids of the data sources `provisioning/datasources.yml` provisions,
/// which dashboards may reference.
pub(crate) fn provisioned_uids(file: &str, text: &str) -> Result<Vec<String>, Finding> {
    let parsed: DatasourcesFile = serde_saphyr::from_str(text)
        .map_err(|e| Finding::new(CHECK, file, "", format!("not a data source file: {e}")))?;
    Ok(parsed.datasources.into_iter().filter_map(|d| d.uid.map(|u| u.value)).collect())
}

/// Checks `provisioning/datasources.yml`.
pub(super) fn check_datasources(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let parsed: DatasourcesFile = match parse_yaml(file, text) {
        Ok(parsed) => parsed,
        Err(finding) => return vec![finding],
    };
    let mut out = Vec::new();
    if parsed.api_version.value != 1 {
        out.push(finding_at(file, &parsed.api_version, "apiVersion must be 1"));
    }
    let mut uids = BTreeSet::new();
    let mut defaults = Vec::new();
    for ds in &parsed.datasources {
        let name = &ds.name.value;
        match &ds.uid {
            None => out.push(finding_at(
                file,
                &ds.name,
                format!("data source `{name}` has no uid: Grafana generates one, and dashboards that name `uid` break"),
            )),
            Some(uid) => {
                if !uids.insert(uid.value.clone()) {
                    out.push(finding_at(file, uid, format!("duplicate data-source uid `{}`", uid.value)));
                }
            }
        }
        if ds.is_default.as_ref().is_some_and(|d| d.value) {
            defaults.push(&ds.name);
        }
        if ds.editable.as_ref().is_none_or(|e| e.value) {
            out.push(finding_at(
                file,
                &ds.name,
                format!("data source `{name}`: set `editable: false` so the UI cannot drift from this file"),
            ));
        }
        if let Some(access) = &ds.access
            && access.value != "proxy"
        {
            out.push(finding_at(
                file,
                access,
                format!(
                    "data source `{name}`: access `{}`; the browser cannot reach the overlay network, use proxy",
                    access.value
                ),
            ));
        }
        match &ds.url {
            None => out.push(finding_at(file, &ds.name, format!("data source `{name}` has no url"))),
            Some(url) => {
                if let Some(message) = check_service_url(stack, &url.value) {
                    out.push(finding_at(file, url, message));
                }
            }
        }
        for (key, value) in ds.secure_json_data.iter().flat_map(Entries::iter) {
            if !value.value.starts_with('$') {
                out.push(finding_at(file, key, format!(
                    "data source `{name}`: secureJsonData.{} is a literal; read it from a secret ($__file{{/run/secrets/...}} or ${{ENV}})",
                    key.value
                )));
            }
        }
        let json = |key: &str| ds.json_data.iter().flat_map(Entries::iter).find(|(k, _)| k.value == key);
        match ds.kind.value.as_str() {
            "prometheus" => {
                if let Some((key, value)) = json("httpMethod")
                    && !matches!(value.as_str(), Some("POST" | "GET"))
                {
                    out.push(finding_at(file, key, format!("data source `{name}`: httpMethod must be POST or GET")));
                }
                if let Some((key, value)) = json("prometheusVersion")
                    && let Some(pinned) = stack.images.get("prometheus").and_then(|image| image.tag())
                    && value.as_str() != Some(pinned.trim_start_matches('v'))
                {
                    out.push(finding_at(
                        file,
                        key,
                        format!("data source `{name}`: prometheusVersion {value} is not the pinned image tag {pinned}"),
                    ));
                }
            }
            "alertmanager" => {
                match json("implementation") {
                    Some((_, value)) if matches!(value.as_str(), Some("prometheus" | "mimir" | "cortex")) => {}
                    Some((key, value)) => out.push(finding_at(
                        file,
                        key,
                        format!("data source `{name}`: implementation {value} is not prometheus, mimir or cortex"),
                    )),
                    None => out.push(finding_at(
                        file,
                        &ds.name,
                        format!("data source `{name}`: set jsonData.implementation (prometheus)"),
                    )),
                }
                if json("handleGrafanaManagedAlerts").map(|(_, v)| v) != Some(&serde_json::Value::Bool(true)) {
                    out.push(finding_at(file, &ds.name, format!(
                        "data source `{name}`: jsonData.handleGrafanaManagedAlerts: true is needed for Grafana-managed alerts to reach this Alertmanager"
                    )));
                }
            }
            "loki" => {}
            other => out.push(finding_at(
                file,
                &ds.kind,
                format!(
                    "data source `{name}`: type `{other}` is not one this stack runs (prometheus, loki, alertmanager)"
                ),
            )),
        }
    }
    match defaults.len() {
        1 => {}
        0 => out.push(Finding::new(CHECK, file, "", "no data source has isDefault: true")),
        _ => out.push(finding_at(
            file,
            defaults[1],
            "more than one data source has isDefault: true (Grafana refuses to start)",
        )),
    }
    let expected: BTreeSet<String> = DATASOURCE_UIDS.iter().map(|s| (*s).to_owned()).collect();
    if uids != expected {
        out.push(Finding::new(
            CHECK,
            file,
            "",
            format!("data-source uids are {:?}; the dashboards and alert rules expect exactly {:?}", uids, expected),
        ));
    }
    out
}

// ---------------------------------------------------------------- dashboard provider

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DashboardsFile {
    api_version: Spanned<u32>,
    #[serde(default)]
    providers: Vec<Provider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Provider {
    name: Spanned<String>,
    org_id: Any,
    folder: Option<String>,
    folder_uid: Any,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    disable_deletion: Option<bool>,
    allow_ui_updates: Option<bool>,
    update_interval_seconds: Any,
    options: ProviderOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProviderOptions {
    path: Spanned<String>,
    folders_from_files_structure: Any,
}

/// Checks `provisioning/dashboards.yml`.
pub(super) fn check_dashboards(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let parsed: DashboardsFile = match parse_yaml(file, text) {
        Ok(parsed) => parsed,
        Err(finding) => return vec![finding],
    };
    let mut out = Vec::new();
    if parsed.api_version.value != 1 {
        out.push(finding_at(file, &parsed.api_version, "apiVersion must be 1"));
    }
    if parsed.providers.is_empty() {
        out.push(Finding::new(CHECK, file, "", "no dashboard providers: no dashboard is loaded"));
    }
    let dirs: Vec<&str> =
        service(stack, "grafana").into_iter().flat_map(|s| &s.config_sets).map(|m| m.target_dir.as_str()).collect();
    for provider in &parsed.providers {
        let name = &provider.name.value;
        if let Some(kind) = &provider.kind
            && kind.value != "file"
        {
            out.push(finding_at(file, kind, format!("provider `{name}`: type `{}`; only `file` exists", kind.value)));
        }
        if provider.allow_ui_updates != Some(false) || provider.disable_deletion != Some(true) {
            out.push(finding_at(
                file,
                &provider.name,
                format!("provider `{name}`: dashboards are code; set allowUiUpdates: false and disableDeletion: true"),
            ));
        }
        if provider.folder.as_deref().is_none_or(str::is_empty) {
            out.push(finding_at(
                file,
                &provider.name,
                format!("provider `{name}` has no folder: dashboards land in General"),
            ));
        }
        let path = provider.options.path.value.trim_end_matches('/');
        if !stack.services.is_empty() && !dirs.contains(&path) {
            out.push(finding_at(
                file,
                &provider.options.path,
                format!(
                    "provider `{name}`: options.path `{path}` is not where stack.toml mounts the dashboards ({dirs:?})"
                ),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------- grafana.ini

/// Known sections and their keys (`*` = any key).
const INI_SECTIONS: &[(&str, &[&str])] = &[
    ("", &["app_mode", "instance_name", "force_migration"]),
    ("paths", &["data", "temp_data_lifetime", "logs", "plugins", "provisioning"]),
    (
        "server",
        &[
            "protocol",
            "min_tls_version",
            "http_addr",
            "http_port",
            "domain",
            "enforce_domain",
            "root_url",
            "serve_from_sub_path",
            "router_logging",
            "static_root_path",
            "enable_gzip",
            "cert_file",
            "cert_key",
            "socket_gid",
            "socket_mode",
            "socket",
            "cdn_url",
            "read_timeout",
        ],
    ),
    ("server.custom_response_headers", &["*"]),
    (
        "database",
        &[
            "type",
            "host",
            "name",
            "user",
            "password",
            "url",
            "max_idle_conn",
            "max_open_conn",
            "conn_max_lifetime",
            "log_queries",
            "ssl_mode",
            "isolation_level",
            "ca_cert_path",
            "client_key_path",
            "client_cert_path",
            "server_cert_name",
            "path",
            "cache_mode",
            "wal",
            "locking_attempt_timeout_sec",
            "query_retries",
            "transaction_retries",
            "instrument_queries",
        ],
    ),
    ("remote_cache", &["type", "connstr", "prefix", "encryption"]),
    ("dataproxy", &["*"]),
    (
        "analytics",
        &[
            "reporting_enabled",
            "reporting_distributor",
            "check_for_updates",
            "check_for_plugin_updates",
            "google_analytics_ua_id",
            "google_analytics_4_id",
            "google_tag_manager_id",
            "rudderstack_write_key",
            "rudderstack_data_plane_url",
            "feedback_links_enabled",
        ],
    ),
    (
        "security",
        &[
            "disable_initial_admin_creation",
            "admin_user",
            "admin_password",
            "admin_email",
            "secret_key",
            "encryption_provider",
            "available_encryption_providers",
            "disable_gravatar",
            "data_source_proxy_whitelist",
            "disable_brute_force_login_protection",
            "cookie_secure",
            "cookie_samesite",
            "allow_embedding",
            "strict_transport_security",
            "strict_transport_security_max_age_seconds",
            "strict_transport_security_preload",
            "strict_transport_security_subdomains",
            "x_content_type_options",
            "x_xss_protection",
            "content_security_policy",
            "content_security_policy_template",
            "content_security_policy_report_only",
            "content_security_policy_report_only_template",
            "csrf_trusted_origins",
            "csrf_additional_headers",
            "csrf_always_check",
            "disable_frontend_sandbox_for_plugins",
        ],
    ),
    ("snapshots", &["enabled", "external_enabled", "external_snapshot_url", "external_snapshot_name", "public_mode"]),
    ("dashboards", &["versions_to_keep", "min_refresh_interval", "default_home_dashboard_path"]),
    (
        "users",
        &[
            "allow_sign_up",
            "allow_org_create",
            "auto_assign_org",
            "auto_assign_org_id",
            "auto_assign_org_role",
            "verify_email_enabled",
            "login_hint",
            "password_hint",
            "default_theme",
            "default_language",
            "home_page",
            "viewers_can_edit",
            "editors_can_admin",
            "user_invite_max_lifetime_duration",
            "hidden_users",
        ],
    ),
    ("auth", &["*"]),
    ("auth.anonymous", &["enabled", "org_name", "org_role", "hide_version", "device_limit"]),
    ("auth.basic", &["enabled", "password_policy"]),
    ("auth.proxy", &["*"]),
    ("auth.generic_oauth", &["*"]),
    ("auth.github", &["*"]),
    ("auth.gitlab", &["*"]),
    ("auth.google", &["*"]),
    ("auth.azuread", &["*"]),
    ("auth.okta", &["*"]),
    ("auth.jwt", &["*"]),
    ("auth.ldap", &["*"]),
    ("smtp", &["*"]),
    ("emails", &["*"]),
    ("log", &["mode", "level", "filters", "user_facing_default_error"]),
    ("log.console", &["level", "format"]),
    ("log.file", &["*"]),
    ("log.frontend", &["*"]),
    (
        "metrics",
        &[
            "enabled",
            "interval_seconds",
            "disable_total_stats",
            "total_stats_collector_interval_seconds",
            "basic_auth_username",
            "basic_auth_password",
        ],
    ),
    ("news", &["news_feed_enabled"]),
    ("unified_alerting", &["*"]),
    ("unified_alerting.screenshots", &["*"]),
    ("unified_alerting.state_history", &["*"]),
    ("plugins", &["*"]),
    ("feature_toggles", &["*"]),
    ("public_dashboards", &["enabled"]),
    ("live", &["*"]),
    ("date_formats", &["*"]),
    ("panels", &["*"]),
    ("explore", &["*"]),
    ("help", &["enabled"]),
    ("profile", &["enabled"]),
    ("query_history", &["enabled"]),
    ("quota", &["*"]),
    ("tracing.opentelemetry", &["*"]),
    ("tracing.opentelemetry.otlp", &["*"]),
];

/// One `key = value` of the INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IniEntry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A small parser for Grafana's INI dialect (go-ini): `[section]`,
/// `key = value`, `;`/`#` comment lines, `"""` quoted multi-line values.
pub(crate) fn parse_ini(text: &str) -> Result<Vec<IniEntry>, (usize, String)> {
    let mut entries = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line = raw.trim();
        let number = index + 1;
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err((number, format!("unterminated section header `{line}`")));
            };
            section = name.trim().to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((number, format!("`{line}` is neither a section, a comment nor key = value")));
        };
        let mut value = value.trim().to_owned();
        if let Some(rest) = value.strip_prefix("\"\"\"") {
            let mut collected = rest.to_owned();
            while !collected.ends_with("\"\"\"") {
                let Some((_, next)) = lines.next() else {
                    return Err((number, "unterminated \"\"\" value".into()));
                };
                collected.push('\n');
                collected.push_str(next);
            }
            value = collected.trim_end_matches("\"\"\"").to_owned();
        }
        entries.push(IniEntry { section: section.clone(), key: key.trim().to_owned(), value, line: number });
    }
    Ok(entries)
}

/// Checks `grafana.ini`.
pub(super) fn check_ini(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let entries = match parse_ini(text) {
        Ok(entries) => entries,
        Err((line, message)) => return vec![Finding::new(CHECK, file, format!("line {line}"), message)],
    };
    let mut out = Vec::new();
    let line_of = |e: &IniEntry| format!("line {}", e.line);
    let mut seen = BTreeSet::new();
    for entry in &entries {
        if !seen.insert((entry.section.clone(), entry.key.clone())) {
            out.push(Finding::new(
                CHECK,
                file,
                line_of(entry),
                format!("[{}] {} is set twice", entry.section, entry.key),
            ));
        }
        if entry.section == "alerting" {
            out.push(Finding::new(
                CHECK,
                file,
                line_of(entry),
                "[alerting] is legacy alerting, removed in Grafana 11: use [unified_alerting]",
            ));
            continue;
        }
        match INI_SECTIONS.iter().find(|(name, _)| *name == entry.section) {
            None => out.push(Finding::new(
                CHECK,
                file,
                line_of(entry),
                format!("unknown section [{}] (add it to grafana.rs if Grafana 13 has it)", entry.section),
            )),
            Some((_, keys)) if !keys.contains(&"*") && !keys.contains(&entry.key.as_str()) => {
                out.push(Finding::new(
                    CHECK,
                    file,
                    line_of(entry),
                    format!("unknown key `{}` in [{}]", entry.key, entry.section),
                ));
            }
            Some(_) => {}
        }
        let secret = matches!(
            (entry.section.as_str(), entry.key.as_str()),
            ("security", "admin_password" | "secret_key") | ("database", "password") | ("smtp", "password")
        );
        if secret && !entry.value.is_empty() && !entry.value.starts_with("$__file{") && !entry.value.starts_with("${") {
            out.push(Finding::new(
                CHECK,
                file,
                line_of(entry),
                format!(
                    "[{}] {} is a literal secret: use a Swarm secret (GF_..._FILE or $__file{{/run/secrets/...}})",
                    entry.section, entry.key
                ),
            ));
        }
    }
    let get = |section: &str, key: &str| entries.iter().find(|e| e.section == section && e.key == key);
    let required: [(&str, &str, &str, &str); 6] = [
        ("auth.anonymous", "enabled", "false", "anonymous access must be off"),
        ("users", "allow_sign_up", "false", "sign-up must be off"),
        ("analytics", "reporting_enabled", "false", "no usage reporting"),
        ("analytics", "check_for_updates", "false", "no update checks"),
        ("analytics", "check_for_plugin_updates", "false", "no plugin update checks"),
        ("unified_alerting", "enabled", "true", "the Grafana-managed log alerts need unified alerting"),
    ];
    for (section, key, value, why) in required {
        match get(section, key) {
            Some(e) if e.value.eq_ignore_ascii_case(value) => {}
            Some(e) => out.push(Finding::new(
                CHECK,
                file,
                line_of(e),
                format!("[{section}] {key} = {}: {why} ({key} = {value})", e.value),
            )),
            None => out.push(Finding::new(
                CHECK,
                file,
                "",
                format!("[{section}] {key} is not set: {why} ({key} = {value})"),
            )),
        }
    }
    if get("server", "root_url").is_none() {
        out.push(Finding::new(
            CHECK,
            file,
            "",
            "[server] root_url is not set: links in alert notifications point at localhost",
        ));
    }
    // The provisioning files must be mounted under [paths] provisioning.
    let provisioning =
        get("paths", "provisioning").map_or("/etc/grafana/provisioning", |e| e.value.as_str()).trim_end_matches('/');
    let mounts = service(stack, "grafana").into_iter().flat_map(|s| &s.configs);
    for (source, target) in mounts.map(|m| (&m.source, &m.target)) {
        if target.contains("/provisioning/") && !target.starts_with(&format!("{provisioning}/")) {
            out.push(Finding::new(CHECK, file, get("paths", "provisioning").map(line_of).unwrap_or_default(), format!(
                "stack.toml mounts {source} at {target}, outside [paths] provisioning = {provisioning}: Grafana will not read it"
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::check::config_keys;

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    fn read(rel: &str) -> String {
        std::fs::read_to_string(root().join(rel)).expect(rel)
    }

    fn stack() -> StackDefinition {
        super::super::tests::repository_stack()
    }

    /// The repository-relative file of a `[configs]` key.
    fn file_of(key: &str) -> String {
        stack().configs.get(key).cloned().unwrap_or_else(|| panic!("[configs] has no `{key}`"))
    }

    static DS: LazyLock<String> = LazyLock::new(|| file_of(config_keys::GRAFANA_DATASOURCES));
    static DB: LazyLock<String> = LazyLock::new(|| file_of(config_keys::GRAFANA_DASHBOARDS));
    static INI: LazyLock<String> = LazyLock::new(|| file_of(config_keys::GRAFANA_INI));

    fn assert_finding(findings: &[Finding], file: &str, needle: &str) {
        assert!(
            findings.iter().any(|f| f.file == file && f.message.contains(needle)),
            "expected a finding containing {needle:?} in {file}, got {findings:#?}"
        );
    }

    #[test]
    fn real_files_pass() {
        assert_eq!(check_datasources(&DS, &read(&DS), &stack()), vec![]);
        assert_eq!(check_dashboards(&DB, &read(&DB), &stack()), vec![]);
        assert_eq!(check_ini(&INI, &read(&INI), &stack()), vec![]);
    }

    #[test]
    fn datasource_uids_must_be_the_expected_unique_ones() {
        let text = read(&DS).replace("uid: loki", "uid: prometheus");
        let findings = check_datasources(&DS, &text, &stack());
        assert_finding(&findings, &DS, "duplicate data-source uid `prometheus`");
        assert_finding(&findings, &DS, "expect exactly");
        assert!(findings.iter().any(|f| f.place.starts_with("line ")), "{findings:#?}");
    }

    #[test]
    fn datasource_typo_and_alertmanager_settings() {
        let findings = check_datasources(&DS, &read(&DS).replace("isDefault: true", "is_default: true"), &stack());
        assert_finding(&findings, &DS, "unknown field `is_default`");
        let findings = check_datasources(
            &DS,
            &read(&DS).replace("handleGrafanaManagedAlerts: true", "handleGrafanaManagedAlerts: false"),
            &stack(),
        );
        assert_finding(&findings, &DS, "handleGrafanaManagedAlerts");
        let findings = check_datasources(
            &DS,
            &read(&DS).replace("prometheusVersion: 3.5.3", "prometheusVersion: 2.55.0"),
            &stack(),
        );
        assert_finding(&findings, &DS, "not the pinned image tag");
    }

    #[test]
    fn dashboard_provider_must_be_read_only_and_mounted() {
        let findings =
            check_dashboards(&DB, &read(&DB).replace("allowUiUpdates: false", "allowUiUpdates: true"), &stack());
        assert_finding(&findings, &DB, "dashboards are code");
        let findings = check_dashboards(
            &DB,
            &read(&DB).replace("/var/lib/grafana-dashboards", "/var/lib/grafana/dashboards"),
            &stack(),
        );
        assert_finding(&findings, &DB, "not where stack.toml mounts");
    }

    #[test]
    fn ini_unknown_keys_and_policy() {
        let findings =
            check_ini(&INI, &read(&INI).replace("reporting_enabled = false", "reporting_enable = false"), &stack());
        assert_finding(&findings, &INI, "unknown key `reporting_enable` in [analytics]");
        assert_finding(&findings, &INI, "[analytics] reporting_enabled is not set");
        let findings = check_ini(
            &INI,
            &read(&INI).replace("[auth.anonymous]\nenabled = false", "[auth.anonymous]\nenabled = true"),
            &stack(),
        );
        assert_finding(&findings, &INI, "anonymous access must be off");
        let findings = check_ini(&INI, &format!("{}\n[security]\nadmin_password = hunter2\n", read(&INI)), &stack());
        assert_finding(&findings, &INI, "literal secret");
        let findings = check_ini(&INI, &format!("{}\n[alerting]\nenabled = false\n", read(&INI)), &stack());
        assert_finding(&findings, &INI, "legacy alerting");
    }

    #[test]
    fn ini_parser() {
        let entries = parse_ini("a = 1\n; comment\n[s]\nk = \"\"\"x\ny\"\"\"\nj=2\n").expect("parses");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1], IniEntry { section: "s".into(), key: "k".into(), value: "x\ny".into(), line: 4 });
        assert_eq!(entries[2].line, 6);
        assert!(parse_ini("[broken\n").is_err());
    }
}
