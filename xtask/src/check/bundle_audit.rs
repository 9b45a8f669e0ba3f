//! Audits the rendered bundle as Swarm will see it: every image pinned by
//! digest, every config named by the hash of its content, and no credential
//! in a config file, a label or an environment value.
//!
//! A finding names what the user edits, not the rendered file: a line of a
//! config by its source file (configs.lock says which) and line, a service
//! by its table in stack/stack.toml. Rendering copies a config byte for
//! byte (generate/stack_bundle.rs), so its lines are the source's lines;
//! when the source on disk no longer has those bytes (the bundle is stale,
//! which the generated-files check reports), the rendered file is named.

use std::path::Path;

use super::Finding;
use crate::bundle::{self, Bundle};
use crate::source::{DEFINITION_FILE, Digest, IMAGE_LOCK, ImageLock, ImagePin, looks_secret};

const CHECK: &str = "bundle";

/// Audits the bundle at `<root>/<bundle_rel>` (`bundle_rel` is how findings
/// name it); sources are read from `root`.
pub fn check(root: &Path, bundle_rel: &str) -> Vec<Finding> {
    let display_dir = bundle_rel;
    let bundle = match Bundle::load(&root.join(bundle_rel)) {
        Ok(b) => b,
        Err(e) => return vec![Finding::new(CHECK, display_dir, "", format!("{e:#}"))],
    };
    let stack_file = format!("{display_dir}/{}", bundle::STACK_FILE);
    let definition = std::fs::read_to_string(root.join(DEFINITION_FILE)).unwrap_or_default();
    // Workspace-built images are pinned by an input-addressed tag, which
    // `deploy` resolves to the registry's digest (check/image_inputs.rs
    // holds the tag to its inputs).
    let built: Vec<String> = ImageLock::load(&root.join(IMAGE_LOCK))
        .map(|lock| lock.images.iter().filter(|p| p.digest().is_none()).map(ImagePin::reference).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, svc) in &bundle.compose.services {
        // Where stack.toml defines the service and the value, else the
        // rendered stack file.
        let place = |needle: &str| match service_line(&definition, name, needle) {
            Some(line) => (DEFINITION_FILE.to_owned(), format!("line {line}, service {name}")),
            None => (stack_file.clone(), format!("service {name}")),
        };
        if !image_is_pinned(&svc.image) && !built.contains(&svc.image) {
            // The reference comes from stack/images.lock; the rendered file is what carries it.
            out.push(Finding::new(
                CHECK,
                &stack_file,
                format!("service {name}"),
                format!("image `{}` is not pinned by digest", svc.image),
            ));
        }
        for (key, value) in &svc.environment {
            let (file, at) = place(key);
            if looks_secret(key) && !value.starts_with("/run/secrets/") {
                out.push(Finding::new(CHECK, &file, &at, format!("environment `{key}` carries a credential in clear")));
            }
            if let Some(why) = credential_in(value) {
                out.push(Finding::new(CHECK, &file, &at, format!("environment `{key}`: {why}")));
            }
        }
        for arg in &svc.command {
            if let Some(why) = credential_in(arg) {
                let (file, at) = place(arg);
                out.push(Finding::new(CHECK, &file, &at, format!("argument `{arg}`: {why}")));
            }
        }
        for (key, value) in &svc.deploy.labels {
            if let Some(why) = credential_in(value) {
                let (file, at) = place(key);
                out.push(Finding::new(CHECK, &file, &at, format!("label `{key}`: {why}")));
            }
        }
    }
    for (key, config) in &bundle.compose.configs {
        let at = format!("config {key}");
        let data = match bundle.config_data(key) {
            Ok(d) => d,
            Err(e) => {
                out.push(Finding::new(CHECK, &stack_file, &at, format!("{e:#}")));
                continue;
            }
        };
        let digest = Digest::of(&data);
        let expected = bundle::config_name(bundle.stack(), key, &digest);
        if config.name != expected {
            out.push(Finding::new(
                CHECK,
                &stack_file,
                &at,
                format!("named `{}` but its content hashes to `{expected}`", config.name),
            ));
        }
        let rendered = format!("{display_dir}/{}", config.file.trim_start_matches("./"));
        let source = bundle.configs.configs.iter().find(|c| &c.key == key).map(|c| c.source.as_str());
        let file = match source {
            Some(source) if std::fs::read(root.join(source)).is_ok_and(|bytes| bytes == data) => source.to_owned(),
            _ => rendered,
        };
        let text = String::from_utf8_lossy(&data);
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = credential_in(line) {
                out.push(Finding::new(CHECK, &file, format!("line {}", n + 1), why));
            }
        }
    }
    for (key, secret) in &bundle.compose.secrets {
        if !secret.external {
            out.push(Finding::new(
                CHECK,
                &stack_file,
                format!("secret {key}"),
                "secrets must be external: their values never enter the bundle",
            ));
        }
    }
    out
}

/// The line (1-based) of stack.toml's `[services.<service>]` table (or a
/// sub-table of it) that mentions `needle`, else the table's header line;
/// `None` when stack.toml has no such table.
fn service_line(definition: &str, service: &str, needle: &str) -> Option<usize> {
    let header = format!("[services.{service}]");
    let sub = format!("[services.{service}.");
    let lines: Vec<&str> = definition.lines().collect();
    let start = lines.iter().position(|l| l.trim() == header)?;
    let mut found = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !trimmed.starts_with(&sub) && !trimmed.starts_with(&format!("[{sub}")) {
            break;
        }
        if !trimmed.starts_with('#') && line.contains(needle) {
            found = Some(i + 1);
            break;
        }
    }
    Some(found.unwrap_or(start + 1))
}

fn image_is_pinned(image: &str) -> bool {
    image.rsplit_once('@').is_some_and(|(_, d)| d.parse::<Digest>().is_ok())
}

/// Why a line of text looks like it holds a credential, if it does: a
/// `user:password@` URL, or a password/token/secret key given a literal value
/// rather than a file or a reference.
pub fn credential_in(line: &str) -> Option<String> {
    if let Some(rest) = line.split("://").nth(1) {
        let authority = rest.split(['/', ' ', '"', '\'']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.contains(':')
        {
            return Some("URL with an embedded password".into());
        }
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with("//") {
        return None;
    }
    let (key, value) = trimmed.split_once([':', '='])?;
    let key = key.trim().trim_matches(['"', '\'', '-', ' ']).to_ascii_lowercase();
    let value = value.trim().trim_matches(['"', '\'']);
    let secret_key = ["password", "passwd", "secret", "token", "api_key", "apikey", "bearer_token", "private_key"]
        .iter()
        .any(|w| key == *w || key.ends_with(&format!("_{w}")));
    let harmless = value.is_empty()
        || key.ends_with("_file")
        || value.starts_with("/run/secrets/")
        || value.starts_with("$__file{")
        || value.starts_with("${")
        || value.starts_with('$');
    (secret_key && !harmless).then(|| format!("`{key}` has a literal value: use a Swarm secret file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised() {
        assert!(credential_in("url: postgresql://monitor:hunter2@db:5432/x").is_some());
        assert!(credential_in("  password: hunter2").is_some());
        assert!(credential_in("admin_password = hunter2").is_some());
        assert!(credential_in("bearer_token: abc").is_some());
        for ok in [
            "password_file: /run/secrets/x",
            "url_file: /run/secrets/webhook",
            "admin_password = $__file{/run/secrets/grafana_admin_password}",
            "# password: in a comment",
            "url: http://prometheus:9090/api/v1/write",
            "tokens_per_second: 5",
        ] {
            assert!(credential_in(ok).is_none(), "{ok}");
        }
    }

    #[test]
    fn the_committed_bundle_is_clean() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let findings = check(root, bundle::DIR);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn tampered_bundles_are_caught() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let src = root.join(bundle::DIR);
        let copy = dir.path().join("bundle");
        copy_dir(&src, &copy);
        let stack = copy.join(bundle::STACK_FILE);
        let text = std::fs::read_to_string(&stack).unwrap();
        // An image without digest, and a credential in an environment value.
        let image_line = text.lines().find(|l| l.trim_start().starts_with("image:")).unwrap();
        let unpinned = image_line.split('@').next().unwrap().to_owned();
        let text = text.replacen(image_line, &unpinned, 1);
        let text = text.replacen("    environment:\n", "    environment:\n      DB_PASSWORD: hunter2\n", 1);
        std::fs::write(&stack, text).unwrap();
        // A config whose content no longer matches its name.
        let configs = copy.join(bundle::CONFIGS_DIR);
        let victim = std::fs::read_dir(&configs).unwrap().next().unwrap().unwrap().path();
        let mut data = std::fs::read_to_string(&victim).unwrap();
        data.push_str("\n# password: hunter2\npassword: hunter2\n");
        std::fs::write(&victim, data).unwrap();

        let findings = check(dir.path(), "bundle");
        let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(all.contains("is not pinned by digest"), "{all}");
        assert!(all.contains("DB_PASSWORD"), "{all}");
        assert!(all.contains("content hashes to"), "{all}");
        assert!(all.contains("`password` has a literal value"), "{all}");
    }

    #[test]
    fn a_credential_in_a_component_config_names_the_source_file_and_line() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["stack", "alerts", "dashboards"] {
            copy_dir(&root.join(sub), &dir.path().join(sub));
        }
        let source = crate::source::Source::load(dir.path()).unwrap();
        let config = source.definition.configs[crate::check::config_keys::PROMETHEUS].clone();
        let path = dir.path().join(&config);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let at = 4;
        lines.insert(at - 1, "# a credential a user pasted in:\nremote_password: hunter2");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        // Render as `gen` does.
        let source = crate::source::Source::load(dir.path()).unwrap();
        for file in crate::generate::all_files(&source).unwrap() {
            let target = dir.path().join(&file.path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, &file.contents).unwrap();
        }

        let findings = check(dir.path(), bundle::DIR);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].file, config);
        assert_eq!(findings[0].place, format!("line {}", at + 1));
        assert!(findings[0].message.contains("`remote_password` has a literal value"), "{}", findings[0]);

        // A stale bundle (the source changed since) names the rendered file.
        std::fs::write(&path, text).unwrap();
        let findings = check(dir.path(), bundle::DIR);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].file.starts_with(&format!("{}/{}/", bundle::DIR, bundle::CONFIGS_DIR)), "{}", findings[0]);
    }

    #[test]
    fn a_service_finding_names_its_table_in_stack_toml() {
        let definition = "[stack]\nname = \"x\"\n\n[services.api]\nimage = \"a\"\n\n[services.api.environment]\nDB_PASSWORD = \"hunter2\"\n\n[services.web]\nimage = \"w\"\n";
        assert_eq!(service_line(definition, "api", "DB_PASSWORD"), Some(8));
        assert_eq!(service_line(definition, "api", "not there"), Some(4));
        assert_eq!(service_line(definition, "web", "DB_PASSWORD"), Some(10));
        assert_eq!(service_line(definition, "db", "DB_PASSWORD"), None);
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}
