//! The metric families and what each reading of the Swarm sets in them.
//!
//! Gauges describe the last reading only: they are cleared and set again on
//! every scrape, so a removed service or an emptied node disappears at once
//! instead of lingering with its last value. The failure counter is the one
//! thing kept across scrapes.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::snapshot::{ServiceKey, Snapshot, UpdateState};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReplicaLabels {
    stack: String,
    service: String,
    mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TaskLabels {
    stack: String,
    service: String,
    node: String,
    state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpdateLabels {
    stack: String,
    service: String,
    state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

/// The engine endpoints a scrape reads, as the error counter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Services,
    Tasks,
    Nodes,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Services => "/services",
            Endpoint::Tasks => "/tasks",
            Endpoint::Nodes => "/nodes",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    desired: Family<ReplicaLabels, Gauge>,
    running: Family<ReplicaLabels, Gauge>,
    tasks: Family<TaskLabels, Gauge>,
    failures: Family<TaskLabels, Counter>,
    update: Family<UpdateLabels, Gauge>,
    engine_up: Gauge,
    engine_errors: Family<EndpointLabels, Counter>,
    read_seconds: Gauge<f64, AtomicU64>,
    /// Ids of the failed/rejected tasks the last reading listed, so each is
    /// counted once; `None` before the first reading.
    seen_failures: Option<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let desired = Family::<ReplicaLabels, Gauge>::default();
        let running = Family::<ReplicaLabels, Gauge>::default();
        let tasks = Family::<TaskLabels, Gauge>::default();
        let failures = Family::<TaskLabels, Counter>::default();
        let update = Family::<UpdateLabels, Gauge>::default();
        let engine_up = Gauge::default();
        let engine_errors = Family::<EndpointLabels, Counter>::default();
        let read_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "swarm_service_replicas_desired",
            "Tasks the service should run, as the engine counts them: the replicas of a replicated service, one per eligible node for a global one (jobs are left out)",
            desired.clone(),
        );
        registry.register(
            "swarm_service_replicas_running",
            "Tasks of the service that Swarm wants running and that are running (jobs are left out)",
            running.clone(),
        );
        registry.register(
            "swarm_service_tasks",
            "Tasks Swarm wants running (or ready, waiting out a restart delay), by node (empty while unassigned) and current state (pending, ready, preparing, starting, running, ...)",
            tasks.clone(),
        );
        registry.register(
            "swarm_service_task_failures",
            "Tasks of a service (jobs aside) seen ending on their own since the exporter started, by node: failed (exited non-zero or unhealthy), rejected (the node could not start them) or complete (exited 0, so Swarm restarts them)",
            failures.clone(),
        );
        registry.register(
            "swarm_service_update_state",
            "1 for the service's current update state (none, updating, paused, completed, rollback_started, rollback_paused, rollback_completed), 0 for the others",
            update.clone(),
        );
        registry.register(
            "swarm_exporter_engine_up",
            "1 when the last reading of the engine's services, tasks and nodes succeeded, 0 when it failed (the swarm_service_* gauges are then absent)",
            engine_up.clone(),
        );
        registry.register(
            "swarm_exporter_engine_errors",
            "Failed reads of the Docker engine API, by endpoint",
            engine_errors.clone(),
        );
        registry.register(
            "swarm_exporter_engine_read_duration_seconds",
            "How long the last reading of the engine took",
            read_seconds.clone(),
        );
        Metrics {
            registry,
            desired,
            running,
            tasks,
            failures,
            update,
            engine_up,
            engine_errors,
            read_seconds,
            seen_failures: None,
        }
    }

    /// Sets every gauge from a reading and counts the failures it shows for
    /// the first time.
    pub fn observe(&mut self, snap: &Snapshot, seconds: f64) {
        self.clear_gauges();
        for s in &snap.services {
            let ServiceKey { stack, service } = &s.key;
            for state in UpdateState::ALL {
                let labels =
                    UpdateLabels { stack: stack.clone(), service: service.clone(), state: state.as_str().into() };
                self.update.get_or_create(&labels).set(i64::from(state == s.update));
            }
            if s.mode.is_job() {
                continue;
            }
            let labels = ReplicaLabels { stack: stack.clone(), service: service.clone(), mode: s.mode.as_str().into() };
            self.desired.get_or_create(&labels).set(saturating_i64(s.desired));
            self.running.get_or_create(&labels).set(saturating_i64(s.running));
        }
        for (group, n) in &snap.tasks {
            let labels = TaskLabels {
                stack: group.key.stack.clone(),
                service: group.key.service.clone(),
                node: group.node.clone(),
                state: group.state.clone(),
            };
            self.tasks.get_or_create(&labels).set(saturating_i64(*n));
        }
        let listed: HashSet<String> = snap.failures.iter().map(|f| f.task_id.clone()).collect();
        // The first reading only learns what is already there: failures from
        // before the exporter started are not "seen" by it, and counting them
        // would make every restart of the exporter look like a burst.
        if let Some(seen) = &self.seen_failures {
            for f in snap.failures.iter().filter(|f| !seen.contains(&f.task_id)) {
                let labels = TaskLabels {
                    stack: f.key.stack.clone(),
                    service: f.key.service.clone(),
                    node: f.node.clone(),
                    state: f.state.as_str().into(),
                };
                // A series is born at 1 with its first failure, which
                // `increase()` cannot see; a restart loop fails again and
                // again, so the loss is one failure per service and node.
                self.failures.get_or_create(&labels).inc();
            }
        }
        // Only the ids still listed are kept: the engine prunes old tasks
        // (task history retention), so the set stays as small as its list.
        self.seen_failures = Some(listed);
        self.engine_up.set(1);
        self.read_seconds.set(seconds);
    }

    /// A reading that failed: the service gauges go away (rather than
    /// showing the last good values as if current) and the error is counted.
    pub fn observe_error(&mut self, endpoint: Endpoint, seconds: f64) {
        self.clear_gauges();
        self.engine_errors.get_or_create(&EndpointLabels { endpoint: endpoint.as_str().into() }).inc();
        self.engine_up.set(0);
        self.read_seconds.set(seconds);
    }

    fn clear_gauges(&self) {
        self.desired.clear();
        self.running.clear();
        self.tasks.clear();
        self.update.clear();
    }

    /// The OpenMetrics text of every family.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::snapshot::tests::{node, service, task};
    use bollard::models::TaskState;

    fn sample(text: &str, line_start: &str) -> Option<String> {
        text.lines().find(|l| l.starts_with(line_start)).map(str::to_string)
    }

    #[test]
    fn failures_count_once_and_not_before_the_first_reading() {
        let mut m = Metrics::new();
        let services = [service("s1", "etl_api", false, 1, None)];
        let nodes = [node("n1", "host-a")];
        let old = task("t1", "s1", Some("n1"), TaskState::FAILED, TaskState::SHUTDOWN);
        m.observe(&Snapshot::build(&services, std::slice::from_ref(&old), &nodes).unwrap(), 0.1);
        let text = m.encode().unwrap();
        assert!(!text.contains(r#"node="host-a",state="failed"}"#), "{text}");

        let new = task("t2", "s1", Some("n1"), TaskState::FAILED, TaskState::SHUTDOWN);
        for _ in 0..2 {
            m.observe(&Snapshot::build(&services, &[old.clone(), new.clone()], &nodes).unwrap(), 0.1);
        }
        let text = m.encode().unwrap();
        let line = sample(
            &text,
            r#"swarm_service_task_failures_total{stack="etl",service="etl_api",node="host-a",state="failed"}"#,
        )
        .unwrap();
        assert!(line.ends_with(" 1"), "{line}");
    }

    #[test]
    fn an_engine_error_removes_the_service_gauges() {
        let mut m = Metrics::new();
        let services = [service("s1", "etl_api", false, 2, Some("completed"))];
        m.observe(&Snapshot::build(&services, &[], &[]).unwrap(), 0.1);
        let text = m.encode().unwrap();
        assert!(text.contains(r#"swarm_service_replicas_desired{stack="etl",service="etl_api",mode="replicated"} 2"#));
        assert!(text.contains(r#"swarm_service_update_state{stack="etl",service="etl_api",state="completed"} 1"#));
        assert!(text.contains("swarm_exporter_engine_up 1"));

        m.observe_error(Endpoint::Tasks, 0.2);
        let text = m.encode().unwrap();
        assert!(!text.contains("swarm_service_replicas_desired{"), "{text}");
        assert!(text.contains("swarm_exporter_engine_up 0"));
        assert!(text.contains(r#"swarm_exporter_engine_errors_total{endpoint="/tasks"} 1"#));
    }
}

#[cfg(test)]
mod catalog {
    #![allow(clippy::unwrap_used)]

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use bollard::models::TaskState;
    use serde::Deserialize;

    use super::*;
    use crate::snapshot::tests::{node, service, task};

    /// The part of a `stack/catalog/*.toml` file this test compares.
    #[derive(Debug, Deserialize)]
    struct CatalogFile {
        source: String,
        version: String,
        metrics: BTreeMap<String, CatalogMetric>,
    }

    #[derive(Debug, Deserialize, PartialEq, Eq)]
    struct CatalogMetric {
        #[serde(rename = "type")]
        kind: String,
        help: String,
        labels: BTreeSet<String>,
    }

    /// Every family of the exposition, by the name Prometheus stores its
    /// samples under (a counter family `x` is sampled as `x_total`).
    fn exposed(text: &str) -> BTreeMap<String, CatalogMetric> {
        let mut help: BTreeMap<String, String> = BTreeMap::new();
        let mut kinds: BTreeMap<String, String> = BTreeMap::new();
        let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, h) = rest.split_once(' ').unwrap();
                help.insert(name.into(), h.into());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, k) = rest.split_once(' ').unwrap();
                kinds.insert(name.into(), k.into());
            } else if !line.starts_with('#') && !line.is_empty() {
                let name_end = line.find(['{', ' ']).unwrap();
                let names = labels.entry(line[..name_end].to_string()).or_default();
                if let Some(set) = line[name_end..].strip_prefix('{') {
                    let set = &set[..set.find('}').unwrap()];
                    names.extend(set.split("\",").map(|pair| pair.split_once('=').unwrap().0.to_string()));
                }
            }
        }
        kinds
            .into_iter()
            .map(|(family, kind)| {
                let stored = if kind == "counter" { format!("{family}_total") } else { family.clone() };
                let metric = CatalogMetric {
                    kind,
                    help: help.remove(&family).unwrap(),
                    labels: labels.remove(&stored).unwrap_or_else(|| panic!("no sample of {stored}")),
                };
                (stored, metric)
            })
            .collect()
    }

    #[test]
    fn the_catalog_is_what_the_exporter_exposes() {
        let mut m = Metrics::new();
        // A failed reading (the error counter), then two good ones whose
        // second sees a new failure: every family has a sample.
        m.observe_error(Endpoint::Nodes, 0.1);
        let services = [service("s1", "etl_api", false, 2, Some("rollback_completed"))];
        let nodes = [node("n1", "host-a")];
        let running = task("t1", "s1", Some("n1"), TaskState::RUNNING, TaskState::RUNNING);
        m.observe(&Snapshot::build(&services, std::slice::from_ref(&running), &nodes).unwrap(), 0.1);
        let failed = task("t2", "s1", Some("n1"), TaskState::REJECTED, TaskState::SHUTDOWN);
        m.observe(&Snapshot::build(&services, &[running, failed], &nodes).unwrap(), 0.1);

        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/catalog/swarm-exporter.toml");
        let file: CatalogFile = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(file.source, "swarm-exporter");
        assert_eq!(file.version, env!("CARGO_PKG_VERSION"), "the catalog's version is the crate's");
        assert_eq!(file.metrics, exposed(&m.encode().unwrap()), "{} differs from /metrics", path.display());
    }
}
