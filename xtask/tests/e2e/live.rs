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
    let (program, before) = match prefix.split_first() {
        Some((program, rest)) => (*program, [rest, &["curl"]].concat()),
        None => ("curl", Vec::new()),
    };
    let out = Command::new(program)
        .args(before)
        .args(["-s", "--max-time", "10", &format!("{prometheus}/api/v1/query"), "--data-urlencode"])
        .arg(format!("query={expr}"))
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let body: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
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

/// A GET of Prometheus' API `path` (e.g. `/api/v1/rules`) through curl: the
/// JSON body, or the error Prometheus gave.
pub fn prometheus_get(prometheus: &str, path: &str) -> Result<Value, String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("{prometheus}{path}")])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    let body: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body)
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
