//! The data sources Grafana is provisioned with.

use std::fmt;

/// A data source provisioned in Grafana by this project.
///
/// The UIDs are a contract: Grafana's provisioning file pins them, generated
/// dashboards and Grafana-managed alert rules reference them, and the xtask
/// checks both sides against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datasource {
    /// Metrics: everything the collector remote-writes plus self-scrapes.
    Prometheus,
    /// Logs shipped by Promtail (and OTLP logs from the collector).
    Loki,
    /// The external Alertmanager, for silences and Grafana-managed alerts.
    Alertmanager,
}

impl Datasource {
    /// Every provisioned data source, in a stable order.
    pub const ALL: [Datasource; 3] = [Datasource::Prometheus, Datasource::Loki, Datasource::Alertmanager];

    /// The UID pinned in Grafana's data source provisioning.
    pub const fn uid(self) -> &'static str {
        match self {
            Datasource::Prometheus => "prometheus",
            Datasource::Loki => "loki",
            Datasource::Alertmanager => "alertmanager",
        }
    }

    /// Grafana's plugin type id for this data source.
    pub fn type_id(self) -> &'static str {
        match self {
            Datasource::Prometheus => "prometheus",
            Datasource::Loki => "loki",
            Datasource::Alertmanager => "alertmanager",
        }
    }

    /// The name shown in Grafana's data source list.
    pub fn display_name(self) -> &'static str {
        match self {
            Datasource::Prometheus => "Prometheus",
            Datasource::Loki => "Loki",
            Datasource::Alertmanager => "Alertmanager",
        }
    }

    /// The data source whose plugin type id is `type_id`, if it is one of ours.
    pub fn from_type_id(type_id: &str) -> Option<Datasource> {
        Datasource::ALL.into_iter().find(|ds| ds.type_id() == type_id)
    }
}

impl fmt::Display for Datasource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_the_provisioned_contract() {
        assert_eq!(Datasource::Prometheus.uid(), "prometheus");
        assert_eq!(Datasource::Loki.uid(), "loki");
        assert_eq!(Datasource::Alertmanager.uid(), "alertmanager");
        assert_eq!(Datasource::Prometheus.type_id(), "prometheus");
        assert_eq!(Datasource::Loki.type_id(), "loki");
        assert_eq!(Datasource::Alertmanager.type_id(), "alertmanager");
    }

    #[test]
    fn type_ids_round_trip() {
        for ds in Datasource::ALL {
            assert_eq!(Datasource::from_type_id(ds.type_id()), Some(ds));
        }
        assert_eq!(Datasource::from_type_id("graphite"), None);
    }
}
