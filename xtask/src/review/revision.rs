//! The two sides of a review, as directory trees of the generated files:
//! the base, extracted from git into a temporary directory (`git archive`,
//! so the working tree and the index are never touched and a shallow clone
//! with the base fetched is enough), and the working tree, which must be
//! exactly what `gen` writes now (`gen --check`), or the review would show
//! changes that are not in the pull request.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::check::promtool::TempDir;
use crate::generate::{self, write};
use crate::source::Source;

/// Everything a review reads, repository-relative. Paths missing at a
/// revision are simply absent from its tree.
pub const REVIEWED: &[&str] = &[
    dashboards::GENERATED_DIR,
    "alerts/generated",
    super::alerts::COVERAGE,
    crate::bundle::DIR,
    crate::check::amtool::ROUTING_TESTS,
];

/// A revision's files on disk.
#[derive(Debug)]
pub struct Tree {
    dir: PathBuf,
    commit: String,
    label: String,
    _tmp: Option<TempDir>,
}

impl Tree {
    /// The working tree of `root`, after checking that its generated files
    /// are up to date.
    pub fn working(root: &Path) -> Result<Tree> {
        let source = Source::load(root)?;
        let files = generate::all_files(&source)?;
        let drift = write::drift(root, &files, generate::OWNED_DIRS)?;
        if !drift.is_empty() {
            bail!(
                "the working tree's generated files are stale, so a review would not show what the change does:\n  {}\nrun `cargo xtask gen` and commit the result",
                drift.describe().join("\n  ")
            );
        }
        Ok(Tree { dir: root.to_path_buf(), commit: String::new(), label: "working tree".into(), _tmp: None })
    }

    /// The reviewed files of `rev` (anything `git rev-parse` accepts).
    pub fn from_git(root: &Path, rev: &str) -> Result<Tree> {
        let commit = git(root, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .with_context(|| format!("`{rev}` is not a commit here (on a shallow clone, fetch the base first: `git fetch --depth=1 origin <branch>`)"))?
            .trim()
            .to_owned();
        let tmp = TempDir::new("review").map_err(anyhow::Error::msg)?;
        let mut args = vec!["ls-tree", "--name-only", commit.as_str(), "--"];
        args.extend(REVIEWED);
        let present = git(root, &args)?;
        let present: Vec<&str> = present.lines().filter(|l| !l.is_empty()).collect();
        if !present.is_empty() {
            extract(root, &commit, &present, tmp.path())?;
        }
        Ok(Tree { dir: tmp.path().to_path_buf(), commit, label: rev.to_owned(), _tmp: Some(tmp) })
    }

    /// A tree already on disk (unit tests).
    #[cfg(test)]
    pub fn at(dir: &Path, label: &str) -> Tree {
        Tree { dir: dir.to_path_buf(), commit: String::new(), label: label.to_owned(), _tmp: None }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The file's text, `None` when the revision does not have it.
    pub fn read(&self, rel: &str) -> Result<Option<String>> {
        let path = self.path(rel);
        if !path.is_file() {
            return Ok(None);
        }
        std::fs::read_to_string(&path).map(Some).with_context(|| format!("{}: reading {rel}", self.label))
    }

    /// Repository-relative paths of the files directly in `dir` ending in
    /// `suffix`, sorted.
    pub fn list(&self, dir: &str, suffix: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        if !path.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&path).with_context(|| format!("{}: listing {dir}", self.label))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(suffix) {
                out.push(format!("{dir}/{name}"));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The commit (empty for the working tree).
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// How the review names this side: the base as given, or `working tree`.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).context("git printed something that is not UTF-8")
}

/// `git archive <commit> -- <paths> | tar -x -C <dir>`.
fn extract(root: &Path, commit: &str, paths: &[&str], dir: &Path) -> Result<()> {
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["archive", "--format=tar", commit, "--"])
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let stdout = archive.stdout.take().context("git archive has no stdout")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(stdout)
        .output()
        .context("running tar to unpack the base revision")?;
    let archived = archive.wait_with_output().context("waiting for git archive")?;
    if !archived.status.success() {
        bail!("git archive {commit} failed: {}", String::from_utf8_lossy(&archived.stderr).trim());
    }
    if !tar.status.success() {
        bail!("unpacking {commit}: {}", String::from_utf8_lossy(&tar.stderr).trim());
    }
    Ok(())
}
