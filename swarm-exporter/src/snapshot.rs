//! One reading of the Swarm, as the metrics need it: built from what the
//! engine returned for `GET /services?status=true`, `GET /tasks` and
//! `GET /nodes`, with no I/O of its own (so it is tested on plain values).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{Node, Service, ServiceUpdateStatusStateEnum, Task, TaskState};

/// Label `docker stack deploy` puts on every object of a stack.
const STACK_LABEL: &str = "com.docker.stack.namespace";

/// A Swarm service by its stack and its full Swarm name
/// (`monitoring_prometheus`, as cAdvisor's `com.docker.swarm.service.name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Empty for a service not deployed as part of a stack.
    pub stack: String,
    pub service: String,
}

/// How Swarm schedules a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Replicated,
    Global,
    ReplicatedJob,
    GlobalJob,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Replicated => "replicated",
            Mode::Global => "global",
            Mode::ReplicatedJob => "replicated-job",
            Mode::GlobalJob => "global-job",
        }
    }

    /// Jobs run to completion: "running fewer than desired" is their normal
    /// end, so they get no replica gauges.
    pub fn is_job(self) -> bool {
        matches!(self, Mode::ReplicatedJob | Mode::GlobalJob)
    }
}

/// A service's `UpdateStatus.State`; `None` when it was never updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateState {
    None,
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    /// Every state, so each service exposes all of them (1 for the current
    /// one, 0 for the others) and a query never meets a missing series.
    pub const ALL: [UpdateState; 7] = [
        UpdateState::None,
        UpdateState::Updating,
        UpdateState::Paused,
        UpdateState::Completed,
        UpdateState::RollbackStarted,
        UpdateState::RollbackPaused,
        UpdateState::RollbackCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::None => "none",
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
        }
    }

    fn from_engine(state: Option<ServiceUpdateStatusStateEnum>) -> UpdateState {
        match state {
            None | Some(ServiceUpdateStatusStateEnum::EMPTY) => UpdateState::None,
            Some(ServiceUpdateStatusStateEnum::UPDATING) => UpdateState::Updating,
            Some(ServiceUpdateStatusStateEnum::PAUSED) => UpdateState::Paused,
            Some(ServiceUpdateStatusStateEnum::COMPLETED) => UpdateState::Completed,
            Some(ServiceUpdateStatusStateEnum::ROLLBACK_STARTED) => UpdateState::RollbackStarted,
            Some(ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED) => UpdateState::RollbackPaused,
            Some(ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED) => UpdateState::RollbackCompleted,
        }
    }
}

/// One service's health now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHealth {
    pub key: ServiceKey,
    pub mode: Mode,
    /// The engine's own count (`ServiceStatus.DesiredTasks`): the replicas
    /// for a replicated service; for a global one, its tasks whose desired
    /// state is running, which the global orchestrator creates once per
    /// eligible node (swarmkit `controlapi.ListServiceStatuses`), so
    /// placement constraints and node availability are the engine's call.
    pub desired: u64,
    /// Tasks Swarm wants running (`DesiredState == running`) that run.
    /// Not `ServiceStatus.RunningTasks`, which also counts old tasks still
    /// running while an update shuts them down.
    pub running: u64,
    pub update: UpdateState,
}

/// How a task of a service that should keep running ended on its own:
/// failed (the container exited non-zero or failed its health check),
/// rejected (the node could not start it: image pull, mounts, resources) or
/// complete (it exited 0, and Swarm's restart policy starts another: a
/// restart loop as much as a crash is). A task stopped by Swarm (update,
/// scale-down) ends `shutdown` instead and is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureState {
    Failed,
    Rejected,
    Complete,
}

impl FailureState {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureState::Failed => "failed",
            FailureState::Rejected => "rejected",
            FailureState::Complete => "complete",
        }
    }
}

/// A failed, rejected or (outside jobs) complete task the engine still lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub task_id: String,
    pub key: ServiceKey,
    /// The node's hostname; empty when the task never got a node.
    pub node: String,
    pub state: FailureState,
}

/// Tasks Swarm wants running (or ready, waiting out a restart delay),
/// counted by service, node and current state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskGroup {
    pub key: ServiceKey,
    /// The node's hostname; empty for a task not yet assigned (pending).
    pub node: String,
    /// The task's state as the engine names it (`running`, `pending`, …).
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub services: Vec<ServiceHealth>,
    pub tasks: BTreeMap<TaskGroup, u64>,
    pub failures: Vec<Failure>,
}

/// Why a reading cannot be turned into a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// `ServiceStatus` is missing: the engine ignored `?status=true`
    /// (API older than 1.41) or is not a manager.
    NoServiceStatus { service: String },
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::NoServiceStatus { service } => write!(
                f,
                "the engine returned no ServiceStatus for service {service} (GET /services?status=true needs API 1.41 on a manager)"
            ),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl Snapshot {
    pub fn build(services: &[Service], tasks: &[Task], nodes: &[Node]) -> Result<Snapshot, SnapshotError> {
        let hostnames: HashMap<&str, &str> = nodes
            .iter()
            .filter_map(|n| {
                let id = n.id.as_deref()?;
                let host = n.description.as_ref()?.hostname.as_deref()?;
                Some((id, host))
            })
            .collect();
        let hostname = |task: &Task| -> String {
            match task.node_id.as_deref() {
                // A node removed since keeps its id as the name, which still
                // tells tasks of different nodes apart.
                Some(id) if !id.is_empty() => hostnames.get(id).map_or(id, |h| *h).to_string(),
                _ => String::new(),
            }
        };

        let mut keys: HashMap<&str, (ServiceKey, Mode)> = HashMap::new();
        for s in services {
            let (Some(id), Some(spec)) = (s.id.as_deref(), s.spec.as_ref()) else { continue };
            let name = spec.name.clone().unwrap_or_else(|| id.to_string());
            let stack = spec.labels.as_ref().and_then(|l| l.get(STACK_LABEL)).cloned().unwrap_or_default();
            keys.insert(id, (ServiceKey { stack, service: name }, mode_of(s)));
        }

        let mut running: HashMap<&str, u64> = HashMap::new();
        let mut groups: BTreeMap<TaskGroup, u64> = BTreeMap::new();
        let mut failures = Vec::new();
        for t in tasks {
            let Some((key, mode)) = t.service_id.as_deref().and_then(|id| keys.get(id)) else {
                // Tasks of a service removed since the service list was read.
                continue;
            };
            let state = t.status.as_ref().and_then(|s| s.state);
            if state == Some(TaskState::RUNNING)
                && t.desired_state == Some(TaskState::RUNNING)
                && let Some(id) = t.service_id.as_deref()
            {
                *running.entry(id).or_default() += 1;
            }
            // `ready` is what Swarm's restart supervisor gives a replacement
            // task while the restart delay runs, before it wants it running:
            // without it a crash-looping service would show no task at all.
            if matches!(t.desired_state, Some(TaskState::RUNNING | TaskState::READY)) {
                let group = TaskGroup {
                    key: key.clone(),
                    node: hostname(t),
                    state: state.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
                };
                *groups.entry(group).or_default() += 1;
            }
            let failed = match state {
                Some(TaskState::FAILED) => Some(FailureState::Failed),
                Some(TaskState::REJECTED) => Some(FailureState::Rejected),
                // A job's tasks are meant to complete.
                Some(TaskState::COMPLETE) if !mode.is_job() => Some(FailureState::Complete),
                _ => None,
            };
            if let (Some(state), Some(task_id)) = (failed, t.id.clone()) {
                failures.push(Failure { task_id, key: key.clone(), node: hostname(t), state });
            }
        }

        let mut healths = Vec::new();
        for s in services {
            let Some((key, mode)) = s.id.as_deref().and_then(|id| keys.get(id)) else { continue };
            let status = s
                .service_status
                .as_ref()
                .ok_or_else(|| SnapshotError::NoServiceStatus { service: key.service.clone() })?;
            healths.push(ServiceHealth {
                key: key.clone(),
                mode: *mode,
                desired: status.desired_tasks.unwrap_or(0),
                running: s.id.as_deref().and_then(|id| running.get(id)).copied().unwrap_or(0),
                update: UpdateState::from_engine(s.update_status.as_ref().and_then(|u| u.state)),
            });
        }
        healths.sort_by(|a, b| a.key.cmp(&b.key));
        failures.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        Ok(Snapshot { services: healths, tasks: groups, failures })
    }
}

fn mode_of(s: &Service) -> Mode {
    let mode = s.spec.as_ref().and_then(|spec| spec.mode.as_ref());
    match mode {
        Some(m) if m.global.is_some() => Mode::Global,
        Some(m) if m.replicated_job.is_some() => Mode::ReplicatedJob,
        Some(m) if m.global_job.is_some() => Mode::GlobalJob,
        // The engine's default when Mode is left out.
        _ => Mode::Replicated,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bollard::models::{
        NodeDescription, ServiceServiceStatus, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
        ServiceUpdateStatus, TaskStatus,
    };

    pub(crate) fn service(id: &str, name: &str, global: bool, desired: u64, update: Option<&str>) -> Service {
        let mode = if global {
            ServiceSpecMode { global: Some(HashMap::new()), ..Default::default() }
        } else {
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(desired as i64) }),
                ..Default::default()
            }
        };
        Service {
            id: Some(id.into()),
            spec: Some(ServiceSpec {
                name: Some(name.into()),
                labels: Some(HashMap::from([(STACK_LABEL.to_string(), "etl".to_string())])),
                mode: Some(mode),
                ..Default::default()
            }),
            service_status: Some(ServiceServiceStatus {
                desired_tasks: Some(desired),
                running_tasks: Some(0),
                completed_tasks: Some(0),
            }),
            update_status: update.map(|u| ServiceUpdateStatus {
                state: Some(serde_json::from_value(serde_json::Value::String(u.into())).unwrap()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(crate) fn task(id: &str, service: &str, node: Option<&str>, state: TaskState, desired: TaskState) -> Task {
        Task {
            id: Some(id.into()),
            service_id: Some(service.into()),
            node_id: node.map(Into::into),
            status: Some(TaskStatus { state: Some(state), ..Default::default() }),
            desired_state: Some(desired),
            ..Default::default()
        }
    }

    pub(crate) fn node(id: &str, host: &str) -> Node {
        Node {
            id: Some(id.into()),
            description: Some(NodeDescription { hostname: Some(host.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn key(name: &str) -> ServiceKey {
        ServiceKey { stack: "etl".into(), service: name.into() }
    }

    #[test]
    fn running_counts_only_tasks_swarm_wants_running() {
        let services = [service("s1", "etl_api", false, 2, Some("updating"))];
        let tasks = [
            task("t1", "s1", Some("n1"), TaskState::RUNNING, TaskState::RUNNING),
            // The old task an update is shutting down still runs.
            task("t2", "s1", Some("n1"), TaskState::RUNNING, TaskState::SHUTDOWN),
            task("t3", "s1", None, TaskState::PENDING, TaskState::RUNNING),
            // A replacement waiting out its restart delay.
            task("t5", "s1", Some("n1"), TaskState::READY, TaskState::READY),
            task("t4", "s1", Some("n1"), TaskState::FAILED, TaskState::SHUTDOWN),
        ];
        let snap = Snapshot::build(&services, &tasks, &[node("n1", "host-a")]).unwrap();
        assert_eq!(
            snap.services,
            vec![ServiceHealth {
                key: key("etl_api"),
                mode: Mode::Replicated,
                desired: 2,
                running: 1,
                update: UpdateState::Updating
            }]
        );
        let groups: Vec<(String, String, u64)> =
            snap.tasks.iter().map(|(g, n)| (g.node.clone(), g.state.clone(), *n)).collect();
        assert_eq!(
            groups,
            vec![
                (String::new(), "pending".into(), 1),
                ("host-a".into(), "ready".into(), 1),
                ("host-a".into(), "running".into(), 1)
            ]
        );
        assert_eq!(
            snap.failures,
            vec![Failure {
                task_id: "t4".into(),
                key: key("etl_api"),
                node: "host-a".into(),
                state: FailureState::Failed
            }]
        );
    }

    #[test]
    fn a_task_exiting_zero_counts_outside_jobs_only() {
        let mut job = service("s2", "etl_migrate", false, 1, None);
        job.spec.as_mut().unwrap().mode =
            Some(ServiceSpecMode { replicated_job: Some(Default::default()), ..Default::default() });
        let services = [service("s1", "etl_api", false, 1, None), job];
        let tasks = [
            task("t1", "s1", Some("n1"), TaskState::COMPLETE, TaskState::SHUTDOWN),
            task("t2", "s2", Some("n1"), TaskState::COMPLETE, TaskState::COMPLETE),
            // Stopped by Swarm for an update: not a failure.
            task("t3", "s1", Some("n1"), TaskState::SHUTDOWN, TaskState::SHUTDOWN),
        ];
        let snap = Snapshot::build(&services, &tasks, &[node("n1", "host-a")]).unwrap();
        assert_eq!(
            snap.failures,
            vec![Failure {
                task_id: "t1".into(),
                key: key("etl_api"),
                node: "host-a".into(),
                state: FailureState::Complete
            }]
        );
    }

    #[test]
    fn global_desired_is_the_engines_count_and_jobs_are_marked() {
        let mut job = service("s2", "etl_migrate", false, 1, None);
        job.spec.as_mut().unwrap().mode =
            Some(ServiceSpecMode { global_job: Some(HashMap::new()), ..Default::default() });
        let services = [service("s1", "etl_agent", true, 3, None), job];
        let snap = Snapshot::build(&services, &[], &[]).unwrap();
        assert_eq!(snap.services[0].mode, Mode::Global);
        assert_eq!(snap.services[0].desired, 3);
        assert_eq!(snap.services[0].update, UpdateState::None);
        assert!(snap.services[1].mode.is_job());
    }

    #[test]
    fn a_missing_service_status_is_an_error_not_zero_desired() {
        let mut s = service("s1", "etl_api", false, 2, None);
        s.service_status = None;
        let err = Snapshot::build(&[s], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("etl_api"), "{err}");
    }

    #[test]
    fn tasks_of_unknown_services_and_nodes_are_handled() {
        let services = [service("s1", "etl_api", false, 1, None)];
        let tasks = [
            task("t1", "gone", Some("n1"), TaskState::RUNNING, TaskState::RUNNING),
            task("t2", "s1", Some("n9"), TaskState::REJECTED, TaskState::SHUTDOWN),
        ];
        let snap = Snapshot::build(&services, &tasks, &[]).unwrap();
        assert!(snap.tasks.is_empty());
        assert_eq!(snap.failures[0].node, "n9");
        assert_eq!(snap.failures[0].state, FailureState::Rejected);
    }
}
