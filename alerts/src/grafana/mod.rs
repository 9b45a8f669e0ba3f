//! Grafana-managed log alerts: LogQL on Loki, evaluated by Grafana, sent to
//! the external Alertmanager through a `prometheus-alertmanager` contact
//! point.
//!
//! Prometheus cannot see logs, so alerts on log content (error bursts,
//! panics, OOM messages, NGINX 5xx, failed logins) and on logs ceasing to
//! arrive live here. They carry the same labels and annotations as the
//! Prometheus rules, so Alertmanager routes them the same way.

mod model;
mod promql;
mod render;
mod rules;

pub use model::{Comparison, ExecErrState, LogAlert, LogAlertGroup, NoDataState};
pub use promql::{LINE_LABEL, LOG_LINE_METRIC, UnsupportedLogql, logql_as_promql};
pub use render::provisioning_yaml;

use crate::{AlertLabels, Context};

/// Where the provisioning file is generated, relative to the repository.
pub const PROVISIONING_PATH: &str = "alerts/generated/grafana/log-alerts.yml";

/// Grafana folder (by title) holding the rule groups; created if missing.
pub const FOLDER: &str = "ETL log alerts";

/// The contact point every Grafana alert goes to.
pub const CONTACT_POINT: &str = "alertmanager";

/// The external Alertmanager, by its Swarm service name.
pub const ALERTMANAGER_URL: &str = "http://alertmanager:9093";

/// The log alert groups, with links resolved.
pub fn log_alert_groups(ctx: &Context) -> Vec<LogAlertGroup> {
    rules::groups().into_iter().map(|g| g.resolve_links(ctx)).collect()
}

/// Every LogQL query, as `(rule uid, query)`, for a LogQL syntax check.
pub fn log_queries(ctx: &Context) -> Vec<(String, String)> {
    log_alert_groups(ctx).iter().flat_map(|g| g.rules.iter().map(|r| (r.uid.clone(), r.query.clone()))).collect()
}

/// The static labels of every log alert, as Alertmanager receives them
/// (Grafana adds `grafana_folder`; `alertname` is the title).
pub fn alert_label_sets(ctx: &Context) -> Vec<AlertLabels> {
    log_alert_groups(ctx)
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|r| {
            let mut labels = r.labels();
            labels.insert("grafana_folder".into(), FOLDER.into());
            AlertLabels { file: PROVISIONING_PATH.into(), alertname: r.title.clone(), labels }
        })
        .collect()
}
