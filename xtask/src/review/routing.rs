//! Routing: for every alerting rule and every `[[route]]` case of
//! `routing-tests.toml`, the receivers Alertmanager sends it to at each
//! revision, asked of the real `amtool config routes test` on that
//! revision's rendered `alertmanager.yml`; reported where they differ.
//! amtool runs only where the answer can differ: when the config and the
//! label set are byte-identical at both revisions the answer is too.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::alerts::{AlertLabels, RuleKey};
use super::revision::Tree;
use super::{Change, Section};
use crate::bundle::Bundle;
use crate::check::amtool::{self, ROUTING_TESTS};
use crate::check::config_keys::ALERTMANAGER;

type Labels = BTreeMap<String, String>;

/// One side's rendered Alertmanager config, and amtool's answers so far.
struct Router<'a> {
    amtool: Option<&'a Path>,
    config: Option<PathBuf>,
    text: Option<String>,
    answers: BTreeMap<Labels, Vec<String>>,
}

impl<'a> Router<'a> {
    fn of(tree: &Tree, amtool: Option<&'a Path>) -> Result<Router<'a>> {
        let dir = tree.path(crate::bundle::DIR);
        let config = if dir.join(crate::bundle::STACK_FILE).is_file() {
            let bundle = Bundle::load(&dir).with_context(|| format!("{}: the rendered stack", tree.label()))?;
            bundle.compose.configs.get(ALERTMANAGER).map(|c| dir.join(&c.file))
        } else {
            None
        };
        let text = match &config {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
            None => None,
        };
        Ok(Router { amtool, config, text, answers: BTreeMap::new() })
    }

    /// The receivers `labels` reaches, in routing-tree order (none without
    /// a rendered Alertmanager config).
    fn receivers(&mut self, labels: &Labels) -> Result<Vec<String>> {
        let Some(config) = &self.config else { return Ok(Vec::new()) };
        if let Some(answer) = self.answers.get(labels) {
            return Ok(answer.clone());
        }
        let Some(amtool) = self.amtool else {
            bail!("amtool not found: run scripts/install-tools.sh, or set AMTOOL (review evaluates routing with it)");
        };
        let mut file = OsString::from("--config.file=");
        file.push(config);
        let mut args = vec![OsString::from("config"), "routes".into(), "test".into(), file];
        args.extend(labels.iter().map(|(k, v)| amtool::label_arg(k, v)));
        let out = crate::check::promtool::run(amtool, args).map_err(anyhow::Error::msg)?;
        if !out.success {
            bail!("amtool config routes test on {}: {}", config.display(), out.text.trim());
        }
        let answer: Vec<String> = out
            .stdout
            .lines()
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        self.answers.insert(labels.clone(), answer.clone());
        Ok(answer)
    }
}

/// The label sets routed at each side, by what the review calls them.
struct Subject {
    place: String,
    file: String,
    before: Option<Labels>,
    after: Option<Labels>,
}

pub fn compare(
    root: &Path,
    before: &Tree,
    after: &Tree,
    alerts_before: &BTreeMap<RuleKey, AlertLabels>,
    alerts_after: &BTreeMap<RuleKey, AlertLabels>,
) -> Result<Vec<Change>> {
    let mut subjects = Vec::new();
    let keys: BTreeSet<&RuleKey> = alerts_before.keys().chain(alerts_after.keys()).collect();
    let with_name = |a: &AlertLabels| {
        let mut labels = a.labels.clone();
        labels.insert("alertname".into(), a.alertname.clone());
        labels
    };
    for key in keys {
        // Log alerts are keyed by uid; both kinds are named by alertname.
        let alertname =
            alerts_after.get(key).or_else(|| alerts_before.get(key)).map_or(key.name.as_str(), |a| &a.alertname);
        let nth = if key.occurrence > 0 { format!(" (#{})", key.occurrence + 1) } else { String::new() };
        subjects.push(Subject {
            place: format!("alert `{alertname}`{nth}"),
            file: key.file.clone(),
            before: alerts_before.get(key).map(with_name),
            after: alerts_after.get(key).map(with_name),
        });
    }
    let cases = |tree: &Tree| -> Result<BTreeMap<String, Labels>> {
        if !tree.path(ROUTING_TESTS).is_file() {
            return Ok(BTreeMap::new());
        }
        let tests = amtool::load_routing_tests(&tree.path(""), ROUTING_TESTS)
            .map_err(|f| anyhow::anyhow!("{}: {f}", tree.label()))?;
        Ok(tests.route.into_iter().map(|c| (c.name, c.labels)).collect())
    };
    let (cases_before, cases_after) = (cases(before)?, cases(after)?);
    let names: BTreeSet<&String> = cases_before.keys().chain(cases_after.keys()).collect();
    for name in names {
        subjects.push(Subject {
            place: format!("routing test \"{name}\""),
            file: ROUTING_TESTS.into(),
            before: cases_before.get(name).cloned(),
            after: cases_after.get(name).cloned(),
        });
    }

    // Needed only when some answer can differ (see `receivers`).
    let amtool = crate::tools::find(root, "amtool");
    let mut a = Router::of(before, amtool.as_deref())?;
    let mut b = Router::of(after, amtool.as_deref())?;
    let same_config = a.text == b.text;
    let mut out = Vec::new();
    for s in subjects {
        // A label set only on one side is an added or removed alert or case:
        // said where it goes now, or where it went.
        let (from, to) = match (&s.before, &s.after) {
            (Some(x), Some(y)) if x == y && same_config => continue,
            (Some(x), Some(y)) => (Some(a.receivers(x)?), Some(b.receivers(y)?)),
            (None, Some(y)) => (None, Some(b.receivers(y)?)),
            (Some(x), None) => (Some(a.receivers(x)?), None),
            (None, None) => continue,
        };
        let show = |r: &Vec<String>| {
            if r.is_empty() {
                "no receiver (no rendered Alertmanager config)".to_owned()
            } else {
                format!("`{}`", r.join("`, `"))
            }
        };
        let (rule, message) = match (&from, &to) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => ("route-changed", format!("{} → {}", show(x), show(y))),
            (None, Some(y)) => ("route-new", format!("new, reaches {}", show(y))),
            (Some(x), None) => ("route-gone", format!("gone, reached {}", show(x))),
            (None, None) => continue,
        };
        out.push(Change::new(Section::Routing, rule, s.file, s.place, message));
    }
    Ok(out)
}
