//! Everything that would make a rollout fail for reasons known up front,
//! reported all at once, before anything changes: the engine is a Swarm
//! manager, secrets and external networks exist, every image a changed
//! service will pull can be pulled (asked of the registry through the
//! engine, as a node would; an unchanged image is already on the nodes, so
//! a no-op deploy or a rollback works with the registry down), configs a
//! revision needs still exist, placement constraints match a node, and no
//! service the plan would create already exists outside the stack.

use std::collections::BTreeSet;
use std::time::Duration;

use bollard::models::ServiceSpec;

use futures_util::future::join_all;

use crate::history::revision::Action;
use crate::plan::Plan;
use crate::swarm::desired::Desired;
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, full_name, message_of};
use crate::swarm::world::World;

/// Every problem, one line each (empty: go).
pub async fn check(engine: &Engine, desired: &Desired, plan: &Plan, world: &World) -> Vec<String> {
    let mut problems = Vec::new();
    for s in &plan.secrets_missing {
        problems.push(match desired.secret_needs.iter().find(|n| &n.name == s) {
            Some(n) if n.generate.is_some() || n.default.is_some() => format!(
                "secret `{key}` has no version yet (`{s}`): deploy with --init to {how}, or set your own \
                 with `cargo xtask secret set {key}` (reads standard input)",
                key = n.key,
                how = if n.generate.is_some() { "generate it" } else { "create it with its default" }
            ),
            Some(n) => format!(
                "secret `{key}` has no version yet (`{s}`) and cannot be generated: set it with \
                 `cargo xtask secret set {key}` (reads standard input; e.g. `printf %s \"$VALUE\" | cargo xtask secret set {key}`)",
                key = n.key
            ),
            None => format!("secret `{s}` of that revision no longer exists: it cannot be restored"),
        });
    }
    for n in &plan.networks_missing {
        problems.push(format!(
            "network `{n}` does not exist: create it (`docker network create -d overlay --attachable {n}`) or deploy with --init"
        ));
    }
    for need in desired.networks.iter().filter(|n| n.external) {
        if let Some(net) = world.networks.get(&need.name).filter(|n| n.scope != "swarm") {
            problems.push(format!(
                "network `{}` is a {} `{}` network; services need a swarm-scoped overlay",
                need.name, net.scope, net.driver
            ));
        }
    }
    if desired.from_revision.is_some() {
        for name in &desired.config_names {
            if !world.configs.contains_key(name) {
                problems
                    .push(format!("config `{name}` of that revision no longer exists (pruned): it cannot be restored"));
            }
        }
    }
    problems.extend(unplaceable(desired, world));
    problems.extend(foreign(engine, plan).await);
    problems.extend(unpullable(engine, &images_to_pull(plan)).await);
    problems
}

/// Images a changed service will start from that the running spec does not
/// already use (created services, and updates that change the image).
fn images_to_pull(plan: &Plan) -> BTreeSet<String> {
    let image = |spec: Option<&ServiceSpec>| {
        spec.and_then(|s| s.task_template.as_ref()?.container_spec.as_ref()?.image.clone())
    };
    plan.touched()
        .filter_map(|sp| {
            let wanted = image(sp.desired.as_ref())?;
            (image(sp.current_spec()).as_deref() != Some(wanted.as_str())).then_some(wanted)
        })
        .collect()
}

/// Services the plan would create whose name is taken by a service
/// without the stack's label: a deploy would fail on the name, and the
/// service is not ours to update or remove.
async fn foreign(engine: &Engine, plan: &Plan) -> Vec<String> {
    let creates = plan.services.iter().filter(|sp| sp.action == Action::Create);
    let checks = creates.map(|sp| async move {
        let full = full_name(&plan.stack, &sp.name);
        match engine.inspect_service(&full).await {
            Ok(Some(_)) => Some(format!(
                "service `{full}` already exists but is not part of stack `{stack}` (no `{NAMESPACE_LABEL}={stack}` \
                 label): remove it (`docker service rm {full}`) or adopt it into the stack \
                 (`docker service update --label-add {NAMESPACE_LABEL}={stack} {full}`), then deploy again",
                stack = plan.stack
            )),
            Ok(None) => None,
            Err(e) => Some(format!("service `{full}`: cannot tell whether it exists: {e:#}")),
        }
    });
    join_all(checks).await.into_iter().flatten().collect()
}

/// Images the registry does not serve (or that the engine cannot reach).
async fn unpullable(engine: &Engine, images: &BTreeSet<String>) -> Vec<String> {
    let checks = images.iter().map(|image| async move {
        let ask = engine.docker.inspect_registry_image(image, None);
        match tokio::time::timeout(Duration::from_secs(30), ask).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("image `{image}` cannot be pulled: {}", message_of(&e))),
            Err(_) => Some(format!("image `{image}`: the registry did not answer within 30s")),
        }
    });
    join_all(checks).await.into_iter().flatten().collect()
}

/// Services whose `node.labels.K == V` / `node.role == R` constraints no
/// node satisfies (Swarm would leave their tasks pending forever).
fn unplaceable(desired: &Desired, world: &World) -> Vec<String> {
    let mut out = Vec::new();
    if world.nodes.is_empty() {
        return out;
    }
    for (name, spec) in &desired.services {
        let ok = world.nodes.iter().any(|node| placeable_on(spec, node));
        if !ok {
            let constraints = constraints_of(spec);
            out.push(format!(
                "service `{name}`: no node satisfies its placement constraints {constraints:?} (e.g. `docker node update --label-add monitoring=true <node>`)"
            ));
        }
    }
    out
}

/// Whether `node` meets every placement constraint of `spec` (a constraint
/// this code cannot evaluate counts as met: Swarm is the judge).
pub fn placeable_on(spec: &ServiceSpec, node: &bollard::models::Node) -> bool {
    constraints_of(spec).iter().all(|c| satisfies(node, c).unwrap_or(true))
}

fn constraints_of(spec: &ServiceSpec) -> &[String] {
    spec.task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.as_deref())
        .unwrap_or_default()
}

/// `Some(matches)` for the constraint forms understood, `None` otherwise.
pub fn satisfies(node: &bollard::models::Node, constraint: &str) -> Option<bool> {
    let (key, value, equal) = if let Some((k, v)) = constraint.split_once("==") {
        (k.trim(), v.trim(), true)
    } else if let Some((k, v)) = constraint.split_once("!=") {
        (k.trim(), v.trim(), false)
    } else {
        return None;
    };
    let spec = node.spec.as_ref();
    let actual = if let Some(label) = key.strip_prefix("node.labels.") {
        spec.and_then(|s| s.labels.as_ref()).and_then(|l| l.get(label)).cloned()
    } else if key == "node.role" {
        spec.and_then(|s| s.role).map(|r| r.to_string())
    } else if key == "node.hostname" {
        node.description.as_ref().and_then(|d| d.hostname.clone())
    } else if key == "node.id" {
        node.id.clone()
    } else {
        return None;
    };
    Some((actual.as_deref() == Some(value)) == equal)
}
