//! A picture of a dashboard's layout, as SVG: the 24-column grid, each
//! panel's title, type, unit and first query, and the row headers.
//!
//! It is drawn from Grafana's JSON model rather than from the typed
//! [`Dashboard`](crate::Dashboard), so the same renderer draws a dashboard
//! of any revision (a review reads the base's JSON from git) and rows that
//! are collapsed in JSON written by hand or by Grafana. Fields that are
//! missing are drawn as absent, never refused: a preview shows what is there.
//!
//! The document's structure is fixed by this module, so it is written with
//! `format!`; every text and attribute value taken from the dashboard goes
//! through `quick_xml::escape::escape`.
//!
//! Each drawn panel gets its own fill colour (`panel_fill`), all of them
//! near-identical light tints: a reader sees one colour, while a test can
//! count the panels in a screenshot.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use quick_xml::escape::escape;
use serde_json::Value;

use crate::GRID_COLUMNS;

/// Pixels per grid column and per grid row (Grafana's rows are 30 px).
const COLUMN_PX: u32 = 40;
const ROW_PX: u32 = 30;
/// Space around the grid and above it, for the dashboard title.
const MARGIN_PX: u32 = 8;
const HEADER_PX: u32 = 36;
/// Gap between neighbouring panels, split between their two edges.
const GUTTER_PX: u32 = 4;
/// Text inset inside a panel and line spacing.
const PAD_PX: u32 = 8;
const LINE_PX: u32 = 14;
/// Baselines of the title and the type/unit line, from the panel's top.
const TITLE_BASELINE_PX: u32 = 18;
const META_BASELINE_PX: u32 = 33;
/// Approximate advance of one character, in tenths of a pixel: 13 px bold
/// sans-serif titles and 11 px monospace queries. Truncation is by
/// characters, so these only need to err on the wide side.
const TITLE_CHAR_DECI_PX: u32 = 80;
const TEXT_CHAR_DECI_PX: u32 = 67;

/// The colours the preview is drawn with. Panel fills are `panel_fill`'s.
const BACKGROUND: &str = "#ffffff";
const GRID_LINE: &str = "#e0e0e0";
const PANEL_BORDER: &str = "#9aa5b1";
const CHANGED_BORDER: &str = "#e8590c";
const ROW_FILL: &str = "#d5dce6";
const TEXT: &str = "#1f2933";
const MUTED_TEXT: &str = "#52606d";

/// The SVG preview of a dashboard given as Grafana JSON. Panels whose id is
/// in `changed` get a thick orange border and a `changed` class, for
/// before/after views of a change; pass an empty set for the plain picture.
pub fn preview_svg(dashboard: &Value, changed: &BTreeSet<u32>) -> String {
    let title = text_field(dashboard, "title");
    let elements: Vec<&Value> = dashboard.get("panels").and_then(Value::as_array).into_iter().flatten().collect();
    let grid_rows = elements
        .iter()
        .map(|e| {
            let g = grid_pos(e);
            g.y + g.h
        })
        .max()
        .unwrap_or(0);
    let width = 2 * MARGIN_PX + GRID_COLUMNS * COLUMN_PX;
    let height = 2 * MARGIN_PX + HEADER_PX + grid_rows.max(1) * ROW_PX;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(title));
    let _ = writeln!(svg, r#"<rect width="{width}" height="{height}" fill="{BACKGROUND}"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_PX}" y="{}" font-size="18" font-weight="bold" fill="{TEXT}">{}</text>"#,
        MARGIN_PX + 22,
        escape(title)
    );
    grid_lines(&mut svg, grid_rows.max(1), height);
    let mut drawn_panels = 0;
    for element in elements {
        if element.get("type").and_then(Value::as_str) == Some("row") {
            row(&mut svg, element);
        } else {
            panel(&mut svg, element, drawn_panels, changed);
            drawn_panels += 1;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// The fill of the `index`-th drawn panel: 512 distinct light tints around
/// `#e9f1f5`, none of them used by anything else in the picture.
fn panel_fill(index: usize) -> String {
    let (r, g, b) = (0xe6 + index % 8, 0xee + (index / 8) % 8, 0xf8 - (index / 64) % 8);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Where an element sits on the grid; absent numbers are 0.
#[derive(Debug, Clone, Copy)]
struct Cells {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

fn grid_pos(element: &Value) -> Cells {
    let n = |key: &str| {
        element
            .get("gridPos")
            .and_then(|g| g.get(key))
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    Cells { x: n("x"), y: n("y"), w: n("w"), h: n("h") }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy)]
struct Pixels {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Pixels {
    /// The cells' rectangle, inset by half the gutter on every side. Widths
    /// beyond the grid are cut at its right edge.
    fn of(cells: Cells) -> Pixels {
        let x = cells.x.min(GRID_COLUMNS);
        let w = cells.w.min(GRID_COLUMNS - x);
        let half = GUTTER_PX / 2;
        Pixels {
            x: MARGIN_PX + x * COLUMN_PX + half,
            y: MARGIN_PX + HEADER_PX + cells.y * ROW_PX + half,
            w: (w * COLUMN_PX).saturating_sub(GUTTER_PX),
            h: (cells.h * ROW_PX).saturating_sub(GUTTER_PX),
        }
    }
}

/// One faint line per column boundary, so widths can be read off the picture.
fn grid_lines(svg: &mut String, grid_rows: u32, height: u32) {
    let top = MARGIN_PX + HEADER_PX;
    let bottom = (top + grid_rows * ROW_PX).min(height);
    for column in 0..=GRID_COLUMNS {
        let x = MARGIN_PX + column * COLUMN_PX;
        let _ = writeln!(svg, r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{GRID_LINE}"/>"#);
    }
}

/// A row header across the grid; a collapsed row says how many panels it hides.
fn row(svg: &mut String, element: &Value) {
    let px = Pixels::of(grid_pos(element));
    let title = text_field(element, "title");
    let collapsed = element.get("collapsed").and_then(Value::as_bool).unwrap_or(false);
    let label = if collapsed {
        let hidden = element.get("panels").and_then(Value::as_array).map_or(0, Vec::len);
        let noun = if hidden == 1 { "panel" } else { "panels" };
        format!("▸ {title} ({hidden} {noun} collapsed)")
    } else {
        format!("▾ {title}")
    };
    let class = if collapsed { "row collapsed" } else { "row" };
    let _ = writeln!(svg, r#"<g class="{class}">"#);
    let _ = writeln!(svg, r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{ROW_FILL}"/>"#, px.x, px.y, px.w, px.h);
    let label = truncate(&label, chars_fitting(px.w, TITLE_CHAR_DECI_PX));
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold" fill="{TEXT}">{}</text>"#,
        px.x + PAD_PX,
        px.y + TITLE_BASELINE_PX,
        escape(label)
    );
    svg.push_str("</g>\n");
}

/// A panel: its box, title, `type · unit` and as much of its first query
/// as fits, wrapped over the lines its height leaves.
fn panel(svg: &mut String, element: &Value, index: usize, changed: &BTreeSet<u32>) {
    let px = Pixels::of(grid_pos(element));
    let id = element.get("id").and_then(Value::as_u64).and_then(|id| u32::try_from(id).ok());
    let is_changed = id.is_some_and(|id| changed.contains(&id));
    let (class, border, border_width) =
        if is_changed { ("panel changed", CHANGED_BORDER, 3) } else { ("panel", PANEL_BORDER, 1) };
    let _ = writeln!(svg, r#"<g class="{class}" data-panel-id="{}">"#, id.map(|id| id.to_string()).unwrap_or_default());
    let _ = writeln!(
        svg,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}" stroke="{border}" stroke-width="{border_width}"/>"#,
        px.x,
        px.y,
        px.w,
        px.h,
        panel_fill(index)
    );
    let text_width = px.w.saturating_sub(2 * PAD_PX);
    let x = px.x + PAD_PX;
    let title = truncate(text_field(element, "title"), chars_fitting(text_width, TITLE_CHAR_DECI_PX));
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-size="13" font-weight="bold" fill="{TEXT}">{}</text>"#,
        px.y + TITLE_BASELINE_PX,
        escape(title)
    );
    let fitting = chars_fitting(text_width, TEXT_CHAR_DECI_PX);
    let kind = text_field(element, "type");
    let meta = match unit(element) {
        Some(unit) => format!("{kind} · {unit}"),
        None => kind.to_owned(),
    };
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-size="11" fill="{MUTED_TEXT}">{}</text>"#,
        px.y + META_BASELINE_PX,
        escape(truncate(&meta, fitting))
    );
    if let Some(query) = first_query(element) {
        let first_baseline = META_BASELINE_PX + LINE_PX + 2;
        // Lines whose baseline stays a padding above the panel's bottom.
        let lines = (px.h.saturating_sub(PAD_PX / 2) + LINE_PX).saturating_sub(first_baseline) / LINE_PX;
        for (i, line) in (0u32..).zip(wrap(&query, fitting, lines as usize)) {
            let _ = writeln!(
                svg,
                r#"<text x="{x}" y="{}" font-size="11" font-family="DejaVu Sans Mono, monospace" fill="{TEXT}">{}</text>"#,
                px.y + first_baseline + i * LINE_PX,
                escape(line)
            );
        }
    }
    svg.push_str("</g>\n");
}

fn text_field<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `fieldConfig.defaults.unit`, when set.
fn unit(element: &Value) -> Option<&str> {
    element.pointer("/fieldConfig/defaults/unit").and_then(Value::as_str).filter(|u| !u.is_empty())
}

/// The first target's query (PromQL and LogQL both live in `expr`), on one
/// line: a query's line breaks are layout, not meaning.
fn first_query(element: &Value) -> Option<String> {
    let expr = element.pointer("/targets/0/expr").and_then(Value::as_str)?;
    let one_line = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    (!one_line.is_empty()).then_some(one_line)
}

/// How many characters of the given advance fit `width_px`.
fn chars_fitting(width_px: u32, char_deci_px: u32) -> usize {
    (width_px * 10 / char_deci_px) as usize
}

/// `text` cut to `max` characters, the last one an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        cut.push('…');
    }
    cut
}

/// `text` in lines of at most `width` characters, at most `max_lines` of
/// them; the last line ends in an ellipsis when text is left over. Lines
/// break at spaces when one is near, else mid-word (queries have long words).
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while !rest.is_empty() && lines.len() < max_lines && width > 0 {
        if lines.len() + 1 == max_lines || rest.len() <= width {
            lines.push(truncate(&rest.iter().collect::<String>(), width));
            break;
        }
        let space = rest[..=width].iter().rposition(|c| *c == ' ').filter(|at| *at >= width / 2);
        let (line, next) = match space {
            Some(at) => (&rest[..at], at + 1),
            None => (&rest[..width], width),
        };
        lines.push(line.iter().collect());
        rest.drain(..next);
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dashboard() -> Value {
        json!({
            "title": "A <b> & \"c\"",
            "panels": [
                { "type": "row", "id": 1, "title": "Top", "gridPos": { "x": 0, "y": 0, "w": 24, "h": 1 } },
                {
                    "type": "timeseries", "id": 2, "title": "CPU <busy>",
                    "gridPos": { "x": 0, "y": 1, "w": 12, "h": 8 },
                    "fieldConfig": { "defaults": { "unit": "percentunit" } },
                    "targets": [{ "expr": "sum by (instance) (\n  rate(x{mode!=\"idle\"}[5m])\n)" }, { "expr": "second" }]
                },
                { "type": "text", "id": 3, "title": "About", "gridPos": { "x": 12, "y": 1, "w": 12, "h": 8 } },
                {
                    "type": "row", "id": 4, "title": "Hidden", "collapsed": true,
                    "gridPos": { "x": 0, "y": 9, "w": 24, "h": 1 },
                    "panels": [{ "type": "stat", "id": 5, "title": "Inside", "gridPos": { "x": 0, "y": 10, "w": 4, "h": 4 } }]
                }
            ]
        })
    }

    #[test]
    fn draws_panels_rows_and_collapsed_rows_with_escaped_text() {
        let svg = preview_svg(&dashboard(), &BTreeSet::new());
        assert_eq!(svg.matches(r#"<g class="panel""#).count(), 2);
        assert_eq!(svg.matches(r#"<g class="row">"#).count(), 1);
        assert!(svg.contains("▸ Hidden (1 panel collapsed)"), "{svg}");
        assert!(!svg.contains("Inside"), "a collapsed row's panels are not drawn");
        assert!(svg.contains("<title>A &lt;b&gt; &amp; &quot;c&quot;</title>"), "{svg}");
        assert!(svg.contains(">CPU &lt;busy&gt;</text>"), "{svg}");
        assert!(svg.contains(">timeseries · percentunit</text>"), "{svg}");
        // The first query only, on one line, escaped.
        assert!(svg.contains(">sum by (instance) ( rate(x{mode!=&quot;idle&quot;}[5m]) )</text>"), "{svg}");
        assert!(!svg.contains("second"));
        // 24 columns: 25 boundaries.
        assert_eq!(svg.matches("<line ").count(), 25);
        // Grid rows 0..10 below the header.
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="976" height="352""#), "{svg}");
    }

    #[test]
    fn changed_panels_are_marked() {
        let svg = preview_svg(&dashboard(), &BTreeSet::from([3]));
        assert_eq!(svg.matches(r#"<g class="panel changed" data-panel-id="3">"#).count(), 1);
        assert_eq!(svg.matches(CHANGED_BORDER).count(), 1);
        assert_eq!(svg.matches(r#"<g class="panel" data-panel-id="2">"#).count(), 1);
    }

    #[test]
    fn panel_fills_are_distinct_and_unlike_the_rest() {
        let fills: BTreeSet<String> = (0..512).map(panel_fill).collect();
        assert_eq!(fills.len(), 512);
        for other in [BACKGROUND, GRID_LINE, PANEL_BORDER, CHANGED_BORDER, ROW_FILL, TEXT, MUTED_TEXT] {
            assert!(!fills.contains(other), "{other}");
        }
    }

    #[test]
    fn long_queries_wrap_and_end_in_an_ellipsis() {
        assert_eq!(wrap("abc def ghi", 7, 3), ["abc def", "ghi"]);
        assert_eq!(wrap("abcdefghij", 4, 2), ["abcd", "efg…"]);
        assert_eq!(wrap("abc", 4, 0), Vec::<String>::new());
        assert_eq!(truncate("héllo", 3), "hé…");
        assert_eq!(truncate("héllo", 5), "héllo");
    }

    #[test]
    fn missing_fields_draw_an_empty_picture() {
        let svg = preview_svg(&json!({}), &BTreeSet::new());
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<g ").count(), 0);
    }
}
