//! Grafana reports every data source healthy, and has every provisioned
//! dashboard and alert rule.
//!
//! Grafana's API needs the admin's credentials, which exist only in the
//! Swarm secret mounted into Grafana's task. So the requests run inside
//! that container (`curl`, which the image has), the password read there
//! from the secret file: it never leaves the container. This needs the
//! Grafana task on the node whose engine verify talks to.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Finding, GRAFANA, Live, RULE_GRAFANA, inside::exec_in};

/// The environment variable naming the admin password file (stack.toml).
const PASSWORD_FILE_ENV: &str = "GF_SECURITY_ADMIN_PASSWORD__FILE";

pub async fn check(live: &Live<'_>) -> Vec<Finding> {
    let Some(svc) = live.bundle.compose.services.get(GRAFANA.0) else { return Vec::new() };
    let Some(password_file) = svc.environment.get(PASSWORD_FILE_ENV) else {
        return vec![live.service_finding(
            RULE_GRAFANA,
            GRAFANA.0,
            format!("no {PASSWORD_FILE_ENV}: verify cannot log in"),
        )];
    };
    let Some(task) = live.tasks_of(GRAFANA.0).next() else {
        return vec![live.service_finding(RULE_GRAFANA, GRAFANA.0, "no running task")];
    };
    let Some(container) = task.container_id.clone() else {
        return vec![live.service_finding(RULE_GRAFANA, GRAFANA.0, "the running task has no container yet")];
    };
    let mut admin = "admin".to_owned();
    let mut port = GRAFANA.1;
    for (_, target, data) in live.configs_of(GRAFANA.0) {
        if target.ends_with("grafana.ini") {
            for line in String::from_utf8_lossy(&data).lines() {
                match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("admin_user", v)) => admin = v.to_owned(),
                    Some(("http_port", v)) => port = v.parse().unwrap_or(port),
                    _ => {}
                }
            }
        }
    }
    let api = Api { live, container: &container, admin: &admin, password_file, port };
    let mut findings = Vec::new();
    let node = live.node_name(&task.node_id);
    let at = |e: anyhow::Error| {
        live.service_finding(RULE_GRAFANA, GRAFANA.0, format!("on node {node}: {e:#}"))
            .with_hint("verify reads Grafana's API inside its container: run it against the engine of that node")
    };

    match api.get("/api/datasources").await {
        Ok(list) => {
            for ds in list.as_array().into_iter().flatten() {
                let (Some(uid), name) = (ds["uid"].as_str(), ds["name"].as_str().unwrap_or_default()) else { continue };
                match api.get(&format!("/api/datasources/uid/{uid}/health")).await {
                    Ok(h) if h["status"].as_str() == Some("OK") => {}
                    Ok(h) => findings.push(live.service_finding(
                        RULE_GRAFANA,
                        GRAFANA.0,
                        format!(
                            "data source {name} (uid {uid}) is not healthy: {}",
                            h["message"].as_str().unwrap_or("")
                        ),
                    )),
                    Err(e) => findings.push(live.service_finding(
                        RULE_GRAFANA,
                        GRAFANA.0,
                        format!("data source {name} (uid {uid}): health check failed: {e:#}"),
                    )),
                }
            }
        }
        Err(e) => return vec![at(e)],
    }

    // Provisioned dashboards: every dashboard JSON the bundle mounts.
    let mut dashboards = Vec::new();
    let mut rule_uids = Vec::new();
    for (key, _, data) in live.configs_of(GRAFANA.0) {
        let text = String::from_utf8_lossy(&data);
        if let Ok(json) = serde_json::from_str::<Value>(&text)
            && let Some(uid) = json["uid"].as_str()
        {
            dashboards.push((live.config_source(&key), uid.to_owned()));
        } else if let Ok(yaml) = serde_saphyr::from_str::<Value>(&text) {
            for g in yaml["groups"].as_array().into_iter().flatten() {
                for r in g["rules"].as_array().into_iter().flatten() {
                    if let Some(uid) = r["uid"].as_str() {
                        let title = r["title"].as_str().unwrap_or(uid).to_owned();
                        rule_uids.push((live.config_source(&key), uid.to_owned(), title));
                    }
                }
            }
        }
    }
    match api.get("/api/search?type=dash-db&limit=5000").await {
        Ok(found) => {
            let have: BTreeSet<&str> =
                found.as_array().into_iter().flatten().filter_map(|d| d["uid"].as_str()).collect();
            for (file, uid) in &dashboards {
                if !have.contains(uid.as_str()) {
                    findings.push(Finding::new(
                        RULE_GRAFANA,
                        file,
                        format!("dashboard {uid}"),
                        "Grafana has not loaded this dashboard",
                    ));
                }
            }
        }
        Err(e) => findings.push(at(e)),
    }
    if !rule_uids.is_empty() {
        match api.get("/api/v1/provisioning/alert-rules").await {
            Ok(found) => {
                let have: BTreeSet<&str> =
                    found.as_array().into_iter().flatten().filter_map(|r| r["uid"].as_str()).collect();
                for (file, uid, title) in &rule_uids {
                    if !have.contains(uid.as_str()) {
                        findings.push(Finding::new(
                            RULE_GRAFANA,
                            file,
                            format!("rule {title} (uid {uid})"),
                            "Grafana has not provisioned this alert rule",
                        ));
                    }
                }
            }
            Err(e) => findings.push(at(e)),
        }
    }
    findings
}

/// Grafana's HTTP API as its admin, from inside its own container.
struct Api<'a> {
    live: &'a Live<'a>,
    container: &'a str,
    admin: &'a str,
    password_file: &'a str,
    port: u16,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        // The password is read by the shell inside the container; it is
        // never part of the command verify sends. $0..$2 keep the values
        // out of the script text.
        let script = r#"curl -fsS -m 15 -u "$1:$(cat "$2")" "$0""#;
        let cmd = vec![
            "sh".to_owned(),
            "-c".into(),
            script.into(),
            format!("http://127.0.0.1:{}{path}", self.port),
            self.admin.to_owned(),
            self.password_file.to_owned(),
        ];
        let (code, out, err) = exec_in(self.live.engine, self.container, cmd).await?;
        anyhow::ensure!(code == 0, "GET {path}: {}", String::from_utf8_lossy(&err).trim());
        serde_json::from_slice(&out).map_err(|e| anyhow::anyhow!("GET {path}: the answer is not JSON: {e}"))
    }
}
