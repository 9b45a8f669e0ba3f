//! The Docker API proxy (issue 13, item 3) on the real single-node Swarm:
//! the repository's own `[services.docker-proxy]` and haproxy.cfg, unchanged
//! but for the image (the HAProxy test image of
//! scripts/build-test-images.sh), deployed with the real `gen` and
//! `deploy` as a uniquely named stack. The test process then talks to the
//! two sockets the proxy serves in its named volumes, with bollard, as
//! Promtail, cAdvisor and a Swarm reader would: what they need works, the
//! write side of the API and everything else is refused with 403.
//! (Promtail and cAdvisor themselves cannot run on the build machines: no
//! images of them here.)

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error;
use bollard::models::{ContainerCreateBody, ExecConfig};
use bollard::query_parameters::{ListContainersOptions, LogsOptions};
use futures_util::TryStreamExt as _;
use harness::{TestStack, code, stderr};

const PROXY_CONFIG: &str = "stack/configs/docker-proxy/haproxy.cfg";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// stack.toml of the test stack: the repository's `[services.docker-proxy]`
/// table as it is, the image pointed at the test registry, and the
/// harness's stack name and network.
fn proxy_stack(stack: &TestStack, images: &toml::Table) -> String {
    let text = std::fs::read_to_string(repository().join("stack/stack.toml")).unwrap();
    let real: toml::Table = text.parse().unwrap();
    let service = real["services"]["docker-proxy"].clone();
    let image = service["image"].as_str().unwrap().to_owned();
    let test_image = images["images"]["haproxy"].as_table().expect("a haproxy test image");
    let reference = test_image["reference"].as_str().unwrap();
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let mut out = toml::Table::new();
    let mut header = real["stack"].as_table().unwrap().clone();
    header.insert("name".into(), stack.name.clone().into());
    header.insert("network".into(), stack.network.clone().into());
    header.insert("endpoint_mode".into(), "dnsrr".into());
    header.insert("publish_mode".into(), "host".into());
    out.insert("stack".into(), header.into());
    out.insert("alerts".into(), real["alerts"].clone());
    let image_ref = toml::Table::from_iter([("repository".to_owned(), repo.into()), ("tag".to_owned(), tag.into())]);
    out.insert("images".into(), toml::Table::from_iter([(image, image_ref.into())]).into());
    out.insert("configs".into(), toml::Table::from_iter([("docker_proxy_cfg".to_owned(), PROXY_CONFIG.into())]).into());
    out.insert("services".into(), toml::Table::from_iter([("docker-proxy".to_owned(), service)]).into());
    toml::to_string(&out).unwrap()
}

/// The host path of the socket the proxy serves in volume `<stack>_<volume>`.
fn socket_in(stack: &TestStack, volume: &str) -> PathBuf {
    let name = format!("{}_{volume}", stack.name);
    let volume = stack.block_on(stack.docker().inspect_volume(&name)).unwrap();
    PathBuf::from(volume.mountpoint).join("docker.sock")
}

fn client(socket: &Path) -> Docker {
    Docker::connect_with_unix(&socket.to_string_lossy(), 30, bollard::API_DEFAULT_VERSION).unwrap()
}

/// The HTTP status of a refused call, or a panic naming what was let through.
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::DockerResponseServerError { status_code: 403, .. }) => {}
        other => panic!("{what}: expected 403 from the proxy, got {other:?}"),
    }
}

/// One raw request on `socket`, for what bollard does not send (POST on a
/// GET path, no version prefix); the status line.
fn raw(socket: &Path, method: &str, path: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn docker_api_proxy_serves_reads_and_refuses_writes() {
    let Some(stack) = TestStack::new("docker_proxy") else { return };
    let images = harness::test_images().unwrap();
    let root = stack.dir.path();
    std::fs::write(root.join("stack/stack.toml"), proxy_stack(&stack, &images)).unwrap();
    std::fs::create_dir_all(root.join(PROXY_CONFIG).parent().unwrap()).unwrap();
    std::fs::copy(repository().join(PROXY_CONFIG), root.join(PROXY_CONFIG)).unwrap();
    let registry = images["registry"].as_str().unwrap();
    std::fs::write(root.join("stack/images.lock"), harness::images_lock_of(&images, registry, &["haproxy"])).unwrap();
    let out = stack.xtask(&["gen"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // The health check is a GET /_ping through the node readers' socket.
    stack.assert_healthy(Duration::from_secs(60), "the Docker API proxy");

    let node_socket = socket_in(&stack, "docker_api_node");
    let swarm_socket = socket_in(&stack, "docker_api_swarm");
    let node = client(&node_socket);
    let swarm = client(&swarm_socket);

    stack.block_on(async {
        // What Promtail and cAdvisor do: list, inspect, read logs, info.
        let containers =
            node.list_containers(Some(ListContainersOptions { all: true, ..Default::default() })).await.unwrap();
        let proxy = containers
            .iter()
            .find(|c| c.names.iter().flatten().any(|n| n.starts_with(&format!("/{}_docker-proxy.", stack.name))))
            .expect("the proxy's own container in the list");
        let id = proxy.id.clone().unwrap();
        let inspected = node.inspect_container(&id, None).await.unwrap();
        assert_eq!(inspected.id.as_deref(), Some(id.as_str()));
        node.info().await.unwrap();
        node.version().await.unwrap();
        node.ping().await.unwrap();

        // The write side, and what the node readers have no use for.
        let create = ContainerCreateBody { image: Some("busybox".into()), ..Default::default() };
        refused("create container", node.create_container(None, create.clone()).await);
        refused("start", node.start_container(&id, None).await);
        refused("stop", node.stop_container(&id, None).await);
        refused("kill", node.kill_container(&id, None).await);
        let exec = ExecConfig { cmd: Some(vec!["true".into()]), ..Default::default() };
        refused("exec create", node.create_exec(&id, exec).await);
        refused("list secrets", node.list_secrets(None).await);
        refused("inspect swarm (join tokens)", node.inspect_swarm().await);
        refused("list services on the node socket", node.list_services(None).await);

        // The Swarm readers: services, tasks, nodes, info; nothing else.
        let services = swarm.list_services(None).await.unwrap();
        assert!(
            services
                .iter()
                .any(|s| s.spec.as_ref().and_then(|s| s.name.as_deref())
                    == Some(&format!("{}_docker-proxy", stack.name))),
            "the proxy's own service in the list"
        );
        assert!(!swarm.list_tasks(None).await.unwrap().is_empty());
        assert!(!swarm.list_nodes(None).await.unwrap().is_empty());
        swarm.info().await.unwrap();
        refused("create container on the swarm socket", swarm.create_container(None, create).await);
        refused("list containers on the swarm socket", swarm.list_containers(None).await);
        refused("list secrets on the swarm socket", swarm.list_secrets(None).await);
        refused("inspect swarm on the swarm socket", swarm.inspect_swarm().await);

        // Logs: the proxy logs each refused request; reading them through
        // the node socket is what Promtail does.
        let logs: Vec<_> = node
            .logs(&id, Some(LogsOptions { stdout: true, stderr: true, ..Default::default() }))
            .try_collect()
            .await
            .unwrap();
        let text: String = logs.iter().map(ToString::to_string).collect();
        assert!(text.contains("/containers/create") && text.contains(" 403 "), "proxy log:\n{text}");
    });

    // Without a version prefix, and other methods on allowed paths.
    assert!(raw(&node_socket, "GET", "/containers/json").contains(" 200 "));
    assert!(raw(&node_socket, "GET", "/v1.41/_ping").contains(" 200 "));
    for (method, path) in [
        ("POST", "/containers/json"),
        ("POST", "/v1.41/containers/create"),
        ("DELETE", "/v1.41/containers/json"),
        ("PUT", "/v1.41/_ping"),
        ("POST", "/v1.41/build"),
        ("POST", "/v1.41/images/create?fromImage=busybox"),
        ("GET", "/v1.41/configs"),
        ("GET", "/v1.41/containers/../secrets"),
    ] {
        let status = raw(&node_socket, method, path);
        assert!(status.contains(" 403 "), "{method} {path} on the node socket: {status}");
    }
    assert!(raw(&swarm_socket, "POST", "/v1.41/services/create").contains(" 403 "));

    // Promtail's and cAdvisor's containers: their mounts, user and
    // capabilities exactly as the repository's bundle renders them, around
    // the probe image (the real images cannot run here), list every unix
    // socket they can reach, by device and inode. None is the engine's,
    // containerd's or Swarm's control socket, whatever path it is seen
    // under; the proxy's node readers' socket (tested above) is there.
    let engine: Vec<(String, String)> = [
        "/var/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/var/run/docker/containerd/containerd.sock",
        "/var/lib/docker/swarm/control.sock",
    ]
    .iter()
    .filter_map(|p| std::fs::metadata(p).ok().map(|m| (format!("{}:{}", m.dev(), m.ino()), (*p).to_owned())))
    .collect();
    assert!(!engine.is_empty(), "no engine socket found on this host");
    for service in ["promtail", "cadvisor"] {
        let sockets = sockets_seen_by(&stack, service);
        eprintln!("{service} stand-in sees these sockets:\n{}", sockets.join("\n"));
        for (id, host_path) in &engine {
            let seen: Vec<&String> = sockets.iter().filter(|s| s.starts_with(&format!("{id} "))).collect();
            assert!(seen.is_empty(), "{service} reaches {host_path} as {seen:?}");
        }
        assert!(sockets.iter().any(|s| s.ends_with(" /run/docker-api/node/docker.sock")), "{service}: {sockets:#?}");
    }
}

/// Every unix socket (`<device>:<inode> <path>`) a container of the
/// repository's rendered `service` finds (outside /proc and /sys), run with that service's mounts (its
/// `docker_api_node` volume is this stack's), user, capabilities and
/// read-only root. Bind sources this machine lacks (cAdvisor's /dev/disk)
/// are left out.
fn sockets_seen_by(stack: &TestStack, service: &str) -> Vec<String> {
    let bundle = harness::rendered_bundle();
    let svc = &bundle["services"][service];
    let name = format!("{}_standin_{service}", stack.name);
    let mut args: Vec<String> =
        vec!["run".into(), "--rm".into(), "--name".into(), name, "--network".into(), "none".into()];
    for m in svc["volumes"].as_array().unwrap() {
        let target = m["target"].as_str().unwrap();
        let source = m["source"].as_str().unwrap_or_default();
        let readonly = if m["read_only"] == true { ",readonly" } else { "" };
        match m["type"].as_str().unwrap() {
            "bind" if Path::new(source).exists() => {
                args.push(format!("--mount=type=bind,src={source},dst={target}{readonly}"))
            }
            "bind" => eprintln!("{service}: bind source {source} does not exist here; left out"),
            "volume" if source == "docker_api_node" => {
                args.push(format!("--mount=type=volume,src={}_{source},dst={target}{readonly}", stack.name));
            }
            // Its own data (Promtail's positions): not where a socket is.
            "volume" => {}
            "tmpfs" => args.push(format!("--mount=type=tmpfs,dst={target},tmpfs-size={}", m["tmpfs"]["size"])),
            other => panic!("{service}: mount type {other}"),
        }
    }
    args.push(format!("--user={}", svc["user"].as_str().unwrap()));
    for cap in svc["cap_drop"].as_array().into_iter().flatten() {
        args.push(format!("--cap-drop={}", cap.as_str().unwrap()));
    }
    for cap in svc["cap_add"].as_array().into_iter().flatten() {
        args.push(format!("--cap-add={}", cap.as_str().unwrap()));
    }
    if svc["read_only"] == true {
        args.push("--read-only".into());
    }
    let images = harness::test_images().unwrap();
    args.push(images["images"]["probe"]["pinned"].as_str().unwrap().into());
    args.extend([
        "-c".into(),
        "find / \\( -path /proc -o -path /rootfs/proc -o -path /sys -o -path /rootfs/sys \\) -prune -o -type s -exec stat -c '%d:%i %n' {} \\; 2>/dev/null; true".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness::docker_cli(&args);
    assert!(out.status.success(), "{service} stand-in: {}", stderr(&out));
    harness::stdout(&out).lines().map(str::to_owned).collect()
}
