//! The connection to the Docker engine: `DOCKER_HOST` or the local socket,
//! API version negotiated (the engine here speaks 1.41, bollard defaults to
//! a newer one), and the few reads every command shares.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::models::{LocalNodeState, Service, SwarmInfo, SwarmInitRequest, Task};
use bollard::query_parameters::ListTasksOptions;
use serde::de::DeserializeOwned;

use super::raw::Endpoint;

/// Label on every object the stack owns (as `docker stack deploy` sets it).
pub const NAMESPACE_LABEL: &str = crate::generate::NAMESPACE_LABEL;
/// Label `docker stack deploy` puts on services: the image as written.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";
/// Label a deploy puts on every service it creates: the id of the revision
/// record (journal) that created it. A revert removes a service only when
/// it carries its own journal's id, so a same-named service made by anyone
/// else is never removed. Bookkeeping, not desired state: `compare` ignores it.
pub const CREATED_BY_LABEL: &str = "xtask.created-by";

/// The runtime the Swarm commands run on (I/O bound: one thread).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// A connected, version-negotiated engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    endpoint: Endpoint,
    api_version: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (or the local socket) and negotiates the
    /// API version. The error names the engine and what it said.
    pub async fn connect() -> Result<Engine> {
        Engine::connect_endpoint(Endpoint::from_env()?).await
    }

    /// Connects to `host` (`unix:///…`, `tcp://…`) whatever `DOCKER_HOST`
    /// says (the multi-node benchmark talks to one bed node).
    pub async fn connect_to(host: &str) -> Result<Engine> {
        Engine::connect_endpoint(Endpoint::parse(host)?).await
    }

    async fn connect_endpoint(endpoint: Endpoint) -> Result<Engine> {
        let docker = match &endpoint {
            Endpoint::Unix(p) => {
                Docker::connect_with_unix(&format!("unix://{}", p.display()), 120, bollard::API_DEFAULT_VERSION)
            }
            Endpoint::Tcp(a) => Docker::connect_with_http(&format!("tcp://{a}"), 120, bollard::API_DEFAULT_VERSION),
        }
        .with_context(|| format!("connecting to the Docker engine at {}", endpoint.describe()))?;
        let docker = docker
            .negotiate_version()
            .await
            .with_context(|| format!("the Docker engine at {} does not answer", endpoint.describe()))?;
        let v = docker.client_version();
        let api_version = format!("{}.{}", v.major_version, v.minor_version);
        Ok(Engine { docker, endpoint, api_version })
    }

    /// Whether the engine keeps a health check's `StartInterval` (API 1.44,
    /// Docker 25): older ones drop the field without an error.
    pub fn keeps_start_interval(&self) -> bool {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version) >= (1, 44)
    }

    /// `unix:///var/run/docker.sock (API 1.41)`.
    pub fn describe(&self) -> String {
        format!("{} (API {})", self.endpoint.describe(), self.api_version)
    }

    /// A raw GET, typed after fixing the keys bollard's models misspell.
    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<Option<T>> {
        let mut url = format!("/v{}{path}", self.api_version);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        let (status, body) = self.endpoint.get(&url).await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("GET {path}: engine answered {status}: {message}");
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&body).with_context(|| format!("GET {path}: the engine's answer is not JSON"))?;
        fix_keys(&mut value);
        serde_json::from_value(value).map(Some).with_context(|| format!("GET {path}: unexpected JSON"))
    }

    /// Every service of the stack, with its spec intact and task counts.
    pub async fn stack_services(&self, stack: &str) -> Result<Vec<Service>> {
        let filters = serde_json::json!({ "label": [format!("{NAMESPACE_LABEL}={stack}")] }).to_string();
        let services: Vec<Service> = self
            .get_json("/services", &[("filters", filters), ("status", "true".into())])
            .await
            .context("listing the stack's services")?
            .unwrap_or_default();
        Ok(services)
    }

    /// One service by id or name, spec intact; `None` when it does not exist.
    pub async fn inspect_service(&self, id: &str) -> Result<Option<Service>> {
        self.get_json(&format!("/services/{}", percent_encode(id)), &[]).await
    }

    /// Tasks of the given services (all states); with `up_to_date`, only the
    /// tasks whose spec is the service's current one (the engine's internal
    /// `_up-to-date` filter, as `docker service ps`/`--detach=false` use).
    pub async fn tasks(&self, service_ids: &[String], up_to_date: bool) -> Result<Vec<Task>> {
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        filters.insert("service".into(), service_ids.to_vec());
        if up_to_date {
            filters.insert("_up-to-date".into(), vec!["true".into()]);
        }
        let tasks =
            self.docker.list_tasks(Some(ListTasksOptions { filters: Some(filters) })).await.context("listing tasks")?;
        Ok(tasks)
    }

    /// Fails unless the engine is a manager of an active Swarm; with
    /// `init`, a lone engine is made a single-node Swarm (then `true`).
    pub async fn ensure_manager(&self, init: bool) -> Result<bool> {
        let mut swarm = self.swarm_info().await?;
        // Right after a daemon restart the state takes a moment to settle.
        for _ in 0..20 {
            if swarm.local_node_state != Some(LocalNodeState::PENDING) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            swarm = self.swarm_info().await?;
        }
        match swarm.local_node_state {
            Some(LocalNodeState::ACTIVE) if swarm.control_available == Some(true) => Ok(false),
            Some(LocalNodeState::ACTIVE) => {
                bail!("the engine at {} is a Swarm worker: point DOCKER_HOST at a manager", self.describe())
            }
            Some(LocalNodeState::INACTIVE) if init => {
                let request = SwarmInitRequest {
                    listen_addr: Some("0.0.0.0:2377".into()),
                    advertise_addr: Some("127.0.0.1".into()),
                    ..Default::default()
                };
                self.docker
                    .init_swarm(request)
                    .await
                    .map_err(|e| anyhow::anyhow!("docker swarm init: {}", message_of(&e)))?;
                Ok(true)
            }
            Some(LocalNodeState::INACTIVE) => bail!(
                "the engine at {} is not in a Swarm: deploy with --init to make it a single-node Swarm (or `docker swarm init`)",
                self.describe()
            ),
            other => bail!(
                "the engine's Swarm is {}: {}",
                other.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into()),
                swarm.error.unwrap_or_default()
            ),
        }
    }

    /// The engine's Swarm state.
    pub async fn swarm_info(&self) -> Result<SwarmInfo> {
        let info = self.docker.info().await.context("docker info")?;
        Ok(info.swarm.unwrap_or_default())
    }

    /// Every task of the stack that runs now, with its node and its
    /// addresses per network (read raw: bollard's model drops the task's
    /// `NetworksAttachments`).
    pub async fn running_tasks(&self, stack: &str) -> Result<Vec<RunningTask>> {
        let filters = serde_json::json!({
            "label": [format!("{NAMESPACE_LABEL}={stack}")],
            "desired-state": ["running"],
        })
        .to_string();
        let tasks: Vec<serde_json::Value> = self
            .get_json("/tasks", &[("filters", filters)])
            .await
            .context("listing the stack's tasks")?
            .unwrap_or_default();
        let services = self.stack_services(stack).await?;
        let name_of: HashMap<String, String> = services
            .iter()
            .filter_map(|s| Some((s.id.clone()?, short_name(stack, s.spec.as_ref()?.name.as_deref()?).to_owned())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            if t["Status"]["State"].as_str() != Some("running") {
                continue;
            }
            let Some(service) = t["ServiceID"].as_str().and_then(|id| name_of.get(id)) else { continue };
            let addresses = t["NetworksAttachments"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|a| {
                    let network = a["Network"]["Spec"]["Name"].as_str().unwrap_or_default().to_owned();
                    a["Addresses"].as_array().into_iter().flatten().filter_map(move |ip| {
                        // `10.0.1.5/24`: the address without its prefix length.
                        let ip = ip.as_str()?.split('/').next()?.to_owned();
                        Some((network.clone(), ip))
                    })
                })
                .collect();
            out.push(RunningTask {
                service: service.clone(),
                node_id: t["NodeID"].as_str().unwrap_or_default().to_owned(),
                container_id: t["Status"]["ContainerStatus"]["ContainerID"].as_str().map(str::to_owned),
                addresses,
            });
        }
        Ok(out)
    }
}

/// A running task: its service (short name), node, container and
/// addresses as (network name, IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningTask {
    pub service: String,
    pub node_id: String,
    pub container_id: Option<String>,
    pub addresses: Vec<(String, String)>,
}

impl RunningTask {
    /// Its IP on `network`.
    pub fn ip_on(&self, network: &str) -> Option<&str> {
        self.addresses.iter().find(|(n, _)| n == network).map(|(_, ip)| ip.as_str())
    }
}

/// The engine writes `Healthcheck`; bollard reads `HealthCheck`.
fn fix_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(h) = map.remove("Healthcheck") {
                map.insert("HealthCheck".into(), h);
            }
            map.values_mut().for_each(fix_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fix_keys),
        _ => {}
    }
}

fn percent_encode(s: &str) -> String {
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

/// The HTTP status of an engine error, if it is one.
pub fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own message for an error (no `Docker responded with …` noise).
pub fn message_of(err: &bollard::errors::Error) -> String {
    let message = match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    if lost_quorum(&message) {
        format!(
            "{message} (the Swarm's managers could not commit the write: most likely they have no quorum, \
             and a majority of them must be reachable before anything can be written; bring managers back, \
             then run again)"
        )
    } else {
        message
    }
}

/// The raft errors a manager gives while a majority of managers is gone.
fn lost_quorum(message: &str) -> bool {
    // A raft proposal that cannot commit times out ("context deadline exceeded") when
    // no majority answers.
    [
        "lost leader status",
        "does not have a leader",
        "no elected cluster leader",
        "rpc error: code = Unavailable",
        "context deadline exceeded",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The short service name: `<stack>_<svc>` → `svc`.
pub fn short_name<'a>(stack: &str, full: &'a str) -> &'a str {
    full.strip_prefix(stack).and_then(|r| r.strip_prefix('_')).unwrap_or(full)
}

/// `<stack>_<svc>`.
pub fn full_name(stack: &str, short: &str) -> String {
    format!("{stack}_{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_json_keeps_the_health_check() {
        let mut value: serde_json::Value = serde_json::from_str(include_str!("testdata/engine_service.json")).unwrap();
        fix_keys(&mut value);
        let service: Service = serde_json::from_value(value).unwrap();
        let health = service.spec.unwrap().task_template.unwrap().container_spec.unwrap().health_check.unwrap();
        assert_eq!(health.interval, Some(1_000_000_000));
    }

    #[test]
    fn names() {
        assert_eq!(short_name("mon", "mon_prometheus"), "prometheus");
        assert_eq!(full_name("mon", "grafana"), "mon_grafana");
        assert_eq!(percent_encode("{\"a\":1}"), "%7B%22a%22%3A1%7D");
    }

    #[test]
    fn a_lost_quorum_is_said_in_plain_words() {
        let err = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "raft: failed to process the request: node lost leader status".into(),
        };
        assert!(message_of(&err).contains("no quorum"), "{}", message_of(&err));
        let other = bollard::errors::Error::DockerResponseServerError { status_code: 404, message: "no such".into() };
        assert_eq!(message_of(&other), "no such");
    }
}
