//! History: revisions of the stack kept in the Swarm (see `store`): what
//! each deploy or rollback set out to do and how it ended.

pub mod revision;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::{MountType, ServiceSpec};
use revision::Outcome;
use store::Stored;

use crate::swarm::convert::Ids;
use crate::swarm::desired::{Desired, NetworkNeed, config_names, fill_ids, secret_names};

/// The revision the stack runs: the newest that succeeded.
pub fn current(revisions: &[Stored]) -> Option<&Stored> {
    revisions.iter().rev().find(|s| s.outcome == Outcome::Succeeded)
}

/// The whole stack as revision `stored` left it (what `rollback` restores),
/// with the objects its specs name by name resolved to their ids now.
pub fn desired_of(stored: &Stored, ids: &Ids) -> Desired {
    let rev = &stored.revision;
    let services: BTreeMap<String, ServiceSpec> = rev
        .services
        .iter()
        .filter_map(|(n, r)| {
            let mut spec = r.next.clone()?;
            fill_ids(&mut spec, ids);
            Some((n.clone(), spec))
        })
        .collect();
    let mut desired = Desired {
        stack: rev.stack.clone(),
        services: BTreeMap::new(),
        configs: Vec::new(),
        config_names: BTreeSet::new(),
        secrets: BTreeSet::new(),
        secret_needs: Vec::new(),
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
        desired.secrets.extend(secret_names(spec));
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
