//! Every rule expression parses as PromQL, and every metric it reads is fed
//! by some promtool test (or is a recording rule's output), so the tests
//! exercise the real series names.

use std::collections::BTreeSet;

use alerts::{Context, expressions, recorded_metric_names, rule_files};
use promql_parser::parser::{Expr, parse};

/// Metric names of every selector, walking the whole tree (the crate's
/// `walk_expr` skips aggregation parameters).
fn metric_names(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => out.extend(vs.name.clone()),
        Expr::MatrixSelector(ms) => out.extend(ms.vs.name.clone()),
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(p) = &a.param {
                metric_names(p, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(s) => metric_names(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| metric_names(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn used_metrics() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in expressions(&Context::default()) {
        let ast = parse(&e.expr).unwrap_or_else(|err| panic!("{} / {}: {err}\n{}", e.file, e.rule, e.expr));
        metric_names(&ast, &mut names);
    }
    names
}

#[test]
fn every_expression_parses() {
    assert!(!used_metrics().is_empty());
}

#[test]
fn every_read_metric_appears_in_test_input() {
    let recorded: BTreeSet<String> = recorded_metric_names(&Context::default()).into_iter().collect();
    let mut fed = BTreeSet::new();
    for file in rule_files(&Context::default()) {
        for (_, alert) in file.alerts() {
            for case in &alert.tests {
                for s in &case.input {
                    let name: String =
                        s.series.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
                    fed.insert(name);
                }
            }
        }
    }
    let missing: Vec<String> =
        used_metrics().into_iter().filter(|m| !recorded.contains(m) && !fed.contains(m)).collect();
    assert!(missing.is_empty(), "metrics read by rules but in no test input: {missing:?}");
}

/// Prints the metric catalog the rules depend on (for the xtask's catalog
/// check and for reviewers): `cargo test -p alerts --test promql -- --nocapture`.
#[test]
fn print_metric_catalog() {
    let recorded: BTreeSet<String> = recorded_metric_names(&Context::default()).into_iter().collect();
    for m in used_metrics() {
        let origin = if recorded.contains(&m) { "recorded" } else { "input" };
        eprintln!("{origin}\t{m}");
    }
}
