//! The PostgreSQL table statistics and the postmaster start time, end to end
//! on the real components that run here: PostgreSQL (Debian's server, with
//! password authentication), postgres_exporter started with the arguments,
//! environment and secret files of `stack/stack.toml`, and a real
//! Prometheus scraping it with the OTel Collector's two PostgreSQL jobs from
//! `otelcol.yml` (the `/metrics` job and the per-database `/probe` job with
//! its auth module, counters renamed as the collector's remote write does)
//! and evaluating the generated `postgres.rules.yml`.
//!
//! The exporter here is the Debian build in `.tools/bin` (0.19.1, see
//! `.tools/versions.toml`); the stack pins v0.20.1. Between the two tags
//! `collector/pg_stat_user_tables.go`, `pg_statio_user_tables.go`,
//! `pg_postmaster.go`, `collector/probe.go` and the auth modules of
//! `config/config.go` did not change what they emit or accept.
//!
//! Scenario: a second database `etl` with a table whose autovacuum is off
//! and which has 15 000 dead rows of 20 000; an empty `keycloak`; a probe
//! target naming a database that does not exist. The table's series arrive
//! with the catalog's names and labels (`stack/catalog/postgres-tables.toml`);
//! PostgresTableDeadTuplesHigh, PostgresTableNotVacuumed and
//! PostgresTableNotAnalyzed become active for that table (pending: their
//! expressions hold, their `for` has not run out), PostgresTableStatsFailing
//! for the missing database only; a restart of PostgreSQL makes
//! PostgresRestarted fire. Skipped (with a message) without PostgreSQL,
//! postgres_exporter or Prometheus; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its fixture should panic

#[path = "e2e/live.rs"]
mod live;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The monitoring role's password: password authentication is on, so the
/// auth module's credentials are really used.
const PASSWORD: &str = "s3cret-for-the-probe";
/// The table with dead rows, in database `etl`.
const TABLE: &str = "staging_events";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `name` on PATH (the tools are linked into .tools/bin).
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway PostgreSQL cluster on loopback, stopped on drop.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> Result<Postgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL server (/usr/lib/postgresql: {e})"))?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|p| p.join("postgres").exists())
            .max()
            .ok_or("no PostgreSQL server in /usr/lib/postgresql")?;
        let dir = tempfile::Builder::new().prefix("pg-tables-live-").tempdir().unwrap();
        run("chmod", &["755", dir.path().to_str().unwrap()]);
        let data = dir.path().join("pg");
        std::fs::create_dir_all(&data).unwrap();
        run("chown", &["-R", "postgres:", data.to_str().unwrap()]);
        let pg = Postgres { dir, bin, port: free_port() };
        // The socket for setting up as the superuser; TCP, the exporter's
        // way in, asks for a password.
        pg.as_postgres(
            "initdb",
            &["-D", data.to_str().unwrap(), "--auth-local=trust", "--auth-host=scram-sha-256", "-U", "postgres"],
        );
        pg.pg_ctl("start");
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    fn as_postgres(&self, bin: &str, args: &[&str]) {
        let path = self.bin.join(bin);
        let mut full = vec!["-u", "postgres", "--", path.to_str().unwrap()];
        full.extend_from_slice(args);
        run("runuser", &full);
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.data();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            data.display()
        );
        let log = data.join("log");
        self.as_postgres(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "-m", "fast", action],
        );
    }

    fn sql(&self, database: &str, sql: &str) {
        let data = self.data();
        let port = self.port.to_string();
        self.as_postgres(
            "psql",
            &[
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                data.to_str().unwrap(),
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A child process killed on drop, its output in a log file.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Process { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 GET on loopback: (status, body).
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Percent-encodes a query-string value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The stack's postgres-exporter service, started here: its args and
/// environment from stack.toml, each `/run/secrets/<name>` a file of `secrets`,
/// the database host `postgres:5432` replaced by the local cluster.
fn start_exporter(binary: &Path, work: &Path, pg_port: u16, secrets: &BTreeMap<&str, String>) -> (Process, u16) {
    let stack: toml::Table = std::fs::read_to_string(live::repo().join("stack/stack.toml")).unwrap().parse().unwrap();
    let service = stack["services"]["postgres-exporter"].as_table().unwrap();
    let secret_dir = work.join("secrets");
    std::fs::create_dir_all(&secret_dir).unwrap();
    for mount in service["secrets"].as_array().unwrap() {
        let (source, target) = (mount["source"].as_str().unwrap(), mount["target"].as_str().unwrap());
        let content = secrets.get(source).unwrap_or_else(|| panic!("the test has no content for secret {source}"));
        std::fs::write(secret_dir.join(target), content).unwrap();
    }
    let local = |s: &str| {
        s.replace("/run/secrets/", &format!("{}/", secret_dir.display()))
            .replace("postgres:5432", &format!("127.0.0.1:{pg_port}"))
    };
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.env_clear();
    for (k, v) in service["environment"].as_table().unwrap() {
        cmd.env(k, local(v.as_str().unwrap()));
    }
    for arg in service.get("args").and_then(|a| a.as_array()).into_iter().flatten() {
        cmd.arg(local(arg.as_str().unwrap()));
    }
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let exporter = Process::spawn(&mut cmd, work.join("exporter.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(get(port, "/"), Ok((200, _))) {
        assert!(Instant::now() < deadline, "postgres_exporter did not answer:\n{}", exporter.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    (exporter, port)
}

/// Counters without `_total` of a catalog source (the collector's remote
/// write appends it).
fn renamed_counters(source: &str) -> Vec<String> {
    let text = std::fs::read_to_string(live::repo().join(format!("stack/catalog/{source}.toml"))).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    doc["metrics"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(name, m)| m["type"].as_str() == Some("counter") && !name.ends_with("_total"))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The collector's scrape jobs `names` from otelcol.yml, pointed at the local
/// exporter and cluster, with `extra_target` added to the probe job.
fn collector_jobs(exporter_port: u16, pg_port: u16, extra_target: &str) -> Vec<Value> {
    let collector: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(live::repo().join("stack/configs/otel-collector/otelcol.yml")).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for job in collector["receivers"]["prometheus"]["config"]["scrape_configs"].as_array().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        if name != "postgres-exporter" && name != "postgres-tables" {
            continue;
        }
        let text = job
            .to_string()
            .replace("$$", "$")
            .replace("postgres-exporter:9187", &format!("127.0.0.1:{exporter_port}"))
            .replace("postgres:5432", &format!("127.0.0.1:{pg_port}"));
        let mut job: Value = serde_json::from_str(&text).unwrap();
        job["scrape_interval"] = json!("2s");
        job["scrape_timeout"] = json!("2s");
        if name == "postgres-tables" {
            job["static_configs"][0]["targets"].as_array_mut().unwrap().push(json!(extra_target));
        }
        let source = if name == "postgres-tables" { "postgres-tables" } else { "postgres-exporter" };
        let renamed = renamed_counters(source);
        let rename = json!({
            "source_labels": ["__name__"],
            "regex": format!("({})", renamed.join("|")),
            "target_label": "__name__",
            "replacement": "${1}_total",
        });
        match job["metric_relabel_configs"].as_array_mut() {
            Some(list) => list.push(rename),
            None => job["metric_relabel_configs"] = json!([rename]),
        }
        out.push(job);
    }
    assert_eq!(out.len(), 2, "otelcol.yml lacks the postgres-exporter or postgres-tables job");
    out
}

struct Prometheus {
    process: Process,
    port: u16,
}

impl Prometheus {
    fn start(binary: &Path, work: &Path, jobs: Vec<Value>) -> Prometheus {
        let config = json!({
            "global": { "scrape_interval": "2s", "evaluation_interval": "2s" },
            "rule_files": [live::repo().join("alerts/generated/rules/postgres.rules.yml")],
            "scrape_configs": jobs,
        });
        let file = work.join("prometheus.yml");
        // JSON is YAML.
        std::fs::write(&file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let port = free_port();
        let process = Process::spawn(
            Command::new(binary)
                .arg(format!("--config.file={}", file.display()))
                .arg(format!("--storage.tsdb.path={}", work.join("tsdb").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            work.join("prometheus.log"),
        );
        let prometheus = Prometheus { process, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(get(port, "/-/ready"), Ok((200, _))) {
            assert!(Instant::now() < deadline, "prometheus not ready:\n{}", prometheus.process.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    fn api(&self, path: &str) -> Value {
        let (status, body) = get(self.port, path).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn query(&self, promql: &str) -> Vec<Value> {
        self.api(&format!("/api/v1/query?query={}", encode(promql)))["data"]["result"].as_array().unwrap().clone()
    }

    /// The active alerts (pending or firing) named `name`: (state, labels).
    fn alerts(&self, name: &str) -> Vec<(String, BTreeMap<String, String>)> {
        let answer = self.api("/api/v1/alerts");
        answer["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| {
                let labels = serde_json::from_value(a["labels"].clone()).unwrap();
                (a["state"].as_str().unwrap().to_owned(), labels)
            })
            .collect()
    }

    /// Waits until `ready` holds, or fails with `what` and the logs.
    fn wait_for(&self, what: &str, secs: u64, mut ready: impl FnMut(&Prometheus) -> bool, logs: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !ready(self) {
            assert!(Instant::now() < deadline, "{what} within {secs}s\n{logs}\n{}", self.process.log());
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The series labels of one query result, without the target labels.
fn own_labels(series: &Value) -> BTreeSet<String> {
    series["metric"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !["__name__", "job", "instance", "swarm_service"].contains(&k.as_str()))
        .cloned()
        .collect()
}

#[test]
fn probes_each_database_and_the_table_alerts_see_dead_rows() {
    let (Some(exporter_bin), Some(prometheus_bin)) = (on_path("postgres_exporter"), on_path("prometheus")) else {
        return live::skip_or_fail("postgres_tables_live", "postgres_exporter or prometheus not on PATH (.tools/bin)");
    };
    let pg = match Postgres::start() {
        Ok(pg) => pg,
        Err(e) => return live::skip_or_fail("postgres_tables_live", &e),
    };
    pg.sql("postgres", &format!("CREATE ROLE monitor LOGIN PASSWORD '{PASSWORD}'; GRANT pg_monitor TO monitor;"));
    pg.sql("postgres", "CREATE DATABASE etl;");
    pg.sql("postgres", "CREATE DATABASE keycloak;");
    // Autovacuum off for the table: its dead rows stay, as when autovacuum
    // cannot keep up; psql's exit flushes the statistics.
    pg.sql(
        "etl",
        &format!(
            "CREATE TABLE {TABLE} (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
             INSERT INTO {TABLE} SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i;
             DELETE FROM {TABLE} WHERE id <= 15000;"
        ),
    );

    let work = tempfile::Builder::new().prefix("pg-tables-live-work-").tempdir().unwrap();
    // The operator's secrets: the password alone (DATA_SOURCE_PASS_FILE) and
    // postgres_exporter's config file with the auth module the probe job
    // names, as JSON (which is YAML), the way README.md's Secrets section
    // creates it with jq.
    let auth_modules = json!({"auth_modules": {"monitor": {
        "type": "userpass",
        "userpass": {"username": "monitor", "password": PASSWORD},
        "options": {"sslmode": "disable"},
    }}})
    .to_string();
    let secrets = BTreeMap::from([
        ("postgres_exporter_password", format!("{PASSWORD}\n")),
        ("postgres_exporter_auth_modules", auth_modules),
    ]);
    let (exporter, exporter_port) = start_exporter(&exporter_bin, work.path(), pg.port, &secrets);
    let missing = format!("127.0.0.1:{}/no_such_database", pg.port);
    let prometheus = Prometheus::start(&prometheus_bin, work.path(), collector_jobs(exporter_port, pg.port, &missing));
    let etl = format!("127.0.0.1:{}/etl", pg.port);

    // 1. The table's statistics arrive through the probe of `etl`, with the
    //    catalog's names and labels.
    let dead = format!(r#"pg_stat_user_tables_n_dead_tup{{job="postgres-tables",relname="{TABLE}"}}"#);
    prometheus.wait_for(
        "15 000 dead rows of the table in Prometheus",
        90,
        |p| p.query(&dead).iter().any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()) >= Some(15000.0)),
        &exporter.log(),
    );
    let series = prometheus.query(&format!(r#"{{job="postgres-tables",relname="{TABLE}"}}"#));
    let seen: BTreeMap<String, &Value> =
        series.iter().map(|s| (s["metric"]["__name__"].as_str().unwrap().to_owned(), s)).collect();
    let catalog: toml::Table =
        std::fs::read_to_string(live::repo().join("stack/catalog/postgres-tables.toml")).unwrap().parse().unwrap();
    let renamed = renamed_counters("postgres-tables");
    let mut table_metrics = 0;
    for (name, m) in catalog["metrics"].as_table().unwrap() {
        if !name.contains("_user_tables_") {
            continue;
        }
        table_metrics += 1;
        let stored = if renamed.contains(name) { format!("{name}_total") } else { name.clone() };
        let s = seen.get(&stored).unwrap_or_else(|| panic!("no series {stored} for the table; got {:?}", seen.keys()));
        let want: BTreeSet<String> =
            m["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
        assert_eq!(own_labels(s), want, "labels of {stored}");
        assert_eq!(s["metric"]["instance"], etl.as_str(), "{stored}");
        assert_eq!(s["metric"]["datname"], "etl", "{stored}");
        assert_eq!(s["metric"]["schemaname"], "public", "{stored}");
    }
    assert_eq!(table_metrics, 29, "the catalog's table metrics");
    // Only the per-database series are kept from the probes.
    let kept = prometheus.query(r#"group by (__name__) ({job="postgres-tables"})"#);
    for s in &kept {
        let name = s["metric"]["__name__"].as_str().unwrap();
        assert!(
            catalog["metrics"].get(name.trim_end_matches("_total")).is_some()
                || catalog["metrics"].get(name).is_some()
                // Made by the scraper itself, and the rules' alert state
                // (which carries the series' `job`).
                || name == "up"
                || name.starts_with("scrape_")
                || name.starts_with("ALERTS"),
            "the probe job keeps {name}, which its catalog does not list"
        );
    }
    // The empty database is probed (pg_up 1) and has no table series.
    let keycloak = format!("127.0.0.1:{}/keycloak", pg.port);
    let up_query = format!(r#"pg_up{{job="postgres-tables",instance="{keycloak}"}}"#);
    prometheus.wait_for("the probe of keycloak", 30, |p| !p.query(&up_query).is_empty(), &exporter.log());
    let up = prometheus.query(&up_query);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["value"][1], "1");
    let tables = prometheus.query(&format!(r#"{{job="postgres-tables",instance="{keycloak}",relname!=""}}"#));
    assert!(tables.is_empty(), "keycloak has no tables: {tables:?}");
    // The server-wide job has the postmaster's start time.
    let start_query = r#"pg_postmaster_start_time_seconds{job="postgres-exporter"}"#;
    prometheus.wait_for("the postmaster's start time", 30, |p| !p.query(start_query).is_empty(), &exporter.log());
    let start = prometheus.query(start_query);
    assert_eq!(start.len(), 1, "{start:?}\n{}", exporter.log());
    assert!(own_labels(&start[0]).is_empty(), "{start:?}");

    // 2. The rules: the dead-tuple, vacuum and analyze alerts hold for the
    //    table (pending: their `for` is minutes to hours), the stats alert for
    //    the missing database only.
    let for_table = |labels: &BTreeMap<String, String>| {
        labels.get("relname").map(String::as_str) == Some(TABLE)
            && labels.get("datname").map(String::as_str) == Some("etl")
            && labels.get("instance") == Some(&etl)
    };
    for alert in ["PostgresTableDeadTuplesHigh", "PostgresTableNotVacuumed", "PostgresTableNotAnalyzed"] {
        prometheus.wait_for(
            &format!("{alert} active for {TABLE}"),
            60,
            |p| p.alerts(alert).iter().any(|(state, labels)| state == "pending" && for_table(labels)),
            &exporter.log(),
        );
    }
    // The dead share of the table: 15 000 of 20 000 rows.
    let ratio = prometheus.query(&format!(
        r#"pg_stat_user_tables_n_dead_tup{{relname="{TABLE}"}} / (pg_stat_user_tables_n_live_tup{{relname="{TABLE}"}} + pg_stat_user_tables_n_dead_tup{{relname="{TABLE}"}})"#
    ));
    assert_eq!(ratio.len(), 1, "{ratio:?}");
    assert_eq!(ratio[0]["value"][1], "0.75");
    prometheus.wait_for(
        "PostgresTableStatsFailing for the missing database",
        60,
        |p| p.alerts("PostgresTableStatsFailing").iter().any(|(_, l)| l.get("instance") == Some(&missing)),
        &exporter.log(),
    );
    let failing = prometheus.alerts("PostgresTableStatsFailing");
    assert!(failing.iter().all(|(_, l)| l.get("instance") == Some(&missing)), "{failing:?}");
    assert!(prometheus.alerts("PostgresRestarted").is_empty());

    // 3. A restart moves the postmaster's start time: PostgresRestarted fires.
    pg.pg_ctl("restart");
    prometheus.wait_for(
        "PostgresRestarted firing after a restart",
        60,
        |p| p.alerts("PostgresRestarted").iter().any(|(state, _)| state == "firing"),
        &exporter.log(),
    );
}
