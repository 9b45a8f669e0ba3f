//! The real CLI on the real repository and on broken copies of it: what a
//! person running `cargo xtask ...` sees.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn xtask(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).env("MONITORING_REPO", root).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A copy of everything `gen` and `check` read, to break on purpose.
fn copy_of_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // With the workspace-built image's inputs (stack.toml, images.swarm-exporter).
    for sub in ["stack", "dashboards", "alerts", "swarm-exporter", "nix"] {
        copy_dir(&repo().join(sub), &dir.path().join(sub));
    }
    for file in ["Cargo.toml", "Cargo.lock", "flake.lock"] {
        std::fs::copy(repo().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "src" && from.ends_with("xtask") {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn generated_files_are_up_to_date() {
    let out = xtask(&repo(), &["gen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn gen_is_byte_identical_on_every_run() {
    let copy = copy_of_repo();
    let first = xtask(copy.path(), &["gen"]);
    assert!(first.status.success(), "{}", text(&first));
    let out = xtask(copy.path(), &["gen"]);
    assert!(text(&out).contains(", 0 changed"), "{}", text(&out));
}

#[test]
fn a_stale_generated_file_is_named_with_the_fix() {
    let copy = copy_of_repo();
    let victim = "dashboards/generated/etl-hosts.json";
    let path = copy.path().join(victim);
    let edited = std::fs::read_to_string(&path).unwrap().replacen("\"Hosts\"", "\"Hosts (edited by hand)\"", 1);
    std::fs::write(&path, edited).unwrap();
    std::fs::write(copy.path().join("alerts/generated/rules/leftover.rules.yml"), "groups: []\n").unwrap();

    let out = xtask(copy.path(), &["gen", "--check"]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains(&format!("{victim}: stale")), "{report}");
    assert!(report.contains("alerts/generated/rules/leftover.rules.yml: no longer generated"), "{report}");
    assert!(report.contains("run `cargo xtask gen`"), "{report}");

    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(!out.status.success());
    assert!(text(&out).contains(victim), "{}", text(&out));
}

#[test]
fn a_service_naming_an_unpinned_image_is_refused() {
    let copy = copy_of_repo();
    let stack = copy.path().join("stack/stack.toml");
    let edited = std::fs::read_to_string(&stack).unwrap().replace("tag = \"v3.5.3\"", "tag = \"v3.6.0\"");
    std::fs::write(&stack, edited).unwrap();
    let out = xtask(copy.path(), &["gen"]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains("image `prometheus`") && report.contains("v3.6.0"), "{report}");
    assert!(report.contains("cargo xtask pin --image prometheus"), "{report}");
}

#[test]
fn a_malformed_stack_file_names_file_and_line() {
    let copy = copy_of_repo();
    let stack = copy.path().join("stack/stack.toml");
    let text_before = std::fs::read_to_string(&stack).unwrap();
    let line = text_before.lines().position(|l| l.starts_with("endpoint_mode")).unwrap() + 1;
    std::fs::write(&stack, text_before.replace("endpoint_mode = \"vip\"", "endpoint_mode = \"ipvs\"")).unwrap();
    let out = xtask(copy.path(), &["gen"]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains(&format!("stack.toml:{line}")), "{report}");
}

#[test]
fn a_stale_or_missing_preview_is_named_and_gen_restores_it() {
    let copy = copy_of_repo();
    let stale = "dashboards/generated/etl-hosts.svg";
    let missing = "dashboards/generated/etl-logs.svg";
    let path = copy.path().join(stale);
    let edited = std::fs::read_to_string(&path).unwrap().replacen("<title>", "<title>edited ", 1);
    std::fs::write(&path, edited).unwrap();
    std::fs::remove_file(copy.path().join(missing)).unwrap();

    let out = xtask(copy.path(), &["gen", "--check"]);
    assert!(!out.status.success());
    let report = text(&out);
    assert!(report.contains(&format!("{stale}: stale")), "{report}");
    assert!(report.contains(&format!("{missing}: missing")), "{report}");
    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(!out.status.success());
    assert!(text(&out).contains(stale) && text(&out).contains(missing), "{}", text(&out));

    assert!(xtask(copy.path(), &["gen"]).status.success());
    let out = xtask(copy.path(), &["gen", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(copy.path().join(stale)).unwrap(), std::fs::read(repo().join(stale)).unwrap());
}

#[test]
fn check_caches_tool_verdicts_under_target_unless_no_cache() {
    let copy = copy_of_repo();
    let cache = copy.path().join("target/check-cache");
    let out = xtask(copy.path(), &["check", "--no-cache"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!cache.exists(), "--no-cache wrote {}", cache.display());
    let out = xtask(copy.path(), &["check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0) > 0, "no entries in {}", cache.display());

    // The in-process PromQL check is cached too: a catalog edited after a
    // warm run is read again, and the metric it lost is named.
    let catalog = copy.path().join("stack/catalog/node-exporter.toml");
    let toml = std::fs::read_to_string(&catalog).unwrap();
    let start = toml.find("[metrics.node_load5]").unwrap();
    let end = start + toml[start..].find("\n\n").unwrap() + 2;
    std::fs::write(&catalog, format!("{}{}", &toml[..start], &toml[end..])).unwrap();
    let out = xtask(copy.path(), &["check"]);
    assert!(!out.status.success(), "a cached verdict hid the edited catalog:\n{}", text(&out));
    assert!(text(&out).lines().any(|l| l.contains("node_load5") && l.contains("[promql]")), "{}", text(&out));
}

#[test]
fn the_repository_passes_check() {
    let out = xtask(&repo(), &["check"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_metric_no_exporter_exposes_is_named_where_it_is_used() {
    let copy = copy_of_repo();
    let catalog = copy.path().join("stack/catalog/node-exporter.toml");
    let toml = std::fs::read_to_string(&catalog).unwrap();
    let start = toml.find("[metrics.node_load5]").unwrap();
    let end = start + toml[start..].find("\n\n").unwrap() + 2;
    std::fs::write(&catalog, format!("{}{}", &toml[..start], &toml[end..])).unwrap();

    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(!out.status.success());
    let report = text(&out);
    let line = report.lines().find(|l| l.contains("node_load5")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.starts_with("dashboards/generated/etl-hosts.json: panel "), "{line}");
    assert!(line.contains("[promql]"), "{line}");
}

#[test]
fn an_alert_whose_runbook_section_is_gone_is_named() {
    let copy = copy_of_repo();
    let runbook = copy.path().join("alerts/runbooks/hosts.md");
    let edited = std::fs::read_to_string(&runbook).unwrap().replace("## HostRebooted", "## Host rebooted (renamed)");
    std::fs::write(&runbook, edited).unwrap();

    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(!out.status.success());
    let report = text(&out);
    let line = report.lines().find(|l| l.contains("HostRebooted")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.starts_with("alerts/generated/rules/hosts.rules.yml: group "), "{line}");
    assert!(line.contains("[rule-lint]") && line.contains("runbook"), "{line}");
}

/// Usage errors have their own exit code, never one of the rollout outcomes
/// (2 is "rolled back"); every code is listed in `--help` and the README.
#[test]
fn usage_errors_exit_64_and_exit_codes_are_documented() {
    for args in [&["rollback", "--to", "last"][..], &["deploy", "--no-such-flag"], &["no-such-command"]] {
        let out = xtask(&repo(), args);
        assert_eq!(out.status.code(), Some(64), "`cargo xtask {}`: {}", args.join(" "), text(&out));
    }
    let help = xtask(&repo(), &["deploy", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (code, meaning) in [
        (1, "refused"),
        (2, "rolled back"),
        (3, "rollback failed"),
        (4, "lock"),
        (5, "lost the lock"),
        (6, "could not be recorded"),
        (64, "usage"),
    ] {
        assert!(help.contains(&format!("{code} ")), "`deploy --help` does not list exit code {code}:\n{help}");
        let row = readme.lines().find(|l| l.starts_with(&format!("| {code} |")));
        let row = row.unwrap_or_else(|| panic!("README.md has no row `| {code} | …` in its exit code table"));
        assert!(row.to_lowercase().contains(meaning), "README row for exit code {code} should say `{meaning}`: {row}");
    }

    // `verify` has its own table: 0, problems found, usage.
    let out = xtask(&repo(), &["verify", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(64), "`cargo xtask verify --no-such-flag`: {}", text(&out));
    let help = text(&xtask(&repo(), &["verify", "--help"]));
    let table = readme.split_once("Exit codes of `verify`").map(|(_, t)| t).expect("README: no verify exit code table");
    for (code, meaning) in [(0, "matches"), (1, "problem"), (64, "usage")] {
        assert!(help.contains(&format!("{code} ")), "`verify --help` does not list exit code {code}:\n{help}");
        let row = table.lines().find(|l| l.starts_with(&format!("| {code} |")));
        let row = row.unwrap_or_else(|| panic!("README.md has no row `| {code} | …` in verify's exit code table"));
        assert!(
            row.to_lowercase().contains(meaning),
            "README row for verify exit code {code} should say `{meaning}`: {row}"
        );
    }
}

/// A workspace-built image is pinned by the hash of its inputs: an edited
/// input makes the recorded tag stale, `check` names the lock line, the
/// image and the tag it hashes to now (and `deploy` would refuse), and
/// `pin` writes that tag.
#[test]
fn a_built_image_whose_inputs_changed_is_named_until_pinned_again() {
    let copy = copy_of_repo();
    let lock = copy.path().join("stack/images.lock");
    let before = std::fs::read_to_string(&lock).unwrap();
    let main = copy.path().join("swarm-exporter/src/main.rs");
    let mut text_main = std::fs::read_to_string(&main).unwrap();
    text_main.push_str("// an edit\n");
    std::fs::write(&main, text_main).unwrap();

    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(!out.status.success(), "{}", text(&out));
    let report = text(&out);
    let line = report.lines().find(|l| l.contains("[image-inputs]")).unwrap_or_else(|| panic!("{report}"));
    let tag_line = before.lines().position(|l| l.starts_with("name = \"swarm-exporter\"")).unwrap() + 3;
    assert!(line.starts_with(&format!("stack/images.lock: line {tag_line}, image swarm-exporter")), "{line}");
    assert!(line.contains("the tag is stale"), "{line}");

    let out = xtask(copy.path(), &["pin", "--image", "swarm-exporter"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = std::fs::read_to_string(&lock).unwrap();
    let new_tag = after.lines().nth(tag_line - 1).unwrap().to_owned();
    assert!(new_tag.starts_with("tag = \"0.1.0-") && !before.contains(&new_tag), "{new_tag}");
    assert!(
        line.contains(new_tag.trim_start_matches("tag = ").trim_matches('"')),
        "the finding named the new tag: {line}"
    );
    // Only that entry changed: the registry images were not asked for.
    let changed = before.lines().zip(after.lines()).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 2, "tag and inputs of swarm-exporter only:\n{after}");
    // The bundle names the new tag once rendered again.
    assert!(xtask(copy.path(), &["gen"]).status.success());
    let out = xtask(copy.path(), &["check", "--offline"]);
    assert!(out.status.success(), "{}", text(&out));
}
