//! `berth check`: the rules that find what would break a stack before anything is applied.
//!
//! [`check`] indexes a rendered [`Stack`] once ([`Context`]) and runs every rule of
//! [`rules::REGISTRY`] over it; each rule is one module in `rules/` with its id, severity, the
//! text `berth explain` prints, its logic and its tests. Schema validation uses Kubernetes
//! JSON schemas embedded in the binary ([`schemas`]). [`report`] renders findings for people
//! (like a compiler error), and as JSON or SARIF for machines. Nothing here needs a cluster.

pub mod autoscaler;
pub mod context;
pub mod k8s;
pub mod nodepools;
pub mod redact;
pub mod report;
pub mod rules;
pub mod schemas;
pub mod storage;

use berth_model::{Finding, Stack};

pub use context::Context;
pub use rules::{REGISTRY, Rule};

/// Runs every rule over `stack`; findings sorted by file, line, column and rule.
pub fn check(stack: &Stack) -> Vec<Finding> {
    check_rules(stack, REGISTRY)
}

/// Runs only `rules` (see [`select`]) over `stack`; findings sorted like [`check`]'s.
///
/// The rules run in parallel (rayon's pool, one task per rule) over one shared, read-only
/// [`Context`]; their findings are joined in registry order before sorting, so the result is
/// the same as one rule after the other.
pub fn check_rules(stack: &Stack, rules: &[&'static Rule]) -> Vec<Finding> {
    use rayon::prelude::*;
    let ctx = Context::new(stack);
    let per_rule: Vec<Vec<Finding>> = rules
        .par_iter()
        .map(|rule| {
            let mut findings = Vec::new();
            (rule.run)(&ctx, &mut rules::Out::new(rule, &mut findings));
            findings
        })
        .collect();
    let mut findings = per_rule.concat();
    sort(&mut findings);
    redact::redact(&ctx, &mut findings);
    findings
}

/// Orders findings like a compiler: by file, then position, then rule id.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.rule, &a.message)
            .cmp(&(&b.file, b.line, b.column, &b.rule, &b.message))
    });
}

/// The rules named by `ids`, or the unknown id.
pub fn select(ids: &[&str]) -> Result<Vec<&'static Rule>, String> {
    ids.iter()
        .map(|id| rules::find(id).ok_or_else(|| id.to_string()))
        .collect()
}
