//! What a dashboard's `panels` array holds.

use serde_json::Value;

use crate::{GridPos, Panel, Row};

/// A row header or a panel, in dashboard order.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A row header.
    Row(Row),
    /// A panel.
    Panel(Panel),
}

impl Element {
    /// The id, unique within the dashboard.
    pub fn id(&self) -> u32 {
        match self {
            Element::Row(r) => r.id(),
            Element::Panel(p) => p.id(),
        }
    }

    /// The title.
    pub fn title(&self) -> &str {
        match self {
            Element::Row(r) => r.title(),
            Element::Panel(p) => p.title(),
        }
    }

    /// The position on the grid.
    pub fn grid_pos(&self) -> GridPos {
        match self {
            Element::Row(r) => r.grid_pos(),
            Element::Panel(p) => p.grid_pos(),
        }
    }

    /// How problems name it: `panel 7 "CPU busy"` or `row 3 "Disks"`.
    pub fn location(&self) -> String {
        match self {
            Element::Row(r) => format!("row {} {:?}", r.id(), r.title()),
            Element::Panel(p) => format!("panel {} {:?}", p.id(), p.title()),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Element::Row(r) => r.to_json(),
            Element::Panel(p) => p.to_json(),
        }
    }
}
