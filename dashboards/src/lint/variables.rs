//! Rules on template variables: every one used is defined, defined before
//! the variables that use it, and every one defined is used.

use std::collections::BTreeSet;

use super::finding::finding;
use super::scan::variable_refs;
use crate::{Dashboard, Element};
use report::Finding;

pub(super) fn check(d: &Dashboard, problems: &mut Vec<Finding>) {
    let uid = d.uid();
    let variables = d.variables();
    let position = |name: &str| variables.iter().position(|v| v.name() == name);
    let mut used: BTreeSet<String> = BTreeSet::new();

    let undefined = |here: &str, texts: &[&str], problems: &mut Vec<Finding>, used: &mut BTreeSet<String>| {
        for text in texts {
            for name in variable_refs(text) {
                if position(&name).is_none() {
                    problems.push(finding(
                        uid,
                        here,
                        format!("uses ${name}, which is not a template variable of this dashboard"),
                    ));
                }
                used.insert(name);
            }
        }
    };

    for (i, variable) in variables.iter().enumerate() {
        let here = format!("variable {:?}", variable.name());
        if variables[..i].iter().any(|v| v.name() == variable.name()) {
            problems.push(finding(uid, &here, "defined twice"));
        }
        for text in variable.referencing_texts() {
            for name in variable_refs(&text) {
                match position(&name) {
                    None => problems.push(finding(
                        uid,
                        &here,
                        format!("uses ${name}, which is not a template variable of this dashboard"),
                    )),
                    Some(p) if p == i => problems.push(finding(uid, &here, format!("uses itself (${name})"))),
                    Some(p) if p > i => problems.push(finding(
                        uid,
                        &here,
                        format!("uses ${name}, which is defined after it; Grafana resolves variables in order"),
                    )),
                    Some(_) => {}
                }
                used.insert(name);
            }
        }
    }

    for element in d.elements() {
        let here = element.location();
        match element {
            Element::Row(row) => undefined(&here, &[row.title()], problems, &mut used),
            Element::Panel(panel) => {
                undefined(&here, &panel.referencing_texts(), problems, &mut used);
                if let Some(r) = panel.datasource_ref() {
                    used.extend(variable_refs(&r.uid()));
                }
                for target in panel.target_list() {
                    let at = format!("{here} target {}", target.ref_id_str().unwrap_or_default());
                    let mut texts = vec![target.expr()];
                    texts.extend(target.legend_format());
                    undefined(&at, &texts, problems, &mut used);
                    used.extend(variable_refs(&target.datasource_ref().uid()));
                }
            }
        }
    }

    for link in d.links() {
        let here = format!("link {:?}", link.title());
        let texts = link.referencing_texts();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        undefined(&here, &texts, problems, &mut used);
    }

    for variable in variables {
        if !used.contains(variable.name()) {
            problems.push(finding(uid, format!("variable {:?}", variable.name()), "defined but never used"));
        }
    }
}
