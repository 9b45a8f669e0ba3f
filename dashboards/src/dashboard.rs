//! A dashboard: what Grafana provisions from one JSON file.

use serde_json::{Value, json};

use crate::json::pretty;
use crate::schema_version::SCHEMA_VERSION;
use crate::{DashboardBuilder, DashboardLink, Element, Panel, Query, Variable};

/// A complete dashboard, ready to render.
///
/// Build one with [`Dashboard::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub(crate) uid: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) tags: Vec<String>,
    pub(crate) editable: bool,
    pub(crate) time_from: String,
    pub(crate) time_to: String,
    pub(crate) refresh: String,
    pub(crate) variables: Vec<Variable>,
    pub(crate) links: Vec<DashboardLink>,
    pub(crate) elements: Vec<Element>,
}

impl Dashboard {
    /// Starts a dashboard with the given pinned UID and title.
    pub fn builder(uid: impl Into<String>, title: impl Into<String>) -> DashboardBuilder {
        DashboardBuilder::new(uid, title)
    }

    /// The pinned UID (the `/d/<uid>` in its URL).
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether users may edit it in Grafana (generated ones must not be).
    pub fn editable(&self) -> bool {
        self.editable
    }

    /// The default time range, `(from, to)`.
    pub fn time(&self) -> (&str, &str) {
        (&self.time_from, &self.time_to)
    }

    /// The auto-refresh interval.
    pub fn refresh(&self) -> &str {
        &self.refresh
    }

    /// The template variables, in order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The header links.
    pub fn links(&self) -> &[DashboardLink] {
        &self.links
    }

    /// Rows and panels in dashboard order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The panels (without row headers), in dashboard order.
    pub fn panels(&self) -> impl Iterator<Item = &Panel> {
        self.elements.iter().filter_map(|e| match e {
            Element::Panel(p) => Some(p),
            Element::Row(_) => None,
        })
    }

    /// Every panel query, in dashboard order. Variable queries are not
    /// included: `label_values(...)` is Grafana syntax, not PromQL or LogQL.
    pub fn queries(&self) -> Vec<Query> {
        self.panels()
            .flat_map(|panel| {
                panel.target_list().iter().map(move |target| Query {
                    dashboard_uid: self.uid.clone(),
                    panel_id: panel.id(),
                    panel_title: panel.title().to_owned(),
                    ref_id: target.ref_id_str().unwrap_or_default().to_owned(),
                    datasource: target.language(),
                    expr: target.expr().to_owned(),
                })
            })
            .collect()
    }

    /// The dashboard as Grafana's classic JSON model: keys sorted, two-space
    /// indentation, trailing newline, the same bytes on every run.
    pub fn to_json(&self) -> String {
        pretty(self.to_value())
    }

    /// The dashboard as a JSON value (keys not yet sorted).
    pub fn to_value(&self) -> Value {
        json!({
            "annotations": {
                "list": [{
                    "builtIn": 1,
                    "datasource": { "type": "grafana", "uid": "-- Grafana --" },
                    "enable": true,
                    "hide": true,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard"
                }]
            },
            "description": self.description,
            "editable": self.editable,
            // 1: shared crosshair, so a spike can be lined up across panels.
            "graphTooltip": 1,
            "links": self.links.iter().map(DashboardLink::to_json).collect::<Vec<_>>(),
            "panels": self.elements.iter().map(Element::to_json).collect::<Vec<_>>(),
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "tags": self.tags,
            "templating": { "list": self.variables.iter().map(Variable::to_json).collect::<Vec<_>>() },
            "time": { "from": self.time_from, "to": self.time_to },
            "timezone": "browser",
            "title": self.title,
            "uid": self.uid
        })
    }
}
