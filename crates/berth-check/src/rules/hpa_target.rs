//! `hpa-target`: an HPA whose scaleTargetRef does not resolve.

use berth_model::{Severity, group_of};

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "hpa-target",
    severity: Severity::Error,
    summary: "an HPA whose scaleTargetRef does not resolve (kind, apiVersion, name)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Checks each HorizontalPodAutoscaler's `scaleTargetRef`: an object of that `kind` and `name` must
exist in the HPA's namespace (in the stack, or listed under `external:`), its API group must be
the one `apiVersion` names, and the kind must be scalable (Deployment, StatefulSet, ReplicaSet,
or a custom resource with a scale subresource).

## Why is this bad?
An HPA that points at nothing does nothing: the workload keeps its fixed replica count and the
HPA reports `FailedGetScale` in events nobody reads. A typo in the name, an HPA in another
namespace than its workload, or `kind: Deployment` for a StatefulSet all look fine in review.

## Example
```yaml
kind: HorizontalPodAutoscaler
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment        # the molecule is a StatefulSet
    name: molecule
```

## Fix
Make `scaleTargetRef` name the workload exactly: its `apiVersion` (`apps/v1`), `kind` and `name`,
and put the HPA in the workload's namespace.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for &h in ctx.of_kind("HorizontalPodAutoscaler") {
        let o = ctx.object(h);
        let v = &o.value;
        let (Some(kind), Some(name)) = (
            k8s::str_at(v, "/spec/scaleTargetRef/kind"),
            k8s::str_at(v, "/spec/scaleTargetRef/name"),
        ) else {
            continue; // the schema rule reports a missing scaleTargetRef field
        };
        let api_version = k8s::str_at(v, "/spec/scaleTargetRef/apiVersion").unwrap_or("");
        let ns = ctx.namespace_of(h);
        match ctx.hpa_target(h) {
            Some(t) => {
                let target = ctx.object(t);
                if group_of(api_version) != target.group() {
                    out.at(
                        o,
                        "/spec/scaleTargetRef/apiVersion",
                        format!(
                            "{} targets {kind} `{name}` in {}, but it is in {} ({})",
                            o.display_name(),
                            group_name(group_of(api_version)),
                            group_name(target.group()),
                            target.api_version()
                        ),
                        format!(
                            "set scaleTargetRef.apiVersion to `{}`",
                            target.api_version()
                        ),
                    );
                }
                let scalable = k8s::SCALABLE
                    .iter()
                    .any(|(g, k)| *g == target.group() && *k == kind)
                    || ctx.has_crd(target.group(), kind);
                if !scalable {
                    out.at(
                        o,
                        "/spec/scaleTargetRef/kind",
                        format!(
                            "{} targets {kind} `{name}`, which cannot be scaled",
                            o.display_name()
                        ),
                        "point the HPA at a Deployment, StatefulSet or ReplicaSet",
                    );
                }
            }
            None if ctx.is_external(kind, ns, name) => {}
            None => {
                let elsewhere: Vec<String> = k8s::SCALABLE
                    .iter()
                    .flat_map(|(_, k)| ctx.find_any_namespace(k, name).iter().map(move |&i| (k, i)))
                    .map(|(k, i)| format!("{k} `{name}` in namespace `{}`", ctx.namespace_of(i)))
                    .collect();
                let hint = if elsewhere.is_empty() {
                    String::new()
                } else {
                    format!(" (the stack has {})", elsewhere.join(", "))
                };
                out.at(
                    o,
                    "/spec/scaleTargetRef/name",
                    format!("{} scales {kind} `{name}`, which is not in namespace `{ns}`{hint}", o.display_name()),
                    "make scaleTargetRef name the workload's kind and name, and put the HPA in its namespace",
                );
            }
        }
    }
}

fn group_name(group: &str) -> String {
    if group.is_empty() {
        "the core API group".into()
    } else {
        format!("API group `{group}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STS: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: molecule}
spec:
  serviceName: molecule
  selector: {matchLabels: {app: molecule}}
  template:
    metadata: {labels: {app: molecule}}
    spec:
      containers: [{name: m, image: boomi/molecule:5.0.1}]
";

    fn hpa(api_version: &str, kind: &str, name: &str) -> String {
        format!(
            "{STS}---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: molecule-hpa}}
spec:
  scaleTargetRef: {{apiVersion: {api_version}, kind: {kind}, name: {name}}}
  minReplicas: 3
  maxReplicas: 20
"
        )
    }

    #[test]
    fn fires_on_wrong_kind_name_or_group() {
        let f = [
            check(&RULE, &hpa("apps/v1", "Deployment", "molecule")),
            check(&RULE, &hpa("apps/v1", "StatefulSet", "molecul")),
            check(&RULE, &hpa("v1", "StatefulSet", "molecule")),
        ]
        .concat();
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_it_resolves() {
        assert!(check(&RULE, &hpa("apps/v1", "StatefulSet", "molecule")).is_empty());
        // apps/v1beta1 still names group `apps`: api-removed reports the version, not this rule.
        assert!(check(&RULE, &hpa("apps/v1beta1", "StatefulSet", "molecule")).is_empty());
    }
}
