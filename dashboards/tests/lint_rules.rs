//! One deliberately broken dashboard per lint rule: each must be reported,
//! naming the dashboard and the place in it.

use dashboards::lint::{file_of, lint};
use dashboards::{
    Dashboard, DashboardBuilder, DashboardLink, Datasource, DatasourceRef, Element, GridPos, Panel, PanelKind, Target,
    Unit, Variable, VariableKind,
};
use report::Finding;

const PROVISIONED: [&str; 3] = ["prometheus", "loki", "alertmanager"];
const UID: &str = "etl-fixture";

/// A clean dashboard to break: tags, one row, one good panel.
fn fixture() -> DashboardBuilder {
    Dashboard::builder(UID, "Fixture").tags(["fixture"]).row("Row").panel(good_panel("CPU busy"))
}

fn good_panel(title: &str) -> Panel {
    Panel::time_series(title, "What it shows.", Unit::Percent01)
        .target(Target::prometheus("1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval]))"))
}

/// A panel added exactly where and with the id given.
fn raw(panel: Panel, id: u32, pos: GridPos) -> Element {
    Element::Panel(panel.with_id(id).at(pos))
}

/// Asserts a problem at `location` of dashboard `uid` whose message contains
/// `needle`, and that its text names both.
fn assert_reported(problems: &[Finding], uid: &str, location: &str, needle: &str) {
    let found = problems.iter().find(|p| p.file == file_of(uid) && p.place == location && p.message.contains(needle));
    match found {
        Some(p) => {
            let text = p.to_string();
            assert!(text.contains(uid) && text.contains(location), "{text}");
        }
        None => panic!(
            "expected a problem at {uid} / {location} containing {needle:?}; got:\n{}",
            problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        ),
    }
}

fn lint_one(d: Dashboard) -> Vec<Finding> {
    lint(&[d], &PROVISIONED)
}

#[test]
fn the_fixture_is_clean() {
    let problems = lint_one(fixture().build());
    assert!(problems.is_empty(), "{problems:?}");
}

// ---------------------------------------------------------------- identity

#[test]
fn uid_length() {
    let d = Dashboard::builder("etl-x", "Short").tags(["t"]).panel(good_panel("P")).build();
    assert_reported(&lint_one(d), "etl-x", "dashboard", "8 to 40");
    let long = "etl-".to_owned() + &"x".repeat(40);
    let d = Dashboard::builder(long.clone(), "Long").tags(["t"]).panel(good_panel("P")).build();
    assert_reported(&lint_one(d), &long, "dashboard", "8 to 40");
}

#[test]
fn uid_characters() {
    let d = Dashboard::builder("etl fixture!", "Odd").tags(["t"]).panel(good_panel("P")).build();
    assert_reported(&lint_one(d), "etl fixture!", "dashboard", "letters, digits");
}

#[test]
fn unique_uids() {
    let a = fixture().build();
    let b = Dashboard::builder(UID, "Other title").tags(["t"]).panel(good_panel("P")).build();
    let problems = lint(&[a, b], &PROVISIONED);
    assert_reported(&problems, UID, "dashboard", "also the uid of \"Fixture\"");
}

#[test]
fn unique_titles() {
    let a = fixture().build();
    let b = Dashboard::builder("etl-fixture-2", "Fixture").tags(["t"]).panel(good_panel("P")).build();
    let problems = lint(&[a, b], &PROVISIONED);
    assert_reported(&problems, "etl-fixture-2", "dashboard", "also the title of dashboard etl-fixture");
}

#[test]
fn not_editable() {
    let d = fixture().editable(true).build();
    assert_reported(&lint_one(d), UID, "dashboard", "editable is true");
}

#[test]
fn has_tags() {
    let d = Dashboard::builder(UID, "Fixture").panel(good_panel("P")).build();
    assert_reported(&lint_one(d), UID, "dashboard", "no tags");
}

#[test]
fn has_time_and_refresh() {
    let d = fixture().time("", "now").refresh("").build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "dashboard", "no default time range");
    assert_reported(&problems, UID, "dashboard", "no refresh interval");
}

// ---------------------------------------------------------------- elements

#[test]
fn unique_panel_ids() {
    let d = fixture()
        .element(raw(good_panel("A"), 7, GridPos::new(0, 20, 12, 8)))
        .element(raw(good_panel("B"), 7, GridPos::new(12, 20, 12, 8)))
        .build();
    assert_reported(&lint_one(d), UID, "panel 7 \"B\"", "also the id of panel 7 \"A\"");
}

#[test]
fn unique_ref_ids() {
    let d = fixture()
        .panel(
            Panel::time_series("Two queries", "d", Unit::Short)
                .target(Target::prometheus("up").ref_id("A"))
                .target(Target::prometheus("up").ref_id("A")),
        )
        .build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Two queries\" target A", "refId A is used by more than one");
}

#[test]
fn titles_on_panels_and_rows() {
    let d = fixture().row("").panel(good_panel("")).build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "row 3 \"\"", "no title");
    assert_reported(&problems, UID, "panel 4 \"\"", "no title");
}

#[test]
fn descriptions_on_panels() {
    let d = fixture()
        .panel(Panel::new(PanelKind::time_series(), "Undescribed").unit(Unit::Short).target(Target::prometheus("up")))
        .build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Undescribed\"", "no description");
}

#[test]
fn units_on_numeric_panels() {
    let kinds = [PanelKind::time_series(), PanelKind::stat(), PanelKind::gauge(), PanelKind::bar_gauge()];
    for kind in kinds {
        let type_id = kind.type_id();
        let d = fixture().panel(Panel::new(kind, "Unitless").description("d").target(Target::prometheus("up"))).build();
        assert_reported(&lint_one(d), UID, "panel 3 \"Unitless\"", &format!("{type_id} panel without a unit"));
    }
    // Tables, logs and text need none.
    let d = fixture()
        .panel(Panel::table("Table", "d").target(Target::prometheus("up").table()))
        .panel(Panel::logs("Logs", "d").target(Target::loki("{service=\"x\"}")))
        .panel(Panel::text("Text", "d", "hello"))
        .build();
    assert!(lint_one(d).is_empty());
}

#[test]
fn panels_have_queries() {
    let d = fixture().panel(Panel::time_series("Empty", "d", Unit::Short)).build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Empty\"", "no queries");
}

#[test]
fn queries_are_not_empty() {
    let d = fixture().panel(Panel::time_series("Blank", "d", Unit::Short).target(Target::prometheus(" "))).build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Blank\" target A", "empty query");
}

#[test]
fn no_overlapping_panels() {
    let d = fixture()
        .element(raw(good_panel("Left"), 10, GridPos::new(0, 20, 12, 8)))
        .element(raw(good_panel("Right"), 11, GridPos::new(6, 24, 12, 8)))
        .build();
    assert_reported(
        &lint_one(d),
        UID,
        "panel 11 \"Right\"",
        "overlaps panel 10 \"Left\" at gridPos {x: 0, y: 20, w: 12, h: 8}",
    );
}

#[test]
fn panels_inside_the_grid() {
    let d = fixture()
        .element(raw(good_panel("Too wide"), 10, GridPos::new(20, 20, 8, 4)))
        .element(raw(good_panel("Flat"), 11, GridPos::new(0, 30, 4, 0)))
        .build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "panel 10 \"Too wide\"", "does not fit the grid");
    assert_reported(&problems, UID, "panel 11 \"Flat\"", "does not fit the grid");
}

// ---------------------------------------------------------------- data sources

#[test]
fn datasources_are_provisioned() {
    let d = fixture()
        .panel(
            Panel::time_series("Elsewhere", "d", Unit::Short)
                .target(Target::prometheus("up").datasource(DatasourceRef::other("prometheus", "other-prom"))),
        )
        .build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "panel 3 \"Elsewhere\"", "uid \"other-prom\" is not provisioned");
    assert_reported(&problems, UID, "panel 3 \"Elsewhere\" target A", "uid \"other-prom\" is not provisioned");

    // The same dashboard against a Grafana without Loki.
    let d = fixture().panel(Panel::logs("Logs", "d").target(Target::loki("{service=\"x\"}"))).build();
    let problems = lint(&[d], &["prometheus"]);
    assert_reported(&problems, UID, "panel 3 \"Logs\" target A", "uid \"loki\" is not provisioned");
}

#[test]
fn datasource_variables_exist() {
    let templated = || {
        Panel::time_series("Templated", "d", Unit::Short)
            .target(Target::prometheus("up").datasource(DatasourceRef::variable(Datasource::Prometheus, "ds")))
    };
    let d = fixture().panel(templated()).build();
    assert_reported(
        &lint_one(d),
        UID,
        "panel 3 \"Templated\" target A",
        "${ds} is not a prometheus datasource variable",
    );
    // Defined, it is fine.
    let d = fixture().variable(Variable::datasource("ds", Datasource::Prometheus)).panel(templated()).build();
    assert!(lint_one(d).is_empty());
}

#[test]
fn datasource_variables_start_on_a_provisioned_uid() {
    let d = fixture()
        .variable(Variable::new(
            "ds",
            VariableKind::Datasource { plugin: Datasource::Prometheus, current_uid: "old-prom".into() },
        ))
        .panel(
            Panel::time_series("Templated", "d", Unit::Short)
                .target(Target::prometheus("up").datasource(DatasourceRef::variable(Datasource::Prometheus, "ds"))),
        )
        .build();
    assert_reported(&lint_one(d), UID, "variable \"ds\"", "starts on data source uid \"old-prom\"");
}

#[test]
fn query_language_matches_the_datasource() {
    let d = fixture()
        .panel(
            Panel::time_series("Confused", "d", Unit::Short)
                .target(Target::prometheus("up").datasource(Datasource::Loki.into())),
        )
        .build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Confused\" target A", "a PromQL query sent to a loki data source");
}

#[test]
fn targets_use_their_panels_datasource() {
    let d = fixture()
        .panel(
            Panel::time_series("Mixed", "d", Unit::Short)
                .datasource(Datasource::Loki.into())
                .target(Target::prometheus("up")),
        )
        .build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Mixed\" target A", "but its panel uses \"loki\"");
}

// ---------------------------------------------------------------- variables

#[test]
fn variables_in_queries_are_defined() {
    let d = fixture()
        .panel(
            Panel::time_series("Per job", "d", Unit::Short)
                .target(Target::prometheus("up{job=~\"$job\"}").legend("[[instance]]")),
        )
        .build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "panel 3 \"Per job\" target A", "uses $job");
    assert_reported(&problems, UID, "panel 3 \"Per job\" target A", "uses $instance");
}

#[test]
fn variables_in_titles_and_links_are_defined() {
    let d = fixture()
        .panel(good_panel("CPU of ${node}"))
        .link(DashboardLink::url("Hosts", "/d/etl-fixture?var-node=$host", "tip"))
        .build();
    let problems = lint_one(d);
    assert_reported(&problems, UID, "panel 3 \"CPU of ${node}\"", "uses $node");
    assert_reported(&problems, UID, "link \"Hosts\"", "uses $host");
}

#[test]
fn grafana_builtins_need_no_definition() {
    let d = fixture()
        .panel(
            Panel::time_series("Built-ins", "Over ${__range}", Unit::Short)
                .target(Target::prometheus("increase(up[$__rate_interval]) / $__range_s")),
        )
        .build();
    assert!(lint_one(d).is_empty());
}

#[test]
fn variables_are_defined_before_use() {
    let d = fixture()
        .variable(Variable::query("instance", Datasource::Prometheus, "label_values(up{job=~\"$job\"}, instance)"))
        .variable(Variable::query("job", Datasource::Prometheus, "label_values(up, job)"))
        .panel(
            Panel::time_series("Up", "d", Unit::Short)
                .target(Target::prometheus("up{job=~\"$job\", instance=~\"$instance\"}")),
        )
        .build();
    assert_reported(&lint_one(d), UID, "variable \"instance\"", "uses $job, which is defined after it");
}

#[test]
fn variables_in_variables_are_defined() {
    let d = fixture()
        .variable(Variable::query("instance", Datasource::Prometheus, "label_values(up{job=~\"$job\"}, instance)"))
        .panel(Panel::time_series("Up", "d", Unit::Short).target(Target::prometheus("up{instance=~\"$instance\"}")))
        .build();
    assert_reported(&lint_one(d), UID, "variable \"instance\"", "uses $job, which is not a template variable");
}

#[test]
fn variables_are_used() {
    let d = fixture().variable(Variable::query("job", Datasource::Prometheus, "label_values(up, job)")).build();
    assert_reported(&lint_one(d), UID, "variable \"job\"", "defined but never used");
}

#[test]
fn variables_are_defined_once() {
    let d = fixture()
        .variable(Variable::query("job", Datasource::Prometheus, "label_values(up, job)"))
        .variable(Variable::query("job", Datasource::Prometheus, "label_values(up, job)"))
        .panel(Panel::time_series("Up", "d", Unit::Short).target(Target::prometheus("up{job=~\"$job\"}")))
        .build();
    assert_reported(&lint_one(d), UID, "variable \"job\"", "defined twice");
}

// ---------------------------------------------------------------- intervals

#[test]
fn promql_rates_use_rate_interval() {
    for function in ["rate", "irate", "increase"] {
        let d = fixture()
            .panel(
                Panel::time_series("Fixed window", "d", Unit::Short)
                    .target(Target::prometheus(format!("sum({function}(http_requests_total[5m]))"))),
            )
            .build();
        assert_reported(
            &lint_one(d),
            UID,
            "panel 3 \"Fixed window\" target A",
            &format!("{function}() over [5m]; use [$__rate_interval]"),
        );
    }
}

#[test]
fn logql_ranges_use_grafana_windows() {
    let d = fixture()
        .panel(
            Panel::time_series("Log rate", "d", Unit::EventsPerSec)
                .target(Target::loki("sum(count_over_time({service=\"x\"} |= `error` [5m]))")),
        )
        .build();
    assert_reported(&lint_one(d), UID, "panel 3 \"Log rate\" target A", "count_over_time() over [5m]; use [$__auto]");
}

// ---------------------------------------------------------------- links

#[test]
fn dashboard_links_lead_somewhere() {
    let d = fixture().link(DashboardLink::dashboard("Gone", "etl-gone-away", "tip")).build();
    assert_reported(&lint_one(d), UID, "link \"Gone\"", "uid \"etl-gone-away\", which is not one of");
}

#[test]
fn tag_links_list_something() {
    let d = fixture().link(DashboardLink::tagged("Related", ["nothing-has-this"])).build();
    assert_reported(&lint_one(d), UID, "link \"Related\"", "no other dashboard has all those tags");
}
