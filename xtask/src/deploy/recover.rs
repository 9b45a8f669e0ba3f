//! Finishing a deploy that died mid-way (SIGKILL, lost machine): its
//! journal still says in progress and its lock is stale. The caller holds
//! the lock now; every such revision is rolled back, newest first.

use anyhow::Result;

use super::health::Failure;
use super::progress::Progress;
use super::revert;
use crate::history::revision::{Outcome, who};
use crate::history::store;
use crate::swarm::engine::Engine;

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    pub number: u64,
    pub outcome: Outcome,
    pub failures: Vec<Failure>,
}

/// Rolls back every in-progress revision of the stack. Call with the lock
/// held.
pub async fn finish_dead(
    engine: &Engine,
    stack: &str,
    command: &str,
    deadline: std::time::Duration,
    progress: &Progress,
) -> Result<Vec<Recovered>> {
    let mut done = Vec::new();
    let revisions = store::list(engine, stack).await?;
    for mut stored in revisions.into_iter().rev().filter(|s| s.outcome == Outcome::InProgress) {
        let rev = &stored.revision;
        progress.note(&format!(
            "revision {} ({} by {} at {}, pid {}) never finished: rolling it back first",
            rev.number,
            rev.kind.as_str(),
            rev.by,
            rev.started_at,
            rev.pid
        ));
        let (by, _, _) = who();
        let reason = format!("the {} process died mid-way; rolled back by `{command}` of {by}", rev.kind.as_str());
        let until = tokio::time::Instant::now() + deadline;
        let revision = stored.revision.clone();
        let (outcome, failures) = match revert::revert(engine, &revision, until, progress).await {
            Ok(()) => (Outcome::RolledBack, Vec::new()),
            Err(f) => (Outcome::RollbackFailed, f),
        };
        let detail = if failures.is_empty() {
            reason
        } else {
            format!(
                "{reason}; rollback: {}",
                failures.iter().map(|f| format!("{}: {}", f.service, f.reason)).collect::<Vec<_>>().join("; ")
            )
        };
        store::finish(engine, &mut stored, outcome, Some(&detail)).await?;
        progress.finish();
        progress.note(&format!("revision {}: {}", revision.number, outcome.as_str()));
        done.push(Recovered { number: revision.number, outcome, failures });
    }
    Ok(done)
}
