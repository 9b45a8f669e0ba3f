//! Where an external validator runs: a binary on this machine (`$PROMTOOL`,
//! `.tools/bin`, `PATH`), or, when there is none, the same tool inside the
//! image stack/images.lock pins for the component, through the Docker
//! engine, so the version that validates is the version that runs.
//!
//! A run in an image sees the repository and the temporary directory
//! bind-mounted read-only at their own paths, runs as this process's user
//! and without a network: the arguments, the paths in the tool's output and
//! what it may read are those of a run on this machine, so its findings are
//! the same. (Bind mounts need the engine to share this machine's file
//! system: a local engine, or Docker Desktop's shared folders.)
//!
//! promtool and amtool run many times per check, so their image is started
//! once, idling in `/bin/busybox sleep` (the Prometheus and Alertmanager
//! images are busybox-based, the test images carry it too), and each run is
//! an exec in it. Images without a shell (Loki, Promtail, the collector) get
//! one container per run.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{CreateImageOptions, LogsOptions, RemoveContainerOptions};
use futures_util::StreamExt;

use super::promtool::{Output, TempDir};
use crate::source::{ImagePin, Source};
use crate::swarm::engine::{Engine, message_of, status_of};

/// Label on the containers `check` starts (so a leftover one is recognisable).
pub const LABEL: &str = "xtask.check";
/// Longest life of an idling validator container should this process die
/// before removing it: far longer than a cold `check`.
const LIFETIME_SECS: u32 = 900;
/// The writable temporary directory inside the container.
const SCRATCH: &str = "/xtask-scratch";

/// An external validator and where it comes from.
#[derive(Debug)]
pub enum Validator {
    /// A binary on this machine.
    Local(PathBuf),
    /// The tool inside a pinned image.
    Image(ImageTool),
}

impl Validator {
    /// `name` as [`crate::tools::find`] finds it on this machine, else
    /// `binary` inside the image `[image]` of stack/images.lock pins (pulled
    /// when the engine lacks it; `None`: the image's entrypoint runs the
    /// tool, one container per run). `Err` says why neither can be used.
    pub fn find(source: &Source, name: &str, image: &str, binary: Option<&str>) -> Result<Validator, String> {
        if let Some(path) = crate::tools::find(&source.root, name) {
            return Ok(Validator::Local(path));
        }
        let pin = source.lock.get(image).ok_or_else(|| {
            format!("{name} not found on this machine, and stack/images.lock pins no `{image}` image to run it from")
        })?;
        ImageTool::start(source, pin, binary, &[], Presence::Pull).map(Validator::Image).map_err(|err| {
            format!(
                "{name} not found on this machine (run scripts/install-tools.sh, or set {}), and the pinned image cannot run it: {err}",
                name.to_ascii_uppercase()
            )
        })
    }

    /// Runs the tool with `args` (no shell), capturing its output.
    pub fn run<I: IntoIterator<Item = OsString>>(&self, args: I) -> Result<Output, String> {
        match self {
            Validator::Local(path) => super::promtool::run(path, args),
            Validator::Image(image) => image.run(args),
        }
    }

    /// Where the tool came from, for the cache keys: a verdict of a binary
    /// on this machine is not one of the image, even at the same version.
    pub fn origin(&self) -> String {
        match self {
            Validator::Local(path) => format!("binary {}", path.display()),
            Validator::Image(image) => format!("image {}", image.digest_reference),
        }
    }

    /// The binary's path or the image reference, as findings name it.
    pub fn display(&self) -> String {
        match self {
            Validator::Local(path) => path.display().to_string(),
            Validator::Image(image) => image.reference.clone(),
        }
    }
}

/// Whether an image the engine lacks is pulled or reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Pull,
    /// Only an image already on the engine is used.
    Local,
}

/// A tool inside a pinned image.
#[derive(Debug)]
pub struct ImageTool {
    /// `repository:tag@digest`, as stack/images.lock pins it.
    pub reference: String,
    /// `repository@digest`: what identifies the tool.
    digest_reference: String,
    /// The tool's path in the image; `None`: the image's entrypoint, one
    /// container per run.
    binary: Option<String>,
    mounts: Vec<Mount>,
    env: Vec<String>,
    user: Option<String>,
    working_dir: String,
    engine: Engine,
    runtime: tokio::runtime::Runtime,
    /// The idling container the runs exec in (started at the first run).
    session: OnceLock<Result<String, String>>,
}

impl ImageTool {
    /// Connects to the engine and makes sure it has the image (pulling it
    /// when `presence` allows). `binary`: the tool's path in the image, or
    /// `None` for the image's entrypoint; `env`: `NAME=value` pairs.
    pub fn start(
        source: &Source,
        pin: &ImagePin,
        binary: Option<&str>,
        env: &[String],
        presence: Presence,
    ) -> Result<ImageTool, String> {
        let reference = pin.reference();
        let Some(digest) = pin.digest() else {
            return Err(format!("image `{}` is built from this workspace: it carries no validator", pin.name));
        };
        let digest_reference = format!("{}@{digest}", pin.repository);
        // Several checks run tools side by side, each blocking on its own run.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| format!("starting the async runtime: {err}"))?;
        let engine = runtime.block_on(Engine::connect()).map_err(|err| format!("{err:#}"))?;
        runtime.block_on(ensure_image(&engine, &digest_reference, presence))?;
        // The tools get paths as a local run would (relative ones, with a
        // relative MONITORING_REPO, against the working directory): mount
        // what they name at its absolute path, run in the same directory.
        let root =
            std::path::absolute(&source.root).map_err(|err| format!("resolving {}: {err}", source.root.display()))?;
        let working_dir = std::env::current_dir().unwrap_or_else(|_| root.clone());
        let mut dirs: Vec<PathBuf> = vec![root, std::env::temp_dir()];
        dirs.retain(|d| d.is_absolute());
        let all = dirs.clone();
        // A directory inside another mounted one is visible already.
        dirs.retain(|d| !all.iter().any(|other| other != d && d.starts_with(other)));
        dirs.dedup();
        let mut mounts: Vec<Mount> = dirs
            .iter()
            .map(|dir| Mount {
                target: Some(dir.display().to_string()),
                source: Some(dir.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            })
            .collect();
        // Where the tools write their own scratch files (`promtool test
        // rules` opens a TSDB in the temporary directory), as a local run
        // writes them to this machine's.
        mounts.push(Mount { target: Some(SCRATCH.into()), typ: Some(MountType::TMPFS), ..Default::default() });
        let mut env = env.to_vec();
        env.push(format!("TMPDIR={SCRATCH}"));
        Ok(ImageTool {
            reference,
            digest_reference,
            binary: binary.map(str::to_owned),
            mounts,
            env,
            user: own_user(),
            working_dir: working_dir.display().to_string(),
            engine,
            runtime,
            session: OnceLock::new(),
        })
    }

    /// The image `repository@digest`.
    pub fn digest_reference(&self) -> &str {
        &self.digest_reference
    }

    pub fn run<I: IntoIterator<Item = OsString>>(&self, args: I) -> Result<Output, String> {
        let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
        match &self.binary {
            Some(binary) => {
                let id = self
                    .session
                    .get_or_init(|| self.runtime.block_on(self.start_session()))
                    .as_ref()
                    .map_err(Clone::clone)?;
                let mut cmd = vec![binary.clone()];
                cmd.extend(args);
                self.runtime
                    .block_on(exec(&self.engine, id, cmd))
                    .map_err(|err| format!("{err} (in {})", self.reference))
            }
            None => self.runtime.block_on(self.run_once(args)).map_err(|err| format!("{err} (in {})", self.reference)),
        }
    }

    fn body(&self, entrypoint: Option<Vec<String>>, cmd: Vec<String>) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(self.digest_reference.clone()),
            entrypoint,
            cmd: Some(cmd),
            env: Some(self.env.clone()),
            user: self.user.clone(),
            working_dir: Some(self.working_dir.clone()),
            labels: Some(HashMap::from([(LABEL.to_owned(), std::process::id().to_string())])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                mounts: Some(self.mounts.clone()),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn start_session(&self) -> Result<String, String> {
        let entrypoint = vec!["/bin/busybox".to_owned(), "sleep".to_owned(), LIFETIME_SECS.to_string()];
        let mut body = self.body(Some(entrypoint), Vec::new());
        if let Some(host) = body.host_config.as_mut() {
            host.auto_remove = Some(true);
        }
        let docker = &self.engine.docker;
        let created = docker
            .create_container(None, body)
            .await
            .map_err(|e| format!("creating a container from {}: {}", self.reference, message_of(&e)))?;
        if let Err(e) = docker.start_container(&created.id, None).await {
            remove(&self.engine, &created.id).await;
            return Err(format!(
                "starting a container from {} (it needs /bin/busybox to idle in): {}",
                self.reference,
                message_of(&e)
            ));
        }
        Ok(created.id)
    }

    /// One container running the image's entrypoint with `args`.
    async fn run_once(&self, args: Vec<String>) -> Result<Output, String> {
        let docker = &self.engine.docker;
        let created = docker
            .create_container(None, self.body(None, args))
            .await
            .map_err(|e| format!("creating a container: {}", message_of(&e)))?;
        let id = created.id;
        let outcome = async {
            docker
                .start_container(&id, None)
                .await
                .map_err(|e| format!("starting the container: {}", message_of(&e)))?;
            let mut wait = docker.wait_container(&id, None);
            let mut code = 0;
            while let Some(step) = wait.next().await {
                match step {
                    Ok(response) => code = response.status_code,
                    Err(bollard::errors::Error::DockerContainerWaitError { code: exit, .. }) => code = exit,
                    Err(e) => return Err(format!("waiting for the container: {}", message_of(&e))),
                }
            }
            let options = LogsOptions { stdout: true, stderr: true, ..Default::default() };
            let mut logs = docker.logs(&id, Some(options));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            while let Some(chunk) = logs.next().await {
                match chunk.map_err(|e| format!("reading the container's output: {}", message_of(&e)))? {
                    bollard::container::LogOutput::StdOut { message } => out.extend_from_slice(&message),
                    bollard::container::LogOutput::StdErr { message } => err.extend_from_slice(&message),
                    _ => {}
                }
            }
            Ok(output(code == 0, &out, &err))
        }
        .await;
        remove(&self.engine, &id).await;
        outcome
    }
}

impl Drop for ImageTool {
    fn drop(&mut self) {
        if let Some(Ok(id)) = self.session.get() {
            self.runtime.block_on(remove(&self.engine, id));
        }
    }
}

/// Checks the engine has `image`, pulling it when `presence` allows; the
/// error says how to get it.
async fn ensure_image(engine: &Engine, image: &str, presence: Presence) -> Result<(), String> {
    match engine.docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if status_of(&e) == Some(404) => {}
        Err(e) => {
            return Err(format!("inspecting {image} on {}: {}", engine.describe(), message_of(&e)));
        }
    }
    let absent = format!("image {image} is not present on the Docker engine ({})", engine.describe());
    if presence == Presence::Local {
        return Err(format!("{absent}: pull it (`docker pull {image}`), or pass --with-images"));
    }
    let options = CreateImageOptions { from_image: Some(image.to_owned()), ..Default::default() };
    let mut stream = engine.docker.create_image(Some(options), None, None);
    while let Some(step) = stream.next().await {
        if let Err(e) = step {
            return Err(format!(
                "{absent} and pulling it failed: {}. Make it present on this engine: `docker pull {image}` where its registry is reachable (or through a registry mirror)",
                message_of(&e)
            ));
        }
    }
    Ok(())
}

/// One exec of `cmd` in the running container `id`.
async fn exec(engine: &Engine, id: &str, cmd: Vec<String>) -> Result<Output, String> {
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd),
        ..Default::default()
    };
    let docker = &engine.docker;
    let exec = docker.create_exec(id, options).await.map_err(|e| format!("exec: {}", message_of(&e)))?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    match docker.start_exec(&exec.id, None).await.map_err(|e| format!("exec: {}", message_of(&e)))? {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| format!("exec output: {}", message_of(&e)))? {
                    bollard::container::LogOutput::StdOut { message } => out.extend_from_slice(&message),
                    bollard::container::LogOutput::StdErr { message } => err.extend_from_slice(&message),
                    _ => {}
                }
            }
        }
        StartExecResults::Detached => return Err("the exec was not attached".into()),
    }
    // The output ends a moment before the engine records the exit code.
    for _ in 0..250 {
        let inspect = docker.inspect_exec(&exec.id).await.map_err(|e| format!("exec: {}", message_of(&e)))?;
        if inspect.running != Some(true)
            && let Some(code) = inspect.exit_code
        {
            return Ok(output(code == 0, &out, &err));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("the exec did not end".into())
}

/// What a run printed, as [`super::promtool::run`] reports a local one.
fn output(success: bool, out: &[u8], err: &[u8]) -> Output {
    let stdout = String::from_utf8_lossy(out).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(err));
    Output { success, text, stdout }
}

async fn remove(engine: &Engine, id: &str) {
    let options = RemoveContainerOptions { force: true, ..Default::default() };
    // Already gone (auto-remove) is fine; anything else ends with its lifetime.
    let _ = engine.docker.remove_container(id, Some(options)).await;
}

/// `uid:gid` of this process: the owner of a directory it just created, so
/// the container reads exactly what a local run could. `None` (the image's
/// user) when that cannot be learnt.
fn own_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let dir = TempDir::new("whoami").ok()?;
    let meta = std::fs::metadata(dir.path()).ok()?;
    Some(format!("{}:{}", meta.uid(), meta.gid()))
}
