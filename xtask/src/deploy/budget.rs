//! Does `--deadline` cover what the update policy of every changed service
//! needs at the least? Checked before anything changes, because a deadline
//! below that can only end in a rollback.
//!
//! Swarm replaces a service's tasks in batches of `parallelism` (0: all at
//! once) and starts a batch only when the previous one's new tasks are
//! `running`, which with a health check means after their first successful
//! probe: `start_interval` into the start period where the engine keeps it
//! (API 1.44), a full `interval` otherwise. Between batches it waits
//! `delay`; stop-first, the old task is stopped only after the executor's
//! gossip-convergence pause (2 s, moby's `defaultGossipConvergeDelay`). A
//! created service starts all its tasks at once. Services roll out side by
//! side, then the deploy holds everything for the soak. Pulling images and
//! starting containers take time on top: this is a lower bound, so a
//! refusal is never wrong, and a deadline just above it may still be short.

use std::time::Duration;

use bollard::models::{
    Node, NodeSpecAvailabilityEnum, NodeState, ServiceSpec, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
};

use super::preflight::placeable_on;
use crate::history::revision::Action;
use crate::plan::Plan;

/// moby `daemon/cluster/executor/container/controller.go`: the pause
/// before a stop-first update stops the old task.
const GOSSIP_CONVERGE: Duration = Duration::from_secs(2);

/// What one changed service's rollout needs at the least, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub service: String,
    /// The policy in words: tasks, batches, the time per batch.
    pub policy: String,
    pub least: Duration,
}

/// One line per service whose rollout plus `soak` does not fit `deadline`
/// (empty: it fits).
pub fn check(plan: &Plan, nodes: &[Node], deadline: Duration, soak: Duration) -> Vec<String> {
    needs(plan, nodes)
        .into_iter()
        .filter(|n| n.least + soak > deadline)
        .map(|n| {
            let total = (n.least + soak).as_secs_f64().ceil();
            format!(
                "service `{}`: its update policy ({}) needs at least {:.0}s, and the soak {}s more: --deadline {}s \
                 cannot cover it; deploy with --deadline {total:.0} or more, or render a larger \
                 update_config.parallelism",
                n.service,
                n.policy,
                n.least.as_secs_f64().ceil(),
                soak.as_secs(),
                deadline.as_secs(),
            )
        })
        .collect()
}

/// The least rollout time of every created or updated service.
pub fn needs(plan: &Plan, nodes: &[Node]) -> Vec<Need> {
    plan.touched()
        .filter(|sp| matches!(sp.action, Action::Create | Action::Update))
        .filter_map(|sp| Some(need(&sp.name, sp.action, sp.desired.as_ref()?, nodes)))
        .collect()
}

fn need(name: &str, action: Action, spec: &ServiceSpec, nodes: &[Node]) -> Need {
    let tasks = task_count(spec, nodes);
    let probe = first_probe(spec.task_template.as_ref());
    if action == Action::Create {
        return Need {
            service: name.to_owned(),
            policy: format!("created: {tasks} task(s) at once, {} to the first health probe", secs(probe)),
            least: probe,
        };
    }
    let update = spec.update_config.as_ref();
    let parallelism = update.and_then(|u| u.parallelism).unwrap_or(1).max(0);
    let batches = if parallelism == 0 { 1 } else { tasks.div_ceil(u64::try_from(parallelism).unwrap_or(1)) };
    let delay = nanos(update.and_then(|u| u.delay));
    // Swarm's default order is stop-first.
    let stop_first = update.and_then(|u| u.order) != Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST);
    let pause = if stop_first { GOSSIP_CONVERGE } else { Duration::ZERO };
    let per_batch = pause + probe + delay;
    let least = per_batch * u32::try_from(batches).unwrap_or(u32::MAX);
    let at_once = if parallelism == 0 { "all".to_owned() } else { parallelism.to_string() };
    Need {
        service: name.to_owned(),
        policy: format!(
            "parallelism {at_once}: {tasks} task(s) in {batches} batch(es) of at least {} each \
             ({}{} to the first health probe, delay {})",
            secs(per_batch),
            if stop_first { "2s stop-first pause + " } else { "" },
            secs(probe),
            secs(delay),
        ),
        least,
    }
}

/// Replicas, or the nodes a global service's tasks go to (ready, active,
/// and matching its constraints; at least one).
fn task_count(spec: &ServiceSpec, nodes: &[Node]) -> u64 {
    let mode = spec.mode.as_ref();
    if mode.and_then(|m| m.global.as_ref()).is_none() {
        let replicas = mode.and_then(|m| m.replicated.as_ref()).and_then(|r| r.replicas).unwrap_or(1);
        return u64::try_from(replicas).unwrap_or(0);
    }
    let eligible = nodes
        .iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY))
        .filter(|n| n.spec.as_ref().and_then(|s| s.availability) == Some(NodeSpecAvailabilityEnum::ACTIVE))
        .filter(|n| placeable_on(spec, n))
        .count();
    u64::try_from(eligible.max(1)).unwrap_or(1)
}

/// From container start to the first probe: `start_interval` while in the
/// start period (if set: the specs carry it only for engines that keep
/// it), else `interval` (Docker's default 30 s when unset); no health
/// check, nothing to wait for.
fn first_probe(template: Option<&TaskSpec>) -> Duration {
    let Some(check) = template.and_then(|t| t.container_spec.as_ref()).and_then(|c| c.health_check.as_ref()) else {
        return Duration::ZERO;
    };
    if check.test.as_ref().and_then(|t| t.first()).is_some_and(|t| t == "NONE") {
        return Duration::ZERO;
    }
    let start_period = nanos(check.start_period);
    let start_interval = nanos(check.start_interval);
    if !start_interval.is_zero() && !start_period.is_zero() {
        return start_interval.min(start_period);
    }
    match nanos(check.interval) {
        d if d.is_zero() => Duration::from_secs(30),
        d => d,
    }
}

fn nanos(v: Option<i64>) -> Duration {
    Duration::from_nanos(v.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use bollard::models::{
        HealthConfig, NodeSpec, NodeStatus, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
        TaskSpecContainerSpec,
    };

    use super::*;
    use crate::plan::ServicePlan;

    const S: i64 = 1_000_000_000;

    fn node(ready: bool) -> Node {
        Node {
            spec: Some(NodeSpec { availability: Some(NodeSpecAvailabilityEnum::ACTIVE), ..Default::default() }),
            status: Some(NodeStatus {
                state: Some(if ready { NodeState::READY } else { NodeState::DOWN }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A global (or `replicas`-replicated) service updated stop-first with
    /// `parallelism`, probed every `interval_s`, `start_interval_s` in a
    /// 60 s start period.
    fn spec(replicas: Option<i64>, parallelism: i64, interval_s: i64, start_interval_s: Option<i64>) -> ServiceSpec {
        ServiceSpec {
            mode: Some(match replicas {
                None => ServiceSpecMode { global: Some(Default::default()), ..Default::default() },
                Some(r) => ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(r) }),
                    ..Default::default()
                },
            }),
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(parallelism),
                delay: None,
                monitor: Some(10 * S),
                order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
                ..Default::default()
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    health_check: Some(HealthConfig {
                        test: Some(vec!["CMD".into(), "true".into()]),
                        interval: Some(interval_s * S),
                        start_period: Some(60 * S),
                        start_interval: start_interval_s.map(|s| s * S),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn plan(action: Action, spec: ServiceSpec) -> Plan {
        Plan {
            stack: "mon".into(),
            services: vec![ServicePlan {
                name: "node-exporter".into(),
                action,
                changes: vec![],
                current: None,
                desired: Some(spec),
            }],
            configs_to_create: vec![],
            secrets_missing: vec![],
            networks_missing: vec![],
            networks_to_create: vec![],
            volumes_to_create: vec![],
        }
    }

    fn ten_nodes() -> Vec<Node> {
        (0..10).map(|_| node(true)).collect()
    }

    #[test]
    fn one_node_at_a_time_on_ten_nodes_outlasts_the_default_deadline() {
        // The case: node-exporter, 30 s interval, parallelism 1.
        let p = plan(Action::Update, spec(None, 1, 30, None));
        let need = &needs(&p, &ten_nodes())[0];
        assert_eq!(need.least, Duration::from_secs(10 * 32), "10 batches of 2s pause + 30s to the first probe");
        let refused = check(&p, &ten_nodes(), Duration::from_secs(300), Duration::from_secs(30));
        assert_eq!(refused.len(), 1, "{refused:?}");
        let line = &refused[0];
        for part in
            ["`node-exporter`", "parallelism 1", "10 task(s) in 10 batch(es)", "--deadline 300s", "--deadline 350"]
        {
            assert!(line.contains(part), "`{part}` missing from: {line}");
        }
    }

    #[test]
    fn all_nodes_at_once_fits_whatever_the_node_count() {
        let p = plan(Action::Update, spec(None, 0, 30, None));
        let need = &needs(&p, &ten_nodes())[0];
        assert_eq!(need.least, Duration::from_secs(32), "one batch");
        assert!(check(&p, &ten_nodes(), Duration::from_secs(300), Duration::from_secs(30)).is_empty());
        // ...but not a deadline shorter than one batch and the soak.
        assert_eq!(check(&p, &ten_nodes(), Duration::from_secs(60), Duration::from_secs(30)).len(), 1);
    }

    #[test]
    fn start_interval_shortens_the_wait_for_the_first_probe() {
        let p = plan(Action::Update, spec(None, 1, 30, Some(2)));
        assert_eq!(needs(&p, &ten_nodes())[0].least, Duration::from_secs(10 * 4));
    }

    #[test]
    fn only_ready_nodes_get_a_global_task_and_replicas_count_for_replicated() {
        let mut nodes = ten_nodes();
        nodes[0] = node(false);
        let p = plan(Action::Update, spec(None, 1, 1, None));
        assert_eq!(needs(&p, &nodes)[0].least, Duration::from_secs(9 * 3));
        let p = plan(Action::Update, spec(Some(3), 1, 1, None));
        assert_eq!(needs(&p, &nodes)[0].least, Duration::from_secs(3 * 3));
    }

    #[test]
    fn a_created_service_starts_every_task_at_once() {
        let p = plan(Action::Create, spec(None, 1, 30, None));
        assert_eq!(needs(&p, &ten_nodes())[0].least, Duration::from_secs(30));
        assert!(needs(&plan(Action::Unchanged, spec(None, 1, 30, None)), &ten_nodes()).is_empty());
    }
}
