//! The engine must be a Swarm manager. With `deploy --init`, a lone engine
//! becomes a single-node Swarm (`docker swarm init --advertise-addr
//! 127.0.0.1`), missing external networks are created (overlay,
//! attachable), and a single node gets the labels the placement
//! constraints ask for: a newcomer's first deploy needs nothing else.

use std::collections::HashMap;

use anyhow::Result;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::UpdateNodeOptions;

use super::progress::Progress;
use crate::swarm::desired::Desired;
use crate::swarm::engine::{Engine, message_of};
use crate::swarm::world::World;

/// Fails unless the engine is a manager of an active Swarm (making it one
/// with `init`, and saying so).
pub async fn ensure_swarm(engine: &Engine, init: bool, progress: &Progress) -> Result<()> {
    if engine.ensure_manager(init).await? {
        progress.note("--init: this engine is now a single-node Swarm (advertise address 127.0.0.1)");
    }
    Ok(())
}

/// `--init`, second half: networks and node labels. Returns whether it
/// changed anything (the world must then be read again).
pub async fn init_objects(engine: &Engine, desired: &Desired, world: &World, progress: &Progress) -> Result<bool> {
    let mut changed = false;
    for need in desired.networks.iter().filter(|n| n.external) {
        if world.networks.contains_key(&need.name) {
            continue;
        }
        let request = NetworkCreateRequest {
            name: need.name.clone(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            ..Default::default()
        };
        engine
            .docker
            .create_network(request)
            .await
            .map_err(|e| anyhow::anyhow!("creating network {}: {}", need.name, message_of(&e)))?;
        progress.note(&format!("--init: created overlay network {} (attachable)", need.name));
        changed = true;
    }
    if let [node] = world.nodes.as_slice() {
        let mut wanted: HashMap<String, String> = HashMap::new();
        for spec in desired.services.values() {
            let constraints =
                spec.task_template.as_ref().and_then(|t| t.placement.as_ref()).and_then(|p| p.constraints.clone());
            for c in constraints.into_iter().flatten() {
                let Some((k, v)) = c.split_once("==") else { continue };
                let Some(label) = k.trim().strip_prefix("node.labels.") else { continue };
                if super::preflight::satisfies(node, &c) == Some(false) {
                    wanted.insert(label.to_owned(), v.trim().to_owned());
                }
            }
        }
        if !wanted.is_empty() {
            let (Some(id), Some(mut spec), Some(version)) =
                (node.id.clone(), node.spec.clone(), node.version.as_ref().and_then(|v| v.index))
            else {
                return Ok(changed);
            };
            let labels = spec.labels.get_or_insert_with(HashMap::new);
            labels.extend(wanted.clone());
            let options = UpdateNodeOptions { version: i64::try_from(version).unwrap_or(i64::MAX) };
            engine
                .docker
                .update_node(&id, spec, options)
                .await
                .map_err(|e| anyhow::anyhow!("labelling the node: {}", message_of(&e)))?;
            let list: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v}")).collect();
            progress.note(&format!("--init: labelled the only node with {}", list.join(", ")));
            changed = true;
        }
    }
    Ok(changed)
}
