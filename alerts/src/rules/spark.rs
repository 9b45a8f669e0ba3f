//! Spark standalone, from Spark's own Prometheus endpoints (PrometheusServlet
//! and the executors' summary), scraped by the OTel Collector: the master
//! (`job="spark-master"`), every worker, and the running driver's UI
//! (`spark-driver` for the driver's own metrics, `spark-executors` for its
//! per-executor summary).
//!
//! Spark writes no `# TYPE` lines, so every family is a gauge in Prometheus
//! under the name Spark prints (`metrics_master_aliveWorkers_Value`); the
//! executors' `_total` families are cumulative per executor, so `increase()`
//! reads them as counters (an executor that goes away takes its series with
//! it). Driver names assume `spark.metrics.namespace=spark` (README, "Platform
//! services: what to enable").

use super::{Target, dashboard_for, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const MASTER: &str = "spark-master:8080";
const DRIVER: &str = "10.0.3.9:4040";

const MASTER_TARGET: Target =
    Target { job: job::SPARK_MASTER, instance: MASTER, what: "Spark master", team: Team::Etl };

const MASTER_LABELS: &[(&str, &str)] = &[("instance", MASTER), ("job", job::SPARK_MASTER), ("type", "gauges")];

pub fn rules() -> RuleFile {
    RuleFile::new(subject::SPARK).dashboard(dashboard_for(subject::SPARK)).group(
        Group::new("spark")
            .alert(target_down(
                "SparkMasterDown",
                &MASTER_TARGET,
                Severity::Critical,
                Duration::minutes(3),
                "the Spark master's UI does not answer: no new application can be scheduled.",
            ))
            .alert(no_alive_workers())
            .alert(workers_lost())
            .alert(applications_waiting())
            .alert(tasks_failing())
            .alert(listener_events_dropped()),
    )
}

fn master(metric: &str) -> String {
    series(metric, MASTER_LABELS)
}

fn no_alive_workers() -> Alert<Tested, Tested> {
    Alert::new("SparkNoAliveWorkers", Severity::Critical)
        .expr(r#"max by (job, instance) (metrics_master_aliveWorkers_Value{job="spark-master"}) == 0"#)
        .for_duration(Duration::minutes(3))
        .team(Team::Etl)
        .summary("The Spark master has no live worker.")
        .description(
            "The Spark master {{ $labels.instance }} has had no worker in state ALIVE for 3 minutes: no \
             executor can start, every ETL job waits.",
        )
        .fires(
            fires("the last worker died")
                .at(Duration::minutes(15))
                .series(master("metrics_master_aliveWorkers_Value"), "2x5 0x15")
                .alert(&[("instance", MASTER), ("job", job::SPARK_MASTER)]),
        )
        .stays_quiet(
            quiet("one worker left")
                .at(Duration::minutes(15))
                .series(master("metrics_master_aliveWorkers_Value"), "2x5 1x15"),
        )
}

fn workers_lost() -> Alert<Tested, Tested> {
    Alert::new("SparkWorkersLost", Severity::Warning)
        .expr(
            r#"
            max by (job, instance) (metrics_master_workers_Value{job="spark-master"})
            - max by (job, instance) (metrics_master_aliveWorkers_Value{job="spark-master"})
            > 0
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Etl)
        .summary("Spark workers registered with the master are not alive.")
        .description(
            "{{ $value }} workers of the Spark master {{ $labels.instance }} are registered but not ALIVE (their \
             heartbeats stopped): capacity for ETL jobs is reduced.",
        )
        .fires(
            fires("one of three workers stops heartbeating")
                .at(Duration::minutes(15))
                .series(master("metrics_master_workers_Value"), "3x20")
                .series(master("metrics_master_aliveWorkers_Value"), "3x5 2x15")
                .alert_value(&[("instance", MASTER), ("job", job::SPARK_MASTER)], 1.0),
        )
        .stays_quiet(
            quiet("every worker alive")
                .at(Duration::minutes(15))
                .series(master("metrics_master_workers_Value"), "3x20")
                .series(master("metrics_master_aliveWorkers_Value"), "3x20"),
        )
}

fn applications_waiting() -> Alert<Tested, Tested> {
    Alert::new("SparkApplicationsWaiting", Severity::Warning)
        .expr(r#"max by (job, instance) (metrics_master_waitingApps_Value{job="spark-master"}) > 0"#)
        .for_duration(Duration::minutes(15))
        .team(Team::Etl)
        .summary("Spark applications wait for resources.")
        .description(
            "{{ $value }} applications submitted to {{ $labels.instance }} have waited 15 minutes for executors: \
             the workers' free cores or memory cannot satisfy them.",
        )
        .fires(
            fires("an application waits for twenty minutes")
                .at(Duration::minutes(25))
                .series(master("metrics_master_waitingApps_Value"), "0x2 1x30")
                .alert_value(&[("instance", MASTER), ("job", job::SPARK_MASTER)], 1.0),
        )
        .stays_quiet(
            quiet("an application waits five minutes, then starts")
                .at(Duration::minutes(25))
                .series(master("metrics_master_waitingApps_Value"), "0x2 1x5 0x25"),
        )
}

fn executor(metric: &str, id: &str) -> String {
    series(
        metric,
        &[
            ("application_id", "app-20261203120000-0001"),
            ("application_name", "nightly-load"),
            ("executor_id", id),
            ("instance", DRIVER),
            ("job", job::SPARK_EXECUTORS),
        ],
    )
}

fn tasks_failing() -> Alert<Tested, Tested> {
    Alert::new("SparkTasksFailing", Severity::Warning)
        .expr(
            r#"
            sum by (application_name) (increase(metrics_executor_failedTasks_total{job="spark-executors"}[15m]))
            /
            sum by (application_name) (increase(metrics_executor_totalTasks_total{job="spark-executors"}[15m]))
            > 0.1
            and
            sum by (application_name) (increase(metrics_executor_failedTasks_total{job="spark-executors"}[15m])) >= 5
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Etl)
        .summary("Many tasks of a Spark application fail.")
        .description(
            "{{ $value | humanizePercentage }} of the tasks of Spark application {{ $labels.application_name }} \
             failed over 15 minutes: executors are lost (out of memory, node gone) or the input is bad; Spark \
             retries each task a few times before it fails the job.",
        )
        .fires(
            fires("a quarter of the tasks fail")
                .at(Duration::minutes(25))
                .series(executor("metrics_executor_totalTasks_total", "1"), "0+20x30")
                .series(executor("metrics_executor_failedTasks_total", "1"), "0+5x30")
                .alert_value(&[("application_name", "nightly-load")], 0.25),
        )
        .stays_quiet(
            quiet("one task in a hundred fails")
                .at(Duration::minutes(25))
                .series(executor("metrics_executor_totalTasks_total", "1"), "0+100x30")
                .series(executor("metrics_executor_failedTasks_total", "1"), "0+1x30"),
        )
}

fn listener_events_dropped() -> Alert<Tested, Tested> {
    let dropped = series(
        "metrics_spark_driver_LiveListenerBus_queue_appStatus_numDroppedEvents_Count",
        &[("instance", DRIVER), ("job", job::SPARK_DRIVER), ("type", "counters")],
    );
    Alert::new("SparkListenerEventsDropped", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (increase(metrics_spark_driver_LiveListenerBus_queue_appStatus_numDroppedEvents_Count{job="spark-driver"}[10m]))
            > 0
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Etl)
        .summary("A Spark driver drops status events.")
        .description(
            "The driver {{ $labels.instance }} dropped {{ $value | humanize }} events of its appStatus queue in 10 \
             minutes: the driver is overloaded (too many tasks or too little driver memory), and its UI and the \
             job and executor metrics here are incomplete.",
        )
        .fires(
            fires("events dropped for a quarter of an hour")
                .at(Duration::minutes(20))
                .series(dropped.clone(), "0x2 0+100x20")
                .alert_value(&[("instance", DRIVER), ("job", job::SPARK_DRIVER)], 1000.0),
        )
        .stays_quiet(quiet("nothing dropped").at(Duration::minutes(20)).series(dropped, "0x25"))
}
