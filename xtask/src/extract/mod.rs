//! `cargo xtask extract-catalog`: a metric catalog file (`stack/catalog/`)
//! regenerated from an upstream source checkout at a tag, for the sources
//! that cannot run on our build machines (cAdvisor, Loki, Promtail).
//!
//! What is read where is the source's spec ([`sources`]); how Go source is
//! read is [`go`]. The file is written in the catalog format of
//! `check::catalog` ([`FileDoc`]), deterministically: the same checkout gives
//! the same bytes. The files are read at the tag from a git directory
//! ([`git`]), the tag defaulting to the pinned image tag, so the catalog's
//! `version` is the pin unless `--tag`/`--reason` say otherwise, and then
//! `accepted_pin` records the pin it was accepted for.

pub mod git;
pub mod go;
pub mod sources;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::check::catalog::{FileDoc, MetricDoc, union_labels};
use crate::cli::ExtractCatalogArgs;
use go::{GoFile, Registration};
use sources::Spec;

/// Where the upstream source came from, for the provenance line.
#[derive(Debug, Clone)]
pub struct Origin {
    pub tag: String,
    pub commit: String,
    /// The pinned image tag this catalog is accepted for although the tag
    /// differs, and why.
    pub accepted: Option<(String, String)>,
}

pub fn run(root: &Path, args: &ExtractCatalogArgs) -> anyhow::Result<std::process::ExitCode> {
    let spec = sources::by_name(&args.source)?;
    let source = crate::source::Source::load(root)?;
    let Some(image) = source.definition.images.get(spec.source) else {
        bail!("stack/stack.toml has no image `{}` to take the pinned tag from", spec.source);
    };
    let Some(pinned) = image.tag() else {
        bail!("image `{}` is built from this workspace: it has no upstream tag to extract from", spec.source);
    };
    let (tag, commit) = resolve_tag(&args.git_dir, pinned, args.tag.as_deref())?;
    let accepted = if tag.trim_start_matches('v') == pinned.trim_start_matches('v') {
        None
    } else {
        let Some(reason) = &args.reason else {
            bail!(
                "--tag {tag} is not the pinned tag {pinned}: give --reason (it goes into the provenance, and the \
                 catalog is accepted for {pinned} only)"
            );
        };
        Some((pinned.to_owned(), reason.clone()))
    };
    let tree = git::go_files(&args.git_dir, &commit, spec.roots)?;
    for path in &tree.absent {
        eprintln!("not read: {path} (its content is not in {})", args.git_dir.display());
    }
    let origin = Origin { tag, commit, accepted };
    let (text, unresolved) = render(spec, &tree.files, &origin)?;
    for u in &unresolved {
        eprintln!("not catalogued: {}:{}: {}", u.file, u.line, u.what);
    }
    let out = args.output.clone().unwrap_or_else(|| root.join("stack/catalog").join(format!("{}.toml", spec.source)));
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} from {} files at {} ({} registrations named only at run time are not catalogued, listed above)",
        out.display(),
        tree.files.len(),
        origin.tag,
        unresolved.len()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// The tag to read and its commit: `requested`, or the pinned tag as
/// upstream spells it (`3.6.11` is tagged `v3.6.11`).
fn resolve_tag(git_dir: &Path, pinned: &str, requested: Option<&str>) -> anyhow::Result<(String, String)> {
    let mut candidates: Vec<String> = match requested {
        Some(tag) => vec![tag.to_owned()],
        None => vec![pinned.to_owned(), format!("v{}", pinned.trim_start_matches('v'))],
    };
    candidates.dedup();
    for tag in &candidates {
        if let Some(commit) = git::commit_of(git_dir, tag)? {
            return Ok((tag.clone(), commit));
        }
    }
    bail!(
        "tag {} is not in {} (newest there: {}); fetch it, or pass --tag with --reason",
        candidates.join(" / "),
        git_dir.display(),
        git::newest_tags(git_dir, 5).join(", ")
    )
}

/// The catalog file's text for `files`, and what could not be resolved.
pub fn render(spec: &Spec, files: &[GoFile], origin: &Origin) -> anyhow::Result<(String, Vec<go::Unresolved>)> {
    let found = go::read(files, &spec.rules())?;
    let mut metrics = merge(spec, found.registrations);
    for name in spec.authoritative {
        match metrics.get_mut(*name) {
            Some(m) if m.labels.is_some() => m.labels_authoritative = Some(true),
            Some(_) => bail!("`{name}` is listed as authoritative, but its labels are not literal in the source"),
            None => bail!("`{name}` is listed as authoritative, but the source does not register it"),
        }
    }
    if metrics.is_empty() {
        bail!("no metric registrations found for `{}` under {}", spec.source, spec.roots.join(", "));
    }
    let mut provenance = format!(
        "{} tag {} (commit {}): {}; written by `cargo xtask extract-catalog {}`",
        spec.repository, origin.tag, origin.commit, spec.read, spec.source
    );
    if let Some((pin, reason)) = &origin.accepted {
        provenance.push_str(&format!("; accepted for the pinned tag {pin}: {reason}"));
    }
    let doc = FileDoc {
        source: spec.source.to_owned(),
        version: origin.tag.trim_start_matches('v').to_owned(),
        provenance,
        accepted_pin: origin.accepted.as_ref().map(|(pin, _)| pin.clone()),
        labels_authoritative: spec.labels_authoritative,
        target_labels: Vec::new(),
        metrics,
    };
    let body = toml::to_string(&doc).context("serialising the catalog")?;
    let mut text = String::new();
    text.push_str(&format!(
        "# Generated by `cargo xtask extract-catalog` from {} at {}; do not edit by hand.\n",
        spec.repository, origin.tag
    ));
    for line in spec.header.lines() {
        text.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    text.push_str(&body);
    Ok((text, found.unresolved))
}

/// One entry per family: the first registration (in path order) names the
/// type and help; label lists of the same family found twice are merged,
/// and unknown when either is.
fn merge(spec: &Spec, registrations: Vec<Registration>) -> BTreeMap<String, MetricDoc> {
    let mut out: BTreeMap<String, MetricDoc> = BTreeMap::new();
    for r in registrations {
        if !spec.keeps(&r.name) {
            continue;
        }
        match out.get_mut(&r.name) {
            None => {
                let labels = r.labels.map(|l| union_labels(l, Vec::new()));
                out.insert(
                    r.name,
                    MetricDoc {
                        kind: r.kind.to_owned(),
                        help: r.help,
                        labels,
                        labels_authoritative: None,
                        group: r.group,
                        reference: Some(r.file),
                    },
                );
            }
            Some(existing) => {
                if existing.kind == "untyped" {
                    existing.kind = r.kind.to_owned();
                }
                existing.labels = match (existing.labels.take(), r.labels) {
                    (Some(a), Some(b)) => Some(union_labels(a, b)),
                    _ => None,
                };
                if existing.group.is_none() {
                    existing.group = r.group;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::check::catalog::Catalog;

    /// A spec over the synthetic fixtures (`xtask/tests/fixtures/extract/`,
    /// committed under `src/` of a scratch git repository).
    const FIXTURE: Spec = Spec {
        source: "shop",
        repository: "example/shop",
        roots: &["src"],
        read: "the synthetic fixtures",
        header: "Fixture catalog.\n\nSecond paragraph.",
        labels_authoritative: true,
        authoritative: &[],
        prefixes: &[],
        bindings: &[("cfg.MetricsNamespace", "api")],
        label_bindings: &[("labels", &["sku"])],
        table_labels: &[("src/table.go", &["shop_id"])],
    };

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extract")
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            // Fixed dates: the same fixtures make the same commit.
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A scratch repository with the fixtures under `src/`, tagged `v1.2.0`.
    fn fixture_repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("testdata")).expect("mkdir");
        for entry in std::fs::read_dir(fixtures()).expect("fixtures") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, src.join(path.file_name().expect("name"))).expect("copy");
        }
        // Test data is never read, whatever it holds.
        std::fs::copy(fixtures().join("opts.go"), src.join("testdata/copy.go")).expect("copy");
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "fixtures"]);
        git(dir.path(), &["tag", "v1.2.0"]);
        dir
    }

    fn extract(accepted: Option<(String, String)>) -> (String, Vec<go::Unresolved>) {
        let repo = fixture_repo();
        let git_dir = repo.path().join(".git");
        let (tag, commit) = resolve_tag(&git_dir, "1.2.0", None).expect("the pinned tag, spelt with a v");
        assert_eq!(tag, "v1.2.0");
        let tree = git::go_files(&git_dir, &commit, FIXTURE.roots).expect("reads the fixtures");
        assert!(tree.absent.is_empty());
        let paths: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["src/desc.go", "src/kinds.go", "src/names.go", "src/opts.go", "src/table.go"]);
        render(&FIXTURE, &tree.files, &Origin { tag, commit, accepted }).expect("renders")
    }

    fn entry(doc: &FileDoc, name: &str) -> (String, Option<Vec<String>>, Option<String>) {
        let m = doc.metrics.get(name).unwrap_or_else(|| panic!("{name} not extracted"));
        (m.kind.clone(), m.labels.clone(), m.group.clone())
    }

    /// Name, type, labels and group a fixture family is expected with.
    type Expected = (&'static str, &'static str, Option<Vec<String>>, Option<&'static str>);

    fn owned(labels: &[&str]) -> Option<Vec<String>> {
        Some(labels.iter().map(|l| (*l).to_owned()).collect())
    }

    #[test]
    fn every_registration_form_of_the_fixtures_is_read() {
        let (text, _) = extract(None);
        let doc: FileDoc = toml::from_str(&text).expect("the output is a catalog file");
        let expected: &[Expected] = &[
            ("shop_orders_placed_total", "counter", owned(&["payment"]), None),
            ("shop_open_carts", "gauge", owned(&[]), None),
            ("shop_cart_checkout_seconds", "histogram", owned(&["region", "state"]), None),
            ("shop_refund_seconds", "summary", owned(&["method", "tenant"]), None),
            ("api_inflight", "gauge", owned(&[]), None),
            ("shop_wrapped_total", "counter", None, None),
            ("shop_info", "gauge", owned(&["version"]), None),
            ("shop_stock_moves_total", "counter", owned(&[]), None),
            ("shop_stock_level", "gauge", owned(&["sku"]), None),
            ("shop_table_last_seen", "gauge", owned(&["shop_id"]), None),
            ("shop_table_cpu_seconds_total", "counter", owned(&["cpu", "shop_id"]), Some("cpu")),
            ("shop_table_cpu_core_seconds_total", "counter", owned(&["shop_id"]), Some("cpu")),
        ];
        for (name, kind, labels, group) in expected {
            assert_eq!(entry(&doc, name), ((*kind).to_owned(), labels.clone(), group.map(str::to_owned)), "{name}");
        }
        assert_eq!(doc.metrics.len(), expected.len(), "{:?}", doc.metrics.keys().collect::<Vec<_>>());
        assert_eq!(doc.metrics["shop_refund_seconds"].help, "Refund latency of shop.");
        assert_eq!(doc.metrics["shop_open_carts"].help, "Carts not checked out.");
        assert_eq!(doc.metrics["shop_cart_checkout_seconds"].help, "Checkout latency.");
        assert_eq!(doc.metrics["shop_info"].reference.as_deref(), Some("src/desc.go"));
    }

    #[test]
    fn names_known_only_at_run_time_are_reported_not_guessed() {
        let (_, unresolved) = extract(None);
        let shown: Vec<String> = unresolved.iter().map(|u| format!("{}:{}", u.file, u.line)).collect();
        assert_eq!(shown, ["src/opts.go:61"], "{unresolved:?}");
        assert!(unresolved[0].what.contains("dynamic"), "{unresolved:?}");
    }

    #[test]
    fn the_catalog_file_loads_records_its_origin_and_is_byte_stable() {
        let (first, _) = extract(None);
        let (second, _) = extract(None);
        assert_eq!(first, second);
        assert!(first.starts_with("# Generated by `cargo xtask extract-catalog` from example/shop at v1.2.0"));
        assert!(first.contains("\n# Fixture catalog.\n#\n# Second paragraph.\n"), "{first}");
        let doc: FileDoc = toml::from_str(&first).expect("parses");
        assert_eq!((doc.version.as_str(), doc.accepted_pin.as_deref()), ("1.2.0", None));
        assert!(doc.provenance.starts_with("example/shop tag v1.2.0 (commit "), "{}", doc.provenance);
        let mut catalog = Catalog::default();
        catalog.add_file(Path::new("stack/catalog/shop.toml"), &first).expect("check loads it");
        assert_eq!(catalog.sources()[0].metrics, 12);

        let (accepted, _) = extract(Some(("1.3.0".into(), "1.3.0 is not in the mirror".into())));
        let doc: FileDoc = toml::from_str(&accepted).expect("parses");
        assert_eq!(doc.accepted_pin.as_deref(), Some("1.3.0"));
        assert!(doc.provenance.ends_with("accepted for the pinned tag 1.3.0: 1.3.0 is not in the mirror"));
    }

    #[test]
    fn a_pinned_tag_missing_from_the_git_dir_is_named_with_the_tags_there() {
        let repo = fixture_repo();
        let err = resolve_tag(&repo.path().join(".git"), "1.3.0", None).expect_err("no such tag").to_string();
        assert!(err.contains("tag 1.3.0 / v1.3.0 is not in") && err.contains("newest there: v1.2.0"), "{err}");
    }

    #[test]
    fn an_authoritative_family_needs_a_literal_label_list() {
        let read = |name: &str| GoFile {
            path: format!("src/{name}"),
            text: std::fs::read_to_string(fixtures().join(name)).expect("fixture"),
        };
        let files = [read("names.go"), read("opts.go")];
        let origin = Origin { tag: "v1".into(), commit: "c".into(), accepted: None };
        let spec = Spec { authoritative: &["shop_wrapped_total"], ..FIXTURE };
        let err = render(&spec, &files, &origin).expect_err("labels unknown").to_string();
        assert!(err.contains("shop_wrapped_total") && err.contains("not literal"), "{err}");
        let spec = Spec { authoritative: &["shop_orders_placed_total"], ..FIXTURE };
        let (text, _) = render(&spec, &files, &origin).expect("renders");
        let doc: FileDoc = toml::from_str(&text).expect("parses");
        assert_eq!(doc.metrics["shop_orders_placed_total"].labels_authoritative, Some(true));
        let spec = Spec { authoritative: &["shop_gone_total"], ..FIXTURE };
        assert!(render(&spec, &files, &origin).is_err());
    }
}
