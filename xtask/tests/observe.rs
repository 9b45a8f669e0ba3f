//! End to end on the real engine: what the stack observes about the hosts,
//! and the Alertmanager cluster, deployed from the repository's own bundle
//! (`stack/rendered/docker-stack.yml`, services taken as rendered) with
//! `docker stack deploy`, the tool the bundle is written for, on the test
//! images. What differs from the bundle, and why, is said where it is done.
//! Skipped (with a message) without an engine or test images, failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use harness::{docker_cli, free_port, rendered_bundle};
use serde_json::{Value, json};

/// One uniquely named stack on its own overlay network, removed (with the
/// network and any image built for it) when dropped.
struct Deployed {
    stack: String,
    network: String,
    images: Vec<String>,
    dir: tempfile::TempDir,
}

impl Deployed {
    /// A new stack name and network, or `None` when the engine or the test
    /// images are missing outside CI.
    fn new(scenario: &str) -> Option<(Deployed, toml::Table)> {
        let images = match (harness::test_images(), docker_cli(&["node", "ls", "-q"])) {
            (Ok(images), out) if out.status.success() => images,
            (images, out) => {
                let why = images.err().unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned());
                assert!(std::env::var_os("CI").is_none(), "observe {scenario}: {why}");
                eprintln!("observe {scenario}: SKIPPED: {why}");
                return None;
            }
        };
        let stack = format!("obs{}x{:04}", std::process::id(), nanos() % 10_000);
        let network = format!("{stack}_net");
        let out = docker_cli(&["network", "create", "-d", "overlay", "--attachable", &network]);
        assert!(out.status.success(), "creating {network}: {}", text(&out.stderr));
        let dir = tempfile::Builder::new().prefix(&format!("{stack}-")).tempdir().unwrap();
        Some((Deployed { stack, network, images: Vec::new(), dir }, images))
    }

    /// `docker stack deploy` of `services` (taken from the bundle and
    /// adapted), with the bundle's network keys pointing at this stack's
    /// network.
    fn deploy(&self, services: Value, networks: Value) {
        self.deploy_with_configs(services, networks, json!({}));
    }

    /// As [`Deployed::deploy`], with Swarm configs made from files.
    fn deploy_with_configs(&self, services: Value, networks: Value, configs: Value) {
        // The bundle's own Compose version: its schema must allow what the
        // rendered services carry (pids limits, start_interval).
        let file = json!({ "version": rendered_bundle()["version"], "services": services, "networks": networks, "configs": configs });
        let path = self.dir.path().join("stack.yml");
        std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
        let out = docker_cli(&["stack", "deploy", "--detach=true", "-c", path.to_str().unwrap(), &self.stack]);
        assert!(out.status.success(), "stack deploy: {}", text(&out.stderr));
    }

    /// Ids of the running containers of service `short` on this node.
    fn containers(&self, short: &str) -> Vec<String> {
        let filter = format!("label=com.docker.swarm.service.name={}_{short}", self.stack);
        let out = docker_cli(&["ps", "-q", "--filter", &filter, "--filter", "status=running"]);
        text(&out.stdout).split_whitespace().map(str::to_owned).collect()
    }
}

impl Drop for Deployed {
    fn drop(&mut self) {
        let _ = docker_cli(&["stack", "rm", &self.stack]);
        // The network is in use until the tasks are gone.
        for _ in 0..60 {
            if docker_cli(&["network", "rm", &self.network]).status.success() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        for image in &self.images {
            let _ = docker_cli(&["image", "rm", "-f", image]);
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The bundle's networks, the stack's overlay renamed to `network`.
fn networks(bundle: &Value, network: &str) -> Value {
    let mut networks = bundle["networks"].clone();
    for (_, n) in networks.as_object_mut().unwrap().iter_mut() {
        if n["name"] != "host" {
            n["name"] = json!(network);
        }
    }
    networks
}

fn pinned(images: &toml::Table, name: &str) -> String {
    images["images"][name]["pinned"].as_str().unwrap().to_owned()
}

/// node-exporter as rendered (host network, `hostname: {{.Node.Hostname}}`,
/// the host's /proc, /sys and / with the --path flags) reports the node's
/// name and the host's interfaces, and the otel-agent's way in (an overlay
/// task with the `host-gateway` extra host) reaches it.
#[test]
fn node_exporter_reports_the_hosts_name_and_interfaces() {
    let Some((stack, images)) = Deployed::new("host_truth") else { return };
    let bundle = rendered_bundle();
    let port = free_port();

    let mut exporter = bundle["services"]["node-exporter"].clone();
    exporter["image"] = json!(pinned(&images, "node-exporter"));
    // Another port than 9100: a node_exporter of another test or of the
    // machine may hold 9100 in the host's namespace.
    exporter["command"].as_array_mut().unwrap().push(json!(format!("--web.listen-address=:{port}")));
    // The test image is FROM scratch (no wget for the bundle's probe).
    exporter.as_object_mut().unwrap().remove("healthcheck");

    // The otel-agent as rendered (network, extra_hosts, environment), with
    // the busybox probe image in place of the collector, which has no test
    // image: it fetches what the agent would scrape.
    let mut agent = bundle["services"]["otel-agent"].clone();
    agent["image"] = json!(pinned(&images, "probe"));
    let agent_map = agent.as_object_mut().unwrap();
    agent_map.remove("command");
    agent_map.remove("configs");

    stack.deploy(json!({ "node-exporter": exporter, "otel-agent": agent }), networks(&bundle, &stack.network));

    let mut metrics = String::new();
    harness::wait_for(Duration::from_secs(120), "node-exporter through the host gateway", || {
        let Some(agent) = stack.containers("otel-agent").into_iter().next() else { return false };
        let url = format!("http://host.docker.internal:{port}/metrics");
        let out = docker_cli(&["exec", &agent, "wget", "-qO-", &url]);
        metrics = text(&out.stdout);
        out.status.success() && metrics.contains("node_uname_info")
    });

    // The Hosts dashboard lists its nodes as `label_values(node_uname_info,
    // nodename)`: those values are the Swarm's node names.
    let hosts_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/generated/etl-hosts.json");
    let hosts: Value = serde_json::from_str(&std::fs::read_to_string(hosts_path).unwrap()).unwrap();
    let node_variable = hosts["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "node").unwrap();
    assert_eq!(node_variable["query"], "label_values(node_uname_info, nodename)");
    let node = text(&docker_cli(&["node", "inspect", "self", "--format", "{{.Description.Hostname}}"]).stdout);
    let nodename = label_values(&metrics, "node_uname_info", "nodename");
    assert_eq!(
        nodename,
        BTreeSet::from([node.trim().to_owned()]),
        "node_uname_info{{nodename}} is not `docker node ls`"
    );

    // Interfaces come and go while other containers and overlay networks
    // start and stop (veth pairs; `vx-…` VXLAN devices the engine creates
    // in the host's namespace and then moves): the host's interfaces are
    // listed just before and just after one more scrape, those present
    // both times must be reported, and nothing reported may be unknown to
    // the host at either time.
    let host_interfaces = || -> BTreeSet<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let agent = stack.containers("otel-agent").into_iter().next().unwrap();
    let before = host_interfaces();
    let out = docker_cli(&["exec", &agent, "wget", "-qO-", &format!("http://host.docker.internal:{port}/metrics")]);
    let after = host_interfaces();
    assert!(out.status.success(), "scraping again: {}", text(&out.stderr));
    let reported = label_values(&text(&out.stdout), "node_network_receive_bytes_total", "device");
    let always: BTreeSet<String> = before.intersection(&after).cloned().collect();
    let ever: BTreeSet<String> = before.union(&after).cloned().collect();
    let missing: Vec<_> = always.difference(&reported).collect();
    assert!(missing.is_empty(), "host interfaces not reported: {missing:?} (reported {reported:?})");
    let foreign: Vec<_> =
        reported.iter().filter(|d| !ever.contains(*d) && !d.starts_with("veth") && !d.starts_with("vx-")).collect();
    assert!(foreign.is_empty(), "reported interfaces the host does not have: {foreign:?} (host {ever:?})");
    assert!(reported.contains("docker_gwbridge"), "the host's bridges are seen: {reported:?}");
}

/// Two Alertmanager replicas as rendered (entrypoint that advertises the
/// overlay address, cluster flags, spread preference) find each other (each
/// one's /api/v2/status lists both peers, on the overlay), and an alert sent
/// to both, as Prometheus does, is notified once.
#[test]
fn alertmanager_replicas_form_a_cluster_and_notify_once() {
    let Some((mut stack, images)) = Deployed::new("am_cluster") else { return };
    let bundle = rendered_bundle();

    // The bundle's entrypoint needs the shell the real image has
    // (prom/alertmanager is busybox-based); the test image is FROM scratch,
    // so add the probe image's busybox to it.
    let image = format!("observe-test/alertmanager-sh:{}", stack.stack);
    let dockerfile = format!(
        "FROM {} AS sh\nFROM {}\nCOPY --from=sh /bin/ /bin/\n",
        pinned(&images, "probe"),
        pinned(&images, "alertmanager")
    );
    std::fs::write(stack.dir.path().join("Dockerfile"), dockerfile).unwrap();
    let out = docker_cli(&["build", "-q", "-t", &image, stack.dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "building {image}: {}", text(&out.stderr));
    stack.images.push(image.clone());

    // A webhook receiver that answers 200 and prints each request: the
    // notifications are counted in its log.
    let config = "route:\n  receiver: sink\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 5m\n  \
                  repeat_interval: 4h\nreceivers:\n  - name: sink\n    webhook_configs:\n      \
                  - url: http://sink:8080/\n        send_resolved: false\n";
    std::fs::write(stack.dir.path().join("alertmanager.yml"), config).unwrap();
    let sink = json!({
        "image": pinned(&images, "probe"),
        "command": harness::webhook_sink_command(),
        "networks": ["etl_network"],
        // Its name resolves to the task itself: the test machine's engine
        // may lack IPVS, which a VIP needs.
        "deploy": { "endpoint_mode": "dnsrr" },
    });

    let mut am = bundle["services"]["alertmanager"].clone();
    am["image"] = json!(image);
    let map = am.as_object_mut().unwrap();
    // The webhook config above instead of the bundle's (which needs the
    // on-call secrets); no published port (9093 may be taken on this
    // machine) and no named volume to clean up.
    for key in ["secrets", "ports", "volumes"] {
        map.remove(key);
    }
    am["configs"] = json!([{ "source": "am_test", "target": "/etc/alertmanager/alertmanager.yml" }]);
    assert_eq!(am["deploy"]["replicas"], 2, "the bundle runs two Alertmanager peers");
    let file = stack.dir.path().join("alertmanager.yml");
    stack.deploy_with_configs(
        json!({ "alertmanager": am, "sink": sink }),
        networks(&bundle, &stack.network),
        json!({ "am_test": { "file": file.to_str().unwrap() } }),
    );

    let mut last = Vec::new();
    harness::wait_for(Duration::from_secs(120), "two Alertmanager peers that see each other", || {
        let containers = stack.containers("alertmanager");
        last = containers
            .iter()
            .map(|c| {
                let out = docker_cli(&["exec", c, "wget", "-qO-", "http://127.0.0.1:9093/api/v2/status"]);
                serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
            })
            .collect();
        containers.len() == 2
            && last.iter().all(|s| {
                s["cluster"]["status"] == "ready" && s["cluster"]["peers"].as_array().is_some_and(|p| p.len() == 2)
            })
    });
    // Each peer advertises its overlay address, never docker_gwbridge's.
    let subnet = text(
        &docker_cli(&["network", "inspect", &stack.network, "--format", "{{(index .IPAM.Config 0).Subnet}}"]).stdout,
    );
    let prefix: String = subnet.trim().rsplit_once('.').unwrap().0.to_owned();
    for peer in last[0]["cluster"]["peers"].as_array().unwrap() {
        let address = peer["address"].as_str().unwrap();
        assert!(address.starts_with(&format!("{prefix}.")), "peer {address} is not on the overlay {subnet}");
    }

    // One alert to every peer, as Prometheus sends it.
    harness::wait_for(Duration::from_secs(60), "the sink", || !stack.containers("sink").is_empty());
    let alert = r#"[{"labels":{"alertname":"ObserveDedup","severity":"warning"}}]"#;
    for c in stack.containers("alertmanager") {
        let out = docker_cli(&[
            "exec",
            &c,
            "wget",
            "-qO-",
            "--header",
            "Content-Type: application/json",
            "--post-data",
            alert,
            "http://127.0.0.1:9093/api/v2/alerts",
        ]);
        assert!(out.status.success(), "posting the alert: {}", text(&out.stderr));
    }
    let notifications = || {
        let logs = docker_cli(&["service", "logs", "--raw", &format!("{}_sink", stack.stack)]);
        text(&logs.stdout).lines().filter(|l| l.starts_with("POST ")).count()
    };
    let start = std::time::Instant::now();
    while notifications() < 1 {
        if start.elapsed() > Duration::from_secs(120) {
            let logs = |svc: &str| {
                let out = docker_cli(&["service", "logs", "--raw", &format!("{}_{svc}", stack.stack)]);
                format!("{}{}", text(&out.stdout), text(&out.stderr))
            };
            panic!(
                "no notification within 120s\n--- alertmanager logs:\n{}\n--- sink logs:\n{}",
                logs("alertmanager"),
                logs("sink")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The second peer waits its position times --cluster.peer-timeout (15s)
    // before it would notify, then finds the first one's entry in the
    // gossiped notification log.
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(notifications(), 1, "the cluster notified more than once");
}

/// The values of `label` on the samples of `metric` in a text exposition.
fn label_values(exposition: &str, metric: &str, label: &str) -> BTreeSet<String> {
    let prefix = format!("{metric}{{");
    let key = format!("{label}=\"");
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once(&key).map(|(_, v)| v))
        .filter_map(|v| v.split_once('"').map(|(value, _)| value.to_owned()))
        .collect()
}
