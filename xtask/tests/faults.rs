//! The deploy's promises under faults nobody scripted in the product: a
//! paused holder, a foreign same-named service, API calls that fail,
//! hang or are retried, the registry down, a signal in every phase. The
//! xtask runs through a fault-injecting proxy of the engine's socket
//! (`e2e/fault_proxy.rs`) where a scenario needs one. Every scenario ends by
//! checking the spec of every service *and* that `status` says the same.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/fault_proxy.rs"]
mod fault_proxy;
#[path = "e2e/harness.rs"]
mod harness;

use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bollard::models::{ServiceSpec, TaskSpec, TaskSpecContainerSpec};
use fault_proxy::{Fault, FaultProxy, Rule};
use harness::{Snapshot, TestStack, code, engine_socket, signal, stderr, stderr_lines, wait_for, wait_line};

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

/// `status` agrees with what runs: revision `current` is current, every
/// service matches it, revision `number` ended as `outcome`, no lock, no
/// revision in progress.
fn assert_status(stack: &TestStack, current: u64, number: u64, outcome: &str, context: &str) -> serde_json::Value {
    let status = stack.status_json();
    assert_eq!(status["current_revision"], current, "{context}: current revision in {status:#}");
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "{context}: status says a service differs: {svc}");
    }
    assert!(status["services_missing"].as_array().unwrap().is_empty(), "{context}: {status:#}");
    let history = status["history"].as_array().unwrap();
    let rev = history.iter().find(|h| h["number"] == number).unwrap_or_else(|| panic!("no revision {number}"));
    assert_eq!(rev["outcome"], outcome, "{context}: revision {number} in {status:#}");
    assert!(history.iter().all(|h| h["outcome"] != "in-progress"), "{context}: left in progress: {status:#}");
    assert!(status["lock"].is_null(), "{context}: the lock is left: {status:#}");
    status
}

/// A stack whose xtask runs talk to the engine through a fault proxy.
fn through_proxy(scenario: &str) -> Option<(TestStack, FaultProxy)> {
    let mut stack = TestStack::new(scenario)?;
    let proxy = FaultProxy::start(&engine_socket());
    stack.docker_host = Some(proxy.docker_host());
    Some((stack, proxy))
}

/// A v2 whose probe crashes on start.
fn render_crashing_v2(stack: &mut TestStack) {
    stack.knobs.probe_args = CRASH.into();
    stack.knobs.probe_conf = "v2".into();
    stack.render();
}

/// A v2 whose probe takes minutes to turn healthy.
fn render_stuck_v2(stack: &mut TestStack) -> Snapshot {
    stack.knobs.probe_health = NEVER_HEALTHY.into();
    stack.knobs.probe_start_period = "120s".into();
    stack.knobs.probe_conf = "v2".into();
    stack.render()
}

fn deploy_until(stack: &TestStack, needle: &str) -> (Child, Receiver<String>) {
    let mut child = stack.spawn_deploy(&[]);
    let lines = stderr_lines(&mut child);
    wait_line(&lines, needle, Duration::from_secs(40));
    (child, lines)
}

/// Waits until the proxy has seen (and is delaying) a request.
fn wait_injected(proxy: &FaultProxy, what: &str) {
    wait_for(Duration::from_secs(40), what, || proxy.injected().iter().any(|l| l.contains(what)));
}

#[test]
fn paused_holder_loses_its_lock_and_records_nothing() {
    let Some(mut stack) = TestStack::new("paused") else { return };
    // Heartbeat every second: the lock is stale after 6 s of silence.
    stack.env.push(("XTASK_LOCK_HEARTBEAT_SECONDS".into(), "1".into()));
    let v1 = first(&stack);
    render_stuck_v2(&mut stack);
    let (mut child, lines) = deploy_until(&stack, "probe: updating");
    signal(&child, "STOP");
    std::thread::sleep(Duration::from_secs(9));

    // Meanwhile another process proves the holder silent, breaks the lock
    // and rolls revision 2 back.
    let status = stack.xtask(&["status", "--output", "json"]);
    assert_eq!(code(&status), Some(0), "{}", stderr(&status));
    assert!(stderr(&status).contains("no heartbeat"), "status says why it broke the lock:\n{}", stderr(&status));
    stack.assert_specs(&v1, "after status rolled the paused deploy back");

    signal(&child, "CONT");
    let exit = child.wait().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(exit.code(), Some(5), "the resumed deploy must stop with 'lock lost'; stderr tail: {rest:#?}");
    assert!(rest.iter().any(|l| l.contains("lost the deploy lock")), "{rest:#?}");
    assert!(!rest.iter().any(|l| l.contains("is live")), "it must not claim success: {rest:#?}");
    stack.assert_specs(&v1, "after the paused deploy resumed");
    stack.assert_healthy(Duration::from_secs(30), "after the paused deploy resumed");
    assert_status(&stack, 1, 2, "rolled-back", "after the paused deploy resumed");
}

#[test]
fn foreign_same_named_service_is_refused_up_front() {
    let Some(mut stack) = TestStack::new("foreign") else { return };
    let v1 = first(&stack);
    let foreign = format!("{}_extra", stack.name);
    let foreign_id = create_foreign(&stack, &foreign);
    stack.knobs.extra_service = true;
    stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("service `{foreign}` already exists but is not part of stack")), "{err}");
    assert!(err.contains("docker service rm") && err.contains("--label-add"), "says how to fix it: {err}");
    assert_eq!(service_id(&stack, &foreign), Some(foreign_id), "the hand-made service is untouched");
    stack.assert_specs(&v1, "after the refused deploy");
    let status = stack.status_json();
    assert_eq!(status["history"].as_array().unwrap().len(), 1, "a refused deploy records nothing: {status:#}");
}

#[test]
fn rollback_never_removes_a_service_it_did_not_create() {
    // The same name appears *after* the preflight (a race with a person):
    // the create fails on the name, the revert must leave it alone.
    let Some((mut stack, proxy)) = through_proxy("foreign_race") else { return };
    let v1 = first(&stack);
    stack.knobs.extra_service = true;
    stack.render();
    proxy.add(Rule::new("POST /services/create", Fault::Delay(Duration::from_secs(3))).times(1));
    let child = stack.spawn_deploy(&[]);
    wait_injected(&proxy, "POST /services/create");
    let foreign = format!("{}_extra", stack.name);
    let foreign_id = create_foreign(&stack, &foreign);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(2), "the create fails on the name, the rest is rolled back:\n{}", stderr(&out));
    assert!(stderr(&out).contains("left alone"), "{}", stderr(&out));
    assert_eq!(service_id(&stack, &foreign), Some(foreign_id), "the revert removed a service it did not create");
    stack.assert_specs(&v1, "after the rollback");
    assert_status(&stack, 1, 2, "rolled-back", "after the rollback");
}

#[test]
fn a_failed_outcome_write_never_turns_a_healthy_rollout_into_a_rollback() {
    let Some((mut stack, proxy)) = through_proxy("unrecorded") else { return };
    first(&stack);
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    // Every label update of a config fails: the outcome cannot be recorded
    // (the lock's heartbeat fails too, which it survives).
    proxy.add(Rule::new("POST /configs/*/update", Fault::Fail(500, "injected: the manager is away".into())));
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(6), "converged but unrecorded:\n{}", stderr(&out));
    assert!(stderr(&out).contains("could not be recorded"), "{}", stderr(&out));
    stack.assert_specs(&v2, "after the unrecorded rollout (nothing was rolled back)");

    // The next run (status) checks that revision 2 still runs, healthy, and records it.
    proxy.clear();
    let status = stack.xtask(&["status"]);
    assert_eq!(code(&status), Some(0), "{}", stderr(&status));
    stack.assert_specs(&v2, "after status finished the record");
    let status = assert_status(&stack, 2, 2, "succeeded", "after status finished the record");
    let reason = status["history"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("converged"), "the record says how it was finished: {reason}");
}

#[test]
fn transient_outcome_write_errors_are_retried() {
    let Some((mut stack, proxy)) = through_proxy("flaky_record") else { return };
    first(&stack);
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    proxy.add(Rule::new("POST /configs/*/update", Fault::Drop).times(2));
    proxy.add(Rule::new("POST /services/*/update", Fault::Fail(503, "injected: no leader".into())).times(1));
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(proxy.injected().len() >= 2, "faults were injected: {:?}", proxy.injected());
    stack.assert_specs(&v2, "after a rollout with transient errors");
    assert_status(&stack, 2, 2, "succeeded", "after a rollout with transient errors");
}

#[test]
fn a_transient_error_during_the_revert_is_retried() {
    let Some((mut stack, proxy)) = through_proxy("flaky_revert") else { return };
    let v1 = first(&stack);
    render_crashing_v2(&mut stack);
    // The forward update passes; the revert's update fails twice, then passes.
    proxy.add(Rule::new("POST /services/*/update", Fault::Fail(500, "injected".into())).after(1).times(2));
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_eq!(proxy.injected().iter().filter(|l| l.starts_with("FAIL")).count(), 2, "{:?}", proxy.injected());
    stack.assert_specs(&v1, "after the revert with transient errors");
    stack.assert_healthy(Duration::from_secs(30), "after the revert with transient errors");
    assert_status(&stack, 1, 2, "rolled-back", "after the revert with transient errors");
}

#[test]
fn a_failed_rollback_is_finished_by_the_next_run() {
    let Some((mut stack, proxy)) = through_proxy("repair") else { return };
    let v1 = first(&stack);
    render_crashing_v2(&mut stack);
    // Every update after the forward one fails: the revert cannot finish.
    proxy.add(Rule::new("POST /services/*/update", Fault::Fail(500, "injected: engine broken".into())).after(1));
    let out = stack.xtask(&["deploy", "--skip-check", "--soak", "2", "--deadline", "30"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    // While the engine still fails, `status` tries the rollback again, fails
    // again, and says so (exit 3) with the revision still rollback-failed.
    let out = stack.xtask(&["status", "--output", "json"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["history"][0]["outcome"], "rollback-failed", "{status:#}");

    // The engine is back: the next run (here `status`) finishes the rollback.
    proxy.clear();
    let out = stack.xtask(&["status"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("trying it again"), "{}", stderr(&out));
    stack.assert_specs(&v1, "after the repaired rollback");
    stack.assert_healthy(Duration::from_secs(30), "after the repaired rollback");
    assert_status(&stack, 1, 2, "rolled-back", "after the repaired rollback");
}

#[test]
fn registry_down_no_op_and_rollback_still_work() {
    let Some((mut stack, proxy)) = through_proxy("registry_down") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    assert_eq!(code(&stack.deploy(&[])), Some(0));
    // The engine cannot reach the registry any more.
    proxy.add(Rule::new("GET /distribution/**", Fault::Fail(500, "injected: registry unreachable".into())));
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "a no-op deploy needs no registry:\n{}", stderr(&out));
    stack.assert_specs(&v2, "after the no-op");
    let out = stack.xtask(&["rollback", "--soak", "2", "--deadline", "60"]);
    assert_eq!(code(&out), Some(0), "a rollback to images the nodes hold needs no registry:\n{}", stderr(&out));
    stack.assert_specs(&v1, "after the rollback");
    assert_status(&stack, 3, 3, "succeeded", "after the rollback");
    assert!(proxy.injected().is_empty(), "nothing asked the registry: {:?}", proxy.injected());
}

#[test]
fn signal_while_taking_the_lock_changes_nothing() {
    let Some((mut stack, proxy)) = through_proxy("sig_lock") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    // The first config created is the lock.
    proxy.add(Rule::new("POST /configs/create", Fault::Delay(Duration::from_secs(3))).times(1));
    let child = stack.spawn_deploy(&[]);
    wait_injected(&proxy, "POST /configs/create");
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing was changed"), "{}", stderr(&out));
    stack.assert_specs(&v1, "after a signal while locking");
    assert_status(&stack, 1, 1, "succeeded", "after a signal while locking");
}

#[test]
fn signal_while_writing_the_journal_rolls_back_nothing_applied() {
    let Some((mut stack, proxy)) = through_proxy("sig_journal") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    // Creates: the lock, probe's new config, then the journal.
    proxy.add(Rule::new("POST /configs/create", Fault::Delay(Duration::from_secs(3))).after(2).times(1));
    let child = stack.spawn_deploy(&[]);
    wait_injected(&proxy, "POST /configs/create");
    signal(&child, "HUP");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    stack.assert_specs(&v1, "after a signal while journaling");
    assert_status(&stack, 1, 2, "rolled-back", "after a signal while journaling");
}

#[test]
fn signal_while_applying_rolls_back() {
    let Some((mut stack, proxy)) = through_proxy("sig_apply") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    stack.knobs.worker_conf = "v2".into();
    stack.render();
    proxy.add(Rule::new("POST /services/*/update", Fault::Delay(Duration::from_secs(3))).times(1));
    let child = stack.spawn_deploy(&[]);
    wait_injected(&proxy, "POST /services/");
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    stack.assert_specs(&v1, "after a signal while applying");
    stack.assert_healthy(Duration::from_secs(30), "after a signal while applying");
    assert_status(&stack, 1, 2, "rolled-back", "after a signal while applying");
}

#[test]
fn signal_while_reverting_does_not_stop_the_revert() {
    let Some((mut stack, proxy)) = through_proxy("sig_revert") else { return };
    let v1 = first(&stack);
    render_crashing_v2(&mut stack);
    proxy.add(Rule::new("POST /services/*/update", Fault::Delay(Duration::from_secs(3))).after(1).times(1));
    let child = stack.spawn_deploy(&[]);
    wait_injected(&proxy, "POST /services/");
    signal(&child, "INT");
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already stopping"), "a signal while reverting only says so:\n{}", stderr(&out));
    stack.assert_specs(&v1, "after signals while reverting");
    assert_status(&stack, 1, 2, "rolled-back", "after signals while reverting");
}

#[test]
fn signal_during_recovery_lets_the_recovery_finish() {
    let Some(mut stack) = TestStack::new("sig_recover") else { return };
    let proxy = FaultProxy::start(&engine_socket());
    let v1 = first(&stack);
    render_stuck_v2(&mut stack);
    let (mut child, _lines) = deploy_until(&stack, "probe: updating");
    signal(&child, "KILL");
    child.wait().unwrap();
    // `status` through the proxy, its revert slowed; a SIGTERM meanwhile.
    stack.docker_host = Some(proxy.docker_host());
    proxy.add(Rule::new("POST /services/*/update", Fault::Delay(Duration::from_secs(3))).times(1));
    let status = stack.spawn(&["status"]);
    wait_injected(&proxy, "POST /services/");
    signal(&status, "TERM");
    let out = status.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(1), "status stops after finishing the recovery:\n{}", stderr(&out));
    stack.docker_host = None;
    stack.assert_specs(&v1, "after the recovery");
    assert_status(&stack, 1, 2, "rolled-back", "after the recovery");
}

#[test]
fn default_soak_covers_swarms_monitor_window() {
    // v2 is healthy at once and dies 7 s later: inside Swarm's 10 s update
    // monitor. A deploy with the default soak sees it and rolls back; with
    // a 2 s soak it would have reported success and left Swarm to roll the
    // service back behind its back.
    let Some(mut stack) = TestStack::new("soak") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_args = r#"["-c", "sleep 7; echo 'dying late' >&2; exit 4"]"#.into();
    stack.knobs.probe_start_period = "0s".into();
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    let out = stack.xtask(&["deploy", "--skip-check", "--deadline", "60"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("dying late"), "{}", stderr(&out));
    stack.assert_specs(&v1, "after the late failure");
    assert_status(&stack, 1, 2, "rolled-back", "after the late failure");
}

#[test]
fn a_recreated_external_network_does_not_strand_old_revisions() {
    let Some(mut stack) = TestStack::new("renet") else { return };
    let v1 = first(&stack);
    stack.knobs.probe_conf = "v2".into();
    stack.render();
    assert_eq!(code(&stack.deploy(&[])), Some(0));
    // Everything goes, and the platform re-creates its network (new id).
    let names: Vec<String> = stack.running().keys().map(|k| format!("{}_{k}", stack.name)).collect();
    stack.block_on(async {
        for n in &names {
            stack.docker().delete_service(n).await.unwrap();
        }
    });
    let started = Instant::now();
    loop {
        let gone = stack.block_on(stack.docker().remove_network(&stack.network)).is_ok();
        if gone {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "network still in use");
        std::thread::sleep(Duration::from_millis(500));
    }
    let req = bollard::models::NetworkCreateRequest {
        name: stack.network.clone(),
        driver: Some("overlay".into()),
        attachable: Some(true),
        labels: Some([("com.docker.stack.namespace".to_owned(), stack.name.clone())].into()),
        ..Default::default()
    };
    stack.block_on(stack.docker().create_network(req)).unwrap();
    let out = stack.xtask(&["rollback", "--to", "1", "--soak", "2", "--deadline", "60"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v1, "after rollback --to 1 onto the new network");
    stack.assert_healthy(Duration::from_secs(30), "after rollback --to 1 onto the new network");
    assert_status(&stack, 3, 3, "succeeded", "after rollback --to 1 onto the new network");
}

#[test]
fn a_task_the_engine_failed_to_start_is_retried_not_rolled_back() {
    // The first deploy binds an empty host directory over the probe image's
    // /bin: the engine cannot start the container (no /bin/sh to exec), an
    // engine-level failure, not the application's. Once the directory holds
    // a shell, Swarm's restart policy starts the next task and the rollout
    // converges: no rollback for a start the engine fumbled. (For an
    // *update*, Swarm's own update monitor counts such a task as failed and
    // rolls the service back by itself; that is Swarm's call.)
    let Some(mut stack) = TestStack::new("start_retry") else { return };
    let bin = stack.dir.path().join("bin-for-probe");
    std::fs::create_dir_all(&bin).unwrap();
    stack.knobs.probe_binds =
        format!(r#"binds = [{{ source = "{}", target = "/bin", read_only = true }}]"#, bin.display());
    let v1 = stack.render();
    let child = stack.spawn_deploy(&[]);
    let service = format!("{}_probe", stack.name);
    wait_for(Duration::from_secs(60), "a task the engine failed to start", || {
        engine_start_failures(&stack, &service) >= 1
    });
    std::fs::copy("/bin/busybox", bin.join("sh")).expect("busybox-static (scripts/install-tools.sh installs it)");
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(engine_start_failures(&stack, &service) <= 3, "within the retries allowed");
    stack.assert_specs(&v1, "after the retried start");
    assert_status(&stack, 1, 1, "succeeded", "after the retried start");
}

fn engine_start_failures(stack: &TestStack, service: &str) -> usize {
    let filters = [("service".to_owned(), vec![service.to_owned()])].into();
    let options = bollard::query_parameters::ListTasksOptions { filters: Some(filters) };
    let tasks = stack.block_on(stack.docker().list_tasks(Some(options))).unwrap_or_default();
    tasks
        .iter()
        .filter(|t| {
            t.status.as_ref().and_then(|s| s.err.as_deref()).is_some_and(|e| e.starts_with("starting container failed"))
        })
        .count()
}

/// A service named like one of the stack's, made by hand: no stack label.
fn create_foreign(stack: &TestStack, name: &str) -> String {
    let image = stack.running()["probe"].0.image.clone();
    let spec = ServiceSpec {
        name: Some(name.to_owned()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image),
                args: Some(vec!["-c".into(), "trap 'exit 0' TERM; while :; do sleep 1; done".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    stack.block_on(stack.docker().create_service(spec, None)).unwrap().id.unwrap()
}

fn service_id(stack: &TestStack, name: &str) -> Option<String> {
    stack.block_on(stack.docker().inspect_service(name, None)).ok().and_then(|s| s.id)
}
