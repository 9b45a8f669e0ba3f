//! Every generated dashboard type-checks against the types Grafana publishes
//! as the npm package `@grafana/schema`, at the Grafana version the stack
//! runs: unknown properties, wrong types and values outside an enum are
//! rejected, in the dashboard model and in each panel plugin's options and
//! field config (`dashboards/schema-check/`, run with node).
//!
//! Needs node and the checker's locked npm packages
//! (`dashboards/schema-check/install.sh`, run by scripts/install-tools.sh):
//! without them the tests fail when CI is set and are skipped, loudly,
//! elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn dashboards_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn checker_dir() -> PathBuf {
    dashboards_dir().join("schema-check")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// One problem the checker reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Problem {
    /// JSON Pointer into the dashboard.
    path: String,
    message: String,
}

/// Why the checker cannot run, if it cannot.
fn missing_checker() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` failed: {}", String::from_utf8_lossy(&out.stderr))),
        Err(err) => return Some(format!("node not found ({err})")),
    }
    let dir = checker_dir();
    let lock = read_json(&dir.join("package-lock.json"));
    let Some(packages) = lock["packages"].as_object() else {
        panic!("{}: no `packages` in package-lock.json", dir.display())
    };
    for (key, locked) in packages.iter().filter(|(key, _)| !key.is_empty()) {
        let manifest = dir.join(key).join("package.json");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            return Some(format!("{} is not installed", key.trim_start_matches("node_modules/")));
        };
        let installed: Value =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{} is not JSON: {err}", manifest.display()));
        // A stale install would check against other types than the locked ones.
        assert_eq!(
            installed["version"], locked["version"],
            "{key} is installed at another version than package-lock.json says: run dashboards/schema-check/install.sh"
        );
    }
    None
}

/// False (skip) when the checker cannot run; panics instead when CI is set.
fn have_checker() -> bool {
    let Some(why) = missing_checker() else { return true };
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}; CI must check the dashboards: run scripts/install-tools.sh (or dashboards/schema-check/install.sh)"
    );
    eprintln!("skipped: {why} (run dashboards/schema-check/install.sh, or scripts/install-tools.sh)");
    false
}

/// The problems of each file, by file; every file has an entry.
fn check(files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<Problem>> {
    let out = Command::new("node")
        .arg(checker_dir().join("check.mjs"))
        .args(files)
        .output()
        .unwrap_or_else(|err| panic!("cannot run node: {err}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0 | 1) => {}
        _ => {
            panic!("the schema check itself failed ({}):\n{}{stdout}", out.status, String::from_utf8_lossy(&out.stderr))
        }
    }
    let mut problems: BTreeMap<PathBuf, Vec<Problem>> = files.iter().map(|f| (f.clone(), Vec::new())).collect();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("checker printed `{line}`: {err}"));
        let (Some(file), Some(path), Some(message)) = (v["file"].as_str(), v["path"].as_str(), v["message"].as_str())
        else {
            panic!("checker printed `{line}`, not {{file, path, message}}")
        };
        let Some(entry) = problems.get_mut(Path::new(file)) else { panic!("checker reported unknown file {file}") };
        entry.push(Problem { path: path.to_owned(), message: message.to_owned() });
    }
    assert_eq!(
        out.status.code() == Some(1),
        problems.values().any(|p| !p.is_empty()),
        "exit status and output disagree"
    );
    problems
}

fn json_files_in(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display())).path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn generated_dashboards_match_grafanas_published_types() {
    if !have_checker() {
        return;
    }
    let files = json_files_in(&dashboards_dir().join("generated"));
    assert!(!files.is_empty(), "no dashboards in dashboards/generated");
    let failures: Vec<String> = check(&files)
        .into_iter()
        .flat_map(|(file, problems)| {
            problems.into_iter().map(move |p| format!("{}: {}: {}", file.display(), p.path, p.message))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each fixture differs from `valid.json` by the listed mistakes; the check
/// must name exactly those, by path, and accept `valid.json`.
#[test]
fn the_check_names_each_mistake_of_the_fixtures() {
    if !have_checker() {
        return;
    }
    let expected: &[(&str, &[(&str, &str)])] = &[
        ("valid.json", &[]),
        // (a) unknown properties, at the top and in a panel
        (
            "unknown-property.json",
            &[
                ("/panels/0/descripton", "unknown property \"descripton\""),
                ("/timeZone", "unknown property \"timeZone\""),
            ],
        ),
        // (b) wrong types
        (
            "wrong-type.json",
            &[
                ("/graphTooltip", "Type 'string' is not assignable to type 'DashboardCursorSync"),
                ("/panels/0/gridPos/w", "Type 'string' is not assignable to type 'number'"),
            ],
        ),
        // (c) unknown panel options: in the time series plugin's Options
        // and in its FieldConfig (`fieldConfig.defaults.custom`)
        (
            "unknown-panel-option.json",
            &[
                ("/panels/0/fieldConfig/defaults/custom/lineWidht", "unknown property \"lineWidht\""),
                ("/panels/0/options/legend/position", "unknown property \"position\""),
            ],
        ),
        // a panel option outside its enum
        ("bad-option-value.json", &[("/panels/0/options/tooltip/mode", "Type '\"all\"' is not assignable")]),
        // a panel type without published types (the retired Graph panel)
        ("unknown-panel-type.json", &[("/panels/0/type", "Type '\"graph\"' is not assignable")]),
    ];

    let dir = dashboards_dir().join("tests").join("fixtures").join("schema");
    let files = json_files_in(&dir);
    let named: Vec<PathBuf> = expected.iter().map(|(name, _)| dir.join(name)).collect();
    let mut sorted = named.clone();
    sorted.sort();
    assert_eq!(files, sorted, "every fixture in {} has its expectation here", dir.display());

    let found = check(&named);
    let mut failures = Vec::new();
    for ((name, wanted), file) in expected.iter().zip(&named) {
        let got = &found[file];
        let matches = got.len() == wanted.len()
            && got.iter().zip(wanted.iter()).all(|(p, (path, message))| p.path == *path && p.message.contains(message));
        if !matches {
            failures.push(format!("{name}: expected {wanted:?}\n  got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `@grafana/schema` is pinned to the Grafana release the stack deploys.
#[test]
fn the_schema_package_is_the_deployed_grafana_version() {
    let lock = read_json(&checker_dir().join("package-lock.json"));
    let schema = &lock["packages"]["node_modules/@grafana/schema"]["version"];
    let stack_file = dashboards_dir().join("..").join("stack").join("stack.toml");
    let text = std::fs::read_to_string(&stack_file)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", stack_file.display()));
    let stack: toml::Table = text.parse().unwrap_or_else(|err| panic!("{}: {err}", stack_file.display()));
    let grafana = stack
        .get("images")
        .and_then(|images| images.get("grafana"))
        .and_then(|grafana| grafana.get("tag"))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{}: no [images.grafana] tag", stack_file.display()));
    assert_eq!(
        schema.as_str(),
        Some(grafana),
        "dashboards/schema-check pins @grafana/schema {schema} but stack.toml deploys Grafana {grafana}: \
         pin the same version in package.json and run `npm install --prefix dashboards/schema-check`"
    );
}
