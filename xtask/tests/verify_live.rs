//! `cargo xtask verify` on the real components that run here: Prometheus,
//! Alertmanager, node-exporter, postgres-exporter against a real PostgreSQL
//! and nginx-exporter against a real NGINX (both on this host, reached
//! from the overlay network through the docker_gwbridge gateway), and the
//! Swarm exporter (this workspace's image, pinned by its input-addressed
//! tag and resolved to a digest by `deploy`) reading the real Swarm
//! through the Docker API proxy, from the test images, deployed from the repository's own stack definition and
//! configs (`stack/stack.toml`, prometheus.yml, alertmanager.yml, the
//! generated rules). The OTel Collector cannot run here, so the test's
//! Prometheus scrapes the exporters with the collector's own scrape jobs
//! (from otelcol.yml) and renames counters as the collector's remote write
//! does (`_total` appended, from the metric catalog).
//!
//! Scenario: verify passes; a missing target is named; a rule that fails to
//! evaluate makes `deploy --verify` roll back, naming the rule, and
//! `status` records the revision as rolled back; deployed without the gate,
//! verify alone names the rule. Skipped (with a message)
//! without Docker, the test images, PostgreSQL or NGINX; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use harness::TestStack;
use serde_json::{Value, json};

/// The services of the repository's stack that run here: the Swarm
/// exporter (the workspace-built image, deployed by its input-addressed
/// tag) behind the Docker API proxy's Swarm readers' socket.
const SERVICES: &[&str] = &[
    "prometheus",
    "alertmanager",
    "node-exporter",
    "postgres-exporter",
    "nginx-exporter",
    "docker-proxy",
    "swarm-exporter",
];
/// Their images (`[images]` names).
const IMAGES: &[&str] = &[
    "prometheus",
    "alertmanager",
    "node-exporter",
    "postgres-exporter",
    "nginx-exporter",
    "haproxy",
    "swarm-exporter",
];
/// Scrape jobs of prometheus.yml and otelcol.yml whose services run here.
const JOBS: &[&str] = &[
    "prometheus",
    "alertmanager",
    "node-exporter",
    "postgres-exporter",
    "postgres-tables",
    "nginx-exporter",
    "swarm-exporter",
];
/// Catalog sources the collector scrapes in production (renamed counters).
const COLLECTED: &[&str] = &["node-exporter", "postgres-exporter", "postgres-tables", "nginx-exporter"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn skip_or_fail(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("verify_live: {what}");
    }
    eprintln!("verify_live: SKIPPED: {what}");
}

/// PostgreSQL and NGINX on the host, listening on the gateway of the
/// containers' default route; stopped on drop.
struct HostServers {
    dir: tempfile::TempDir,
    pg_bin: PathBuf,
    nginx: Child,
    gateway: String,
    pg_port: u16,
    nginx_port: u16,
}

impl HostServers {
    fn start(gateway: &str) -> Result<HostServers, String> {
        let pg_bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL server (/usr/lib/postgresql: {e})"))?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|p| p.join("postgres").exists())
            .max()
            .ok_or("no PostgreSQL server in /usr/lib/postgresql")?;
        if Command::new("nginx").arg("-v").output().is_err() {
            return Err("no nginx".into());
        }
        let dir = tempfile::Builder::new().prefix("verify-live-").tempdir().unwrap();
        let (pg_port, nginx_port) = (harness::free_port(), harness::free_port());
        let data = dir.path().join("pg");
        std::fs::create_dir_all(&data).unwrap();
        run("chmod", &["755", dir.path().to_str().unwrap()]);
        run("chown", &["-R", "postgres:", data.to_str().unwrap()]);
        let as_pg = |bin: &str, args: &[&str]| {
            let mut full = vec!["-u", "postgres", "--"];
            let path = pg_bin.join(bin);
            full.push(path.to_str().unwrap());
            full.extend_from_slice(args);
            run("runuser", &full);
        };
        as_pg("initdb", &["-D", data.to_str().unwrap(), "--auth=trust", "-U", "postgres", "-E", "UTF8"]);
        let options =
            format!("-c listen_addresses={gateway} -c port={pg_port} -c unix_socket_directories={}", data.display());
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhost all all 0.0.0.0/0 trust\n").unwrap();
        as_pg(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &options, "-l", data.join("log").to_str().unwrap(), "-w", "start"],
        );
        as_pg(
            "psql",
            &[
                "-h",
                data.to_str().unwrap(),
                "-p",
                &pg_port.to_string(),
                "-U",
                "postgres",
                "-c",
                "CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor;",
            ],
        );
        // The platform's databases the collector's `postgres-tables` job
        // probes (otelcol.yml), one with a table: the table alerts read its
        // statistics, so verify expects them.
        for sql in ["CREATE DATABASE etl;", "CREATE DATABASE keycloak;"] {
            as_pg("psql", &["-h", data.to_str().unwrap(), "-p", &pg_port.to_string(), "-U", "postgres", "-c", sql]);
        }
        as_pg(
            "psql",
            &[
                "-h",
                data.to_str().unwrap(),
                "-p",
                &pg_port.to_string(),
                "-U",
                "postgres",
                "-d",
                "etl",
                "-c",
                "CREATE TABLE staging_events (id int PRIMARY KEY); INSERT INTO staging_events SELECT generate_series(1, 100);",
            ],
        );
        let ng = dir.path().join("nginx");
        std::fs::create_dir_all(ng.join("tmp")).unwrap();
        let conf = format!(
            "pid {ng}/nginx.pid;\nerror_log {ng}/error.log warn;\nevents {{}}\nhttp {{\n  access_log off;\n  \
             client_body_temp_path {ng}/tmp/body;\n  proxy_temp_path {ng}/tmp/proxy;\n  fastcgi_temp_path {ng}/tmp/fcgi;\n  \
             uwsgi_temp_path {ng}/tmp/uwsgi;\n  scgi_temp_path {ng}/tmp/scgi;\n  \
             server {{\n    listen {gateway}:{nginx_port};\n    location = /stub_status {{ stub_status; }}\n  }}\n}}\n",
            ng = ng.display()
        );
        std::fs::write(ng.join("nginx.conf"), conf).unwrap();
        // Its own stdio: a worker that outlived the test would otherwise
        // hold the test runner's output pipe open (and `cargo test | tee`
        // would never end).
        let nginx = Command::new("nginx")
            .args(["-p", ng.to_str().unwrap(), "-c", ng.join("nginx.conf").to_str().unwrap(), "-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting nginx: {e}"))?;
        Ok(HostServers { dir, pg_bin, nginx, gateway: gateway.to_owned(), pg_port, nginx_port })
    }
}

impl Drop for HostServers {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers first (SIGKILL would orphan
        // them, still listening); SIGKILL only if it does not exit.
        let _ = Command::new("kill").args(["-TERM", &self.nginx.id().to_string()]).output();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while matches!(self.nginx.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
        let data = self.dir.path().join("pg");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.pg_bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {}: {}", args.join(" "), text(&out));
}

/// Counters of the collector-scraped sources whose name lacks `_total`.
fn renamed_counters(source: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(format!("stack/catalog/{source}.toml"))).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let metrics = doc.get("metrics").and_then(|m| m.as_table()).cloned().unwrap_or_default();
    metrics
        .iter()
        .filter(|(name, m)| m.get("type").and_then(|t| t.as_str()) == Some("counter") && !name.ends_with("_total"))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The repository's prometheus.yml with the jobs of the services that run
/// here, plus the collector's scrape jobs for the exporters (the databases
/// the probe job names are the host's PostgreSQL).
fn prometheus_yml(servers: &HostServers) -> String {
    let read =
        |p: &str| -> Value { serde_saphyr::from_str(&std::fs::read_to_string(repo().join(p)).unwrap()).unwrap() };
    let mut prom = read("stack/configs/prometheus/prometheus.yml");
    let collector = read("stack/configs/otel-collector/otelcol.yml");
    let mut jobs: Vec<Value> = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| JOBS.contains(&j["job_name"].as_str().unwrap()))
        .cloned()
        .collect();
    // node-exporter runs on the host network and is scraped by each node's
    // agent (agent.yml) through the host gateway, named by the node's
    // hostname; here Prometheus does the agent's part for the one node.
    let agent = read("stack/configs/otel-collector/agent.yml");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let collected = collector["receivers"]["prometheus"]["config"]["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(agent["receivers"]["prometheus"]["config"]["scrape_configs"].as_array().unwrap());
    for job in collected {
        let name = job["job_name"].as_str().unwrap();
        if !JOBS.contains(&name) {
            continue;
        }
        // The collector's config escapes `$` as `$$`, and names the node
        // through the agent's environment.
        let job = job
            .to_string()
            .replace("$$", "$")
            .replace("${env:NODE_HOSTNAME}", hostname.trim())
            .replace("postgres:5432", &format!("{}:{}", servers.gateway, servers.pg_port));
        let mut job: Value = serde_json::from_str(&job).unwrap();
        let renamed = renamed_counters(name);
        if COLLECTED.contains(&name) && !renamed.is_empty() {
            job["metric_relabel_configs"] = json!([{
                "source_labels": ["__name__"],
                "regex": format!("({})", renamed.join("|")),
                "target_label": "__name__",
                "replacement": "${1}_total",
            }]);
        }
        jobs.push(job);
    }
    prom["scrape_configs"] = Value::Array(jobs);
    // JSON is YAML.
    serde_json::to_string_pretty(&prom).unwrap()
}

/// The repository's stack.toml, cut to the services that run here, on the
/// test images, the test network and the host's PostgreSQL and NGINX.
fn stack_toml(stack: &TestStack, servers: &HostServers, images: &toml::Table, extra_rules: bool) -> String {
    let mut doc: toml::Table = std::fs::read_to_string(repo().join("stack/stack.toml")).unwrap().parse().unwrap();
    let s = doc["stack"].as_table_mut().unwrap();
    s.insert("name".into(), stack.name.clone().into());
    s.insert("network".into(), stack.network.clone().into());
    s.insert("endpoint_mode".into(), "dnsrr".into());
    s.insert("publish_mode".into(), "host".into());
    let registry = images["registry"].as_str().unwrap();
    let mut imgs = toml::Table::new();
    for name in IMAGES {
        let reference = images["images"][*name]["reference"].as_str().unwrap();
        let (repo, tag) = reference.rsplit_once(':').unwrap();
        let path = repo.split_once('/').unwrap().1;
        let mut t = toml::Table::new();
        t.insert("repository".into(), format!("{registry}/{path}").into());
        // The repository's build (the test image carries its tag), or the
        // test image's tag.
        match doc["images"].get(*name).and_then(|i| i.get("build")) {
            Some(build) => t.insert("build".into(), build.clone()),
            None => t.insert("tag".into(), tag.into()),
        };
        imgs.insert((*name).into(), t.into());
    }
    doc.insert("images".into(), imgs.into());
    let configs = doc["configs"].as_table_mut().unwrap();
    configs.retain(|k, _| {
        ["prometheus_yml", "alertmanager_yml", "alertmanager_tmpl", "otelcol_yml", "docker_proxy_cfg"].contains(&k)
    });
    let sets = doc["config_sets"].as_table_mut().unwrap();
    sets.retain(|k, _| k == "rules");
    if extra_rules {
        let mut t = toml::Table::new();
        t.insert("dir".into(), "extra-rules".into());
        t.insert("extension".into(), "yml".into());
        t.insert("prefix".into(), "extra_rules".into());
        sets.insert("extra_rules".into(), t.into());
    }
    let secrets = doc["secrets"].as_table_mut().unwrap();
    secrets.retain(|k, _| k.starts_with("alertmanager_") || k.starts_with("postgres_exporter_"));
    let services = doc["services"].as_table_mut().unwrap();
    services.retain(|k, _| SERVICES.contains(&k));
    for (name, svc) in services.iter_mut() {
        let svc = svc.as_table_mut().unwrap();
        // verify needs no published port: it reads from inside the network.
        svc.remove("ports");
        match name.as_str() {
            "prometheus" => {
                // The agent's way to the host-network node-exporter.
                svc.insert("extra_hosts".into(), vec!["host.docker.internal:host-gateway"].into());
                if extra_rules {
                    let sets = svc["config_sets"].as_array_mut().unwrap();
                    let mut t = toml::Table::new();
                    t.insert("source".into(), "extra_rules".into());
                    t.insert("target_dir".into(), "/etc/prometheus/rules".into());
                    sets.push(t.into());
                }
            }
            "postgres-exporter" => {
                let env = svc["environment"].as_table_mut().unwrap();
                env.insert(
                    "DATA_SOURCE_URI".into(),
                    format!("{}:{}/postgres?sslmode=disable", servers.gateway, servers.pg_port).into(),
                );
            }
            "nginx-exporter" => {
                svc.insert(
                    "args".into(),
                    vec![format!("--nginx.scrape-uri=http://{}:{}/stub_status", servers.gateway, servers.nginx_port)]
                        .into(),
                );
            }
            _ => {}
        }
    }
    toml::to_string(&doc).unwrap()
}

/// Writes the scratch repository and runs the real `gen` in it.
fn render(stack: &TestStack, servers: &HostServers, images: &toml::Table, broken_rule: bool) {
    let root = stack.dir.path();
    let registry = images["registry"].as_str().unwrap();
    std::fs::write(root.join("stack/images.lock"), harness::images_lock_of(images, registry, IMAGES)).unwrap();
    std::fs::write(root.join("stack/stack.toml"), stack_toml(stack, servers, images, broken_rule)).unwrap();
    for dir in
        ["stack/configs/prometheus", "stack/configs/alertmanager", "stack/configs/otel-collector", "stack/catalog"]
    {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("stack/configs/prometheus/prometheus.yml"), prometheus_yml(servers)).unwrap();
    std::fs::create_dir_all(root.join("stack/configs/docker-proxy")).unwrap();
    for file in [
        "stack/configs/docker-proxy/haproxy.cfg",
        "stack/configs/alertmanager/alertmanager.yml",
        "stack/configs/alertmanager/notifications.tmpl",
        "stack/configs/otel-collector/otelcol.yml",
    ] {
        std::fs::copy(repo().join(file), root.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(repo().join("stack/catalog")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, root.join("stack/catalog").join(path.file_name().unwrap())).unwrap();
    }
    let extra = root.join("extra-rules");
    if broken_rule {
        // Many-to-many matching: loads fine, fails at every evaluation.
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::write(
            extra.join("broken.yml"),
            "groups:\n  - name: verify-test\n    rules:\n      - record: verify_test:broken\n        expr: \
             'vector(1) + on() group_left() (label_replace(vector(1), \"a\", \"x\", \"\", \"\") or \
             label_replace(vector(1), \"a\", \"y\", \"\", \"\"))'\n",
        )
        .unwrap();
    }
    let out = stack.xtask(&["gen"]);
    assert!(out.status.success(), "gen failed:\n{}", text(&out));
}

/// The gateway of docker_gwbridge: where containers reach this host.
fn gateway(stack: &TestStack) -> Option<String> {
    let net = stack.block_on(stack.docker().inspect_network("docker_gwbridge", None)).ok()?;
    net.ipam?.config?.into_iter().find_map(|c| c.gateway)
}

fn create_secret(stack: &TestStack, name: &str, value: &str) {
    use base64::Engine as _;
    let spec = bollard::models::SecretSpec {
        name: Some(format!("{}_{name}", stack.name)),
        data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
        labels: Some([("com.docker.stack.namespace".to_owned(), stack.name.clone())].into()),
        ..Default::default()
    };
    stack.block_on(stack.docker().create_secret(spec)).unwrap();
}

/// Scales a service of the stack by hand (a target goes missing).
fn scale(stack: &TestStack, service: &str, replicas: i64) {
    let d = stack.docker();
    let name = format!("{}_{service}", stack.name);
    let svc = stack.block_on(d.inspect_service(&name, None)).unwrap();
    let mut spec = svc.spec.unwrap();
    spec.mode = Some(bollard::models::ServiceSpecMode {
        replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(replicas) }),
        ..Default::default()
    });
    let version = svc.version.unwrap().index.unwrap() as i32;
    let options = bollard::query_parameters::UpdateServiceOptions { version, ..Default::default() };
    stack.block_on(d.update_service(&name, spec, options, None)).unwrap();
}

#[test]
fn verify_passes_then_names_the_missing_target_and_the_broken_rule() {
    let Some(stack) = TestStack::new("verify_live") else { return };
    let images = harness::test_images().unwrap();
    let Some(gw) = gateway(&stack) else { return skip_or_fail("no docker_gwbridge network") };
    let servers = match HostServers::start(&gw) {
        Ok(s) => s,
        Err(e) => return skip_or_fail(&e),
    };
    // Labelled with the stack: the harness removes them with it.
    create_secret(&stack, "postgres_exporter_password", "unused-with-trust-auth");
    // The auth module of the probe job; the exporter refuses one without a
    // password, which trust authentication then ignores.
    create_secret(
        &stack,
        "postgres_exporter_auth_modules",
        "auth_modules:\n  monitor:\n    type: userpass\n    userpass:\n      username: monitor\n      \
         password: unused-with-trust-auth\n    options:\n      sslmode: disable\n",
    );
    create_secret(&stack, "alertmanager_webhook_url", "http://127.0.0.1:1/webhook");
    create_secret(&stack, "alertmanager_watchdog_url", "http://127.0.0.1:1/watchdog");

    // 1. The repository's stack, deployed: verify passes.
    render(&stack, &servers, &images, false);
    let out = stack.xtask(&["deploy", "--skip-check", "--soak", "2", "--deadline", "180"]);
    assert_eq!(out.status.code(), Some(0), "deploy failed:\n{}", text(&out));
    // The workspace-built image was named by its tag alone; deploy resolved
    // it to the digest the registry serves, and status shows that digest
    // running, as the revision recorded it.
    let out = stack.xtask(&["status", "--output", "json"]);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let exporter = status["services"].as_array().unwrap().iter().find(|s| s["name"] == "swarm-exporter").unwrap();
    let registry = images["registry"].as_str().unwrap();
    let test_image = &images["images"]["swarm-exporter"];
    let tag = test_image["version"].as_str().unwrap();
    let want = format!("{registry}/monitoring-test/swarm-exporter:{tag}@{}", test_image["digest"].as_str().unwrap());
    assert_eq!(exporter["image"], json!(want), "{exporter}");
    assert_eq!(exporter["matches_revision"], json!(true), "{exporter}");
    let out = stack.xtask(&["verify", "--wait", "120"]);
    assert_eq!(out.status.code(), Some(0), "verify on the fresh stack:\n{}", text(&out));

    // 2. A missing target: verify names its job, service and target.
    scale(&stack, "nginx-exporter", 0);
    let out = stack.xtask(&["verify", "--wait", "60"]);
    assert_eq!(out.status.code(), Some(1), "verify with nginx-exporter gone:\n{}", text(&out));
    let report = text(&out);
    let line = report.lines().find(|l| l.contains("job nginx-exporter")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("[verify-targets]") && line.contains("target nginx-exporter:9113"), "{line}");
    scale(&stack, "nginx-exporter", 1);

    // 3. A rule that fails to evaluate: `deploy --verify` names it and rolls
    //    back; status records the revision as rolled back.
    render(&stack, &servers, &images, true);
    let out =
        stack.xtask(&["deploy", "--skip-check", "--soak", "2", "--deadline", "180", "--verify", "--verify-wait", "60"]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(2), "deploy --verify with a broken rule:\n{report}");
    assert!(
        report.lines().any(|l| l.contains("[verify-rules]") && l.contains("rule verify_test:broken")),
        "the broken rule is not named:\n{report}"
    );
    let status = stack.status_json();
    let last = status["history"].as_array().unwrap().iter().max_by_key(|h| h["number"].as_u64()).unwrap().clone();
    assert_eq!(last["outcome"], "rolled-back", "{status:#}");
    assert!(last.to_string().contains("verify"), "status does not say verify failed: {last}");

    // 4. The same rule deployed without the gate: verify alone names it.
    let out = stack.xtask(&["deploy", "--skip-check", "--soak", "2", "--deadline", "180"]);
    assert_eq!(out.status.code(), Some(0), "deploy of the broken rule without --verify:\n{}", text(&out));
    let out = stack.xtask(&["verify", "--wait", "30"]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "verify with a broken rule:\n{report}");
    let line = report.lines().find(|l| l.contains("rule verify_test:broken")).unwrap_or_else(|| panic!("{report}"));
    assert!(
        line.starts_with("extra-rules/broken.yml: group verify-test rule verify_test:broken: [verify-rules]"),
        "{line}"
    );
    assert!(line.contains("evaluation fails"), "{line}");
    let _ = &servers.dir;
}
