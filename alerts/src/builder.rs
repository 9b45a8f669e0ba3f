//! The alert builder: an alert reaches a [`crate::Group`] only once it has
//! a firing and a quiet test case, checked by the compiler.

use std::marker::PhantomData;

use crate::duration::Duration;
use crate::model::{AlertRule, Severity, Team};
use crate::testing::{Firing, Quiet};

/// Type-state marker: the alert still lacks this kind of test case.
#[derive(Debug)]
pub enum Untested {}

/// Type-state marker: the alert has this kind of test case.
#[derive(Debug)]
pub enum Tested {}

/// An alerting rule under construction.
///
/// `F` tracks the firing case, `Q` the quiet case; [`crate::Group::alert`]
/// only takes `Alert<Tested, Tested>`, so an untested alert does not compile:
///
/// ```compile_fail
/// use alerts::{Alert, Group, Severity};
/// let untested = Alert::new("NeverTested", Severity::Info).expr("vector(1)");
/// Group::new("g").alert(untested);
/// ```
///
/// ```
/// use alerts::{Alert, Duration, Group, Severity, fires, quiet};
/// let tested = Alert::new("QueueBacklog", Severity::Warning)
///     .expr("queue_depth > 100")
///     .summary("A queue is backed up.")
///     .description("{{ $labels.queue }} holds {{ $value }} items.")
///     .fires(fires("deep").at(Duration::minutes(5)).series("queue_depth{queue=\"a\"}", "500x10")
///         .alert_value(&[("queue", "a")], 500.0))
///     .stays_quiet(quiet("shallow").series("queue_depth{queue=\"a\"}", "5x10"));
/// let group = Group::new("g").alert(tested);
/// assert_eq!(group.alerts().count(), 1);
/// ```
#[derive(Debug)]
pub struct Alert<F = Untested, Q = Untested> {
    rule: AlertRule,
    state: PhantomData<(F, Q)>,
}

impl Alert {
    /// Starts an alert.
    ///
    /// # Panics
    /// If `name` is not CamelCase (`^([A-Z]+[a-z0-9]+)+$`): names are
    /// literals in this crate, so a bad one is a programming error.
    pub fn new(name: &str, severity: Severity) -> Self {
        assert!(is_camel_case(name), "alert name {name:?} is not CamelCase");
        Alert {
            rule: AlertRule {
                name: name.into(),
                expr: String::new(),
                for_duration: None,
                keep_firing_for: None,
                severity: Some(severity),
                team: None,
                extra_labels: Default::default(),
                summary: String::new(),
                description: String::new(),
                runbook_url: None,
                dashboard_uid: None,
                dashboard_url: None,
                tests: Vec::new(),
                always_firing: false,
            },
            state: PhantomData,
        }
    }
}

impl<F, Q> Alert<F, Q> {
    fn retype<F2, Q2>(self) -> Alert<F2, Q2> {
        Alert { rule: self.rule, state: PhantomData }
    }

    /// The PromQL expression. Multi-line text is de-indented, so it can be
    /// written as an indented raw string in the source.
    pub fn expr(mut self, expr: &str) -> Self {
        self.rule.expr = dedent(expr);
        self
    }

    /// How long the condition must hold before the alert fires.
    pub fn for_duration(mut self, d: Duration) -> Self {
        self.rule.for_duration = Some(d);
        self
    }

    /// How long the alert keeps firing after the condition clears.
    pub fn keep_firing_for(mut self, d: Duration) -> Self {
        self.rule.keep_firing_for = Some(d);
        self
    }

    pub fn team(mut self, team: Team) -> Self {
        self.rule.team = Some(team);
        self
    }

    /// An additional static label.
    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.rule.extra_labels.insert(name.into(), value.into());
        self
    }

    /// One sentence, no templating, capital first letter, final period.
    pub fn summary(mut self, text: &str) -> Self {
        self.rule.summary = text.into();
        self
    }

    /// The specifics, templated with `{{ $labels.x }}` / `{{ $value }}`.
    pub fn description(mut self, text: &str) -> Self {
        self.rule.description = text.into();
        self
    }

    /// Links the alert to a generated dashboard.
    pub fn dashboard(mut self, uid: &str) -> Self {
        self.rule.dashboard_uid = Some(uid.into());
        self
    }

    /// Adds a case in which the alert must fire.
    pub fn fires(mut self, case: Firing) -> Alert<Tested, Q> {
        self.rule.tests.push(case.0);
        self.retype()
    }

    /// Adds a case in which the alert must stay quiet.
    pub fn stays_quiet(mut self, case: Quiet) -> Alert<F, Tested> {
        self.rule.tests.push(case.0);
        self.retype()
    }

    /// The plain rule, test gate or not: for tooling and lint tests.
    pub fn into_rule(self) -> AlertRule {
        self.rule
    }
}

impl Alert<Tested, Untested> {
    /// Marks an alert that fires by design at every evaluation (a dead-man's
    /// switch), which therefore has no quiet case.
    pub fn always_firing(mut self) -> Alert<Tested, Tested> {
        self.rule.always_firing = true;
        self.retype()
    }
}

/// `^([A-Z]+[a-z0-9]+)+$` without a regex engine: ASCII alphanumerics,
/// starting upper-case and ending lower-case or digit (runs alternate).
pub fn is_camel_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Removes the common leading indentation and surrounding blank lines.
pub fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else { return String::new() };
    let lines = &lines[first..=last];
    let indent =
        lines.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    lines.iter().map(|l| if l.trim().is_empty() { "" } else { l[indent..].trim_end() }).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fires, quiet};

    #[test]
    fn camel_case() {
        for ok in ["Watchdog", "HostDiskWillFillIn24Hours", "HTTPErrors", "A1"] {
            assert!(is_camel_case(ok), "{ok}");
        }
        for bad in ["", "watchdog", "HostDown_", "HOST", "Host-Down", "Host Down", "HostDOWN"] {
            assert!(!is_camel_case(bad), "{bad}");
        }
    }

    #[test]
    #[should_panic(expected = "not CamelCase")]
    fn rejects_bad_names() {
        let _ = Alert::new("host_down", Severity::Warning);
    }

    #[test]
    fn dedents_expressions() {
        let e = "\n        sum(a)\n          /\n        sum(b)\n    ";
        assert_eq!(dedent(e), "sum(a)\n  /\nsum(b)");
        assert_eq!(dedent("up == 0"), "up == 0");
    }

    #[test]
    fn builder_fills_the_rule() {
        let a = Alert::new("NodeDown", Severity::Critical)
            .expr("up == 0")
            .for_duration(Duration::minutes(5))
            .keep_firing_for(Duration::minutes(1))
            .team(Team::Platform)
            .label("tier", "infra")
            .summary("A node is down.")
            .description("{{ $labels.instance }} is down.")
            .dashboard("etl-hosts")
            .fires(fires("down").series("up", "0x10").alert(&[("instance", "a")]))
            .stays_quiet(quiet("up").series("up", "1x10"))
            .into_rule();
        assert_eq!(a.labels().get("severity").map(String::as_str), Some("critical"));
        assert_eq!(a.labels().get("team").map(String::as_str), Some("platform"));
        assert_eq!(a.labels().get("tier").map(String::as_str), Some("infra"));
        assert_eq!(a.tests.len(), 2);
        assert_eq!(a.for_duration, Some(Duration::minutes(5)));
        assert_eq!(a.dashboard_uid.as_deref(), Some("etl-hosts"));
    }
}
