//! Finishing what an earlier run left: a revision still in progress whose
//! process is gone (SIGKILL, a lost machine, a lost lock) or that could not
//! record its outcome, and the newest revision if its rollback failed. The
//! caller holds the lock (taken over from the dead holder).
//!
//! An in-progress revision whose every changed service already runs its
//! new spec, converged and healthy, and stays so for the soak, is finished
//! forward and recorded as succeeded: the rollout happened, and reverting
//! it would turn a healthy rollout into a rollback because a record could
//! not be written. Anything else is reverted (idempotent from any point).

use std::time::Duration;

use anyhow::Result;

use super::health::{self, Failure, Mode, Watched};
use super::lock::{Fence, LockLost};
use super::progress::Progress;
use super::revert;
use crate::history::revision::{Action, Outcome, Revision, who};
use crate::history::store::{self, NotRecorded};
use crate::swarm::compare;
use crate::swarm::desired::fill_ids;
use crate::swarm::engine::Engine;
use crate::swarm::timestamp::Timestamp;
use crate::swarm::world::World;

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    pub number: u64,
    pub outcome: Outcome,
    pub failures: Vec<Failure>,
}

/// Finishes every in-progress revision of the stack (newest first) and
/// retries the rollback of the newest revision if it failed. Call with the
/// lock held.
pub async fn finish_dead(
    engine: &Engine,
    stack: &str,
    command: &str,
    deadline: Duration,
    soak: Duration,
    fence: &Fence,
    progress: &Progress,
) -> Result<Vec<Recovered>> {
    let mut done = Vec::new();
    let revisions = store::list(engine, stack).await?;
    let newest = revisions.iter().map(|s| s.revision.number).max();
    let unfinished = revisions.into_iter().rev().filter(|s| {
        s.outcome == Outcome::InProgress || (s.outcome == Outcome::RollbackFailed && Some(s.revision.number) == newest)
    });
    for mut stored in unfinished {
        let rev = stored.revision.clone();
        let (by, _, _) = who();
        let (reason, outcome, failures) = if stored.outcome == Outcome::RollbackFailed {
            progress.note(&format!("revision {}: its rollback failed before; trying it again", rev.number));
            let until = tokio::time::Instant::now() + deadline;
            let result = revert::revert(engine, &stored, fence, until, progress).await;
            let reason = format!(
                "{}; rolled back again by `{command}` of {by}",
                stored.reason.clone().unwrap_or_else(|| "its rollback had failed".into())
            );
            match result {
                Ok(()) => (reason, Outcome::RolledBack, Vec::new()),
                Err(f) => (reason, Outcome::RollbackFailed, f),
            }
        } else {
            progress.note(&format!(
                "revision {} ({} by {} at {}, pid {}) never finished: finishing it first",
                rev.number,
                rev.kind.as_str(),
                rev.by,
                rev.started_at,
                rev.pid
            ));
            if converged_forward(engine, &rev, soak, progress).await {
                let reason = format!(
                    "its {} process stopped before recording the outcome; every service had converged on it \
                     and stayed healthy, recorded by `{command}` of {by}",
                    rev.kind.as_str()
                );
                (reason, Outcome::Succeeded, Vec::new())
            } else {
                let reason =
                    format!("the {} process died mid-way; rolled back by `{command}` of {by}", rev.kind.as_str());
                let until = tokio::time::Instant::now() + deadline;
                match revert::revert(engine, &stored, fence, until, progress).await {
                    Ok(()) => (reason, Outcome::RolledBack, Vec::new()),
                    Err(f) => (reason, Outcome::RollbackFailed, f),
                }
            }
        };
        let detail = if failures.is_empty() {
            reason
        } else {
            format!(
                "{reason}; rollback: {}",
                failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ")
            )
        };
        fence.check().await?;
        match store::finish(engine, &mut stored, outcome, Some(&detail), 60).await {
            Ok(()) => {}
            Err(NotRecorded::TakenOver { outcome, .. }) => {
                return Err(LockLost {
                    stack: stack.to_owned(),
                    detail: format!("revision {} was recorded as {} by another process", rev.number, outcome.as_str()),
                }
                .into());
            }
            Err(NotRecorded::Failed(e)) => return Err(e),
        }
        progress.finish();
        progress.note(&format!("revision {}: {}", rev.number, outcome.as_str()));
        if outcome == Outcome::RolledBack {
            super::secret::forget_introduced(engine, &rev, progress).await;
        }
        done.push(Recovered { number: rev.number, outcome, failures });
    }
    Ok(done)
}

/// Every service the revision changed runs its new spec (removed ones are
/// gone), converged now and for `soak` with no task of the new spec
/// failing since the revision started.
async fn converged_forward(engine: &Engine, rev: &Revision, soak: Duration, progress: &Progress) -> bool {
    let Ok(world) = World::observe(engine, &rev.stack).await else { return false };
    let ids = world.ids();
    let since = Timestamp::parse(&rev.started_at);
    let mut watched = Vec::new();
    for (name, record) in rev.touched() {
        let running = world.services.get(name);
        match (record.action, record.next.clone(), running) {
            (Action::Remove, _, None) => {}
            (Action::Create | Action::Update, Some(mut next), Some(svc)) => {
                fill_ids(&mut next, &ids);
                let (Some(spec), Some(id)) = (svc.spec.as_ref(), svc.id.clone()) else { return false };
                if !compare::same(spec, &next) {
                    return false;
                }
                watched.push(Watched { name: name.clone(), id, cutoff: since });
            }
            _ => return false,
        }
    }
    if !health::converged_now(engine, &rev.stack, &watched).await {
        return false;
    }
    let until = tokio::time::Instant::now() + soak + Duration::from_secs(10);
    health::watch(engine, &rev.stack, &watched, Mode::Forward { soak }, until, progress).await.is_ok()
}
