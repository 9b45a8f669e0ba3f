//! `haproxy -c`: HAProxy's own config check, over the Docker API proxy's
//! config (`[configs] docker_proxy_cfg`). `-dW` makes a warning fail the
//! check too. Every `[ALERT]` or `[WARNING]` line becomes a finding, placed
//! at the line HAProxy names (`parsing [<file>:<line>]`).
//!
//! The binary is found with [`crate::tools::find`] (`$HAPROXY`,
//! `.tools/bin/haproxy`, `PATH`), else the pinned image runs it. The
//! validator scripts/install-tools.sh installs is Debian bookworm's 2.6
//! while the image runs 3.2 (forky's 3.2 needs a newer glibc than the build
//! machines have): the config sticks to what both accept, and a version
//! difference is not a finding here.

use std::ffi::OsString;

use super::config_keys::DOCKER_PROXY;
use super::validator::Validator;
use super::{Finding, config_file};
use crate::source::Source;

pub const CHECK: &str = "haproxy";

pub fn check(source: &Source) -> Vec<Finding> {
    let config = match config_file(source, CHECK, DOCKER_PROXY) {
        Ok(config) => config,
        Err(finding) => return vec![finding],
    };
    // Not installed: the pinned image's entrypoint runs it (upstream's
    // docker-entrypoint.sh puts `haproxy` before arguments that start with
    // `-`), so `check` needs no HAProxy on this machine either.
    let haproxy = match Validator::find(source, "haproxy", "haproxy", None) {
        Ok(haproxy) => haproxy,
        Err(err) => return vec![Finding::new(CHECK, config, "", err)],
    };
    let args = ["-c", "-dW", "-f"].map(OsString::from).into_iter().chain([source.root.join(config).into_os_string()]);
    match haproxy.run(args) {
        Err(err) => vec![Finding::new(CHECK, config, "", err)],
        Ok(output) if output.success => Vec::new(),
        Ok(output) => {
            let found = findings(config, &output.text);
            if found.is_empty() {
                vec![Finding::new(CHECK, config, "", format!("haproxy -c failed: {}", output.text.trim()))]
            } else {
                found
            }
        }
    }
}

/// The `[ALERT]`/`[WARNING]` lines of `haproxy -c`, each at its line of
/// `file` when HAProxy names one. The summary alerts ("Error(s) found",
/// "Fatal errors") repeat what the others say and are left out.
fn findings(file: &str, text: &str) -> Vec<Finding> {
    text.lines()
        .filter(|line| line.starts_with("[ALERT]") || line.starts_with("[WARNING]"))
        .filter_map(|line| {
            // `[ALERT]    (pid) : config : parsing [path:5] : message`
            let message = line.splitn(3, " : ").nth(2)?;
            if let Some(rest) = message.strip_prefix("parsing [") {
                let (location, message) = rest.split_once("] : ")?;
                let line_number = location.rsplit_once(':').map(|(_, n)| n).unwrap_or_default();
                return Some(Finding::new(CHECK, file, format!("line {line_number}"), message));
            }
            let summary = message.starts_with("Error(s) found") || message.starts_with("Fatal errors");
            (!summary).then(|| Finding::new(CHECK, file, "", message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_placed_at_their_line_and_summaries_dropped() {
        let text = "[NOTICE]   (1) : haproxy version is 2.6.12\n\
            [ALERT]    (1) : config : parsing [/tmp/x/haproxy.cfg:5] : error detected while parsing an 'http-request deny' condition : regex '(' is invalid.\n\
            [WARNING]  (1) : config : missing timeouts for frontend 'x'.\n\
            [ALERT]    (1) : config : Error(s) found in configuration file : /tmp/x/haproxy.cfg\n\
            [ALERT]    (1) : config : Fatal errors found in configuration.\n";
        let found = findings("stack/configs/docker-proxy/haproxy.cfg", text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].place, "line 5");
        assert!(found[0].message.starts_with("error detected while parsing"), "{found:#?}");
        assert_eq!((found[1].place.as_str(), found[1].message.as_str()), ("", "missing timeouts for frontend 'x'."));
    }

    /// The real validator on the repository's config, and on a broken copy.
    #[test]
    fn the_repository_config_passes_and_a_broken_one_is_placed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let Some(haproxy) = crate::tools::find(root, "haproxy") else {
            assert!(std::env::var_os("CI").is_none(), "haproxy not installed (scripts/install-tools.sh)");
            eprintln!("skipped: haproxy not found");
            return;
        };
        let source = Source::load(root).unwrap();
        assert_eq!(check(&source), Vec::<Finding>::new());

        let dir = super::super::promtool::TempDir::new("haproxy-test").unwrap();
        let broken = dir.path().join("haproxy.cfg");
        let text = std::fs::read_to_string(root.join("stack/configs/docker-proxy/haproxy.cfg")).unwrap();
        std::fs::write(&broken, text.replace("path_reg ^(/v", "path_reg ((^(/v")).unwrap();
        let output = crate::check::promtool::run(
            &haproxy,
            ["-c", "-dW", "-f"].map(OsString::from).into_iter().chain([broken.into()]),
        )
        .unwrap();
        assert!(!output.success, "{}", output.text);
        let found = findings("haproxy.cfg", &output.text);
        assert!(!found.is_empty() && found.iter().all(|f| f.place.starts_with("line ")), "{found:#?}");
    }
}
