//! The subset of the Compose file format (version 3.12) the bundle uses.
//! 3.12 is the first version whose schema (docker/cli `loader/schema`) has a
//! health check's `start_interval`; 3.9 was the first with
//! `deploy.resources.limits.pids` (`docker stack config` 28.2.2 rejects it
//! under 3.8: "Additional property pids is not allowed").
//! Rendering writes it and deploy reads it back, through the same types, so
//! what `docker stack deploy` would apply and what `cargo xtask deploy`
//! applies come from one file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    pub version: String,
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, ConfigRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "dollar::list")]
    pub entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "dollar::list")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "dollar::map")]
    pub environment: BTreeMap<String, String>,
    /// `uid[:gid]` the process runs as; the image's `USER` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileMount>,
    pub networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    pub logging: Logging,
    pub deploy: Deploy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub target: u16,
    pub published: u16,
    pub protocol: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Empty for a tmpfs mount, which has no source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

/// Compose's tmpfs options. Only the size: the 3.x schema has no `mode`
/// (`docker stack config` drops it), and the kernel's default mode of a
/// tmpfs root, 1777, lets a non-root process write there anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    /// Bytes.
    pub size: i64,
}

/// A config or secret mounted into a service: `source` is the key under the
/// file's top-level `configs:`/`secrets:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMount {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(with = "dollar::list")]
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    pub endpoint_mode: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
    pub update_config: UpdateConfig,
    pub rollback_config: UpdateConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    pub spread: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub limits: ResourceSet,
    pub reservations: ResourceSet,
}

/// `cpus` is a decimal string as compose writes it (`"0.25"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSet {
    pub cpus: String,
    pub memory: String,
    /// Process (and thread) limit; only under `limits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    pub condition: String,
    pub delay: String,
    pub window: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    pub parallelism: u32,
    pub delay: String,
    pub failure_action: String,
    pub monitor: String,
    pub max_failure_ratio: f64,
    pub order: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRef {
    pub name: String,
    pub file: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's family, `<stack>_<key>`: `cargo xtask deploy` mounts
    /// its newest version, `<family>_v<N>` (see [`super::secret_names`]).
    pub name: String,
    pub external: bool,
    /// How a version is generated, when it can be (a Compose extension
    /// field: `docker stack deploy` ignores it).
    #[serde(rename = "x-generate", default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<SecretGenerate>,
    /// The stand-in `deploy --init` creates when it cannot generate one
    /// (not a credential: e.g. a URL that resolves nowhere).
    #[serde(rename = "x-default", default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Said after `cargo xtask secret set|rotate` rolled a new version out.
    #[serde(rename = "x-after-change", default, skip_serializing_if = "Option::is_none")]
    pub after_change: Option<String>,
}

/// `length` random characters of `[A-Za-z0-9]`; a `placeholder` only
/// stands in until the operator sets the real value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretGenerate {
    pub length: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placeholder: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRef {
    pub name: String,
    pub external: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Compose interpolates `${VAR}` in values, so a literal `$` (a regex anchor
/// in a flag, say) is written `$$`. In memory the values are the real ones:
/// escaped on the way out, unescaped on the way in.
mod dollar {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

    fn escape(s: &str) -> String {
        s.replace('$', "$$")
    }

    fn unescape(s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '$' && chars.next() != Some('$') {
                return Err(format!(
                    "`{s}`: variable interpolation is not supported in a rendered bundle (write `$$` for `$`)"
                ));
            }
            out.push(c);
        }
        Ok(out)
    }

    pub mod list {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|x| escape(x)).collect::<Vec<_>>().serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
            Vec::<String>::deserialize(d)?.iter().map(|x| unescape(x).map_err(D::Error::custom)).collect()
        }
    }

    pub mod map {
        use super::*;

        pub fn serialize<S: Serializer>(v: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
            v.iter().map(|(k, x)| (k.clone(), escape(x))).collect::<BTreeMap<_, _>>().serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
            BTreeMap::<String, String>::deserialize(d)?
                .into_iter()
                .map(|(k, x)| unescape(&x).map(|x| (k, x)).map_err(D::Error::custom))
                .collect()
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip() {
            assert_eq!(super::escape("a$b$$"), "a$$b$$$$");
            assert_eq!(super::unescape("a$$b$$$$").unwrap(), "a$b$$");
            assert!(super::unescape("${HOME}").is_err());
        }
    }
}
