//! The metrics that dashboards or alerts read and that legitimately have no
//! series until an event happens, each with the event. `verify` does not
//! hold their absence against the stack; every other metric a panel or rule
//! reads must have a series.

/// This file, named in findings' hints.
pub const FILE: &str = "xtask/src/verify/absent.rs";

/// (metric, the event that creates its first series).
const ABSENT_UNTIL: &[(&str, &str)] = &[
    ("ALERTS", "Prometheus writes it only while an alert is pending or firing"),
    ("ALERTS_FOR_STATE", "Prometheus writes it only while an alert with a `for` duration is pending or firing"),
    // node_exporter v1.12.1 collector/mdadm_linux.go and bonding_linux.go
    // emit one series per array / bond found, none on a host without.
    ("node_md_disks", "node-exporter has a series only once a host has a Linux software RAID array (/proc/mdstat)"),
    ("node_md_disks_required", "node-exporter has a series only once a host has a Linux software RAID array"),
    ("node_bonding_slaves", "node-exporter has a series only once a host has a bonded interface"),
    ("node_bonding_active", "node-exporter has a series only once a host has a bonded interface"),
    // postgres_exporter v0.20.1 collector/pg_replication_slots.go: one
    // series per row of pg_replication_slots.
    ("pg_replication_slots_active", "postgres-exporter has a series only once the database has a replication slot"),
    (
        "pg_replication_slots_pg_wal_lsn_diff",
        "postgres-exporter has a series only once the database has a replication slot",
    ),
    // swarm-exporter/src/metrics.rs: a (service, node, state) series is
    // created when the exporter first sees one of its tasks end on its own.
    (
        "swarm_service_task_failures_total",
        "swarm-exporter has a series only once a task fails, is rejected or exits 0 after it started",
    ),
    ("swarm_exporter_engine_errors_total", "swarm-exporter has a series only once a read of the engine failed"),
];

/// Why `metric` may be absent, if it may.
pub fn reason(metric: &str) -> Option<&'static str> {
    ABSENT_UNTIL.iter().find(|(m, _)| *m == metric).map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_unique_and_has_a_reason() {
        let mut names: Vec<&str> = ABSENT_UNTIL.iter().map(|(m, _)| *m).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ABSENT_UNTIL.len(), "a metric is listed twice");
        assert!(ABSENT_UNTIL.iter().all(|(_, why)| !why.trim().is_empty()));
        assert!(reason("ALERTS").is_some());
        assert!(reason("up").is_none());
    }
}
