//! The Alertmanager cluster across nodes (scripts/swarm-bed.sh, three
//! managers and one worker on this machine): the two peers, as the bundle
//! renders them, land on two nodes, see each other over the overlay, notify
//! once, and after one of their nodes is lost the other still notifies.
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
