//! OpenTelemetry Collector (contrib 0.161) configuration.
//!
//! Keys from the components' `config.schema.yaml` / `config.go` in
//! open-telemetry/opentelemetry-collector (v0.159 line: otlp receiver,
//! memory_limiter and batch processors, otlp_http exporter, confighttp,
//! configgrpc, configtls, configretry, service telemetry through otelconf
//! v0.3.0) and opentelemetry-collector-contrib (prometheus receiver,
//! prometheus_remote_write exporter, deltatocumulative processor, health_check
//! extension). Facts that shaped it:
//! - `service.telemetry.metrics.address` is gone since v0.128 (feature gate
//!   `telemetry.disableAddressFieldForInternalTelemetry` stable): the metrics
//!   are exposed through `readers: [{pull: {exporter: {prometheus: {host, port}}}}]`.
//! - Since v0.104 endpoints default to localhost, unreachable in a container.
//! - `otlphttp` became a deprecated alias of `otlp_http` in v0.144.
//! - prometheusremotewrite's `add_metric_suffixes` was deprecated for
//!   `translation_strategy` (contrib #47714, "removed in v0.153.0").
//! - `prometheusremotewrite` became a deprecated alias of
//!   `prometheus_remote_write` in contrib v0.154 (#48705); its own telemetry
//!   keeps the `otelcol_exporter_prometheusremotewrite_*` names.
//! - An explicit telemetry reader defaults `without_units` (and
//!   `without_type_suffix`) to true since v0.152 (#13867,
//!   `service/telemetry/otelconftelemetry/internal/migration/v0.3.0.go`):
//!   the catalog lists the collector's names without unit suffixes.
//! - The prometheus receiver refuses rule_files/alerting/remote_write/
//!   remote_read, and the collector expands `$`: literal dollars are `$$`.
//!
//! The real check is `otelcol-contrib validate --config=...` (Nix dev shell);
//! `check::promtool` also runs `promtool check config` over the embedded
//! scrape config.

#![allow(
    dead_code,
    reason = "the structs list every key the component accepts, so serde rejects the others; most fields are never read"
)]

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Any, CHECK, Entries, check_service_url, finding_at, parse_yaml};
use crate::check::Finding;
use crate::source::StackDefinition;

/// The jobs dashboards and alerts rely on (`job` label of the scraped exporters).
pub const EXPECTED_SCRAPE_JOBS: [&str; 5] =
    ["node-exporter", "cadvisor", "nginx-exporter", "postgres-exporter", "postgres-tables"];
/// The name the otel-agent reaches its own node by (an `extra_hosts` entry
/// with the engine's `host-gateway` address, stack.toml).
const HOST_GATEWAY_NAME: &str = "host.docker.internal:";
/// Where Prometheus scrapes the collector's own metrics (prometheus.yml).
pub const TELEMETRY_PORT: u16 = 8888;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorConfig {
    #[serde(default)]
    receivers: Components<Receiver>,
    #[serde(default)]
    processors: Components<Processor>,
    #[serde(default)]
    exporters: Components<Exporter>,
    #[serde(default)]
    extensions: Components<Extension>,
    #[serde(default)]
    connectors: Components<Connector>,
    service: Service,
}

// ---------------------------------------------------------------- shared config blocks

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsClient {
    insecure: Option<bool>,
    insecure_skip_verify: Any,
    server_name_override: Any,
    ca_file: Any,
    ca_pem: Any,
    cert_file: Any,
    cert_pem: Any,
    key_file: Any,
    key_pem: Any,
    min_version: Any,
    max_version: Any,
    cipher_suites: Any,
    curve_preferences: Any,
    include_system_ca_certs_pool: Any,
    reload_interval: Any,
    tpm: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackOff {
    enabled: Option<bool>,
    initial_interval: Any,
    max_interval: Any,
    max_elapsed_time: Any,
    multiplier: Any,
    randomization_factor: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrpcServer {
    endpoint: Option<Spanned<String>>,
    transport: Any,
    tls: Any,
    max_recv_msg_size_mib: Any,
    max_concurrent_streams: Any,
    read_buffer_size: Any,
    write_buffer_size: Any,
    keepalive: Any,
    include_metadata: Any,
    auth: Any,
    middlewares: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServer {
    endpoint: Option<Spanned<String>>,
    tls: Any,
    cors: Option<Cors>,
    auth: Any,
    max_request_body_size: Any,
    include_metadata: Any,
    response_headers: Any,
    compression_algorithms: Any,
    read_timeout: Any,
    read_header_timeout: Any,
    write_timeout: Any,
    idle_timeout: Any,
    keep_alives_enabled: Any,
    middlewares: Any,
    // otlp receiver only.
    traces_url_path: Any,
    metrics_url_path: Any,
    logs_url_path: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cors {
    allowed_origins: Any,
    allowed_headers: Any,
    exposed_headers: Any,
    max_age: Any,
}

// ---------------------------------------------------------------- receivers

#[derive(Debug)]
enum Receiver {
    Otlp(OtlpReceiver),
    Prometheus(PrometheusReceiver),
    /// A known component this module does not look into.
    Untyped,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpReceiver {
    #[serde(default)]
    protocols: OtlpProtocols,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpProtocols {
    grpc: Option<GrpcServer>,
    http: Option<HttpServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusReceiver {
    /// A Prometheus configuration (checked with promtool, see `check::promtool`).
    config: Option<serde_json::Value>,
    trim_metric_suffixes: Any,
    target_allocator: Any,
    api_server: Any,
    report_extra_scrape_metrics: Any,
}

const UNTYPED_RECEIVERS: &[&str] = &[
    "filelog",
    "hostmetrics",
    "docker_stats",
    "journald",
    "syslog",
    "fluentforward",
    "jaeger",
    "zipkin",
    "kafka",
    "httpcheck",
    "postgresql",
    "nginx",
    "statsd",
    "carbon",
    "influxdb",
    "receiver_creator",
    "prometheus_simple",
    "otlpjsonfile",
    "k8s_cluster",
    "kubeletstats",
    "filestats",
    "loki",
    "nop",
];

// ---------------------------------------------------------------- processors

#[derive(Debug)]
enum Processor {
    MemoryLimiter(MemoryLimiter),
    Batch(Batch),
    DeltaToCumulative(DeltaToCumulative),
    Untyped,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryLimiter {
    check_interval: Option<Spanned<String>>,
    limit_mib: Option<u32>,
    spike_limit_mib: Option<u32>,
    limit_percentage: Option<Spanned<u32>>,
    spike_limit_percentage: Option<u32>,
    min_gc_interval_when_soft_limited: Any,
    min_gc_interval_when_hard_limited: Any,
    max_gc_interval_when_soft_limited: Any,
    max_gc_interval_when_hard_limited: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    timeout: Any,
    send_batch_size: Option<u32>,
    send_batch_max_size: Option<Spanned<u32>>,
    metadata_keys: Any,
    metadata_cardinality_limit: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaToCumulative {
    max_stale: Any,
    max_streams: Any,
    max_exponential_histogram_buckets: Any,
}

const UNTYPED_PROCESSORS: &[&str] = &[
    "queuebatch",
    "attributes",
    "resource",
    "resourcedetection",
    "transform",
    "filter",
    "metricstransform",
    "cumulativetodelta",
    "groupbyattrs",
    "k8sattributes",
    "probabilistic_sampler",
    "tail_sampling",
    "redaction",
    "metricstarttime",
    "interval",
    "span",
];

// ---------------------------------------------------------------- exporters

#[derive(Debug)]
enum Exporter {
    PrometheusRemoteWrite(RemoteWrite),
    OtlpHttp(OtlpHttpExporter),
    Untyped,
}

/// prometheus_remote_write. No `sending_queue` (it has `remote_write_queue`)
/// and no `add_metric_suffixes` (replaced by `translation_strategy`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteWrite {
    endpoint: Option<Spanned<String>>,
    tls: Option<TlsClient>,
    headers: Any,
    timeout: Any,
    retry_on_failure: Option<BackOff>,
    namespace: Any,
    external_labels: Any,
    remote_write_queue: Option<RemoteWriteQueue>,
    resource_to_telemetry_conversion: Option<ResourceToTelemetry>,
    target_info: Any,
    export_created_metric: Any,
    wal: Any,
    max_batch_size_bytes: Any,
    max_batch_request_parallelism: Any,
    send_metadata: Any,
    disable_scope_info: Any,
    protobuf_message: Any,
    translation_strategy: Option<Spanned<String>>,
    http: Any,
    // confighttp client config, squashed.
    auth: Any,
    compression: Any,
    compression_params: Any,
    cookies: Any,
    disable_keep_alives: Any,
    idle_conn_timeout: Any,
    max_conns_per_host: Any,
    max_idle_conns: Any,
    max_idle_conns_per_host: Any,
    middlewares: Any,
    proxy_url: Any,
    read_buffer_size: Any,
    write_buffer_size: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteWriteQueue {
    enabled: Option<bool>,
    queue_size: Option<Spanned<u32>>,
    num_consumers: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceToTelemetry {
    enabled: Option<bool>,
    exclude_service_attributes: Any,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpHttpExporter {
    endpoint: Option<Spanned<String>>,
    traces_endpoint: Option<Spanned<String>>,
    metrics_endpoint: Option<Spanned<String>>,
    logs_endpoint: Option<Spanned<String>>,
    profiles_endpoint: Any,
    encoding: Any,
    retry_on_failure: Option<BackOff>,
    sending_queue: Any,
    timeout: Any,
    tls: Option<TlsClient>,
    headers: Any,
    auth: Any,
    compression: Any,
    compression_params: Any,
    cookies: Any,
    disable_keep_alives: Any,
    idle_conn_timeout: Any,
    max_conns_per_host: Any,
    max_idle_conns: Any,
    max_idle_conns_per_host: Any,
    middlewares: Any,
    proxy_url: Any,
    read_buffer_size: Any,
    write_buffer_size: Any,
}

const UNTYPED_EXPORTERS: &[&str] =
    &["otlp_grpc", "otlp", "debug", "prometheus", "file", "kafka", "loadbalancing", "nop", "otelarrow"];

// ---------------------------------------------------------------- extensions, connectors

#[derive(Debug)]
enum Extension {
    HealthCheck(HealthCheck),
    Untyped,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheck {
    endpoint: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    response_body: Any,
    check_collector_pipeline: Any,
    tls: Any,
    cors: Any,
    auth: Any,
    include_metadata: Any,
    response_headers: Any,
    compression_algorithms: Any,
    read_timeout: Any,
    read_header_timeout: Any,
    write_timeout: Any,
    idle_timeout: Any,
    keep_alives_enabled: Any,
    max_request_body_size: Any,
    middlewares: Any,
    // healthcheckv2-style settings shared by the extension.
    use_v2: Any,
    http: Any,
    grpc: Any,
    component_health: Any,
}

const UNTYPED_EXTENSIONS: &[&str] = &[
    "pprof",
    "zpages",
    "file_storage",
    "memory_limiter",
    "basicauth",
    "bearertokenauth",
    "headers_setter",
    "healthcheckv2",
];

#[derive(Debug)]
enum Connector {
    Untyped,
}

const UNTYPED_CONNECTORS: &[&str] = &["forward", "routing", "count", "spanmetrics", "servicegraph", "failover"];

// ---------------------------------------------------------------- service

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    #[serde(default)]
    extensions: Vec<Spanned<String>>,
    pipelines: Entries<Pipeline>,
    telemetry: Option<Telemetry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pipeline {
    #[serde(default)]
    receivers: Vec<Spanned<String>>,
    #[serde(default)]
    processors: Vec<Spanned<String>>,
    #[serde(default)]
    exporters: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Telemetry {
    logs: Option<TelemetryLogs>,
    metrics: Option<TelemetryMetrics>,
    traces: Any,
    resource: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryLogs {
    level: Option<Spanned<String>>,
    development: Any,
    encoding: Option<Spanned<String>>,
    disable_caller: Any,
    disable_stacktrace: Any,
    sampling: Any,
    output_paths: Any,
    error_output_paths: Any,
    initial_fields: Any,
    processors: Any,
}

/// otelconf v0.3.0 `MeterProvider` plus the collector's `level`; no `address`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryMetrics {
    level: Option<Spanned<String>>,
    #[serde(default)]
    readers: Vec<MetricReader>,
    views: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricReader {
    pull: Option<PullReader>,
    periodic: Any,
    producers: Any,
    cardinality_limits: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullReader {
    exporter: PullExporter,
    producers: Any,
    cardinality_limits: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullExporter {
    prometheus: Option<PrometheusPull>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusPull {
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    without_units: Option<Spanned<bool>>,
    without_type_suffix: Option<Spanned<bool>>,
    without_scope_info: Any,
    with_resource_constant_labels: Any,
    translation_strategy: Any,
}

// ---------------------------------------------------------------- component maps

/// `type[/name]: config` entries of one section, each config typed by its type.
#[derive(Debug)]
struct Components<T> {
    entries: Vec<(Spanned<String>, Option<T>)>,
}

impl<T> Default for Components<T> {
    fn default() -> Self {
        Components { entries: Vec::new() }
    }
}

impl<T> Components<T> {
    fn ids(&self) -> BTreeSet<&str> {
        self.entries.iter().map(|(id, _)| id.value.as_str()).collect()
    }
}

/// How one section turns a component type into its typed config.
trait Kind: Sized {
    const SECTION: &'static str;
    /// Reads the value of a `ty` component; `Ok(None)` for an unknown type
    /// (the value is skipped and reported by the checks).
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error>;
}

fn typed<'de, A: MapAccess<'de>, T: Deserialize<'de> + Default>(map: &mut A) -> Result<T, A::Error> {
    Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
}

fn untyped<'de, A: MapAccess<'de>, T>(map: &mut A, known: &[&str], ty: &str, value: T) -> Result<Option<T>, A::Error> {
    map.next_value::<IgnoredAny>()?;
    Ok(known.contains(&ty).then_some(value))
}

impl Kind for Receiver {
    const SECTION: &'static str = "receivers";
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error> {
        Ok(Some(match ty {
            "otlp" => Receiver::Otlp(typed(map)?),
            "prometheus" => Receiver::Prometheus(typed(map)?),
            _ => return untyped(map, UNTYPED_RECEIVERS, ty, Receiver::Untyped),
        }))
    }
}

impl Kind for Processor {
    const SECTION: &'static str = "processors";
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error> {
        Ok(Some(match ty {
            "memory_limiter" => Processor::MemoryLimiter(typed(map)?),
            "batch" => Processor::Batch(typed(map)?),
            "deltatocumulative" => Processor::DeltaToCumulative(typed(map)?),
            _ => return untyped(map, UNTYPED_PROCESSORS, ty, Processor::Untyped),
        }))
    }
}

impl Kind for Exporter {
    const SECTION: &'static str = "exporters";
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error> {
        Ok(Some(match ty {
            "prometheus_remote_write" | "prometheusremotewrite" => Exporter::PrometheusRemoteWrite(typed(map)?),
            "otlp_http" | "otlphttp" => Exporter::OtlpHttp(typed(map)?),
            _ => return untyped(map, UNTYPED_EXPORTERS, ty, Exporter::Untyped),
        }))
    }
}

impl Kind for Extension {
    const SECTION: &'static str = "extensions";
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error> {
        Ok(Some(match ty {
            "health_check" => Extension::HealthCheck(typed(map)?),
            _ => return untyped(map, UNTYPED_EXTENSIONS, ty, Extension::Untyped),
        }))
    }
}

impl Kind for Connector {
    const SECTION: &'static str = "connectors";
    fn read<'de, A: MapAccess<'de>>(ty: &str, map: &mut A) -> Result<Option<Self>, A::Error> {
        untyped(map, UNTYPED_CONNECTORS, ty, Connector::Untyped)
    }
}

impl<'de, T: Kind> Deserialize<'de> for Components<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ComponentsVisitor<T>(PhantomData<T>);
        impl<'de, T: Kind> Visitor<'de> for ComponentsVisitor<T> {
            type Value = Components<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a mapping of {}", T::SECTION)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Components<T>, E> {
                Ok(Components::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Components<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(id) = map.next_key::<Spanned<String>>()? {
                    let ty = component_type(&id.value).to_owned();
                    let config = T::read(&ty, &mut map)?;
                    entries.push((id, config));
                }
                Ok(Components { entries })
            }
        }
        deserializer.deserialize_map(ComponentsVisitor(PhantomData))
    }
}

fn component_type(id: &str) -> &str {
    id.split_once('/').map_or(id, |(ty, _)| ty)
}

// ---------------------------------------------------------------- checks

/// Checks `otelcol.yml`; `file` names it in findings.
pub(super) fn check(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let config: CollectorConfig = match parse_yaml(file, text) {
        Ok(config) => config,
        Err(finding) => return vec![finding],
    };
    let mut out = Vec::new();
    unknown_types(file, &config.receivers, &mut out);
    unknown_types(file, &config.processors, &mut out);
    unknown_types(file, &config.exporters, &mut out);
    unknown_types(file, &config.extensions, &mut out);
    unknown_types(file, &config.connectors, &mut out);

    check_components(file, text, &config, stack, &mut out);
    check_service(file, &config, &mut out);
    out
}

fn unknown_types<T>(file: &str, components: &Components<T>, out: &mut Vec<Finding>) {
    for (id, config) in &components.entries {
        if config.is_none() {
            out.push(finding_at(file, id, format!(
                "unknown component type `{}` in this section (typo? if it is a real contrib component, add it to otel_collector.rs)",
                component_type(&id.value)
            )));
        }
    }
}

/// A server endpoint must listen on all interfaces: since v0.104 the
/// default (and `localhost`) is unreachable from other containers.
fn check_bind(
    file: &str,
    what: &str,
    endpoint: Option<&Spanned<String>>,
    at_: &Spanned<String>,
    out: &mut Vec<Finding>,
) {
    match endpoint {
        None => out.push(finding_at(file, at_, format!("{what}: no endpoint, and the default is localhost (unreachable from other containers); set 0.0.0.0:<port>"))),
        Some(endpoint) => {
            let host = endpoint.value.rsplit_once(':').map_or("", |(host, _)| host);
            if !matches!(host, "0.0.0.0" | "" | "[::]" | "::") {
                out.push(finding_at(file, endpoint, format!(
                    "{what}: endpoint `{}` does not listen on all interfaces (other containers get connection refused); use 0.0.0.0:<port>",
                    endpoint.value
                )));
            }
        }
    }
}

/// The job names of the collector's prometheus receivers: the sources it
/// scrapes and remote-writes to Prometheus.
pub(crate) fn scrape_job_names(file: &str, text: &str) -> Result<BTreeSet<String>, Finding> {
    let config: CollectorConfig = parse_yaml(file, text)?;
    let mut jobs = BTreeSet::new();
    for (_, receiver) in &config.receivers.entries {
        if let Some(Receiver::Prometheus(prometheus)) = receiver
            && let Some(config) = &prometheus.config
        {
            let scrapes = config.get("scrape_configs").and_then(serde_json::Value::as_array);
            for scrape in scrapes.into_iter().flatten() {
                jobs.extend(scrape.get("job_name").and_then(serde_json::Value::as_str).map(str::to_owned));
            }
        }
    }
    Ok(jobs)
}

fn check_components(file: &str, text: &str, config: &CollectorConfig, stack: &StackDefinition, out: &mut Vec<Finding>) {
    for (id, receiver) in &config.receivers.entries {
        match receiver {
            Some(Receiver::Otlp(otlp)) => {
                if otlp.protocols.grpc.is_none() && otlp.protocols.http.is_none() {
                    out.push(finding_at(file, id, "otlp receiver without protocols (grpc and/or http)"));
                }
                if let Some(grpc) = &otlp.protocols.grpc {
                    check_bind(
                        file,
                        &format!("receivers.{}.protocols.grpc", id.value),
                        grpc.endpoint.as_ref(),
                        id,
                        out,
                    );
                }
                if let Some(http) = &otlp.protocols.http {
                    check_bind(
                        file,
                        &format!("receivers.{}.protocols.http", id.value),
                        http.endpoint.as_ref(),
                        id,
                        out,
                    );
                }
            }
            Some(Receiver::Prometheus(prometheus)) => check_scrape_config(file, text, id, prometheus, stack, out),
            _ => {}
        }
    }
    for (id, processor) in &config.processors.entries {
        match processor {
            Some(Processor::MemoryLimiter(limiter)) => {
                if limiter.check_interval.is_none() {
                    out.push(finding_at(
                        file,
                        id,
                        "memory_limiter without check_interval never checks (the default is 0)",
                    ));
                }
                if limiter.limit_mib.is_none() && limiter.limit_percentage.is_none() {
                    out.push(finding_at(file, id, "memory_limiter needs limit_mib or limit_percentage"));
                }
                if let Some(percentage) = &limiter.limit_percentage
                    && (percentage.value == 0
                        || percentage.value > 100
                        || limiter.spike_limit_percentage.is_some_and(|s| s >= percentage.value))
                {
                    out.push(finding_at(
                        file,
                        percentage,
                        "memory_limiter: limit_percentage must be in 1..=100 and above spike_limit_percentage",
                    ));
                }
            }
            Some(Processor::Batch(batch)) => {
                if let (Some(max), Some(size)) = (&batch.send_batch_max_size, batch.send_batch_size)
                    && max.value != 0
                    && max.value < size
                {
                    out.push(finding_at(file, max, "batch: send_batch_max_size must be >= send_batch_size"));
                }
            }
            _ => {}
        }
    }
    for (id, exporter) in &config.exporters.entries {
        match exporter {
            Some(Exporter::PrometheusRemoteWrite(rw)) => {
                if component_type(&id.value) == "prometheusremotewrite" {
                    out.push(finding_at(
                        file,
                        id,
                        "`prometheusremotewrite` is a deprecated alias since contrib v0.154: use `prometheus_remote_write` (and the `exporter` label value it gives in queries on otelcol_exporter_* metrics)",
                    ));
                }
                match &rw.endpoint {
                    None => out.push(finding_at(file, id, "prometheus_remote_write needs an endpoint")),
                    Some(endpoint) => {
                        if !endpoint.value.ends_with("/api/v1/write") {
                            out.push(finding_at(
                                file,
                                endpoint,
                                format!(
                                    "prometheus_remote_write endpoint `{}`: Prometheus' receiver is /api/v1/write",
                                    endpoint.value
                                ),
                            ));
                        }
                        if endpoint.value.starts_with("http://")
                            && rw.tls.as_ref().and_then(|t| t.insecure) != Some(true)
                        {
                            out.push(finding_at(
                                file,
                                endpoint,
                                "plain-HTTP remote write needs `tls: {insecure: true}` (TLS is on by default)",
                            ));
                        }
                        if let Some(message) = check_service_url(stack, &endpoint.value) {
                            out.push(finding_at(file, endpoint, message));
                        }
                    }
                }
                if let Some(queue) = &rw.remote_write_queue
                    && queue.enabled != Some(false)
                    && let Some(size) = queue.queue_size.as_ref().filter(|s| s.value == 0)
                {
                    out.push(finding_at(file, size, "remote_write_queue: a 0 size queue drops all data"));
                }
                if let Some(strategy) = &rw.translation_strategy
                    && ![
                        "UnderscoreEscapingWithSuffixes",
                        "UnderscoreEscapingWithoutSuffixes",
                        "NoUTF8EscapingWithSuffixes",
                        "NoTranslation",
                    ]
                    .contains(&strategy.value.as_str())
                {
                    out.push(finding_at(file, strategy, format!("unknown translation_strategy `{}`", strategy.value)));
                }
            }
            Some(Exporter::OtlpHttp(otlp)) => {
                if component_type(&id.value) == "otlphttp" {
                    out.push(finding_at(file, id, "`otlphttp` is a deprecated alias since v0.144: use `otlp_http`"));
                }
                let endpoints = [&otlp.endpoint, &otlp.logs_endpoint, &otlp.metrics_endpoint, &otlp.traces_endpoint];
                if endpoints.iter().all(|e| e.is_none()) {
                    out.push(finding_at(file, id, "otlp_http exporter needs an endpoint"));
                }
                for endpoint in endpoints.into_iter().flatten() {
                    if let Some(message) = check_service_url(stack, &endpoint.value) {
                        out.push(finding_at(file, endpoint, message));
                    }
                }
                if let Some(endpoint) = &otlp.endpoint
                    && endpoint.value.contains("/loki")
                    && !endpoint.value.trim_end_matches('/').ends_with("/otlp")
                {
                    out.push(finding_at(
                        file,
                        endpoint,
                        format!(
                            "`{}`: Loki's OTLP endpoint is <loki>/otlp (the exporter appends /v1/logs)",
                            endpoint.value
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    for (id, extension) in &config.extensions.entries {
        if let Some(Extension::HealthCheck(health)) = extension {
            check_bind(file, &format!("extensions.{}", id.value), health.endpoint.as_ref(), id, out);
            if let Some(path) = &health.path
                && !path.value.starts_with('/')
            {
                out.push(finding_at(file, path, "health_check path must start with /"));
            }
        }
    }
}

/// The embedded Prometheus config: the parts the receiver refuses, `$`
/// escaping, the job names the rest of the stack relies on, and that every
/// `tasks.<service>` name is a service of the stack.
fn check_scrape_config(
    file: &str,
    text: &str,
    id: &Spanned<String>,
    receiver: &PrometheusReceiver,
    stack: &StackDefinition,
    out: &mut Vec<Finding>,
) {
    let Some(config) = &receiver.config else {
        out.push(finding_at(file, id, "prometheus receiver without `config`"));
        return;
    };
    for key in ["rule_files", "alerting", "remote_write", "remote_read"] {
        if config.get(key).is_some() {
            out.push(finding_at(
                file,
                id,
                format!("prometheus receiver: `{key}` is not supported inside the collector"),
            ));
        }
    }
    let mut strings = Vec::new();
    collect_strings(config, &mut strings);
    for s in strings {
        if has_unescaped_dollar(s) {
            out.push(Finding::new(
                CHECK,
                file,
                line_of(text, s),
                format!("`{s}`: the collector expands `$`; write a literal dollar as `$$` (e.g. replacement: '$$1')"),
            ));
        }
    }
    let scrape_configs =
        config.get("scrape_configs").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let mut jobs = BTreeSet::new();
    for scrape in &scrape_configs {
        let Some(job) = scrape.get("job_name").and_then(serde_json::Value::as_str) else {
            out.push(finding_at(file, id, "a scrape config without job_name"));
            continue;
        };
        if !jobs.insert(job.to_owned()) {
            out.push(Finding::new(CHECK, file, line_of(text, job), format!("duplicate job_name `{job}`")));
        }
        // The multi-target pattern (postgres-exporter's /probe): relabelling
        // sets `__address__` to the exporter, and the static targets are only
        // the `target` parameter (a database outside the stack). The
        // exporter must be a service; the targets are not checked.
        if let Some(exporter) = relabelled_address(scrape) {
            if let Some(message) = check_service_url(stack, exporter) {
                out.push(Finding::new(CHECK, file, line_of(text, exporter), format!("job `{job}`: {message}")));
            }
            continue;
        }
        // Static targets by service name (single-replica services) must name
        // a service too; the engine's host gateway is the node itself.
        for target in scrape
            .get("static_configs")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("targets").and_then(serde_json::Value::as_array))
            .flatten()
            .filter_map(serde_json::Value::as_str)
            .filter(|t| !t.starts_with(HOST_GATEWAY_NAME))
        {
            if let Some(message) = check_scrape_host(stack, target) {
                out.push(Finding::new(CHECK, file, line_of(text, target), format!("job `{job}`: {message}")));
            }
        }
        for sd in scrape.get("dns_sd_configs").and_then(serde_json::Value::as_array).into_iter().flatten() {
            for name in sd
                .get("names")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
            {
                if let Some(message) = check_scrape_host(stack, name) {
                    out.push(Finding::new(CHECK, file, line_of(text, name), format!("job `{job}`: {message}")));
                }
            }
        }
    }
    // The jobs the rest of the stack expects are checked over both
    // collector configs together (component_configs::check_expected_jobs).
}

/// The address a scrape job's relabelling writes into `__address__` (a
/// fixed `replacement`), if it does: then that is what is scraped.
pub(crate) fn relabelled_address(scrape: &serde_json::Value) -> Option<&str> {
    scrape
        .get("relabel_configs")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("target_label").and_then(serde_json::Value::as_str) == Some("__address__"))
        .find_map(|r| r.get("replacement").and_then(serde_json::Value::as_str))
}

/// A scrape target's host names a service of this stack, or one of the
/// platform's services that `[stack] platform_services` lists (the
/// collector reaches them over the shared network). `None` when fine.
fn check_scrape_host(stack: &StackDefinition, target: &str) -> Option<String> {
    let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
    let host = host.strip_prefix("tasks.").unwrap_or(host);
    if stack.stack.platform_services.iter().any(|s| s == host) {
        return None;
    }
    check_service_url(stack, target).map(|message| {
        format!("{message}; a platform service belongs in [stack] platform_services of stack/stack.toml")
    })
}

fn check_service(file: &str, config: &CollectorConfig, out: &mut Vec<Finding>) {
    let service = &config.service;
    let extensions = config.extensions.ids();
    for name in &service.extensions {
        if !extensions.contains(name.value.as_str()) {
            out.push(finding_at(
                file,
                name,
                format!("service.extensions: `{}` is not defined under extensions", name.value),
            ));
        }
    }
    for (id, _) in &config.extensions.entries {
        if !service.extensions.iter().any(|e| e.value == id.value) {
            out.push(finding_at(
                file,
                id,
                format!("extension `{}` is defined but not listed in service.extensions (it will not run)", id.value),
            ));
        }
    }

    let (receivers, processors, exporters, connectors) =
        (config.receivers.ids(), config.processors.ids(), config.exporters.ids(), config.connectors.ids());
    let mut used: BTreeSet<&str> = BTreeSet::new();
    if service.pipelines.is_empty() {
        out.push(Finding::new(CHECK, file, "", "service.pipelines is empty: the collector does nothing"));
    }
    for (name, pipeline) in service.pipelines.iter() {
        let signal = component_type(&name.value);
        if !["metrics", "logs", "traces", "profiles"].contains(&signal) {
            out.push(finding_at(
                file,
                name,
                format!("pipeline `{}`: the type must be metrics, logs, traces or profiles", name.value),
            ));
        }
        if pipeline.receivers.is_empty() || pipeline.exporters.is_empty() {
            out.push(finding_at(
                file,
                name,
                format!("pipeline `{}` needs at least one receiver and one exporter", name.value),
            ));
        }
        for (list, defined, what) in [
            (&pipeline.receivers, &receivers, "receivers"),
            (&pipeline.processors, &processors, "processors"),
            (&pipeline.exporters, &exporters, "exporters"),
        ] {
            for component in list {
                used.insert(component.value.as_str());
                let is_connector = what != "processors" && connectors.contains(component.value.as_str());
                if !defined.contains(component.value.as_str()) && !is_connector {
                    out.push(finding_at(
                        file,
                        component,
                        format!(
                            "pipeline `{}` uses {what} `{}`, which is not defined under {what}",
                            name.value, component.value
                        ),
                    ));
                }
            }
        }
        // memory_limiter first: it must refuse data before anything buffers it.
        match pipeline.processors.iter().position(|p| component_type(&p.value) == "memory_limiter") {
            Some(0) => {}
            Some(_) => out.push(finding_at(
                file,
                &pipeline.processors[0],
                format!("pipeline `{}`: memory_limiter must be the first processor", name.value),
            )),
            None => out.push(finding_at(
                file,
                name,
                format!("pipeline `{}` has no memory_limiter (first processor)", name.value),
            )),
        }
        if let (Some(limit), Some(batch)) = (
            pipeline.processors.iter().position(|p| component_type(&p.value) == "memory_limiter"),
            pipeline.processors.iter().position(|p| component_type(&p.value) == "batch"),
        ) && batch < limit
        {
            out.push(finding_at(file, &pipeline.processors[batch], "batch must come after memory_limiter"));
        }
        if signal != "metrics" {
            for (list, kinds) in [
                (&pipeline.receivers, ["prometheus"].as_slice()),
                (&pipeline.processors, &["deltatocumulative"]),
                (&pipeline.exporters, &["prometheus_remote_write", "prometheusremotewrite"]),
            ] {
                for component in list.iter().filter(|c| kinds.contains(&component_type(&c.value))) {
                    out.push(finding_at(
                        file,
                        component,
                        format!("`{}` handles metrics only, not {signal}", component.value),
                    ));
                }
            }
        }
    }
    for (section, components) in [("receivers", &receivers), ("processors", &processors), ("exporters", &exporters)] {
        for id in components.iter().filter(|id| !used.contains(**id)) {
            out.push(Finding::new(CHECK, file, "", format!("{section}: `{id}` is defined but used by no pipeline")));
        }
    }

    // Own telemetry: Prometheus scrapes it directly on :8888.
    let metrics = service.telemetry.as_ref().and_then(|t| t.metrics.as_ref());
    let level = metrics.and_then(|m| m.level.as_ref());
    if let Some(level) = level
        && !["none", "basic", "normal", "detailed"].contains(&level.value.as_str())
    {
        out.push(finding_at(
            file,
            level,
            format!("telemetry.metrics.level `{}`: none, basic, normal or detailed", level.value),
        ));
    }
    if level.is_some_and(|l| l.value == "none") {
        return;
    }
    let pull = metrics
        .into_iter()
        .flat_map(|m| &m.readers)
        .filter_map(|r| r.pull.as_ref())
        .filter_map(|p| p.exporter.prometheus.as_ref())
        .next();
    match pull {
        None => out.push(Finding::new(CHECK, file, "", format!(
            "service.telemetry.metrics has no `readers: [{{pull: {{exporter: {{prometheus: {{host: 0.0.0.0, port: {TELEMETRY_PORT}}}}}}}}}]`: the default listens on localhost, where Prometheus cannot scrape it"
        ))),
        Some(prometheus) => {
            match &prometheus.host {
                Some(host) if matches!(host.value.as_str(), "0.0.0.0" | "::" | "") => {}
                Some(host) => out.push(finding_at(file, host, format!("telemetry prometheus host `{}`: use 0.0.0.0 so Prometheus can scrape it", host.value))),
                None => out.push(Finding::new(CHECK, file, "", "telemetry prometheus reader without host: the default is localhost")),
            }
            if let Some(port) = &prometheus.port
                && port.value != TELEMETRY_PORT
            {
                out.push(finding_at(file, port, format!("telemetry port {} is not {TELEMETRY_PORT}, which prometheus.yml scrapes", port.value)));
            }
            // The rules and dashboards name the collector's counters with
            // `_total`; the collector's default (true) leaves it off.
            match &prometheus.without_type_suffix {
                Some(flag) if !flag.value => {}
                Some(flag) => out.push(finding_at(file, flag, "without_type_suffix: true drops `_total` from the collector's counters, which the alert rules and dashboards use")),
                None => out.push(Finding::new(CHECK, file, "", "telemetry prometheus reader: set `without_type_suffix: false`; the default (true since v0.152) drops `_total` from counters the alert rules and dashboards use")),
            }
            // The catalog lists the collector's names without unit suffixes
            // (the explicit reader's default); with units they would differ.
            if let Some(flag) = &prometheus.without_units
                && !flag.value
            {
                out.push(finding_at(file, flag, "without_units: false appends unit suffixes (otelcol_process_uptime_seconds_total) to names that stack/catalog/otel-collector.toml, the alert rules and dashboards know without them"));
            }
        }
    }
}

fn collect_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A `$` that is neither `$$` nor the start of `${...}`.
fn has_unescaped_dollar(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            match bytes.get(i + 1) {
                Some(b'$') => i += 2,
                Some(b'{') => i += 2,
                _ => return true,
            }
        } else {
            i += 1;
        }
    }
    false
}

/// `line N` of the first line containing `needle`, or empty.
fn line_of(text: &str, needle: &str) -> String {
    text.lines().position(|line| line.contains(needle)).map(|i| format!("line {}", i + 1)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "stack/configs/otel-collector/otelcol.yml";

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    fn real() -> String {
        std::fs::read_to_string(root().join(FILE)).expect("otelcol.yml")
    }

    fn stack() -> StackDefinition {
        super::super::tests::repository_stack()
    }

    fn findings(text: &str) -> Vec<Finding> {
        check(FILE, text, &stack())
    }

    fn assert_finding(text: &str, needle: &str) {
        let found = findings(text);
        assert!(
            found.iter().any(|f| f.file == FILE && f.message.contains(needle)),
            "expected a finding containing {needle:?}, got {found:#?}"
        );
    }

    #[test]
    fn real_file_passes() {
        assert_eq!(findings(&real()), vec![]);
    }

    /// A probe job scrapes the exporter its relabelling names; the static
    /// targets (databases outside the stack) are parameters, not checked.
    #[test]
    fn a_probe_job_must_scrape_a_service_of_the_stack() {
        let probe = "postgres-tables\n          metrics_path: /probe";
        assert!(real().contains(probe), "otelcol.yml has no probe job");
        let elsewhere = real().replace("replacement: postgres-exporter:9187", "replacement: pgexporter:9187");
        assert_finding(&elsewhere, "job `postgres-tables`: `pgexporter:9187`: host `pgexporter` is not a service");
    }

    #[test]
    fn platform_scrape_targets_must_be_listed_platform_services() {
        // Listed in [stack] platform_services: accepted (real_file_passes);
        // a name neither this stack nor the platform list knows: a finding.
        assert!(real().contains("tasks.keycloak"));
        assert_finding(&real().replace("tasks.keycloak", "tasks.keycloack"), "[stack] platform_services");
        assert_finding(&real().replace("spark-master:8080", "spark-mastr:8080"), "host `spark-mastr`");
    }

    #[test]
    fn removed_telemetry_address_is_rejected() {
        let text = real().replace("      level: normal\n", "      level: normal\n      address: 0.0.0.0:8888\n");
        let found = findings(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("unknown field `address`"), "{found:#?}");
        assert!(found[0].place.starts_with("line "), "{found:#?}");
    }

    #[test]
    fn pipeline_references_must_be_defined() {
        assert_finding(
            &real().replace("exporters: [otlp_http/loki]", "exporters: [otlp_http/lokii]"),
            "`otlp_http/lokii`, which is not defined",
        );
        assert_finding(
            &real().replace(
                "processors: [memory_limiter, batch]\n      exporters: [prometheus_remote_write]",
                "processors: [batch, memory_limiter]\n      exporters: [prometheus_remote_write]",
            ),
            "memory_limiter must be the first processor",
        );
    }

    #[test]
    fn endpoints_must_bind_all_interfaces() {
        assert_finding(
            &real().replace("endpoint: 0.0.0.0:4317", "endpoint: localhost:4317"),
            "does not listen on all interfaces",
        );
        assert_finding(&real().replace("    endpoint: 0.0.0.0:13133\n", ""), "no endpoint");
        assert_finding(
            &real().replace("                host: 0.0.0.0", "                host: localhost"),
            "use 0.0.0.0",
        );
    }

    #[test]
    fn counter_suffix_default_is_reported() {
        assert_finding(
            &real().replace("                without_type_suffix: false\n", ""),
            "without_type_suffix: false",
        );
    }

    #[test]
    fn unit_suffixes_the_catalog_does_not_know_are_reported() {
        assert_finding(
            &real().replace("without_units: true", "without_units: false"),
            "without_units: false appends unit suffixes",
        );
    }

    #[test]
    fn the_deprecated_remote_write_type_name_is_reported() {
        assert_finding(
            &real()
                .replace("  prometheus_remote_write:\n", "  prometheusremotewrite:\n")
                .replace("[prometheus_remote_write]", "[prometheusremotewrite]"),
            "`prometheusremotewrite` is a deprecated alias",
        );
    }

    #[test]
    fn single_dollar_in_relabel_is_reported() {
        assert_finding(&real().replace("replacement: '$$1'", "replacement: '$1'"), "write a literal dollar as `$$`");
    }

    #[test]
    fn unknown_component_and_removed_option() {
        assert_finding(
            &real().replace("  prometheus_remote_write:\n", "  prometheusremotewite:\n"),
            "unknown component type `prometheusremotewite`",
        );
        let text = real().replace(
            "    resource_to_telemetry_conversion:\n",
            "    add_metric_suffixes: false\n    resource_to_telemetry_conversion:\n",
        );
        assert_finding(&text, "unknown field `add_metric_suffixes`");
        assert_finding(
            &real().replace("  otlp_http/loki:", "  otlphttp/loki:").replace("[otlp_http/loki]", "[otlphttp/loki]"),
            "deprecated alias",
        );
    }

    #[test]
    fn unknown_services_and_unsupported_prometheus_features() {
        assert_finding(
            &real().replace("    config:\n      global:", "    config:\n      rule_files: [/x.yml]\n      global:"),
            "`rule_files` is not supported",
        );
        assert_finding(&real().replace("tasks.cadvisor", "tasks.cadvisr"), "`cadvisr`");
        assert_finding(
            &real().replace("targets: [nginx-exporter:9113]", "targets: [nginx-exportr:9113]"),
            "`nginx-exportr`",
        );
    }
}
