//! Line diffs of changed text (queries, expressions, configs) for the
//! review, through `similar`; PromQL is formatted first with
//! promql-parser's pretty-printer, so a diff shows which part changed.

use similar::TextDiff;

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

/// PromQL as promql-parser pretty-prints it (one clause per line when long);
/// the text itself when it does not parse (e.g. Grafana's `$__rate_interval`
/// in a range), so the diff still shows the change.
pub fn formatted_promql(expr: &str) -> String {
    match promql_parser::parser::parse(expr) {
        Ok(parsed) => parsed.prettify(),
        Err(_) => expr.to_owned(),
    }
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
        assert_eq!(formatted_promql("rate(x[$__rate_interval])"), "rate(x[$__rate_interval])");
    }
}
