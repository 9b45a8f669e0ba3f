//! `cargo xtask plan`: the desired stack against what runs in the Swarm,
//! service by service (create / update with the differing fields / remove
//! / unchanged), and the configs, secrets, networks and volumes a deploy
//! would need. `deploy` and `rollback` act on the same [`Plan`].

mod render;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bollard::models::{Service, ServiceSpec};
use serde::Serialize;

use crate::bundle::Bundle;
use crate::cli::{OutputFormat, PlanArgs, Target};
use crate::history::revision::Action;
use crate::swarm::compare::{self, FieldChange};
use crate::swarm::desired::Desired;
use crate::swarm::engine::Engine;
use crate::swarm::world::World;

pub use render::{human, json};

/// One service's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub action: Action,
    /// For updates: every differing field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// The running service (update, remove, unchanged).
    #[serde(skip)]
    pub current: Option<Service>,
    /// The spec to apply (create, update; unchanged: the desired one).
    #[serde(skip)]
    pub desired: Option<ServiceSpec>,
}

impl ServicePlan {
    /// Field names that differ, deduplicated, in order.
    pub fn changed_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.changes {
            if !out.contains(&c.field) {
                out.push(c.field.clone());
            }
        }
        out
    }

    pub fn current_spec(&self) -> Option<&ServiceSpec> {
        self.current.as_ref().and_then(|s| s.spec.as_ref())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub services: Vec<ServicePlan>,
    pub configs_to_create: Vec<String>,
    /// Secrets the services need that do not exist (a deploy refuses).
    pub secrets_missing: Vec<String>,
    /// External networks that do not exist (a deploy refuses; `--init`
    /// creates them).
    pub networks_missing: Vec<String>,
    /// Stack networks a deploy would create.
    pub networks_to_create: Vec<String>,
    /// Named volumes not on this node yet (Swarm creates them with the
    /// first task; they are never removed by a deploy or a rollback).
    pub volumes_to_create: Vec<String>,
}

impl Plan {
    pub fn compute(desired: &Desired, world: &World) -> Plan {
        let mut services = Vec::new();
        for (name, spec) in &desired.services {
            let current = world.services.get(name);
            let (action, changes) = match current.and_then(|s| s.spec.as_ref()) {
                None => (Action::Create, Vec::new()),
                Some(running) => {
                    let changes = compare::diff(running, spec);
                    (if changes.is_empty() { Action::Unchanged } else { Action::Update }, changes)
                }
            };
            services.push(ServicePlan {
                name: name.clone(),
                action,
                changes,
                current: current.cloned(),
                desired: Some(spec.clone()),
            });
        }
        for (name, service) in &world.services {
            if !desired.services.contains_key(name) {
                services.push(ServicePlan {
                    name: name.clone(),
                    action: Action::Remove,
                    changes: Vec::new(),
                    current: Some(service.clone()),
                    desired: None,
                });
            }
        }
        services.sort_by(|a, b| a.name.cmp(&b.name));
        // Only configs some service mounts: others would be pruned again
        // after every deploy.
        let mut configs_to_create: Vec<String> = desired
            .configs
            .iter()
            .filter(|c| desired.config_names.contains(&c.name) && !world.configs.contains_key(&c.name))
            .map(|c| c.name.clone())
            .collect();
        configs_to_create.sort();
        let secrets_missing = desired.secrets.iter().filter(|s| !world.secrets.contains_key(*s)).cloned().collect();
        let network_exists = |n: &str| world.networks.contains_key(n) || world.networks.values().any(|v| v.id == n);
        let networks_missing = desired
            .networks
            .iter()
            .filter(|n| n.external && !network_exists(&n.name))
            .map(|n| n.name.clone())
            .collect();
        let networks_to_create = desired
            .networks
            .iter()
            .filter(|n| !n.external && !network_exists(&n.name))
            .map(|n| n.name.clone())
            .collect();
        let volumes_to_create = desired.volumes.iter().filter(|v| !world.volumes.contains(*v)).cloned().collect();
        Plan {
            stack: desired.stack.clone(),
            services,
            configs_to_create,
            secrets_missing,
            networks_missing,
            networks_to_create,
            volumes_to_create,
        }
    }

    /// Services that would change.
    pub fn touched(&self) -> impl Iterator<Item = &ServicePlan> {
        self.services.iter().filter(|s| s.action != Action::Unchanged)
    }

    pub fn is_noop(&self) -> bool {
        self.touched().next().is_none() && self.configs_to_create.is_empty() && self.networks_to_create.is_empty()
    }

    /// How long a changed service must be watched after it converged so
    /// that Swarm's own update monitor window (of updated services) and one
    /// health-check interval of each changed service have passed (the
    /// longest of them).
    pub fn soak_needed(&self) -> std::time::Duration {
        let nanos = self
            .touched()
            .filter_map(|sp| Some((sp.action, sp.desired.as_ref()?)))
            .flat_map(|(action, spec)| {
                // Swarm monitors *updates* only: a created service has no
                // update for Swarm to roll back.
                let monitor = spec.update_config.as_ref().and_then(|u| u.monitor).filter(|_| action == Action::Update);
                let interval = spec
                    .task_template
                    .as_ref()
                    .and_then(|t| t.container_spec.as_ref())
                    .and_then(|c| c.health_check.as_ref())
                    .and_then(|h| h.interval);
                [monitor, interval]
            })
            .flatten()
            .max()
            .unwrap_or(0);
        std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }

    pub fn count(&self, action: Action) -> usize {
        self.services.iter().filter(|s| s.action == action).count()
    }
}

/// The bundle (`--bundle` or stack/rendered) and the stack name (`--stack`
/// or the bundle's).
pub fn load_target(root: &Path, target: &Target) -> Result<(Bundle, String)> {
    let dir = target.bundle.clone().unwrap_or_else(|| root.join(crate::bundle::DIR));
    let bundle = Bundle::load(&dir)?;
    let stack = target.stack.clone().unwrap_or_else(|| bundle.stack().to_owned());
    Ok((bundle, stack))
}

/// The stack name alone (`--stack`, else the bundle's).
pub fn stack_name(root: &Path, target: &Target) -> Result<String> {
    if let Some(s) = &target.stack {
        return Ok(s.clone());
    }
    load_target(root, target).map(|(_, s)| s).context("no --stack given and no bundle to take the stack name from")
}

/// `cargo xtask plan`.
pub fn run(root: &Path, args: PlanArgs) -> Result<ExitCode> {
    let runtime = crate::swarm::engine::runtime()?;
    runtime.block_on(async {
        let (bundle, stack) = load_target(root, &args.target)?;
        let engine = Engine::connect().await?;
        engine.ensure_manager(false).await?;
        let world = World::observe(&engine, &stack).await?;
        let desired = Desired::from_bundle(&bundle, &stack, &world.ids())?.for_engine(&engine);
        // As deploy does: a built image's tag, resolved to what it would run.
        let resolved = crate::swarm::image_tags::resolve(&engine, &desired, &world).await;
        for note in resolved.from_running.iter().chain(&resolved.problems) {
            eprintln!("note: {note}");
        }
        let desired = desired.with_digests(&resolved);
        let plan = Plan::compute(&desired, &world);
        let revisions = crate::history::store::list(&engine, &stack).await.unwrap_or_default();
        let current = crate::history::current(&revisions).map(|s| s.revision.number);
        match args.output {
            OutputFormat::Human => print!("{}", human(&plan, &engine.describe(), current)),
            OutputFormat::Json => println!("{}", json(&plan, &engine.describe(), current)),
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use bollard::models::{HealthConfig, ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec};

    use super::*;

    fn service(action: Action, monitor_s: i64, interval_s: i64) -> ServicePlan {
        let spec = ServiceSpec {
            update_config: Some(ServiceSpecUpdateConfig {
                monitor: Some(monitor_s * 1_000_000_000),
                ..Default::default()
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    health_check: Some(HealthConfig {
                        interval: Some(interval_s * 1_000_000_000),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        ServicePlan { name: "s".into(), action, changes: vec![], current: None, desired: Some(spec) }
    }

    fn plan(services: Vec<ServicePlan>) -> Plan {
        Plan {
            stack: "mon".into(),
            services,
            configs_to_create: vec![],
            secrets_missing: vec![],
            networks_missing: vec![],
            networks_to_create: vec![],
            volumes_to_create: vec![],
        }
    }

    #[test]
    fn the_soak_covers_swarms_monitor_of_updates_and_a_health_interval() {
        let secs = |p: Plan| p.soak_needed().as_secs();
        assert_eq!(secs(plan(vec![service(Action::Update, 10, 1)])), 10, "an update: Swarm's monitor window");
        assert_eq!(secs(plan(vec![service(Action::Update, 2, 30)])), 30, "one health-check interval");
        assert_eq!(secs(plan(vec![service(Action::Create, 10, 1)])), 1, "Swarm does not monitor a create");
        assert_eq!(secs(plan(vec![service(Action::Unchanged, 60, 60)])), 0, "unchanged services do not count");
    }
}
