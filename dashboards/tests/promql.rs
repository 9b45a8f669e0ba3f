//! Every Prometheus query parses as PromQL, and the metrics they read are
//! listed in a snapshot, so that a change in what the dashboards need shows
//! in review beside the metric catalog.

use std::collections::BTreeSet;

use dashboards::{Datasource, all};
use promql_parser::parser::{self, Expr};

/// The query with Grafana's macros and variables replaced by values PromQL
/// accepts: durations for the interval macros, a plain word elsewhere (our
/// variables only ever appear inside label matcher strings).
fn expand(expr: &str) -> String {
    let mut out = expr.to_owned();
    for mac in ["$__rate_interval", "$__interval", "$__range", "$__auto"] {
        out = out.replace(mac, "5m");
    }
    let mut expanded = String::new();
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            expanded.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
            }
        } else {
            while chars.peek().is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                chars.next();
            }
        }
        expanded.push('x');
    }
    expanded
}

fn metric_names(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, names);
            if let Some(param) = &a.param {
                metric_names(param, names);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, names),
        Expr::Binary(b) => {
            metric_names(&b.lhs, names);
            metric_names(&b.rhs, names);
        }
        Expr::Paren(p) => metric_names(&p.expr, names),
        Expr::Subquery(s) => metric_names(&s.expr, names),
        Expr::VectorSelector(vs) => {
            names.extend(vs.name.clone());
        }
        Expr::MatrixSelector(ms) => {
            names.extend(ms.vs.name.clone());
        }
        Expr::Call(call) => {
            for arg in &call.args.args {
                metric_names(arg, names);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

#[test]
fn every_prometheus_query_parses() {
    let mut failures = Vec::new();
    for d in all() {
        for q in d.queries().into_iter().filter(|q| q.datasource == Datasource::Prometheus) {
            if let Err(err) = parser::parse(&expand(&q.expr)) {
                failures.push(format!(
                    "{} panel {} {:?} target {}: {err}\n  {}",
                    q.dashboard_uid, q.panel_id, q.panel_title, q.ref_id, q.expr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn metrics_read_by_the_dashboards() {
    let mut names = BTreeSet::new();
    for d in all() {
        for q in d.queries().into_iter().filter(|q| q.datasource == Datasource::Prometheus) {
            if let Ok(expr) = parser::parse(&expand(&q.expr)) {
                metric_names(&expr, &mut names);
            }
        }
    }
    let list: Vec<String> = names.into_iter().collect();
    insta::assert_snapshot!("metric_names", list.join("\n"));
}

#[test]
fn expand_replaces_macros_and_variables() {
    assert_eq!(expand(r#"rate(a{n=~"$node", s="${svc:regex}"}[$__rate_interval])"#), r#"rate(a{n=~"x", s="x"}[5m])"#);
}
