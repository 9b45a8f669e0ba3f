//! Golden files: the rendered JSON of some dashboards, reviewed as text.
//!
//! A change to the builders shows here as a diff of the JSON Grafana gets.
//! Accept an intended change with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p dashboards --test golden`).

use dashboards::all;

fn rendered(uid: &str) -> String {
    match all().into_iter().find(|d| d.uid() == uid) {
        Some(d) => d.to_json(),
        None => panic!("no dashboard {uid}"),
    }
}

#[test]
fn hosts_dashboard_json() {
    insta::assert_snapshot!("etl-hosts", rendered("etl-hosts"));
}

#[test]
fn overview_dashboard_json() {
    insta::assert_snapshot!("etl-overview", rendered("etl-overview"));
}
