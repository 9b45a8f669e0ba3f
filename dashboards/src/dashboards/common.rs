//! What every dashboard shares: tags, header links, query shorthands.

use crate::{Dashboard, DashboardBuilder, DashboardLink, Datasource, Target, Variable};

use super::uids;

/// The tag every generated dashboard carries; the header drop-down lists
/// the dashboards with it.
pub(crate) const TAG: &str = "etl-monitoring";

/// Real file systems only: pseudo ones (tmpfs, overlay…) report sizes that
/// say nothing about disk space.
pub(crate) const REAL_FS: &str = r#"fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs|rootfs|devtmpfs""#;

/// A dashboard with the shared tags and header links.
pub(crate) fn dashboard(uid: &str, title: &str, subject_tag: &str, description: &str) -> DashboardBuilder {
    let mut builder = Dashboard::builder(uid, title).description(description).tags([TAG, subject_tag]);
    if uid != uids::OVERVIEW {
        builder = builder.link(DashboardLink::dashboard("Overview", uids::OVERVIEW, "Back to the platform overview"));
    }
    builder.link(DashboardLink::tagged("ETL monitoring", [TAG]))
}

/// A PromQL range query with a legend.
pub(crate) fn prom(expr: impl Into<String>, legend: &str) -> Target {
    Target::prometheus(expr).legend(legend)
}

/// A LogQL range query with a legend.
pub(crate) fn loki(expr: impl Into<String>, legend: &str) -> Target {
    Target::loki(expr).legend(legend)
}

/// Node-exporter series carry `instance` (an overlay address), not the host
/// name; `node_uname_info` maps one to the other. `inner` must keep the
/// `instance` label; the result gains `nodename` and is limited to `$node`.
pub(crate) fn on_node(inner: &str) -> String {
    format!(r#"({inner}) * on(instance) group_left(nodename) {}"#, node_names(r#"{nodename=~"$node"}"#))
}

/// `node_uname_info` reduced to one series per instance, so that a join on
/// it still works if node-exporter is ever scraped by two jobs at once.
pub(crate) fn node_names(selector: &str) -> String {
    format!("max by (instance, nodename) (node_uname_info{selector})")
}

/// The host variable of node-exporter dashboards.
pub(crate) fn node_variable() -> Variable {
    Variable::query("node", Datasource::Prometheus, "label_values(node_uname_info, nodename)")
        .label("Node")
        .description("Host name, as reported by node-exporter's node_uname_info")
}
