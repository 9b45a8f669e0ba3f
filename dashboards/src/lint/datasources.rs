//! Rules on data source references.

use super::finding::finding;
use crate::{Dashboard, DatasourceRef, Element, VariableKind};
use report::Finding;

pub(super) fn check(d: &Dashboard, provisioned: &[&str], problems: &mut Vec<Finding>) {
    let uid = d.uid();
    for element in d.elements() {
        let Element::Panel(panel) = element else {
            continue;
        };
        let here = element.location();
        if let Some(r) = panel.datasource_ref()
            && let Some(message) = problem_with(d, r, provisioned)
        {
            problems.push(finding(uid, &here, message));
        }
        for target in panel.target_list() {
            let at = format!("{here} target {}", target.ref_id_str().unwrap_or_default());
            let r = target.datasource_ref();
            if let Some(message) = problem_with(d, r, provisioned) {
                problems.push(finding(uid, &at, message));
            }
            let language = target.language();
            if r.type_id() != language.type_id() {
                problems.push(finding(
                    uid,
                    &at,
                    format!("a {} query sent to a {} data source", query_language(language.type_id()), r.type_id()),
                ));
            }
            if let Some(panel_ref) = panel.datasource_ref()
                && panel_ref != r
            {
                problems.push(finding(
                    uid,
                    &at,
                    format!(
                        "uses data source {:?} but its panel uses {:?}; Grafana would query the panel's",
                        r.uid(),
                        panel_ref.uid()
                    ),
                ));
            }
        }
    }
    for variable in d.variables() {
        let here = format!("variable {:?}", variable.name());
        match variable.kind() {
            VariableKind::Query { datasource, .. } => {
                if let Some(message) = problem_with(d, datasource, provisioned) {
                    problems.push(finding(uid, &here, message));
                }
            }
            VariableKind::Datasource { current_uid, .. } => {
                if !provisioned.contains(&current_uid.as_str()) {
                    problems.push(finding(
                        uid,
                        &here,
                        format!(
                            "starts on data source uid {current_uid:?}, which is not provisioned (provisioned: {})",
                            provisioned.join(", ")
                        ),
                    ));
                }
            }
            VariableKind::Custom { .. } | VariableKind::Interval { .. } | VariableKind::Textbox { .. } => {}
        }
    }
}

fn query_language(type_id: &str) -> &'static str {
    match type_id {
        "prometheus" => "PromQL",
        "loki" => "LogQL",
        _ => "non-query",
    }
}

/// What is wrong with `r`, if anything.
fn problem_with(d: &Dashboard, r: &DatasourceRef, provisioned: &[&str]) -> Option<String> {
    match r {
        DatasourceRef::Provisioned(_) | DatasourceRef::Other { .. } => {
            let ds_uid = r.uid();
            (!provisioned.contains(&ds_uid.as_str())).then(|| {
                format!("data source uid {ds_uid:?} is not provisioned (provisioned: {})", provisioned.join(", "))
            })
        }
        DatasourceRef::Variable { kind, name } => {
            let defined = d.variables().iter().any(|v| {
                v.name() == name && matches!(v.kind(), VariableKind::Datasource { plugin, .. } if plugin == kind)
            });
            (!defined).then(|| {
                format!("data source ${{{name}}} is not a {} datasource variable of this dashboard", kind.type_id())
            })
        }
    }
}
