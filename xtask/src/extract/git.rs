//! The upstream files at a tag, read straight from a git directory (a bare
//! mirror or a clone's `.git`) with the git command line: no work tree, and
//! the commit the tag names comes with them.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::go::GoFile;

/// The commit `tag` names in `git_dir`, or `None` when the tag is not there.
pub fn commit_of(git_dir: &Path, tag: &str) -> anyhow::Result<Option<String>> {
    let out = git(git_dir)
        .args(["rev-parse", "--verify", "--quiet", &format!("refs/tags/{tag}^{{commit}}")])
        .output()
        .context("running git rev-parse")?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// The newest tags of `git_dir` (by version order), for messages.
pub fn newest_tags(git_dir: &Path, count: usize) -> Vec<String> {
    let Ok(out) = git(git_dir).args(["tag", "--sort=-version:refname"]).output() else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout).lines().take(count).map(str::to_owned).collect()
}

/// What [`go_files`] read, and the paths whose content the git directory
/// does not hold (a partial mirror).
#[derive(Debug)]
pub struct Tree {
    pub files: Vec<GoFile>,
    pub absent: Vec<String>,
}

/// Every non-test `.go` file under `roots` at `commit`, sorted by path.
pub fn go_files(git_dir: &Path, commit: &str, roots: &[&str]) -> anyhow::Result<Tree> {
    let out = git(git_dir)
        .args(["ls-tree", "-r", "-z", "--full-tree", commit, "--"])
        .args(roots)
        .output()
        .context("running git ls-tree")?;
    if !out.status.success() {
        bail!("git ls-tree {commit} in {}: {}", git_dir.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let listing = String::from_utf8(out.stdout).context("git ls-tree printed a path that is not UTF-8")?;
    let mut wanted: Vec<(String, String)> = Vec::new();
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        let Some((meta, path)) = entry.split_once('\t') else { bail!("unexpected git ls-tree line `{entry}`") };
        let mut meta = meta.split(' ');
        let (Some(_mode), Some(kind), Some(id)) = (meta.next(), meta.next(), meta.next()) else {
            bail!("unexpected git ls-tree line `{entry}`")
        };
        let is_test_data = path.split('/').any(|part| part == "testdata");
        if kind == "blob" && path.ends_with(".go") && !path.ends_with("_test.go") && !is_test_data {
            wanted.push((id.to_owned(), path.to_owned()));
        }
    }
    if wanted.is_empty() {
        bail!("no Go files under {} at {commit}", roots.join(", "));
    }
    wanted.sort_by(|a, b| a.1.cmp(&b.1));
    read_blobs(git_dir, wanted)
}

/// Reads the blobs through one `git cat-file --batch`.
fn read_blobs(git_dir: &Path, wanted: Vec<(String, String)>) -> anyhow::Result<Tree> {
    let mut child = git(git_dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting git cat-file --batch")?;
    let mut stdin = child.stdin.take().context("git cat-file stdin")?;
    let ids: String = wanted.iter().map(|(id, _)| format!("{id}\n")).collect();
    // Written from a thread: git answers while it reads, and a full pipe
    // either way would block both.
    let writer = std::thread::spawn(move || stdin.write_all(ids.as_bytes()));
    let mut reader = BufReader::new(child.stdout.take().context("git cat-file stdout")?);
    let mut tree = Tree { files: Vec::new(), absent: Vec::new() };
    for (id, path) in wanted {
        let mut header = String::new();
        reader.read_line(&mut header).context("reading git cat-file")?;
        let header = header.trim_end();
        if header.ends_with(" missing") {
            tree.absent.push(path);
            continue;
        }
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("unexpected git cat-file header `{header}` for {id}"))?;
        let mut content = vec![0; size + 1];
        reader.read_exact(&mut content).with_context(|| format!("reading {path} from git"))?;
        content.pop();
        let text = String::from_utf8(content).with_context(|| format!("{path} is not UTF-8"))?;
        tree.files.push(GoFile { path, text });
    }
    writer.join().map_err(|_| anyhow::anyhow!("the git cat-file writer panicked"))?.context("feeding git cat-file")?;
    let status = child.wait().context("waiting for git cat-file")?;
    if !status.success() {
        bail!("git cat-file --batch failed in {}", git_dir.display());
    }
    Ok(tree)
}

fn git(git_dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir").arg(git_dir);
    c
}
