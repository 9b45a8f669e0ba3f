//! The Spark dashboard and alerts against a real Spark: PyPI's pyspark
//! 3.5.9 (a whole Spark distribution, `.tools/spark-home`, installed by
//! scripts/install-tools.sh) on Java 17, a standalone master and worker and
//! a PySpark driver, each set up exactly as the README's platform section
//! tells the platform (the `metrics.properties` sinks, and the driver's
//! `spark.metrics.namespace`, `spark.ui.prometheus.enabled`,
//! `spark.metrics.appStatusSource.enabled`), scraped by a real Prometheus
//! with the collector's four Spark jobs (their metrics paths read from
//! otelcol.yml) and the generated Spark rules loaded.
//!
//! The driver runs one job that succeeds, then, once Prometheus scrapes its
//! executors' summary, jobs with a task that always fails (each failing
//! twice: `spark.task.maxFailures=2`). Then every Prometheus query of the
//! `etl-spark` dashboard returns series, every Spark rule evaluates with
//! each metric it reads present, and `SparkTasksFailing`'s condition holds
//! for the application (its `for: 5m` aside: promtool's tests show it
//! firing).
//!
//! Everything runs as host processes on loopback, on free ports, in a
//! temporary directory, stopped on drop. Skipped (with a message) without
//! Spark, Java or prometheus; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its fixture should panic

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/live.rs"]
mod live;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use promql_parser::parser;
use serde_json::Value;

/// What Grafana substitutes in the dashboard's queries, for a query here.
const GRAFANA_VARIABLES: &[(&str, &str)] = &[("$__rate_interval", "30s"), ("$application", ".*")];
/// The driver's `spark.app.name` (the dashboard's `application` variable).
const APPLICATION: &str = "spark-live";
/// Jobs with a task that always fails: each fails it twice, so 6 failed
/// attempts, against `SparkTasksFailing`'s threshold of 5.
const FAILING_JOBS: u32 = 3;

/// `$SPARK_HOME`, else `.tools/spark-home`; the Python whose `pyspark` it is.
fn spark() -> Option<(PathBuf, PathBuf)> {
    let home = std::env::var_os("SPARK_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| live::repo().join(".tools/spark-home"))
        .canonicalize()
        .ok()
        .filter(|h| h.join("bin/spark-class").is_file())?;
    let python = std::env::var_os("SPARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| live::repo().join(".tools/spark/bin/python"));
    python.is_file().then_some((home, python))
}

/// The generated Spark rule file (as `gen` renders it for the stack).
fn spark_rules() -> String {
    let ctx = alerts::Context::default();
    let file = alerts::generated_files(&ctx)
        .into_iter()
        .find(|f| f.path.ends_with("spark.rules.yml"))
        .expect("a generated spark.rules.yml");
    file.contents
}

fn driver_script(master: u16, ui: u16, go: &Path, done: &Path) -> String {
    format!(
        r#"import os, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("spark://127.0.0.1:{master}").appName("{APPLICATION}")
    .config("spark.ui.port", "{ui}").config("spark.port.maxRetries", "0")
    .config("spark.metrics.namespace", "spark").config("spark.ui.prometheus.enabled", "true")
    .config("spark.metrics.appStatusSource.enabled", "true")
    .config("spark.executor.memory", "512m").config("spark.task.maxFailures", "2").getOrCreate())
sc = spark.sparkContext
sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum()
while not os.path.exists("{go}"):
    time.sleep(0.5)
def fail_one(x):
    if x == 3:
        raise ValueError("a failing task, on purpose")
    return x
for _ in range({FAILING_JOBS}):
    try:
        sc.parallelize(range(8), 4).map(fail_one).collect()
    except Exception:
        pass
sc.parallelize(range(1000), 4).map(lambda x: x + 1).sum()
open("{done}", "w").close()
while True:
    time.sleep(1)
"#,
        go = go.display(),
        done = done.display()
    )
}

#[test]
fn spark_dashboard_and_alerts_read_a_real_spark() {
    let Some((spark_home, python)) = spark() else {
        live::skip_or_fail("spark_live", "no Spark distribution (scripts/install-tools.sh: .tools/spark-home)");
        return;
    };
    let Some(java) = live::find_tool("java", "JAVA") else {
        live::skip_or_fail("spark_live", "java not found (apt-get install openjdk-17-jre-headless)");
        return;
    };
    let Some(prometheus_bin) = live::find_tool("prometheus", "PROMETHEUS") else {
        live::skip_or_fail("spark_live", "prometheus not found (.tools/bin, $PROMETHEUS or PATH)");
        return;
    };
    let dir = tempfile::Builder::new().prefix("spark-live-").tempdir().unwrap();
    let port = harness::free_port;
    let (master_port, master_ui, worker_ui, driver_ui) = (port(), port(), port(), port());

    // Spark's configuration as the README's platform section gives it.
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("metrics.properties"),
        "*.sink.prometheusServlet.class=org.apache.spark.metrics.sink.PrometheusServlet\n\
         *.sink.prometheusServlet.path=/metrics/prometheus\n\
         master.sink.prometheusServlet.path=/metrics/master/prometheus\n",
    )
    .unwrap();
    let java_home = java.canonicalize().unwrap().parent().and_then(Path::parent).unwrap().to_path_buf();
    let env = [
        ("SPARK_HOME", spark_home.display().to_string()),
        ("SPARK_CONF_DIR", conf.display().to_string()),
        ("SPARK_LOCAL_IP", "127.0.0.1".to_owned()),
        ("SPARK_WORKER_DIR", dir.path().join("work").display().to_string()),
        ("SPARK_LOG_DIR", dir.path().display().to_string()),
        ("PYSPARK_PYTHON", python.display().to_string()),
        ("JAVA_HOME", java_home.display().to_string()),
    ];
    let spawn = |program: &Path, args: &[String], log: &str| {
        let file = std::fs::File::create(dir.path().join(log)).unwrap();
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        live::Process(child)
    };
    let log_tail = |log: &str| {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    };

    // Prometheus first, so the counters' increase is seen from their start.
    let job = |name: &str, port: u16| {
        format!(
            "  - job_name: {name}\n    metrics_path: {}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            live::collector_metrics_path(name)
        )
    };
    std::fs::write(dir.path().join("spark.rules.yml"), spark_rules()).unwrap();
    let prometheus_config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n{}{}{}{}",
        dir.path().join("spark.rules.yml").display(),
        job("spark-master", master_ui),
        job("spark-worker", worker_ui),
        job("spark-driver", driver_ui),
        job("spark-executors", driver_ui),
    );
    let (_prometheus, prometheus) = live::start_prometheus(&prometheus_bin, dir.path(), &prometheus_config);

    let class = spark_home.join("bin/spark-class");
    let _master = spawn(
        &class,
        &[
            "org.apache.spark.deploy.master.Master".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            master_port.to_string(),
            "--webui-port".into(),
            master_ui.to_string(),
        ],
        "master.log",
    );
    let up = |job: &str| {
        live::prometheus_query(&[], &prometheus, &format!(r#"up{{job="{job}"}} == 1"#)).is_ok_and(|r| !r.is_empty())
    };
    let waited = Instant::now();
    while !up("spark-master") {
        assert!(waited.elapsed() < Duration::from_secs(120), "the master's metrics:\n{}", log_tail("master.log"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let _worker = spawn(
        &class,
        &[
            "org.apache.spark.deploy.worker.Worker".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--webui-port".into(),
            worker_ui.to_string(),
            "--cores".into(),
            "2".into(),
            "--memory".into(),
            "1g".into(),
            format!("spark://127.0.0.1:{master_port}"),
        ],
        "worker.log",
    );
    let (go, done) = (dir.path().join("go"), dir.path().join("done"));
    std::fs::write(dir.path().join("driver.py"), driver_script(master_port, driver_ui, &go, &done)).unwrap();
    let _driver = spawn(&python, &[dir.path().join("driver.py").display().to_string()], "driver.log");
    let waited = Instant::now();
    while !(up("spark-worker") && up("spark-driver") && up("spark-executors")) {
        assert!(
            waited.elapsed() < Duration::from_secs(240),
            "the worker's and the driver's metrics:\n{}\n{}",
            log_tail("worker.log"),
            log_tail("driver.log")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A few scrapes of the executors before the failures, for increase().
    std::thread::sleep(Duration::from_secs(3));
    std::fs::write(&go, "").unwrap();
    let waited = Instant::now();
    while !done.exists() {
        assert!(waited.elapsed() < Duration::from_secs(240), "the driver's jobs:\n{}", log_tail("driver.log"));
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));

    // The dashboard: every Prometheus query returns series.
    let queries = live::dashboard_queries(dashboards::uids::SPARK, GRAFANA_VARIABLES);
    assert!(queries.len() >= 15, "the Spark dashboard has its panels: {queries:?}");
    let missing = live::queries_without_series(&prometheus, &queries, Duration::from_secs(60));
    assert!(missing.is_empty(), "dashboard queries without series:\n{}", missing.join("\n"));

    // The rules: loaded and evaluating without error, each metric they read
    // present, and the failing tasks' condition holding for the application.
    let groups = live::prometheus_get(&prometheus, "/api/v1/rules").unwrap();
    let rules: Vec<&Value> =
        groups["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert!(rules.len() >= 6, "the Spark rules are loaded: {groups}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let groups = live::prometheus_get(&prometheus, "/api/v1/rules").unwrap();
        let unhealthy: Vec<String> = groups["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
            .collect();
        if unhealthy.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "rules that do not evaluate:\n{}", unhealthy.join("\n"));
        std::thread::sleep(Duration::from_secs(1));
    }
    let ctx = alerts::Context::default();
    let expressions: Vec<alerts::Expression> =
        alerts::expressions(&ctx).into_iter().filter(|e| e.file.ends_with("/spark.rules.yml")).collect();
    for rule in &expressions {
        let mut names = BTreeSet::new();
        live::metric_names(&parser::parse(&rule.expr).unwrap(), &mut names);
        assert!(!names.is_empty(), "{} reads no metric", rule.rule);
        for name in names {
            let present =
                live::prometheus_query(&[], &prometheus, &format!(r#"count({{__name__="{name}"}})"#)).unwrap();
            assert!(!present.is_empty(), "{}: no `{name}` series from Spark", rule.rule);
        }
    }
    let failing = expressions.iter().find(|e| e.rule == "SparkTasksFailing").expect("SparkTasksFailing");
    let result = live::prometheus_query(&[], &prometheus, &failing.expr).unwrap();
    assert!(
        result.iter().any(|s| s["metric"]["application_name"] == APPLICATION),
        "SparkTasksFailing's condition holds for {APPLICATION}: {result:?}\n{}",
        log_tail("driver.log")
    );
}
