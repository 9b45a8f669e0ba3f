//! `cargo xtask check` without promtool, amtool and haproxy on the machine runs them
//! from the pinned Prometheus, Alertmanager and HAProxy images, and reports exactly
//! what the installed tools report: on a valid tree, and on a tree with a
//! broken rule file and a broken Alertmanager config (same findings, naming
//! the same file and line).
//!
//! A scratch copy of the repository pins the test images (which carry
//! /bin/promtool and /bin/amtool, the Debian builds of the versions the
//! stack pins) in place of the upstream ones, and is rendered with `gen`.
//! Each tree is checked twice: with a `PATH` holding only promtool and
//! amtool, and with an empty `PATH`. Skipped (with a message) without an
//! engine, the test images or the tools; failed in CI.

#![allow(clippy::unwrap_used)] // a test that cannot set up its scratch copy should panic

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/live.rs"]
mod live;

use std::path::Path;
use std::process::{Command, Stdio};

/// The directories `check` reads (sources, generated files, catalog).
const COPIED: &[&str] = &["stack", "alerts", "dashboards"];

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if let Err(e) = harness::test_images() {
        return Some(e);
    }
    let engine = harness::docker_cli(&["version", "--format", "{{.Server.Version}}"]);
    if !engine.status.success() {
        return Some(format!("no Docker engine: {}", String::from_utf8_lossy(&engine.stderr).trim()));
    }
    ["promtool", "amtool", "haproxy"]
        .iter()
        .find(|t| live::find_tool(t, &t.to_ascii_uppercase()).is_none())
        .map(|t| format!("{t} not found (scripts/install-tools.sh)"))
}

/// In `text`, the lines of the block that starts with the line `header`
/// (up to the next line starting with `[`) that set `key` get `value`.
fn set_in_block(text: &str, header: &str, key: &str, value: &str) -> String {
    let mut inside = false;
    let mut hits = 0;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            inside = false;
        }
        if line == header {
            inside = true;
        }
        if inside && line.starts_with(&format!("{key} = ")) {
            out.push_str(&format!("{key} = \"{value}\"\n"));
            hits += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(hits, 1, "`{key}` once under `{header}`");
    out
}

/// Pins test image `name` in stack.toml and stack/images.lock.
fn pin_test_image(root: &Path, images: &toml::Table, name: &str) {
    let image = &images["images"][name];
    let (repository, tag) = image["reference"].as_str().unwrap().rsplit_once(':').unwrap();
    pin(root, name, repository, tag, image["digest"].as_str().unwrap());
}

/// Pins image `name` to `repository:tag@digest` in stack.toml and stack/images.lock.
fn pin(root: &Path, name: &str, repository: &str, tag: &str, digest: &str) {
    let stack = root.join("stack/stack.toml");
    let mut text = std::fs::read_to_string(&stack).unwrap();
    text = set_in_block(&text, &format!("[images.{name}]"), "repository", repository);
    text = set_in_block(&text, &format!("[images.{name}]"), "tag", tag);
    std::fs::write(&stack, text).unwrap();
    // In the lock, a block is `[[image]]` then `name = "<name>"`.
    let lock = root.join("stack/images.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    let marked = text.replace(&format!("[[image]]\nname = \"{name}\"\n"), "[[image]] # this one\n");
    let header = "[[image]] # this one";
    let mut out = set_in_block(&marked, header, "repository", repository);
    out = set_in_block(&out, header, "tag", tag);
    out = set_in_block(&out, header, "digest", digest);
    std::fs::write(&lock, out.replace(&format!("{header}\n"), &format!("[[image]]\nname = \"{name}\"\n"))).unwrap();
}

/// One `check` of the copy with `path` as `PATH`: its report, and the ids
/// of the validator containers it left behind (there must be none).
fn check(root: &Path, path: &Path, flags: &[&str]) -> (String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("check")
        .args(flags)
        .env("MONITORING_REPO", root)
        .env("PATH", path)
        .env_remove("PROMTOOL")
        .env_remove("AMTOOL")
        .env_remove("HAPROXY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let left = harness::docker_cli(&["ps", "-aq", "--filter", &format!("label=xtask.check={pid}")]);
    (report, String::from_utf8_lossy(&left.stdout).trim().to_owned())
}

/// How many remembered verdicts of promtool and amtool the copy's cache holds.
fn tool_verdicts(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root.join("target/check-cache")) else { return 0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| {
            let body = text.split_once('\n')?.1.to_owned();
            serde_json::from_str::<serde_json::Value>(&body).ok()
        })
        .filter(|entry| matches!(entry["rule"].as_str(), Some("promtool" | "amtool")))
        .count()
}

/// The tag `[images.<name>]` of stack.toml sets.
fn tag_of(stack_toml: &str, name: &str) -> String {
    let table: toml::Table = stack_toml.parse().unwrap();
    table["images"][name]["tag"].as_str().unwrap().to_owned()
}

/// The 1-based line of `needle` in `file`.
fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file).unwrap().lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn check_without_promtool_and_amtool_runs_them_from_the_pinned_images() {
    if let Some(why) = missing() {
        assert!(std::env::var_os("CI").is_none(), "check_images: {why}");
        eprintln!("check_images: SKIPPED: {why}");
        return;
    }
    let images = harness::test_images().unwrap();
    let scratch = tempfile::Builder::new().prefix("check-images-").tempdir().unwrap();
    let root = scratch.path().join("repo");
    for dir in COPIED {
        live::copy_dir(&live::repo().join(dir), &root.join(dir));
    }
    live::copy_build_inputs(&root);
    for name in ["prometheus", "alertmanager", "haproxy"] {
        pin_test_image(&root, &images, name);
    }
    let rendered = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("gen").env("MONITORING_REPO", &root).output().unwrap();
    assert!(rendered.status.success(), "gen: {}", String::from_utf8_lossy(&rendered.stderr));

    // Two PATHs that differ only in the tools.
    let with_tools = scratch.path().join("with-tools");
    let without_tools = scratch.path().join("without-tools");
    std::fs::create_dir_all(&with_tools).unwrap();
    std::fs::create_dir_all(&without_tools).unwrap();
    for name in ["promtool", "amtool", "haproxy"] {
        std::os::unix::fs::symlink(live::find_tool(name, &name.to_ascii_uppercase()).unwrap(), with_tools.join(name))
            .unwrap();
    }

    // A valid tree: no findings either way, and the image's verdicts are
    // remembered under keys of their own (where the tool came from).
    let (local, left) = check(&root, &with_tools, &[]);
    assert_eq!(local.trim(), "check: no problems", "{local}");
    assert_eq!(left, "");
    let local_verdicts = tool_verdicts(&root);
    assert!(local_verdicts > 0, "promtool and amtool verdicts are cached");
    let (from_images, left) = check(&root, &without_tools, &[]);
    assert_eq!(from_images, local);
    assert_eq!(left, "", "the validator container is removed");
    assert_eq!(tool_verdicts(&root), 2 * local_verdicts, "no verdict of the installed tools is reused");

    // `--with-images` with the Loki, collector and Promtail images pinned
    // to digests the (local) registry does not have: each is a finding that
    // names the image and how to get it. (Without the flag they are
    // skipped: the runs above had none of those images.)
    let registry = images["registry"].as_str().unwrap();
    let absent = format!("sha256:{}", "0".repeat(64));
    let stack_toml = std::fs::read_to_string(root.join("stack/stack.toml")).unwrap();
    let pinned: Vec<&str> = ["loki", "otel-collector", "promtail"]
        .into_iter()
        .filter(|n| stack_toml.contains(&format!("[images.{n}]")))
        .collect();
    for name in &pinned {
        // The tag stays: the metric catalogs are checked against it.
        let tag = tag_of(&stack_toml, name);
        pin(&root, name, &format!("{registry}/monitoring-test/absent-{name}"), &tag, &absent);
    }
    let rendered = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("gen").env("MONITORING_REPO", &root).output().unwrap();
    assert!(rendered.status.success(), "gen: {}", String::from_utf8_lossy(&rendered.stderr));
    let (plain, _) = check(&root, &with_tools, &[]);
    assert_eq!(plain.trim(), "check: no problems", "{plain}");
    let (with_images, _) = check(&root, &with_tools, &["--with-images"]);
    let loki = format!("{registry}/monitoring-test/absent-loki@{absent}");
    for needle in [
        format!("service loki: [loki -verify-config] image {loki} is not present on the Docker engine"),
        format!("`docker pull {loki}` where its registry is reachable"),
    ] {
        assert!(with_images.contains(&needle), "{needle}\nnot in:\n{with_images}");
    }
    assert_eq!(
        with_images.lines().filter(|l| l.contains("is not present on the Docker engine")).count(),
        pinned.len() + usize::from(pinned.contains(&"otel-collector")),
        "one finding per validator (the collector's image validates two configs)\n{with_images}"
    );

    // A broken rule file and a broken Alertmanager config.
    let rules = "alerts/generated/rules/hosts.rules.yml";
    let text = std::fs::read_to_string(root.join(rules)).unwrap();
    let expr = text.lines().find(|l| l.trim_start().starts_with("expr: ")).unwrap();
    let broken = format!("{}expr: up == == 0", &expr[..expr.len() - expr.trim_start().len()]);
    std::fs::write(root.join(rules), text.replacen(expr, &broken, 1)).unwrap();
    let am = "stack/configs/alertmanager/alertmanager.yml";
    let text = std::fs::read_to_string(root.join(am)).unwrap();
    assert!(text.contains("\nreceivers:\n"), "alertmanager.yml has a receivers list");
    let text = text.replacen(
        "\nreceivers:\n",
        "\nreceivers:\n  - name: broken\n    webhook_configs:\n      - url_typo: http://example.invalid\n",
        1,
    );
    std::fs::write(root.join(am), text).unwrap();
    let (rule_line, am_line) = (line_of(&root.join(rules), "up == == 0"), line_of(&root.join(am), "url_typo"));

    let (local, _) = check(&root, &with_tools, &[]);
    let (from_images, left) = check(&root, &without_tools, &[]);
    assert_eq!(from_images, local);
    assert_eq!(left, "");
    let rule_finding = format!("{rules}: {rule_line}:");
    assert!(local.lines().any(|l| l.starts_with(&rule_finding)), "a promtool finding at {rule_finding}\n{local}");
    let am_finding = format!("line {am_line}: field url_typo not found");
    assert!(
        local.contains(&format!("{am}: [amtool]")) && local.contains(&am_finding),
        "an amtool finding on {am} at line {am_line}\n{local}"
    );
}
