//! Line diffs of changed text (queries, expressions, configs) for the
//! review, through `similar`; PromQL is formatted first with
//! promql-parser's pretty-printer, so a diff shows which part changed.

use similar::TextDiff;

use crate::check::promql;

/// `-`/`+`/` ` lines of the changed hunks, with three lines of context;
/// empty when the texts are equal.
pub fn unified(before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    let before = with_newline(before);
    let after = with_newline(after);
    let diff = TextDiff::from_lines(&before, &after);
    let mut out = String::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push_str("…\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(sign);
                out.push_str(change.value());
            }
        }
    }
    out
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") }
}

/// Grafana's duration macros and the sentinel durations `check` parses
/// them as (distinct values no real query uses).
const DURATION_MACROS: &[(&str, u64)] = &[
    ("__rate_interval", promql::RATE_INTERVAL_MS),
    ("__interval", promql::INTERVAL_MS),
    ("__range", promql::RANGE_MS),
    ("__auto", promql::AUTO_MS),
];

/// PromQL as promql-parser pretty-prints it (one clause per line when
/// long). Grafana's duration macros (`[$__rate_interval]`) are parsed as
/// sentinel durations and written back; an expression that still does not
/// parse (e.g. a variable where a number belongs) is kept as it is, so the
/// diff still shows the change.
pub fn formatted_promql(expr: &str) -> String {
    let mut parseable = expr.to_owned();
    for (name, ms) in DURATION_MACROS {
        let sentinel = format!("{ms}ms");
        parseable = parseable.replace(&format!("${{{name}}}"), &sentinel).replace(&format!("${name}"), &sentinel);
    }
    let Ok(parsed) = promql_parser::parser::parse(&parseable) else { return expr.to_owned() };
    let mut pretty = parsed.prettify();
    for (name, ms) in DURATION_MACROS {
        let shown = promql_parser::util::display_duration(&std::time::Duration::from_millis(*ms));
        pretty = pretty.replace(&shown, &format!("${name}"));
    }
    pretty
}

/// Diff of two PromQL expressions, both formatted.
pub fn promql(before: &str, after: &str) -> String {
    unified(&formatted_promql(before), &formatted_promql(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_lines_are_signed() {
        assert_eq!(unified("a\nb\nc\n", "a\nB\nc\n"), " a\n-b\n+B\n c\n");
        assert_eq!(unified("same", "same"), "");
    }

    #[test]
    fn promql_is_formatted_before_diffing() {
        let diff = promql("sum by (job) (rate(x[5m])) > 0.9", "sum by (job) (rate(x[5m])) > 0.95");
        assert!(diff.contains("-") && diff.contains("> 0.95"), "{diff}");
        assert_eq!(
            formatted_promql(
                "sum by (instance) (rate(node_cpu_seconds_total{mode=\"idle\",nodename=~\"$node\"}[$__rate_interval]))"
            ),
            "sum by (instance) (rate(node_cpu_seconds_total{mode=\"idle\",nodename=~\"$node\"}[$__rate_interval]))"
        );
        assert_eq!(formatted_promql("topk($n, x)"), "topk($n, x)", "kept as it is when it does not parse");
        let long = "(1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval]))) * on(instance) group_left(nodename) max by (instance, nodename) (node_uname_info{nodename=~\"$node\"})";
        assert_eq!(
            formatted_promql(long),
            "  (1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval])))\n* on (instance) group_left (nodename)\n  max by (instance, nodename) (node_uname_info{nodename=~\"$node\"})"
        );
    }
}
