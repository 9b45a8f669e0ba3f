//! The runbooks under `alerts/runbooks/`, as the lint sees them.
//!
//! Each alert's `runbook_url` ends in `<subject>.md#<anchor>`, where the
//! anchor is what GitHub/GitLab derive from a `## AlertName` heading: so the
//! link works both in a browser on the forge and in a local checkout.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

/// The anchor Markdown renderers give a heading: lower-case, spaces to
/// hyphens, punctuation other than `-` and `_` dropped.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Runbook texts by file name (`hosts.md`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Runbooks {
    files: BTreeMap<String, String>,
}

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../runbooks/", $name)))),*]
    };
}

/// The runbooks compiled into the crate, so tests and the xtask can lint
/// without knowing where the repository is.
const EMBEDDED: &[(&str, &str)] = embedded!(
    "cluster.md",
    "containers.md",
    "hosts.md",
    "keycloak.md",
    "logs.md",
    "monitoring.md",
    "nginx.md",
    "postgres.md",
    "service-health.md",
    "registry.md",
    "services.md",
    "spark.md",
    "targets.md",
);

impl Runbooks {
    pub fn embedded() -> Self {
        Self::from_texts(EMBEDDED.iter().map(|(n, t)| (n.to_string(), t.to_string())))
    }

    /// Reads every `*.md` in `dir` (for the xtask, which checks the tree).
    pub fn load(dir: &Path) -> io::Result<Self> {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "md") {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                files.insert(name, std::fs::read_to_string(&path)?);
            }
        }
        Ok(Runbooks { files })
    }

    pub fn from_texts(texts: impl IntoIterator<Item = (String, String)>) -> Self {
        Runbooks { files: texts.into_iter().collect() }
    }

    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Anchors of the file's `##`-level and deeper headings, or `None` if
    /// the file does not exist.
    pub fn anchors(&self, file: &str) -> Option<BTreeSet<String>> {
        let text = self.files.get(file)?;
        let mut in_code = false;
        let mut anchors = BTreeSet::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            } else if !in_code && line.starts_with('#') {
                anchors.insert(anchor(line.trim_start_matches('#')));
            }
        }
        Some(anchors)
    }

    /// Checks a runbook URL: `…/<file>#<anchor>` must name an existing file
    /// and heading. Returns what is wrong.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let (path, fragment) = url.split_once('#').ok_or_else(|| format!("runbook_url {url:?} has no #anchor"))?;
        let file = path.rsplit('/').next().unwrap_or(path);
        let anchors = self
            .anchors(file)
            .ok_or_else(|| format!("runbook_url {url:?} points at alerts/runbooks/{file}, which does not exist"))?;
        if anchors.contains(fragment) {
            Ok(())
        } else {
            Err(format!("runbook_url {url:?}: alerts/runbooks/{file} has no heading with anchor #{fragment}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_like_github() {
        assert_eq!(anchor("HostHighCpuUsage"), "hosthighcpuusage");
        assert_eq!(anchor(" Disk: full (root) "), "disk-full-root");
    }

    #[test]
    fn checks_urls() {
        let rb = Runbooks::from_texts([(
            "hosts.md".to_string(),
            "# Hosts\n\n## HostDown\n\n```\n## NotAHeading\n```\n".to_string(),
        )]);
        assert!(rb.check_url("https://x/alerts/runbooks/hosts.md#hostdown").is_ok());
        assert!(rb.check_url("alerts/runbooks/hosts.md#notaheading").is_err());
        assert!(rb.check_url("alerts/runbooks/other.md#hostdown").is_err());
        assert!(rb.check_url("alerts/runbooks/hosts.md").is_err());
    }

    #[test]
    fn embedded_runbooks_load() {
        let rb = Runbooks::embedded();
        assert!(rb.anchors("hosts.md").is_some());
    }
}
