//! The cluster: every node's Docker engine and Swarm's managers, from the
//! engines' own metrics endpoint (`metrics-addr`), scraped on every node by
//! that node's otel-agent (`job="docker-engine"`, labelled `node` with the
//! node's hostname, agent.yml).
//!
//! `swarm_node_manager` is 1 on a manager and 0 on a worker (swarmkit
//! node/node.go); `swarm_manager_leader` is 1 on the raft leader
//! (manager/manager.go). A manager whose engine stops reporting is counted
//! as lost, whether the node died, left, was demoted, or only its metrics
//! endpoint or agent went away: from here the cases look alike, and the
//! runbook tells them apart.

use super::{Target, dashboard_for, target_down};
use crate::Tested;
use crate::builder::Alert;
use crate::duration::Duration;
use crate::model::{Group, RuleFile, Severity, Team};
use crate::names::{job, subject};
use crate::testing::{fires, quiet, series};

/// How recently a manager must have reported to count as present (eight
/// scrapes at 15s, as for nodes in targets.rs).
const PRESENT: &str = "2m";
/// How long a manager that stopped reporting is still expected.
const REMEMBERED: &str = "24h";

const TARGET: Target =
    Target { job: job::DOCKER_ENGINE, instance: "node-a", what: "Docker engine", team: Team::Platform };

fn managers(window: &str) -> String {
    format!(r#"group by (node) (max_over_time(swarm_node_manager{{job="docker-engine"}}[{window}]) == 1)"#)
}

pub fn rules() -> RuleFile {
    RuleFile::new(subject::CLUSTER).dashboard(dashboard_for(subject::CLUSTER)).group(
        Group::new("cluster")
            .alert(target_down(
                "DockerEngineMetricsDown",
                &TARGET,
                Severity::Warning,
                Duration::minutes(10),
                "the engine's metrics endpoint is off (metrics-addr in daemon.json) or not reachable from the node's otel-agent; the node's Swarm health is not watched.",
            ))
            .alert(manager_lost())
            .alert(quorum_at_risk())
            .alert(no_leader()),
    )
}

fn manager(node: &str) -> String {
    series("swarm_node_manager", &[("instance", node), ("job", job::DOCKER_ENGINE), ("node", node)])
}

fn leader(node: &str) -> String {
    series("swarm_manager_leader", &[("instance", node), ("job", job::DOCKER_ENGINE), ("node", node)])
}

fn manager_lost() -> Alert<Tested, Tested> {
    Alert::new("SwarmManagerLost", Severity::Critical)
        .expr(&format!("{} unless on (node) {}", managers(REMEMBERED), managers(PRESENT)))
        .for_duration(Duration::minutes(3))
        .team(Team::Platform)
        .summary("A Swarm manager has stopped reporting.")
        .description(
            "The engine of {{ $labels.node }} reported itself a Swarm manager today and has not for 5 minutes: \
             the node is down or left, was demoted, or its engine metrics are gone. The managers left keep the \
             raft quorum only while a majority of them remains.",
        )
        .fires(
            fires("one of three managers stops reporting")
                .at(Duration::minutes(20))
                .series(manager("node-a"), "1x30")
                .series(manager("node-b"), "1x30")
                .series(manager("node-c"), "1x10")
                .alert(&[("node", "node-c")]),
        )
        .stays_quiet(
            quiet("a worker stops reporting")
                .at(Duration::minutes(20))
                .series(manager("node-a"), "1x30")
                .series(manager("node-w"), "0x10"),
        )
}

fn quorum_at_risk() -> Alert<Tested, Tested> {
    let present = format!("(count({}) or vector(0))", managers(PRESENT));
    let known = format!("count({})", managers(REMEMBERED));
    Alert::new("SwarmManagerQuorumAtRisk", Severity::Critical)
        .expr(&format!("{present} < {known} and {present} <= floor({known} / 2) + 1"))
        .for_duration(Duration::minutes(2))
        .team(Team::Platform)
        .summary("Losing one more Swarm manager loses the raft quorum.")
        .description(
            "Only {{ $value }} of the Swarm's managers report: one more lost manager (or none, if the quorum is \
             already gone) stops every change to the Swarm (deploys, scaling, rescheduling of failed tasks).",
        )
        .fires(
            fires("two of three managers left")
                .at(Duration::minutes(20))
                .series(manager("node-a"), "1x30")
                .series(manager("node-b"), "1x30")
                .series(manager("node-c"), "1x10")
                .alert_value(&[], 2.0),
        )
        .stays_quiet(
            quiet("four of five managers left")
                .at(Duration::minutes(20))
                .series(manager("node-a"), "1x30")
                .series(manager("node-b"), "1x30")
                .series(manager("node-c"), "1x30")
                .series(manager("node-d"), "1x30")
                .series(manager("node-e"), "1x10"),
        )
        .stays_quiet(
            quiet("a single-manager Swarm that lost nothing")
                .at(Duration::minutes(20))
                .series(manager("node-a"), "1x30"),
        )
}

fn no_leader() -> Alert<Tested, Tested> {
    Alert::new("SwarmNoLeader", Severity::Critical)
        .expr(r#"max(swarm_manager_leader{job="docker-engine"}) == 0"#)
        .for_duration(Duration::minutes(2))
        .team(Team::Platform)
        .summary("No Swarm manager is the raft leader.")
        .description(
            "No reporting manager has been raft leader for 2 minutes (highest swarm_manager_leader: {{ $value }}): \
             the quorum is lost (too few managers reach each other) and the Swarm accepts no changes until it \
             is restored.",
        )
        .fires(
            fires("the leader's successor is never elected")
                .at(Duration::minutes(10))
                .series(leader("node-a"), "1x3 0x10")
                .series(leader("node-b"), "0x13")
                .alert_value(&[], 0.0),
        )
        .stays_quiet(
            quiet("leadership moves from one manager to another")
                .at(Duration::minutes(10))
                .series(leader("node-a"), "1x3 0x10")
                .series(leader("node-b"), "0x4 1x9"),
        )
}
