//! The metric catalog: which metric names (and label names) the stack's
//! sources expose, loaded from `stack/catalog/*.toml`.
//!
//! One file per source (`node-exporter.toml`, `cadvisor.toml`, ...):
//!
//! ```toml
//! source = "node-exporter"
//! version = "1.11.1"
//! provenance = "captured from /metrics of ... by scripts/capture-catalog.sh"
//! accepted_pin = "v1.12.1"        # optional: the pinned image tag this catalog of another
//!                                 # version was accepted for (see [`version_findings`])
//! labels_authoritative = true     # optional, default false
//! target_labels = ["job", "instance"]   # optional: labels Prometheus adds to every series
//!
//! [metrics.node_cpu_seconds_total]
//! type = "counter"                # counter|gauge|histogram|gaugehistogram|summary|info|stateset|untyped|unknown
//! help = "Seconds the CPUs spent in each mode."
//! labels = ["cpu", "mode"]        # optional; absent = not known. A trailing `*` is a prefix pattern.
//! labels_authoritative = false    # optional per-metric override of the file's flag
//! group = "cpu"                   # optional: the source's metric group (cAdvisor's --disable_metrics)
//! ref = "pkg/x/metrics.go"        # optional: where a documented name was taken from
//! ```
//!
//! A source whose name is a `job_name` of the OTel Collector's prometheus
//! receiver (`otelcol.yml`) is scraped by the collector and remote-written to
//! Prometheus (prometheusremotewrite exporter, `add_metric_suffixes` on by
//! default): on that path a counter whose name lacks `_total` gets it
//! appended, so the catalog knows it by that name.
//!
//! Histogram and summary families are recorded under their family name;
//! [`Catalog::lookup`] also accepts the `_bucket`/`_sum`/`_count`/`_created`
//! series names of such a family (and `_created` of a counter).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::Finding;
use crate::source::{ImageRef, StackDefinition};

/// The rule name of catalog findings.
const CHECK: &str = "catalog";

/// The type a source declares for a metric family (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// `untyped`/`unknown`, and the outputs of recording rules.
    Unknown,
}

impl MetricType {
    fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" | "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Families whose samples carry `le` and the `_bucket` suffix.
    pub fn is_histogram(self) -> bool {
        matches!(self, MetricType::Histogram | MetricType::GaugeHistogram)
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        })
    }
}

/// What the catalog knows about one metric family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    /// The family name (`foo_seconds` for the histogram `foo_seconds_bucket`).
    pub name: String,
    pub kind: MetricType,
    pub help: String,
    /// Label names of the family's own samples (without `le`/`quantile` and
    /// without target labels); `None` when not known. Entries ending in `*`
    /// are prefix patterns (cAdvisor's `container_label_*`).
    pub labels: Option<Vec<String>>,
    /// Whether `labels` is the complete list, so that a matcher on any other
    /// label is a mistake.
    pub labels_authoritative: bool,
    /// Every catalog source that exposes it (`node-exporter`, ...), sorted.
    pub sources: Vec<String>,
    /// The source's metric group, where the source has such a notion.
    pub group: Option<String>,
    /// True for the output of a recording rule (see [`Catalog::with_recorded`]).
    pub recorded: bool,
    /// The name the source itself exposes, when Prometheus stores the family
    /// under another one (`nginx_connections_accepted` ->
    /// `nginx_connections_accepted_total` through the OTel Collector).
    pub exposed_as: Option<String>,
}

/// How a source's series reach Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingestion {
    /// Prometheus scrapes the source (or creates the series) itself: names as exposed.
    #[default]
    Scrape,
    /// The OTel Collector scrapes it and remote-writes to Prometheus: counters
    /// get `_total` appended when their name lacks it.
    OtelCollector,
}

/// One catalog file, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub source: String,
    pub version: String,
    pub provenance: String,
    /// The pinned image tag this catalog was accepted for although its
    /// `version` differs (the reason is in `provenance`).
    pub accepted_pin: Option<String>,
    pub file: PathBuf,
    /// Number of metric families in the file (disabled ones included).
    pub metrics: usize,
    pub ingestion: Ingestion,
}

/// A metric a source could expose but the deployment switched off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledMetric {
    pub source: String,
    pub group: String,
}

/// The label names a metric may be selected by, for [`Catalog::labels`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLabels {
    /// The family's own labels (patterns included), plus `le` for a
    /// `_bucket` series and `quantile` for a summary's quantile series.
    pub own: Vec<String>,
    /// Labels every scraped series gets from Prometheus or relabelling.
    pub target: Vec<String>,
}

impl KnownLabels {
    /// Whether a series of this metric can carry `label`.
    pub fn allows(&self, label: &str) -> bool {
        label == "__name__"
            || self.target.iter().any(|t| t == label)
            || self.own.iter().any(|l| match l.strip_suffix('*') {
                Some(prefix) => label.starts_with(prefix),
                None => l == label,
            })
    }
}

/// All catalogued metrics, keyed by family name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    metrics: BTreeMap<String, MetricInfo>,
    disabled: BTreeMap<String, DisabledMetric>,
    /// Source -> metric groups the deployment switches off, derived from
    /// stack.toml by [`deployment_disabled_groups`] before the files load.
    disabled_groups: BTreeMap<String, BTreeSet<String>>,
    /// The sources the OTel Collector scrapes (its scrape job names), read
    /// from otelcol.yml before the files load.
    scraped_by_collector: BTreeSet<String>,
    target_labels: BTreeSet<String>,
    sources: Vec<SourceInfo>,
    /// Exposed name -> name in Prometheus, for families renamed on ingestion.
    renamed: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    source: String,
    version: String,
    provenance: String,
    #[serde(default)]
    accepted_pin: Option<String>,
    #[serde(default)]
    labels_authoritative: bool,
    #[serde(default)]
    target_labels: Vec<String>,
    #[serde(default)]
    metrics: BTreeMap<String, MetricDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricDoc {
    #[serde(rename = "type")]
    kind: String,
    help: String,
    labels: Option<Vec<String>>,
    labels_authoritative: Option<bool>,
    group: Option<String>,
    #[serde(rename = "ref")]
    _reference: Option<String>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

/// The line of `[metrics.NAME]` (quoted or bare) in a catalog file, for errors.
fn metric_line(text: &str, name: &str) -> usize {
    let bare = format!("[metrics.{name}]");
    let quoted = format!("[metrics.\"{name}\"]");
    text.lines()
        .position(|l| {
            let l = l.trim();
            l == bare || l == quoted
        })
        .map_or(0, |i| i + 1)
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let name = name.strip_suffix('*').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count", "_created"];
const SUMMARY_SUFFIXES: &[&str] = &["_sum", "_count", "_created"];

impl Catalog {
    /// Loads every `*.toml` in `dir` (sorted by name). Errors name the file,
    /// and the line for malformed TOML and bad entries.
    pub fn load(
        dir: &Path,
        stack: &StackDefinition,
        scraped_by_collector: BTreeSet<String>,
    ) -> anyhow::Result<Catalog> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the metric catalog directory {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        files.sort();
        if files.is_empty() {
            bail!("{}: no catalog files (*.toml)", dir.display());
        }
        let mut catalog =
            Catalog { disabled_groups: deployment_disabled_groups(stack), scraped_by_collector, ..Catalog::default() };
        for file in files {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            catalog.add_file(&file, &text)?;
        }
        Ok(catalog)
    }

    /// An empty catalog for tests, whose `sources` the OTel Collector scrapes.
    #[cfg(test)]
    pub fn scraped_by_collector<const N: usize>(sources: [&str; N]) -> Catalog {
        Catalog { scraped_by_collector: sources.iter().map(|s| (*s).to_owned()).collect(), ..Catalog::default() }
    }

    /// Parses one catalog file's text into the catalog (`file` names it in errors).
    pub fn add_file(&mut self, file: &Path, text: &str) -> anyhow::Result<()> {
        let shown = file.display();
        let doc: FileDoc = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                anyhow::anyhow!("{shown}:{line}:{col}: malformed catalog file: {}", e.message().trim())
            }
            None => anyhow::anyhow!("{shown}: malformed catalog file: {}", e.message().trim()),
        })?;
        if doc.source.trim().is_empty() {
            bail!("{shown}: `source` is empty");
        }
        if doc.provenance.trim().is_empty() {
            bail!("{shown}: `provenance` is empty: say where the names come from");
        }
        if let Some(other) = self.sources.iter().find(|s| s.source == doc.source) {
            bail!("{shown}: source `{}` is already defined by {}", doc.source, other.file.display());
        }
        for l in &doc.target_labels {
            if !valid_label_name(l) || l.ends_with('*') {
                bail!("{shown}: target label `{l}` is not a valid label name");
            }
            self.target_labels.insert(l.clone());
        }
        let ingestion =
            if self.scraped_by_collector.contains(&doc.source) { Ingestion::OtelCollector } else { Ingestion::Scrape };
        let no_groups = BTreeSet::new();
        let disabled = self.disabled_groups.get(&doc.source).unwrap_or(&no_groups);
        for (name, m) in &doc.metrics {
            let line = metric_line(text, name);
            let at = format!("{shown}:{line}: [metrics.{name}]");
            if !valid_metric_name(name) {
                bail!("{at}: not a valid metric name");
            }
            let Some(kind) = MetricType::parse(&m.kind) else {
                bail!(
                    "{at}: unknown type `{}` (counter, gauge, histogram, gaugehistogram, summary, info, stateset, untyped)",
                    m.kind
                );
            };
            if let Some(labels) = &m.labels {
                if let Some(bad) = labels.iter().find(|l| !valid_label_name(l)) {
                    bail!("{at}: `{bad}` is not a valid label name");
                }
                if let Some(reserved) = labels
                    .iter()
                    .find(|l| (*l == "le" && kind.is_histogram()) || (*l == "quantile" && kind == MetricType::Summary))
                {
                    bail!("{at}: `{reserved}` is implied by the type {kind}; leave it out of `labels`");
                }
            }
            let stored = match ingestion {
                Ingestion::OtelCollector if kind == MetricType::Counter && !name.ends_with("_total") => {
                    format!("{name}_total")
                }
                _ => name.clone(),
            };
            if let Some(group) = m.group.as_deref().filter(|g| disabled.contains(*g)) {
                self.disabled.insert(stored, DisabledMetric { source: doc.source.clone(), group: group.to_owned() });
                continue;
            }
            let authoritative = m.labels.is_some() && m.labels_authoritative.unwrap_or(doc.labels_authoritative);
            let mut labels = m.labels.clone();
            if let Some(l) = labels.as_mut() {
                l.sort();
                l.dedup();
            }
            let exposed_as = (stored != *name).then(|| name.clone());
            if let Some(exposed) = &exposed_as {
                self.renamed.insert(exposed.clone(), stored.clone());
            }
            let name = &stored;
            let info = MetricInfo {
                exposed_as,
                name: name.clone(),
                kind,
                help: m.help.clone(),
                labels,
                labels_authoritative: authoritative,
                sources: vec![doc.source.clone()],
                group: m.group.clone(),
                recorded: false,
            };
            match self.metrics.get_mut(name) {
                None => {
                    self.metrics.insert(name.clone(), info);
                }
                Some(existing) => {
                    if existing.kind != info.kind
                        && existing.kind != MetricType::Unknown
                        && info.kind != MetricType::Unknown
                    {
                        bail!(
                            "{at}: type {} conflicts with type {} from source {}",
                            info.kind,
                            existing.kind,
                            existing.sources.join(", ")
                        );
                    }
                    merge(existing, info);
                }
            }
        }
        self.sources.push(SourceInfo {
            source: doc.source,
            version: doc.version,
            provenance: doc.provenance,
            accepted_pin: doc.accepted_pin,
            file: file.to_path_buf(),
            metrics: doc.metrics.len(),
            ingestion,
        });
        Ok(())
    }

    /// The catalog plus the outputs of recording rules, which count as known
    /// metrics (type and labels unknown).
    pub fn with_recorded(mut self, names: impl IntoIterator<Item = String>) -> Catalog {
        for name in names {
            self.metrics.entry(name.clone()).or_insert_with(|| MetricInfo {
                name,
                kind: MetricType::Unknown,
                help: String::new(),
                labels: None,
                labels_authoritative: false,
                sources: vec!["recording rule".to_owned()],
                group: None,
                recorded: true,
                exposed_as: None,
            });
        }
        self
    }

    /// The catalog plus more target labels (labels Prometheus or relabelling
    /// attach to every scraped series), e.g. read from a scrape config.
    #[cfg(test)]
    pub fn with_target_labels(mut self, labels: impl IntoIterator<Item = String>) -> Catalog {
        self.target_labels.extend(labels);
        self
    }

    /// The family a series name belongs to: the name itself, or the family of
    /// a `_bucket`/`_sum`/`_count`/`_created` series of a histogram or summary
    /// (and `_created` of a counter).
    #[cfg(test)]
    pub fn lookup(&self, metric: &str) -> Option<&MetricInfo> {
        self.lookup_with_suffix(metric).map(|(info, _)| info)
    }

    /// Like [`Catalog::lookup`], and the suffix by which the name was found
    /// (empty for the family name itself).
    pub fn lookup_with_suffix(&self, metric: &str) -> Option<(&MetricInfo, &'static str)> {
        if let Some(info) = self.metrics.get(metric) {
            return Some((info, ""));
        }
        for suffix in HISTOGRAM_SUFFIXES {
            let Some(base) = metric.strip_suffix(suffix) else { continue };
            if let Some(info) = self.metrics.get(base) {
                let ok = if info.kind.is_histogram() {
                    HISTOGRAM_SUFFIXES.contains(suffix)
                } else if info.kind == MetricType::Summary {
                    SUMMARY_SUFFIXES.contains(suffix)
                } else {
                    false
                };
                if ok {
                    return Some((info, suffix));
                }
            }
            // A counter `foo_total` has the created-timestamp series `foo_created`.
            if *suffix == "_created"
                && let Some(info) = self.metrics.get(&format!("{base}_total"))
                && info.kind == MetricType::Counter
            {
                return Some((info, suffix));
            }
        }
        None
    }

    /// The name Prometheus stores `exposed` under, when ingestion renames it
    /// (a counter without `_total` that goes through the OTel Collector).
    pub fn renamed(&self, exposed: &str) -> Option<&str> {
        self.renamed.get(exposed).map(String::as_str)
    }

    /// When `metric` is not exposed because the deployment disabled its group
    /// (e.g. cAdvisor's `--disable_metrics`), which source and group.
    pub fn disabled(&self, metric: &str) -> Option<&DisabledMetric> {
        if let Some(d) = self.disabled.get(metric) {
            return Some(d);
        }
        HISTOGRAM_SUFFIXES.iter().filter_map(|s| metric.strip_suffix(s)).find_map(|base| self.disabled.get(base))
    }

    /// The labels a series of `metric` can have, when the catalog lists them
    /// authoritatively; `None` when the metric is unknown or its labels are
    /// not known completely.
    pub fn labels(&self, metric: &str) -> Option<KnownLabels> {
        let (info, suffix) = self.lookup_with_suffix(metric)?;
        if !info.labels_authoritative {
            return None;
        }
        let mut own = info.labels.clone()?;
        if info.kind.is_histogram() && suffix == "_bucket" {
            own.push("le".to_owned());
        }
        if info.kind == MetricType::Summary && suffix.is_empty() {
            own.push("quantile".to_owned());
        }
        Some(KnownLabels { own, target: self.target_labels.iter().cloned().collect() })
    }

    /// Labels Prometheus or relabelling attach to every scraped series.
    #[cfg(test)]
    pub fn target_labels(&self) -> impl Iterator<Item = &str> {
        self.target_labels.iter().map(String::as_str)
    }

    /// Every known family.
    pub fn metrics(&self) -> impl Iterator<Item = &MetricInfo> {
        self.metrics.values()
    }

    /// The files the catalog was loaded from, in load order.
    pub fn sources(&self) -> &[SourceInfo] {
        &self.sources
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }
}

/// Merges the same family exposed by a second source (e.g. `go_*` and
/// `process_*` from every Go exporter).
fn merge(existing: &mut MetricInfo, new: MetricInfo) {
    if existing.kind == MetricType::Unknown {
        existing.kind = new.kind;
    }
    existing.labels_authoritative = existing.labels_authoritative && new.labels_authoritative;
    existing.labels = match (existing.labels.take(), new.labels) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            a.sort();
            a.dedup();
            Some(a)
        }
        (Some(a), None) | (None, Some(a)) => {
            existing.labels_authoritative = false;
            Some(a)
        }
        (None, None) => None,
    };
    existing.sources.extend(new.sources);
    existing.sources.sort();
    existing.sources.dedup();
    if existing.group.is_none() {
        existing.group = new.group;
    }
}

/// The metric groups the deployment switches off, per catalog source, read
/// from the services' arguments in stack.toml: cAdvisor's
/// `--disable_metrics=<group>,...` (which replaces its default list) on the
/// services running the `cadvisor` image.
pub fn deployment_disabled_groups(stack: &StackDefinition) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for service in stack.services.values().filter(|s| s.image == "cadvisor") {
        let groups = service
            .args
            .iter()
            .filter_map(|a| a.trim_start_matches('-').strip_prefix("disable_metrics="))
            .flat_map(|v| v.split(','))
            .filter(|g| !g.is_empty())
            .map(str::to_owned);
        out.entry("cadvisor".to_owned()).or_default().extend(groups);
    }
    out
}

/// A finding for every catalog whose source is an image of the stack and
/// whose version is not the pinned tag, unless the catalog records that
/// exact tag as `accepted_pin`: when the pin moves, the difference is
/// reported again. `dir` is the repository-relative catalog directory.
pub fn version_findings(catalog: &Catalog, dir: &str, images: &BTreeMap<String, ImageRef>) -> Vec<Finding> {
    let mut out = Vec::new();
    for info in catalog.sources() {
        let Some(image) = images.get(&info.source) else { continue };
        let pinned = image.tag.as_str();
        if info.version.trim_start_matches('v') == pinned.trim_start_matches('v')
            || info.accepted_pin.as_deref() == Some(pinned)
        {
            continue;
        }
        let name = info.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(
            Finding::new(
                CHECK,
                format!("{dir}/{name}"),
                "version",
                format!(
                    "catalog version {} is not the pinned image tag {pinned} of `{}`",
                    info.version, info.source
                ),
            )
            .with_hint(format!(
                "re-capture it (scripts/capture-catalog.sh), or set accepted_pin = \"{pinned}\" with the reason in provenance"
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(files: &[(&str, &str)]) -> anyhow::Result<Catalog> {
        let mut c = Catalog::default();
        for (name, text) in files {
            c.add_file(Path::new(name), text)?;
        }
        Ok(c)
    }

    const NODE: &str = r#"
source = "node-exporter"
version = "1.11.1"
provenance = "test"
labels_authoritative = true

[metrics.node_cpu_seconds_total]
type = "counter"
help = "Seconds the CPUs spent in each mode."
labels = ["cpu", "mode"]

[metrics.go_gc_duration_seconds]
type = "summary"
help = "GC pauses."
labels = []

[metrics.http_request_duration_seconds]
type = "histogram"
help = "Latency."
labels = ["handler"]

[metrics.node_scrape_collector_success]
type = "gauge"
help = "Whether a collector succeeded."
"#;

    const SYNTHETIC: &str = r#"
source = "synthetic"
version = "3.5.3"
provenance = "test"
labels_authoritative = true
target_labels = ["job", "instance"]

[metrics.up]
type = "gauge"
help = "1 if the target is up."
labels = []
"#;

    #[test]
    fn lookup_accepts_family_suffixes() {
        let c = catalog(&[("node.toml", NODE)]).expect("loads");
        assert_eq!(c.lookup("node_cpu_seconds_total").map(|m| m.kind), Some(MetricType::Counter));
        assert_eq!(c.lookup("node_cpu_seconds_created").map(|m| m.name.as_str()), Some("node_cpu_seconds_total"));
        for s in ["_bucket", "_sum", "_count", "_created"] {
            let name = format!("http_request_duration_seconds{s}");
            assert_eq!(c.lookup(&name).map(|m| m.name.as_str()), Some("http_request_duration_seconds"), "{name}");
        }
        for s in ["_sum", "_count", "_created"] {
            assert!(c.lookup(&format!("go_gc_duration_seconds{s}")).is_some(), "{s}");
        }
        // A summary has no buckets; a counter no _sum; unknown names are unknown.
        assert!(c.lookup("go_gc_duration_seconds_bucket").is_none());
        assert!(c.lookup("node_cpu_seconds_total_sum").is_none());
        assert!(c.lookup("node_cpu_seconds").is_none());
        assert!(c.lookup("nope_total").is_none());
    }

    #[test]
    fn labels_are_authoritative_only_where_listed() {
        let c = catalog(&[("node.toml", NODE), ("synthetic.toml", SYNTHETIC)]).expect("loads");
        let l = c.labels("node_cpu_seconds_total").expect("known labels");
        assert!(l.allows("mode") && l.allows("cpu") && l.allows("job") && l.allows("instance"));
        assert!(!l.allows("core"));
        assert!(!l.allows("le"));
        let b = c.labels("http_request_duration_seconds_bucket").expect("known");
        assert!(b.allows("le") && b.allows("handler"));
        assert!(!c.labels("http_request_duration_seconds_count").expect("known").allows("le"));
        assert!(c.labels("go_gc_duration_seconds").expect("known").allows("quantile"));
        // No `labels` key: nothing is known, so nothing can be checked.
        assert!(c.labels("node_scrape_collector_success").is_none());
        assert!(c.labels("unknown_metric").is_none());
        assert!(c.labels("up").expect("known").allows("job"));
    }

    #[test]
    fn recorded_names_count_as_known() {
        let c = catalog(&[("node.toml", NODE)]).expect("loads").with_recorded(["instance:node_cpu:rate5m".to_owned()]);
        let m = c.lookup("instance:node_cpu:rate5m").expect("recorded");
        assert!(m.recorded);
        assert_eq!(m.kind, MetricType::Unknown);
        assert!(c.labels("instance:node_cpu:rate5m").is_none());
        // An exporter metric keeps its own entry.
        let c = c.with_recorded(["node_cpu_seconds_total".to_owned()]);
        assert!(!c.lookup("node_cpu_seconds_total").expect("known").recorded);
    }

    #[test]
    fn label_patterns_and_extra_target_labels() {
        let text = r#"
source = "cadvisor"
version = "0.60.5"
provenance = "test"
labels_authoritative = true

[metrics.container_last_seen]
type = "gauge"
help = "Last time a container was seen."
labels = ["id", "image", "name", "container_label_*"]

[metrics.container_fs_usage_bytes]
type = "gauge"
help = "Filesystem usage."
labels = ["device", "id"]
group = "disk"
"#;
        let mut c = Catalog {
            disabled_groups: BTreeMap::from([("cadvisor".to_owned(), BTreeSet::from(["disk".to_owned()]))]),
            ..Catalog::default()
        };
        c.add_file(Path::new("cadvisor.toml"), text).expect("loads");
        let c = c.with_target_labels(["swarm_service".to_owned()]);
        let l = c.labels("container_last_seen").expect("known");
        assert!(l.allows("container_label_com_docker_swarm_service_name"));
        assert!(l.allows("swarm_service"));
        assert!(!l.allows("container_name"));
        assert!(c.lookup("container_fs_usage_bytes").is_none());
        let d = c.disabled("container_fs_usage_bytes").expect("disabled");
        assert_eq!((d.source.as_str(), d.group.as_str()), ("cadvisor", "disk"));
    }

    #[test]
    fn same_family_from_two_sources_merges() {
        let other = NODE.replace("node-exporter", "postgres-exporter");
        let c = catalog(&[("node.toml", NODE), ("pg.toml", &other)]).expect("loads");
        assert_eq!(c.lookup("go_gc_duration_seconds").expect("known").sources, ["node-exporter", "postgres-exporter"]);
        let conflicting = r#"
source = "other"
version = "1"
provenance = "test"
[metrics.node_cpu_seconds_total]
type = "gauge"
help = "x"
"#;
        let err = catalog(&[("node.toml", NODE), ("other.toml", conflicting)]).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("other.toml:5:") && msg.contains("conflicts"), "{msg}");
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let bad = "source = \"x\"\nversion = \"1\"\nprovenance = \"p\"\n\n[metrics.foo]\ntype = \"gauge\"\nhelp = \"unterminated\n";
        let err = catalog(&[("stack/catalog/bad.toml", bad)]).expect_err("must fail").to_string();
        assert!(err.starts_with("stack/catalog/bad.toml:7:"), "{err}");

        let bad_type =
            "source = \"x\"\nversion = \"1\"\nprovenance = \"p\"\n\n[metrics.foo]\ntype = \"countr\"\nhelp = \"h\"\n";
        let err = catalog(&[("stack/catalog/t.toml", bad_type)]).expect_err("must fail").to_string();
        assert!(err.starts_with("stack/catalog/t.toml:5: [metrics.foo]: unknown type `countr`"), "{err}");

        let unknown_key = "source = \"x\"\nversion = \"1\"\nprovenance = \"p\"\n[metrics.foo]\ntype = \"gauge\"\nhelp = \"h\"\nlabel = []\n";
        let err = catalog(&[("u.toml", unknown_key)]).expect_err("must fail").to_string();
        assert!(err.starts_with("u.toml:7:"), "{err}");

        let no_provenance = "source = \"x\"\nversion = \"1\"\nprovenance = \"\"\n";
        assert!(catalog(&[("p.toml", no_provenance)]).expect_err("must fail").to_string().contains("provenance"));
    }

    #[test]
    fn collector_ingestion_appends_total_to_counters() {
        let text = r#"
source = "nginx-exporter"
version = "1.5.1"
provenance = "test"
labels_authoritative = true

[metrics.nginx_connections_accepted]
type = "counter"
help = "Accepted client connections"
labels = []

[metrics.nginx_http_requests_total]
type = "counter"
help = "Total http requests"
labels = []

[metrics.nginx_connections_active]
type = "gauge"
help = "Active client connections"
labels = []
"#;
        let mut c =
            Catalog { scraped_by_collector: BTreeSet::from(["nginx-exporter".to_owned()]), ..Catalog::default() };
        c.add_file(Path::new("nginx.toml"), text).expect("loads");
        let m = c.lookup("nginx_connections_accepted_total").expect("renamed counter");
        assert_eq!(m.exposed_as.as_deref(), Some("nginx_connections_accepted"));
        assert!(c.lookup("nginx_connections_accepted").is_none());
        assert_eq!(c.renamed("nginx_connections_accepted"), Some("nginx_connections_accepted_total"));
        assert!(c.lookup("nginx_http_requests_total").is_some());
        assert!(c.lookup("nginx_http_requests_total_total").is_none());
        assert!(c.lookup("nginx_connections_active").is_some());
        assert_eq!(c.sources()[0].ingestion, Ingestion::OtelCollector);
    }

    fn repo_catalog_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/catalog")
    }

    /// The repository's own catalog loads and has the names the dashboards
    /// and alert rules rely on.
    #[test]
    fn repository_catalog_loads() {
        let dir = repo_catalog_dir();
        let c = Catalog::load(&dir, &repository_stack(), collector_jobs()).expect("stack/catalog loads");
        for name in [
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_filesystem_avail_bytes",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "container_last_seen",
            "nginx_connections_active",
            "nginx_http_requests_total",
            "pg_up",
            "pg_stat_database_xact_commit_total",
            "nginx_connections_accepted_total",
            "pg_stat_activity_count",
            "pg_settings_max_connections",
            "prometheus_tsdb_head_series",
            "prometheus_rule_evaluation_failures_total",
            "alertmanager_notifications_failed_total",
            "loki_request_duration_seconds_bucket",
            "loki_distributor_lines_received_total",
            "promtail_sent_entries_total",
            "promtail_dropped_entries_total",
            "otelcol_exporter_send_failed_metric_points_total",
            "otelcol_receiver_refused_metric_points_total",
            "grafana_http_request_duration_seconds_bucket",
            "http_server_request_duration_seconds_bucket",
            "target_info",
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
            "ALERTS",
            "ALERTS_FOR_STATE",
        ] {
            assert!(c.lookup(name).is_some(), "{name} missing from stack/catalog");
        }
        for s in c.sources() {
            assert!(!s.provenance.is_empty(), "{}", s.file.display());
        }
        assert!(!c.is_empty() && c.len() > 1500, "only {} families", c.len());
    }

    /// Every label that relabelling in the stack's scrape configs writes
    /// (`target_label:`) is a catalogued target label, so the label check
    /// does not flag it.
    #[test]
    fn target_labels_cover_the_stack_relabelling() {
        let c = Catalog::load(&repo_catalog_dir(), &repository_stack(), collector_jobs()).expect("stack/catalog loads");
        let known: BTreeSet<&str> = c.target_labels().collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for rel in [
            "stack/configs/prometheus/prometheus.yml",
            "stack/configs/otel-collector/otelcol.yml",
            "stack/configs/otel-collector/agent.yml",
        ] {
            let Ok(text) = std::fs::read_to_string(root.join(rel)) else { continue };
            for line in text.lines() {
                let line = line.trim_start().trim_start_matches("- ");
                let Some(v) = line.strip_prefix("target_label:") else { continue };
                let v = v.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
                if v.starts_with("__") || v.is_empty() {
                    continue;
                }
                assert!(known.contains(v), "{rel}: relabelling writes `{v}`, not in target_labels of stack/catalog");
            }
        }
    }

    /// The collector's scrape jobs, as `cargo xtask check` reads them.
    fn collector_jobs() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let source = crate::source::Source::load(&root).expect("the repository's source loads");
        crate::check::component_configs::collector_scrape_jobs(&source).expect("otelcol.yml has scrape jobs")
    }

    /// The exporters the collector scrapes are the ones whose counters it
    /// renames.
    #[test]
    fn collector_ingestion_follows_otelcol_scrape_jobs() {
        let jobs = collector_jobs();
        assert!(jobs.contains("node-exporter") && jobs.contains("cadvisor"), "{jobs:?}");
        let c = Catalog::load(&repo_catalog_dir(), &repository_stack(), jobs.clone()).expect("stack/catalog loads");
        let marked: BTreeSet<String> =
            c.sources().iter().filter(|s| s.ingestion == Ingestion::OtelCollector).map(|s| s.source.clone()).collect();
        let catalogued: BTreeSet<String> = c.sources().iter().map(|s| s.source.clone()).collect();
        assert_eq!(marked, jobs.intersection(&catalogued).cloned().collect());
    }

    fn repository_stack() -> StackDefinition {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        crate::source::parse_toml(&root.join(crate::source::DEFINITION_FILE)).expect("stack.toml parses")
    }

    /// The groups cAdvisor is started without are the catalog's disabled
    /// ones: a metric of such a group is reported as disabled, not unknown.
    #[test]
    fn disabled_groups_come_from_the_cadvisor_arguments() {
        let stack = repository_stack();
        let groups = deployment_disabled_groups(&stack);
        assert!(groups["cadvisor"].contains("disk"), "{groups:?}");
        let c = Catalog::load(&repo_catalog_dir(), &stack, collector_jobs()).expect("stack/catalog loads");
        let d = c.disabled("container_fs_usage_bytes").expect("disk metrics are disabled");
        assert_eq!((d.source.as_str(), d.group.as_str()), ("cadvisor", "disk"));
    }

    #[test]
    fn a_catalog_of_another_version_than_the_pin_is_reported_until_accepted() {
        let doc =
            |extra: &str| format!("source = \"node-exporter\"\nversion = \"1.11.1\"\nprovenance = \"p\"\n{extra}");
        let images = BTreeMap::from([(
            "node-exporter".to_owned(),
            ImageRef { repository: "docker.io/prom/node-exporter".into(), tag: "v1.12.1".into() },
        )]);
        let load = |text: &str| {
            let mut c = Catalog::default();
            c.add_file(Path::new("/repo/stack/catalog/node-exporter.toml"), text).expect("loads");
            c
        };
        let found = version_findings(&load(&doc("")), "stack/catalog", &images);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].file, "stack/catalog/node-exporter.toml");
        assert!(found[0].message.contains("1.11.1 is not the pinned image tag v1.12.1"), "{}", found[0]);
        assert!(version_findings(&load(&doc("accepted_pin = \"v1.12.1\"\n")), "stack/catalog", &images).is_empty());
        // Accepted for an older pin: reported again once the pin moves.
        assert_eq!(version_findings(&load(&doc("accepted_pin = \"v1.12.0\"\n")), "stack/catalog", &images).len(), 1);
    }
}
