//! `cargo xtask bench deploy`: the same stack (the e2e fixture: Prometheus
//! with a volume and a config, node-exporter global, two busybox probes,
//! all pulled by digest from the local registry) deployed side by side by
//! `docker stack deploy --detach=false` and by `cargo xtask deploy`, in one
//! run, each in its own stack and network:
//!
//! 1. first deploy: time until the command returns;
//! 2. no-op redeploy: time, and service version bumps;
//! 3. failed deploy (two healthy changes + one service that crashes): time
//!    until the command returns, its exit code, and which services then run
//!    the previous spec and which the new one.
//!
//! Prints a table with ratios (ours / baseline) and writes
//! `target/bench/deploy.json`. Nothing is asserted: the figures are
//! measured, the targets from the issue are reported as met or not.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::bundle::Bundle;
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, short_name};

const STACK_TOML: &str = include_str!("../../tests/fixtures/e2e/stack.toml.in");
const PROMETHEUS_YML: &str = include_str!("../../tests/fixtures/e2e/prometheus.yml.in");
const PROBE_CONF: &str = include_str!("../../tests/fixtures/e2e/probe.conf.in");
const WORKER_CONF: &str = include_str!("../../tests/fixtures/e2e/worker.conf.in");
const IDLE: &str = r#"["-c", "trap 'exit 0' TERM INT; while :; do sleep 1; done"]"#;
const CRASH: &str = r#"["-c", "echo 'fatal: bad config' >&2; exit 3"]"#;

pub(super) static XTASK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn xtask() -> PathBuf {
    XTASK.get().cloned().unwrap_or_else(|| PathBuf::from("xtask"))
}

/// One side of the comparison: a stack rendered in its own directory.
pub(super) struct Side {
    label: &'static str,
    pub(super) stack: String,
    pub(super) network: String,
    dir: PathBuf,
    port: u16,
    /// The engine the commands talk to (`DOCKER_HOST`), when not the
    /// environment's: a node of a multi-node bed.
    docker_host: Option<String>,
}

/// What a service runs, compared between the bundle and the Swarm.
type Fingerprint = (String, Vec<String>, Vec<String>);

pub fn run(root: &Path) -> Result<ExitCode> {
    let images = test_images(root)?;
    let docker_cli = which_docker()?;
    let rt = crate::deploy::runtime()?;
    let engine = rt.block_on(Engine::connect())?;
    let version = rt.block_on(engine.docker.version())?.version.unwrap_or_default();
    let tag = std::process::id();
    // A private copy of this binary: a concurrent `cargo build` may replace
    // target/debug/xtask while the benchmark runs.
    let exe = std::env::temp_dir().join(format!("xtask-bench-{tag}"));
    std::fs::copy(std::env::current_exe()?, &exe).context("copying the xtask binary")?;
    XTASK.set(exe.clone()).ok();
    let base = Side::new("baseline", format!("benchbase{tag}"), free_port(29_190)?, &images, None)?;
    let ours = Side::new("ours", format!("benchours{tag}"), free_port(29_290)?, &images, None)?;
    for side in [&base, &ours] {
        rt.block_on(create_network(&engine, &side.network))?;
    }
    let result = measure(&rt, &engine, &docker_cli, &base, &ours);
    for side in [&base, &ours] {
        rt.block_on(remove_stack(&engine, &side.stack, &side.network));
        let _ = std::fs::remove_dir_all(&side.dir);
    }
    let _ = std::fs::remove_file(&exe);
    let m = result?;

    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let services = m.v1.len();
    let first_ratio = ratio(m.first.ours_first, m.first.base_first);
    let noop_ratio = ratio(m.first.ours_noop, m.first.base_noop);
    let failed_ratio = ratio(m.ours_failed, m.base_failed);
    let mut table = String::new();
    let _ = writeln!(
        table,
        "deploy benchmark: {services} services ({}), engine {version}, {} cores",
        m.v1.keys().cloned().collect::<Vec<_>>().join(", "),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let _ = writeln!(table, "{:<26} {:>28} {:>28} {:>8}", "", "docker stack deploy", "cargo xtask deploy", "ours/base");
    let _ = writeln!(
        table,
        "{:<26} {:>27.2}s {:>27.2}s {:>8.3}",
        "first deploy", m.first.base_first, m.first.ours_first, first_ratio
    );
    let _ = writeln!(
        table,
        "{:<26} {:>28} {:>28} {:>8.3}",
        "no-op redeploy",
        format!("{:.2}s, {} version bumps", m.first.base_noop, m.first.base_bumps),
        format!("{:.2}s, {} version bumps", m.first.ours_noop, m.first.ours_bumps),
        noop_ratio
    );
    let _ = writeln!(
        table,
        "{:<26} {:>28} {:>28} {:>8.3}",
        "failed deploy (returns)",
        format!("{:.2}s, exit {}", m.base_failed, m.base_failed_exit),
        format!("{:.2}s, exit {}", m.ours_failed, m.ours_failed_exit),
        failed_ratio
    );
    let state = |s: &State| format!("{} previous, {} new, {} other", s.previous.len(), s.new.len(), s.other.len());
    let _ = writeln!(table, "{:<26} {:>28} {:>28}", "  specs right after", state(&m.base_state), state(&m.ours_state));
    let _ = writeln!(
        table,
        "{:<26} {:>28} {:>28}",
        "  specs 20s later",
        state(&m.base_state_later),
        state(&m.ours_state_later)
    );
    if !m.base_state_later.new.is_empty() {
        let _ = writeln!(
            table,
            "  baseline left a mixed stack: still on the new spec: {}",
            m.base_state_later.new.join(", ")
        );
    }
    let noop_ok = m.first.ours_noop <= m.first.base_noop / 10.0 && m.first.ours_bumps == 0;
    let first_ok = m.first.ours_first < m.first.base_first;
    let failed_ok = m.ours_state.new.is_empty() && m.ours_state.other.is_empty() && m.ours_failed_exit == 2;
    let _ = writeln!(table, "\ntargets (issue 4):");
    let _ = writeln!(table, "  no-op ≤ 1/10 of baseline with zero version bumps: {}", yes(noop_ok));
    let _ = writeln!(table, "  first deploy faster than baseline:                {}", yes(first_ok));
    let _ = writeln!(table, "  after a failed deploy every service on previous:  {}", yes(failed_ok));
    print!("{table}");

    let doc = json!({
        "format": 1,
        "engine": version,
        "services": m.v1.keys().collect::<Vec<_>>(),
        "first_deploy": { "baseline_s": m.first.base_first, "ours_s": m.first.ours_first, "ratio": first_ratio },
        "noop_redeploy": {
            "baseline_s": m.first.base_noop, "ours_s": m.first.ours_noop, "ratio": noop_ratio,
            "baseline_version_bumps": m.first.base_bumps, "ours_version_bumps": m.first.ours_bumps,
        },
        "failed_deploy": {
            "baseline_s": m.base_failed, "baseline_exit": m.base_failed_exit,
            "ours_s": m.ours_failed, "ours_exit": m.ours_failed_exit, "ratio": failed_ratio,
            "baseline_after": m.base_state.to_json(), "baseline_after_20s": m.base_state_later.to_json(),
            "ours_after": m.ours_state.to_json(), "ours_after_20s": m.ours_state_later.to_json(),
        },
        "targets": { "noop_tenth_zero_bumps": noop_ok, "first_faster": first_ok, "failed_all_previous": failed_ok },
    });
    let out =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target")).join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("deploy.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("written: {}", out.join("deploy.json").display());
    Ok(ExitCode::SUCCESS)
}

fn yes(b: bool) -> &'static str {
    if b { "met" } else { "NOT met" }
}

#[derive(Debug, Default)]
struct State {
    previous: Vec<String>,
    new: Vec<String>,
    other: Vec<String>,
}

impl State {
    fn to_json(&self) -> serde_json::Value {
        json!({ "previous_spec": self.previous, "new_spec": self.new, "other": self.other })
    }
}

struct Measured {
    v1: BTreeMap<String, Fingerprint>,
    first: FirstAndNoop,
    base_failed: f64,
    ours_failed: f64,
    base_failed_exit: i32,
    ours_failed_exit: i32,
    base_state: State,
    ours_state: State,
    base_state_later: State,
    ours_state_later: State,
}

/// A first deploy and a no-op redeploy by both tools (each side's stack
/// already rendered): seconds, and the no-op's service version bumps.
#[derive(Debug, Clone, Default)]
pub(super) struct FirstAndNoop {
    pub base_first: f64,
    pub ours_first: f64,
    pub base_noop: f64,
    pub ours_noop: f64,
    pub base_bumps: usize,
    pub ours_bumps: usize,
}

/// Runs [`FirstAndNoop`]'s deploys; each must succeed.
pub(super) fn first_and_noop(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    docker: &Path,
    base: &Side,
    ours: &Side,
) -> Result<FirstAndNoop> {
    let ok = |what: &str, (took, rc): (f64, i32)| {
        anyhow::ensure!(rc == 0, "{what} exited {rc}");
        Ok(took)
    };
    eprintln!("== first deploy");
    let base_first = ok("docker stack deploy (first)", base.run_baseline(docker)?)?;
    let ours_first = ok("cargo xtask deploy (first)", ours.run_ours()?)?;

    eprintln!("== no-op redeploy");
    let before = rt.block_on(versions(engine, &base.stack))?;
    let base_noop = ok("docker stack deploy (no-op)", base.run_baseline(docker)?)?;
    let base_bumps = bumps(&before, &rt.block_on(versions(engine, &base.stack))?);
    let before = rt.block_on(versions(engine, &ours.stack))?;
    let ours_noop = ok("cargo xtask deploy (no-op)", ours.run_ours()?)?;
    let ours_bumps = bumps(&before, &rt.block_on(versions(engine, &ours.stack))?);
    Ok(FirstAndNoop { base_first, ours_first, base_noop, ours_noop, base_bumps, ours_bumps })
}

fn measure(rt: &tokio::runtime::Runtime, engine: &Engine, docker: &Path, base: &Side, ours: &Side) -> Result<Measured> {
    let healthy = Knobs::default();
    // Config names carry the stack name: each side has its own fingerprints.
    let v1 = base.render(&healthy)?;
    let ours_v1 = ours.render(&healthy)?;

    let first = first_and_noop(rt, engine, docker, base, ours)?;

    eprintln!("== failed deploy: prometheus and worker change (healthy), probe crashes");
    let failing =
        Knobs { scrape_interval: "2s", worker_conf: "v2", probe_conf: "v2", probe_args: CRASH, ..Knobs::default() };
    let v2 = base.render(&failing)?;
    let ours_v2 = ours.render(&failing)?;
    let (base_failed, base_failed_exit) = base.run_baseline(docker)?;
    let base_state = rt.block_on(classify(engine, &base.stack, &v1, &v2))?;
    let (ours_failed, ours_failed_exit) = ours.run_ours()?;
    let ours_state = rt.block_on(classify(engine, &ours.stack, &ours_v1, &ours_v2))?;
    std::thread::sleep(Duration::from_secs(20));
    let base_state_later = rt.block_on(classify(engine, &base.stack, &v1, &v2))?;
    let ours_state_later = rt.block_on(classify(engine, &ours.stack, &ours_v1, &ours_v2))?;
    Ok(Measured {
        v1,
        first,
        base_failed,
        ours_failed,
        base_failed_exit,
        ours_failed_exit,
        base_state,
        ours_state,
        base_state_later,
        ours_state_later,
    })
}

#[derive(Debug, Clone)]
pub(super) struct Knobs {
    pub(super) scrape_interval: &'static str,
    pub(super) worker_conf: &'static str,
    pub(super) probe_conf: &'static str,
    pub(super) probe_args: &'static str,
    /// Appended to the global node-exporter's arguments (a global change).
    pub(super) node_exporter_extra: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs { scrape_interval: "1s", worker_conf: "v1", probe_conf: "v1", probe_args: IDLE, node_exporter_extra: "" }
    }
}

impl Side {
    /// `on`: a bed's registry, which replaces the test images' (it serves
    /// the same storage, so digests stay the same), and the bed node the
    /// commands talk to (`DOCKER_HOST`).
    pub(super) fn new(
        label: &'static str,
        stack: String,
        port: u16,
        images: &toml::Table,
        on: Option<(&str, &str)>,
    ) -> Result<Side> {
        let dir = std::env::temp_dir().join(format!("{stack}-bench"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("stack"))?;
        std::fs::create_dir_all(dir.join("configs"))?;
        let mut lock = String::from("version = 1\n");
        for name in ["prometheus", "node-exporter", "probe"] {
            let img = images
                .get("images")
                .and_then(|i| i.get(name))
                .and_then(|i| i.as_table())
                .with_context(|| format!("test image `{name}` missing: run scripts/build-test-images.sh"))?;
            let reference = img.get("reference").and_then(|v| v.as_str()).context("reference")?;
            let (repo, tag) = reference.rsplit_once(':').context("reference without tag")?;
            let repo = match (on, repo.split_once('/')) {
                (Some((registry, _)), Some((_, path))) => format!("{registry}/{path}"),
                _ => repo.to_owned(),
            };
            let digest = img.get("digest").and_then(|v| v.as_str()).context("digest")?;
            let _ = write!(
                lock,
                "\n[[image]]\nname = \"{name}\"\nrepository = \"{repo}\"\ntag = \"{tag}\"\ndigest = \"{digest}\"\n"
            );
        }
        std::fs::write(dir.join("stack/images.lock"), lock)?;
        let docker_host = on.map(|(_, host)| host.to_owned());
        Ok(Side { label, network: format!("{stack}_net"), stack, dir, port, docker_host })
    }

    /// A command aimed at this side's engine.
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        if let Some(host) = &self.docker_host {
            c.env("DOCKER_HOST", host);
        }
        c
    }

    /// Removes the rendered directory.
    pub(super) fn remove_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Writes the stack and renders it with the real `gen`; what each
    /// service should run.
    pub(super) fn render(&self, k: &Knobs) -> Result<BTreeMap<String, Fingerprint>> {
        let images = toml::from_str::<toml::Table>(&std::fs::read_to_string(self.dir.join("stack/images.lock"))?)?;
        let pins: BTreeMap<String, (String, String)> = images
            .get("image")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let name = i.get("name")?.as_str()?.to_owned();
                Some((name, (i.get("repository")?.as_str()?.to_owned(), i.get("tag")?.as_str()?.to_owned())))
            })
            .collect();
        let registry = pins.get("probe").and_then(|(r, _)| r.split('/').next()).unwrap_or("127.0.0.1:5000").to_owned();
        let tag = |n: &str| pins.get(n).map(|(_, t)| t.clone()).unwrap_or_default();
        let fill = |text: &str| {
            text.replace("@STACK@", &self.stack)
                .replace("@NETWORK@", &self.network)
                .replace("@REGISTRY@", &registry)
                .replace("@PROMETHEUS_TAG@", &tag("prometheus"))
                .replace("@NODE_EXPORTER_TAG@", &tag("node-exporter"))
                .replace("@PROBE_TAG@", &tag("probe"))
                .replace("@PROM_PORT@", &self.port.to_string())
                .replace("@PROBE_ARGS@", k.probe_args)
                .replace("@PROBE_HEALTH@", r#"["CMD-SHELL", "test -f /etc/probe/probe.conf"]"#)
                .replace("@PROBE_START_PERIOD@", "10s")
                .replace("@WORKER_ARGS@", IDLE)
                .replace("@PROBE_CONF@", k.probe_conf)
                .replace("@WORKER_CONF@", k.worker_conf)
                .replace("@SCRAPE_INTERVAL@", k.scrape_interval)
                .replace("@WORKER_SECRETS@", "")
                .replace("@EXTRA_SERVICE@", "")
                .replace("@PROBE_BINDS@", "")
                .replace("@SECRETS@", "")
        };
        let anchor = r#""--collector.loadavg"]"#;
        anyhow::ensure!(STACK_TOML.contains(anchor), "the e2e fixture's node-exporter args changed: update the bench");
        let stack_toml =
            fill(STACK_TOML).replace(anchor, &format!(r#""--collector.loadavg"{}]"#, k.node_exporter_extra));
        std::fs::write(self.dir.join("stack/stack.toml"), stack_toml)?;
        std::fs::write(self.dir.join("configs/prometheus.yml"), fill(PROMETHEUS_YML))?;
        std::fs::write(self.dir.join("configs/probe.conf"), fill(PROBE_CONF))?;
        std::fs::write(self.dir.join("configs/worker.conf"), fill(WORKER_CONF))?;
        let out = Command::new(xtask()).arg("gen").env("MONITORING_REPO", &self.dir).output()?;
        if !out.status.success() {
            bail!("gen for {}: {}", self.label, String::from_utf8_lossy(&out.stderr));
        }
        let bundle = Bundle::load(&self.dir.join(crate::bundle::DIR))?;
        Ok(bundle
            .compose
            .services
            .iter()
            .map(|(name, s)| {
                let configs = s
                    .configs
                    .iter()
                    .filter_map(|c| bundle.compose.configs.get(&c.source).map(|r| r.name.clone()))
                    .collect();
                (name.clone(), (s.image.clone(), configs, s.command.clone()))
            })
            .collect())
    }

    /// `docker stack deploy --detach=false -c <rendered stack file>`.
    pub(super) fn run_baseline(&self, docker: &Path) -> Result<(f64, i32)> {
        let file = self.dir.join(crate::bundle::DIR).join(crate::bundle::STACK_FILE);
        let start = Instant::now();
        let out = self
            .command(docker)
            .args(["stack", "deploy", "--detach=false", "-c"])
            .arg(&file)
            .arg(&self.stack)
            .output()
            .context("running docker stack deploy")?;
        let took = start.elapsed().as_secs_f64();
        let code = out.status.code().unwrap_or(-1);
        eprintln!("   docker stack deploy: {took:.2}s, exit {code}");
        let tail: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().rev().take(3).map(str::to_owned).collect();
        for l in tail.iter().rev() {
            eprintln!("     | {l}");
        }
        Ok((took, code))
    }

    /// The built xtask binary (this one), as `cargo xtask deploy` runs it.
    pub(super) fn run_ours(&self) -> Result<(f64, i32)> {
        let start = Instant::now();
        let out = self
            .command(&xtask())
            // `check` validates the repository's stack, not this one.
            .args(["deploy", "--skip-check"])
            .env("MONITORING_REPO", &self.dir)
            .output()
            .context("running xtask deploy")?;
        let took = start.elapsed().as_secs_f64();
        let code = out.status.code().unwrap_or(-1);
        eprintln!("   cargo xtask deploy: {took:.2}s, exit {code}");
        if code != 0 {
            let err = String::from_utf8_lossy(&out.stderr);
            for l in err.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev() {
                eprintln!("     | {l}");
            }
        }
        Ok((took, code))
    }
}

pub(super) async fn versions(engine: &Engine, stack: &str) -> Result<BTreeMap<String, u64>> {
    Ok(engine
        .stack_services(stack)
        .await?
        .into_iter()
        .filter_map(|s| {
            let name = s.spec.as_ref()?.name.clone()?;
            Some((short_name(stack, &name).to_owned(), s.version?.index?))
        })
        .collect())
}

pub(super) fn bumps(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> usize {
    before.iter().filter(|(k, v)| after.get(*k) != Some(v)).count()
}

/// Which services run the previous (v1) spec, the new (v2) one, or neither.
async fn classify(
    engine: &Engine,
    stack: &str,
    v1: &BTreeMap<String, Fingerprint>,
    v2: &BTreeMap<String, Fingerprint>,
) -> Result<State> {
    let mut state = State::default();
    for s in engine.stack_services(stack).await? {
        let Some(spec) = s.spec else { continue };
        let name = short_name(stack, spec.name.as_deref().unwrap_or_default()).to_owned();
        let cs = spec.task_template.and_then(|t| t.container_spec).unwrap_or_default();
        let fp: Fingerprint = (
            cs.image.unwrap_or_default(),
            cs.configs.into_iter().flatten().filter_map(|c| c.config_name).collect(),
            cs.args.unwrap_or_default(),
        );
        if v1.get(&name) == Some(&fp) && v2.get(&name) != Some(&fp) {
            state.previous.push(name);
        } else if v2.get(&name) == Some(&fp) && v1.get(&name) != Some(&fp) {
            state.new.push(name);
        } else if v1.get(&name) == Some(&fp) {
            state.previous.push(name);
        } else {
            state.other.push(name);
        }
    }
    Ok(state)
}

pub(super) async fn create_network(engine: &Engine, name: &str) -> Result<()> {
    let request = bollard::models::NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("overlay".into()),
        attachable: Some(true),
        ..Default::default()
    };
    engine.docker.create_network(request).await.map(|_| ()).with_context(|| format!("creating network {name}"))
}

/// Services, then (their containers gone) volumes, configs, network.
pub(super) async fn remove_stack(engine: &Engine, stack: &str, network: &str) {
    let d = &engine.docker;
    let label = std::collections::HashMap::from([("label".to_owned(), vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    for s in engine.stack_services(stack).await.unwrap_or_default() {
        let _ = d.delete_service(s.id.as_deref().unwrap_or_default()).await;
    }
    for _ in 0..120 {
        let options = bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(label.clone()),
            ..Default::default()
        };
        if d.list_containers(Some(options)).await.map(|c| c.is_empty()).unwrap_or(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let options = bollard::query_parameters::ListVolumesOptions { filters: Some(label.clone()) };
    for v in d.list_volumes(Some(options)).await.ok().and_then(|v| v.volumes).unwrap_or_default() {
        let _ = d.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
    }
    let options = bollard::query_parameters::ListConfigsOptions { filters: Some(label.clone()) };
    for c in d.list_configs(Some(options)).await.unwrap_or_default() {
        let _ = d.delete_config(c.id.as_deref().unwrap_or_default()).await;
    }
    for _ in 0..20 {
        if d.remove_network(network).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A port at or after `from` nothing listens on (Prometheus' host port).
pub(super) fn free_port(from: u16) -> Result<u16> {
    (from..from + 100)
        .find(|p| std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
        .with_context(|| format!("no free port in {from}..{}", from + 100))
}

pub(super) fn test_images(root: &Path) -> Result<toml::Table> {
    let path = std::env::var_os("MONITORING_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/test-images.toml"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("{} (run scripts/start-registry.sh and scripts/build-test-images.sh)", path.display())
    })?;
    text.parse().with_context(|| format!("parsing {}", path.display()))
}

/// The 28.x client (`docker stack deploy --detach=false` needs ≥ 26).
pub(super) fn which_docker() -> Result<PathBuf> {
    let candidates = [PathBuf::from("/usr/local/bin/docker"), PathBuf::from("docker")];
    for c in candidates {
        if let Ok(out) = Command::new(&c).args(["version", "--format", "{{.Client.Version}}"]).output() {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let major: u32 = v.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
            if major >= 26 {
                return Ok(c);
            }
        }
    }
    bail!("no docker client ≥ 26 found (docker stack deploy --detach=false); /usr/local/bin/docker is the 28.x client")
}
