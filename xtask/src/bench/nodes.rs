//! `cargo xtask bench deploy-nodes`: how deploy times grow with the node
//! count. For each size (default 1, 3 and 5 nodes) a multi-node bed
//! (scripts/swarm-bed.sh, named `mnbsc<N>`: up to 3 managers, the rest
//! workers, `monitoring=true` on node 1) runs the bench stack twice, once
//! deployed by `docker stack deploy --detach=false` and once by `cargo
//! xtask deploy`, both against node 1:
//!
//! 1. first deploy; 2. no-op redeploy (and version bumps); 3. a change to
//!    the global node-exporter (one task per node).
//!
//! Prints the times side by side with ratios (ours / baseline, and each
//! global change against the same side's on 1 node) and writes
//! `target/bench/deploy-nodes.json`. Nothing is asserted: the issue's
//! targets are reported as met or not. Every bed is torn down, also after
//! a failure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::deploy::{
    FirstAndNoop, Knobs, Side, XTASK, create_network, first_and_noop, free_port, remove_stack, test_images,
    which_docker,
};
use crate::swarm::engine::Engine;

/// One bed size's figures, in seconds.
#[derive(Debug, Clone, Default)]
struct Row {
    nodes: u32,
    first: FirstAndNoop,
    base_global: f64,
    ours_global: f64,
}

pub fn run(root: &Path, sizes: &[u32]) -> Result<ExitCode> {
    if sizes.is_empty() || sizes.iter().any(|n| !(1..=20).contains(n)) {
        bail!("--nodes takes node counts from 1 to 20, e.g. `--nodes 1,3,5`");
    }
    let images = test_images(root)?;
    let docker_cli = which_docker()?;
    let exe = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    std::fs::copy(std::env::current_exe()?, &exe).context("copying the xtask binary")?;
    XTASK.set(exe.clone()).ok();
    let script = root.join("scripts/swarm-bed.sh");
    let mut rows = Vec::new();
    let mut failed = None;
    for &n in sizes {
        let bed = format!("mnbsc{n}");
        let measured = bed_up(&script, &bed, n).and_then(|(registry, host)| {
            eprintln!("== {n} node(s): bed {bed}, registry {registry}");
            measure(&images, &docker_cli, n, &registry, &host)
        });
        bed_down(&script, &bed);
        match measured {
            Ok(row) => rows.push(row),
            Err(e) => {
                failed = Some(e.context(format!("on {n} node(s)")));
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&exe);
    if let Some(e) = failed {
        return Err(e);
    }
    report(root, &rows)
}

/// Starts the bed; its registry and node 1's `DOCKER_HOST`.
fn bed_up(script: &Path, bed: &str, n: u32) -> Result<(String, String)> {
    let managers = n.min(3);
    let out = Command::new(script)
        .args(["up", bed])
        .env("BED_MANAGERS", managers.to_string())
        .env("BED_WORKERS", (n - managers).to_string())
        .env("BED_LABEL_NODE", "1")
        .env("BED_OWNER_PID", std::process::id().to_string())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("swarm-bed.sh up {bed} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let path = PathBuf::from("/var/lib/swarm-bed").join(bed).join("bed.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table = text.parse().with_context(|| format!("parsing {}", path.display()))?;
    let registry = doc.get("registry").and_then(|v| v.as_str()).context("bed.toml: registry")?.to_owned();
    let socket = doc
        .get("node")
        .and_then(|v| v.as_array())
        .and_then(|nodes| nodes.first())
        .and_then(|node| node.get("socket"))
        .and_then(|v| v.as_str())
        .context("bed.toml: node 1's socket")?;
    Ok((registry, format!("unix://{socket}")))
}

fn bed_down(script: &Path, bed: &str) {
    match Command::new(script).args(["down", bed]).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!("warning: swarm-bed.sh down {bed}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("warning: swarm-bed.sh down {bed}: {e}"),
    }
}

fn measure(images: &toml::Table, docker: &Path, n: u32, registry: &str, host: &str) -> Result<Row> {
    let rt = crate::deploy::runtime()?;
    let engine = rt.block_on(Engine::connect_to(host))?;
    let on = Some((registry, host));
    let base = Side::new("baseline", format!("benchbase{n}n"), free_port(29_190)?, images, on)?;
    let ours = Side::new("ours", format!("benchours{n}n"), free_port(29_290)?, images, on)?;
    for side in [&base, &ours] {
        rt.block_on(create_network(&engine, &side.network))?;
    }
    let result = sizes_run(&rt, &engine, docker, n, &base, &ours);
    for side in [&base, &ours] {
        rt.block_on(remove_stack(&engine, &side.stack, &side.network));
        side.remove_dir();
    }
    result
}

fn sizes_run(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    docker: &Path,
    n: u32,
    base: &Side,
    ours: &Side,
) -> Result<Row> {
    let ok = |what: &str, (took, rc): (f64, i32)| {
        anyhow::ensure!(rc == 0, "{what} exited {rc}");
        Ok(took)
    };
    let v1 = Knobs::default();
    base.render(&v1)?;
    ours.render(&v1)?;
    let first = first_and_noop(rt, engine, docker, base, ours)?;

    eprintln!("== global change: node-exporter's arguments, one task per node");
    let v2 = Knobs { node_exporter_extra: r#", "--web.max-requests=41""#, ..Knobs::default() };
    base.render(&v2)?;
    ours.render(&v2)?;
    let base_global = ok("docker stack deploy (global change)", base.run_baseline(docker)?)?;
    let ours_global = ok("cargo xtask deploy (global change)", ours.run_ours()?)?;
    Ok(Row { nodes: n, first, base_global, ours_global })
}

fn report(root: &Path, rows: &[Row]) -> Result<ExitCode> {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let one = rows.iter().find(|r| r.nodes == 1);
    let mut table = String::new();
    let _ = writeln!(
        table,
        "deploy benchmark on multi-node beds (docker stack deploy --detach=false = base, cargo xtask deploy = ours), {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let _ = writeln!(
        table,
        "{:>5} | {:>22} | {:>30} | {:>22} | {:>17}",
        "nodes",
        "first: base/ours/ratio",
        "no-op: base/ours/ratio (bumps)",
        "global change: base/ours/ratio",
        "global vs 1 node"
    );
    let mut doc_rows = Vec::new();
    for r in rows {
        let base_scale = one.map(|o| ratio(r.base_global, o.base_global)).unwrap_or(f64::NAN);
        let ours_scale = one.map(|o| ratio(r.ours_global, o.ours_global)).unwrap_or(f64::NAN);
        let _ = writeln!(
            table,
            "{:>5} | {:>6.2}s {:>6.2}s {:>6.3} | {:>6.2}s {:>6.2}s {:>6.3} ({}/{}) | {:>6.2}s {:>6.2}s {:>6.3} | base {:.2} ours {:.2}",
            r.nodes,
            r.first.base_first,
            r.first.ours_first,
            ratio(r.first.ours_first, r.first.base_first),
            r.first.base_noop,
            r.first.ours_noop,
            ratio(r.first.ours_noop, r.first.base_noop),
            r.first.base_bumps,
            r.first.ours_bumps,
            r.base_global,
            r.ours_global,
            ratio(r.ours_global, r.base_global),
            base_scale,
            ours_scale,
        );
        doc_rows.push(json!({
            "nodes": r.nodes,
            "first_deploy": { "baseline_s": r.first.base_first, "ours_s": r.first.ours_first, "ratio": ratio(r.first.ours_first, r.first.base_first) },
            "noop_redeploy": {
                "baseline_s": r.first.base_noop, "ours_s": r.first.ours_noop, "ratio": ratio(r.first.ours_noop, r.first.base_noop),
                "baseline_version_bumps": r.first.base_bumps, "ours_version_bumps": r.first.ours_bumps,
            },
            "global_change": {
                "baseline_s": r.base_global, "ours_s": r.ours_global, "ratio": ratio(r.ours_global, r.base_global),
                "baseline_vs_1_node": base_scale, "ours_vs_1_node": ours_scale,
            },
        }));
    }
    let largest = rows.iter().max_by_key(|r| r.nodes);
    let scales = match (one, largest) {
        (Some(o), Some(l)) if l.nodes > 1 => Some(l.ours_global <= 2.0 * o.ours_global),
        _ => None,
    };
    let beats = largest.map(|l| l.ours_global < l.base_global);
    let said = |m: Option<bool>| match m {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured (needs 1 node and more)",
    };
    let n = largest.map_or(0, |l| l.nodes);
    let _ = writeln!(table, "\ntargets (issue 11):");
    let _ = writeln!(table, "  global change on {n} nodes ≤ 2× the same on 1 node:   {}", said(scales));
    let _ = writeln!(table, "  global change on {n} nodes faster than the baseline: {}", said(beats));
    print!("{table}");
    let doc = json!({
        "format": 1,
        "rows": doc_rows,
        "targets": { "global_scales": scales, "global_faster": beats },
    });
    let out =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target")).join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("deploy-nodes.json"), serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("written: {}", out.join("deploy-nodes.json").display());
    Ok(ExitCode::SUCCESS)
}
