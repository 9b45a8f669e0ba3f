//! What the stack should look like: from a rendered bundle (deploy, plan)
//! or from a recorded revision (rollback).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use bollard::models::ServiceSpec;

use super::convert::{self, Ids};
use crate::bundle::compose::{ComposeFile, SecretGenerate};
use crate::bundle::{Bundle, newest_version, secret_version_name};

/// A config the stack needs, with its content.
#[derive(Debug, Clone)]
pub struct NewConfig {
    pub name: String,
    pub data: Vec<u8>,
    pub labels: HashMap<String, String>,
}

/// A network the services attach to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetworkNeed {
    /// Name, or id for specs taken from a revision.
    pub name: String,
    /// Made by someone else (the platform); never created by a deploy
    /// except with `--init`.
    pub external: bool,
}

/// A secret the bundle mounts, and the version a deploy mounts: the newest
/// that exists, or version 1, still to be made (`deploy --init` generates
/// it where it can; `cargo xtask secret set` otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretNeed {
    /// Key under the bundle's `secrets:` (what `cargo xtask secret` takes).
    pub key: String,
    /// `<stack>_<key>`.
    pub family: String,
    pub version: u32,
    /// The version's Swarm name.
    pub name: String,
    pub exists: bool,
    pub generate: Option<SecretGenerate>,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub stack: String,
    /// Short name → full spec (ids filled in where the objects exist).
    pub services: BTreeMap<String, ServiceSpec>,
    /// Configs to create when missing (a bundle's); a revision's must exist.
    pub configs: Vec<NewConfig>,
    /// Config names the specs mount.
    pub config_names: BTreeSet<String>,
    /// Names of the secret versions the specs mount.
    pub secrets: BTreeSet<String>,
    /// The bundle's secrets and their versions (empty for a revision's
    /// specs, which name their versions themselves).
    pub secret_needs: Vec<SecretNeed>,
    pub networks: BTreeSet<NetworkNeed>,
    /// Named volumes (created by Swarm on the node at first task start).
    pub volumes: BTreeSet<String>,
    pub images: BTreeSet<String>,
    pub bundle_digest: Option<String>,
    /// Set when the specs come from revision N.
    pub from_revision: Option<u64>,
}

impl Desired {
    pub fn from_bundle(bundle: &Bundle, stack: &str, ids: &Ids) -> Result<Desired> {
        let (file, secret_needs) = with_secret_versions(&bundle.compose, ids)?;
        let file = &file;
        let services = convert::stack_specs(stack, file, ids)?;
        let mut configs = Vec::new();
        for (key, c) in &file.configs {
            let mut labels: HashMap<String, String> = c.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            labels.insert(super::engine::NAMESPACE_LABEL.into(), stack.into());
            configs.push(NewConfig { name: c.name.clone(), data: bundle.config_data(key)?, labels });
        }
        let secrets = secret_needs.iter().map(|n| n.name.clone()).collect();
        let mut networks = BTreeSet::new();
        for svc in file.services.values() {
            for key in &svc.networks {
                let external = file.networks.get(key).is_none_or(|n| n.external);
                networks.insert(NetworkNeed { name: convert::network_name(file, key), external });
            }
        }
        let volumes = file.volumes.keys().map(|k| convert::volume_name(stack, k)).collect();
        let images = file.services.values().map(|s| s.image.clone()).collect();
        let config_names = services.values().flat_map(config_names).collect();
        let mut digest_input =
            std::fs::read(bundle.dir.join(crate::bundle::STACK_FILE)).context("reading the stack file")?;
        digest_input
            .extend(std::fs::read(bundle.dir.join(crate::bundle::CONFIGS_LOCK)).context("reading the configs lock")?);
        Ok(Desired {
            stack: stack.to_owned(),
            services,
            configs,
            config_names,
            secrets,
            secret_needs,
            networks,
            volumes,
            images,
            bundle_digest: Some(crate::source::Digest::of(&digest_input).to_string()),
            from_revision: None,
        })
    }
}

/// The compose file with each secret named by the version to mount (the
/// newest of its family in `ids`, else version 1), and what each needs.
fn with_secret_versions(file: &ComposeFile, ids: &Ids) -> Result<(ComposeFile, Vec<SecretNeed>)> {
    let existing: Vec<&str> = ids.secrets.keys().map(String::as_str).collect();
    let mut file = file.clone();
    let mut needs = Vec::new();
    for (key, s) in &mut file.secrets {
        if !s.external {
            bail!("secret `{key}` is not external: its value may not be in the bundle");
        }
        let family = std::mem::take(&mut s.name);
        let (version, name, exists) = match newest_version(&family, existing.iter().copied()) {
            Some((version, name)) => (version, name, true),
            None => (1, secret_version_name(&family, 1), false),
        };
        s.name = name.clone();
        let (generate, default) = (s.generate, s.default.clone());
        needs.push(SecretNeed { key: key.clone(), family, version, name, exists, generate, default });
    }
    Ok((file, needs))
}

impl Desired {
    /// The specs as `engine` stores them: an engine older than API 1.44
    /// drops a health check's `start_interval`, so asking for it would make
    /// every deploy see a change that can never be applied (and bump every
    /// version on a no-op). Its first probe then waits a full interval.
    pub fn for_engine(mut self, engine: &super::engine::Engine) -> Desired {
        if !engine.keeps_start_interval() {
            without_start_interval(&mut self.services);
        }
        self
    }
}

fn without_start_interval(services: &mut BTreeMap<String, ServiceSpec>) {
    let checks =
        services.values_mut().filter_map(|s| s.task_template.as_mut()?.container_spec.as_mut()?.health_check.as_mut());
    for check in checks {
        check.start_interval = None;
    }
}

/// The spec as a revision journals it: network attachments by name, not
/// id (ids of configs and secrets are ignored by `compare` and filled in
/// again by [`fill_ids`]), so a network re-created under the same name
/// does not make an old revision unrestorable.
pub fn journal_form(spec: &ServiceSpec, ids: &Ids) -> ServiceSpec {
    let mut spec = spec.clone();
    let names: HashMap<&str, &str> = ids.networks.iter().map(|(name, id)| (id.as_str(), name.as_str())).collect();
    if let Some(tt) = spec.task_template.as_mut() {
        for n in tt.networks.iter_mut().flatten() {
            if let Some(name) = n.target.as_deref().and_then(|t| names.get(t)) {
                n.target = Some((*name).to_owned());
            }
        }
    }
    spec
}

/// Fills in ids of objects that exist now (after the rollout created them).
pub fn fill_ids(spec: &mut ServiceSpec, ids: &Ids) {
    let Some(tt) = spec.task_template.as_mut() else { return };
    if let Some(cs) = tt.container_spec.as_mut() {
        for c in cs.configs.iter_mut().flatten() {
            if let Some(id) = c.config_name.as_ref().and_then(|n| ids.configs.get(n)) {
                c.config_id = Some(id.clone());
            }
        }
        for s in cs.secrets.iter_mut().flatten() {
            if let Some(id) = s.secret_name.as_ref().and_then(|n| ids.secrets.get(n)) {
                s.secret_id = Some(id.clone());
            }
        }
    }
    for n in tt.networks.iter_mut().flatten() {
        if let Some(id) = n.target.as_ref().and_then(|t| ids.networks.get(t)) {
            n.target = Some(id.clone());
        }
    }
}

/// Secret (version) names a spec mounts.
pub fn secret_names(spec: &ServiceSpec) -> Vec<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| s.secret_name.clone())
        .collect()
}

/// Config names a spec mounts.
pub fn config_names(spec: &ServiceSpec) -> Vec<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.configs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.config_name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use bollard::models::{NetworkAttachmentConfig, TaskSpec};

    use super::*;

    /// The committed bundle's rollout policy, as the specs sent to Swarm
    /// carry it: every node of a global service at once, replicated ones
    /// one at a time, and every health check probing every 2s during its
    /// start period (dropped only for engines that cannot keep it).
    #[test]
    fn the_bundle_rolls_global_services_out_on_every_node_at_once_and_probes_early() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bundle = Bundle::load(&root.join(crate::bundle::DIR)).unwrap();
        let desired = Desired::from_bundle(&bundle, "monitoring", &Ids::default()).unwrap();
        let mut globals = 0;
        for (name, spec) in &desired.services {
            let global = spec.mode.as_ref().and_then(|m| m.global.as_ref()).is_some();
            globals += usize::from(global);
            for policy in [
                spec.update_config.as_ref().map(|u| u.parallelism),
                spec.rollback_config.as_ref().map(|u| u.parallelism),
            ] {
                assert_eq!(policy, Some(Some(if global { 0 } else { 1 })), "{name}: parallelism");
            }
            let Some(check) =
                spec.task_template.as_ref().and_then(|t| t.container_spec.as_ref()?.health_check.as_ref())
            else {
                continue;
            };
            assert_eq!(check.start_interval, Some(2_000_000_000), "{name}: start_interval");
            assert!(check.start_period.unwrap_or(0) > 0, "{name}: start_interval acts only in a start period");
        }
        assert_eq!(globals, 5, "promtail, node-exporter, cadvisor, otel-agent and docker-proxy are global");

        let mut services = desired.services.clone();
        without_start_interval(&mut services);
        let kept = services
            .values()
            .filter_map(|s| s.task_template.as_ref()?.container_spec.as_ref()?.health_check.as_ref()?.start_interval)
            .count();
        assert_eq!(kept, 0, "an engine before API 1.44 is sent no start_interval");
    }

    /// Each secret mounts the newest version that exists (numerically; a
    /// hand-made unversioned one counts as 0), or version 1, still missing.
    #[test]
    fn the_bundle_mounts_the_newest_version_of_each_secret() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bundle = Bundle::load(&root.join(crate::bundle::DIR)).unwrap();
        let secrets = [
            "monitoring_grafana_admin_password_v2",
            "monitoring_grafana_admin_password_v10",
            "monitoring_grafana_secret_key",
            "other_grafana_admin_password_v99",
        ];
        let ids = Ids {
            secrets: secrets.iter().map(|s| ((*s).to_owned(), format!("id-{s}"))).collect(),
            ..Default::default()
        };
        let desired = Desired::from_bundle(&bundle, "monitoring", &ids).unwrap();
        let need = |key: &str| desired.secret_needs.iter().find(|n| n.key == key).unwrap().clone();
        let admin = need("grafana_admin_password");
        assert_eq!(
            (admin.version, admin.name.as_str(), admin.exists),
            (10, "monitoring_grafana_admin_password_v10", true)
        );
        assert_eq!(need("grafana_secret_key").name, "monitoring_grafana_secret_key", "version 0");
        let pg = need("postgres_exporter_password");
        assert_eq!((pg.version, pg.exists), (1, false));
        assert!(pg.generate.is_some_and(|g| g.placeholder));
        assert!(need("alertmanager_webhook_url").default.is_some());
        let grafana = &desired.services["grafana"];
        let mounted = secret_names(grafana);
        assert_eq!(mounted, ["monitoring_grafana_admin_password_v10", "monitoring_grafana_secret_key"]);
        let ids_of: Vec<Option<String>> = grafana
            .task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap()
            .secrets
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.secret_id.clone())
            .collect();
        assert_eq!(ids_of[0].as_deref(), Some("id-monitoring_grafana_admin_password_v10"));
        assert!(desired.secrets.contains("monitoring_postgres_exporter_password_v1"));

        // With no secret at all, `deploy --init` can make every one: the
        // repository's stack needs nothing else to come up.
        let fresh = Desired::from_bundle(&bundle, "monitoring", &Ids::default()).unwrap();
        assert_eq!(fresh.secret_needs.len(), 6);
        for n in &fresh.secret_needs {
            assert!(!n.exists && n.version == 1, "{n:?}");
            assert!(n.generate.is_some() || n.default.is_some(), "`deploy --init` cannot make {}", n.key);
        }
    }

    #[test]
    fn journaled_specs_name_networks_and_resolve_to_the_ids_of_now() {
        let spec = ServiceSpec {
            task_template: Some(TaskSpec {
                networks: Some(vec![NetworkAttachmentConfig { target: Some("id-old".into()), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let then = Ids { networks: HashMap::from([("etl_network".into(), "id-old".into())]), ..Default::default() };
        let mut journaled = journal_form(&spec, &then);
        let target = |s: &ServiceSpec| s.task_template.as_ref().unwrap().networks.as_ref().unwrap()[0].target.clone();
        assert_eq!(target(&journaled).as_deref(), Some("etl_network"));
        let now = Ids { networks: HashMap::from([("etl_network".into(), "id-new".into())]), ..Default::default() };
        fill_ids(&mut journaled, &now);
        assert_eq!(target(&journaled).as_deref(), Some("id-new"), "a re-created network is found by name");
    }
}
