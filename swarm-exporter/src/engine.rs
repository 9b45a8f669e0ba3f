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

/// Connects (lazily: no request is made) to `DOCKER_HOST`, or the local
/// socket when it is unset. `timeout` bounds every request.
pub fn connect(docker_host: Option<&str>, timeout: Duration) -> Result<Docker> {
    let secs = timeout.as_secs().max(1);
    let host = docker_host.filter(|h| !h.is_empty());
    let docker = match host {
        None => Docker::connect_with_unix(DEFAULT_SOCKET, secs, &API_VERSION),
        Some(h) if h.starts_with("unix://") => Docker::connect_with_unix(h, secs, &API_VERSION),
        Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
            Docker::connect_with_http(h, secs, &API_VERSION)
        }
        Some(h) => bail!("DOCKER_HOST={h}: only unix:// and tcp:// (plain HTTP, e.g. a socket proxy) are supported"),
    };
    docker.with_context(|| format!("connecting to the Docker engine at {}", host.unwrap_or(DEFAULT_SOCKET)))
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
pub async fn health(docker: &Docker) -> Result<String> {
    let info = docker.info().await.context("GET /info")?;
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
pub async fn timed_read(docker: &Docker) -> (Result<Snapshot, ReadError>, f64) {
    let start = Instant::now();
    let result = read(docker).await;
    (result, start.elapsed().as_secs_f64())
}
