//! Remembered verdicts of the external validators (promtool, amtool), so a
//! `check` that changes nothing those tools read does not run them again.
//!
//! An entry is keyed by the SHA-256 of everything one tool run reads: the
//! tool's name and full `--version` text, where it came from (a binary's
//! path, or the digest of the image it ran in: the callers add
//! [`super::validator::Validator::origin`], so a verdict of one is never
//! taken for the other's), its arguments, and the path and bytes of every
//! input file ([`Key`]). Any change to any of them is another
//! key, so an entry is never stale, only unused. Entries live in
//! `target/check-cache/` (one file per key) and are plain findings.
//!
//! An entry is trusted only when it is intact: the file carries the SHA-256
//! of its body, and the body names its key and the check that wrote it. A
//! truncated, edited or foreign entry is ignored, the tool runs, and the
//! entry is rewritten. Writes go through a temporary file and a rename, so
//! parallel runs never see half an entry.
//!
//! Only verdicts are remembered: when the tool could not be run at all (not
//! executable, a temporary file not writable), the result says nothing about
//! the inputs and is reported but not stored.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Finding;

/// Where the entries live, relative to the repository root.
pub const DIR: &str = "target/check-cache";
/// First word of every entry; a new layout gets a new tag.
const FORMAT: &str = "xtask-check-cache-v1";

/// The hash of one tool run's exact inputs. Every part is length-prefixed,
/// so no two different input lists give the same byte stream.
#[derive(Debug, Clone)]
pub struct Key(Sha256);

impl Key {
    /// A key for a run of `tool` whose `--version` printed `version`.
    pub fn new(tool: &str, version: &str) -> Key {
        Key(Sha256::new()).text("tool", tool).text("version", version)
    }

    /// Adds a named value (an argument, a case, a constant input).
    #[must_use]
    pub fn text(mut self, label: &str, value: &str) -> Key {
        for part in [label, value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part.as_bytes());
        }
        self
    }

    /// Adds a repository file: its path and its bytes (or why it could not
    /// be read, which the tool will report in its own words).
    #[must_use]
    pub fn file(self, repo: &Path, path: &str) -> Key {
        match std::fs::read(repo.join(path)) {
            Ok(bytes) => {
                let mut key = self.text("file", path);
                key.0.update((bytes.len() as u64).to_le_bytes());
                key.0.update(&bytes);
                key
            }
            Err(err) => self.text("unreadable file", path).text("error", &err.kind().to_string()),
        }
    }

    /// Adds several repository files, in the given order.
    #[must_use]
    pub fn files(self, repo: &Path, paths: &[String]) -> Key {
        paths.iter().fold(self, |key, path| key.file(repo, path))
    }

    fn hex(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

/// What one run of a validator concluded: findings about its inputs
/// (possibly none), to be remembered, or a failure to run it at all, to
/// be reported and forgotten.
pub type Verdict = Result<Vec<Finding>, Vec<Finding>>;

/// The entries, or nothing when `--no-cache` is given.
#[derive(Debug)]
pub struct Cache {
    dir: Option<PathBuf>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

/// How many runs were answered from entries and how many ran the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub hits: usize,
    pub misses: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    key: String,
    rule: String,
    findings: Vec<StoredFinding>,
}

/// A [`Finding`] whose rule is stored once, in the [`Entry`].
#[derive(Debug, Serialize, Deserialize)]
struct StoredFinding {
    file: String,
    place: String,
    message: String,
    hint: Option<String>,
}

impl Cache {
    /// The cache of the repository at `root` (`<root>/target/check-cache`).
    pub fn at(root: &Path) -> Cache {
        Cache::in_dir(Some(root.join(DIR)))
    }

    /// No cache: every run runs the tool, nothing is read or written.
    pub fn disabled() -> Cache {
        Cache::in_dir(None)
    }

    /// A cache whose entries live in `dir` (for benchmarks and tests).
    pub fn in_directory(dir: PathBuf) -> Cache {
        Cache::in_dir(Some(dir))
    }

    fn in_dir(dir: Option<PathBuf>) -> Cache {
        Cache { dir, hits: AtomicUsize::new(0), misses: AtomicUsize::new(0) }
    }

    pub fn stats(&self) -> Stats {
        Stats { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }

    /// The findings of `rule`'s run with inputs `key`: remembered ones when
    /// an intact entry exists, else `run`'s, remembered when a verdict.
    /// Every finding `run` returns must be of `rule`.
    pub fn findings(&self, rule: &'static str, key: Key, run: impl FnOnce() -> Verdict) -> Vec<Finding> {
        let Some(dir) = &self.dir else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return run().unwrap_or_else(|failure| failure);
        };
        let key = key.hex();
        let path = dir.join(&key);
        if let Some(found) = read_entry(&path, &key, rule) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return found;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        match run() {
            Ok(findings) => {
                if findings.iter().all(|f| f.rule == rule) {
                    // A cache that cannot be written only costs speed.
                    let _ = write_entry(dir, &path, &key, rule, &findings);
                }
                findings
            }
            Err(failure) => failure,
        }
    }
}

/// The entry's findings, or `None` when it is missing or not intact.
fn read_entry(path: &Path, key: &str, rule: &'static str) -> Option<Vec<Finding>> {
    let text = std::fs::read_to_string(path).ok()?;
    let (header, body) = text.split_once('\n')?;
    let (format, digest) = header.split_once(' ')?;
    if format != FORMAT || digest != hex::encode(Sha256::digest(body.as_bytes())) {
        return None;
    }
    let entry: Entry = serde_json::from_str(body).ok()?;
    if entry.key != key || entry.rule != rule {
        return None;
    }
    Some(
        entry
            .findings
            .into_iter()
            .map(|f| Finding { rule, file: f.file, place: f.place, message: f.message, hint: f.hint })
            .collect(),
    )
}

fn write_entry(dir: &Path, path: &Path, key: &str, rule: &str, findings: &[Finding]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let entry = Entry {
        key: key.to_owned(),
        rule: rule.to_owned(),
        findings: findings
            .iter()
            .map(|f| StoredFinding {
                file: f.file.clone(),
                place: f.place.clone(),
                message: f.message.clone(),
                hint: f.hint.clone(),
            })
            .collect(),
    };
    let body = serde_json::to_string(&entry)?;
    let text = format!("{FORMAT} {}\n{body}", hex::encode(Sha256::digest(body.as_bytes())));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{key}.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn key(version: &str, input: &str) -> Key {
        Key::new("promtool", version).text("input", input)
    }

    fn finding(message: &str) -> Finding {
        Finding::new("promtool", "alerts/generated/rules/a.yml", "group g", message).with_hint("fix it")
    }

    /// `cache.findings` with a run that counts how often it ran.
    fn lookup(cache: &Cache, key: Key, runs: &Cell<u32>, result: Vec<Finding>) -> Vec<Finding> {
        cache.findings("promtool", key, || {
            runs.set(runs.get() + 1);
            Ok(result)
        })
    }

    #[test]
    fn a_hit_returns_the_same_findings_without_running_the_tool() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::at(dir.path());
        let runs = Cell::new(0);
        let first = lookup(&cache, key("3.5.3", "a"), &runs, vec![finding("bad\nmulti-line")]);
        let second = lookup(&cache, key("3.5.3", "a"), &runs, vec![finding("never seen")]);
        assert_eq!(second, first);
        assert_eq!(runs.get(), 1);
        // A fresh process (a new Cache) reads the same entry.
        let third = lookup(&Cache::at(dir.path()), key("3.5.3", "a"), &runs, Vec::new());
        assert_eq!(third, first);
        assert_eq!(cache.stats(), Stats { hits: 1, misses: 1 });
        // No findings is a verdict too.
        assert_eq!(lookup(&cache, key("3.5.3", "clean"), &runs, Vec::new()), vec![]);
        assert_eq!(lookup(&cache, key("3.5.3", "clean"), &runs, vec![finding("x")]), vec![]);
    }

    #[test]
    fn a_changed_input_or_tool_version_misses() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::at(dir.path());
        let runs = Cell::new(0);
        lookup(&cache, key("3.5.3", "a"), &runs, vec![finding("old")]);
        assert_eq!(lookup(&cache, key("3.5.3", "b"), &runs, vec![finding("input")]), vec![finding("input")]);
        assert_eq!(lookup(&cache, key("3.5.4", "a"), &runs, vec![finding("version")]), vec![finding("version")]);
        assert_eq!(runs.get(), 3);
        // Files: a changed byte is another key; so is a renamed file.
        std::fs::write(dir.path().join("r.yml"), "x: 1\n").expect("write");
        let before = Key::new("promtool", "3.5.3").file(dir.path(), "r.yml").hex();
        std::fs::write(dir.path().join("r.yml"), "x: 2\n").expect("write");
        assert_ne!(Key::new("promtool", "3.5.3").file(dir.path(), "r.yml").hex(), before);
        std::fs::write(dir.path().join("s.yml"), "x: 1\n").expect("write");
        assert_ne!(Key::new("promtool", "3.5.3").file(dir.path(), "s.yml").hex(), before);
        // Length prefixes: moving a boundary between parts changes the key.
        assert_ne!(Key::new("ab", "c").hex(), Key::new("a", "bc").hex());
    }

    #[test]
    fn a_corrupted_entry_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::at(dir.path());
        let runs = Cell::new(0);
        lookup(&cache, key("3.5.3", "a"), &runs, vec![finding("true verdict")]);
        let path = dir.path().join(DIR).join(key("3.5.3", "a").hex());
        let intact = std::fs::read_to_string(&path).expect("entry written");
        let corruptions = [
            intact.replace("true verdict", "TRUE VERDICT"),
            intact[..intact.len() / 2].to_owned(),
            String::new(),
            "\u{0}\u{1}garbage".to_owned(),
            intact.replace(FORMAT, "xtask-check-cache-v0"),
        ];
        for corrupted in corruptions {
            std::fs::write(&path, &corrupted).expect("corrupt");
            let got = lookup(&cache, key("3.5.3", "a"), &runs, vec![finding("rerun")]);
            assert_eq!(got, vec![finding("rerun")], "trusted {corrupted:?}");
            assert_ne!(std::fs::read_to_string(&path).expect("rewritten"), corrupted);
            // The rewritten entry is trusted again.
            assert_eq!(lookup(&cache, key("3.5.3", "a"), &runs, Vec::new()), vec![finding("rerun")]);
        }
        // An intact entry of another check is not this check's verdict.
        let amtool = cache.findings("amtool", key("3.5.3", "a"), || Ok(Vec::new()));
        assert_eq!(amtool, vec![]);
    }

    #[test]
    fn failures_to_run_are_reported_not_remembered_and_no_cache_reads_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::at(dir.path());
        let failed = cache.findings("promtool", key("3.5.3", "a"), || Err(vec![finding("cannot run promtool")]));
        assert_eq!(failed, vec![finding("cannot run promtool")]);
        let runs = Cell::new(0);
        assert_eq!(lookup(&cache, key("3.5.3", "a"), &runs, Vec::new()), vec![]);
        assert_eq!(runs.get(), 1);
        let disabled = Cache::disabled();
        lookup(&disabled, key("3.5.3", "a"), &runs, vec![finding("fresh")]);
        assert_eq!(lookup(&disabled, key("3.5.3", "a"), &runs, vec![finding("fresh")]), vec![finding("fresh")]);
        assert_eq!(runs.get(), 3);
        assert_eq!(disabled.stats(), Stats { hits: 0, misses: 2 });
    }
}
