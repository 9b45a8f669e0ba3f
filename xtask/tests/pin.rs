//! `cargo xtask pin` against a real registry on 127.0.0.1:5000 (Debian's
//! docker-registry, started by scripts/start-registry.sh), with images pushed
//! by the real Docker engine.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

use std::path::Path;
use std::process::{Command, Output};

const REGISTRY: &str = "127.0.0.1:5000";

/// Fails in CI, skips elsewhere, when the registry or docker is missing.
fn environment_ready() -> bool {
    let registry = Command::new("curl").args(["-sf", &format!("http://{REGISTRY}/v2/")]).output();
    let docker = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    let ok = registry.is_ok_and(|o| o.status.success()) && docker.is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "registry on {REGISTRY} or docker engine not reachable");
        eprintln!(
            "skipped: registry on {REGISTRY} or docker engine not reachable (run scripts/start-docker.sh and scripts/start-registry.sh)"
        );
    }
    ok
}

fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("spawn");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A throwaway image whose content is unique to this test run.
fn push_unique_image(reference: &str, payload: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload"), payload).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY payload /payload\n").unwrap();
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", reference, dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
    sh(&["docker", "push", "-q", reference]);
    sh(&["docker", "rmi", reference]);
}

/// The digest the registry itself reports for a tag.
fn registry_digest(repo: &str, tag: &str) -> String {
    let out = sh(&[
        "curl",
        "-sfI",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("http://{REGISTRY}/v2/{repo}/manifests/{tag}"),
    ]);
    let headers = String::from_utf8(out.stdout).unwrap();
    headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("docker-content-digest:").then(|| l[22..].trim().to_owned()))
        .expect("Docker-Content-Digest header")
}

fn stack_toml(repo: &str, tag: &str) -> String {
    format!(
        r#"[stack]
name = "pintest"
network = "pintest_net"
endpoint_mode = "dnsrr"
publish_mode = "host"
stateful_constraint = "node.role == manager"
log_max_size = "1m"
log_max_file = 1

[alerts]
runbook_base_url = "alerts/runbooks"
grafana_url = "http://localhost:3000"

[images.app]
repository = "{REGISTRY}/{repo}"
tag = "{tag}"

[configs]

[services.app]
image = "app"
resources = {{ cpus = 0.1, memory = "16M", reserve_cpus = 0.0, reserve_memory = "0M" }}
"#
    )
}

fn pin(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("MONITORING_REPO", dir)
        .args(["pin", "--insecure-registry", REGISTRY, "--stack-file"])
        .arg(dir.join("stack.toml"))
        .arg("--lock-file")
        .arg(dir.join("images.lock"))
        .args(extra)
        .output()
        .unwrap()
}

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

#[test]
fn pin_writes_the_registry_digest_and_refuses_a_moved_tag() {
    if !environment_ready() {
        return;
    }
    let id = unique();
    let repo = format!("monitoring-test/pin-{id}");
    let reference = format!("{REGISTRY}/{repo}:v1");
    push_unique_image(&reference, &format!("first {id}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.toml"), stack_toml(&repo, "v1")).unwrap();

    let out = pin(dir.path(), &[]);
    assert!(out.status.success(), "pin failed: {}", String::from_utf8_lossy(&out.stderr));
    let expected = registry_digest(&repo, "v1");
    let lock = std::fs::read_to_string(dir.path().join("images.lock")).unwrap();
    assert!(lock.contains(&format!("digest = \"{expected}\"")), "lock lacks {expected}:\n{lock}");
    assert!(lock.contains("[[image.platform]]") && lock.contains("architecture = \"amd64\""), "{lock}");

    // Same tag, new content: the registry now serves another digest.
    push_unique_image(&reference, &format!("second {id}"));
    let moved = registry_digest(&repo, "v1");
    assert_ne!(moved, expected);
    let out = pin(dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("image `app`") && err.contains("moved") && err.contains(&moved), "{err}");
    let unchanged = std::fs::read_to_string(dir.path().join("images.lock")).unwrap();
    assert!(unchanged.contains(&expected), "a refused pin must keep the old digest");

    let out = pin(dir.path(), &["--update"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(dir.path().join("images.lock")).unwrap().contains(&moved));
}

#[test]
fn pin_names_a_missing_image() {
    if !environment_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("monitoring-test/absent-{}", unique());
    std::fs::write(dir.path().join("stack.toml"), stack_toml(&repo, "v9")).unwrap();
    let out = pin(dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("image `app`") && err.contains(&format!("{REGISTRY}/{repo}:v9")), "{err}");
}
