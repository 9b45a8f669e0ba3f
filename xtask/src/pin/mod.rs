//! Pin: resolve every image tag to the digest the registry serves, and write
//! `stack/images.lock`. A tag that moved since it was pinned is refused
//! unless `--update` says the move is expected: tags are supposed to be
//! immutable, and a silent change is what pinning exists to catch.

mod registry;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::PinArgs;
use crate::source::{self, ImageLock, ImagePin, StackDefinition};

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
        let tagged = format!("{}:{}", image.repository, image.tag);
        let resolved = match runtime.block_on(registry.resolve(&image.repository, &image.tag)) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("image `{name}` ({tagged}): {e:#}"));
                continue;
            }
        };
        let previous = lock.get(name).filter(|p| p.repository == image.repository && p.tag == image.tag);
        match previous {
            Some(p) if p.digest != resolved.digest && !args.update => {
                errors.push(format!(
                    "image `{name}`: tag {tagged} moved from {} to {} (pass --update to accept)",
                    p.digest, resolved.digest
                ));
                continue;
            }
            Some(p) if p.digest == resolved.digest && p.platforms == resolved.platforms => {
                println!("{name}: {tagged}@{} (unchanged)", resolved.digest);
                continue;
            }
            _ => println!("{name}: {tagged}@{}", resolved.digest),
        }
        lock.upsert(ImagePin {
            name: name.clone(),
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            digest: resolved.digest,
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
