//! Stack: image changes (tag and digest), the Swarm configs whose content
//! changed (by their `[configs]` key) and exactly which services would roll
//! and why, computed as `plan` computes it: the base's desired state stands
//! in for what runs, and `Plan::compute` compares the working tree's
//! desired state with it (the same normalisation and field names). No
//! engine is needed; both sides are resolved by name.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use bollard::models::Service;

use super::revision::Tree;
use super::{Change, Section, text_diff};
use crate::bundle::{Bundle, STACK_FILE};
use crate::history::revision::Action;
use crate::plan::Plan;
use crate::swarm::compare;
use crate::swarm::convert::Ids;
use crate::swarm::desired::Desired;
use crate::swarm::world::World;

/// Config diffs longer than this are summarised (dashboards and rules have
/// their own sections).
const MAX_DIFF_LINES: usize = 40;

pub fn compare(before: &Tree, after: &Tree) -> Result<Vec<Change>> {
    let load = |tree: &Tree| -> Result<Option<Bundle>> {
        let dir = tree.path(crate::bundle::DIR);
        if !dir.join(STACK_FILE).is_file() {
            return Ok(None);
        }
        Bundle::load(&dir).map(Some).with_context(|| format!("{}: the rendered stack", tree.label()))
    };
    // A base without a rendered stack (older than the bundle) counts as an
    // empty one: every service would be created.
    let Some(b) = load(after)? else { return Ok(Vec::new()) };
    let a = load(before)?;
    let file = format!("{}/{STACK_FILE}", crate::bundle::DIR);
    let mut out = services(&file, a.as_ref(), &b)?;
    if let Some(a) = &a {
        out.extend(images(a, &b));
    }
    out.extend(configs(a.as_ref(), &b)?);
    Ok(out)
}

fn change(file: &str, place: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Change {
    Change::new(Section::Stack, rule, file, place, message)
}

/// `repo:tag@sha256:…` → (`repo:tag`, short digest).
fn split_image(image: &str) -> (&str, &str) {
    match image.split_once('@') {
        Some((name, digest)) => (name, digest.get(..19).unwrap_or(digest)),
        None => (image, ""),
    }
}

/// Image references by service, reported against the pins they come from.
fn images(a: &Bundle, b: &Bundle) -> Vec<Change> {
    let file = crate::source::IMAGE_LOCK;
    let mut out = Vec::new();
    for (name, service) in &b.compose.services {
        let Some(old) = a.compose.services.get(name) else { continue };
        if old.image == service.image {
            continue;
        }
        let ((ta, da), (tb, db)) = (split_image(&old.image), split_image(&service.image));
        let message = if ta == tb {
            format!("image `{tb}`: digest {da}… → {db}… (same tag)")
        } else {
            format!("image `{ta}` ({da}…) → `{tb}` ({db}…)")
        };
        out.push(change(file, format!("service `{name}`"), "image", message));
    }
    out
}

fn configs(a: Option<&Bundle>, b: &Bundle) -> Result<Vec<Change>> {
    let file = format!("{}/{}", crate::bundle::DIR, crate::bundle::CONFIGS_LOCK);
    let none = BTreeMap::new();
    let a_configs = a.map_or(&none, |a| &a.compose.configs);
    let keys: BTreeSet<&String> = a_configs.keys().chain(b.compose.configs.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let place = format!("config `{key}`");
        match (a_configs.get(key), b.compose.configs.get(key)) {
            (None, Some(c)) => out.push(change(&file, place, "config-added", format!("added ({})", c.name))),
            (Some(c), None) => out.push(change(&file, place, "config-removed", format!("removed ({})", c.name))),
            (Some(x), Some(y)) if x.name != y.name => {
                let text = |bundle: &Bundle| -> Result<String> {
                    Ok(String::from_utf8_lossy(&bundle.config_data(key)?).into_owned())
                };
                let before = a.map(text).transpose()?.unwrap_or_default();
                let diff = text_diff::unified(&before, &text(b)?);
                let lines = diff.lines().filter(|l| l.starts_with(['-', '+'])).count();
                let (message, diff) = if lines > MAX_DIFF_LINES {
                    (format!("changed ({} → {}), {lines} lines differ", x.name, y.name), None)
                } else {
                    (format!("changed ({} → {})", x.name, y.name), Some(diff))
                };
                out.push(change(&file, place, "config-changed", message).with_diff(diff));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The services a deploy of the working tree would create, update or
/// remove on a Swarm running the base: `plan`'s comparison of the two
/// desired states.
fn services(file: &str, a: Option<&Bundle>, b: &Bundle) -> Result<Vec<Change>> {
    let stack = b.stack().to_owned();
    let ids = Ids::default();
    let desired = Desired::from_bundle(b, &stack, &ids).context("the working tree's rendered stack")?;
    let world = match a {
        Some(a) => {
            let running = Desired::from_bundle(a, &stack, &ids).context("the base's rendered stack")?;
            World {
                services: running
                    .services
                    .iter()
                    .map(|(name, spec)| (name.clone(), Service { spec: Some(spec.clone()), ..Default::default() }))
                    .collect(),
                configs: running.configs.iter().map(|c| (c.name.clone(), c.name.clone())).collect(),
                ..Default::default()
            }
        }
        None => World::default(),
    };
    let plan = Plan::compute(&desired, &world);
    let mut out = Vec::new();
    for service in plan.touched() {
        let place = format!("service `{}`", service.name);
        let message = match service.action {
            Action::Create => {
                let image = service
                    .desired
                    .as_ref()
                    .and_then(|d| d.task_template.as_ref()?.container_spec.as_ref()?.image.clone())
                    .unwrap_or_default();
                format!("would be created ({})", split_image(&image).0)
            }
            Action::Remove => "would be removed".to_owned(),
            _ => format!("would roll: {}", service.changed_fields().join(", ")),
        };
        let details: Vec<String> = service
            .changes
            .iter()
            .map(|c| {
                let path = c
                    .path
                    .strip_prefix("TaskTemplate.ContainerSpec.")
                    .or_else(|| c.path.strip_prefix("TaskTemplate."))
                    .unwrap_or(&c.path);
                format!("{path}: {}", compare::describe(c))
            })
            .collect();
        let rule = match service.action {
            Action::Create => "service-created",
            Action::Remove => "service-removed",
            _ => "service-rolls",
        };
        out.push(change(file, place, rule, message).with_details(details));
    }
    Ok(out)
}
