//! `cargo xtask review` on real changes between two commits of a scratch
//! repository, asserting the exact review text.
//!
//! The working tree must be what the compiled `gen` writes, so the fixture
//! goes the other way round from a pull request's history: the repository's
//! files are copied, edited back into an "earlier" state and committed as
//! the base; then the current files are restored in the working tree. What
//! the base differs in: a dashboard threshold, a moved panel, a retitled
//! panel, an alert rule (and its tests) that the working tree adds, a
//! severity the working tree lowers, the Alertmanager route of the database
//! team's critical alerts, a panel query, a log alert's threshold, and
//! the Grafana image (the base's bundle
//! rendered by `gen` from the base's sources). Everything else is the same
//! on both sides and must not appear.

#![allow(clippy::unwrap_used)] // a fixture that cannot be built should panic

#[path = "e2e/live.rs"]
mod live;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What `review` and `gen` read, copied from the repository.
const COPIED: &[&str] = &["stack", "dashboards/generated", "alerts/generated", "alerts/runbooks"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// amtool for the routing part, or `None` (skipped) outside CI.
fn amtool() -> Option<PathBuf> {
    let local = repo().join(".tools/bin/amtool");
    let found = std::env::var_os("AMTOOL").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| {
        if local.is_file() {
            return Some(local);
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|d| d.join("amtool")).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "amtool not found (CI is set): run scripts/install-tools.sh");
        eprintln!("skipped: amtool not found");
    }
    found
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let name = entry.unwrap().file_name();
            copy(&from.join(&name), &to.join(&name));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// The repository's reviewed files, exactly, in `dir` (earlier copies and
/// their leftovers removed).
fn restore(dir: &Path) {
    for path in COPIED {
        let target = dir.join(path);
        if target.exists() {
            std::fs::remove_dir_all(&target).unwrap();
        }
        copy(&repo().join(path), &target);
    }
    // What `check` hashes for the workspace-built image (the same in the
    // base and the working tree).
    live::copy_build_inputs(dir);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn xtask(dir: &Path, amtool: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("MONITORING_REPO", dir)
        .env("AMTOOL", amtool)
        .output()
        .unwrap()
}

fn xtask_ok(dir: &Path, amtool: &Path, args: &[&str]) -> String {
    let out = xtask(dir, amtool, args);
    assert!(out.status.success(), "xtask {args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `path` in `dir` with `old` replaced by `new`; `old` must be there once.
fn edit(dir: &Path, path: &str, old: &str, new: &str) {
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches(old).count(), 1, "{path} should contain `{old}` once");
    std::fs::write(&file, text.replacen(old, new, 1)).unwrap();
}

/// Removes from `path` every line starting with `start` and the lines after
/// it that start with `body` (the indentation of its contents).
fn cut_blocks(dir: &Path, path: &str, start: &str, body: &str) {
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut out = String::new();
    let mut cutting = false;
    let mut cut = 0;
    for line in text.lines() {
        if line.starts_with(start) {
            cutting = true;
            cut += 1;
        } else if cutting && !line.starts_with(body) {
            cutting = false;
        }
        if !cutting {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(cut > 0, "{path} has no `{start}`");
    std::fs::write(&file, out).unwrap();
}

/// Applies `change` to the panel of a dashboard with this title and type.
fn edit_panel(dir: &Path, path: &str, title: &str, kind: &str, change: impl Fn(&mut serde_json::Value)) {
    let file = dir.join(path);
    let mut board: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let panel = board["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["title"] == title && p["type"] == kind)
        .unwrap_or_else(|| panic!("{path} has no {kind} panel \"{title}\""));
    change(panel);
    std::fs::write(&file, serde_json::to_string_pretty(&board).unwrap() + "\n").unwrap();
}

/// A scratch git repository whose HEAD is the "earlier" state and whose
/// working tree is the repository's current one.
fn fixture(amtool: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    restore(dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "review@example.invalid"]);
    git(dir, &["config", "user.name", "review fixture"]);

    // The base's sources: an older Grafana, and no route of its own for the
    // database team's critical alerts; its bundle rendered by gen.
    edit(dir, "stack/stack.toml", "tag = \"13.2.3\"", "tag = \"13.2.2\"");
    edit(
        dir,
        "stack/images.lock",
        "tag = \"13.2.3\"\ndigest = \"sha256:b28bae15e219c998fb0e0424ed724930cc61b1f61fb404d47c862f9a23f9e572\"",
        // A made-up earlier pin: review compares references, it never pulls.
        "tag = \"13.2.2\"\ndigest = \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
    );
    edit(
        dir,
        "stack/configs/alertmanager/alertmanager.yml",
        "        - matchers: [team=\"database\"]\n          receiver: database-critical\n",
        "",
    );
    xtask_ok(dir, amtool, &["gen"]);

    // The base's generated dashboards and rules, as the earlier code wrote
    // them.
    let hosts = "dashboards/generated/etl-hosts.json";
    edit_panel(dir, hosts, "CPU busy", "gauge", |p| {
        p["fieldConfig"]["defaults"]["thresholds"]["steps"][2]["value"] = serde_json::json!(0.95);
    });
    // The earlier layout had these two the other way round.
    edit_panel(dir, hosts, "Load per core", "timeseries", |p| p["gridPos"]["y"] = serde_json::json!(24));
    edit_panel(dir, hosts, "Major page faults", "timeseries", |p| p["gridPos"]["y"] = serde_json::json!(16));
    edit_panel(dir, hosts, "Memory", "timeseries", |p| p["title"] = serde_json::json!("Memory usage"));
    edit_panel(dir, hosts, "Disk busy", "timeseries", |p| {
        let expr = p["targets"][0]["expr"].as_str().unwrap().replace("[$__rate_interval]", "[5m]");
        p["targets"][0]["expr"] = serde_json::json!(expr);
    });
    edit(
        dir,
        "alerts/generated/grafana/log-alerts.yml",
        "params:\n                      - 1\n                    type: \"lt\"",
        "params:\n                      - 10\n                    type: \"lt\"",
    );
    let rules = "alerts/generated/rules/hosts.rules.yml";
    cut_blocks(dir, rules, "      - alert: \"HostRebooted\"", "        ");
    cut_blocks(dir, "alerts/generated/tests/hosts.test.yml", "  - name: \"HostRebooted ", "    ");
    edit(
        dir,
        rules,
        "      - alert: \"HostHighCpuUsage\"\n        expr: \"1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{job=\\\"node-exporter\\\",mode=\\\"idle\\\"}[5m])) > 0.9\"\n        for: \"15m\"\n        labels:\n          severity: \"warning\"",
        "      - alert: \"HostHighCpuUsage\"\n        expr: \"1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{job=\\\"node-exporter\\\",mode=\\\"idle\\\"}[5m])) > 0.9\"\n        for: \"15m\"\n        labels:\n          severity: \"critical\"",
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);

    // The working tree: what the repository generates now.
    restore(dir);
    tmp
}

#[test]
fn review_names_each_real_change_and_nothing_else() {
    let Some(amtool) = amtool() else { return };
    let tmp = fixture(&amtool);
    let dir = tmp.path();
    let base = git(dir, &["rev-parse", "HEAD"]);
    let out = xtask_ok(dir, &amtool, &["review", "--base", "HEAD"]);
    let out = out.replace(&base.trim()[..12], "<base>");
    assert_eq!(out, EXPECTED);

    // The same changes for machines.
    let json: serde_json::Value =
        serde_json::from_str(&xtask_ok(dir, &amtool, &["review", "--base", "HEAD", "--output", "json"])).unwrap();
    let changes: Vec<String> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["section"].as_str().unwrap(),
                c["rule"].as_str().unwrap(),
                c["place"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(changes, EXPECTED_JSON);
    assert_eq!(json["base_commit"].as_str().unwrap(), base.trim());

    // The review read the base with git: the working tree is untouched.
    xtask_ok(dir, &amtool, &["gen", "--check"]);
    assert_eq!(git(dir, &["diff", "--cached", "--name-only"]), "", "nor the index");
}

#[test]
fn an_unchanged_tree_reports_nothing_and_a_stale_one_is_refused() {
    let Some(amtool) = amtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    restore(dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["-c", "user.email=r@example.invalid", "-c", "user.name=r", "add", "-A"]);
    git(dir, &["-c", "user.email=r@example.invalid", "-c", "user.name=r", "commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    let out = xtask_ok(dir, &amtool, &["review", "--base", "main"]);
    assert_eq!(
        out,
        format!(
            "**Review against `main` (`{}`):** no change to dashboards, alerts, routing or the stack.\n",
            &base[..12]
        )
    );

    // amtool runs only where routing can differ: not here, so it is not needed.
    let without_amtool = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["review", "--base", "main"])
        .env("MONITORING_REPO", dir)
        .env("AMTOOL", "")
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(without_amtool.stdout).unwrap(),
        out,
        "{}",
        String::from_utf8_lossy(&without_amtool.stderr)
    );

    edit_panel(dir, "dashboards/generated/etl-hosts.json", "CPU busy", "gauge", |p| {
        p["title"] = serde_json::json!("CPU")
    });
    let out = xtask(dir, &amtool, &["review", "--base", "main"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("generated files are stale") && message.contains("dashboards/generated/etl-hosts.json"),
        "{message}"
    );

    let out = xtask(dir, &amtool, &["review", "--base", "no-such-branch"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("`no-such-branch` is not a commit here"), "{}", text(&out));
}

const EXPECTED: &str = r#"**Review against `HEAD` (`<base>`):** 1 dashboard changed, 1 rule added, 2 rules changed, tests of 1 alert changed, 3 alerts or cases routed differently, 1 image changed, 1 config changed, 2 services would roll.

### Dashboards

`dashboards/generated/etl-hosts.json`
- gauge panel "CPU busy": thresholds green, 0.8 orange, 0.95 red → green, 0.8 orange, 0.9 red
- timeseries panel "Load per core": moved from x 0 y 24 to x 0 y 16 (row "CPU and memory")
- timeseries panel "Memory": retitled from "Memory usage"
- timeseries panel "Major page faults": moved from x 0 y 16 to x 0 y 24 (row "CPU and memory")
- timeseries panel "Disk busy": query A (PromQL) changed
  ```diff
  -  (rate(node_disk_io_time_seconds_total[5m]))
  +  (rate(node_disk_io_time_seconds_total[$__rate_interval]))
   * on (instance) group_left (nodename)
     max by (instance, nodename) (node_uname_info{nodename=~"$node"})
  ```

### Alerts

`alerts/generated/grafana/log-alerts.yml`
- log alert `LogIngestionStopped` in group log-pipeline: threshold `lt 10` → `lt 1` (**loosened**: fires less often)

`alerts/generated/rules/hosts.rules.yml`
- alert `HostRebooted` in group hosts.availability: added (severity info, team platform)
  ```diff
  +changes(node_boot_time_seconds{job="node-exporter"}[15m]) > 0
  ```
- alert `HostHighCpuUsage` in group hosts.resources: severity **lowered**: critical → warning

`alerts/generated/tests/hosts.test.yml`
- tests of `HostRebooted`: 0 → 2 cases: added "HostRebooted fires: boot time moved"; added "HostRebooted stays quiet: same boot"

### Routing

`alerts/generated/rules/hosts.rules.yml`
- alert `HostRebooted`: new, reaches `low-urgency`
- alert `HostHighCpuUsage`: `platform-critical` → `platform-warning`

`alerts/generated/rules/postgres.rules.yml`
- alert `PostgresDown`: `oncall-critical` → `database-critical`

`stack/configs/alertmanager/routing-tests.toml`
- routing test "critical for the database team": `oncall-critical` → `database-critical`

### Stack

`stack/images.lock`
- service `grafana`: image `docker.io/grafana/grafana:13.2.2` (sha256:0123456789ab…) → `docker.io/grafana/grafana:13.2.3` (sha256:b28bae15e219…)

`stack/rendered/configs.lock`
- config `alertmanager_yml`: changed (monitoring_alertmanager_yml_861627e732aa → monitoring_alertmanager_yml_cde36c5e2794)
  ```diff
         routes:
           - matchers: [team="platform"]
             receiver: platform-critical
  +        - matchers: [team="database"]
  +          receiver: database-critical
           - matchers: [team="etl"]
             receiver: etl-critical
           - matchers: [team="observability"]
  ```

`stack/rendered/docker-stack.yml`
- service `alertmanager`: would roll: configs
  - Configs[0].ConfigName: monitoring_alertmanager_yml_861627e732aa → monitoring_alertmanager_yml_cde36c5e2794
- service `grafana`: would roll: labels, image
  - Labels.com.docker.stack.image: docker.io/grafana/grafana:13.2.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789a… → docker.io/grafana/grafana:13.2.3@sha256:b28bae15e219c998fb0e0424ed724930cc61b1f61fb404d47c862f9a23f…
  - Image: docker.io/grafana/grafana:13.2.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789a… → docker.io/grafana/grafana:13.2.3@sha256:b28bae15e219c998fb0e0424ed724930cc61b1f61fb404d47c862f9a23f…
"#;
const EXPECTED_JSON: &[&str] = &[
    r#"dashboards panel-thresholds gauge panel "CPU busy""#,
    r#"dashboards panel-moved timeseries panel "Load per core""#,
    r#"dashboards panel-retitled timeseries panel "Memory""#,
    r#"dashboards panel-moved timeseries panel "Major page faults""#,
    r#"dashboards panel-query timeseries panel "Disk busy""#,
    "alerts rule-added alert `HostRebooted` in group hosts.availability",
    "alerts rule-severity alert `HostHighCpuUsage` in group hosts.resources",
    "alerts rule-tests tests of `HostRebooted`",
    "alerts rule-expr log alert `LogIngestionStopped` in group log-pipeline",
    "routing route-new alert `HostRebooted`",
    "routing route-changed alert `HostHighCpuUsage`",
    "routing route-changed alert `PostgresDown`",
    r#"routing route-changed routing test "critical for the database team""#,
    "stack service-rolls service `alertmanager`",
    "stack service-rolls service `grafana`",
    "stack image service `grafana`",
    "stack config-changed config `alertmanager_yml`",
];

/// The CI recipe (scripts/review-pull-request.sh, which the GitHub workflow
/// runs) against a local bare repository standing in for the remote: a
/// shallow clone, a branch with a change, the script run as CI runs it.
#[test]
fn the_ci_recipe_reviews_a_branch_of_a_shallow_clone_against_the_remote() {
    let Some(amtool) = amtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let upstream = tmp.path().join("upstream");
    restore(&upstream);
    for script in ["scripts/review-pull-request.sh", "scripts/lib/common.sh"] {
        copy(&repo().join(script), &upstream.join(script));
    }
    let id = ["-c", "user.email=ci@example.invalid", "-c", "user.name=ci"];
    git(&upstream, &["init", "-q", "-b", "main"]);
    git(&upstream, &["add", "-A"]);
    git(&upstream, &[&id[..], &["commit", "-q", "-m", "main"]].concat());
    let remote = tmp.path().join("remote.git");
    git(tmp.path(), &["clone", "-q", "--bare", upstream.to_str().unwrap(), remote.to_str().unwrap()]);

    // What CI has: a depth-1 clone of the pull request's branch.
    let work = tmp.path().join("work");
    git(tmp.path(), &["clone", "-q", "--depth=1", &format!("file://{}", remote.display()), work.to_str().unwrap()]);
    git(&work, &["checkout", "-q", "-b", "slower-low-urgency-repeats"]);
    edit(&work, "stack/configs/alertmanager/alertmanager.yml", "repeat_interval: 24h", "repeat_interval: 48h");
    xtask_ok(&work, &amtool, &["gen"]);
    git(&work, &["add", "-A"]);
    git(&work, &[&id[..], &["commit", "-q", "-m", "low-urgency repeats every 48h"]].concat());
    git(&work, &["update-ref", "-d", "refs/remotes/origin/main"]); // CI fetches the base itself
    assert_eq!(git(&work, &["rev-parse", "--is-shallow-repository"]).trim(), "true");

    let out_dir = tmp.path().join("review-out");
    let tools = repo().join(".tools/bin");
    let path = std::env::join_paths(
        std::iter::once(tools).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(work.join("scripts/review-pull-request.sh"))
        .args(["main", out_dir.to_str().unwrap()])
        .env("XTASK", env!("CARGO_BIN_EXE_xtask"))
        .env("MONITORING_REPO", &work)
        .env("AMTOOL", &amtool)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("check: no problems"), "the recipe runs check: {}", text(&out));

    let base = git(&work, &["rev-parse", "origin/main"]);
    let review = std::fs::read_to_string(out_dir.join("review.md")).unwrap().replace(&base.trim()[..12], "<base>");
    assert_eq!(review, CI_EXPECTED);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("review.json")).unwrap()).unwrap();
    assert_eq!(json["base"], "origin/main");
    assert_eq!(json["changes"].as_array().unwrap().len(), 2);
}

const CI_EXPECTED: &str = r#"**Review against `origin/main` (`<base>`):** 1 config changed, 1 service would roll.

### Stack

`stack/rendered/configs.lock`
- config `alertmanager_yml`: changed (monitoring_alertmanager_yml_cde36c5e2794 → monitoring_alertmanager_yml_b5da81608be0)
  ```diff
         receiver: low-urgency
         group_wait: 5m
         group_interval: 30m
  -      repeat_interval: 24h
  +      repeat_interval: 48h
   
   inhibit_rules:
     # A critical alert on a target silences the warnings and infos about the
  ```

`stack/rendered/docker-stack.yml`
- service `alertmanager`: would roll: configs
  - Configs[0].ConfigName: monitoring_alertmanager_yml_cde36c5e2794 → monitoring_alertmanager_yml_b5da81608be0
"#;
