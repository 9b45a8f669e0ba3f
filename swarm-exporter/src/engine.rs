//! The Docker engine: where `DOCKER_HOST` points (a manager, or a read-only
//! proxy in front of one), and the reads a scrape makes.
//!
//! The API version is fixed, not negotiated: negotiation calls `GET
//! /version`, which a proxy allowing only `/services`, `/tasks`, `/nodes`
//! and `/info` refuses. 1.41 (Docker 20.10) is the oldest version with
//! `ServiceStatus`, and newer engines serve it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::query_parameters::{ListNodesOptions, ListServicesOptions, ListTasksOptions};
use bollard::{ClientVersion, Docker};

use crate::metrics::Endpoint;
use crate::snapshot::Snapshot;

const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// The engine `DOCKER_HOST` names (the local socket when unset), connected
/// on first use and again after a failed connect. Swarm starts a stack's
/// services together, so the Docker API proxy's socket may not exist yet
/// when the exporter starts (bollard refuses a unix socket that does not
/// exist): the exporter then serves `swarm_exporter_engine_up 0` and a 503
/// on `/health` until it does, instead of exiting. `timeout` bounds every
/// request.
#[derive(Debug)]
pub struct Engine {
    host: String,
    unix: bool,
    secs: u64,
    client: std::sync::Mutex<Option<Docker>>,
}

impl Engine {
    /// Refuses a `DOCKER_HOST` scheme it cannot speak (a configuration
    /// error, better said at start); makes no connection.
    pub fn new(docker_host: Option<&str>, timeout: Duration) -> Result<Engine> {
        let host = docker_host.filter(|h| !h.is_empty()).unwrap_or(DEFAULT_SOCKET).to_owned();
        let unix = host.starts_with("unix://");
        if !unix && !host.starts_with("tcp://") && !host.starts_with("http://") {
            bail!("DOCKER_HOST={host}: only unix:// and tcp:// (plain HTTP, e.g. a socket proxy) are supported");
        }
        Ok(Engine { host, unix, secs: timeout.as_secs().max(1), client: std::sync::Mutex::new(None) })
    }

    /// The client, connecting first if there is none yet.
    pub fn client(&self) -> Result<Docker> {
        let mut slot = self.client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(docker) = slot.as_ref() {
            return Ok(docker.clone());
        }
        let docker = if self.unix {
            Docker::connect_with_unix(&self.host, self.secs, &API_VERSION)
        } else {
            Docker::connect_with_http(&self.host, self.secs, &API_VERSION)
        }
        .with_context(|| format!("connecting to the Docker engine at {}", self.host))?;
        *slot = Some(docker.clone());
        Ok(docker)
    }
}

/// A failed reading: which endpoint, and what went wrong.
#[derive(Debug)]
pub struct ReadError {
    pub endpoint: Endpoint,
    pub error: anyhow::Error,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GET {}: {:#}", self.endpoint.as_str(), self.error)
    }
}

/// Reads the Swarm with exactly three requests, whatever its size:
/// services with their status, all tasks, all nodes.
pub async fn read(docker: &Docker) -> Result<Snapshot, ReadError> {
    let services = docker
        .list_services(Some(ListServicesOptions { status: Some(true), ..Default::default() }))
        .await
        .map_err(|e| ReadError { endpoint: Endpoint::Services, error: e.into() })?;
    let tasks = docker
        .list_tasks(None::<ListTasksOptions>)
        .await
        .map_err(|e| ReadError { endpoint: Endpoint::Tasks, error: e.into() })?;
    let nodes = docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .map_err(|e| ReadError { endpoint: Endpoint::Nodes, error: e.into() })?;
    Snapshot::build(&services, &tasks, &nodes).map_err(|e| ReadError { endpoint: Endpoint::Services, error: e.into() })
}

/// Whether the engine answers and can serve the Swarm's state: it must be a
/// manager with the control plane available (`GET /info`).
pub async fn health(engine: &Engine) -> Result<String> {
    let info = engine.client()?.info().await.context("GET /info")?;
    let swarm = info.swarm.context("GET /info returned no Swarm section")?;
    if swarm.control_available != Some(true) {
        bail!(
            "the engine is not a Swarm manager (local node state {}): point DOCKER_HOST at a manager",
            swarm.local_node_state.map_or_else(|| "unknown".to_string(), |s| s.to_string())
        );
    }
    Ok(format!("engine {} is a reachable Swarm manager", info.name.unwrap_or_default()))
}

/// Runs [`read`] and times it.
pub async fn timed_read(engine: &Engine) -> (Result<Snapshot, ReadError>, f64) {
    let start = Instant::now();
    let result = match engine.client() {
        // Not connected: the first read of a scrape is the one that failed.
        Err(error) => Err(ReadError { endpoint: Endpoint::Services, error }),
        Ok(docker) => read(&docker).await,
    };
    (result, start.elapsed().as_secs_f64())
}
