//! Small scanners over query text: variable references and range selectors.
//!
//! Neither PromQL nor LogQL parses while Grafana's `$variables` are still in
//! it, so these work on the raw text. They understand just enough syntax to
//! stay out of string literals.

/// Names of the template variables `text` references, in order of
/// appearance: `$name`, `${name}`, `${name:format}`, `${name.field}` and
/// `[[name]]`, `[[name:format]]`. Grafana's built-ins (`$__rate_interval`,
/// `${__from}`, …) and regex back-references such as `$1` are left out.
pub(crate) fn variable_refs(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (name, next) = match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let end = word_end(bytes, i + 2);
                (&text[i + 2..end], end)
            }
            b'$' => {
                let end = word_end(bytes, i + 1);
                (&text[i + 1..end], end)
            }
            b'[' if bytes.get(i + 1) == Some(&b'[') => {
                let end = word_end(bytes, i + 2);
                // Only `[[name]]` or `[[name:` is a variable; `[[` alone is not.
                let closes = bytes.get(end) == Some(&b']') || bytes.get(end) == Some(&b':');
                (if closes { &text[i + 2..end] } else { "" }, end.max(i + 2))
            }
            _ => ("", i + 1),
        };
        if !name.is_empty() && !name.starts_with("__") && !name.bytes().all(|b| b.is_ascii_digit()) {
            found.push(name.to_owned());
        }
        i = next.max(i + 1);
    }
    found
}

fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    end
}

/// A call of one of the range functions looked for, with the ranges
/// written directly in its arguments (`rate(x[5m])` → `5m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeCall {
    pub(crate) function: String,
    /// The duration part of each `[…]` at the call's own level; for a
    /// subquery `[5m:1m]` that is `5m`.
    pub(crate) ranges: Vec<String>,
}

/// Every call in `expr` of a function named in `functions`.
pub(crate) fn range_calls(expr: &str, functions: &[&str]) -> Vec<RangeCall> {
    let bytes = expr.as_bytes();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_quote(b) {
            i = skip_string(bytes, i);
            continue;
        }
        let starts_word = b.is_ascii_alphabetic() || b == b'_';
        let after_word_char =
            i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b':' | b'$'));
        if !starts_word || after_word_char {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b':')) {
            end += 1;
        }
        let word = &expr[i..end];
        let mut open = end;
        while open < bytes.len() && bytes[open].is_ascii_whitespace() {
            open += 1;
        }
        if bytes.get(open) == Some(&b'(') && functions.contains(&word) {
            calls.push(RangeCall { function: word.to_owned(), ranges: ranges_in_call(expr, open) });
        }
        i = end;
    }
    calls
}

/// The `[…]` contents at depth 0 of the call whose `(` is at `open`.
fn ranges_in_call(expr: &str, open: usize) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut ranges = Vec::new();
    let mut depth = 0usize;
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            q if is_quote(q) => {
                i = skip_string(bytes, i);
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => break,
            b')' => depth -= 1,
            b'[' if depth == 0 => {
                let close = expr[i + 1..].find(']').map_or(bytes.len(), |k| i + 1 + k);
                let inside = &expr[i + 1..close];
                let duration = inside.split(':').next().unwrap_or_default().trim();
                ranges.push(duration.to_owned());
                i = close;
            }
            _ => {}
        }
        i += 1;
    }
    ranges
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}

/// The index just past the string literal starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            // Backticks are raw strings in both PromQL and LogQL.
            b'\\' if quote != b'`' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_all_variable_syntaxes() {
        let refs = variable_refs(
            r#"up{a=~"$node", b="${svc}", c="${fmt:regex}", d="[[old]]", e="[[x:csv]]", f="${obj.field}"}"#,
        );
        assert_eq!(refs, ["node", "svc", "fmt", "old", "x", "obj"]);
    }

    #[test]
    fn skips_builtins_and_backreferences() {
        let refs = variable_refs(r#"rate(x[$__rate_interval]) ${__from} label_replace(a, "b", "$1", "c", "(.*)")"#);
        assert!(refs.is_empty(), "{refs:?}");
    }

    #[test]
    fn ignores_lone_dollars_and_brackets() {
        assert!(variable_refs("cost in $ and [[ ]] and a[1]").is_empty());
    }

    #[test]
    fn finds_ranges_of_rate_functions() {
        let calls = range_calls(
            r#"sum by (job) (rate(a{x="rate(b[1m])"}[$__rate_interval])) / increase(c[5m:30s]) + irate(d[1h])"#,
            &["rate", "irate", "increase"],
        );
        let got: Vec<(&str, Vec<&str>)> =
            calls.iter().map(|c| (c.function.as_str(), c.ranges.iter().map(String::as_str).collect())).collect();
        assert_eq!(got, [("rate", vec!["$__rate_interval"]), ("increase", vec!["5m"]), ("irate", vec!["1h"]),]);
    }

    #[test]
    fn does_not_mistake_names_containing_rate() {
        let calls = range_calls("http_rate(x) + $__rate_interval + rate_limit{rate=\"1\"}", &["rate"]);
        assert!(calls.is_empty(), "{calls:?}");
    }

    #[test]
    fn finds_logql_ranges_after_pipelines() {
        let calls = range_calls(
            r#"sum by (service) (count_over_time({stack="etl"} |~ `(?i)error[s]?` [$__auto]))"#,
            &["count_over_time"],
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].ranges, ["$__auto"]);
    }
}
