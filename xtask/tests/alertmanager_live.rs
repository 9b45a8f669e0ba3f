//! The real Alertmanager (the `.tools/bin` build, 0.33.1) evaluates the
//! `[[inhibition]]` cases of routing-tests.toml against the repository's
//! alertmanager.yml, cross-checking `check_inhibitions`' re-implementation of
//! the algorithm, and routes the `[[route]]` cases to their receivers.
//!
//! Each case gets a fresh Alertmanager on a free 127.0.0.1 port (clustering
//! off, storage in a temp dir), so cases cannot interact. The config is a
//! temp copy whose `url_file`s hold a loopback URL to a port this test holds
//! and never answers, and whose template glob points at a temp copy of the
//! repository's templates. Debian's binary wants its default.tmpl under
//! /usr/share/prometheus/alertmanager; when that is missing, the extracted
//! package's copy is overlaid there in a private mount namespace (`unshare`),
//! as scripts/capture-catalog.sh does. Skipped (with a message) when the
//! binary or `unshare` is missing, failed when that happens in CI.

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture or start its server should panic

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};

const DEFAULT_TMPL: &str = "/usr/share/prometheus/alertmanager/default.tmpl";

#[derive(Debug, Deserialize)]
struct RoutingTests {
    #[serde(default)]
    route: Vec<RouteCase>,
    #[serde(default)]
    inhibition: Vec<InhibitionCase>,
}

#[derive(Debug, Deserialize)]
struct RouteCase {
    name: String,
    labels: BTreeMap<String, String>,
    receivers: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct InhibitionCase {
    name: String,
    alerts: Vec<AlertCase>,
}

#[derive(Debug, Deserialize)]
struct AlertCase {
    labels: BTreeMap<String, String>,
    inhibited: bool,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `$ALERTMANAGER`, `.tools/bin/alertmanager`, then `PATH` (as xtask's tools::find).
fn find_alertmanager() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ALERTMANAGER").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(path);
    }
    let local = repo().join(".tools/bin/alertmanager");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("alertmanager"))
        .find(|p| p.is_file())
}

/// How to start the binary: directly when default.tmpl is installed, else
/// under `unshare` with the package's templates overlaid onto /usr/share.
/// `Err` says why it cannot run here.
fn launcher(binary: &Path, work: &Path) -> Result<Vec<String>, String> {
    let binary = binary.display().to_string();
    if Path::new(DEFAULT_TMPL).is_file() {
        return Ok(vec![binary]);
    }
    let real = std::fs::canonicalize(&binary).map_err(|e| format!("cannot resolve {binary}: {e}"))?;
    let share = real.parent().and_then(Path::parent).unwrap().join("share/prometheus/alertmanager");
    if !share.join("default.tmpl").is_file() {
        return Err(format!("{DEFAULT_TMPL} missing and no default.tmpl in {}", share.display()));
    }
    let lower = work.join("share");
    let dest = lower.join("prometheus/alertmanager");
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(&share).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tmpl") {
            std::fs::copy(&path, dest.join(path.file_name().unwrap())).unwrap();
        }
    }
    let probe = Command::new("unshare").args(["--mount", "--propagation", "private", "true"]).output();
    match probe {
        Err(e) => return Err(format!("unshare not runnable: {e}")),
        Ok(out) if !out.status.success() => {
            return Err(format!("unshare --mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(_) => {}
    }
    Ok(vec![
        "unshare".into(),
        "--mount".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        r#"mount -t overlay overlay -o "lowerdir=$1:/usr/share" /usr/share && shift && exec "$@""#.into(),
        "sh".into(),
        lower.display().to_string(),
        binary,
    ])
}

/// alertmanager.yml with every `url_file` replaced by a temp file holding
/// `url`, and the container template directory by `templates`.
fn rewrite_config(text: &str, work: &Path, templates: &Path, url: &str) -> String {
    let secrets = work.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        if let Some(at) = line.find("url_file:") {
            let original = line[at + "url_file:".len()..].trim().trim_matches(['"', '\'']).to_owned();
            let file = secrets.join(Path::new(&original).file_name().unwrap());
            std::fs::write(&file, url).unwrap();
            line = format!("{}url_file: {}", &line[..at], file.display());
        }
        out.push_str(&line);
        out.push('\n');
    }
    let out = out.replace("/etc/alertmanager/templates/", &format!("{}/", templates.display()));
    // Only the loopback URL files may name a destination.
    assert!(!out.replace("url_file:", "").contains("url:"), "alertmanager.yml has an inline URL:\n{out}");
    assert!(!out.contains("/run/secrets/") && !out.contains("/etc/alertmanager/"), "unmapped path:\n{out}");
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running Alertmanager, killed (and its temp dir removed) on drop.
struct Alertmanager {
    child: Child,
    port: u16,
    work: tempfile::TempDir,
    _webhook: TcpListener,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn start(binary: &Path, deadline: Instant) -> Result<Self, String> {
        let work = tempfile::Builder::new().prefix("alertmanager-live").tempdir().unwrap();
        let launch = launcher(binary, work.path())?;
        // The webhook target: bound here and never accepted, so nothing else
        // can own the port and no notification leaves the machine.
        let webhook = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hook", webhook.local_addr().unwrap().port());
        let templates = work.path().join("templates");
        std::fs::create_dir_all(&templates).unwrap();
        let repo_templates = repo().join("stack/configs/alertmanager");
        for entry in std::fs::read_dir(&repo_templates).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tmpl") {
                std::fs::copy(&path, templates.join(path.file_name().unwrap())).unwrap();
            }
        }
        let text = std::fs::read_to_string(repo().join("stack/configs/alertmanager/alertmanager.yml")).unwrap();
        let config = work.path().join("alertmanager.yml");
        std::fs::write(&config, rewrite_config(&text, work.path(), &templates, &url)).unwrap();
        let data = work.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let port = free_port();
        let log = std::fs::File::create(work.path().join("alertmanager.log")).unwrap();
        let child = Command::new(&launch[0])
            .args(&launch[1..])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch[0]))?;
        let mut am = Alertmanager { child, port, work, _webhook: webhook };
        loop {
            if matches!(am.http("GET", "/-/ready", None), Ok((200, _))) {
                return Ok(am);
            }
            if let Some(status) = am.child.try_wait().unwrap() {
                panic!("alertmanager exited ({status}):\n{}", am.log());
            }
            assert!(Instant::now() < deadline, "alertmanager not ready on port {port}:\n{}", am.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// One HTTP/1.0 exchange with the server (no chunked answers, closed after).
    fn http(&self, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok((status, body))
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.http("GET", path, None).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Posts firing alerts (startsAt now, endsAt in an hour).
    fn post_alerts<'a>(&self, alerts: impl IntoIterator<Item = &'a BTreeMap<String, String>>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let body: Vec<Value> = alerts
            .into_iter()
            .map(|labels| json!({"labels": labels, "startsAt": rfc3339(now), "endsAt": rfc3339(now + 3600)}))
            .collect();
        let (status, answer) = self.http("POST", "/api/v2/alerts", Some(&Value::Array(body))).unwrap();
        assert_eq!(status, 200, "POST /api/v2/alerts: {answer}\n{}", self.log());
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap() + 719_468;
    let rem = secs % 86_400;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The labels of an API alert.
fn labels_of(alert: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(alert["labels"].clone()).unwrap()
}

fn show(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// What Alertmanager says of each alert of a case: `Some((inhibited, line))`
/// per expected alert, once all of them are listed.
fn observe(am: &Alertmanager, case: &InhibitionCase) -> Option<Vec<(bool, String)>> {
    let listed = am.get_json("/api/v2/alerts");
    let listed = listed.as_array().unwrap();
    let fingerprints: Vec<&str> = listed.iter().filter_map(|a| a["fingerprint"].as_str()).collect();
    case.alerts
        .iter()
        .map(|expected| {
            let alert = listed.iter().find(|a| labels_of(a) == expected.labels)?;
            let status = &alert["status"];
            let by: Vec<&str> = status["inhibitedBy"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let state = status["state"].as_str().unwrap_or("");
            // Consistency of the two fields, and no inhibitor from outside the case.
            assert_eq!(state == "suppressed", !by.is_empty(), "case \"{}\": {alert}", case.name);
            assert!(by.iter().all(|f| fingerprints.contains(f)), "case \"{}\": {alert}", case.name);
            Some((!by.is_empty(), format!("{} state={state} inhibitedBy={by:?}", show(&expected.labels))))
        })
        .collect()
}

#[test]
fn real_alertmanager_agrees_with_the_routing_tests() {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(25);
    let Some(binary) = find_alertmanager() else {
        assert!(std::env::var_os("CI").is_none(), "alertmanager not found: run scripts/install-tools.sh");
        eprintln!("skipped: alertmanager not found (run scripts/install-tools.sh, or set ALERTMANAGER)");
        return;
    };
    let probe = tempfile::tempdir().unwrap();
    if let Err(why) = launcher(&binary, probe.path()) {
        assert!(std::env::var_os("CI").is_none(), "cannot run {}: {why}", binary.display());
        eprintln!("skipped: cannot run {}: {why}", binary.display());
        return;
    }
    let text = std::fs::read_to_string(repo().join("stack/configs/alertmanager/routing-tests.toml")).unwrap();
    let tests: RoutingTests = toml::from_str(&text).unwrap();
    assert!(tests.inhibition.len() >= 5 && tests.route.len() >= 10, "{tests:?}");
    assert!(tests.inhibition.iter().any(|c| c.alerts.iter().any(|a| a.inhibited)), "no case expects an inhibition");

    // Inhibition: one fresh Alertmanager per case.
    let mut failures = Vec::new();
    for case in &tests.inhibition {
        let am = Alertmanager::start(&binary, deadline).unwrap();
        am.post_alerts(case.alerts.iter().map(|a| &a.labels));
        let expected: Vec<bool> = case.alerts.iter().map(|a| a.inhibited).collect();
        // Poll until every alert is listed and the expectation holds, then
        // read again after a pause: an inhibition that arrives late counts.
        let mut seen = None;
        let poll_until = (Instant::now() + Duration::from_secs(5)).min(deadline);
        while Instant::now() < poll_until {
            seen = observe(&am, case);
            if seen.as_ref().is_some_and(|s| s.iter().map(|(i, _)| *i).eq(expected.iter().copied())) {
                std::thread::sleep(Duration::from_millis(300));
                seen = observe(&am, case);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let Some(seen) = seen else {
            failures.push(format!("case \"{}\": not every alert was listed by /api/v2/alerts", case.name));
            continue;
        };
        for (alert, (inhibited, line)) in case.alerts.iter().zip(seen) {
            if alert.inhibited != inhibited {
                failures.push(format!(
                    "case \"{}\": {line}: expected {}",
                    case.name,
                    if alert.inhibited { "inhibited" } else { "not inhibited" }
                ));
            }
        }
    }

    // Routing: every [[route]] case at once (no case depends on another),
    // read back as the receivers of the groups each alert is in.
    let am = Alertmanager::start(&binary, deadline).unwrap();
    am.post_alerts(tests.route.iter().map(|c| &c.labels));
    let mut got: BTreeMap<BTreeMap<String, String>, Vec<String>> = BTreeMap::new();
    let poll_until = (Instant::now() + Duration::from_secs(5)).min(deadline);
    loop {
        got.clear();
        for group in am.get_json("/api/v2/alerts/groups").as_array().unwrap() {
            let receiver = group["receiver"]["name"].as_str().unwrap().to_owned();
            for alert in group["alerts"].as_array().unwrap() {
                got.entry(labels_of(alert)).or_default().push(receiver.clone());
            }
        }
        if tests.route.iter().all(|c| got.contains_key(&c.labels)) || Instant::now() >= poll_until {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for case in &tests.route {
        let mut want = case.receivers.clone();
        want.sort();
        let mut have = got.get(&case.labels).cloned().unwrap_or_default();
        have.sort();
        if want != have {
            failures.push(format!(
                "route \"{}\": {} reached {have:?}, expected {want:?}",
                case.name,
                show(&case.labels)
            ));
        }
    }
    let severities: Vec<&str> =
        tests.route.iter().filter_map(|c| c.labels.get("severity").map(String::as_str)).collect();
    for severity in ["critical", "warning", "info"] {
        assert!(severities.contains(&severity), "no [[route]] case for severity {severity}");
    }
    drop(am);

    assert!(failures.is_empty(), "the real Alertmanager disagrees with routing-tests.toml:\n{}", failures.join("\n"));
    let elapsed = started.elapsed();
    eprintln!(
        "{} inhibition cases and {} routing cases checked against {} in {elapsed:.1?}",
        tests.inhibition.len(),
        tests.route.len(),
        binary.display()
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
