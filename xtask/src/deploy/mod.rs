//! `cargo xtask deploy` and `cargo xtask rollback`: atomic rollouts of the
//! whole stack. Every changed service reaches the new revision healthy, or
//! every one goes back to the revision before; see `rollout` for the steps
//! and `history` for what is kept in the Swarm.
//!
//! Exit codes (also in `--help`): 0 deployed (or nothing to change),
//! 1 refused or failed before changing anything, 2 failed and rolled back,
//! 3 failed and the rollback failed too, 4 another deploy holds the lock.

mod budget;
mod exit;
pub mod health;
pub mod lock;
mod preflight;
pub mod progress;
mod prune;
pub mod recover;
mod revert;
mod rollout;
#[cfg(test)]
mod roundtrip_test;
pub mod secret;
mod secret_version;
pub mod setup;
pub mod signals;
pub mod status;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{DeployArgs, RollbackArgs, RolloutArgs};
use crate::history::revision::{Kind, Outcome};
use crate::history::store;
use crate::plan::Plan;
use crate::swarm::desired::Desired;
use crate::swarm::engine::Engine;
use crate::swarm::image_tags;
use crate::swarm::world::World;
use progress::Progress;
use rollout::Ended;

pub use exit::{
    EXIT_LOCK_LOST, EXIT_LOCKED, EXIT_REFUSED, EXIT_ROLLBACK_FAILED, EXIT_ROLLED_BACK, EXIT_UNRECORDED, EXIT_USAGE,
};

pub use crate::plan::{load_target, stack_name};
pub use crate::swarm::engine::runtime;

/// Maps the errors that are outcomes of their own to their exit codes:
/// another deploy holds the lock (4), this run lost it (5), a signal came
/// before any change (1).
fn outcome_exit(err: anyhow::Error) -> Result<ExitCode> {
    if let Some(held) = err.downcast_ref::<lock::LockHeld>() {
        eprintln!("error: {held}");
        return Ok(ExitCode::from(EXIT_LOCKED));
    }
    if let Some(lost) = err.downcast_ref::<lock::LockLost>() {
        eprintln!("error: {lost}");
        return Ok(ExitCode::from(EXIT_LOCK_LOST));
    }
    if let Some(stopped) = err.downcast_ref::<signals::StoppedEarly>() {
        eprintln!("error: {stopped}");
        return Ok(ExitCode::from(EXIT_REFUSED));
    }
    Err(err)
}

/// `cargo xtask deploy`.
pub fn run(root: &Path, args: DeployArgs) -> Result<ExitCode> {
    runtime()?.block_on(deploy(root, args)).or_else(outcome_exit)
}

/// `cargo xtask rollback`.
pub fn run_rollback(root: &Path, args: RollbackArgs) -> Result<ExitCode> {
    runtime()?.block_on(rollback(root, args)).or_else(outcome_exit)
}

async fn deploy(root: &Path, args: DeployArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let signals = signals::Signals::install()?;
    let (bundle, stack) = load_target(root, &args.target)?;
    let bundle = std::sync::Arc::new(bundle);
    let gate = args.verify.then(|| crate::verify::Gate {
        root: root.to_path_buf(),
        bundle: bundle.clone(),
        wait: Duration::from_secs(args.verify_wait),
    });
    if args.target.bundle.is_none() && !args.skip_check {
        // `cargo xtask check` of the repository the bundle comes from
        // (includes: the bundle is what `gen` renders from the sources).
        let cache = crate::check::cache::Cache::at(root);
        let findings = crate::check::run::all(root, false, &cache, &mut crate::check::run::Timings::default())?;
        if !findings.is_empty() {
            for f in &findings {
                eprintln!("{f}");
            }
            eprintln!(
                "deploy refused, nothing was changed: `cargo xtask check` found {} problem(s) (--skip-check skips it)",
                findings.len()
            );
            return Ok(ExitCode::from(EXIT_REFUSED));
        }
    }
    let progress = Progress::new();
    let engine = Engine::connect().await?;
    // Until the lock is taken nothing has changed: a signal just stops.
    let prepared = async {
        setup::ensure_swarm(&engine, args.init, &progress).await?;
        let mut world = World::observe(&engine, &stack).await?;
        let mut desired = Desired::from_bundle(&bundle, &stack, &world.ids())?.for_engine(&engine);
        let mut generated = Vec::new();
        if args.init {
            let changed = setup::init_objects(&engine, &desired, &world, &progress).await?;
            generated = setup::init_secrets(&engine, &desired, &progress).await?;
            if changed || !generated.is_empty() {
                world = World::observe(&engine, &stack).await?;
                desired = Desired::from_bundle(&bundle, &stack, &world.ids())?.for_engine(&engine);
            }
        }
        // Workspace-built images are named by tag: resolved once, here, so
        // the plan under the lock runs the digests checked now.
        let resolved = image_tags::resolve(&engine, &desired, &world).await;
        for note in &resolved.from_running {
            eprintln!("note: {note}");
        }
        let desired = desired.with_digests(&resolved);
        let plan = Plan::compute(&desired, &world);
        let mut problems = resolved.problems.clone();
        problems.extend(preflight::check(&engine, &desired, &plan, &world).await);
        problems.extend(deadline_problems(&args.rollout, &plan, &world));
        anyhow::Ok((problems, generated, resolved))
    };
    let (problems, generated, resolved) = tokio::select! {
        r = prepared => r?,
        why = signals.next() => return Err(signals::StoppedEarly(why).into()),
    };
    // Said once, whatever comes next: the secrets exist from now on.
    let notice = (!generated.is_empty()).then(|| setup::generated_notice(&generated));
    if let Some(code) = refused("deploy", problems) {
        if let Some(notice) = &notice {
            println!("{notice}");
        }
        return Ok(code);
    }

    let code = under_lock(&engine, &stack, "deploy", &args.rollout, &signals, &progress, async |session| {
        // Read again under the lock: what runs now is what the plan is against.
        let world = World::observe(&engine, &stack).await?;
        let desired = Desired::from_bundle(&bundle, &stack, &world.ids())?.for_engine(&engine).with_digests(&resolved);
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
        let opts = rollout::Options { verify: gate.clone(), ..session.options(&plan, &progress) };
        let next = rollout::Next { number: next_number(&revisions), kind: Kind::Deploy };
        let ended = rollout::execute(&engine, &desired, &plan, &world, next, &opts, &progress).await?;
        report(&engine, &stack, ended, started).await
    })
    .await;
    if let Some(notice) = &notice {
        println!("{notice}");
    }
    code
}

async fn rollback(root: &Path, args: RollbackArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let signals = signals::Signals::install()?;
    let stack = stack_name(root, &args.target)?;
    let progress = Progress::new();
    let engine = Engine::connect().await?;
    tokio::select! {
        r = setup::ensure_swarm(&engine, false, &progress) => r?,
        why = signals.next() => return Err(signals::StoppedEarly(why).into()),
    }
    under_lock(&engine, &stack, "rollback", &args.rollout, &signals, &progress, async |session| {
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
        let world = World::observe(&engine, &stack).await?;
        let desired = crate::history::desired_of(target, &world.ids());
        let plan = Plan::compute(&desired, &world);
        let mut problems = preflight::check(&engine, &desired, &plan, &world).await;
        problems.extend(deadline_problems(&args.rollout, &plan, &world));
        if let Some(code) = refused("rollback", problems) {
            return Ok(code);
        }
        if plan.is_noop() {
            println!("nothing to change: `{stack}` already runs revision {}'s specs", target.revision.number);
            return Ok(ExitCode::SUCCESS);
        }
        println!("rolling `{stack}` back to revision {} ({})", target.revision.number, target.revision.started_at);
        print!("{}", crate::plan::human(&plan, &engine.describe(), current.map(|c| c.revision.number)));
        let opts = session.options(&plan, &progress);
        let next = rollout::Next { number: next_number(&revisions), kind: Kind::Rollback };
        let ended = rollout::execute(&engine, &desired, &plan, &world, next, &opts, &progress).await?;
        report(&engine, &stack, ended, started).await
    })
    .await
}

/// What a run holds while it has the lock.
struct Session<'a> {
    args: &'a RolloutArgs,
    fence: lock::Fence,
    signals: signals::Signals,
}

impl Session<'_> {
    /// Rollout options for `plan`: the soak covers Swarm's own update
    /// monitor window and one health-check interval of every service the
    /// plan changes, so Swarm never rolls a service back by itself after
    /// the deploy has exited 0.
    fn options(&self, plan: &Plan, progress: &Progress) -> rollout::Options {
        let needed = soak_needed(plan);
        let soak = soak_of(self.args, plan);
        if soak < needed {
            progress.note(&format!(
                "--soak {}s is shorter than the {}s that Swarm's update monitor and the health checks of \
                 the changed services need: Swarm may still roll a service back after this run ends",
                soak.as_secs(),
                needed.as_secs()
            ));
        }
        rollout::Options {
            deadline: Duration::from_secs(self.args.deadline),
            soak,
            fence: self.fence.clone(),
            signals: self.signals.clone(),
            verify: None,
        }
    }
}

/// The least soak, whatever the specs say.
const DEFAULT_SOAK_SECS: u64 = 5;

/// What the soak must be for `plan` (see `Plan::soak_needed`).
fn soak_needed(plan: &Plan) -> Duration {
    plan.soak_needed().max(Duration::from_secs(DEFAULT_SOAK_SECS))
}

/// The soak a rollout of `plan` holds for: `--soak`, else what it needs.
fn soak_of(args: &RolloutArgs, plan: &Plan) -> Duration {
    args.soak.map_or_else(|| soak_needed(plan), Duration::from_secs)
}

/// Changed services whose update policy cannot finish within `--deadline`
/// (see `budget`): refused before anything changes.
fn deadline_problems(args: &RolloutArgs, plan: &Plan, world: &World) -> Vec<String> {
    budget::check(plan, &world.nodes, Duration::from_secs(args.deadline), soak_of(args, plan))
}

/// Runs `body` holding the stack's deploy lock, after finishing what an
/// earlier run left; the lock is released whatever `body` returns.
async fn under_lock(
    engine: &Engine,
    stack: &str,
    command: &str,
    args: &RolloutArgs,
    signals: &signals::Signals,
    progress: &Progress,
    body: impl AsyncFnOnce(Session<'_>) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let lock = lock::acquire(engine, stack, command, args.break_lock).await?;
    let session = Session { args, fence: lock.fence(), signals: signals.clone() };
    let outcome = async {
        if let Some((holder, why)) = &lock.broke {
            progress.note(&format!("broke the deploy lock of {holder} ({why})"));
        }
        if let Some(why) = signals.fired() {
            return Err(signals::StoppedEarly(why).into());
        }
        let deadline = Duration::from_secs(args.deadline);
        let soak = Duration::from_secs(args.soak.unwrap_or(DEFAULT_SOAK_SECS));
        if let Some(code) = finish_unfinished(engine, stack, command, deadline, soak, &session.fence, progress).await? {
            return Ok(code);
        }
        if let Some(why) = signals.fired() {
            return Err(signals::StoppedEarly(why).into());
        }
        body(session).await
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
    Some(ExitCode::from(EXIT_REFUSED))
}

fn next_number(revisions: &[store::Stored]) -> u64 {
    revisions.iter().map(|s| s.revision.number).max().unwrap_or(0) + 1
}

/// Finishes what an earlier run left (see `recover`); an exit code when
/// that failed.
async fn finish_unfinished(
    engine: &Engine,
    stack: &str,
    command: &str,
    deadline: Duration,
    soak: Duration,
    fence: &lock::Fence,
    progress: &Progress,
) -> Result<Option<ExitCode>> {
    let recovered = recover::finish_dead(engine, stack, command, deadline, soak, fence, progress).await?;
    if let Some(bad) = recovered.iter().find(|r| r.outcome == Outcome::RollbackFailed) {
        eprintln!(
            "error: revision {} did not finish and rolling it back failed; fix the services below, then retry \
             (the next deploy, status or rollback tries again):",
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
                    eprintln!("pruned {} unused config(s) and secret version(s): {}", removed.len(), removed.join(", "))
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("warning: pruning old configs and secrets failed (harmless, retried next time): {e:#}")
                }
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
            eprintln!("rollback (the next deploy, status or rollback tries it again):");
            for f in &revert {
                eprintln!("  {}", f.report());
            }
            Ok(ExitCode::from(EXIT_ROLLBACK_FAILED))
        }
        Ended::Lost(lost) => {
            eprintln!("\nerror: {lost}");
            Ok(ExitCode::from(EXIT_LOCK_LOST))
        }
        Ended::Unrecorded(stored, why) => {
            eprintln!(
                "\nrevision {} converged and runs, but its outcome could not be recorded ({why}); \
                 the next deploy, status or rollback checks that it still runs and records it ({secs:.1}s).",
                stored.revision.number
            );
            Ok(ExitCode::from(EXIT_UNRECORDED))
        }
        Ended::StoppedEarly(why) => {
            eprintln!("\n{why} before any service changed: nothing was changed ({secs:.1}s).");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}
