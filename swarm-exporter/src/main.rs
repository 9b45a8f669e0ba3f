//! `swarm-exporter`: Docker Swarm service health for Prometheus.
//!
//! Every scrape of `/metrics` reads the engine `DOCKER_HOST` names (three
//! requests: services with status, tasks, nodes) and exposes tasks running
//! against desired, tasks by node and state, failed and rejected tasks, and
//! update/rollback state per service. `/health` answers 200 when the engine
//! is a reachable Swarm manager and the last scrape worked.
//!
//! The engine's own metrics endpoint has only Swarm-wide totals
//! (`swarm_manager_tasks_total{state}` …, swarmkit
//! `manager/metrics/collector.go`), nothing per service; see the README for
//! why this is not a third-party exporter.

mod engine;
mod metrics;
mod probe;
mod server;
mod snapshot;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version, about = "Prometheus exporter of Docker Swarm service health")]
struct Cli {
    /// Address to serve /metrics and /health on.
    #[arg(long, env = "SWARM_EXPORTER_LISTEN", default_value = "0.0.0.0:9324")]
    listen: SocketAddr,
    /// The engine (a Swarm manager, or a read-only proxy in front of one):
    /// unix:///path or tcp://host:port; the local socket when unset.
    #[arg(long, env = "DOCKER_HOST")]
    docker_host: Option<String>,
    /// Bound on each request to the engine, in seconds.
    #[arg(long, env = "SWARM_EXPORTER_API_TIMEOUT", default_value_t = 10)]
    api_timeout: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exit 0 when a running exporter's /health answers 200, 1 otherwise
    /// (the container health check of an image without a shell).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9324/health")]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url, timeout }) = &cli.command {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
        return runtime.block_on(probe::check(url, Duration::from_secs(*timeout)));
    }
    let engine = engine::Engine::new(cli.docker_host.as_deref(), Duration::from_secs(cli.api_timeout))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("listening on {}", cli.listen))?;
        eprintln!("swarm-exporter: serving /metrics and /health on {}", listener.local_addr()?);
        // SIGTERM is what `docker stop` and Swarm send; as PID 1 without a
        // handler the process would ignore it and be killed 10 s later.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            served = server::serve(listener, engine) => served,
            _ = term.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
