//! `cargo xtask deploy` and `cargo xtask rollback`: atomic rollouts of the
//! whole stack. Every changed service reaches the new revision healthy, or
//! every one goes back to the revision before; see `rollout` for the steps
//! and `history` for what is kept in the Swarm.
//!
//! Exit codes (also in `--help`): 0 deployed (or nothing to change),
//! 1 refused or failed before changing anything, 2 failed and rolled back,
//! 3 failed and the rollback failed too, 4 another deploy holds the lock.

pub mod compare;
pub mod convert;
pub mod desired;
pub mod engine;
pub mod health;
pub mod lock;
mod preflight;
pub mod progress;
mod prune;
mod raw;
pub mod recover;
mod revert;
mod rollout;
#[cfg(test)]
mod roundtrip_test;
pub mod setup;
pub mod world;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bundle::Bundle;
use crate::cli::{DeployArgs, RollbackArgs, RolloutArgs, Target};
use crate::history::revision::{Kind, Outcome};
use crate::history::store;
use crate::plan::Plan;
use desired::Desired;
use engine::Engine;
use progress::Progress;
use rollout::Ended;
use world::World;

pub const EXIT_ROLLED_BACK: u8 = 2;
pub const EXIT_ROLLBACK_FAILED: u8 = 3;
pub const EXIT_LOCKED: u8 = 4;

/// The runtime the Swarm commands run on (I/O bound: one thread).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// The bundle (`--bundle` or stack/rendered) and the stack name (`--stack`
/// or the bundle's).
pub fn load_target(root: &Path, target: &Target) -> Result<(Bundle, String)> {
    let dir = target.bundle.clone().unwrap_or_else(|| root.join(crate::bundle::DIR));
    let bundle = Bundle::load(&dir)?;
    let stack = target.stack.clone().unwrap_or_else(|| bundle.stack().to_owned());
    Ok((bundle, stack))
}

/// The stack name alone (`--stack`, else the bundle's).
pub fn stack_name(root: &Path, target: &Target) -> Result<String> {
    if let Some(s) = &target.stack {
        return Ok(s.clone());
    }
    load_target(root, target).map(|(_, s)| s).context("no --stack given and no bundle to take the stack name from")
}

/// Maps "another deploy holds the lock" to its exit code.
fn locked_exit(err: anyhow::Error) -> Result<ExitCode> {
    match err.downcast_ref::<lock::LockHeld>() {
        Some(held) => {
            eprintln!("error: {held}");
            Ok(ExitCode::from(EXIT_LOCKED))
        }
        None => Err(err),
    }
}

/// `cargo xtask deploy`.
pub fn run(root: &Path, args: DeployArgs) -> Result<ExitCode> {
    runtime()?.block_on(deploy(root, args)).or_else(locked_exit)
}

/// `cargo xtask rollback`.
pub fn run_rollback(root: &Path, args: RollbackArgs) -> Result<ExitCode> {
    runtime()?.block_on(rollback(root, args)).or_else(locked_exit)
}

async fn deploy(root: &Path, args: DeployArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (bundle, stack) = load_target(root, &args.target)?;
    if args.target.bundle.is_none() && !args.skip_check {
        // `cargo xtask check` of the repository the bundle comes from
        // (includes: the bundle is what `gen` renders from the sources).
        let findings = crate::check::run::all(root, false, &mut crate::check::run::Timings::default())?;
        if !findings.is_empty() {
            for f in &findings {
                eprintln!("{f}");
            }
            eprintln!(
                "deploy refused, nothing was changed: `cargo xtask check` found {} problem(s) (--skip-check skips it)",
                findings.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let progress = Progress::new();
    let engine = Engine::connect().await?;
    setup::ensure_swarm(&engine, args.init, &progress).await?;
    let mut world = World::observe(&engine, &stack).await?;
    let mut desired = Desired::from_bundle(&bundle, &stack, &world.ids())?;
    if args.init && setup::init_objects(&engine, &desired, &world, &progress).await? {
        world = World::observe(&engine, &stack).await?;
        desired = Desired::from_bundle(&bundle, &stack, &world.ids())?;
    }
    let plan = Plan::compute(&desired, &world);
    if let Some(code) = refused("deploy", preflight::check(&engine, &desired, &plan, &world).await) {
        return Ok(code);
    }

    under_lock(&engine, &stack, "deploy", &args.rollout, &progress, async |opts| {
        // Read again under the lock: what runs now is what the plan is against.
        let world = World::observe(&engine, &stack).await?;
        let desired = Desired::from_bundle(&bundle, &stack, &world.ids())?;
        let plan = Plan::compute(&desired, &world);
        let revisions = store::list(&engine, &stack).await?;
        let current = crate::history::current(&revisions).map(|s| s.revision.number);
        if plan.is_noop() {
            let at = current.map_or(String::new(), |n| format!(" (revision {n})"));
            println!(
                "nothing to change: all {} services of `{stack}` match the bundle{at}; {:.2}s",
                plan.services.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(ExitCode::SUCCESS);
        }
        print!("{}", crate::plan::human(&plan, &engine.describe(), current));
        let next = rollout::Next { number: next_number(&revisions), kind: Kind::Deploy };
        let ended = rollout::execute(&engine, &desired, &plan, &world, next, opts, &progress).await?;
        report(&engine, &stack, ended, started).await
    })
    .await
}

async fn rollback(root: &Path, args: RollbackArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let stack = stack_name(root, &args.target)?;
    let progress = Progress::new();
    let engine = Engine::connect().await?;
    setup::ensure_swarm(&engine, false, &progress).await?;
    under_lock(&engine, &stack, "rollback", &args.rollout, &progress, async |opts| {
        let revisions = store::list(&engine, &stack).await?;
        let current = crate::history::current(&revisions);
        let target = match args.to {
            Some(n) => {
                let found = revisions
                    .iter()
                    .find(|s| s.revision.number == n)
                    .with_context(|| format!("stack `{stack}` has no revision {n}"))?;
                anyhow::ensure!(
                    found.outcome == Outcome::Succeeded,
                    "revision {n} {}: only a revision that succeeded can be rolled back to",
                    found.outcome.as_str()
                );
                found
            }
            None => {
                let cur =
                    current.with_context(|| format!("stack `{stack}` has no successful revision to roll back from"))?;
                revisions
                    .iter()
                    .rev()
                    .find(|s| s.outcome == Outcome::Succeeded && s.revision.number < cur.revision.number)
                    .with_context(|| {
                        format!("revision {} is the first successful one: nothing to roll back to", cur.revision.number)
                    })?
            }
        };
        let desired = Desired::from_revision(target);
        let world = World::observe(&engine, &stack).await?;
        let plan = Plan::compute(&desired, &world);
        if let Some(code) = refused("rollback", preflight::check(&engine, &desired, &plan, &world).await) {
            return Ok(code);
        }
        if plan.is_noop() {
            println!("nothing to change: `{stack}` already runs revision {}'s specs", target.revision.number);
            return Ok(ExitCode::SUCCESS);
        }
        println!("rolling `{stack}` back to revision {} ({})", target.revision.number, target.revision.started_at);
        print!("{}", crate::plan::human(&plan, &engine.describe(), current.map(|c| c.revision.number)));
        let next = rollout::Next { number: next_number(&revisions), kind: Kind::Rollback };
        let ended = rollout::execute(&engine, &desired, &plan, &world, next, opts, &progress).await?;
        report(&engine, &stack, ended, started).await
    })
    .await
}

/// Runs `body` holding the stack's deploy lock, after finishing any deploy
/// that died mid-way; the lock is released whatever `body` returns.
async fn under_lock(
    engine: &Engine,
    stack: &str,
    command: &str,
    args: &RolloutArgs,
    progress: &Progress,
    body: impl AsyncFnOnce(rollout::Options) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let lock = lock::acquire(engine, stack, command, args.break_lock).await?;
    let outcome = async {
        let opts =
            rollout::Options { deadline: Duration::from_secs(args.deadline), soak: Duration::from_secs(args.soak) };
        if let Some((holder, why)) = &lock.broke {
            progress.note(&format!("broke the deploy lock of {holder} ({why})"));
        }
        if let Some(code) = finish_dead_first(engine, stack, command, opts, progress).await? {
            return Ok(code);
        }
        body(opts).await
    }
    .await;
    let released = lock.release().await;
    let code = outcome?;
    released?;
    Ok(code)
}

/// Prints every preflight problem; the exit code when there is any.
fn refused(verb: &str, problems: Vec<String>) -> Option<ExitCode> {
    if problems.is_empty() {
        return None;
    }
    eprintln!("{verb} refused, nothing was changed ({} problem(s)):", problems.len());
    for p in &problems {
        eprintln!("  - {p}");
    }
    Some(ExitCode::FAILURE)
}

fn next_number(revisions: &[store::Stored]) -> u64 {
    revisions.iter().map(|s| s.revision.number).max().unwrap_or(0) + 1
}

/// Rolls back a deploy that died mid-way; an exit code when that failed.
async fn finish_dead_first(
    engine: &Engine,
    stack: &str,
    command: &str,
    opts: rollout::Options,
    progress: &Progress,
) -> Result<Option<ExitCode>> {
    let recovered = recover::finish_dead(engine, stack, command, opts.deadline, progress).await?;
    if let Some(bad) = recovered.iter().find(|r| r.outcome == Outcome::RollbackFailed) {
        eprintln!(
            "error: revision {} died mid-way and rolling it back failed; fix the services below, then retry:",
            bad.number
        );
        for f in &bad.failures {
            eprintln!("  {}", f.report());
        }
        return Ok(Some(ExitCode::from(EXIT_ROLLBACK_FAILED)));
    }
    Ok(None)
}

/// Prints how it ended; prunes after a success.
async fn report(engine: &Engine, stack: &str, ended: Ended, started: Instant) -> Result<ExitCode> {
    let secs = started.elapsed().as_secs_f64();
    match ended {
        Ended::Succeeded(stored) => {
            let revisions = store::list(engine, stack).await.unwrap_or_default();
            match prune::prune(engine, stack, &revisions).await {
                Ok(removed) if !removed.is_empty() => {
                    eprintln!("pruned {} unused config(s): {}", removed.len(), removed.join(", "))
                }
                Ok(_) => {}
                Err(e) => eprintln!("warning: pruning old configs failed (harmless, retried next time): {e:#}"),
            }
            println!(
                "revision {} of `{stack}` is live: {} ({secs:.1}s)",
                stored.revision.number,
                stored.revision.summary()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ended::RolledBack(stored, failures) => {
            eprintln!(
                "\nrevision {} FAILED and was rolled back; every service runs its previous spec again ({secs:.1}s).",
                stored.revision.number
            );
            eprintln!("reason:");
            for f in &failures {
                eprintln!("  {}", f.report());
            }
            Ok(ExitCode::from(EXIT_ROLLED_BACK))
        }
        Ended::RollbackFailed(stored, failures, revert) => {
            eprintln!("\nrevision {} FAILED and rolling it back FAILED too ({secs:.1}s).", stored.revision.number);
            eprintln!("reason:");
            for f in &failures {
                eprintln!("  {}", f.report());
            }
            eprintln!("rollback:");
            for f in &revert {
                eprintln!("  {}", f.report());
            }
            Ok(ExitCode::from(EXIT_ROLLBACK_FAILED))
        }
    }
}
