//! The command line, declared in one place. Each subcommand is one stage of
//! the pipeline: source -> gen -> check -> pin -> plan -> deploy -> history.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Render, validate, pin and roll out the ETL platform's monitoring stack.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render dashboards, rule files, and the stack bundle (stack/rendered/).
    Gen(GenArgs),
    /// Validate everything: generated files up to date, promtool, amtool,
    /// PromQL and metric catalog, dashboard and rule lint, component configs.
    Check(CheckArgs),
    /// Resolve every image tag in stack/stack.toml to its registry digest (a
    /// workspace-built image: compute the tag its inputs hash to) and write
    /// stack/images.lock.
    Pin(PinArgs),
    /// Print the resolved image references and Swarm config names as JSON
    /// (what the Nix flake computes too; a test holds the two together).
    Pins,
    /// Show what a deploy would change in the Swarm, service by service.
    Plan(PlanArgs),
    /// Check, plan, and roll the whole stack out atomically: every service
    /// reaches the new revision healthy, or all of them go back.
    ///
    /// Exit codes: 0 deployed (or nothing to change); 1 refused, interrupted
    /// or failed before anything changed (preflight problems are listed all
    /// at once); 2 the rollout failed and every service was rolled back to
    /// its previous spec (the reason, task errors and log tail are printed);
    /// 3 the rollout failed and the rollback failed too (the next run tries
    /// again); 4 another deploy holds the stack's lock (its holder is
    /// named); 5 this run lost the lock to another process mid-way and
    /// stopped writing; 6 every service converged but the outcome could not
    /// be recorded (the next run records it); 64 usage error.
    Deploy(DeployArgs),
    /// Roll the stack back to the previous (or a named) recorded revision.
    ///
    /// Same atomic machinery and exit codes as `deploy`: 0 done, 1 refused,
    /// 2 failed and restored, 3 restoring failed too, 4 locked, 5 lock lost,
    /// 6 converged but unrecorded, 64 usage error.
    Rollback(RollbackArgs),
    /// Current revision, per-service state and the revision history.
    Status(StatusArgs),
    /// A stack secret's next version: `set` reads it from standard input
    /// (no echo on a terminal), `rotate` generates it; either then rolls,
    /// atomically, exactly the services that mount the secret (same lock,
    /// history and exit codes as `deploy`; a failed roll goes back to the
    /// old version and removes the new one).
    Secret(SecretArgs),
    /// Check the live stack against the code: every expected scrape target
    /// up, every rule group loaded and evaluating, Alertmanager on the
    /// rendered config, every metric that dashboards and alerts read
    /// present, Grafana's data sources, dashboards and alert rules, log
    /// lines from every node in Loki. Exit codes: 0 no problem; 1 problems
    /// (each named) or the stack could not be read; 64 usage error.
    Verify(VerifyArgs),
    /// Benchmarks: `check` timing, or `deploy` against `docker stack deploy`.
    Bench(BenchArgs),
    /// What a change does, against a base revision: dashboards, alert rules
    /// and their tests, Alertmanager routing (with amtool) and the services
    /// that would roll; Markdown for a pull-request comment, or JSON.
    Review(ReviewArgs),
    /// Regenerate a metric catalog file (stack/catalog/<SOURCE>.toml) from the
    /// upstream Go source at the pinned tag.
    ExtractCatalog(ExtractCatalogArgs),
}

#[derive(Debug, Args)]
pub struct ExtractCatalogArgs {
    /// The catalog source: cadvisor, loki or promtail.
    pub source: String,
    /// A git directory with the upstream history (a bare mirror or a
    /// clone's .git); files are read at the tag, no work tree needed.
    #[arg(long, value_name = "DIR")]
    pub git_dir: PathBuf,
    /// The upstream tag to read (default: the image tag pinned in
    /// stack/stack.toml, with or without a leading `v`).
    #[arg(long)]
    pub tag: Option<String>,
    /// Why `--tag` differs from the pinned tag; required then, and written
    /// into the catalog's provenance with `accepted_pin`.
    #[arg(long)]
    pub reason: Option<String>,
    /// Write here instead of stack/catalog/<SOURCE>.toml.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Do not write anything: exit non-zero naming every generated file that
    /// is stale or missing.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip the checks that need external validators (promtool, amtool,
    /// haproxy).
    #[arg(long)]
    pub offline: bool,
    /// Also run `loki -verify-config`, `otelcol-contrib validate` and
    /// Promtail's `-check-syntax` from their pinned images, pulling the
    /// images the Docker engine lacks (without it only present ones run).
    #[arg(long, conflicts_with = "offline")]
    pub with_images: bool,
    /// Run promtool and amtool even where `target/check-cache/` holds their
    /// verdict on the same inputs and tool version (and store nothing).
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Pin only these images (names from `[images]` in stack/stack.toml).
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// Talk plain HTTP to this registry host (e.g. 127.0.0.1:5000).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Stack definition to read images from (default stack/stack.toml).
    #[arg(long, value_name = "FILE")]
    pub stack_file: Option<PathBuf>,
    /// Accept a tag that now points at a different digest than the lock's.
    #[arg(long)]
    pub update: bool,
    /// Lock file to write (default stack/images.lock).
    #[arg(long, value_name = "FILE")]
    pub lock_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct Target {
    /// Rendered bundle directory (default stack/rendered).
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Stack name (namespace) in the Swarm; defaults to the one in the bundle.
    #[arg(long)]
    pub stack: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: Target,
    /// Make a lone engine a single-node Swarm and create the stack's network
    /// when they are missing, so a first deploy needs nothing else.
    #[arg(long)]
    pub init: bool,
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Skip `cargo xtask check` before deploying (the bundle is still read).
    #[arg(long)]
    pub skip_check: bool,
    /// Run `cargo xtask verify` as the last step of the health gate: a
    /// problem it finds rolls the deploy back (exit 2).
    #[arg(long)]
    pub verify: bool,
    /// With --verify: seconds verify may retry until its checks pass.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub verify_wait: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Seconds to keep retrying while problems remain (a service just
    /// started needs a scrape and a rule evaluation first); 0 checks once.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: Target,
    /// Revision number to go back to (default: the successful one before
    /// the current).
    #[arg(long, value_name = "N")]
    pub to: Option<u64>,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// How a deploy or rollback moves: shared by both, since a rollback is a
/// rollout to an older revision.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// Seconds the whole rollout may take before it is rolled back. One
    /// shorter than the changed services' update policy needs is refused
    /// before anything changes.
    #[arg(long, default_value_t = 300)]
    pub deadline: u64,
    /// Seconds every changed service must stay healthy before it counts.
    /// Default: the longest update monitor window and health-check interval
    /// of the changed services (at least 5), so Swarm never rolls a service
    /// back by itself after the run has ended; a shorter value is warned about.
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// Remove a deploy lock held by a live process before starting (a dead
    /// holder's lock is broken automatically).
    #[arg(long)]
    pub break_lock: bool,
}

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    pub action: SecretAction,
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Create the next version from standard input (a terminal does not
    /// echo it; piped input loses one trailing newline) and roll it out.
    Set(SecretChange),
    /// Create the next version with a new random value (only secrets the
    /// stack generates) and roll it out.
    Rotate(SecretChange),
}

#[derive(Debug, Args)]
pub struct SecretChange {
    /// The secret's key under `[secrets]` in stack/stack.toml (e.g.
    /// `grafana_admin_password`).
    pub name: String,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The revision to compare the working tree with (read with git; on a
    /// shallow clone, fetch it first).
    #[arg(long, value_name = "REV", default_value = "origin/main")]
    pub base: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub output: ReviewFormat,
    /// Copy the before/after SVG previews of changed dashboards here
    /// (`before/<name>.svg`, `after/<name>.svg`), linked from the review.
    #[arg(long, value_name = "DIR")]
    pub previews_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time `cargo xtask check` cold (empty cache), warm with nothing changed,
    /// and after one rule file changed, as ratios to the cold run.
    Check,
    /// Deploy one stack with `docker stack deploy --detach=false` and with
    /// `cargo xtask deploy` and report times and ratios.
    Deploy,
    /// The same side by side on multi-node beds (scripts/swarm-bed.sh, as
    /// root): first deploy, no-op and a global-service change per size.
    DeployNodes {
        /// Node counts, one bed each.
        #[arg(long, value_delimiter = ',', default_value = "1,3,5")]
        nodes: Vec<u32>,
    },
}
