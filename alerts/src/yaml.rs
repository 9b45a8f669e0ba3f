//! A tiny YAML emitter for the subset our files need.
//!
//! Why not a YAML crate: we only ever *write* YAML, and we want one output
//! shape: every string double-quoted (no `no`/`on`/`1e3` surprises), literal
//! block scalars for multi-line PromQL so diffs stay readable, and a fixed key
//! order chosen by the caller. That is a hundred lines, with no `unsafe`
//! dependency behind it: the `serde_yaml` family (deprecated `serde_yaml`,
//! its forks `serde_yaml_ng`, `serde_norway`) sits on `unsafe-libyaml`, a
//! C-to-Rust translation of libyaml.

use std::fmt::Write as _;

/// A YAML node. Maps keep the caller's key order: determinism is the caller's
/// job (use sorted maps for label sets).
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    /// A string; always emitted quoted, or as a literal block when multi-line.
    Str(String),
    /// A number or boolean, emitted verbatim.
    Raw(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    pub fn str(s: impl Into<String>) -> Self {
        Yaml::Str(s.into())
    }

    pub fn int(n: i64) -> Self {
        Yaml::Raw(n.to_string())
    }

    pub fn float(x: f64) -> Self {
        // Rust prints the shortest round-tripping form, which YAML reads back
        // exactly; non-finite values have no place in our files.
        assert!(x.is_finite(), "non-finite number in YAML output");
        Yaml::Raw(format!("{x}"))
    }

    pub fn bool(b: bool) -> Self {
        Yaml::Raw(b.to_string())
    }

    pub fn map() -> MapBuilder {
        MapBuilder(Vec::new())
    }

    fn is_collection(&self) -> bool {
        matches!(self, Yaml::Seq(v) if !v.is_empty()) || matches!(self, Yaml::Map(m) if !m.is_empty())
    }
}

/// Builds a [`Yaml::Map`] fluently, skipping absent optional values.
#[derive(Debug, Default)]
pub struct MapBuilder(Vec<(String, Yaml)>);

impl MapBuilder {
    pub fn entry(mut self, key: &str, value: Yaml) -> Self {
        self.0.push((key.to_string(), value));
        self
    }

    pub fn opt(self, key: &str, value: Option<Yaml>) -> Self {
        match value {
            Some(v) => self.entry(key, v),
            None => self,
        }
    }

    pub fn build(self) -> Yaml {
        Yaml::Map(self.0)
    }
}

/// Renders a document: optional header comment lines, then the node, then a
/// trailing newline.
pub fn document(header: &[&str], root: &Yaml) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    match root {
        Yaml::Map(entries) if !entries.is_empty() => emit_map(&mut out, entries, 0),
        Yaml::Seq(items) if !items.is_empty() => emit_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn emit_map(out: &mut String, entries: &[(String, Yaml)], indent: usize) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str(&key_text(key));
        out.push(':');
        emit_value_after_key(out, value, indent);
    }
}

/// Sequences are indented two spaces under their key, the common style in
/// Prometheus and Grafana examples.
fn emit_value_after_key(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            emit_map(out, entries, indent + 2);
        }
        Yaml::Seq(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            emit_seq(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn emit_seq(out: &mut String, items: &[Yaml], indent: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Yaml::Map(entries) if !entries.is_empty() => emit_map(out, entries, indent + 2),
            Yaml::Seq(inner) if !inner.is_empty() => emit_seq(out, inner, indent + 2),
            scalar => {
                out.push_str(&inline(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar or empty collection on the current line. `block_indent` is where
/// the lines of a literal block go.
fn inline(node: &Yaml, block_indent: usize) -> String {
    debug_assert!(!node.is_collection());
    match node {
        Yaml::Str(s) if literal_block_ok(s) => {
            let mut text = String::from("|-");
            for line in s.split('\n') {
                text.push('\n');
                if !line.is_empty() {
                    text.push_str(&" ".repeat(block_indent));
                    text.push_str(line);
                }
            }
            text
        }
        Yaml::Str(s) => quote(s),
        Yaml::Raw(r) => r.clone(),
        Yaml::Seq(_) => "[]".to_string(),
        Yaml::Map(_) => "{}".to_string(),
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A literal block (`|-`) keeps multi-line PromQL readable, but is only exact
/// when YAML cannot misread it: the first line sets the indentation, so it
/// must start with a visible character; a trailing newline would need `|`
/// instead of `|-`; carriage returns and control characters are not allowed.
fn literal_block_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.ends_with('\n')
        && s.starts_with(|c: char| !c.is_whitespace())
        && !s.lines().any(|l| l.trim().is_empty() && !l.is_empty())
        && !s.chars().any(|c| c != '\n' && needs_escape(c))
}

/// Keys are label names, Grafana field names and the like; quote anything
/// that could be read as something else.
fn key_text(key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { key.to_string() } else { quote(key) }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{85}')
}

/// Double-quoted scalar: the one style where every character can be written.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let n = c as u32;
                if n <= 0xff {
                    let _ = write!(out, "\\x{n:02x}");
                } else {
                    let _ = write!(out, "\\u{n:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(entries: Vec<(&str, Yaml)>) -> Yaml {
        Yaml::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn quotes_awkward_strings() {
        assert_eq!(quote(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote(r"C:\path"), r#""C:\\path""#);
        assert_eq!(quote("{{ $labels.job }}"), r#""{{ $labels.job }}""#);
        assert_eq!(quote("a\nb\tc"), r#""a\nb\tc""#);
        assert_eq!(quote("bell\u{7}"), r#""bell\x07""#);
        assert_eq!(quote("sep\u{2028}"), r#""sep\u2028""#);
        assert_eq!(quote("no"), r#""no""#);
        assert_eq!(quote("héllo ✓"), "\"héllo ✓\"");
    }

    #[test]
    fn nested_structure() {
        let doc = m(vec![
            (
                "groups",
                Yaml::Seq(vec![m(vec![
                    ("name", Yaml::str("g")),
                    (
                        "rules",
                        Yaml::Seq(vec![m(vec![
                            ("alert", Yaml::str("A")),
                            ("expr", Yaml::str("sum(x)\n/\nsum(y)")),
                            ("labels", m(vec![("severity", Yaml::str("warning"))])),
                        ])]),
                    ),
                ])]),
            ),
            ("empty_list", Yaml::Seq(vec![])),
            ("empty_map", Yaml::Map(vec![])),
            ("count", Yaml::int(3)),
        ]);
        let expected = "# header\n\
groups:
  - name: \"g\"
    rules:
      - alert: \"A\"
        expr: |-
          sum(x)
          /
          sum(y)
        labels:
          severity: \"warning\"
empty_list: []
empty_map: {}
count: 3
";
        assert_eq!(document(&["header"], &doc), expected);
    }

    #[test]
    fn literal_block_only_when_exact() {
        assert!(literal_block_ok("a\nb"));
        assert!(literal_block_ok("a\n\n  b"));
        assert!(!literal_block_ok("single line"));
        assert!(!literal_block_ok(" leading\nspace"));
        assert!(!literal_block_ok("trailing\n"));
        assert!(!literal_block_ok("a\r\nb"));
        assert!(!literal_block_ok("a\n   \nb"));
        // Falls back to a quoted scalar with escapes.
        let doc = m(vec![("k", Yaml::str(" x\ny"))]);
        assert_eq!(document(&[], &doc), "k: \" x\\ny\"\n");
    }

    #[test]
    fn keys_that_look_like_other_things_are_quoted() {
        assert_eq!(key_text("severity"), "severity");
        assert_eq!(key_text("on"), "\"on\"");
        assert_eq!(key_text("a-b"), "\"a-b\"");
        assert_eq!(key_text("1x"), "\"1x\"");
    }

    /// What a YAML parser should read back, as JSON, for comparison.
    fn to_json(node: &Yaml) -> serde_json::Value {
        match node {
            Yaml::Str(s) => serde_json::Value::String(s.clone()),
            Yaml::Raw(r) => serde_json::from_str(r).expect("raw scalars are JSON numbers or booleans"),
            Yaml::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
            Yaml::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
            }
        }
    }

    #[test]
    fn awkward_strings_round_trip_through_a_yaml_parser() {
        let awkward = [
            "plain",
            "",
            " leading and trailing ",
            r#"say "hi" and 'bye'"#,
            r"back\slash \n not a newline",
            "{{ $labels.job }} at {{ $value | humanizePercentage }}",
            "multi\nline\n  indented\n\nblank above",
            "ends with newline\n",
            "\nstarts with newline",
            " indented first line\nsecond",
            "tab\there",
            "crlf\r\nline",
            "# not a comment",
            "key: value",
            "- not a list",
            "&anchor *alias !tag %directive @at `tick`",
            "yes",
            "~",
            "null",
            "1e3",
            "0x1F",
            "bell\u{7} nul\u{0} del\u{7f}",
            "unicode \u{2713} \u{65e5}\u{672c} \u{2028} \u{feff}",
            "sum(rate(x[5m]))\n/\nsum(rate(y[5m])) > 0.9",
            "whitespace-only line\n   \nbelow",
        ];
        let doc = Yaml::Map(
            awkward
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    [
                        (format!("k{i}"), Yaml::str(*s)),
                        (format!("nested{i}"), Yaml::Seq(vec![m(vec![("v", Yaml::str(*s))])])),
                    ]
                })
                .chain([(String::from("weird key: #"), Yaml::str("v")), (String::from("on"), Yaml::int(-1))])
                .collect(),
        );
        let text = document(&["round trip"], &doc);
        let parsed: serde_json::Value = serde_saphyr::from_str(&text).expect("emitted YAML parses");
        assert_eq!(parsed, to_json(&doc), "{text}");
    }

    #[test]
    fn sequences_of_scalars_and_nested_sequences() {
        let doc =
            m(vec![("rule_files", Yaml::Seq(vec![Yaml::str("a.yml"), Yaml::Seq(vec![Yaml::int(1), Yaml::int(2)])]))]);
        assert_eq!(document(&[], &doc), "rule_files:\n  - \"a.yml\"\n  - - 1\n    - 2\n");
    }
}
