//! swarm-exporter against the real Swarm of this machine, scraped by a real
//! Prometheus (the `.tools/bin` build) that evaluates the generated
//! `alerts/generated/rules/service-health.rules.yml`:
//!
//! - a service of 2 replicas runs 2 of 2, then an update adds a placement
//!   constraint no node satisfies, so the update stops one task and its
//!   replacement stays pending: `SwarmServiceBelowDesired` fires for it;
//! - a service whose task exits 3 after a second raises
//!   `SwarmServiceCrashLoop`, and so does one whose task exits 0 (Swarm's
//!   default restart condition `any` restarts it just the same).
//!
//! The rules are loaded as generated except for their `for:` durations,
//! shortened to seconds so the test takes a minute instead of five: what
//! is tested here is that the expressions see the exporter's real series;
//! the pending durations are held by the promtool cases.
//!
//! A second test points the exporter at a port nothing listens on: the
//! failed reads are a metric and a 503 from `/health`, and it keeps serving.
//!
//! Services are named `swx-<pid>-<time>-…` and removed on drop. Skipped
//! (with a message) without a Swarm manager engine, the probe test image or
//! Prometheus; failed when that happens in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set itself up should panic

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn skip_or_fail(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("swarm-exporter live: {what}");
    }
    eprintln!("swarm-exporter live: SKIPPED: {what}");
}

/// `$PROMETHEUS`, `<repo>/.tools/bin/prometheus`, then `PATH` (as xtask's
/// `tools::find`).
fn prometheus_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROMETHEUS").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    let local = repo().join(".tools/bin/prometheus");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join("prometheus")).find(|p| p.is_file())
}

/// The probe image (busybox, ENTRYPOINT /bin/sh) from the test images list.
fn probe_image() -> Option<String> {
    let path = std::env::var_os("MONITORING_TEST_IMAGES")?;
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    doc.get("images")?.get("probe")?.get("pinned")?.as_str().map(str::to_string)
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Whether `swarm-exporter healthcheck --url <url>` exits 0.
fn healthcheck(url: &str) -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_swarm-exporter")).args(["healthcheck", "--url", url]).output().unwrap();
    out.status.success()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Everything the test started, stopped and removed on drop (also when an
/// assertion fails).
struct World {
    services: Vec<String>,
    children: Vec<Child>,
}

impl Drop for World {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).output();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for service in &self.services {
            if let Err(e) = docker(&["service", "rm", service]) {
                eprintln!("swarm-exporter live: cleanup: {e}");
            }
        }
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match probe() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{what}: not within {timeout:?}; last: {last}");
}

/// The generated rules with every `for:` set to `pending`.
fn rules_with_pending(pending: &str) -> String {
    let path = repo().join("alerts/generated/rules/service-health.rules.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut shortened = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => {
                shortened += 1;
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}for: {pending}")
            }
            None => line.to_string(),
        })
        .collect();
    assert!(shortened > 0, "{}: no `for:` line found; the rule file's shape changed", path.display());
    lines.join("\n") + "\n"
}

/// Alerts in Prometheus for `service` by name, with their state.
fn alerts_for(client: &reqwest::blocking::Client, prom: &str, service: &str) -> Result<Vec<(String, String)>, String> {
    let body: Value = client
        .get(format!("{prom}/api/v1/alerts"))
        .send()
        .and_then(|r| r.json())
        .map_err(|e| format!("GET /api/v1/alerts: {e}"))?;
    let alerts = body["data"]["alerts"].as_array().ok_or_else(|| format!("unexpected answer {body}"))?;
    Ok(alerts
        .iter()
        .filter(|a| a["labels"]["service"] == service)
        .map(|a| {
            (a["labels"]["alertname"].as_str().unwrap_or("").to_string(), a["state"].as_str().unwrap_or("").to_string())
        })
        .collect())
}

fn query_value(client: &reqwest::blocking::Client, prom: &str, expr: &str) -> Result<f64, String> {
    let url = reqwest::Url::parse_with_params(&format!("{prom}/api/v1/query"), [("query", expr)])
        .map_err(|e| format!("{expr}: {e}"))?;
    let body: Value = client.get(url).send().and_then(|r| r.json()).map_err(|e| format!("query {expr}: {e}"))?;
    let value =
        body["data"]["result"][0]["value"][1].as_str().ok_or_else(|| format!("{expr}: no sample yet ({body})"))?;
    value.parse().map_err(|e| format!("{expr}: {value}: {e}"))
}

#[test]
fn below_desired_and_crash_loop_alerts_fire_on_the_real_swarm() {
    let Some(prometheus) = prometheus_binary() else { return skip_or_fail("no prometheus binary") };
    let Some(image) = probe_image() else {
        return skip_or_fail("no probe image in $MONITORING_TEST_IMAGES (scripts/build-test-images.sh)");
    };
    match docker(&["info", "--format", "{{.Swarm.ControlAvailable}}"]) {
        Ok(s) if s == "true" => {}
        Ok(s) => return skip_or_fail(&format!("the engine is not a Swarm manager (ControlAvailable {s})")),
        Err(e) => return skip_or_fail(&e),
    }

    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() % 1_000_000_000;
    let prefix = format!("swx-{}-{stamp}", std::process::id());
    let short = format!("{prefix}-short");
    let crash = format!("{prefix}-crash");
    let exits = format!("{prefix}-exits");
    let mut world = World { services: Vec::new(), children: Vec::new() };
    let dir = tempfile::tempdir().unwrap();
    let client = http();

    // The exporter, on the engine as DOCKER_HOST (or the local socket) says.
    let exporter_port = free_port();
    let exporter = format!("http://127.0.0.1:{exporter_port}");
    world.children.push(
        Command::new(env!("CARGO_BIN_EXE_swarm-exporter"))
            .args(["--listen", &format!("127.0.0.1:{exporter_port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the exporter's /health answers 200", Duration::from_secs(20), || {
        let r = client.get(format!("{exporter}/health")).send().map_err(|e| e.to_string())?;
        if r.status().is_success() { Ok(()) } else { Err(format!("{}: {}", r.status(), r.text().unwrap_or_default())) }
    });
    assert!(healthcheck(&format!("{exporter}/health")), "`swarm-exporter healthcheck` agrees");

    // Prometheus scraping it every second, with the generated rules.
    let rules = dir.path().join("service-health.rules.yml");
    std::fs::write(&rules, rules_with_pending("5s")).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: swarm-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    world.children.push(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("Prometheus is ready", Duration::from_secs(30), || {
        client
            .get(format!("{prom}/-/ready"))
            .send()
            .map_err(|e| e.to_string())?
            .error_for_status()
            .map_err(|e| e.to_string())
    });

    // A healthy service of two replicas, and one whose task keeps exiting 3.
    world.services.push(short.clone());
    docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &short,
        "--replicas",
        "2",
        "--stop-grace-period",
        "1s",
        &image,
    ])
    .unwrap();
    world.services.push(crash.clone());
    docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        &crash,
        "--restart-delay",
        "1s",
        &image,
        "-c",
        "sleep 1; exit 3",
    ])
    .unwrap();

    world.services.push(exits.clone());
    docker(&["service", "create", "--detach", "--name", &exits, "--restart-delay", "1s", &image, "-c", "sleep 1"])
        .unwrap();

    let running = format!(r#"swarm_service_replicas_running{{service="{short}"}}"#);
    wait_for("both replicas of the healthy service run, as Prometheus sees it", Duration::from_secs(60), || {
        let v = query_value(&client, &prom, &running)?;
        if (v - 2.0).abs() < f64::EPSILON { Ok(()) } else { Err(format!("{running} = {v}")) }
    });
    // While its tasks started it was below desired for a moment; at 2 of 2
    // every alert for it resolves.
    wait_for("no alert for the service running 2 of 2", Duration::from_secs(30), || {
        let alerts = alerts_for(&client, &prom, &short)?;
        if alerts.is_empty() { Ok(()) } else { Err(format!("alerts for {short}: {alerts:?}")) }
    });

    // One replica short: the update stops an old task (stop-first) and
    // its replacement cannot be placed.
    docker(&["service", "update", "--detach", "--constraint-add", &format!("node.labels.{prefix}==nowhere"), &short])
        .unwrap();
    wait_for("SwarmServiceBelowDesired fires for the service one replica short", Duration::from_secs(90), || {
        let alerts = alerts_for(&client, &prom, &short)?;
        if alerts.iter().any(|(name, state)| name == "SwarmServiceBelowDesired" && state == "firing") {
            Ok(())
        } else {
            Err(format!("alerts for {short}: {alerts:?}"))
        }
    });
    let desired =
        query_value(&client, &prom, &format!(r#"swarm_service_replicas_desired{{service="{short}"}}"#)).unwrap();
    assert!((desired - 2.0).abs() < f64::EPSILON, "desired stays 2 while one task is pending, not {desired}");

    for service in [&crash, &exits] {
        wait_for(&format!("SwarmServiceCrashLoop fires for {service}"), Duration::from_secs(120), || {
            let alerts = alerts_for(&client, &prom, service)?;
            if alerts.iter().any(|(name, state)| name == "SwarmServiceCrashLoop" && state == "firing") {
                Ok(())
            } else {
                Err(format!("alerts for {service}: {alerts:?}"))
            }
        });
    }
    let quiet = alerts_for(&client, &prom, &short).unwrap();
    assert!(
        !quiet.iter().any(|(name, _)| name == "SwarmServiceCrashLoop"),
        "a service whose tasks do not fail has no crash loop: {quiet:?}"
    );
}

/// An engine that cannot be reached is a metric and a 503, not a crash.
/// Needs no Docker: the exporter points at a port nothing listens on.
#[test]
fn an_unreachable_engine_is_reported_not_fatal() {
    let closed = free_port();
    let port = free_port();
    let exporter = format!("http://127.0.0.1:{port}");
    let mut world = World { services: Vec::new(), children: Vec::new() };
    world.children.push(
        Command::new(env!("CARGO_BIN_EXE_swarm-exporter"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--api-timeout", "2"])
            .env("DOCKER_HOST", format!("tcp://127.0.0.1:{closed}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = http();
    let metrics = wait_for("the exporter answers /metrics", Duration::from_secs(20), || {
        client
            .get(format!("{exporter}/metrics"))
            .send()
            .and_then(|r| r.error_for_status()?.text())
            .map_err(|e| e.to_string())
    });
    assert!(metrics.contains("swarm_exporter_engine_up 0"), "{metrics}");
    assert!(metrics.contains(r#"swarm_exporter_engine_errors_total{endpoint="/services"} 1"#), "{metrics}");
    assert!(
        !metrics.lines().any(|l| l.starts_with("swarm_service_")),
        "no service series without a reading: {metrics}"
    );

    let health = client.get(format!("{exporter}/health")).send().unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body = health.text().unwrap();
    assert!(body.contains("GET /info"), "{body}");
    assert!(!healthcheck(&format!("{exporter}/health")), "`swarm-exporter healthcheck` fails on a 503");
    // Still serving after the failures.
    let again = client.get(format!("{exporter}/metrics")).send().unwrap().text().unwrap();
    assert!(again.contains(r#"swarm_exporter_engine_errors_total{endpoint="/services"} 2"#), "{again}");
}

/// The Docker API proxy's socket may appear after the exporter started
/// (Swarm starts the stack's services together): until it exists the
/// exporter serves `engine_up 0` and a 503, and the first scrape after it
/// appears reads the Swarm. The socket here is socat relaying to the local
/// engine, as the proxy relays to it.
#[test]
fn a_socket_that_appears_later_is_read_once_it_does() {
    if !Path::new("/var/run/docker.sock").exists() {
        return skip_or_fail("no Docker engine socket");
    }
    let Ok(socat) = which_socat() else { return skip_or_fail("socat not found") };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let port = free_port();
    let exporter = format!("http://127.0.0.1:{port}");
    let mut world = World { services: Vec::new(), children: Vec::new() };
    world.children.push(
        Command::new(env!("CARGO_BIN_EXE_swarm-exporter"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--api-timeout", "5"])
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = http();
    let scrape = || {
        client
            .get(format!("{exporter}/metrics"))
            .send()
            .and_then(|r| r.error_for_status()?.text())
            .map_err(|e| e.to_string())
    };
    let before = wait_for("the exporter answers /metrics without its socket", Duration::from_secs(20), scrape);
    assert!(before.lines().any(|l| l == "swarm_exporter_engine_up 0"), "{before}");
    let health = client.get(format!("{exporter}/health")).send().unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(health.text().unwrap().contains("Socket not found"), "the 503 says why");

    world.children.push(
        Command::new(socat)
            // unlink-close=0: a forked child must not remove the socket.
            .arg(format!("UNIX-LISTEN:{},fork,unlink-close=0", socket.display()))
            .arg("UNIX-CONNECT:/var/run/docker.sock")
            .spawn()
            .unwrap(),
    );
    let after = wait_for("a scrape reads the engine through the new socket", Duration::from_secs(20), || {
        let text = scrape()?;
        // By line: the HELP text says "swarm_exporter_engine_up 1 when …".
        if text.lines().any(|l| l == "swarm_exporter_engine_up 1") {
            Ok(text)
        } else {
            Err("engine_up is still 0".into())
        }
    });
    // The scrapes before the socket existed were counted, none after.
    let failed = after
        .lines()
        .find_map(|l| l.strip_prefix(r#"swarm_exporter_engine_errors_total{endpoint="/services"} "#))
        .unwrap_or_else(|| panic!("the failed reads are counted: {after}"));
    assert!(failed.parse::<u64>().is_ok_and(|n| n >= 1), "{failed}");
    let health = client.get(format!("{exporter}/health")).send().unwrap();
    let status = health.status();
    assert_eq!(status, reqwest::StatusCode::OK, "healthy once the engine answered: {}", health.text().unwrap());
    assert!(healthcheck(&format!("{exporter}/health")), "`swarm-exporter healthcheck` agrees");
}

fn which_socat() -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|d| d.join("socat")).find(|p| p.is_file()).ok_or(())
}
