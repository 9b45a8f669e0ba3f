//! A rectangle on Grafana's 24-column grid.

use serde_json::{Value, json};

/// The dashboard grid is 24 columns wide; heights are in rows of ~30 px.
pub const GRID_COLUMNS: u32 = 24;

/// Where a panel sits: column `x`, row `y`, `w` columns wide, `h` rows high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GridPos {
    /// Column of the left edge, 0-based.
    pub x: u32,
    /// Row of the top edge, 0-based.
    pub y: u32,
    /// Width in columns.
    pub w: u32,
    /// Height in rows.
    pub h: u32,
}

impl GridPos {
    /// A rectangle, taken as given (the lint checks it).
    pub fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        GridPos { x, y, w, h }
    }

    /// Whether the two rectangles share any cell.
    pub fn overlaps(&self, other: &GridPos) -> bool {
        let x_apart = self.x.saturating_add(self.w) <= other.x || other.x.saturating_add(other.w) <= self.x;
        let y_apart = self.y.saturating_add(self.h) <= other.y || other.y.saturating_add(other.h) <= self.y;
        !(x_apart || y_apart)
    }

    /// Whether the rectangle is non-empty and within the 24 columns.
    pub fn fits_grid(&self) -> bool {
        self.w >= 1 && self.h >= 1 && self.w <= GRID_COLUMNS && self.x.saturating_add(self.w) <= GRID_COLUMNS
    }

    pub(crate) fn to_json(self) -> Value {
        json!({ "h": self.h, "w": self.w, "x": self.x, "y": self.y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_symmetric_and_edges_do_not_count() {
        let a = GridPos::new(0, 0, 12, 8);
        let b = GridPos::new(12, 0, 12, 8);
        let c = GridPos::new(6, 4, 12, 8);
        let d = GridPos::new(0, 8, 24, 1);
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && c.overlaps(&a));
        assert!(b.overlaps(&c));
        assert!(!a.overlaps(&d));
    }

    #[test]
    fn fits_grid_checks_width() {
        assert!(GridPos::new(0, 0, 24, 1).fits_grid());
        assert!(!GridPos::new(1, 0, 24, 1).fits_grid());
        assert!(!GridPos::new(0, 0, 0, 1).fits_grid());
        assert!(!GridPos::new(0, 0, 4, 0).fits_grid());
    }
}
