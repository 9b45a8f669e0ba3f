//! `cargo xtask bench check`: how long a warm `cargo xtask check` takes, and
//! how much of it is spent in the external validators (promtool, amtool)
//! against the in-process work (generation, parsing, lint).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::check::run::{Timings, all};

const RUNS: u32 = 5;

pub fn run(root: &Path) -> Result<ExitCode> {
    // One unmeasured run warms the page cache and the tools' own startup.
    all(root, false, &mut Timings::default())?;
    let mut total = Duration::ZERO;
    let mut per_check: Vec<(&'static str, Duration)> = Vec::new();
    for _ in 0..RUNS {
        let mut timings = Timings::default();
        let start = Instant::now();
        all(root, false, &mut timings)?;
        total += start.elapsed();
        for (name, took) in timings.entries {
            match per_check.iter_mut().find(|(n, _)| *n == name) {
                Some((_, sum)) => *sum += took,
                None => per_check.push((name, took)),
            }
        }
    }
    let mean = total / RUNS;
    println!("warm `cargo xtask check`, mean of {RUNS} runs: {:.3} s", mean.as_secs_f64());
    println!("{:<22} {:>10} {:>8}", "part", "mean (s)", "share");
    for (name, sum) in &per_check {
        let m = *sum / RUNS;
        println!("{name:<22} {:>10.3} {:>7.1}%", m.as_secs_f64(), 100.0 * m.as_secs_f64() / mean.as_secs_f64());
    }
    let external: Duration = per_check
        .iter()
        .filter(|(n, _)| n.starts_with("promtool") || n.starts_with("amtool"))
        .map(|(_, d)| *d / RUNS)
        .sum();
    let generate = per_check.iter().find(|(n, _)| *n == "generate").map(|(_, d)| *d / RUNS).unwrap_or_default();
    println!(
        "promtool + amtool: {:.3} s ({:.1}% of check); generation alone: {:.3} s",
        external.as_secs_f64(),
        100.0 * external.as_secs_f64() / mean.as_secs_f64(),
        generate.as_secs_f64()
    );
    let json = serde_json::json!({
        "runs": RUNS,
        "check_mean_s": mean.as_secs_f64(),
        "external_validators_s": external.as_secs_f64(),
        "external_share": external.as_secs_f64() / mean.as_secs_f64(),
        "generate_s": generate.as_secs_f64(),
        "parts": per_check.iter().map(|(n, d)| (n.to_string(), (*d / RUNS).as_secs_f64())).collect::<std::collections::BTreeMap<_, _>>(),
    });
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("check.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(ExitCode::SUCCESS)
}
