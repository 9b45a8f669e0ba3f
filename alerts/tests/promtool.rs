//! Runs the real promtool on the generated files: `check rules` with every
//! lint fatal, then every generated unit test.
//!
//! promtool is found through `PROMTOOL`, then `<repo>/.tools/bin/promtool`
//! (installed by `scripts/install-tools.sh`), then `PATH`. Without it the
//! tests are skipped locally and fail in CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::Command;

use alerts::render::{rule_file_yaml, test_file_yaml};
use alerts::{Alert, Context, Duration, Group, RuleFile, Severity, Team, fires, generated_files, quiet};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate is inside the repo").to_path_buf()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_promtool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return Some(PathBuf::from(p));
    }
    let local = repo_root().join(".tools/bin/promtool");
    if is_executable(&local) {
        return Some(local);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("promtool")).find(|p| is_executable(p))
}

/// promtool, or `None` after reporting the skip (a failure in CI).
fn promtool() -> Option<PathBuf> {
    let found = find_promtool();
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "promtool not found (set PROMTOOL or run scripts/install-tools.sh)");
        eprintln!("skipped: promtool not found");
    }
    found
}

fn run(promtool: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(promtool).args(args).current_dir(dir).output().expect("run promtool");
    let version = Command::new(promtool).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    eprintln!("{}", String::from_utf8_lossy(&version).lines().next().unwrap_or("promtool"));
    assert!(
        out.status.success(),
        "promtool {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes files under `dir`, keeping their path below `alerts/generated/`.
fn write_tree(dir: &Path, files: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let (mut rules, mut tests) = (Vec::new(), Vec::new());
    for (path, contents) in files {
        let rel = path.strip_prefix("alerts/generated/").unwrap_or(path);
        let full = dir.join(rel);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, contents).expect("write");
        if rel.starts_with("rules/") {
            rules.push(rel.to_string());
        } else if rel.starts_with("tests/") {
            tests.push(rel.to_string());
        }
    }
    (rules, tests)
}

fn check_and_test(promtool: &Path, files: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rules, tests) = write_tree(dir.path(), files);
    let mut check = vec!["check", "rules", "--lint=all", "--lint-fatal"];
    check.extend(rules.iter().map(String::as_str));
    run(promtool, dir.path(), &check);
    let mut test = vec!["test", "rules"];
    test.extend(tests.iter().map(String::as_str));
    run(promtool, dir.path(), &test);
}

#[test]
fn generated_rules_pass_promtool_check_and_tests() {
    let Some(promtool) = promtool() else { return };
    for ctx in [
        Context::default(),
        Context {
            runbook_base_url: "https://git.example.com/ops/monitoring/-/blob/main/alerts/runbooks/".into(),
            grafana_url: "https://grafana.example.com/".into(),
        },
    ] {
        let files: Vec<(String, String)> = generated_files(&ctx).into_iter().map(|f| (f.path, f.contents)).collect();
        check_and_test(&promtool, &files);
    }
}

/// Escaping, end to end: quotes, backslashes, braces, newlines and unicode in
/// labels, expressions and annotations survive YAML and Go templating.
#[test]
fn awkward_strings_survive_promtool() {
    let Some(promtool) = promtool() else { return };
    let odd = "a\"b\\c ✓";
    let alert = Alert::new("AwkwardStrings", Severity::Info)
        .expr(r#"label_replace(awkward_metric > 2, "job", "a\"b\\c ✓", "", "")"#)
        .team(Team::Observability)
        .label("note", r#"say "hi" \ {not a template}"#)
        .summary(r#"Quotes "x", backslashes \, single braces { } and unicode ✓."#)
        .description("Line one: {{ $labels.job }}\nline \"two\" \\ {{ $value | humanize }} ✓ #not-a-comment")
        .fires(
            fires("value 3").at(Duration::minutes(2)).series("awkward_metric", "3x5").alert_value(&[("job", odd)], 3.0),
        )
        .stays_quiet(quiet("value 1").at(Duration::minutes(2)).series("awkward_metric", "1x5"));
    let file = RuleFile::new("awkward").group(Group::new("awkward \"group\" ✓").alert(alert)).resolve_links(&Context {
        runbook_base_url: "https://example.com/runbooks?x=\"1\"&y=\\".into(),
        grafana_url: "http://localhost:3000".into(),
    });
    let rules = rule_file_yaml(&file);
    let tests = test_file_yaml(&file);
    // A multi-line annotation is written as a literal block, rendered.
    assert!(tests.contains("description: |-\n"), "{tests}");
    assert!(tests.contains(r#"Line one: a"b\c ✓"#), "{tests}");
    assert!(tests.contains(r#"line "two" \ 3 ✓ #not-a-comment"#), "{tests}");
    check_and_test(
        &promtool,
        &[
            ("alerts/generated/rules/awkward.rules.yml".into(), rules),
            ("alerts/generated/tests/awkward.test.yml".into(), tests),
        ],
    );
}
