//! Template variables: the drop-downs at the top of a dashboard.

use serde_json::{Map, Value, json};

use crate::{Datasource, DatasourceRef};

/// What kind of variable, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableKind {
    /// Values from a data source query, e.g. Prometheus
    /// `label_values(node_uname_info, nodename)` or Loki
    /// `label_values({stack="etl"}, service)`.
    Query {
        /// Where the values come from.
        datasource: DatasourceRef,
        /// The variable query (Grafana's classic string form).
        query: String,
        /// Optional regex that filters or extracts values.
        regex: Option<String>,
        /// Several values may be selected at once.
        multi: bool,
        /// An "All" entry is offered.
        include_all: bool,
        /// What "All" expands to; `None` lets Grafana list every value.
        all_value: Option<String>,
    },
    /// A data source picker limited to one plugin type.
    Datasource {
        /// The plugin type offered.
        plugin: Datasource,
        /// The UID selected when the dashboard opens.
        current_uid: String,
    },
    /// A fixed list of `(text, value)` options.
    Custom {
        /// Options in display order.
        options: Vec<(String, String)>,
        /// Several values may be selected at once.
        multi: bool,
        /// An "All" entry is offered.
        include_all: bool,
        /// What "All" expands to.
        all_value: Option<String>,
    },
    /// A choice of time intervals such as `1m`, `5m`.
    Interval {
        /// Options in display order; the first is selected initially.
        options: Vec<String>,
    },
    /// Free text typed by the reader, e.g. a search term.
    Textbox {
        /// The text the dashboard opens with.
        default: String,
    },
}

/// A dashboard template variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    name: String,
    label: Option<String>,
    description: Option<String>,
    hidden: bool,
    kind: VariableKind,
}

impl Variable {
    /// A multi-value query variable with "All" (expanding to `.*`, so that
    /// queries use `=~"$name"`), refreshed when the time range changes.
    pub fn query(name: impl Into<String>, datasource: Datasource, query: impl Into<String>) -> Self {
        Variable::new(
            name,
            VariableKind::Query {
                datasource: DatasourceRef::Provisioned(datasource),
                query: query.into(),
                regex: None,
                multi: true,
                include_all: true,
                all_value: Some(".*".into()),
            },
        )
    }

    /// A data source picker for `plugin`, starting on the provisioned UID.
    pub fn datasource(name: impl Into<String>, plugin: Datasource) -> Self {
        Variable::new(name, VariableKind::Datasource { plugin, current_uid: plugin.uid().into() })
    }

    /// A fixed list of `(text, value)` options with "All" (expanding to `.*`).
    pub fn custom<T, V>(name: impl Into<String>, options: impl IntoIterator<Item = (T, V)>) -> Self
    where
        T: Into<String>,
        V: Into<String>,
    {
        Variable::new(
            name,
            VariableKind::Custom {
                options: options.into_iter().map(|(t, v)| (t.into(), v.into())).collect(),
                multi: false,
                include_all: true,
                all_value: Some(".*".into()),
            },
        )
    }

    /// A choice of intervals; the first option is selected initially.
    pub fn interval<S: Into<String>>(name: impl Into<String>, options: impl IntoIterator<Item = S>) -> Self {
        Variable::new(name, VariableKind::Interval { options: options.into_iter().map(Into::into).collect() })
    }

    /// A free-text box, starting with `default`.
    pub fn textbox(name: impl Into<String>, default: impl Into<String>) -> Self {
        Variable::new(name, VariableKind::Textbox { default: default.into() })
    }

    /// A variable of any kind; the other constructors are shorthands.
    pub fn new(name: impl Into<String>, kind: VariableKind) -> Self {
        Variable { name: name.into(), label: None, description: None, hidden: false, kind }
    }

    /// The label shown next to the drop-down.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The tooltip of the drop-down.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A regex over the values (query variables only).
    #[must_use]
    pub fn regex(mut self, pattern: impl Into<String>) -> Self {
        if let VariableKind::Query { regex, .. } = &mut self.kind {
            *regex = Some(pattern.into());
        }
        self
    }

    /// What "All" expands to. Loki needs `.+` here: it rejects selectors in
    /// which every matcher also matches the empty string, such as `=~".*"`.
    #[must_use]
    pub fn all_value(mut self, value: impl Into<String>) -> Self {
        match &mut self.kind {
            VariableKind::Query { all_value, .. } | VariableKind::Custom { all_value, .. } => {
                *all_value = Some(value.into());
            }
            VariableKind::Datasource { .. } | VariableKind::Interval { .. } | VariableKind::Textbox { .. } => {}
        }
        self
    }

    /// Several values at once (query variables are multi already).
    ///
    /// Grafana regex-escapes each selected value of a multi or "All"
    /// variable (`a|b` becomes `a\\|b`), so an alternative must be spread over
    /// several options rather than written into one value.
    #[must_use]
    pub fn multi(mut self) -> Self {
        if let VariableKind::Query { multi, .. } | VariableKind::Custom { multi, .. } = &mut self.kind {
            *multi = true;
        }
        self
    }

    /// One value at a time, no "All" entry.
    #[must_use]
    pub fn single(mut self) -> Self {
        match &mut self.kind {
            VariableKind::Query { multi, include_all, all_value, .. } => {
                *multi = false;
                *include_all = false;
                *all_value = None;
            }
            VariableKind::Custom { multi, include_all, all_value, .. } => {
                *multi = false;
                *include_all = false;
                *all_value = None;
            }
            VariableKind::Datasource { .. } | VariableKind::Interval { .. } | VariableKind::Textbox { .. } => {}
        }
        self
    }

    /// Keep the variable but do not show it.
    #[must_use]
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    /// The variable's name, referenced as `$name` in queries.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kind of variable this is.
    pub fn kind(&self) -> &VariableKind {
        &self.kind
    }

    /// Texts of this variable that may themselves reference variables.
    pub(crate) fn referencing_texts(&self) -> Vec<String> {
        match &self.kind {
            VariableKind::Query { query, regex, datasource, .. } => {
                let mut texts = vec![query.clone(), datasource.uid()];
                texts.extend(regex.clone());
                texts
            }
            VariableKind::Datasource { .. }
            | VariableKind::Custom { .. }
            | VariableKind::Interval { .. }
            | VariableKind::Textbox { .. } => Vec::new(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = Map::new();
        v.insert("name".into(), json!(self.name));
        v.insert("hide".into(), json!(if self.hidden { 2 } else { 0 }));
        v.insert("skipUrlSync".into(), json!(false));
        if let Some(label) = &self.label {
            v.insert("label".into(), json!(label));
        }
        if let Some(description) = &self.description {
            v.insert("description".into(), json!(description));
        }
        match &self.kind {
            VariableKind::Query { datasource, query, regex, multi, include_all, all_value } => {
                v.insert("type".into(), json!("query"));
                v.insert("datasource".into(), datasource.to_json());
                v.insert("query".into(), json!(query));
                v.insert("definition".into(), json!(query));
                v.insert("regex".into(), json!(regex.clone().unwrap_or_default()));
                v.insert("multi".into(), json!(multi));
                v.insert("includeAll".into(), json!(include_all));
                if let Some(all) = all_value {
                    v.insert("allValue".into(), json!(all));
                }
                if *include_all {
                    v.insert("current".into(), all_selected(*multi));
                }
                v.insert("options".into(), json!([]));
                // 2: on time range change, so values that appeared (a new
                // node, a new service) show up without reloading the page.
                v.insert("refresh".into(), json!(2));
                // 1: alphabetical, ascending.
                v.insert("sort".into(), json!(1));
            }
            VariableKind::Datasource { plugin, current_uid } => {
                v.insert("type".into(), json!("datasource"));
                v.insert("query".into(), json!(plugin.type_id()));
                v.insert("current".into(), json!({ "text": current_uid, "value": current_uid }));
                v.insert("multi".into(), json!(false));
                v.insert("includeAll".into(), json!(false));
                v.insert("options".into(), json!([]));
                v.insert("refresh".into(), json!(1));
                v.insert("regex".into(), json!(""));
            }
            VariableKind::Custom { options, multi, include_all, all_value } => {
                let query =
                    options.iter().map(|(text, value)| format!("{text} : {value}")).collect::<Vec<_>>().join(", ");
                v.insert("type".into(), json!("custom"));
                v.insert("query".into(), json!(query));
                v.insert("multi".into(), json!(multi));
                v.insert("includeAll".into(), json!(include_all));
                if let Some(all) = all_value {
                    v.insert("allValue".into(), json!(all));
                }
                let mut opts: Vec<Value> = Vec::new();
                if *include_all {
                    opts.push(json!({ "selected": true, "text": "All", "value": "$__all" }));
                    v.insert("current".into(), all_selected(*multi));
                } else if let Some((text, value)) = options.first() {
                    v.insert("current".into(), json!({ "text": text, "value": value }));
                }
                for (i, (text, value)) in options.iter().enumerate() {
                    let selected = !*include_all && i == 0;
                    opts.push(json!({ "selected": selected, "text": text, "value": value }));
                }
                v.insert("options".into(), Value::Array(opts));
            }
            VariableKind::Interval { options } => {
                v.insert("type".into(), json!("interval"));
                v.insert("query".into(), json!(options.join(",")));
                v.insert("auto".into(), json!(false));
                v.insert("refresh".into(), json!(2));
                if let Some(first) = options.first() {
                    v.insert("current".into(), json!({ "text": first, "value": first }));
                }
                let opts: Vec<Value> = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| json!({ "selected": i == 0, "text": o, "value": o }))
                    .collect();
                v.insert("options".into(), Value::Array(opts));
            }
            VariableKind::Textbox { default } => {
                v.insert("type".into(), json!("textbox"));
                v.insert("query".into(), json!(default));
                v.insert("current".into(), json!({ "text": default, "value": default }));
                v.insert("options".into(), json!([{ "selected": true, "text": default, "value": default }]));
            }
        }
        Value::Object(v)
    }
}

/// "All" selected, in the shape Grafana saves for single or multi variables.
fn all_selected(multi: bool) -> Value {
    if multi { json!({ "text": ["All"], "value": ["$__all"] }) } else { json!({ "text": "All", "value": "$__all" }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_variable_defaults() {
        let v = Variable::query("node", Datasource::Prometheus, "label_values(node_uname_info, nodename)")
            .label("Node")
            .to_json();
        assert_eq!(v["type"], json!("query"));
        assert_eq!(v["multi"], json!(true));
        assert_eq!(v["includeAll"], json!(true));
        assert_eq!(v["allValue"], json!(".*"));
        assert_eq!(v["refresh"], json!(2));
        assert_eq!(v["current"]["value"], json!(["$__all"]));
        assert_eq!(v["datasource"], json!({"type": "prometheus", "uid": "prometheus"}));
        assert_eq!(v["definition"], v["query"]);
    }

    #[test]
    fn single_query_variable_has_no_all() {
        let v = Variable::query("instance", Datasource::Prometheus, "label_values(up, instance)").single().to_json();
        assert_eq!(v["multi"], json!(false));
        assert_eq!(v["includeAll"], json!(false));
        assert!(v.get("allValue").is_none());
        assert!(v.get("current").is_none());
    }

    #[test]
    fn datasource_variable_starts_on_the_provisioned_uid() {
        let v = Variable::datasource("datasource", Datasource::Prometheus).to_json();
        assert_eq!(v["type"], json!("datasource"));
        assert_eq!(v["query"], json!("prometheus"));
        assert_eq!(v["current"]["value"], json!("prometheus"));
    }

    #[test]
    fn custom_variable_writes_key_value_pairs() {
        let v = Variable::custom("level", [("error", "error|fatal"), ("warn", "warn")]).to_json();
        assert_eq!(v["query"], json!("error : error|fatal, warn : warn"));
        assert_eq!(v["options"][1]["value"], json!("error|fatal"));
        assert_eq!(v["current"]["value"], json!("$__all"));
    }

    #[test]
    fn multi_custom_variable_selects_all_as_a_list() {
        let v = Variable::custom("level", [("error", "error"), ("warn", "warn")]).multi().to_json();
        assert_eq!(v["multi"], json!(true));
        assert_eq!(v["current"]["value"], json!(["$__all"]));
    }

    #[test]
    fn textbox_variable_starts_with_its_default() {
        let v = Variable::textbox("search", "").to_json();
        assert_eq!(v["type"], json!("textbox"));
        assert_eq!(v["current"]["value"], json!(""));
    }

    #[test]
    fn all_value_can_be_changed() {
        let v = Variable::query("service", Datasource::Loki, "label_values(service)").all_value(".+").to_json();
        assert_eq!(v["allValue"], json!(".+"));
    }

    #[test]
    fn interval_variable_selects_the_first_option() {
        let v = Variable::interval("step", ["1m", "5m"]).to_json();
        assert_eq!(v["query"], json!("1m,5m"));
        assert_eq!(v["current"]["value"], json!("1m"));
        assert_eq!(v["options"][0]["selected"], json!(true));
    }
}
