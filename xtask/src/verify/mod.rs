//! Verify: the live stack checked against the code. Every check reads the
//! running services through the Docker API and their own HTTP APIs and
//! reports [`Finding`]s like `check` does, naming the service, node, target
//! or rule:
//!
//! - `targets`: every scrape target the rendered configs expect (one per
//!   replica, one per node for a global service) is scraped and up;
//! - `rules`: Prometheus loaded every rendered rule group, and no rule
//!   fails to evaluate;
//! - `alertmanager`: Alertmanager runs the rendered config;
//! - `metrics`: every metric a dashboard panel or an alert reads has a
//!   series, unless `absent` lists it as absent until an event happens;
//! - `grafana`: data sources healthy, provisioned dashboards and alert
//!   rules present;
//! - `loki`: log lines arrive from every node.
//!
//! The HTTP APIs are reached from inside the stack's overlay network
//! (`inside`), so no admin port must be published. `deploy --verify` runs
//! this as the last step of its health gate.

mod absent;
mod alertmanager;
mod grafana;
pub mod inside;
mod loki;
mod metrics;
mod rules;
mod targets;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::query_parameters::ListNodesOptions;

pub use report::Finding;

use crate::bundle::{self, Bundle};
use crate::cli::VerifyArgs;
use crate::source::Source;
use crate::swarm::engine::{Engine, RunningTask};
use inside::Inside;

/// Rule names of verify's findings, one per check.
pub const RULE_ACCESS: &str = "verify";
pub const RULE_TARGETS: &str = "verify-targets";
pub const RULE_RULES: &str = "verify-rules";
pub const RULE_ALERTMANAGER: &str = "verify-alertmanager";
pub const RULE_METRICS: &str = "verify-metrics";
pub const RULE_GRAFANA: &str = "verify-grafana";
pub const RULE_LOKI: &str = "verify-loki";

/// The stack's services verify talks to, by their name in stack.toml, with
/// the port each listens on unless its arguments say otherwise.
pub const PROMETHEUS: (&str, u16) = ("prometheus", 9090);
pub const ALERTMANAGER: (&str, u16) = ("alertmanager", 9093);
pub const LOKI: (&str, u16) = ("loki", 3100);
pub const GRAFANA: (&str, u16) = ("grafana", 3000);
pub const COLLECTOR: &str = "otel-collector";

/// Seconds between two rounds while findings remain and time is left:
/// a service just started needs a scrape and a rule evaluation first.
const ROUND: Duration = Duration::from_secs(5);

/// `cargo xtask verify`.
pub fn run(root: &Path, args: VerifyArgs) -> Result<ExitCode> {
    let bundle = Bundle::load(&args.target.bundle.clone().unwrap_or_else(|| root.join(bundle::DIR)))?;
    let stack = args.target.stack.clone().unwrap_or_else(|| bundle.stack().to_owned());
    let findings = crate::swarm::engine::runtime()?.block_on(async {
        let engine = Engine::connect().await?;
        engine.ensure_manager(false).await?;
        verify(&engine, root, &bundle, &stack, Duration::from_secs(args.wait)).await
    })?;
    Ok(print(&findings))
}

/// Prints the report (like `check`'s); the exit code.
pub fn print(findings: &[Finding]) -> ExitCode {
    if findings.is_empty() {
        println!("verify: the live stack matches the code");
        return ExitCode::SUCCESS;
    }
    for f in findings {
        eprintln!("{f}");
    }
    eprintln!("verify: {} problem(s)", findings.len());
    ExitCode::FAILURE
}

/// Every check, repeated every few seconds until none finds anything or
/// `wait` has passed; the findings of the last round, sorted.
pub async fn verify(
    engine: &Engine,
    root: &Path,
    bundle: &Bundle,
    stack: &str,
    wait: Duration,
) -> Result<Vec<Finding>> {
    let source = Source::load(root).context("verify reads the stack's source (dashboards, alerts, catalog)")?;
    let deadline = tokio::time::Instant::now() + wait;
    let network = network_of(bundle)?;
    let image = &bundle
        .compose
        .services
        .get(PROMETHEUS.0)
        .with_context(|| format!("the bundle has no `{}` service: verify reads through it", PROMETHEUS.0))?
        .image;
    let inside = Inside::start(engine, stack, &network, image).await?;
    let result = async {
        loop {
            let live = Live::observe(engine, stack, &network, bundle, &inside).await?;
            let mut findings = live.check_all(root, &source).await;
            findings.sort();
            findings.dedup();
            if findings.is_empty() || tokio::time::Instant::now() + ROUND > deadline {
                return anyhow::Ok(findings);
            }
            tokio::time::sleep(ROUND).await;
        }
    }
    .await;
    inside.remove().await;
    result
}

/// Verify as the last step of a deploy's health gate: what it needs to run
/// once every changed service is healthy.
#[derive(Debug, Clone)]
pub struct Gate {
    pub root: std::path::PathBuf,
    pub bundle: std::sync::Arc<Bundle>,
    /// How long it may retry while problems remain.
    pub wait: Duration,
}

impl Gate {
    /// The findings on the live `stack`, retried for at most `wait` (or
    /// until `deadline`, whichever comes first).
    pub async fn check(&self, engine: &Engine, stack: &str, deadline: tokio::time::Instant) -> Result<Vec<Finding>> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        verify(engine, &self.root, &self.bundle, stack, self.wait.min(left)).await
    }
}

/// The stack's network: the one every service joins.
fn network_of(bundle: &Bundle) -> Result<String> {
    let key = bundle
        .compose
        .services
        .values()
        .flat_map(|s| s.networks.first())
        .next()
        .context("no service of the bundle joins a network")?;
    Ok(bundle.compose.networks.get(key).map_or_else(|| key.clone(), |n| n.name.clone()))
}

/// What runs, as one round of checks sees it.
pub struct Live<'a> {
    pub engine: &'a Engine,
    pub network: &'a str,
    pub bundle: &'a Bundle,
    pub inside: &'a Inside,
    pub tasks: Vec<RunningTask>,
    /// Every ready node: id → hostname.
    pub nodes: BTreeMap<String, String>,
}

impl<'a> Live<'a> {
    async fn observe(
        engine: &'a Engine,
        stack: &'a str,
        network: &'a str,
        bundle: &'a Bundle,
        inside: &'a Inside,
    ) -> Result<Live<'a>> {
        let tasks = engine.running_tasks(stack).await?;
        let nodes = engine.docker.list_nodes(None::<ListNodesOptions>).await.context("listing the Swarm's nodes")?;
        let nodes = nodes
            .into_iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY))
            .filter_map(|n| Some((n.id?, n.description?.hostname?)))
            .collect();
        Ok(Live { engine, network, bundle, inside, tasks, nodes })
    }

    async fn check_all(&self, root: &Path, source: &Source) -> Vec<Finding> {
        let mut findings = Vec::new();
        findings.extend(targets::check(self).await);
        findings.extend(rules::check(self).await);
        findings.extend(alertmanager::check(self).await);
        findings.extend(metrics::check(self, root, source).await);
        findings.extend(grafana::check(self).await);
        findings.extend(loki::check(self).await);
        findings
    }

    /// The node's hostname (its id when it is not ready).
    pub fn node_name(&self, id: &str) -> String {
        self.nodes.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// Running tasks of `service`.
    pub fn tasks_of(&self, service: &str) -> impl Iterator<Item = &RunningTask> {
        self.tasks.iter().filter(move |t| t.service == service)
    }

    /// `http://<task IP>:<port>` of a running task of `service` (the
    /// service's listen port: its `--web.listen-address`, else `default`);
    /// `None` when the bundle has no such service; a finding when it has
    /// but nothing runs.
    pub fn base_url(&self, (service, default): (&str, u16)) -> Option<Result<String, Finding>> {
        let svc = self.bundle.compose.services.get(service)?;
        let port = svc
            .command
            .iter()
            .find_map(|a| a.strip_prefix("--web.listen-address=")?.rsplit(':').next()?.parse().ok())
            .unwrap_or(default);
        let ip = self.tasks_of(service).find_map(|t| t.ip_on(self.network).map(str::to_owned));
        Some(ip.map(|ip| format!("http://{ip}:{port}")).ok_or_else(|| {
            self.service_finding(RULE_ACCESS, service, format!("no running task on network `{}`", self.network))
        }))
    }

    /// A finding about a whole service, placed in the bundle's stack file.
    pub fn service_finding(&self, rule: &'static str, service: &str, message: impl Into<String>) -> Finding {
        Finding::new(rule, format!("{}/{}", bundle::DIR, bundle::STACK_FILE), format!("service {service}"), message)
    }

    /// The repository file a config of the bundle was rendered from (its
    /// rendered copy when the lock does not say).
    pub fn config_source(&self, key: &str) -> String {
        self.bundle
            .configs
            .configs
            .iter()
            .find(|c| c.key == key)
            .map_or_else(|| format!("{}/{}/{key}", bundle::DIR, bundle::CONFIGS_DIR), |c| c.source.clone())
    }

    /// The keys and contents of the configs `service` mounts, with the path
    /// each is mounted at.
    pub fn configs_of(&self, service: &str) -> Vec<(String, String, Vec<u8>)> {
        let Some(svc) = self.bundle.compose.services.get(service) else { return Vec::new() };
        svc.configs
            .iter()
            .filter_map(|m| Some((m.source.clone(), m.target.clone(), self.bundle.config_data(&m.source).ok()?)))
            .collect()
    }

    /// GET a JSON API of the stack through the container inside it.
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value> {
        let body = self.inside.get(url).await?;
        serde_json::from_slice(&body).with_context(|| format!("{url}: the answer is not JSON"))
    }

    /// POST a form to a JSON API of the stack.
    pub async fn post_json(&self, url: &str, form: &[(&str, &str)]) -> Result<serde_json::Value> {
        let body = form.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect::<Vec<_>>().join("&");
        let answer = self.inside.post_form(url, &body).await?;
        serde_json::from_slice(&answer).with_context(|| format!("{url}: the answer is not JSON"))
    }
}

/// `application/x-www-form-urlencoded` value encoding.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("up{job=\"a b\"}"), "up%7Bjob%3D%22a%20b%22%7D");
    }
}
