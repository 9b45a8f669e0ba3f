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
