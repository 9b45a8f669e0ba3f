//! Prometheus loaded every rendered rule group, each rule of it, and none
//! fails to evaluate (`/api/v1/rules`: `health`, `lastError`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Finding, Live, PROMETHEUS, RULE_RULES};

/// One rendered group: the file it comes from and its rules' names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    file: String,
    rules: Vec<String>,
}

pub async fn check(live: &Live<'_>) -> Vec<Finding> {
    let Some(url) = live.base_url(PROMETHEUS) else { return Vec::new() };
    let url = match url {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    let expected = rendered_groups(live);
    if expected.is_empty() {
        return Vec::new();
    }
    let loaded = match live.get_json(&format!("{url}/api/v1/rules")).await {
        Ok(v) => v,
        Err(e) => return vec![live.service_finding(RULE_RULES, PROMETHEUS.0, format!("reading /api/v1/rules: {e:#}"))],
    };
    let loaded: BTreeMap<&str, &Value> = loaded["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| Some((g["name"].as_str()?, g)))
        .collect();
    let mut findings = Vec::new();
    for (name, group) in &expected {
        let Some(running) = loaded.get(name.as_str()) else {
            findings.push(Finding::new(
                RULE_RULES,
                &group.file,
                format!("group {name}"),
                "Prometheus has not loaded this group",
            ));
            continue;
        };
        let rules: BTreeMap<&str, &Value> =
            running["rules"].as_array().into_iter().flatten().filter_map(|r| Some((r["name"].as_str()?, r))).collect();
        for rule in &group.rules {
            let place = format!("group {name} rule {rule}");
            let Some(r) = rules.get(rule.as_str()) else {
                findings.push(Finding::new(RULE_RULES, &group.file, place, "Prometheus has not loaded this rule"));
                continue;
            };
            match r["health"].as_str() {
                Some("ok") => {}
                // Not evaluated yet (just loaded): the next round sees it.
                Some("unknown") => findings.push(Finding::new(
                    RULE_RULES,
                    &group.file,
                    place,
                    "Prometheus has not evaluated this rule yet",
                )),
                health => findings.push(Finding::new(
                    RULE_RULES,
                    &group.file,
                    place,
                    format!(
                        "evaluation fails (health {}): {}",
                        health.unwrap_or("missing"),
                        r["lastError"].as_str().unwrap_or("no error given")
                    ),
                )),
            }
        }
    }
    findings
}

/// Every rule group of the rule files the Prometheus service mounts, by name.
fn rendered_groups(live: &Live<'_>) -> BTreeMap<String, Group> {
    let mut out = BTreeMap::new();
    for (key, _, data) in live.configs_of(PROMETHEUS.0) {
        let text = String::from_utf8_lossy(&data);
        let Ok(doc) = serde_saphyr::from_str::<Value>(&text) else { continue };
        let Some(groups) = doc["groups"].as_array() else { continue };
        let file = live.config_source(&key);
        for g in groups {
            let Some(name) = g["name"].as_str() else { continue };
            let rules = g["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["alert"].as_str().or(r["record"].as_str()).map(str::to_owned))
                .collect();
            out.insert(name.to_owned(), Group { file: file.clone(), rules });
        }
    }
    out
}
