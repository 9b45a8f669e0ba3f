//! After a successful revision: remove the stack's configs and secret
//! versions that neither a running service nor one of the last
//! [`store::KEEP_SUCCEEDED`] successful revisions uses (they must exist for
//! `rollback --to` to work), and revision records beyond the history limit.
//! The newest version of every secret is kept even when nothing mounts it
//! yet: it is what the next deploy mounts. Only secret versions xtask made
//! (labelled `xtask.secret`) are ever removed; one made by hand stays.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use bollard::query_parameters::{ListConfigsOptions, ListSecretsOptions};

use crate::bundle::{SECRET_KEY_LABEL, newest_version, secret_family};
use crate::history::revision::{Outcome, Revision};
use crate::history::store::{self, Stored};
use crate::swarm::desired::{config_names, secret_names};
use crate::swarm::engine::{Engine, NAMESPACE_LABEL};

/// Returns the names of the configs and secret versions removed.
pub async fn prune(engine: &Engine, stack: &str, revisions: &[Stored]) -> Result<Vec<String>> {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for service in engine.stack_services(stack).await? {
        if let Some(spec) = &service.spec {
            keep.extend(config_names(spec));
            keep.extend(secret_names(spec));
        }
    }
    let history: Vec<(&Revision, Outcome)> = revisions.iter().map(|s| (&s.revision, s.outcome)).collect();
    keep.extend(kept_by_history(&history));
    let filters = HashMap::from([("label".to_owned(), vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    let configs = engine
        .docker
        .list_configs(Some(ListConfigsOptions { filters: Some(filters.clone()) }))
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
    let secrets = engine
        .docker
        .list_secrets(Some(ListSecretsOptions { filters: Some(filters) }))
        .await
        .context("listing the stack's secrets")?;
    let versions: Vec<SecretVersion> = secrets
        .into_iter()
        .filter_map(|s| {
            let spec = s.spec?;
            let key = spec.labels.as_ref()?.get(SECRET_KEY_LABEL)?.clone();
            Some(SecretVersion { id: s.id?, family: secret_family(stack, &key), name: spec.name? })
        })
        .collect();
    for v in secrets_to_prune(&versions, &keep) {
        // Mounted by something outside the stack: the engine refuses, fine.
        if engine.docker.delete_secret(&v.id).await.is_ok() {
            removed.push(v.name.clone());
        }
    }
    store::trim(engine, revisions).await?;
    removed.sort();
    Ok(removed)
}

/// Config and secret names the kept revisions mount: the last successful
/// ones, and any still in progress (another process, lock broken).
fn kept_by_history(revisions: &[(&Revision, Outcome)]) -> BTreeSet<String> {
    let succeeded = revisions.iter().rev().filter(|(_, o)| *o == Outcome::Succeeded).take(store::KEEP_SUCCEEDED);
    let in_progress = revisions.iter().filter(|(_, o)| *o == Outcome::InProgress);
    succeeded.chain(in_progress).flat_map(|(r, _)| r.configs_used().into_iter().chain(r.secrets_used())).collect()
}

/// A secret version xtask made.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretVersion {
    id: String,
    /// `<stack>_<key>`, from its `xtask.secret` label.
    family: String,
    name: String,
}

/// The versions to remove: not in `keep` and not the newest of their
/// family.
fn secrets_to_prune<'a>(versions: &'a [SecretVersion], keep: &BTreeSet<String>) -> Vec<&'a SecretVersion> {
    let names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
    versions
        .iter()
        .filter(|v| !keep.contains(&v.name))
        .filter(|v| newest_version(&v.family, names.iter().copied()).is_none_or(|(_, newest)| newest != v.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(family: &str, n: u32) -> SecretVersion {
        let name = crate::bundle::secret_version_name(family, n);
        SecretVersion { id: format!("id-{name}"), family: family.to_owned(), name }
    }

    #[test]
    fn old_versions_go_once_nothing_kept_mounts_them_and_the_newest_always_stays() {
        let versions = [
            version("m_pw", 1),
            version("m_pw", 2),
            version("m_pw", 3),
            version("m_pw", 4),
            version("m_key", 1),
            version("m_url", 7),
        ];
        // v2 runs, a kept revision mounts v3; v4 is the newest (set, not
        // rolled yet); v1 is used by nothing kept any more.
        let keep = BTreeSet::from(["m_pw_v2".to_owned(), "m_pw_v3".to_owned(), "m_key_v1".to_owned()]);
        let pruned: Vec<&str> = secrets_to_prune(&versions, &keep).iter().map(|v| v.name.as_str()).collect();
        assert_eq!(pruned, ["m_pw_v1"], "m_url_v7 is unused but the newest of its family");
    }

    #[test]
    fn history_keeps_the_versions_of_the_last_successes_and_of_runs_in_progress() {
        use crate::history::revision::{Action, Kind, ServiceRecord};
        use bollard::models::{ServiceSpec, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecSecrets};
        let stored = |number: u64, outcome: Outcome, secret: &str| {
            let spec = ServiceSpec {
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        secrets: Some(vec![TaskSpecContainerSpecSecrets {
                            secret_name: Some(secret.to_owned()),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let record = ServiceRecord { action: Action::Unchanged, previous: None, next: Some(spec), changed: vec![] };
            let revision = Revision {
                format: Revision::FORMAT,
                stack: "m".into(),
                number,
                kind: Kind::Secret,
                rollback_to: None,
                started_at: String::new(),
                by: String::new(),
                pid: 0,
                bundle_digest: None,
                services: [("svc".to_owned(), record)].into(),
                configs_created: vec![],
            };
            (revision, outcome)
        };
        let mut revisions = vec![stored(1, Outcome::Succeeded, "m_pw_v1")];
        for n in 2..=(store::KEEP_SUCCEEDED as u64 + 1) {
            revisions.push(stored(n, Outcome::Succeeded, &format!("m_pw_v{n}")));
        }
        revisions.push(stored(90, Outcome::RolledBack, "m_pw_v90"));
        revisions.push(stored(91, Outcome::InProgress, "m_pw_v91"));
        let pairs: Vec<(&Revision, Outcome)> = revisions.iter().map(|(r, o)| (r, *o)).collect();
        let kept = kept_by_history(&pairs);
        assert!(!kept.contains("m_pw_v1"), "beyond the last {} successes", store::KEEP_SUCCEEDED);
        assert!(kept.contains("m_pw_v2") && kept.contains("m_pw_v11"));
        assert!(!kept.contains("m_pw_v90"), "a rolled-back revision keeps nothing");
        assert!(kept.contains("m_pw_v91"), "a run in progress may still need its version");
    }
}
