//! Targets that vanish: every expected scrape target compared with what is
//! scraped, and nodes that stop reporting.
//!
//! A target found through `tasks.<service>` DNS exists only while its task
//! runs, so a dead task, or a lost node, leaves no target and no `up == 0`.
//! What each kind of service is compared with:
//!
//! - **Nodes.** The otel-agent of each node scrapes that node's node-exporter
//!   and labels it `node=<hostname>` (stack/configs/otel-collector/agent.yml),
//!   so the set of nodes that reported within a day is known. A node whose
//!   series stop (it left the Swarm, died, or lost its agent) raises
//!   `SwarmNodeLost` within minutes.
//! - **Global services** (cAdvisor, Promtail): one target per task, so their
//!   count must equal the number of nodes reporting now.
//! - **Replicated services** with more than one replica (Alertmanager): one
//!   target per task; the count must equal the replicas of stack.toml
//!   ([`EXPECTED_REPLICAS`], checked against stack.toml by xtask).
//! - Single-replica services are scraped by service name, so a missing task
//!   is `up == 0` and their own `*Down` alerts fire; nothing is needed here.

use super::dashboard_for;
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

/// Replicated services scraped once per task, with the replica count
/// stack.toml gives them. xtask's tests fail when the two disagree.
pub const EXPECTED_REPLICAS: &[(&str, u32)] = &[(job::ALERTMANAGER, 2)];

/// Global services scraped once per task (job, what people call it).
const GLOBAL_JOBS: &[(&str, &str, &str)] =
    &[(job::CADVISOR, "Cadvisor", "cAdvisor"), (job::PROMTAIL, "Promtail", "Promtail")];

/// How recently a node must have reported to count as present: eight
/// scrapes at 15s, so one slow remote-write batch does not count as gone.
const PRESENT: &str = "2m";
/// How long a node that stopped reporting is still expected. A node removed
/// on purpose alerts until then unless silenced (the runbook says so).
const REMEMBERED: &str = "24h";

fn nodes_present() -> String {
    format!(r#"count(group by (node) (present_over_time(up{{job="node-exporter", node!=""}}[{PRESENT}])))"#)
}

pub fn rules() -> RuleFile {
    let mut group = Group::new("targets").alert(node_lost());
    for (job, name, what) in GLOBAL_JOBS {
        group = group.alert(global_missing(job, name, what));
    }
    for (job, replicas) in EXPECTED_REPLICAS {
        group = group.alert(replicas_missing(job, *replicas));
    }
    RuleFile::new(subject::TARGETS).dashboard(dashboard_for(subject::TARGETS)).group(group)
}

fn node_up(node: &str) -> String {
    series("up", &[("instance", node), ("job", job::NODE_EXPORTER), ("node", node)])
}

fn node_lost() -> Alert<Tested, Tested> {
    Alert::new("SwarmNodeLost", Severity::Critical)
        .expr(&format!(
            r#"
            group by (node) (max_over_time(up{{job="node-exporter", node!=""}}[{REMEMBERED}]))
            unless on (node)
            group by (node) (present_over_time(up{{job="node-exporter", node!=""}}[{PRESENT}]))
            "#
        ))
        .for_duration(Duration::minutes(3))
        .team(Team::Platform)
        .summary("A node that reported today has stopped reporting.")
        .description(
            "No node-exporter series from {{ $labels.node }} for 5 minutes: the node left the Swarm, is down \
             or unreachable, or its otel-agent task is gone. Its host alerts are blind.",
        )
        .fires(
            fires("one of two nodes stops reporting")
                .at(Duration::minutes(20))
                .series(node_up("node-a"), "1x30")
                .series(node_up("node-b"), "1x10")
                .alert(&[("node", "node-b")]),
        )
        .stays_quiet(
            quiet("both nodes report, one with its exporter down")
                .at(Duration::minutes(20))
                .series(node_up("node-a"), "1x30")
                .series(node_up("node-b"), "0x30"),
        )
}

fn global_missing(job: &str, name: &str, what: &str) -> Alert<Tested, Tested> {
    let target = |ip: &str| series("up", &[("instance", ip), ("job", job)]);
    Alert::new(&format!("{name}TargetsMissing"), Severity::Warning)
        .expr(&format!(r#"(count(up{{job="{job}"}}) or vector(0)) < {}"#, nodes_present()))
        .for_duration(Duration::minutes(5))
        .team(Team::Observability)
        .summary(&format!("Fewer {what} targets than nodes reporting."))
        .description(&format!(
            "Only {{{{ $value }}}} {what} targets are scraped while more nodes report node metrics: \
             the global service has no running task on some node, so that node's {what} data is missing."
        ))
        .fires(
            fires("two nodes, one task")
                .at(Duration::minutes(10))
                .series(node_up("node-a"), "1x20")
                .series(node_up("node-b"), "1x20")
                .series(target("10.0.1.4:1"), "1x20")
                .alert_value(&[], 1.0),
        )
        .fires(
            fires("no task at all").at(Duration::minutes(10)).series(node_up("node-a"), "1x20").alert_value(&[], 0.0),
        )
        .stays_quiet(
            quiet("one task per node")
                .at(Duration::minutes(10))
                .series(node_up("node-a"), "1x20")
                .series(node_up("node-b"), "1x20")
                .series(target("10.0.1.4:1"), "1x20")
                .series(target("10.0.1.5:1"), "0x20"),
        )
}

fn replicas_missing(job: &str, replicas: u32) -> Alert<Tested, Tested> {
    let target = |ip: &str| series("up", &[("instance", ip), ("job", job)]);
    let name: String = job.split('-').map(capitalised).collect();
    let mut quiet_case = quiet("every replica scraped, one of them down").at(Duration::minutes(10));
    for i in 0..replicas {
        quiet_case = quiet_case.series(target(&format!("10.0.1.{}:1", 10 + i)), if i == 0 { "0x20" } else { "1x20" });
    }
    Alert::new(&format!("{name}ReplicasMissing"), Severity::Warning)
        .expr(&format!(r#"(count(up{{job="{job}"}}) or vector(0)) < {replicas}"#))
        .for_duration(Duration::minutes(5))
        .team(Team::Observability)
        .summary(&format!("Fewer {job} tasks are scraped than the stack runs."))
        .description(&format!(
            "{{{{ $value }}}} of {replicas} {job} replicas are scraped: Swarm is not running them all \
             (no node can take one, or they keep failing)."
        ))
        .fires(
            fires("one replica missing")
                .at(Duration::minutes(10))
                .series(target("10.0.1.10:1"), "1x20")
                .alert_value(&[], f64::from(replicas - 1)),
        )
        .stays_quiet(quiet_case)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
