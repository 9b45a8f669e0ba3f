//! The deploy lock, held in the Swarm: config `<stack>__xtask_lock`.
//! Config names are unique, so creating it is acquiring it, atomically, on
//! any manager. Its labels name the holder (user@host, pid, command, start)
//! and carry a heartbeat the holder refreshes every few seconds (a label
//! update moves the config's `UpdatedAt`, on the manager's clock).
//!
//! A lock is stale when its holder is provably gone: same host and the pid
//! is dead (or is another process now), or no heartbeat for
//! [`STALE_AFTER`] seconds by the engine's clock. A stale lock is broken
//! automatically (and the dead deploy's journal is then rolled back); a
//! live one makes the second deploy fail fast naming the holder, unless
//! `--break-lock` says otherwise.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result};
use bollard::models::ConfigSpec;
use bollard::query_parameters::UpdateConfigOptions;

use crate::history::revision::{hostname, who};
use crate::history::store::KIND_LABEL;
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of, status_of};
use crate::swarm::timestamp::Timestamp;

/// Seconds without a heartbeat after which a lock is stale.
pub const STALE_AFTER: f64 = 30.0;
const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Who holds the lock.
#[derive(Debug, Clone)]
pub struct Holder {
    pub by: String,
    pub host: String,
    pub pid: u32,
    pub pid_start: Option<u64>,
    pub command: String,
    pub since: String,
    /// Seconds since the last heartbeat, by the engine's clock.
    pub silent_for: Option<f64>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` by {} (pid {} on {}) since {}", self.command, self.by, self.pid, self.host, self.since)?;
        if let Some(s) = self.silent_for {
            write!(f, ", last heartbeat {s:.0}s ago")?;
        }
        Ok(())
    }
}

impl Holder {
    /// Provably gone: why, or `None` while it may be alive.
    pub fn gone(&self) -> Option<String> {
        if self.host == hostname() {
            match (std::path::Path::new(&format!("/proc/{}", self.pid)).exists(), pid_start(self.pid)) {
                (false, _) => return Some(format!("pid {} no longer runs on {}", self.pid, self.host)),
                (true, Some(now)) if self.pid_start.is_some_and(|s| s != now) => {
                    return Some(format!("pid {} on {} is another process now", self.pid, self.host));
                }
                _ => {}
            }
        }
        match self.silent_for {
            Some(s) if s > STALE_AFTER => Some(format!("no heartbeat for {s:.0}s")),
            _ => None,
        }
    }
}

/// Another live deploy holds the lock: exit code 4.
#[derive(Debug)]
pub struct LockHeld(pub String, pub Holder);

impl fmt::Display for LockHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stack `{}` is locked: {}; wait for it, or if it is dead and on another host, pass --break-lock",
            self.0, self.1
        )
    }
}

impl std::error::Error for LockHeld {}

/// A held lock; [`Lock::release`] removes it. Dropping without release
/// leaves it for the next run to find stale.
#[derive(Debug)]
pub struct Lock {
    engine: Engine,
    config_id: String,
    heartbeat: tokio::task::JoinHandle<()>,
    /// A lock this run broke: whose it was and why.
    pub broke: Option<(Holder, String)>,
}

pub fn config_name(stack: &str) -> String {
    format!("{stack}__xtask_lock")
}

/// Takes the lock. A stale lock is broken (reported in `Lock::broke`);
/// `force` breaks even a live one.
pub async fn acquire(engine: &Engine, stack: &str, command: &str, force: bool) -> Result<Lock> {
    let name = config_name(stack);
    let mut broke = None;
    for _ in 0..3 {
        match create(engine, stack, &name, command).await {
            Ok(id) => {
                let heartbeat = spawn_heartbeat(engine.clone(), id.clone());
                return Ok(Lock { engine: engine.clone(), config_id: id, heartbeat, broke });
            }
            Err(e) if status_of(&e) == Some(409) => {}
            Err(e) => return Err(anyhow::anyhow!("taking the deploy lock {name}: {}", message_of(&e))),
        }
        let Some((id, holder)) = read(engine, stack).await? else { continue };
        let why = match holder.gone() {
            Some(why) => why,
            None if force => "--break-lock".to_owned(),
            None => return Err(LockHeld(stack.to_owned(), holder).into()),
        };
        match engine.docker.delete_config(&id).await {
            Ok(()) => {}
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(anyhow::anyhow!("breaking the deploy lock {name}: {}", message_of(&e))),
        }
        broke = Some((holder, why));
    }
    anyhow::bail!("could not take the deploy lock {name}: it keeps being re-created")
}

/// The current holder, if the lock exists.
pub async fn read(engine: &Engine, stack: &str) -> Result<Option<(String, Holder)>> {
    let name = config_name(stack);
    let config = match engine.docker.inspect_config(&name).await {
        Ok(c) => c,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("reading the deploy lock {name}: {}", message_of(&e))),
    };
    let labels = config.spec.as_ref().and_then(|s| s.labels.clone()).unwrap_or_default();
    let get = |k: &str| labels.get(&format!("xtask.lock.{k}")).cloned().unwrap_or_default();
    let daemon_now = engine.docker.info().await.ok().and_then(|i| i.system_time).and_then(|t| Timestamp::parse(&t));
    let updated = config.updated_at.as_deref().and_then(Timestamp::parse);
    let holder = Holder {
        by: get("by"),
        host: get("host"),
        pid: get("pid").parse().unwrap_or(0),
        pid_start: get("pid-start").parse().ok(),
        command: get("command"),
        since: get("since"),
        silent_for: daemon_now.zip(updated).map(|(now, then)| then.seconds_until(now)),
    };
    Ok(Some((config.id.unwrap_or(name), holder)))
}

async fn create(engine: &Engine, stack: &str, name: &str, command: &str) -> Result<String, bollard::errors::Error> {
    let (by, host, pid) = who();
    let mut labels = HashMap::from([
        (NAMESPACE_LABEL.to_owned(), stack.to_owned()),
        (KIND_LABEL.to_owned(), "lock".to_owned()),
        ("xtask.lock.by".to_owned(), by.clone()),
        ("xtask.lock.host".to_owned(), host),
        ("xtask.lock.pid".to_owned(), pid.to_string()),
        ("xtask.lock.command".to_owned(), command.to_owned()),
        ("xtask.lock.since".to_owned(), Timestamp::now().rfc3339()),
    ]);
    if let Some(start) = pid_start(pid) {
        labels.insert("xtask.lock.pid-start".into(), start.to_string());
    }
    let data = base64_encode(format!("{command} by {by}\n").as_bytes());
    let spec = ConfigSpec { name: Some(name.to_owned()), labels: Some(labels), data: Some(data), templating: None };
    engine.docker.create_config(spec).await.map(|r| r.id)
}

/// Refreshes the lock's `UpdatedAt` every few seconds (a label update).
fn spawn_heartbeat(engine: Engine, id: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let Ok(config) = engine.docker.inspect_config(&id).await else { continue };
            let (Some(mut spec), Some(version)) = (config.spec, config.version.and_then(|v| v.index)) else { continue };
            let labels = spec.labels.get_or_insert_with(HashMap::new);
            labels.insert("xtask.lock.heartbeat".into(), Timestamp::now().rfc3339());
            let options = UpdateConfigOptions { version: i64::try_from(version).unwrap_or(i64::MAX) };
            let _ = engine.docker.update_config(&id, spec, options).await;
        }
    })
}

impl Lock {
    /// Removes the lock.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        match self.engine.docker.delete_config(&self.config_id).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("releasing the deploy lock: {}", message_of(&e))),
        }
        .context("the lock stays; the next deploy on this host will find it stale")
    }
}

/// Start time of a process (clock ticks since boot), to tell a reused pid.
fn pid_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_has_a_start_time() {
        assert!(pid_start(std::process::id()).is_some());
    }

    #[test]
    fn dead_holder_on_this_host_is_gone() {
        let holder = Holder {
            by: "a@b".into(),
            host: hostname(),
            pid: u32::MAX - 1,
            pid_start: None,
            command: "deploy".into(),
            since: String::new(),
            silent_for: Some(1.0),
        };
        assert!(holder.gone().is_some());
        let alive = Holder { pid: std::process::id(), pid_start: pid_start(std::process::id()), ..holder.clone() };
        assert!(alive.gone().is_none());
        let silent = Holder { host: "elsewhere".into(), silent_for: Some(STALE_AFTER + 1.0), ..holder };
        assert!(silent.gone().is_some());
    }
}
