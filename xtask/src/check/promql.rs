//! PromQL checks against the metric catalog (`stack/catalog/`).
//!
//! For every expression (an alert or recording rule, or a Grafana panel
//! target) this
//!
//! 1. substitutes Grafana macros and template variables (Grafana dialect),
//!    the way grafana/dashboard-linter does: macros become *sentinel
//!    durations* that no one writes by hand, so the expression parses
//!    wherever a macro stands;
//! 2. parses with `promql-parser`;
//! 3. walks the whole AST by hand (the crate's `walk_expr` skips aggregation
//!    parameters; matrix selectors, `or` matcher sets and `{__name__=~"..."}`
//!    need their own handling) and reports, as [`Finding`]s with check
//!    `promql`:
//!    - parse errors;
//!    - metric names no catalogued source exposes (or that the deployment
//!      disabled, e.g. a cAdvisor metric group);
//!    - a classic histogram selected by its bare family name;
//!    - label matchers on a label the metric does not have, where the
//!      catalog lists the labels authoritatively (target labels such as
//!      `job`, `instance` and relabelled ones are always allowed);
//!    - counters (and histogram/summary `_bucket`/`_sum`/`_count` series)
//!      used other than through `rate`/`irate`/`increase`/`resets` or a
//!      value-independent context (`count`, `group`, `absent`, the right side
//!      of `and`/`unless`, ...).
//!
//! The `[$__rate_interval]` window of panel queries is the dashboards lint's
//! rule (`dashboards::lint`), checked there once.

use std::collections::BTreeSet;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr as Ast, VectorSelector};

use super::Finding;
use super::catalog::{Catalog, MetricType};

const CHECK: &str = "promql";

/// Where an expression comes from, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Prometheus rule files: plain PromQL.
    Rule,
    /// Grafana panel targets and variable queries: PromQL with `$__macros`
    /// and `$variables`.
    Grafana,
}

/// One expression to check.
#[derive(Debug, Clone)]
pub struct Expr<'a> {
    /// Repository-relative file, for the finding.
    pub file: &'a str,
    /// Where in the file: `panel "CPU" (id 3) target A`, `group x rule y`, ...
    pub location: String,
    pub dialect: Dialect,
    pub expr: &'a str,
}

/// Checks every expression; findings come in input order.
pub fn check(exprs: &[Expr], catalog: &Catalog) -> Vec<Finding> {
    let mut findings = Vec::new();
    for e in exprs {
        for message in check_one(e.expr, e.dialect, catalog) {
            findings.push(Finding::new(CHECK, e.file, e.location.clone(), message));
        }
    }
    findings
}

/// Every metric name `expr` reads (a Grafana variable query's selector
/// included), for `verify`, which looks each up in the live Prometheus.
pub fn names_read(expr: &str, dialect: Dialect) -> Result<BTreeSet<String>, String> {
    let parse = |e: &str| match dialect {
        Dialect::Rule => parser::parse(e).map_err(|err| parse_error(&err, e, None)),
        Dialect::Grafana => parse_grafana(e),
    };
    if dialect == Dialect::Grafana
        && let Some(query) = template_query(expr)
    {
        return match query {
            TemplateQuery::LabelValues { selector: Some(sel), .. }
            | TemplateQuery::LabelNames { selector: Some(sel) } => parse(sel).map(|ast| metric_names(&ast)),
            TemplateQuery::QueryResult { expr } => parse(expr).map(|ast| metric_names(&ast)),
            _ => Ok(BTreeSet::new()),
        };
    }
    let mut names = parse(expr).map(|ast| metric_names(&ast))?;
    names.retain(|n| !n.contains(VAR_PLACEHOLDER));
    Ok(names)
}

/// The messages for one expression (deduplicated, in discovery order).
fn check_one(expr: &str, dialect: Dialect, catalog: &Catalog) -> Vec<String> {
    if expr.trim().is_empty() {
        return vec!["empty PromQL expression".to_owned()];
    }
    if dialect == Dialect::Grafana
        && let Some(query) = template_query(expr)
    {
        return check_template_query(&query, catalog);
    }
    check_promql(expr, dialect, catalog, Ctx::Value)
}

/// `ctx` is what the caller does with the values: `label_values(sel, l)` only
/// reads labels, so a counter there is fine.
fn check_promql(expr: &str, dialect: Dialect, catalog: &Catalog, ctx: Ctx) -> Vec<String> {
    let ast = match dialect {
        Dialect::Rule => parser::parse(expr).map_err(|e| parse_error(&e, expr, None)),
        Dialect::Grafana => parse_grafana(expr),
    };
    let ast = match ast {
        Ok(ast) => ast,
        Err(message) => return vec![message],
    };
    let mut w = Walker { catalog, messages: Vec::new() };
    w.walk(&ast, ctx);
    let mut seen = BTreeSet::new();
    w.messages.retain(|m| seen.insert(m.clone()));
    w.messages
}

/// A Grafana Prometheus variable query (not PromQL): `label_values(...)`,
/// `label_names(...)`, `metrics(...)`, `query_result(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplateQuery<'a> {
    LabelValues { selector: Option<&'a str>, label: &'a str },
    LabelNames { selector: Option<&'a str> },
    Metrics { regex: &'a str },
    QueryResult { expr: &'a str },
}

/// The byte offset of the last comma outside quotes and brackets.
fn last_top_level_comma(s: &str) -> Option<usize> {
    let (mut depth, mut quote, mut escaped, mut last) = (0i32, None, false, None);
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    last
}

fn template_query(expr: &str) -> Option<TemplateQuery<'_>> {
    let t = expr.trim();
    let (func, rest) = t.split_once('(')?;
    let inner = rest.trim_end().strip_suffix(')')?.trim();
    let func = func.trim();
    let opt = |s: &str| !s.is_empty();
    Some(match func {
        "label_values" => match last_top_level_comma(inner) {
            Some(i) => {
                let sel = inner[..i].trim();
                TemplateQuery::LabelValues { selector: opt(sel).then_some(sel), label: inner[i + 1..].trim() }
            }
            None => TemplateQuery::LabelValues { selector: None, label: inner },
        },
        "label_names" => TemplateQuery::LabelNames { selector: opt(inner).then_some(inner) },
        "metrics" => TemplateQuery::Metrics { regex: inner },
        "query_result" => TemplateQuery::QueryResult { expr: inner },
        _ => return None,
    })
}

fn check_template_query(query: &TemplateQuery, catalog: &Catalog) -> Vec<String> {
    match *query {
        TemplateQuery::LabelValues { selector: Some(sel), label } => {
            let mut messages = check_promql(sel, Dialect::Grafana, catalog, Ctx::CounterOk);
            if messages.is_empty()
                && !label.contains('$')
                && let Ok(Ast::VectorSelector(vs)) = parser::parse(&substitute_grafana(sel))
                && let Some(name) = vs.name.as_deref()
                && let Some(known) = catalog.labels(name)
                && !known.allows(label)
            {
                messages.push(format!("label_values(): metric {name} has no label `{label}`"));
            }
            messages
        }
        TemplateQuery::LabelNames { selector: Some(sel) } => {
            check_promql(sel, Dialect::Grafana, catalog, Ctx::CounterOk)
        }
        TemplateQuery::QueryResult { expr } => check_promql(expr, Dialect::Grafana, catalog, Ctx::Value),
        TemplateQuery::LabelValues { selector: None, .. }
        | TemplateQuery::LabelNames { selector: None }
        | TemplateQuery::Metrics { .. } => Vec::new(),
    }
}

fn parse_error(err: &str, original: &str, substituted: Option<&str>) -> String {
    let err = err.trim();
    let err = if err == "invalid promql query" {
        // promql-parser's LR parser drops its error details for grammar errors.
        "invalid promql query (syntax error)"
    } else {
        err
    };
    match substituted {
        Some(s) if s != original => {
            format!("cannot parse PromQL: {err}; expression after Grafana variable substitution: {s}")
        }
        _ => format!("cannot parse PromQL: {err}"),
    }
}

/// Substitutes and parses a Grafana expression. Variables outside strings
/// are ambiguous (a metric name, a label in `by (...)`, a number); the
/// heuristic guess is tried first, then all-identifiers, then all-numbers.
fn parse_grafana(expr: &str) -> Result<Ast, String> {
    let first = substitute(expr, VarGuess::Heuristic);
    let first_err = match parser::parse(&first) {
        Ok(ast) => return Ok(ast),
        Err(e) => e,
    };
    for guess in [VarGuess::Identifier, VarGuess::Number] {
        let s = substitute(expr, guess);
        if s != first
            && let Ok(ast) = parser::parse(&s)
        {
            return Ok(ast);
        }
    }
    Err(parse_error(&first_err, expr, Some(&first)))
}

// ------------------------------------------------------------------ substitution

/// Sentinel durations (milliseconds) for Grafana's interval macros: odd
/// values no one writes by hand, so a parsed range can be traced back.
pub const RATE_INTERVAL_MS: u64 = 4_011_001;
pub const INTERVAL_MS: u64 = 4_011_002;
pub const RANGE_MS: u64 = 4_011_003;
pub const AUTO_MS: u64 = 4_011_004;
/// A user variable in a duration position (`[$window]`, `offset $shift`).
pub const VARIABLE_DURATION_MS: u64 = 4_011_009;
/// Numeric stand-in for numeric macros and variables in a number position.
const NUMBER_SENTINEL: &str = "4011011";
/// Stand-in for `$__from`/`$__to` (a plausible Unix time, valid after `@`).
const TIME_SENTINEL: &str = "1700000000";
/// Prefix of the identifier or string a variable becomes.
pub const VAR_PLACEHOLDER: &str = "__grafana_var__";

const DURATION_MACROS: &[(&str, u64)] =
    &[("__rate_interval", RATE_INTERVAL_MS), ("__interval", INTERVAL_MS), ("__range", RANGE_MS), ("__auto", AUTO_MS)];
const NUMBER_MACROS: &[&str] = &["__interval_ms", "__range_ms", "__range_s", "__rate_interval_ms"];
const TIME_MACROS: &[&str] = &["__from", "__to"];
/// Functions and aggregations whose first argument is a number.
const NUMBER_FIRST_ARG: &[&str] = &["topk", "bottomk", "quantile", "limitk", "limit_ratio", "histogram_quantile"];

/// How to read a variable outside quotes and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarGuess {
    Heuristic,
    Identifier,
    Number,
}

/// Grafana macros and template variables replaced by text that parses:
/// inside quotes by a plain word; in a range or after `offset` by a sentinel
/// duration; elsewhere by an identifier or a number (see [`VarGuess`]).
pub fn substitute_grafana(expr: &str) -> String {
    substitute(expr, VarGuess::Heuristic)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A variable reference at the start of `s`: (name, length in bytes).
fn variable_at(s: &str) -> Option<(&str, usize)> {
    if let Some(rest) = s.strip_prefix("${") {
        let end = rest.find('}')?;
        let inner = &rest[..end];
        let name_len = inner.find(|c: char| !is_ident(c)).unwrap_or(inner.len());
        let name = &inner[..name_len];
        let after = &inner[name_len..];
        if name.is_empty() || !(after.is_empty() || after.starts_with(':') || after.starts_with('.')) {
            return None;
        }
        return Some((name, 2 + end + 1));
    }
    if let Some(rest) = s.strip_prefix("[[") {
        let end = rest.find("]]")?;
        let inner = &rest[..end];
        let name = inner.split(':').next().unwrap_or("");
        if name.is_empty() || !name.chars().all(is_ident) {
            return None;
        }
        return Some((name, 2 + end + 2));
    }
    let rest = s.strip_prefix('$')?;
    if !rest.starts_with(is_ident_start) {
        return None;
    }
    let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
    Some((&rest[..len], 1 + len))
}

/// Whether a variable at the end of `before` sits where a number belongs.
fn number_position(before: &str) -> bool {
    let t = before.trim_end();
    if t.ends_with("bool") && !t[..t.len() - 4].ends_with(is_ident) {
        return true;
    }
    if let Some(head) = t.strip_suffix('(') {
        let head = head.trim_end();
        let word_start = head.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
        return NUMBER_FIRST_ARG.contains(&&head[word_start..]);
    }
    t.ends_with(['>', '<', '=', '+', '-', '*', '/', '%', '^', ','])
}

fn after_offset(before: &str) -> bool {
    let t = before.trim_end();
    t.len() >= 6 && t[t.len() - 6..].eq_ignore_ascii_case("offset") && !t[..t.len() - 6].ends_with(is_ident)
}

fn substitute(expr: &str, guess: VarGuess) -> String {
    let mut out = String::with_capacity(expr.len() + 32);
    let mut quote: Option<char> = None;
    let mut range_depth = 0usize;
    let mut i = 0;
    while i < expr.len() {
        let rest = &expr[i..];
        let Some(c) = rest.chars().next() else { break };
        if let Some(q) = quote {
            if c == '\\' && q != '`' {
                // Keep escapes (and what they escape) as they are.
                let n = rest.chars().nth(1).map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + n]);
                i += 1 + n;
                continue;
            }
            if c == q {
                quote = None;
            } else if let Some((name, len)) = variable_at(rest) {
                out.push_str(VAR_PLACEHOLDER);
                out.push_str(name);
                i += len;
                continue;
            }
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '#' => {
                // A comment runs to the end of the line.
                let end = rest.find('\n').unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                i += end;
                continue;
            }
            '$' | '[' => {
                if let Some((name, len)) = variable_at(rest) {
                    let before = &expr[..i];
                    let replacement = replacement(name, range_depth > 0 || after_offset(&out), before, guess);
                    out.push_str(&replacement);
                    i += len;
                    continue;
                }
                if c == '[' {
                    range_depth += 1;
                }
            }
            ']' => range_depth = range_depth.saturating_sub(1),
            _ => {}
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn replacement(name: &str, duration_position: bool, before: &str, guess: VarGuess) -> String {
    if let Some((_, ms)) = DURATION_MACROS.iter().find(|(n, _)| *n == name) {
        return format!("{ms}ms");
    }
    if NUMBER_MACROS.contains(&name) {
        return NUMBER_SENTINEL.to_owned();
    }
    if TIME_MACROS.contains(&name) {
        return TIME_SENTINEL.to_owned();
    }
    if duration_position {
        return format!("{VARIABLE_DURATION_MS}ms");
    }
    let number = match guess {
        VarGuess::Heuristic => number_position(before),
        VarGuess::Identifier => false,
        VarGuess::Number => true,
    };
    if number { NUMBER_SENTINEL.to_owned() } else { format!("{VAR_PLACEHOLDER}{name}") }
}

// ------------------------------------------------------------------ AST walk

/// Functions a counter belongs in.
const COUNTER_FUNCTIONS: &[&str] = &["rate", "irate", "increase", "resets"];
/// Functions that look only at the presence, timing or changes of samples.
const VALUE_INDEPENDENT_FUNCTIONS: &[&str] =
    &["absent", "absent_over_time", "present_over_time", "count_over_time", "timestamp", "changes"];
/// Functions that pass their first argument's samples through unchanged.
const PASSTHROUGH_FUNCTIONS: &[&str] =
    &["label_replace", "label_join", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc"];

/// What the enclosing expression does with a selector's sample values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Values are used as they are: a counter here is a mistake.
    Value,
    /// Inside `rate`/`increase`/... or where values do not matter.
    CounterOk,
}

struct Walker<'c> {
    catalog: &'c Catalog,
    messages: Vec<String>,
}

/// The workspace's one PromQL walk: every vector selector of the whole AST
/// (bare or in a matrix, aggregation parameters and extension nodes
/// included), with what the enclosing expression does with its values. The
/// catalog check and the metric listings below both use it.
fn visit_selectors(e: &Ast, ctx: Ctx, on_selector: &mut impl FnMut(&VectorSelector, Ctx)) {
    let mut walk = |e: &Ast, ctx: Ctx| visit_selectors(e, ctx, on_selector);
    match e {
        Ast::Aggregate(a) => {
            let op = a.op.to_string();
            let inner = if matches!(op.as_str(), "count" | "group") { Ctx::CounterOk } else { Ctx::Value };
            walk(&a.expr, inner);
            if let Some(param) = &a.param {
                walk(param, Ctx::Value);
            }
        }
        Ast::Unary(u) => walk(&u.expr, Ctx::Value),
        Ast::Binary(b) => {
            let op = b.op.to_string();
            walk(&b.lhs, Ctx::Value);
            let rhs = if matches!(op.as_str(), "and" | "unless") { Ctx::CounterOk } else { Ctx::Value };
            walk(&b.rhs, rhs);
        }
        Ast::Paren(p) => walk(&p.expr, ctx),
        Ast::Subquery(s) => walk(&s.expr, ctx),
        Ast::NumberLiteral(_) | Ast::StringLiteral(_) => {}
        Ast::VectorSelector(vs) => on_selector(vs, ctx),
        Ast::MatrixSelector(ms) => on_selector(&ms.vs, ctx),
        Ast::Call(call) => {
            let name = call.func.name;
            for (i, arg) in call.args.args.iter().enumerate() {
                let arg_ctx = if COUNTER_FUNCTIONS.contains(&name) || VALUE_INDEPENDENT_FUNCTIONS.contains(&name) {
                    Ctx::CounterOk
                } else if PASSTHROUGH_FUNCTIONS.contains(&name) && i == 0 {
                    ctx
                } else {
                    Ctx::Value
                };
                walk(arg, arg_ctx);
            }
        }
        Ast::Extension(ext) => {
            for child in ext.expr.children() {
                walk(child, Ctx::Value);
            }
        }
    }
}

/// The metric names an expression selects by name, sorted.
fn metric_names(ast: &Ast) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    visit_selectors(ast, Ctx::Value, &mut |vs, _| names.extend(vs.name.clone()));
    names
}

impl Walker<'_> {
    fn walk(&mut self, e: &Ast, ctx: Ctx) {
        visit_selectors(e, ctx, &mut |vs, ctx| self.selector(vs, ctx));
    }

    fn selector(&mut self, vs: &VectorSelector, ctx: Ctx) {
        // Each alternative of `{a="1" or b="2"}` is its own selector.
        let alternatives: Vec<Vec<&Matcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![vs.matchers.matchers.iter().collect()]
        } else {
            vs.matchers.or_matchers.iter().map(|alt| vs.matchers.matchers.iter().chain(alt.iter()).collect()).collect()
        };
        for matchers in alternatives {
            self.one_selector(vs.name.as_deref(), &matchers, ctx);
        }
    }

    fn one_selector(&mut self, name: Option<&str>, matchers: &[&Matcher], ctx: Ctx) {
        let label_matchers: Vec<&Matcher> = matchers.iter().copied().filter(|m| m.name != "__name__").collect();
        if let Some(name) = name {
            self.named(name, &label_matchers, ctx);
            return;
        }
        let name_matchers: Vec<&Matcher> = matchers.iter().copied().filter(|m| m.name == "__name__").collect();
        // `{__name__="x"}` is just `x`; several of them must all hold.
        if let Some(eq) = name_matchers.iter().find(|m| m.op == MatchOp::Equal) {
            if !eq.value.contains(VAR_PLACEHOLDER) {
                self.named(&eq.value, &label_matchers, ctx);
            }
            return;
        }
        let positive: Vec<&&Matcher> = name_matchers.iter().filter(|m| matches!(m.op, MatchOp::Re(_))).collect();
        if positive.is_empty() || positive.iter().any(|m| m.value.contains(VAR_PLACEHOLDER)) {
            // Only negative name matchers, or a variable: nothing to expand.
            return;
        }
        let matched: Vec<String> =
            self.series_names().into_iter().filter(|n| name_matchers.iter().all(|m| m.is_match(n))).collect();
        let shown = format!(
            "{{{}}}",
            positive.iter().map(|m| format!("__name__=~\"{}\"", m.value)).collect::<Vec<_>>().join(", ")
        );
        if matched.is_empty() {
            self.messages
                .push(format!("selector {shown} matches no metric exposed by a catalogued source (stack/catalog/)"));
            return;
        }
        // A label must exist on at least one of the matched metrics.
        for m in &label_matchers {
            if skip_label_matcher(m) {
                continue;
            }
            let known: Vec<_> = matched.iter().map(|n| self.catalog.labels(n)).collect();
            if known.iter().all(Option::is_some) && !known.iter().flatten().any(|k| k.allows(&m.name)) {
                self.messages.push(format!(
                    "label `{}` is on none of the metrics {shown} matches ({})",
                    m.name,
                    matched.join(", ")
                ));
            }
        }
    }

    /// Every series name the catalog knows: families and their suffixed series.
    fn series_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in self.catalog.metrics() {
            out.push(m.name.clone());
            let suffixes: &[&str] = if m.kind.is_histogram() {
                &["_bucket", "_sum", "_count"]
            } else if m.kind == MetricType::Summary {
                &["_sum", "_count"]
            } else {
                &[]
            };
            out.extend(suffixes.iter().map(|s| format!("{}{s}", m.name)));
        }
        out
    }

    fn named(&mut self, name: &str, label_matchers: &[&Matcher], ctx: Ctx) {
        if name.contains(VAR_PLACEHOLDER) {
            return;
        }
        let Some((info, suffix)) = self.catalog.lookup_with_suffix(name) else {
            let message = match self.catalog.disabled(name) {
                Some(d) => format!(
                    "metric {name} is not exposed: {} has it only in metric group `{}`, which the deployment disables (--disable_metrics in stack/stack.toml; stack/catalog/{}.toml)",
                    d.source, d.group, d.source
                ),
                None => match self.catalog.renamed(name) {
                    Some(stored) => format!(
                        "metric {name} is not exposed by any catalogued source (stack/catalog/): it reaches Prometheus through the OTel Collector as {stored} (prometheus_remote_write appends _total to counters)"
                    ),
                    None => format!("metric {name} is not exposed by any catalogued source (stack/catalog/)"),
                },
            };
            self.messages.push(message);
            return;
        };
        if info.kind.is_histogram() && suffix.is_empty() {
            self.messages.push(format!(
                "metric {name} is a classic histogram: select {name}_bucket, {name}_sum or {name}_count (the bare family name only exists for native histograms)"
            ));
        }
        if let Some(known) = self.catalog.labels(name) {
            for m in label_matchers {
                if skip_label_matcher(m) || known.allows(&m.name) {
                    continue;
                }
                let mut own = known.own.clone();
                own.sort();
                self.messages.push(format!(
                    "metric {name} has no label `{}` (catalogued labels: {}; target labels: {})",
                    m.name,
                    if own.is_empty() { "none".to_owned() } else { own.join(", ") },
                    known.target.join(", ")
                ));
            }
        }
        if ctx == Ctx::Value {
            let counter_like = match info.kind {
                MetricType::Counter => Some("a counter".to_owned()),
                MetricType::Histogram if !suffix.is_empty() => Some(format!("a series of the histogram {}", info.name)),
                MetricType::Summary if suffix == "_sum" || suffix == "_count" => {
                    Some(format!("a series of the summary {}", info.name))
                }
                _ => None,
            };
            if let Some(what) = counter_like {
                self.messages.push(format!(
                    "{name} is {what}: use it through rate(), irate() or increase() (its raw value only grows and resets on restart)"
                ));
            }
        }
    }
}

/// `label=""` selects series *without* the label: valid on any metric.
fn skip_label_matcher(m: &Matcher) -> bool {
    m.op == MatchOp::Equal && m.value.is_empty()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CATALOG: &str = r#"
source = "test"
version = "1"
provenance = "unit test"
labels_authoritative = true
target_labels = ["job", "instance"]

[metrics.node_cpu_seconds_total]
type = "counter"
help = "Seconds the CPUs spent in each mode."
labels = ["cpu", "mode"]

[metrics.node_memory_MemAvailable_bytes]
type = "gauge"
help = "Memory information field MemAvailable_bytes."
labels = []

[metrics.node_memory_MemTotal_bytes]
type = "gauge"
help = "Memory information field MemTotal_bytes."
labels = []

[metrics.http_server_request_duration_seconds]
type = "histogram"
help = "Duration of HTTP server requests."
labels = ["http_request_method", "http_response_status_code", "http_route"]

[metrics.go_gc_duration_seconds]
type = "summary"
help = "GC pauses."
labels = []

[metrics.up]
type = "gauge"
help = "Target up."
labels = []

[metrics.ALERTS]
type = "gauge"
help = "Alerts."

[metrics.nginx_http_requests_total]
type = "counter"
help = "Total http requests."
labels = []

[metrics.loki_request_duration_seconds]
type = "histogram"
help = "Time (in seconds) spent serving HTTP requests."
labels = ["method", "route", "status_code", "ws"]
labels_authoritative = false
"#;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.add_file(Path::new("test.toml"), CATALOG).expect("test catalog");
        c.with_recorded(["instance:node_cpu_utilisation:rate5m".to_owned()])
    }

    fn rule(expr: &str) -> Vec<String> {
        check_one(expr, Dialect::Rule, &catalog())
    }

    fn grafana(expr: &str) -> Vec<String> {
        check_one(expr, Dialect::Grafana, &catalog())
    }

    #[track_caller]
    fn assert_clean(messages: Vec<String>) {
        assert!(messages.is_empty(), "unexpected findings: {messages:#?}");
    }

    #[track_caller]
    fn assert_one(messages: Vec<String>, needle: &str) {
        assert_eq!(messages.len(), 1, "expected one finding with {needle:?}: {messages:#?}");
        assert!(messages[0].contains(needle), "{:?} lacks {needle:?}", messages[0]);
    }

    #[test]
    fn finding_names_file_and_location() {
        let exprs = [
            Expr {
                file: "dashboards/generated/etl-hosts.json",
                location: "panel \"CPU\" (id 3) target A".to_owned(),
                dialect: Dialect::Grafana,
                expr: "sum(rate(node_cpu_seconds_totl[$__rate_interval]))",
            },
            Expr {
                file: "alerts/generated/rules/hosts.yml",
                location: "group hosts, alert HostDown".to_owned(),
                dialect: Dialect::Rule,
                expr: "up{job=\"node\"} == 0",
            },
            Expr {
                file: "alerts/generated/rules/bad.yml",
                location: "group x, alert Broken".to_owned(),
                dialect: Dialect::Rule,
                expr: "sum(rate(x[5m])",
            },
        ];
        let findings = check(&exprs, &catalog());
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert_eq!(
            findings[0],
            Finding::new(
                "promql",
                "dashboards/generated/etl-hosts.json",
                "panel \"CPU\" (id 3) target A",
                "metric node_cpu_seconds_totl is not exposed by any catalogued source (stack/catalog/)",
            )
        );
        assert_eq!(findings[1].file, "alerts/generated/rules/bad.yml");
        assert_eq!(findings[1].place, "group x, alert Broken");
        assert!(findings[1].message.starts_with("cannot parse PromQL: "), "{}", findings[1].message);
        assert_eq!(
            findings[0].to_string(),
            "dashboards/generated/etl-hosts.json: panel \"CPU\" (id 3) target A: [promql] metric node_cpu_seconds_totl is not exposed by any catalogued source (stack/catalog/)"
        );
    }

    #[test]
    fn parse_errors_carry_the_message() {
        assert_one(rule("sum(rate(x[5m])"), "cannot parse PromQL: unclosed left parenthesis");
        assert_one(rule("rate(up[5m] offset)"), "cannot parse PromQL");
        assert_one(rule("  "), "empty PromQL expression");
        // After substitution the message shows what was parsed.
        assert_one(
            grafana("sum(rate(up[$__rate_interval])"),
            "after Grafana variable substitution: sum(rate(up[4011001ms])",
        );
    }

    #[test]
    fn unknown_metrics_are_named() {
        assert_one(rule("foo_total"), "metric foo_total is not exposed by any catalogued source (stack/catalog/)");
        // ... wherever they hide: aggregation parameters, matrix selectors,
        // subqueries, binary operands, function arguments, `or` matchers.
        assert_one(rule("topk(scalar(hidden_param), up)"), "metric hidden_param is not");
        assert_one(rule("quantile(scalar(q_param), up)"), "q_param");
        assert_one(rule("max_over_time(gauge_missing[5m])"), "gauge_missing");
        assert_one(rule("max_over_time(sub_missing[1h:5m])"), "sub_missing");
        assert_one(rule("up / on(instance) group_left missing_rhs"), "missing_rhs");
        assert_one(rule("label_replace(lr_missing, \"a\", \"$1\", \"b\", \"(.*)\")"), "lr_missing");
        assert_one(rule("-neg_missing"), "neg_missing");
        assert_one(rule("{__name__=\"by_name_missing\"}"), "by_name_missing");
        assert_one(rule("{__name__=~\"nothing_like_this_.*\"}"), "matches no metric");
        // Known names, suffixed histogram/summary series, recording-rule outputs.
        assert_clean(rule("node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"));
        assert_clean(rule("rate(http_server_request_duration_seconds_count[5m])"));
        assert_clean(rule("go_gc_duration_seconds{quantile=\"0.5\"}"));
        assert_clean(rule("instance:node_cpu_utilisation:rate5m > 0.9"));
        assert_clean(rule("{__name__=~\"node_memory_.*\"}"));
        assert_clean(rule("{__name__=~\"node_memory_Mem(Available|Total)_bytes\", job=\"node\"}"));
    }

    #[test]
    fn bare_histogram_family_is_flagged() {
        assert_one(rule("rate(http_server_request_duration_seconds[5m])"), "is a classic histogram");
    }

    #[test]
    fn label_matchers_are_checked_where_labels_are_known() {
        assert_one(
            rule("rate(node_cpu_seconds_total{mdoe=\"idle\"}[5m])"),
            "metric node_cpu_seconds_total has no label `mdoe` (catalogued labels: cpu, mode; target labels: instance, job)",
        );
        // Target labels, `le` on buckets, `quantile` on summaries, absent-label tests.
        assert_clean(rule("rate(node_cpu_seconds_total{mode=\"idle\", job=\"node\", instance=~\".+\"}[5m])"));
        assert_clean(rule("rate(http_server_request_duration_seconds_bucket{le=\"0.5\", http_route=\"/\"}[5m])"));
        assert_one(rule("rate(http_server_request_duration_seconds_count{le=\"0.5\"}[5m])"), "no label `le`");
        assert_clean(rule("go_gc_duration_seconds{quantile=\"0.5\"}"));
        assert_clean(rule("up{swarm_service=\"\"}"));
        // `or` matcher sets: every alternative is checked.
        assert_one(rule("up{job=\"a\" or nope=\"b\"}"), "metric up has no label `nope`");
        // Not authoritative (labels_authoritative = false, or no labels): not checked.
        assert_clean(rule("rate(loki_request_duration_seconds_count{anything=\"x\"}[5m])"));
        assert_clean(rule("ALERTS{alertname=\"X\", severity=\"critical\"}"));
        assert_clean(rule("instance:node_cpu_utilisation:rate5m{whatever=\"x\"}"));
        // Regex names: the label must exist on one of the matches.
        assert_one(rule("{__name__=~\"node_memory_.*\", mode=\"x\"}"), "label `mode` is on none of the metrics");
    }

    #[test]
    fn counters_outside_rate_are_flagged() {
        assert_one(rule("node_cpu_seconds_total > 0"), "node_cpu_seconds_total is a counter");
        assert_one(rule("sum(nginx_http_requests_total)"), "is a counter");
        assert_one(rule("max_over_time(nginx_http_requests_total[5m])"), "is a counter");
        assert_one(rule("sum(http_server_request_duration_seconds_bucket) by (le)"), "a series of the histogram");
        let both = rule("go_gc_duration_seconds_sum / go_gc_duration_seconds_count");
        assert_eq!(both.len(), 2, "{both:#?}");
        assert!(both.iter().all(|m| m.contains("a series of the summary go_gc_duration_seconds")));
    }

    #[test]
    fn counters_in_rate_or_value_independent_contexts_are_fine() {
        for ok in [
            "rate(node_cpu_seconds_total[5m])",
            "sum by (mode) (irate(node_cpu_seconds_total[5m]))",
            "increase(nginx_http_requests_total[1h])",
            "resets(nginx_http_requests_total[1h])",
            "rate(nginx_http_requests_total[5m:30s])",
            "count(nginx_http_requests_total)",
            "group by (job) (nginx_http_requests_total)",
            "absent(nginx_http_requests_total)",
            "absent_over_time(nginx_http_requests_total[5m])",
            "timestamp(nginx_http_requests_total)",
            "up and on(instance) nginx_http_requests_total",
            "up unless nginx_http_requests_total",
            "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
            "rate(go_gc_duration_seconds_sum[5m]) / rate(go_gc_duration_seconds_count[5m])",
        ] {
            assert_clean(rule(ok));
        }
    }

    #[test]
    fn rate_windows_are_left_to_the_dashboards_lint() {
        // One rule, one place: `dashboards::lint` reports a panel window
        // that is not `[$__rate_interval]`.
        assert_clean(grafana("rate(node_cpu_seconds_total[5m])"));
        assert_clean(grafana("sum(rate(node_cpu_seconds_total[${__rate_interval}]))"));
        assert_clean(rule("rate(node_cpu_seconds_total[5m])"));
    }

    #[test]
    fn macro_substitution() {
        assert_eq!(substitute_grafana("rate(x[$__rate_interval])"), "rate(x[4011001ms])");
        assert_eq!(substitute_grafana("rate(x[${__rate_interval}])"), "rate(x[4011001ms])");
        assert_eq!(substitute_grafana("rate(x[$__interval])"), "rate(x[4011002ms])");
        assert_eq!(substitute_grafana("increase(x[$__range])"), "increase(x[4011003ms])");
        assert_eq!(substitute_grafana("rate(x[$__auto])"), "rate(x[4011004ms])");
        assert_eq!(substitute_grafana("x / $__interval_ms"), "x / 4011011");
        assert_eq!(substitute_grafana("x @ ${__to:date:seconds}"), "x @ 1700000000");
        // Variables inside quotes become words, whatever the format.
        assert_eq!(
            substitute_grafana("up{job=~\"$job\", instance=~\"${instance:regex}\", x=\"[[node]]\", y='$y'}"),
            "up{job=~\"__grafana_var__job\", instance=~\"__grafana_var__instance\", x=\"__grafana_var__node\", y='__grafana_var__y'}"
        );
        // Escapes inside quotes are left alone; `$1` is not a variable.
        assert_eq!(
            substitute_grafana(r#"label_replace(up, "a", "$1", "b", "x\"$v")"#),
            r#"label_replace(up, "a", "$1", "b", "x\"__grafana_var__v")"#
        );
        // Ranges, offsets, numbers and identifiers.
        assert_eq!(substitute_grafana("rate(x[$window]) offset $shift"), "rate(x[4011009ms]) offset 4011009ms");
        assert_eq!(substitute_grafana("x > $threshold"), "x > 4011011");
        assert_eq!(substitute_grafana("topk($n, x)"), "topk(4011011, x)");
        assert_eq!(substitute_grafana("sum by ($group) (x)"), "sum by (__grafana_var__group) (x)");
        assert_eq!(substitute_grafana("${metric}_total"), "__grafana_var__metric_total");
        assert_eq!(substitute_grafana("[[metric]]"), "__grafana_var__metric");
        // Plain PromQL is untouched.
        let plain = "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) # a comment with $x";
        assert_eq!(substitute_grafana(plain), plain);
    }

    #[test]
    fn grafana_variables_parse_and_are_not_reported_as_metrics() {
        assert_clean(grafana(
            "sum by ($group) (rate(node_cpu_seconds_total{instance=~\"$instance\"}[$__rate_interval]))",
        ));
        assert_clean(grafana("topk($n, sum by (instance) (rate(node_cpu_seconds_total[$__rate_interval])))"));
        assert_clean(grafana("${metric}"));
        assert_clean(grafana("{__name__=~\"$metric\"}"));
        assert_clean(grafana("up > $threshold"));
        assert_clean(grafana("up offset $shift"));
        assert_clean(grafana("clamp_max(up, $max)"));
        assert_clean(grafana("up{job=\"$job\"} @ ${__to:date:seconds}"));
    }

    #[test]
    fn renamed_counters_get_a_hint() {
        let mut c = Catalog::scraped_by_collector(["nginx-exporter"]);
        c.add_file(
            Path::new("nginx.toml"),
            "source = \"nginx-exporter\"\nversion = \"1\"\nprovenance = \"t\"\n[metrics.nginx_connections_accepted]\ntype = \"counter\"\nhelp = \"h\"\nlabels = []\n",
        )
        .expect("loads");
        let m = check_one("rate(nginx_connections_accepted[5m])", Dialect::Rule, &c);
        assert_one(m, "reaches Prometheus through the OTel Collector as nginx_connections_accepted_total");
        assert_clean(check_one("rate(nginx_connections_accepted_total[5m])", Dialect::Rule, &c));
    }

    #[test]
    fn grafana_variable_queries() {
        assert_eq!(
            template_query("label_values(up{job=~\"$job\"}, instance)"),
            Some(TemplateQuery::LabelValues { selector: Some("up{job=~\"$job\"}"), label: "instance" })
        );
        assert_eq!(
            template_query("label_values(job)"),
            Some(TemplateQuery::LabelValues { selector: None, label: "job" })
        );
        assert_eq!(template_query("label_names()"), Some(TemplateQuery::LabelNames { selector: None }));
        assert_eq!(template_query("metrics(node_.*)"), Some(TemplateQuery::Metrics { regex: "node_.*" }));
        assert_eq!(
            template_query("query_result(topk(5, up))"),
            Some(TemplateQuery::QueryResult { expr: "topk(5, up)" })
        );
        assert_eq!(template_query("sum(up)"), None);
        assert_clean(grafana("label_values(node_cpu_seconds_total{job=~\"$job\"}, mode)"));
        assert_clean(grafana("label_values(instance)"));
        assert_clean(grafana("query_result(topk(5, sum by (instance) (rate(node_cpu_seconds_total[$__range]))))"));
        assert_one(grafana("label_values(node_cpu_seconds_totl, mode)"), "metric node_cpu_seconds_totl is not exposed");
        assert_one(
            grafana("label_values(node_cpu_seconds_total, core)"),
            "label_values(): metric node_cpu_seconds_total has no label `core`",
        );
        assert_one(grafana("query_result(nope_metric)"), "nope_metric");
        // Not PromQL in a rule file.
        assert_one(rule("label_values(up, job)"), "cannot parse PromQL");
    }

    #[test]
    fn every_expression_shape_parses() {
        for ok in [
            "up",
            "sum by (job) (up)",
            "sum without (instance) (up)",
            "topk(5, sum by (instance) (rate(node_cpu_seconds_total[5m])))",
            "quantile(0.9, up)",
            "count_values(\"value\", up)",
            "max_over_time(rate(node_cpu_seconds_total[5m])[1h:1m])",
            "max_over_time(up[1h:])",
            "up @ 1700000000",
            "up @ start()",
            "rate(node_cpu_seconds_total[5m] @ end())",
            "up offset 1h",
            "rate(node_cpu_seconds_total[5m] offset -5m)",
            "sum(rate(nginx_http_requests_total[5m])) or vector(0)",
            "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
            "label_replace(up, \"host\", \"$1\", \"instance\", \"([^:]+):.*\")",
            "label_join(up, \"both\", \"-\", \"job\", \"instance\")",
            "up == bool 0",
            "node_memory_MemAvailable_bytes < bool on(instance) node_memory_MemTotal_bytes * 0.1",
            "up unless on(job) up{job=\"x\"}",
            "up / ignoring(job) group_left up",
            "absent(up{job=\"node\"})",
            "{__name__=~\"node_memory_Mem.*_bytes\"}",
            "{__name__=\"up\", job=\"node\"}",
            "up{job=\"a\" or job=\"b\"}",
            "-up",
            "(up)",
            "1 + 2",
            "scalar(up) * 2",
            "time() - timestamp(up)",
            "sort_desc(sum by (job) (up))",
            "clamp_min(up, 0)",
            "predict_linear(node_memory_MemAvailable_bytes[1h], 4 * 3600) < 0",
            "deriv(node_memory_MemAvailable_bytes[10m])",
            "avg_over_time(up[5m]) < 0.9",
            "sum(increase(nginx_http_requests_total[1h])) / 3600",
        ] {
            let parsed = parser::parse(ok);
            assert!(parsed.is_ok(), "{ok}: {parsed:?}");
            assert_clean(rule(ok));
        }
    }

    /// The metrics the dashboards' panel queries read, listed so that a
    /// change in what the dashboards need shows in review beside the catalog.
    #[test]
    fn metrics_read_by_the_dashboards() {
        let mut names = BTreeSet::new();
        let mut failures = Vec::new();
        for d in dashboards::all() {
            for q in d.queries().into_iter().filter(|q| q.datasource == dashboards::Datasource::Prometheus) {
                match parse_grafana(&q.expr) {
                    Ok(ast) => names.extend(metric_names(&ast)),
                    Err(e) => {
                        failures.push(format!("{} panel {} target {}: {e}", q.dashboard_uid, q.panel_id, q.ref_id))
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        insta::assert_snapshot!("dashboard_metric_names", names.into_iter().collect::<Vec<_>>().join("\n"));
    }

    /// Every metric a rule reads is fed by some promtool test (or recorded by
    /// a rule), so the tests exercise the real series names.
    #[test]
    fn every_metric_a_rule_reads_is_fed_by_a_promtool_test() {
        let ctx = alerts::Context::default();
        let recorded: BTreeSet<String> = alerts::recorded_metric_names(&ctx).into_iter().collect();
        let mut fed = BTreeSet::new();
        for file in alerts::rule_files(&ctx) {
            for (_, alert) in file.alerts() {
                for case in &alert.tests {
                    for input in &case.input {
                        let name: String = input
                            .series
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                            .collect();
                        fed.insert(name);
                    }
                }
            }
        }
        let mut read = BTreeSet::new();
        for e in alerts::expressions(&ctx) {
            let ast = parser::parse(&e.expr).unwrap_or_else(|err| panic!("{} / {}: {err}\n{}", e.file, e.rule, e.expr));
            read.extend(metric_names(&ast));
        }
        assert!(!read.is_empty());
        let missing: Vec<&String> = read.iter().filter(|m| !recorded.contains(*m) && !fed.contains(*m)).collect();
        assert!(missing.is_empty(), "metrics read by rules but in no test input: {missing:?}");
    }
}
