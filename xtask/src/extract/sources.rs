//! What the extractor reads for each source: the directories of the
//! upstream checkout, the values only run-time configuration decides (each
//! with the upstream place that decides it), and the labels a metric table's
//! rows share. The one place to edit when upstream moves a file.

use std::collections::BTreeMap;

use anyhow::bail;

use super::go::ReadRules;

/// One catalog source written from upstream Go source.
#[derive(Debug)]
pub struct Spec {
    /// The catalog's `source`, also the image name in stack.toml.
    pub source: &'static str,
    /// The upstream repository (`owner/name`).
    pub repository: &'static str,
    /// Directories (or files) of the checkout to read, relative to its root.
    pub roots: &'static [&'static str],
    /// What was read, for the provenance line.
    pub read: &'static str,
    /// The comment at the top of the file (without `# `).
    pub header: &'static str,
    pub labels_authoritative: bool,
    /// Families whose label list is complete although the file's is not:
    /// their registration was read by hand and no registerer wraps it with
    /// more labels. Each must be found with a literal label list.
    pub authoritative: &'static [&'static str],
    /// Only families whose names start with one of these (all when empty).
    pub prefixes: &'static [&'static str],
    /// Expression text -> value decided at run time.
    pub bindings: &'static [(&'static str, &'static str)],
    /// Expression text -> label names built at run time.
    pub label_bindings: &'static [(&'static str, &'static [&'static str])],
    /// Path prefix -> labels shared by every row of a metric table there.
    pub table_labels: &'static [(&'static str, &'static [&'static str])],
}

impl Spec {
    pub fn rules(&self) -> ReadRules {
        let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ReadRules {
            bindings: self.bindings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            label_bindings: self
                .label_bindings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), owned(v)))
                .collect::<BTreeMap<_, _>>(),
            table_labels: self.table_labels.iter().map(|(k, v)| ((*k).to_owned(), owned(v))).collect(),
        }
    }

    pub fn keeps(&self, name: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// The labels cAdvisor puts on every container series
/// (`DefaultContainerLabels` in lib/metrics/prometheus.go: id, name, image,
/// one `container_label_<docker label>` per Docker label and
/// `container_env_<variable>` per allow-listed variable), as patterns.
const CADVISOR_CONTAINER_LABELS: &[&str] = &["container_env_*", "container_label_*", "id", "image", "name"];

pub const SPECS: &[Spec] = &[
    Spec {
        source: "cadvisor",
        repository: "google/cadvisor",
        roots: &["lib/metrics", "lib/container"],
        read: "metric tables (containerMetrics, machine metrics) and NewDesc/Opts registrations of lib/metrics, groups from the includedMetrics.Has(container.X) blocks and the MetricKind constants of lib/container",
        header: "Every metric cAdvisor's Prometheus collector can emit, with its\n\
                 -disable_metrics group (`group`) where it has one. The groups that\n\
                 --disable_metrics of services.cadvisor in stack/stack.toml switches off are\n\
                 not exposed by the deployed service (the check reads that flag).\n\
                 Container labels: id, name, image, container_label_<docker label> and\n\
                 container_env_<allow-listed variable>, written as the patterns\n\
                 container_label_* and container_env_*.\n\
                 go_* and process_* are catalogued from the captured Go exporters.",
        labels_authoritative: true,
        authoritative: &[],
        prefixes: &["container_", "machine_", "cadvisor_"],
        bindings: &[],
        label_bindings: &[("labels", CADVISOR_CONTAINER_LABELS)],
        table_labels: &[
            ("lib/metrics/prometheus_machine.go", &["boot_id", "machine_id", "system_uuid"]),
            ("lib/metrics/prometheus.go", CADVISOR_CONTAINER_LABELS),
        ],
    },
    Spec {
        source: "loki",
        repository: "grafana/loki",
        roots: &[
            "pkg",
            "vendor/github.com/grafana/dskit/server",
            "vendor/github.com/prometheus/client_golang/prometheus/collectors/version",
        ],
        read: "prometheus.*Opts and NewDesc registrations of pkg/ (non-test), the vendored dskit server families and the version collector",
        header: "Every `loki_` family registered with a name the source spells out: pkg/,\n\
                 the vendored dskit HTTP/gRPC server families (pkg/loki/loki.go sets the\n\
                 server's MetricsNamespace to constants.Loki) and loki_build_info\n\
                 (version.NewCollector(constants.Loki) in pkg/loki/modules.go). Families\n\
                 registered through prefixing registerers (ruler WAL, index shipper,\n\
                 ring/kv clients) are not listed. Registerers may wrap families with more\n\
                 labels, so label lists are not authoritative.\n\
                 go_* and process_* are catalogued from the captured Go exporters.",
        labels_authoritative: false,
        // The families the stack's alerts and dashboards select by label,
        // registered directly on the default registerer or through
        // promauto.With(prometheus.DefaultRegisterer).
        authoritative: &[
            "loki_build_info",
            "loki_compactor_apply_retention_last_successful_run_timestamp_seconds",
            "loki_discarded_bytes_total",
            "loki_discarded_samples_total",
            "loki_distributor_bytes_received_total",
            "loki_distributor_lines_received_total",
            "loki_inflight_requests",
            "loki_ingester_chunks_flushed_total",
            "loki_ingester_memory_chunks",
            "loki_ingester_memory_streams",
            "loki_ingester_streams_created_total",
            "loki_ingester_wal_replay_active",
            "loki_internal_log_messages_total",
            "loki_logql_querystats_latency_seconds",
            "loki_panic_total",
            "loki_per_tenant_request_duration_seconds",
            "loki_per_tenant_request_total",
            "loki_request_duration_seconds",
            "loki_request_message_bytes",
            "loki_response_message_bytes",
            "loki_tcp_connections",
        ],
        prefixes: &["loki_"],
        bindings: &[("cfg.MetricsNamespace", "loki"), ("program", "loki")],
        label_bindings: &[],
        table_labels: &[],
    },
    Spec {
        source: "promtail",
        repository: "grafana/loki",
        roots: &[
            "clients/pkg",
            "clients/cmd/promtail",
            "vendor/github.com/grafana/dskit/server",
            "vendor/github.com/prometheus/client_golang/prometheus/collectors/version",
        ],
        read: "prometheus.*Opts and NewDesc registrations of clients/pkg and clients/cmd/promtail (non-test), the vendored dskit server families and the version collector",
        header: "Every family Promtail registers with a name the source spells out:\n\
                 clients/pkg, the vendored dskit HTTP server families (unprefixed: Promtail\n\
                 never sets the server's MetricsNamespace, a yaml:\"-\" field) and\n\
                 promtail_build_info (version.NewCollector(\"promtail\") in\n\
                 clients/cmd/promtail/main.go). Not listed: user-defined `metrics`\n\
                 pipeline-stage families (promtail_custom_*, set in promtail.yml) and the\n\
                 service-discovery families of the vendored prometheus/discovery packages.\n\
                 go_* and process_* are catalogued from the captured Go exporters.",
        labels_authoritative: true,
        authoritative: &[],
        prefixes: &[],
        bindings: &[("cfg.MetricsNamespace", ""), ("program", "promtail")],
        label_bindings: &[],
        table_labels: &[],
    },
];

pub fn by_name(name: &str) -> anyhow::Result<&'static Spec> {
    match SPECS.iter().find(|s| s.source == name) {
        Some(spec) => Ok(spec),
        None => {
            let known: Vec<&str> = SPECS.iter().map(|s| s.source).collect();
            bail!("no extractor spec for `{name}` (known: {})", known.join(", "))
        }
    }
}
