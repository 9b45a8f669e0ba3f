//! The committed bundle as Docker sees it: `docker stack config` (the 28.x
//! client's own compose loader, no daemon needed) must accept it.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

use std::path::Path;
use std::process::Command;

#[test]
fn docker_stack_config_accepts_the_rendered_bundle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bundle = root.join("stack/rendered");
    let out = match Command::new("docker")
        .args(["stack", "config", "-c", "docker-stack.yml"])
        .current_dir(&bundle)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "docker client not runnable: {e}");
            eprintln!("skipped: docker client not found ({e})");
            return;
        }
    };
    assert!(out.status.success(), "docker stack config rejected the bundle:\n{}", String::from_utf8_lossy(&out.stderr));
    let config = String::from_utf8_lossy(&out.stdout);
    // Compose resolved every config file and kept every pinned image: by
    // digest, but for the workspace-built one, by the tag its inputs hash
    // to (images.lock), which `deploy` resolves to a digest.
    let lock: toml::Table = std::fs::read_to_string(root.join("stack/images.lock")).unwrap().parse().unwrap();
    let built: Vec<String> = lock["image"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("inputs").is_some())
        .map(|i| format!("{}:{}", i["repository"].as_str().unwrap(), i["tag"].as_str().unwrap()))
        .collect();
    assert_eq!(built.len(), 1, "the swarm-exporter is built: {built:?}");
    let images: Vec<&str> =
        config.lines().filter_map(|l| l.trim_start().strip_prefix("image:")).map(str::trim).collect();
    assert_eq!(images.len(), 13, "{config}");
    for image in images {
        assert!(image.contains("@sha256:") || built.iter().any(|b| b == image), "{image} is not pinned");
    }
    // The rollout policy survives Docker's loader: the health checks'
    // start_interval (compose 3.12) and all-at-once global updates.
    let checks = config.lines().filter(|l| l.trim_start().starts_with("healthcheck:")).count();
    let start_intervals = config.lines().filter(|l| l.trim() == "start_interval: 2s").count();
    assert!(
        checks > 0 && start_intervals == checks,
        "{checks} health checks, {start_intervals} start_interval:\n{config}"
    );
    let all_at_once = config.lines().filter(|l| l.trim() == "parallelism: 0").count();
    assert_eq!(all_at_once, 5 * 2, "update and rollback of the 5 global services:\n{config}");
}

/// Issue 13: only the Docker API proxy binds the engine's socket; Promtail
/// and cAdvisor reach the API through the proxy's node readers' socket
/// volume, mounted read-only, and cAdvisor's bind of `/` has the host's
/// /run and Swarm's control socket hidden under tmpfs mounts.
#[test]
fn only_the_docker_api_proxy_binds_the_engine_socket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(root.join("stack/rendered/docker-stack.yml")).unwrap();
    let bundle: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let services = bundle["services"].as_object().unwrap();
    let mounts =
        |name: &str| -> Vec<serde_json::Value> { services[name]["volumes"].as_array().cloned().unwrap_or_default() };
    let engine = |m: &serde_json::Value| {
        let source = m["source"].as_str().unwrap_or_default();
        m["type"] == "bind" && ["/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run"].contains(&source)
    };
    let binding: Vec<&String> = services.keys().filter(|name| mounts(name).iter().any(engine)).collect();
    assert_eq!(binding, ["docker-proxy"], "services binding the engine's socket or its directory");

    for name in ["promtail", "cadvisor"] {
        let node_socket = mounts(name)
            .into_iter()
            .find(|m| m["source"] == "docker_api_node")
            .unwrap_or_else(|| panic!("{name} does not mount the proxy's node readers' socket volume"));
        assert_eq!((&node_socket["type"], &node_socket["read_only"]), (&"volume".into(), &true.into()), "{name}");
        assert!(!mounts(name).iter().any(|m| m["source"] == "docker_api_swarm"), "{name} mounts the swarm socket");
    }
    let promtail_config = services["promtail"]["configs"][0]["source"].as_str().unwrap();
    let promtail_file = bundle["configs"][promtail_config]["file"].as_str().unwrap();
    let promtail_yml = std::fs::read_to_string(root.join("stack/rendered").join(promtail_file)).unwrap();
    assert!(promtail_yml.contains("host: unix:///run/docker-api/node/docker.sock"), "{promtail_yml}");
    let cadvisor_args: Vec<&str> =
        services["cadvisor"]["command"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    assert!(cadvisor_args.contains(&"--docker=unix:///run/docker-api/node/docker.sock"), "{cadvisor_args:?}");
    let cadvisor_mounts = mounts("cadvisor");
    let tmpfs: Vec<&str> =
        cadvisor_mounts.iter().filter(|m| m["type"] == "tmpfs").filter_map(|m| m["target"].as_str()).collect();
    for hidden in [
        "/rootfs/run",
        "/rootfs/var/lib/docker/swarm",
        "/rootfs/var/lib/docker/volumes",
        "/var/lib/docker/swarm",
        "/var/lib/docker/volumes",
    ] {
        assert!(tmpfs.contains(&hidden), "cAdvisor's {hidden} is not hidden: {tmpfs:?}");
    }
}
