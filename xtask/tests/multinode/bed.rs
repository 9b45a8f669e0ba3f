//! The multi-node test bed: `scripts/swarm-bed.sh` brings it up and down,
//! this side reads what it wrote (`bed.toml`) and owns its lifetime (a Drop
//! guard tears it down even when a scenario panics; a bed whose test
//! process died is swept by the next `up`).
//!
//! The bed is a shell script rather than Rust because everything it does is
//! `ip`, `iptables`, `nsenter`/`unshare` and `docker swarm` commands, and the
//! same script serves a person who wants the bed by hand (`up`, `status`,
//! `down` after a crashed run) and the benchmark of issue 11.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/swarm-bed.sh");
const STATE_ROOT: &str = "/var/lib/swarm-bed";

/// One bed at a time in this process: four engines on two cores are enough.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What `swarm-bed.sh up` wrote to `bed.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct Layout {
    pub name: String,
    /// `address:port` of the bed's registry, as every node pulls from it.
    pub registry: String,
    #[serde(rename = "node")]
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub index: usize,
    pub hostname: String,
    pub role: Role,
    pub address: String,
    /// The node's network namespace (`/run/netns/<netns>`).
    #[allow(dead_code)] // read by multinode_observe.rs, not by every file that includes this one
    pub netns: String,
    pub socket: PathBuf,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Manager,
    Worker,
}

impl Node {
    /// `DOCKER_HOST` for this node's engine.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn socket_str(&self) -> String {
        self.socket.display().to_string()
    }
}

/// A running bed; torn down on drop.
#[derive(Debug)]
pub struct Bed {
    pub layout: Layout,
    up: bool,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Why the bed cannot run here, or `None` when it can.
fn missing_prerequisite() -> Option<String> {
    if std::env::var_os("MONITORING_MULTINODE").is_none_or(|v| v != "1") {
        return Some("MONITORING_MULTINODE=1 is not set (CI's `multinode` phase sets it)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() != Some("0") {
        return Some("not root (the bed creates network namespaces and engines)".into());
    }
    for tool in ["dockerd", "docker-registry", "ip", "iptables", "nsenter", "unshare"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Some(format!("`{tool}` is missing (scripts/start-docker.sh, scripts/start-registry.sh)"));
        }
    }
    None
}

/// Runs the bed script; its output goes to the test's stderr.
fn script(args: &[&str], env: &[(&str, String)]) -> Result<(), String> {
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("running {SCRIPT}: {e}"))?;
    eprint!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "swarm-bed.sh {} failed ({:?}): {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A bed name of this process, unique among its beds (`mnb` + pid + n).
/// `mnb<pid>x<n>`. `MONITORING_BED_PREFIX` (`mnb` and up to 3 lower-case
/// letters) replaces `mnb`, so that people sharing a machine can tell
/// their beds apart; the pid part then shrinks to keep the name within
/// the 11 characters the script allows.
fn next_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = std::env::var("MONITORING_BED_PREFIX")
        .ok()
        .filter(|p| p.len() <= 6 && p.starts_with("mnb") && p.bytes().all(|b| b.is_ascii_lowercase()))
        .unwrap_or_else(|| "mnb".to_owned());
    let room = u32::try_from(11 - prefix.len() - 3).unwrap_or(2);
    format!("{prefix}{}x{}", std::process::id() % 10_u32.pow(room), n % 100)
}

/// A bed name with a caller's prefix (`mnb` + 1 to 3 letters + a short pid),
/// for scenario files that must not be mistaken for another's beds.
#[allow(dead_code)] // used by multinode_observe.rs, not by every file that includes this one
fn prefixed_name(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 1_000)
}

impl Bed {
    /// A bed of `managers` + `workers` nodes for `scenario`, or `None`
    /// (skipped, said on stderr) when it cannot run here outside CI. In CI
    /// (`CI` set) with MONITORING_MULTINODE=1, a bed that cannot start
    /// fails the test.
    pub fn up(scenario: &str, managers: usize, workers: usize) -> Option<Bed> {
        Self::up_named(scenario, next_name, managers, workers)
    }

    /// As [`Bed::up`], the bed named `prefix` + a short pid (`prefix` is
    /// `mnb` + 1 to 3 lower-case letters: the script allows 8 characters
    /// after `mnb`).
    #[allow(dead_code)] // used by multinode_observe.rs, not by every file that includes this one
    pub fn up_prefixed(scenario: &str, prefix: &str, managers: usize, workers: usize) -> Option<Bed> {
        Self::up_named(scenario, || prefixed_name(prefix), managers, workers)
    }

    fn up_named(scenario: &str, name: impl FnOnce() -> String, managers: usize, workers: usize) -> Option<Bed> {
        if let Some(why) = missing_prerequisite() {
            let required = std::env::var_os("CI").is_some() && std::env::var_os("MONITORING_MULTINODE").is_some();
            if required {
                panic!("multinode {scenario}: {why}");
            }
            eprintln!("multinode {scenario}: SKIPPED: {why}");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = name();
        let started = std::time::Instant::now();
        let env = [
            ("BED_MANAGERS", managers.to_string()),
            ("BED_WORKERS", workers.to_string()),
            ("BED_OWNER_PID", std::process::id().to_string()),
        ];
        let mut bed = Bed {
            layout: Layout { name: name.clone(), registry: String::new(), nodes: vec![] },
            up: true,
            _turn: turn,
        };
        if let Err(e) = script(&["up", &name], &env) {
            panic!("multinode {scenario}: bed {name}: {e}");
        }
        let path = Path::new(STATE_ROOT).join(&name).join("bed.toml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        bed.layout = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!(
            "multinode {scenario}: bed {name} up in {:.1}s ({} nodes, registry {})",
            started.elapsed().as_secs_f64(),
            bed.layout.nodes.len(),
            bed.layout.registry
        );
        Some(bed)
    }

    pub fn name(&self) -> &str {
        &self.layout.name
    }

    pub fn node(&self, index: usize) -> &Node {
        self.layout.nodes.iter().find(|n| n.index == index).unwrap_or_else(|| panic!("no node {index} in the bed"))
    }

    pub fn nodes(&self) -> &[Node] {
        &self.layout.nodes
    }

    /// The node carrying `monitoring=true` (where stateful services go).
    pub fn labelled(&self) -> &Node {
        self.layout
            .nodes
            .iter()
            .find(|n| n.labels.get("monitoring").is_some_and(|v| v == "true"))
            .expect("a node with the label monitoring=true")
    }

    /// SIGKILLs node `index`'s dockerd: the node is lost to the Swarm.
    pub fn kill_node(&self, index: usize) {
        script(&["kill-node", self.name(), &index.to_string()], &[]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts node `index`'s dockerd again and waits until the Swarm sees
    /// it Ready.
    pub fn start_node(&self, index: usize, within: Duration) {
        script(&["start-node", self.name(), &index.to_string()], &[]).unwrap_or_else(|e| panic!("{e}"));
        let hostname = self.node(index).hostname.clone();
        let manager = self.node(1);
        crate::harness::wait_for(within, &format!("{hostname} Ready again"), || {
            docker_cli(manager, &["node", "inspect", &hostname, "--format", "{{.Status.State}}"])
                .is_ok_and(|s| s.trim() == "ready")
        });
    }

    /// Tears the bed down now (the Drop guard would too); the script's
    /// error if something could not be removed.
    pub fn down(&mut self) -> Result<(), String> {
        if !self.up {
            return Ok(());
        }
        self.up = false;
        script(&["down", &self.layout.name], &[])
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("multinode: tearing down bed {}: {e}", self.layout.name);
        }
    }
}

/// The docker CLI against `node`; stdout, or stderr as the error.
pub fn docker_cli(node: &Node, args: &[&str]) -> Result<String, String> {
    let docker = if Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" };
    let out = Command::new(docker)
        .arg("-H")
        .arg(node.docker_host())
        .args(args)
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("docker -H {} {}: {}", node.docker_host(), args.join(" "), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Everything of bed `name` that still exists on this machine: network
/// namespaces, links, the DOCKER-USER rule, processes running from its
/// directory, mounts under it, the directory itself.
pub fn leftovers(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let run = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for ns in run("ip", &["netns", "list"]).lines().filter_map(|l| l.split_whitespace().next()) {
        if ns.starts_with(name) {
            found.push(format!("network namespace {ns}"));
        }
    }
    for line in run("ip", &["-o", "link", "show"]).lines() {
        let link = line.split(": ").nth(1).unwrap_or_default().split('@').next().unwrap_or_default();
        if link.starts_with(name) {
            found.push(format!("link {link}"));
        }
    }
    for rule in run("iptables", &["-S", "DOCKER-USER"]).lines() {
        if rule.contains(&format!("swarm-bed:{name}")) || rule.contains(&format!("{name}br")) {
            found.push(format!("iptables rule `{rule}`"));
        }
    }
    let dir = format!("{STATE_ROOT}/{name}/");
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&dir) {
                found.push(format!("process {pid}: {}", cmdline.trim()));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        if line.split_whitespace().nth(4).is_some_and(|m| m.starts_with(&dir)) {
            found.push(format!("mount {line}"));
        }
    }
    if Path::new(&dir).exists() {
        found.push(format!("directory {dir}"));
    }
    found
}

/// Runs `swarm-bed.sh sweep` (removes beds whose owner process is gone).
pub fn sweep() -> Result<(), String> {
    script(&["sweep"], &[])
}

/// Brings a bed up on behalf of an owner that is already dead, as a killed
/// test run leaves it; returns its name.
pub fn up_orphan(managers: usize, workers: usize) -> String {
    let name = next_name();
    let mut dead = Command::new("true").spawn().expect("spawning `true`");
    let pid = dead.id();
    dead.wait().expect("waiting for `true`");
    let env = [
        ("BED_MANAGERS", managers.to_string()),
        ("BED_WORKERS", workers.to_string()),
        ("BED_OWNER_PID", pid.to_string()),
    ];
    script(&["up", &name], &env).unwrap_or_else(|e| panic!("{e}"));
    name
}

/// Holds the one-bed-at-a-time turn for work outside a [`Bed`].
pub fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
