//! A flat view of every panel query, for checks outside this crate.

use crate::Datasource;

/// One query of one panel, as the xtask's checks see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// The dashboard's UID.
    pub dashboard_uid: String,
    /// The panel's id within the dashboard.
    pub panel_id: u32,
    /// The panel's title.
    pub panel_title: String,
    /// The query's reference id within the panel (`A`, `B`, …).
    pub ref_id: String,
    /// The query language, named by the data source kind that speaks it:
    /// PromQL for [`Datasource::Prometheus`], LogQL for [`Datasource::Loki`].
    pub datasource: Datasource,
    /// The raw expression, Grafana macros (`$__rate_interval`) and template
    /// variables (`$node`) unexpanded.
    pub expr: String,
}
