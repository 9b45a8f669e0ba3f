//! `promtool`: the Prometheus project's own validator, run over
//! `prometheus.yml` (with the generated rules), the generated rule files and
//! their unit tests, and the scrape config embedded in the collector's config.
//!
//! The binary is found with [`crate::tools::find`] (`$PROMTOOL`,
//! `.tools/bin/promtool` from `scripts/install-tools.sh`, then `PATH`), and
//! its major.minor must equal the pinned Prometheus image's: a newer promtool
//! accepts config keys and PromQL the deployed Prometheus would refuse.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use super::config_keys::{OTEL_AGENT, OTEL_COLLECTOR, PROMETHEUS, RULES_SET};
use super::{Finding, config_file};
use crate::source::{DEFINITION_FILE, Source};

pub const CHECK: &str = "promtool";
/// Where the alerts crate writes the promtool unit tests of its rule files
/// (not a config of the stack, so not in stack.toml).
pub const RULE_TESTS_DIR: &str = "alerts/generated/tests";

/// Everything promtool checks in the repository: version against the
/// Prometheus image tag of stack.toml, prometheus.yml with the generated
/// rules, each rule file (`--lint=all`), each unit-test file, and the
/// collector's embedded scrape config. A missing promtool is one finding.
pub fn check(source: &Source) -> Vec<Finding> {
    let repo = source.root.as_path();
    let (config, rules_mount, otel_config) =
        match (config_file(source, CHECK, PROMETHEUS), rules_mount(source), config_file(source, CHECK, OTEL_COLLECTOR))
        {
            (Ok(config), Ok(mount), Ok(otel)) => (config, mount, otel),
            (config, mount, otel) => return [config.err(), mount.err(), otel.err()].into_iter().flatten().collect(),
        };
    let Some(promtool) = crate::tools::find(repo, "promtool") else {
        return vec![Finding::new(
            CHECK,
            config,
            "",
            "promtool not found: run scripts/install-tools.sh, or set PROMTOOL",
        )];
    };
    let mut findings = Vec::new();
    let pinned_tag = source.definition.images.get("prometheus").map(|i| i.tag.as_str()).unwrap_or_default();
    findings.extend(check_version(&promtool, "promtool", pinned_tag));
    findings.extend(check_config(repo, &promtool, config, &[rules_mount]));
    let rules = yaml_files(repo, rules_mount.1);
    findings.extend(check_rules(repo, &promtool, &rules, true));
    findings.extend(test_rules(repo, &promtool, &yaml_files(repo, RULE_TESTS_DIR)));
    findings.extend(check_otel_scrape_config(repo, &promtool, otel_config));
    match config_file(source, CHECK, OTEL_AGENT) {
        Ok(agent_config) => findings.extend(check_otel_scrape_config(repo, &promtool, agent_config)),
        Err(finding) => findings.push(finding),
    }
    findings.sort();
    findings
}

/// `(directory in the Prometheus container, repository directory)` of the
/// generated rule files: the `rules` config set of stack.toml and where the
/// prometheus service mounts it.
pub fn rules_mount(source: &Source) -> Result<(&str, &str), Finding> {
    let def = &source.definition;
    let dir = def.config_sets.get(RULES_SET).map(|set| set.dir.as_str());
    let container_dir = def
        .services
        .get("prometheus")
        .and_then(|s| s.config_sets.iter().find(|m| m.source == RULES_SET))
        .map(|m| m.target_dir.as_str());
    match (container_dir, dir) {
        (Some(container_dir), Some(dir)) => Ok((container_dir, dir)),
        _ => Err(Finding::new(
            CHECK,
            DEFINITION_FILE,
            "",
            format!(
                "no `[config_sets.{RULES_SET}]` mounted by the prometheus service: the rule files cannot be checked"
            ),
        )),
    }
}

/// The `.yml`/`.yaml` files of a repository directory (relative paths,
/// sorted); empty when the directory does not exist yet.
pub fn yaml_files(repo: &Path, dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yml") || name.ends_with(".yaml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// Compares the tool's `--version` major.minor with the pinned image tag's.
pub fn check_version(tool: &Path, name: &'static str, pinned_tag: &str) -> Option<Finding> {
    let pinned = major_minor(pinned_tag.trim_start_matches('v'));
    let output = match run(tool, [OsString::from("--version")]) {
        Ok(output) => output,
        Err(err) => return Some(Finding::new(name, tool.display().to_string(), "", err)),
    };
    let found = output
        .text
        .split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .map(|v| v.trim_start_matches('v').to_owned());
    match (found.as_deref().and_then(major_minor), pinned) {
        (Some(found_mm), Some(pinned_mm)) if found_mm == pinned_mm => None,
        (_, None) => Some(Finding::new(
            name,
            tool.display().to_string(),
            "",
            format!("pinned tag `{pinned_tag}` is not a version"),
        )),
        (_, Some(pinned_mm)) => Some(Finding::new(
            name,
            tool.display().to_string(),
            "",
            format!(
                "{name} {} found, but the pinned image is {pinned_tag} ({pinned_mm}): validate with the same major.minor (scripts/install-tools.sh, or the Nix dev shell)",
                found.unwrap_or_else(|| "of unknown version".into())
            ),
        )),
    }
}

/// `3.5.3+ds1` -> `3.5`.
fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().filter(|p| !p.is_empty())?;
    let minor = parts.next().filter(|p| !p.is_empty())?;
    Some(format!("{major}.{minor}"))
}

/// `promtool check config` on a copy of `config` whose container paths are
/// mapped to repository directories (`mappings`: container dir -> repo dir),
/// so the rule files it names are checked too. Line numbers stay those of
/// the original file.
pub fn check_config(repo: &Path, promtool: &Path, config: &str, mappings: &[(&str, &str)]) -> Vec<Finding> {
    let text = match std::fs::read_to_string(repo.join(config)) {
        Ok(text) => text,
        Err(err) => return vec![Finding::new(CHECK, config, "", format!("cannot read: {err}"))],
    };
    let mut mapped = text;
    for (container, local) in mappings {
        let local = repo.join(local);
        mapped = mapped.replace(&format!("{}/", container.trim_end_matches('/')), &format!("{}/", local.display()));
    }
    let tmp = match TempDir::new("promtool") {
        Ok(tmp) => tmp,
        Err(err) => return vec![Finding::new(CHECK, config, "", err)],
    };
    let copy = tmp.path().join(Path::new(config).file_name().unwrap_or_default());
    if let Err(err) = std::fs::write(&copy, mapped) {
        return vec![Finding::new(CHECK, config, "", format!("cannot write {}: {err}", copy.display()))];
    }
    let args = [OsString::from("check"), "config".into(), copy.clone().into()];
    failures(promtool, args, config, &[(&copy, config), (&repo.join(""), "")])
}

/// `promtool check rules` per file (`--lint=all --lint-fatal` when `lint`).
pub fn check_rules(repo: &Path, promtool: &Path, files: &[String], lint: bool) -> Vec<Finding> {
    files
        .iter()
        .flat_map(|file| {
            let mut args = vec![OsString::from("check"), "rules".into()];
            if lint {
                args.extend(["--lint=all".into(), "--lint-fatal".into()]);
            }
            args.push(repo.join(file).into());
            failures(promtool, args, file, &[(&repo.join(file), file), (&repo.join(""), "")])
        })
        .collect()
}

/// `promtool test rules` per unit-test file (run from the file's directory,
/// as its `rule_files` are relative to it).
pub fn test_rules(repo: &Path, promtool: &Path, files: &[String]) -> Vec<Finding> {
    // One promtool per file, all at once: the files are independent and the
    // evaluation is CPU-bound, so this is most of `check`'s wall time.
    std::thread::scope(|scope| {
        let runs: Vec<_> = files
            .iter()
            .map(|file| {
                scope.spawn(move || {
                    let args = [OsString::from("test"), "rules".into(), repo.join(file).into()];
                    failures(promtool, args, file, &[(&repo.join(file), file), (&repo.join(""), "")])
                })
            })
            .collect();
        runs.into_iter().flat_map(|run| run.join().unwrap_or_default()).collect()
    })
}

/// `promtool check config` over the Prometheus config embedded in the
/// collector's `prometheus` receivers (with the collector's `$$` escapes
/// undone), so the scrape jobs are checked by Prometheus' own parser.
pub fn check_otel_scrape_config(repo: &Path, promtool: &Path, otel_config: &str) -> Vec<Finding> {
    let text = match std::fs::read_to_string(repo.join(otel_config)) {
        Ok(text) => text,
        Err(err) => return vec![Finding::new(CHECK, otel_config, "", format!("cannot read: {err}"))],
    };
    let value: serde_json::Value = match serde_saphyr::from_str(&text) {
        Ok(value) => value,
        Err(err) => return vec![Finding::new(CHECK, otel_config, "", format!("not YAML: {}", err.without_snippet()))],
    };
    let receivers = value.get("receivers").and_then(serde_json::Value::as_object).cloned().unwrap_or_default();
    let tmp = match TempDir::new("promtool-otel") {
        Ok(tmp) => tmp,
        Err(err) => return vec![Finding::new(CHECK, otel_config, "", err)],
    };
    let mut findings = Vec::new();
    for (id, receiver) in receivers.iter().filter(|(id, _)| id.split('/').next() == Some("prometheus")) {
        let Some(config) = receiver.get("config") else { continue };
        let unescaped = unescape_dollars(config.clone());
        let copy = tmp.path().join(format!("{}.json", id.replace('/', "_")));
        if let Err(err) = std::fs::write(&copy, unescaped.to_string()) {
            findings.push(Finding::new(CHECK, otel_config, "", format!("cannot write {}: {err}", copy.display())));
            continue;
        }
        let args = [OsString::from("check"), "config".into(), copy.clone().into()];
        for mut finding in failures(promtool, args, otel_config, &[(&copy, otel_config)]) {
            finding.place = format!("receivers.{id}.config");
            findings.push(finding);
        }
    }
    findings
}

/// The collector turns `$$` into `$`; do the same before handing the
/// config to Prometheus' parser.
fn unescape_dollars(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace("$$", "$")),
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(unescape_dollars).collect()),
        serde_json::Value::Object(map) => {
            serde_json::Value::Object(map.into_iter().map(|(k, v)| (k, unescape_dollars(v))).collect())
        }
        other => other,
    }
}

/// Runs a check and returns one finding with the tool's output when it
/// fails. `rewrites` turn temporary or absolute paths in the output back
/// into repository-relative ones.
fn failures<I: IntoIterator<Item = OsString>>(
    tool: &Path,
    args: I,
    file: &str,
    rewrites: &[(&Path, &str)],
) -> Vec<Finding> {
    match run(tool, args) {
        Err(err) => vec![Finding::new(CHECK, file, "", err)],
        Ok(output) if output.success => Vec::new(),
        Ok(output) => {
            let mut message = output.text;
            for (from, to) in rewrites {
                let from = from.display().to_string();
                if !from.is_empty() {
                    message = message.replace(&from, to);
                }
            }
            let message = message
                .lines()
                .map(str::trim_end)
                .filter(|line| {
                    !line.trim().is_empty() && !line.starts_with("Checking ") && !line.starts_with("Unit Testing: ")
                })
                .collect::<Vec<_>>()
                .join("\n");
            vec![Finding::new(CHECK, file, "", message)]
        }
    }
}

/// What a tool printed (stdout then stderr) and whether it exited 0.
#[derive(Debug)]
pub(crate) struct Output {
    pub success: bool,
    pub text: String,
    pub stdout: String,
}

/// Runs `tool` with `args` (no shell), capturing its output.
pub(crate) fn run<I: IntoIterator<Item = OsString>>(tool: &Path, args: I) -> Result<Output, String> {
    let output =
        Command::new(tool).args(args).output().map_err(|err| format!("cannot run {}: {err}", tool.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    Ok(Output { success: output.status.success(), text: format!("{stdout}{stderr}"), stdout })
}

/// A private temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<TempDir, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// For tests: the tool, or `None` after printing "skipped: <tool> not
/// found"; with `CI` set a missing tool fails the test instead.
#[cfg(test)]
pub(crate) fn tool_for_test(name: &str) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    match crate::tools::find(repo, name) {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("{name} not found (CI is set): run scripts/install-tools.sh")
        }
        None => {
            eprintln!("skipped: {name} not found");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    fn source() -> Source {
        Source::load(&repo()).expect("the repository's source loads")
    }

    fn pinned() -> String {
        source().definition.images["prometheus"].tag.clone()
    }

    #[test]
    fn version_parsing() {
        assert_eq!(major_minor("3.5.3+ds1").as_deref(), Some("3.5"));
        assert_eq!(major_minor("0.33.1").as_deref(), Some("0.33"));
        assert_eq!(major_minor("x"), None);
    }

    #[test]
    fn version_matches_the_pinned_image_and_mismatch_is_named() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        assert_eq!(check_version(&promtool, "promtool", &pinned()), None);
        let finding = check_version(&promtool, "promtool", "v2.42.0").expect("mismatch");
        assert!(finding.message.contains("pinned image is v2.42.0"), "{finding}");
        assert!(finding.message.contains("promtool 3.5"), "{finding}");
    }

    #[test]
    fn promtool_accepts_prometheus_yml_with_the_generated_rules() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let source = source();
        let config = config_file(&source, CHECK, PROMETHEUS).expect("prometheus.yml");
        let findings = check_config(&repo(), &promtool, config, &[rules_mount(&source).expect("rules mount")]);
        assert_eq!(findings, vec![]);
    }

    #[test]
    fn promtool_accepts_the_collectors_scrape_config() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let source = source();
        let otel_config = config_file(&source, CHECK, OTEL_COLLECTOR).expect("otelcol.yml");
        assert_eq!(check_otel_scrape_config(&repo(), &promtool, otel_config), vec![]);
    }

    #[test]
    fn a_broken_config_is_reported_with_its_repository_path() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let tmp = TempDir::new("promtool-test").expect("tmp");
        let source = source();
        let config = config_file(&source, CHECK, PROMETHEUS).expect("prometheus.yml");
        let copy = tmp.path().join(config);
        std::fs::create_dir_all(copy.parent().expect("in a directory")).expect("mkdir");
        let good = std::fs::read_to_string(repo().join(config)).expect("prometheus.yml");
        std::fs::write(&copy, good.replace("scrape_interval: 15s", "scrape_intervall: 15s")).expect("write");
        let findings = check_config(tmp.path(), &promtool, config, &[]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, config);
        assert!(findings[0].message.contains("scrape_intervall"), "{}", findings[0].message);
        assert!(!findings[0].message.contains(&tmp.path().display().to_string()), "{}", findings[0].message);
    }

    #[test]
    fn rules_and_unit_tests_failures_name_the_file() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let tmp = TempDir::new("promtool-rules").expect("tmp");
        std::fs::create_dir_all(tmp.path().join("r")).expect("mkdir");
        std::fs::write(tmp.path().join("r/ok.yml"), "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 1m\n        labels:\n          severity: critical\n        annotations:\n          summary: Down.\n          description: '{{ $labels.instance }} is down.'\n").expect("write");
        std::fs::write(
            tmp.path().join("r/bad.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: up ==\n",
        )
        .expect("write");
        std::fs::write(tmp.path().join("r/test.yml"), "rule_files: [ok.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: up{job=\"x\"}\n        values: 0x10\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: Down\n        exp_alerts: []\n").expect("write");
        let rules = vec!["r/ok.yml".to_owned(), "r/bad.yml".to_owned()];
        let findings = check_rules(tmp.path(), &promtool, &rules, false);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, "r/bad.yml");
        assert!(findings[0].message.contains("could not parse expression"), "{}", findings[0].message);
        let findings = test_rules(tmp.path(), &promtool, &["r/test.yml".to_owned()]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, "r/test.yml");
        assert!(findings[0].message.contains("alertname: Down"), "{}", findings[0].message);
    }

    #[test]
    fn the_whole_check_passes_on_the_repository() {
        let Some(_) = tool_for_test("promtool") else { return };
        let findings = check(&source());
        assert_eq!(findings, vec![], "{}", findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }
}
