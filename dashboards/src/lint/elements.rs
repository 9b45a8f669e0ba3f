//! Rules on rows and panels: ids, titles, descriptions, units, queries,
//! reference ids and the grid.

use super::finding::finding;
use crate::{Dashboard, Element, GridPos, Target};
use report::Finding;

pub(super) fn check(d: &Dashboard, problems: &mut Vec<Finding>) {
    let uid = d.uid();
    let elements = d.elements();
    for (i, element) in elements.iter().enumerate() {
        let here = element.location();
        if let Some(first) = elements[..i].iter().find(|e| e.id() == element.id()) {
            problems.push(finding(
                uid,
                &here,
                format!("id {} is also the id of {}; panel ids must be unique", element.id(), first.location()),
            ));
        }
        if element.title().trim().is_empty() {
            problems.push(finding(uid, &here, "no title"));
        }
        let pos = element.grid_pos();
        if !pos.fits_grid() {
            problems.push(finding(
                uid,
                &here,
                format!(
                    "{} does not fit the grid: width and height must be at least 1 and x + w at most 24",
                    show(pos)
                ),
            ));
        }
        for earlier in &elements[..i] {
            if pos.overlaps(&earlier.grid_pos()) {
                problems.push(finding(
                    uid,
                    &here,
                    format!("{} overlaps {} at {}", show(pos), earlier.location(), show(earlier.grid_pos())),
                ));
            }
        }
        if let Element::Panel(panel) = element {
            let kind = panel.kind();
            if panel.description_text().is_none_or(|t| t.trim().is_empty()) {
                problems.push(finding(uid, &here, "no description; say what the panel shows and how to read it"));
            }
            if kind.needs_unit() && panel.unit_value().is_none() {
                problems.push(finding(uid, &here, format!("{} panel without a unit", kind.type_id())));
            }
            if kind.needs_targets() && panel.target_list().is_empty() {
                problems.push(finding(uid, &here, "no queries"));
            }
            check_targets(uid, &here, panel.target_list(), problems);
        }
    }
}

fn check_targets(uid: &str, panel: &str, targets: &[Target], problems: &mut Vec<Finding>) {
    for (i, target) in targets.iter().enumerate() {
        let ref_id = target.ref_id_str().unwrap_or_default();
        let here = format!("{panel} target {ref_id}");
        if ref_id.is_empty() {
            problems.push(finding(uid, &here, "target without a refId"));
        } else if targets[..i].iter().any(|t| t.ref_id_str() == Some(ref_id)) {
            problems.push(finding(uid, &here, format!("refId {ref_id} is used by more than one target of this panel")));
        }
        if target.expr().trim().is_empty() {
            problems.push(finding(uid, &here, "empty query"));
        }
    }
}

fn show(p: GridPos) -> String {
    format!("gridPos {{x: {}, y: {}, w: {}, h: {}}}", p.x, p.y, p.w, p.h)
}
