//! How a panel, target or variable points at a data source.

use serde_json::{Value, json};

use crate::Datasource;

/// A `{type, uid}` reference as Grafana stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasourceRef {
    /// One of the provisioned data sources, by its pinned UID.
    Provisioned(Datasource),
    /// A datasource template variable, written `${name}` in the UID.
    Variable {
        /// The plugin type the variable selects from.
        kind: Datasource,
        /// The variable's name, without `$`.
        name: String,
    },
    /// Anything else. Exists so that hand-built or imported dashboards can be
    /// linted; the builders never produce it.
    Other {
        /// Plugin type id.
        type_id: String,
        /// Data source UID.
        uid: String,
    },
}

impl DatasourceRef {
    /// A reference to the datasource variable `name` of plugin type `kind`.
    pub fn variable(kind: Datasource, name: impl Into<String>) -> Self {
        DatasourceRef::Variable { kind, name: name.into() }
    }

    /// A raw reference, for dashboards built by hand.
    pub fn other(type_id: impl Into<String>, uid: impl Into<String>) -> Self {
        DatasourceRef::Other { type_id: type_id.into(), uid: uid.into() }
    }

    /// The plugin type id written to `type`.
    pub fn type_id(&self) -> &str {
        match self {
            DatasourceRef::Provisioned(ds) | DatasourceRef::Variable { kind: ds, .. } => ds.type_id(),
            DatasourceRef::Other { type_id, .. } => type_id,
        }
    }

    /// The text written to `uid`.
    pub fn uid(&self) -> String {
        match self {
            DatasourceRef::Provisioned(ds) => ds.uid().to_owned(),
            DatasourceRef::Variable { name, .. } => format!("${{{name}}}"),
            DatasourceRef::Other { uid, .. } => uid.clone(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({ "type": self.type_id(), "uid": self.uid() })
    }
}

impl From<Datasource> for DatasourceRef {
    fn from(ds: Datasource) -> Self {
        DatasourceRef::Provisioned(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_refs_use_braced_syntax() {
        let r = DatasourceRef::variable(Datasource::Prometheus, "datasource");
        assert_eq!(r.uid(), "${datasource}");
        assert_eq!(r.type_id(), "prometheus");
    }

    #[test]
    fn provisioned_refs_serialize_type_and_uid() {
        let v = DatasourceRef::from(Datasource::Loki).to_json();
        assert_eq!(v, json!({"type": "loki", "uid": "loki"}));
    }
}
