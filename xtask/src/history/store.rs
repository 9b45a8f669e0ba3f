//! Revisions kept in the Swarm itself, as configs, so every manager (and
//! every operator's machine) reads the same history:
//!
//! - config `<stack>__xtask_rev_<N>`; its data is the [`Revision`] as JSON
//!   (immutable, like every config's data);
//! - labels: `com.docker.stack.namespace=<stack>` (so `docker stack rm`
//!   takes the history along), `xtask.kind=revision`, `xtask.revision=<N>`,
//!   and the parts that change: `xtask.outcome`, `xtask.finished-at`,
//!   `xtask.reason` (Swarm allows label updates on configs).

use std::collections::HashMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use bollard::models::{Config, ConfigSpec};
use bollard::query_parameters::{ListConfigsOptions, UpdateConfigOptions};

use super::revision::{Outcome, Revision};
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of, status_of};
use crate::swarm::retry::{self, Patience};
use crate::swarm::timestamp::Timestamp;

pub const KIND_LABEL: &str = "xtask.kind";
const REVISION_LABEL: &str = "xtask.revision";
const OUTCOME_LABEL: &str = "xtask.outcome";
const FINISHED_LABEL: &str = "xtask.finished-at";
const REASON_LABEL: &str = "xtask.reason";

/// How many successful revisions are kept (with their configs), so
/// `rollback --to` has somewhere to go.
pub const KEEP_SUCCEEDED: usize = 10;

/// A revision as found in the Swarm.
#[derive(Debug, Clone)]
pub struct Stored {
    pub config_id: String,
    pub version: u64,
    pub revision: Revision,
    pub outcome: Outcome,
    pub finished_at: Option<String>,
    pub reason: Option<String>,
    labels: HashMap<String, String>,
    data: String,
}

pub fn config_name(stack: &str, number: u64) -> String {
    format!("{stack}__xtask_rev_{number}")
}

/// Configs of the stack that hold xtask state (lock, revisions), as
/// opposed to the stack's own configs.
pub fn is_state(config: &Config) -> bool {
    config.spec.as_ref().and_then(|s| s.labels.as_ref()).is_some_and(|l| l.contains_key(KIND_LABEL))
}

/// Every revision of the stack, oldest first.
pub async fn list(engine: &Engine, stack: &str) -> Result<Vec<Stored>> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("{NAMESPACE_LABEL}={stack}"), format!("{KIND_LABEL}=revision")],
    )]);
    let configs = engine
        .docker
        .list_configs(Some(ListConfigsOptions { filters: Some(filters) }))
        .await
        .context("listing the stack's revisions")?;
    let mut out = Vec::new();
    for config in configs {
        let name = config.spec.as_ref().and_then(|s| s.name.clone()).unwrap_or_default();
        match decode(config) {
            Ok(stored) => out.push(stored),
            Err(err) => eprintln!("warning: revision config {name} is unreadable, ignored: {err:#}"),
        }
    }
    out.sort_by_key(|s| s.revision.number);
    Ok(out)
}

fn decode(config: Config) -> Result<Stored> {
    let spec = config.spec.context("no spec")?;
    let data = spec.data.context("no data")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(&data).context("data is not base64")?;
    let revision: Revision = serde_json::from_slice(&bytes).context("data is not a revision record")?;
    let labels = spec.labels.unwrap_or_default();
    let outcome = labels.get(OUTCOME_LABEL).and_then(|o| Outcome::parse(o)).unwrap_or(Outcome::InProgress);
    Ok(Stored {
        config_id: config.id.context("no id")?,
        version: config.version.and_then(|v| v.index).unwrap_or(0),
        finished_at: labels.get(FINISHED_LABEL).cloned(),
        reason: labels.get(REASON_LABEL).cloned(),
        revision,
        outcome,
        labels,
        data,
    })
}

/// Writes a new revision, in progress. Fails if the number is taken
/// (config names are unique), which the deploy lock already prevents; a
/// create whose answer was lost and is retried finds its own record.
pub async fn begin(engine: &Engine, revision: &Revision) -> Result<Stored> {
    let json = serde_json::to_vec(revision).context("serialising the revision")?;
    let data = base64::engine::general_purpose::STANDARD.encode(json);
    let labels = HashMap::from([
        (NAMESPACE_LABEL.to_owned(), revision.stack.clone()),
        (KIND_LABEL.to_owned(), "revision".to_owned()),
        (REVISION_LABEL.to_owned(), revision.number.to_string()),
        (OUTCOME_LABEL.to_owned(), Outcome::InProgress.as_str().to_owned()),
    ]);
    let name = config_name(&revision.stack, revision.number);
    let spec = ConfigSpec {
        name: Some(name.clone()),
        labels: Some(labels.clone()),
        data: Some(data.clone()),
        templating: None,
    };
    let create = || engine.docker.create_config(spec.clone());
    let id = match retry::transient(Patience::for_secs(60), |_| {}, create).await {
        Ok(created) => created.id,
        Err(e) if status_of(&e) == Some(409) => {
            let found = engine.docker.inspect_config(&name).await.context("reading back the journal")?;
            let same = found.spec.as_ref().and_then(|s| s.data.as_deref()) == Some(data.as_str());
            anyhow::ensure!(same, "writing the journal {name}: another revision {} exists", revision.number);
            found.id.context("the journal has no id")?
        }
        Err(e) => anyhow::bail!("writing the journal {name}: {}", message_of(&e)),
    };
    let inspect = || engine.docker.inspect_config(&id);
    let config = retry::transient(Patience::for_secs(60), |_| {}, inspect).await.context("reading back the journal")?;
    Ok(Stored {
        config_id: id,
        version: config.version.and_then(|v| v.index).unwrap_or(0),
        revision: revision.clone(),
        outcome: Outcome::InProgress,
        finished_at: None,
        reason: None,
        labels,
        data,
    })
}

/// Why an outcome was not recorded.
#[derive(Debug)]
pub enum NotRecorded {
    /// Another process finished this revision first (it broke our lock):
    /// its word stands, ours is not written.
    TakenOver { outcome: Outcome, reason: Option<String> },
    /// The engine kept failing.
    Failed(anyhow::Error),
}

impl std::fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRecorded::TakenOver { outcome, reason } => {
                write!(f, "another process recorded it as {}", outcome.as_str())?;
                if let Some(r) = reason {
                    write!(f, " ({r})")?;
                }
                Ok(())
            }
            NotRecorded::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

/// Records how the revision ended: a label update carrying the version
/// index read when the record was written, so it only lands while the
/// record is still ours and in progress. Transient errors are retried for
/// up to `patience_secs`; a stale version is re-read, and if someone else
/// finished the record meanwhile, that is [`NotRecorded::TakenOver`].
pub async fn finish(
    engine: &Engine,
    stored: &mut Stored,
    outcome: Outcome,
    reason: Option<&str>,
    patience_secs: u64,
) -> Result<(), NotRecorded> {
    let now = Timestamp::now().rfc3339();
    let mut labels = stored.labels.clone();
    labels.insert(OUTCOME_LABEL.into(), outcome.as_str().into());
    labels.insert(FINISHED_LABEL.into(), now.clone());
    match reason {
        Some(r) => labels.insert(REASON_LABEL.into(), truncate(r, 300)),
        None => labels.remove(REASON_LABEL),
    };
    let name = config_name(&stored.revision.stack, stored.revision.number);
    let patience = Patience::for_secs(patience_secs);
    loop {
        let spec = ConfigSpec {
            name: Some(name.clone()),
            labels: Some(labels.clone()),
            data: Some(stored.data.clone()),
            templating: None,
        };
        let options = UpdateConfigOptions { version: i64::try_from(stored.version).unwrap_or(i64::MAX) };
        let update = || engine.docker.update_config(&stored.config_id, spec.clone(), options.clone());
        let err = match retry::transient(patience, |_| {}, update).await {
            Ok(()) => break,
            Err(e) => e,
        };
        // The version moved (our own lost-answer write, or someone else's):
        // read what the record says now.
        let inspect = || engine.docker.inspect_config(&stored.config_id);
        let fresh = match retry::transient(patience, |_| {}, inspect).await {
            Ok(c) => c,
            Err(_) => {
                return Err(NotRecorded::Failed(anyhow::anyhow!(
                    "recording the outcome of {name}: {}",
                    message_of(&err)
                )));
            }
        };
        let found = fresh.spec.as_ref().and_then(|s| s.labels.clone()).unwrap_or_default();
        let found_outcome = found.get(OUTCOME_LABEL).and_then(|o| Outcome::parse(o)).unwrap_or(Outcome::InProgress);
        if found.get(FINISHED_LABEL) == Some(&now) && found_outcome == outcome {
            break; // our write landed; its answer was lost
        }
        if found_outcome != Outcome::InProgress {
            return Err(NotRecorded::TakenOver { outcome: found_outcome, reason: found.get(REASON_LABEL).cloned() });
        }
        let version = fresh.version.and_then(|v| v.index).unwrap_or(stored.version);
        if version == stored.version || tokio::time::Instant::now() > patience.until {
            return Err(NotRecorded::Failed(anyhow::anyhow!("recording the outcome of {name}: {}", message_of(&err))));
        }
        stored.version = version;
    }
    let fresh = engine.docker.inspect_config(&stored.config_id).await.ok();
    stored.version = fresh.and_then(|c| c.version).and_then(|v| v.index).unwrap_or(stored.version + 1);
    stored.labels = labels;
    stored.outcome = outcome;
    stored.finished_at = Some(now);
    stored.reason = reason.map(|r| truncate(r, 300));
    Ok(())
}

/// The revision records to keep: the newest [`KEEP_SUCCEEDED`] that
/// succeeded (what `rollback` can go back to) and every one newer than
/// the newest success (failures since, and anything in progress). A run
/// of failures never pushes the last success out.
pub fn to_keep(revisions: &[Stored]) -> Vec<u64> {
    let succeeded: Vec<u64> =
        revisions.iter().filter(|s| s.outcome == Outcome::Succeeded).map(|s| s.revision.number).collect();
    let newest_success = succeeded.last().copied().unwrap_or(0);
    let oldest_kept_success = succeeded
        .len()
        .checked_sub(KEEP_SUCCEEDED)
        .map_or(succeeded.first(), |i| succeeded.get(i))
        .copied()
        .unwrap_or(0);
    revisions
        .iter()
        .map(|s| (s.revision.number, s.outcome))
        .filter(|(n, o)| {
            *n > newest_success || *o == Outcome::InProgress || (*o == Outcome::Succeeded && *n >= oldest_kept_success)
        })
        .map(|(n, _)| n)
        .collect()
}

/// Deletes the revision records [`to_keep`] does not keep.
pub async fn trim(engine: &Engine, revisions: &[Stored]) -> Result<usize> {
    let keep = to_keep(revisions);
    let mut removed = 0;
    for old in revisions.iter().filter(|s| !keep.contains(&s.revision.number)) {
        if engine.docker.delete_config(&old.config_id).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', " | ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::history::revision::Kind;

    fn stored(number: u64, outcome: Outcome) -> Stored {
        Stored {
            config_id: format!("id{number}"),
            version: 1,
            revision: Revision {
                format: Revision::FORMAT,
                stack: "mon".into(),
                number,
                kind: Kind::Deploy,
                rollback_to: None,
                started_at: "2026-12-03T10:00:00Z".into(),
                by: "ops@host".into(),
                pid: 1,
                bundle_digest: None,
                services: BTreeMap::new(),
                configs_created: vec![],
            },
            outcome,
            finished_at: None,
            reason: None,
            labels: HashMap::new(),
            data: String::new(),
        }
    }

    #[test]
    fn a_run_of_failures_never_pushes_the_last_success_out() {
        // 12 successes, then 40 failures in a row.
        let mut history: Vec<Stored> = (1..=12).map(|n| stored(n, Outcome::Succeeded)).collect();
        history.extend((13..=52).map(|n| stored(n, Outcome::RolledBack)));
        let keep = to_keep(&history);
        let successes: Vec<u64> = keep.iter().copied().filter(|n| *n <= 12).collect();
        assert_eq!(successes, (3..=12).collect::<Vec<_>>(), "the newest {KEEP_SUCCEEDED} successes stay");
        assert!((13..=52).all(|n| keep.contains(&n)), "failures after the newest success stay (they explain it)");
    }

    #[test]
    fn failures_before_a_kept_success_go_and_in_progress_stays() {
        let history = vec![
            stored(1, Outcome::Succeeded),
            stored(2, Outcome::RolledBack),
            stored(3, Outcome::Succeeded),
            stored(4, Outcome::RollbackFailed),
            stored(5, Outcome::InProgress),
        ];
        assert_eq!(to_keep(&history), vec![1, 3, 4, 5]);
    }
}
