//! One revision of the stack: what a deploy (or rollback) set out to do,
//! written to the Swarm *before* the first change, so whoever finds it
//! in progress can put every service back.

use std::collections::BTreeMap;

use bollard::models::ServiceSpec;
use serde::{Deserialize, Serialize};

/// What happened to one service in a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Remove,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Remove => "remove",
            Action::Unchanged => "unchanged",
        }
    }
}

/// How a revision ended; kept in the revision config's labels (the data
/// of a Swarm config cannot change, its labels can).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    InProgress,
    Succeeded,
    RolledBack,
    RollbackFailed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "in-progress",
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled-back",
            Outcome::RollbackFailed => "rollback-failed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::InProgress, Outcome::Succeeded, Outcome::RolledBack, Outcome::RollbackFailed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `cargo xtask deploy` of a bundle.
    Deploy,
    /// `cargo xtask rollback`: back to the specs of an earlier revision.
    Rollback,
    /// `cargo xtask secret set|rotate`: the running specs with one secret's
    /// new version.
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deploy => "deploy",
            Kind::Rollback => "rollback",
            Kind::Secret => "secret",
        }
    }
}

/// One service in a revision. `previous` is the full spec as it ran
/// before (none for a created service), `next` the full spec after (none
/// for a removed one). Unchanged services carry `next` only, so every
/// revision holds the whole stack and `rollback --to` can rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ServiceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<ServiceSpec>,
    /// Names of the fields that differ (`image`, `configs`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// The record written as the data of config `<stack>__xtask_rev_<N>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub format: u32,
    pub stack: String,
    pub number: u64,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<u64>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `user@host`.
    pub by: String,
    pub pid: u32,
    /// sha256 of the bundle's stack file and configs lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_digest: Option<String>,
    /// Short service name → record.
    pub services: BTreeMap<String, ServiceRecord>,
    /// Configs this revision created (named by content hash).
    #[serde(default)]
    pub configs_created: Vec<String>,
}

impl Revision {
    pub const FORMAT: u32 = 1;

    /// Services the revision changes (created, updated or removed).
    pub fn touched(&self) -> impl Iterator<Item = (&String, &ServiceRecord)> {
        self.services.iter().filter(|(_, r)| r.action != Action::Unchanged)
    }

    /// Config names the stack uses after this revision.
    pub fn configs_used(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .services
            .values()
            .filter_map(|r| r.next.as_ref())
            .flat_map(crate::swarm::desired::config_names)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Secret versions the stack mounts after this revision.
    pub fn secrets_used(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .services
            .values()
            .filter_map(|r| r.next.as_ref())
            .flat_map(crate::swarm::desired::secret_names)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// `2 updated (prometheus: configs; grafana: image), 1 created (loki)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for action in [Action::Create, Action::Update, Action::Remove] {
            let names: Vec<String> = self
                .services
                .iter()
                .filter(|(_, r)| r.action == action)
                .map(|(n, r)| if r.changed.is_empty() { n.clone() } else { format!("{n}: {}", r.changed.join(", ")) })
                .collect();
            if !names.is_empty() {
                let verb = match action {
                    Action::Create => "created",
                    Action::Update => "updated",
                    _ => "removed",
                };
                parts.push(format!("{} {verb} ({})", names.len(), names.join("; ")));
            }
        }
        if parts.is_empty() { "no change".to_owned() } else { parts.join(", ") }
    }
}

/// `user@host` of this process, its host name and pid.
pub fn who() -> (String, String, u32) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".into());
    let host = hostname();
    (format!("{user}@{host}"), host, std::process::id())
}

/// The name of this process's uid in /etc/passwd (no USER in CI, cron…).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)? == uid).then(|| name.to_owned())
        })
        .or(Some(format!("uid{uid}")))
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use bollard::models::{TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecConfigs};

    use super::*;

    fn spec(image: &str, config: &str) -> ServiceSpec {
        ServiceSpec {
            name: Some("mon_prometheus".into()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.into()),
                    configs: Some(vec![TaskSpecContainerSpecConfigs {
                        config_name: Some(config.into()),
                        config_id: Some("id1".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn record_round_trips_and_summarises() {
        let rev = Revision {
            format: Revision::FORMAT,
            stack: "mon".into(),
            number: 7,
            kind: Kind::Deploy,
            rollback_to: None,
            started_at: "2026-11-26T14:00:00Z".into(),
            by: "ops@host".into(),
            pid: 42,
            bundle_digest: Some("sha256:00".into()),
            services: BTreeMap::from([
                (
                    "prometheus".to_owned(),
                    ServiceRecord {
                        action: Action::Update,
                        previous: Some(spec("p:1", "mon_prometheus_yml_a")),
                        next: Some(spec("p:1", "mon_prometheus_yml_b")),
                        changed: vec!["configs".into()],
                    },
                ),
                (
                    "grafana".to_owned(),
                    ServiceRecord {
                        action: Action::Unchanged,
                        previous: None,
                        next: Some(spec("g:1", "mon_ini")),
                        changed: vec![],
                    },
                ),
            ]),
            configs_created: vec!["mon_prometheus_yml_b".into()],
        };
        let json = serde_json::to_string(&rev).unwrap();
        assert!(json.contains("\"action\":\"update\""), "{json}");
        let back: Revision = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rev);
        assert_eq!(rev.summary(), "1 updated (prometheus: configs)");
        assert_eq!(rev.configs_used(), ["mon_ini", "mon_prometheus_yml_b"]);
        assert_eq!(rev.touched().count(), 1);
        assert_eq!(Outcome::parse("rolled-back"), Some(Outcome::RolledBack));
    }
}
