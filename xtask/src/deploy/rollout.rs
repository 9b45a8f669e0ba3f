//! The atomic rollout: configs (and stack networks) first, then the
//! journal, then every changed service at once, then the watch; on any
//! failure, deadline or signal, the revert of everything the journal names.
//!
//! Every write after the lock is fenced (`Fence::check` first; service
//! updates carry the version index the plan read), and every created
//! service carries the id of the journal that created it, so a revert
//! removes only what this revision made.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use bollard::models::{ConfigSpec, NetworkCreateRequest, ServiceSpec};
use futures_util::future::join_all;

use super::health::{self, Failure, Mode, Watched};
use super::lock::{Fence, LockLost};
use super::progress::Progress;
use super::revert;
use super::signals::Signals;
use crate::history::revision::{Action, Kind, Outcome, Revision, ServiceRecord, who};
use crate::history::store::{self, NotRecorded, Stored};
use crate::plan::{Plan, ServicePlan};
use crate::swarm::desired::{Desired, fill_ids, journal_form};
use crate::swarm::engine::{CREATED_BY_LABEL, Engine, NAMESPACE_LABEL, message_of, status_of};
use crate::swarm::retry::{self, Patience};
use crate::swarm::timestamp::Timestamp;
use crate::swarm::world::World;

#[derive(Debug, Clone)]
pub struct Options {
    /// For the rollout (apply + watch + soak); the revert gets as long again.
    pub deadline: Duration,
    pub soak: Duration,
    pub fence: Fence,
    pub signals: Signals,
    /// `deploy --verify`: the live stack checked against the code once
    /// every changed service is healthy; a finding fails the rollout.
    pub verify: Option<crate::verify::Gate>,
}

/// How a rollout ended.
#[derive(Debug)]
pub enum Ended {
    Succeeded(Stored),
    /// Everything is back on the previous revision.
    RolledBack(Stored, Vec<Failure>),
    /// The revert did not converge either.
    RollbackFailed(Stored, Vec<Failure>, Vec<Failure>),
    /// Another process took the lock: this run stopped writing.
    Lost(LockLost),
    /// Every service converged on the new revision, but the outcome could
    /// not be written; the next run records it (after checking).
    Unrecorded(Stored, String),
    /// A signal before any service changed: nothing to undo.
    StoppedEarly(&'static str),
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
    opts: &Options,
    progress: &Progress,
) -> Result<Ended> {
    let Next { number, kind } = next;
    let stack = &desired.stack;
    let started = tokio::time::Instant::now();
    let deadline = started + opts.deadline;
    let fence = &opts.fence;

    // 1. Configs and stack networks: new names only, nothing running
    //    refers to them yet, so creating them changes nothing.
    let mut ids = world.ids();
    for name in &plan.configs_to_create {
        if let Err(lost) = fenced(fence).await? {
            return Ok(Ended::Lost(lost));
        }
        let config = desired.configs.iter().find(|c| &c.name == name).context("planned config not in the bundle")?;
        let spec = ConfigSpec {
            name: Some(name.clone()),
            labels: Some(config.labels.clone()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(&config.data)),
            templating: None,
        };
        let create = || engine.docker.create_config(spec.clone());
        let id = match retry::transient(Patience::until(deadline), noting(progress), create).await {
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
        if let Err(lost) = fenced(fence).await? {
            return Ok(Ended::Lost(lost));
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("overlay".into()),
            labels: Some(HashMap::from([(NAMESPACE_LABEL.to_owned(), stack.clone())])),
            ..Default::default()
        };
        let create = || engine.docker.create_network(request.clone());
        let id = retry::transient(Patience::until(deadline), noting(progress), create)
            .await
            .map_err(|e| anyhow::anyhow!("creating network {name}: {}", message_of(&e)))?
            .id;
        ids.networks.insert(name.clone(), id);
    }
    if let Some(why) = opts.signals.fired() {
        // Only unused configs exist so far; the next prune takes them.
        return Ok(Ended::StoppedEarly(why));
    }

    // 2. The journal, before the first service changes. Specs are
    //    journaled with network names (not ids), so a re-created external
    //    network does not make the revision unrestorable.
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
    let journal = |spec: Option<&ServiceSpec>| spec.map(|s| journal_form(s, &ids));
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
                let current = journal(sp.current_spec());
                let next = journal(specs.get(sp.name.as_str()));
                let record = match sp.action {
                    Action::Create => ServiceRecord { action: sp.action, previous: None, next, changed: vec![] },
                    Action::Update => {
                        ServiceRecord { action: sp.action, previous: current, next, changed: sp.changed_fields() }
                    }
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
    if let Err(lost) = fenced(fence).await? {
        return Ok(Ended::Lost(lost));
    }
    let mut stored = store::begin(engine, &revision).await?;
    progress.note(&format!("revision {number}: {}", revision.summary()));

    // 3. Apply, then watch. Requests in flight are never abandoned on a
    //    signal (one that landed after the revert read the service would
    //    undo the revert): the apply batch ends first, bounded by the
    //    retries' deadline, and only the watch races signals and the lock.
    let journal_id = stored.config_id.clone();
    let apply = async {
        let applied = join_all(plan.touched().map(|sp| {
            apply_one(engine, sp, specs.get(sp.name.as_str()).cloned(), &journal_id, fence, deadline, progress)
        }))
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
        if failures.is_empty() { Ok(watched) } else { Err(failures) }
    };
    let result = match opts.signals.fired() {
        Some(why) => Err(vec![stop(why)]),
        None => match apply.await {
            Err(failures) => Err(failures),
            Ok(_) if fence.lost_now() => Err(vec![stop("the deploy lock was lost")]),
            Ok(_) if opts.signals.fired().is_some() => Err(vec![stop(opts.signals.fired().unwrap_or_default())]),
            Ok(watched) => {
                let mode = Mode::Forward { soak: opts.soak };
                let gate = async {
                    health::watch(engine, stack, &watched, mode, deadline, progress).await?;
                    match &opts.verify {
                        Some(gate) => verified(engine, stack, gate, deadline, progress).await,
                        None => Ok(()),
                    }
                };
                tokio::select! {
                    r = gate => r,
                    why = opts.signals.next() => Err(vec![stop(why)]),
                    () = fence.lost() => Err(vec![stop("the deploy lock was lost")]),
                }
            }
        },
    };
    progress.finish();
    let failures = match result {
        Ok(()) => {
            let otherwise = record_success(engine, &mut stored, fence, progress).await?;
            return Ok(otherwise.unwrap_or(Ended::Succeeded(stored)));
        }
        Err(f) => f,
    };
    if let Err(lost) = fenced(fence).await? {
        return Ok(Ended::Lost(lost));
    }

    // 4. Revert everything the journal names (signals only print now).
    for f in &failures {
        progress.note(&format!("FAILED {}", f.report()));
    }
    progress.note(&format!(
        "rolling back all {} changed service(s) to revision {}'s predecessors",
        revision.touched().count(),
        number
    ));
    let revert_deadline = tokio::time::Instant::now() + opts.deadline;
    let reason = failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ");
    let reverted = revert::revert(engine, &stored, fence, revert_deadline, progress).await;
    progress.finish();
    if let Err(lost) = fenced(fence).await? {
        return Ok(Ended::Lost(lost));
    }
    let (outcome, detail) = match &reverted {
        Ok(()) => (Outcome::RolledBack, reason.clone()),
        Err(revert_failures) => {
            let why =
                revert_failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ");
            (Outcome::RollbackFailed, format!("{reason}; rollback: {why}"))
        }
    };
    match store::finish(engine, &mut stored, outcome, Some(&detail), 60).await {
        Ok(()) => {}
        Err(NotRecorded::TakenOver { outcome, reason }) => {
            return Ok(Ended::Lost(taken_over(stack, number, outcome, reason)));
        }
        // The services are back (or not): the record stays in progress and
        // the next run, finding it, reverts again (idempotent) and records it.
        Err(NotRecorded::Failed(e)) => {
            eprintln!("warning: could not record the outcome of revision {number}: {e:#}");
        }
    }
    Ok(match reverted {
        Ok(()) => Ended::RolledBack(stored, failures),
        Err(revert_failures) => Ended::RollbackFailed(stored, failures, revert_failures),
    })
}

/// Records success; `Some` when that did not happen as planned.
async fn record_success(
    engine: &Engine,
    stored: &mut Stored,
    fence: &Fence,
    progress: &Progress,
) -> Result<Option<Ended>> {
    if let Err(lost) = fenced(fence).await? {
        return Ok(Some(Ended::Lost(lost)));
    }
    let number = stored.revision.number;
    match store::finish(engine, stored, Outcome::Succeeded, None, 60).await {
        Ok(()) => Ok(None),
        Err(NotRecorded::TakenOver { outcome, reason }) => {
            Ok(Some(Ended::Lost(taken_over(&stored.revision.stack, number, outcome, reason))))
        }
        Err(NotRecorded::Failed(e)) => {
            progress.note(&format!("recording revision {number} failed: {e:#}"));
            Ok(Some(Ended::Unrecorded(stored.clone(), format!("{e:#}"))))
        }
    }
}

/// Another process finished revision `number` while this one still ran.
fn taken_over(stack: &str, number: u64, outcome: Outcome, reason: Option<String>) -> LockLost {
    LockLost {
        stack: stack.to_owned(),
        detail: format!(
            "revision {number} was recorded as {} by another process{}",
            outcome.as_str(),
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ),
    }
}

/// `Ok(Err(lost))` when the lock is no longer ours; `Err` when the lock
/// cannot be read at all (a write we cannot fence is not made).
async fn fenced(fence: &Fence) -> Result<Result<(), LockLost>> {
    match fence.check().await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.downcast::<LockLost>() {
            Ok(lost) => Ok(Err(lost)),
            Err(other) => Err(other),
        },
    }
}

/// The last step of the health gate: `verify` on the live stack; its
/// findings (or why it could not run) fail the rollout.
async fn verified(
    engine: &Engine,
    stack: &str,
    gate: &crate::verify::Gate,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<(), Vec<Failure>> {
    progress.note("every changed service is healthy; verifying the live stack against the code");
    let fail = |reason: String, details: Vec<String>| {
        Err(vec![Failure { service: "verify".into(), reason, task_errors: details, ..Default::default() }])
    };
    match gate.check(engine, stack, deadline).await {
        Ok(findings) if findings.is_empty() => {
            progress.note("verify: the live stack matches the code");
            Ok(())
        }
        Ok(findings) => fail(
            format!("`cargo xtask verify` found {} problem(s)", findings.len()),
            findings.iter().map(ToString::to_string).collect(),
        ),
        Err(e) => fail(format!("`cargo xtask verify` could not check the live stack: {e:#}"), Vec::new()),
    }
}

fn stop(why: &str) -> Failure {
    Failure { service: "rollout".into(), reason: why.into(), ..Default::default() }
}

/// Progress line for a transient engine error that is being retried.
pub fn noting(progress: &Progress) -> impl FnMut(&bollard::errors::Error) + '_ {
    move |e| progress.note(&format!("engine call failed, retrying: {}", message_of(e)))
}

/// Creates, updates or removes one service; what to watch afterwards.
async fn apply_one(
    engine: &Engine,
    sp: &ServicePlan,
    spec: Option<ServiceSpec>,
    journal_id: &str,
    fence: &Fence,
    deadline: tokio::time::Instant,
    progress: &Progress,
) -> Result<Option<Watched>, Failure> {
    let fail = |reason: String| Failure { service: sp.name.clone(), reason, ..Default::default() };
    fence.check().await.map_err(|e| fail(format!("{e:#}")))?;
    let current_id = sp.current.as_ref().and_then(|s| s.id.clone());
    let patience = Patience::until(deadline);
    let id = match (sp.action, spec) {
        (Action::Create, Some(mut spec)) => {
            progress.service(&sp.name, "creating");
            // The mark of ownership: a revert removes a service only if it
            // carries the id of the journal that created it.
            spec.labels.get_or_insert_with(HashMap::new).insert(CREATED_BY_LABEL.into(), journal_id.into());
            let name = spec.name.clone().unwrap_or_default();
            let create = || engine.docker.create_service(spec.clone(), None);
            match retry::transient(patience, noting(progress), create).await {
                Ok(r) => r.id.ok_or_else(|| fail("the engine returned no id".into()))?,
                // A retried create whose first answer was lost: ours if it carries our mark.
                Err(e) if status_of(&e) == Some(409) => {
                    let found = engine.inspect_service(&name).await.ok().flatten();
                    let ours = found.as_ref().and_then(|s| s.spec.as_ref()?.labels.as_ref()?.get(CREATED_BY_LABEL))
                        == Some(&journal_id.to_owned());
                    match found.and_then(|s| s.id) {
                        Some(id) if ours => id,
                        _ => return Err(fail(format!("creating it: {}", message_of(&e)))),
                    }
                }
                Err(e) => return Err(fail(format!("creating it: {}", message_of(&e)))),
            }
        }
        (Action::Update, Some(spec)) => {
            let id = current_id.ok_or_else(|| fail("no id".into()))?;
            let version = sp.current.as_ref().and_then(|s| s.version.as_ref()).and_then(|v| v.index);
            let version = version.ok_or_else(|| fail("the service has no version".into()))?;
            progress.service(&sp.name, &format!("updating ({})", sp.changed_fields().join(", ")));
            revert::update_at(engine, &id, spec, version, patience, progress).await.map_err(fail)?;
            id
        }
        (Action::Remove, _) => {
            let id = current_id.ok_or_else(|| fail("no id".into()))?;
            progress.service(&sp.name, "removing");
            let delete = || engine.docker.delete_service(&id);
            match retry::transient(patience, noting(progress), delete).await {
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
