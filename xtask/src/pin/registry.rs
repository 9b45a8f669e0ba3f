//! Talks to image registries through oci-client: the Distribution API with
//! Docker Hub and OCI token auth handled by the crate.

use anyhow::{Context, Result, bail};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, client::ClientConfig, client::ClientProtocol};

use crate::source::{Digest, PlatformPin};

/// The platforms the stack runs on, as the Nix flake's systems.
const PLATFORMS: &[(&str, &str)] = &[("linux", "amd64"), ("linux", "arm64")];

/// What a tag resolved to: the digest to pin (the manifest list's for a
/// multi-arch image) and the blobs of each wanted platform.
#[derive(Debug)]
pub struct Resolved {
    pub digest: Digest,
    pub platforms: Vec<PlatformPin>,
}

pub struct Registry {
    client: Client,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl Registry {
    pub fn new(insecure: &[String]) -> Registry {
        let config = ClientConfig { protocol: ClientProtocol::HttpsExcept(insecure.to_vec()), ..Default::default() };
        Registry { client: Client::new(config) }
    }

    pub async fn resolve(&self, repository: &str, tag: &str) -> Result<Resolved> {
        let tagged = format!("{repository}:{tag}");
        let reference: Reference = tagged.parse().with_context(|| format!("`{tagged}` is not an image reference"))?;
        let (manifest, digest) = self
            .client
            .pull_manifest(&reference, &RegistryAuth::Anonymous)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let digest: Digest = digest.parse().with_context(|| format!("{tagged}: registry sent a bad digest"))?;
        let platforms = match manifest {
            OciManifest::ImageIndex(index) => {
                let mut out = Vec::new();
                for (os, arch) in PLATFORMS {
                    let entry = index.manifests.iter().find(|m| {
                        m.platform
                            .as_ref()
                            .is_some_and(|p| p.os.to_string() == *os && p.architecture.to_string() == *arch)
                    });
                    if let Some(entry) = entry {
                        let by_digest = reference.clone_with_digest(entry.digest.clone());
                        let (image, manifest_digest) = self.image_manifest(&by_digest).await?;
                        out.push(platform_pin(os, arch, &manifest_digest, &image)?);
                    }
                }
                out
            }
            OciManifest::Image(image) => {
                // A single-platform image: its config blob names the platform.
                let by_digest = reference.clone_with_digest(digest.to_string());
                let (_, _, config) = self
                    .client
                    .pull_manifest_and_config(&by_digest, &RegistryAuth::Anonymous)
                    .await
                    .map_err(|e| anyhow::anyhow!("{tagged}: reading the image config: {e}"))?;
                let config: serde_json::Value =
                    serde_json::from_str(&config).with_context(|| format!("{tagged}: image config is not JSON"))?;
                let os = config["os"].as_str().unwrap_or("linux").to_owned();
                let arch = config["architecture"].as_str().unwrap_or("amd64").to_owned();
                vec![platform_pin(&os, &arch, digest.as_str(), &image)?]
            }
        };
        Ok(Resolved { digest, platforms })
    }

    async fn image_manifest(&self, reference: &Reference) -> Result<(OciImageManifest, String)> {
        match self.client.pull_manifest(reference, &RegistryAuth::Anonymous).await {
            Ok((OciManifest::Image(image), digest)) => Ok((image, digest)),
            Ok((OciManifest::ImageIndex(_), _)) => bail!("{reference}: nested image index is not supported"),
            Err(e) => bail!("{reference}: {e}"),
        }
    }
}

fn platform_pin(os: &str, arch: &str, manifest: &str, image: &OciImageManifest) -> Result<PlatformPin> {
    let parse = |d: &str| d.parse::<Digest>().with_context(|| format!("bad blob digest `{d}`"));
    Ok(PlatformPin {
        os: os.to_owned(),
        architecture: arch.to_owned(),
        manifest: parse(manifest)?,
        config: parse(&image.config.digest)?,
        layers: image.layers.iter().map(|l| parse(&l.digest)).collect::<Result<_>>()?,
    })
}
