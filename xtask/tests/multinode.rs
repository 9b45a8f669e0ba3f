//! Multi-node Swarm scenarios: the real `cargo xtask deploy | rollback |
//! status`, run from different managers of a Swarm of several Docker
//! engines on this machine (scripts/swarm-bed.sh: one engine per network
//! namespace, 3 managers + 1 worker, `monitoring=true` on node 2), pulling
//! the test images by digest from the bed's registry. Each scenario gets a
//! fresh bed and checks every service's spec, every task on every node and
//! `status` afterwards, not only exit codes.
//!
//! Run only with MONITORING_MULTINODE=1 (CI's `multinode` phase; see the
//! README), as root; skipped with a message otherwise.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "multinode/bed.rs"]
mod bed;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "multinode/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use bed::{Bed, Node};
use harness::{Snapshot, code, signal, stderr, stderr_lines, stdout, unix_now, wait_for, wait_line};
use stack::BedStack;

const NEVER_HEALTHY: &str = r#"["CMD-SHELL", "exit 1"]"#;
/// How long a settled bed may take to show a converged state.
const SETTLE: Duration = Duration::from_secs(60);

/// Every node of the bed.
fn all(bed: &Bed) -> Vec<&Node> {
    bed.nodes().iter().collect()
}

/// Deploys the default stack from node 1 (revision 1) and checks it
/// everywhere.
fn first(stack: &BedStack<'_>) -> Snapshot {
    let v1 = stack.render();
    let out = stack.deploy_on(stack.bed.node(1), &[]);
    assert_eq!(code(&out), Some(0), "first deploy failed:\n{}", stderr(&out));
    stack.assert_everywhere(&v1, &all(stack.bed), SETTLE, "after the first deploy");
    stack.assert_status(stack.bed.node(1), 1, &all(stack.bed), "after the first deploy");
    v1
}

#[test]
fn global_service_first_deploy_and_noop_redeploy() {
    let Some(bed) = Bed::up("first_and_noop", 3, 1) else { return };
    let stack = BedStack::new(&bed, "first_and_noop");
    let v1 = first(&stack);
    // The stateful service is on the labelled node, not where deploy ran.
    assert_ne!(bed.labelled().index, 1, "the bed labels a node other than the deploying one");

    let before = stack.versions_on(bed.node(1));
    let out = stack.deploy_on(bed.node(1), &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions_on(bed.node(1)), before, "a no-op deploy bumped a service version");
    // The same no-op from another manager: still nothing to do.
    let out = stack.deploy_on(bed.node(3), &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions_on(bed.node(3)), before, "a no-op deploy from node 3 bumped a service version");
    stack.assert_everywhere(&v1, &all(&bed), SETTLE, "after the no-op redeploys");
    stack.assert_status(bed.node(2), 1, &all(&bed), "after the no-op redeploys (status from node 2)");
}

#[test]
fn global_service_change_reaches_every_node() {
    let Some(bed) = Bed::up("global_change", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "global_change");
    first(&stack);
    let before = stack.versions_on(bed.node(1));
    stack.node_exporter_extra = vec!["--web.max-requests=41".into()];
    let v2 = stack.render();
    assert_ne!(v2["node-exporter"].args, stack.running_on(bed.node(1))["node-exporter"].0.args);
    let t = Instant::now();
    let out = stack.deploy_on(bed.node(1), &[]);
    eprintln!("global change on {} nodes: {:.1}s", bed.nodes().len(), t.elapsed().as_secs_f64());
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let after = stack.versions_on(bed.node(1));
    for (name, version) in &before {
        if name == "node-exporter" {
            assert_ne!(after[name], *version, "node-exporter changed and must be updated");
        } else {
            assert_eq!(after[name], *version, "`{name}` did not change but was updated");
        }
    }
    stack.assert_everywhere(&v2, &all(&bed), SETTLE, "after the global change");
    stack.assert_status(bed.node(3), 2, &all(&bed), "after the global change (status from node 3)");
    assert_rolled_out_on_every_node_at_once(&stack, "node-exporter");
}

/// The rendered policy of a global service (update_config.parallelism 0)
/// as Swarm applied it: every new task was created before any of them was
/// running. One node at a time, each next task is created only once the
/// previous one runs (an order of events, not a duration).
fn assert_rolled_out_on_every_node_at_once(stack: &BedStack<'_>, service: &str) {
    let node = stack.bed.node(1);
    let full = format!("{}_{service}", stack.name);
    let parallelism =
        bed::docker_cli(node, &["service", "inspect", "--format", "{{.Spec.UpdateConfig.Parallelism}}", &full])
            .unwrap();
    assert_eq!(parallelism.trim(), "0", "{full}: update parallelism as rendered for a global service");
    let ids = bed::docker_cli(node, &["service", "ps", "-q", "--filter", "desired-state=running", &full]).unwrap();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert_eq!(ids.len(), stack.bed.nodes().len(), "{full}: one running task per node");
    let mut args =
        vec!["inspect", "--format", "{{.CreatedAt.UnixNano}} {{.Status.State}} {{.Status.Timestamp.UnixNano}}"];
    args.extend(&ids);
    let tasks = bed::docker_cli(node, &args).unwrap();
    let mut created = Vec::new();
    let mut running_since = Vec::new();
    for line in tasks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.get(1), Some(&"running"), "{full}: task not running: {line}");
        created.push(fields[0].parse::<i128>().unwrap());
        running_since.push(fields[2].parse::<i128>().unwrap());
    }
    let (last_created, first_running) = (created.iter().max().unwrap(), running_since.iter().min().unwrap());
    assert!(
        last_created < first_running,
        "{full}: a task was created after another one already ran, i.e. not all at once:\n{tasks}"
    );
}

#[test]
fn stateful_service_stays_on_the_labelled_node_with_its_data() {
    let Some(bed) = Bed::up("stateful", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "stateful");
    first(&stack);
    wait_for(Duration::from_secs(60), "Prometheus to have ingested samples", || {
        count_at(&stack, unix_now()).is_some_and(|c| c > 50.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    let t0 = unix_now() - 1.0;
    let series = count_at(&stack, t0).expect("series at t0");

    stack.knobs.scrape_interval = "2s".into();
    let v2 = stack.render();
    let out = stack.deploy_on(bed.node(1), &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_everywhere(&v2, &all(&bed), SETTLE, "after the Prometheus config change");
    wait_for(Duration::from_secs(60), "Prometheus back after the rollout", || count_at(&stack, unix_now()).is_some());
    assert_eq!(count_at(&stack, t0), Some(series), "series at t0 after a rollout (same volume on the labelled node)");

    let out = stack.rollback_on(bed.node(3), &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    wait_for(Duration::from_secs(60), "Prometheus back after the rollback", || count_at(&stack, unix_now()).is_some());
    assert_eq!(count_at(&stack, t0), Some(series), "series at t0 after a rollback");
    stack.knobs.scrape_interval = "1s".into();
    let v1 = stack.render();
    stack.assert_everywhere(&v1, &all(&bed), SETTLE, "after the rollback");
    stack.assert_status(bed.node(1), 3, &all(&bed), "after the rollback");
}

#[test]
fn the_lock_holds_across_managers() {
    let Some(bed) = Bed::up("lock", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "lock");
    let (a, b) = (bed.node(1), bed.node(3));
    let v1 = first(&stack);

    // A's rollout is stuck on a probe that takes minutes to turn healthy.
    stack.knobs.probe_health = NEVER_HEALTHY.into();
    stack.knobs.probe_start_period = "120s".into();
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    let mut child = stack.spawn_deploy_on(a, &[]);
    let lines = stderr_lines(&mut child);
    wait_line(&lines, "probe: updating", Duration::from_secs(60));

    // B's deploy fails fast, naming A.
    let t = Instant::now();
    let second = stack.deploy_on(b, &[]);
    assert!(t.elapsed() < Duration::from_secs(15), "the deploy from B must fail fast");
    assert_eq!(code(&second), Some(4), "expected 'locked':\n{}", stderr(&second));
    let err = stderr(&second);
    assert!(err.contains(&a.hostname), "the holder's host ({}) is named:\n{err}", a.hostname);
    assert!(err.contains(&format!("pid {}", child.id())), "the holder's pid is named:\n{err}");

    // `status` from B reports A's live rollout and leaves it alone.
    let status = stack.status_on(b);
    assert!(status["in_progress"].as_str().is_some_and(|s| s.contains("in progress")), "{status:#}");
    assert!(status["lock"].as_str().is_some_and(|s| s.contains(&a.hostname)), "{status:#}");
    assert_eq!(status["history"][0]["outcome"], "in-progress", "{status:#}");

    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(2), "A's interrupted deploy rolls back");
    stack.assert_everywhere(&v1, &all(&bed), SETTLE, "after A's interrupted deploy");

    // A deploys a healthy v2; B rolls it back.
    stack.knobs = harness::Knobs::default();
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    let out = stack.deploy_on(a, &[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_everywhere(&v2, &all(&bed), SETTLE, "after A's deploy of v2");
    let out = stack.rollback_on(b, &[]);
    assert_eq!(code(&out), Some(0), "rollback from B:\n{}", stderr(&out));
    stack.assert_everywhere(&v1, &all(&bed), SETTLE, "after B's rollback");
    let status = stack.assert_status(a, 4, &all(&bed), "after B's rollback (status from A)");
    assert_eq!(status["history"][0]["rollback_to"], 1, "{status:#}");
    assert!(
        status["history"][0]["by"].as_str().is_some_and(|by| by.contains(&b.hostname)),
        "the rollback is recorded as B's: {status:#}"
    );
}

#[test]
fn global_change_failing_on_one_node_is_rolled_back_everywhere() {
    let Some(bed) = Bed::up("global_crash", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "global_crash");
    stack.agent_args = Some(harness::IDLE.into());
    let v1 = first(&stack);
    let bad = bed.node(3);
    stack.agent_args = Some(format!(
        r#"["-c", "if [ \"$NODE\" = {} ]; then echo \"fatal: cannot start on $NODE\" >&2; exit 3; fi; trap 'exit 0' TERM INT; while :; do sleep 1; done"]"#,
        bad.hostname
    ));
    let v2 = stack.render();
    assert_ne!(v2["agent"], v1["agent"]);
    let out = stack.deploy_on(bed.node(1), &[]);
    assert_eq!(code(&out), Some(2), "expected 'rolled back':\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("agent"), "the failing service is named:\n{err}");
    assert!(
        err.contains(&format!("fatal: cannot start on {}", bad.hostname)),
        "the failing task's log is shown:\n{err}"
    );
    stack.assert_everywhere(&v1, &all(&bed), SETTLE, "after the rollback of a change failing on one node");
    let status = stack.assert_status(bed.node(2), 1, &all(&bed), "after the rollback");
    assert_eq!(status["history"][0]["outcome"], "rolled-back", "{status:#}");
}

#[test]
fn prometheus_finds_node_exporter_on_every_node() {
    let Some(bed) = Bed::up("discovery", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "discovery");
    stack.discovery = true;
    first(&stack);
    // One target per node: the addresses of node-exporter's tasks, each up.
    let mut tasks: Vec<String> = stack
        .tasks_on(bed.node(1))
        .into_iter()
        .filter(|t| t.service == "node-exporter" && t.desired == "running")
        .flat_map(|t| t.addresses)
        .map(|a| format!("{a}:9100"))
        .collect();
    tasks.sort();
    assert_eq!(tasks.len(), bed.nodes().len(), "one node-exporter task address per node: {tasks:?}");
    let mut seen = Vec::new();
    let found = (0..120).any(|_| {
        let up = stack.query("up{job=\"node-exporter\"} == 1", unix_now()).unwrap_or_default();
        seen = up.iter().filter_map(|s| s["metric"]["instance"].as_str().map(str::to_owned)).collect();
        seen.sort();
        seen == tasks || {
            std::thread::sleep(Duration::from_millis(500));
            false
        }
    });
    assert!(found, "Prometheus' node-exporter targets that are up: {seen:?}, want every task: {tasks:?}");
}

#[test]
fn a_deploy_without_quorum_fails_clearly_and_the_next_one_finishes() {
    let Some(bed) = Bed::up("quorum", 3, 1) else { return };
    let mut stack = BedStack::new(&bed, "quorum");
    first(&stack);
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    bed.kill_node(2);
    bed.kill_node(3);
    let t = Instant::now();
    let out = stack.deploy_on(bed.node(1), &[]);
    let took = t.elapsed();
    let err = stderr(&out);
    eprintln!("deploy without quorum: {:?} in {:.1}s", code(&out), took.as_secs_f64());
    assert_ne!(code(&out), Some(0), "a deploy without quorum cannot succeed:\n{err}");
    let says = err.to_lowercase();
    assert!(says.contains("quorum") || says.contains("leader"), "the error says the Swarm lost its quorum:\n{err}");
    assert!(took < Duration::from_secs(60), "it fails within a minute, not at the deadline: {took:?}");

    bed.start_node(2, SETTLE);
    bed.start_node(3, SETTLE);
    let out = stack.deploy_on(bed.node(1), &[]);
    assert_eq!(code(&out), Some(0), "the next deploy finishes:\n{}", stderr(&out));
    stack.assert_everywhere(&v2, &all(&bed), SETTLE, "after quorum returned and the next deploy");
    let status = stack.status_on(bed.node(3));
    let current = status["history"][0]["number"].as_u64().expect("a revision");
    assert_eq!(status["history"][0]["outcome"], "succeeded", "{status:#}");
    stack.assert_status(bed.node(3), current, &all(&bed), "after the next deploy");
}

/// What a deploy did when a node's engine died during its rollout of a
/// global service.
struct LostNodeRun {
    code: Option<i32>,
    took: Duration,
    said: Vec<String>,
    /// The lost node's hostname.
    lost: String,
}

/// Deploys v1, then a node-exporter change from node 1, kills node 4's
/// dockerd once node-exporter is updating, and waits for the deploy. Then
/// checks what must hold however the deploy ended: every service on one
/// revision on the nodes left; once node 4 is back, its tasks follow that
/// revision and `status` agrees.
fn lose_a_node_mid_rollout(scenario: &str, deadline: u64) -> Option<LostNodeRun> {
    let bed = Bed::up(scenario, 3, 1)?;
    let mut stack = BedStack::new(&bed, scenario);
    stack.deadline = deadline;
    let v1 = first(&stack);
    let lost = bed.node(4);
    stack.node_exporter_extra = vec!["--web.max-requests=41".into()];
    let v2 = stack.render();
    let t = Instant::now();
    let mut child = stack.spawn_deploy_on(bed.node(1), &[]);
    let lines = stderr_lines(&mut child);
    wait_line(&lines, "node-exporter: updating", Duration::from_secs(60));
    bed.kill_node(lost.index);
    let code = child.wait().unwrap().code();
    let took = t.elapsed();
    let said: Vec<String> = lines.try_iter().collect();
    eprintln!("deploy with a lost node: {code:?} in {:.1}s (deadline {deadline}s)", took.as_secs_f64());

    // One revision for every service: all v1 (rolled back, exit 2) or all
    // v2 (done on the nodes left, exit 0). A rolled-back revision 2 leaves
    // revision 1 current.
    let running: Snapshot = stack.running_on(bed.node(1)).into_iter().map(|(k, (s, _))| (k, s)).collect();
    let (end, revision) = if running == v2 { (&v2, 2) } else { (&v1, 1) };
    assert_eq!(&running, end, "every service on one revision");
    assert_eq!(code, Some(if revision == 2 { 0 } else { 2 }), "exit code of the deploy");
    let left: Vec<&Node> = bed.nodes().iter().filter(|n| n.index != lost.index).collect();
    stack.assert_everywhere(end, &left, SETTLE, "on the nodes left, after the deploy");

    bed.start_node(lost.index, Duration::from_secs(60));
    stack.assert_everywhere(end, &all(&bed), SETTLE, "after the lost node returned");
    let status = stack.assert_status(bed.node(2), revision, &all(&bed), "after the lost node returned");
    let outcome = if revision == 2 { "succeeded" } else { "rolled-back" };
    assert_eq!(status["history"][0]["outcome"], outcome, "{status:#}");
    Some(LostNodeRun { code, took, said, lost: lost.hostname.clone() })
}

#[test]
fn a_node_lost_during_a_rollout_leaves_one_revision_everywhere() {
    // A short deadline: how long the deploy waits is the other test's subject.
    let Some(run) = lose_a_node_mid_rollout("node_lost_state", 40) else { return };
    assert!(matches!(run.code, Some(0 | 2)), "{:?}", run.code);
}

#[test]
fn a_node_lost_during_a_rollout_is_named_and_does_not_stall() {
    let Some(run) = lose_a_node_mid_rollout("node_lost", stack::DEADLINE) else { return };
    assert!(
        run.said.iter().any(|l| l.contains(&run.lost)),
        "the deploy names the lost node {}:\n{}",
        run.lost,
        run.said.join("\n")
    );
    assert!(run.took < Duration::from_secs(stack::DEADLINE), "the deploy ends within its deadline: {:?}", run.took);
}

#[test]
fn teardown_leaves_nothing_behind() {
    let Some(mut bed) = Bed::up("teardown", 2, 1) else { return };
    let host_nodes = host_swarm_nodes();
    let name = bed.name().to_owned();
    // Something to clean up on every node: a global service's containers.
    let reference = harness::test_images().unwrap()["images"]["probe"]["pinned"].as_str().unwrap().to_owned();
    let image = match reference.split_once('/') {
        Some((_, path)) => format!("{}/{path}", bed.layout.registry),
        None => reference,
    };
    bed::docker_cli(
        bed.node(1),
        &["service", "create", "--detach", "--name", "everywhere", "--mode", "global", &image],
    )
    .unwrap();
    wait_for(SETTLE, "a task of `everywhere` on every node", || {
        bed.nodes().iter().all(|n| {
            bed::docker_cli(n, &["ps", "-q", "--filter", "label=com.docker.swarm.service.name=everywhere"])
                .is_ok_and(|s| !s.trim().is_empty())
        })
    });
    assert!(!bed::leftovers(&name).is_empty(), "the bed is visible to the leftover check");
    bed.down().unwrap();
    assert_eq!(bed::leftovers(&name), Vec::<String>::new(), "left behind by teardown");
    assert_eq!(host_swarm_nodes(), host_nodes, "the host's Swarm changed");
    drop(bed);

    // A bed whose test run died is swept by the next run.
    let _turn = bed::turn();
    let orphan = bed::up_orphan(1, 1);
    assert!(!bed::leftovers(&orphan).is_empty());
    bed::sweep().unwrap();
    assert_eq!(bed::leftovers(&orphan), Vec::<String>::new(), "left behind by the sweep of a dead run's bed");
    assert_eq!(host_swarm_nodes(), host_nodes, "the host's Swarm changed");
}

/// Number of series Prometheus has a sample of in the 5 minutes before `t`.
fn count_at(stack: &BedStack<'_>, t: f64) -> Option<f64> {
    let r = stack.query("count({__name__=~\".+\"})", t)?;
    r.first()?["value"][1].as_str()?.parse().ok()
}

/// The host engine's Swarm nodes (`docker node ls`), or its error.
fn host_swarm_nodes() -> String {
    let docker =
        if std::path::Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" };
    let out = std::process::Command::new(docker)
        .env_remove("DOCKER_HOST")
        .args(["node", "ls", "--format", "{{.ID}} {{.Hostname}} {{.ManagerStatus}}"])
        .output()
        .expect("docker node ls");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
