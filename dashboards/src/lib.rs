//! Grafana dashboards of the monitoring stack, as typed Rust.
//!
//! - Builders: [`Dashboard::builder`], [`Panel`], [`Target`], [`Variable`],
//!   [`DashboardLink`], [`Thresholds`], [`Unit`], laid out by [`GridLayout`].
//! - The dashboards themselves: [`all`], rendered by [`generated_files`]
//!   (JSON, and an SVG picture of the layout by [`preview_svg`]).
//! - Checks on the typed model: [`lint::lint`].
//!
//! Output is deterministic: the same source gives the same bytes.

mod color;
mod dashboard;
mod dashboard_builder;
mod datasource;
mod datasource_ref;
mod element;
mod generated_file;
mod grid_pos;
mod json;
mod layout;
mod link;
mod panel;
mod panel_kind;
mod preview;
mod query;
mod row;
mod schema_version;
mod target;
mod thresholds;
mod unit;
mod value_mapping;
mod variable;

pub mod dashboards;
pub mod lint;

pub use color::Color;
pub use dashboard::Dashboard;
pub use dashboard_builder::DashboardBuilder;
pub use dashboards::{all, uids};
pub use datasource::Datasource;
pub use datasource_ref::DatasourceRef;
pub use element::Element;
pub use generated_file::{GENERATED_DIR, generated_files};
pub use grid_pos::{GRID_COLUMNS, GridPos};
pub use layout::GridLayout;
pub use link::DashboardLink;
pub use panel::Panel;
pub use panel_kind::{PanelKind, Reduce};
pub use preview::preview_svg;
pub use query::Query;
pub use row::Row;
pub use schema_version::SCHEMA_VERSION;
pub use target::{LokiQueryType, PromQueryMode, Target};
pub use thresholds::{Thresholds, ThresholdsMode};
pub use unit::Unit;
pub use value_mapping::ValueMapping;
pub use variable::{Variable, VariableKind};
