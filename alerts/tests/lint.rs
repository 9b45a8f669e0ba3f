//! The lint: the real rules are clean, and each defect is caught with a
//! message naming the file, group and rule.

use std::path::Path;

use alerts::grafana::log_alert_groups;
use alerts::lint::{lint, lint_log_alerts, place};
use alerts::{
    Alert, AlertRule, Context, Duration, Group, Rule, RuleFile, Runbooks, Severity, Team, fires, quiet, rule_files,
};
use report::Finding;

#[test]
fn generated_rules_are_clean() {
    let problems = lint(&rule_files(&Context::default()), &Runbooks::embedded());
    assert!(problems.is_empty(), "{}", problems.iter().map(|p| format!("{p}\n")).collect::<String>());
}

#[test]
fn log_alerts_are_clean() {
    let rules: Vec<_> = log_alert_groups(&Context::default()).into_iter().flat_map(|g| g.rules).collect();
    let problems = lint_log_alerts(&rules, &Runbooks::embedded());
    assert!(problems.is_empty(), "{}", problems.iter().map(|p| format!("{p}\n")).collect::<String>());
}

#[test]
fn embedded_runbooks_match_the_tree() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let on_disk = Runbooks::load(&dir).expect("read runbooks");
    assert_eq!(on_disk, Runbooks::embedded(), "a runbook file is missing from runbooks.rs's EMBEDDED list");
}

/// Every alert of every subject has its runbook section, and no section is
/// left over from a removed alert.
#[test]
fn runbook_sections_match_alerts() {
    let runbooks = Runbooks::embedded();
    let mut expected: Vec<(String, String)> = rule_files(&Context::default())
        .iter()
        .flat_map(|f| f.alerts().map(|(_, a)| (f.runbook_file(), a.name.to_lowercase())).collect::<Vec<_>>())
        .collect();
    expected.extend(
        log_alert_groups(&Context::default())
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| ("logs.md".to_string(), r.title.to_lowercase()))),
    );
    for file in runbooks.file_names() {
        let anchors = runbooks.anchors(file).expect("exists");
        let alert_anchors: Vec<&String> = anchors.iter().filter(|a| !a.contains('-')).collect();
        for anchor in alert_anchors {
            assert!(
                expected.iter().any(|(f, a)| f == file && a == anchor),
                "runbooks/{file} has a section #{anchor} for no alert"
            );
        }
    }
}

// --- each defect is caught -------------------------------------------------

const SUBJECT: &str = "lintcheck";
const FILE: &str = "alerts/generated/rules/lintcheck.rules.yml";

fn runbooks() -> Runbooks {
    Runbooks::from_texts([(
        "lintcheck.md".to_string(),
        "# Lint check\n\n## GoodAlert\n\n## OtherAlert\n\n## BadSummary\n".to_string(),
    )])
}

fn good(name: &str) -> AlertRule {
    Alert::new(name, Severity::Warning)
        .expr(r#"up{job="x"} == 0"#)
        .for_duration(Duration::minutes(5))
        .team(Team::Platform)
        .summary("A target is down.")
        .description("{{ $labels.instance }} is down.")
        .fires(
            fires("down")
                .at(Duration::minutes(10))
                .series(r#"up{instance="a",job="x"}"#, "0x20")
                .alert(&[("instance", "a"), ("job", "x")]),
        )
        .stays_quiet(quiet("up").series(r#"up{instance="a",job="x"}"#, "1x20"))
        .into_rule()
}

fn file_with(rules: Vec<AlertRule>) -> RuleFile {
    let mut group = Group::new("checks");
    group.rules = rules.into_iter().map(Rule::Alert).collect();
    RuleFile::new(SUBJECT).group(group).resolve_links(&Context::default())
}

/// Lints one alert, made defective after its links were resolved.
fn problems_for(rule: AlertRule, defect: impl FnOnce(&mut AlertRule)) -> Vec<Finding> {
    let mut file = file_with(vec![rule]);
    if let Rule::Alert(a) = &mut file.groups[0].rules[0] {
        defect(a);
    }
    lint(&[file], &runbooks())
}

fn assert_caught(problems: &[Finding], rule: &str, fragment: &str) {
    let hit = problems.iter().find(|p| p.message.contains(fragment));
    let Some(p) = hit else { panic!("no problem mentioning {fragment:?} in {problems:#?}") };
    assert_eq!((p.file.as_str(), p.place.clone()), (FILE, place("checks", rule)));
    let shown = p.to_string();
    assert!(shown.contains(FILE) && shown.contains("checks") && shown.contains(rule), "{shown}");
}

#[test]
fn a_good_alert_passes() {
    assert_eq!(problems_for(good("GoodAlert"), |_| {}), vec![]);
}

#[test]
fn catches_missing_runbook() {
    let p = problems_for(good("GoodAlert"), |r| r.runbook_url = None);
    assert_caught(&p, "GoodAlert", "runbook_url is missing");
}

#[test]
fn catches_runbook_without_section() {
    let p = problems_for(good("NoSectionAlert"), |_| {});
    assert_caught(&p, "NoSectionAlert", "has no heading with anchor #nosectionalert");
}

#[test]
fn catches_runbook_file_missing() {
    let p = problems_for(good("GoodAlert"), |r| r.runbook_url = Some("alerts/runbooks/nowhere.md#goodalert".into()));
    assert_caught(&p, "GoodAlert", "does not exist");
}

#[test]
fn catches_untested_alert() {
    let p = problems_for(good("GoodAlert"), |r| r.tests.clear());
    assert_caught(&p, "GoodAlert", "no promtool test case in which the alert fires");
    assert_caught(&p, "GoodAlert", "no promtool test case in which the alert stays quiet");
}

#[test]
fn catches_alert_without_quiet_case() {
    let p = problems_for(good("GoodAlert"), |r| r.tests.retain(|t| t.is_firing()));
    assert_caught(&p, "GoodAlert", "stays quiet");
    assert!(!p.iter().any(|p| p.message.contains("alert fires")));
}

#[test]
fn catches_duplicates() {
    let problems = lint(&[file_with(vec![good("GoodAlert"), good("GoodAlert")])], &runbooks());
    assert_caught(&problems, "GoodAlert", "duplicate alert");
    // Same name, different severity: a legitimate pair.
    let mut critical = good("GoodAlert");
    critical.severity = Some(Severity::Critical);
    assert_eq!(lint(&[file_with(vec![good("GoodAlert"), critical])], &runbooks()), vec![]);
}

#[test]
fn catches_templated_summary() {
    let p = problems_for(good("BadSummary"), |r| r.summary = "{{ $labels.instance }} is down.".into());
    assert_caught(&p, "BadSummary", "summary is templated");
}

#[test]
fn catches_summary_style() {
    let p = problems_for(good("BadSummary"), |r| r.summary = "a target is down".into());
    assert_caught(&p, "BadSummary", "capital letter");
    assert_caught(&p, "BadSummary", "end with a period");
    let p = problems_for(good("BadSummary"), |r| r.summary.clear());
    assert_caught(&p, "BadSummary", "summary is missing");
}

#[test]
fn catches_description_problems() {
    let p = problems_for(good("GoodAlert"), |r| r.description = "Something is down.".into());
    assert_caught(&p, "GoodAlert", "description is not templated");
    let p = problems_for(good("GoodAlert"), |r| r.description.clear());
    assert_caught(&p, "GoodAlert", "description is missing");
}

#[test]
fn catches_bad_name() {
    let p = problems_for(good("GoodAlert"), |r| r.name = "good_alert".into());
    assert_caught(&p, "good_alert", "not CamelCase");
}

#[test]
fn catches_missing_severity() {
    let p = problems_for(good("GoodAlert"), |r| r.severity = None);
    assert_caught(&p, "GoodAlert", "severity must be set");
    let p = problems_for(good("GoodAlert"), |r| {
        r.extra_labels.insert("severity".into(), "page".into());
    });
    assert_caught(&p, "GoodAlert", "severity must be set");
}

#[test]
fn catches_absent_without_for() {
    let p = problems_for(good("GoodAlert"), |r| {
        r.expr = r#"absent(up{job="x"})"#.into();
        r.for_duration = None;
    });
    assert_caught(&p, "GoodAlert", "absent() without `for`");
}

#[test]
fn catches_value_in_labels() {
    let p = problems_for(good("GoodAlert"), |r| {
        r.extra_labels.insert("level".into(), "{{ $value }}".into());
    });
    assert_caught(&p, "GoodAlert", "label uses $value");
}

#[test]
fn catches_unrenderable_expectations() {
    let p = problems_for(good("GoodAlert"), |r| r.description = "{{ $labels.pod }} is down.".into());
    assert_caught(&p, "GoodAlert", "label \"pod\" is not among the test alert's labels");
    let p = problems_for(good("GoodAlert"), |r| r.description = "Down for {{ $value }}s.".into());
    assert_caught(&p, "GoodAlert", "needs the test alert's value");
}

#[test]
fn catches_unknown_dashboard() {
    let p = problems_for(good("GoodAlert"), |r| r.dashboard_uid = Some("etl-nope".into()));
    assert_caught(&p, "GoodAlert", "not a generated dashboard");
}

#[test]
fn catches_bogus_always_firing() {
    let p = problems_for(good("GoodAlert"), |r| {
        r.always_firing = true;
        r.tests.retain(|t| t.is_firing());
    });
    assert_caught(&p, "GoodAlert", "only `vector(1)` may be marked always firing");
}

#[test]
fn catches_log_alert_defects() {
    let mut rules: Vec<_> = log_alert_groups(&Context::default()).into_iter().flat_map(|g| g.rules).collect();
    rules[1].uid = rules[0].uid.clone();
    rules[1].summary = "lower case, no period".into();
    rules[2].runbook_url = Some("alerts/runbooks/logs.md#missing".into());
    rules[3].description = "Uses ${HOME} by accident {{ $labels.service }}".into();
    let problems = lint_log_alerts(&rules, &Runbooks::embedded());
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for (rule, fragment) in [
        (&rules[1].title, "duplicate uid"),
        (&rules[1].title, "capital letter"),
        (&rules[2].title, "no heading with anchor #missing"),
        (&rules[3].title, "environment variable"),
    ] {
        assert!(
            text.iter().any(|t| t.contains(rule.as_str())
                && t.contains(fragment)
                && t.contains("alerts/generated/grafana/log-alerts.yml")),
            "{fragment} for {rule}: {text:#?}"
        );
    }
}
