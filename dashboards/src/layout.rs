//! Places panels left to right, top to bottom.

use crate::GridPos;
use crate::grid_pos::GRID_COLUMNS;

/// A cursor over the grid that hands out non-overlapping rectangles.
///
/// Panels fill a line left to right; one that does not fit the rest of the
/// line starts the next, which begins below the tallest panel of the current
/// one. Every rectangle is therefore either right of all earlier ones on its
/// line or below all earlier ones, so overlap is impossible by construction.
#[derive(Debug, Clone, Default)]
pub struct GridLayout {
    x: u32,
    y: u32,
    line_height: u32,
}

impl GridLayout {
    /// An empty grid, cursor at the top left.
    pub fn new() -> Self {
        GridLayout::default()
    }

    /// The next rectangle `w` columns wide and `h` rows high.
    ///
    /// Widths are clamped to 1..=24 and heights to at least 1, so any input
    /// yields a valid position.
    pub fn place(&mut self, w: u32, h: u32) -> GridPos {
        let w = w.clamp(1, GRID_COLUMNS);
        let h = h.max(1);
        if self.x + w > GRID_COLUMNS {
            self.newline();
        }
        let pos = GridPos::new(self.x, self.y, w, h);
        self.x += w;
        self.line_height = self.line_height.max(h);
        pos
    }

    /// A full-width rectangle one row high on a fresh line: a row header.
    pub fn full_width_row(&mut self) -> GridPos {
        self.newline();
        self.place(GRID_COLUMNS, 1)
    }

    /// Finish the current line; the next panel starts at the left edge.
    pub fn newline(&mut self) {
        self.y += self.line_height;
        self.x = 0;
        self.line_height = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_lines_left_to_right() {
        let mut g = GridLayout::new();
        assert_eq!(g.place(8, 4), GridPos::new(0, 0, 8, 4));
        assert_eq!(g.place(8, 6), GridPos::new(8, 0, 8, 6));
        assert_eq!(g.place(8, 4), GridPos::new(16, 0, 8, 4));
        // Starts a new line below the tallest panel of the last one.
        assert_eq!(g.place(12, 8), GridPos::new(0, 6, 12, 8));
    }

    #[test]
    fn rows_take_a_full_line() {
        let mut g = GridLayout::new();
        assert_eq!(g.full_width_row(), GridPos::new(0, 0, 24, 1));
        assert_eq!(g.place(6, 4), GridPos::new(0, 1, 6, 4));
        assert_eq!(g.full_width_row(), GridPos::new(0, 5, 24, 1));
        assert_eq!(g.place(6, 4), GridPos::new(0, 6, 6, 4));
    }

    #[test]
    fn clamps_impossible_sizes() {
        let mut g = GridLayout::new();
        assert_eq!(g.place(99, 0), GridPos::new(0, 0, 24, 1));
        assert_eq!(g.place(0, 3), GridPos::new(0, 1, 1, 3));
    }

    #[test]
    fn never_overlaps() {
        // A deterministic mix of sizes, including odd widths and heights.
        let mut g = GridLayout::new();
        let mut placed: Vec<GridPos> = Vec::new();
        for i in 0..300u32 {
            let pos = if i % 17 == 0 { g.full_width_row() } else { g.place((i * 7) % 26, (i * 5) % 11) };
            assert!(pos.fits_grid(), "{pos:?}");
            for earlier in &placed {
                assert!(!pos.overlaps(earlier), "{pos:?} overlaps {earlier:?}");
            }
            placed.push(pos);
        }
    }
}
