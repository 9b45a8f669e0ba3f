//! The log alerts' LogQL, restated as PromQL over one series per log line,
//! so that promtool can evaluate them against fixture log streams (Loki does
//! not run on the project's machines).
//!
//! The translation is exact for the subset the log alerts use, and refuses
//! everything else:
//!
//! - a stream selector `{l="v", m=~"re"}` has PromQL's matcher syntax and
//!   semantics (anchored RE2 regular expressions);
//! - a line filter `|~ `re`` keeps the lines in which Go's `regexp` finds
//!   `re`; as a matcher on a `line` label it becomes `line=~"(?s).*(?:re).*"`,
//!   which Prometheus anchors, so the same Go engine finds `re` anywhere in
//!   the line (`(?s)` lets `.` cross newlines, as an unanchored search does);
//! - `count_over_time(<selector> [range])` counts log lines in the window;
//!   with one sample per line, PromQL's `count_over_time` counts the same;
//! - `sum by (...)`, `/`, `or vector(0)` are the same operators in both.
//!
//! LogQL counts per stream and PromQL per series (here: per line), which
//! agrees only after a `sum`: every selector must therefore sit inside
//! `count_over_time`, and the test fixtures check that the queries sum.

use std::fmt;

/// The metric name standing for "one log line" in the translated query.
pub const LOG_LINE_METRIC: &str = "log_line";

/// The label holding the line's text.
pub const LINE_LABEL: &str = "line";

/// A LogQL construct outside the translated subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedLogql {
    pub query: String,
    pub reason: String,
}

impl fmt::Display for UnsupportedLogql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot restate LogQL as PromQL ({}): {}", self.reason, self.query)
    }
}

impl std::error::Error for UnsupportedLogql {}

/// Restates `query` as PromQL over [`LOG_LINE_METRIC`] series.
pub fn logql_as_promql(query: &str) -> Result<String, UnsupportedLogql> {
    let fail = |reason: &str| UnsupportedLogql { query: query.to_string(), reason: reason.to_string() };
    let mut out = String::new();
    let mut rest = query;
    while let Some(open) = rest.find(['{', '"', '`']) {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        if !from.starts_with('{') {
            // A string outside a selector (there are none in the subset).
            return Err(fail("a string outside a stream selector"));
        }
        if !out.trim_end().ends_with("count_over_time(") {
            return Err(fail("a stream selector outside count_over_time"));
        }
        let close = closing_brace(from).ok_or_else(|| fail("an unterminated stream selector"))?;
        let matchers = from[1..close].trim();
        let mut after = from[close + 1..].trim_start();
        let mut filters = Vec::new();
        loop {
            if let Some(f) = after.strip_prefix("|~") {
                let (re, tail) =
                    string_literal(f.trim_start()).ok_or_else(|| fail("a line filter without a string"))?;
                if re.contains('`') {
                    return Err(fail("a backtick inside a line filter"));
                }
                filters.push(format!("{LINE_LABEL}=~`(?s).*(?:{re}).*`"));
                after = tail.trim_start();
            } else if after.starts_with('|') || after.starts_with("!=") || after.starts_with("!~") {
                return Err(fail("a pipeline stage other than `|~`"));
            } else {
                break;
            }
        }
        if !after.starts_with('[') {
            return Err(fail("a stream selector without a range"));
        }
        let mut all: Vec<String> = Vec::new();
        if !matchers.is_empty() {
            all.push(matchers.to_string());
        }
        all.extend(filters);
        out.push_str(&format!("{LOG_LINE_METRIC}{{{}}}", all.join(", ")));
        out.push(' ');
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing the selector at the start of `s`, skipping
/// quoted and backticked strings.
fn closing_brace(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

/// A backticked string at the start of `s` (LogQL's raw string; the log
/// alerts write every regular expression so): its text and what follows.
fn string_literal(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('`')?;
    let end = body.find('`')?;
    Some((&body[..end], &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restates_a_filtered_count() {
        let q = r#"sum by (stack, service) (count_over_time({stack=~".+"} |~ `(?i)\b(error)\b` [5m]))"#;
        assert_eq!(
            logql_as_promql(q).expect("subset"),
            r#"sum by (stack, service) (count_over_time(log_line{stack=~".+", line=~`(?s).*(?:(?i)\b(error)\b).*`} [5m]))"#
        );
    }

    #[test]
    fn keeps_braces_inside_selector_strings() {
        let q = r#"sum(count_over_time({service=~"a{1}"}[10m])) or vector(0)"#;
        assert_eq!(
            logql_as_promql(q).expect("subset"),
            r#"sum(count_over_time(log_line{service=~"a{1}"} [10m])) or vector(0)"#
        );
    }

    #[test]
    fn refuses_what_it_cannot_restate() {
        for q in [
            r#"sum(rate({a="b"}[5m]))"#,
            r#"sum(count_over_time({a="b"} | json [5m]))"#,
            r#"sum(count_over_time({a="b"} |= "x" [5m]))"#,
            r#"sum(count_over_time({a="b"} != `x` [5m]))"#,
            r#"{a="b"} |~ `x`"#,
            r#"sum(count_over_time({a="b"} |~ "x" [5m]))"#,
        ] {
            assert!(logql_as_promql(q).is_err(), "{q}");
        }
    }
}
