//! The repository's own bundle (VIP endpoints, ingress ports, binds, global
//! services, secrets, health checks: everything the e2e stack does not
//! have) survives a round trip through the real engine: created from our
//! specs, read back, planned again, every service is `unchanged`. That is
//! what makes a no-op deploy of the production stack touch nothing.
//!
//! The services are created under a throwaway stack name with their own
//! configs, secrets and network, ports shifted by 30000, and a placement
//! constraint no node has, so no task is ever scheduled (the production
//! images are not pullable here). Skipped without an engine, failed in CI.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use bollard::models::{ConfigSpec, NetworkCreateRequest, SecretSpec};

use crate::bundle::Bundle;
use crate::history::revision::Action;
use crate::plan::Plan;
use crate::swarm::desired::{Desired, fill_ids};
use crate::swarm::engine::{Engine, NAMESPACE_LABEL};
use crate::swarm::world::World;

#[test]
fn repository_bundle_round_trips_through_the_engine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let Ok(mut bundle) = Bundle::load(&root.join(crate::bundle::DIR)) else {
        eprintln!("skipped: no rendered bundle (cargo xtask gen)");
        return;
    };
    let rt = super::runtime().unwrap();
    let engine = match rt.block_on(async {
        let engine = Engine::connect().await?;
        anyhow::ensure!(engine.swarm_info().await?.control_available == Some(true), "not a Swarm manager");
        Ok(engine)
    }) {
        Ok(e) => e,
        Err(e) if std::env::var_os("CI").is_some() => panic!("Docker engine: {e:#}"),
        Err(e) => {
            eprintln!("skipped: Docker engine not usable: {e:#}");
            return;
        }
    };
    let stack = format!("rt{}", std::process::id());
    let network = format!("{stack}_net");
    let file = &mut bundle.compose;
    // The engine's own `host` network stays what it is.
    for n in file.networks.values_mut().filter(|n| n.name != "host") {
        n.name = network.clone();
    }
    for (key, c) in file.configs.iter_mut() {
        c.name = format!("{stack}_{key}");
    }
    for (key, s) in file.secrets.iter_mut() {
        s.name = format!("{stack}_{key}");
    }
    for svc in file.services.values_mut() {
        for p in &mut svc.ports {
            p.published += 30_000;
        }
        let placement = svc
            .deploy
            .placement
            .get_or_insert_with(|| crate::bundle::compose::Placement { constraints: vec![], preferences: vec![] });
        placement.constraints.push("node.labels.xtask-roundtrip-never == true".into());
    }
    let result = rt.block_on(round_trip(&engine, &bundle, &stack, &network));
    rt.block_on(cleanup(&engine, &stack, &network));
    let unchanged = result.unwrap();
    assert!(unchanged.is_empty(), "services that would be updated although nothing changed:\n{unchanged:#?}");
}

/// Services whose freshly created spec does not compare equal.
async fn round_trip(engine: &Engine, bundle: &Bundle, stack: &str, network: &str) -> anyhow::Result<Vec<String>> {
    let labels = HashMap::from([(NAMESPACE_LABEL.to_owned(), stack.to_owned())]);
    let d = &engine.docker;
    d.create_network(NetworkCreateRequest {
        name: network.into(),
        driver: Some("overlay".into()),
        attachable: Some(true),
        labels: Some(labels.clone()),
        ..Default::default()
    })
    .await?;
    for s in bundle.compose.secrets.values() {
        let data = base64::engine::general_purpose::STANDARD.encode("dummy");
        d.create_secret(SecretSpec {
            name: Some(s.name.clone()),
            labels: Some(labels.clone()),
            data: Some(data),
            ..Default::default()
        })
        .await?;
    }
    for key in bundle.compose.configs.keys() {
        let c = &bundle.compose.configs[key];
        let data = base64::engine::general_purpose::STANDARD.encode(bundle.config_data(key)?);
        d.create_config(ConfigSpec {
            name: Some(c.name.clone()),
            labels: Some(labels.clone()),
            data: Some(data),
            templating: None,
        })
        .await?;
    }
    let world = World::observe(engine, stack).await?;
    let desired = Desired::from_bundle(bundle, stack, &world.ids())?.for_engine(engine);
    for spec in desired.services.values() {
        let mut spec = spec.clone();
        fill_ids(&mut spec, &world.ids());
        d.create_service(spec, None).await?;
    }
    let world = World::observe(engine, stack).await?;
    let plan = Plan::compute(&desired, &world);
    Ok(plan
        .services
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .map(|s| format!("{} {:?}: {:?}", s.name, s.action, s.changes))
        .collect())
}

async fn cleanup(engine: &Engine, stack: &str, network: &str) {
    let d = &engine.docker;
    for s in engine.stack_services(stack).await.unwrap_or_default() {
        let _ = d.delete_service(s.id.as_deref().unwrap_or_default()).await;
    }
    let label = HashMap::from([("label".to_owned(), vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    let configs =
        d.list_configs(Some(bollard::query_parameters::ListConfigsOptions { filters: Some(label.clone()) })).await;
    for c in configs.unwrap_or_default() {
        let _ = d.delete_config(c.id.as_deref().unwrap_or_default()).await;
    }
    let secrets = d.list_secrets(Some(bollard::query_parameters::ListSecretsOptions { filters: Some(label) })).await;
    for s in secrets.unwrap_or_default() {
        let _ = d.delete_secret(s.id.as_deref().unwrap_or_default()).await;
    }
    for _ in 0..20 {
        if d.remove_network(network).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
