//! The deploy lock, held in the Swarm: config `<stack>__xtask_lock`.
//! Config names are unique, so creating it is acquiring it, atomically, on
//! any manager. Its id is the lock's token: a lock that was broken and
//! taken again is a new config with a new id. Its labels name the holder
//! (user@host, pid, the machine's boot id and pid namespace, command,
//! start) and its heartbeat interval; the holder refreshes a label every
//! interval, which moves the config's `UpdatedAt` on the Swarm leader's
//! clock.
//!
//! **Fencing.** Every write a deploy makes after taking the lock is
//! preceded by [`Fence::check`] (the lock still exists under our id and
//! nobody marked it broken), and the heartbeat notices at once when the
//! lock is gone. A holder that finds its lock taken changes nothing more
//! and exits with its own code (`LockLost`). The writes themselves carry
//! the version index the holder read (service updates, the revision
//! record), so even a write racing the break is refused by Swarm.
//!
//! **Breaking.** A lock is broken only by a process that can prove the
//! holder is gone: on the same machine (same boot id *and* pid namespace)
//! a dead or reused pid; anywhere, a heartbeat older than
//! [`STALE_BEATS`] holder intervals, both ends of that measured on the
//! Swarm's own clock (the lock's `UpdatedAt` against the `CreatedAt` of a
//! probe config written now). Breaking marks the lock with a versioned
//! update first, so a holder that beat in between wins and the break
//! fails.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::models::ConfigSpec;
use bollard::query_parameters::UpdateConfigOptions;
use tokio::sync::watch;

use crate::history::revision::who;
use crate::history::store::KIND_LABEL;
use crate::swarm::engine::{Engine, NAMESPACE_LABEL, message_of, status_of};
use crate::swarm::retry::{self, Patience};
use crate::swarm::timestamp::Timestamp;

/// Missed heartbeats after which a holder counts as gone.
pub const STALE_BEATS: u32 = 6;
/// Default heartbeat interval; `XTASK_LOCK_HEARTBEAT_SECONDS` overrides it
/// (the tests shorten it to see a paused holder lose its lock quickly).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

const BROKEN_BY: &str = "xtask.lock.broken-by";

fn heartbeat_every() -> Duration {
    std::env::var("XTASK_LOCK_HEARTBEAT_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_HEARTBEAT, Duration::from_secs)
}

/// Which machine and pid namespace a process runs in: a pid means
/// something only where both are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Machine {
    boot_id: String,
    pid_ns: String,
}

impl Machine {
    fn this() -> Option<Machine> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().to_owned();
        let pid_ns = std::fs::read_link("/proc/self/ns/pid").ok()?.to_string_lossy().into_owned();
        (!boot_id.is_empty()).then_some(Machine { boot_id, pid_ns })
    }
}

/// Who holds the lock.
#[derive(Debug, Clone)]
pub struct Holder {
    pub by: String,
    pub host: String,
    pub pid: u32,
    pid_start: Option<u64>,
    machine: Option<Machine>,
    pub command: String,
    pub since: String,
    /// The holder's heartbeat interval.
    every: Duration,
    /// Seconds since the last heartbeat, on the Swarm's clock.
    pub silent_for: Option<f64>,
    /// Set when another process marked the lock broken.
    pub broken_by: Option<String>,
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
        if let Some(by) = &self.broken_by {
            return Some(format!("already broken by {by}"));
        }
        let here = Machine::this();
        if here.is_some() && here == self.machine {
            match (std::path::Path::new(&format!("/proc/{}", self.pid)).exists(), pid_start(self.pid)) {
                (false, _) => return Some(format!("pid {} no longer runs on {}", self.pid, self.host)),
                (true, Some(now)) if self.pid_start.is_some_and(|s| s != now) => {
                    return Some(format!("pid {} on {} is another process now", self.pid, self.host));
                }
                _ => {}
            }
        }
        let bound = (self.every * STALE_BEATS).as_secs_f64();
        match self.silent_for {
            Some(s) if s > bound => Some(format!("no heartbeat for {s:.0}s (bound {bound:.0}s)")),
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

/// This process lost the lock while it held it: it stopped without
/// changing anything more. Exit code 5.
#[derive(Debug)]
pub struct LockLost {
    pub stack: String,
    pub detail: String,
}

impl fmt::Display for LockLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost the deploy lock of `{}`: {}; this run stopped and changed nothing more (see `cargo xtask status`)",
            self.stack, self.detail
        )
    }
}

impl std::error::Error for LockLost {}

/// A held lock; [`Lock::release`] removes it. Dropping without release
/// leaves it for the next run to find stale.
#[derive(Debug)]
pub struct Lock {
    fence: Fence,
    heartbeat: tokio::task::JoinHandle<()>,
    /// A lock this run broke: whose it was and why.
    pub broke: Option<(Holder, String)>,
}

/// What a write checks first: that the lock is still ours. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fence {
    engine: Engine,
    stack: String,
    config_id: String,
    lost: watch::Receiver<Option<String>>,
}

pub fn config_name(stack: &str) -> String {
    format!("{stack}__xtask_lock")
}

/// Takes the lock. A provably stale lock is broken (reported in
/// `Lock::broke`); `force` breaks even a live one.
pub async fn acquire(engine: &Engine, stack: &str, command: &str, force: bool) -> Result<Lock> {
    let name = config_name(stack);
    let every = heartbeat_every();
    let mut broke = None;
    for _ in 0..3 {
        let created =
            retry::transient(Patience::for_secs(30), |_| {}, || create(engine, stack, &name, command, every)).await;
        match created {
            Ok(id) => {
                let (tx, lost) = watch::channel(None);
                let fence = Fence { engine: engine.clone(), stack: stack.to_owned(), config_id: id.clone(), lost };
                let heartbeat = spawn_heartbeat(engine.clone(), id, every, tx);
                return Ok(Lock { fence, heartbeat, broke });
            }
            // A create whose answer was lost and that we retried also lands
            // here: its holder is this very process, which `read` shows.
            Err(e) if status_of(&e) == Some(409) => {}
            Err(e) => return Err(anyhow::anyhow!("taking the deploy lock {name}: {}", message_of(&e))),
        }
        let Some(found) = read(engine, stack).await? else { continue };
        if found.holder.pid == std::process::id() && Machine::this() == found.holder.machine {
            // Our own create went through before its answer was lost.
            let (tx, lost) = watch::channel(None);
            let fence = Fence { engine: engine.clone(), stack: stack.to_owned(), config_id: found.id.clone(), lost };
            let heartbeat = spawn_heartbeat(engine.clone(), found.id, every, tx);
            return Ok(Lock { fence, heartbeat, broke });
        }
        let why = match found.holder.gone() {
            Some(why) => why,
            None if force => "--break-lock".to_owned(),
            None => return Err(LockHeld(stack.to_owned(), found.holder).into()),
        };
        break_lock(engine, &found, command, &why).await?;
        broke = Some((found.holder, why));
    }
    anyhow::bail!("could not take the deploy lock {name}: it keeps being re-created")
}

/// The lock as found.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    version: u64,
    spec: ConfigSpec,
    pub holder: Holder,
}

/// The current holder, if the lock exists, with its silence measured on
/// the Swarm's clock.
pub async fn read(engine: &Engine, stack: &str) -> Result<Option<Found>> {
    let name = config_name(stack);
    let inspect = || engine.docker.inspect_config(&name);
    let config = match retry::transient(Patience::for_secs(30), |_| {}, inspect).await {
        Ok(c) => c,
        Err(e) if status_of(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("reading the deploy lock {name}: {}", message_of(&e))),
    };
    let spec = config.spec.clone().unwrap_or_default();
    let labels = spec.labels.clone().unwrap_or_default();
    let get = |k: &str| labels.get(&format!("xtask.lock.{k}")).cloned().unwrap_or_default();
    let updated = config.updated_at.as_deref().and_then(Timestamp::parse);
    let now = swarm_now(engine, stack).await;
    let machine = match (get("boot-id"), get("pid-ns")) {
        (b, p) if !b.is_empty() && !p.is_empty() => Some(Machine { boot_id: b, pid_ns: p }),
        _ => None,
    };
    let holder = Holder {
        by: get("by"),
        host: get("host"),
        pid: get("pid").parse().unwrap_or(0),
        pid_start: get("pid-start").parse().ok(),
        machine,
        command: get("command"),
        since: get("since"),
        every: get("heartbeat-every").parse().map_or(DEFAULT_HEARTBEAT, Duration::from_secs),
        silent_for: now.zip(updated).map(|(now, then)| then.seconds_until(now)),
        broken_by: labels.get(BROKEN_BY).cloned(),
    };
    let version = config.version.and_then(|v| v.index).unwrap_or(0);
    Ok(Some(Found { id: config.id.unwrap_or(name), version, spec, holder }))
}

/// Now, on the clock that stamps the lock's `UpdatedAt`: the Swarm leader
/// stamps every object it stores, so a probe config's `CreatedAt` is read
/// on the same clock (no skew between this machine and the managers).
async fn swarm_now(engine: &Engine, stack: &str) -> Option<Timestamp> {
    let (_, _, pid) = who();
    let name = format!("{stack}__xtask_clock_{pid}_{}", Timestamp::now().nanos);
    let spec = ConfigSpec {
        name: Some(name),
        labels: Some(HashMap::from([
            (NAMESPACE_LABEL.to_owned(), stack.to_owned()),
            (KIND_LABEL.to_owned(), "clock".to_owned()),
        ])),
        data: Some(base64_encode(b"clock probe\n")),
        templating: None,
    };
    let id = engine.docker.create_config(spec).await.ok()?.id;
    let created = engine.docker.inspect_config(&id).await.ok().and_then(|c| c.created_at);
    let _ = engine.docker.delete_config(&id).await;
    created.as_deref().and_then(Timestamp::parse)
}

/// Marks the lock broken (a versioned update: fails if the holder beat in
/// the meantime), then removes it.
async fn break_lock(engine: &Engine, found: &Found, command: &str, why: &str) -> Result<()> {
    let (by, _, pid) = who();
    let mut spec = found.spec.clone();
    spec.labels
        .get_or_insert_with(HashMap::new)
        .insert(BROKEN_BY.into(), format!("`{command}` of {by} (pid {pid}): {why}"));
    let options = UpdateConfigOptions { version: i64::try_from(found.version).unwrap_or(i64::MAX) };
    match engine.docker.update_config(&found.id, spec, options).await {
        Ok(()) => {}
        Err(e) if status_of(&e) == Some(404) => return Ok(()),
        Err(e) => {
            anyhow::bail!("breaking the deploy lock: {} (its holder may have come back: try again)", message_of(&e))
        }
    }
    match engine.docker.delete_config(&found.id).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("breaking the deploy lock: {}", message_of(&e))),
    }
}

async fn create(
    engine: &Engine,
    stack: &str,
    name: &str,
    command: &str,
    every: Duration,
) -> Result<String, bollard::errors::Error> {
    let (by, host, pid) = who();
    let mut labels = HashMap::from([
        (NAMESPACE_LABEL.to_owned(), stack.to_owned()),
        (KIND_LABEL.to_owned(), "lock".to_owned()),
        ("xtask.lock.by".to_owned(), by.clone()),
        ("xtask.lock.host".to_owned(), host),
        ("xtask.lock.pid".to_owned(), pid.to_string()),
        ("xtask.lock.command".to_owned(), command.to_owned()),
        ("xtask.lock.since".to_owned(), Timestamp::now().rfc3339()),
        ("xtask.lock.heartbeat-every".to_owned(), every.as_secs().to_string()),
    ]);
    if let Some(start) = pid_start(pid) {
        labels.insert("xtask.lock.pid-start".into(), start.to_string());
    }
    if let Some(m) = Machine::this() {
        labels.insert("xtask.lock.boot-id".into(), m.boot_id);
        labels.insert("xtask.lock.pid-ns".into(), m.pid_ns);
    }
    let data = base64_encode(format!("{command} by {by}\n").as_bytes());
    let spec = ConfigSpec { name: Some(name.to_owned()), labels: Some(labels), data: Some(data), templating: None };
    engine.docker.create_config(spec).await.map(|r| r.id)
}

/// Refreshes the lock's `UpdatedAt` every interval (a versioned label
/// update); reports on `lost` when the lock is gone or marked broken.
fn spawn_heartbeat(
    engine: Engine,
    id: String,
    every: Duration,
    lost: watch::Sender<Option<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let config = match engine.docker.inspect_config(&id).await {
                Ok(c) => c,
                Err(e) if status_of(&e) == Some(404) => {
                    let _ = lost.send(Some("the lock was removed by another process".into()));
                    return;
                }
                Err(_) => continue,
            };
            let (Some(mut spec), Some(version)) = (config.spec, config.version.and_then(|v| v.index)) else { continue };
            let labels = spec.labels.get_or_insert_with(HashMap::new);
            if let Some(by) = labels.get(BROKEN_BY) {
                let _ = lost.send(Some(format!("broken by {by}")));
                return;
            }
            labels.insert("xtask.lock.heartbeat".into(), Timestamp::now().rfc3339());
            let options = UpdateConfigOptions { version: i64::try_from(version).unwrap_or(i64::MAX) };
            if let Err(e) = engine.docker.update_config(&id, spec, options).await
                && status_of(&e) == Some(404)
            {
                let _ = lost.send(Some("the lock was removed by another process".into()));
                return;
            }
        }
    })
}

impl Lock {
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Removes the lock, by its id: a lock another process took since is a
    /// different config and stays.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        let Fence { engine, config_id, .. } = &self.fence;
        let delete = || engine.docker.delete_config(config_id);
        match retry::transient(Patience::for_secs(30), |_| {}, delete).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("releasing the deploy lock: {}", message_of(&e))),
        }
        .context("the lock stays; the next deploy on this machine finds it stale")
    }
}

impl Fence {
    /// Ok while the lock is still ours; [`LockLost`] naming who took it
    /// otherwise. Transient read errors are retried; one that persists is
    /// an error too (a write we cannot fence is not made).
    pub async fn check(&self) -> Result<()> {
        if let Some(why) = self.lost.borrow().clone() {
            return Err(self.lost_because(why).await.into());
        }
        let name = config_name(&self.stack);
        let inspect = || self.engine.docker.inspect_config(&name);
        match retry::transient(Patience::for_secs(30), |_| {}, inspect).await {
            Ok(c) if c.id.as_deref() == Some(&self.config_id) => {
                let broken = c.spec.and_then(|s| s.labels).and_then(|l| l.get(BROKEN_BY).cloned());
                match broken {
                    None => Ok(()),
                    Some(by) => Err(self.lost_because(format!("broken by {by}")).await.into()),
                }
            }
            Ok(_) => Err(self.lost_because("the lock was broken and taken again".into()).await.into()),
            Err(e) if status_of(&e) == Some(404) => {
                Err(self.lost_because("the lock was removed by another process".into()).await.into())
            }
            Err(e) => Err(anyhow::anyhow!("checking the deploy lock before writing: {}", message_of(&e))),
        }
    }

    /// Whether the heartbeat has already seen the lock go (no API call).
    pub fn lost_now(&self) -> bool {
        self.lost.borrow().is_some()
    }

    /// Resolves when the heartbeat sees the lock go.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(Option::is_some).await;
    }

    async fn lost_because(&self, why: String) -> LockLost {
        let now = match read(&self.engine, &self.stack).await {
            Ok(Some(found)) if found.id != self.config_id => format!("; it is now held by {}", found.holder),
            _ => String::new(),
        };
        LockLost { stack: self.stack.clone(), detail: format!("{why}{now}") }
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
    use crate::history::revision::hostname;

    fn holder() -> Holder {
        Holder {
            by: "a@b".into(),
            host: hostname(),
            pid: u32::MAX - 1,
            pid_start: None,
            machine: Machine::this(),
            command: "deploy".into(),
            since: String::new(),
            every: Duration::from_secs(5),
            silent_for: Some(1.0),
            broken_by: None,
        }
    }

    #[test]
    fn own_pid_has_a_start_time() {
        assert!(pid_start(std::process::id()).is_some());
    }

    #[test]
    fn a_dead_pid_counts_only_on_the_same_machine_and_pid_namespace() {
        assert!(holder().gone().is_some(), "dead pid here");
        let me = std::process::id();
        let alive = Holder { pid: me, pid_start: pid_start(me), ..holder() };
        assert!(alive.gone().is_none());
        // Same host name, another machine (or pid namespace): the pid proves nothing.
        let elsewhere =
            Holder { machine: Some(Machine { boot_id: "other-boot".into(), pid_ns: "pid:[1]".into() }), ..holder() };
        assert!(elsewhere.gone().is_none(), "a pid from another machine is not checked here");
        let no_identity = Holder { machine: None, ..holder() };
        assert!(no_identity.gone().is_none(), "a lock without machine identity is judged by heartbeat only");
    }

    #[test]
    fn silence_is_judged_against_the_holders_own_interval() {
        let quiet = Holder { machine: None, silent_for: Some(29.0), ..holder() };
        assert!(quiet.gone().is_none(), "29s < 6 × 5s");
        let silent = Holder { machine: None, silent_for: Some(31.0), ..holder() };
        assert!(silent.gone().is_some());
        let slow_beats = Holder { every: Duration::from_secs(10), ..silent };
        assert!(slow_beats.gone().is_none(), "31s < 6 × 10s");
        let broken = Holder { machine: None, broken_by: Some("x".into()), ..holder() };
        assert!(broken.gone().is_some());
    }
}
