//! `cargo xtask secret set|rotate NAME`: the secret's next version, rolled
//! into exactly the services that mount the secret. The desired stack is
//! what runs now with that one secret reference moved to the new version,
//! so nothing else changes (an undeployed bundle change stays undeployed),
//! and the roll is an ordinary revision (kind `secret`): under the deploy
//! lock, journaled, watched, reverted on failure. After a revert nothing
//! mounts the new version, so it is removed again: the next deploy mounts
//! the old one, as `status` says.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bollard::models::ServiceSpec;

use super::progress::Progress;
use super::rollout::{self, Ended};
use super::secret_version::{self, Origin};
use super::{
    deadline_problems, load_target, next_number, outcome_exit, preflight, refused, report, runtime, setup, signals,
    under_lock,
};
use crate::cli::{SecretAction, SecretArgs, SecretChange};
use crate::history::revision::{Kind, Revision};
use crate::history::store;
use crate::plan::Plan;
use crate::swarm::desired::{Desired, secret_names};
use crate::swarm::engine::Engine;
use crate::swarm::world::World;

/// `cargo xtask secret`.
pub fn run(root: &Path, args: SecretArgs) -> Result<ExitCode> {
    runtime()?.block_on(change(root, args.action)).or_else(outcome_exit)
}

async fn change(root: &Path, action: SecretAction) -> Result<ExitCode> {
    let started = Instant::now();
    let (change, generate) = match action {
        SecretAction::Set(c) => (c, false),
        SecretAction::Rotate(c) => (c, true),
    };
    let SecretChange { name: key, target, rollout: rollout_args } = &change;
    let (bundle, stack) = load_target(root, target)?;
    let Some(def) = bundle.compose.secrets.get(key) else {
        let known: Vec<&str> = bundle.compose.secrets.keys().map(String::as_str).collect();
        bail!("the stack has no secret `{key}` (it has: {})", known.join(", "));
    };
    let family = def.name.clone();
    let after_change = def.after_change.clone();
    // The value first: nobody types under the lock.
    let (value, origin) = if generate {
        let how = def.generate.with_context(|| {
            format!("secret `{key}` cannot be generated (the stack says nothing of its form): set it with `cargo xtask secret set {key}`")
        })?;
        (secret_version::generate(how)?, Origin::Generated)
    } else {
        (secret_version::read_value(key)?, Origin::Set)
    };

    let signals = signals::Signals::install()?;
    let progress = Progress::new();
    let engine = Engine::connect().await?;
    tokio::select! {
        r = setup::ensure_swarm(&engine, false, &progress) => r?,
        why = signals.next() => return Err(signals::StoppedEarly(why).into()),
    }
    under_lock(&engine, &stack, "secret", rollout_args, &signals, &progress, async |session| {
        let mut world = World::observe(&engine, &stack).await?;
        let existing: Vec<&str> = world.secrets.keys().map(String::as_str).collect();
        let current = crate::bundle::newest_version(&family, existing.iter().copied());
        let version = current.as_ref().map_or(1, |(v, _)| v + 1);
        let new_name = crate::bundle::secret_version_name(&family, version);
        // A lost lock is an outcome of its own (exit 5), like a deploy's.
        session.fence.check().await?;
        let new_id = secret_version::create(&engine, &stack, key, &family, version, &value, origin).await?;
        let from = current.map_or_else(|| "none".to_owned(), |(_, n)| n);
        progress.note(&format!("created secret version {new_name} (was {from})"));
        world.secrets.insert(new_name.clone(), new_id.clone());

        let Some(desired) = with_new_version(&world, &stack, &family, &new_name, &new_id) else {
            println!(
                "secret `{key}` is now {new_name}; no service of `{stack}` mounts it yet: the next deploy does ({:.1}s)",
                started.elapsed().as_secs_f64()
            );
            return Ok(ExitCode::SUCCESS);
        };
        let revisions = store::list(&engine, &stack).await?;
        let desired = Desired {
            bundle_digest: crate::history::current(&revisions).and_then(|s| s.revision.bundle_digest.clone()),
            ..desired
        };
        let plan = Plan::compute(&desired, &world);
        let mut problems = preflight::check(&engine, &desired, &plan, &world).await;
        problems.extend(deadline_problems(rollout_args, &plan, &world));
        if let Some(code) = refused("secret", problems) {
            forget(&engine, &new_name, &progress).await;
            return Ok(code);
        }
        let current_number = crate::history::current(&revisions).map(|s| s.revision.number);
        print!("{}", crate::plan::human(&plan, &engine.describe(), current_number));
        let opts = session.options(&plan, &progress);
        let next = rollout::Next { number: next_number(&revisions), kind: Kind::Secret };
        let ended = rollout::execute(&engine, &desired, &plan, &world, next, &opts, &progress).await?;
        // Back on the old version: nothing mounts the new one, and left in
        // place it would be what the next deploy mounts.
        if matches!(ended, Ended::RolledBack(..) | Ended::StoppedEarly(_)) {
            forget(&engine, &new_name, &progress).await;
        }
        let live = matches!(ended, Ended::Succeeded(_));
        let code = report(&engine, &stack, ended, started).await;
        if let (true, Some(note)) = (live, &after_change) {
            println!("note on `{key}`: {note}");
        }
        code
    })
    .await
}

/// Secret versions revision `rev` moved services to: mounted by a touched
/// service's next spec, not by its previous one. After a `secret` revision
/// is rolled back by whoever finds it unfinished, these are what nothing
/// mounts any more (and what the next deploy must not pick up).
pub(super) fn introduced_versions(rev: &Revision) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, record) in rev.touched() {
        let before: Vec<String> = record.previous.as_ref().map(secret_names).unwrap_or_default();
        let after = record.next.as_ref().map(secret_names).unwrap_or_default();
        out.extend(after.into_iter().filter(|n| !before.contains(n)));
    }
    out.sort();
    out.dedup();
    out
}

/// After recovery rolled back an unfinished `secret` revision: removes the
/// versions it introduced (the engine refuses any still mounted).
pub(super) async fn forget_introduced(engine: &Engine, rev: &Revision, progress: &Progress) {
    if rev.kind != Kind::Secret {
        return;
    }
    for name in introduced_versions(rev) {
        forget(engine, &name, progress).await;
    }
}

/// Removes the version a refused or reverted roll made.
async fn forget(engine: &Engine, name: &str, progress: &Progress) {
    if secret_version::remove(engine, name).await {
        progress.note(&format!("removed secret version {name} again: the services keep the one they had"));
    } else {
        progress.note(&format!(
            "warning: could not remove secret version {name}, which nothing mounts; remove it with \
             `docker secret rm {name}` before the next deploy, or that deploy mounts it"
        ));
    }
}

/// What runs now, every reference to a version of `family` moved to
/// `name` (id `id`); `None` when no service mounts the family.
fn with_new_version(world: &World, stack: &str, family: &str, name: &str, id: &str) -> Option<Desired> {
    let mut services = std::collections::BTreeMap::new();
    let mut any = false;
    for (short, service) in &world.services {
        let Some(spec) = &service.spec else { continue };
        let mut spec = spec.clone();
        any |= move_secret(&mut spec, family, name, id);
        services.insert(short.clone(), spec);
    }
    if !any {
        return None;
    }
    let secrets = services.values().flat_map(secret_names).collect();
    let config_names = services.values().flat_map(crate::swarm::desired::config_names).collect();
    Some(Desired {
        stack: stack.to_owned(),
        services,
        configs: Vec::new(),
        config_names,
        secrets,
        secret_needs: Vec::new(),
        networks: Default::default(),
        volumes: Default::default(),
        images: Default::default(),
        bundle_digest: None,
        from_revision: None,
    })
}

/// Points every mount of a version of `family` in `spec` at `name`;
/// whether there was one.
fn move_secret(spec: &mut ServiceSpec, family: &str, name: &str, id: &str) -> bool {
    let mounts = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()).and_then(|c| c.secrets.as_mut());
    let mut moved = false;
    for s in mounts.into_iter().flatten() {
        if s.secret_name.as_deref().is_some_and(|n| crate::bundle::secret_version(family, n).is_some()) {
            s.secret_name = Some(name.to_owned());
            s.secret_id = Some(id.to_owned());
            moved = true;
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use bollard::models::{Service, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecSecrets};

    use super::*;

    fn service(secrets: &[&str]) -> Service {
        let mounts = secrets
            .iter()
            .map(|s| TaskSpecContainerSpecSecrets {
                secret_name: Some((*s).to_owned()),
                secret_id: Some(format!("id-{s}")),
                ..Default::default()
            })
            .collect();
        Service {
            spec: Some(ServiceSpec {
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec { secrets: Some(mounts), ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_services_mounting_the_secret_change() {
        let world = World {
            services: [
                ("grafana".to_owned(), service(&["m_admin_v3", "m_key_v1"])),
                ("loki".to_owned(), service(&[])),
                ("exporter".to_owned(), service(&["m_admin_extra_v1"])),
                ("legacy".to_owned(), service(&["m_admin"])),
            ]
            .into(),
            ..Default::default()
        };
        let desired = with_new_version(&world, "m", "m_admin", "m_admin_v4", "id-new").unwrap();
        let plan = Plan::compute(&desired, &world);
        let changed: Vec<&str> = plan.touched().map(|sp| sp.name.as_str()).collect();
        assert_eq!(changed, ["grafana", "legacy"], "a hand-made version 0 moves too; another family does not");
        let grafana = &desired.services["grafana"];
        let names = secret_names(grafana);
        assert_eq!(names, ["m_admin_v4", "m_key_v1"]);
        assert!(desired.secrets.contains("m_admin_v4") && !desired.secrets.contains("m_admin_v3"));
        assert!(with_new_version(&world, "m", "m_none", "m_none_v1", "x").is_none(), "nobody mounts it");

        // The journal of that roll names the new version as introduced,
        // nothing else (an unchanged service's versions stay).
        use crate::history::revision::{Action, ServiceRecord};
        let services = plan
            .services
            .iter()
            .map(|sp| {
                let record = ServiceRecord {
                    action: sp.action,
                    previous: sp.current_spec().cloned().filter(|_| sp.action != Action::Unchanged),
                    next: sp.desired.clone(),
                    changed: vec![],
                };
                (sp.name.clone(), record)
            })
            .collect();
        let rev = Revision {
            format: Revision::FORMAT,
            stack: "m".into(),
            number: 2,
            kind: Kind::Secret,
            rollback_to: None,
            started_at: String::new(),
            by: String::new(),
            pid: 0,
            bundle_digest: None,
            services,
            configs_created: vec![],
        };
        assert_eq!(introduced_versions(&rev), ["m_admin_v4"]);
    }
}
