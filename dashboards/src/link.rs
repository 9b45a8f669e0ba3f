//! Links in a dashboard's header to other dashboards.

use serde_json::{Value, json};

/// A dashboard header link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardLink {
    /// Every dashboard carrying all of `tags`, as a drop-down.
    Tagged {
        /// The drop-down's caption.
        title: String,
        /// Dashboards with all these tags are listed.
        tags: Vec<String>,
    },
    /// One dashboard, by UID. Grafana resolves `/d/<uid>` whatever the
    /// dashboard's title or folder, so the link survives renames.
    Dashboard {
        /// The link text.
        title: String,
        /// The target dashboard's UID.
        uid: String,
        /// Hover text.
        tooltip: String,
    },
    /// Any URL.
    Url {
        /// The link text.
        title: String,
        /// Where it goes; may contain `${var}` references.
        url: String,
        /// Hover text.
        tooltip: String,
    },
}

impl DashboardLink {
    /// A drop-down of all dashboards tagged with every one of `tags`.
    pub fn tagged<S: Into<String>>(title: impl Into<String>, tags: impl IntoIterator<Item = S>) -> Self {
        DashboardLink::Tagged { title: title.into(), tags: tags.into_iter().map(Into::into).collect() }
    }

    /// A link to the dashboard with UID `uid`.
    pub fn dashboard(title: impl Into<String>, uid: impl Into<String>, tooltip: impl Into<String>) -> Self {
        DashboardLink::Dashboard { title: title.into(), uid: uid.into(), tooltip: tooltip.into() }
    }

    /// A link to an arbitrary URL.
    pub fn url(title: impl Into<String>, url: impl Into<String>, tooltip: impl Into<String>) -> Self {
        DashboardLink::Url { title: title.into(), url: url.into(), tooltip: tooltip.into() }
    }

    /// The link text.
    pub fn title(&self) -> &str {
        match self {
            DashboardLink::Tagged { title, .. }
            | DashboardLink::Dashboard { title, .. }
            | DashboardLink::Url { title, .. } => title,
        }
    }

    /// The URL written to the JSON, for links that have one.
    pub fn target_url(&self) -> Option<String> {
        match self {
            DashboardLink::Tagged { .. } => None,
            DashboardLink::Dashboard { uid, .. } => Some(format!("/d/{uid}")),
            DashboardLink::Url { url, .. } => Some(url.clone()),
        }
    }

    /// Texts that may reference template variables.
    pub(crate) fn referencing_texts(&self) -> Vec<String> {
        let mut texts = vec![self.title().to_owned()];
        match self {
            DashboardLink::Tagged { .. } => {}
            DashboardLink::Dashboard { tooltip, .. } | DashboardLink::Url { tooltip, .. } => {
                texts.push(tooltip.clone());
            }
        }
        texts.extend(self.target_url());
        texts
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            DashboardLink::Tagged { title, tags } => json!({
                "asDropdown": true,
                "icon": "external link",
                "includeVars": false,
                "keepTime": true,
                "tags": tags,
                "targetBlank": false,
                "title": title,
                "tooltip": "",
                "type": "dashboards"
            }),
            DashboardLink::Dashboard { title, tooltip, .. } | DashboardLink::Url { title, tooltip, .. } => json!({
                "asDropdown": false,
                "icon": "dashboard",
                // Carrying the variables over keeps e.g. the selected node
                // when jumping between dashboards that share a variable.
                "includeVars": true,
                "keepTime": true,
                "tags": [],
                "targetBlank": false,
                "title": title,
                "tooltip": tooltip,
                "type": "link",
                "url": self.target_url().unwrap_or_default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_links_point_at_uids() {
        let l = DashboardLink::dashboard("Hosts", "etl-hosts", "Node exporter");
        assert_eq!(l.target_url().as_deref(), Some("/d/etl-hosts"));
        let v = l.to_json();
        assert_eq!(v["type"], json!("link"));
        assert_eq!(v["url"], json!("/d/etl-hosts"));
        assert_eq!(v["keepTime"], json!(true));
    }

    #[test]
    fn tagged_links_are_dropdowns() {
        let v = DashboardLink::tagged("ETL", ["etl"]).to_json();
        assert_eq!(v["type"], json!("dashboards"));
        assert_eq!(v["tags"], json!(["etl"]));
        assert_eq!(v["asDropdown"], json!(true));
    }
}
