//! The e2e harness: one uniquely named stack per scenario, rendered from
//! `tests/fixtures/e2e/` with the real `gen`, deployed with the real
//! binary, inspected through bollard, and removed (services, configs,
//! network, volumes) by a Drop guard even when the scenario fails.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{NetworkCreateRequest, TaskState};
use bollard::query_parameters::{
    ListConfigsOptions, ListContainersOptions, ListSecretsOptions, ListServicesOptions, ListTasksOptions,
    ListVolumesOptions,
};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/e2e");
pub const IDLE: &str = r#"["-c", "trap 'exit 0' TERM INT; while :; do sleep 1; done"]"#;
pub const HEALTHY_PROBE: &str = r#"["CMD-SHELL", "test -f /etc/probe/probe.conf"]"#;
const NAMESPACE: &str = "com.docker.stack.namespace";

/// What a scenario varies in the fixture stack.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub probe_args: String,
    pub probe_health: String,
    pub probe_start_period: String,
    pub worker_args: String,
    pub probe_conf: String,
    pub worker_conf: String,
    pub scrape_interval: String,
    /// worker mounts secret `<stack>_api_token` (which nobody creates).
    pub worker_secret: bool,
    /// Secrets `deploy --init` makes: worker mounts `api_token`
    /// (generated) and is unhealthy while its value is `bad`; probe mounts
    /// `probe_url` (a default).
    pub made_secrets: bool,
    /// A fifth service, `extra` (an idle probe).
    pub extra_service: bool,
    /// A `binds = [...]` line for probe (empty: none).
    pub probe_binds: String,
    /// Keys of probe's `[services.probe.hardening]` table (empty: no table).
    pub probe_hardening: String,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            probe_args: IDLE.into(),
            probe_health: HEALTHY_PROBE.into(),
            probe_start_period: "10s".into(),
            worker_args: IDLE.into(),
            probe_conf: "v1".into(),
            worker_conf: "v1".into(),
            scrape_interval: "1s".into(),
            worker_secret: false,
            made_secrets: false,
            extra_service: false,
            probe_binds: String::new(),
            probe_hardening: String::new(),
        }
    }
}

/// One service as the bundle wants it / as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub image: String,
    pub configs: Vec<String>,
    pub args: Vec<String>,
    pub health: Vec<String>,
}

/// The expected state of the whole stack: every service.
pub type Snapshot = BTreeMap<String, ServiceState>;

pub struct TestStack {
    pub name: String,
    pub network: String,
    pub dir: tempfile::TempDir,
    pub prom_port: u16,
    pub knobs: Knobs,
    /// `DOCKER_HOST` for the xtask runs (a fault proxy); the engine's own
    /// socket when `None`.
    pub docker_host: Option<String>,
    /// More environment for the xtask runs.
    pub env: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
    docker: Docker,
    scenario: String,
    started: Instant,
}

static SWEEP: Once = Once::new();

/// Test images as scripts/build-test-images.sh recorded them.
pub fn test_images() -> Result<toml::Table, String> {
    let path = std::env::var("MONITORING_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/test-images.toml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run scripts/build-test-images.sh)", path.display()))?;
    text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", path.display()))
}

impl TestStack {
    /// A fresh stack for `scenario`, or `None` (skipped, said on stderr)
    /// when Docker or the test images are missing outside CI. In CI
    /// (`CI` set) a missing engine fails the test with its error.
    pub fn new(scenario: &str) -> Option<TestStack> {
        Self::create(scenario, true)
    }

    /// Like [`TestStack::new`], without creating the stack's network.
    pub fn without_network(scenario: &str) -> Option<TestStack> {
        Self::create(scenario, false)
    }

    fn create(scenario: &str, with_network: bool) -> Option<TestStack> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let ready = rt.block_on(async {
            let docker = Docker::connect_with_defaults().map_err(|e| e.to_string())?;
            let docker = docker.negotiate_version().await.map_err(|e| format!("Docker engine unreachable: {e}"))?;
            let info = docker.info().await.map_err(|e| format!("docker info: {e}"))?;
            let swarm = info.swarm.and_then(|s| s.control_available).unwrap_or(false);
            if !swarm {
                return Err("the engine is not a Swarm manager (run scripts/start-docker.sh)".to_owned());
            }
            Ok(docker)
        });
        let images = test_images();
        let (docker, images) = match (ready, images) {
            (Ok(d), Ok(i)) => (d, i),
            (Err(e), _) | (_, Err(e)) => {
                if std::env::var_os("CI").is_some() {
                    panic!("e2e {scenario}: {e}");
                }
                eprintln!(
                    "e2e {scenario}: SKIPPED: {e} (scripts/start-docker.sh, start-registry.sh, build-test-images.sh)"
                );
                return None;
            }
        };
        SWEEP.call_once(|| rt.block_on(sweep_dead_runs(&docker)));
        let n: u32 = rand_u32();
        let name = format!("e2e{}x{:04}", std::process::id(), n % 10_000);
        let network = format!("{name}_net");
        let prom_port = free_port();
        let dir = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().expect("tempdir");
        rt.block_on(async {
            if !with_network {
                return;
            }
            let req = NetworkCreateRequest {
                name: network.clone(),
                driver: Some("overlay".into()),
                attachable: Some(true),
                labels: Some([(NAMESPACE.to_owned(), name.clone())].into()),
                ..Default::default()
            };
            docker.create_network(req).await.expect("creating the test network");
        });
        let stack = TestStack {
            name,
            network,
            dir,
            prom_port,
            knobs: Knobs::default(),
            docker_host: None,
            env: Vec::new(),
            rt,
            docker,
            scenario: scenario.to_owned(),
            started: Instant::now(),
        };
        stack.write_lock(&images);
        eprintln!("e2e {scenario}: stack {} in {}", stack.name, stack.dir.path().display());
        Some(stack)
    }

    fn write_lock(&self, images: &toml::Table) {
        let registry = images["registry"].as_str().unwrap();
        std::fs::create_dir_all(self.dir.path().join("stack")).unwrap();
        std::fs::write(self.dir.path().join("stack/images.lock"), images_lock(images, registry)).unwrap();
    }

    /// The fixture files filled for this stack: its name, network, the
    /// test registry, its Prometheus port and knobs.
    fn fixture<'a>(&'a self, images: &'a toml::Table) -> Fixture<'a> {
        Fixture {
            stack: &self.name,
            network: &self.network,
            registry: images["registry"].as_str().unwrap(),
            prom_port: self.prom_port,
            knobs: &self.knobs,
        }
    }

    /// Writes the stack from the knobs and runs the real `gen`; returns
    /// what every service should then run.
    pub fn render(&self) -> Snapshot {
        let images = test_images().unwrap();
        self.fixture(&images).write(self.dir.path(), &images);
        let out = self.xtask(&["gen"]);
        assert!(out.status.success(), "gen failed:\n{}", String::from_utf8_lossy(&out.stderr));
        self.bundle_snapshot()
    }

    /// Writes `stack/stack.toml` from the fixture file `stack_fixture`, each
    /// fixture file of `configs` (`(path in the repository, fixture file)`),
    /// pins `images_used`, and runs the real `gen`.
    pub fn render_fixture(&self, stack_fixture: &str, configs: &[(&str, &str)], images_used: &[&str]) -> Snapshot {
        let images = test_images().unwrap();
        let registry = images["registry"].as_str().unwrap();
        let fixture = self.fixture(&images);
        let root = self.dir.path();
        std::fs::write(root.join("stack/stack.toml"), fixture.fill(stack_fixture, &images)).unwrap();
        for (path, file) in configs {
            let target = root.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(Path::new(FIXTURES).join(file), target).unwrap();
        }
        std::fs::write(root.join("stack/images.lock"), images_lock_of(&images, registry, images_used)).unwrap();
        let out = self.xtask(&["gen"]);
        assert!(out.status.success(), "gen failed:\n{}", String::from_utf8_lossy(&out.stderr));
        self.bundle_snapshot()
    }

    /// What the rendered bundle asks of each service.
    pub fn bundle_snapshot(&self) -> Snapshot {
        bundle_snapshot_in(self.dir.path())
    }

    /// Pins `image` to a digest the registry does not have.
    pub fn break_image(&self, image: &str) {
        let path = self.dir.path().join("stack/images.lock");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("name = ") {
                inside = line == format!("name = \"{image}\"");
            }
            if inside && line.starts_with("digest = ") {
                out.push_str(&format!("digest = \"sha256:{}\"\n", "0".repeat(64)));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        std::fs::write(path, out).unwrap();
    }

    /// Configs carrying the stack's namespace label.
    pub fn config_names(&self) -> Vec<String> {
        let filters = [("label".to_owned(), vec![format!("{NAMESPACE}={}", self.name)])].into();
        let configs =
            self.rt.block_on(self.docker.list_configs(Some(ListConfigsOptions { filters: Some(filters) }))).unwrap();
        let mut names: Vec<String> = configs.into_iter().filter_map(|c| c.spec?.name).collect();
        names.sort();
        names
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args).env("MONITORING_REPO", self.dir.path()).env_remove("DOCKER_TLS_VERIFY");
        if let Some(host) = &self.docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running xtask");
        eprintln!(
            "--- xtask {} -> {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `deploy` with test-sized soak and deadline. `--skip-check`: `check`
    /// validates the repository's own stack, not this test stack.
    pub fn deploy(&self, extra: &[&str]) -> Output {
        let mut args = vec!["deploy", "--skip-check", "--soak", "2", "--deadline", "60"];
        args.extend_from_slice(extra);
        self.xtask(&args)
    }

    /// `deploy` in the background, stderr piped.
    pub fn spawn_deploy(&self, extra: &[&str]) -> Child {
        let mut args = vec!["deploy", "--skip-check", "--soak", "2", "--deadline", "60"];
        args.extend_from_slice(extra);
        self.spawn(&args)
    }

    /// Any xtask command in the background, stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning xtask")
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Every service of the stack as it runs: name → (state, version).
    pub fn running(&self) -> BTreeMap<String, (ServiceState, u64)> {
        running_on(&engine_socket().to_string_lossy(), &self.name)
    }

    pub fn versions(&self) -> BTreeMap<String, u64> {
        self.running().into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// Every service runs exactly the expected spec, and nothing else runs.
    pub fn assert_specs(&self, expected: &Snapshot, context: &str) {
        let running: Snapshot = self.running().into_iter().map(|(k, (s, _))| (k, s)).collect();
        assert_eq!(
            running.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{context}: the stack's services differ"
        );
        for (name, want) in expected {
            assert_eq!(&running[name], want, "{context}: service `{name}` does not run the expected spec");
        }
    }

    /// Every service has all tasks of its current spec running (healthy),
    /// within `within`.
    pub fn assert_healthy(&self, within: Duration, context: &str) {
        let start = Instant::now();
        loop {
            let problems = self.rt.block_on(self.unhealthy());
            if problems.is_empty() {
                return;
            }
            if start.elapsed() > within {
                panic!("{context}: not healthy after {within:?}: {problems:?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    async fn unhealthy(&self) -> Vec<String> {
        let filters = [("label".to_owned(), vec![format!("{NAMESPACE}={}", self.name)])].into();
        let services = self
            .docker
            .list_services(Some(ListServicesOptions { filters: Some(filters), status: Some(true) }))
            .await
            .unwrap();
        let mut out = Vec::new();
        for s in services {
            let id = s.id.clone().unwrap();
            let name = s.spec.as_ref().and_then(|x| x.name.clone()).unwrap();
            let want = s.service_status.as_ref().and_then(|x| x.desired_tasks).unwrap_or(0);
            let filters = [
                ("service".to_owned(), vec![id]),
                ("_up-to-date".to_owned(), vec!["true".to_owned()]),
                ("desired-state".to_owned(), vec!["running".to_owned()]),
            ]
            .into();
            let tasks = self.docker.list_tasks(Some(ListTasksOptions { filters: Some(filters) })).await.unwrap();
            let running =
                tasks.iter().filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)).count();
            if want == 0 || running as u64 != want {
                out.push(format!("{name}: {running}/{want} running"));
            }
        }
        out
    }

    /// The stack's revision history, from `status --output json`.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.xtask(&["status", "--output", "json"]);
        assert!(out.status.success(), "status failed");
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// GET from Prometheus on its host-mode published port.
    pub fn prometheus(&self, path_and_query: &str) -> Option<serde_json::Value> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.prom_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let body = text.split_once("\r\n\r\n")?.1;
        serde_json::from_str(body).ok()
    }

    /// A PromQL instant query at `time` (unix seconds); the vector result.
    pub fn query(&self, promql: &str, time: f64) -> Option<Vec<serde_json::Value>> {
        let v = self.prometheus(&format!("/api/v1/query?query={}&time={time:.3}", encode(promql)))?;
        (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        eprintln!(
            "e2e {}: scenario took {:.1}s; removing {}",
            self.scenario,
            self.started.elapsed().as_secs_f64(),
            self.name
        );
        let name = self.name.clone();
        let network = self.network.clone();
        let docker = self.docker.clone();
        self.rt.block_on(remove_stack(&docker, &name, &network));
    }
}

/// Removes everything a test stack made: services first, then (once their
/// containers are gone) volumes, secrets, configs and the network.
pub async fn remove_stack(docker: &Docker, stack: &str, network: &str) {
    let label = [("label".to_owned(), vec![format!("{NAMESPACE}={stack}")])];
    let mut services = docker
        .list_services(Some(ListServicesOptions { filters: Some(label.clone().into()), status: None }))
        .await
        .unwrap_or_default();
    // Same-named services a scenario made by hand (no stack label).
    let by_name = [("name".to_owned(), vec![format!("{stack}_")])];
    services.extend(
        docker
            .list_services(Some(ListServicesOptions { filters: Some(by_name.into()), status: None }))
            .await
            .unwrap_or_default(),
    );
    for s in services {
        let _ = docker.delete_service(s.id.as_deref().unwrap_or_default()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(label.clone().into()),
                ..Default::default()
            }))
            .await
            .unwrap_or_default();
        if containers.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions { filters: Some(label.clone().into()) }))
        .await
        .ok()
        .and_then(|v| v.volumes)
        .unwrap_or_default();
    for v in volumes {
        for _ in 0..10 {
            if docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Secrets a scenario created for its stack (labelled like the stack's
    // objects), now that no service uses them.
    let secrets =
        docker.list_secrets(Some(ListSecretsOptions { filters: Some(label.clone().into()) })).await.unwrap_or_default();
    for s in secrets {
        let _ = docker.delete_secret(s.id.as_deref().unwrap_or_default()).await;
    }
    let configs =
        docker.list_configs(Some(ListConfigsOptions { filters: Some(label.clone().into()) })).await.unwrap_or_default();
    for c in configs {
        let _ = docker.delete_config(c.id.as_deref().unwrap_or_default()).await;
    }
    for _ in 0..20 {
        match docker.remove_network(network).await {
            Ok(()) => break,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => break,
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Stacks left by e2e runs whose process is gone (killed test runs).
async fn sweep_dead_runs(docker: &Docker) {
    let configs = docker.list_configs(None::<ListConfigsOptions>).await.unwrap_or_default();
    let services = docker.list_services(None::<ListServicesOptions>).await.unwrap_or_default();
    let mut stacks: Vec<String> = configs
        .iter()
        .filter_map(|c| c.spec.as_ref()?.labels.as_ref()?.get(NAMESPACE).cloned())
        .chain(services.iter().filter_map(|s| s.spec.as_ref()?.labels.as_ref()?.get(NAMESPACE).cloned()))
        .collect();
    stacks.sort();
    stacks.dedup();
    for stack in stacks {
        let Some(pid) = stack.strip_prefix("e2e").and_then(|r| r.split_once('x')).map(|(p, _)| p.to_owned()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("e2e: removing {stack}, left by a dead test run (pid {pid})");
            remove_stack(docker, &stack, &format!("{stack}_net")).await;
        }
    }
}

/// The engine's own socket: `DOCKER_HOST` (unix://) or the default one
/// (what a fault proxy forwards to).
pub fn engine_socket() -> PathBuf {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    PathBuf::from(host.strip_prefix("unix://").unwrap_or("/var/run/docker.sock"))
}

/// A raw GET on the engine's socket (HTTP/1.0, so no chunking).
pub fn raw_get_on(socket: &str, path: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connecting to the engine socket");
    write!(stream, "GET /v1.41{path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

/// Placeholders of the fixture stack (`tests/fixtures/e2e/*.in`) and their
/// values: the one place that fills them, for the e2e and multi-node tests.
pub struct Fixture<'a> {
    pub stack: &'a str,
    pub network: &'a str,
    /// `host:port` the services pull their images from.
    pub registry: &'a str,
    pub prom_port: u16,
    pub knobs: &'a Knobs,
}

impl Fixture<'_> {
    /// `file` of the fixtures with every placeholder filled.
    pub fn fill(&self, file: &str, images: &toml::Table) -> String {
        let tag = |n: &str| images["images"][n]["reference"].as_str().unwrap().rsplit_once(':').unwrap().1.to_owned();
        let k = self.knobs;
        std::fs::read_to_string(Path::new(FIXTURES).join(file))
            .unwrap()
            .replace("@STACK@", self.stack)
            .replace("@NETWORK@", self.network)
            .replace("@REGISTRY@", self.registry)
            .replace("@PROMETHEUS_TAG@", &tag("prometheus"))
            .replace("@NODE_EXPORTER_TAG@", &tag("node-exporter"))
            .replace("@PROBE_TAG@", &tag("probe"))
            .replace("@ALERTMANAGER_TAG@", &tag("alertmanager"))
            .replace("@PROM_PORT@", &self.prom_port.to_string())
            .replace("@PROBE_ARGS@", &k.probe_args)
            .replace("@PROBE_HEALTH@", &k.probe_health)
            .replace("@PROBE_START_PERIOD@", &k.probe_start_period)
            .replace("@WORKER_ARGS@", &k.worker_args)
            .replace("@PROBE_CONF@", &k.probe_conf)
            .replace("@PROBE_BINDS@", &k.probe_binds)
            .replace(
                "@PROBE_HARDENING@",
                &if k.probe_hardening.is_empty() {
                    String::new()
                } else {
                    format!("[services.probe.hardening]\n{}\n", k.probe_hardening)
                },
            )
            .replace("@WORKER_CONF@", &k.worker_conf)
            .replace("@SCRAPE_INTERVAL@", &k.scrape_interval)
            .replace(
                "@WORKER_SECRETS@",
                if k.worker_secret || k.made_secrets {
                    r#"secrets = [{ source = "api_token", target = "api_token" }]"#
                } else {
                    ""
                },
            )
            .replace(
                "@PROBE_SECRETS@",
                if k.made_secrets { r#"secrets = [{ source = "probe_url", target = "probe_url" }]"# } else { "" },
            )
            .replace(
                "@WORKER_HEALTH@",
                if k.made_secrets {
                    r#"["CMD-SHELL", "test -f /etc/worker/worker.conf && ! grep -qx bad /run/secrets/api_token"]"#
                } else {
                    r#"["CMD-SHELL", "test -f /etc/worker/worker.conf"]"#
                },
            )
            .replace(
                "@EXTRA_SERVICE@",
                if k.extra_service {
                    "[services.extra]\nimage = \"probe\"\nargs = [\"-c\", \"trap 'exit 0' TERM INT; while :; do sleep 1; done\"]\nresources = { cpus = 0.1, memory = \"16M\", reserve_cpus = 0.01, reserve_memory = \"4M\" }\n"
                } else {
                    ""
                },
            )
            .replace(
                "@SECRETS@",
                if k.worker_secret {
                    "[secrets.api_token]\ndescription = \"never created\"\n"
                } else if k.made_secrets {
                    "[secrets.api_token]\ndescription = \"a token\"\ngenerate = { length = 24 }\n\
                     after_change = \"tell the clients\"\n\n\
                     [secrets.probe_url]\ndescription = \"a URL only the operator knows\"\n\
                     default = \"http://not-configured.invalid/\"\n"
                } else {
                    ""
                },
            )
    }

    /// Writes the stack and its configs into the repository at `root`.
    pub fn write(&self, root: &Path, images: &toml::Table) {
        std::fs::create_dir_all(root.join("configs")).unwrap();
        std::fs::create_dir_all(root.join("stack")).unwrap();
        std::fs::write(root.join("stack/stack.toml"), self.fill("stack.toml.in", images)).unwrap();
        std::fs::write(root.join("configs/prometheus.yml"), self.fill("prometheus.yml.in", images)).unwrap();
        std::fs::write(root.join("configs/probe.conf"), self.fill("probe.conf.in", images)).unwrap();
        std::fs::write(root.join("configs/worker.conf"), self.fill("worker.conf.in", images)).unwrap();
    }
}

/// `stack/images.lock` pinning the fixture's images by digest, pulled from
/// `registry` (the test images' digests are the same on every registry
/// serving their store).
pub fn images_lock(images: &toml::Table, registry: &str) -> String {
    images_lock_of(images, registry, &["prometheus", "node-exporter", "probe"])
}

/// `stack/images.lock` pinning the test images `names`.
pub fn images_lock_of(images: &toml::Table, registry: &str, names: &[&str]) -> String {
    let mut lock = String::from("version = 1\n");
    for &name in names {
        let img = images["images"][name].as_table().expect("image entry");
        let reference = img["reference"].as_str().unwrap();
        let (repo, tag) = reference.rsplit_once(':').unwrap();
        let repo = match repo.split_once('/') {
            Some((_, path)) => format!("{registry}/{path}"),
            None => repo.to_owned(),
        };
        // A workspace-built image is pinned as stack/images.lock pins it:
        // by its input-addressed tag, no digest (deploy resolves the tag).
        let (key, value) = match img.get("lock_inputs").and_then(|v| v.as_str()) {
            Some(inputs) => ("inputs", inputs),
            None => ("digest", img["digest"].as_str().unwrap()),
        };
        lock.push_str(&format!(
            "\n[[image]]\nname = \"{name}\"\nrepository = \"{repo}\"\ntag = \"{tag}\"\n{key} = \"{value}\"\n"
        ));
    }
    lock
}

/// What the bundle rendered in the repository at `root` asks of each service.
pub fn bundle_snapshot_in(root: &Path) -> Snapshot {
    let text = std::fs::read_to_string(root.join("stack/rendered/docker-stack.yml")).unwrap();
    let file: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let mut out = Snapshot::new();
    for (name, svc) in file["services"].as_object().unwrap() {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(|s| s.replace("$$", "$"))).collect()
        };
        let configs = svc["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| file["configs"][c["source"].as_str().unwrap()]["name"].as_str().unwrap().to_owned())
            .collect();
        out.insert(
            name.clone(),
            ServiceState {
                image: svc["image"].as_str().unwrap().to_owned(),
                configs,
                args: strings(&svc["command"]),
                health: strings(&svc["healthcheck"]["test"]),
            },
        );
    }
    out
}

/// Every service of `stack` as it runs on the engine at `socket`: name →
/// (state, version).
pub fn running_on(socket: &str, stack: &str) -> BTreeMap<String, (ServiceState, u64)> {
    // Read raw: bollard's model drops the engine's `Healthcheck` key.
    let filters = format!("{{\"label\":[\"{NAMESPACE}={stack}\"]}}");
    let body = raw_get_on(socket, &format!("/services?filters={}", encode(&filters)));
    let services: serde_json::Value = serde_json::from_str(&body).expect("services JSON");
    let mut out = BTreeMap::new();
    for s in services.as_array().unwrap() {
        let spec = &s["Spec"];
        let cs = &spec["TaskTemplate"]["ContainerSpec"];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect()
        };
        let name = spec["Name"].as_str().unwrap().strip_prefix(&format!("{stack}_")).unwrap().to_owned();
        let state = ServiceState {
            image: cs["Image"].as_str().unwrap_or_default().to_owned(),
            configs: cs["Configs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["ConfigName"].as_str().unwrap().to_owned())
                .collect(),
            args: strings(&cs["Args"]),
            health: strings(&cs["Healthcheck"]["Test"]),
        };
        out.insert(name, (state, s["Version"]["Index"].as_u64().unwrap()));
    }
    out
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

/// A TCP port nothing listens on now (Prometheus' host-mode port, host
/// servers of a test).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let port = 20_000 + (rand_u32() % 20_000) as u16;
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port found");
}

/// The repository's rendered stack file (`stack/rendered/docker-stack.yml`)
/// as JSON, for tests that deploy services exactly as rendered.
pub fn rendered_bundle() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/rendered/docker-stack.yml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The command (for the probe image, whose entrypoint is /bin/sh) of a
/// webhook receiver on :8080 that logs each request line and body to the
/// container's stdout (PID 1's: the handler's own stdout is the socket), so
/// `docker service logs` shows every notification and its alerts, and
/// answers 200. It reads the
/// whole request, headers and body, before answering: a server that answers
/// and closes first (as `printf ... | nc -l` does) races the client, which
/// then sees a reset, retries quietly and may never be counted. `nc -ll`
/// forks a handler per connection, so there is no gap without a listener.
/// `$$` because `docker stack deploy` interpolates `$` in the stack file.
pub fn webhook_sink_command() -> serde_json::Value {
    let handler = r#"read -r l; echo "$$l" >/proc/1/fd/1; n=0; while read -r h; do h=$${h%"$$(printf "\r")"}; [ -z "$$h" ] && break; case "$$h" in [Cc]ontent-[Ll]ength:*) n=$${h#*:};; esac; done; head -c $$n >/proc/1/fd/1; echo >/proc/1/fd/1; printf "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n""#;
    serde_json::json!(["-c", format!("exec nc -ll -p 8080 -e /bin/sh -c '{handler}'")])
}

/// The docker CLI against this host's engine.
pub fn docker_cli(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("running the docker CLI")
}

/// Waits until `f` holds, or panics with `what` after `within`.
pub fn wait_for(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Sends a signal to a child (SIGINT, SIGKILL) with `kill`.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{sig} failed");
}

/// The exit code of a finished xtask run (`None` when a signal ended it).
pub fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// A finished run's stderr, for assertion messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished run's stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads a child's stderr in the background; lines arrive in the channel.
pub fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = err.read(&mut byte) {
            if byte[0] == b'\n' {
                let line = String::from_utf8_lossy(&buf).into_owned();
                eprintln!("  | {line}");
                if tx.send(line).is_err() {
                    // Receiver gone: keep draining so the child never blocks.
                }
                buf.clear();
            } else {
                buf.push(byte[0]);
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; all lines seen so far returned.
pub fn wait_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < within {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return seen;
            }
        }
    }
    panic!("no line with `{needle}` within {within:?}; saw:\n{}", seen.join("\n"));
}
