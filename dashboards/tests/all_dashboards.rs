//! The shipped dashboards: lint-clean, well-formed, deterministic.

use std::collections::BTreeSet;

use dashboards::{Datasource, all, generated_files, lint::lint};

fn provisioned() -> Vec<&'static str> {
    Datasource::ALL.iter().map(|d| d.uid()).collect()
}

#[test]
fn all_lints_clean() {
    let problems = lint(&all(), &provisioned());
    let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn there_are_at_least_eight_dashboards_with_pinned_uids() {
    let dashboards = all();
    assert!(dashboards.len() >= 8);
    let uids: BTreeSet<&str> = dashboards.iter().map(|d| d.uid()).collect();
    assert_eq!(uids.len(), dashboards.len());
    for uid in uids {
        assert!(uid.starts_with("etl-"), "{uid}");
        assert!((8..=40).contains(&uid.len()), "{uid}");
    }
}

#[test]
fn uid_constants_follow_all() {
    let uids: Vec<String> = all().iter().map(|d| d.uid().to_owned()).collect();
    assert_eq!(uids, dashboards::uids::ALL);
}

#[test]
fn every_dashboard_has_variables_links_and_a_time_range() {
    for d in all() {
        assert!(!d.tags().is_empty(), "{}", d.uid());
        assert!(!d.links().is_empty(), "{}", d.uid());
        assert!(!d.refresh().is_empty(), "{}", d.uid());
        assert!(!d.editable(), "{}", d.uid());
        assert!(d.queries().len() >= 5, "{}", d.uid());
    }
}

#[test]
fn generated_files_are_deterministic() {
    let first = generated_files();
    let second = generated_files();
    assert_eq!(first, second);
    let paths: Vec<&str> = first.iter().map(|f| f.path.as_str()).collect();
    let expected: Vec<String> = all()
        .iter()
        .flat_map(|d| {
            [format!("dashboards/generated/{}.json", d.uid()), format!("dashboards/generated/{}.svg", d.uid())]
        })
        .collect();
    assert_eq!(paths, expected);
    for file in first.iter().filter(|f| f.path.ends_with(".svg")) {
        assert!(file.contents.starts_with("<svg ") && file.contents.ends_with("</svg>\n"), "{}", file.path);
    }
    for file in first.iter().filter(|f| f.path.ends_with(".json")) {
        assert!(file.contents.ends_with("}\n"), "{}", file.path);
        assert!(!file.contents.contains('\r'), "{}", file.path);
        let parsed: serde_json::Value = serde_json::from_str(&file.contents).unwrap_or_default();
        assert!(parsed.is_object(), "{} is not a JSON object", file.path);
    }
}

#[test]
fn queries_name_their_panel_and_language() {
    for d in all() {
        for q in d.queries() {
            assert_eq!(q.dashboard_uid, d.uid());
            assert!(!q.ref_id.is_empty());
            assert!(!q.expr.is_empty());
            assert!(matches!(q.datasource, Datasource::Prometheus | Datasource::Loki));
            let panel = d.panels().find(|p| p.id() == q.panel_id);
            assert_eq!(panel.map(|p| p.title()), Some(q.panel_title.as_str()));
        }
    }
}
