//! What runs in the Swarm now: the stack's services (specs intact) and the
//! objects specs refer to by name (configs, secrets, networks), read at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};
use bollard::models::{NetworkInspect, Node, Service};
use bollard::query_parameters::{
    InspectNetworkOptions, ListConfigsOptions, ListNetworksOptions, ListNodesOptions, ListSecretsOptions,
    ListVolumesOptions,
};

use super::convert::Ids;
use super::engine::{Engine, short_name};

/// The engine's predefined network that puts a task in its node's own
/// network namespace.
const HOST_NETWORK: &str = "host";

#[derive(Debug, Clone)]
pub struct Network {
    pub id: String,
    pub scope: String,
    pub driver: String,
}

#[derive(Debug, Clone, Default)]
pub struct World {
    /// Short service name → service.
    pub services: BTreeMap<String, Service>,
    pub configs: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
    /// Name → network (swarm-scoped preferred when names repeat).
    pub networks: HashMap<String, Network>,
    /// Volumes on the engine's own node.
    pub volumes: BTreeSet<String>,
    pub nodes: Vec<Node>,
}

impl World {
    pub async fn observe(engine: &Engine, stack: &str) -> Result<World> {
        let d = &engine.docker;
        let (services, configs, secrets, networks, volumes, nodes) = tokio::join!(
            engine.stack_services(stack),
            d.list_configs(None::<ListConfigsOptions>),
            d.list_secrets(None::<ListSecretsOptions>),
            d.list_networks(None::<ListNetworksOptions>),
            d.list_volumes(None::<ListVolumesOptions>),
            d.list_nodes(None::<ListNodesOptions>),
        );
        let services = services?
            .into_iter()
            .filter_map(|s| {
                let name = s.spec.as_ref()?.name.clone()?;
                Some((short_name(stack, &name).to_owned(), s))
            })
            .collect();
        let configs =
            configs.context("listing configs")?.into_iter().filter_map(|c| Some((c.spec?.name?, c.id?))).collect();
        let secrets =
            secrets.context("listing secrets")?.into_iter().filter_map(|c| Some((c.spec?.name?, c.id?))).collect();
        let mut by_name: HashMap<String, Network> = HashMap::new();
        for n in networks.context("listing networks")? {
            let (Some(name), Some(id)) = (n.name, n.id) else { continue };
            let net = Network { id, scope: n.scope.unwrap_or_default(), driver: n.driver.unwrap_or_default() };
            let keep = by_name.get(&name).is_some_and(|old| old.scope == "swarm");
            if !keep {
                by_name.insert(name, net);
            }
        }
        // Swarm keeps its own object for the engine's `host` network (label
        // com.docker.swarm.predefined) and stores that id in service specs;
        // the network list shows only the local one. Asked by name with
        // scope=swarm, the engine answers with the Swarm's (measured).
        let host = d
            .inspect_network(HOST_NETWORK, Some(InspectNetworkOptions { scope: Some("swarm".into()), verbose: false }))
            .await;
        if let Ok(NetworkInspect { id: Some(id), scope, driver, .. }) = host {
            let net = Network { id, scope: scope.unwrap_or_default(), driver: driver.unwrap_or_default() };
            by_name.insert(HOST_NETWORK.to_owned(), net);
        }
        let volumes =
            volumes.context("listing volumes")?.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect();
        Ok(World { services, configs, secrets, networks: by_name, volumes, nodes: nodes.unwrap_or_default() })
    }

    /// Ids by name, for specs.
    pub fn ids(&self) -> Ids {
        Ids {
            configs: self.configs.clone(),
            secrets: self.secrets.clone(),
            networks: self.networks.iter().map(|(k, v)| (k.clone(), v.id.clone())).collect(),
        }
    }
}
