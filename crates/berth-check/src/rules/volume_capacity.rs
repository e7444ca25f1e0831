//! `volume-capacity`: claims that cannot bind to the volumes the stack provides for them.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;
use crate::storage::access_modes;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "volume-capacity",
    severity: Severity::Error,
    summary: "a PVC asking more than its PV offers, or access modes/storage class that cannot bind",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
For each PersistentVolumeClaim that binds to a PersistentVolume of the stack (by `volumeName`,
by the volume's `claimRef`, or by a storage class only static volumes use), checks that the
volume is at least as large as the request, offers every access mode the claim asks for, and has
the same `storageClassName` (a claim without one gets the cluster's default class and then cannot
bind to a volume of class `manual`).

## Why is this bad?
A claim that cannot bind stays `Pending` forever and so does every pod that mounts it; the
events only say \"no persistent volumes available for this claim\". Sizes drift apart when one
file is edited (`volumeSize: 5Gi` against a 1Gi volume) and a copied claim keeps `ReadWriteMany`
for a volume that only offers `ReadWriteOnce`.

## Example
```yaml
kind: PersistentVolume
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], storageClassName: manual}
---
kind: PersistentVolumeClaim
spec:
  volumeName: postgresql-data-pv
  storageClassName: manual
  resources: {requests: {storage: 5Gi}}
```

## Fix
Make the claim's request at most the volume's capacity, its access modes a subset of the
volume's, and its `storageClassName` equal to the volume's (write `storageClassName: \"\"` for
volumes without a class).
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for &c in ctx.of_kind("PersistentVolumeClaim") {
        let claim = ctx.object(c);
        let ns = ctx.namespace_of(c);
        let spec = claim.value.member("spec");
        let class = spec
            .and_then(|s| s.member("storageClassName"))
            .and_then(Value::as_str);
        let pv = k8s::str_at(&claim.value, "/spec/volumeName")
            .and_then(|n| ctx.find("PersistentVolume", "", n))
            .or_else(|| {
                ctx.of_kind("PersistentVolume").iter().copied().find(|&p| {
                    let v = &ctx.object(p).value;
                    k8s::str_at(v, "/spec/claimRef/name") == Some(claim.name())
                        && k8s::str_at(v, "/spec/claimRef/namespace").unwrap_or(ns) == ns
                })
            });
        if let Some(p) = pv {
            for problem in mismatches(&claim.value, &ctx.object(p).value) {
                out.at(
                    claim,
                    problem.0,
                    format!(
                        "{} cannot bind to {}: {}",
                        claim.display_name(),
                        ctx.object(p).display_name(),
                        problem.1
                    ),
                    problem.2,
                );
            }
            continue;
        }
        // Bound by class to static volumes only (no StorageClass object provisions it).
        let Some(class) = class.filter(|c| !c.is_empty()) else {
            continue;
        };
        if ctx.find("StorageClass", "", class).is_some() {
            continue;
        }
        let candidates: Vec<usize> = ctx
            .of_kind("PersistentVolume")
            .iter()
            .copied()
            .filter(|&p| k8s::str_at(&ctx.object(p).value, "/spec/storageClassName") == Some(class))
            .collect();
        if candidates.is_empty()
            || candidates
                .iter()
                .any(|&p| mismatches(&claim.value, &ctx.object(p).value).is_empty())
        {
            continue;
        }
        let why: Vec<String> = candidates
            .iter()
            .map(|&p| {
                format!(
                    "{} ({})",
                    ctx.object(p).display_name(),
                    mismatches(&claim.value, &ctx.object(p).value)[0].1
                )
            })
            .collect();
        out.at(
            claim,
            "/spec",
            format!("no PersistentVolume of class `{class}` can hold {}: {}", claim.display_name(), why.join("; ")),
            "make a volume of that class as large as the request, with the access modes the claim asks for",
        );
    }
}

/// Why `claim` cannot bind to `pv`: (pointer in the claim, reason, fix).
fn mismatches(claim: &Value, pv: &Value) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let want = claim.at("/spec/resources/requests/storage");
    let have = pv.at("/spec/capacity/storage");
    if let (Some(w), Some(h)) = (want.and_then(k8s::quantity), have.and_then(k8s::quantity))
        && w > h
    {
        out.push((
            "/spec/resources/requests/storage",
            format!(
                "it requests {} but the volume holds {}",
                show(want),
                show(have)
            ),
            format!("request at most {} or make the volume larger", show(have)),
        ));
    }
    let pv_modes = access_modes(pv.member("spec"));
    let missing: Vec<&str> = access_modes(claim.member("spec"))
        .into_iter()
        .filter(|m| !pv_modes.contains(m))
        .collect();
    if !missing.is_empty() {
        out.push((
            "/spec/accessModes",
            format!(
                "it asks for {} but the volume offers {}",
                missing.join(", "),
                if pv_modes.is_empty() {
                    "none".into()
                } else {
                    pv_modes.join(", ")
                }
            ),
            "ask only for access modes the volume offers".into(),
        ));
    }
    let claim_class = claim.at("/spec/storageClassName").and_then(Value::as_str);
    let pv_class = pv
        .at("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    match claim_class {
        Some(c) if c != pv_class => out.push((
            "/spec/storageClassName",
            format!("its storage class is `{c}` but the volume's is `{pv_class}`"),
            format!("set storageClassName: \"{pv_class}\""),
        )),
        None if !pv_class.is_empty() => out.push((
            "/spec",
            format!("it names no storage class, so it gets the cluster's default, but the volume's class is `{pv_class}`"),
            format!("set storageClassName: {pv_class}"),
        )),
        _ => {}
    }
    out
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const PV: &str = "
apiVersion: v1
kind: PersistentVolume
metadata: {name: postgresql-data-pv}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  awsElasticBlockStore: {volumeID: vol-1}
";

    fn claim(extra: &str, size: &str, mode: &str) -> String {
        format!(
            "{PV}---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: postgresql-data}}
spec:
{extra}  accessModes: [{mode}]
  resources: {{requests: {{storage: {size}}}}}
"
        )
    }

    #[test]
    fn fires_when_it_cannot_bind() {
        let mut f = check(
            &RULE,
            &claim(
                "  volumeName: postgresql-data-pv\n  storageClassName: manual\n",
                "5Gi",
                "ReadWriteOnce",
            ),
        );
        f.extend(check(
            &RULE,
            &claim("  volumeName: postgresql-data-pv\n", "1Gi", "ReadWriteMany"),
        ));
        f.extend(check(
            &RULE,
            &claim("  storageClassName: manual\n", "2Gi", "ReadWriteOnce"),
        ));
        assert_eq!(f.len(), 4, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_it_binds() {
        assert!(
            check(
                &RULE,
                &claim(
                    "  volumeName: postgresql-data-pv\n  storageClassName: manual\n",
                    "1Gi",
                    "ReadWriteOnce"
                )
            )
            .is_empty()
        );
        assert!(
            check(
                &RULE,
                &claim("  storageClassName: manual\n", "512Mi", "ReadWriteOnce")
            )
            .is_empty()
        );
        assert!(
            check(
                &RULE,
                &claim("  storageClassName: gp3\n", "50Gi", "ReadWriteOnce")
            )
            .is_empty()
        );
    }
}
