//! Queries inside a panel: PromQL for Prometheus, LogQL for Loki.

use serde_json::{Map, Value, json};

use crate::{Datasource, DatasourceRef};

/// Whether a Prometheus query asks for a series over the time range, the
/// value at its end, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromQueryMode {
    /// A series over the dashboard's range (graphs, sparklines).
    Range,
    /// One value at the end of the range (tables, big numbers).
    Instant,
    /// Both, as Grafana's "Both" option.
    Both,
}

/// Loki's query types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LokiQueryType {
    /// Log lines or a metric series over the range.
    Range,
    /// One value per series at the end of the range.
    Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Language {
    Prometheus { mode: PromQueryMode, table: bool },
    Loki { query_type: LokiQueryType },
}

/// One query of a panel.
///
/// The reference id (`A`, `B`, …) is given by the panel when the target is
/// added, unless set here; the data source defaults to the provisioned one of
/// the query's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    expr: String,
    legend: Option<String>,
    ref_id: Option<String>,
    datasource: DatasourceRef,
    language: Language,
}

impl Target {
    /// A PromQL range query.
    pub fn prometheus(expr: impl Into<String>) -> Self {
        Target {
            expr: expr.into(),
            legend: None,
            ref_id: None,
            datasource: DatasourceRef::Provisioned(Datasource::Prometheus),
            language: Language::Prometheus { mode: PromQueryMode::Range, table: false },
        }
    }

    /// A LogQL range query (log lines, or a metric query over time).
    pub fn loki(expr: impl Into<String>) -> Self {
        Target {
            expr: expr.into(),
            legend: None,
            ref_id: None,
            datasource: DatasourceRef::Provisioned(Datasource::Loki),
            language: Language::Loki { query_type: LokiQueryType::Range },
        }
    }

    /// The series name template, e.g. `{{nodename}}`.
    #[must_use]
    pub fn legend(mut self, format: impl Into<String>) -> Self {
        self.legend = Some(format.into());
        self
    }

    /// Ask for the value at the end of the range only.
    #[must_use]
    pub fn instant(mut self) -> Self {
        match &mut self.language {
            Language::Prometheus { mode, .. } => *mode = PromQueryMode::Instant,
            Language::Loki { query_type } => *query_type = LokiQueryType::Instant,
        }
        self
    }

    /// Ask for both the range and the instant result (Prometheus only).
    #[must_use]
    pub fn both(mut self) -> Self {
        if let Language::Prometheus { mode, .. } = &mut self.language {
            *mode = PromQueryMode::Both;
        }
        self
    }

    /// An instant Prometheus query returned as a table: one row per series,
    /// one column per label.
    #[must_use]
    pub fn table(mut self) -> Self {
        if let Language::Prometheus { mode, table } = &mut self.language {
            *mode = PromQueryMode::Instant;
            *table = true;
        }
        self
    }

    /// Set the reference id instead of letting the panel choose one.
    #[must_use]
    pub fn ref_id(mut self, ref_id: impl Into<String>) -> Self {
        self.ref_id = Some(ref_id.into());
        self
    }

    /// Point at another data source than the provisioned one.
    #[must_use]
    pub fn datasource(mut self, datasource: DatasourceRef) -> Self {
        self.datasource = datasource;
        self
    }

    /// The raw query text, Grafana macros and variables unexpanded.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The legend template, if any.
    pub fn legend_format(&self) -> Option<&str> {
        self.legend.as_deref()
    }

    /// The reference id, once the panel has given one.
    pub fn ref_id_str(&self) -> Option<&str> {
        self.ref_id.as_deref()
    }

    /// The data source this target queries.
    pub fn datasource_ref(&self) -> &DatasourceRef {
        &self.datasource
    }

    /// The query language, named by the data source kind that speaks it.
    pub fn language(&self) -> Datasource {
        match self.language {
            Language::Prometheus { .. } => Datasource::Prometheus,
            Language::Loki { .. } => Datasource::Loki,
        }
    }

    pub(crate) fn has_ref_id(&self) -> bool {
        self.ref_id.is_some()
    }

    pub(crate) fn set_ref_id(&mut self, ref_id: String) {
        self.ref_id = Some(ref_id);
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut t = Map::new();
        t.insert("datasource".into(), self.datasource.to_json());
        t.insert("editorMode".into(), json!("code"));
        t.insert("expr".into(), json!(self.expr));
        t.insert("refId".into(), json!(self.ref_id.clone().unwrap_or_default()));
        if let Some(legend) = &self.legend {
            t.insert("legendFormat".into(), json!(legend));
        }
        match self.language {
            Language::Prometheus { mode, table } => {
                let (range, instant) = match mode {
                    PromQueryMode::Range => (true, false),
                    PromQueryMode::Instant => (false, true),
                    PromQueryMode::Both => (true, true),
                };
                t.insert("range".into(), json!(range));
                t.insert("instant".into(), json!(instant));
                if table {
                    t.insert("format".into(), json!("table"));
                }
            }
            Language::Loki { query_type } => {
                let query_type = match query_type {
                    LokiQueryType::Range => "range",
                    LokiQueryType::Instant => "instant",
                };
                t.insert("queryType".into(), json!(query_type));
            }
        }
        Value::Object(t)
    }
}

/// The reference id Grafana would give the `index`-th query: A…Z, AA, AB, …
pub(crate) fn ref_id_for(index: usize) -> String {
    let mut n = index;
    let mut letters = Vec::new();
    loop {
        // `n % 26` is below 26, so the sum stays within ASCII capitals.
        #[allow(clippy::cast_possible_truncation)]
        letters.push(char::from(b'A' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_ids_follow_grafana() {
        assert_eq!(ref_id_for(0), "A");
        assert_eq!(ref_id_for(25), "Z");
        assert_eq!(ref_id_for(26), "AA");
        assert_eq!(ref_id_for(27), "AB");
        assert_eq!(ref_id_for(26 * 27), "AAA");
    }

    #[test]
    fn prometheus_table_targets_are_instant() {
        let mut t = Target::prometheus("up").table();
        t.set_ref_id("A".into());
        assert_eq!(
            t.to_json(),
            json!({
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "editorMode": "code",
                "expr": "up",
                "format": "table",
                "instant": true,
                "range": false,
                "refId": "A"
            })
        );
    }

    #[test]
    fn loki_targets_carry_a_query_type() {
        let t = Target::loki("{service=\"backend\"}").legend("{{service}}").instant();
        let v = t.to_json();
        assert_eq!(v["queryType"], json!("instant"));
        assert_eq!(v["datasource"]["uid"], json!("loki"));
        assert_eq!(v["legendFormat"], json!("{{service}}"));
        assert_eq!(t.language(), Datasource::Loki);
    }
}
