//! A panel: a visualization with its queries and display settings.

use serde_json::{Map, Value, json};

use crate::json::number;
use crate::panel_kind::Reduce;
use crate::target::ref_id_for;
use crate::{DatasourceRef, GridPos, PanelKind, Target, Thresholds, Unit, ValueMapping};

/// The size panels get unless told otherwise: half the width, 8 rows.
const DEFAULT_SIZE: (u32, u32) = (12, 8);

/// One panel of a dashboard.
///
/// The typed constructors ([`Panel::time_series`], [`Panel::stat`], …) ask for
/// everything a reader needs: a title, a description and, for numbers, a unit.
/// [`Panel::new`] asks for nothing, so that tests can build the broken panels
/// the lint must catch. Ids and positions are given by the dashboard builder;
/// [`Panel::with_id`] and [`Panel::at`] set them by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    kind: PanelKind,
    id: u32,
    title: String,
    description: Option<String>,
    datasource: Option<DatasourceRef>,
    targets: Vec<Target>,
    unit: Option<Unit>,
    min: Option<f64>,
    max: Option<f64>,
    decimals: Option<u32>,
    thresholds: Option<Thresholds>,
    mappings: Vec<ValueMapping>,
    size: (u32, u32),
    grid_pos: GridPos,
}

impl Panel {
    /// A bare panel: no description, no unit, no targets.
    pub fn new(kind: PanelKind, title: impl Into<String>) -> Self {
        Panel {
            kind,
            id: 0,
            title: title.into(),
            description: None,
            datasource: None,
            targets: Vec::new(),
            unit: None,
            min: None,
            max: None,
            decimals: None,
            thresholds: None,
            mappings: Vec::new(),
            size: DEFAULT_SIZE,
            grid_pos: GridPos::default(),
        }
    }

    /// A line chart.
    pub fn time_series(title: impl Into<String>, description: impl Into<String>, unit: Unit) -> Self {
        Panel::new(PanelKind::time_series(), title).description(description).unit(unit)
    }

    /// A big number with a sparkline.
    pub fn stat(title: impl Into<String>, description: impl Into<String>, unit: Unit) -> Self {
        Panel::new(PanelKind::stat(), title).description(description).unit(unit).size(4, 4)
    }

    /// A dial.
    pub fn gauge(title: impl Into<String>, description: impl Into<String>, unit: Unit) -> Self {
        Panel::new(PanelKind::gauge(), title).description(description).unit(unit).size(4, 6)
    }

    /// Horizontal bars, for ranking series.
    pub fn bar_gauge(title: impl Into<String>, description: impl Into<String>, unit: Unit) -> Self {
        Panel::new(PanelKind::bar_gauge(), title).description(description).unit(unit)
    }

    /// A table of series and labels.
    pub fn table(title: impl Into<String>, description: impl Into<String>) -> Self {
        Panel::new(PanelKind::table(), title).description(description)
    }

    /// Log lines.
    pub fn logs(title: impl Into<String>, description: impl Into<String>) -> Self {
        Panel::new(PanelKind::Logs, title).description(description).size(24, 12)
    }

    /// Markdown text.
    pub fn text(title: impl Into<String>, description: impl Into<String>, markdown: impl Into<String>) -> Self {
        Panel::new(PanelKind::Text { content: markdown.into() }, title).description(description)
    }

    /// The tooltip next to the title: what the panel shows and how to read it.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The unit values are shown in.
    #[must_use]
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Adds a query. It gets the first free reference id (A, B, …) unless it
    /// has one; the first query also sets the panel's data source.
    #[must_use]
    pub fn target(mut self, mut target: Target) -> Self {
        if !target.has_ref_id() {
            let taken: Vec<&str> = self.targets.iter().filter_map(Target::ref_id_str).collect();
            let free = (0..).map(ref_id_for).find(|id| !taken.contains(&id.as_str())).unwrap_or_default();
            target.set_ref_id(free);
        }
        if self.datasource.is_none() {
            self.datasource = Some(target.datasource_ref().clone());
        }
        self.targets.push(target);
        self
    }

    /// Adds several queries, in order.
    #[must_use]
    pub fn targets(self, targets: impl IntoIterator<Item = Target>) -> Self {
        targets.into_iter().fold(self, Panel::target)
    }

    /// Sets the panel-level data source explicitly.
    #[must_use]
    pub fn datasource(mut self, datasource: DatasourceRef) -> Self {
        self.datasource = Some(datasource);
        self
    }

    /// Width in grid columns (1–24) and height in grid rows.
    #[must_use]
    pub fn size(mut self, w: u32, h: u32) -> Self {
        self.size = (w, h);
        self
    }

    /// Fixes the axis or gauge range.
    #[must_use]
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Fixes the lower bound only (e.g. 0 for rates).
    #[must_use]
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    /// Number of decimals shown.
    #[must_use]
    pub fn decimals(mut self, decimals: u32) -> Self {
        self.decimals = Some(decimals);
        self
    }

    /// Colors by value.
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = Some(thresholds);
        self
    }

    /// Shows words for values, e.g. UP/DOWN for 1/0.
    #[must_use]
    pub fn mappings(mut self, mappings: impl IntoIterator<Item = ValueMapping>) -> Self {
        self.mappings.extend(mappings);
        self
    }

    /// Time series: stack series (for parts of a whole).
    #[must_use]
    pub fn stacked(mut self) -> Self {
        if let PanelKind::TimeSeries { stacked, .. } = &mut self.kind {
            *stacked = true;
        }
        self
    }

    /// Time series: legend as a table with last, mean and max.
    #[must_use]
    pub fn legend_table(mut self) -> Self {
        if let PanelKind::TimeSeries { legend_table, .. } = &mut self.kind {
            *legend_table = true;
        }
        self
    }

    /// Stat: no sparkline, just the number.
    #[must_use]
    pub fn no_sparkline(mut self) -> Self {
        if let PanelKind::Stat { sparkline, .. } = &mut self.kind {
            *sparkline = false;
        }
        self
    }

    /// Stat: color the background rather than the number.
    #[must_use]
    pub fn background(mut self) -> Self {
        if let PanelKind::Stat { background, .. } = &mut self.kind {
            *background = true;
        }
        self
    }

    /// Stat, gauge, bar gauge: how a series becomes one value.
    #[must_use]
    pub fn reduce(mut self, how: Reduce) -> Self {
        match &mut self.kind {
            PanelKind::Stat { reduce, .. } | PanelKind::Gauge { reduce } | PanelKind::BarGauge { reduce } => {
                *reduce = how;
            }
            _ => {}
        }
        self
    }

    /// Table: leave out a column.
    #[must_use]
    pub fn hide_column(mut self, column: impl Into<String>) -> Self {
        if let PanelKind::Table { hidden_columns, .. } = &mut self.kind {
            hidden_columns.push(column.into());
        }
        self
    }

    /// Table: show column `from` as `to`.
    #[must_use]
    pub fn rename_column(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        if let PanelKind::Table { renamed_columns, .. } = &mut self.kind {
            renamed_columns.push((from.into(), to.into()));
        }
        self
    }

    /// Table: initial sort column, descending or not.
    #[must_use]
    pub fn sort_by(mut self, column: impl Into<String>, descending: bool) -> Self {
        if let PanelKind::Table { sort_by, .. } = &mut self.kind {
            *sort_by = Some((column.into(), descending));
        }
        self
    }

    /// Sets the panel id by hand (the dashboard builder numbers panels itself).
    #[must_use]
    pub fn with_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// Sets the position by hand (the dashboard builder lays panels out itself).
    #[must_use]
    pub fn at(mut self, grid_pos: GridPos) -> Self {
        self.grid_pos = grid_pos;
        self
    }

    /// The panel id, unique within its dashboard.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The description, if any.
    pub fn description_text(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The visualization.
    pub fn kind(&self) -> &PanelKind {
        &self.kind
    }

    /// The unit, if any.
    pub fn unit_value(&self) -> Option<Unit> {
        self.unit
    }

    /// The queries.
    pub fn target_list(&self) -> &[Target] {
        &self.targets
    }

    /// The panel-level data source, if any.
    pub fn datasource_ref(&self) -> Option<&DatasourceRef> {
        self.datasource.as_ref()
    }

    /// The position on the grid.
    pub fn grid_pos(&self) -> GridPos {
        self.grid_pos
    }

    /// The requested size, `(w, h)`.
    pub fn requested_size(&self) -> (u32, u32) {
        self.size
    }

    /// Texts Grafana interpolates variables into, apart from the queries.
    pub(crate) fn referencing_texts(&self) -> Vec<&str> {
        let mut texts = vec![self.title.as_str()];
        texts.extend(self.description.as_deref());
        if let PanelKind::Text { content } = &self.kind {
            texts.push(content);
        }
        texts
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut p = Map::new();
        p.insert("type".into(), json!(self.kind.type_id()));
        p.insert("id".into(), json!(self.id));
        p.insert("title".into(), json!(self.title));
        if let Some(description) = &self.description {
            p.insert("description".into(), json!(description));
        }
        p.insert("gridPos".into(), self.grid_pos.to_json());
        if let Some(ds) = &self.datasource {
            p.insert("datasource".into(), ds.to_json());
        }
        if self.kind.needs_targets() {
            p.insert("targets".into(), Value::Array(self.targets.iter().map(Target::to_json).collect()));
        }
        p.insert("fieldConfig".into(), self.field_config());
        p.insert("options".into(), self.options());
        if let Some(transformations) = self.transformations() {
            p.insert("transformations".into(), transformations);
        }
        Value::Object(p)
    }

    fn field_config(&self) -> Value {
        let mut defaults = Map::new();
        if matches!(self.kind, PanelKind::Logs | PanelKind::Text { .. }) {
            return json!({ "defaults": defaults, "overrides": [] });
        }
        if let Some(unit) = self.unit {
            defaults.insert("unit".into(), json!(unit.grafana_id()));
        }
        if let Some(min) = self.min {
            defaults.insert("min".into(), number(min));
        }
        if let Some(max) = self.max {
            defaults.insert("max".into(), number(max));
        }
        if let Some(decimals) = self.decimals {
            defaults.insert("decimals".into(), json!(decimals));
        }
        defaults.insert("thresholds".into(), self.thresholds.clone().unwrap_or_default().to_json());
        defaults.insert(
            "mappings".into(),
            Value::Array(self.mappings.iter().enumerate().map(|(i, m)| m.to_json(i)).collect()),
        );
        let color_mode = match self.kind {
            PanelKind::TimeSeries { .. } => "palette-classic",
            _ => "thresholds",
        };
        defaults.insert("color".into(), json!({ "mode": color_mode }));
        match &self.kind {
            PanelKind::TimeSeries { stacked, .. } => {
                defaults.insert(
                    "custom".into(),
                    json!({
                        "drawStyle": "line",
                        "fillOpacity": if *stacked { 30 } else { 10 },
                        "lineWidth": 1,
                        "showPoints": "never",
                        "spanNulls": false,
                        "stacking": { "group": "A", "mode": if *stacked { "normal" } else { "none" } }
                    }),
                );
            }
            PanelKind::Table { .. } => {
                defaults.insert("custom".into(), json!({ "align": "auto", "cellOptions": { "type": "auto" } }));
            }
            _ => {}
        }
        json!({ "defaults": defaults, "overrides": [] })
    }

    fn options(&self) -> Value {
        let reduce_options = |reduce: &Reduce| json!({ "calcs": [reduce.grafana_id()], "fields": "", "values": false });
        match &self.kind {
            PanelKind::TimeSeries { legend_table, .. } => {
                let legend = if *legend_table {
                    json!({ "calcs": ["lastNotNull", "mean", "max"], "displayMode": "table", "placement": "bottom", "showLegend": true })
                } else {
                    json!({ "calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true })
                };
                json!({ "legend": legend, "tooltip": { "mode": "multi", "sort": "desc" } })
            }
            PanelKind::Stat { sparkline, background, reduce } => json!({
                "colorMode": if *background { "background" } else { "value" },
                "graphMode": if *sparkline { "area" } else { "none" },
                "justifyMode": "auto",
                "orientation": "auto",
                "reduceOptions": reduce_options(reduce),
                "textMode": "auto"
            }),
            PanelKind::Gauge { reduce } => json!({
                "orientation": "auto",
                "reduceOptions": reduce_options(reduce),
                "showThresholdLabels": false,
                "showThresholdMarkers": true
            }),
            PanelKind::BarGauge { reduce } => json!({
                "displayMode": "gradient",
                "orientation": "horizontal",
                "reduceOptions": reduce_options(reduce),
                "showUnfilled": true
            }),
            PanelKind::Table { sort_by, .. } => {
                let sort: Vec<Value> =
                    sort_by.iter().map(|(column, desc)| json!({ "desc": desc, "displayName": column })).collect();
                json!({ "cellHeight": "sm", "showHeader": true, "sortBy": sort })
            }
            PanelKind::Logs => json!({
                "dedupStrategy": "none",
                "enableLogDetails": true,
                "prettifyLogMessage": false,
                "showCommonLabels": false,
                "showLabels": false,
                "showTime": true,
                "sortOrder": "Descending",
                "wrapLogMessage": true
            }),
            PanelKind::Text { content } => json!({ "content": content, "mode": "markdown" }),
        }
    }

    fn transformations(&self) -> Option<Value> {
        let PanelKind::Table { hidden_columns, renamed_columns, .. } = &self.kind else {
            return None;
        };
        if hidden_columns.is_empty() && renamed_columns.is_empty() {
            return None;
        }
        let exclude: Map<String, Value> = hidden_columns.iter().map(|c| (c.clone(), json!(true))).collect();
        let rename: Map<String, Value> = renamed_columns.iter().map(|(from, to)| (from.clone(), json!(to))).collect();
        Some(json!([{
            "id": "organize",
            "options": { "excludeByName": exclude, "indexByName": {}, "renameByName": rename }
        }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Color, Datasource};

    #[test]
    fn targets_get_free_ref_ids_in_order() {
        let p = Panel::time_series("t", "d", Unit::Short)
            .target(Target::prometheus("a").ref_id("B"))
            .target(Target::prometheus("b"))
            .target(Target::prometheus("c"));
        let ids: Vec<&str> = p.target_list().iter().filter_map(Target::ref_id_str).collect();
        assert_eq!(ids, ["B", "A", "C"]);
    }

    #[test]
    fn first_target_sets_the_panel_datasource() {
        let p = Panel::logs("l", "d").target(Target::loki("{service=\"x\"}"));
        assert_eq!(p.datasource_ref(), Some(&DatasourceRef::Provisioned(Datasource::Loki)));
        assert_eq!(p.to_json()["datasource"], json!({"type": "loki", "uid": "loki"}));
    }

    #[test]
    fn field_config_carries_unit_range_and_thresholds() {
        let p = Panel::gauge("CPU", "busy", Unit::Percent01)
            .range(0.0, 1.0)
            .thresholds(Thresholds::absolute(Color::Green).step(0.9, Color::Red));
        let d = &p.to_json()["fieldConfig"]["defaults"];
        assert_eq!(d["unit"], json!("percentunit"));
        assert_eq!(d["min"], json!(0));
        assert_eq!(d["max"], json!(1));
        assert_eq!(d["thresholds"]["steps"][1], json!({"color": "red", "value": 0.9}));
        assert_eq!(d["color"]["mode"], json!("thresholds"));
    }

    #[test]
    fn stacked_time_series() {
        let p = Panel::time_series("t", "d", Unit::Bytes).stacked();
        let v = p.to_json();
        assert_eq!(v["type"], json!("timeseries"));
        assert_eq!(v["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"], json!("normal"));
    }

    #[test]
    fn table_transformations_hide_and_rename_columns() {
        let p = Panel::table("t", "d").hide_column("Time").rename_column("Value", "Bytes").sort_by("Bytes", true);
        let v = p.to_json();
        assert_eq!(v["transformations"][0]["options"]["excludeByName"], json!({"Time": true}));
        assert_eq!(v["transformations"][0]["options"]["renameByName"], json!({"Value": "Bytes"}));
        assert_eq!(v["options"]["sortBy"], json!([{"desc": true, "displayName": "Bytes"}]));
    }

    #[test]
    fn text_panels_have_no_targets_or_datasource() {
        let v = Panel::text("About", "what this is", "# Hello").to_json();
        assert!(v.get("targets").is_none());
        assert!(v.get("datasource").is_none());
        assert_eq!(v["options"]["content"], json!("# Hello"));
    }

    #[test]
    fn kind_specific_setters_ignore_other_kinds() {
        let p = Panel::stat("s", "d", Unit::Short).stacked().hide_column("x");
        assert_eq!(p.kind(), &PanelKind::stat());
    }
}
