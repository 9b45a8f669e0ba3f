//! What the tests that run real components as host processes share (the
//! registry, a Docker engine, PostgreSQL and postgres_exporter, each scraped
//! by a real Prometheus): where the repository and the tools are, how a
//! missing tool is reported, a child process stopped on drop, a Prometheus
//! query, and the metric names a PromQL expression reads.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;
use serde_json::Value;

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A test that cannot run here: a failure in CI (where everything it needs
/// is installed), a message and a skip elsewhere.
pub fn skip_or_fail(test: &str, what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what}");
    }
    eprintln!("{test}: SKIPPED: {what}");
}

/// `$<env>`, `.tools/bin/<binary>`, then `PATH`: the order xtask's
/// `tools::find` uses.
pub fn find_tool(binary: &str, env: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(path);
    }
    let local = repo().join(".tools/bin").join(binary);
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join(binary)).find(|p| p.is_file())
}

/// Copies the directory tree `from` to `to` (a scratch copy of the
/// repository's inputs).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The Prometheus queries of dashboard `uid`, each with Grafana's
/// `variables` substituted as Grafana would, named by panel and ref id.
pub fn dashboard_queries(uid: &str, variables: &[(&str, &str)]) -> Vec<(String, String)> {
    let dashboard = dashboards::all().into_iter().find(|d| d.uid() == uid).unwrap();
    dashboard
        .queries()
        .into_iter()
        .filter(|q| q.datasource == dashboards::Datasource::Prometheus)
        .map(|q| {
            let expr = variables.iter().fold(q.expr, |e, (var, value)| e.replace(var, value));
            (format!("panel \"{}\" {}", q.panel_title, q.ref_id), expr)
        })
        .collect()
}

/// A child process stopped (SIGTERM, then SIGKILL after 10 s) on drop, so
/// no component outlives its test, even one that panics.
pub struct Process(pub Child);

impl Process {
    /// Starts `binary` with `args`, stdout and stderr to `log`.
    pub fn spawn(binary: &Path, args: &[String], log: &Path) -> Process {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        Process(child)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).output();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An instant query through `curl` (which `nsenter` can run in another
/// network namespace: `prefix` is the command line before curl's own
/// arguments, empty for this one); the `data.result` array, or the error
/// Prometheus gave.
pub fn prometheus_query(prefix: &[&str], prometheus: &str, expr: &str) -> Result<Vec<Value>, String> {
    let args = [format!("{prometheus}/api/v1/query"), "--data-urlencode".to_owned(), format!("query={expr}")];
    let body = prometheus_api(prefix, &args)?;
    Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// A GET of Prometheus' API `path` (e.g. `/api/v1/rules`): the JSON body,
/// or the error Prometheus gave.
pub fn prometheus_get(prometheus: &str, path: &str) -> Result<Value, String> {
    prometheus_api(&[], &[format!("{prometheus}{path}")])
}

/// curl with `args` (after `prefix`), its JSON answer checked for Prometheus'
/// `status: success`.
fn prometheus_api(prefix: &[&str], args: &[String]) -> Result<Value, String> {
    let (program, before) = match prefix.split_first() {
        Some((program, rest)) => (*program, [rest, &["curl"]].concat()),
        None => ("curl", Vec::new()),
    };
    let out = Command::new(program)
        .args(before)
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let body: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body)
}

/// Whether `url` answers 2xx (redirects followed), within 3 s.
pub fn http_ok(url: &str) -> bool {
    Command::new("curl").args(["-sfL", "-o", "/dev/null", "--max-time", "3", url]).status().is_ok_and(|s| s.success())
}

/// Polls `ok` until it holds; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The `metrics_path` of the collector's scrape job `job` (otelcol.yml).
pub fn collector_metrics_path(job: &str) -> String {
    let text = std::fs::read_to_string(repo().join("stack/configs/otel-collector/otelcol.yml")).unwrap();
    let config: Value = serde_saphyr::from_str(&text).unwrap();
    let jobs = config["receivers"]["prometheus"]["config"]["scrape_configs"].as_array().unwrap();
    let job = jobs.iter().find(|j| j["job_name"] == job).unwrap_or_else(|| panic!("otelcol.yml has no job {job}"));
    job["metrics_path"].as_str().unwrap_or("/metrics").to_owned()
}

/// The `queries` (named, as [`dashboard_queries`] gives them) that still
/// return no series after `limit` of retries, each with what Prometheus said.
pub fn queries_without_series(prometheus: &str, queries: &[(String, String)], limit: Duration) -> Vec<String> {
    let empty = || -> Vec<String> {
        queries
            .iter()
            .filter(|(_, expr)| prometheus_query(&[], prometheus, expr).map_or(true, |r| r.is_empty()))
            .map(|(place, expr)| format!("{place}: {expr} -> {:?}", prometheus_query(&[], prometheus, expr)))
            .collect()
    };
    let deadline = Instant::now() + limit;
    let mut missing = empty();
    while !missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        missing = empty();
    }
    missing
}

/// Metric names of every selector in `expr`.
pub fn metric_names(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(param) = &a.param {
                metric_names(param, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(s) => metric_names(&s.expr, out),
        Expr::VectorSelector(vs) => out.extend(vs.name.clone()),
        Expr::MatrixSelector(ms) => out.extend(ms.vs.name.clone()),
        Expr::Call(call) => call.args.args.iter().for_each(|a| metric_names(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Copies into `to` the inputs of every workspace-built image of the
/// repository's stack.toml (`[images.*] build.inputs`), which `check` hashes.
pub fn copy_build_inputs(to: &Path) {
    let text = std::fs::read_to_string(repo().join("stack/stack.toml")).unwrap();
    let stack: toml::Table = text.parse().unwrap();
    let inputs = stack["images"]
        .as_table()
        .unwrap()
        .values()
        .filter_map(|i| i.get("build")?.get("inputs")?.as_array().cloned())
        .flatten()
        .filter_map(|i| i.as_str().map(|s| s.trim_end_matches('/').to_owned()));
    for input in inputs {
        let (from, target) = (repo().join(&input), to.join(&input));
        if from.is_dir() {
            copy_dir(&from, &target);
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&from, &target).unwrap();
        }
    }
}

/// A real Prometheus on a free loopback port with `config` (prometheus.yml
/// text), its data and log in `dir`, once ready: the process (stopped on
/// drop) and its base URL.
pub fn start_prometheus(binary: &Path, dir: &Path, config: &str) -> (Process, String) {
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let process = Process::spawn(
        binary,
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join("prometheus.log"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_for("Prometheus ready", Duration::from_secs(60), || http_ok(&format!("{url}/-/ready")));
    (process, url)
}
