//! What the stack should look like: from a rendered bundle (deploy, plan)
//! or from a recorded revision (rollback).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use bollard::models::{MountType, ServiceSpec};

use super::convert::{self, Ids};
use crate::bundle::Bundle;
use crate::history::revision::config_names;
use crate::history::store::Stored;

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

#[derive(Debug, Clone)]
pub struct Desired {
    pub stack: String,
    /// Short name → full spec (ids filled in where the objects exist).
    pub services: BTreeMap<String, ServiceSpec>,
    /// Configs to create when missing (a bundle's); a revision's must exist.
    pub configs: Vec<NewConfig>,
    /// Config names the specs mount.
    pub config_names: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
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
        let file = &bundle.compose;
        let services = convert::stack_specs(stack, file, ids)?;
        let mut configs = Vec::new();
        for (key, c) in &file.configs {
            let mut labels: HashMap<String, String> = c.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            labels.insert(super::engine::NAMESPACE_LABEL.into(), stack.into());
            configs.push(NewConfig { name: c.name.clone(), data: bundle.config_data(key)?, labels });
        }
        let mut secrets = BTreeSet::new();
        for (key, s) in &file.secrets {
            if !s.external {
                bail!("secret `{key}` is not external: the bundle may only refer to secrets the operator created");
            }
            secrets.insert(s.name.clone());
        }
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
            networks,
            volumes,
            images,
            bundle_digest: Some(crate::source::Digest::of(&digest_input).to_string()),
            from_revision: None,
        })
    }

    /// The whole stack as revision `stored` left it.
    pub fn from_revision(stored: &Stored) -> Desired {
        let rev = &stored.revision;
        let services: BTreeMap<String, ServiceSpec> =
            rev.services.iter().filter_map(|(n, r)| Some((n.clone(), r.next.clone()?))).collect();
        let mut desired = Desired {
            stack: rev.stack.clone(),
            services: BTreeMap::new(),
            configs: Vec::new(),
            config_names: BTreeSet::new(),
            secrets: BTreeSet::new(),
            networks: BTreeSet::new(),
            volumes: BTreeSet::new(),
            images: BTreeSet::new(),
            bundle_digest: rev.bundle_digest.clone(),
            from_revision: Some(rev.number),
        };
        for spec in services.values() {
            desired.config_names.extend(config_names(spec));
            let tt = spec.task_template.as_ref();
            let cs = tt.and_then(|t| t.container_spec.as_ref());
            desired.images.extend(cs.and_then(|c| c.image.clone()));
            desired
                .secrets
                .extend(cs.and_then(|c| c.secrets.clone()).into_iter().flatten().filter_map(|s| s.secret_name));
            for m in cs.and_then(|c| c.mounts.clone()).into_iter().flatten() {
                if m.typ == Some(MountType::VOLUME) {
                    desired.volumes.extend(m.source);
                }
            }
            for n in tt.and_then(|t| t.networks.clone()).into_iter().flatten() {
                desired.networks.extend(n.target.map(|name| NetworkNeed { name, external: true }));
            }
        }
        desired.services = services;
        desired
    }
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
