//! Workspace-built images: the tag `stack/images.lock` records must be the
//! one the build's inputs hash to now (`source::input_tag`). A stale tag
//! would deploy an image built from other sources than the ones reviewed,
//! or one that was never built: the finding names the lock line and the
//! command that fixes it.

use super::Finding;
use crate::source::{IMAGE_LOCK, ImageOrigin, Pinned, Source, input_tag};

const CHECK: &str = "image-inputs";

pub fn check(source: &Source) -> Vec<Finding> {
    let lock_text = std::fs::read_to_string(source.root.join(IMAGE_LOCK)).unwrap_or_default();
    let mut out = Vec::new();
    for (name, image) in &source.definition.images {
        let ImageOrigin::Workspace(build) = &image.origin else { continue };
        let Some(pin) = source.lock.get(name) else { continue }; // source::problems names it
        let place = tag_line(&lock_text, name).map(|l| format!("line {l}, image {name}")).unwrap_or_default();
        let fix = format!(
            "cargo xtask pin --image {name} && cargo xtask gen, then build and push the image (README, \"Workspace-built images\")"
        );
        match input_tag(&source.root, build) {
            Err(e) => out.push(Finding::new(CHECK, IMAGE_LOCK, place, format!("image `{name}`: {e:#}"))),
            Ok(now) if now.tag != pin.tag || pin.pinned != Pinned::Inputs(now.inputs.clone()) => out.push(
                Finding::new(
                    CHECK,
                    IMAGE_LOCK,
                    place,
                    format!(
                        "image `{name}` is tagged {} but its inputs ({}) now hash to {}: the tag is stale",
                        pin.tag,
                        build.inputs.join(", "),
                        now.tag
                    ),
                )
                .with_hint(fix),
            ),
            Ok(_) => {}
        }
    }
    out
}

/// The line of `tag = …` in the `[[image]]` table named `name`.
fn tag_line(lock: &str, name: &str) -> Option<usize> {
    let mut inside = false;
    for (i, line) in lock.lines().enumerate() {
        let line = line.trim();
        if line == "[[image]]" {
            inside = false;
        } else if let Some(value) = line.strip_prefix("name = ") {
            inside = value.trim_matches('"') == name;
        } else if inside && line.starts_with("tag = ") {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_line_of_the_named_image() {
        let lock = "version = 1\n\n[[image]]\nname = \"a\"\nrepository = \"r\"\ntag = \"1\"\n\n[[image]]\nname = \"b\"\nrepository = \"r\"\ntag = \"2\"\n";
        assert_eq!(tag_line(lock, "a"), Some(6));
        assert_eq!(tag_line(lock, "b"), Some(11));
        assert_eq!(tag_line(lock, "c"), None);
    }
}
