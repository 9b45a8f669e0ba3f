//! Secrets end to end on the real Swarm (the e2e harness: one uniquely
//! named stack per scenario, removed afterwards): `deploy --init` makes
//! every secret it can and deploys with no other step; `secret rotate`
//! rolls exactly the services that mount the secret; a `secret set` whose
//! roll fails ends on the old version, every service as before and
//! `status` saying so. The fixture (knob `made_secrets`): worker mounts
//! `api_token` (generated, 24 characters) and turns unhealthy when it
//! reads `bad`; probe mounts `probe_url` (the stack's default).

#![allow(clippy::unwrap_used)] // a test that cannot read its own fixture should panic

#[path = "e2e/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::Duration;

use bollard::query_parameters::ListSecretsOptions;
use harness::{TestStack, code, stderr, stdout};

/// The stack's secrets: name → labels.
fn secrets(stack: &TestStack) -> BTreeMap<String, BTreeMap<String, String>> {
    let filters = [("label".to_owned(), vec![format!("com.docker.stack.namespace={}", stack.name)])].into();
    let list =
        stack.block_on(stack.docker().list_secrets(Some(ListSecretsOptions { filters: Some(filters) }))).unwrap();
    list.into_iter()
        .filter_map(|s| {
            let spec = s.spec?;
            Some((spec.name?, spec.labels.unwrap_or_default().into_iter().collect()))
        })
        .collect()
}

/// Secret names the engine's spec of service `short` mounts.
fn mounted(stack: &TestStack, short: &str) -> Vec<String> {
    let filters = format!("{{\"name\":[\"{}_{short}\"]}}", stack.name);
    let body = harness::raw_get_on(
        &harness::engine_socket().to_string_lossy(),
        &format!("/services?filters={}", harness::encode(&filters)),
    );
    let services: serde_json::Value = serde_json::from_str(&body).unwrap();
    let full = format!("{}_{short}", stack.name);
    let service = services.as_array().unwrap().iter().find(|s| s["Spec"]["Name"] == full.as_str()).unwrap();
    let secrets = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"].as_array().cloned().unwrap_or_default();
    secrets.iter().map(|s| s["SecretName"].as_str().unwrap().to_owned()).collect()
}

fn docker_cli() -> &'static str {
    if std::path::Path::new("/usr/local/bin/docker").exists() { "/usr/local/bin/docker" } else { "docker" }
}

/// The file `/run/secrets/<file>` as the running task of `short` sees it.
fn read_in_task(stack: &TestStack, short: &str, file: &str) -> String {
    let service = format!("{}_{short}", stack.name);
    let ps = std::process::Command::new(docker_cli())
        .args(["ps", "-q", "-f", &format!("label=com.docker.swarm.service.name={service}")])
        .output()
        .unwrap();
    let container = stdout(&ps).lines().next().unwrap_or_else(|| panic!("no container of {service}")).to_owned();
    let cat = std::process::Command::new(docker_cli())
        .args(["exec", &container, "cat", &format!("/run/secrets/{file}")])
        .output()
        .unwrap();
    assert!(cat.status.success(), "reading {file} in {service}: {}", stderr(&cat));
    stdout(&cat)
}

/// `cargo xtask secret ARGS` with `input` on standard input (a pipe, as
/// from a script), test-sized soak and deadline.
fn secret(stack: &TestStack, args: &[&str], input: &str) -> Output {
    let mut all = vec!["secret"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--soak", "2", "--deadline", "60"]);
    let mut child = stack
        .command(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning xtask");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!("--- xtask {} -> {:?}\n{}{}", all.join(" "), out.status.code(), stdout(&out), stderr(&out));
    out
}

/// A fresh stack with the secrets knob, deployed with `deploy --init` and
/// no secret created beforehand.
fn deployed_with_init(scenario: &str) -> Option<(TestStack, String)> {
    let mut stack = TestStack::without_network(scenario)?;
    stack.knobs.made_secrets = true;
    let v1 = stack.render();
    assert!(secrets(&stack).is_empty(), "a fresh stack has no secrets");
    let out = stack.deploy(&["--init"]);
    assert_eq!(code(&out), Some(0), "deploy --init failed:\n{}", stderr(&out));
    stack.assert_specs(&v1, "after deploy --init");
    stack.assert_healthy(Duration::from_secs(30), "after deploy --init");
    let notice = stdout(&out);
    Some((stack, notice))
}

#[test]
fn init_creates_every_secret_it_can_and_deploys_with_no_other_step() {
    let Some((stack, notice)) = deployed_with_init("secrets_init") else { return };
    let name = &stack.name;
    let found = secrets(&stack);
    let token = format!("{name}_api_token_v1");
    let url = format!("{name}_probe_url_v1");
    assert_eq!(found.keys().collect::<Vec<_>>(), [&token, &url], "{found:#?}");
    assert_eq!(found[&token]["xtask.secret.origin"], "generated");
    assert_eq!(found[&url]["xtask.secret.origin"], "default");
    assert_eq!(found[&token]["xtask.secret.version"], "1");
    assert_eq!(mounted(&stack, "worker"), std::slice::from_ref(&token));
    assert_eq!(mounted(&stack, "probe"), std::slice::from_ref(&url));
    assert!(mounted(&stack, "prometheus").is_empty());

    let value = read_in_task(&stack, "worker", "api_token");
    assert_eq!(value.len(), 24, "{value:?}");
    assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()), "{value:?}");
    assert_eq!(read_in_task(&stack, "probe", "probe_url"), "http://not-configured.invalid/");

    // Said once: what was made, how to read it, what is a stand-in.
    assert!(notice.contains(&token) && notice.contains(&url), "{notice}");
    assert!(notice.contains(&format!("com.docker.swarm.service.name={name}_worker")), "{notice}");
    assert!(notice.contains("NOT CONFIGURED: `probe_url`"), "{notice}");
    assert!(notice.contains("cargo xtask secret set probe_url"), "{notice}");
    assert!(!notice.contains(&value), "the generated value is never printed");
    // Stored nowhere in the repository.
    let hits = std::process::Command::new("grep").args(["-rlF", &value]).arg(stack.dir.path()).output().unwrap();
    assert!(stdout(&hits).is_empty(), "the value is in {}", stdout(&hits));

    // The next deploy mounts the same versions: nothing to change, and no
    // notice again.
    let out = stack.deploy(&["--init"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("Secrets created by --init"), "{}", stdout(&out));
}

#[test]
fn secret_rotate_rolls_only_the_services_that_mount_it() {
    let Some((stack, _)) = deployed_with_init("secrets_rotate") else { return };
    let name = stack.name.clone();
    let before = stack.versions();
    let old_value = read_in_task(&stack, "worker", "api_token");

    let out = secret(&stack, &["rotate", "api_token"], "");
    assert_eq!(code(&out), Some(0), "rotate failed:\n{}", stderr(&out));
    assert!(stdout(&out).contains("note on `api_token`: tell the clients"), "{}", stdout(&out));
    let after = stack.versions();
    for (service, version) in &before {
        if service == "worker" {
            assert_ne!(after[service], *version, "worker mounts api_token and must be updated");
        } else {
            assert_eq!(after[service], *version, "{service} does not mount api_token and must not be touched");
        }
    }
    assert_eq!(mounted(&stack, "worker"), [format!("{name}_api_token_v2")]);
    assert_eq!(mounted(&stack, "probe"), [format!("{name}_probe_url_v1")]);
    stack.assert_healthy(Duration::from_secs(30), "after the rotation");
    let new_value = read_in_task(&stack, "worker", "api_token");
    assert_eq!(new_value.len(), 24);
    assert_ne!(new_value, old_value);

    let status = stack.status_json();
    assert_eq!(status["current_revision"], 2, "{status:#}");
    let rev2 = status["history"].as_array().unwrap().iter().find(|h| h["number"] == 2).unwrap();
    assert_eq!((rev2["kind"].as_str(), rev2["outcome"].as_str()), (Some("secret"), Some("succeeded")), "{rev2:#}");
    let rev1 = status["history"].as_array().unwrap().iter().find(|h| h["number"] == 1).unwrap();
    let versions = |rev: &serde_json::Value| rev["secrets"].as_array().unwrap().clone();
    assert_eq!(versions(rev1), [format!("{name}_api_token_v1"), format!("{name}_probe_url_v1")], "{rev1:#}");
    assert_eq!(versions(rev2), [format!("{name}_api_token_v2"), format!("{name}_probe_url_v1")], "{rev2:#}");
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "{svc}");
    }
    // Revision 1 is kept for rollback, so its version stays.
    assert!(secrets(&stack).contains_key(&format!("{name}_api_token_v1")), "pruned a version a kept revision uses");

    // The bundle now mounts the newest version: a deploy changes nothing.
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions(), after);

    // A secret without `generate` cannot be rotated, only set.
    let out = secret(&stack, &["rotate", "probe_url"], "");
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cargo xtask secret set probe_url"), "{}", stderr(&out));
    assert_eq!(stack.versions(), after, "a refused rotation changes nothing");
}

#[test]
fn a_set_whose_roll_fails_ends_on_the_old_version() {
    let Some((stack, _)) = deployed_with_init("secrets_set_fails") else { return };
    let name = stack.name.clone();
    let v1 = stack.bundle_snapshot();
    let before_secrets: Vec<String> = secrets(&stack).into_keys().collect();
    let old_value = read_in_task(&stack, "worker", "api_token");

    // worker turns unhealthy when its token is `bad`: the roll fails.
    let out = secret(&stack, &["set", "api_token"], "bad\n");
    assert_eq!(code(&out), Some(2), "rolled back:\n{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("removed secret version {name}_api_token_v2")), "{}", stderr(&out));

    // Every service on the old spec, healthy, the old version mounted, the
    // failed version gone.
    stack.assert_specs(&v1, "after the failed roll");
    stack.assert_healthy(Duration::from_secs(30), "after the failed roll");
    assert_eq!(mounted(&stack, "worker"), [format!("{name}_api_token_v1")]);
    assert_eq!(mounted(&stack, "probe"), [format!("{name}_probe_url_v1")]);
    assert_eq!(read_in_task(&stack, "worker", "api_token"), old_value);
    let after_secrets: Vec<String> = secrets(&stack).into_keys().collect();
    assert_eq!(after_secrets, before_secrets, "the failed version is removed");

    let status = stack.status_json();
    assert_eq!(status["current_revision"], 1, "{status:#}");
    let rev2 = status["history"].as_array().unwrap().iter().find(|h| h["number"] == 2).unwrap();
    assert_eq!((rev2["kind"].as_str(), rev2["outcome"].as_str()), (Some("secret"), Some("rolled-back")), "{rev2:#}");
    for svc in status["services"].as_array().unwrap() {
        assert_eq!(svc["matches_revision"], true, "{svc}");
    }

    // The next deploy mounts the old version still: nothing to change.
    let versions = stack.versions();
    let out = stack.deploy(&[]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(stack.versions(), versions);
}

#[test]
fn a_killed_set_is_rolled_back_by_the_next_run_and_its_version_removed() {
    let Some((stack, _)) = deployed_with_init("secrets_killed") else { return };
    let name = stack.name.clone();
    let v1 = stack.bundle_snapshot();
    let before_secrets: Vec<String> = secrets(&stack).into_keys().collect();

    let mut child = stack
        .command(&["secret", "set", "api_token", "--soak", "2", "--deadline", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning xtask");
    child.stdin.take().unwrap().write_all(b"bad").unwrap();
    let lines = harness::stderr_lines(&mut child);
    harness::wait_line(&lines, "worker: updating", Duration::from_secs(30));
    // Killed once the engine has the update (the line comes just before it).
    let moved = [format!("{name}_api_token_v2")];
    harness::wait_for(Duration::from_secs(10), "worker to mount v2", || mounted(&stack, "worker") == moved);
    harness::signal(&child, "KILL");
    child.wait().unwrap();

    // `status` finds the dead run, rolls it back and removes its version.
    let status = stack.status_json();
    assert_eq!(status["history"][0]["outcome"], "rolled-back", "{status:#}");
    assert_eq!(status["current_revision"], 1, "{status:#}");
    stack.assert_specs(&v1, "after status finished the killed set");
    stack.assert_healthy(Duration::from_secs(30), "after status finished the killed set");
    assert_eq!(mounted(&stack, "worker"), [format!("{name}_api_token_v1")]);
    let after_secrets: Vec<String> = secrets(&stack).into_keys().collect();
    assert_eq!(after_secrets, before_secrets, "the killed run's version is removed, so no deploy picks it up");
    let out = stack.deploy(&[]);
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
}

#[test]
fn a_value_set_before_the_first_deploy_is_what_it_mounts() {
    let Some(mut stack) = TestStack::without_network("secrets_preset") else { return };
    stack.knobs.made_secrets = true;
    let v1 = stack.render();
    let name = stack.name.clone();

    // Nothing runs yet: the version is only created.
    let out = secret(&stack, &["set", "api_token"], "operator-chosen-token\n");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("the next deploy does"), "{}", stdout(&out));
    assert!(stack.running().is_empty(), "a set before the first deploy starts nothing");
    let found = secrets(&stack);
    assert_eq!(found[&format!("{name}_api_token_v1")]["xtask.secret.origin"], "set", "{found:#?}");

    // `--init` makes only what is still missing, and mounts the set value.
    let out = stack.deploy(&["--init"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stack.assert_specs(&v1, "after deploy --init");
    assert!(!stdout(&out).contains(&format!("{name}_api_token_v1")), "not listed as created:\n{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("{name}_probe_url_v1")), "{}", stdout(&out));
    assert_eq!(mounted(&stack, "worker"), [format!("{name}_api_token_v1")]);
    stack.assert_healthy(Duration::from_secs(30), "after deploy --init");
    assert_eq!(read_in_task(&stack, "worker", "api_token"), "operator-chosen-token", "one trailing newline dropped");
}
