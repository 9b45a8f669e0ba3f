//! The typed form of `stack/stack.toml`: what people edit. Unknown keys are
//! errors, so a typo cannot silently drop a setting.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::quantity::{ByteSize, Duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackDefinition {
    pub stack: StackSettings,
    pub alerts: AlertSettings,
    pub images: BTreeMap<String, ImageRef>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretDef>,
    /// Config key -> repository-relative file.
    pub configs: BTreeMap<String, String>,
    #[serde(default)]
    pub config_sets: BTreeMap<String, ConfigSetDef>,
    pub services: BTreeMap<String, ServiceDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSettings {
    pub name: String,
    pub network: String,
    pub endpoint_mode: EndpointMode,
    pub publish_mode: PublishMode,
    pub stateful_constraint: String,
    pub log_max_size: ByteSize,
    pub log_max_file: u32,
    /// The platform's own Swarm services (short names, their aliases on
    /// `network`) whose metrics endpoints the collector scrapes: scrape
    /// targets may name them although they are not services of this stack.
    #[serde(default)]
    pub platform_services: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    Vip,
    Dnsrr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    Ingress,
    Host,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Prefix of every alert's `runbook_url`.
    pub runbook_base_url: String,
    /// Grafana as people reach it, for dashboard links in alerts.
    pub grafana_url: String,
}

/// An image of `[images]`: where it is pulled from, and whether its tag is
/// chosen (an upstream release) or computed (built from this workspace).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawImageRef")]
pub struct ImageRef {
    pub repository: String,
    pub origin: ImageOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrigin {
    /// Published by its project; `pin` resolves the tag to a digest.
    Registry { tag: String },
    /// Built from this workspace (the Nix flake): the tag is a hash of the
    /// build's inputs, never chosen by hand (`source::build_inputs`).
    Workspace(WorkspaceBuild),
}

/// What a workspace-built image is made of.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBuild {
    /// The crate's directory (its `Cargo.toml` gives the version).
    pub package: String,
    /// Every file or directory (repository-relative) the image's bytes
    /// depend on: the tag changes when any of them does.
    pub inputs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImageRef {
    repository: String,
    tag: Option<String>,
    build: Option<WorkspaceBuild>,
}

impl TryFrom<RawImageRef> for ImageRef {
    type Error = String;

    fn try_from(raw: RawImageRef) -> Result<ImageRef, String> {
        let origin = match (raw.tag, raw.build) {
            (Some(tag), None) => ImageOrigin::Registry { tag },
            (None, Some(build)) => ImageOrigin::Workspace(build),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "image {}: `tag` or `build`, not both (a built image's tag is computed from its inputs)",
                    raw.repository
                ));
            }
            (None, None) => return Err(format!("image {}: needs a `tag` (or `build`)", raw.repository)),
        };
        Ok(ImageRef { repository: raw.repository, origin })
    }
}

impl ImageRef {
    /// The chosen tag of a registry image (`None` for a built one).
    pub fn tag(&self) -> Option<&str> {
        match &self.origin {
            ImageOrigin::Registry { tag } => Some(tag),
            ImageOrigin::Workspace(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretDef {
    pub description: String,
    /// How `deploy --init` and `secret rotate` make a value; absent, the
    /// operator sets it (`cargo xtask secret set`).
    pub generate: Option<Generate>,
    /// What `deploy --init` puts in when the value cannot be generated: a
    /// visible, harmless stand-in (never a credential) until the operator
    /// sets the real one.
    pub default: Option<String>,
    /// What a new value does not do by itself, said after `cargo xtask
    /// secret set|rotate` rolled it out (e.g. a password a component reads
    /// only once).
    pub after_change: Option<String>,
}

/// A random value from the operating system's generator: `length`
/// characters of `[A-Za-z0-9]` (5.95 bits each: 32 make 190 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub length: u32,
    /// The generated value only stands in until the operator sets the real
    /// one (it authenticates nowhere): `deploy --init` says so, naming the
    /// command, instead of leaving the stack down for want of it.
    #[serde(default)]
    pub placeholder: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetDef {
    pub dir: String,
    pub extension: String,
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Replicated,
    Global,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// Key into `[images]`.
    pub image: String,
    #[serde(default)]
    pub mode: Mode,
    /// Replica count of a replicated service.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Holds data on a named volume: pinned to labelled nodes, and updated
    /// stop-first because two processes cannot share one data directory.
    #[serde(default)]
    pub stateful: bool,
    /// Replaces the image's entrypoint; `args` stay the arguments after it.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Container hostname; may be a Swarm template such as
    /// `{{.Node.Hostname}}`, expanded by the engine per task.
    pub hostname: Option<String>,
    /// Extra `/etc/hosts` entries, compose style `name:address`; the address
    /// `host-gateway` is the engine's own address, i.e. the node.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// Which network the service's tasks join.
    #[serde(default)]
    pub network: ServiceNetwork,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<PortDef>,
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    #[serde(default)]
    pub binds: Vec<BindMount>,
    #[serde(default)]
    pub configs: Vec<ConfigMount>,
    #[serde(default)]
    pub config_sets: Vec<ConfigSetMount>,
    #[serde(default)]
    pub secrets: Vec<SecretMount>,
    #[serde(default)]
    pub placement: Vec<String>,
    /// Placement preferences: spread the tasks evenly over the values of
    /// each descriptor (e.g. `node.hostname`, `node.labels.zone`), in order.
    #[serde(default)]
    pub spread: Vec<String>,
    pub resources: Resources,
    pub health: Option<HealthDef>,
    /// Who the process runs as and what it may do (`[services.<name>.hardening]`).
    #[serde(default)]
    pub hardening: Hardening,
}

/// The container's privileges, as far as a Swarm service can set them
/// (engine API 1.41, Docker 20.10: `User`, `ReadOnly`, `CapabilityAdd`,
/// `CapabilityDrop`, `Resources.Limits.Pids`, tmpfs mounts). `check`
/// reports a service that runs as root or on a writable root filesystem
/// unless the reason is written into `runs_as_root` / `writable_root`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardening {
    /// `uid` or `uid:gid`, numeric (a name depends on the image's
    /// /etc/passwd, and `check` must be able to tell root from non-root).
    pub user: Option<String>,
    /// Mount the image's root filesystem read-only; what the process writes
    /// goes to its volumes and `tmpfs`.
    #[serde(default)]
    pub read_only: bool,
    /// In-memory scratch directories (writable also on a read-only root).
    #[serde(default)]
    pub tmpfs: Vec<TmpfsMount>,
    /// Capabilities removed from Docker's default set (`ALL` for every one).
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Capabilities the component really needs, given back after `cap_drop`.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Most processes (and threads: the kernel counts both) the container
    /// may hold; a runaway fork or goroutine-to-thread leak stops there.
    pub pids: Option<u32>,
    /// Why the service must run as root (uid 0), when it must.
    pub runs_as_root: Option<String>,
    /// Why the service must reach the container engine's API (a bind of
    /// its socket, or of a directory that holds it), when it must.
    pub engine_access: Option<String>,
    /// Why the root filesystem must stay writable, when it must.
    pub writable_root: Option<String>,
}

impl Hardening {
    /// The numeric uid `user` names, if it is set and well-formed.
    pub fn uid(&self) -> Option<u32> {
        self.user.as_deref()?.split(':').next()?.parse().ok()
    }

    /// Runs as uid 0, or as whatever user the image picks (not stated here).
    pub fn runs_as_root(&self) -> bool {
        self.uid().is_none_or(|uid| uid == 0)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsMount {
    pub target: String,
    /// Upper bound of the memory it may use (counted against the task's
    /// memory limit).
    pub size: ByteSize,
}

/// The stack's overlay network, or the node's own network namespace (for
/// agents that must see the host's interfaces; such a task is not on the
/// overlay and has no `tasks.<service>` DNS name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceNetwork {
    #[default]
    Stack,
    Host,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortDef {
    pub target: u16,
    pub published: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    pub source: String,
    pub target: String,
    /// Mounted read-only: the consumers of the Docker API proxy's socket
    /// volumes connect to the socket (which a read-only mount allows) but
    /// cannot replace it.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindMount {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigMount {
    /// Key into `[configs]`.
    pub source: String,
    pub target: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetMount {
    /// Key into `[config_sets]`.
    pub source: String,
    pub target_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretMount {
    /// Key into `[secrets]`.
    pub source: String,
    /// File name under /run/secrets/.
    pub target: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub cpus: f64,
    pub memory: ByteSize,
    pub reserve_cpus: f64,
    pub reserve_memory: ByteSize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthDef {
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    /// Probe interval during `start_period` (engine API ≥ 1.44, Docker 25):
    /// a task is `running`, and a rollout moves on, only after its first
    /// successful probe, so without it every task of an update waits one
    /// full `interval` first. Older engines ignore it.
    pub start_interval: Option<Duration>,
}
