//! End to end against the real Swarm: `cargo xtask deploy | rollback |
//! status` on small stacks of the test images (scripts/build-test-images.sh,
//! pulled by digest from the local registry), one uniquely named stack per
//! scenario. Every scenario checks the spec of every service afterwards,
//! not only the exit code. Skipped (with a message) when no engine is
//! reachable, failed when that happens in CI.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use harness::{Knobs, Snapshot, TestStack, code, signal, stderr, stderr_lines, stdout, unix_now, wait_for, wait_line};

const CRASH: &str = r#"["-c", "echo probe starting; echo 'fatal: bad config' >&2; exit 3"]"#;
const NEVER_HEALTHY: &str = r#"["CMD-SHELL", "exit 1"]"#;

/// Deploys the default stack (revision 1) and checks it.
fn first(stack: &TestStack) -> Snapshot {
    let v1 = stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "first deploy failed:\n{}", stderr(&out));
    stack.assert_specs(&v1, "after the first deploy");
    v1
}

/// Number of series with a sample in the 5 minutes before `t`.
fn count_at(stack: &TestStack, t: f64) -> Option<f64> {
    let r = stack.query("count({__name__=~\".+\"})", t)?;
    r.first()?["value"][1].as_str()?.parse().ok()
}

fn revision_outcome(stack: &TestStack, number: u64) -> String {
    let status = stack.status_json();
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["number"] == number)
        .map(|h| h["outcome"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no revision {number} in {status:#}"))
}

#[test]
fn first_deploy_with_init() {
    // No network yet: plan says so, deploy refuses without --init and
    // changes nothing, deploy --init creates it and rolls out.
    let Some(stack) = TestStack::without_network("first_deploy") else { return };
    let v1 = stack.render();
    let plan = stack.xtask(&["plan", "--output", "json"]);
    assert_eq!(code(&plan), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["networks_missing"][0], stack.network.as_str());
    assert_eq!(plan["summary"]["create"], 4);
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--init"), "{}", stderr(&out));
    assert!(stack.running().is_empty(), "a refused deploy created services");

    let started = Instant::now();
    let out = stack.deploy(&["--init"]);
    assert_eq!(code(&out), Some(0), "first deploy failed:\n{}", stderr(&out));
    eprintln!("first deploy: {:.1}s", started.elapsed().as_secs_f64());
    stack.assert_specs(&v1, "after the first deploy");
    stack.assert_healthy(Duration::from_secs(10), "after the first deploy");
    let status = stack.status_json();
    assert_eq!(status["current_revision"], 1);
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "{svc}");
    }
    assert_eq!(v1.len(), 4);
}

#[test]
fn preflight_reports_every_problem_before_any_change() {
    let Some(mut stack) = TestStack::without_network("preflight") else { return };
    stack.knobs.worker_secret = true;
    stack.break_image("prometheus");
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("3 problem(s)"), "all problems at once:\n{err}");
    assert!(err.contains(&format!("secret `api_token` has no version yet (`{}_api_token_v1`)", stack.name)), "{err}");
    assert!(err.contains("cargo xtask secret set api_token"), "the command that sets it is named:\n{err}");
    assert!(err.contains(&format!("network `{}` does not exist", stack.network)), "{err}");
    assert!(err.contains("monitoring-test/prometheus") && err.contains("cannot be pulled"), "{err}");
    assert!(stack.running().is_empty(), "nothing may change");
    assert!(stack.config_names().is_empty(), "not even configs: {:?}", stack.config_names());
}

#[test]
fn a_deadline_the_update_policy_cannot_meet_is_refused_up_front() {
    // Four services to create, each probed after 1s, then the 5s soak:
    // a 2s deadline could only end in a rollback.
    let Some(stack) = TestStack::new("short_deadline") else { return };
    stack.render();
    let out = stack.xtask(&["deploy", "--skip-check", "--deadline", "2"]);
    assert_eq!(code(&out), Some(1), "refused before any change:\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("service `prometheus`") && err.contains("--deadline 2s cannot cover it"), "{err}");
    assert!(err.contains("deploy with --deadline 6 or more"), "the deadline that would do is named:\n{err}");
    assert!(stack.running().is_empty(), "a refused deploy created services");
    assert!(stack.config_names().is_empty(), "not even configs: {:?}", stack.config_names());
}

#[test]
fn noop_redeploy_touches_nothing() {
    let Some(stack) = TestStack::new("noop") else { return };
    let v1 = first(&stack);
    let before = stack.versions();
    let t = Instant::now();
    let out = stack.deploy(&[]);
    let took = t.elapsed();
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions(), before, "a no-op deploy bumped a service version");
    stack.assert_specs(&v1, "after the no-op");
    assert_eq!(stack.status_json()["current_revision"], 1, "a no-op must not record a revision");
    eprintln!("noop redeploy: {:.2}s", took.as_secs_f64());
}

#[test]
fn config_change_rolls_only_its_services() {
    let Some(mut stack) = TestStack::new("config_change") else { return };
    first(&stack);
    let before = stack.versions();
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v2, "after the config change");
    let after = stack.versions();
    for (name, version) in &before {
        if name == "probe" {
            assert_ne!(after[name], *version, "probe uses the changed config and must be updated");
        } else {
            assert_eq!(after[name], *version, "`{name}` does not use the changed config but was updated");
        }
    }
    stack.assert_healthy(Duration::from_secs(10), "after the config change");
}

#[test]
fn crash_on_start_is_rolled_back() {
    let Some(mut stack) = TestStack::new("crash") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_args = CRASH.into();
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(2), "expected 'rolled back':\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("fatal: bad config"), "the log tail of the failing service is reported:\n{err}");
    assert!(err.contains("exit 3") || err.contains("non-zero exit (3)"), "the task error is reported:\n{err}");
    stack.assert_specs(&v1, "after the rollback");
    stack.assert_healthy(Duration::from_secs(20), "after the rollback");
    assert_eq!(revision_outcome(&stack, 2), "rolled-back");
}

#[test]
fn never_healthy_is_rolled_back() {
    let Some(mut stack) = TestStack::new("unhealthy") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_health = NEVER_HEALTHY.into();
    stack.knobs.probe_start_period = "0s".into();
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(2), "expected 'rolled back':\n{}", stderr(&out));
    stack.assert_specs(&v1, "after the rollback");
    stack.assert_healthy(Duration::from_secs(20), "after the rollback");
}

#[test]
fn one_failure_rolls_back_both_changed_services() {
    let Some(mut stack) = TestStack::new("two_changed") else { return };
    let v1 = first(&stack);
    // probe: a healthy change; worker: crashes. Both must end on v1.
    stack.knobs.probe_conf = "v2".into();
    stack.knobs.worker_conf = "v2".into();
    stack.knobs.worker_args = CRASH.into();
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("worker"), "the failing service is named");
    stack.assert_specs(&v1, "after the rollback (probe was healthy on v2 and must be back on v1 too)");
    stack.assert_healthy(Duration::from_secs(20), "after the rollback");
}

#[test]
fn interrupt_rolls_back() {
    let Some(mut stack) = TestStack::new("interrupt") else { return };
    let v1 = first(&stack);
    render_stuck_v2(&mut stack);
    let (mut child, lines) = deploy_until_updating(&stack);
    std::thread::sleep(Duration::from_secs(2));
    signal(&child, "INT");
    let status = child.wait().expect("deploy");
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(status.code(), Some(2), "expected 'rolled back' after SIGINT; stderr tail: {rest:?}");
    stack.assert_specs(&v1, "after the interrupt");
    stack.assert_healthy(Duration::from_secs(20), "after the interrupt");
    assert_eq!(revision_outcome(&stack, 2), "rolled-back");
}

#[test]
fn killed_deploy_is_finished_by_the_next_run() {
    let Some(mut stack) = TestStack::new("sigkill") else { return };
    let v1 = first(&stack);
    let v2 = render_stuck_v2(&mut stack);

    // 1. Killed mid-rollout; `status` finds the dead deploy and rolls it back.
    let (mut child, _lines) = deploy_until_updating(&stack);
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, "KILL");
    child.wait().unwrap();
    let running = stack.running();
    assert_eq!(running["probe"].0, v2["probe"], "the killed deploy had updated probe");
    let status = stack.status_json();
    assert_eq!(status["history"][0]["outcome"], "rolled-back", "status finishes the dead deploy: {status:#}");
    assert!(status["lock"].is_null(), "the stale lock is gone");
    stack.assert_specs(&v1, "after status finished the dead deploy");
    stack.assert_healthy(Duration::from_secs(20), "after status finished the dead deploy");

    // 2. Killed again; this time the next `deploy` (of v1) finishes it.
    let (mut child, _lines) = deploy_until_updating(&stack);
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, "KILL");
    child.wait().unwrap();
    stack.knobs = Knobs::default();
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("never finished"), "the deploy says it rolled back a dead one:\n{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "v1 is what runs after the recovery:\n{}", stdout(&out));
    stack.assert_specs(&v1, "after deploy finished the dead deploy");
    assert_eq!(revision_outcome(&stack, 3), "rolled-back");
}

#[test]
fn concurrent_deploy_fails_fast_naming_the_holder() {
    let Some(mut stack) = TestStack::new("concurrent") else { return };
    let v1 = first(&stack);
    render_stuck_v2(&mut stack);
    let (mut child, _lines) = deploy_until_updating(&stack);
    let t = Instant::now();
    let second = stack.deploy(&[]);
    assert!(t.elapsed() < Duration::from_secs(10), "the second deploy must fail fast");
    assert_eq!(code(&second), Some(4), "expected 'locked':\n{}", stderr(&second));
    let err = stderr(&second);
    assert!(err.contains(&format!("pid {}", child.id())), "the holder is named:\n{err}");
    assert!(err.contains("deploy"), "{err}");
    // `status` meanwhile reports the live rollout and leaves it alone.
    let status = stack.status_json();
    assert!(status["in_progress"].as_str().is_some_and(|s| s.contains("in progress")), "{status:#}");
    assert!(status["lock"].as_str().is_some_and(|s| s.contains(&format!("pid {}", child.id()))), "{status:#}");
    assert_eq!(status["history"][0]["outcome"], "in-progress");
    signal(&child, "INT");
    assert_eq!(child.wait().unwrap().code(), Some(2));
    stack.assert_specs(&v1, "after the interrupted first deploy");
}

#[test]
fn rollback_to_an_older_revision() {
    let Some(mut stack) = TestStack::new("rollback_to") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    assert_eq!(code(&stack.deploy(&[])), Some(0));
    stack.knobs.worker_conf = "v3".into();
    stack.knobs.probe_conf = "v3".into();
    let v3 = stack.render();
    assert_eq!(code(&stack.deploy(&[])), Some(0));
    stack.assert_specs(&v3, "at revision 3");

    let out = stack.xtask(&["rollback", "--to", "1", "--soak", "2", "--deadline", "60"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v1, "after rollback --to 1");
    stack.assert_healthy(Duration::from_secs(10), "after rollback --to 1");
    let status = stack.status_json();
    assert_eq!(status["current_revision"], 4);
    assert_eq!(status["history"][0]["rollback_to"], 1);

    // Without --to: the successful revision before the current one (3).
    let out = stack.xtask(&["rollback", "--soak", "2", "--deadline", "60"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v3, "after rollback (to the previous revision)");
    let _ = v2;
}

#[test]
fn prometheus_data_survives_rollout_and_rollback() {
    let Some(mut stack) = TestStack::new("prometheus_data") else { return };
    first(&stack);
    // Let Prometheus scrape itself for a few seconds, then pick an instant
    // in the past: its data there can only be read back from the volume.
    wait_for(Duration::from_secs(60), "Prometheus to have ingested samples", || {
        count_at(&stack, unix_now()).is_some_and(|c| c > 50.0)
    });
    std::thread::sleep(Duration::from_secs(3));
    let t0 = unix_now() - 1.0;
    let series = count_at(&stack, t0).expect("series at t0");

    stack.knobs.scrape_interval = "2s".into();
    let v2 = stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v2, "after the Prometheus config change");
    wait_for(Duration::from_secs(60), "Prometheus back after the rollout", || count_at(&stack, unix_now()).is_some());
    assert_eq!(count_at(&stack, t0), Some(series), "series at t0 after a rollout (stop-first on the same volume)");

    let out = stack.xtask(&["rollback", "--soak", "2", "--deadline", "60"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    wait_for(Duration::from_secs(60), "Prometheus back after the rollback", || count_at(&stack, unix_now()).is_some());
    assert_eq!(count_at(&stack, t0), Some(series), "series at t0 after a rollback");
}

#[test]
fn takes_over_a_stack_deployed_by_docker_stack_deploy() {
    // Same labels and names as `docker stack deploy`: a stack it deployed is
    // taken over without touching a service, then rolled out as usual. The
    // probe is hardened, so the CLI's conversion of `user`, `read_only`,
    // `cap_drop`, tmpfs volumes and `pids` must equal ours too.
    let Some(mut stack) = TestStack::new("takeover") else { return };
    stack.knobs.probe_args = HARDENED_PROBE.into();
    stack.knobs.probe_hardening = hardening(64);
    let v1 = stack.render();
    let docker =
        if std::path::Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" };
    let file = stack.dir.path().join("stack/rendered/docker-stack.yml");
    let out = std::process::Command::new(docker)
        .args(["stack", "deploy", "--detach=true", "-c"])
        .arg(&file)
        .arg(&stack.name)
        .output()
        .expect("docker stack deploy");
    assert!(out.status.success(), "docker stack deploy: {}", stderr(&out));
    stack.assert_specs(&v1, "after docker stack deploy");
    stack.assert_healthy(Duration::from_secs(30), "after docker stack deploy");
    let before = stack.versions();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions(), before, "taking over bumped a service version");

    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v2, "after the first xtask rollout");
    let after = stack.versions();
    assert!(
        before.iter().all(|(k, v)| (k == "probe") != (after[k] == *v)),
        "only probe changes: {before:?} → {after:?}"
    );
}

/// Renders a v2 whose probe takes minutes to turn healthy, so a deploy of it
/// sits in `starting` until something stops it.
fn render_stuck_v2(stack: &mut TestStack) -> Snapshot {
    stack.knobs.probe_health = NEVER_HEALTHY.into();
    stack.knobs.probe_start_period = "120s".into();
    stack.knobs.probe_conf = "v2".into();
    stack.render()
}

/// Starts `deploy` in the background and returns once it is updating probe.
fn deploy_until_updating(stack: &TestStack) -> (Child, Receiver<String>) {
    let mut child = stack.spawn_deploy(&[]);
    let lines = stderr_lines(&mut child);
    wait_line(&lines, "probe: updating", Duration::from_secs(30));
    (child, lines)
}

// ------------------------------------------------------------ hardening

/// The probe checks its own privileges before it idles: it must run as
/// 65534:65534, must not be able to write its root filesystem, and must be
/// able to write its tmpfs (/tmp/ok, which the health check looks for).
const HARDENED_PROBE: &str = r#"["-c", "test \"$(id -u):$(id -g)\" = 65534:65534 && ! touch /rw 2>/dev/null && echo ok > /tmp/ok && trap 'exit 0' TERM INT && while :; do sleep 1; done"]"#;

fn hardening(pids: u32) -> String {
    format!(
        "user = \"65534:65534\"\nread_only = true\ntmpfs = [{{ target = \"/tmp\", size = \"1M\" }}]\ncap_drop = [\"ALL\"]\npids = {pids}"
    )
}

/// The engine's own spec of service `short` (raw JSON, nothing dropped).
fn engine_spec(stack: &TestStack, short: &str) -> serde_json::Value {
    let filters = format!("{{\"name\":[\"{}_{short}\"]}}", stack.name);
    let body = harness::raw_get_on(
        &harness::engine_socket().to_string_lossy(),
        &format!("/services?filters={}", harness::encode(&filters)),
    );
    let services: serde_json::Value = serde_json::from_str(&body).unwrap();
    let full = format!("{}_{short}", stack.name);
    services.as_array().unwrap().iter().find(|s| s["Spec"]["Name"] == full.as_str()).unwrap()["Spec"].clone()
}

#[test]
fn hardened_service_runs_and_the_engine_has_the_fields() {
    let Some(mut stack) = TestStack::new("hardened") else { return };
    stack.knobs.probe_args = HARDENED_PROBE.into();
    stack.knobs.probe_health = r#"["CMD-SHELL", "test -f /tmp/ok"]"#.into();
    stack.knobs.probe_hardening = hardening(64);
    first(&stack);
    stack.assert_healthy(Duration::from_secs(30), "the hardened probe");

    let spec = engine_spec(&stack, "probe");
    let cs = &spec["TaskTemplate"]["ContainerSpec"];
    assert_eq!(cs["User"], "65534:65534", "{cs:#}");
    assert_eq!(cs["ReadOnly"], true, "{cs:#}");
    assert_eq!(cs["CapabilityDrop"], serde_json::json!(["ALL"]), "{cs:#}");
    assert_eq!(spec["TaskTemplate"]["Resources"]["Limits"]["Pids"], 64, "{spec:#}");
    let tmpfs = cs["Mounts"].as_array().unwrap().iter().find(|m| m["Type"] == "tmpfs").expect("a tmpfs mount");
    assert_eq!(
        (&tmpfs["Target"], &tmpfs["TmpfsOptions"]["SizeBytes"]),
        (&serde_json::json!("/tmp"), &serde_json::json!(1 << 20))
    );

    // What the engine stored compares equal to what the bundle asks.
    let before = stack.versions();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions(), before, "a no-op deploy of a hardened service bumped a version");

    // A hardening change alone rolls exactly that service.
    stack.knobs.probe_hardening = hardening(48);
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let after = stack.versions();
    assert!(
        before.iter().all(|(k, v)| (k == "probe") != (after[k] == *v)),
        "only probe changes: {before:?} → {after:?}"
    );
    assert_eq!(engine_spec(&stack, "probe")["TaskTemplate"]["Resources"]["Limits"]["Pids"], 48);
}

fn docker_cli() -> &'static str {
    if std::path::Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" }
}

/// Runs `script` in a throw-away probe container attached to `network`;
/// its combined output. (Busybox's own `wget -T` crashes in the static
/// build: the scripts use `timeout` instead.)
fn client(stack: &TestStack, network: &str, script: &str) -> String {
    let images = harness::test_images().unwrap();
    let probe = images["images"]["probe"]["pinned"].as_str().unwrap();
    let name = format!("{}_client_{}", stack.name, network.replace(['.', '/'], "_"));
    let out = std::process::Command::new(docker_cli())
        .args(["run", "--rm", "--name", &name, "--network", network, probe, "-c", script])
        .output()
        .expect("docker run");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    eprintln!("--- client on {network}:\n{text}");
    assert!(out.status.success(), "the client container failed on {network}: {text}");
    text
}

/// The overlay address of the running task of service `short`.
fn task_address(stack: &TestStack, short: &str) -> String {
    let filters = format!("{{\"service\":[\"{}_{short}\"],\"desired-state\":[\"running\"]}}", stack.name);
    let body = harness::raw_get_on(
        &harness::engine_socket().to_string_lossy(),
        &format!("/tasks?filters={}", harness::encode(&filters)),
    );
    let tasks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let address = tasks
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["NetworksAttachments"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["Network"]["Spec"]["Name"] == stack.network.as_str())
        .find_map(|a| a["Addresses"][0].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no address of {short} on {}: {tasks:#}", stack.network));
    address.split('/').next().unwrap().to_owned()
}

#[test]
fn only_grafana_is_reachable_from_outside() {
    let Some(stack) = TestStack::new("exposure") else { return };
    stack.render_fixture(
        "security.stack.toml.in",
        &[("configs/alertmanager-web.yml", "alertmanager-web.yml")],
        &["prometheus", "alertmanager", "probe"],
    );
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_healthy(Duration::from_secs(60), "the exposure stack");

    // Only the Grafana stand-in publishes a port.
    for short in ["prometheus", "alertmanager"] {
        let ports = &engine_spec(&stack, short)["EndpointSpec"]["Ports"];
        assert!(ports.as_array().is_none_or(Vec::is_empty), "{short} publishes {ports}");
    }
    let grafana_ports = &engine_spec(&stack, "grafana")["EndpointSpec"]["Ports"];
    assert_eq!(grafana_ports[0]["PublishedPort"], stack.prom_port, "{grafana_ports}");

    let prometheus = task_address(&stack, "prometheus");
    let alertmanager = task_address(&stack, "alertmanager");
    let gateway = std::process::Command::new(docker_cli())
        .args(["network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"])
        .output()
        .expect("docker network inspect");
    let gateway = stdout(&gateway).trim().to_owned();
    let silence = r#"{"matchers":[{"name":"alertname","value":"Any","isRegex":false}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2036-01-01T00:00:00Z","createdBy":"e2e","comment":"must be refused"}"#;
    let attempts = format!(
        "timeout 5 wget -q -O - http://{gateway}:{port}/ && echo GRAFANA_REACHED; \
         for t in {prometheus}:9090 {alertmanager}:9093; do timeout 3 wget -q -O /dev/null http://$t/-/healthy && echo ADMIN_REACHED $t; done; \
         timeout 3 wget -q -O - --post-data '' http://{prometheus}:9090/-/quit && echo QUIT_ACCEPTED; \
         timeout 3 wget -q -O - --header 'Content-Type: application/json' --post-data '{silence}' http://{alertmanager}:9093/api/v2/silences && echo SILENCE_ACCEPTED; \
         true",
        port = stack.prom_port,
    );
    // From outside: a client on Docker's default bridge network, not the
    // stack's overlay, reaches Grafana's published port and nothing else.
    // Its packets to overlay addresses leave through the host's default
    // route: whatever answers there (on the build machines an egress proxy
    // answering 404) is not Prometheus, and only a 2xx counts as reached.
    let outside = client(&stack, "bridge", &attempts);
    assert!(outside.contains("grafana-stand-in") && outside.contains("GRAFANA_REACHED"), "{outside}");
    for refused in ["ADMIN_REACHED", "QUIT_ACCEPTED", "SILENCE_ACCEPTED"] {
        assert!(!outside.contains(refused), "`{refused}` from outside the stack's network:\n{outside}");
    }

    // Inside the overlay, the same client reaches Prometheus (so the refusals
    // above are the network's doing), but its lifecycle API is off; and
    // Alertmanager, on the opt-in authenticated path, refuses a silence
    // without credentials and takes it with them.
    let silence_post = |userinfo: &str| {
        format!(
            "timeout 5 wget -O - --header 'Content-Type: application/json' --post-data '{silence}' http://{userinfo}{alertmanager}:9093/api/v2/silences 2>&1"
        )
    };
    let inside = client(
        &stack,
        &stack.network,
        &format!(
            "timeout 5 wget -q -O /dev/null http://{prometheus}:9090/-/healthy && echo PROMETHEUS_REACHED; \
             timeout 5 wget -O - --post-data '' http://{prometheus}:9090/-/quit 2>&1 && echo QUIT_ACCEPTED; \
             {} && echo ANONYMOUS_SILENCE_ACCEPTED; \
             {} && echo AUTHENTICATED_SILENCE_ACCEPTED; true",
            silence_post(""),
            silence_post("e2e:e2e-only-password@"),
        ),
    );
    assert!(inside.contains("PROMETHEUS_REACHED"), "{inside}");
    assert!(inside.contains("403 Forbidden") && !inside.contains("QUIT_ACCEPTED"), "{inside}");
    assert!(inside.contains("401 Unauthorized") && !inside.contains("ANONYMOUS_SILENCE_ACCEPTED"), "{inside}");
    assert!(inside.contains("AUTHENTICATED_SILENCE_ACCEPTED"), "{inside}");
    stack.assert_healthy(Duration::from_secs(10), "Prometheus after POST /-/quit");
}

/// Makes the fixture's `probe` image a workspace-built one pinned by `tag`
/// (as `cargo xtask pin` writes it: tag and inputs hash, no digest), and
/// renders the bundle again.
fn pin_probe_as_built(stack: &TestStack, tag: &str) {
    let root = stack.dir.path();
    let path = root.join("stack/stack.toml");
    let mut definition: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let probe = definition["images"]["probe"].as_table_mut().unwrap();
    probe.remove("tag");
    let build: toml::Table = "package = \"probe\"\ninputs = [\"probe\"]\n".parse().unwrap();
    probe.insert("build".into(), build.into());
    std::fs::write(&path, toml::to_string(&definition).unwrap()).unwrap();
    let path = root.join("stack/images.lock");
    let mut lock: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    for image in lock["image"].as_array_mut().unwrap() {
        let image = image.as_table_mut().unwrap();
        if image["name"].as_str() == Some("probe") {
            image.remove("digest");
            image.insert("tag".into(), tag.into());
            // What the build's inputs would hash to; deploy does not read it.
            image.insert("inputs".into(), format!("sha256:{}", "5e".repeat(32)).into());
        }
    }
    std::fs::write(&path, toml::to_string(&lock).unwrap()).unwrap();
    let out = stack.xtask(&["gen"]);
    assert_eq!(code(&out), Some(0), "gen with a built probe image:\n{}", stderr(&out));
}

/// A workspace-built image is named by tag in the bundle: deploy resolves
/// it to the digest the registry serves, every service using it runs that
/// digest, and status shows it matching the revision. A tag nobody pushed
/// is refused before anything changes, naming the image.
#[test]
fn a_built_image_runs_the_digest_its_tag_resolves_to_and_an_unpushed_tag_changes_nothing() {
    let Some(stack) = TestStack::new("built_image") else { return };
    let v1 = first(&stack);
    let images = harness::test_images().unwrap();
    let probe = &images["images"]["probe"];
    let (pinned, digest) = (probe["pinned"].as_str().unwrap(), probe["digest"].as_str().unwrap());
    let repository = pinned.split_once('@').unwrap().0.rsplit_once(':').unwrap().0.to_owned();

    // "Build and push": the probe image under an input-addressed tag.
    let tag = format!("0.0.0-{}", stack.name);
    for args in
        [vec!["tag", pinned, &format!("{repository}:{tag}")], vec!["push", "-q", &format!("{repository}:{tag}")]]
    {
        let out = std::process::Command::new(docker_cli()).args(&args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    }
    pin_probe_as_built(&stack, &tag);
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "deploy of the built image:\n{}", stderr(&out));
    let want = format!("{repository}:{tag}@{digest}");
    let users: Vec<String> = v1.iter().filter(|(_, s)| s.image == pinned).map(|(n, _)| n.clone()).collect();
    assert!(!users.is_empty(), "the fixture runs the probe image: {v1:?}");
    let running = stack.running();
    for name in &users {
        assert_eq!(running[name].0.image, want, "service {name} runs the resolved digest");
    }
    let status = stack.status_json();
    assert_eq!(status["current_revision"], 2, "{status:#}");
    assert_eq!(revision_outcome(&stack, 2), "succeeded");
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "{svc}");
        if users.iter().any(|u| svc["name"] == u.as_str()) {
            assert_eq!(svc["image"], want.as_str(), "status names the digest: {svc}");
        }
    }

    // A tag that was never pushed: refused up front, nothing changes.
    let before = stack.versions();
    let unpushed = format!("{tag}-never-pushed");
    pin_probe_as_built(&stack, &unpushed);
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(1), "an unpushed tag is refused:\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("image `{repository}:{unpushed}` (built from this workspace) cannot be resolved"))
            && err.contains("build and push it first"),
        "{err}"
    );
    assert_eq!(stack.versions(), before, "a refused deploy changed a service");
    let running = stack.running();
    for name in &users {
        assert_eq!(running[name].0.image, want, "service {name} still runs revision 2's digest");
    }
    let status = stack.status_json();
    assert_eq!(status["current_revision"], 2, "no revision recorded for a refused deploy: {status:#}");
    assert!(status["services"].as_array().unwrap().iter().all(|s| s["matches_revision"] == true), "{status:#}");
}
