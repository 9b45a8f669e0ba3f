//! `stack/images.lock`: the digest every image tag resolved to.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::digest::Digest;
use super::parse_toml;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageLock {
    pub version: u32,
    #[serde(default, rename = "image")]
    pub images: Vec<ImagePin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawImagePin")]
pub struct ImagePin {
    pub name: String,
    pub repository: String,
    pub tag: String,
    pub pinned: Pinned,
    /// Per-platform blobs, recorded when `pin` could read them: what the Nix
    /// flake fetches (each blob by its own digest) to rebuild the image.
    pub platforms: Vec<PlatformPin>,
}

/// What holds an image's bytes still.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinned {
    /// The registry's manifest digest for the tag (`digest = …`).
    Digest(Digest),
    /// A workspace-built image (`inputs = …`): the hash of its build
    /// inputs, whose first 12 hex digits are in the tag. Its registry
    /// digest exists only once someone built and pushed it, so `deploy`
    /// resolves the tag through the engine and records the digest in the
    /// revision.
    Inputs(Digest),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImagePin {
    name: String,
    repository: String,
    tag: String,
    digest: Option<Digest>,
    inputs: Option<Digest>,
    #[serde(default, rename = "platform")]
    platforms: Vec<PlatformPin>,
}

impl TryFrom<RawImagePin> for ImagePin {
    type Error = String;

    fn try_from(raw: RawImagePin) -> Result<ImagePin, String> {
        let pinned = match (raw.digest, raw.inputs) {
            (Some(d), None) => Pinned::Digest(d),
            (None, Some(i)) if raw.platforms.is_empty() => Pinned::Inputs(i),
            (None, Some(_)) => return Err(format!("image `{}`: a built image has no `platform` blobs", raw.name)),
            (Some(_), Some(_)) => return Err(format!("image `{}`: `digest` or `inputs`, not both", raw.name)),
            (None, None) => return Err(format!("image `{}`: no `digest` (run `cargo xtask pin`)", raw.name)),
        };
        Ok(ImagePin { name: raw.name, repository: raw.repository, tag: raw.tag, pinned, platforms: raw.platforms })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPin {
    pub os: String,
    pub architecture: String,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
}

impl ImagePin {
    /// `repository:tag@sha256:…`: what Swarm is told to run, so every node
    /// runs the same bytes whatever the tag points at later. A built
    /// image's is `repository:tag` (an input-addressed tag), which `deploy`
    /// resolves to the digest the registry serves.
    pub fn reference(&self) -> String {
        match &self.pinned {
            Pinned::Digest(d) => format!("{}:{}@{d}", self.repository, self.tag),
            Pinned::Inputs(_) => format!("{}:{}", self.repository, self.tag),
        }
    }

    /// The registry digest, for a registry image.
    pub fn digest(&self) -> Option<&Digest> {
        match &self.pinned {
            Pinned::Digest(d) => Some(d),
            Pinned::Inputs(_) => None,
        }
    }
}

impl ImageLock {
    pub const VERSION: u32 = 1;

    pub fn load(path: &Path) -> anyhow::Result<ImageLock> {
        let lock: ImageLock = parse_toml(path)?;
        if lock.version != Self::VERSION {
            anyhow::bail!(
                "{}: lock version {} is not supported (expected {})",
                path.display(),
                lock.version,
                Self::VERSION
            );
        }
        let mut names: Vec<&str> = lock.images.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
            anyhow::bail!("{}: image `{}` is pinned twice", path.display(), dup[0]);
        }
        Ok(lock)
    }

    pub fn get(&self, name: &str) -> Option<&ImagePin> {
        self.images.iter().find(|i| i.name == name)
    }

    /// Replaces or adds a pin, keeping entries sorted by name.
    pub fn upsert(&mut self, pin: ImagePin) {
        self.images.retain(|i| i.name != pin.name);
        self.images.push(pin);
        self.images.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The lock file's text: sorted, stable, one table per image.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Image pins: tag -> manifest digest. Maintained by `cargo xtask pin`; sources for each pin in IMAGE-SOURCES.md.\n",
        );
        let _ = writeln!(out, "version = {}", self.version);
        let mut images = self.images.clone();
        images.sort_by(|a, b| a.name.cmp(&b.name));
        for pin in &images {
            let (key, value) = match &pin.pinned {
                Pinned::Digest(d) => ("digest", d),
                Pinned::Inputs(i) => ("inputs", i),
            };
            let _ = write!(
                out,
                "\n[[image]]\nname = {}\nrepository = {}\ntag = {}\n{key} = {}\n",
                quote(&pin.name),
                quote(&pin.repository),
                quote(&pin.tag),
                quote(value.as_str())
            );
            for p in &pin.platforms {
                let layers: Vec<String> = p.layers.iter().map(|l| format!("\n  {},", quote(l.as_str()))).collect();
                let _ = write!(
                    out,
                    "\n[[image.platform]]\nos = {}\narchitecture = {}\nmanifest = {}\nconfig = {}\nlayers = [{}\n]\n",
                    quote(&p.os),
                    quote(&p.architecture),
                    quote(p.manifest.as_str()),
                    quote(p.config.as_str()),
                    layers.concat()
                );
            }
        }
        out
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_round_trips() {
        let mut lock = ImageLock { version: 1, images: vec![] };
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let platform = PlatformPin {
            os: "linux".into(),
            architecture: "amd64".into(),
            manifest: digest.clone(),
            config: digest.clone(),
            layers: vec![digest.clone(), digest.clone()],
        };
        lock.upsert(ImagePin {
            name: "z".into(),
            repository: "docker.io/z/z".into(),
            tag: "1".into(),
            pinned: Pinned::Digest(digest.clone()),
            platforms: vec![platform],
        });
        lock.upsert(ImagePin {
            name: "a".into(),
            repository: "127.0.0.1:5000/a".into(),
            tag: "v\"2".into(),
            pinned: Pinned::Digest(digest.clone()),
            platforms: vec![],
        });
        lock.upsert(ImagePin {
            name: "m".into(),
            repository: "127.0.0.1:5000/m".into(),
            tag: "0.1.0-abcdefabcdef".into(),
            pinned: Pinned::Inputs(digest),
            platforms: vec![],
        });
        let text = lock.render();
        let back: ImageLock = toml::from_str(&text).unwrap();
        assert_eq!(back.images[0].name, "a");
        assert_eq!(back.images[0].tag, "v\"2");
        assert_eq!(back.images.len(), 3);
        assert_eq!(back.images[1].reference(), "127.0.0.1:5000/m:0.1.0-abcdefabcdef");
        assert_eq!(back, lock);
    }
}
