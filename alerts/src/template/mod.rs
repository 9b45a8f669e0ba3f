//! Renders the subset of Prometheus' Go templates our annotations use.
//!
//! promtool tests compare the *rendered* annotations, so to write the expected
//! text into generated tests we render it here. Supporting only a small,
//! known subset is deliberate: an annotation that uses anything else fails
//! here (and in the lint) instead of producing a test that cannot pass.
//!
//! Supported actions: `{{ $labels.NAME }}`, `{{ $value }}`,
//! `{{ $value | F }}` and `{{ F $value }}` for F in `humanize`,
//! `humanize1024`, `humanizePercentage`, `humanizeDuration`, and
//! `{{ printf "%.Nf" $value }}`.

pub mod gofmt;

use std::collections::BTreeMap;

/// Renders `template` for an alert with the given expression labels and value.
pub fn render(template: &str, labels: &BTreeMap<String, String>, value: Option<f64>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in {template:?}"))?;
        out.push_str(&action(after[..end].trim(), labels, value)?);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(format!("stray `}}}}` in {template:?}"));
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether the text contains any template action.
pub fn is_templated(text: &str) -> bool {
    text.contains("{{")
}

fn action(body: &str, labels: &BTreeMap<String, String>, value: Option<f64>) -> Result<String, String> {
    if body.starts_with('-') || body.ends_with('-') {
        return Err(format!("whitespace trimming is not supported: {{{{{body}}}}}"));
    }
    if let Some(name) = body.strip_prefix("$labels.") {
        return labels.get(name).cloned().ok_or_else(|| format!("label {name:?} is not among the test alert's labels"));
    }
    let need_value = || value.ok_or_else(|| format!("{{{{ {body} }}}} needs the test alert's value"));
    let words: Vec<&str> = body.split_whitespace().collect();
    let (func, arg_is_value) = match words.as_slice() {
        ["$value"] => return Ok(gofmt::fmt_v(need_value()?)),
        ["$value", "|", func] => (*func, true),
        [func, "$value"] => (*func, true),
        ["printf", fmt, "$value"] | ["$value", "|", "printf", fmt] => {
            return printf(fmt, need_value()?);
        }
        _ => (body, false),
    };
    if !arg_is_value {
        return Err(format!("unsupported template action {{{{ {body} }}}}"));
    }
    let v = need_value()?;
    match func {
        "humanize" => Ok(gofmt::humanize(v)),
        "humanize1024" => Ok(gofmt::humanize1024(v)),
        "humanizePercentage" => Ok(gofmt::humanize_percentage(v)),
        "humanizeDuration" => Ok(gofmt::humanize_duration(v)),
        other => Err(format!("unsupported template function {other:?}")),
    }
}

/// `printf "%.Nf"`, the one printf form worth allowing: fixed decimals.
fn printf(fmt: &str, v: f64) -> Result<String, String> {
    let spec = fmt
        .strip_prefix("\"%.")
        .and_then(|s| s.strip_suffix("f\""))
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| format!("unsupported printf format {fmt}; use \"%.Nf\""))?;
    Ok(format!("{v:.spec$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [("instance", "host1:9100"), ("job", "node-exporter")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_labels_and_values() {
        let t = "CPU on {{ $labels.instance }} is {{ $value | humanizePercentage }} busy.";
        assert_eq!(render(t, &labels(), Some(0.95)).expect("renders"), "CPU on host1:9100 is 95% busy.");
        assert_eq!(render("{{humanize $value}}", &labels(), Some(1500.0)).expect("renders"), "1.5k");
        assert_eq!(render("{{ printf \"%.2f\" $value }}", &labels(), Some(0.5)).expect("renders"), "0.50");
        assert_eq!(render("{{ $value }}", &labels(), Some(3.0)).expect("renders"), "3");
        assert_eq!(render("no actions", &labels(), None).expect("renders"), "no actions");
    }

    #[test]
    fn refuses_what_it_cannot_predict() {
        assert!(render("{{ $labels.missing }}", &labels(), None).is_err());
        assert!(render("{{ $value }}", &labels(), None).is_err());
        assert!(render("{{ range . }}", &labels(), None).is_err());
        assert!(render("{{ $value | title }}", &labels(), Some(1.0)).is_err());
        assert!(render("{{ $labels.job ", &labels(), None).is_err());
        assert!(render("}}", &labels(), None).is_err());
    }
}
