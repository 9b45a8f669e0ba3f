//! The validators that ship only inside the component images: `loki
//! -verify-config`, `otelcol-contrib validate` (the collector and the
//! per-node agent) and Promtail's `-check-syntax`, each run from the image
//! stack/images.lock pins, over the config file the service mounts, with
//! the service's own arguments (the container path of the config replaced
//! by the repository file's) and environment.
//!
//! They run with `--with-images` (pulling what the engine lacks), or
//! without it for the images the engine already has. Promtail's `-dry-run`
//! is not used: it starts tailing and does not exit.

use std::ffi::OsString;

use super::Finding;
use super::cache::{Cache, Key};
use super::config_keys::{LOKI, OTEL_AGENT, OTEL_COLLECTOR, PROMTAIL};
use super::validator::{ImageTool, Presence};
use crate::source::Source;

/// One validator: its finding rule, the service whose image, arguments,
/// environment and mounted config it validates, and how it is invoked.
struct ImageCheck {
    rule: &'static str,
    service: &'static str,
    config_key: &'static str,
    /// Before the service's arguments.
    prefix: &'static [&'static str],
    /// After them.
    suffix: &'static [&'static str],
}

const CHECKS: &[ImageCheck] = &[
    ImageCheck {
        rule: "loki -verify-config",
        service: "loki",
        config_key: LOKI,
        prefix: &[],
        suffix: &["-verify-config"],
    },
    ImageCheck {
        rule: "otelcol validate",
        service: "otel-collector",
        config_key: OTEL_COLLECTOR,
        prefix: &["validate"],
        suffix: &[],
    },
    ImageCheck {
        rule: "otelcol validate",
        service: "otel-agent",
        config_key: OTEL_AGENT,
        prefix: &["validate"],
        suffix: &[],
    },
    ImageCheck {
        rule: "promtail -check-syntax",
        service: "promtail",
        config_key: PROMTAIL,
        prefix: &[],
        suffix: &["-check-syntax"],
    },
];

/// Runs every validator whose service, config and image exist; `pull`:
/// `--with-images` (an image the engine lacks is pulled, and a failure to
/// is a finding; without it such an image is skipped).
pub fn check(source: &Source, pull: bool, cache: &Cache) -> Vec<Finding> {
    CHECKS.iter().flat_map(|c| run_one(source, c, pull, cache)).collect()
}

fn run_one(source: &Source, check: &ImageCheck, pull: bool, cache: &Cache) -> Vec<Finding> {
    let def = &source.definition;
    // A service or config the stack does not have is nothing to validate.
    let Some(service) = def.services.get(check.service) else { return Vec::new() };
    let Some(file) = def.configs.get(check.config_key) else { return Vec::new() };
    let Some(mount) = service.configs.iter().find(|m| m.source == check.config_key) else { return Vec::new() };
    let Some(pin) = source.lock.get(&service.image) else { return Vec::new() };
    let host_path = source.root.join(file).display().to_string();
    let mut args: Vec<String> = check.prefix.iter().map(|a| (*a).to_owned()).collect();
    args.extend(service.args.iter().map(|a| a.replace(&mount.target, &host_path)));
    args.extend(check.suffix.iter().map(|a| (*a).to_owned()));
    let env: Vec<String> = service.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let presence = if pull { Presence::Pull } else { Presence::Local };
    let tool = match ImageTool::start(source, pin, None, &env, presence) {
        Ok(tool) => tool,
        // Without the flag only an image already on a reachable engine runs.
        Err(_) if !pull => return Vec::new(),
        Err(why) => {
            return vec![Finding::new(check.rule, file.as_str(), format!("service {}", check.service), why)];
        }
    };
    let key = Key::new(check.rule, "")
        .text("from", &format!("image {}", tool.digest_reference()))
        .text("args", &args.join("\u{0}"))
        .text("env", &env.join("\u{0}"))
        .file(&source.root, file);
    cache.findings(check.rule, key, || {
        let output = tool
            .run(args.iter().map(OsString::from))
            .map_err(|err| vec![Finding::new(check.rule, file.as_str(), format!("service {}", check.service), err)])?;
        if output.success {
            return Ok(Vec::new());
        }
        let message = output.text.replace(&host_path, file).trim().to_owned();
        Ok(vec![Finding::new(check.rule, file.as_str(), format!("service {}", check.service), message)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validator_names_a_service_and_config_of_the_stack() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root");
        let source = Source::load(root).expect("the repository's source loads");
        for check in CHECKS {
            // Promtail may be replaced; the others are the stack's.
            if check.service == "promtail" && !source.definition.services.contains_key("promtail") {
                continue;
            }
            let service = &source.definition.services[check.service];
            let mount = service.configs.iter().find(|m| m.source == check.config_key);
            let mount = mount.unwrap_or_else(|| panic!("{} mounts no {}", check.service, check.config_key));
            assert!(
                service.args.iter().any(|a| a.contains(&mount.target)),
                "{}: no argument names the config at {}",
                check.service,
                mount.target
            );
        }
    }
}
