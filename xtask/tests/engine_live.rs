//! The cluster dashboard and alerts against a real Docker engine's metrics
//! endpoint: a throwaway dockerd (Debian's, as scripts/start-docker.sh
//! installs it) with `metrics-addr` on and a one-node Swarm of its own, in a
//! network namespace of its own (so its bridges and Swarm ports never meet
//! the shared engine's), with its own data and exec roots and containerd;
//! scraped by a real Prometheus (`.tools/bin`) in the same namespace with
//! the otel-agent's `docker-engine` job (its port read from agent.yml, and
//! `instance`/`node` set to a node name as the agent does).
//!
//! Then every Prometheus query of the `etl-cluster` dashboard must return
//! series, every cluster alert must evaluate with each metric it reads
//! present, and on this healthy one-manager Swarm none of the Swarm alerts'
//! conditions may hold (promtool's tests show them firing).
//!
//! Skipped (with a message) when not root or without dockerd, unshare,
//! nsenter or prometheus; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its fixture should panic

#[path = "e2e/live.rs"]
mod live;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promql_parser::parser;
use serde_json::Value;

/// The node name the scrape gives the engine's series.
const NODE: &str = "engine-live";
/// What Grafana substitutes in the dashboard's queries, for a query here.
const GRAFANA_VARIABLES: &[(&str, &str)] = &[("$__rate_interval", "30s")];

/// The port of the agent's `docker-engine` target (`host.docker.internal:<port>`).
fn agent_engine_port() -> u16 {
    let text = std::fs::read_to_string(live::repo().join("stack/configs/otel-collector/agent.yml")).unwrap();
    let config: Value = serde_saphyr::from_str(&text).unwrap();
    let jobs = config["receivers"]["prometheus"]["config"]["scrape_configs"].as_array().unwrap();
    let job = jobs.iter().find(|j| j["job_name"] == "docker-engine").expect("agent.yml scrapes docker-engine");
    let target = job["static_configs"][0]["targets"][0].as_str().unwrap();
    target.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The namespace's shell: it starts dockerd and Prometheus, initialises the
/// Swarm, and on SIGTERM leaves the Swarm and stops both.
struct Namespace {
    shell: Child,
    dir: tempfile::TempDir,
}

impl Namespace {
    fn start(dockerd: &Path, prometheus: &Path, port: u16) -> Namespace {
        let dir = tempfile::Builder::new().prefix("engine-live-").tempdir().unwrap();
        let d = dir.path().display().to_string();
        let prometheus_yml = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: docker-engine\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n    \
             relabel_configs:\n      - target_label: instance\n        replacement: {NODE}\n      - target_label: node\n        replacement: {NODE}\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), prometheus_yml).unwrap();
        let script = format!(
            r#"set -u
ip link set lo up
echo $$ > {d}/shell.pid
{dockerd} --data-root {d}/data --exec-root {d}/exec -H unix://{d}/docker.sock --pidfile {d}/docker.pid \
  --iptables=false --ip-masq=false --bridge=none --metrics-addr 127.0.0.1:{port} --log-level warn >{d}/dockerd.log 2>&1 &
engine=$!
{prometheus} --config.file={d}/prometheus.yml --storage.tsdb.path={d}/tsdb --web.listen-address=127.0.0.1:9090 >{d}/prometheus.log 2>&1 &
prom=$!
stop() {{
  docker -H unix://{d}/docker.sock swarm leave --force >/dev/null 2>&1
  kill $prom $engine 2>/dev/null
  wait $prom $engine 2>/dev/null
  exit 0
}}
trap stop TERM INT
for i in $(seq 1 60); do docker -H unix://{d}/docker.sock version >/dev/null 2>&1 && break; sleep 1; done
docker -H unix://{d}/docker.sock swarm init --advertise-addr 127.0.0.1 >{d}/swarm-init.log 2>&1 && touch {d}/swarm-ready
while :; do sleep 1; done
"#,
            dockerd = dockerd.display(),
            prometheus = prometheus.display(),
        );
        let shell = Command::new("unshare")
            .args(["--net", "--fork", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Namespace { shell, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `curl` inside the namespace (Prometheus listens on its loopback).
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let pid = std::fs::read_to_string(self.path("shell.pid")).map_err(|e| format!("shell.pid: {e}"))?;
        let net = format!("--net=/proc/{}/ns/net", pid.trim());
        live::prometheus_query(&["nsenter", &net], "http://127.0.0.1:9090", expr)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The shell runs as unshare's child: signal it, so it leaves the
        // Swarm and stops dockerd (which stops its containerd) and Prometheus.
        if let Ok(pid) = std::fs::read_to_string(self.path("shell.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).output();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.shell.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

fn wait_for(what: &str, ns: &Namespace, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}\ndockerd:\n{}\nswarm init:\n{}\nprometheus:\n{}",
            ns.log("dockerd.log"),
            ns.log("swarm-init.log"),
            ns.log("prometheus.log")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn cluster_dashboard_and_alerts_read_a_real_engine() {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !is_root {
        live::skip_or_fail("engine_live", "needs root (a dockerd in a network namespace of its own)");
        return;
    }
    let (Some(dockerd), Some(prometheus)) =
        (live::find_tool("dockerd", "DOCKERD"), live::find_tool("prometheus", "PROMETHEUS"))
    else {
        live::skip_or_fail("engine_live", "dockerd or prometheus not found");
        return;
    };
    for tool in ["unshare", "nsenter", "ip", "curl", "docker"] {
        if live::find_tool(tool, "").is_none() {
            live::skip_or_fail("engine_live", &format!("{tool} not found"));
            return;
        }
    }
    let ns = Namespace::start(&dockerd, &prometheus, agent_engine_port());
    wait_for("the one-node Swarm initialised", &ns, Duration::from_secs(90), || ns.path("swarm-ready").exists());
    wait_for("the engine scraped as a manager", &ns, Duration::from_secs(60), || {
        ns.query(r#"swarm_node_manager{job="docker-engine"} == 1"#).is_ok_and(|r| !r.is_empty())
    });

    let queries = live::dashboard_queries(dashboards::uids::CLUSTER, GRAFANA_VARIABLES);
    assert!(queries.len() >= 10, "the cluster dashboard has its panels: {queries:?}");
    let empty = || -> Vec<String> {
        queries
            .iter()
            .filter(|(_, expr)| ns.query(expr).map_or(true, |r| r.is_empty()))
            .map(|(place, expr)| format!("{place}: {expr} -> {:?}", ns.query(expr)))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing = empty();
    while !missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        missing = empty();
    }
    assert!(missing.is_empty(), "dashboard queries without series:\n{}", missing.join("\n"));

    let ctx = alerts::Context::default();
    let rules: Vec<alerts::Expression> =
        alerts::expressions(&ctx).into_iter().filter(|e| e.file.ends_with("/cluster.rules.yml")).collect();
    assert!(rules.len() >= 4, "the cluster rules: {rules:?}");
    for rule in &rules {
        let result = ns.query(&rule.expr).unwrap_or_else(|e| panic!("{} does not evaluate: {e}", rule.rule));
        let mut names = BTreeSet::new();
        live::metric_names(&parser::parse(&rule.expr).unwrap(), &mut names);
        assert!(!names.is_empty(), "{} reads no metric", rule.rule);
        for name in names {
            let present =
                ns.query(&format!(r#"count({{__name__="{name}", job="docker-engine", node="{NODE}"}})"#)).unwrap();
            assert!(!present.is_empty(), "{}: no `{name}` series from the engine", rule.rule);
        }
        if rule.rule.starts_with("Swarm") {
            assert!(result.is_empty(), "{} holds on a healthy one-manager Swarm: {result:?}", rule.rule);
        }
    }
    // The leader panel's source: this manager leads.
    let leader = ns.query(r#"swarm_manager_leader{job="docker-engine"}"#).unwrap();
    assert_eq!(leader.first().and_then(|s| s["value"][1].as_str()), Some("1"), "{leader:?}");
}
