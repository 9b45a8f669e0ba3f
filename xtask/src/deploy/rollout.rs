//! The atomic rollout: configs (and stack networks) first, then the
//! journal, then every changed service at once, then the watch; on any
//! failure, deadline or signal, the revert of everything the journal names.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use bollard::models::{ConfigSpec, NetworkCreateRequest, ServiceSpec};
use futures_util::future::join_all;
use tokio::signal::unix::{SignalKind, signal};

use super::health::{self, Failure, Mode, Watched};
use super::progress::Progress;
use super::revert;
use crate::history::revision::{Action, Kind, Outcome, Revision, ServiceRecord, who};
use crate::history::store::{self, Stored};
use crate::plan::{Plan, ServicePlan};
use crate::swarm::desired::{Desired, fill_ids};
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of, status_of};
use crate::swarm::timestamp::Timestamp;
use crate::swarm::world::World;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// For the rollout (apply + watch + soak); the revert gets as long again.
    pub deadline: Duration,
    pub soak: Duration,
}

/// How a rollout ended.
#[derive(Debug)]
pub enum Ended {
    Succeeded(Stored),
    /// Everything is back on the previous revision.
    RolledBack(Stored, Vec<Failure>),
    /// The revert did not converge either.
    RollbackFailed(Stored, Vec<Failure>, Vec<Failure>),
}

/// The revision a rollout records.
#[derive(Debug, Clone, Copy)]
pub struct Next {
    pub number: u64,
    pub kind: Kind,
}

/// Applies `plan` (computed from `desired` against `world`) as revision
/// `next`.
pub async fn execute(
    engine: &Engine,
    desired: &Desired,
    plan: &Plan,
    world: &World,
    next: Next,
    opts: Options,
    progress: &Progress,
) -> Result<Ended> {
    let Next { number, kind } = next;
    let stack = &desired.stack;
    let started = tokio::time::Instant::now();
    let deadline = started + opts.deadline;

    // 1. Configs and stack networks: new names only, nothing running
    //    refers to them yet, so creating them changes nothing.
    let mut ids = world.ids();
    for name in &plan.configs_to_create {
        let config = desired.configs.iter().find(|c| &c.name == name).context("planned config not in the bundle")?;
        let spec = ConfigSpec {
            name: Some(name.clone()),
            labels: Some(config.labels.clone()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(&config.data)),
            templating: None,
        };
        let id = match engine.docker.create_config(spec).await {
            Ok(r) => r.id,
            // Same name = same content (names are content hashes).
            Err(e) if status_of(&e) == Some(409) => engine.docker.inspect_config(name).await?.id.unwrap_or_default(),
            Err(e) => anyhow::bail!("creating config {name}: {}", message_of(&e)),
        };
        ids.configs.insert(name.clone(), id);
    }
    if !plan.configs_to_create.is_empty() {
        progress.note(&format!("created {} config(s)", plan.configs_to_create.len()));
    }
    for name in &plan.networks_to_create {
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".into()),
            labels: Some(HashMap::from([(NAMESPACE_LABEL.to_owned(), stack.clone())])),
            ..Default::default()
        };
        let id = engine
            .docker
            .create_network(request)
            .await
            .map_err(|e| anyhow::anyhow!("creating network {name}: {}", message_of(&e)))?
            .id;
        ids.networks.insert(name.clone(), id);
    }

    // 2. The journal, before the first service changes.
    let mut specs: HashMap<&str, ServiceSpec> = HashMap::new();
    for sp in &plan.services {
        if let Some(mut spec) = sp.desired.clone() {
            fill_ids(&mut spec, &ids);
            if sp.action == Action::Update {
                // Keep the running ForceUpdate, or every task would restart for it.
                let force = sp.current_spec().and_then(|s| s.task_template.as_ref()).and_then(|t| t.force_update);
                if let Some(tt) = spec.task_template.as_mut() {
                    tt.force_update = force;
                }
            }
            specs.insert(&sp.name, spec);
        }
    }
    let (by, _, pid) = who();
    let revision = Revision {
        format: Revision::FORMAT,
        stack: stack.clone(),
        number,
        kind,
        rollback_to: desired.from_revision,
        started_at: Timestamp::now().rfc3339(),
        by,
        pid,
        bundle_digest: desired.bundle_digest.clone(),
        services: plan
            .services
            .iter()
            .map(|sp| {
                let current = sp.current_spec().cloned();
                let record = match sp.action {
                    Action::Create => ServiceRecord {
                        action: sp.action,
                        previous: None,
                        next: specs.get(sp.name.as_str()).cloned(),
                        changed: vec![],
                    },
                    Action::Update => ServiceRecord {
                        action: sp.action,
                        previous: current,
                        next: specs.get(sp.name.as_str()).cloned(),
                        changed: sp.changed_fields(),
                    },
                    Action::Remove => {
                        ServiceRecord { action: sp.action, previous: current, next: None, changed: vec![] }
                    }
                    Action::Unchanged => {
                        ServiceRecord { action: sp.action, previous: None, next: current, changed: vec![] }
                    }
                };
                (sp.name.clone(), record)
            })
            .collect(),
        configs_created: plan.configs_to_create.clone(),
    };
    let mut stored = store::begin(engine, &revision).await?;
    progress.note(&format!("revision {number}: {}", revision.summary()));

    // 3. Apply and watch, racing the deadline and signals.
    let forward = async {
        let applied =
            join_all(plan.touched().map(|sp| apply_one(engine, sp, specs.get(sp.name.as_str()).cloned(), progress)))
                .await;
        let mut watched = Vec::new();
        let mut failures = Vec::new();
        for r in applied {
            match r {
                Ok(Some(w)) => watched.push(w),
                Ok(None) => {}
                Err(f) => failures.push(f),
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        health::watch(engine, stack, &watched, Mode::Forward { soak: opts.soak }, deadline, progress).await
    };
    // The watch stops at the deadline by itself; this also bounds the
    // API calls before it (a create that hangs on a registry, say).
    let bounded = async {
        match tokio::time::timeout_at(deadline + Duration::from_secs(5), forward).await {
            Ok(r) => r,
            Err(_) => Err(vec![Failure {
                service: "rollout".into(),
                reason: "deadline reached while applying".into(),
                ..Default::default()
            }]),
        }
    };
    let result = tokio::select! {
        r = bounded => r,
        why = interrupted() => Err(vec![Failure { service: "rollout".into(), reason: why.into(), ..Default::default() }]),
    };
    let failures = match result {
        Ok(()) => {
            store::finish(engine, &mut stored, Outcome::Succeeded, None).await?;
            progress.finish();
            return Ok(Ended::Succeeded(stored));
        }
        Err(f) => f,
    };

    // 4. Revert everything the journal names.
    progress.finish();
    for f in &failures {
        progress.note(&format!("FAILED {}", f.report()));
    }
    progress.note(&format!(
        "rolling back all {} changed service(s) to revision {}'s predecessors",
        revision.touched().count(),
        number
    ));
    let _quiet = ignore_signals_while_reverting();
    let revert_deadline = tokio::time::Instant::now() + opts.deadline;
    let reason = failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ");
    let ended = match revert::revert(engine, &revision, revert_deadline, progress).await {
        Ok(()) => {
            store::finish(engine, &mut stored, Outcome::RolledBack, Some(&reason)).await?;
            Ended::RolledBack(stored, failures)
        }
        Err(revert_failures) => {
            let why =
                revert_failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ");
            store::finish(engine, &mut stored, Outcome::RollbackFailed, Some(&format!("{reason}; rollback: {why}")))
                .await?;
            Ended::RollbackFailed(stored, failures, revert_failures)
        }
    };
    progress.finish();
    Ok(ended)
}

/// Creates, updates or removes one service; what to watch afterwards.
async fn apply_one(
    engine: &Engine,
    sp: &ServicePlan,
    spec: Option<ServiceSpec>,
    progress: &Progress,
) -> Result<Option<Watched>, Failure> {
    let fail = |reason: String| Failure { service: sp.name.clone(), reason, ..Default::default() };
    let current_id = sp.current.as_ref().and_then(|s| s.id.clone());
    let id = match (sp.action, spec) {
        (Action::Create, Some(spec)) => {
            progress.service(&sp.name, "creating");
            engine
                .docker
                .create_service(spec, None)
                .await
                .map_err(|e| fail(format!("creating it: {}", message_of(&e))))?
                .id
                .ok_or_else(|| fail("the engine returned no id".into()))?
        }
        (Action::Update, Some(spec)) => {
            let id = current_id.ok_or_else(|| fail("no id".into()))?;
            progress.service(&sp.name, &format!("updating ({})", sp.changed_fields().join(", ")));
            revert::update(engine, &id, spec).await.map_err(fail)?;
            id
        }
        (Action::Remove, _) => {
            let id = current_id.ok_or_else(|| fail("no id".into()))?;
            progress.service(&sp.name, "removing");
            match engine.docker.delete_service(&id).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(fail(format!("removing it: {}", message_of(&e)))),
            }
            progress.service(&sp.name, "removed");
            return Ok(None);
        }
        _ => return Ok(None),
    };
    // Tasks created before our change (say, failed tasks of the same spec
    // from an earlier attempt) do not count against it.
    let cutoff =
        engine.inspect_service(&id).await.ok().flatten().and_then(|s| s.updated_at).and_then(|t| Timestamp::parse(&t));
    Ok(Some(Watched { name: sp.name.clone(), id, cutoff }))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
        () = term => "terminated (SIGTERM)",
    }
}

/// While reverting, a further Ctrl-C only says what is going on.
fn ignore_signals_while_reverting() -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async {
        loop {
            let _ = interrupted().await;
            eprintln!(
                "rollback in progress: it finishes by itself (if killed, the next deploy/status/rollback finishes it)"
            );
        }
    }))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
