//! A plan for people (like a good infrastructure plan: symbols, one line
//! per service, the differing fields under it) and for machines (JSON with
//! a `format` number; fields are only ever added).

use std::fmt::Write as _;

use serde_json::json;

use super::Plan;
use crate::history::revision::Action;
use crate::swarm::compare;

pub fn human(plan: &Plan, engine: &str, current: Option<u64>) -> String {
    let mut out = String::new();
    let rev = current.map_or("no revision recorded yet".to_owned(), |n| format!("current revision {n}"));
    let _ = writeln!(out, "Stack `{}` on {engine}, {rev}\n", plan.stack);
    let list = |out: &mut String, title: &str, sign: &str, items: &[String]| {
        if !items.is_empty() {
            let _ = writeln!(out, "{title} ({}):", items.len());
            for i in items {
                let _ = writeln!(out, "  {sign} {i}");
            }
            out.push('\n');
        }
    };
    list(&mut out, "Configs to create", "+", &plan.configs_to_create);
    list(&mut out, "Networks to create", "+", &plan.networks_to_create);
    list(&mut out, "Volumes created by Swarm at first start", "+", &plan.volumes_to_create);
    list(&mut out, "MISSING external networks (`deploy --init` creates them)", "!", &plan.networks_missing);
    list(
        &mut out,
        "MISSING secret versions (`deploy --init` makes those it can; `cargo xtask secret set KEY` any)",
        "!",
        &plan.secrets_missing,
    );

    let width = plan.services.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let _ = writeln!(out, "Services:");
    for s in &plan.services {
        let sign = match s.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Remove => "-",
            Action::Unchanged => "=",
        };
        let word = s.action.as_str();
        let detail = match s.action {
            Action::Create => s
                .desired
                .as_ref()
                .and_then(|d| d.task_template.as_ref()?.container_spec.as_ref()?.image.clone())
                .unwrap_or_default(),
            Action::Update => s.changed_fields().join(", "),
            _ => String::new(),
        };
        let _ = writeln!(out, "  {sign} {:<width$}  {word:<9}  {detail}", s.name);
        for c in &s.changes {
            let path = c
                .path
                .strip_prefix("TaskTemplate.ContainerSpec.")
                .or_else(|| c.path.strip_prefix("TaskTemplate."))
                .unwrap_or(&c.path);
            let _ = writeln!(out, "      {path}: {}", compare::describe(c));
        }
    }
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to remove, {} unchanged.",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Remove),
        plan.count(Action::Unchanged)
    );
    if !plan.secrets_missing.is_empty() || !plan.networks_missing.is_empty() {
        let _ = writeln!(out, "A deploy would refuse to start: see MISSING above.");
    }
    out
}

pub fn json(plan: &Plan, engine: &str, current: Option<u64>) -> String {
    let value = json!({
        "format": 1,
        "stack": plan.stack,
        "engine": engine,
        "current_revision": current,
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "remove": plan.count(Action::Remove),
            "unchanged": plan.count(Action::Unchanged),
        },
        "services": plan.services,
        "configs_to_create": plan.configs_to_create,
        "networks_to_create": plan.networks_to_create,
        "volumes_to_create": plan.volumes_to_create,
        "networks_missing": plan.networks_missing,
        "secrets_missing": plan.secrets_missing,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::ServicePlan;
    use crate::swarm::compare::FieldChange;

    fn plan() -> Plan {
        let service = |name: &str, action, changes| ServicePlan {
            name: name.into(),
            action,
            changes,
            current: None,
            desired: None,
        };
        Plan {
            stack: "mon".into(),
            services: vec![
                service("grafana", Action::Create, vec![]),
                service(
                    "prometheus",
                    Action::Update,
                    vec![FieldChange {
                        field: "configs".into(),
                        path: "TaskTemplate.ContainerSpec.Configs[0].ConfigName".into(),
                        from: Some(json!("mon_prometheus_yml_aaaaaaaaaaaa")),
                        to: Some(json!("mon_prometheus_yml_bbbbbbbbbbbb")),
                    }],
                ),
                service("old", Action::Remove, vec![]),
                service("node-exporter", Action::Unchanged, vec![]),
            ],
            configs_to_create: vec!["mon_prometheus_yml_bbbbbbbbbbbb".into()],
            secrets_missing: vec!["mon_grafana_admin_password".into()],
            networks_missing: vec![],
            networks_to_create: vec![],
            volumes_to_create: vec!["mon_grafana_data".into()],
        }
    }

    #[test]
    fn human_plan_names_every_change() {
        let text = human(&plan(), "unix:///var/run/docker.sock (API 1.41)", Some(3));
        assert!(text.contains("current revision 3"), "{text}");
        assert!(text.contains("  + mon_prometheus_yml_bbbbbbbbbbbb"), "{text}");
        assert!(text.contains("~ prometheus"), "{text}");
        assert!(
            text.contains("Configs[0].ConfigName: mon_prometheus_yml_aaaaaaaaaaaa → mon_prometheus_yml_bbbbbbbbbbbb"),
            "{text}"
        );
        assert!(text.contains("- old"), "{text}");
        assert!(text.contains("! mon_grafana_admin_password"), "{text}");
        assert!(text.contains("Plan: 1 to create, 1 to update, 1 to remove, 1 unchanged."), "{text}");
        assert!(text.contains("A deploy would refuse to start"), "{text}");
    }

    #[test]
    fn json_plan_is_stable() {
        let value: serde_json::Value = serde_json::from_str(&json(&plan(), "engine", None)).unwrap();
        assert_eq!(value["format"], 1);
        assert_eq!(value["summary"], json!({"create": 1, "update": 1, "remove": 1, "unchanged": 1}));
        assert_eq!(value["services"][1]["action"], "update");
        assert_eq!(value["services"][1]["changes"][0]["field"], "configs");
        assert_eq!(value["services"][0].get("changes"), None, "no empty change lists");
        assert!(value["current_revision"].is_null());
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "configs_to_create",
                "current_revision",
                "engine",
                "format",
                "networks_missing",
                "networks_to_create",
                "secrets_missing",
                "services",
                "stack",
                "summary",
                "volumes_to_create"
            ]
        );
    }
}
