//! JSON output helpers: one canonical text per dashboard.

use serde_json::{Map, Number, Value};

/// A JSON number for `x`, written as an integer when it is one.
///
/// Thresholds such as `80` then read `80`, not `80.0`, which is what Grafana
/// itself writes and what a reviewer expects to see in a diff. Non-finite
/// values have no JSON form and become `null`.
pub(crate) fn number(x: f64) -> Value {
    // 2^53: beyond it an f64 no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= EXACT {
        // The cast is exact: `x` is integral and within ±2^53.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(x as i64);
    }
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// `value` with the keys of every object in sorted order.
///
/// serde_json keeps keys sorted only while its `preserve_order` feature is
/// off, and any crate in the workspace may switch that feature on for
/// everyone. Rebuilding each map in sorted order gives the same text either
/// way.
pub(crate) fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted = Map::new();
            for (k, v) in entries {
                sorted.insert(k, canonical(v));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Pretty JSON with two-space indentation and a trailing newline.
pub(crate) fn pretty(value: Value) -> String {
    let canonical = canonical(value);
    // Serializing a `Value` only fails for maps with non-string keys, which
    // `Value` cannot hold; fall back to the compact form rather than panic.
    let mut text = serde_json::to_string_pretty(&canonical).unwrap_or_else(|_| canonical.to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_floats_become_integers() {
        assert_eq!(number(80.0), json!(80));
        assert_eq!(number(0.85), json!(0.85));
        assert_eq!(number(-3.0), json!(-3));
        assert_eq!(number(f64::NAN), Value::Null);
        assert_eq!(number(f64::NEG_INFINITY), Value::Null);
    }

    #[test]
    fn pretty_sorts_keys_and_ends_with_newline() {
        let text = pretty(json!({"b": 1, "a": {"d": 2, "c": [ {"z": 0, "y": 1} ]}}));
        assert!(text.ends_with("}\n"));
        let a = text.find("\"a\"").unwrap_or(usize::MAX);
        let b = text.find("\"b\"").unwrap_or(0);
        assert!(a < b, "{text}");
        let y = text.find("\"y\"").unwrap_or(usize::MAX);
        let z = text.find("\"z\"").unwrap_or(0);
        assert!(y < z, "{text}");
        assert!(text.contains("\n  \"a\": {\n    \"c\": ["), "{text}");
    }
}
