//! Promtail's container pipeline (promtail.yml, job `docker`) run against
//! fixture logs of the platform's formats, as far as Rust can run it:
//! Promtail itself does not run here.
//!
//! What is exercised: the `multiline` stage's joining (its semantics
//! re-stated from clients/pkg/logentry/stages/multiline.go at v3.6.11: one
//! block per stream; lines pass through until the stream's first `firstline`
//! match; then every non-matching line joins the open block; max_lines and
//! max_wait_time cut blocks, which these fixtures do not reach), the match
//! stage's service selector, each fixed-place `regex` stage's `level` and
//! the template stage's mapping of every level those regexes yield.
//!
//! The expressions are compiled with the `regex` crate, not Go's RE2. Both
//! are linear-time engines with the same syntax for what these expressions
//! use (anchors, classes of ASCII ranges, counted repetition, alternation,
//! `(?P<name>)` groups, `.` not matching a newline). Where they differ the
//! config stays out of the way: Rust parses `[[` as a nested class and
//! makes `\d`, `\w`, `\s` Unicode-aware (RE2: ASCII), so the config uses
//! neither (it must avoid backslashes anyway, see promtail.yml's header).
//! Not exercised: Go's text/template evaluation of the template stage (its
//! `eq` words are read, not run), the JSON and logfmt stages, timestamps,
//! and Promtail's channel timing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The `docker` job's pipeline stages, as YAML values.
fn docker_stages() -> Vec<Value> {
    let config: Value =
        serde_saphyr::from_str(&read("stack/configs/promtail/promtail.yml")).expect("promtail.yml parses");
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    let docker = jobs.iter().find(|j| j["job_name"] == "docker").expect("job docker");
    docker["pipeline_stages"].as_array().expect("pipeline_stages").clone()
}

/// The match stage that holds the multiline stage: (selector, firstline).
fn multiline() -> (String, Regex) {
    for stage in docker_stages() {
        let Some(inner) = stage["match"]["stages"].as_array() else { continue };
        if let Some(m) = inner.iter().find_map(|s| s.get("multiline")) {
            let firstline = m["firstline"].as_str().expect("firstline");
            let selector = stage["match"]["selector"].as_str().expect("selector").to_owned();
            return (selector, Regex::new(firstline).expect("firstline compiles"));
        }
    }
    panic!("no multiline stage in the docker job")
}

/// The top-level `regex` stages, in pipeline order.
fn level_regexes() -> Vec<Regex> {
    docker_stages()
        .iter()
        .filter_map(|s| s["regex"]["expression"].as_str())
        .map(|e| Regex::new(e).unwrap_or_else(|err| panic!("`{e}` compiles: {err}")))
        .collect()
}

/// Joins one stream's lines as the multiline stage does.
fn join(lines: &str, firstline: &Regex) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in lines.lines() {
        match (&mut block, firstline.is_match(line)) {
            (_, true) => {
                if let Some(done) = block.replace(vec![line]) {
                    out.push(done.join("\n"));
                }
            }
            (Some(open), false) => open.push(line),
            // Before the stream's first match: passed through.
            (None, false) => out.push(line.to_owned()),
        }
    }
    out.extend(block.map(|b| b.join("\n")));
    out
}

/// What the regex stages leave in `level`: the last one that matched wins.
fn level(entry: &str, regexes: &[Regex]) -> Option<String> {
    regexes.iter().rev().filter_map(|r| r.captures(entry)).find_map(|c| c.name("level")).map(|m| m.as_str().to_owned())
}

#[test]
fn keycloak_stack_traces_are_one_entry_with_the_level_of_their_first_line() {
    let (_, firstline) = multiline();
    let entries = join(&read("xtask/tests/fixtures/logs/keycloak.log"), &firstline);
    assert_eq!(entries.len(), 7, "{entries:#?}");
    let error = &entries[4];
    assert!(error.starts_with("2026-12-03 17:03:00,907 ERROR"), "{error}");
    assert_eq!(error.lines().count(), 8, "the trace, its cause and `... 57 more` join the error line: {error}");
    assert!(error.ends_with("\t... 57 more"));
    // A JSON line (JSON console output) is its own entry.
    assert!(entries[6].starts_with('{') && !entries[6].contains('\n'));
    let levels: Vec<Option<String>> = entries.iter().map(|e| level(e, &level_regexes())).collect();
    let expected = [None, Some("INFO"), Some("INFO"), Some("WARN"), Some("ERROR"), Some("INFO"), None];
    assert_eq!(levels, expected.map(|l| l.map(str::to_owned)));
}

#[test]
fn spark_stack_traces_are_one_entry_with_the_level_of_their_first_line() {
    let (_, firstline) = multiline();
    let entries = join(&read("xtask/tests/fixtures/logs/spark.log"), &firstline);
    assert_eq!(entries.len(), 7, "{entries:#?}");
    assert_eq!(entries[0], "Setting default log level to \"WARN\".", "lines before the first timestamp pass through");
    assert_eq!(entries[3].lines().count(), 4, "{}", entries[3]);
    assert!(entries[5].starts_with("26/12/03 17:07:51 ERROR SparkContext") && entries[5].lines().count() == 5);
    let levels: Vec<Option<String>> = entries.iter().map(|e| level(e, &level_regexes())).collect();
    let expected = [None, Some("INFO"), Some("INFO"), Some("WARN"), Some("ERROR"), Some("ERROR"), Some("INFO")];
    assert_eq!(levels, expected.map(|l| l.map(str::to_owned)));
}

#[test]
fn nginx_and_postgres_levels_are_read_and_other_formats_are_left_alone() {
    let regexes = level_regexes();
    let levels: Vec<Option<String>> =
        read("xtask/tests/fixtures/logs/other-formats.log").lines().map(|l| level(l, &regexes)).collect();
    // nginx error log, PostgreSQL, then logrus text and JSON (the logfmt and
    // json stages read those) and an access-log line (no level at all).
    let expected = [Some("error"), Some("notice"), Some("LOG"), Some("ERROR"), Some("FATAL"), None, None, None];
    assert_eq!(levels, expected.map(|l| l.map(str::to_owned)));
}

#[test]
fn only_the_java_services_streams_are_joined() {
    let (selector, _) = multiline();
    let pattern = Regex::new(r#"service=~"([^"]+)""#).expect("pattern").captures(&selector).expect("a service matcher")
        [1]
    .to_owned();
    // LogQL label matchers match the whole value.
    let service = Regex::new(&format!("^(?:{pattern})$")).expect("service pattern compiles");
    for joined in ["etl_keycloak", "etl_spark-master", "etl_spark-worker", "etl_spark-driver"] {
        assert!(service.is_match(joined), "{joined}");
    }
    for alone in ["etl_backend", "etl_nginx", "etl_postgres", "etl_registry", "monitoring_loki", "keycloak"] {
        assert!(!service.is_match(alone), "{alone}");
    }
}

#[test]
fn every_level_the_regexes_yield_maps_to_a_label_value() {
    let template = docker_stages()
        .iter()
        .find_map(|s| s["template"]["template"].as_str().map(str::to_owned))
        .expect("the level template stage");
    let words: BTreeSet<String> = Regex::new(r#"eq \. "([a-z0-9]+)""#)
        .expect("pattern")
        .captures_iter(&template)
        .map(|c| c[1].to_owned())
        .collect();
    let yielded = [
        "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "SEVERE", "debug", "info", "notice", "warn",
        "error", "crit", "alert", "emerg", "LOG", "DEBUG1", "DEBUG5", "NOTICE", "PANIC",
    ];
    let regexes = level_regexes();
    for level in yielded {
        // Each is a level one of the regexes can capture ...
        let java = format!("2026-12-03 17:01:44,123 {level} [x] (main) m");
        let nginx = format!("2026/12/03 17:01:44 [{level}] 1#1: m");
        let postgres = format!("2026-12-03 17:01:44.123 UTC [1] {level}:  m");
        assert!(
            [java, nginx, postgres].iter().any(|line| self::level(line, &regexes).as_deref() == Some(level)),
            "{level} is not captured"
        );
        // ... and the template turns it into one of the five label values.
        assert!(words.contains(&level.to_lowercase()), "the template does not map {level}");
    }
}
