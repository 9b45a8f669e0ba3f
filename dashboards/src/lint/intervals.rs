//! Rules on range windows: `$__rate_interval` for PromQL rates, Grafana
//! interval macros for LogQL range aggregations.

use super::finding::finding;
use super::scan::range_calls;
use crate::{Dashboard, Datasource, Element};
use report::Finding;

/// PromQL functions whose window must be `$__rate_interval`: a fixed window
/// shorter than two scrapes returns nothing, and one much longer than the
/// step hides spikes. Grafana sizes `$__rate_interval` from both.
const PROMQL_RATES: [&str; 3] = ["rate", "irate", "increase"];

/// LogQL range aggregations.
const LOGQL_RANGES: [&str; 15] = [
    "rate",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "rate_counter",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "absent_over_time",
];

/// Windows that follow the dashboard's time range and step.
const GRAFANA_WINDOWS: [&str; 4] = ["$__auto", "$__interval", "$__range", "$__rate_interval"];

pub(super) fn check(d: &Dashboard, problems: &mut Vec<Finding>) {
    for element in d.elements() {
        let Element::Panel(panel) = element else {
            continue;
        };
        for target in panel.target_list() {
            let here = format!("{} target {}", element.location(), target.ref_id_str().unwrap_or_default());
            match target.language() {
                Datasource::Prometheus => {
                    for call in range_calls(target.expr(), &PROMQL_RATES) {
                        if call.ranges.is_empty() {
                            problems.push(finding(
                                d.uid(),
                                &here,
                                format!("{}() without a [$__rate_interval] range", call.function),
                            ));
                        }
                        for range in call.ranges.iter().filter(|r| *r != "$__rate_interval") {
                            problems.push(finding(
                                d.uid(),
                                &here,
                                format!(
                                    "{}() over [{range}]; use [$__rate_interval], which Grafana sizes from the scrape interval and the step",
                                    call.function
                                ),
                            ));
                        }
                    }
                }
                Datasource::Loki => {
                    for call in range_calls(target.expr(), &LOGQL_RANGES) {
                        for range in call.ranges.iter().filter(|r| !GRAFANA_WINDOWS.contains(&r.as_str())) {
                            problems.push(finding(
                                d.uid(),
                                &here,
                                format!(
                                    "{}() over [{range}]; use [$__auto] (or [$__range] for a total over the time range)",
                                    call.function
                                ),
                            ));
                        }
                    }
                }
                Datasource::Alertmanager => {}
            }
        }
    }
}
