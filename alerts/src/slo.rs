//! Multi-window, multi-burn-rate SLO alerts (Google SRE workbook ch. 5,
//! Sloth's defaults for a 30-day period).
//!
//! For each SLO this generates one recording rule per window
//! (`slo:sli_error:ratio_rate<window>`, labelled `slo="<id>"`), a paging
//! alert (5m/1h at 14.4x and 30m/6h at 6x the sustainable burn rate) and a
//! ticket alert (2h/1d at 3x and 6h/3d at 1x), each firing only when both the
//! short and the long window exceed the threshold: the long window proves the
//! burn is significant, the short one that it is still happening.
//!
//! Unlike Sloth and Pyrra, it also writes the promtool tests: for each alert
//! synthetic traffic just above and just below its thresholds.

use std::collections::BTreeMap;

use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RecordingRule, Severity, Team};
use crate::testing::{Firing, InputSeries, Quiet, fires, quiet};

/// One burn-rate condition: both windows above `burn` × error budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnWindow {
    pub short: Duration,
    pub long: Duration,
    pub burn: f64,
}

/// The page tier: 2% of a 30-day budget in 1h, or 5% in 6h.
pub const PAGE: [BurnWindow; 2] = [
    BurnWindow { short: Duration::minutes(5), long: Duration::hours(1), burn: 14.4 },
    BurnWindow { short: Duration::minutes(30), long: Duration::hours(6), burn: 6.0 },
];

/// The ticket tier: 10% of the budget in 1d, or in 3d.
pub const TICKET: [BurnWindow; 2] = [
    BurnWindow { short: Duration::hours(2), long: Duration::days(1), burn: 3.0 },
    BurnWindow { short: Duration::hours(6), long: Duration::days(3), burn: 1.0 },
];

/// The placeholder SLI queries use for their range.
pub const WINDOW: &str = "{{window}}";

/// A service level indicator as a ratio of bad to all events, with a way to
/// synthesize traffic at a chosen bad ratio for the generated tests.
pub struct Sli {
    /// Rate of bad events, with [`WINDOW`] as the range.
    pub errors: String,
    /// Rate of all events, with [`WINDOW`] as the range.
    pub total: String,
    /// Labels of the ratio series (the queries' `by` labels).
    pub labels: BTreeMap<String, String>,
    /// Input series producing the given bad-event ratio at a steady rate.
    pub synthesize: Box<dyn Fn(f64) -> Vec<InputSeries>>,
    /// What "bad" means, for alert descriptions ("requests failed with 5xx").
    pub bad_events: &'static str,
}

impl std::fmt::Debug for Sli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sli")
            .field("errors", &self.errors)
            .field("total", &self.total)
            .field("labels", &self.labels)
            .field("bad_events", &self.bad_events)
            .finish_non_exhaustive()
    }
}

/// An objective on an [`Sli`] over a 30-day period.
#[derive(Debug)]
pub struct Slo {
    /// Kebab-case id, the `slo` label value (`backend-availability`).
    pub id: String,
    /// CamelCase alert name prefix (`BackendAvailability`).
    pub alert_prefix: String,
    /// Target as a percentage written as text (`"99.9"`), so thresholds are
    /// printed exactly as the humans wrote them.
    pub objective_percent: &'static str,
    pub sli: Sli,
    pub team: Team,
    pub dashboard: &'static str,
}

/// Every window a recording rule is needed for, shortest first.
fn windows() -> Vec<Duration> {
    let mut w: Vec<Duration> = PAGE.iter().chain(TICKET.iter()).flat_map(|b| [b.short, b.long]).collect();
    w.sort();
    w.dedup();
    w
}

/// `slo:sli_error:ratio_rate5m`, Sloth's naming.
pub fn ratio_metric(window: Duration) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

impl Slo {
    fn objective(&self) -> f64 {
        self.objective_percent.parse::<f64>().expect("objective is a number") / 100.0
    }

    /// The error budget as a ratio, printed without float noise (`0.001`).
    pub fn budget_text(&self) -> String {
        let budget = 1.0 - self.objective();
        let text = format!("{budget:.9}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }

    fn budget(&self) -> f64 {
        self.budget_text().parse().expect("budget is a number")
    }

    pub fn page_alert_name(&self) -> String {
        format!("{}ErrorBudgetBurnFast", self.alert_prefix)
    }

    pub fn ticket_alert_name(&self) -> String {
        format!("{}ErrorBudgetBurnSlow", self.alert_prefix)
    }

    fn recording(&self, window: Duration) -> RecordingRule {
        let w = window.to_string();
        let expr = format!(
            "(\n  {}\n)\n/\n(\n  {}\n)",
            self.sli.errors.replace(WINDOW, &w),
            self.sli.total.replace(WINDOW, &w)
        );
        RecordingRule::new(ratio_metric(window), expr).label("slo", &self.id)
    }

    fn condition(&self, tier: &[BurnWindow; 2]) -> String {
        let budget = self.budget_text();
        let clause = |b: &BurnWindow| {
            let t = format!("({} * {budget})", fmt_burn(b.burn));
            format!(
                "(\n  {short}{{slo=\"{id}\"}} > {t}\nand\n  {long}{{slo=\"{id}\"}} > {t}\n)",
                short = ratio_metric(b.short),
                long = ratio_metric(b.long),
                id = self.id
            )
        };
        format!("{}\nor\n{}", clause(&tier[0]), clause(&tier[1]))
    }

    /// The recording rules and both alerts, as one group.
    pub fn group(&self) -> Group {
        let mut group = Group::new(format!("slo.{}", self.id));
        for w in windows() {
            group = group.record(self.recording(w));
        }
        group.alert(self.alert(true)).alert(self.alert(false))
    }

    fn alert(&self, page: bool) -> Alert<crate::Tested, crate::Tested> {
        let (name, tier, severity, for_duration, horizon) = if page {
            (self.page_alert_name(), &PAGE, Severity::Critical, Duration::minutes(2), "within hours")
        } else {
            (self.ticket_alert_name(), &TICKET, Severity::Warning, Duration::minutes(15), "within days")
        };
        let labels: Vec<(&str, &str)> =
            self.sli.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain([("slo", self.id.as_str())]).collect();
        let slowest = tier[1].burn;
        let fastest = tier[0].burn;
        Alert::new(&name, severity)
            .expr(&self.condition(tier))
            .for_duration(for_duration)
            .team(self.team)
            .dashboard(self.dashboard)
            .summary(&format!(
                "The {} SLO ({}%) is burning its 30-day error budget {}.",
                self.id,
                self.objective_percent,
                if page { "fast" } else { "steadily" }
            ))
            .description(&format!(
                "{{{{ $value | humanizePercentage }}}} of {{{{ $labels.job }}}} events were bad ({}) \
                 while the budget allows {}%; at {}x to {}x the sustainable rate the budget runs out {horizon}.",
                self.sli.bad_events,
                fmt_percent(self.budget() * 100.0),
                fmt_burn(slowest),
                fmt_burn(fastest),
            ))
            .fires(self.firing_case(tier, &labels))
            .stays_quiet(self.quiet_case(tier))
    }

    /// 10% above the lower threshold of the tier: the slower condition must
    /// catch it (the faster one may too, with the same `$value`).
    fn firing_case(&self, tier: &[BurnWindow; 2], labels: &[(&str, &str)]) -> Firing {
        let ratio = round6(tier[1].burn * self.budget() * 1.1);
        let mut case =
            fires(&format!("steady {} bad-event ratio, 1.1x the {}x burn threshold", ratio, fmt_burn(tier[1].burn)))
                .at(Duration::minutes(60));
        for s in (self.sli.synthesize)(ratio) {
            case = case.series(s.series, s.values);
        }
        case.alert_value(labels, ratio)
    }

    /// 10% below the lower threshold of the tier: neither condition holds.
    fn quiet_case(&self, tier: &[BurnWindow; 2]) -> Quiet {
        let ratio = round6(tier[1].burn * self.budget() * 0.9);
        let mut case =
            quiet(&format!("steady {} bad-event ratio, 0.9x the {}x burn threshold", ratio, fmt_burn(tier[1].burn)))
                .at(Duration::minutes(60));
        for s in (self.sli.synthesize)(ratio) {
            case = case.series(s.series, s.values);
        }
        case
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn fmt_burn(b: f64) -> String {
    format!("{b}")
}

fn fmt_percent(p: f64) -> String {
    let s = format!("{:.6}", p);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Synthetic steady traffic: `total` events per sample interval split into
/// good and bad, formatted for promtool's expanding notation over 70 samples.
pub fn steady_counter(per_interval: f64) -> String {
    format!("0+{}x70", fmt_amount(per_interval))
}

/// Per-interval increments with at most six decimals, so the notation stays
/// exact and readable.
pub fn fmt_amount(x: f64) -> String {
    let s = format!("{:.6}", x);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sli() -> Sli {
        Sli {
            errors: "sum(rate(errors[{{window}}]))".into(),
            total: "sum(rate(total[{{window}}]))".into(),
            labels: BTreeMap::new(),
            synthesize: Box::new(|_| Vec::new()),
            bad_events: "errors",
        }
    }

    fn slo() -> Slo {
        Slo {
            id: "x-availability".into(),
            alert_prefix: "XAvailability".into(),
            objective_percent: "99.9",
            sli: sli(),
            team: Team::Etl,
            dashboard: "etl-services",
        }
    }

    #[test]
    fn windows_cover_both_tiers() {
        let w: Vec<String> = windows().iter().map(|d| d.to_string()).collect();
        assert_eq!(w, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
    }

    #[test]
    fn budget_is_printed_exactly() {
        assert_eq!(slo().budget_text(), "0.001");
        let s = Slo { objective_percent: "99", ..slo() };
        assert_eq!(s.budget_text(), "0.01");
    }

    #[test]
    fn page_condition_uses_both_windows() {
        let c = slo().condition(&PAGE);
        assert!(c.contains("slo:sli_error:ratio_rate5m{slo=\"x-availability\"} > (14.4 * 0.001)"));
        assert!(c.contains("slo:sli_error:ratio_rate1h{slo=\"x-availability\"} > (14.4 * 0.001)"));
        assert!(c.contains("slo:sli_error:ratio_rate6h{slo=\"x-availability\"} > (6 * 0.001)"));
        let t = slo().condition(&TICKET);
        assert!(t.contains("slo:sli_error:ratio_rate3d{slo=\"x-availability\"} > (1 * 0.001)"));
    }

    #[test]
    fn group_has_recordings_and_two_alerts() {
        let g = slo().group();
        assert_eq!(g.recordings().count(), 7);
        let names: Vec<&str> = g.alerts().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["XAvailabilityErrorBudgetBurnFast", "XAvailabilityErrorBudgetBurnSlow"]);
        let rec = g.recordings().next().expect("recording");
        assert_eq!(rec.record, "slo:sli_error:ratio_rate5m");
        assert!(rec.expr.contains("rate(errors[5m])"));
    }
}
