//! `promtool`: the Prometheus project's own validator, run over
//! `prometheus.yml` (with the generated rules), the generated rule files and
//! their unit tests, and the scrape config embedded in the collector's config.
//!
//! The binary is found with [`crate::tools::find`] (`$PROMTOOL`,
//! `.tools/bin/promtool` from `scripts/install-tools.sh`, then `PATH`), and
//! its major.minor must equal the pinned Prometheus image's: a newer promtool
//! accepts config keys and PromQL the deployed Prometheus would refuse.
//! Without one, promtool runs from the pinned Prometheus image
//! ([`Validator`]).
//!
//! Every run is looked up in the [`Cache`] first, keyed by where promtool
//! came from, its version and exactly the files that run reads: a rule file's check by that
//! file, a unit test by its file and the rule files it loads, the config
//! check by prometheus.yml and every rule file.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use super::cache::{Cache, Key, Verdict};
use super::config_keys::{OTEL_AGENT, OTEL_COLLECTOR, PROMETHEUS, RULES_SET};
use super::validator::Validator;
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
pub fn check(source: &Source, cache: &Cache) -> Vec<Finding> {
    let repo = source.root.as_path();
    let (config, rules_mount, otel_config) =
        match (config_file(source, CHECK, PROMETHEUS), rules_mount(source), config_file(source, CHECK, OTEL_COLLECTOR))
        {
            (Ok(config), Ok(mount), Ok(otel)) => (config, mount, otel),
            (config, mount, otel) => return [config.err(), mount.err(), otel.err()].into_iter().flatten().collect(),
        };
    let promtool = match Validator::find(source, "promtool", "prometheus", Some("/bin/promtool")) {
        Ok(promtool) => promtool,
        Err(why) => return vec![Finding::new(CHECK, config, "", why)],
    };
    let promtool = &promtool;
    let mut findings = Vec::new();
    let pinned_tag = source.definition.images.get("prometheus").and_then(|i| i.tag()).unwrap_or_default();
    let version = version_text(promtool);
    findings.extend(compare_version(promtool, "promtool", pinned_tag, &version));
    // Without a version there is no sound key: run everything, remember nothing.
    let uncached = Cache::disabled();
    let (cache, tool) = match &version {
        Ok(text) => (cache, Key::new(CHECK, text).text("from", &promtool.origin())),
        Err(_) => (&uncached, Key::new(CHECK, "")),
    };
    let rules = yaml_files(repo, rules_mount.1);
    let config_key = tool
        .clone()
        .text("run", "check config")
        .file(repo, config)
        .text("mapped", &format!("{} -> {}", rules_mount.0, rules_mount.1))
        .files(repo, &rules);
    let otel_key = tool.clone().text("run", "check otel scrape config").file(repo, otel_config);
    let agent_config = config_file(source, CHECK, OTEL_AGENT);
    let tests = yaml_files(repo, RULE_TESTS_DIR);
    // The unit tests take longest; the quick checks run beside them.
    let (quick, tested) = std::thread::scope(|scope| {
        let tested = scope.spawn(|| test_rules(repo, promtool, &tests, cache, &tool));
        let mut quick = cache.findings(CHECK, config_key, || check_config(repo, promtool, config, &[rules_mount]));
        quick.extend(check_rules(repo, promtool, &rules, true, cache, &tool));
        quick.extend(cache.findings(CHECK, otel_key, || check_otel_scrape_config(repo, promtool, otel_config)));
        match &agent_config {
            Ok(agent) => {
                let agent_key = tool.clone().text("run", "check otel scrape config").file(repo, agent);
                quick.extend(cache.findings(CHECK, agent_key, || check_otel_scrape_config(repo, promtool, agent)));
            }
            Err(finding) => quick.push(finding.clone()),
        }
        (quick, tested.join())
    });
    findings.extend(quick);
    match tested {
        Ok(found) => findings.extend(found),
        Err(_) => findings.push(Finding::new(CHECK, RULE_TESTS_DIR, "", "the unit-test run panicked")),
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

/// What the tool's `--version` prints: the version of the cache keys.
pub fn version_text(tool: &Validator) -> Result<String, String> {
    tool.run([OsString::from("--version")]).map(|output| output.text)
}

/// Compares the tool's `--version` output (`version`, or why it could not
/// be run) major.minor with the pinned image tag's.
pub fn compare_version(
    tool: &Validator,
    name: &'static str,
    pinned_tag: &str,
    version: &Result<String, String>,
) -> Option<Finding> {
    let pinned = major_minor(pinned_tag.trim_start_matches('v'));
    let text = match version {
        Ok(text) => text,
        Err(err) => return Some(Finding::new(name, tool.display(), "", err.clone())),
    };
    let found = text
        .split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .map(|v| v.trim_start_matches('v').to_owned());
    match (found.as_deref().and_then(major_minor), pinned) {
        (Some(found_mm), Some(pinned_mm)) if found_mm == pinned_mm => None,
        (_, None) => {
            Some(Finding::new(name, tool.display(), "", format!("pinned tag `{pinned_tag}` is not a version")))
        }
        (_, Some(pinned_mm)) => Some(Finding::new(
            name,
            tool.display(),
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
pub fn check_config(repo: &Path, promtool: &Validator, config: &str, mappings: &[(&str, &str)]) -> Verdict {
    let text = match std::fs::read_to_string(repo.join(config)) {
        Ok(text) => text,
        Err(err) => return Err(vec![Finding::new(CHECK, config, "", format!("cannot read: {err}"))]),
    };
    let mut mapped = text;
    for (container, local) in mappings {
        let local = repo.join(local);
        mapped = mapped.replace(&format!("{}/", container.trim_end_matches('/')), &format!("{}/", local.display()));
    }
    let tmp = TempDir::new("promtool").map_err(|err| vec![Finding::new(CHECK, config, "", err)])?;
    let copy = tmp.path().join(Path::new(config).file_name().unwrap_or_default());
    if let Err(err) = std::fs::write(&copy, mapped) {
        return Err(vec![Finding::new(CHECK, config, "", format!("cannot write {}: {err}", copy.display()))]);
    }
    let args = [OsString::from("check"), "config".into(), copy.clone().into()];
    verdict(promtool, args, config, &[(&copy, config), (&repo.join(""), "")])
}

/// `promtool check rules` per file (`--lint=all --lint-fatal` when `lint`),
/// each file's run cached by that file alone.
pub fn check_rules(
    repo: &Path,
    promtool: &Validator,
    files: &[String],
    lint: bool,
    cache: &Cache,
    tool: &Key,
) -> Vec<Finding> {
    files
        .iter()
        .flat_map(|file| {
            let key = tool.clone().text("run", "check rules").text("lint", &lint.to_string()).file(repo, file);
            cache.findings(CHECK, key, || {
                let mut args = vec![OsString::from("check"), "rules".into()];
                if lint {
                    args.extend(["--lint=all".into(), "--lint-fatal".into()]);
                }
                args.push(repo.join(file).into());
                verdict(promtool, args, file, &[(&repo.join(file), file), (&repo.join(""), "")])
            })
        })
        .collect()
}

/// `promtool test rules` per unit-test file (run from the file's directory,
/// as its `rule_files` are relative to it), each cached by the test file
/// and the rule files it loads.
pub fn test_rules(repo: &Path, promtool: &Validator, files: &[String], cache: &Cache, tool: &Key) -> Vec<Finding> {
    // One promtool per file, all at once: the files are independent and the
    // evaluation is CPU-bound, so this is most of `check`'s wall time.
    std::thread::scope(|scope| {
        let runs: Vec<_> = files
            .iter()
            .map(|file| {
                scope.spawn(move || {
                    let run = || {
                        let args = [OsString::from("test"), "rules".into(), repo.join(file).into()];
                        verdict(promtool, args, file, &[(&repo.join(file), file), (&repo.join(""), "")])
                    };
                    match loaded_rules(repo, file) {
                        Some(rules) => {
                            let key = tool.clone().text("run", "test rules").file(repo, file).files(repo, &rules);
                            cache.findings(CHECK, key, run)
                        }
                        // What it reads is unknown, so its verdict cannot be keyed.
                        None => run().unwrap_or_else(|failure| failure),
                    }
                })
            })
            .collect();
        runs.into_iter().flat_map(|run| run.join().unwrap_or_default()).collect()
    })
}

/// The rule files a promtool unit-test file loads (its `rule_files`,
/// relative to its directory), repository-relative; a glob stands for every
/// YAML file of its directory. `None` when the file cannot be read as a
/// unit test, so what promtool would load is unknown.
fn loaded_rules(repo: &Path, test_file: &str) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct UnitTest {
        #[serde(default)]
        rule_files: Vec<String>,
    }
    let dir = Path::new(test_file).parent().unwrap_or(Path::new(""));
    let text = std::fs::read_to_string(repo.join(test_file)).ok()?;
    let named = serde_saphyr::from_str::<UnitTest>(&text).ok()?.rule_files;
    let mut out = Vec::new();
    for name in named {
        let path = normalize(&dir.join(&name));
        if name.contains(['*', '?', '[']) {
            let glob_dir = Path::new(&path).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
            out.extend(yaml_files(repo, &glob_dir));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// `a/b/../c` -> `a/c`, without touching the disk.
fn normalize(path: &Path) -> String {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

/// `promtool check config` over the Prometheus config embedded in the
/// collector's `prometheus` receivers (with the collector's `$$` escapes
/// undone), so the scrape jobs are checked by Prometheus' own parser.
pub fn check_otel_scrape_config(repo: &Path, promtool: &Validator, otel_config: &str) -> Verdict {
    let text = match std::fs::read_to_string(repo.join(otel_config)) {
        Ok(text) => text,
        Err(err) => return Err(vec![Finding::new(CHECK, otel_config, "", format!("cannot read: {err}"))]),
    };
    let value: serde_json::Value = match serde_saphyr::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            return Ok(vec![Finding::new(CHECK, otel_config, "", format!("not YAML: {}", err.without_snippet()))]);
        }
    };
    let receivers = value.get("receivers").and_then(serde_json::Value::as_object).cloned().unwrap_or_default();
    let tmp = TempDir::new("promtool-otel").map_err(|err| vec![Finding::new(CHECK, otel_config, "", err)])?;
    let mut findings = Vec::new();
    for (id, receiver) in receivers.iter().filter(|(id, _)| id.split('/').next() == Some("prometheus")) {
        let Some(config) = receiver.get("config") else { continue };
        let unescaped = unescape_dollars(config.clone());
        let copy = tmp.path().join(format!("{}.json", id.replace('/', "_")));
        if let Err(err) = std::fs::write(&copy, unescaped.to_string()) {
            return Err(vec![Finding::new(CHECK, otel_config, "", format!("cannot write {}: {err}", copy.display()))]);
        }
        let args = [OsString::from("check"), "config".into(), copy.clone().into()];
        for mut finding in verdict(promtool, args, otel_config, &[(&copy, otel_config)])? {
            finding.place = format!("receivers.{id}.config");
            findings.push(finding);
        }
    }
    Ok(findings)
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
/// fails, or, when the tool could not be run, `Err` with why. `rewrites`
/// turn temporary or absolute paths in the output back into
/// repository-relative ones.
fn verdict<I: IntoIterator<Item = OsString>>(
    tool: &Validator,
    args: I,
    file: &str,
    rewrites: &[(&Path, &str)],
) -> Verdict {
    match tool.run(args) {
        Err(err) => Err(vec![Finding::new(CHECK, file, "", err)]),
        Ok(output) if output.success => Ok(Vec::new()),
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
            Ok(vec![Finding::new(CHECK, file, "", message)])
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
pub(crate) fn tool_for_test(name: &str) -> Option<Validator> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    match crate::tools::find(repo, name) {
        Some(path) => Some(Validator::Local(path)),
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
pub(crate) mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    fn source() -> Source {
        Source::load(&repo()).expect("the repository's source loads")
    }

    fn pinned() -> String {
        source().definition.images["prometheus"].tag().unwrap().to_owned()
    }

    /// [`compare_version`] with the tool's `--version` run now.
    pub(crate) fn check_version(tool: &Validator, name: &'static str, pinned_tag: &str) -> Option<Finding> {
        compare_version(tool, name, pinned_tag, &version_text(tool))
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
        let findings = check_config(&repo(), &promtool, config, &[rules_mount(&source).expect("rules mount")])
            .expect("promtool runs");
        assert_eq!(findings, vec![]);
    }

    #[test]
    fn promtool_accepts_the_collectors_scrape_config() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let source = source();
        let otel_config = config_file(&source, CHECK, OTEL_COLLECTOR).expect("otelcol.yml");
        assert_eq!(check_otel_scrape_config(&repo(), &promtool, otel_config), Ok(vec![]));
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
        let findings = check_config(tmp.path(), &promtool, config, &[]).expect("promtool runs");
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
        let (cache, tool) = (Cache::disabled(), Key::new(CHECK, "test"));
        let findings = check_rules(tmp.path(), &promtool, &rules, false, &cache, &tool);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, "r/bad.yml");
        assert!(findings[0].message.contains("could not parse expression"), "{}", findings[0].message);
        let findings = test_rules(tmp.path(), &promtool, &["r/test.yml".to_owned()], &cache, &tool);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, "r/test.yml");
        assert!(findings[0].message.contains("alertname: Down"), "{}", findings[0].message);
    }

    #[test]
    fn the_whole_check_passes_on_the_repository() {
        let Some(_) = tool_for_test("promtool") else { return };
        let tmp = TempDir::new("promtool-cache").expect("tmp");
        let cold = Cache::in_directory(tmp.path().to_path_buf());
        let findings = check(&source(), &cold);
        assert_eq!(findings, vec![], "{}", findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
        assert_eq!(cold.stats().hits, 0);
        // Nothing changed: every verdict comes from the cache, none from promtool.
        let warm = Cache::in_directory(tmp.path().to_path_buf());
        assert_eq!(check(&source(), &warm), findings);
        assert_eq!(warm.stats(), crate::check::cache::Stats { hits: cold.stats().misses, misses: 0 });
    }

    #[test]
    fn a_changed_rule_file_reruns_only_what_reads_it() {
        let Some(promtool) = tool_for_test("promtool") else { return };
        let tmp = TempDir::new("promtool-incremental").expect("tmp");
        let repo = tmp.path();
        std::fs::create_dir_all(repo.join("r")).expect("mkdir");
        std::fs::create_dir_all(repo.join("t")).expect("mkdir");
        let rule = |alert: &str| {
            format!(
                "groups:\n  - name: g\n    rules:\n      - alert: {alert}\n        expr: up == 0\n        for: 1m\n        labels:\n          severity: critical\n        annotations:\n          summary: Down.\n          description: Down.\n"
            )
        };
        let test = |file: &str, alert: &str| {
            format!(
                "rule_files: [../r/{file}]\ntests:\n  - interval: 1m\n    input_series:\n      - series: up{{job=\"x\"}}\n        values: 0x10\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: {alert}\n        exp_alerts:\n          - exp_labels: {{job: x, severity: critical}}\n            exp_annotations: {{summary: Down., description: Down.}}\n"
            )
        };
        for (file, alert) in [("a.yml", "ADown"), ("b.yml", "BDown")] {
            std::fs::write(repo.join("r").join(file), rule(alert)).expect("write");
            std::fs::write(repo.join("t").join(file), test(file, alert)).expect("write");
        }
        let rules = yaml_files(repo, "r");
        let tests = yaml_files(repo, "t");
        let tool =
            Key::new(CHECK, &version_text(&promtool).expect("promtool --version")).text("from", &promtool.origin());
        let run = || {
            let cache = Cache::in_directory(repo.join("cache"));
            let mut findings = check_rules(repo, &promtool, &rules, true, &cache, &tool);
            findings.extend(test_rules(repo, &promtool, &tests, &cache, &tool));
            (findings, cache.stats())
        };
        let (findings, stats) = run();
        assert_eq!(findings, vec![]);
        assert_eq!((stats.hits, stats.misses), (0, 4));
        assert_eq!(run().1.misses, 0);
        // Only b.yml's rule check and the unit test that loads it run again,
        // and the test now fails: the verdict is promtool's, not the cache's.
        std::fs::write(repo.join("r/b.yml"), rule("BDown").replace("for: 1m", "for: 10m")).expect("write");
        let (findings, stats) = run();
        assert_eq!((stats.hits, stats.misses), (2, 2));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, "t/b.yml");
    }

    #[test]
    fn a_unit_test_depends_on_the_rule_files_it_loads() {
        assert_eq!(
            loaded_rules(&repo(), "alerts/generated/tests/hosts.test.yml"),
            Some(vec!["alerts/generated/rules/hosts.rules.yml".to_owned()])
        );
        let tmp = TempDir::new("promtool-loaded").expect("tmp");
        std::fs::create_dir_all(tmp.path().join("t")).expect("mkdir");
        std::fs::create_dir_all(tmp.path().join("r")).expect("mkdir");
        for name in ["r/a.yml", "r/b.yml"] {
            std::fs::write(tmp.path().join(name), "groups: []\n").expect("write");
        }
        std::fs::write(tmp.path().join("t/glob.yml"), "rule_files: [\"../r/*.yml\"]\ntests: []\n").expect("write");
        assert_eq!(loaded_rules(tmp.path(), "t/glob.yml"), Some(vec!["r/a.yml".to_owned(), "r/b.yml".to_owned()]));
        std::fs::write(tmp.path().join("t/broken.yml"), "rule_files: [").expect("write");
        assert_eq!(loaded_rules(tmp.path(), "t/broken.yml"), None);
    }
}
