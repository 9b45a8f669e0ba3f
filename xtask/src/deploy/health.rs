//! The convergence watcher: every changed service at once, judged from
//! the tasks of its current spec only (the engine's `_up-to-date` filter).
//!
//! A service has converged when as many up-to-date tasks run as it wants
//! (replicas, or one per eligible node for a global service) and no task
//! of an older spec still runs. With a health check, Swarm reports a task
//! `running` only once the container is healthy (it stays `starting`
//! before), and an unhealthy container fails the task: so `running` means
//! healthy here. Going forward, any task of the new spec that fails,
//! is rejected or exits (a restart) fails the rollout at once, and so does
//! Swarm rolling the service back or pausing the update by itself
//! (`failure_action: rollback`; `rollback_completed` says nothing about
//! health, so it is never read as success). Everything must then hold for
//! the soak period. Reverting is lenient: restarts are allowed, only the
//! end state counts.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::models::{Service, ServiceUpdateStatusStateEnum, Task, TaskState};
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::progress::Progress;
use crate::swarm::engine::Engine;
use crate::swarm::timestamp::Timestamp;

/// A service to watch: its short name, id, and when our change was made
/// (tasks created before are not held against it).
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub id: String,
    pub cutoff: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// A rollout: no failure allowed, converged for `soak`.
    Forward { soak: Duration },
    /// Putting services back: converged for `hold`, restarts tolerated.
    Revert { hold: Duration },
}

/// Why a service did not make it.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub service: String,
    pub reason: String,
    pub task_errors: Vec<String>,
    pub logs: Vec<String>,
}

impl Failure {
    /// The reason with task errors and the log tail, for people.
    pub fn report(&self) -> String {
        let mut out = format!("{}: {}", self.service, self.reason);
        for e in &self.task_errors {
            out.push_str(&format!("\n    task error: {e}"));
        }
        if !self.logs.is_empty() {
            out.push_str(&format!("\n    last {} log lines of {}:", self.logs.len(), self.service));
            for l in &self.logs {
                out.push_str(&format!("\n    | {l}"));
            }
        }
        out
    }
}

const POLL: Duration = Duration::from_millis(500);
const LOG_LINES: usize = 20;

/// Watches until every service converged (and stayed so), a failure, or
/// `deadline`.
pub async fn watch(
    engine: &Engine,
    stack: &str,
    watched: &[Watched],
    mode: Mode,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<(), Vec<Failure>> {
    if watched.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = watched.iter().map(|w| w.id.clone()).collect();
    let hold = match mode {
        Mode::Forward { soak } => soak,
        Mode::Revert { hold } => hold,
    };
    let mut converged_since: Option<tokio::time::Instant> = None;
    // The engine may be away for a while (a daemon restart, a leader
    // election): reads are retried until the deadline, not counted.
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut reported_down: HashSet<String> = HashSet::new();
    loop {
        let snapshot = tokio::join!(engine.stack_services(stack), engine.tasks(&ids, false), engine.tasks(&ids, true));
        let (services, all, fresh) = match snapshot {
            (Ok(s), Ok(a), Ok(f)) => (s, a, f),
            (s, a, f) => {
                let err = s.err().or(a.err()).or(f.err()).map(|e| format!("{e:#}")).unwrap_or_default();
                let now = tokio::time::Instant::now();
                let since = *failing_since.get_or_insert(now);
                if now >= deadline {
                    return Err(vec![Failure {
                        service: "engine".into(),
                        reason: format!(
                            "cannot read the Swarm (for {:.0}s, until the deadline): {err}",
                            now.duration_since(since).as_secs_f64()
                        ),
                        ..Default::default()
                    }]);
                }
                progress.note(&format!("reading the Swarm failed (retrying until the deadline): {err}"));
                converged_since = None;
                tokio::time::sleep(POLL * 2).await;
                continue;
            }
        };
        failing_since = None;
        let services: HashMap<&str, &Service> = services.iter().filter_map(|s| Some((s.id.as_deref()?, s))).collect();
        let fresh: HashSet<&str> = fresh.iter().filter_map(|t| t.id.as_deref()).collect();

        // Tasks on nodes that are down count neither way: Swarm updates them
        // when the node returns. A rollout that cannot converge without them
        // (Swarm's updater waiting on a lost node) fails at once, naming it.
        let down = down_nodes(engine).await;
        for (id, host) in &down {
            if reported_down.insert(id.clone()) {
                progress.note(&format!("node {host} ({id}) is down: its tasks are left to Swarm until it returns"));
            }
        }
        let mut failures = Vec::new();
        let mut all_converged = true;
        let mut states = Vec::new();
        for w in watched {
            let (lost, tasks): (Vec<&Task>, Vec<&Task>) = all
                .iter()
                .filter(|t| t.service_id.as_deref() == Some(&w.id))
                .partition(|t| t.node_id.as_deref().is_some_and(|n| down.contains_key(n)));
            let forward = matches!(mode, Mode::Forward { .. });
            let service = services.get(w.id.as_str()).copied();
            let mut state = assess(w, service, &tasks, &fresh, forward);
            // Converged on the nodes left is not enough while Swarm's update
            // still waits for a task on the lost node (all nodes at once, it
            // has already replaced it there): when the node returns, that
            // task's failure would make Swarm roll the service back by
            // itself, after this deploy had said it was live.
            let swarm_waits = service
                .and_then(|s| s.update_status.as_ref())
                .and_then(|u| u.state)
                .is_some_and(|s| s == ServiceUpdateStatusStateEnum::UPDATING);
            let stalled = !state.converged || swarm_waits;
            if forward && stalled && state.failure.is_none() && !lost.is_empty() {
                let mut hosts: Vec<String> = lost
                    .iter()
                    .filter_map(|t| t.node_id.as_deref())
                    .filter_map(|n| down.get(n).map(|h| format!("{h} ({n})")))
                    .collect();
                hosts.sort();
                hosts.dedup();
                state.failure = Some(Failure {
                    service: w.name.clone(),
                    reason: format!(
                        "node {} went down during the rollout and the service {} without it ({}); Swarm's \
                         update would wait for it",
                        hosts.join(", "),
                        if state.converged {
                            "runs everywhere else, but Swarm's update cannot complete"
                        } else {
                            "has not converged"
                        },
                        state.summary
                    ),
                    ..Default::default()
                });
            }
            let line = if state.converged && converged_since.is_some() {
                format!("{} (holding)", state.summary)
            } else {
                state.summary.clone()
            };
            progress.service(&w.name, &line);
            if let (Mode::Forward { .. }, Some(f)) = (mode, state.failure.clone()) {
                failures.push(f);
            }
            all_converged &= state.converged;
            states.push(state);
        }
        if !failures.is_empty() {
            for f in &mut failures {
                enrich(engine, f, &states).await;
            }
            return Err(failures);
        }
        let now = tokio::time::Instant::now();
        if all_converged {
            let since = *converged_since.get_or_insert(now);
            if now.duration_since(since) >= hold {
                return Ok(());
            }
        } else {
            converged_since = None;
        }
        if now >= deadline {
            let mut out = Vec::new();
            for s in states.iter().filter(|s| !s.converged) {
                let mut f = s.failure.clone().unwrap_or_else(|| Failure {
                    service: s.name.clone(),
                    reason: format!("not converged by the deadline: {}", s.summary),
                    ..Default::default()
                });
                if s.failure.is_some() {
                    f.reason = format!("not converged by the deadline ({}); last failure: {}", s.summary, f.reason);
                }
                enrich(engine, &mut f, &states).await;
                out.push(f);
            }
            if out.is_empty() {
                out.push(Failure {
                    service: "stack".into(),
                    reason: "deadline reached while soaking".into(),
                    ..Default::default()
                });
            }
            return Err(out);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Nodes the Swarm holds for down (not ready): id → host name.
async fn down_nodes(engine: &Engine) -> HashMap<String, String> {
    let nodes = engine.docker.list_nodes(None::<bollard::query_parameters::ListNodesOptions>).await.unwrap_or_default();
    nodes
        .into_iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.state) != Some(bollard::models::NodeState::READY))
        .filter_map(|n| {
            let host = n.description.as_ref().and_then(|d| d.hostname.clone()).unwrap_or_default();
            Some((n.id?, host))
        })
        .collect()
}

/// Whether every watched service has converged right now, with no task
/// of its current spec failed since its cutoff (one look, no waiting).
pub async fn converged_now(engine: &Engine, stack: &str, watched: &[Watched]) -> bool {
    let ids: Vec<String> = watched.iter().map(|w| w.id.clone()).collect();
    let (services, all, fresh) =
        match tokio::join!(engine.stack_services(stack), engine.tasks(&ids, false), engine.tasks(&ids, true)) {
            (Ok(s), Ok(a), Ok(f)) => (s, a, f),
            _ => return false,
        };
    let services: HashMap<&str, &Service> = services.iter().filter_map(|s| Some((s.id.as_deref()?, s))).collect();
    let fresh: HashSet<&str> = fresh.iter().filter_map(|t| t.id.as_deref()).collect();
    watched.iter().all(|w| {
        let tasks: Vec<&Task> = all.iter().filter(|t| t.service_id.as_deref() == Some(&w.id)).collect();
        let a = assess(w, services.get(w.id.as_str()).copied(), &tasks, &fresh, true);
        a.converged && a.failure.is_none()
    })
}

/// One service's state in one snapshot.
#[derive(Debug, Clone)]
struct Assessment {
    name: String,
    converged: bool,
    summary: String,
    failure: Option<Failure>,
    /// The newest failed task of the current spec, for its logs.
    failed_task: Option<String>,
    failed_container: Option<String>,
    service_id: String,
}

fn assess(w: &Watched, service: Option<&Service>, tasks: &[&Task], fresh: &HashSet<&str>, forward: bool) -> Assessment {
    let mut a = Assessment {
        name: w.name.clone(),
        converged: false,
        summary: String::new(),
        failure: None,
        failed_task: None,
        failed_container: None,
        service_id: w.id.clone(),
    };
    let Some(service) = service else {
        a.summary = "service is gone".into();
        a.failure =
            Some(Failure { service: w.name.clone(), reason: "the service disappeared".into(), ..Default::default() });
        return a;
    };
    let spec = service.spec.as_ref();
    let wanted = match spec.and_then(|s| s.mode.as_ref()) {
        Some(m) if m.replicated.is_some() => m.replicated.as_ref().and_then(|r| r.replicas).unwrap_or(1).max(0) as u64,
        _ => service.service_status.as_ref().and_then(|s| s.desired_tasks).unwrap_or(1),
    };
    let is_fresh = |t: &Task| t.id.as_deref().is_some_and(|id| fresh.contains(id));
    let state = |t: &Task| t.status.as_ref().and_then(|s| s.state);
    let after_cutoff = |t: &Task| match (w.cutoff, t.created_at.as_deref().and_then(Timestamp::parse)) {
        (Some(cut), Some(created)) => created >= cut,
        _ => true,
    };
    let new_running = tasks
        .iter()
        .filter(|t| is_fresh(t) && t.desired_state == Some(TaskState::RUNNING) && state(t) == Some(TaskState::RUNNING))
        .count() as u64;
    let new_pending: Vec<&&Task> = tasks
        .iter()
        .filter(|t| is_fresh(t) && t.desired_state == Some(TaskState::RUNNING) && state(t) != Some(TaskState::RUNNING))
        .collect();
    let old_running = tasks.iter().filter(|t| !is_fresh(t) && state(t) == Some(TaskState::RUNNING)).count();
    let ended = |t: &Task| matches!(state(t), Some(TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE));
    // Failed tasks of the current spec created since our change: a restart.
    let mut failed: Vec<&&Task> = tasks.iter().filter(|t| is_fresh(t) && after_cutoff(t) && ended(t)).collect();
    failed.sort_by_key(|t| t.created_at.clone());
    // For the report, also those Swarm already rolled back from (no longer
    // of the current spec once it did).
    let mut failed_since: Vec<&&Task> =
        tasks.iter().filter(|t| w.cutoff.is_some() && after_cutoff(t) && ended(t)).collect();
    failed_since.sort_by_key(|t| t.created_at.clone());
    let update = service.update_status.as_ref();
    let update_state = update.and_then(|u| u.state);
    let update_message = update.and_then(|u| u.message.clone()).unwrap_or_default();

    a.converged = new_running == wanted && old_running == 0;
    let mut summary = format!("{new_running}/{wanted} running");
    if old_running > 0 {
        summary.push_str(&format!(", {old_running} old still running"));
    }
    if let Some(p) = new_pending.first() {
        let st = state(p).map(|s| s.to_string()).unwrap_or_else(|| "new".into());
        let msg = p.status.as_ref().and_then(|s| s.err.clone().or(s.message.clone())).unwrap_or_default();
        summary.push_str(&format!(", {st}"));
        if !msg.is_empty() && st != "running" && st != "starting" && msg != st {
            summary.push_str(&format!(" ({msg})"));
        }
        if st == "starting" && spec_has_healthcheck(service) {
            summary.push_str(" (waiting for healthy)");
        }
    }
    if let Some(s) = update_state.filter(|s| *s != ServiceUpdateStatusStateEnum::EMPTY) {
        summary.push_str(&format!(", swarm: {s}"));
    }
    if a.converged && !(forward && update_state.is_some_and(swarm_gave_up)) {
        summary = format!("converged: {summary}");
    }
    a.summary = summary;

    let task_errors: Vec<String> = {
        let mut v: Vec<String> = failed_since.iter().rev().map(|t| describe_task(t)).collect();
        v.dedup();
        v.truncate(5);
        v
    };
    a.failed_task = failed_since.last().and_then(|t| t.id.clone());
    a.failed_container =
        failed_since.last().and_then(|t| t.status.as_ref()?.container_status.as_ref()?.container_id.clone());
    if !forward {
        return a;
    }
    // A task whose container the engine could not start never ran the
    // application: Swarm's restart policy retries it, and so much is
    // allowed. A task that ran and failed is the application's: no restart.
    let (never_ran, ran): (Vec<&&Task>, Vec<&&Task>) = failed.iter().partition(|t| never_started(t));
    if let Some(t) = ran.last() {
        a.failed_task = t.id.clone();
        a.failure = Some(Failure {
            service: w.name.clone(),
            reason: format!("{} task(s) of the new spec failed (no restarts allowed)", ran.len()),
            task_errors,
            logs: Vec::new(),
        });
    } else if never_ran.len() > MAX_START_RETRIES {
        a.failed_task = never_ran.last().and_then(|t| t.id.clone());
        a.failure = Some(Failure {
            service: w.name.clone(),
            reason: format!(
                "the engine failed to start {} task(s) of the new spec (more than the {MAX_START_RETRIES} retries allowed)",
                never_ran.len()
            ),
            task_errors,
            logs: Vec::new(),
        });
    } else if let Some(s) = update_state {
        let reason = match s {
            ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
            | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED
            | ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED => {
                Some(format!("Swarm rolled the service back by itself ({s}: {update_message})"))
            }
            ServiceUpdateStatusStateEnum::PAUSED => Some(format!("Swarm paused the update ({update_message})")),
            _ => None,
        };
        if let Some(reason) = reason {
            a.converged = false;
            a.failure = Some(Failure { service: w.name.clone(), reason, task_errors, ..Default::default() });
        }
    }
    a
}

/// Engine-level start failures tolerated per service in one rollout.
pub const MAX_START_RETRIES: usize = 3;

/// The engine could not start the task's container: moby's Swarm executor
/// wraps every error of the container start in "starting container failed"
/// (`daemon/cluster/executor/container/controller.go`, `Start`), while a
/// process that ran and exited is reported as "task: non-zero exit (N)".
fn never_started(t: &Task) -> bool {
    let status = t.status.as_ref();
    status.and_then(|s| s.state) == Some(TaskState::FAILED)
        && status.and_then(|s| s.err.as_deref()).is_some_and(|e| e.starts_with("starting container failed"))
}

fn swarm_gave_up(s: ServiceUpdateStatusStateEnum) -> bool {
    matches!(
        s,
        ServiceUpdateStatusStateEnum::PAUSED
            | ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
            | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED
            | ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED
    )
}

fn spec_has_healthcheck(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref()?.container_spec.as_ref()?.health_check.as_ref())
        .is_some_and(|h| h.test.as_ref().is_some_and(|t| t.first().is_some_and(|c| c != "NONE")))
}

fn describe_task(t: &Task) -> String {
    let status = t.status.as_ref();
    let state = status.and_then(|s| s.state).map(|s| s.to_string()).unwrap_or_default();
    let err = status.and_then(|s| s.err.clone()).filter(|e| !e.is_empty());
    let msg = status.and_then(|s| s.message.clone()).unwrap_or_default();
    let exit = status.and_then(|s| s.container_status.as_ref()).and_then(|c| c.exit_code);
    let mut out =
        format!("{} {state}", t.name.clone().or(t.slot.map(|s| format!("slot {s}"))).unwrap_or_else(|| "task".into()));
    if let Some(code) = exit.filter(|c| *c != 0 || state == "complete") {
        out.push_str(&format!(" (exit {code})"));
    }
    out.push_str(&format!(": {}", err.unwrap_or(msg)));
    out
}

/// Adds the last log lines of the failing task (or of the service).
async fn enrich(engine: &Engine, failure: &mut Failure, states: &[Assessment]) {
    let Some(state) = states.iter().find(|s| s.name == failure.service) else { return };
    if !failure.logs.is_empty() {
        return;
    }
    let options = LogsOptions { stdout: true, stderr: true, tail: (LOG_LINES * 2).to_string(), ..Default::default() };
    let collect = |stream: futures_util::stream::BoxStream<
        'static,
        Result<bollard::container::LogOutput, bollard::errors::Error>,
    >| async move {
        let mut lines = Vec::new();
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            match item {
                Ok(out) => lines.extend(out.to_string().lines().map(str::to_owned)),
                Err(_) => break,
            }
        }
        lines
    };
    // The failed container's last health check, when it ran on this node.
    let inspected = match &state.failed_container {
        Some(id) => {
            engine.docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await.ok()
        }
        None => None,
    };
    let health = inspected.and_then(|c| c.state).and_then(|s| s.health);
    let last = health.as_ref().and_then(|h| h.log.as_ref()).and_then(|l| l.last().cloned());
    if let (Some(h), Some(log)) = (health, last) {
        let status = h.status.map(|s| s.to_string()).unwrap_or_default();
        let output = log.output.unwrap_or_default().trim().replace('\n', " ");
        failure.task_errors.push(format!(
            "health check {status}: last probe exit {}{}",
            log.exit_code.unwrap_or_default(),
            if output.is_empty() { String::new() } else { format!(", output: {output}") }
        ));
    }
    let mut lines = Vec::new();
    if let Some(task) = &state.failed_task {
        let stream = engine.docker.task_logs(task, Some(options.clone())).boxed();
        lines = tokio::time::timeout(Duration::from_secs(5), collect(stream)).await.unwrap_or_default();
    }
    if lines.is_empty() {
        let stream = engine.docker.service_logs(&state.service_id, Some(options)).boxed();
        lines = tokio::time::timeout(Duration::from_secs(5), collect(stream)).await.unwrap_or_default();
    }
    let skip = lines.len().saturating_sub(LOG_LINES);
    failure.logs = lines.into_iter().skip(skip).filter(|l| !l.trim().is_empty()).collect();
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerStatus, TaskStatus};

    use super::*;

    fn failed(err: &str, exit: Option<i64>) -> Task {
        Task {
            status: Some(TaskStatus {
                state: Some(TaskState::FAILED),
                err: Some(err.into()),
                container_status: Some(ContainerStatus { exit_code: exit, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_engine_start_failure_is_told_from_an_application_failure() {
        let busy = "starting container failed: unable to remount dir as readonly: mount tmpfs:/var/lib/docker/containers/x/mounts/secrets: device or resource busy";
        assert!(never_started(&failed(busy, None)));
        assert!(!never_started(&failed("task: non-zero exit (3)", Some(3))), "it ran and exited");
        assert!(!never_started(&failed("task: non-zero exit (137): dockerexec: unhealthy container", Some(137))));
        let rejected = Task {
            status: Some(TaskStatus {
                state: Some(TaskState::REJECTED),
                err: Some("No such image: x@sha256:00".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!never_started(&rejected), "a rejected task is not retried by us");
    }
}
