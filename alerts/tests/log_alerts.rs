//! Evaluates every Grafana log alert against fixture log streams.
//!
//! Loki cannot run on the project's machines. Each alert's LogQL is restated
//! as PromQL over one `log_line` series per log line
//! ([`alerts::grafana::logql_as_promql`] says why that is exact for the
//! subset the alerts use), the threshold and pending period become the rule's
//! comparison and `for`, and the real promtool evaluates it: the line filters'
//! regular expressions run in Go's RE2 engine, as in Loki. What this does not
//! cover is in the README (alerts section).
//!
//! Every log alert must have a firing and a quiet stream here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use alerts::grafana::{Comparison, LINE_LABEL, LOG_LINE_METRIC, LogAlert, log_alert_groups, logql_as_promql};
use alerts::render::{rule_file_yaml, test_file_yaml};
use alerts::{Alert, Context, Duration, Firing, Group, Quiet, RuleFile, fires, quiet, series};

/// Lines logged by one stream: `count` copies of `text` in every minute of
/// `minutes` (minute 0 is the first sample).
struct Lines<'a> {
    labels: &'a [(&'a str, &'a str)],
    text: &'a str,
    minutes: std::ops::Range<u64>,
    count: usize,
}

const BACKEND: &[(&str, &str)] = &[("service", "etl_backend"), ("stack", "etl")];
const NGINX: &[(&str, &str)] = &[("service", "etl_nginx"), ("stack", "etl")];
const KEYCLOAK: &[(&str, &str)] = &[("service", "etl_keycloak"), ("stack", "etl")];

/// One series per line, with a single sample at the minute it was logged.
fn line_series(lines: &[Lines<'_>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        for minute in l.minutes.clone() {
            for copy in 0..l.count {
                let n = format!("{k}-{minute}-{copy}");
                let mut labels = l.labels.to_vec();
                labels.push((LINE_LABEL, l.text));
                labels.push(("n", &n));
                let values = if minute == 0 { "1".to_string() } else { format!("_x{minute} 1") };
                out.push((series(LOG_LINE_METRIC, &labels), values));
            }
        }
    }
    out
}

struct Fixture<'a> {
    title: &'a str,
    at: Duration,
    firing: Vec<Lines<'a>>,
    /// The labels the query yields for the firing stream.
    alert: &'a [(&'a str, &'a str)],
    quiet: Vec<Lines<'a>>,
}

const NGINX_502: &str =
    r#"10.0.0.7 - - [03/Dec/2026:13:00:00 +0000] "GET /api/jobs HTTP/1.1" 502 157 "-" "Mozilla/5.0""#;
const NGINX_200: &str =
    r#"10.0.0.7 - - [03/Dec/2026:13:00:00 +0000] "GET /api/jobs HTTP/1.1" 200 502 "-" "Mozilla/5.0""#;
const LOGIN_ERROR: &str = r#"2026-12-03 13:00:00,000 WARN  [org.keycloak.events] (executor-thread-1) type="LOGIN_ERROR", realmId="etl", clientId="etl-frontend", userId="null", ipAddress="10.0.0.9", error="invalid_user_credentials""#;
const LOGIN_OK: &str = r#"2026-12-03 13:00:00,000 DEBUG [org.keycloak.events] (executor-thread-1) type="LOGIN", realmId="etl", clientId="etl-frontend", userId="4f1c", ipAddress="10.0.0.9""#;

fn fixtures() -> Vec<Fixture<'static>> {
    let l = |labels, text, minutes, count| Lines { labels, text, minutes, count };
    vec![
        Fixture {
            title: "LogIngestionStopped",
            at: Duration::minutes(25),
            firing: vec![l(BACKEND, "job 17 done", 0..5, 3)],
            alert: &[],
            quiet: vec![l(BACKEND, "job 17 done", 0..30, 1)],
        },
        Fixture {
            title: "ServiceErrorLogsHigh",
            at: Duration::minutes(25),
            firing: vec![
                l(BACKEND, "2026-12-03T13:00:00Z ERROR failed to load batch 17", 0..30, 15),
                l(BACKEND, "2026-12-03T13:00:00Z INFO batch 18 loaded", 0..30, 20),
            ],
            alert: BACKEND,
            // "terror" is no error (\b), and 5 real errors a minute stay under 50 in 5 minutes.
            quiet: vec![
                l(BACKEND, "INFO review of 'Terror Train' imported", 0..30, 15),
                l(BACKEND, "level=error msg=\"retrying\"", 0..30, 5),
            ],
        },
        Fixture {
            title: "ServicePanicLogged",
            at: Duration::minutes(5),
            firing: vec![l(BACKEND, "panic: runtime error: index out of range [3] with length 3", 3..4, 1)],
            alert: BACKEND,
            quiet: vec![
                l(BACKEND, "recovered from a panic in the handler, continuing", 3..4, 1),
                l(BACKEND, "Exception in thread pool sizing: using default", 3..4, 1),
            ],
        },
        Fixture {
            title: "ServiceOutOfMemoryLogged",
            at: Duration::minutes(5),
            firing: vec![l(BACKEND, "java.lang.OutOfMemoryError: Java heap space", 2..3, 1)],
            alert: BACKEND,
            // The dots are literal: `java_lang_OutOfMemoryError` is not the JVM's message.
            quiet: vec![l(BACKEND, "metric java_lang_OutOfMemoryError_count=0", 2..3, 1)],
        },
        Fixture {
            title: "NginxHighServerErrorRate",
            at: Duration::minutes(25),
            firing: vec![l(NGINX, NGINX_502, 0..30, 2), l(NGINX, NGINX_200, 0..30, 8)],
            alert: &[("service", "etl_nginx")],
            // A 200 whose body size is 502 bytes is not a server error.
            quiet: vec![l(NGINX, NGINX_200, 0..30, 10)],
        },
        Fixture {
            title: "KeycloakLoginFailuresHigh",
            at: Duration::minutes(20),
            firing: vec![l(KEYCLOAK, LOGIN_ERROR, 0..30, 6)],
            alert: &[("service", "etl_keycloak")],
            quiet: vec![l(KEYCLOAK, LOGIN_OK, 0..30, 10), l(KEYCLOAK, LOGIN_ERROR, 0..30, 2)],
        },
    ]
}

fn as_alert(rule: &LogAlert, fixture: &Fixture<'_>) -> Alert<alerts::Tested, alerts::Tested> {
    let promql = logql_as_promql(&rule.query).unwrap_or_else(|e| panic!("{}: {e}", rule.title));
    let op = match rule.comparison {
        Comparison::Above => ">",
        Comparison::Below => "<",
    };
    let mut firing: Firing = fires("firing stream").at(fixture.at);
    for (s, v) in line_series(&fixture.firing) {
        firing = firing.series(s, v);
    }
    let mut quiet_case: Quiet = quiet("quiet stream").at(fixture.at);
    for (s, v) in line_series(&fixture.quiet) {
        quiet_case = quiet_case.series(s, v);
    }
    let mut alert = Alert::new(&rule.title, rule.severity)
        .expr(&format!("({promql}) {op} {}", rule.threshold))
        .team(rule.team)
        .summary(&rule.summary)
        .description("Fixture evaluation.");
    if !rule.for_duration.is_zero() {
        alert = alert.for_duration(rule.for_duration);
    }
    alert.fires(firing.alert(fixture.alert)).stays_quiet(quiet_case)
}

fn promtool() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crate is inside the repo").to_path_buf();
    let found = std::env::var_os("PROMTOOL").map(PathBuf::from).or_else(|| {
        let local = root.join(".tools/bin/promtool");
        if local.is_file() {
            return Some(local);
        }
        std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("promtool")).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "promtool not found (set PROMTOOL or run scripts/install-tools.sh)");
        eprintln!("skipped: promtool not found");
    }
    found
}

#[test]
fn every_log_alert_has_fixtures() {
    let titles: BTreeSet<String> =
        log_alert_groups(&Context::default()).iter().flat_map(|g| g.rules.iter().map(|r| r.title.clone())).collect();
    let covered: BTreeSet<String> = fixtures().iter().map(|f| f.title.to_string()).collect();
    assert_eq!(titles, covered, "every log alert needs a firing and a quiet fixture stream, and no other");
}

#[test]
fn log_alerts_fire_on_their_fixture_streams_only() {
    let Some(promtool) = promtool() else { return };
    let ctx = Context::default();
    let fixtures = fixtures();
    let mut group = Group::new("log-alerts");
    for rule in log_alert_groups(&ctx).iter().flat_map(|g| g.rules.iter()) {
        let fixture = fixtures.iter().find(|f| f.title == rule.title).expect("every_log_alert_has_fixtures");
        group = group.alert(as_alert(rule, fixture));
    }
    let file = RuleFile::new("log-alerts").group(group).resolve_links(&ctx);
    let dir = tempfile::tempdir().expect("tempdir");
    for (sub, text) in
        [("rules/log-alerts.rules.yml", rule_file_yaml(&file)), ("tests/log-alerts.test.yml", test_file_yaml(&file))]
    {
        let path = dir.path().join(sub);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    let out = Command::new(&promtool)
        .args(["test", "rules", "tests/log-alerts.test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
