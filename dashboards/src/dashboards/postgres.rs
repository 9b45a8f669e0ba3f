//! PostgreSQL, from postgres_exporter.
//!
//! Like every exporter, it reaches Prometheus through the collector and
//! remote write, which appends `_total` to counters that lack it:
//! `pg_stat_database_xact_commit` arrives as
//! `pg_stat_database_xact_commit_total`.
//!
//! Server-wide series come from job `postgres-exporter` (its `/metrics`);
//! table statistics from job `postgres-tables`, the exporter's `/probe` of
//! each platform database, whose `instance` is the database's address
//! (otelcol.yml), so the table panels select by database only.

use super::common::{dashboard as base, prom};
use super::uids;
use crate::{Color, Dashboard, Datasource, Panel, Target, Thresholds, Unit, ValueMapping, Variable};

const INSTANCE: &str = r#"instance=~"$instance""#;
const DB: &str = r#"instance=~"$instance", datname=~"$datname""#;
/// The probed databases' tables (job `postgres-tables`).
const TABLES: &str = r#"job="postgres-tables", datname=~"$datname""#;

fn per_db(counter: &str) -> String {
    format!("sum by (datname) (rate({counter}{{{DB}}}[$__rate_interval]))")
}

pub(super) fn dashboard() -> Dashboard {
    base(
        uids::POSTGRES,
        "PostgreSQL",
        "postgres",
        "The platform's PostgreSQL: availability, connections, transactions, cache, locks and sizes (postgres_exporter).",
    )
    .variable(
        Variable::query("instance", Datasource::Prometheus, r#"label_values(pg_up{job="postgres-exporter"}, instance)"#)
            .label("Exporter")
            .description("postgres_exporter instance; each watches one PostgreSQL server"),
    )
    .variable(
        Variable::query(
            "datname",
            Datasource::Prometheus,
            r#"label_values(pg_database_size_bytes{instance=~"$instance"}, datname)"#,
        )
        .label("Database"),
    )
    .row("Now")
    .panels([
        Panel::stat(
            "PostgreSQL reachable",
            "Whether the exporter could connect and query PostgreSQL on its last scrape.",
            Unit::None,
        )
        .no_sparkline()
        .background()
        .mappings(ValueMapping::up_down())
        .thresholds(Thresholds::absolute(Color::Red).step(1.0, Color::Green))
        .target(prom(format!(r#"pg_up{{job="postgres-exporter", {INSTANCE}}}"#), "{{instance}}")),
        Panel::stat(
            "Backends",
            "Server processes connected to the selected databases (client sessions and their parallel workers).",
            Unit::Short,
        )
        .target(prom(format!("sum(pg_stat_database_numbackends{{{DB}}})"), "backends")),
        Panel::gauge(
            "Connections used",
            "Client connections of all states as a share of max_connections. New connections fail at 100 %.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .thresholds(Thresholds::traffic_light(0.75, 0.9))
        .size(4, 4)
        .target(prom(
            format!(
                "sum by (instance) (pg_stat_activity_count{{{INSTANCE}}}) / on(instance) max by (instance) (pg_settings_max_connections{{{INSTANCE}}})"
            ),
            "{{instance}}",
        )),
        Panel::stat("Transactions", "Commits and rollbacks per second in the selected databases.", Unit::OpsPerSec)
            .target(prom(
                format!(
                    "sum(rate(pg_stat_database_xact_commit_total{{{DB}}}[$__rate_interval])) + sum(rate(pg_stat_database_xact_rollback_total{{{DB}}}[$__rate_interval]))"
                ),
                "transactions",
            )),
        Panel::stat(
            "Cache hit ratio",
            "Share of block reads served from shared buffers. Below ~99 % on a busy OLTP database, memory is short.",
            Unit::Percent01,
        )
        .thresholds(Thresholds::inverted_traffic_light(0.9, 0.99))
        .target(prom(
            format!(
                "sum(rate(pg_stat_database_blks_hit_total{{{DB}}}[$__rate_interval])) / (sum(rate(pg_stat_database_blks_hit_total{{{DB}}}[$__rate_interval])) + sum(rate(pg_stat_database_blks_read_total{{{DB}}}[$__rate_interval])))"
            ),
            "hit ratio",
        )),
        Panel::stat("Database size", "Total size of the selected databases on disk.", Unit::Bytes)
            .target(prom(format!("sum(pg_database_size_bytes{{{DB}}})"), "size")),
    ])
    .row("Activity")
    .panels([
        Panel::time_series("Transactions", "Commits and rollbacks per second, per database.", Unit::OpsPerSec)
            .min(0.0)
            .targets([
                prom(per_db("pg_stat_database_xact_commit_total"), "{{datname}} commit"),
                prom(per_db("pg_stat_database_xact_rollback_total"), "{{datname}} rollback"),
            ]),
        Panel::time_series(
            "Connections by state",
            "Backends by state. Many 'idle in transaction' ones hold locks and block vacuum.",
            Unit::Short,
        )
        .stacked()
        .target(prom(
            format!("sum by (state) (pg_stat_activity_count{{{DB}}})"),
            "{{state}}",
        )),
        Panel::time_series(
            "Rows",
            "Rows fetched, inserted, updated and deleted per second in the selected databases.",
            Unit::RowsPerSec,
        )
        .min(0.0)
        .targets([
            prom(format!("sum(rate(pg_stat_database_tup_fetched_total{{{DB}}}[$__rate_interval]))"), "fetched"),
            prom(format!("sum(rate(pg_stat_database_tup_inserted_total{{{DB}}}[$__rate_interval]))"), "inserted"),
            prom(format!("sum(rate(pg_stat_database_tup_updated_total{{{DB}}}[$__rate_interval]))"), "updated"),
            prom(format!("sum(rate(pg_stat_database_tup_deleted_total{{{DB}}}[$__rate_interval]))"), "deleted"),
        ]),
        Panel::time_series(
            "Cache hit ratio",
            "Share of block reads served from shared buffers, per database.",
            Unit::Percent01,
        )
        .range(0.0, 1.0)
        .target(prom(
            format!(
                "{hit} / ({hit} + {read})",
                hit = per_db("pg_stat_database_blks_hit_total"),
                read = per_db("pg_stat_database_blks_read_total")
            ),
            "{{datname}}",
        )),
        Panel::time_series(
            "Longest transaction",
            "Age of the oldest open transaction, per database and state. Long ones hold back vacuum and keep locks.",
            Unit::Seconds,
        )
        .min(0.0)
        .target(prom(
            format!("max by (datname, state) (pg_stat_activity_max_tx_duration{{{DB}}})"),
            "{{datname}} {{state}}",
        )),
        Panel::time_series(
            "Temporary files",
            "Bytes written to temporary files by queries whose sorts or hashes exceeded work_mem.",
            Unit::BytesPerSec,
        )
        .min(0.0)
        .target(prom(per_db("pg_stat_database_temp_bytes_total"), "{{datname}}")),
    ])
    .row("Locks and storage")
    .panels([
        Panel::time_series("Locks by mode", "Locks held or awaited, by lock mode.", Unit::Short)
            .stacked()
            .size(8, 8)
            .target(prom(format!("sum by (mode) (pg_locks_count{{{DB}}})"), "{{mode}}")),
        Panel::time_series(
            "Deadlocks",
            "Deadlocks detected per second, per database. PostgreSQL aborts one transaction of each.",
            Unit::CountPerSec,
        )
        .min(0.0)
        .size(8, 8)
        .target(prom(per_db("pg_stat_database_deadlocks_total"), "{{datname}}")),
        Panel::time_series("Database size", "Size on disk per database.", Unit::Bytes)
            .size(8, 8)
            .target(prom(format!("sum by (datname) (pg_database_size_bytes{{{DB}}})"), "{{datname}}")),
        Panel::table("Databases", "Size of each database now, largest first.")
            .unit(Unit::Bytes)
            .size(24, 8)
            .hide_column("Time")
            .rename_column("datname", "Database")
            .rename_column("Value", "Size")
            .sort_by("Size", true)
            .target(Target::prometheus(format!("sum by (datname) (pg_database_size_bytes{{{DB}}})")).table()),
    ])
    .row("Tables")
    .panels([
        Panel::time_series(
            "Dead rows",
            "Dead rows of the ten tables with the most, in the selected databases. They pile up when vacuum \
             cannot keep up or a long transaction holds them (alerts PostgresTableDeadTuplesHigh, \
             PostgresTableNotVacuumed).",
            Unit::Short,
        )
        .min(0.0)
        .size(12, 8)
        .target(prom(
            format!("topk(10, pg_stat_user_tables_n_dead_tup{{{TABLES}}})"),
            "{{datname}} {{schemaname}}.{{relname}}",
        )),
        Panel::time_series(
            "Sequential scans",
            "Sequential scans per second of the ten tables with the most: on a large table, a missing index or \
             stale statistics (PostgresTableNotAnalyzed).",
            Unit::OpsPerSec,
        )
        .min(0.0)
        .size(12, 8)
        .target(prom(
            format!("topk(10, rate(pg_stat_user_tables_seq_scan_total{{{TABLES}}}[$__rate_interval]))"),
            "{{datname}} {{schemaname}}.{{relname}}",
        )),
    ])
    .build()
}
