//! `amtool`: Alertmanager's own validator, over `alertmanager.yml`, the
//! notification templates and the routing expectations in
//! `routing-tests.toml`.
//!
//! - `amtool check-config` on a copy whose template glob points at the
//!   repository's templates (so they are parsed too);
//! - `amtool template render` for every `{{ define }}` in the templates;
//! - `amtool config routes test --verify.receivers=...` for every
//!   `[[route]]` case, and for extra `(alertname, labels, receiver)` cases
//!   callers pass (e.g. one per generated alert rule);
//! - `[[inhibition]]` cases: `amtool` cannot evaluate inhibit rules offline,
//!   and the Debian build of `alertmanager` cannot start without its
//!   `/usr/share/prometheus/alertmanager/default.tmpl`, so they are evaluated
//!   here with Alertmanager's algorithm (`inhibit/inhibit.go`: a target
//!   alert is muted when a firing source alert has equal values — absent
//!   counts as empty — for every `equal` label; when the target also matches
//!   the source side, source alerts that match the target side do not count)
//!   and its matchers (anchored RE2 regexes; promql-parser's matchers).
//!
//! The binary is found with [`crate::tools::find`] (`$AMTOOL`,
//! `.tools/bin/amtool`, `PATH`); its major.minor must equal the pinned
//! Alertmanager image's. Without one, amtool runs from the pinned
//! Alertmanager image ([`Validator`]).
//!
//! Every amtool run is looked up in the [`Cache`] first, keyed by where
//! amtool came from, its version and what that run reads: the config check by alertmanager.yml
//! and the template directory, the template renders by the templates, and
//! each routing case by alertmanager.yml and the case itself (a changed
//! rule file changes only its own alerts' cases).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;

use alerts::AlertLabels;

use super::cache::{Cache, Key, Verdict};
use super::config_keys::{ALERTMANAGER, ALERTMANAGER_TEMPLATES};
use super::promtool::{TempDir, compare_version, version_text};
use super::validator::Validator;
use super::{Finding, config_file};
use crate::source::{DEFINITION_FILE, Source};

pub const CHECK: &str = "amtool";
/// The routing expectations (a test file, not a config of the stack).
pub const ROUTING_TESTS: &str = "stack/configs/alertmanager/routing-tests.toml";

/// Where the Alertmanager files are, as stack.toml says.
#[derive(Debug, Clone, Copy)]
pub struct AlertmanagerFiles<'s> {
    pub repo: &'s Path,
    /// `alertmanager.yml`, repository-relative (`[configs]`).
    pub config: &'s str,
    /// The notification templates, repository-relative (`[configs]`).
    pub templates: &'s str,
    /// The directory the alertmanager service mounts the templates in.
    pub container_templates_dir: &'s str,
}

impl<'s> AlertmanagerFiles<'s> {
    pub fn of(source: &'s Source) -> Result<AlertmanagerFiles<'s>, Finding> {
        let config = config_file(source, CHECK, ALERTMANAGER)?;
        let templates = config_file(source, CHECK, ALERTMANAGER_TEMPLATES)?;
        let container_templates_dir = source
            .definition
            .services
            .get("alertmanager")
            .and_then(|s| s.configs.iter().find(|m| m.source == ALERTMANAGER_TEMPLATES))
            .and_then(|m| m.target.rsplit_once('/'))
            .map(|(dir, _)| dir)
            .ok_or_else(|| {
                Finding::new(
                    CHECK,
                    DEFINITION_FILE,
                    "",
                    format!("the alertmanager service does not mount `{ALERTMANAGER_TEMPLATES}`"),
                )
            })?;
        Ok(AlertmanagerFiles { repo: &source.root, config, templates, container_templates_dir })
    }
}

/// An extra routing expectation: `(alertname, labels, expected receiver)`.
pub type AlertRoute = (String, BTreeMap<String, String>, String);

/// `routing-tests.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingTests {
    #[serde(default)]
    pub route: Vec<RouteCase>,
    #[serde(default)]
    pub inhibition: Vec<InhibitionCase>,
}

/// A label set and the receivers it must reach, in routing-tree order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCase {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub receivers: Vec<String>,
}

/// Alerts firing together; each is expected inhibited or not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitionCase {
    pub name: String,
    pub alerts: Vec<AlertCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertCase {
    pub labels: BTreeMap<String, String>,
    pub inhibited: bool,
}

/// Everything amtool checks in the repository: version against
/// `pinned_tag` (the Alertmanager image tag, e.g. `v0.33.1`), the config,
/// the templates, every routing and inhibition case of
/// `routing-tests.toml`, and that every receiver is exercised by a case.
pub fn check(source: &Source, alerts: &[AlertLabels], cache: &Cache) -> Vec<Finding> {
    let files = match AlertmanagerFiles::of(source) {
        Ok(files) => files,
        Err(finding) => return vec![finding],
    };
    let amtool = match Validator::find(source, "amtool", "alertmanager", Some("/bin/amtool")) {
        Ok(amtool) => amtool,
        Err(why) => return vec![Finding::new(CHECK, files.config, "", why)],
    };
    let amtool = &amtool;
    let mut findings = Vec::new();
    let pinned_tag = source.definition.images.get("alertmanager").and_then(|i| i.tag()).unwrap_or_default();
    let version = version_text(amtool);
    findings.extend(compare_version(amtool, "amtool", pinned_tag, &version));
    // Without a version there is no sound key: run everything, remember nothing.
    let uncached = Cache::disabled();
    let (cache, tool) = match &version {
        Ok(text) => (cache, Key::new(CHECK, text).text("from", &amtool.origin())),
        Err(_) => (&uncached, Key::new(CHECK, "")),
    };
    let repo = files.repo;
    let templates_dir =
        Path::new(files.templates).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let config_key = tool
        .clone()
        .text("run", "check-config")
        .file(repo, files.config)
        .text("mapped", &format!("{} -> {templates_dir}", files.container_templates_dir))
        .files(repo, &dir_files(repo, &templates_dir));
    findings.extend(cache.findings(CHECK, config_key, || check_config(files, amtool)));
    let render_key = tool.clone().text("run", "template render").file(repo, files.templates).text("data", SAMPLE_DATA);
    findings.extend(cache.findings(CHECK, render_key, || render_templates(files, amtool)));
    match load_routing_tests(files.repo, ROUTING_TESTS) {
        Ok(tests) => {
            findings.extend(test_routes(files, amtool, &tests.route, cache, &tool));
            findings.extend(check_inhibitions(files, &tests.inhibition));
            findings.extend(check_coverage(files, &tests));
        }
        Err(finding) => findings.push(finding),
    }
    match generated_alert_cases(files, alerts) {
        Ok(cases) => findings.extend(test_alert_routes(files, amtool, &cases, cache, &tool)),
        Err(errors) => findings.extend(errors),
    }
    findings.sort();
    findings
}

/// The receiver the routing policy (alertmanager.yml's header) gives an
/// alert: Watchdog to the dead-man's switch; critical and warning to
/// `<team>-<severity>` when that receiver exists, else `oncall-<severity>`;
/// info to `low-urgency`; anything else to `unrouted`.
pub fn expected_receiver(alertname: &str, labels: &BTreeMap<String, String>, receivers: &BTreeSet<String>) -> String {
    if alertname == "Watchdog" {
        return "watchdog".into();
    }
    match labels.get("severity").map(String::as_str) {
        Some(severity @ ("critical" | "warning")) => labels
            .get("team")
            .map(|team| format!("{team}-{severity}"))
            .filter(|receiver| receivers.contains(receiver))
            .unwrap_or_else(|| format!("oncall-{severity}")),
        Some("info") => "low-urgency".into(),
        _ => "unrouted".into(),
    }
}

/// One routing case per generated alert (the alerts crate's label sets of
/// its Prometheus rules and Grafana-managed log alerts), with the receiver
/// [`expected_receiver`] gives it. An alert that would land in `unrouted`,
/// or whose team has no receivers, is a finding of its own.
pub fn generated_alert_cases(
    files: AlertmanagerFiles,
    alerts: &[AlertLabels],
) -> Result<Vec<AlertRoute>, Vec<Finding>> {
    let config = files.config;
    let text = std::fs::read_to_string(files.repo.join(config))
        .map_err(|err| vec![Finding::new(CHECK, config, "", format!("cannot read: {err}"))])?;
    let parsed: AmConfig = serde_saphyr::from_str(&text)
        .map_err(|err| vec![Finding::new(CHECK, config, "", err.without_snippet().to_string())])?;
    let receivers: BTreeSet<String> = parsed.receivers.into_iter().map(|r| r.name).collect();
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for AlertLabels { file, alertname, labels } in alerts {
        let receiver = expected_receiver(alertname, labels, &receivers);
        if receiver == "unrouted" {
            errors.push(Finding::new(
                CHECK,
                file.clone(),
                format!("alert {alertname}"),
                format!(
                    "severity {:?} is not critical, warning or info: the alert would reach `unrouted`",
                    labels.get("severity")
                ),
            ));
            continue;
        }
        if let Some(team) = labels.get("team")
            && receiver.starts_with("oncall-")
        {
            errors.push(Finding::new(
                CHECK,
                file.clone(),
                format!("alert {alertname}"),
                format!(
                    "team `{team}` has no {receiver_kind} receiver in {config}: add a route for it",
                    receiver_kind = receiver.trim_start_matches("oncall-")
                ),
            ));
        }
        cases.push((alertname.clone(), labels.clone(), receiver));
    }
    if errors.is_empty() { Ok(cases) } else { Err(errors) }
}

/// Reads and parses `routing-tests.toml`.
pub fn load_routing_tests(repo: &Path, file: &str) -> Result<RoutingTests, Finding> {
    let text = std::fs::read_to_string(repo.join(file))
        .map_err(|err| Finding::new(CHECK, file, "", format!("cannot read: {err}")))?;
    toml::from_str(&text).map_err(|err| {
        let location =
            err.span().map(|span| format!("line {}", text[..span.start].matches('\n').count() + 1)).unwrap_or_default();
        Finding::new(CHECK, file, location, err.message().to_owned())
    })
}

/// Copies `config` into a temporary directory with the container template
/// directory replaced by the repository's, so amtool loads the real
/// templates. Line numbers are unchanged.
fn mapped_copy(files: AlertmanagerFiles, tmp: &TempDir) -> Result<std::path::PathBuf, Finding> {
    let (repo, config) = (files.repo, files.config);
    let text = std::fs::read_to_string(repo.join(config))
        .map_err(|err| Finding::new(CHECK, config, "", format!("cannot read: {err}")))?;
    let templates_dir = repo.join(files.templates).parent().map(Path::to_path_buf).unwrap_or_default();
    let mapped = text.replace(&format!("{}/", files.container_templates_dir), &format!("{}/", templates_dir.display()));
    let copy = tmp.path().join("alertmanager.yml");
    std::fs::write(&copy, mapped)
        .map_err(|err| Finding::new(CHECK, config, "", format!("cannot write {}: {err}", copy.display())))?;
    Ok(copy)
}

/// The files of a repository directory (relative paths, sorted; none when
/// it does not exist): what a template glob there may load.
fn dir_files(repo: &Path, dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// `amtool check-config` (templates included).
pub fn check_config(files: AlertmanagerFiles, amtool: &Validator) -> Verdict {
    let config = files.config;
    let tmp = TempDir::new("amtool").map_err(|err| vec![Finding::new(CHECK, config, "", err)])?;
    let copy = mapped_copy(files, &tmp).map_err(|finding| vec![finding])?;
    match amtool.run([OsString::from("check-config"), copy.clone().into()]) {
        Err(err) => Err(vec![Finding::new(CHECK, config, "", err)]),
        Ok(output) if output.success => Ok(Vec::new()),
        Ok(output) => {
            let message = output
                .text
                .replace(&copy.display().to_string(), config)
                .replace(&format!("{}/", files.repo.display()), "");
            Ok(vec![Finding::new(CHECK, config, "", message.trim().to_owned())])
        }
    }
}

/// The names of the templates `text` defines (`{{ define "name" }}`).
pub fn defined_templates(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("define \"") {
        let after = &rest[start + "define \"".len()..];
        if let Some(end) = after.find('"') {
            names.push(after[..end].to_owned());
        }
        rest = after;
    }
    names
}

/// Sample notification data (two firing alerts, one resolved) for
/// `amtool template render`, in Alertmanager's template.Data layout.
const SAMPLE_DATA: &str = r#"{
  "receiver": "platform-critical",
  "status": "firing",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "NodeDown", "severity": "critical", "team": "platform", "job": "node-exporter", "instance": "10.0.1.5:9100"},
     "annotations": {"summary": "Node 10.0.1.5:9100 is down.", "description": "node-exporter on 10.0.1.5:9100 has not been scraped for 5 minutes.", "runbook_url": "alerts/runbooks/host.md#nodedown"},
     "startsAt": "2026-01-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": "1"},
    {"status": "firing", "labels": {"alertname": "NodeDown", "severity": "critical", "team": "platform", "job": "node-exporter", "instance": "10.0.1.6:9100"},
     "annotations": {}, "startsAt": "2026-01-01T10:01:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "2"},
    {"status": "resolved", "labels": {"alertname": "NodeDown", "severity": "critical", "team": "platform", "job": "node-exporter", "instance": "10.0.1.7:9100"},
     "annotations": {"summary": "Node 10.0.1.7:9100 is down."}, "startsAt": "2026-01-01T09:00:00Z", "endsAt": "2026-01-01T09:30:00Z", "generatorURL": "", "fingerprint": "3"}
  ],
  "groupLabels": {"alertname": "NodeDown", "job": "node-exporter", "team": "platform"},
  "commonLabels": {"alertname": "NodeDown", "severity": "critical", "team": "platform", "job": "node-exporter"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093"
}"#;

/// Renders every template `templates` defines with sample data; a template
/// that fails to parse or execute is a finding naming it.
pub fn render_templates(files: AlertmanagerFiles, amtool: &Validator) -> Verdict {
    let (repo, templates) = (files.repo, files.templates);
    let text = std::fs::read_to_string(repo.join(templates))
        .map_err(|err| vec![Finding::new(CHECK, templates, "", format!("cannot read: {err}"))])?;
    let tmp = TempDir::new("amtool-render").map_err(|err| vec![Finding::new(CHECK, templates, "", err)])?;
    let data = tmp.path().join("data.json");
    if let Err(err) = std::fs::write(&data, SAMPLE_DATA) {
        return Err(vec![Finding::new(CHECK, templates, "", format!("cannot write {}: {err}", data.display()))]);
    }
    let mut glob = OsString::from("--template.glob=");
    glob.push(repo.join(templates));
    let mut data_arg = OsString::from("--template.data=");
    data_arg.push(&data);
    let mut findings = Vec::new();
    let mut ran = true;
    for name in defined_templates(&text) {
        // A template is rendered with the notification data, or, when it
        // expects one alert (`.Labels`, `.Annotations`), once per alert.
        let mut outcome = render_one(amtool, &glob, &data_arg, &format!("{{{{ template \"{name}\" . }}}}"));
        if matches!(&outcome, Ok(o) if !o.success && o.text.contains("in type template.Data")) {
            outcome = render_one(
                amtool,
                &glob,
                &data_arg,
                &format!("{{{{ range .Alerts }}}}{{{{ template \"{name}\" . }}}}{{{{ end }}}}"),
            );
        }
        match outcome {
            Err(err) => {
                ran = false;
                findings.push(Finding::new(CHECK, templates, format!("template {name}"), err));
            }
            Ok(output) if output.success && !output.stdout.contains("<no value>") => {}
            Ok(output) => findings.push(Finding::new(
                CHECK,
                templates,
                format!("template {name}"),
                format!(
                    "amtool template render failed or printed <no value>:\n{}",
                    output.text.replace(&format!("{}/", repo.display()), "").trim()
                ),
            )),
        }
    }
    if ran { Ok(findings) } else { Err(findings) }
}

fn render_one(
    amtool: &Validator,
    glob: &OsString,
    data: &OsString,
    text: &str,
) -> Result<super::promtool::Output, String> {
    let mut template = OsString::from("--template.text=");
    template.push(text);
    amtool.run([OsString::from("template"), "render".into(), glob.clone(), data.clone(), template])
}

/// `label="value"` as amtool's UTF-8 matcher parser wants it.
pub fn label_arg(name: &str, value: &str) -> OsString {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{name}=\"{escaped}\"").into()
}

/// `amtool config routes test --verify.receivers=...` for each case; a
/// finding per case whose label set reaches other receivers. Each case is
/// cached by alertmanager.yml and the case: `config routes test` parses the
/// config only, it does not load the templates (checked: a template that
/// does not parse fails `check-config` but not `config routes test`).
pub fn test_routes(
    files: AlertmanagerFiles,
    amtool: &Validator,
    cases: &[RouteCase],
    cache: &Cache,
    tool: &Key,
) -> Vec<Finding> {
    let config = files.config;
    let config_key = tool.clone().text("run", "config routes test").file(files.repo, config);
    // The mapped copy is made when a case first needs amtool, so a run
    // answered wholly from the cache writes no temporary files.
    let copy: std::sync::OnceLock<Result<(TempDir, std::path::PathBuf), Finding>> = std::sync::OnceLock::new();
    let one = |case: &RouteCase| {
        let mut key = config_key.clone().text("case", &case.name).text("receivers", &case.receivers.join(","));
        for (name, value) in &case.labels {
            key = key.text(name, value);
        }
        cache.findings(CHECK, key, || {
            let copy = copy.get_or_init(|| {
                let tmp = TempDir::new("amtool-routes").map_err(|err| Finding::new(CHECK, config, "", err))?;
                let path = mapped_copy(files, &tmp)?;
                Ok((tmp, path))
            });
            let (_, copy) = copy.as_ref().map_err(|finding| vec![finding.clone()])?;
            route_verdict(config, amtool, copy, case)
        })
    };
    // The cases are independent, and each run is mostly waiting (for a
    // process to start, or for an exec in the Alertmanager image): a few
    // side by side. Findings come back in case order.
    let chunk = cases.len().div_ceil(ROUTE_WORKERS).max(1);
    std::thread::scope(|scope| {
        let runs: Vec<_> =
            cases.chunks(chunk).map(|part| scope.spawn(|| part.iter().flat_map(one).collect::<Vec<_>>())).collect();
        runs.into_iter()
            .flat_map(|run| {
                run.join().unwrap_or_else(|_| vec![Finding::new(CHECK, config, "", "a routing-test run panicked")])
            })
            .collect()
    })
}

/// How many routing cases run at once.
const ROUTE_WORKERS: usize = 6;

/// One routing case against the (mapped) config at `copy`.
fn route_verdict(config: &str, amtool: &Validator, copy: &Path, case: &RouteCase) -> Verdict {
    let mut config_arg = OsString::from("--config.file=");
    config_arg.push(copy);
    let mut args = vec![
        OsString::from("config"),
        "routes".into(),
        "test".into(),
        config_arg,
        format!("--verify.receivers={}", case.receivers.join(",")).into(),
    ];
    args.extend(case.labels.iter().map(|(k, v)| label_arg(k, v)));
    match amtool.run(args) {
        Err(err) => Err(vec![Finding::new(CHECK, config, format!("case \"{}\"", case.name), err)]),
        Ok(output) if output.success => Ok(Vec::new()),
        Ok(output) => {
            let got = output.stdout.lines().next().unwrap_or("").trim().to_owned();
            let labels: Vec<String> = case.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let detail = if got.is_empty() { output.text.trim().to_owned() } else { format!("got [{got}]") };
            Ok(vec![Finding::new(
                CHECK,
                config,
                format!("case \"{}\"", case.name),
                format!("{{{}}} should reach [{}], {detail}", labels.join(", "), case.receivers.join(", ")),
            )])
        }
    }
}

/// Extra routing expectations, e.g. one per generated alert rule:
/// `(alertname, labels, expected receiver)`.
pub fn test_alert_routes(
    files: AlertmanagerFiles,
    amtool: &Validator,
    alerts: &[AlertRoute],
    cache: &Cache,
    tool: &Key,
) -> Vec<Finding> {
    let cases: Vec<RouteCase> = alerts
        .iter()
        .map(|(alertname, labels, receiver)| {
            let mut labels = labels.clone();
            labels.insert("alertname".into(), alertname.clone());
            RouteCase { name: format!("alert {alertname}"), labels, receivers: vec![receiver.clone()] }
        })
        .collect();
    test_routes(files, amtool, &cases, cache, tool)
}

// ---------------------------------------------------------------- inhibition

/// The parts of alertmanager.yml the inhibition and coverage checks read
/// (amtool validates the whole file).
#[derive(Debug, Deserialize)]
struct AmConfig {
    #[serde(default)]
    inhibit_rules: Vec<InhibitRuleDef>,
    #[serde(default)]
    receivers: Vec<ReceiverDef>,
    route: Option<RouteDef>,
}

#[derive(Debug, Deserialize)]
struct InhibitRuleDef {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
    source_match: Option<serde::de::IgnoredAny>,
    source_match_re: Option<serde::de::IgnoredAny>,
    target_match: Option<serde::de::IgnoredAny>,
    target_match_re: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct ReceiverDef {
    name: String,
}

#[derive(Debug, Deserialize)]
struct RouteDef {
    receiver: Option<String>,
    #[serde(default)]
    routes: Vec<RouteDef>,
    #[serde(rename = "match")]
    match_: Option<serde::de::IgnoredAny>,
    match_re: Option<serde::de::IgnoredAny>,
}

/// An inhibit rule with its matchers compiled.
#[derive(Debug)]
pub struct InhibitRule {
    source: Vec<promql_parser::label::Matcher>,
    target: Vec<promql_parser::label::Matcher>,
    equal: Vec<String>,
}

/// Parses Alertmanager matchers (`name="value"`, `=~`, `!=`, `!~`; one per
/// list item or comma-separated) into matchers with Alertmanager's semantics
/// (regexes anchored, an absent label is the empty string).
pub fn parse_matchers(items: &[String]) -> Result<Vec<promql_parser::label::Matcher>, String> {
    const DUMMY: &str = "__xtask_dummy__";
    let mut parts: Vec<String> =
        items.iter().map(|m| m.trim().trim_start_matches('{').trim_end_matches('}').to_owned()).collect();
    // PromQL wants one matcher that cannot match the empty string.
    parts.push(format!("{DUMMY}=\"x\""));
    let selector = format!("{{{}}}", parts.join(", "));
    match promql_parser::parser::parse(&selector) {
        Ok(promql_parser::parser::Expr::VectorSelector(vs)) => {
            Ok(vs.matchers.matchers.into_iter().filter(|m| m.name != DUMMY).collect())
        }
        Ok(_) => Err(format!("{items:?} are not matchers")),
        Err(err) => Err(format!("cannot parse matchers {items:?} (quote values: name=\"value\"): {}", err.trim())),
    }
}

fn matches(matchers: &[promql_parser::label::Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.is_match(labels.get(&m.name).map_or("", String::as_str)))
}

/// Compiles the inhibit rules of an Alertmanager config text. Deprecated
/// `source_match*`/`target_match*` forms are reported, not evaluated.
pub fn inhibit_rules(config_text: &str) -> Result<Vec<InhibitRule>, String> {
    let config: AmConfig = serde_saphyr::from_str(config_text).map_err(|err| err.without_snippet().to_string())?;
    config
        .inhibit_rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            if rule.source_match.is_some() || rule.source_match_re.is_some() || rule.target_match.is_some() || rule.target_match_re.is_some() {
                return Err(format!(
                    "inhibit rule {}: source_match/target_match(_re) are deprecated, use source_matchers/target_matchers",
                    index + 1
                ));
            }
            Ok(InhibitRule {
                source: parse_matchers(&rule.source_matchers).map_err(|e| format!("inhibit rule {}: {e}", index + 1))?,
                target: parse_matchers(&rule.target_matchers).map_err(|e| format!("inhibit rule {}: {e}", index + 1))?,
                equal: rule.equal.clone(),
            })
        })
        .collect()
}

/// Which of `alerts` (all firing) Alertmanager would mark inhibited.
pub fn inhibited(rules: &[InhibitRule], alerts: &[BTreeMap<String, String>]) -> Vec<bool> {
    alerts
        .iter()
        .map(|target| {
            rules.iter().any(|rule| {
                if !matches(&rule.target, target) {
                    return false;
                }
                let two_sided = matches(&rule.source, target);
                alerts.iter().any(|source| {
                    matches(&rule.source, source)
                        && !(two_sided && matches(&rule.target, source))
                        && rule.equal.iter().all(|label| {
                            source.get(label).map_or("", String::as_str) == target.get(label).map_or("", String::as_str)
                        })
                })
            })
        })
        .collect()
}

/// Evaluates every inhibition case; a finding per alert whose expectation
/// does not hold.
pub fn check_inhibitions(files: AlertmanagerFiles, cases: &[InhibitionCase]) -> Vec<Finding> {
    let (repo, config) = (files.repo, files.config);
    let text = match std::fs::read_to_string(repo.join(config)) {
        Ok(text) => text,
        Err(err) => return vec![Finding::new(CHECK, config, "", format!("cannot read: {err}"))],
    };
    let rules = match inhibit_rules(&text) {
        Ok(rules) => rules,
        Err(err) => return vec![Finding::new(CHECK, config, "inhibit_rules", err)],
    };
    let mut findings = Vec::new();
    for case in cases {
        let alerts: Vec<BTreeMap<String, String>> = case.alerts.iter().map(|a| a.labels.clone()).collect();
        for (alert, actual) in case.alerts.iter().zip(inhibited(&rules, &alerts)) {
            if alert.inhibited != actual {
                let labels: Vec<String> = alert.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                findings.push(Finding::new(
                    CHECK,
                    config,
                    format!("case \"{}\"", case.name),
                    format!(
                        "{{{}}} should {}be inhibited, but is {}",
                        labels.join(", "),
                        if alert.inhibited { "" } else { "not " },
                        if actual { "inhibited" } else { "not inhibited" }
                    ),
                ));
            }
        }
    }
    findings
}

/// Every receiver except the root's catch-all is reached by some `[[route]]`
/// case, every receiver a case names exists, and no route uses the
/// deprecated `match`/`match_re`.
pub fn check_coverage(files: AlertmanagerFiles, tests: &RoutingTests) -> Vec<Finding> {
    let (repo, config) = (files.repo, files.config);
    let text = match std::fs::read_to_string(repo.join(config)) {
        Ok(text) => text,
        Err(err) => return vec![Finding::new(CHECK, config, "", format!("cannot read: {err}"))],
    };
    let parsed: AmConfig = match serde_saphyr::from_str(&text) {
        Ok(parsed) => parsed,
        Err(err) => return vec![Finding::new(CHECK, config, "", err.without_snippet().to_string())],
    };
    let mut findings = Vec::new();
    let defined: BTreeSet<&str> = parsed.receivers.iter().map(|r| r.name.as_str()).collect();
    let tested: BTreeSet<&str> = tests.route.iter().flat_map(|c| c.receivers.iter().map(String::as_str)).collect();
    for case in &tests.route {
        for receiver in case.receivers.iter().filter(|r| !defined.contains(r.as_str())) {
            findings.push(Finding::new(
                CHECK,
                ROUTING_TESTS,
                format!("case \"{}\"", case.name),
                format!("receiver `{receiver}` is not defined in {config}"),
            ));
        }
    }
    for receiver in defined.difference(&tested) {
        findings.push(Finding::new(
            CHECK,
            ROUTING_TESTS,
            "",
            format!("receiver `{receiver}` is reached by no [[route]] case"),
        ));
    }
    fn deprecated(route: &RouteDef, path: &str, out: &mut Vec<String>) {
        if route.match_.is_some() || route.match_re.is_some() {
            out.push(format!("{path} ({})", route.receiver.as_deref().unwrap_or("inherited receiver")));
        }
        for (i, child) in route.routes.iter().enumerate() {
            deprecated(child, &format!("{path}.routes[{i}]"), out);
        }
    }
    let mut old = Vec::new();
    if let Some(route) = &parsed.route {
        deprecated(route, "route", &mut old);
    }
    for path in old {
        findings.push(Finding::new(CHECK, config, path, "match/match_re are deprecated: use matchers"));
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::check::promtool::tests::check_version;
    use crate::check::promtool::tool_for_test;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
    }

    static SOURCE: LazyLock<Source> = LazyLock::new(|| Source::load(&repo()).expect("the repository's source loads"));

    fn files() -> AlertmanagerFiles<'static> {
        AlertmanagerFiles::of(&SOURCE).expect("stack.toml names the Alertmanager files")
    }

    fn pinned() -> String {
        SOURCE.definition.images["alertmanager"].tag().unwrap().to_owned()
    }

    /// The key of runs that go past the cache (`Cache::disabled`).
    fn uncached_key() -> Key {
        Key::new(CHECK, "")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn amtool_version_matches_the_pinned_image() {
        let Some(amtool) = tool_for_test("amtool") else { return };
        assert_eq!(check_version(&amtool, "amtool", &pinned()), None);
        let finding = check_version(&amtool, "amtool", "v0.25.0").expect("mismatch");
        assert!(finding.message.contains("pinned image is v0.25.0"), "{finding}");
    }

    #[test]
    fn amtool_accepts_alertmanager_yml_and_renders_the_templates() {
        let Some(amtool) = tool_for_test("amtool") else { return };
        assert_eq!(check_config(files(), &amtool), Ok(vec![]));
        assert_eq!(
            defined_templates(&std::fs::read_to_string(repo().join(files().templates)).expect("tmpl")),
            ["etl.title", "etl.alert", "etl.text"]
        );
        assert_eq!(render_templates(files(), &amtool), Ok(vec![]));
    }

    #[test]
    fn every_routing_case_passes() {
        let Some(amtool) = tool_for_test("amtool") else { return };
        let tests = load_routing_tests(&repo(), ROUTING_TESTS).expect("routing-tests.toml");
        assert!(tests.route.len() >= 10 && tests.inhibition.len() >= 5, "{tests:?}");
        assert_eq!(test_routes(files(), &amtool, &tests.route, &Cache::disabled(), &uncached_key()), vec![]);
        assert_eq!(check_inhibitions(files(), &tests.inhibition), vec![]);
        assert_eq!(check_coverage(files(), &tests), vec![]);
    }

    #[test]
    fn a_wrong_expectation_names_the_case() {
        let Some(amtool) = tool_for_test("amtool") else { return };
        let case = RouteCase {
            name: "critical database alert wrongly expected at the shared on-call".into(),
            labels: labels(&[("alertname", "PostgresDown"), ("severity", "critical"), ("team", "database")]),
            receivers: vec!["oncall-critical".into()],
        };
        let findings = test_routes(files(), &amtool, &[case], &Cache::disabled(), &uncached_key());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, files().config);
        assert_eq!(findings[0].place, "case \"critical database alert wrongly expected at the shared on-call\"");
        assert!(findings[0].message.contains("got [database-critical]"), "{}", findings[0].message);

        let extra = vec![
            ("NodeDown".to_owned(), labels(&[("severity", "critical")]), "oncall-critical".to_owned()),
            ("NodeDown".to_owned(), labels(&[("severity", "warning")]), "oncall-critical".to_owned()),
        ];
        let findings = test_alert_routes(files(), &amtool, &extra, &Cache::disabled(), &uncached_key());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].place, "case \"alert NodeDown\"");
        assert!(findings[0].message.contains("got [oncall-warning]"), "{}", findings[0].message);
    }

    #[test]
    fn a_wrong_inhibition_expectation_names_the_case() {
        let case = InhibitionCase {
            name: "warning wrongly expected to survive".into(),
            alerts: vec![
                AlertCase {
                    labels: labels(&[
                        ("alertname", "NodeDown"),
                        ("severity", "critical"),
                        ("job", "node-exporter"),
                        ("instance", "a:9100"),
                    ]),
                    inhibited: false,
                },
                AlertCase {
                    labels: labels(&[
                        ("alertname", "DiskAlmostFull"),
                        ("severity", "warning"),
                        ("job", "node-exporter"),
                        ("instance", "a:9100"),
                    ]),
                    inhibited: false,
                },
            ],
        };
        let findings = check_inhibitions(files(), &[case]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].place, "case \"warning wrongly expected to survive\"");
        assert!(findings[0].message.contains("should not be inhibited, but is inhibited"), "{}", findings[0].message);
    }

    #[test]
    fn inhibition_semantics() {
        let rules = inhibit_rules(
            "inhibit_rules:\n  - source_matchers: [severity=\"critical\"]\n    target_matchers: [severity=~\"warning|critical\"]\n    equal: [instance]\n",
        )
        .expect("rules");
        // Two criticals on one instance match both sides: they do not inhibit each other.
        let a = labels(&[("severity", "critical"), ("instance", "x")]);
        let b = labels(&[("severity", "critical"), ("instance", "x"), ("alertname", "B")]);
        let w = labels(&[("severity", "warning")]);
        let w_same = labels(&[("severity", "warning"), ("instance", "x")]);
        assert_eq!(inhibited(&rules, &[a.clone(), b]), [false, false]);
        // `equal` on an absent label: empty on both sides counts as equal.
        let c = labels(&[("severity", "critical")]);
        assert_eq!(inhibited(&rules, &[c, w.clone()]), [false, true]);
        assert_eq!(inhibited(&rules, &[a.clone(), w]), [false, false]);
        assert_eq!(inhibited(&rules, &[a, w_same]), [false, true]);
        // Regexes are anchored.
        let rules = inhibit_rules(
            "inhibit_rules:\n  - source_matchers: [severity=\"critical\"]\n    target_matchers: [severity=~\"warn\"]\n",
        )
        .expect("rules");
        assert_eq!(
            inhibited(&rules, &[labels(&[("severity", "critical")]), labels(&[("severity", "warning")])]),
            [false, false]
        );
        assert!(
            inhibit_rules(
                "inhibit_rules:\n  - source_match: {severity: critical}\n    target_match: {severity: warning}\n"
            )
            .is_err()
        );
    }

    #[test]
    fn every_generated_alert_reaches_its_receiver() {
        let Some(amtool) = tool_for_test("amtool") else { return };
        let cases =
            generated_alert_cases(files(), &alerts::alert_label_sets(&crate::generate::alerts_context(&SOURCE)))
                .expect("routable alerts");
        assert_eq!(test_alert_routes(files(), &amtool, &cases, &Cache::disabled(), &uncached_key()), vec![]);
    }

    #[test]
    fn routing_policy() {
        let receivers: BTreeSet<String> =
            ["platform-critical", "oncall-critical", "oncall-warning"].iter().map(|s| (*s).to_owned()).collect();
        let r = |name: &str, pairs: &[(&str, &str)]| expected_receiver(name, &labels(pairs), &receivers);
        assert_eq!(r("Watchdog", &[("severity", "info")]), "watchdog");
        assert_eq!(r("A", &[("severity", "critical"), ("team", "platform")]), "platform-critical");
        assert_eq!(r("A", &[("severity", "critical"), ("team", "nobody")]), "oncall-critical");
        assert_eq!(r("A", &[("severity", "warning"), ("team", "platform")]), "oncall-warning");
        assert_eq!(r("A", &[("severity", "info")]), "low-urgency");
        assert_eq!(r("A", &[]), "unrouted");
    }

    #[test]
    fn routing_tests_file_errors_are_located() {
        let tmp = TempDir::new("routing-tests").expect("tmp");
        std::fs::write(tmp.path().join("r.toml"), "[[route]]\nname = \"x\"\nlabels = {}\nreceiver = [\"a\"]\n")
            .expect("write");
        let err = load_routing_tests(tmp.path(), "r.toml").expect_err("unknown key");
        assert!(err.message.contains("receiver"), "{err}");
        assert_eq!(err.place, "line 4");
    }

    #[test]
    fn the_whole_check_passes_on_the_repository() {
        let Some(_) = tool_for_test("amtool") else { return };
        let alerts = alerts::alert_label_sets(&crate::generate::alerts_context(&SOURCE));
        let tmp = TempDir::new("amtool-cache").expect("tmp");
        let cold = Cache::in_directory(tmp.path().to_path_buf());
        let findings = check(&SOURCE, &alerts, &cold);
        assert_eq!(findings, vec![], "{}", findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
        assert_eq!(cold.stats().hits, 0);
        // Nothing changed: every verdict comes from the cache, none from amtool.
        let warm = Cache::in_directory(tmp.path().to_path_buf());
        assert_eq!(check(&SOURCE, &alerts, &warm), findings);
        assert_eq!(warm.stats(), crate::check::cache::Stats { hits: cold.stats().misses, misses: 0 });
    }
}
