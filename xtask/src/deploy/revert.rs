//! Putting every service a revision touched back to its journaled spec:
//! updated ones to their full previous spec (not Swarm's one-level
//! `rollback=previous`, which an automatic rollback has already used up),
//! created ones removed (only if they carry this journal's mark: a service
//! of the same name made by someone else is never touched), removed ones
//! re-created. Volumes are never removed. Idempotent: it looks at what runs
//! now, so it finishes a revert from any point (a dead deploy, a
//! half-applied rollout, a service Swarm already rolled back by itself).
//! Every write is fenced by the lock, and transient engine errors are
//! retried within the deadline.

use std::time::Duration;

use bollard::models::ServiceSpec;
use futures_util::future::join_all;

use super::health::{self, Failure, Mode, Watched};
use super::lock::Fence;
use super::progress::Progress;
use super::rollout::noting;
use crate::history::revision::{Action, ServiceRecord};
use crate::history::store::Stored;
use crate::swarm::compare;
use crate::swarm::convert::Ids;
use crate::swarm::desired::fill_ids;
use crate::swarm::engine::{CREATED_BY_LABEL, Engine, full_name, message_of, status_of};
use crate::swarm::retry::{self, Patience};
use crate::swarm::timestamp::Timestamp;
use crate::swarm::world::World;

/// Seconds the reverted services must stay converged.
const HOLD: Duration = Duration::from_secs(2);

/// Reverts the revision `stored` and waits (until `deadline`) for the old
/// services to run healthy again.
pub async fn revert(
    engine: &Engine,
    stored: &Stored,
    fence: &Fence,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<(), Vec<Failure>> {
    let revision = &stored.revision;
    let stack = &revision.stack;
    let observe = retry_observe(engine, stack, deadline).await;
    let ids = match observe {
        Ok(world) => world.ids(),
        Err(e) => {
            return Err(vec![Failure {
                service: "engine".into(),
                reason: format!("cannot read the Swarm: {e:#}"),
                ..Default::default()
            }]);
        }
    };
    let steps = revision.touched().map(|(name, record)| {
        revert_one(engine, stack, name, record, &stored.config_id, &ids, fence, deadline, progress)
    });
    let results = join_all(steps).await;
    let mut failures = Vec::new();
    let mut watched = Vec::new();
    for r in results {
        match r {
            Ok(Some(w)) => watched.push(w),
            Ok(None) => {}
            Err(f) => failures.push(f),
        }
    }
    if let Err(more) = health::watch(engine, stack, &watched, Mode::Revert { hold: HOLD }, deadline, progress).await {
        failures.extend(more);
    }
    if failures.is_empty() { Ok(()) } else { Err(failures) }
}

async fn retry_observe(engine: &Engine, stack: &str, deadline: tokio::time::Instant) -> anyhow::Result<World> {
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        match World::observe(engine, stack).await {
            Ok(w) => return Ok(w),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("deadline reached")))
}

#[allow(clippy::too_many_arguments)]
async fn revert_one(
    engine: &Engine,
    stack: &str,
    name: &str,
    record: &ServiceRecord,
    journal_id: &str,
    ids: &Ids,
    fence: &Fence,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<Option<Watched>, Failure> {
    let fail = |reason: String| Failure { service: name.to_owned(), reason, ..Default::default() };
    let full = full_name(stack, name);
    let patience = Patience::until(deadline);
    let current = read(engine, &full, patience).await.map_err(fail)?;
    match record.action {
        Action::Unchanged => Ok(None),
        Action::Create => {
            let Some(svc) = current else {
                progress.service(name, "removed");
                return Ok(None);
            };
            let mark = svc.spec.as_ref().and_then(|s| s.labels.as_ref()).and_then(|l| l.get(CREATED_BY_LABEL));
            if mark.map(String::as_str) != Some(journal_id) {
                // Same name, not ours: created by hand or by another run.
                progress.service(name, "left alone (this revision did not create it)");
                return Ok(None);
            }
            fence.check().await.map_err(|e| fail(format!("{e:#}")))?;
            progress.service(name, "removing (created by the failed revision)");
            let id = svc.id.clone().unwrap_or(full);
            let delete = || engine.docker.delete_service(&id);
            match retry::transient(patience, noting(progress), delete).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(fail(format!("removing it: {}", message_of(&e)))),
            }
            progress.service(name, "removed");
            Ok(None)
        }
        Action::Update | Action::Remove => {
            let Some(mut previous) = record.previous.clone() else {
                return Err(fail("the journal has no previous spec".into()));
            };
            // Journaled by name: resolve networks, configs, secrets as they are now.
            fill_ids(&mut previous, ids);
            match current {
                None => {
                    fence.check().await.map_err(|e| fail(format!("{e:#}")))?;
                    progress.service(name, "re-creating with its previous spec");
                    let create = || engine.docker.create_service(previous.clone(), None);
                    let id = match retry::transient(patience, noting(progress), create).await {
                        Ok(r) => r.id.ok_or_else(|| fail("the engine returned no id".into()))?,
                        Err(e) if status_of(&e) == Some(409) => read(engine, &full, patience)
                            .await
                            .map_err(fail)?
                            .and_then(|s| s.id)
                            .ok_or_else(|| fail(format!("re-creating it: {}", message_of(&e))))?,
                        Err(e) => return Err(fail(format!("re-creating it: {}", message_of(&e)))),
                    };
                    Ok(Some(Watched { name: name.to_owned(), id, cutoff: Some(Timestamp::now()) }))
                }
                Some(svc) => {
                    let id = svc.id.clone().unwrap_or(full);
                    let running = svc.spec.clone().unwrap_or_default();
                    // Written even when it already matches: the version bump
                    // fences off a forward update still in flight (it carries
                    // the old version and is refused); an identical spec
                    // restarts no task.
                    fence.check().await.map_err(|e| fail(format!("{e:#}")))?;
                    if compare::same(&running, &previous) {
                        progress.service(name, "already on its previous spec; waiting for it");
                    } else {
                        progress.service(name, "updating back to its previous spec");
                    }
                    update(engine, &id, previous, patience, progress).await.map_err(fail)?;
                    Ok(Some(Watched { name: name.to_owned(), id, cutoff: None }))
                }
            }
        }
    }
}

async fn read(engine: &Engine, id: &str, patience: Patience) -> Result<Option<bollard::models::Service>, String> {
    let mut last = String::new();
    let mut delay = Duration::from_millis(200);
    for _ in 0..patience.attempts {
        match engine.inspect_service(id).await {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{e:#}"),
        }
        if tokio::time::Instant::now() + delay > patience.until {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
    Err(format!("reading the service: {last}"))
}

/// `update_service` at exactly `version` (the one the plan read): if the
/// service changed since (a hand edit, another process), Swarm refuses and
/// so do we. A lost answer retried comes back "out of sequence": then the
/// spec that runs tells whether our update landed.
pub async fn update_at(
    engine: &Engine,
    id: &str,
    spec: ServiceSpec,
    version: u64,
    patience: Patience,
    progress: &Progress,
) -> Result<(), String> {
    let v = i32::try_from(version).map_err(|_| format!("service version {version} does not fit the API's i32"))?;
    let options = bollard::query_parameters::UpdateServiceOptions { version: v, ..Default::default() };
    let call = || engine.docker.update_service(id, spec.clone(), options.clone(), None);
    match retry::transient(patience, noting(progress), call).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = message_of(&e);
            if message.contains("out of sequence") {
                let now = read(engine, id, patience).await?;
                let landed = now.as_ref().and_then(|s| s.spec.as_ref()).is_some_and(|s| compare::same(s, &spec));
                if landed {
                    return Ok(());
                }
                return Err(format!(
                    "it changed since the plan was made (version {version}): someone else updated it; nothing was overwritten"
                ));
            }
            Err(format!("updating it: {message}"))
        }
    }
}

/// `update_service` with the version read just before; retried on a
/// version race (Swarm itself may be rolling the service back).
pub async fn update(
    engine: &Engine,
    id: &str,
    spec: ServiceSpec,
    patience: Patience,
    progress: &Progress,
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let service = read(engine, id, patience).await?.ok_or("the service is gone")?;
        let version = service.version.and_then(|v| v.index).ok_or("the service has no version")?;
        match update_at(engine, id, spec.clone(), version, patience, progress).await {
            Ok(()) => return Ok(()),
            Err(e) if e.contains("changed since the plan") => {
                last = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(format!("updating it: {last}"))
}
