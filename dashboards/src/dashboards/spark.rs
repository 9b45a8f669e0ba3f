//! Spark standalone, from Spark's own Prometheus endpoints scraped by the OTel
//! Collector: the master (`job="spark-master"`), the workers
//! (`spark-worker`), the running driver (`spark-driver`, its DAGScheduler,
//! block manager and, with spark.metrics.appStatusSource.enabled, appStatus
//! counters) and the driver's summary of its executors (`spark-executors`).
//!
//! Spark prints no `# TYPE` lines: every family is a gauge under the name
//! Spark gives it (`metrics_master_aliveWorkers_Value`); the executors'
//! cumulative `_total` families are read with `increase`/`rate`. Driver
//! names assume `spark.metrics.namespace=spark`.

use super::common::{dashboard as base, prom};
use super::service_logs::ServiceLogs;
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Thresholds, Unit, Variable};

const MASTER: &str = r#"job="spark-master""#;
const WORKER: &str = r#"job="spark-worker""#;
const DRIVER: &str = r#"job="spark-driver""#;
const EXEC: &str = r#"job="spark-executors", application_name=~"$application""#;
const LOGS: ServiceLogs = ServiceLogs { what: "Spark", service: ".+_spark.*" };

pub(super) fn dashboard() -> Dashboard {
    let builder = base(
        uids::SPARK,
        "Spark",
        "spark",
        "The platform's Spark standalone cluster: workers and capacity, jobs and stages of the running driver, and its executors (Spark's PrometheusServlet and executor metrics).",
    )
    .variable(
        Variable::query(
            "application",
            Datasource::Prometheus,
            r#"label_values(metrics_executor_totalTasks_total{job="spark-executors"}, application_name)"#,
        )
        .multi()
        .all_value(".*")
        .label("Application")
        .description("spark.app.name of the applications whose drivers are scraped"),
    )
    .row("Cluster")
    .panels([
        Panel::stat("Alive workers", "Workers the master sees in state ALIVE.", Unit::Short)
            .no_sparkline()
            .background()
            .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
            .size(6, 4)
            .target(prom(format!("sum(metrics_master_aliveWorkers_Value{{{MASTER}}})"), "alive")),
        Panel::stat(
            "Workers not alive",
            "Workers registered with the master whose heartbeats stopped.",
            Unit::Short,
        )
        .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Orange))
        .size(6, 4)
        .target(prom(
            format!(
                "sum(metrics_master_workers_Value{{{MASTER}}}) - sum(metrics_master_aliveWorkers_Value{{{MASTER}}})"
            ),
            "lost",
        )),
        Panel::stat("Applications", "Applications the master runs.", Unit::Short)
            .size(6, 4)
            .target(prom(format!("sum(metrics_master_apps_Value{{{MASTER}}})"), "applications")),
        Panel::stat("Waiting applications", "Applications waiting for cores or memory.", Unit::Short)
            .thresholds(Thresholds::absolute(Color::Green).step(1.0, Color::Orange))
            .size(6, 4)
            .target(prom(format!("sum(metrics_master_waitingApps_Value{{{MASTER}}})"), "waiting")),
        Panel::time_series("Cores", "Cores of all workers, in use and free.", Unit::Short)
            .stacked()
            .targets([
                prom(format!("sum(metrics_worker_coresUsed_Value{{{WORKER}}})"), "used"),
                prom(format!("sum(metrics_worker_coresFree_Value{{{WORKER}}})"), "free"),
            ]),
        Panel::time_series("Worker memory", "Memory of all workers given to executors, and free (MB).", Unit::Short)
            .stacked()
            .targets([
                prom(format!("sum(metrics_worker_memUsed_MB_Value{{{WORKER}}})"), "used MB"),
                prom(format!("sum(metrics_worker_memFree_MB_Value{{{WORKER}}})"), "free MB"),
            ]),
        Panel::time_series("Executors per worker", "Executors running on each worker task.", Unit::Short)
            .min(0.0)
            .target(prom(format!("sum by (instance) (metrics_worker_executors_Value{{{WORKER}}})"), "{{instance}}")),
    ])
    .row("Jobs and stages")
    .panels([
        Panel::time_series("Jobs", "Jobs running in the scraped drivers.", Unit::Short)
            .min(0.0)
            .target(prom(
                format!("sum by (instance) (metrics_spark_driver_DAGScheduler_job_activeJobs_Value{{{DRIVER}}})"),
                "{{instance}} active",
            )),
        Panel::time_series(
            "Stages",
            "Stages running, waiting for their parents, and failed (waiting to be resubmitted).",
            Unit::Short,
        )
        .min(0.0)
        .targets([
            prom(format!("sum(metrics_spark_driver_DAGScheduler_stage_runningStages_Value{{{DRIVER}}})"), "running"),
            prom(format!("sum(metrics_spark_driver_DAGScheduler_stage_waitingStages_Value{{{DRIVER}}})"), "waiting"),
            prom(format!("sum(metrics_spark_driver_DAGScheduler_stage_failedStages_Value{{{DRIVER}}})"), "failed"),
        ]),
        Panel::time_series(
            "Job outcomes",
            "Jobs succeeded and failed per graph interval (appStatus counters, spark.metrics.appStatusSource.enabled=true).",
            Unit::Short,
        )
        .min(0.0)
        .targets([
            prom(
                format!("sum(increase(metrics_spark_driver_appStatus_jobs_succeededJobs_Count{{{DRIVER}}}[$__rate_interval]))"),
                "succeeded",
            ),
            prom(
                format!("sum(increase(metrics_spark_driver_appStatus_jobs_failedJobs_Count{{{DRIVER}}}[$__rate_interval]))"),
                "failed",
            ),
        ]),
        Panel::time_series(
            "Dropped listener events",
            "Events the driver's appStatus queue dropped per graph interval: above zero the driver is overloaded and these metrics are incomplete.",
            Unit::Short,
        )
        .min(0.0)
        .target(prom(
            format!(
                "sum by (instance) (increase(metrics_spark_driver_LiveListenerBus_queue_appStatus_numDroppedEvents_Count{{{DRIVER}}}[$__rate_interval]))"
            ),
            "{{instance}}",
        )),
    ])
    .row("Executors")
    .panels([
        Panel::time_series("Active tasks", "Tasks running now, per application.", Unit::Short)
            .stacked()
            .target(prom(
                format!("sum by (application_name) (metrics_executor_activeTasks{{{EXEC}}})"),
                "{{application_name}}",
            )),
        Panel::time_series(
            "Tasks completed and failed",
            "Tasks finished per second, per application.",
            Unit::OpsPerSec,
        )
        .min(0.0)
        .targets([
            prom(
                format!(
                    "sum by (application_name) (rate(metrics_executor_completedTasks_total{{{EXEC}}}[$__rate_interval]))"
                ),
                "{{application_name}} completed",
            ),
            prom(
                format!(
                    "sum by (application_name) (rate(metrics_executor_failedTasks_total{{{EXEC}}}[$__rate_interval]))"
                ),
                "{{application_name}} failed",
            ),
        ]),
        Panel::time_series(
            "Storage memory used",
            "Storage memory used by each executor against what it may use.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .target(prom(
            format!(
                "sum by (application_name, executor_id) (metrics_executor_memoryUsed_bytes{{{EXEC}}}) / sum by (application_name, executor_id) (metrics_executor_maxMemory_bytes{{{EXEC}}})"
            ),
            "{{application_name}} {{executor_id}}",
        )),
        Panel::time_series(
            "GC time share",
            "Share of task time spent in JVM garbage collection, per application; above 10 % executors are short of memory.",
            Unit::Percent01,
        )
        .min(0.0)
        .target(prom(
            format!(
                "sum by (application_name) (rate(metrics_executor_totalGCTime_seconds_total{{{EXEC}}}[$__rate_interval])) / sum by (application_name) (rate(metrics_executor_totalDuration_seconds_total{{{EXEC}}}[$__rate_interval]))"
            ),
            "{{application_name}}",
        )),
        Panel::time_series("Shuffle", "Shuffle bytes read and written per second.", Unit::BytesPerSec)
            .min(0.0)
            .targets([
                prom(format!("sum(rate(metrics_executor_totalShuffleRead_bytes_total{{{EXEC}}}[$__rate_interval]))"), "read"),
                prom(
                    format!("sum(rate(metrics_executor_totalShuffleWrite_bytes_total{{{EXEC}}}[$__rate_interval]))"),
                    "written",
                ),
            ]),
    ]);
    LOGS.row(builder).build()
}
