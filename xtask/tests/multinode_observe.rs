//! The Alertmanager cluster across nodes (scripts/swarm-bed.sh, three
//! managers and one worker on this machine): the two peers, as the bundle
//! renders them, land on two nodes, see each other over the overlay, notify
//! once, and after one of their nodes is lost the other still notifies.
//!
//! And a lost node raises `SwarmNodeLost`: each node's host metrics reach
//! a central Prometheus as in the stack (a per-node agent scrapes the
//! node's node_exporter, labels it with the node's hostname and
//! remote-writes it), and when a node dies with its agent the alert fires
//! for that node, named as `docker node ls` names it, and for no other.
//!
//! Run only with MONITORING_MULTINODE=1, as root (see multinode.rs); the
//! bed (named `mnbob…`) is torn down by its Drop guard, also on failure.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

// The bed's module serves several scenario files; this one uses part of it.
#[allow(dead_code)]
#[path = "multinode/bed.rs"]
mod bed;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/live.rs"]
mod live;

use std::path::Path;
use std::time::Duration;

use bed::{Bed, Node, docker_cli};
use serde_json::{Value, json};

/// Running containers of `<stack>_<short>` on `node`.
fn containers(node: &Node, stack: &str, short: &str) -> Vec<String> {
    let filter = format!("label=com.docker.swarm.service.name={stack}_{short}");
    docker_cli(node, &["ps", "-q", "--filter", &filter, "--filter", "status=running"])
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn post_alert(node: &Node, container: &str, name: &str) {
    let alert = format!(r#"[{{"labels":{{"alertname":"{name}","severity":"warning"}}}}]"#);
    docker_cli(
        node,
        &[
            "exec",
            container,
            "wget",
            "-qO-",
            "--header",
            "Content-Type: application/json",
            "--post-data",
            &alert,
            "http://127.0.0.1:9093/api/v2/alerts",
        ],
    )
    .unwrap();
}

#[test]
fn alertmanager_keeps_notifying_when_a_node_is_lost() {
    let Some(bed) = Bed::up_prefixed("am_ha", "mnbob", 3, 1) else { return };
    let images = harness::test_images().unwrap();
    let pinned = |n: &str| images["images"][n]["pinned"].as_str().unwrap().to_owned();
    let on_bed = |reference: &str| reference.replace("127.0.0.1:5000", &bed.layout.registry);

    // The Alertmanager test image plus the probe's busybox (the bundle's
    // entrypoint needs a shell, as the real image has), pushed to the
    // loopback registry, whose storage the bed's registry serves.
    let dir = tempfile::tempdir().unwrap();
    let local = format!("127.0.0.1:5000/observe-test/alertmanager-sh:{}", bed.name());
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {} AS sh\nFROM {}\nCOPY --from=sh /bin/ /bin/\n", pinned("probe"), pinned("alertmanager")),
    )
    .unwrap();
    assert!(harness::docker_cli(&["build", "-q", "-t", &local, dir.path().to_str().unwrap()]).status.success());
    assert!(harness::docker_cli(&["push", "-q", &local]).status.success(), "pushing {local}");
    let _ = harness::docker_cli(&["image", "rm", &local]);

    let first = bed.node(1);
    let stack = "obsha";
    let network = format!("{}_obsnet", bed.name());
    docker_cli(first, &["network", "create", "-d", "overlay", "--attachable", &network]).unwrap();

    let bundle = harness::rendered_bundle();
    let mut am = bundle["services"]["alertmanager"].clone();
    am["image"] = json!(on_bed(&local));
    for key in ["secrets", "ports", "volumes"] {
        am.as_object_mut().unwrap().remove(key);
    }
    am["configs"] = json!([{ "source": "am_test", "target": "/etc/alertmanager/alertmanager.yml" }]);
    let sink = json!({
        "image": on_bed(&pinned("probe")),
        "command": harness::webhook_sink_command(),
        "networks": ["etl_network"],
        // On node 1, which stays; its name resolves to the task (no VIP).
        "deploy": { "endpoint_mode": "dnsrr", "placement": { "constraints": [format!("node.hostname == {}", first.hostname)] } },
    });
    let config = "route:\n  receiver: sink\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 5m\n  \
                  repeat_interval: 4h\nreceivers:\n  - name: sink\n    webhook_configs:\n      \
                  - url: http://sink:8080/\n        send_resolved: false\n";
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    let mut networks = bundle["networks"].clone();
    networks["etl_network"]["name"] = json!(network);
    networks.as_object_mut().unwrap().remove("hostnet");
    let file = json!({
        // The bundle's own Compose version: its schema must allow what the
        // rendered service carries (pids limits, start_interval).
        "version": bundle["version"].clone(),
        "services": { "alertmanager": am, "sink": sink },
        "networks": networks,
        "configs": { "am_test": { "file": dir.path().join("alertmanager.yml").to_str().unwrap() } },
    });
    let path = dir.path().join("stack.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    docker_cli(first, &["stack", "deploy", "--detach=true", "-c", path.to_str().unwrap(), stack]).unwrap();

    // Where the peers run: two nodes (the spread preference), each peer
    // listing both (gossip across nodes over the overlay).
    let mut placed: Vec<(Node, String)> = Vec::new();
    harness::wait_for(Duration::from_secs(240), "two peers on two nodes that see each other", || {
        placed = bed
            .nodes()
            .iter()
            .flat_map(|n| containers(n, stack, "alertmanager").into_iter().map(move |c| (n.clone(), c)))
            .collect();
        placed.len() == 2
            && placed[0].0.index != placed[1].0.index
            && placed.iter().all(|(n, c)| {
                let status = docker_cli(n, &["exec", c, "wget", "-qO-", "http://127.0.0.1:9093/api/v2/status"])
                    .ok()
                    .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                    .unwrap_or(Value::Null);
                status["cluster"]["peers"].as_array().is_some_and(|p| p.len() == 2)
            })
    });
    let posts = |needle: &str| {
        docker_cli(first, &["service", "logs", "--raw", &format!("{stack}_sink")])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    };
    harness::wait_for(Duration::from_secs(60), "the sink", || !containers(first, stack, "sink").is_empty());

    // Sent to both, notified once.
    for (n, c) in &placed {
        post_alert(n, c, "ObserveBeforeLoss");
    }
    harness::wait_for(Duration::from_secs(60), "the first notification", || posts("ObserveBeforeLoss") >= 1);
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(posts("ObserveBeforeLoss"), 1, "the cluster notified more than once");

    // Lose the node of one peer (not node 1, where the sink and the CLI
    // are); the other still notifies a new alert.
    let (lost, survivor) = if placed[0].0.index != 1 { (&placed[0], &placed[1]) } else { (&placed[1], &placed[0]) };
    bed.kill_node(lost.0.index);
    post_alert(&survivor.0, &survivor.1, "ObserveAfterLoss");
    // A bound, not a timing check: the survivor first waits its position
    // times the peer timeout (15s), and the lost peer leaves the member
    // list only once gossip has declared it dead. Once here (1 run in 3) no
    // notification came within 90s; the cause is not yet known.
    harness::wait_for(Duration::from_secs(180), "a notification after the node loss", || {
        posts("ObserveAfterLoss") >= 1
    });
}

/// The generated `targets` rules with SwarmNodeLost's `for:` cut from 3m to
/// 10s (its windows, 24h remembered and 2m present, are the real ones), so
/// the test waits about 2.5 minutes instead of 5.
fn targets_rules_with_short_for() -> String {
    let text = std::fs::read_to_string(live::repo().join("alerts/generated/rules/targets.rules.yml")).unwrap();
    let start = text.find("- alert: \"SwarmNodeLost\"").expect("targets.rules.yml has SwarmNodeLost");
    let (head, rule) = text.split_at(start);
    assert!(rule.contains("for: \"3m\""), "SwarmNodeLost's for: changed; update this test");
    format!("{head}{}", rule.replacen("for: \"3m\"", "for: \"10s\"", 1))
}

#[test]
fn a_lost_node_raises_swarm_node_lost_for_that_node_only() {
    let (Some(prometheus), Some(node_exporter)) =
        (live::find_tool("prometheus", "PROMETHEUS"), live::find_tool("node_exporter", "NODE_EXPORTER"))
    else {
        live::skip_or_fail("multinode_observe", "prometheus or node_exporter not found (scripts/install-tools.sh)");
        return;
    };
    let Some(bed) = Bed::up_prefixed("node_lost", "mnbnl", 1, 2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let host = bed.layout.registry.rsplit_once(':').unwrap().0.to_owned();
    let central = format!("{host}:{}", harness::free_port());

    // The central Prometheus, on the bed's bridge (where every node reaches
    // the host), receiving remote writes and evaluating the targets rules.
    std::fs::write(dir.path().join("targets.rules.yml"), targets_rules_with_short_for()).unwrap();
    std::fs::write(
        dir.path().join("central.yml"),
        "global:\n  evaluation_interval: 5s\nrule_files: [targets.rules.yml]\n",
    )
    .unwrap();
    let _central = live::Process::spawn(
        &prometheus,
        &[
            format!("--config.file={}", dir.path().join("central.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("central-tsdb").display()),
            format!("--web.listen-address={central}"),
            "--web.enable-remote-write-receiver".to_owned(),
        ],
        &dir.path().join("central.log"),
    );

    // On every node, in its network namespace: node_exporter, and an agent
    // (Prometheus in agent mode standing in for the otel-agent, whose image
    // cannot run here) with the otel-agent's job name and node label.
    let mut on_node: Vec<(usize, Vec<live::Process>)> = Vec::new();
    for node in bed.nodes() {
        let netns = format!("--net=/run/netns/{}", node.netns);
        let exporter_at = format!("{}:9100", node.address);
        let agent_yml = dir.path().join(format!("agent-{}.yml", node.index));
        std::fs::write(
            &agent_yml,
            format!(
                "global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: node-exporter\n    static_configs:\n      \
                 - targets: ['{exporter_at}']\n        labels: {{node: '{hostname}', instance: '{hostname}'}}\n\
                 remote_write:\n  - url: http://{central}/api/v1/write\n",
                hostname = node.hostname
            ),
        )
        .unwrap();
        let exporter = live::Process::spawn(
            Path::new("nsenter"),
            &[netns.clone(), node_exporter.display().to_string(), format!("--web.listen-address={exporter_at}")],
            &dir.path().join(format!("node-exporter-{}.log", node.index)),
        );
        let agent = live::Process::spawn(
            Path::new("nsenter"),
            &[
                netns,
                prometheus.display().to_string(),
                "--agent".to_owned(),
                format!("--config.file={}", agent_yml.display()),
                format!("--storage.agent.path={}", dir.path().join(format!("agent-{}", node.index)).display()),
                format!("--web.listen-address={}:9090", node.address),
            ],
            &dir.path().join(format!("agent-{}.log", node.index)),
        );
        on_node.push((node.index, vec![exporter, agent]));
    }
    let logs = || {
        ["central.log", "agent-1.log", "agent-3.log"]
            .iter()
            .map(|f| format!("{f}:\n{}", std::fs::read_to_string(dir.path().join(f)).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let query = |expr: &str| live::prometheus_query(&[], &format!("http://{central}"), expr).unwrap_or_default();
    let reporting = || {
        let mut nodes: Vec<String> = query(r#"up{job="node-exporter"} == 1"#)
            .iter()
            .filter_map(|s| s["metric"]["node"].as_str().map(str::to_owned))
            .collect();
        nodes.sort();
        nodes
    };
    let mut hostnames: Vec<String> = bed.nodes().iter().map(|n| n.hostname.clone()).collect();
    hostnames.sort();
    let started = std::time::Instant::now();
    while reporting() != hostnames {
        assert!(started.elapsed() < Duration::from_secs(90), "every node reporting: {:?}\n{}", reporting(), logs());
        std::thread::sleep(Duration::from_secs(1));
    }
    let firing = || {
        query(r#"ALERTS{alertname="SwarmNodeLost", alertstate="firing"}"#)
            .iter()
            .filter_map(|s| s["metric"]["node"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(firing(), Vec::<String>::new(), "no node lost yet");

    // Node 3 dies: its engine, and with the machine its exporter and agent.
    let lost = bed.node(3).clone();
    bed.kill_node(3);
    for (_, processes) in on_node.iter_mut().filter(|(index, _)| *index == 3) {
        // SIGKILL, as a machine that dies: no goodbye, no staleness markers.
        processes.iter_mut().for_each(|p| drop(p.0.kill()));
    }
    on_node.retain(|(index, _)| *index != 3);
    let manager = bed.node(1);
    harness::wait_for(Duration::from_secs(120), "the Swarm sees node 3 down", || {
        docker_cli(manager, &["node", "inspect", &lost.hostname, "--format", "{{.Status.State}}"])
            .is_ok_and(|s| s.trim() == "down")
    });
    let started = std::time::Instant::now();
    while firing().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "SwarmNodeLost did not fire within 240s of the loss\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    // Named as the Swarm names it, and only that node.
    assert_eq!(firing(), vec![lost.hostname.clone()]);
    let listed = docker_cli(manager, &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]).unwrap();
    assert!(listed.lines().any(|l| l == format!("{} Down", lost.hostname)), "docker node ls:\n{listed}");
    drop(on_node);
}
