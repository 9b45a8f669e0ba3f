//! `cargo xtask status`: the current revision, each service's state
//! (tasks running/desired, Swarm's update state, whether its spec is the
//! revision's), the lock, and the history: who, when, what changed, how it
//! ended. A deploy that died mid-way is rolled back first.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::{OutputFormat, StatusArgs};
use crate::deploy::progress::Progress;
use crate::deploy::{EXIT_ROLLBACK_FAILED, lock, recover, setup};
use crate::history::revision::Outcome;
use crate::history::store;
use crate::swarm::compare;
use crate::swarm::desired::fill_ids;
use crate::swarm::engine::Engine;
use crate::swarm::world::World;

/// How long the revert of a dead deploy may take when status finds one.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(300);
/// How long a dead deploy's converged services must stay healthy before
/// status records it as succeeded.
const RECOVERY_SOAK: Duration = Duration::from_secs(5);

pub fn run(root: &Path, args: StatusArgs) -> Result<ExitCode> {
    crate::deploy::runtime()?.block_on(status(root, args))
}

async fn status(root: &Path, args: StatusArgs) -> Result<ExitCode> {
    let stack = crate::deploy::stack_name(root, &args.target)?;
    let engine = Engine::connect().await?;
    let progress = Progress::new();
    setup::ensure_swarm(&engine, false, &progress).await?;

    let signals = super::signals::Signals::install()?;
    let mut code = ExitCode::SUCCESS;
    let revisions = store::list(&engine, &stack).await?;
    let mut in_progress_note = None;
    let newest = revisions.last();
    let unfinished = revisions.iter().any(|s| s.outcome == Outcome::InProgress)
        || newest.is_some_and(|s| s.outcome == Outcome::RollbackFailed);
    if unfinished {
        match lock::read(&engine, &stack).await? {
            Some(found) if found.holder.gone().is_none() => {
                in_progress_note = Some(format!("a rollout is in progress: {}", found.holder));
            }
            _ => match lock::acquire(&engine, &stack, "status", false).await {
                Ok(held) => {
                    if let Some((holder, why)) = &held.broke {
                        progress.note(&format!("broke the deploy lock of {holder} ({why})"));
                    }
                    let fence = held.fence();
                    let result = recover::finish_dead(
                        &engine,
                        &stack,
                        "status",
                        RECOVERY_DEADLINE,
                        RECOVERY_SOAK,
                        &fence,
                        &progress,
                    )
                    .await;
                    held.release().await?;
                    if result?.iter().any(|r| r.outcome == Outcome::RollbackFailed) {
                        code = ExitCode::from(EXIT_ROLLBACK_FAILED);
                    }
                }
                Err(e) => in_progress_note = Some(format!("{e:#}")),
            },
        }
    }
    if let Some(why) = signals.fired() {
        eprintln!("{why}: stopping after the recovery");
        return Ok(ExitCode::from(super::EXIT_REFUSED));
    }

    let revisions = store::list(&engine, &stack).await?;
    let world = World::observe(&engine, &stack).await?;
    let ids = world.ids();
    let lock_holder = lock::read(&engine, &stack).await?.map(|found| found.holder);
    let current = crate::history::current(&revisions);

    let mut services = Vec::new();
    for (name, svc) in &world.services {
        let st = svc.service_status.as_ref();
        let recorded =
            current.and_then(|c| c.revision.services.get(name)).and_then(|r| r.next.clone()).map(|mut spec| {
                fill_ids(&mut spec, &ids);
                spec
            });
        let recorded = recorded.as_ref();
        let matches = match (recorded, svc.spec.as_ref()) {
            (Some(r), Some(s)) => Some(compare::same(s, r)),
            _ => None,
        };
        let differs: Vec<String> = match (recorded, svc.spec.as_ref()) {
            (Some(r), Some(s)) => {
                let mut f: Vec<String> = compare::diff(r, s).into_iter().map(|c| c.field).collect();
                f.dedup();
                f
            }
            _ => Vec::new(),
        };
        let image = svc.spec.as_ref().and_then(|s| s.task_template.as_ref()?.container_spec.as_ref()?.image.clone());
        services.push(json!({
            "name": name,
            // What the tasks run, by digest (a workspace-built image's is
            // the one `deploy` resolved its tag to).
            "image": image,
            "running": st.and_then(|s| s.running_tasks),
            "desired": st.and_then(|s| s.desired_tasks),
            "update_state": svc.update_status.as_ref().and_then(|u| u.state).map(|s| s.to_string()),
            "update_message": svc.update_status.as_ref().and_then(|u| u.message.clone()),
            "matches_revision": matches,
            "differs_in": differs,
        }));
    }
    let missing: Vec<&String> = current
        .map(|c| {
            c.revision
                .services
                .iter()
                .filter(|(n, r)| r.next.is_some() && !world.services.contains_key(*n))
                .map(|(n, _)| n)
                .collect()
        })
        .unwrap_or_default();
    let history: Vec<serde_json::Value> = revisions
        .iter()
        .rev()
        .map(|s| {
            json!({
                "number": s.revision.number,
                "kind": s.revision.kind,
                "rollback_to": s.revision.rollback_to,
                "started_at": s.revision.started_at,
                "finished_at": s.finished_at,
                "by": s.revision.by,
                "outcome": s.outcome.as_str(),
                "reason": s.reason,
                "summary": s.revision.summary(),
                "bundle_digest": s.revision.bundle_digest,
                // Which version of each secret the revision mounts (what a
                // rollback to it restores).
                "secrets": s.revision.secrets_used(),
            })
        })
        .collect();
    let value = json!({
        "format": 1,
        "stack": stack,
        "engine": engine.describe(),
        "current_revision": current.map(|c| c.revision.number),
        "lock": lock_holder.as_ref().map(|h| h.to_string()),
        "in_progress": in_progress_note,
        "services": services,
        "services_missing": missing,
        "history": history,
    });
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&value)?),
        OutputFormat::Human => print!("{}", human(&value)),
    }
    Ok(code)
}

fn human(v: &serde_json::Value) -> String {
    let s = |x: &serde_json::Value| {
        x.as_str().map(str::to_owned).unwrap_or_else(|| if x.is_null() { "-".into() } else { x.to_string() })
    };
    let mut out = String::new();
    let _ = writeln!(out, "Stack `{}` on {}", s(&v["stack"]), s(&v["engine"]));
    let _ = writeln!(
        out,
        "Current revision: {}",
        if v["current_revision"].is_null() { "none recorded".into() } else { s(&v["current_revision"]) }
    );
    let _ = writeln!(
        out,
        "Lock: {}",
        if v["lock"].is_null() { "free".into() } else { format!("held by {}", s(&v["lock"])) }
    );
    if !v["in_progress"].is_null() {
        let _ = writeln!(out, "NOTE: {}", s(&v["in_progress"]));
    }
    let _ = writeln!(out, "\n{:<24} {:>8}  {:<20} REVISION", "SERVICE", "TASKS", "UPDATE");
    for svc in v["services"].as_array().into_iter().flatten() {
        let tasks = format!("{}/{}", s(&svc["running"]), s(&svc["desired"]));
        let rev = match svc["matches_revision"].as_bool() {
            Some(true) => "matches".to_owned(),
            Some(false) => format!(
                "DIFFERS ({})",
                svc["differs_in"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "not in revision".to_owned(),
        };
        let _ = writeln!(out, "{:<24} {:>8}  {:<20} {rev}", s(&svc["name"]), tasks, s(&svc["update_state"]));
    }
    for m in v["services_missing"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "{:<24} {:>8}  {:<20} MISSING (in the revision, not running)", s(m), "-", "-");
    }
    let _ = writeln!(out, "\nHistory (newest first):");
    let history = v["history"].as_array().cloned().unwrap_or_default();
    if history.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for h in history {
        let kind = match h["rollback_to"].as_u64() {
            Some(n) => format!("rollback→{n}"),
            None => s(&h["kind"]),
        };
        let _ = writeln!(
            out,
            "  #{:<4} {}  {:<18} {:<11} {:<15} {}",
            s(&h["number"]),
            s(&h["started_at"]),
            s(&h["by"]),
            kind,
            s(&h["outcome"]),
            s(&h["summary"])
        );
        if !h["reason"].is_null() {
            let _ = writeln!(out, "         reason: {}", s(&h["reason"]));
        }
    }
    out
}
