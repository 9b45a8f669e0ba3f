//! Source: what people edit. `stack/stack.toml`, the component configs it
//! names, and `stack/images.lock`. Loading checks every cross-reference and
//! reports all problems at once, each naming the service or key.

mod build_inputs;
mod digest;
mod image_lock;
mod quantity;
mod stack_definition;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

pub use build_inputs::input_tag;
pub use digest::Digest;
pub use image_lock::{ImageLock, ImagePin, Pinned, PlatformPin};
pub use quantity::{ByteSize, Duration};
use report::Finding;
pub use stack_definition::*;

/// Where the sources live, relative to the repository root. (The stack
/// definition, not the compose file `docker stack deploy` reads: that one is
/// the bundle's `bundle::STACK_FILE`.)
pub const DEFINITION_FILE: &str = "stack/stack.toml";
pub const IMAGE_LOCK: &str = "stack/images.lock";
/// The rule name of the stack definition's findings.
pub const RULE: &str = "source";

/// A stack definition with its image pins, every reference checked.
#[derive(Debug)]
pub struct Source {
    pub root: PathBuf,
    pub definition: StackDefinition,
    pub lock: ImageLock,
}

impl Source {
    pub fn load(root: &Path) -> Result<Source> {
        Source::load_from(root, &root.join(DEFINITION_FILE), &root.join(IMAGE_LOCK))
    }

    pub fn load_from(root: &Path, stack_file: &Path, lock_file: &Path) -> Result<Source> {
        let definition: StackDefinition = parse_toml(stack_file)?;
        let lock = ImageLock::load(lock_file)?;
        let problems = definition.problems(&lock);
        if !problems.is_empty() {
            anyhow::bail!(
                "{} has {} problem(s):\n  - {}",
                stack_file.display(),
                problems.len(),
                problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("\n  - ")
            );
        }
        Ok(Source { root: root.to_path_buf(), definition, lock })
    }

    /// The pinned reference of a service's image (checked at load).
    pub fn image_reference(&self, image: &str) -> Option<String> {
        self.lock.get(image).map(ImagePin::reference)
    }
}

/// Swarm object names are limited to 64 characters; a config name is
/// `<stack>_<key>_<12 hex>`.
const MAX_OBJECT_NAME: usize = 64;
/// `_` before the key and `_v<N>` after it, room for versions up to 99999.
const SECRET_VERSION_SUFFIX: usize = 1 + 2 + 5;
/// Below 16 alphanumeric characters (95 bits) a generated value is too
/// guessable; above 256 some components truncate or refuse it.
const MIN_GENERATED: u32 = 16;
const MAX_GENERATED: u32 = 256;

impl StackDefinition {
    /// Every broken cross-reference or impossible setting, in file order,
    /// as findings on stack.toml (the message names the service or key).
    pub fn problems(&self, lock: &ImageLock) -> Vec<Finding> {
        let mut out = Vec::new();
        let stack = &self.stack.name;
        if !is_object_name(stack) {
            out.push(format!("[stack] name `{stack}`: use lowercase letters, digits, `-` and `_`"));
        }
        if self.stack.endpoint_mode == EndpointMode::Dnsrr && self.stack.publish_mode == PublishMode::Ingress {
            out.push(
                "[stack] endpoint_mode = \"dnsrr\" cannot publish ports through the ingress mesh: set publish_mode = \"host\""
                    .to_owned(),
            );
        }
        for (name, image) in &self.images {
            let repository = &image.repository;
            let fix = format!("run `cargo xtask pin --image {name}`");
            match (lock.get(name), &image.origin) {
                (None, ImageOrigin::Registry { tag }) => {
                    out.push(format!("image `{name}` ({repository}:{tag}) has no digest in {IMAGE_LOCK}: {fix}"));
                }
                (None, ImageOrigin::Workspace(_)) => {
                    out.push(format!("image `{name}` ({repository}, built) has no tag in {IMAGE_LOCK}: {fix}"));
                }
                (Some(pin), _) if &pin.repository != repository => out.push(format!(
                    "image `{name}` is from {repository} but {IMAGE_LOCK} pins {}: {fix}",
                    pin.repository
                )),
                (Some(pin), ImageOrigin::Registry { tag }) if &pin.tag != tag || pin.digest().is_none() => {
                    out.push(format!(
                        "image `{name}` is {repository}:{tag} but {IMAGE_LOCK} pins {}: {fix}",
                        pin.reference()
                    ));
                }
                (Some(pin), ImageOrigin::Workspace(_)) if pin.digest().is_some() => out.push(format!(
                    "image `{name}` is built from this workspace but {IMAGE_LOCK} pins a registry digest: {fix}"
                )),
                // Whether a built image's tag is still its inputs' is
                // `check`'s (check/image_inputs.rs): it reads every input.
                (Some(_), _) => {}
            }
        }
        let config_keys = self.configs.keys().map(String::as_str);
        let set_keys = self.config_sets.values().map(|s| s.prefix.as_str());
        for key in config_keys.chain(set_keys) {
            // The longest config name: stack + key (+ file stem for sets) + hash.
            if !is_object_name(key) {
                out.push(format!("config key `{key}`: use lowercase letters, digits and `_`"));
            } else if stack.len() + key.len() + 14 > MAX_OBJECT_NAME {
                out.push(format!("config key `{key}` is too long for a Swarm object name with stack `{stack}`"));
            }
        }
        for (name, secret) in &self.secrets {
            // The operator sets what is not generated: the description is
            // all they have to know what value to put in.
            if secret.description.trim().is_empty() {
                out.push(format!("secret `{name}`: say in `description` what value it holds"));
            }
            if !is_object_name(name) || name.contains('-') {
                out.push(format!("secret `{name}`: use lowercase letters, digits and `_`"));
            } else if stack.len() + name.len() + SECRET_VERSION_SUFFIX > MAX_OBJECT_NAME {
                out.push(format!("secret `{name}` is too long for a versioned Swarm secret name with stack `{stack}`"));
            }
            if secret.generate.is_some() && secret.default.is_some() {
                out.push(format!("secret `{name}`: `generate` or `default`, not both"));
            }
            if secret.default.as_deref().is_some_and(|d| d.trim().is_empty()) {
                out.push(format!("secret `{name}`: an empty `default` (Swarm keeps no empty secret): drop it"));
            }
            if let Some(g) = secret.generate
                && !(MIN_GENERATED..=MAX_GENERATED).contains(&g.length)
            {
                out.push(format!(
                    "secret `{name}`: generate.length {} is out of range ({MIN_GENERATED}..={MAX_GENERATED})",
                    g.length
                ));
            }
        }
        for (key, file) in &self.configs {
            if file.starts_with('/') || file.contains("..") {
                out.push(format!("config `{key}`: `{file}` must be a path inside the repository"));
            }
        }
        for (name, svc) in &self.services {
            let at = format!("service `{name}`");
            if !self.images.contains_key(&svc.image) {
                out.push(format!("{at}: image `{}` is not in [images]", svc.image));
            }
            if svc.mode == Mode::Global && svc.replicas != 1 {
                out.push(format!("{at}: a global service runs one task per node; drop `replicas`"));
            }
            if svc.stateful && (svc.mode == Mode::Global || svc.replicas != 1) {
                out.push(format!("{at}: a stateful service must be a single replica"));
            }
            for m in &svc.configs {
                if !self.configs.contains_key(&m.source) {
                    out.push(format!("{at}: config `{}` is not in [configs]", m.source));
                }
            }
            for m in &svc.config_sets {
                if !self.config_sets.contains_key(&m.source) {
                    out.push(format!("{at}: config set `{}` is not in [config_sets]", m.source));
                }
            }
            for m in &svc.secrets {
                if !self.secrets.contains_key(&m.source) {
                    out.push(format!("{at}: secret `{}` is not in [secrets]", m.source));
                }
            }
            for v in &svc.volumes {
                if !is_object_name(&v.source) {
                    out.push(format!("{at}: volume name `{}`: use lowercase letters, digits and `_`", v.source));
                }
            }
            for b in &svc.binds {
                if !b.source.starts_with('/') {
                    out.push(format!("{at}: bind source `{}` must be an absolute host path", b.source));
                }
            }
            out.extend(hardening_problems(&svc.hardening).into_iter().map(|p| format!("{at}: hardening.{p}")));
            let r = &svc.resources;
            if r.reserve_cpus > r.cpus || r.reserve_memory.bytes() > r.memory.bytes() {
                out.push(format!("{at}: reservations exceed limits"));
            }
            if !(r.cpus > 0.0 && r.cpus.is_finite()) {
                out.push(format!("{at}: resources.cpus must be a positive number"));
            }
            for (key, value) in &svc.environment {
                if looks_secret(key) && !value.starts_with("/run/secrets/") {
                    out.push(format!(
                        "{at}: environment `{key}` looks like a credential: pass it as a Swarm secret file (`{key}__FILE` or `_FILE` pointing at /run/secrets/…)"
                    ));
                }
            }
        }
        let mut published: Vec<(u16, &str)> =
            self.services.iter().flat_map(|(n, s)| s.ports.iter().map(move |p| (p.published, n.as_str()))).collect();
        published.sort_unstable();
        for w in published.windows(2) {
            if w[0].0 == w[1].0 {
                out.push(format!("port {} is published by both `{}` and `{}`", w[0].0, w[0].1, w[1].1));
            }
        }
        out.into_iter().map(|message| Finding::new(RULE, DEFINITION_FILE, "", message)).collect()
    }
}

/// Settings of `[services.<name>.hardening]` Swarm would refuse or that
/// contradict each other.
fn hardening_problems(h: &Hardening) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(user) = &h.user {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok();
        let ok = match user.split_once(':') {
            Some((uid, gid)) => numeric(uid) && numeric(gid),
            None => numeric(user),
        };
        if !ok {
            out.push(format!("user `{user}`: write a numeric `uid` or `uid:gid`"));
        }
    }
    for cap in h.cap_drop.iter().chain(&h.cap_add) {
        let name = cap.strip_prefix("CAP_").unwrap_or(cap);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            out.push(format!("capability `{cap}`: write it as Linux names it, upper case (`ALL`, `NET_BIND_SERVICE`)"));
        }
    }
    if h.cap_add.iter().any(|c| c == "ALL") {
        out.push("cap_add: `ALL` gives every capability back: name the ones needed".to_owned());
    }
    if h.pids == Some(0) {
        out.push("pids: 0 means no limit to the engine: leave it out or set the limit".to_owned());
    }
    for t in &h.tmpfs {
        if !t.target.starts_with('/') {
            out.push(format!("tmpfs target `{}` must be an absolute path", t.target));
        }
        if t.size.bytes() == 0 {
            out.push(format!("tmpfs `{}`: a size of 0 means half the node's memory: give a size", t.target));
        }
    }
    if h.runs_as_root.as_deref().is_some_and(|r| r.trim().is_empty()) {
        out.push("runs_as_root: say why, or drop it".to_owned());
    }
    if h.engine_access.as_deref().is_some_and(|r| r.trim().is_empty()) {
        out.push("engine_access: say why, or drop it".to_owned());
    }
    if h.writable_root.as_deref().is_some_and(|r| r.trim().is_empty()) {
        out.push("writable_root: say why, or drop it".to_owned());
    }
    out
}

/// An environment variable name that would carry a credential in clear.
pub fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    let credential = ["PASSWORD", "PASS", "SECRET", "TOKEN", "DSN", "API_KEY", "CREDENTIAL"]
        .iter()
        .any(|w| k.split(['_', '-']).any(|part| part == *w) || k.ends_with(w));
    credential && !k.ends_with("_FILE")
}

fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

/// Reads a TOML file into `T`; errors name the file and the line.
pub fn parse_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).map_err(|err| {
        let line = err.span().map(|s| text[..s.start].lines().count().max(1));
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        anyhow::anyhow!("{}{at}: {}", path.display(), err.message())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names() {
        for k in ["POSTGRES_PASSWORD", "DATA_SOURCE_NAME_DSN", "GF_SECURITY_ADMIN_PASSWORD", "SLACK_TOKEN"] {
            assert!(looks_secret(k), "{k}");
        }
        for k in ["GF_SECURITY_ADMIN_PASSWORD__FILE", "DATA_SOURCE_PASS_FILE", "HOSTNAME", "GF_PATHS_CONFIG"] {
            assert!(!looks_secret(k), "{k}");
        }
    }

    #[test]
    fn impossible_hardening_is_named() {
        let h: Hardening = toml::from_str(
            "user = \"nobody\"\ncap_add = [\"ALL\", \"net_raw\"]\npids = 0\ntmpfs = [{ target = \"tmp\", size = \"0\" }]\nruns_as_root = \" \"\n",
        )
        .unwrap();
        let found = hardening_problems(&h);
        for needle in
            ["user `nobody`", "`net_raw`", "cap_add: `ALL`", "pids: 0", "absolute path", "a size of 0", "runs_as_root"]
        {
            assert!(found.iter().any(|f| f.contains(needle)), "{needle} not in {found:#?}");
        }
        let fine: Hardening = toml::from_str(
            "user = \"65534:65534\"\ncap_drop = [\"ALL\"]\ncap_add = [\"CAP_NET_BIND_SERVICE\"]\npids = 64\n",
        )
        .unwrap();
        assert!(hardening_problems(&fine).is_empty());
    }

    #[test]
    fn the_repository_stack_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let source = Source::load(root).unwrap();
        assert_eq!(source.definition.services.len(), 13);
    }

    /// The target-count alerts (alerts/src/rules/targets.rs) expect the
    /// replicas stack.toml runs; and every replicated service with more than
    /// one replica is in their list, or a missing replica would go unseen.
    #[test]
    fn expected_replicas_of_the_alerts_are_the_stacks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let source = Source::load(root).unwrap();
        let several: std::collections::BTreeMap<&str, u32> = source
            .definition
            .services
            .iter()
            .filter(|(_, s)| s.mode == Mode::Replicated && s.replicas > 1)
            .map(|(name, s)| (name.as_str(), s.replicas))
            .collect();
        let expected: std::collections::BTreeMap<&str, u32> = alerts::EXPECTED_REPLICAS.iter().copied().collect();
        assert_eq!(expected, several);
    }
}
