//! Pin: resolve every image tag to the digest the registry serves, and write
//! `stack/images.lock`. A tag that moved since it was pinned is refused
//! unless `--update` says the move is expected: tags are supposed to be
//! immutable, and a silent change is what pinning exists to catch.

mod registry;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::PinArgs;
use crate::source::{self, ImageLock, ImagePin, Pinned, StackDefinition, WorkspaceBuild};

pub fn run(root: &Path, args: &PinArgs) -> Result<ExitCode> {
    let stack_file = args.stack_file.clone().unwrap_or_else(|| root.join(source::DEFINITION_FILE));
    let lock_file = args.lock_file.clone().unwrap_or_else(|| root.join(source::IMAGE_LOCK));
    let definition: StackDefinition = source::parse_toml(&stack_file)?;
    let mut lock = if lock_file.exists() {
        ImageLock::load(&lock_file)?
    } else {
        ImageLock { version: ImageLock::VERSION, images: Vec::new() }
    };
    for name in &args.images {
        if !definition.images.contains_key(name) {
            bail!("{}: no image `{name}` under [images]", stack_file.display());
        }
    }
    let wanted: Vec<(&String, &source::ImageRef)> =
        definition.images.iter().filter(|(name, _)| args.images.is_empty() || args.images.contains(name)).collect();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    let registry = registry::Registry::new(&args.insecure_registries);
    let mut errors = Vec::new();
    for (name, image) in wanted {
        let tag = match &image.origin {
            source::ImageOrigin::Registry { tag } => tag,
            source::ImageOrigin::Workspace(build) => {
                match pin_built(root, name, &image.repository, build, lock.get(name)) {
                    Ok(pin) => lock.upsert(pin),
                    Err(e) => errors.push(format!("image `{name}` (built from {}): {e:#}", build.package)),
                }
                continue;
            }
        };
        let tagged = format!("{}:{tag}", image.repository);
        let resolved = match runtime.block_on(registry.resolve(&image.repository, tag)) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("image `{name}` ({tagged}): {e:#}"));
                continue;
            }
        };
        let previous = lock.get(name).filter(|p| p.repository == image.repository && &p.tag == tag);
        match previous.and_then(|p| Some((p, p.digest()?))) {
            Some((_, digest)) if digest != &resolved.digest && !args.update => {
                errors.push(format!(
                    "image `{name}`: tag {tagged} moved from {digest} to {} (pass --update to accept)",
                    resolved.digest
                ));
                continue;
            }
            Some((p, digest)) if digest == &resolved.digest && p.platforms == resolved.platforms => {
                println!("{name}: {tagged}@{} (unchanged)", resolved.digest);
                continue;
            }
            _ => println!("{name}: {tagged}@{}", resolved.digest),
        }
        lock.upsert(ImagePin {
            name: name.clone(),
            repository: image.repository.clone(),
            tag: tag.clone(),
            pinned: Pinned::Digest(resolved.digest),
            platforms: resolved.platforms,
        });
    }
    // Whatever resolved is kept even when others failed: each pin stands alone.
    std::fs::write(&lock_file, lock.render()).with_context(|| format!("writing {}", lock_file.display()))?;
    if errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    bail!("{} image(s) could not be pinned", errors.len())
}

/// A workspace-built image's pin: the tag its inputs hash to now. Nothing
/// is asked of a registry: the image exists there only once built from
/// exactly these inputs and pushed (README, "Workspace-built images").
fn pin_built(
    root: &Path,
    name: &str,
    repository: &str,
    build: &WorkspaceBuild,
    previous: Option<&ImagePin>,
) -> Result<ImagePin> {
    let computed = source::input_tag(root, build)?;
    let tagged = format!("{repository}:{}", computed.tag);
    match previous {
        Some(p) if p.repository == repository && p.tag == computed.tag => println!("{name}: {tagged} (unchanged)"),
        Some(p) => println!(
            "{name}: {tagged} (was {}: run `cargo xtask gen`, and build and push the new tag before deploying)",
            p.reference()
        ),
        None => println!("{name}: {tagged} (build and push it before deploying)"),
    }
    Ok(ImagePin {
        name: name.to_owned(),
        repository: repository.to_owned(),
        tag: computed.tag,
        pinned: Pinned::Inputs(computed.inputs),
        platforms: Vec::new(),
    })
}
