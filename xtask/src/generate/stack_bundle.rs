//! Renders the stack definition into the bundle: the compose file with
//! pinned images and hash-named configs, the configs lock, and a copy of
//! every config file under its Swarm name.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::write::GeneratedFile;
use crate::bundle::{self, ConfigsLock, LockedConfig, compose};
use crate::source::{Digest, EndpointMode, Mode, PublishMode, ServiceDef, ServiceNetwork, Source};

/// Label on every object the stack owns, as `docker stack deploy` sets it,
/// so `docker stack ps`/`docker stack rm` work beside the xtask.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// The bundle's files. `generated` holds files produced in this same run
/// (dashboards, rules): configs naming them use that content, not the disk's,
/// so one `gen` is always self-consistent.
pub fn render(source: &Source, generated: &BTreeMap<String, String>) -> Result<Vec<GeneratedFile>> {
    let def = &source.definition;
    let stack = def.stack.name.as_str();
    let read = |path: &str| -> Result<String> {
        match generated.get(path) {
            Some(text) => Ok(text.clone()),
            None => std::fs::read_to_string(source.root.join(path)).with_context(|| format!("reading {path}")),
        }
    };

    // Every config: key -> (source path, contents).
    let mut configs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (key, path) in &def.configs {
        configs.insert(key.clone(), (path.clone(), read(path)?));
    }
    // Config sets: key -> [(file name, config key)].
    let mut sets: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (set_key, set) in &def.config_sets {
        let mut members = Vec::new();
        for path in set_members(source, generated, &set.dir, &set.extension)? {
            let file_name = path.rsplit('/').next().unwrap_or(&path).to_owned();
            let stem = file_name.strip_suffix(&format!(".{}", set.extension)).unwrap_or(&file_name);
            let key = format!("{}_{}", set.prefix, sanitize(stem));
            if configs.contains_key(&key) {
                anyhow::bail!("config set `{set_key}`: key `{key}` (from {path}) collides with another config");
            }
            configs.insert(key.clone(), (path.clone(), read(&path)?));
            members.push((file_name, key));
        }
        sets.insert(set_key.as_str(), members);
    }

    let mut files = Vec::new();
    let mut lock = ConfigsLock { version: ConfigsLock::VERSION, stack: stack.to_owned(), configs: Vec::new() };
    let mut compose_configs = BTreeMap::new();
    for (key, (path, contents)) in &configs {
        let digest = Digest::of(contents.as_bytes());
        let name = bundle::config_name(stack, key, &digest);
        let file = format!("{}/{name}", bundle::CONFIGS_DIR);
        files.push(GeneratedFile { path: format!("{}/{file}", bundle::DIR), contents: contents.clone() });
        lock.configs.push(LockedConfig {
            key: key.clone(),
            name: name.clone(),
            source: path.clone(),
            sha256: digest.hex().to_owned(),
        });
        compose_configs.insert(
            key.clone(),
            compose::ConfigRef { name, file: format!("./{file}"), labels: namespace_labels(stack) },
        );
    }

    let mut services = BTreeMap::new();
    let mut volumes = BTreeMap::new();
    for (name, svc) in &def.services {
        for v in &svc.volumes {
            volumes.insert(v.source.clone(), compose::VolumeDef::default());
        }
        services.insert(name.clone(), render_service(source, name, svc, &sets)?);
    }

    let secrets = def
        .secrets
        .iter()
        .map(|(k, s)| {
            let generate = s.generate.map(|g| compose::SecretGenerate { length: g.length, placeholder: g.placeholder });
            let secret = compose::SecretRef {
                name: bundle::secret_family(stack, k),
                external: true,
                generate,
                default: s.default.clone(),
                after_change: s.after_change.clone(),
            };
            (k.clone(), secret)
        })
        .collect();
    let network = &def.stack.network;
    let mut networks =
        BTreeMap::from([(network.clone(), compose::NetworkRef { name: network.clone(), external: true })]);
    if def.services.values().any(|s| s.network == ServiceNetwork::Host) {
        networks.insert(HOST_NETWORK_KEY.to_owned(), compose::NetworkRef { name: "host".to_owned(), external: true });
    }
    let file = compose::ComposeFile {
        // 3.12: the first version whose schema has `start_interval`
        // (`docker stack deploy` needs a 25+ client for it).
        version: COMPOSE_VERSION.to_owned(),
        services,
        configs: compose_configs,
        secrets,
        networks,
        volumes,
    };
    // Plain scalars on one line each: a reviewer greps image references and
    // flags, so nothing may be folded across lines.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    let yaml = serde_saphyr::to_string_with_options(&file, options).context("serialising the stack file")?;
    let header = "# Generated by `cargo xtask gen` from stack/stack.toml: do not edit.\n";
    files.push(GeneratedFile {
        path: format!("{}/{}", bundle::DIR, bundle::STACK_FILE),
        contents: format!("{header}{yaml}"),
    });
    files.push(GeneratedFile { path: format!("{}/{}", bundle::DIR, bundle::CONFIGS_LOCK), contents: lock.render() });
    Ok(files)
}

fn render_service(
    source: &Source,
    name: &str,
    svc: &ServiceDef,
    sets: &BTreeMap<&str, Vec<(String, String)>>,
) -> Result<compose::Service> {
    let def = &source.definition;
    let settings = &def.stack;
    let image = source
        .image_reference(&svc.image)
        .with_context(|| format!("service `{name}`: image `{}` has no pin", svc.image))?;
    let publish_mode = match settings.publish_mode {
        PublishMode::Ingress => "ingress",
        PublishMode::Host => "host",
    };
    let ports = svc
        .ports
        .iter()
        .map(|p| compose::Port {
            target: p.target,
            published: p.published,
            protocol: "tcp".into(),
            mode: publish_mode.into(),
        })
        .collect();
    let mut mounts: Vec<compose::Mount> = svc
        .volumes
        .iter()
        .map(|v| compose::Mount {
            kind: compose::MountKind::Volume,
            source: v.source.clone(),
            target: v.target.clone(),
            read_only: v.read_only,
            tmpfs: None,
        })
        .collect();
    mounts.extend(svc.binds.iter().map(|b| compose::Mount {
        kind: compose::MountKind::Bind,
        source: b.source.clone(),
        target: b.target.clone(),
        read_only: b.read_only,
        tmpfs: None,
    }));
    let hardening = &svc.hardening;
    mounts.extend(hardening.tmpfs.iter().map(|t| compose::Mount {
        kind: compose::MountKind::Tmpfs,
        source: String::new(),
        target: t.target.clone(),
        read_only: false,
        tmpfs: Some(compose::TmpfsOptions { size: t.size.bytes() }),
    }));
    let mut configs: Vec<compose::FileMount> =
        svc.configs.iter().map(|c| compose::FileMount { source: c.source.clone(), target: c.target.clone() }).collect();
    for m in &svc.config_sets {
        for (file_name, key) in sets.get(m.source.as_str()).into_iter().flatten() {
            configs.push(compose::FileMount { source: key.clone(), target: format!("{}/{file_name}", m.target_dir) });
        }
    }
    let secrets =
        svc.secrets.iter().map(|s| compose::FileMount { source: s.source.clone(), target: s.target.clone() }).collect();
    let healthcheck = svc.health.as_ref().map(|h| compose::Healthcheck {
        test: h.test.clone(),
        interval: h.interval.to_string(),
        timeout: h.timeout.to_string(),
        retries: h.retries,
        start_period: h.start_period.to_string(),
        start_interval: h.start_interval.as_ref().map(ToString::to_string),
    });

    // Two tasks cannot share a data directory, nor one host port on a node:
    // those services must stop the old task before starting the new one.
    let holds_host_port = settings.publish_mode == PublishMode::Host && !svc.ports.is_empty();
    let order = if svc.stateful || holds_host_port || svc.mode == Mode::Global { "stop-first" } else { "start-first" };
    let parallelism = update_parallelism(svc.mode);
    let update = |failure_action: &str| compose::UpdateConfig {
        parallelism,
        delay: "0s".into(),
        failure_action: failure_action.into(),
        monitor: "10s".into(),
        max_failure_ratio: 0.0,
        order: order.into(),
    };
    let mut constraints = Vec::new();
    if svc.stateful {
        constraints.push(settings.stateful_constraint.clone());
    }
    constraints.extend(svc.placement.iter().cloned());
    let preferences: Vec<compose::PlacementPreference> =
        svc.spread.iter().map(|d| compose::PlacementPreference { spread: d.clone() }).collect();
    let network = match svc.network {
        ServiceNetwork::Stack => settings.network.clone(),
        ServiceNetwork::Host => HOST_NETWORK_KEY.to_owned(),
    };
    let r = &svc.resources;
    Ok(compose::Service {
        image,
        entrypoint: svc.entrypoint.clone(),
        command: svc.args.clone(),
        environment: svc.environment.clone(),
        user: hardening.user.clone(),
        read_only: hardening.read_only,
        cap_drop: hardening.cap_drop.clone(),
        cap_add: hardening.cap_add.clone(),
        ports,
        volumes: mounts,
        configs,
        secrets,
        networks: vec![network],
        hostname: svc.hostname.clone(),
        extra_hosts: svc.extra_hosts.clone(),
        healthcheck,
        logging: compose::Logging {
            driver: "json-file".into(),
            options: BTreeMap::from([
                ("max-size".into(), settings.log_max_size.to_string()),
                ("max-file".into(), settings.log_max_file.to_string()),
            ]),
        },
        deploy: compose::Deploy {
            mode: match svc.mode {
                Mode::Replicated => "replicated".into(),
                Mode::Global => "global".into(),
            },
            replicas: (svc.mode == Mode::Replicated).then_some(svc.replicas),
            endpoint_mode: match settings.endpoint_mode {
                EndpointMode::Vip => "vip".into(),
                EndpointMode::Dnsrr => "dnsrr".into(),
            },
            labels: BTreeMap::new(),
            placement: (!constraints.is_empty() || !preferences.is_empty())
                .then_some(compose::Placement { constraints, preferences }),
            resources: compose::Resources {
                limits: compose::ResourceSet { cpus: cpus(r.cpus), memory: r.memory.to_string(), pids: hardening.pids },
                reservations: compose::ResourceSet {
                    cpus: cpus(r.reserve_cpus),
                    memory: r.reserve_memory.to_string(),
                    pids: None,
                },
            },
            restart_policy: compose::RestartPolicy {
                condition: "any".into(),
                delay: "5s".into(),
                window: "30s".into(),
            },
            // Swarm's own per-service rollback is the fallback for people who
            // run `docker stack deploy`; `cargo xtask deploy` watches the
            // whole stack and rolls every service back together.
            update_config: update("rollback"),
            rollback_config: update("pause"),
        },
    })
}

/// Compose key of the engine's `host` network (a service on it shares the
/// node's network namespace; `docker stack deploy` needs it declared as an
/// external network by that name).
pub const HOST_NETWORK_KEY: &str = "hostnet";

fn namespace_labels(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NAMESPACE_LABEL.to_owned(), stack.to_owned())])
}

/// Files of a config set: generated this run if the directory is a
/// generated one, else what is on disk.
fn set_members(source: &Source, generated: &BTreeMap<String, String>, dir: &str, ext: &str) -> Result<Vec<String>> {
    let prefix = format!("{dir}/");
    let suffix = format!(".{ext}");
    let from_generated: Vec<String> = generated
        .keys()
        .filter(|p| p.starts_with(&prefix) && !p[prefix.len()..].contains('/') && p.ends_with(&suffix))
        .cloned()
        .collect();
    if generated.keys().any(|p| p.starts_with(&prefix)) {
        return Ok(from_generated);
    }
    let mut out = Vec::new();
    let entries = std::fs::read_dir(source.root.join(dir)).with_context(|| format!("listing {dir}"))?;
    for entry in entries {
        let name = entry.with_context(|| format!("listing {dir}"))?.file_name().to_string_lossy().into_owned();
        if name.ends_with(&suffix) {
            out.push(format!("{prefix}{name}"));
        }
    }
    out.sort();
    Ok(out)
}

fn sanitize(stem: &str) -> String {
    stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The compose file version the bundle is written as.
const COMPOSE_VERSION: &str = "3.12";

/// How many tasks Swarm replaces at once in an update (and a rollback).
///
/// A global service runs one task per node, each on its own machine, so
/// replacing them one after the other buys no capacity (every node loses
/// its own exporter/agent for the same few seconds either way, and no
/// other task can stand in for it) but makes a rollout take nodes × the
/// per-task time: 4 nodes took 24.7 s, and 10 nodes of a 30 s health
/// interval would outlast the 300 s deadline. All of them at once (`0`)
/// keeps the rollout as long as one node's, whatever the node count. A
/// bad version then reaches every node at once, but only for as long as
/// its first failing task takes: `cargo xtask deploy` reverts the whole
/// stack on the first failure, and `failure_action: rollback` makes Swarm
/// do the same for `docker stack deploy`.
///
/// A replicated service keeps one at a time: its replicas stand in for
/// each other, so the others keep serving while one is replaced.
fn update_parallelism(mode: Mode) -> u32 {
    match mode {
        Mode::Global => 0,
        Mode::Replicated => 1,
    }
}

fn cpus(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.1}") } else { format!("{value}") }
}
