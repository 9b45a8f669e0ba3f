//! The way in: a short-lived container on the stack's overlay network, from
//! the image the stack's Prometheus runs (busybox `wget` is in it, so nothing
//! new is pulled or trusted), through which verify reads the services' HTTP
//! APIs. Nothing needs a published port: the admin ports can stay closed.
//!
//! The container idles for at most [`LIFETIME`] and is removed by the
//! engine when it ends (`auto_remove`), so a verify that is killed leaves
//! nothing behind for long; a normal run removes it at once.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, CreateImageOptions, RemoveContainerOptions};
use futures_util::StreamExt;

use crate::swarm::engine::{Engine, message_of, status_of};

/// Longest life of the container, should this process die before removing it.
const LIFETIME_SECS: u32 = 600;
/// Per request; a service that does not answer within it is a finding.
const TIMEOUT_SECS: u64 = 15;
/// The label that marks the container as verify's (and whose stack).
pub const LABEL: &str = "xtask.verify";

/// The running container; [`Inside::remove`] ends it.
pub struct Inside {
    engine: Engine,
    id: String,
}

impl Inside {
    /// Starts the container from `image` on `network` (which must be
    /// attachable), pulling the image first when this node lacks it.
    pub async fn start(engine: &Engine, stack: &str, network: &str, image: &str) -> Result<Inside> {
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            // Both the upstream image (busybox) and the test images have
            // /bin/busybox (the test images link only sh and wget to it).
            entrypoint: Some(vec!["/bin/busybox".into(), "sleep".into(), LIFETIME_SECS.to_string()]),
            cmd: Some(vec![]),
            labels: Some(HashMap::from([(LABEL.to_owned(), stack.to_owned())])),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_owned()),
                auto_remove: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let create = || engine.docker.create_container(None::<CreateContainerOptions>, body.clone());
        let created = match create().await {
            Ok(c) => c,
            Err(e) if status_of(&e) == Some(404) => {
                pull(engine, image).await?;
                create().await.map_err(|e| anyhow::anyhow!("creating the verify container: {}", message_of(&e)))?
            }
            Err(e) => bail!("creating the verify container from {image} on network {network}: {}", message_of(&e)),
        };
        let inside = Inside { engine: engine.clone(), id: created.id };
        if let Err(e) = engine.docker.start_container(&inside.id, None).await {
            inside.remove().await;
            bail!("starting the verify container on network {network} (is it attachable?): {}", message_of(&e));
        }
        Ok(inside)
    }

    /// GET `url`: the body, or why there is none (`wget`'s own message).
    pub async fn get(&self, url: &str) -> Result<Vec<u8>> {
        self.wget(url, None).await
    }

    /// POST `body` (form-encoded) to `url`.
    pub async fn post_form(&self, url: &str, body: &str) -> Result<Vec<u8>> {
        self.wget(url, Some(body)).await
    }

    async fn wget(&self, url: &str, post: Option<&str>) -> Result<Vec<u8>> {
        // No `-T`: Debian's static busybox wget (the test images) crashes
        // with it; the request is bounded from here instead.
        let mut cmd = vec!["/bin/wget".to_owned(), "-q".into()];
        if let Some(body) = post {
            cmd.push("--header".into());
            cmd.push("Content-Type: application/x-www-form-urlencoded".into());
            cmd.push("--post-data".into());
            cmd.push(body.to_owned());
        }
        cmd.extend(["-O".into(), "-".into(), url.to_owned()]);
        let (code, out, err) = tokio::time::timeout(Duration::from_secs(TIMEOUT_SECS), self.exec(cmd))
            .await
            .map_err(|_| anyhow::anyhow!("{url}: no answer within {TIMEOUT_SECS}s"))?
            .with_context(|| format!("GET {url}"))?;
        if code != 0 {
            bail!("{url}: wget exited {code}: {}", String::from_utf8_lossy(&err).trim());
        }
        Ok(out)
    }

    /// Runs `cmd` in the container: exit code, stdout, stderr.
    pub async fn exec(&self, cmd: Vec<String>) -> Result<(i64, Vec<u8>, Vec<u8>)> {
        exec_in(&self.engine, &self.id, cmd).await
    }

    /// Removes the container (errors only logged: it removes itself later).
    pub async fn remove(self) {
        let options = RemoveContainerOptions { force: true, ..Default::default() };
        if let Err(e) = self.engine.docker.remove_container(&self.id, Some(options)).await
            && status_of(&e) != Some(404)
        {
            eprintln!("warning: removing the verify container {}: {} (it ends by itself)", self.id, message_of(&e));
        }
    }
}

/// Runs `cmd` in container `id`: exit code, stdout, stderr.
pub async fn exec_in(engine: &Engine, id: &str, cmd: Vec<String>) -> Result<(i64, Vec<u8>, Vec<u8>)> {
    let options = CreateExecOptions::<String> {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd),
        ..Default::default()
    };
    let exec = engine.docker.create_exec(id, options).await.map_err(|e| anyhow::anyhow!("{}", message_of(&e)))?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    match engine.docker.start_exec(&exec.id, None).await.map_err(|e| anyhow::anyhow!("{}", message_of(&e)))? {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| anyhow::anyhow!("{}", message_of(&e)))? {
                    bollard::container::LogOutput::StdOut { message } => out.extend_from_slice(&message),
                    bollard::container::LogOutput::StdErr { message } => err.extend_from_slice(&message),
                    _ => {}
                }
            }
        }
        StartExecResults::Detached => bail!("the exec was not attached"),
    }
    // The output ends a moment before the engine records the exit code.
    for _ in 0..50 {
        let inspect = engine.docker.inspect_exec(&exec.id).await.map_err(|e| anyhow::anyhow!("{}", message_of(&e)))?;
        if inspect.running != Some(true)
            && let Some(code) = inspect.exit_code
        {
            return Ok((code, out, err));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the command did not end: {:?}", String::from_utf8_lossy(&err))
}

async fn pull(engine: &Engine, image: &str) -> Result<()> {
    let options = CreateImageOptions { from_image: Some(image.to_owned()), ..Default::default() };
    let mut stream = engine.docker.create_image(Some(options), None, None);
    while let Some(step) = stream.next().await {
        step.map_err(|e| anyhow::anyhow!("pulling {image} for the verify container: {}", message_of(&e)))?;
    }
    Ok(())
}
