//! The engine must be a Swarm manager. With `deploy --init`, a lone engine
//! becomes a single-node Swarm (`docker swarm init --advertise-addr
//! 127.0.0.1`), missing external networks are created (overlay,
//! attachable), a single node gets the labels the placement constraints
//! ask for, and every secret that can be generated gets its first version:
//! a newcomer's first deploy needs nothing else.

use std::collections::HashMap;

use anyhow::Result;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::UpdateNodeOptions;

use super::progress::Progress;
use super::secret_version;
use crate::swarm::desired::Desired;
use crate::swarm::engine::{Engine, full_name, message_of};
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

/// A secret version `--init` made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub key: String,
    pub name: String,
    pub stand_in: StandIn,
    /// A service that mounts it and the file name there (to read it).
    pub mounted: Option<(String, String)>,
}

/// Whether the value `--init` made is the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandIn {
    /// A random value that is the real one (a password, a key).
    No,
    /// A random value that authenticates nowhere until the operator sets
    /// the real one.
    Placeholder,
    /// The stack's `default`, this text.
    Default(String),
}

/// `--init`, last: version 1 of every secret that has no version yet and
/// can be generated or has a default. Returns what it made (the world must
/// then be read again); the others are left to preflight, which names them.
pub async fn init_secrets(engine: &Engine, desired: &Desired, progress: &Progress) -> Result<Vec<Generated>> {
    let mut made = Vec::new();
    for need in desired.secret_needs.iter().filter(|n| !n.exists) {
        let (value, origin, stand_in) = match (need.generate, &need.default) {
            (Some(how), _) => {
                let stand_in = if how.placeholder { StandIn::Placeholder } else { StandIn::No };
                (secret_version::generate(how)?, secret_version::Origin::Generated, stand_in)
            }
            (None, Some(default)) => {
                (default.clone(), secret_version::Origin::Default, StandIn::Default(default.clone()))
            }
            (None, None) => continue,
        };
        secret_version::create(engine, &desired.stack, &need.key, &need.family, need.version, &value, origin).await?;
        progress.note(&format!("--init: created secret {} ({})", need.key, need.name));
        made.push(Generated {
            key: need.key.clone(),
            name: need.name.clone(),
            stand_in,
            mounted: mounted_by(desired, &need.name),
        });
    }
    Ok(made)
}

/// The first service (full name) mounting secret `name`, and its file name.
fn mounted_by(desired: &Desired, name: &str) -> Option<(String, String)> {
    desired.services.iter().find_map(|(short, spec)| {
        let secrets = spec.task_template.as_ref()?.container_spec.as_ref()?.secrets.as_ref()?;
        let mount = secrets.iter().find(|s| s.secret_name.as_deref() == Some(name))?;
        Some((full_name(&desired.stack, short), mount.file.as_ref()?.name.clone()?))
    })
}

/// What to tell the operator, once, about the secrets `--init` made: where
/// they are, how to read one, how to replace one, and which are stand-ins.
pub fn generated_notice(made: &[Generated]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "\nSecrets created by --init (random values from the OS generator, or the stack's default; kept only in \
         the Swarm, never in the repository or this output):\n",
    );
    for g in made {
        let _ = writeln!(out, "  {:<28} {}", g.key, g.name);
    }
    let readable: Vec<&Generated> = made.iter().filter(|g| g.stand_in == StandIn::No).collect();
    if !readable.is_empty() {
        let _ = writeln!(out, "Read one from inside a task that mounts it (Swarm's API never returns a value):");
        for g in readable {
            if let Some((service, file)) = &g.mounted {
                let _ = writeln!(
                    out,
                    "  docker exec \"$(docker ps -q -f label=com.docker.swarm.service.name={service} | head -n1)\" cat /run/secrets/{file}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "Replace one: `cargo xtask secret rotate KEY` (a new random value) or `cargo xtask secret set KEY` (yours, \
         from standard input); either rolls exactly the services that mount it."
    );
    for g in made {
        let key = &g.key;
        match &g.stand_in {
            StandIn::No => {}
            StandIn::Placeholder => {
                let _ = writeln!(
                    out,
                    "NOT CONFIGURED: `{key}` is a random placeholder that authenticates nowhere: \
                     set the real value with `cargo xtask secret set {key}`"
                );
            }
            StandIn::Default(value) => {
                let _ = writeln!(
                    out,
                    "NOT CONFIGURED: `{key}` holds the stack's default `{value}`: \
                     set the real value with `cargo xtask secret set {key}`"
                );
            }
        }
    }
    out
}
