//! promtool unit-test cases, written next to the rule they test.
//!
//! A case is either [`Firing`] (the alert must fire with exactly these label
//! sets) or [`Quiet`] (it must not fire). Keeping them distinct types lets
//! [`crate::Alert`] demand one of each at compile time.

use std::collections::BTreeMap;

use crate::duration::Duration;

/// One promtool test group: input series, one evaluation time, expectations.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub name: String,
    /// Spacing of the input samples.
    pub interval: Duration,
    pub eval_time: Duration,
    pub input: Vec<InputSeries>,
    /// Empty: the alert must not fire at `eval_time`.
    pub expected: Vec<ExpectedAlert>,
}

/// A series in promtool's expanding notation (`0+10x30`, `_`, `stale`).
#[derive(Clone, Debug, PartialEq)]
pub struct InputSeries {
    pub series: String,
    pub values: String,
}

/// An alert instance that must be firing.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedAlert {
    /// The labels the rule's expression produces; the rule's own labels
    /// (`severity`, `team`, ...) are added when the test is written.
    pub labels: BTreeMap<String, String>,
    /// The alert's `$value` at `eval_time`, needed when annotations show it.
    pub value: Option<f64>,
}

/// A case in which the alert fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing(pub(crate) TestCase);

/// A case in which the alert stays quiet.
#[derive(Clone, Debug, PartialEq)]
pub struct Quiet(pub(crate) TestCase);

/// Starts a case in which the alert must fire.
pub fn fires(name: &str) -> Firing {
    Firing(TestCase::new(name))
}

/// Starts a case in which the alert must not fire.
pub fn quiet(name: &str) -> Quiet {
    Quiet(TestCase::new(name))
}

impl TestCase {
    fn new(name: &str) -> Self {
        TestCase {
            name: name.into(),
            interval: Duration::minutes(1),
            eval_time: Duration::minutes(10),
            input: Vec::new(),
            expected: Vec::new(),
        }
    }

    pub fn is_firing(&self) -> bool {
        !self.expected.is_empty()
    }
}

fn label_map(labels: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

macro_rules! case_builders {
    ($ty:ident) => {
        impl $ty {
            /// When to evaluate (time since the first sample).
            pub fn at(mut self, eval_time: Duration) -> Self {
                self.0.eval_time = eval_time;
                self
            }

            /// Sample spacing, 1m unless set.
            pub fn every(mut self, interval: Duration) -> Self {
                self.0.interval = interval;
                self
            }

            /// An input series: a selector and its values.
            pub fn series(mut self, series: impl Into<String>, values: impl Into<String>) -> Self {
                self.0.input.push(InputSeries { series: series.into(), values: values.into() });
                self
            }

            pub fn case(&self) -> &TestCase {
                &self.0
            }
        }
    };
}

case_builders!(Firing);
case_builders!(Quiet);

impl Firing {
    /// Expects an alert with these expression labels, when the annotations
    /// do not show `$value`.
    pub fn alert(mut self, labels: &[(&str, &str)]) -> Self {
        self.0.expected.push(ExpectedAlert { labels: label_map(labels), value: None });
        self
    }

    /// Expects an alert with these expression labels and this `$value`.
    pub fn alert_value(mut self, labels: &[(&str, &str)], value: f64) -> Self {
        self.0.expected.push(ExpectedAlert { labels: label_map(labels), value: Some(value) });
        self
    }
}

/// Writes a series selector: `name{k="v",...}` with escaped values.
pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let body: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{name}{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_cases() {
        let f =
            fires("busy").at(Duration::minutes(20)).series("up{job=\"x\"}", "0x30").alert_value(&[("job", "x")], 0.0);
        assert!(f.case().is_firing());
        assert_eq!(f.case().eval_time, Duration::minutes(20));
        let q = quiet("idle").series("up{job=\"x\"}", "1x30");
        assert!(!q.case().is_firing());
    }

    #[test]
    fn series_escapes_values() {
        assert_eq!(series("m", &[("a", "x\"y"), ("b", "c\\d")]), r#"m{a="x\"y",b="c\\d"}"#);
        assert_eq!(series("up", &[]), "up{}");
    }
}
