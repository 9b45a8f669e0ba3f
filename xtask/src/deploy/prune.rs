//! After a successful revision: remove the stack's configs that neither a
//! running service nor one of the last [`store::KEEP_SUCCEEDED`] successful
//! revisions uses (their configs must exist for `rollback --to` to work),
//! and revision records beyond the history limit.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use bollard::query_parameters::ListConfigsOptions;

use crate::history::revision::Outcome;
use crate::history::store::{self, Stored};
use crate::swarm::desired::config_names;
use crate::swarm::engine::{Engine, NAMESPACE_LABEL};

/// Returns the names of the configs removed.
pub async fn prune(engine: &Engine, stack: &str, revisions: &[Stored]) -> Result<Vec<String>> {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for service in engine.stack_services(stack).await? {
        if let Some(spec) = &service.spec {
            keep.extend(config_names(spec));
        }
    }
    for stored in revisions.iter().rev().filter(|s| s.outcome == Outcome::Succeeded).take(store::KEEP_SUCCEEDED) {
        keep.extend(stored.revision.configs_used());
    }
    // A revision still in progress (another process, lock broken) may need its configs.
    for stored in revisions.iter().filter(|s| s.outcome == Outcome::InProgress) {
        keep.extend(stored.revision.configs_used());
    }
    let filters = HashMap::from([("label".to_owned(), vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    let configs = engine
        .docker
        .list_configs(Some(ListConfigsOptions { filters: Some(filters) }))
        .await
        .context("listing the stack's configs")?;
    let mut removed = Vec::new();
    for config in configs {
        if store::is_state(&config) {
            continue;
        }
        let (Some(id), Some(name)) = (config.id.as_deref(), config.spec.as_ref().and_then(|s| s.name.as_deref()))
        else {
            continue;
        };
        // In use by a service outside the stack: the engine refuses, fine.
        if !keep.contains(name) && engine.docker.delete_config(id).await.is_ok() {
            removed.push(name.to_owned());
        }
    }
    store::trim(engine, revisions).await?;
    removed.sort();
    Ok(removed)
}
