//! Every scrape target the rendered configs expect is scraped and up.
//!
//! Expected targets come from the scrape jobs of the rendered Prometheus
//! config and, when the stack runs the OTel Collector, of its `prometheus`
//! receiver (whose `up` series reach Prometheus by remote write):
//!
//! - a static target `<service>:<port>` (or the scraper's own `localhost`)
//!   is one target, instance `<service>:<port>`;
//! - `dns_sd_configs` of `tasks.<service>` is one target per task: one per
//!   replica, one per node for a global service; instance `<task IP>:<port>`;
//! - a probe job (the multi-target pattern: relabelling sets `__address__`
//!   to an exporter of the stack and `instance` to the `target` parameter,
//!   as the collector's `postgres-tables` job does) is one target per
//!   static target, behind the exporter's service, instance the target;
//! - in the config of a *global* collector (the per-node agents), a static
//!   target on the engine's host gateway (`host.docker.internal:<port>`) is
//!   that node's host-network service (named by the job's `swarm_service`
//!   relabel): one target per node, instance the node's hostname when the
//!   job relabels `instance` to `${env:NODE_HOSTNAME}` (agent.yml does; a
//!   job that names its instance otherwise cannot be predicted and is
//!   skipped).
//!
//! A target that is missing or down is named with its job, service, node
//! and address; a job that has fewer tasks than the stack asks for names the
//! nodes without one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{COLLECTOR, Finding, Live, PROMETHEUS, RULE_TARGETS};

/// One scrape job's expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    name: String,
    /// The repository file the job is written in.
    file: String,
    kind: Discovery,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Discovery {
    /// Static targets, each `(service, instance)`.
    Static(Vec<(String, String)>),
    /// `tasks.<service>` on `port`.
    Tasks { service: String, port: u16 },
    /// A host-network `service` scraped on every node by that node's agent,
    /// instance = the node's hostname.
    PerNode { service: String },
}

/// The host gateway name a Swarm task reaches its own node by (an
/// `extra_hosts` entry `host.docker.internal:host-gateway`).
const HOST_GATEWAY: &str = "host.docker.internal";
/// The agents' environment variable holding `{{.Node.Hostname}}`.
const NODE_HOSTNAME: &str = "${env:NODE_HOSTNAME}";

pub async fn check(live: &Live<'_>) -> Vec<Finding> {
    let Some(url) = live.base_url(PROMETHEUS) else { return Vec::new() };
    let url = match url {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    let jobs = match expected_jobs(live) {
        Ok(jobs) => jobs,
        Err(f) => return vec![f],
    };
    let up = match live.post_json(&format!("{url}/api/v1/query"), &[("query", "up")]).await {
        Ok(v) => v,
        Err(e) => return vec![live.service_finding(RULE_TARGETS, PROMETHEUS.0, format!("querying `up`: {e:#}"))],
    };
    // job → instance → value
    let mut seen: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for series in up["data"]["result"].as_array().into_iter().flatten() {
        let (Some(job), Some(instance)) = (series["metric"]["job"].as_str(), series["metric"]["instance"].as_str())
        else {
            continue;
        };
        let value = series["value"][1].as_str().unwrap_or_default().to_owned();
        seen.entry(job.to_owned()).or_default().insert(instance.to_owned(), value);
    }
    let mut findings = Vec::new();
    for job in &jobs {
        let scraped = seen.get(&job.name).cloned().unwrap_or_default();
        findings.extend(check_job(live, job, &scraped));
    }
    findings
}

fn check_job(live: &Live<'_>, job: &Job, scraped: &BTreeMap<String, String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let finding = |service: &str, node: Option<&str>, target: &str, message: String| {
        let node = node.map(|n| format!(", node {n}")).unwrap_or_default();
        Finding::new(
            RULE_TARGETS,
            &job.file,
            format!("job {}, service {service}{node}, target {target}", job.name),
            message,
        )
    };
    match &job.kind {
        Discovery::Static(targets) => {
            for (service, instance) in targets {
                // A service address answers while any task runs, and `up`
                // lags a scrape interval behind: a replicated service with
                // fewer running tasks than it asks for is a missing target
                // now, whatever `up` still says.
                if let Some(svc) = live.bundle.compose.services.get(service)
                    && svc.deploy.mode != "global"
                {
                    let want = svc.deploy.replicas.unwrap_or(1) as usize;
                    let running = live.tasks_of(service).count();
                    if running < want {
                        findings.push(finding(
                            service,
                            None,
                            instance,
                            format!("{running} of {want} expected tasks run behind this target"),
                        ));
                        continue;
                    }
                }
                match scraped.get(instance).map(String::as_str) {
                    Some("1") => {}
                    Some(_) => findings.push(finding(service, None, instance, "the target is down (up == 0)".into())),
                    None => findings.push(finding(
                        service,
                        None,
                        instance,
                        "the target is not scraped (no `up` series)".into(),
                    )),
                }
            }
        }
        Discovery::Tasks { service, port } => {
            let Some(svc) = live.bundle.compose.services.get(service) else { return findings };
            let dns_target = format!("tasks.{service}:{port}");
            let tasks: Vec<_> = live.tasks_of(service).collect();
            let mut expected_instances = BTreeSet::new();
            for t in &tasks {
                let node = live.node_name(&t.node_id);
                let Some(ip) = t.ip_on(live.network) else {
                    findings.push(finding(
                        service,
                        Some(&node),
                        "?",
                        format!("the task has no address on `{}`", live.network),
                    ));
                    continue;
                };
                let instance = format!("{ip}:{port}");
                match scraped.get(&instance).map(String::as_str) {
                    Some("1") => {}
                    Some(_) => {
                        findings.push(finding(service, Some(&node), &instance, "the target is down (up == 0)".into()))
                    }
                    None => findings.push(finding(
                        service,
                        Some(&node),
                        &instance,
                        "the target is not scraped (no `up` series)".into(),
                    )),
                }
                expected_instances.insert(instance);
            }
            // Targets left from tasks that no longer run, still failing.
            for (instance, value) in scraped {
                if value != "1" && !expected_instances.contains(instance) {
                    findings.push(finding(
                        service,
                        None,
                        instance,
                        "a target of no running task is down (up == 0)".into(),
                    ));
                }
            }
            if svc.deploy.mode == "global" {
                let with_task: BTreeSet<&str> = tasks.iter().map(|t| t.node_id.as_str()).collect();
                for (id, host) in &live.nodes {
                    if !with_task.contains(id.as_str()) && eligible(svc, id, live) {
                        findings.push(finding(
                            service,
                            Some(host),
                            &dns_target,
                            "no target: the global service has no running task on this node".into(),
                        ));
                    }
                }
            } else {
                let want = svc.deploy.replicas.unwrap_or(1) as usize;
                if tasks.len() < want {
                    findings.push(finding(
                        service,
                        None,
                        &dns_target,
                        format!(
                            "{} of {want} expected targets: the service has {} running task(s)",
                            tasks.len(),
                            tasks.len()
                        ),
                    ));
                }
            }
        }
        Discovery::PerNode { service } => {
            let Some(svc) = live.bundle.compose.services.get(service) else { return findings };
            for (id, host) in &live.nodes {
                if !eligible(svc, id, live) {
                    continue;
                }
                let target = format!("{HOST_GATEWAY} on {host}");
                match scraped.get(host).map(String::as_str) {
                    Some("1") => {}
                    Some(_) => findings.push(finding(service, Some(host), &target, "the target is down (up == 0)".into())),
                    None => findings.push(finding(
                        service,
                        Some(host),
                        &target,
                        "the target is not scraped (no `up` series with this node's name: is the node's agent running?)"
                            .into(),
                    )),
                }
            }
        }
    }
    findings
}

/// Whether a global service is meant to run on node `id`: nodes outside its
/// placement constraints are not; the engine has already evaluated them, so
/// a service with constraints counts only the nodes it ever placed a task on.
fn eligible(svc: &crate::bundle::compose::Service, id: &str, live: &Live<'_>) -> bool {
    let constrained = svc.deploy.placement.as_ref().is_some_and(|p| !p.constraints.is_empty());
    !constrained || live.tasks.iter().any(|t| t.node_id == id)
}

/// The scrape jobs of the rendered Prometheus config and, when the stack
/// runs the collector, of the collector's `prometheus` receivers.
fn expected_jobs(live: &Live<'_>) -> Result<Vec<Job>, Finding> {
    let mut jobs = Vec::new();
    let config_path = live
        .bundle
        .compose
        .services
        .get(PROMETHEUS.0)
        .and_then(|s| s.command.iter().find_map(|a| a.strip_prefix("--config.file=")).map(str::to_owned))
        .unwrap_or_else(|| "/etc/prometheus/prometheus.yml".to_owned());
    for (key, target, data) in live.configs_of(PROMETHEUS.0) {
        if target != config_path {
            continue;
        }
        let file = live.config_source(&key);
        let doc = parse(&file, &data)?;
        jobs.extend(jobs_of(live, &file, PROMETHEUS.0, &doc["scrape_configs"]));
    }
    for scraper in collectors(live) {
        let per_node = live.bundle.compose.services.get(scraper).is_some_and(|s| s.deploy.mode == "global");
        for (key, _, data) in live.configs_of(scraper) {
            let file = live.config_source(&key);
            let Ok(doc) = parse(&file, &data) else { continue };
            for (name, receiver) in doc["receivers"].as_object().into_iter().flatten() {
                if name == "prometheus" || name.starts_with("prometheus/") {
                    let scrape_configs = &receiver["config"]["scrape_configs"];
                    jobs.extend(jobs_of(live, &file, scraper, scrape_configs));
                    if per_node {
                        jobs.extend(per_node_jobs(&live.bundle.compose.services, &file, scrape_configs));
                    }
                }
            }
        }
    }
    Ok(jobs)
}

/// The services that run the collector's image: the stack-wide collector
/// and the per-node agents.
fn collectors<'l>(live: &'l Live<'_>) -> Vec<&'l str> {
    let services = &live.bundle.compose.services;
    let Some(image) = services.get(COLLECTOR).map(|s| s.image.as_str()) else { return Vec::new() };
    services.iter().filter(|(_, s)| s.image == image).map(|(name, _)| name.as_str()).collect()
}

/// Jobs of an agent's config that scrape its own node's host-network
/// service through the host gateway, relabelled to the node's hostname.
fn per_node_jobs(
    services: &BTreeMap<String, crate::bundle::compose::Service>,
    file: &str,
    scrape_configs: &Value,
) -> Vec<Job> {
    let mut out = Vec::new();
    for sc in scrape_configs.as_array().into_iter().flatten() {
        let Some(name) = sc["job_name"].as_str() else { continue };
        let on_gateway = sc["static_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["targets"].as_array().into_iter().flatten().filter_map(Value::as_str))
            .any(|t| t.rsplit_once(':').is_some_and(|(h, _)| h == HOST_GATEWAY));
        let relabel = |label: &str| {
            sc["relabel_configs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["target_label"].as_str() == Some(label))
                .and_then(|r| r["replacement"].as_str())
        };
        let service = relabel("swarm_service").unwrap_or(name);
        if on_gateway && relabel("instance") == Some(NODE_HOSTNAME) && services.contains_key(service) {
            out.push(Job {
                name: name.to_owned(),
                file: file.to_owned(),
                kind: Discovery::PerNode { service: service.to_owned() },
            });
        }
    }
    out
}

/// Whether a probe job names each target's series by the target
/// (`__param_target` copied to `instance`).
fn instance_is_target(sc: &Value) -> bool {
    sc["relabel_configs"].as_array().into_iter().flatten().any(|r| {
        r["target_label"].as_str() == Some("instance")
            && r["source_labels"].as_array().is_some_and(|l| l.len() == 1 && l[0].as_str() == Some("__param_target"))
    })
}

fn parse(file: &str, data: &[u8]) -> Result<Value, Finding> {
    let text = String::from_utf8_lossy(data);
    serde_saphyr::from_str(&text).map_err(|e| Finding::new(RULE_TARGETS, file, "", format!("cannot parse it: {e}")))
}

/// The jobs of one `scrape_configs` list whose targets are the stack's
/// services (`scraper` is the service the config belongs to: its
/// `localhost`); targets outside the stack are not the stack's to verify.
fn jobs_of(live: &Live<'_>, file: &str, scraper: &str, scrape_configs: &Value) -> Vec<Job> {
    jobs_of_services(&live.bundle.compose.services, file, scraper, scrape_configs)
}

fn jobs_of_services(
    services: &BTreeMap<String, crate::bundle::compose::Service>,
    file: &str,
    scraper: &str,
    scrape_configs: &Value,
) -> Vec<Job> {
    let mut out = Vec::new();
    for sc in scrape_configs.as_array().into_iter().flatten() {
        let Some(name) = sc["job_name"].as_str() else { continue };
        let mut statics = Vec::new();
        if let Some(exporter) = crate::check::component_configs::relabelled_address(sc) {
            let host = exporter.rsplit_once(':').map_or(exporter, |(h, _)| h);
            if services.contains_key(host) && instance_is_target(sc) {
                for sc_static in sc["static_configs"].as_array().into_iter().flatten() {
                    for t in sc_static["targets"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        statics.push((host.to_owned(), t.to_owned()));
                    }
                }
            }
            // Otherwise the scraped address or the instance cannot be
            // predicted from the targets.
            if !statics.is_empty() {
                out.push(Job { name: name.to_owned(), file: file.to_owned(), kind: Discovery::Static(statics) });
            }
            continue;
        }
        for sc_static in sc["static_configs"].as_array().into_iter().flatten() {
            for t in sc_static["targets"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let host = t.rsplit_once(':').map_or(t, |(h, _)| h);
                let service = if host == "localhost" || host == "127.0.0.1" { scraper } else { host };
                if services.contains_key(service) {
                    statics.push((service.to_owned(), t.to_owned()));
                }
            }
        }
        if !statics.is_empty() {
            out.push(Job { name: name.to_owned(), file: file.to_owned(), kind: Discovery::Static(statics) });
        }
        for dns in sc["dns_sd_configs"].as_array().into_iter().flatten() {
            let Some(port) = dns["port"].as_u64().and_then(|p| u16::try_from(p).ok()) else { continue };
            for n in dns["names"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Some(service) = n.strip_prefix("tasks.")
                    && services.contains_key(service)
                {
                    out.push(Job {
                        name: name.to_owned(),
                        file: file.to_owned(),
                        kind: Discovery::Tasks { service: service.to_owned(), port },
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The collector's probe job makes verify expect one target per
    /// platform database behind postgres-exporter, named by the database.
    #[test]
    fn the_probe_job_is_expected_once_per_database() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bundle = crate::bundle::Bundle::load(&root.join(crate::bundle::DIR)).unwrap();
        let file = "stack/configs/otel-collector/otelcol.yml";
        let doc = parse(file, &std::fs::read(root.join(file)).unwrap()).unwrap();
        let jobs = jobs_of_services(
            &bundle.compose.services,
            file,
            "otel-collector",
            &doc["receivers"]["prometheus"]["config"]["scrape_configs"],
        );
        let probe = jobs.iter().find(|j| j.name == "postgres-tables").expect("the probe job");
        let exporter = "postgres-exporter".to_owned();
        assert_eq!(
            probe.kind,
            Discovery::Static(vec![
                (exporter.clone(), "postgres:5432/etl".into()),
                (exporter, "postgres:5432/keycloak".into())
            ])
        );
    }

    /// The repository's agent config makes verify expect node-exporter on
    /// every node, named by the node's hostname.
    #[test]
    fn the_agents_node_exporter_job_is_expected_once_per_node() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bundle = crate::bundle::Bundle::load(&root.join(crate::bundle::DIR)).unwrap();
        let file = "stack/configs/otel-collector/agent.yml";
        let doc = parse(file, &std::fs::read(root.join(file)).unwrap()).unwrap();
        let jobs =
            per_node_jobs(&bundle.compose.services, file, &doc["receivers"]["prometheus"]["config"]["scrape_configs"]);
        assert_eq!(
            jobs,
            vec![Job {
                name: "node-exporter".into(),
                file: file.into(),
                kind: Discovery::PerNode { service: "node-exporter".into() }
            }]
        );
        // A job whose instance is not the node's name cannot be predicted.
        let renamed = serde_json::json!([{
            "job_name": "node-exporter",
            "static_configs": [{"targets": ["host.docker.internal:9100"]}],
            "relabel_configs": [{"target_label": "instance", "replacement": "somewhere"}],
        }]);
        assert!(per_node_jobs(&bundle.compose.services, file, &renamed).is_empty());
    }
}
