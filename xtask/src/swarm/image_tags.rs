//! Images the bundle names by tag alone, resolved to a digest before any
//! plan is made. Only workspace-built images are (`check` refuses any other
//! image without a digest): their tag is input-addressed, and the digest
//! exists only once someone built and pushed the image, so it cannot be in
//! `stack/images.lock`. The engine asks the registry (`GET
//! /distribution/{name}/json`), as a node pulling would; the specs then
//! name `repository:tag@digest`, so every node runs the same bytes and the
//! revision records them.
//!
//! A registry that cannot be reached is not fatal when the stack already
//! runs that tag: the digest the running spec carries is used (those bytes
//! are on the nodes), so a no-op deploy and a rollback still work with the
//! registry down, as they do for every other image.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::{ServiceSpec, TaskSpec};
use futures_util::future::join_all;

use super::desired::Desired;
use super::engine::{Engine, message_of};
use super::world::World;

/// How long the registry may take to answer, through the engine.
const REGISTRY_WAIT: Duration = Duration::from_secs(30);

/// `repository:tag` → `repository:tag@sha256:…`, and what could not be
/// resolved (one line each, naming the image).
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    pub digests: BTreeMap<String, String>,
    /// Resolved from the running spec because the registry did not answer.
    pub from_running: Vec<String>,
    pub problems: Vec<String>,
}

/// Resolves every image of `desired` that has no digest.
pub async fn resolve(engine: &Engine, desired: &Desired, world: &World) -> Resolved {
    let tagged: Vec<&String> = desired.images.iter().filter(|i| !has_digest(i)).collect();
    let asks = tagged.iter().map(|image| async move {
        let ask = engine.docker.inspect_registry_image(image, None);
        let answer = match tokio::time::timeout(REGISTRY_WAIT, ask).await {
            Ok(Ok(inspect)) => Ok(inspect.descriptor.digest),
            Ok(Err(e)) => Err(message_of(&e)),
            Err(_) => Err(format!("the registry did not answer within {}s", REGISTRY_WAIT.as_secs())),
        };
        ((*image).clone(), answer)
    });
    let mut out = Resolved::default();
    for (image, answer) in join_all(asks).await {
        out.record(image, answer, world);
    }
    out
}

impl Resolved {
    /// What the registry answered for `image` (its digest, or why not).
    fn record(&mut self, image: String, answer: Result<Option<String>, String>, world: &World) {
        match answer {
            Ok(Some(digest)) => {
                self.digests.insert(image.clone(), format!("{image}@{digest}"));
            }
            Ok(None) => self.problems.push(format!("image `{image}`: the registry answered without a digest")),
            Err(why) => match running_digest(world, &image) {
                Some(pinned) => {
                    self.from_running.push(format!("image `{image}`: {why}; keeping the running {pinned}"));
                    self.digests.insert(image, pinned);
                }
                None => self.problems.push(format!(
                    "image `{image}` (built from this workspace) cannot be resolved to a digest: {why}: build and \
                     push it first (README, \"Workspace-built images\")"
                )),
            },
        }
    }
}

impl Desired {
    /// The specs with every resolved tag replaced by its digest reference.
    pub fn with_digests(mut self, resolved: &Resolved) -> Desired {
        for spec in self.services.values_mut() {
            if let Some(image) = image_mut(spec)
                && let Some(pinned) = resolved.digests.get(image.as_str())
            {
                image.clone_from(pinned);
            }
        }
        self.images = self.images.into_iter().map(|i| resolved.digests.get(&i).cloned().unwrap_or(i)).collect();
        self
    }
}

fn image_mut(spec: &mut ServiceSpec) -> Option<&mut String> {
    let TaskSpec { container_spec, .. } = spec.task_template.as_mut()?;
    container_spec.as_mut()?.image.as_mut()
}

fn has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// The digest reference a running service of the stack has for `image`.
fn running_digest(world: &World, image: &str) -> Option<String> {
    let prefix = format!("{image}@");
    world.services.values().find_map(|s| {
        let running = s.spec.as_ref()?.task_template.as_ref()?.container_spec.as_ref()?.image.as_ref()?;
        running.starts_with(&prefix).then(|| running.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_running(image: &str) -> World {
        let spec = ServiceSpec {
            task_template: Some(TaskSpec {
                container_spec: Some(bollard::models::TaskSpecContainerSpec {
                    image: Some(image.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let service = bollard::models::Service { spec: Some(spec), ..Default::default() };
        World {
            services: [("exporter".to_owned(), service)].into(),
            configs: Default::default(),
            secrets: Default::default(),
            networks: Default::default(),
            volumes: Default::default(),
            nodes: Vec::new(),
        }
    }

    #[test]
    fn an_unreachable_registry_keeps_the_running_digest_of_the_same_tag_only() {
        let world = world_running("r/x:0.1.0-aaa@sha256:11");
        let mut out = Resolved::default();
        out.record("r/x:0.1.0-aaa".into(), Err("connection refused".into()), &world);
        assert_eq!(out.digests["r/x:0.1.0-aaa"], "r/x:0.1.0-aaa@sha256:11");
        assert!(out.problems.is_empty() && out.from_running[0].contains("connection refused"), "{out:?}");

        // Another tag (a changed build) has nothing running to fall back on.
        out.record("r/x:0.1.0-bbb".into(), Err("connection refused".into()), &world);
        assert!(!out.digests.contains_key("r/x:0.1.0-bbb"));
        assert!(out.problems[0].contains("`r/x:0.1.0-bbb`") && out.problems[0].contains("build and push it first"));

        out.record("r/x:0.1.0-ccc".into(), Ok(Some("sha256:22".into())), &world);
        assert_eq!(out.digests["r/x:0.1.0-ccc"], "r/x:0.1.0-ccc@sha256:22");
    }

    #[test]
    fn only_a_reference_without_digest_is_resolved() {
        assert!(has_digest("r/x:1@sha256:00"));
        assert!(!has_digest("127.0.0.1:5000/m/x:0.1.0-abc"));
    }
}
