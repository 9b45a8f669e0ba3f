//! Promtail 3.6 configuration.
//!
//! Keys from the 3.6 sources (grafana/loki v3.6.11
//! `clients/pkg/promtail/config/config.go`, `client/config.go`,
//! `positions/positions.go`, `scrapeconfig/scrapeconfig.go`, the pipeline
//! stages in `clients/pkg/logentry/stages/`) and Prometheus' discovery
//! configs they embed. Promtail is EOL; there will be no newer keys.
//!
//! With `-config.expand-env=true` Promtail runs the file through
//! drone/envsubst first: `${NAME}` is substituted, and `$$`, `\\` and `\/`
//! collapse to one character. Those sequences are reported, as is `${...}`
//! without the flag.

#![allow(
    dead_code,
    reason = "the structs list every key the component accepts, so serde rejects the others; most fields are never read"
)]

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Any, CHECK, at, check_service_url, finding_at, parse_yaml, service};
use crate::check::Finding;
use crate::source::StackDefinition;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromtailConfig {
    server: Option<Server>,
    positions: Option<Positions>,
    clients: Option<Vec<Client>>,
    /// Deprecated single-client form.
    client: Option<Spanned<Client>>,
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
    target_config: Any,
    limits_config: Any,
    options: Any,
    tracing: Any,
    wal: Any,
    global: Any,
}

/// dskit server config plus Promtail's own server keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Server {
    http_listen_network: Any,
    http_listen_address: Any,
    http_listen_port: Option<Spanned<u16>>,
    http_listen_conn_limit: Any,
    grpc_listen_network: Any,
    grpc_listen_address: Any,
    grpc_listen_port: Option<u16>,
    grpc_listen_conn_limit: Any,
    register_instrumentation: Any,
    graceful_shutdown_timeout: Any,
    http_server_read_timeout: Any,
    http_server_write_timeout: Any,
    http_server_idle_timeout: Any,
    http_path_prefix: Any,
    http_tls_config: Any,
    grpc_tls_config: Any,
    log_level: Option<Spanned<String>>,
    log_format: Option<Spanned<String>>,
    external_url: Any,
    health_check_target: Any,
    disable: Any,
    profiling_enabled: Any,
    enable_runtime_reload: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Positions {
    filename: Option<Spanned<String>>,
    sync_period: Any,
    ignore_invalid_yaml: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Client {
    url: Spanned<String>,
    name: Any,
    batchwait: Any,
    batchsize: Any,
    headers: Any,
    backoff_config: Option<Backoff>,
    external_labels: Any,
    timeout: Any,
    tenant_id: Any,
    drop_rate_limited_batches: Any,
    // Prometheus HTTP client config, inlined.
    basic_auth: Any,
    authorization: Any,
    oauth2: Any,
    bearer_token: Any,
    bearer_token_file: Any,
    proxy_url: Any,
    no_proxy: Any,
    proxy_from_environment: Any,
    proxy_connect_header: Any,
    tls_config: Any,
    follow_redirects: Any,
    enable_http2: Any,
    http_headers: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backoff {
    min_period: Any,
    max_period: Any,
    max_retries: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfig {
    job_name: Spanned<String>,
    pipeline_stages: Option<Vec<Stage>>,
    relabel_configs: Option<Vec<Relabel>>,
    docker_sd_configs: Option<Vec<DockerSd>>,
    static_configs: Option<Vec<StaticConfig>>,
    encoding: Any,
    decompression: Any,
    journal: Any,
    syslog: Any,
    gcplog: Any,
    loki_push_api: Any,
    windows_events: Any,
    kafka: Any,
    azure_event_hubs: Any,
    gelf: Any,
    cloudflare: Any,
    heroku_drain: Any,
    file_sd_configs: Any,
    dns_sd_configs: Any,
    consul_sd_configs: Any,
    consulagent_sd_configs: Any,
    digitalocean_sd_configs: Any,
    dockerswarm_sd_configs: Any,
    serverset_sd_configs: Any,
    nerve_sd_configs: Any,
    marathon_sd_configs: Any,
    kubernetes_sd_configs: Any,
    gce_sd_configs: Any,
    ec2_sd_configs: Any,
    openstack_sd_configs: Any,
    azure_sd_configs: Any,
    triton_sd_configs: Any,
}

/// Prometheus' `docker_sd_config` (moby discovery) as Promtail embeds it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DockerSd {
    host: Spanned<String>,
    port: Any,
    filters: Any,
    refresh_interval: Any,
    host_networking_host: Any,
    match_first_network: Any,
    basic_auth: Any,
    authorization: Any,
    oauth2: Any,
    proxy_url: Any,
    no_proxy: Any,
    proxy_from_environment: Any,
    proxy_connect_header: Any,
    tls_config: Any,
    follow_redirects: Any,
    enable_http2: Any,
    http_headers: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticConfig {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Relabel {
    source_labels: Option<Spanned<Vec<String>>>,
    separator: Any,
    regex: Option<Spanned<String>>,
    modulus: Any,
    target_label: Option<Spanned<String>>,
    replacement: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
}

/// One pipeline stage: a single-key mapping, the key naming the stage.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Match(MatchStage),
    Json(JsonStage),
    Logfmt(LogfmtStage),
    Template(TemplateStage),
    Labels(BTreeMap<String, Option<String>>),
    // Accepted as they are.
    Regex(IgnoredStage),
    Replace(IgnoredStage),
    Metrics(IgnoredStage),
    Labeldrop(IgnoredStage),
    Labelallow(IgnoredStage),
    Timestamp(IgnoredStage),
    Output(IgnoredStage),
    Docker(IgnoredStage),
    Cri(IgnoredStage),
    Pipeline(IgnoredStage),
    Tenant(IgnoredStage),
    Drop(IgnoredStage),
    Sampling(IgnoredStage),
    Limit(IgnoredStage),
    Multiline(IgnoredStage),
    Pack(IgnoredStage),
    StaticLabels(IgnoredStage),
    Decolorize(IgnoredStage),
    Eventlogmessage(IgnoredStage),
    Geoip(IgnoredStage),
    StructuredMetadata(IgnoredStage),
    NonIndexedLabels(IgnoredStage),
}

type IgnoredStage = serde::de::IgnoredAny;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchStage {
    selector: Spanned<String>,
    #[serde(default)]
    stages: Vec<Stage>,
    action: Option<String>,
    drop_counter_reason: Any,
    pipeline_name: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonStage {
    expressions: BTreeMap<String, Option<String>>,
    source: Any,
    drop_malformed: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogfmtStage {
    mapping: BTreeMap<String, Option<String>>,
    source: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateStage {
    source: Spanned<String>,
    template: Spanned<String>,
}

const RELABEL_ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

/// Checks `promtail.yml`; `file` names it in findings.
pub(super) fn check(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let mut out = expand_env_hazards(file, text, stack);
    let config: PromtailConfig = match parse_yaml(file, text) {
        Ok(config) => config,
        Err(finding) => {
            out.push(finding);
            return out;
        }
    };
    let whole = |message: String| Finding::new(CHECK, file, "", message);

    if let Some(server) = &config.server {
        out.extend(super::check_log_settings(file, server.log_level.as_ref(), server.log_format.as_ref()));
    }

    // Positions on a volume, or a restarted task re-reads or skips logs.
    match config.positions.as_ref().and_then(|p| p.filename.as_ref()) {
        None => out.push(whole(
            "positions.filename is not set: positions go to /var/log/positions.yaml, lost with the container".into(),
        )),
        Some(filename) => {
            let volumes: Vec<&str> =
                service(stack, "promtail").into_iter().flat_map(|s| &s.volumes).map(|v| v.target.as_str()).collect();
            if !stack.services.is_empty() && !volumes.iter().any(|dir| under(&filename.value, dir)) {
                out.push(finding_at(file, filename, format!(
                    "positions.filename `{}` is not on a volume of the promtail service ({volumes:?}): positions are lost when the task is replaced",
                    filename.value
                )));
            }
        }
    }

    let mut clients: Vec<&Client> = config.clients.iter().flatten().collect();
    if let Some(client) = &config.client {
        out.push(finding_at(file, client, "`client` is the deprecated single-client form: use `clients: [...]`"));
        clients.push(&client.value);
    }
    if clients.is_empty() {
        out.push(whole("no `clients`: Promtail would read logs and send them nowhere".into()));
    }
    for client in clients {
        if !client.url.value.ends_with("/loki/api/v1/push") {
            out.push(finding_at(
                file,
                &client.url,
                format!("client url `{}` should end in /loki/api/v1/push", client.url.value),
            ));
        }
        if let Some(message) = check_service_url(stack, &client.url.value) {
            out.push(finding_at(file, &client.url, format!("client url {message}")));
        }
        if let Some(retries) = client.backoff_config.as_ref().and_then(|b| b.max_retries.as_ref())
            && retries.value == 0
        {
            out.push(finding_at(
                file,
                retries,
                "backoff_config.max_retries: 0 retries forever and blocks every later batch behind a rejected one",
            ));
        }
    }

    let mut job_names = BTreeSet::new();
    let binds: Vec<&str> =
        service(stack, "promtail").into_iter().flat_map(|s| &s.binds).map(|b| b.target.as_str()).collect();
    // The socket may be bound itself or sit in a mounted directory (the
    // Docker API proxy's socket volume).
    let mounts: Vec<&str> = service(stack, "promtail")
        .into_iter()
        .flat_map(|s| s.binds.iter().map(|b| b.target.as_str()).chain(s.volumes.iter().map(|v| v.target.as_str())))
        .collect();
    for scrape in &config.scrape_configs {
        if !job_names.insert(scrape.job_name.value.clone()) {
            out.push(finding_at(file, &scrape.job_name, format!("duplicate job_name `{}`", scrape.job_name.value)));
        }
        for sd in scrape.docker_sd_configs.iter().flatten() {
            if let Some(path) = sd.host.value.strip_prefix("unix://") {
                if !stack.services.is_empty() && !mounts.iter().any(|dir| under(path, dir)) {
                    out.push(finding_at(
                        file,
                        &sd.host,
                        format!(
                            "docker_sd_configs host `{}`: {path} is not mounted into the promtail service",
                            sd.host.value
                        ),
                    ));
                }
            } else if !sd.host.value.starts_with("tcp://") && !sd.host.value.starts_with("http") {
                out.push(finding_at(
                    file,
                    &sd.host,
                    format!("docker_sd_configs host `{}`: expected unix:///path or tcp://host:port", sd.host.value),
                ));
            }
        }
        for relabel in scrape.relabel_configs.iter().flatten() {
            out.extend(check_relabel(file, relabel));
        }
        for static_config in scrape.static_configs.iter().flatten() {
            for (name, value) in &static_config.labels {
                if !is_label_name(name) {
                    out.push(finding_at(file, value, format!("label name `{name}` is not a valid Loki label name")));
                }
            }
            if let Some(path) = static_config.labels.get("__path__") {
                let dir = path.value.rsplit_once('/').map_or("", |(dir, _)| dir);
                if !stack.services.is_empty() && !binds.iter().any(|b| under(dir, b)) {
                    out.push(finding_at(
                        file,
                        path,
                        format!(
                            "__path__ `{}` is not under a directory bind-mounted into the promtail service ({binds:?})",
                            path.value
                        ),
                    ));
                }
            }
        }
        for stage in scrape.pipeline_stages.iter().flatten() {
            check_stage(file, stage, &mut out);
        }
    }
    out
}

fn check_relabel(file: &str, relabel: &Relabel) -> Vec<Finding> {
    let mut out = Vec::new();
    let action = relabel.action.as_ref().map_or("replace", |a| a.value.as_str());
    if let Some(spanned) = &relabel.action
        && !RELABEL_ACTIONS.contains(&action)
    {
        out.push(finding_at(
            file,
            spanned,
            format!("relabel action `{action}` is not one of {}", RELABEL_ACTIONS.join(", ")),
        ));
    }
    if matches!(action, "replace" | "hashmod" | "lowercase" | "uppercase") {
        match &relabel.target_label {
            None => {
                let message = format!("relabel action `{action}` needs target_label");
                let location = [
                    relabel.source_labels.as_ref().map(|s| &s.referenced),
                    relabel.regex.as_ref().map(|s| &s.referenced),
                    relabel.replacement.as_ref().map(|s| &s.referenced),
                ]
                .into_iter()
                .flatten()
                .next()
                .map(at)
                .unwrap_or_default();
                out.push(Finding::new(CHECK, file, location, message));
            }
            Some(target) if !is_label_name(&target.value) && !target.value.contains("${") => {
                out.push(finding_at(
                    file,
                    target,
                    format!("target_label `{}` is not a valid label name", target.value),
                ));
            }
            Some(_) => {}
        }
    }
    out
}

fn check_stage(file: &str, stage: &Stage, out: &mut Vec<Finding>) {
    match stage {
        Stage::Match(m) => {
            let selector = m.selector.value.trim();
            if !selector.starts_with('{') || !selector.contains('}') {
                out.push(finding_at(
                    file,
                    &m.selector,
                    format!("match selector `{selector}` must start with a stream selector {{...}}"),
                ));
            }
            if m.stages.is_empty() && m.action.as_deref() != Some("drop") {
                out.push(finding_at(
                    file,
                    &m.selector,
                    "match stage without stages (and not action: drop) does nothing",
                ));
            }
            for inner in &m.stages {
                check_stage(file, inner, out);
            }
        }
        Stage::Template(t) => {
            let template = &t.template.value;
            if template.matches("{{").count() != template.matches("}}").count() {
                out.push(finding_at(file, &t.template, "template stage: unbalanced {{ }}"));
            }
            if t.source.value.is_empty() {
                out.push(finding_at(file, &t.source, "template stage needs a source"));
            }
        }
        Stage::Labels(labels) => {
            for name in labels.keys().filter(|n| !is_label_name(n)) {
                out.push(Finding::new(CHECK, file, "", format!("labels stage: `{name}` is not a valid label name")));
            }
        }
        Stage::Json(j) if j.expressions.is_empty() => {
            out.push(Finding::new(CHECK, file, "", "json stage without expressions extracts nothing"));
        }
        Stage::Logfmt(l) if l.mapping.is_empty() => {
            out.push(Finding::new(CHECK, file, "", "logfmt stage without mapping extracts nothing"));
        }
        _ => {}
    }
}

/// The substitutions `-config.expand-env=true` (drone/envsubst) would make
/// that the author probably did not mean, or `${...}` without the flag.
fn expand_env_hazards(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let args = service(stack, "promtail").map(|s| s.args.as_slice()).unwrap_or_default();
    let expands = args.iter().any(|a| {
        let a = a.trim_start_matches('-');
        a == "config.expand-env" || a == "config.expand-env=true"
    });
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let content = strip_comment(line);
        let location = format!("line {}", index + 1);
        let mut rest = content;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let name_end = after.find('}').unwrap_or(after.len());
            let name = &after[..name_end];
            let bare = name.split([':', '-', '=']).next().unwrap_or("");
            if !expands && !stack.services.is_empty() {
                out.push(Finding::new(
                    CHECK,
                    file,
                    location.clone(),
                    format!(
                        "`${{{name}}}` stays literal: the promtail service does not run with -config.expand-env=true"
                    ),
                ));
            } else if bare.is_empty()
                || bare.starts_with(|c: char| c.is_ascii_digit())
                || !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                out.push(Finding::new(CHECK, file, location.clone(), format!(
                    "`${{{name}}}` is not an environment variable name: -config.expand-env would replace it (use the default replacement $1 instead of ${{1}})"
                )));
            }
            rest = &after[name_end..];
        }
        if expands {
            for (sequence, becomes) in [("$$", "$"), ("\\\\", "\\"), ("\\/", "/")] {
                if content.contains(sequence) {
                    out.push(Finding::new(CHECK, file, location.clone(), format!(
                        "`{sequence}` becomes `{becomes}` under -config.expand-env=true; write the regex without it (e.g. [.] instead of \\.)"
                    )));
                }
            }
        }
    }
    out
}

/// The line without a trailing YAML comment (a `#` after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (previous == ' ' || i == 0) => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

fn under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path == dir || path.starts_with(&format!("{dir}/"))
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "stack/configs/promtail/promtail.yml";

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    fn real() -> String {
        std::fs::read_to_string(root().join(FILE)).expect("promtail.yml")
    }

    fn stack() -> StackDefinition {
        super::super::tests::repository_stack()
    }

    fn assert_finding(text: &str, needle: &str) {
        let findings = check(FILE, text, &stack());
        assert!(
            findings.iter().any(|f| f.file == FILE && f.message.contains(needle)),
            "expected a finding containing {needle:?}, got {findings:#?}"
        );
    }

    #[test]
    fn real_file_passes() {
        assert_eq!(check(FILE, &real(), &stack()), vec![]);
    }

    #[test]
    fn typo_in_a_key_names_the_key_and_line() {
        let text = real().replace("    batchwait: 1s", "    batch_wait: 1s");
        let findings = check(FILE, &text, &stack());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].message.contains("unknown field `batch_wait`"), "{findings:#?}");
        assert!(findings[0].place.starts_with("line 30"), "{findings:#?}");
    }

    #[test]
    fn unknown_stage() {
        assert_finding(
            &real().replace("      - labels:\n          level:", "      - label:\n          level:"),
            "unknown variant `label`",
        );
    }

    #[test]
    fn expand_env_hazards_are_reported() {
        assert_finding(&real().replace("regex: '/(.*)'", "regex: '\\\\/(.*)'"), "becomes `/`");
        assert_finding(
            &real().replace(
                "        target_label: container",
                "        target_label: container\n        replacement: '${1}'",
            ),
            "`${1}` is not an environment variable",
        );
    }

    #[test]
    fn positions_off_the_volume_and_wrong_client() {
        assert_finding(&real().replace("/var/lib/promtail/positions.yaml", "/tmp/positions.yaml"), "not on a volume");
        assert_finding(
            &real().replace("http://loki:3100/loki/api/v1/push", "http://loki:3100/api/prom/push"),
            "/loki/api/v1/push",
        );
    }

    #[test]
    fn relabel_without_target() {
        assert_finding(&real().replace("        target_label: stream\n", ""), "needs target_label");
    }
}
