//! The Docker daemon itself restarts while a deploy watches its rollout:
//! the real `dockerd` is stopped and started again by the test (with the
//! project's own scripts/start-docker.sh). The deploy must ride out the
//! minutes without an engine (reads and writes are retried until the
//! deadline), and end on one revision that `status` agrees with: the new
//! one if the restarted tasks converge, the old one otherwise.
//!
//! Its own test binary, so that no other scenario runs while the engine is
//! away. Needs root (it signals the daemon); skipped otherwise outside CI.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{TestStack, stderr_lines, wait_line};

const START_DOCKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/start-docker.sh");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|u| u.split_whitespace().next() == Some("0")))
        .unwrap_or(false)
}

/// Stops dockerd (SIGTERM, as a service manager would), waits for it to
/// exit, and starts it again with scripts/start-docker.sh.
fn restart_dockerd() {
    let pid = std::fs::read_to_string("/var/run/docker.pid").expect("/var/run/docker.pid").trim().to_owned();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success(), "kill -TERM dockerd");
    let started = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "dockerd did not stop within 60s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = Command::new("bash").arg(START_DOCKER).output().expect("running scripts/start-docker.sh");
    assert!(
        out.status.success(),
        "scripts/start-docker.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn daemon_restart_during_the_watch_ends_on_one_revision() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this as root");
        eprintln!("daemon_restart: SKIPPED: needs root to restart dockerd");
        return;
    }
    let Some(mut stack) = TestStack::new("daemon_restart") else { return };
    let v1 = stack.render();
    let out = stack.deploy(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    stack.knobs.probe_conf = "v2".into();
    let v2 = stack.render();
    // A long soak keeps the deploy watching while the daemon is away.
    let mut child = stack.spawn(&["deploy", "--skip-check", "--soak", "20", "--deadline", "180"]);
    let lines = stderr_lines(&mut child);
    wait_line(&lines, "probe: updating", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    restart_dockerd();
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    let code = status.code();
    let (expected, outcome) = match code {
        Some(0) => (&v2, "succeeded"),
        Some(2) => (&v1, "rolled-back"),
        other => panic!("a daemon restart must end on one revision (exit 0 or 2), got {other:?}:\n{rest:#?}"),
    };
    eprintln!("daemon_restart: the deploy ended with exit {code:?} ({outcome})");
    stack.assert_specs(expected, "after the daemon restart");
    stack.assert_healthy(Duration::from_secs(60), "after the daemon restart");
    let status = stack.status_json();
    let current = if outcome == "succeeded" { 2 } else { 1 };
    assert_eq!(status["current_revision"], current, "{status:#}");
    assert_eq!(status["history"][0]["number"], 2, "{status:#}");
    assert_eq!(status["history"][0]["outcome"], outcome, "{status:#}");
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "status disagrees with what runs: {svc}");
    }
    assert!(status["lock"].is_null(), "{status:#}");
}
