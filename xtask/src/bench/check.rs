//! `cargo xtask bench check`: `check` with an empty cache (cold), again with
//! nothing changed (warm), and after a change to one rule file, side by side
//! in one run, each as a ratio to the cold run.
//!
//! It runs on a copy of the working tree in a temporary directory, with a
//! cache of its own, so the benchmark neither edits the repository nor reads
//! or clears `target/check-cache/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::check::cache::{Cache, Stats};
use crate::check::promtool::{TempDir, rules_mount, yaml_files};
use crate::check::run::{Timings, all};
use crate::source::Source;

/// Measured runs of the warm and one-file scenarios (the cold one runs once:
/// each cold run needs a cache of its own and takes seconds).
const RUNS: u32 = 5;
/// Not copied: build output, history, installed packages and tools.
const SKIPPED: &[&str] = &["target", ".git", "node_modules", ".tools"];

/// One scenario's mean wall time, mean time per part, and cache use.
#[derive(Debug)]
struct Scenario {
    name: &'static str,
    runs: u32,
    mean: Duration,
    parts: BTreeMap<&'static str, Duration>,
    stats: Stats,
}

pub fn run(root: &Path) -> Result<ExitCode> {
    let tmp = TempDir::new("bench-check").map_err(anyhow::Error::msg)?;
    let copy = tmp.path().join("repo");
    copy_tree(root, &copy)?;
    if root.join(".tools").exists() {
        // promtool and amtool as `check` finds them in the repository.
        std::os::unix::fs::symlink(root.join(".tools"), copy.join(".tools")).context("linking .tools")?;
    }
    let source = Source::load(&copy)?;
    let rule_file = rules_mount(&source)
        .ok()
        .and_then(|(_, dir)| yaml_files(&copy, dir).into_iter().next())
        .context("no generated rule file to change")?;
    let cache_dir = tmp.path().join("cache");

    // One unmeasured, uncached run warms the page cache and the tools' startup.
    all(&copy, false, &Cache::disabled(), &mut Timings::default())?;
    let cold = measure("cold (empty cache)", 1, &copy, &cache_dir, |_| Ok(()))?;
    let warm = measure("warm, nothing changed", RUNS, &copy, &cache_dir, |_| Ok(()))?;
    let one_file = measure("one rule file changed", RUNS, &copy, &cache_dir, |run| {
        // A new comment each run, so each run sees a file it has not seen.
        let path = copy.join(&rule_file);
        let mut text = std::fs::read_to_string(&path).with_context(|| format!("reading {rule_file}"))?;
        text.push_str(&format!("# changed by `cargo xtask bench check`, run {run}\n"));
        std::fs::write(&path, text).with_context(|| format!("writing {rule_file}"))
    })?;
    let scenarios = [cold, warm, one_file];

    let cold_s = scenarios[0].mean.as_secs_f64();
    println!("`cargo xtask check` (promtool and amtool verdicts cached; changed file: {rule_file})");
    println!(
        "{:<24} {:>5} {:>10} {:>9} {:>10} {:>11}",
        "scenario", "runs", "mean (s)", "vs cold", "tool runs", "from cache"
    );
    for s in &scenarios {
        let runs = s.runs as usize;
        println!(
            "{:<24} {:>5} {:>10.3} {:>9.3} {:>10} {:>11}",
            s.name,
            s.runs,
            s.mean.as_secs_f64(),
            s.mean.as_secs_f64() / cold_s,
            s.stats.misses / runs,
            s.stats.hits / runs
        );
    }
    println!("\nmean seconds per part:");
    println!("{:<22} {:>10} {:>10} {:>10}", "part", "cold", "warm", "one file");
    for part in scenarios[0].parts.keys() {
        let secs = |s: &Scenario| s.parts.get(part).copied().unwrap_or_default().as_secs_f64();
        println!(
            "{part:<22} {:>10.3} {:>10.3} {:>10.3}",
            secs(&scenarios[0]),
            secs(&scenarios[1]),
            secs(&scenarios[2])
        );
    }

    let json = serde_json::json!({
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "changed_file": rule_file,
        "scenarios": scenarios.iter().map(|s| serde_json::json!({
            "name": s.name,
            "runs": s.runs,
            "mean_s": s.mean.as_secs_f64(),
            "ratio_to_cold": s.mean.as_secs_f64() / cold_s,
            "tool_runs_per_check": s.stats.misses / s.runs as usize,
            "cached_per_check": s.stats.hits / s.runs as usize,
            "parts_s": s.parts.iter().map(|(n, d)| (n.to_string(), d.as_secs_f64())).collect::<BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("check.json"), serde_json::to_string_pretty(&json)? + "\n")
        .context("writing target/bench/check.json")?;
    Ok(ExitCode::SUCCESS)
}

/// `runs` checks of `repo` with the cache in `cache_dir`, `before(run)`
/// called ahead of each and not timed.
fn measure(
    name: &'static str,
    runs: u32,
    repo: &Path,
    cache_dir: &Path,
    mut before: impl FnMut(u32) -> Result<()>,
) -> Result<Scenario> {
    let mut total = Duration::ZERO;
    let mut parts: BTreeMap<&'static str, Duration> = BTreeMap::new();
    let mut stats = Stats::default();
    for run in 0..runs {
        before(run)?;
        let cache = Cache::in_directory(cache_dir.to_path_buf());
        let mut timings = Timings::default();
        let start = Instant::now();
        all(repo, false, &cache, &mut timings)?;
        total += start.elapsed();
        for (part, took) in timings.entries {
            *parts.entry(part).or_default() += took;
        }
        let used = cache.stats();
        stats.hits += used.hits;
        stats.misses += used.misses;
    }
    let parts = parts.into_iter().map(|(part, sum)| (part, sum / runs)).collect();
    Ok(Scenario { name, runs, mean: total / runs, parts, stats })
}

/// Copies the working tree at `from` to `to`, without [`SKIPPED`] directories.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).with_context(|| format!("creating {}", dst.display()))?;
        for entry in std::fs::read_dir(&src).with_context(|| format!("listing {}", src.display()))? {
            let entry = entry.with_context(|| format!("listing {}", src.display()))?;
            let name = entry.file_name();
            if SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            let (src, dst) = (entry.path(), dst.join(&name));
            if entry.file_type().with_context(|| format!("reading {}", src.display()))?.is_dir() {
                stack.push((src, dst));
            } else {
                std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
            }
        }
    }
    Ok(())
}
