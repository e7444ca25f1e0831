//! `replicas-with-hpa`: `spec.replicas` on a workload an HPA scales.

use berth_model::Severity;
use berth_model::ValueExt;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "replicas-with-hpa",
    severity: Severity::Warning,
    summary: "`spec.replicas` set on a workload an HPA scales",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds Deployments, StatefulSets and ReplicaSets that set `spec.replicas` while a
HorizontalPodAutoscaler in the stack scales them.

## Why is this bad?
Every apply sets the replica count back to the manifest's number, fighting the HPA: a stack
scaled to 12 pods under load drops to 3 on the next `berth up`, then the HPA scales it up again.
With server-side apply the field also stays owned by berth, so the HPA's changes conflict.

## Example
```yaml
kind: StatefulSet
spec:
  replicas: 3          # and an HPA with minReplicas: 3
```

## Fix
Remove `spec.replicas` from the manifest and set `minReplicas` on the HPA instead; the HPA owns
the replica count.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for hpa in ctx.of_kind("HorizontalPodAutoscaler") {
        let Some(t) = ctx.hpa_target(*hpa) else {
            continue;
        };
        let w = ctx.object(t);
        if w.value.at("/spec/replicas").is_some_and(|v| !v.is_null()) {
            out.at(
                w,
                "/spec/replicas",
                format!(
                    "{} sets spec.replicas, but {} scales it",
                    w.display_name(),
                    ctx.object(*hpa).display_name()
                ),
                "remove spec.replicas and set the HPA's minReplicas instead",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
";
    const HPA: &str = "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
";

    #[test]
    fn fires_with_hpa() {
        let f = check(&RULE, &format!("{DEPLOY}{HPA}"));
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_without_hpa_or_replicas() {
        assert!(check(&RULE, DEPLOY).is_empty());
        assert!(
            check(
                &RULE,
                &format!("{}{HPA}", DEPLOY.replace("  replicas: 2\n", ""))
            )
            .is_empty()
        );
    }
}
