//! Putting every service a revision touched back to its journaled spec:
//! updated ones to their full previous spec (not Swarm's one-level
//! `rollback=previous`, which an automatic rollback has already used up),
//! created ones removed, removed ones re-created. Volumes are never
//! removed. Idempotent: it looks at what runs now, so it finishes a revert
//! from any point (a dead deploy, a half-applied rollout, a service Swarm
//! already rolled back by itself).

use std::time::Duration;

use bollard::models::ServiceSpec;
use futures_util::future::join_all;

use super::health::{self, Failure, Mode, Watched};
use super::progress::Progress;
use crate::history::revision::{Action, Revision, ServiceRecord};
use crate::swarm::compare;
use crate::swarm::engine::{Engine, full_name, message_of, status_of};
use crate::swarm::timestamp::Timestamp;

/// Seconds the reverted services must stay converged.
const HOLD: Duration = Duration::from_secs(2);

/// Reverts `revision` and waits (until `deadline`) for the old services
/// to run healthy again.
pub async fn revert(
    engine: &Engine,
    revision: &Revision,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<(), Vec<Failure>> {
    let stack = &revision.stack;
    let steps = revision.touched().map(|(name, record)| revert_one(engine, stack, name, record, progress));
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

async fn revert_one(
    engine: &Engine,
    stack: &str,
    name: &str,
    record: &ServiceRecord,
    progress: &Progress,
) -> Result<Option<Watched>, Failure> {
    let fail = |reason: String| Failure { service: name.to_owned(), reason, ..Default::default() };
    let full = full_name(stack, name);
    let current = engine.inspect_service(&full).await.map_err(|e| fail(format!("reading the service: {e:#}")))?;
    match record.action {
        Action::Unchanged => Ok(None),
        Action::Create => {
            if let Some(svc) = current {
                progress.service(name, "removing (created by the failed revision)");
                match engine.docker.delete_service(svc.id.as_deref().unwrap_or(&full)).await {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(404) => {}
                    Err(e) => return Err(fail(format!("removing it: {}", message_of(&e)))),
                }
            }
            progress.service(name, "removed");
            Ok(None)
        }
        Action::Update | Action::Remove => {
            let Some(previous) = record.previous.clone() else {
                return Err(fail("the journal has no previous spec".into()));
            };
            match current {
                None => {
                    progress.service(name, "re-creating with its previous spec");
                    let id = create(engine, previous).await.map_err(fail)?;
                    Ok(Some(Watched { name: name.to_owned(), id, cutoff: Some(Timestamp::now()) }))
                }
                Some(svc) => {
                    let id = svc.id.clone().unwrap_or(full);
                    let running = svc.spec.clone().unwrap_or_default();
                    if compare::same(&running, &previous) {
                        progress.service(name, "already on its previous spec; waiting for it");
                    } else {
                        progress.service(name, "updating back to its previous spec");
                        update(engine, &id, previous).await.map_err(fail)?;
                    }
                    Ok(Some(Watched { name: name.to_owned(), id, cutoff: None }))
                }
            }
        }
    }
}

async fn create(engine: &Engine, spec: ServiceSpec) -> Result<String, String> {
    engine.docker.create_service(spec, None).await.map_err(|e| message_of(&e)).and_then(|r| r.id.ok_or("no id".into()))
}

/// `update_service` with the version read just before; retried on a
/// version race (Swarm itself may be rolling the service back).
pub async fn update(engine: &Engine, id: &str, spec: ServiceSpec) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let service = engine
            .inspect_service(id)
            .await
            .map_err(|e| format!("reading the service: {e:#}"))?
            .ok_or("the service is gone")?;
        let version = service.version.and_then(|v| v.index).ok_or("the service has no version")?;
        let version =
            i32::try_from(version).map_err(|_| format!("service version {version} does not fit the API's i32"))?;
        let options = bollard::query_parameters::UpdateServiceOptions { version, ..Default::default() };
        match engine.docker.update_service(id, spec.clone(), options, None).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = message_of(&e);
                if !last.contains("out of sequence") {
                    return Err(format!("updating it: {last}"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(format!("updating it: {last}"))
}
