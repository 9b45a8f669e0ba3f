//! Is the running spec the desired one? Swarm stores what it is sent, plus
//! defaults it fills in (measured on 20.10 / API 1.41: `Isolation:
//! "default"`, `Runtime: "container"`, `ForceUpdate: 0`,
//! `RestartPolicy.MaxAttempts: 0`; zero durations dropped) and object ids
//! where names were given (networks). Both sides are normalised the same
//! way before comparing, so an unchanged service compares equal and is not
//! touched at all (no version bump, no task restart).
//!
//! Normalisation, on the JSON form of the spec:
//! - members that are `null`, `false`, `0` (except `Replicas`: 0 replicas
//!   is not the default 1), `{}` or `[]` are dropped, after their children
//!   were normalised (so a struct of zeros vanishes);
//! - `Isolation: "default"` and `Runtime: "container"` are dropped;
//! - `ConfigID`/`SecretID` are dropped: references compare by name (a
//!   config in use cannot be deleted, so a name cannot silently change id);
//! - `TaskTemplate.ForceUpdate` is ignored: an update keeps the running
//!   value, as `docker stack deploy` does, so nothing restarts for it;
//! - the `xtask.created-by` label (which journal created the service) is
//!   bookkeeping, not desired state.
//!
//! Network targets are compared as ids: the desired spec resolves names
//! to ids before comparing (see `convert::Ids`).

use bollard::models::ServiceSpec;
use serde::Serialize;
use serde_json::{Map, Value};

/// A field that differs, with the normalised values on each side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// What a person calls it: `image`, `configs`, `environment`, …
    pub field: String,
    /// Where in the spec: `TaskTemplate.ContainerSpec.Image`.
    pub path: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

/// The spec as compared.
pub fn normalized(spec: &ServiceSpec) -> Value {
    let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Some(tt) = value.get_mut("TaskTemplate").and_then(Value::as_object_mut) {
        tt.remove("ForceUpdate");
    }
    if let Some(labels) = value.get_mut("Labels").and_then(Value::as_object_mut) {
        labels.remove(super::engine::CREATED_BY_LABEL);
    }
    strip(&mut value, "");
    value
}

/// Same service, as far as Swarm is concerned.
pub fn same(current: &ServiceSpec, desired: &ServiceSpec) -> bool {
    let (c, d) = pair(current, desired);
    c == d
}

/// Every differing field, in spec order.
pub fn diff(current: &ServiceSpec, desired: &ServiceSpec) -> Vec<FieldChange> {
    let (c, d) = pair(current, desired);
    let mut out = Vec::new();
    walk(String::new(), Some(&c), Some(&d), &mut out);
    out
}

/// Both sides normalised. `docker stack deploy` (with its default
/// `--resolve-image always`) adds `Placement.Platforms` from the image
/// manifest; a desired spec without platforms does not care, so a stack
/// first deployed by `docker stack deploy` is taken over without a restart.
fn pair(current: &ServiceSpec, desired: &ServiceSpec) -> (Value, Value) {
    let mut c = normalized(current);
    let d = normalized(desired);
    if d.pointer("/TaskTemplate/Placement/Platforms").is_none() {
        if let Some(p) = c.pointer_mut("/TaskTemplate/Placement").and_then(Value::as_object_mut) {
            p.remove("Platforms");
        }
        strip(&mut c, "");
    }
    (c, d)
}

fn strip(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                strip(v, k);
            }
            map.retain(|k, v| !is_default(k, v));
            let _ = key;
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip(v, "")),
        _ => {}
    }
}

fn is_default(key: &str, v: &Value) -> bool {
    match (key, v) {
        ("ConfigID" | "SecretID", _) => true,
        ("Isolation", Value::String(s)) => s == "default",
        ("Runtime", Value::String(s)) => s == "container",
        ("Replicas", _) => v.is_null(),
        (_, Value::Null) => true,
        (_, Value::Bool(b)) => !b,
        (_, Value::Number(n)) => n.as_f64() == Some(0.0),
        (_, Value::Object(m)) => m.is_empty(),
        (_, Value::Array(a)) => a.is_empty(),
        (_, Value::String(_)) => false,
    }
}

fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let empty = Map::new();
            let mut keys: Vec<&String> = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))).collect();
            keys.sort_by_key(|k| order_of(k));
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(p, x.get(k).or(empty.get(k)), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y)))
            if x.len() == y.len() && x.iter().chain(y).all(Value::is_object) =>
        {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(format!("{path}[{i}]"), Some(p), Some(q), out);
            }
        }
        (x, y) if x != y => {
            out.push(FieldChange { field: field_name(&path).to_owned(), path, from: x.cloned(), to: y.cloned() })
        }
        _ => {}
    }
}

/// Keys in the order a person reads a spec (the rest alphabetically after).
fn order_of(key: &str) -> (usize, String) {
    const ORDER: &[&str] = &[
        "Name",
        "Labels",
        "TaskTemplate",
        "ContainerSpec",
        "Image",
        "Args",
        "Env",
        "Mounts",
        "Configs",
        "Secrets",
        "HealthCheck",
        "User",
        "ReadOnly",
        "CapabilityDrop",
        "CapabilityAdd",
        "Resources",
        "RestartPolicy",
        "Placement",
        "Networks",
        "LogDriver",
        "Mode",
        "UpdateConfig",
        "RollbackConfig",
        "EndpointSpec",
    ];
    (ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len()), key.to_owned())
}

/// The name a person knows a spec path by (compose's words).
pub fn field_name(path: &str) -> &'static str {
    const NAMES: &[(&str, &str)] = &[
        ("TaskTemplate.ContainerSpec.Image", "image"),
        ("TaskTemplate.ContainerSpec.Command", "entrypoint"),
        ("TaskTemplate.ContainerSpec.Args", "command"),
        ("TaskTemplate.ContainerSpec.Hostname", "hostname"),
        ("TaskTemplate.ContainerSpec.Env", "environment"),
        ("TaskTemplate.ContainerSpec.Mounts", "volumes"),
        ("TaskTemplate.ContainerSpec.Configs", "configs"),
        ("TaskTemplate.ContainerSpec.Secrets", "secrets"),
        ("TaskTemplate.ContainerSpec.HealthCheck", "healthcheck"),
        ("TaskTemplate.ContainerSpec.Labels", "container labels"),
        ("TaskTemplate.ContainerSpec.User", "user"),
        ("TaskTemplate.ContainerSpec.ReadOnly", "read_only"),
        ("TaskTemplate.ContainerSpec.CapabilityDrop", "cap_drop"),
        ("TaskTemplate.ContainerSpec.CapabilityAdd", "cap_add"),
        ("TaskTemplate.ContainerSpec", "container"),
        ("TaskTemplate.Resources.Limits.Pids", "pids"),
        ("TaskTemplate.Resources", "resources"),
        ("TaskTemplate.RestartPolicy", "restart_policy"),
        ("TaskTemplate.Placement", "placement"),
        ("TaskTemplate.Networks", "networks"),
        ("TaskTemplate.LogDriver", "logging"),
        ("TaskTemplate", "task template"),
        ("Labels", "labels"),
        ("Mode", "mode/replicas"),
        ("UpdateConfig", "update_config"),
        ("RollbackConfig", "rollback_config"),
        ("EndpointSpec.Ports", "ports"),
        ("EndpointSpec", "endpoint_mode"),
        ("Name", "name"),
    ];
    NAMES
        .iter()
        .find(|(prefix, _)| {
            path == *prefix
                || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .map_or("spec", |(_, name)| name)
}

/// `from → to` on one line, short enough to read.
pub fn describe(change: &FieldChange) -> String {
    let key = change.path.rsplit(['.', '[']).next().unwrap_or_default().to_owned();
    let short = |v: &Option<Value>| -> String {
        let text = match v {
            None => "(none)".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => human_number(&key, n),
            Some(other) => other.to_string(),
        };
        if text.chars().count() > 100 { format!("{}…", text.chars().take(99).collect::<String>()) } else { text }
    };
    if let (Some(Value::Array(x)), Some(Value::Array(y))) = (&change.from, &change.to) {
        let removed: Vec<String> =
            x.iter().filter(|v| !y.contains(v)).map(|v| format!("-{}", short(&Some(v.clone())))).collect();
        let added: Vec<String> =
            y.iter().filter(|v| !x.contains(v)).map(|v| format!("+{}", short(&Some(v.clone())))).collect();
        if !removed.is_empty() || !added.is_empty() {
            return removed.into_iter().chain(added).collect::<Vec<_>>().join("  ");
        }
    }
    format!("{} → {}", short(&change.from), short(&change.to))
}

/// Nanoseconds as a duration, NanoCPUs as cpus, bytes with a unit.
fn human_number(key: &str, n: &serde_json::Number) -> String {
    let Some(v) = n.as_i64() else { return n.to_string() };
    match key {
        "Interval" | "Timeout" | "StartPeriod" | "StartInterval" | "Delay" | "Monitor" | "Window"
        | "StopGracePeriod" => {
            if v % 1_000_000_000 == 0 {
                format!("{}s", v / 1_000_000_000)
            } else {
                format!("{}ms", v / 1_000_000)
            }
        }
        "NanoCPUs" => format!("{} cpus", v as f64 / 1e9),
        "MemoryBytes" if v % (1 << 20) == 0 => format!("{}M", v >> 20),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::Service;

    fn engine_spec() -> ServiceSpec {
        let text = include_str!("testdata/engine_service.json").replace("\"Healthcheck\"", "\"HealthCheck\"");
        let service: Service = serde_json::from_str(&text).unwrap();
        service.spec.unwrap()
    }

    /// The spec as sent to create the service in testdata (from the same
    /// fields) equals what the engine gave back.
    #[test]
    fn engine_defaults_are_not_differences() {
        let current = engine_spec();
        let mut sent = current.clone();
        let tt = sent.task_template.as_mut().unwrap();
        tt.force_update = None;
        tt.runtime = None;
        tt.restart_policy.as_mut().unwrap().max_attempts = None;
        let cs = tt.container_spec.as_mut().unwrap();
        cs.isolation = None;
        cs.configs.as_mut().unwrap()[0].config_id = None;
        sent.update_config.as_mut().unwrap().delay = Some(0);
        assert!(same(&current, &sent), "{:#?}", diff(&current, &sent));
    }

    #[test]
    fn differences_are_named() {
        let current = engine_spec();
        let mut desired = current.clone();
        let cs = desired.task_template.as_mut().unwrap().container_spec.as_mut().unwrap();
        cs.image = Some("other@sha256:00".into());
        cs.configs.as_mut().unwrap()[0].config_name = Some("exp_cfg_2".into());
        desired.mode.as_mut().unwrap().replicated.as_mut().unwrap().replicas = Some(0);
        let changes = diff(&current, &desired);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["image", "configs", "mode/replicas"]);
        assert_eq!(changes[1].path, "TaskTemplate.ContainerSpec.Configs[0].ConfigName");
        assert_eq!(describe(&changes[2]), "1 → 0");
    }

    /// A change of any hardening field is a difference (so it rolls), named
    /// as stack.toml names it.
    #[test]
    fn hardening_changes_are_differences() {
        let current = engine_spec();
        let mut desired = current.clone();
        let tt = desired.task_template.as_mut().unwrap();
        let cs = tt.container_spec.as_mut().unwrap();
        cs.user = Some("65534:65534".into());
        cs.read_only = Some(true);
        cs.capability_drop = Some(vec!["ALL".into()]);
        cs.capability_add = Some(vec!["DAC_READ_SEARCH".into()]);
        tt.resources.as_mut().unwrap().limits.get_or_insert_with(Default::default).pids = Some(64);
        let fields: Vec<String> = diff(&current, &desired).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["user", "read_only", "cap_drop", "cap_add", "pids"]);
    }
}
