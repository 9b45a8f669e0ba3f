//! Dashboards: added and removed dashboards; per panel added, removed,
//! moved, resized, retitled, query (diff of the formatted PromQL, or of the
//! LogQL text), unit and thresholds changed; variables and links changed;
//! any other setting named by its JSON path. Panels are matched by title
//! and type (the same title can be a stat and a time series), then the
//! leftovers by their queries, then by id, so a retitled panel is one
//! change and not a removal plus an addition.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::revision::Tree;
use super::{Change, Preview, Section, text_diff};

const DIR: &str = dashboards::GENERATED_DIR;

/// What the dashboards comparison found, and which dashboards (file stems)
/// changed, for the previews.
pub struct Compared {
    pub changes: Vec<Change>,
    pub changed: Vec<String>,
    /// Per changed dashboard (file stem): the ids of the panels to mark in
    /// the before and the after picture (removed or changed; added or
    /// changed).
    pub marked: BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)>,
}

pub fn compare(before: &Tree, after: &Tree) -> Result<Compared> {
    let old = before.list(DIR, ".json")?;
    let new = after.list(DIR, ".json")?;
    let all: BTreeSet<&String> = old.iter().chain(&new).collect();
    let mut changes = Vec::new();
    let mut changed = Vec::new();
    let mut marked = BTreeMap::new();
    for file in all {
        let a = before.read(file)?.map(|t| parse(file, &t)).transpose()?;
        let b = after.read(file)?.map(|t| parse(file, &t)).transpose()?;
        let found = match (a, b) {
            (None, Some(b)) => {
                vec![change(file, "", "dashboard-added", format!("added: \"{}\", {} panels", b.title, b.panels.len()))]
            }
            (Some(a), None) => vec![change(file, "", "dashboard-removed", format!("removed: \"{}\"", a.title))],
            (Some(a), Some(b)) => {
                let (found, marks) = dashboard(file, &a, &b);
                marked.insert(stem(file).to_owned(), marks);
                found
            }
            (None, None) => Vec::new(),
        };
        if found.is_empty() {
            marked.remove(stem(file));
        } else {
            changed.push(stem(file).to_owned());
        }
        changes.extend(found);
    }
    Ok(Compared { changes, changed, marked })
}

/// Draws the before/after previews of the changed dashboards that exist at
/// both revisions into `dir/before`, `dir/after`, and both side by side in
/// `dir/side-by-side`, with the changed panels marked (drawn from each
/// revision's JSON by the same code `gen` draws the committed previews with).
pub fn write_previews(before: &Tree, after: &Tree, compared: &Compared, dir: &Path) -> Result<Vec<Preview>> {
    let mut out = Vec::new();
    for name in &compared.changed {
        let rel = format!("{DIR}/{name}.json");
        let (Some(a), Some(b)) = (before.read(&rel)?, after.read(&rel)?) else { continue };
        let json = |text: &str, side: &str| -> Result<Value> {
            serde_json::from_str(text).with_context(|| format!("{rel} at the {side} revision is not JSON"))
        };
        let (a, b) = (json(&a, "base")?, json(&b, "working tree")?);
        let none = (BTreeSet::new(), BTreeSet::new());
        let (marks_a, marks_b) = compared.marked.get(name).unwrap_or(&none);
        let (svg_a, svg_b) = (dashboards::preview_svg(&a, marks_a), dashboards::preview_svg(&b, marks_b));
        let preview = Preview {
            dashboard: name.clone(),
            before: format!("before/{name}.svg"),
            after: format!("after/{name}.svg"),
            side_by_side: format!("side-by-side/{name}.svg"),
        };
        for (to, svg) in [
            (&preview.before, svg_a.clone()),
            (&preview.after, svg_b.clone()),
            (&preview.side_by_side, side_by_side(&svg_a, &svg_b)),
        ] {
            let to = dir.join(to);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&to, svg).with_context(|| format!("writing {}", to.display()))?;
        }
        out.push(preview);
    }
    Ok(out)
}

/// Two previews in one picture, before on the left: each stays a complete
/// nested `<svg>` (its own viewport), placed by `x`.
fn side_by_side(a: &str, b: &str) -> String {
    const GAP: u64 = 24;
    let size = |svg: &str, attr: &str| -> u64 {
        let key = format!(" {attr}=\"");
        svg.split_once(&key).and_then(|(_, rest)| rest.split('"').next()).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let (wa, wb) = (size(a, "width"), size(b, "width"));
    let height = size(a, "height").max(size(b, "height"));
    let width = wa + GAP + wb;
    let place = |svg: &str, x: u64| svg.replacen("<svg ", &format!("<svg x=\"{x}\" y=\"0\" "), 1);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n{}{}</svg>\n",
        place(a, 0),
        place(b, wa + GAP)
    )
}

fn stem(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file).trim_end_matches(".json")
}

fn change(file: &str, place: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Change {
    Change::new(Section::Dashboards, rule, file, place, message)
}

/// The parts of a dashboard the review compares one by one.
struct Dashboard {
    title: String,
    panels: Vec<Panel>,
    /// Variables by name.
    variables: BTreeMap<String, Value>,
    /// Links by title.
    links: BTreeMap<String, Value>,
    /// Everything else at the top level.
    rest: Value,
}

struct Panel {
    id: Option<i64>,
    title: String,
    kind: String,
    /// The row the panel is in (collapsed or not).
    row: Option<String>,
    grid: Grid,
    unit: Option<String>,
    thresholds: Option<Value>,
    /// refId → (datasource type, expression).
    queries: BTreeMap<String, (String, String)>,
    links: Value,
    /// Everything else.
    rest: Value,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Grid {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

fn parse(file: &str, text: &str) -> Result<Dashboard> {
    let mut value: Value = serde_json::from_str(text).with_context(|| format!("{file} is not JSON"))?;
    let object = value.as_object_mut().with_context(|| format!("{file} is not a JSON object"))?;
    let title = object.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut panels = Vec::new();
    let mut row = None;
    for top in take_array(object.remove("panels")) {
        if top.get("type").and_then(Value::as_str) == Some("row") {
            row = top.get("title").and_then(Value::as_str).map(str::to_owned);
            for nested in top.get("panels").and_then(Value::as_array).into_iter().flatten() {
                panels.push(panel(nested.clone(), row.clone()));
            }
            let mut row_panel = top;
            if let Some(o) = row_panel.as_object_mut() {
                o.remove("panels");
            }
            panels.push(panel(row_panel, None));
        } else {
            panels.push(panel(top, row.clone()));
        }
    }
    let variables =
        take_array(object.get_mut("templating").and_then(|t| t.as_object_mut()).and_then(|t| t.remove("list")))
            .into_iter()
            .map(|v| (v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(), v))
            .collect();
    let links = take_array(object.remove("links"))
        .into_iter()
        .map(|v| (v.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(), v))
        .collect();
    object.remove("title");
    Ok(Dashboard { title, panels, variables, links, rest: value })
}

fn take_array(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn panel(mut value: Value, row: Option<String>) -> Panel {
    let mut take = |key: &str| value.as_object_mut().and_then(|o| o.remove(key));
    let id = take("id").and_then(|v| v.as_i64());
    let title = take("title").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let kind = take("type").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let grid = take("gridPos").unwrap_or_default();
    let at = |k: &str| grid.get(k).and_then(Value::as_i64).unwrap_or(0);
    let grid = Grid { x: at("x"), y: at("y"), w: at("w"), h: at("h") };
    let links = take("links").unwrap_or(Value::Array(Vec::new()));
    let panel_datasource =
        value.get("datasource").and_then(|d| d.get("type")).and_then(Value::as_str).map(str::to_owned);
    let queries = take_array(value.as_object_mut().and_then(|o| o.remove("targets")))
        .into_iter()
        .map(|t| {
            let ref_id = t.get("refId").and_then(Value::as_str).unwrap_or("A").to_owned();
            let kind = t
                .get("datasource")
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| panel_datasource.clone())
                .unwrap_or_default();
            let expr = t.get("expr").and_then(Value::as_str).unwrap_or_default().to_owned();
            (ref_id, (kind, expr))
        })
        .collect();
    let defaults = value.pointer_mut("/fieldConfig/defaults").and_then(Value::as_object_mut);
    let (unit, thresholds) = match defaults {
        Some(d) => (d.remove("unit").and_then(|u| u.as_str().map(str::to_owned)), d.remove("thresholds")),
        None => (None, None),
    };
    Panel { id, title, kind, row, grid, unit, thresholds, queries, links, rest: value }
}

/// Whether two panels are the same one, by one criterion.
type SamePanel = dyn Fn(&Panel, &Panel) -> bool;

/// Pairs the panels of two revisions: (index before, index after).
fn match_panels(a: &[Panel], b: &[Panel]) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut pairs = Vec::new();
    let mut used_a = BTreeSet::new();
    let mut used_b = BTreeSet::new();
    // Same title and type, in order (a title can repeat: each occurrence
    // pairs with the same occurrence on the other side).
    for (i, p) in a.iter().enumerate() {
        if let Some(j) =
            b.iter().enumerate().position(|(j, q)| !used_b.contains(&j) && q.title == p.title && q.kind == p.kind)
        {
            pairs.push((i, j));
            used_a.insert(i);
            used_b.insert(j);
        }
    }
    // Left over: the same queries (a retitled panel), then the same id.
    let rules: [&SamePanel; 2] =
        [&|p, q| p.kind == q.kind && !p.queries.is_empty() && p.queries == q.queries, &|p, q| {
            p.kind == q.kind && p.id.is_some() && p.id == q.id
        }];
    for same in rules {
        for (i, p) in a.iter().enumerate() {
            if used_a.contains(&i) {
                continue;
            }
            if let Some(j) = (0..b.len()).find(|j| !used_b.contains(j) && same(p, &b[*j])) {
                pairs.push((i, j));
                used_a.insert(i);
                used_b.insert(j);
            }
        }
    }
    pairs.sort_by_key(|&(_, j)| j);
    let removed = (0..a.len()).filter(|i| !used_a.contains(i)).collect();
    let added = (0..b.len()).filter(|j| !used_b.contains(j)).collect();
    (pairs, removed, added)
}

fn name(p: &Panel) -> String {
    let kind = if p.kind == "row" { "row".to_owned() } else { format!("{} panel", p.kind) };
    format!("{kind} \"{}\"", p.title)
}

/// The changes of one dashboard, and the ids of the panels to mark before
/// and after.
fn dashboard(file: &str, a: &Dashboard, b: &Dashboard) -> (Vec<Change>, (BTreeSet<u32>, BTreeSet<u32>)) {
    let mut out = Vec::new();
    let id = |p: &Panel| p.id.and_then(|i| u32::try_from(i).ok());
    let (mut marks_a, mut marks_b) = (BTreeSet::new(), BTreeSet::new());
    if a.title != b.title {
        out.push(change(file, "", "dashboard-retitled", format!("retitled \"{}\" → \"{}\"", a.title, b.title)));
    }
    let (pairs, removed, added) = match_panels(&a.panels, &b.panels);
    for i in removed {
        marks_a.extend(id(&a.panels[i]));
        out.push(change(file, name(&a.panels[i]), "panel-removed", "removed"));
    }
    for j in added {
        let p = &b.panels[j];
        marks_b.extend(id(p));
        out.push(change(file, name(p), "panel-added", format!("added at {}", position(p))));
    }
    // A panel moved when its column, row or place in the reading order
    // among the panels of both revisions changed; one pushed down by a
    // panel added above it (or pulled up by one removed) did not.
    let rank = |places: Vec<(i64, i64)>| -> Vec<usize> {
        let mut order: Vec<usize> = (0..places.len()).collect();
        order.sort_by_key(|&k| places[k]);
        let mut rank = vec![0; places.len()];
        for (r, k) in order.into_iter().enumerate() {
            rank[k] = r;
        }
        rank
    };
    let rank_a = rank(pairs.iter().map(|&(i, _)| (a.panels[i].grid.y, a.panels[i].grid.x)).collect());
    let rank_b = rank(pairs.iter().map(|&(_, j)| (b.panels[j].grid.y, b.panels[j].grid.x)).collect());
    for (k, &(i, j)) in pairs.iter().enumerate() {
        let found = panel_changes(file, &a.panels[i], &b.panels[j], rank_a[k] != rank_b[k]);
        if !found.is_empty() {
            marks_a.extend(id(&a.panels[i]));
            marks_b.extend(id(&b.panels[j]));
        }
        out.extend(found);
    }
    keyed(file, "variable", "variable-", &a.variables, &b.variables, &mut out);
    keyed(file, "link", "link-", &a.links, &b.links, &mut out);
    for path in differing_paths(&a.rest, &b.rest) {
        out.push(change(file, "", "dashboard-setting", format!("`{path}` changed")));
    }
    (out, (marks_a, marks_b))
}

fn position(p: &Panel) -> String {
    let row = p.row.as_ref().map(|r| format!("row \"{r}\", ")).unwrap_or_default();
    format!("{row}x {} y {}, {}×{}", p.grid.x, p.grid.y, p.grid.w, p.grid.h)
}

fn panel_changes(file: &str, a: &Panel, b: &Panel, reordered: bool) -> Vec<Change> {
    let place = name(b);
    let mut out = Vec::new();
    let mut push = |rule: &'static str, message: String| out.push(change(file, place.clone(), rule, message));
    if a.title != b.title {
        push("panel-retitled", format!("retitled from \"{}\"", a.title));
    }
    if a.kind != b.kind {
        push("panel-type", format!("type {} → {}", a.kind, b.kind));
    }
    if a.grid.x != b.grid.x || a.row != b.row || reordered {
        let (from, to) = (format!("x {} y {}", a.grid.x, a.grid.y), format!("x {} y {}", b.grid.x, b.grid.y));
        let row = |p: &Panel| p.row.as_ref().map_or("no row".to_owned(), |r| format!("row \"{r}\""));
        let message = match &b.row {
            Some(r) if a.row == b.row => format!("moved from {from} to {to} (row \"{r}\")"),
            None if a.row.is_none() => format!("moved from {from} to {to}"),
            _ => format!("moved from {} {from} to {} {to}", row(a), row(b)),
        };
        push("panel-moved", message);
    }
    if (a.grid.w, a.grid.h) != (b.grid.w, b.grid.h) {
        push("panel-resized", format!("resized from {}×{} to {}×{}", a.grid.w, a.grid.h, b.grid.w, b.grid.h));
    }
    if a.unit != b.unit {
        let u = |u: &Option<String>| u.clone().unwrap_or_else(|| "(none)".into());
        push("panel-unit", format!("unit {} → {}", u(&a.unit), u(&b.unit)));
    }
    if a.thresholds != b.thresholds {
        push("panel-thresholds", format!("thresholds {} → {}", thresholds(&a.thresholds), thresholds(&b.thresholds)));
    }
    if a.links != b.links {
        push("panel-links", format!("links {} → {}", titles(&a.links), titles(&b.links)));
    }
    for path in differing_paths(&a.rest, &b.rest) {
        push("panel-setting", format!("`{path}` changed"));
    }
    let refs: BTreeSet<&String> = a.queries.keys().chain(b.queries.keys()).collect();
    for r in refs {
        let (qa, qb) = (a.queries.get(r), b.queries.get(r));
        if qa == qb {
            continue;
        }
        let text = |q: Option<&(String, String)>| match q {
            Some((kind, expr)) if kind == "prometheus" => text_diff::formatted_promql(expr),
            Some((_, expr)) => expr.clone(),
            None => String::new(),
        };
        let what = match (qa, qb) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        let lang = match qa.or(qb) {
            Some((kind, _)) if kind == "loki" => "LogQL",
            Some((kind, _)) if kind == "prometheus" => "PromQL",
            _ => "query",
        };
        out.push(
            change(file, place.clone(), "panel-query", format!("query {r} ({lang}) {what}"))
                .with_diff(Some(text_diff::unified(&text(qa), &text(qb)))),
        );
    }
    out
}

/// Threshold steps as Grafana shows them: `green, 0.8 orange, 0.9 red`.
fn thresholds(value: &Option<Value>) -> String {
    let Some(value) = value else { return "(none)".into() };
    let mode = value.get("mode").and_then(Value::as_str).filter(|m| *m != "absolute");
    let steps: Vec<String> = value
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let color = s.get("color").and_then(Value::as_str).unwrap_or("?");
            match s.get("value") {
                Some(Value::Number(n)) => format!("{n} {color}"),
                _ => color.to_owned(),
            }
        })
        .collect();
    let steps = steps.join(", ");
    match mode {
        Some(mode) => format!("{steps} ({mode})"),
        None => steps,
    }
}

fn titles(links: &Value) -> String {
    let names: Vec<String> = links
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| format!("\"{}\"", l.get("title").and_then(Value::as_str).unwrap_or_default()))
        .collect();
    if names.is_empty() { "(none)".into() } else { names.join(", ") }
}

/// Variables or links by name: added, removed, and the settings that changed.
fn keyed(
    file: &str,
    what: &str,
    rule: &'static str,
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
    out: &mut Vec<Change>,
) {
    let (added, removed, changed): (&'static str, &'static str, &'static str) = match rule {
        "variable-" => ("variable-added", "variable-removed", "variable-changed"),
        _ => ("link-added", "link-removed", "link-changed"),
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let place = format!("{what} \"{key}\"");
        match (a.get(key), b.get(key)) {
            (None, Some(_)) => out.push(change(file, place, added, "added")),
            (Some(_), None) => out.push(change(file, place, removed, "removed")),
            (Some(x), Some(y)) if x != y => {
                let fields: Vec<String> = differing_paths(x, y)
                    .into_iter()
                    .map(|p| {
                        let show = |v: &Value| match v.pointer(&pointer(&p)) {
                            Some(Value::String(s)) => format!("\"{s}\""),
                            Some(other) => other.to_string(),
                            None => "(none)".into(),
                        };
                        format!("`{p}` {} → {}", show(x), show(y))
                    })
                    .collect();
                out.push(change(file, place, changed, fields.join("; ")));
            }
            _ => {}
        }
    }
}

fn pointer(path: &str) -> String {
    path.split('.').map(|p| format!("/{p}")).collect()
}

/// Dotted paths of the leaves that differ (arrays compared whole, so a
/// reordered list is one change).
fn differing_paths(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", Some(a), Some(b), &mut out);
    out
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(&p, x.get(k), y.get(k), out);
            }
        }
        (x, y) if x != y => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(panels: Value) -> Dashboard {
        let text = serde_json::json!({"title": "T", "panels": panels, "templating": {"list": []}, "links": []});
        parse("d.json", &text.to_string()).unwrap()
    }

    fn messages(a: &Dashboard, b: &Dashboard) -> Vec<String> {
        dashboard("d.json", a, b).0.into_iter().map(|c| format!("{}: {}", c.finding.place, c.finding.message)).collect()
    }

    #[test]
    fn a_retitled_panel_with_the_same_query_is_one_change() {
        let p = |title: &str| {
            serde_json::json!([{"id": 2, "type": "stat", "title": title, "gridPos": {"x": 0, "y": 0, "w": 4, "h": 4},
                "targets": [{"refId": "A", "expr": "up", "datasource": {"type": "prometheus"}}]}])
        };
        assert_eq!(
            messages(&board(p("Up")), &board(p("Targets up"))),
            ["stat panel \"Targets up\": retitled from \"Up\""]
        );
        assert!(messages(&board(p("Up")), &board(p("Up"))).is_empty(), "an unchanged dashboard reports nothing");
    }

    /// Previews are drawn and linked only for dashboards that changed and
    /// exist at both revisions, with the changed panels marked on each side.
    #[test]
    fn changed_dashboards_get_marked_previews_side_by_side() {
        let tmp = tempfile::tempdir().unwrap();
        let panel = |id: u32, title: &str, y: u32| serde_json::json!({"id": id, "type": "stat", "title": title, "gridPos": {"x": 0, "y": y, "w": 12, "h": 4}});
        let side = |name: &str, boards: &[(&str, Value)]| {
            let dir = tmp.path().join(name).join(DIR);
            std::fs::create_dir_all(&dir).unwrap();
            for (board, json) in boards {
                std::fs::write(dir.join(format!("{board}.json")), json.to_string()).unwrap();
            }
            Tree::at(&tmp.path().join(name), name)
        };
        let same = serde_json::json!({"title": "Same", "panels": [panel(1, "Kept", 0)]});
        let before = side(
            "before",
            &[
                ("changed", serde_json::json!({"title": "Board", "panels": [panel(1, "Up", 0), panel(2, "Kept", 4)]})),
                ("same", same.clone()),
            ],
        );
        let after = side(
            "after",
            &[
                (
                    "changed",
                    serde_json::json!({"title": "Board", "panels": [panel(1, "Targets up", 0), panel(2, "Kept", 4)]}),
                ),
                ("same", same),
            ],
        );
        let compared = compare(&before, &after).unwrap();
        assert_eq!(compared.changed, ["changed"]);
        assert_eq!(compared.marked["changed"], (BTreeSet::from([1]), BTreeSet::from([1])), "only the retitled panel");
        let out = tmp.path().join("previews");
        let previews = write_previews(&before, &after, &compared, &out).unwrap();
        let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
        for (file, title) in [("before/changed.svg", "Up"), ("after/changed.svg", "Targets up")] {
            let svg = read(file);
            assert_eq!(svg.matches("panel changed").count(), 1, "{file}: one panel marked\n{svg}");
            assert!(svg.contains(title), "{file}");
        }
        let both = read("side-by-side/changed.svg");
        assert_eq!(both.matches("<svg ").count(), 3, "one picture holding both:\n{both}");
        assert!(both.find(">Up<").unwrap() < both.find(">Targets up<").unwrap(), "before on the left");
        assert!(!out.join("after/same.svg").exists(), "an unchanged dashboard has no preview in the review");
        let review = super::super::Review {
            base: "main".into(),
            base_commit: "0123456789abcdef".into(),
            changes: compared.changes,
            previews,
        };
        assert_eq!(
            super::super::render::markdown(&review),
            "**Review against `main` (`0123456789ab`):** 1 dashboard changed.\n\n### Dashboards\n\n`dashboards/generated/changed.json`\n- preview: [before](before/changed.svg) · [after](after/changed.svg) · [side by side](side-by-side/changed.svg)\n- stat panel \"Targets up\": retitled from \"Up\"\n"
        );
        let only_after = side("new", &[("added", serde_json::json!({"title": "New", "panels": []}))]);
        let compared = compare(&before, &only_after).unwrap();
        assert!(write_previews(&before, &only_after, &compared, &tmp.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn variables_links_and_units_are_named_with_their_values() {
        let text = |query: &str, link: &str, unit: &str| {
            serde_json::json!({
                "title": "T",
                "panels": [{"type": "stat", "title": "Up", "gridPos": {"x": 0, "y": 0, "w": 4, "h": 4},
                            "fieldConfig": {"defaults": {"unit": unit}}}],
                "templating": {"list": [{"name": "node", "query": query, "type": "query"}]},
                "links": [{"title": link, "url": "/d/x"}]
            })
            .to_string()
        };
        let a = parse("d.json", &text("label_values(up, instance)", "Overview", "percent")).unwrap();
        let b = parse("d.json", &text("label_values(node_uname_info, nodename)", "Home", "percentunit")).unwrap();
        assert_eq!(
            messages(&a, &b),
            [
                "stat panel \"Up\": unit percent → percentunit",
                "variable \"node\": `query` \"label_values(up, instance)\" → \"label_values(node_uname_info, nodename)\"",
                "link \"Home\": added",
                "link \"Overview\": removed",
            ]
        );
    }

    #[test]
    fn a_panel_pushed_down_by_a_new_one_did_not_move() {
        let p = |title: &str, y: i64| serde_json::json!({"type": "stat", "title": title, "gridPos": {"x": 0, "y": y, "w": 4, "h": 4}});
        let a = serde_json::json!([p("A", 0), p("B", 4)]);
        let b = serde_json::json!([p("New", 0), p("A", 4), p("B", 8)]);
        assert_eq!(messages(&board(a), &board(b)), ["stat panel \"New\": added at x 0 y 0, 4×4"]);
        let swapped = serde_json::json!([p("B", 0), p("A", 4)]);
        assert_eq!(
            messages(&board(serde_json::json!([p("A", 0), p("B", 4)])), &board(swapped)),
            ["stat panel \"B\": moved from x 0 y 4 to x 0 y 0", "stat panel \"A\": moved from x 0 y 0 to x 0 y 4"]
        );
    }

    #[test]
    fn rows_moves_and_thresholds_are_named() {
        let a = serde_json::json!([
            {"type": "row", "title": "R1", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": []},
            {"type": "gauge", "title": "CPU", "gridPos": {"x": 0, "y": 1, "w": 6, "h": 4},
             "fieldConfig": {"defaults": {"unit": "percentunit", "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": 0.9}]}}}}
        ]);
        let b = serde_json::json!([
            {"type": "row", "title": "R1", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": []},
            {"type": "gauge", "title": "CPU", "gridPos": {"x": 6, "y": 1, "w": 8, "h": 4},
             "fieldConfig": {"defaults": {"unit": "percentunit", "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": 0.95}]}}}}
        ]);
        assert_eq!(
            messages(&board(a), &board(b)),
            [
                "gauge panel \"CPU\": moved from x 0 y 1 to x 6 y 1 (row \"R1\")",
                "gauge panel \"CPU\": resized from 6×4 to 8×4",
                "gauge panel \"CPU\": thresholds green, 0.9 red → green, 0.95 red",
            ]
        );
    }
}
