//! Prometheus rule file YAML.

use crate::model::{AlertRule, Group, RecordingRule, Rule, RuleFile};
use crate::yaml::{self, Yaml};

pub fn rule_file_yaml(file: &RuleFile) -> String {
    let groups = file.groups.iter().map(group).collect();
    let root = Yaml::map().entry("groups", Yaml::Seq(groups)).build();
    let header = super::header(&format!("alerts/src/rules/ ({})", file.subject));
    yaml::document(&header.each_ref().map(String::as_str), &root)
}

fn group(g: &Group) -> Yaml {
    Yaml::map()
        .entry("name", Yaml::str(&g.name))
        .opt("interval", g.interval.map(|d| Yaml::str(d.to_string())))
        .entry("rules", Yaml::Seq(g.rules.iter().map(rule).collect()))
        .build()
}

fn rule(r: &Rule) -> Yaml {
    match r {
        Rule::Alert(a) => alert(a),
        Rule::Record(r) => record(r),
    }
}

fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Yaml {
    Yaml::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), Yaml::str(v))).collect())
}

fn alert(a: &AlertRule) -> Yaml {
    let labels = a.labels();
    let annotations = a.annotations();
    Yaml::map()
        .entry("alert", Yaml::str(&a.name))
        .entry("expr", Yaml::str(&a.expr))
        .opt("for", a.for_duration.map(|d| Yaml::str(d.to_string())))
        .opt("keep_firing_for", a.keep_firing_for.map(|d| Yaml::str(d.to_string())))
        .opt("labels", (!labels.is_empty()).then(|| string_map(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))))
        .opt(
            "annotations",
            (!annotations.is_empty()).then(|| string_map(annotations.iter().map(|(k, v)| (*k, v.as_str())))),
        )
        .build()
}

fn record(r: &RecordingRule) -> Yaml {
    Yaml::map()
        .entry("record", Yaml::str(&r.record))
        .entry("expr", Yaml::str(&r.expr))
        .opt(
            "labels",
            (!r.labels.is_empty()).then(|| string_map(r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
        )
        .build()
}
