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
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of};
use crate::swarm::timestamp::Timestamp;

pub const KIND_LABEL: &str = "xtask.kind";
const REVISION_LABEL: &str = "xtask.revision";
const OUTCOME_LABEL: &str = "xtask.outcome";
const FINISHED_LABEL: &str = "xtask.finished-at";
const REASON_LABEL: &str = "xtask.reason";

/// How many revision records are kept (older ones are deleted).
pub const HISTORY_LIMIT: usize = 30;

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
/// (config names are unique), which the deploy lock already prevents.
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
    let created = engine
        .docker
        .create_config(spec)
        .await
        .map_err(|e| anyhow::anyhow!("writing the journal {name}: {}", message_of(&e)))?;
    let config = engine.docker.inspect_config(&created.id).await.context("reading back the journal")?;
    Ok(Stored {
        config_id: created.id,
        version: config.version.and_then(|v| v.index).unwrap_or(0),
        revision: revision.clone(),
        outcome: Outcome::InProgress,
        finished_at: None,
        reason: None,
        labels,
        data,
    })
}

/// Records how the revision ended (a label update, retried once on a
/// version race).
pub async fn finish(engine: &Engine, stored: &mut Stored, outcome: Outcome, reason: Option<&str>) -> Result<()> {
    let now = Timestamp::now().rfc3339();
    let mut labels = stored.labels.clone();
    labels.insert(OUTCOME_LABEL.into(), outcome.as_str().into());
    labels.insert(FINISHED_LABEL.into(), now.clone());
    match reason {
        Some(r) => labels.insert(REASON_LABEL.into(), truncate(r, 300)),
        None => labels.remove(REASON_LABEL),
    };
    let name = config_name(&stored.revision.stack, stored.revision.number);
    for attempt in 0..3 {
        let spec = ConfigSpec {
            name: Some(name.clone()),
            labels: Some(labels.clone()),
            data: Some(stored.data.clone()),
            templating: None,
        };
        let options = UpdateConfigOptions { version: i64::try_from(stored.version).unwrap_or(i64::MAX) };
        match engine.docker.update_config(&stored.config_id, spec, options).await {
            Ok(()) => break,
            Err(e) if attempt < 2 => {
                let fresh = engine
                    .docker
                    .inspect_config(&stored.config_id)
                    .await
                    .with_context(|| format!("re-reading {name}"))?;
                stored.version = fresh.version.and_then(|v| v.index).unwrap_or(stored.version);
                let _ = e;
            }
            Err(e) => return Err(anyhow::anyhow!("recording the outcome of {name}: {}", message_of(&e))),
        }
    }
    let fresh = engine.docker.inspect_config(&stored.config_id).await.ok();
    stored.version = fresh.and_then(|c| c.version).and_then(|v| v.index).unwrap_or(stored.version);
    stored.labels = labels;
    stored.outcome = outcome;
    stored.finished_at = Some(now);
    stored.reason = reason.map(|r| truncate(r, 300));
    Ok(())
}

/// Deletes revision records beyond the newest [`HISTORY_LIMIT`].
pub async fn trim(engine: &Engine, revisions: &[Stored]) -> Result<usize> {
    let excess = revisions.len().saturating_sub(HISTORY_LIMIT);
    let mut removed = 0;
    for old in revisions.iter().take(excess) {
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
