//! promtool unit-test YAML, one test group per case.
//!
//! Only fields promtool 3.5 knows are written (`rule_files`,
//! `evaluation_interval`, `tests[].{name, interval, input_series,
//! alert_rule_test}`), so the files also load with `--ignore-unknown-fields`
//! off.

use std::collections::BTreeMap;

use crate::model::{AlertRule, RuleFile};
use crate::template;
use crate::testing::{ExpectedAlert, TestCase};
use crate::yaml::{self, Yaml};

pub fn test_file_yaml(file: &RuleFile) -> String {
    let tests: Vec<Yaml> =
        file.alerts().flat_map(|(_, alert)| alert.tests.iter().map(move |case| test_group(alert, case))).collect();
    let rule_file = format!("../rules/{}.rules.yml", file.subject);
    let root = Yaml::map()
        .entry("rule_files", Yaml::Seq(vec![Yaml::str(rule_file)]))
        .entry("evaluation_interval", Yaml::str("1m"))
        .entry("tests", Yaml::Seq(tests))
        .build();
    let header = super::header(&format!("alerts/src/rules/ ({})", file.subject));
    yaml::document(&header.each_ref().map(String::as_str), &root)
}

fn test_group(alert: &AlertRule, case: &TestCase) -> Yaml {
    let verb = if case.is_firing() { "fires" } else { "stays quiet" };
    let input: Vec<Yaml> = case
        .input
        .iter()
        .map(|s| Yaml::map().entry("series", Yaml::str(&s.series)).entry("values", Yaml::str(&s.values)).build())
        .collect();
    let expected: Vec<Yaml> = case.expected.iter().map(|e| expected_alert(alert, e)).collect();
    let check = Yaml::map()
        .entry("eval_time", Yaml::str(case.eval_time.to_string()))
        .entry("alertname", Yaml::str(&alert.name))
        .entry("exp_alerts", Yaml::Seq(expected))
        .build();
    Yaml::map()
        .entry("name", Yaml::str(format!("{} {verb}: {}", alert.name, case.name)))
        .entry("interval", Yaml::str(case.interval.to_string()))
        .opt("input_series", (!input.is_empty()).then_some(Yaml::Seq(input)))
        .entry("alert_rule_test", Yaml::Seq(vec![check]))
        .build()
}

/// The labels promtool will see: the expression's plus the rule's own.
pub fn expected_labels(alert: &AlertRule, e: &ExpectedAlert) -> BTreeMap<String, String> {
    let mut labels = e.labels.clone();
    labels.extend(alert.labels());
    labels
}

/// The annotations as Prometheus will render them for this alert instance.
pub fn expected_annotations(alert: &AlertRule, e: &ExpectedAlert) -> Result<Vec<(&'static str, String)>, String> {
    alert.annotations().into_iter().map(|(k, v)| template::render(&v, &e.labels, e.value).map(|r| (k, r))).collect()
}

fn expected_alert(alert: &AlertRule, e: &ExpectedAlert) -> Yaml {
    let labels = expected_labels(alert, e);
    // A template this crate cannot render becomes text promtool will reject,
    // and the lint names the cause.
    let annotations = expected_annotations(alert, e)
        .unwrap_or_else(|err| vec![("description", format!("<cannot render expected annotation: {err}>"))]);
    Yaml::map()
        .entry("exp_labels", Yaml::Map(labels.into_iter().map(|(k, v)| (k, Yaml::str(v))).collect()))
        .entry(
            "exp_annotations",
            Yaml::Map(annotations.into_iter().map(|(k, v)| (k.to_string(), Yaml::str(v))).collect()),
        )
        .build()
}
