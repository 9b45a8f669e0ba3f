//! Loki receives log lines from every node: Promtail labels each line with
//! its node's hostname (`node`), and every ready node of the Swarm must have
//! sent some within the last [`WINDOW`].

use std::collections::BTreeSet;

use super::{Finding, LOKI, Live, RULE_LOKI, form_encode};

/// How far back a node's lines count.
const WINDOW: &str = "10m";

pub async fn check(live: &Live<'_>) -> Vec<Finding> {
    let Some(url) = live.base_url(LOKI) else { return Vec::new() };
    let url = match url {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    let query = format!("sum by (node) (count_over_time({{node=~\".+\"}}[{WINDOW}]))");
    let answer = match live.get_json(&format!("{url}/loki/api/v1/query?query={}", form_encode(&query))).await {
        Ok(v) => v,
        Err(e) => return vec![live.service_finding(RULE_LOKI, LOKI.0, format!("querying lines per node: {e:#}"))],
    };
    let sending: BTreeSet<&str> = answer["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metric"]["node"].as_str())
        .collect();
    live.nodes
        .values()
        .filter(|host| !sending.contains(host.as_str()))
        .map(|host| {
            live.service_finding(RULE_LOKI, LOKI.0, format!("no log line from node {host} in the last {WINDOW}"))
                .with_hint("is promtail running on that node, and can it reach loki?")
        })
        .collect()
}
