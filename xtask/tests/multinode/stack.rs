//! A fixture stack on the bed: rendered from `tests/fixtures/e2e/` with the
//! bed's registry, deployed with the real binary from any node, and
//! checked task by task and container by container on every node.
//!
//! The binary runs with `DOCKER_HOST` set to a node's socket and in a UTS
//! namespace of its own carrying that node's hostname, so a deploy "from
//! manager B" is recorded (lock holder, history) as coming from B's host,
//! as it would be on separate machines.

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bed::{Bed, Node};
use crate::harness::{self, Fixture, Knobs, ServiceState, Snapshot, encode};

const NAMESPACE: &str = "com.docker.stack.namespace";

/// Default `--deadline` of deploy/rollback on the bed: covers a global
/// service on every node of a small bed.
pub const DEADLINE: u64 = 120;

#[derive(Debug)]
pub struct BedStack<'b> {
    pub bed: &'b Bed,
    pub name: String,
    pub network: String,
    pub dir: tempfile::TempDir,
    pub prom_port: u16,
    pub knobs: Knobs,
    /// Extra arguments for the global node-exporter service (the e2e
    /// fixture's are fixed; a change to them is a global-service change).
    pub node_exporter_extra: Vec<String>,
    /// `args` of the global `agent` service (fixtures/multinode/agent.toml.in),
    /// which the stack has only when this is set.
    pub agent_args: Option<String>,
    /// Prometheus finds node-exporter through `tasks.node-exporter`
    /// (fixtures/multinode/prometheus.yml.in) instead of the e2e config.
    pub discovery: bool,
    /// `--deadline` of deploy and rollback (`--soak` is 2).
    pub deadline: u64,
    images: toml::Table,
    scenario: String,
    started: Instant,
}

/// One task of a service, as the Swarm reports it.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub service: String,
    pub node: String,
    pub state: String,
    pub desired: String,
    pub spec: ServiceState,
    /// Its addresses on the overlay networks, without the prefix length.
    pub addresses: Vec<String>,
}

impl<'b> BedStack<'b> {
    /// A uniquely named stack with its overlay network (created on node 1).
    pub fn new(bed: &'b Bed, scenario: &str) -> BedStack<'b> {
        let images = harness::test_images().unwrap_or_else(|e| panic!("multinode {scenario}: {e}"));
        let name = format!("mn{}x{}", std::process::id() % 100_000, scenario.len());
        let network = format!("{name}_net");
        let dir = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("stack")).expect("stack dir");
        std::fs::write(dir.path().join("stack/images.lock"), harness::images_lock(&images, &bed.layout.registry))
            .expect("writing images.lock");
        crate::bed::docker_cli(
            bed.node(1),
            &[
                "network",
                "create",
                "-d",
                "overlay",
                "--attachable",
                "--label",
                &format!("{NAMESPACE}={name}"),
                &network,
            ],
        )
        .unwrap_or_else(|e| panic!("creating the stack network: {e}"));
        eprintln!("multinode {scenario}: stack {name} in {}", dir.path().display());
        BedStack {
            bed,
            name,
            network,
            dir,
            // Host-mode port on the labelled node's own address: no clash
            // with the host's ports, any fixed port will do.
            prom_port: 9090,
            knobs: Knobs::default(),
            node_exporter_extra: Vec::new(),
            agent_args: None,
            discovery: false,
            deadline: DEADLINE,
            images,
            scenario: scenario.to_owned(),
            started: Instant::now(),
        }
    }

    /// Writes the stack from the knobs and runs the real `gen`; returns
    /// what every service should then run.
    pub fn render(&self) -> Snapshot {
        let registry = &self.bed.layout.registry;
        let fixture = Fixture {
            stack: &self.name,
            network: &self.network,
            registry,
            prom_port: self.prom_port,
            knobs: &self.knobs,
        };
        fixture.write(self.dir.path(), &self.images);
        if !self.node_exporter_extra.is_empty() {
            let path = self.dir.path().join("stack/stack.toml");
            let text = std::fs::read_to_string(&path).expect("stack.toml");
            let anchor = r#""--collector.loadavg"]"#;
            assert!(text.contains(anchor), "the e2e fixture's node-exporter args changed: update node_exporter_extra");
            let extra: String = self.node_exporter_extra.iter().map(|a| format!(", {a:?}")).collect();
            std::fs::write(&path, text.replace(anchor, &format!(r#""--collector.loadavg"{extra}]"#)))
                .expect("stack.toml");
        }
        if let Some(args) = &self.agent_args {
            let path = self.dir.path().join("stack/stack.toml");
            let mut text = std::fs::read_to_string(&path).expect("stack.toml");
            text.push_str(
                &fixture.fill(&multinode_fixture("agent.toml.in"), &self.images).replace("@AGENT_ARGS@", args),
            );
            std::fs::write(&path, text).expect("stack.toml");
        }
        if self.discovery {
            let text = fixture.fill(&multinode_fixture("prometheus.yml.in"), &self.images);
            std::fs::write(self.dir.path().join("configs/prometheus.yml"), text).expect("prometheus.yml");
        }
        let out = self.xtask_on(self.bed.node(1), &["gen"]);
        assert!(out.status.success(), "gen failed:\n{}", String::from_utf8_lossy(&out.stderr));
        harness::bundle_snapshot_in(self.dir.path())
    }

    /// The real binary against `node`'s engine, in `node`'s hostname.
    pub fn command_on(&self, node: &Node, args: &[&str]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--uts", "--", "sh", "-c", r#"hostname "$1" && shift && exec "$@""#, "sh"])
            .arg(&node.hostname)
            .arg(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env("MONITORING_REPO", self.dir.path())
            .env("DOCKER_HOST", node.docker_host())
            .env_remove("DOCKER_TLS_VERIFY");
        cmd
    }

    pub fn xtask_on(&self, node: &Node, args: &[&str]) -> Output {
        let started = Instant::now();
        let out = self.command_on(node, args).output().expect("running xtask");
        eprintln!(
            "--- [{}] xtask {} -> {:?} in {:.1}s\n{}{}",
            node.hostname,
            args.join(" "),
            out.status.code(),
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `deploy` from `node` with the bed's rollout flags.
    pub fn deploy_on(&self, node: &Node, extra: &[&str]) -> Output {
        let mut args = vec!["deploy", "--skip-check"];
        let deadline = self.deadline.to_string();
        args.extend_from_slice(&["--soak", "2", "--deadline", &deadline]);
        args.extend_from_slice(extra);
        self.xtask_on(node, &args)
    }

    /// `deploy` from `node` in the background, stderr piped.
    pub fn spawn_deploy_on(&self, node: &Node, extra: &[&str]) -> Child {
        let mut args = vec!["deploy", "--skip-check"];
        let deadline = self.deadline.to_string();
        args.extend_from_slice(&["--soak", "2", "--deadline", &deadline]);
        args.extend_from_slice(extra);
        self.command_on(node, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning deploy")
    }

    /// `rollback` from `node` with the bed's rollout flags.
    pub fn rollback_on(&self, node: &Node, extra: &[&str]) -> Output {
        let mut args = vec!["rollback"];
        let deadline = self.deadline.to_string();
        args.extend_from_slice(&["--soak", "2", "--deadline", &deadline]);
        args.extend_from_slice(extra);
        self.xtask_on(node, &args)
    }

    /// `status --output json` from `node`.
    pub fn status_on(&self, node: &Node) -> serde_json::Value {
        let out = self.xtask_on(node, &["status", "--output", "json"]);
        assert!(out.status.success(), "status on {} failed", node.hostname);
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// Every service's spec and version, as the manager `node` reports it.
    pub fn running_on(&self, node: &Node) -> BTreeMap<String, (ServiceState, u64)> {
        harness::running_on(&node.socket_str(), &self.name)
    }

    pub fn versions_on(&self, node: &Node) -> BTreeMap<String, u64> {
        self.running_on(node).into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// The stack's tasks, from the manager `node` (raw: bollard's model
    /// drops the engine's `Healthcheck` key).
    pub fn tasks_on(&self, node: &Node) -> Vec<Task> {
        let socket = node.socket_str();
        let filters = format!("{{\"label\":[\"{NAMESPACE}={}\"]}}", self.name);
        let services: serde_json::Value =
            serde_json::from_str(&harness::raw_get_on(&socket, &format!("/services?filters={}", encode(&filters))))
                .expect("services JSON");
        let names: BTreeMap<String, String> = services
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let full = s["Spec"]["Name"].as_str()?;
                Some((s["ID"].as_str()?.to_owned(), full.strip_prefix(&format!("{}_", self.name))?.to_owned()))
            })
            .collect();
        let nodes = self.node_names_on(node);
        let tasks: serde_json::Value =
            serde_json::from_str(&harness::raw_get_on(&socket, "/tasks")).expect("tasks JSON");
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect()
        };
        tasks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let service = names.get(t["ServiceID"].as_str()?)?.clone();
                let cs = &t["Spec"]["ContainerSpec"];
                Some(Task {
                    id: t["ID"].as_str()?.to_owned(),
                    service,
                    node: t["NodeID"].as_str().and_then(|id| nodes.get(id)).cloned().unwrap_or_default(),
                    state: t["Status"]["State"].as_str().unwrap_or_default().to_owned(),
                    desired: t["DesiredState"].as_str().unwrap_or_default().to_owned(),
                    spec: ServiceState {
                        image: cs["Image"].as_str().unwrap_or_default().to_owned(),
                        configs: cs["Configs"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["ConfigName"].as_str().map(str::to_owned))
                            .collect(),
                        args: strings(&cs["Args"]),
                        health: strings(&cs["Healthcheck"]["Test"]),
                    },
                    addresses: t["NetworksAttachments"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|n| strings(&n["Addresses"]))
                        .map(|a| a.split('/').next().unwrap_or_default().to_owned())
                        .collect(),
                })
            })
            .collect()
    }

    /// The stack's services in global mode, from the manager `node`.
    pub fn global_services_on(&self, node: &Node) -> std::collections::BTreeSet<String> {
        let filters = format!("{{\"label\":[\"{NAMESPACE}={}\"]}}", self.name);
        let body = harness::raw_get_on(&node.socket_str(), &format!("/services?filters={}", encode(&filters)));
        let services: serde_json::Value = serde_json::from_str(&body).expect("services JSON");
        services
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["Spec"]["Mode"].get("Global").is_some())
            .filter_map(|s| s["Spec"]["Name"].as_str()?.strip_prefix(&format!("{}_", self.name)).map(str::to_owned))
            .collect()
    }

    /// Node id → hostname, from the manager `node`.
    fn node_names_on(&self, node: &Node) -> BTreeMap<String, String> {
        let nodes: serde_json::Value =
            serde_json::from_str(&harness::raw_get_on(&node.socket_str(), "/nodes")).expect("nodes JSON");
        nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["ID"].as_str()?.to_owned(), n["Description"]["Hostname"].as_str()?.to_owned())))
            .collect()
    }

    /// The stack's containers on `node`'s own engine: (service, task id, image, state).
    pub fn containers_on(&self, node: &Node) -> Vec<(String, String, String, String)> {
        let filters = format!("{{\"label\":[\"{NAMESPACE}={}\"]}}", self.name);
        let body = harness::raw_get_on(&node.socket_str(), &format!("/containers/json?filters={}", encode(&filters)));
        let list: serde_json::Value = serde_json::from_str(&body).expect("containers JSON");
        list.as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let label = |k: &str| c["Labels"][k].as_str().unwrap_or_default().to_owned();
                let service = label("com.docker.swarm.service.name");
                let service = service.strip_prefix(&format!("{}_", self.name)).unwrap_or(&service).to_owned();
                (
                    service,
                    label("com.docker.swarm.task.id"),
                    c["Image"].as_str().unwrap_or_default().to_owned(),
                    c["State"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Every service runs `expected` everywhere, within `within`: the
    /// service specs (from every manager in `up`), one running task of the
    /// current spec per node for global services and only on the labelled
    /// node for stateful ones, and on each node in `up` exactly the
    /// containers of those tasks.
    pub fn assert_everywhere(&self, expected: &Snapshot, up: &[&Node], within: Duration, context: &str) {
        let start = Instant::now();
        loop {
            let problems = self.problems(expected, up);
            if problems.is_empty() {
                return;
            }
            if start.elapsed() > within {
                panic!("{context}: after {within:?}:\n  {}", problems.join("\n  "));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn problems(&self, expected: &Snapshot, up: &[&Node]) -> Vec<String> {
        let mut out = Vec::new();
        let managers: Vec<&&Node> = up.iter().filter(|n| n.role == crate::bed::Role::Manager).collect();
        let Some(manager) = managers.first() else {
            return vec!["no manager among the nodes that are up".into()];
        };
        for m in &managers {
            let running: Snapshot = self.running_on(m).into_iter().map(|(k, (s, _))| (k, s)).collect();
            if &running != expected {
                out.push(format!("services as manager {} sees them differ: {running:#?}", m.hostname));
            }
        }
        let tasks = self.tasks_on(manager);
        let global = self.global_services_on(manager);
        let labelled = &self.bed.labelled().hostname;
        for (service, want) in expected {
            let live: Vec<&Task> = tasks.iter().filter(|t| &t.service == service && t.desired == "running").collect();
            for t in &live {
                if t.state != "running" {
                    out.push(format!("{service}: task {} on {} is {}", t.id, t.node, t.state));
                }
                if &t.spec != want {
                    out.push(format!("{service}: task {} on {} runs {:?}", t.id, t.node, t.spec));
                }
            }
            let mut on: Vec<&str> = live.iter().map(|t| t.node.as_str()).collect();
            on.sort_unstable();
            if global.contains(service) {
                let mut all: Vec<&str> = up.iter().map(|n| n.hostname.as_str()).collect();
                all.sort_unstable();
                if on != all {
                    out.push(format!("{service} (global): tasks on {on:?}, want one on each of {all:?}"));
                }
            } else if on.len() != 1 {
                out.push(format!("{service}: {} tasks ({on:?}), want 1", on.len()));
            }
            if service == "prometheus" && on.iter().any(|n| n != labelled) {
                out.push(format!("{service} (stateful): on {on:?}, want only {labelled} (monitoring=true)"));
            }
        }
        for node in up {
            let want: Vec<&Task> = tasks.iter().filter(|t| t.node == node.hostname && t.desired == "running").collect();
            let containers = self.containers_on(node);
            let live: Vec<&(String, String, String, String)> = containers.iter().filter(|c| c.3 == "running").collect();
            for t in &want {
                match live.iter().find(|c| c.1 == t.id) {
                    None => out.push(format!("{}: no running container of {} task {}", node.hostname, t.service, t.id)),
                    Some(c) if expected.get(&t.service).is_some_and(|e| !e.image.ends_with(digest_of(&c.2))) => {
                        out.push(format!("{}: container of {} runs image {}", node.hostname, t.service, c.2))
                    }
                    Some(_) => {}
                }
            }
            for c in &live {
                if !want.iter().any(|t| t.id == c.1) {
                    out.push(format!("{}: container of {} task {} runs but is not wanted", node.hostname, c.0, c.1));
                }
            }
        }
        out
    }

    /// `status --output json` from `node` agrees with what runs: revision
    /// `revision` is current, no lock, every service matches it and has
    /// all its tasks running (a task per node in `up` for the global one).
    pub fn assert_status(&self, node: &Node, revision: u64, up: &[&Node], context: &str) -> serde_json::Value {
        let status = self.status_on(node);
        let global = self.global_services_on(node);
        assert_eq!(status["current_revision"], revision, "{context}: {status:#}");
        assert!(status["lock"].is_null(), "{context}: lock still held: {status:#}");
        assert!(status["services_missing"].as_array().is_none_or(|m| m.is_empty()), "{context}: {status:#}");
        for svc in status["services"].as_array().expect("services") {
            assert_eq!(svc["matches_revision"], true, "{context}: {svc}");
            assert_eq!(svc["running"], svc["desired"], "{context}: {svc}");
            if svc["name"].as_str().is_some_and(|n| global.contains(n)) {
                assert_eq!(svc["desired"], up.len(), "{context}: one task per node: {svc}");
            }
        }
        status
    }

    /// A PromQL instant query against Prometheus on the labelled node's
    /// address (its host-mode port); the vector result.
    pub fn query(&self, promql: &str, time: f64) -> Option<Vec<serde_json::Value>> {
        use std::io::{Read as _, Write as _};
        let addr = (self.bed.labelled().address.as_str(), self.prom_port);
        let mut stream = std::net::TcpStream::connect(addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let path = format!("/api/v1/query?query={}&time={time:.3}", encode(promql));
        write!(stream, "GET {path} HTTP/1.0\r\nHost: prometheus\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let v: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()?;
        (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

/// Absolute path of a multi-node fixture (`Fixture::fill` joins it to the
/// e2e fixtures' directory, which an absolute path replaces).
fn multinode_fixture(file: &str) -> String {
    format!("{}/tests/fixtures/multinode/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// `sha256:…` of an image reference, or the reference itself.
fn digest_of(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, d)| d)
}

impl Drop for BedStack<'_> {
    fn drop(&mut self) {
        // The stack's objects go with the bed (each scenario has its own).
        eprintln!("multinode {}: scenario took {:.1}s", self.scenario, self.started.elapsed().as_secs_f64());
    }
}
