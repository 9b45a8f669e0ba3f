//! Alertmanager runs the rendered config: `/api/v2/status` gives the
//! config it loaded (`config.original`), compared with the config the
//! bundle mounts at its `--config.file`.

use serde_json::Value;

use super::{ALERTMANAGER, Finding, Live, RULE_ALERTMANAGER};

pub async fn check(live: &Live<'_>) -> Vec<Finding> {
    let Some(url) = live.base_url(ALERTMANAGER) else { return Vec::new() };
    let url = match url {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    let config_path = live
        .bundle
        .compose
        .services
        .get(ALERTMANAGER.0)
        .and_then(|s| s.command.iter().find_map(|a| a.strip_prefix("--config.file=")).map(str::to_owned))
        .unwrap_or_else(|| "/etc/alertmanager/alertmanager.yml".to_owned());
    let Some((key, _, rendered)) = live.configs_of(ALERTMANAGER.0).into_iter().find(|(_, t, _)| *t == config_path)
    else {
        return vec![live.service_finding(
            RULE_ALERTMANAGER,
            ALERTMANAGER.0,
            format!("the bundle mounts no config at {config_path}"),
        )];
    };
    let file = live.config_source(&key);
    let status = match live.get_json(&format!("{url}/api/v2/status")).await {
        Ok(v) => v,
        Err(e) => {
            return vec![live.service_finding(
                RULE_ALERTMANAGER,
                ALERTMANAGER.0,
                format!("reading /api/v2/status: {e:#}"),
            )];
        }
    };
    let Some(running) = status["config"]["original"].as_str() else {
        return vec![live.service_finding(RULE_ALERTMANAGER, ALERTMANAGER.0, "/api/v2/status has no config.original")];
    };
    let rendered = String::from_utf8_lossy(&rendered);
    let difference = match (serde_saphyr::from_str::<Value>(running), serde_saphyr::from_str::<Value>(&rendered)) {
        (Ok(running), Ok(rendered)) => match differs(&rendered, &running, "") {
            None => return Vec::new(),
            Some(path) => format!("`{path}` differs"),
        },
        (Err(e), _) => format!("its running config does not parse: {e}"),
        (_, Err(e)) => format!("the rendered config does not parse: {e}"),
    };
    vec![Finding::new(
        RULE_ALERTMANAGER,
        file,
        format!("service {}", ALERTMANAGER.0),
        format!(
            "Alertmanager runs another config than the rendered one ({difference}): a reload failed, or the service \
             runs an older revision"
        ),
    )
    .with_hint("see the service's logs for the reload error; `cargo xtask status` for the revision it runs")]
}

/// The first path at which `running` does not hold what `rendered` says;
/// `None` when it holds all of it.
///
/// Alertmanager's `config.original` is its parsed config written out again
/// (defaults filled in, secrets masked as `<secret>`, durations in their
/// shortest form), so the rendered file must be contained in it, not equal
/// to it.
fn differs(rendered: &Value, running: &Value, path: &str) -> Option<String> {
    match (rendered, running) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(k, v)| {
            let at = format!("{path}.{k}");
            match have.get(k) {
                // Alertmanager writes matchers sorted.
                Some(h) if k.ends_with("matchers") => (sorted_strings(v) != sorted_strings(h)).then_some(at),
                Some(h) => differs(v, h, &at),
                None if v.is_null() || v.as_array().is_some_and(Vec::is_empty) => None,
                None => Some(at),
            }
        }),
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                return Some(path.to_owned());
            }
            want.iter().zip(have).enumerate().find_map(|(i, (w, h))| differs(w, h, &format!("{path}[{i}]")))
        }
        (_, Value::String(h)) if h == "<secret>" => None,
        (w, h) if scalar(w) == scalar(h) => None,
        (w, h) => match (scalar(w).as_deref().and_then(duration_ms), scalar(h).as_deref().and_then(duration_ms)) {
            (Some(a), Some(b)) if a == b => None,
            _ => Some(path.to_owned()),
        },
    }
}

fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v.as_array().into_iter().flatten().filter_map(scalar).collect();
    out.sort();
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Prometheus duration (`1h30m`, `500ms`) in milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * ms;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn the_running_config_must_hold_the_rendered_one() {
        let rendered = yaml("route:\n  receiver: a\n  group_wait: 60m\nreceivers:\n  - name: a\n");
        let running = yaml(
            "global:\n  resolve_timeout: 5m\nroute:\n  receiver: a\n  group_wait: 1h\n  continue: false\nreceivers:\n  - name: a\n",
        );
        assert_eq!(differs(&rendered, &running, ""), None);
        let other = yaml("route:\n  receiver: b\n  group_wait: 1h\nreceivers:\n  - name: a\n");
        assert_eq!(differs(&rendered, &other, "").as_deref(), Some(".route.receiver"));
        let masked = yaml("url: <secret>\n");
        assert_eq!(differs(&yaml("url: http://x\n"), &masked, ""), None);
        let sorted = yaml("inhibit_rules:\n  - source_matchers: [b=\"1\", a=\"2\"]\n");
        let running_sorted = yaml("inhibit_rules:\n  - source_matchers:\n      - a=\"2\"\n      - b=\"1\"\n");
        assert_eq!(differs(&sorted, &running_sorted, ""), None);
        assert_eq!(duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(duration_ms("soon"), None);
    }
}
