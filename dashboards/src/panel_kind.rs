//! The visualizations a panel can be, with their specific options.

/// How a stat, gauge or bar gauge reduces a series to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// The most recent non-null value.
    LastNotNull,
    /// The mean over the range.
    Mean,
    /// The maximum over the range.
    Max,
    /// The sum over the range.
    Sum,
}

impl Reduce {
    pub(crate) fn grafana_id(self) -> &'static str {
        match self {
            Reduce::LastNotNull => "lastNotNull",
            Reduce::Mean => "mean",
            Reduce::Max => "max",
            Reduce::Sum => "sum",
        }
    }
}

/// A panel's visualization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanelKind {
    /// Lines (or stacked areas) over time.
    TimeSeries {
        /// Series stack on top of each other (for parts of a whole).
        stacked: bool,
        /// The legend is a table with last, mean and max columns.
        legend_table: bool,
    },
    /// One big number per series, optionally with a sparkline.
    Stat {
        /// Draw the series behind the number.
        sparkline: bool,
        /// Color the background instead of the number.
        background: bool,
        /// How the series becomes one value.
        reduce: Reduce,
    },
    /// A dial per series.
    Gauge {
        /// How the series becomes one value.
        reduce: Reduce,
    },
    /// Horizontal bars per series, for ranking.
    BarGauge {
        /// How the series becomes one value.
        reduce: Reduce,
    },
    /// Rows of series and their labels.
    Table {
        /// Columns left out, e.g. `Time` of instant queries.
        hidden_columns: Vec<String>,
        /// Columns renamed, `(from, to)`.
        renamed_columns: Vec<(String, String)>,
        /// Initial sort: column and whether descending.
        sort_by: Option<(String, bool)>,
    },
    /// Log lines.
    Logs,
    /// Markdown text.
    Text {
        /// The Markdown shown.
        content: String,
    },
}

impl PanelKind {
    /// A plain line chart.
    pub fn time_series() -> Self {
        PanelKind::TimeSeries { stacked: false, legend_table: false }
    }

    /// A stat with a sparkline, showing the last value.
    pub fn stat() -> Self {
        PanelKind::Stat { sparkline: true, background: false, reduce: Reduce::LastNotNull }
    }

    /// A gauge showing the last value.
    pub fn gauge() -> Self {
        PanelKind::Gauge { reduce: Reduce::LastNotNull }
    }

    /// A bar gauge showing the last value.
    pub fn bar_gauge() -> Self {
        PanelKind::BarGauge { reduce: Reduce::LastNotNull }
    }

    /// A table without column tweaks.
    pub fn table() -> Self {
        PanelKind::Table { hidden_columns: Vec::new(), renamed_columns: Vec::new(), sort_by: None }
    }

    /// Grafana's plugin id for the visualization.
    pub fn type_id(&self) -> &'static str {
        match self {
            PanelKind::TimeSeries { .. } => "timeseries",
            PanelKind::Stat { .. } => "stat",
            PanelKind::Gauge { .. } => "gauge",
            PanelKind::BarGauge { .. } => "bargauge",
            PanelKind::Table { .. } => "table",
            PanelKind::Logs => "logs",
            PanelKind::Text { .. } => "text",
        }
    }

    /// Whether values are numbers in some unit, which must then be stated.
    pub fn needs_unit(&self) -> bool {
        matches!(
            self,
            PanelKind::TimeSeries { .. }
                | PanelKind::Stat { .. }
                | PanelKind::Gauge { .. }
                | PanelKind::BarGauge { .. }
        )
    }

    /// Whether the panel shows query results (everything but text).
    pub fn needs_targets(&self) -> bool {
        !matches!(self, PanelKind::Text { .. })
    }
}
