//! Loki 3.7 (single binary) configuration.
//!
//! Keys from the 3.7 configuration reference (grafana/loki
//! `docs/sources/shared/configuration.md` at v3.7.x). The blocks we set are
//! typed; the other top-level blocks are accepted as they are
//! (`loki -verify-config` in the Nix dev shell checks their insides), and
//! `limits_config` is checked against its documented key list.

#![allow(
    dead_code,
    reason = "the structs list every key the component accepts, so serde rejects the others; most fields are never read"
)]

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    Any, CHECK, KeyMap, check_service_url, date_days, duration_seconds, finding_at, parse_yaml, service, today_days,
};
use crate::check::Finding;
use crate::source::StackDefinition;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LokiConfig {
    target: Any,
    auth_enabled: Option<Spanned<bool>>,
    ballast_bytes: Any,
    server: Option<Server>,
    common: Option<Common>,
    schema_config: Option<SchemaConfig>,
    compactor: Option<Compactor>,
    limits_config: Option<KeyMap>,
    ruler: Option<Ruler>,
    analytics: Option<Analytics>,
    query_range: Option<QueryRange>,
    // Accepted as they are.
    ui: Any,
    distributor: Any,
    querier: Any,
    query_engine: Any,
    query_scheduler: Any,
    frontend: Any,
    ruler_storage: Any,
    ingester_client: Any,
    ingester: Any,
    pattern_ingester: Any,
    index_gateway: Any,
    bloom_build: Any,
    bloom_gateway: Any,
    storage_config: Any,
    chunk_store_config: Any,
    compactor_grpc_client: Any,
    frontend_worker: Any,
    table_manager: Any,
    memberlist: Any,
    kafka_config: Any,
    dataobj: Any,
    ingest_limits: Any,
    ingest_limits_frontend: Any,
    ingest_limits_frontend_client: Any,
    runtime_config: Any,
    operational_config: Any,
    tracing: Any,
    profiling: Any,
    tenant_limits_allow_publish: Any,
    shutdown_delay: Any,
    metrics_namespace: Any,
}

/// dskit `server` block (the part people write).
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
    grpc_server_max_recv_msg_size: Any,
    grpc_server_max_send_msg_size: Any,
    grpc_server_max_concurrent_streams: Any,
    http_server_read_timeout: Any,
    http_server_write_timeout: Any,
    http_server_idle_timeout: Any,
    graceful_shutdown_timeout: Any,
    register_instrumentation: Any,
    log_format: Option<Spanned<String>>,
    log_level: Option<Spanned<String>>,
    log_source_ips_enabled: Any,
    log_request_headers: Any,
    http_path_prefix: Any,
    http_tls_config: Any,
    grpc_tls_config: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    path_prefix: Option<String>,
    storage: Option<CommonStorage>,
    persist_tokens: Any,
    replication_factor: Option<Spanned<u32>>,
    ring: Option<Ring>,
    instance_interface_names: Any,
    instance_addr: Any,
    compactor_address: Any,
    compactor_grpc_address: Any,
    scratch_path: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonStorage {
    filesystem: Option<Filesystem>,
    s3: Any,
    gcs: Any,
    azure: Any,
    alibabacloud: Any,
    bos: Any,
    swift: Any,
    cos: Any,
    congestion_control: Any,
    hedging: Any,
    object_store: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filesystem {
    chunks_directory: Option<String>,
    rules_directory: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ring {
    kvstore: Option<KvStore>,
    heartbeat_period: Any,
    heartbeat_timeout: Any,
    tokens_file_path: Any,
    zone_awareness_enabled: Any,
    instance_id: Any,
    instance_interface_names: Any,
    instance_port: Any,
    instance_addr: Any,
    instance_availability_zone: Any,
    instance_enable_ipv6: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KvStore {
    store: Option<Spanned<String>>,
    prefix: Any,
    consul: Any,
    etcd: Any,
    multi: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaConfig {
    configs: Vec<PeriodConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodConfig {
    from: Spanned<String>,
    store: Spanned<String>,
    object_store: Spanned<String>,
    schema: Spanned<String>,
    index: Option<PeriodIndex>,
    chunks: Any,
    row_shards: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodIndex {
    prefix: Option<String>,
    period: Option<Spanned<String>>,
    tags: Any,
}

/// The 3.7 compactor block. `shared_store` (removed in 3.0) is deliberately
/// absent, so it is rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Compactor {
    working_directory: Option<String>,
    compaction_interval: Option<String>,
    apply_retention_interval: Any,
    retention_enabled: Option<Spanned<bool>>,
    retention_delete_delay: Option<String>,
    retention_delete_worker_count: Option<u32>,
    retention_table_timeout: Any,
    retention_backoff_config: Any,
    delete_request_store: Option<Spanned<String>>,
    delete_request_store_key_prefix: Any,
    delete_request_store_db_type: Any,
    backup_delete_request_store_db_type: Any,
    delete_batch_size: Any,
    delete_request_cancel_period: Any,
    delete_max_interval: Any,
    max_compaction_parallelism: Any,
    upload_parallelism: Any,
    compactor_ring: Any,
    tables_to_compact: Any,
    skip_latest_n_tables: Any,
    horizontal_scaling_mode: Any,
    worker_config: Any,
    jobs_config: Any,
    deletion_marker_object_store_prefix: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ruler {
    external_url: Any,
    datasource_uid: Any,
    external_labels: Any,
    ruler_client: Any,
    evaluation_interval: Any,
    poll_interval: Any,
    storage: Any,
    rule_path: Any,
    alertmanager_url: Option<Spanned<String>>,
    enable_alertmanager_discovery: Any,
    alertmanager_refresh_interval: Any,
    enable_alertmanager_v2: Any,
    alert_relabel_configs: Any,
    notification_queue_capacity: Any,
    notification_timeout: Any,
    alertmanager_client: Any,
    for_outage_tolerance: Any,
    for_grace_period: Any,
    resend_delay: Any,
    enable_sharding: Any,
    sharding_strategy: Any,
    sharding_algo: Any,
    search_pending_for: Any,
    ring: Any,
    flush_period: Any,
    enable_api: Any,
    enabled_tenants: Any,
    disabled_tenants: Any,
    query_stats_enabled: Any,
    disable_rule_group_label: Any,
    wal: Any,
    wal_cleaner: Any,
    remote_write: Any,
    evaluation: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Analytics {
    reporting_enabled: Option<bool>,
    usage_stats_url: Any,
    proxy_url: Any,
    tls_config: Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRange {
    align_queries_with_step: Any,
    results_cache: Any,
    cache_results: Any,
    max_retries: Any,
    parallelise_shardable_queries: Any,
    shard_aggregations: Any,
    cache_index_stats_results: Any,
    index_stats_results_cache: Any,
    cache_volume_results: Any,
    volume_results_cache: Any,
    cache_instant_metric_results: Any,
    instant_metric_results_cache: Any,
    instant_metric_query_split_align: Any,
    cache_series_results: Any,
    series_results_cache: Any,
    cache_label_results: Any,
    label_results_cache: Any,
}

/// `limits_config` keys of the 3.7 reference.
const LIMITS_CONFIG_KEYS: &[&str] = &[
    "ingestion_rate_strategy",
    "ingestion_rate_mb",
    "ingestion_burst_size_mb",
    "max_label_name_length",
    "max_label_value_length",
    "max_label_names_per_series",
    "reject_old_samples",
    "reject_old_samples_max_age",
    "creation_grace_period",
    "max_line_size",
    "max_line_size_truncate",
    "max_line_size_truncate_identifier",
    "increment_duplicate_timestamp",
    "simulated_push_latency",
    "enable_multi_variant_queries",
    "discover_generic_fields",
    "discover_service_name",
    "discover_log_levels",
    "log_level_fields",
    "log_level_from_json_max_depth",
    "use_owned_stream_count",
    "max_streams_per_user",
    "max_global_streams_per_user",
    "unordered_writes",
    "per_stream_rate_limit",
    "per_stream_rate_limit_burst",
    "max_chunks_per_query",
    "max_query_series",
    "max_query_lookback",
    "max_query_length",
    "max_query_range",
    "max_query_parallelism",
    "tsdb_max_query_parallelism",
    "tsdb_max_bytes_per_shard",
    "tsdb_sharding_strategy",
    "tsdb_precompute_chunks",
    "cardinality_limit",
    "max_streams_matchers_per_query",
    "max_concurrent_tail_requests",
    "max_entries_limit_per_query",
    "max_cache_freshness_per_query",
    "max_metadata_cache_freshness",
    "max_stats_cache_freshness",
    "max_queriers_per_tenant",
    "max_query_capacity",
    "query_ready_index_num_days",
    "query_timeout",
    "split_queries_by_interval",
    "split_metadata_queries_by_interval",
    "split_recent_metadata_queries_by_interval",
    "recent_metadata_query_window",
    "split_instant_metric_queries_by_interval",
    "engine_results_cache_time_bucket_interval",
    "split_ingester_queries_by_interval",
    "min_sharding_lookback",
    "max_query_bytes_read",
    "max_querier_bytes_read",
    "volume_enabled",
    "volume_max_series",
    "ruler_max_rules_per_rule_group",
    "ruler_max_rule_groups_per_tenant",
    "ruler_tenant_shard_size",
    "ruler_enable_wal_replay",
    "ruler_remote_write_disabled",
    "ruler_remote_write_url",
    "ruler_remote_write_timeout",
    "ruler_remote_write_headers",
    "ruler_remote_write_relabel_configs",
    "ruler_remote_write_queue_capacity",
    "ruler_remote_write_queue_min_shards",
    "ruler_remote_write_queue_max_shards",
    "ruler_remote_write_queue_max_samples_per_send",
    "ruler_remote_write_queue_batch_send_deadline",
    "ruler_remote_write_queue_min_backoff",
    "ruler_remote_write_queue_max_backoff",
    "ruler_remote_write_queue_retry_on_ratelimit",
    "ruler_remote_write_config",
    "ruler_remote_evaluation_timeout",
    "ruler_remote_evaluation_max_response_size",
    "deletion_mode",
    "retention_period",
    "retention_stream",
    "per_tenant_override_config",
    "per_tenant_override_period",
    "allow_deletes",
    "shard_streams",
    "blocked_queries",
    "required_labels",
    "minimum_labels_number",
    "index_gateway_shard_size",
    "index_gateway_max_capacity",
    "bloom_gateway_enable_filtering",
    "bloom_build_max_builders",
    "bloom_build_task_max_retries",
    "bloom_build_builder_response_timeout",
    "bloom_creation_enabled",
    "bloom_planning_strategy",
    "bloom_split_series_keyspace_by",
    "bloom_task_target_series_chunk_size",
    "bloom_block_encoding",
    "bloom_prefetch_blocks",
    "bloom_max_block_size",
    "bloom_max_bloom_size",
    "allow_structured_metadata",
    "max_structured_metadata_size",
    "max_structured_metadata_entries_count",
    "otlp_config",
    "block_ingestion_policy_until",
    "block_ingestion_until",
    "block_ingestion_status_code",
    "enforced_labels",
    "policy_enforced_labels",
    "policy_stream_mapping",
    "ingestion_partitions_tenant_shard_size",
    "shard_aggregations",
    "pattern_ingester_tokenizable_json_fields_default",
    "pattern_ingester_tokenizable_json_fields_append",
    "pattern_ingester_tokenizable_json_fields_delete",
    "metric_aggregation_enabled",
    "pattern_persistence_enabled",
    "pattern_persistence_granularity",
    "pattern_rate_threshold",
    "max_scan_task_parallelism",
    "debug_engine_tasks",
    "debug_engine_streams",
];

/// Checks `loki.yml`; `file` names it in findings.
pub(super) fn check(file: &str, text: &str, stack: &StackDefinition) -> Vec<Finding> {
    let config: LokiConfig = match parse_yaml(file, text) {
        Ok(config) => config,
        Err(finding) => return vec![finding],
    };
    let mut out = Vec::new();
    let whole = |message: &str| Finding::new(CHECK, file, "", message);

    // Promtail and the collector push without X-Scope-OrgID; the default
    // (true) would refuse them.
    match &config.auth_enabled {
        Some(auth) if auth.value => out.push(finding_at(
            file,
            auth,
            "auth_enabled: true makes Loki demand an X-Scope-OrgID header that Promtail and the collector do not send",
        )),
        Some(_) => {}
        None => {
            out.push(whole("auth_enabled is not set and defaults to true (multi-tenant): set `auth_enabled: false`"))
        }
    }

    if let Some(port) = config.server.as_ref().and_then(|s| s.http_listen_port.as_ref()) {
        let published: Vec<u16> = service(stack, "loki").into_iter().flat_map(|s| &s.ports).map(|p| p.target).collect();
        if !published.is_empty() && !published.contains(&port.value) {
            out.push(finding_at(
                file,
                port,
                format!(
                    "server.http_listen_port {} is not the port stack.toml gives the loki service ({published:?})",
                    port.value
                ),
            ));
        }
    }
    if let Some(server) = &config.server {
        out.extend(super::check_log_settings(file, server.log_level.as_ref(), server.log_format.as_ref()));
    }

    // A single process: everything replicated once, rings in memory.
    if let Some(common) = &config.common {
        if let Some(rf) = &common.replication_factor
            && rf.value != 1
        {
            out.push(finding_at(
                file,
                rf,
                format!("common.replication_factor {} needs that many ingesters; this single binary is one", rf.value),
            ));
        }
        if let Some(store) = common.ring.as_ref().and_then(|r| r.kvstore.as_ref()).and_then(|k| k.store.as_ref())
            && store.value != "inmemory"
        {
            out.push(finding_at(
                file,
                store,
                format!("common.ring.kvstore.store `{}`: a single binary uses `inmemory`", store.value),
            ));
        }
        if common.path_prefix.is_none() {
            out.push(whole("common.path_prefix is not set: WAL, compactor and ruler directories fall back to paths outside the data volume"));
        }
        let fs = common.storage.as_ref().and_then(|s| s.filesystem.as_ref());
        if let (Some(prefix), Some(fs)) = (&common.path_prefix, fs) {
            for dir in [&fs.chunks_directory, &fs.rules_directory].into_iter().flatten() {
                if !dir.starts_with(prefix.as_str()) {
                    out.push(whole(&format!("common.storage.filesystem directory `{dir}` is outside path_prefix `{prefix}` (the data volume)")));
                }
            }
        }
    } else {
        out.push(whole("no `common` block: path_prefix, storage and ring must be set for a single binary"));
    }

    // Schema: TSDB + v13 (structured metadata, OTLP), 24h index for retention.
    let periods = config.schema_config.as_ref().map(|s| s.configs.as_slice()).unwrap_or_default();
    if periods.is_empty() {
        out.push(whole("schema_config.configs is empty: Loki has no schema to store data with"));
    }
    let today = today_days();
    let mut previous: Option<i64> = None;
    for period in periods {
        match date_days(&period.from.value) {
            None => out.push(finding_at(
                file,
                &period.from,
                format!("schema_config `from: {}` is not a YYYY-MM-DD date", period.from.value),
            )),
            Some(day) => {
                if previous.is_some_and(|p| day <= p) {
                    out.push(finding_at(
                        file,
                        &period.from,
                        "schema_config periods must be in increasing `from` order",
                    ));
                }
                previous = Some(day);
            }
        }
        if period.store.value != "tsdb" {
            out.push(finding_at(
                file,
                &period.store,
                format!(
                    "schema_config store `{}`: only `tsdb` is supported for new data in Loki 3",
                    period.store.value
                ),
            ));
        }
        if period.schema.value != "v13" {
            out.push(finding_at(
                file,
                &period.schema,
                format!(
                    "schema_config schema `{}`: v13 is required for structured metadata (OTLP ingestion)",
                    period.schema.value
                ),
            ));
        }
        match period.index.as_ref().and_then(|i| i.period.as_ref()) {
            Some(p) if p.value == "24h" => {}
            Some(p) => out.push(finding_at(
                file,
                p,
                format!("schema_config index.period `{}`: TSDB and retention need 24h", p.value),
            )),
            None => out.push(finding_at(file, &period.from, "schema_config period without index.period (must be 24h)")),
        }
    }
    if let Some(first) = periods.first().and_then(|p| date_days(&p.from.value).map(|d| (p, d)))
        && first.1 > today
    {
        out.push(finding_at(
            file,
            &first.0.from,
            format!(
                "schema_config `from: {}` is in the future: until then Loki has no valid schema and refuses writes",
                first.0.from.value
            ),
        ));
    }

    // Retention: needs a delete-request store and a retention period.
    let limits = config.limits_config.unwrap_or_default();
    out.extend(limits.unknown_keys(file, "limits_config", LIMITS_CONFIG_KEYS));
    if let Some(compactor) = &config.compactor
        && let Some(enabled) = compactor.retention_enabled.as_ref().filter(|e| e.value)
    {
        match &compactor.delete_request_store {
            None => out.push(finding_at(file, enabled, "compactor.retention_enabled needs compactor.delete_request_store (Loki refuses to start: \"compactor.delete-request-store should be configured when retention is enabled\")")),
            Some(store) if store.value.is_empty() => out.push(finding_at(file, store, "compactor.delete_request_store is empty")),
            Some(store) => {
                if let Some(last) = periods.last()
                    && last.object_store.value != store.value
                {
                    out.push(finding_at(file, store, format!(
                        "compactor.delete_request_store `{}` differs from the object store `{}` of the current schema period",
                        store.value, last.object_store.value
                    )));
                }
            }
        }
        match limits.get("retention_period").and_then(serde_json::Value::as_str) {
            None => out.push(finding_at(
                file,
                enabled,
                "compactor.retention_enabled without limits_config.retention_period: the compactor deletes nothing",
            )),
            Some(period) => match duration_seconds(period) {
                Some(seconds) if seconds >= 86_400.0 => {}
                Some(_) => out.push(Finding::new(
                    CHECK,
                    file,
                    limits.location_of("retention_period"),
                    format!("limits_config.retention_period `{period}` is below Loki's minimum of 24h"),
                )),
                None => out.push(Finding::new(
                    CHECK,
                    file,
                    limits.location_of("retention_period"),
                    format!("limits_config.retention_period `{period}` is not a duration"),
                )),
            },
        }
    }
    if limits.get("allow_structured_metadata") == Some(&serde_json::Value::Bool(false)) {
        out.push(Finding::new(CHECK, file, limits.location_of("allow_structured_metadata"),
            "limits_config.allow_structured_metadata: false rejects the collector's OTLP logs (attributes are stored as structured metadata)"));
    }

    if let Some(url) = config.ruler.as_ref().and_then(|r| r.alertmanager_url.as_ref())
        && let Some(message) = check_service_url(stack, &url.value)
    {
        out.push(finding_at(file, url, format!("ruler.alertmanager_url {message}")));
    }
    if config.analytics.as_ref().and_then(|a| a.reporting_enabled) != Some(false) {
        out.push(whole("analytics.reporting_enabled is not false: Loki would report usage to stats.grafana.org"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "stack/configs/loki/loki.yml";

    fn real() -> String {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf();
        std::fs::read_to_string(repo.join(FILE)).expect("loki.yml")
    }

    fn stack() -> StackDefinition {
        super::super::tests::repository_stack()
    }

    fn findings_for(text: &str) -> Vec<Finding> {
        check(FILE, text, &stack())
    }

    fn assert_one(text: &str, needle: &str) {
        let findings = findings_for(text);
        assert!(
            findings.iter().any(|f| f.file == FILE && f.message.contains(needle)),
            "expected a finding containing {needle:?}, got {findings:#?}"
        );
    }

    #[test]
    fn real_file_passes() {
        assert_eq!(findings_for(&real()), vec![]);
    }

    #[test]
    fn removed_shared_store_is_rejected_with_its_line() {
        let text = real().replace(
            "  delete_request_store: filesystem",
            "  delete_request_store: filesystem\n  shared_store: filesystem",
        );
        let findings = findings_for(&text);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].message.contains("unknown field `shared_store`"), "{findings:#?}");
        assert!(findings[0].place.starts_with("line "), "{findings:#?}");
    }

    #[test]
    fn retention_without_delete_request_store() {
        let text = real().replace("  delete_request_store: filesystem\n", "");
        assert_one(&text, "needs compactor.delete_request_store");
    }

    #[test]
    fn retention_without_period() {
        let text = real().replace("  retention_period: 744h\n", "");
        assert_one(&text, "without limits_config.retention_period");
    }

    #[test]
    fn unknown_limits_key() {
        let text = real().replace("  volume_enabled: true", "  volume_enabled: true\n  retention_perid: 1h");
        assert_one(&text, "unknown field `retention_perid` in `limits_config`");
    }

    #[test]
    fn wrong_schema_and_period() {
        assert_one(&real().replace("schema: v13", "schema: v12"), "v13 is required");
        assert_one(&real().replace("period: 24h", "period: 168h"), "need 24h");
        assert_one(&real().replace("from: \"2024-04-01\"", "from: \"2999-01-01\""), "in the future");
    }

    #[test]
    fn multi_tenant_and_unknown_alertmanager() {
        assert_one(&real().replace("auth_enabled: false", "auth_enabled: true"), "X-Scope-OrgID");
        assert_one(&real().replace("http://alertmanager:9093", "http://alertmanagr:9093"), "`alertmanagr`");
    }

    #[test]
    fn structured_metadata_off() {
        assert_one(&real().replace("allow_structured_metadata: true", "allow_structured_metadata: false"), "OTLP");
    }
}
