//! Metric registrations found in Go source, parsed with tree-sitter's Go
//! grammar (no regular expressions over code: a registration split over
//! lines, or its name built from constants, reads the same).
//!
//! The registration forms understood, each covered by a fixture in
//! `xtask/tests/fixtures/extract/`:
//!
//! - **Opts literals**: `prometheus.CounterOpts{Namespace, Subsystem, Name,
//!   Help, ConstLabels}` (and `GaugeOpts`, `HistogramOpts`, `SummaryOpts`).
//!   The name is the non-empty parts joined by `_` (client_golang's
//!   `BuildFQName`). Labels: the `[]string{...}` second argument when the
//!   literal is the first argument of a `New…Vec` call, none for `NewCounter`,
//!   `NewGaugeFunc`, …, plus the keys of a literal `ConstLabels`; unknown
//!   otherwise.
//! - **Descriptors**: `prometheus.NewDesc(name, help, labels, constLabels)`,
//!   name a string or `prometheus.BuildFQName(ns, sub, name)`; the value type
//!   is chosen where the metric is sent, so it is `untyped` here.
//! - **Metric tables**: keyed struct literals with `name`, `help` and
//!   `valueType` (`prometheus.CounterValue`, `GaugeValue`) and optional
//!   `extraLabels`, as cAdvisor declares its families; the labels every row
//!   shares come from the source's spec ([`super::sources`]).
//!
//! Strings are string literals, `+` concatenations, `fmt.Sprintf` with `%s`
//! / `%v` / `%d` verbs, and package-level `const`/`var` strings, also from
//! other packages (`constants.Loki`); values known only at run time come from
//! the spec's bindings. Every registration whose name cannot be resolved is
//! reported, not guessed. A registration inside `if x.Has(<group>) { … }` gets
//! that group (cAdvisor's `--disable_metrics` groups).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use tree_sitter::{Node, Parser, Tree};

/// A Go file to read: its path relative to the checkout, and its text.
#[derive(Debug)]
pub struct GoFile {
    pub path: String,
    pub text: String,
}

/// How the files of one source are read.
#[derive(Debug, Default)]
pub struct ReadRules {
    /// Expression text -> value, for names that only run-time configuration
    /// decides (`cfg.MetricsNamespace`).
    pub bindings: BTreeMap<String, String>,
    /// Expression text -> label names, for label lists built at run time
    /// (cAdvisor's `labels`, the container labels of every series).
    pub label_bindings: BTreeMap<String, Vec<String>>,
    /// Path prefix -> labels every row of a metric table in those files has.
    pub table_labels: Vec<(String, Vec<String>)>,
}

/// One metric family registered in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: &'static str,
    pub help: String,
    /// `None` when the label names are not literal in the source.
    pub labels: Option<Vec<String>>,
    pub group: Option<String>,
    /// The file it was found in.
    pub file: String,
}

/// A registration the reader saw but could not resolve, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub file: String,
    pub line: usize,
    pub what: String,
}

/// What one pass over the files found.
#[derive(Debug, Default)]
pub struct Found {
    pub registrations: Vec<Registration>,
    pub unresolved: Vec<Unresolved>,
}

struct Parsed {
    path: String,
    package: String,
    text: String,
    tree: Tree,
}

/// Parses every file and returns the registrations, in file order.
pub fn read(files: &[GoFile], rules: &ReadRules) -> anyhow::Result<Found> {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_go::LANGUAGE.into()).context("loading the tree-sitter Go grammar")?;
    let mut parsed = Vec::with_capacity(files.len());
    for f in files {
        let Some(tree) = parser.parse(&f.text, None) else { bail!("{}: tree-sitter could not parse it", f.path) };
        let package = package_name(&tree, &f.text).unwrap_or_default();
        parsed.push(Parsed { path: f.path.clone(), package, text: f.text.clone(), tree });
    }
    let scope = Scope::collect(&parsed, rules);
    let mut found = Found::default();
    for (i, p) in parsed.iter().enumerate() {
        let mut stack = vec![p.tree.root_node()];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "composite_literal" => scope.composite(i, node, &mut found),
                // `{name: ..., help: ...}` inside a slice literal: a row whose
                // type the slice's element type gives.
                "literal_value" if node.parent().is_some_and(|p| p.kind() == "literal_element") => {
                    scope.untyped_row(i, node, &mut found);
                }
                "call_expression" => scope.new_desc(i, node, &mut found),
                _ => {}
            }
            let mut cursor = node.walk();
            let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    Ok(found)
}

fn package_name(tree: &Tree, text: &str) -> Option<String> {
    let root = tree.root_node();
    let mut cursor = root.walk();
    let clause = root.named_children(&mut cursor).find(|n| n.kind() == "package_clause")?;
    let mut cursor = clause.walk();
    let ident = clause.named_children(&mut cursor).find(|n| n.kind() == "package_identifier")?;
    Some(text[ident.byte_range()].to_owned())
}

/// Package-level `const` and `var` values, by (package, name).
struct Scope<'a> {
    files: &'a [Parsed],
    rules: &'a ReadRules,
    values: BTreeMap<(String, String), (usize, Node<'a>)>,
}

impl<'a> Scope<'a> {
    fn collect(files: &'a [Parsed], rules: &'a ReadRules) -> Scope<'a> {
        let mut values = BTreeMap::new();
        for (i, p) in files.iter().enumerate() {
            let root = p.tree.root_node();
            let mut cursor = root.walk();
            for decl in root.named_children(&mut cursor) {
                if !matches!(decl.kind(), "const_declaration" | "var_declaration") {
                    continue;
                }
                let mut specs = Vec::new();
                collect_specs(decl, &mut specs);
                for spec in specs {
                    let mut names = Vec::new();
                    let mut c = spec.walk();
                    for n in spec.children_by_field_name("name", &mut c) {
                        names.push(p.text[n.byte_range()].to_owned());
                    }
                    let Some(list) = spec.child_by_field_name("value") else { continue };
                    let mut c = list.walk();
                    let exprs: Vec<Node<'_>> = list.named_children(&mut c).collect();
                    for (name, expr) in names.into_iter().zip(exprs) {
                        values.entry((p.package.clone(), name)).or_insert((i, expr));
                    }
                }
            }
        }
        Scope { files, rules, values }
    }

    fn text(&self, file: usize, node: Node<'_>) -> &'a str {
        &self.files[file].text[node.byte_range()]
    }

    /// A constant string expression's value.
    fn string(&self, file: usize, node: Node<'_>, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let text = self.text(file, node);
        if let Some(v) = self.rules.bindings.get(text) {
            return Some(v.clone());
        }
        match node.kind() {
            "interpreted_string_literal" => Some(unquote(text)),
            "raw_string_literal" => Some(text.trim_matches('`').to_owned()),
            "parenthesized_expression" | "literal_element" => self.string(file, node.named_child(0)?, depth + 1),
            "binary_expression" => {
                let op = node.child_by_field_name("operator")?;
                if self.text(file, op) != "+" {
                    return None;
                }
                let left = self.string(file, node.child_by_field_name("left")?, depth + 1)?;
                let right = self.string(file, node.child_by_field_name("right")?, depth + 1)?;
                Some(left + &right)
            }
            "identifier" => self.lookup(&self.files[file].package, text, depth),
            "selector_expression" => {
                let operand = node.child_by_field_name("operand")?;
                let field = node.child_by_field_name("field")?;
                self.lookup(self.text(file, operand), self.text(file, field), depth)
            }
            "call_expression" => {
                let function = self.text(file, node.child_by_field_name("function")?);
                let args = arguments(node);
                match function {
                    "prometheus.BuildFQName" if args.len() == 3 => {
                        let parts: Option<Vec<String>> =
                            args.iter().map(|a| self.string(file, *a, depth + 1)).collect();
                        Some(fq_name(&parts?))
                    }
                    "fmt.Sprintf" if !args.is_empty() => {
                        let format = self.string(file, args[0], depth + 1)?;
                        let values: Option<Vec<String>> =
                            args[1..].iter().map(|a| self.string(file, *a, depth + 1)).collect();
                        sprintf(&format, &values?)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn lookup(&self, package: &str, name: &str, depth: usize) -> Option<String> {
        let (file, node) = self.values.get(&(package.to_owned(), name.to_owned()))?;
        self.string(*file, *node, depth + 1)
    }

    /// A label list: `[]string{...}`, `nil`, or a package-level variable
    /// holding one. `None` when not literal.
    fn labels(&self, file: usize, node: Node<'_>, depth: usize) -> Option<Vec<String>> {
        if depth > 8 {
            return None;
        }
        if let Some(bound) = self.rules.label_bindings.get(self.text(file, node)) {
            return Some(bound.clone());
        }
        match node.kind() {
            "nil" => Some(Vec::new()),
            "composite_literal" if self.text(file, node.child_by_field_name("type")?) == "[]string" => {
                let body = node.child_by_field_name("body")?;
                let mut c = body.walk();
                let elements: Vec<Node<'_>> = body.named_children(&mut c).collect();
                elements.into_iter().map(|e| self.string(file, e, depth + 1)).collect()
            }
            "identifier" => {
                let package = &self.files[file].package;
                let (f, n) = self.values.get(&(package.clone(), self.text(file, node).to_owned()))?;
                self.labels(*f, *n, depth + 1)
            }
            _ => None,
        }
    }

    /// The group of the outermost `if x.Has(<group>) { … }` whose body holds
    /// the node: switching that group off removes the family, whatever inner
    /// conditions (cAdvisor's per-CPU perf events inside `perf_event`) add.
    fn group(&self, file: usize, node: Node<'_>) -> Option<String> {
        let mut group = None;
        let mut inner = node;
        let mut at = node.parent();
        while let Some(n) = at {
            if n.kind() == "if_statement"
                && n.child_by_field_name("consequence").is_some_and(|c| c.id() == inner.id())
                && let Some(cond) = n.child_by_field_name("condition")
                && cond.kind() == "call_expression"
                && let Some(function) = cond.child_by_field_name("function")
                && function.kind() == "selector_expression"
                && function.child_by_field_name("field").is_some_and(|f| self.text(file, f) == "Has")
                && let [arg] = arguments(cond)[..]
                && let Some(g) = self.string(file, arg, 0)
            {
                group = Some(g);
            }
            inner = n;
            at = n.parent();
        }
        group
    }

    fn unresolved(&self, file: usize, node: Node<'_>, what: &str, found: &mut Found) {
        found.unresolved.push(Unresolved {
            file: self.files[file].path.clone(),
            line: node.start_position().row + 1,
            what: what.to_owned(),
        });
    }

    fn composite(&self, file: usize, node: Node<'_>, found: &mut Found) {
        let ty = node.child_by_field_name("type").map(|t| self.text(file, t));
        let opts_kind = ty.and_then(|t| {
            Some(match t.rsplit('.').next()? {
                "CounterOpts" => "counter",
                "GaugeOpts" => "gauge",
                "HistogramOpts" => "histogram",
                "SummaryOpts" => "summary",
                _ => return None,
            })
        });
        let Some(body) = node.child_by_field_name("body") else { return };
        let fields = self.keyed_fields(file, body);
        if let Some(kind) = opts_kind {
            self.opts(file, node, kind, &fields, found);
        } else if fields.contains_key("name") && fields.contains_key("help") && fields.contains_key("valueType") {
            self.table_row(file, node, &fields, found);
        }
    }

    fn untyped_row(&self, file: usize, body: Node<'_>, found: &mut Found) {
        let fields = self.keyed_fields(file, body);
        if fields.contains_key("name") && fields.contains_key("help") && fields.contains_key("valueType") {
            self.table_row(file, body, &fields, found);
        }
    }

    fn keyed_fields(&self, file: usize, body: Node<'a>) -> BTreeMap<String, Node<'a>> {
        let mut out = BTreeMap::new();
        let mut c = body.walk();
        for element in body.named_children(&mut c).filter(|e| e.kind() == "keyed_element") {
            let (Some(key), Some(value)) = (element.named_child(0), element.named_child(1)) else { continue };
            let key = self.text(file, key).trim().to_owned();
            let value = if value.kind() == "literal_element" { value.named_child(0).unwrap_or(value) } else { value };
            out.insert(key, value);
        }
        out
    }

    fn opts(
        &self,
        file: usize,
        node: Node<'_>,
        kind: &'static str,
        fields: &BTreeMap<String, Node<'_>>,
        found: &mut Found,
    ) {
        let part = |key: &str| match fields.get(key) {
            None => Some(String::new()),
            Some(n) => self.string(file, *n, 0),
        };
        let (Some(namespace), Some(subsystem), Some(name)) = (part("Namespace"), part("Subsystem"), part("Name"))
        else {
            let shown = fields.get("Name").map_or("(no Name)", |n| self.text(file, *n));
            self.unresolved(file, node, &format!("{kind} Opts with name {shown}"), found);
            return;
        };
        if name.is_empty() {
            self.unresolved(file, node, &format!("{kind} Opts without a Name"), found);
            return;
        }
        let help = fields.get("Help").and_then(|h| self.string(file, *h, 0)).unwrap_or_default();
        let mut labels = self.constructor_labels(file, node);
        if let Some(constant) = fields.get("ConstLabels") {
            labels = match (labels, self.map_keys(file, *constant)) {
                (Some(mut l), Some(keys)) => {
                    l.extend(keys);
                    Some(l)
                }
                _ => None,
            };
        }
        found.registrations.push(Registration {
            name: fq_name(&[namespace, subsystem, name]),
            kind,
            help,
            labels,
            group: self.group(file, node),
            file: self.files[file].path.clone(),
        });
    }

    /// Labels given by the call an Opts literal is the first argument of.
    fn constructor_labels(&self, file: usize, opts: Node<'_>) -> Option<Vec<String>> {
        let list = opts.parent().filter(|p| p.kind() == "argument_list")?;
        let call = list.parent().filter(|p| p.kind() == "call_expression")?;
        let args = arguments(call);
        if args.first().map(Node::id) != Some(opts.id()) {
            return None;
        }
        let function = self.text(file, call.child_by_field_name("function")?);
        let constructor = function.rsplit('.').next()?;
        if !constructor.starts_with("New") {
            return None;
        }
        if constructor.ends_with("Vec") { self.labels(file, *args.get(1)?, 0) } else { Some(Vec::new()) }
    }

    /// The keys of a `prometheus.Labels{"k": v, ...}` literal.
    fn map_keys(&self, file: usize, node: Node<'_>) -> Option<Vec<String>> {
        if node.kind() != "composite_literal" {
            return None;
        }
        let body = node.child_by_field_name("body")?;
        let mut c = body.walk();
        let elements: Vec<Node<'_>> = body.named_children(&mut c).collect();
        elements
            .into_iter()
            .map(|e| if e.kind() == "keyed_element" { self.string(file, e.named_child(0)?, 0) } else { None })
            .collect()
    }

    fn table_row(&self, file: usize, node: Node<'_>, fields: &BTreeMap<String, Node<'_>>, found: &mut Found) {
        let Some(name) = self.string(file, fields["name"], 0) else {
            self.unresolved(file, node, &format!("table row named {}", self.text(file, fields["name"])), found);
            return;
        };
        let kind = match self.text(file, fields["valueType"]).rsplit('.').next() {
            Some("CounterValue") => "counter",
            Some("GaugeValue") => "gauge",
            _ => "untyped",
        };
        let path = &self.files[file].path;
        let base = self.rules.table_labels.iter().find(|(prefix, _)| path.starts_with(prefix.as_str()));
        let labels = match (base, fields.get("extraLabels")) {
            (None, _) => None,
            (Some((_, base)), None) => Some(base.clone()),
            (Some((_, base)), Some(extra)) => self.labels(file, *extra, 0).map(|extra| [base.clone(), extra].concat()),
        };
        found.registrations.push(Registration {
            name,
            kind,
            help: self.string(file, fields["help"], 0).unwrap_or_default(),
            labels,
            group: self.group(file, node),
            file: path.clone(),
        });
    }

    fn new_desc(&self, file: usize, node: Node<'_>, found: &mut Found) {
        let Some(function) = node.child_by_field_name("function") else { return };
        if self.text(file, function) != "prometheus.NewDesc" {
            return;
        }
        let args = arguments(node);
        let [name, help, labels, ..] = args[..] else { return };
        let Some(name) = self.string(file, name, 0) else {
            self.unresolved(file, node, &format!("NewDesc named {}", self.text(file, name)), found);
            return;
        };
        let mut labels = self.labels(file, labels, 0);
        if let (Some(l), Some(constant)) = (labels.as_mut(), args.get(3)) {
            match constant.kind() {
                "nil" => {}
                _ => match self.map_keys(file, *constant) {
                    Some(keys) => l.extend(keys),
                    None => labels = None,
                },
            }
        }
        found.registrations.push(Registration {
            kind: self.desc_kind(file, node).unwrap_or("untyped"),
            name,
            help: self.string(file, help, 0).unwrap_or_default(),
            labels,
            group: self.group(file, node),
            file: self.files[file].path.clone(),
        });
    }
}

impl Scope<'_> {
    /// The value type a descriptor is sent with: the first
    /// `prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, ...)` after
    /// `desc := prometheus.NewDesc(...)` (or `var desc = ...`) that sends the
    /// same variable, in the same block (the same file for a package variable).
    fn desc_kind(&self, file: usize, call: Node<'_>) -> Option<&'static str> {
        let list = call.parent().filter(|p| p.kind() == "expression_list")?;
        let holder = list.parent()?;
        let (variable, scope) = match holder.kind() {
            "short_var_declaration" | "assignment_statement" => {
                (self.text(file, holder.child_by_field_name("left")?), holder.parent()?)
            }
            "var_spec" => (self.text(file, holder.child_by_field_name("name")?), self.files[file].tree.root_node()),
            _ => return None,
        };
        let mut best: Option<(usize, &'static str)> = None;
        let mut stack = vec![scope];
        while let Some(n) = stack.pop() {
            if n.kind() == "call_expression"
                && n.start_byte() > call.end_byte()
                && best.is_none_or(|(at, _)| n.start_byte() < at)
                && let Some(function) = n.child_by_field_name("function")
                && self.text(file, function).ends_with("NewConstMetric")
                && let [desc, value_type, ..] = arguments(n)[..]
                && self.text(file, desc) == variable
            {
                let kind = match self.text(file, value_type).rsplit('.').next() {
                    Some("CounterValue") => "counter",
                    Some("GaugeValue") => "gauge",
                    _ => "untyped",
                };
                best = Some((n.start_byte(), kind));
            }
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
        best.map(|(_, kind)| kind).filter(|k| *k != "untyped")
    }
}

fn collect_specs<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
    let mut c = node.walk();
    for child in node.named_children(&mut c) {
        match child.kind() {
            "const_spec" | "var_spec" => out.push(child),
            "var_spec_list" => collect_specs(child, out),
            _ => {}
        }
    }
}

fn arguments(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(list) = call.child_by_field_name("arguments") else { return Vec::new() };
    let mut c = list.walk();
    list.named_children(&mut c).filter(|n| n.kind() != "comment").collect()
}

/// client_golang's `BuildFQName`: the non-empty parts joined by `_`.
fn fq_name(parts: &[String]) -> String {
    parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("_")
}

/// `fmt.Sprintf` for the verbs that format a string as itself.
fn sprintf(format: &str, values: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' | 'v' | 'd' => out.push_str(values.next()?),
            _ => return None,
        }
    }
    Some(out)
}

/// The value of a Go interpreted string literal (`"..."`).
fn unquote(literal: &str) -> String {
    let inner = literal.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(literal);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
