//! PostgreSQL, from postgres_exporter: server-wide statistics from its
//! `/metrics` (job `postgres-exporter`, default collectors plus the
//! postmaster), table statistics from its `/probe` of each platform
//! database (job `postgres-tables`, see otelcol.yml).
//!
//! `pg_stat_database_deadlocks` is a counter without `_total`; through the
//! OTel Collector it is stored as `pg_stat_database_deadlocks_total` (see the
//! note in `nginx.rs`).

use super::{Target, dashboard_for, target_absent, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

const INSTANCE: &str = "10.0.1.8:9187";

const TARGET: Target =
    Target { job: job::POSTGRES_EXPORTER, instance: INSTANCE, what: "postgres-exporter", team: Team::Database };

const LABELS: &[(&str, &str)] = &[("instance", INSTANCE), ("job", job::POSTGRES_EXPORTER)];

fn pg(metric: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = LABELS.to_vec();
    labels.extend_from_slice(extra);
    labels.sort();
    series(metric, &labels)
}

pub fn rules() -> RuleFile {
    RuleFile::new(subject::POSTGRES).dashboard(dashboard_for(subject::POSTGRES)).group(
        Group::new("postgres")
            .alert(target_down(
                "PostgresExporterDown",
                &TARGET,
                Severity::Warning,
                Duration::minutes(5),
                "PostgreSQL is not monitored.",
            ))
            .alert(target_absent(
                "PostgresExporterAbsent",
                &TARGET,
                Severity::Warning,
                Duration::minutes(15),
                "PostgreSQL is not monitored.",
            ))
            .alert(postgres_down())
            .alert(scrape_errors())
            .alert(too_many_connections())
            .alert(deadlocks())
            .alert(long_transaction())
            .alert(cache_hit_ratio_low())
            .alert(rollbacks_high())
            .alert(too_many_locks())
            .alert(checkpoints_requested())
            .alert(replication_slot_inactive())
            .alert(restarted())
            .alert(table_stats_failing())
            .alert(dead_tuples_high())
            .alert(table_not_vacuumed())
            .alert(table_not_analyzed()),
    )
}

/// The postmaster's start time moves only when PostgreSQL restarts (a
/// crash, an OOM kill, a redeploy); `changes` sees it even when the
/// restart fell between two scrapes.
fn restarted() -> Alert<Tested, Tested> {
    let start = pg("pg_postmaster_start_time_seconds", &[]);
    Alert::new("PostgresRestarted", Severity::Warning)
        .expr(r#"changes(pg_postmaster_start_time_seconds{job="postgres-exporter"}[15m]) > 0"#)
        .team(Team::Database)
        .summary("PostgreSQL restarted.")
        .description(
            "The PostgreSQL server watched by {{ $labels.instance }} started anew within the last 15 minutes: \
             open ETL transactions and Keycloak sessions were cut, and a crash restart replays WAL first.",
        )
        .fires(
            fires("start time moved")
                .at(Duration::minutes(15))
                .series(start.clone(), "1700000000x10 1700000630x10")
                .alert_value(LABELS, 1.0),
        )
        .stays_quiet(quiet("running for days").at(Duration::minutes(15)).series(start, "1700000000x20"))
}

/// The probe example's target: one platform database.
const TABLES_INSTANCE: &str = "postgres:5432/etl";

/// A series of the `postgres-tables` job (`instance` is the probed database).
fn probed(metric: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![("instance", TABLES_INSTANCE), ("job", job::POSTGRES_TABLES)];
    labels.extend_from_slice(extra);
    labels.sort();
    series(metric, &labels)
}

/// The example table's labels (collector/pg_stat_user_tables.go).
const TABLE: &[(&str, &str)] = &[("datname", "etl"), ("relname", "staging_events"), ("schemaname", "public")];

fn table(metric: &str) -> String {
    probed(metric, TABLE)
}

/// The labels an alert about the example table carries.
fn table_alert_labels() -> Vec<(&'static str, &'static str)> {
    let mut labels = TABLE.to_vec();
    labels.extend_from_slice(&[("instance", TABLES_INSTANCE), ("job", job::POSTGRES_TABLES)]);
    labels.sort();
    labels
}

/// A database the probe cannot read has no table series, so every table
/// alert about it is silent; this says so: the probe request fails (`up`,
/// e.g. an unknown auth module is HTTP 400), its connection fails (`pg_up`)
/// or its query does. Not while the server or the exporter is down: that is
/// PostgresDown's and PostgresExporterDown's.
fn table_stats_failing() -> Alert<Tested, Tested> {
    let probe = |name: &str| probed(name, &[]);
    let collector = probed("pg_scrape_collector_success", &[("collector", "stat_user_tables")]);
    let (server_up, exporter_up) = (pg("pg_up", &[]), pg("up", &[]));
    Alert::new("PostgresTableStatsFailing", Severity::Warning)
        .expr(
            r#"
            (
              up{job="postgres-tables"} == 0
              or
              pg_up{job="postgres-tables"} == 0
              or
              pg_scrape_collector_success{job="postgres-tables",collector=~"stat_user_tables|statio_user_tables"} == 0
            )
            unless on ()
            (pg_up{job="postgres-exporter"} == 0 or up{job="postgres-exporter"} == 0)
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Database)
        .summary("The table statistics of a PostgreSQL database cannot be read.")
        .description(
            "postgres-exporter's probe of {{ $labels.instance }} fails (request, connection or query) while the \
             server and the exporter are up: the role `monitor` lacks CONNECT on the database, the database was \
             renamed or dropped, or the auth module is missing or wrong. The dead-tuple, vacuum and analyze \
             alerts are blind for it.",
        )
        .fires(
            fires("the probe request is refused (no auth module)")
                .at(Duration::minutes(15))
                .series(probe("up"), "0x20")
                .series(server_up.clone(), "1x20")
                .series(exporter_up.clone(), "1x20")
                .alert(&[("instance", TABLES_INSTANCE), ("job", job::POSTGRES_TABLES)]),
        )
        .stays_quiet(
            quiet("whole server down is PostgresDown's")
                .at(Duration::minutes(15))
                .series(probe("up"), "1x20")
                .series(probe("pg_up"), "0x20")
                .series(collector, "0x20")
                .series(server_up, "0x20")
                .series(exporter_up, "1x20"),
        )
}

/// The table selector of the `postgres-tables` job, for the expressions.
const TABLES: &str = r#"job="postgres-tables""#;

/// awesome-prometheus-alerts' PostgresqlTooManyDeadTuples: over 10 000 dead
/// rows that are at least a tenth of the table. After a batch delete that is
/// normal until autovacuum's next round (autovacuum_naptime, 1 min by
/// default), hence 30 minutes.
fn dead_tuples_high() -> Alert<Tested, Tested> {
    let (dead, live) = (table("pg_stat_user_tables_n_dead_tup"), table("pg_stat_user_tables_n_live_tup"));
    Alert::new("PostgresTableDeadTuplesHigh", Severity::Warning)
        .expr(&format!(
            r#"
            (
              pg_stat_user_tables_n_dead_tup{{{TABLES}}}
              /
              (pg_stat_user_tables_n_live_tup{{{TABLES}}} + pg_stat_user_tables_n_dead_tup{{{TABLES}}})
            ) >= 0.1
            and
            pg_stat_user_tables_n_dead_tup{{{TABLES}}} > 10000
            "#
        ))
        .for_duration(Duration::minutes(30))
        .team(Team::Database)
        .summary("A PostgreSQL table is bloated with dead rows.")
        .description(
            "{{ $value | humanizePercentage }} of the rows of {{ $labels.schemaname }}.{{ $labels.relname }} in \
             {{ $labels.datname }} are dead: vacuum does not reclaim them (autovacuum off or behind, or a long \
             transaction holds them), so scans read dead rows and the table grows.",
        )
        .fires(
            fires("40 000 dead of 100 000")
                .at(Duration::minutes(40))
                .series(dead.clone(), "40000x60")
                .series(live.clone(), "60000x60")
                .alert_value(&table_alert_labels(), 0.4),
        )
        .stays_quiet(
            quiet("5 000 dead rows, a small table")
                .at(Duration::minutes(40))
                .series(dead, "5000x60")
                .series(live, "5000x60"),
        )
}

/// The vacuum and analyze alerts look back a day: autovacuum acts within
/// its naptime once a table crosses its trigger, so a table over the
/// trigger that nothing vacuumed or analyzed for a day is one autovacuum
/// skips (off for the table, workers all busy, or cancelled by locks).
const DAY: u64 = 86_400;

/// postgres_mixin's PostgresTablesNotVaccumed and awesome's
/// PostgresqlTableNotAutoVacuumed: more dead rows than the point where
/// autovacuum should start (autovacuum_vacuum_threshold +
/// autovacuum_vacuum_scale_factor × live rows, PostgreSQL's formula), and
/// no vacuum of any kind for a day. Per-table storage parameters are not
/// exported; the server's settings are the thresholds.
fn table_not_vacuumed() -> Alert<Tested, Tested> {
    not_maintained(
        "PostgresTableNotVacuumed",
        Maintenance {
            changed: "pg_stat_user_tables_n_dead_tup",
            threshold: "pg_settings_autovacuum_vacuum_threshold",
            scale_factor: "pg_settings_autovacuum_vacuum_scale_factor",
            last: ["pg_stat_user_tables_last_autovacuum", "pg_stat_user_tables_last_vacuum"],
        },
        Duration::hours(2),
        "A PostgreSQL table past its autovacuum trigger has not been vacuumed for a day.",
        "{{ $labels.schemaname }}.{{ $labels.relname }} in {{ $labels.datname }} has {{ $value | humanize }} \
         dead rows, past the point where autovacuum starts, and no vacuum ran for a day: dead rows pile up \
         (bloat) and the transaction-ID horizon does not advance (wraparound risk).",
    )
}

/// awesome's PostgresqlTableNotAutoAnalyzed, with the trigger of
/// autovacuum's ANALYZE (autovacuum_analyze_threshold +
/// autovacuum_analyze_scale_factor × live rows) on the rows changed since
/// the last analyze.
fn table_not_analyzed() -> Alert<Tested, Tested> {
    not_maintained(
        "PostgresTableNotAnalyzed",
        Maintenance {
            changed: "pg_stat_user_tables_n_mod_since_analyze",
            threshold: "pg_settings_autovacuum_analyze_threshold",
            scale_factor: "pg_settings_autovacuum_analyze_scale_factor",
            last: ["pg_stat_user_tables_last_autoanalyze", "pg_stat_user_tables_last_analyze"],
        },
        Duration::hours(1),
        "A PostgreSQL table past its auto-analyze trigger has not been analyzed for a day.",
        "{{ $labels.schemaname }}.{{ $labels.relname }} in {{ $labels.datname }} has {{ $value | humanize }} \
         rows changed since its last analyze, past the point where autovacuum analyzes it, and no analyze ran \
         for a day: the planner works from stale statistics and picks bad plans.",
    )
}

/// What autovacuum should have done to a table, and the series showing it.
struct Maintenance {
    /// Rows that make autovacuum act (dead rows, rows changed).
    changed: &'static str,
    threshold: &'static str,
    scale_factor: &'static str,
    /// When it was last done by autovacuum and by hand (Unix seconds, 0 = never).
    last: [&'static str; 2],
}

fn not_maintained(
    name: &str,
    m: Maintenance,
    pending: Duration,
    summary: &str,
    description: &str,
) -> Alert<Tested, Tested> {
    let table_labels = "job, instance, datname, schemaname, relname";
    let [auto, manual] = m.last;
    let expr = format!(
        r#"
        {changed}{{{TABLES}}}
        >
          pg_stat_user_tables_n_live_tup{{{TABLES}}}
          * on (job, instance) group_left
          {scale}{{{TABLES}}}
          + on (job, instance) group_left
          {threshold}{{{TABLES}}}
        and on ({table_labels})
        time() - {auto}{{{TABLES}}} > {DAY}
        and on ({table_labels})
        time() - {manual}{{{TABLES}}} > {DAY}
        "#,
        changed = m.changed,
        scale = m.scale_factor,
        threshold = m.threshold,
    );
    // Samples every two minutes (within Prometheus' five-minute lookback)
    // for 27 hours: `time()` passes a day at 24 h, the longest pending
    // (2 h) ends before 27 h.
    let at = Duration::hours(27);
    let every = Duration::minutes(2);
    let setting = |name: &str, value: &str| (probed(name, &[]), value.to_owned());
    let (scale, threshold) = (setting(m.scale_factor, "0.2x900"), setting(m.threshold, "50x900"));
    // 1 000 live rows: the trigger is 50 + 0.2 × 1 000 = 250.
    let (changed, live) = (table(m.changed), table("pg_stat_user_tables_n_live_tup"));
    let (auto_s, manual_s) = (table(auto), table(manual));
    Alert::new(name, Severity::Warning)
        .expr(&expr)
        .for_duration(pending)
        .team(Team::Database)
        .summary(summary)
        .description(description)
        .fires(
            fires("never done, 400 rows over a trigger of 250")
                .at(at)
                .every(every)
                .series(changed.clone(), "400x900")
                .series(live.clone(), "1000x900")
                .series(scale.0.clone(), scale.1.clone())
                .series(threshold.0.clone(), threshold.1.clone())
                .series(auto_s.clone(), "0x900")
                .series(manual_s.clone(), "0x900")
                .alert_value(&table_alert_labels(), 400.0),
        )
        .stays_quiet(
            quiet("autovacuum ran an hour ago")
                .at(at)
                .every(every)
                .series(changed, "400x900")
                .series(live, "1000x900")
                .series(scale.0, scale.1)
                .series(threshold.0, threshold.1)
                .series(auto_s, "93600x900")
                .series(manual_s, "0x900"),
        )
}

/// An inactive slot on a primary keeps every WAL segment from its restart
/// point: nothing consumes it, and the data volume fills.
fn replication_slot_inactive() -> Alert<Tested, Tested> {
    let slot = [("database", "etl"), ("slot_name", "etl_cdc")];
    let active = pg("pg_replication_slots_active", &slot);
    let retained = pg("pg_replication_slots_pg_wal_lsn_diff", &slot);
    let replica = pg("pg_replication_is_replica", &[]);
    let mut labels = slot.to_vec();
    labels.extend_from_slice(LABELS);
    labels.sort();
    Alert::new("PostgresReplicationSlotInactive", Severity::Warning)
        .expr(
            r#"
            pg_replication_slots_pg_wal_lsn_diff{job="postgres-exporter"}
            and on (job, instance, slot_name, database)
            pg_replication_slots_active{job="postgres-exporter"} == 0
            and on (job, instance)
            pg_replication_is_replica{job="postgres-exporter"} == 0
            "#,
        )
        .for_duration(Duration::minutes(30))
        .team(Team::Database)
        .summary("A PostgreSQL replication slot has no consumer.")
        .description(
            "Slot {{ $labels.slot_name }} (database {{ $labels.database }}) on {{ $labels.instance }} is inactive \
             and holds {{ $value | humanize1024 }}B of WAL, which grows until the volume is full.",
        )
        .fires(
            fires("abandoned slot")
                .at(Duration::minutes(40))
                .series(active.clone(), "0x50")
                .series(retained.clone(), "1073741824x50")
                .series(replica.clone(), "0x50")
                .alert_value(&labels, 1_073_741_824.0),
        )
        .stays_quiet(
            quiet("slot in use")
                .at(Duration::minutes(40))
                .series(active, "1x50")
                .series(retained, "65536x50")
                .series(replica, "0x50"),
        )
}

fn checkpoints_requested() -> Alert<Tested, Tested> {
    let (req, timed) =
        (pg("pg_stat_bgwriter_checkpoints_req_total", &[]), pg("pg_stat_bgwriter_checkpoints_timed_total", &[]));
    Alert::new("PostgresTooManyCheckpointsRequested", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (rate(pg_stat_bgwriter_checkpoints_req_total{job="postgres-exporter"}[30m]))
            /
            (
              sum by (job, instance) (rate(pg_stat_bgwriter_checkpoints_req_total{job="postgres-exporter"}[30m]))
              +
              sum by (job, instance) (rate(pg_stat_bgwriter_checkpoints_timed_total{job="postgres-exporter"}[30m]))
            )
            > 0.5
            "#,
        )
        .for_duration(Duration::minutes(15))
        .team(Team::Database)
        .summary("Most PostgreSQL checkpoints are forced by WAL volume, not by the timer.")
        .description(
            "{{ $value | humanizePercentage }} of the checkpoints on {{ $labels.instance }} were requested \
             (max_wal_size reached) rather than timed: write bursts cause I/O spikes and extra full-page writes.",
        )
        .fires(
            fires("three requested per timed one")
                .at(Duration::minutes(50))
                .series(req.clone(), "0+3x60")
                .series(timed.clone(), "0+1x60")
                .alert_value(LABELS, 0.75),
        )
        .stays_quiet(quiet("all timed").at(Duration::minutes(50)).series(req, "0x60").series(timed, "0+1x60"))
}

const ETL_DB: &[(&str, &str)] = &[("datname", "etl"), ("instance", INSTANCE), ("job", job::POSTGRES_EXPORTER)];

fn db(metric: &str) -> String {
    pg(metric, &[("datid", "16384"), ("datname", "etl")])
}

/// Databases worth judging: the templates and the maintenance database see
/// almost no traffic, so their ratios swing on a handful of blocks.
const DATABASES: &str = r#"job="postgres-exporter",datname!~"template.*|postgres|""#;

fn cache_hit_ratio_low() -> Alert<Tested, Tested> {
    let (hit, read) = (db("pg_stat_database_blks_hit_total"), db("pg_stat_database_blks_read_total"));
    Alert::new("PostgresCacheHitRatioLow", Severity::Warning)
        .expr(&format!(
            r#"
            sum by (job, instance, datname) (rate(pg_stat_database_blks_hit_total{{{DATABASES}}}[10m]))
            /
            (
              sum by (job, instance, datname) (rate(pg_stat_database_blks_hit_total{{{DATABASES}}}[10m]))
              +
              sum by (job, instance, datname) (rate(pg_stat_database_blks_read_total{{{DATABASES}}}[10m]))
            )
            < 0.95
            "#
        ))
        .for_duration(Duration::minutes(30))
        .team(Team::Database)
        .summary("PostgreSQL reads more than 5% of its blocks from disk.")
        .description(
            "Only {{ $value | humanizePercentage }} of the block reads of {{ $labels.datname }} on \
             {{ $labels.instance }} hit shared buffers: the working set outgrew shared_buffers or the page cache, \
             and queries wait on disk.",
        )
        .fires(
            fires("80% hits")
                .at(Duration::minutes(45))
                .series(hit.clone(), "0+8000x60")
                .series(read.clone(), "0+2000x60")
                .alert_value(ETL_DB, 0.8),
        )
        .stays_quiet(quiet("99% hits").at(Duration::minutes(45)).series(hit, "0+9900x60").series(read, "0+100x60"))
}

fn rollbacks_high() -> Alert<Tested, Tested> {
    let (rollback, commit) = (db("pg_stat_database_xact_rollback_total"), db("pg_stat_database_xact_commit_total"));
    Alert::new("PostgresHighRollbackRate", Severity::Warning)
        .expr(&format!(
            r#"
            sum by (job, instance, datname) (rate(pg_stat_database_xact_rollback_total{{{DATABASES}}}[5m]))
            /
            (
              sum by (job, instance, datname) (rate(pg_stat_database_xact_rollback_total{{{DATABASES}}}[5m]))
              +
              sum by (job, instance, datname) (rate(pg_stat_database_xact_commit_total{{{DATABASES}}}[5m]))
            )
            > 0.10
            "#
        ))
        .for_duration(Duration::minutes(15))
        .team(Team::Database)
        .summary("More than 10% of PostgreSQL transactions roll back.")
        .description(
            "{{ $value | humanizePercentage }} of the transactions in {{ $labels.datname }} on \
             {{ $labels.instance }} roll back: an application keeps failing half-way (constraint violations, \
             serialization failures, cancelled ETL jobs).",
        )
        .fires(
            fires("a quarter rolled back")
                .at(Duration::minutes(25))
                .series(rollback.clone(), "0+25x40")
                .series(commit.clone(), "0+75x40")
                .alert_value(ETL_DB, 0.25),
        )
        .stays_quiet(
            quiet("1% rolled back").at(Duration::minutes(25)).series(rollback, "0+1x40").series(commit, "0+99x40"),
        )
}

fn too_many_locks() -> Alert<Tested, Tested> {
    let locks = |mode: &str| pg("pg_locks_count", &[("datname", "etl"), ("mode", mode)]);
    let setting = |name: &str| pg(name, &[("server", "postgres:5432")]);
    Alert::new("PostgresTooManyLocks", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (pg_locks_count{job="postgres-exporter"})
            /
            max by (job, instance) (
              pg_settings_max_locks_per_transaction{job="postgres-exporter"}
              * on (job, instance, server)
              pg_settings_max_connections{job="postgres-exporter"}
            )
            > 0.20
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Database)
        .summary("PostgreSQL holds more than 20% of its lock table.")
        .description(
            "{{ $labels.instance }} holds {{ $value | humanizePercentage }} of max_locks_per_transaction × \
             max_connections locks; when the shared lock table is full, transactions fail with \
             \"out of shared memory\".",
        )
        // 64 × 100 = 6400 lock slots.
        .fires(
            fires("2000 locks")
                .at(Duration::minutes(10))
                .series(locks("accessexclusivelock"), "1500x20")
                .series(locks("rowexclusivelock"), "500x20")
                .series(setting("pg_settings_max_locks_per_transaction"), "64x20")
                .series(setting("pg_settings_max_connections"), "100x20")
                .alert_value(LABELS, 2000.0 / 6400.0),
        )
        .stays_quiet(
            quiet("50 locks")
                .at(Duration::minutes(10))
                .series(locks("accessexclusivelock"), "10x20")
                .series(locks("rowexclusivelock"), "40x20")
                .series(setting("pg_settings_max_locks_per_transaction"), "64x20")
                .series(setting("pg_settings_max_connections"), "100x20"),
        )
}

fn postgres_down() -> Alert<Tested, Tested> {
    let up = pg("pg_up", &[]);
    Alert::new("PostgresDown", Severity::Critical)
        .expr(r#"pg_up{job="postgres-exporter"} == 0"#)
        .for_duration(Duration::minutes(1))
        .team(Team::Database)
        .summary("PostgreSQL does not accept connections from its exporter.")
        .description(
            "The exporter {{ $labels.instance }} cannot connect to PostgreSQL: the database is down, \
             refusing connections, or its credentials changed. The ETL backend and Keycloak depend on it.",
        )
        .fires(fires("connection failing").at(Duration::minutes(5)).series(up.clone(), "0x10").alert(LABELS))
        .stays_quiet(quiet("connected").at(Duration::minutes(5)).series(up, "1x10"))
}

fn scrape_errors() -> Alert<Tested, Tested> {
    let err = pg("pg_exporter_last_scrape_error", &[]);
    let up = pg("pg_up", &[]);
    Alert::new("PostgresExporterScrapeErrors", Severity::Warning)
        .expr(
            r#"
            pg_exporter_last_scrape_error{job="postgres-exporter"} == 1
            and on (job, instance)
            pg_up{job="postgres-exporter"} == 1
            "#,
        )
        .for_duration(Duration::minutes(10))
        .team(Team::Database)
        .summary("The PostgreSQL exporter fails some of its queries.")
        .description(
            "{{ $labels.instance }} is connected but some collector queries fail (missing pg_monitor grant \
             or an extension); the PostgreSQL metrics they feed are missing.",
        )
        .fires(
            fires("connected, queries failing")
                .at(Duration::minutes(15))
                .series(err.clone(), "1x20")
                .series(up.clone(), "1x20")
                .alert(LABELS),
        )
        .stays_quiet(
            quiet("database down is PostgresDown's job")
                .at(Duration::minutes(15))
                .series(err, "1x20")
                .series(up, "0x20"),
        )
}

fn too_many_connections() -> Alert<Tested, Tested> {
    let backends = |db: &str| pg("pg_stat_database_numbackends", &[("datid", "1"), ("datname", db)]);
    let max = pg("pg_settings_max_connections", &[("server", "postgres:5432")]);
    Alert::new("PostgresTooManyConnections", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance) (pg_stat_database_numbackends{job="postgres-exporter"})
            /
            max by (job, instance) (pg_settings_max_connections{job="postgres-exporter"})
            > 0.8
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Database)
        .summary("PostgreSQL uses more than 80% of its connection slots.")
        .description(
            "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections; \
             new connections (ETL jobs, Keycloak logins) fail when none are left.",
        )
        .fires(
            fires("90 of 100 slots")
                .at(Duration::minutes(10))
                .series(backends("etl"), "70x20")
                .series(backends("keycloak"), "20x20")
                .series(max.clone(), "100x20")
                .alert_value(LABELS, 0.9),
        )
        .stays_quiet(
            quiet("30 of 100 slots")
                .at(Duration::minutes(10))
                .series(backends("etl"), "20x20")
                .series(backends("keycloak"), "10x20")
                .series(max, "100x20"),
        )
}

fn deadlocks() -> Alert<Tested, Tested> {
    let deadlocks = pg("pg_stat_database_deadlocks_total", &[("datid", "16384"), ("datname", "etl")]);
    Alert::new("PostgresDeadlocks", Severity::Warning)
        .expr(
            r#"
            sum by (job, instance, datname) (increase(pg_stat_database_deadlocks_total{job="postgres-exporter"}[10m])) > 5
            "#,
        )
        .team(Team::Database)
        .summary("PostgreSQL transactions keep deadlocking.")
        .description(
            "Database {{ $labels.datname }} on {{ $labels.instance }} had {{ $value | humanize }} deadlocks \
             in 10 minutes; concurrent ETL writers lock rows in conflicting orders.",
        )
        .fires(
            fires("one deadlock a minute")
                .at(Duration::minutes(20))
                .series(deadlocks.clone(), "0+1x30")
                .alert_value(&[("datname", "etl"), ("instance", INSTANCE), ("job", job::POSTGRES_EXPORTER)], 10.0),
        )
        .stays_quiet(quiet("an occasional deadlock").at(Duration::minutes(20)).series(deadlocks, "0+0.2x30"))
}

fn long_transaction() -> Alert<Tested, Tested> {
    let duration = |state: &str| {
        pg("pg_stat_activity_max_tx_duration", &[("datname", "etl"), ("server", "postgres:5432"), ("state", state)])
    };
    Alert::new("PostgresLongRunningTransaction", Severity::Warning)
        .expr(
            r#"
            max by (job, instance, datname) (pg_stat_activity_max_tx_duration{job="postgres-exporter",datname!=""}) > 3600
            "#,
        )
        .for_duration(Duration::minutes(5))
        .team(Team::Database)
        .summary("A PostgreSQL transaction has been open for more than an hour.")
        .description(
            "The oldest transaction in {{ $labels.datname }} on {{ $labels.instance }} is \
             {{ $value | humanizeDuration }} old; it holds locks and stops vacuum from reclaiming rows.",
        )
        .fires(
            fires("a 90-minute transaction")
                .at(Duration::minutes(10))
                .series(duration("idle in transaction"), "5400x20")
                .series(duration("active"), "12x20")
                .alert_value(&[("datname", "etl"), ("instance", INSTANCE), ("job", job::POSTGRES_EXPORTER)], 5400.0),
        )
        .stays_quiet(
            quiet("two-minute transactions")
                .at(Duration::minutes(10))
                .series(duration("idle in transaction"), "0x20")
                .series(duration("active"), "120x20"),
        )
}
