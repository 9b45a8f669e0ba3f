//! Compose service → Swarm `ServiceSpec`, as docker/cli's `convert` package
//! does for `docker stack deploy`: same names (`<stack>_<svc>`, volumes
//! `<stack>_<vol>`), same labels (`com.docker.stack.namespace`,
//! `com.docker.stack.image`), network alias = the short service name, so a
//! stack deployed by either tool looks the same to `docker stack ps`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpec,
    EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile, TaskSpecContainerSpecFile1,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecPlacementPreferences,
    TaskSpecPlacementSpread, TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};

use super::engine::{IMAGE_LABEL, NAMESPACE_LABEL, full_name};
use crate::bundle::compose::{self, ComposeFile};
use crate::source::{ByteSize, Duration};

/// Ids of the objects a spec refers to, by name. Missing ids are left out
/// of the spec (a plan may run before the objects exist); comparison goes
/// by name.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    pub configs: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
    pub networks: HashMap<String, String>,
}

/// Name in the Swarm of a network the file refers to by key.
pub fn network_name(file: &ComposeFile, key: &str) -> String {
    file.networks.get(key).map(|n| n.name.clone()).unwrap_or_else(|| key.to_owned())
}

/// Name in the Swarm of a named volume the file refers to by key.
pub fn volume_name(stack: &str, key: &str) -> String {
    full_name(stack, key)
}

/// The full spec of service `short` of the stack.
pub fn service_spec(
    stack: &str,
    short: &str,
    svc: &compose::Service,
    file: &ComposeFile,
    ids: &Ids,
) -> Result<ServiceSpec> {
    let at = || format!("service `{short}`");
    let namespace = HashMap::from([(NAMESPACE_LABEL.to_owned(), stack.to_owned())]);

    let mut labels: HashMap<String, String> = svc.deploy.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(NAMESPACE_LABEL.into(), stack.into());
    labels.insert(IMAGE_LABEL.into(), svc.image.clone());

    let mounts = svc
        .volumes
        .iter()
        .map(|m| match m.kind {
            compose::MountKind::Volume => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(if file.volumes.contains_key(&m.source) {
                    volume_name(stack, &m.source)
                } else {
                    m.source.clone()
                }),
                target: Some(m.target.clone()),
                read_only: m.read_only.then_some(true),
                volume_options: Some(MountVolumeOptions { labels: Some(namespace.clone()), ..Default::default() }),
                ..Default::default()
            },
            compose::MountKind::Bind => Mount {
                typ: Some(MountType::BIND),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            },
            compose::MountKind::Tmpfs => Mount {
                typ: Some(MountType::TMPFS),
                target: Some(m.target.clone()),
                tmpfs_options: m
                    .tmpfs
                    .as_ref()
                    .map(|t| MountTmpfsOptions { size_bytes: Some(t.size), ..Default::default() }),
                ..Default::default()
            },
        })
        .collect::<Vec<_>>();

    let mut configs = Vec::new();
    for c in &svc.configs {
        let name = &file
            .configs
            .get(&c.source)
            .with_context(|| format!("{}: config `{}` is not in the file", at(), c.source))?
            .name;
        configs.push(TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                name: Some(c.target.clone()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o444),
            }),
            config_id: ids.configs.get(name).cloned(),
            config_name: Some(name.clone()),
            ..Default::default()
        });
    }
    let mut secrets = Vec::new();
    for s in &svc.secrets {
        let name = &file
            .secrets
            .get(&s.source)
            .with_context(|| format!("{}: secret `{}` is not in the file", at(), s.source))?
            .name;
        secrets.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(s.target.clone()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o444),
            }),
            secret_id: ids.secrets.get(name).cloned(),
            secret_name: Some(name.clone()),
        });
    }

    let health_check = match &svc.healthcheck {
        None => None,
        Some(h) => Some(HealthConfig {
            test: Some(h.test.clone()),
            interval: nonzero(nanos(&h.interval).with_context(at)?),
            timeout: nonzero(nanos(&h.timeout).with_context(at)?),
            retries: nonzero(i64::from(h.retries)),
            start_period: nonzero(nanos(&h.start_period).with_context(at)?),
            start_interval: match &h.start_interval {
                Some(i) => nonzero(nanos(i).with_context(at)?),
                None => None,
            },
        }),
    };

    let container = TaskSpecContainerSpec {
        image: Some(svc.image.clone()),
        labels: Some(namespace.clone()),
        command: (!svc.entrypoint.is_empty()).then(|| svc.entrypoint.clone()),
        args: (!svc.command.is_empty()).then(|| svc.command.clone()),
        hostname: svc.hostname.clone(),
        hosts: (!svc.extra_hosts.is_empty())
            .then(|| svc.extra_hosts.iter().map(|h| swarm_host_entry(h)).collect::<Result<Vec<_>>>())
            .transpose()
            .with_context(at)?,
        env: (!svc.environment.is_empty()).then(|| svc.environment.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: svc.user.clone(),
        read_only: svc.read_only.then_some(true),
        // Engine API 1.41 (Docker 20.10) added both lists to ContainerSpec;
        // older engines ignore them, and the comparison would then see a
        // difference on every plan.
        capability_drop: (!svc.cap_drop.is_empty()).then(|| svc.cap_drop.clone()),
        capability_add: (!svc.cap_add.is_empty()).then(|| svc.cap_add.clone()),
        mounts: (!mounts.is_empty()).then_some(mounts),
        health_check,
        secrets: (!secrets.is_empty()).then_some(secrets),
        configs: (!configs.is_empty()).then_some(configs),
        ..Default::default()
    };

    let networks = svc
        .networks
        .iter()
        .map(|key| {
            let name = network_name(file, key);
            NetworkAttachmentConfig {
                target: Some(ids.networks.get(&name).cloned().unwrap_or(name)),
                aliases: Some(vec![short.to_owned()]),
                driver_opts: None,
            }
        })
        .collect::<Vec<_>>();

    let d = &svc.deploy;
    if d.resources.reservations.pids.is_some() {
        bail!("{}: `pids` is a limit, not a reservation", at());
    }
    let resources = TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: Some(nano_cpus(&d.resources.limits.cpus).with_context(at)?),
            memory_bytes: Some(bytes(&d.resources.limits.memory).with_context(at)?),
            pids: d.resources.limits.pids.map(i64::from),
        }),
        reservations: Some(ResourceObject {
            nano_cpus: Some(nano_cpus(&d.resources.reservations.cpus).with_context(at)?),
            memory_bytes: Some(bytes(&d.resources.reservations.memory).with_context(at)?),
            generic_resources: None,
        }),
        ..Default::default()
    };
    let restart = TaskSpecRestartPolicy {
        condition: Some(match d.restart_policy.condition.as_str() {
            "any" => TaskSpecRestartPolicyConditionEnum::ANY,
            "on-failure" => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
            "none" => TaskSpecRestartPolicyConditionEnum::NONE,
            other => bail!("{}: restart condition `{other}`", at()),
        }),
        delay: Some(nanos(&d.restart_policy.delay).with_context(at)?),
        window: Some(nanos(&d.restart_policy.window).with_context(at)?),
        max_attempts: None,
    };
    let placement = d.placement.as_ref().map(|p| TaskSpecPlacement {
        constraints: (!p.constraints.is_empty()).then(|| p.constraints.clone()),
        preferences: (!p.preferences.is_empty()).then(|| {
            p.preferences
                .iter()
                .map(|pref| TaskSpecPlacementPreferences {
                    spread: Some(TaskSpecPlacementSpread { spread_descriptor: Some(pref.spread.clone()) }),
                })
                .collect()
        }),
        ..Default::default()
    });

    let mode = match d.mode.as_str() {
        "replicated" => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(i64::from(d.replicas.unwrap_or(1))) }),
            ..Default::default()
        },
        "global" => ServiceSpecMode { global: Some(HashMap::new()), ..Default::default() },
        other => bail!("{}: mode `{other}`", at()),
    };

    let ports = svc
        .ports
        .iter()
        .map(|p| {
            Ok(EndpointPortConfig {
                name: None,
                protocol: Some(match p.protocol.as_str() {
                    "tcp" => EndpointPortConfigProtocolEnum::TCP,
                    "udp" => EndpointPortConfigProtocolEnum::UDP,
                    "sctp" => EndpointPortConfigProtocolEnum::SCTP,
                    other => bail!("{}: port protocol `{other}`", at()),
                }),
                target_port: Some(i64::from(p.target)),
                published_port: Some(i64::from(p.published)),
                publish_mode: Some(match p.mode.as_str() {
                    "ingress" => EndpointPortConfigPublishModeEnum::INGRESS,
                    "host" => EndpointPortConfigPublishModeEnum::HOST,
                    other => bail!("{}: port mode `{other}`", at()),
                }),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let endpoint = EndpointSpec {
        mode: Some(match d.endpoint_mode.as_str() {
            "vip" => EndpointSpecModeEnum::VIP,
            "dnsrr" => EndpointSpecModeEnum::DNSRR,
            other => bail!("{}: endpoint_mode `{other}`", at()),
        }),
        ports: (!ports.is_empty()).then_some(ports),
    };

    Ok(ServiceSpec {
        name: Some(full_name(stack, short)),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(resources),
            restart_policy: Some(restart),
            placement,
            networks: (!networks.is_empty()).then_some(networks),
            log_driver: Some(TaskSpecLogDriver {
                name: Some(svc.logging.driver.clone()),
                options: (!svc.logging.options.is_empty())
                    .then(|| svc.logging.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            }),
            ..Default::default()
        }),
        mode: Some(mode),
        update_config: Some(update_config(&d.update_config).with_context(|| format!("{}: update_config", at()))?),
        rollback_config: Some(
            rollback_config(&d.rollback_config).with_context(|| format!("{}: rollback_config", at()))?,
        ),
        networks: None,
        endpoint_spec: Some(endpoint),
    })
}

/// Compose's `name:address` as the engine's `address name` (hosts-file
/// order), which is how docker/cli's `convertExtraHosts` hands it over.
fn swarm_host_entry(entry: &str) -> Result<String> {
    let Some((name, address)) = entry.split_once(':') else {
        bail!("extra host `{entry}` is not `name:address`");
    };
    Ok(format!("{address} {name}"))
}

/// Every service's spec, by short name.
pub fn stack_specs(stack: &str, file: &ComposeFile, ids: &Ids) -> Result<BTreeMap<String, ServiceSpec>> {
    file.services.iter().map(|(name, svc)| Ok((name.clone(), service_spec(stack, name, svc, file, ids)?))).collect()
}

fn update_config(u: &compose::UpdateConfig) -> Result<ServiceSpecUpdateConfig> {
    Ok(ServiceSpecUpdateConfig {
        parallelism: Some(i64::from(u.parallelism)),
        delay: Some(nanos(&u.delay)?),
        failure_action: Some(match u.failure_action.as_str() {
            "continue" => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
            "pause" => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            "rollback" => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
            other => bail!("failure_action `{other}`"),
        }),
        monitor: Some(nanos(&u.monitor)?),
        max_failure_ratio: Some(u.max_failure_ratio),
        order: Some(order(&u.order)?),
    })
}

fn rollback_config(u: &compose::UpdateConfig) -> Result<ServiceSpecRollbackConfig> {
    Ok(ServiceSpecRollbackConfig {
        parallelism: Some(i64::from(u.parallelism)),
        delay: Some(nanos(&u.delay)?),
        failure_action: Some(match u.failure_action.as_str() {
            "continue" => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            "pause" => ServiceSpecRollbackConfigFailureActionEnum::PAUSE,
            other => bail!("failure_action `{other}` (a rollback can only pause or continue)"),
        }),
        monitor: Some(nanos(&u.monitor)?),
        max_failure_ratio: Some(u.max_failure_ratio),
        order: Some(match order(&u.order)? {
            ServiceSpecUpdateConfigOrderEnum::START_FIRST => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
            _ => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
        }),
    })
}

fn order(s: &str) -> Result<ServiceSpecUpdateConfigOrderEnum> {
    Ok(match s {
        "stop-first" => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        "start-first" => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        other => bail!("order `{other}`"),
    })
}

fn nanos(text: &str) -> Result<i64> {
    Ok(text.parse::<Duration>()?.nanos())
}

fn bytes(text: &str) -> Result<i64> {
    Ok(text.parse::<ByteSize>()?.bytes())
}

fn nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

/// `"0.25"` → 250 000 000, exactly (no float rounding).
pub fn nano_cpus(text: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("cpus `{text}` is not a decimal number");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
    whole.checked_mul(1_000_000_000).and_then(|w| w.checked_add(frac)).filter(|v| *v >= 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
version: "3.9"
services:
  prometheus:
    image: reg/prometheus:3@sha256:aa
    command: ["--config.file=/etc/prometheus/prometheus.yml"]
    environment: {A: "1"}
    user: "65534:65534"
    read_only: true
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    ports: [{target: 9090, published: 9090, protocol: tcp, mode: host}]
    volumes:
      - {type: volume, source: prometheus_data, target: /prometheus}
      - {type: bind, source: /proc, target: /host/proc, read_only: true}
      - {type: tmpfs, target: /tmp, tmpfs: {size: 1048576}}
    configs: [{source: prometheus_yml, target: /etc/prometheus/prometheus.yml}]
    secrets: [{source: token, target: token}]
    networks: [etl]
    healthcheck: {test: [CMD, wget, http://127.0.0.1:9090/-/ready], interval: 15s, timeout: 5s, retries: 3, start_period: 1m}
    logging: {driver: json-file, options: {max-size: 10m}}
    deploy:
      mode: replicated
      replicas: 1
      endpoint_mode: dnsrr
      placement: {constraints: ["node.labels.monitoring == true"]}
      resources: {limits: {cpus: "0.25", memory: 256M, pids: 128}, reservations: {cpus: "0.1", memory: 64M}}
      restart_policy: {condition: any, delay: 5s, window: 30s}
      update_config: {parallelism: 1, delay: 0s, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.0, order: stop-first}
      rollback_config: {parallelism: 1, delay: 0s, failure_action: pause, monitor: 10s, max_failure_ratio: 0.0, order: stop-first}
configs:
  prometheus_yml: {name: mon_prometheus_yml_0123456789ab, file: ./configs/x}
secrets:
  token: {name: mon_token, external: true}
networks:
  etl: {name: etl_network, external: true}
volumes:
  prometheus_data: {}
"#;

    /// Names, labels and units as `docker stack deploy` would make them.
    #[test]
    fn like_docker_stack_deploy() {
        let file: ComposeFile = serde_saphyr::from_str(FILE).unwrap();
        let ids = Ids {
            configs: HashMap::from([("mon_prometheus_yml_0123456789ab".into(), "cid".into())]),
            secrets: HashMap::new(),
            networks: HashMap::from([("etl_network".into(), "nid".into())]),
        };
        let spec = service_spec("mon", "prometheus", &file.services["prometheus"], &file, &ids).unwrap();
        assert_eq!(spec.name.as_deref(), Some("mon_prometheus"));
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels[NAMESPACE_LABEL], "mon");
        assert_eq!(labels[IMAGE_LABEL], "reg/prometheus:3@sha256:aa");
        let tt = spec.task_template.as_ref().unwrap();
        let cs = tt.container_spec.as_ref().unwrap();
        assert_eq!(cs.args.as_deref(), Some(&["--config.file=/etc/prometheus/prometheus.yml".to_owned()][..]));
        assert_eq!(cs.env.as_deref(), Some(&["A=1".to_owned()][..]));
        let mounts = cs.mounts.as_ref().unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("mon_prometheus_data"));
        assert_eq!(mounts[0].volume_options.as_ref().unwrap().labels.as_ref().unwrap()[NAMESPACE_LABEL], "mon");
        assert_eq!((mounts[1].source.as_deref(), mounts[1].read_only), (Some("/proc"), Some(true)));
        assert_eq!((mounts[2].typ, mounts[2].source.as_deref()), (Some(MountType::TMPFS), None));
        assert_eq!(mounts[2].tmpfs_options.as_ref().unwrap().size_bytes, Some(1 << 20));
        assert_eq!((cs.user.as_deref(), cs.read_only), (Some("65534:65534"), Some(true)));
        assert_eq!(cs.capability_drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert_eq!(cs.capability_add.as_deref(), Some(&["NET_BIND_SERVICE".to_owned()][..]));
        let config = &cs.configs.as_ref().unwrap()[0];
        assert_eq!(
            (config.config_id.as_deref(), config.config_name.as_deref()),
            (Some("cid"), Some("mon_prometheus_yml_0123456789ab"))
        );
        assert_eq!(config.file.as_ref().unwrap().mode, Some(0o444));
        let secret = &cs.secrets.as_ref().unwrap()[0];
        assert_eq!((secret.secret_id.as_deref(), secret.secret_name.as_deref()), (None, Some("mon_token")));
        let health = cs.health_check.as_ref().unwrap();
        assert_eq!(
            (health.interval, health.start_period, health.retries),
            (Some(15_000_000_000), Some(60_000_000_000), Some(3))
        );
        let net = &tt.networks.as_ref().unwrap()[0];
        assert_eq!(
            (net.target.as_deref(), net.aliases.as_deref()),
            (Some("nid"), Some(&["prometheus".to_owned()][..]))
        );
        let limits = tt.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(
            (limits.nano_cpus, limits.memory_bytes, limits.pids),
            (Some(250_000_000), Some(256 << 20), Some(128))
        );
        assert_eq!(spec.update_config.as_ref().unwrap().monitor, Some(10_000_000_000));
        let endpoint = spec.endpoint_spec.as_ref().unwrap();
        assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::DNSRR));
        assert_eq!(endpoint.ports.as_ref().unwrap()[0].publish_mode, Some(EndpointPortConfigPublishModeEnum::HOST));
    }

    #[test]
    fn cpus_are_exact() {
        assert_eq!(nano_cpus("0.25").unwrap(), 250_000_000);
        assert_eq!(nano_cpus("2.0").unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus("0.1").unwrap(), 100_000_000);
        assert_eq!(nano_cpus("3").unwrap(), 3_000_000_000);
        assert!(nano_cpus("-1").is_err());
        assert!(nano_cpus("a").is_err());
    }
}
