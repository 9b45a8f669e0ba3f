//! A row header that groups the panels below it.

use serde_json::{Value, json};

use crate::GridPos;

/// A row header. Rows are always expanded: their panels follow them at the
/// top level of the dashboard, so every panel is visible to readers and to
/// the overlap check alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    id: u32,
    title: String,
    grid_pos: GridPos,
}

impl Row {
    /// A row titled `title`; id and position are given by the dashboard builder.
    pub fn new(title: impl Into<String>) -> Self {
        Row { id: 0, title: title.into(), grid_pos: GridPos::default() }
    }

    /// Sets the id by hand.
    #[must_use]
    pub fn with_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// Sets the position by hand.
    #[must_use]
    pub fn at(mut self, grid_pos: GridPos) -> Self {
        self.grid_pos = grid_pos;
        self
    }

    /// The row's id (shared id space with panels).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The position on the grid.
    pub fn grid_pos(&self) -> GridPos {
        self.grid_pos
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "collapsed": false,
            "gridPos": self.grid_pos.to_json(),
            "id": self.id,
            "panels": [],
            "title": self.title,
            "type": "row"
        })
    }
}
