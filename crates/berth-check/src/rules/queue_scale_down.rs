//! `queue-scale-down`: scaling down a workload that keeps messages on its volume.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "queue-scale-down",
    severity: Severity::Error,
    summary: "an HPA or scale-down on a workload marked `berth.dev/holds-queue`",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
For workloads annotated `berth.dev/holds-queue: \"true\"` (they keep queued messages on their own
volume, like Boomi Atom Queues), reports an HPA that scales them, and, when the stack runs a
cluster-autoscaler, pods that it may evict to remove a node
(no `cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"`).

## Why is this bad?
When a pod that holds a queue is removed, the messages on its volume are no longer processed:
a scale-down by the HPA or a node drain by the cluster-autoscaler silently loses or strands
data. The Boomi Molecule documentation warns about exactly this.

## Example
```yaml
kind: StatefulSet
metadata:
  annotations: {berth.dev/holds-queue: \"true\"}
---
kind: HorizontalPodAutoscaler   # scales it down when load drops
```

## Fix
Do not autoscale a queue holder down: remove the HPA (or give it
`behavior.scaleDown.selectPolicy: Disabled`), and annotate its pod template with
`cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"`. Drain queues before scaling by hand.
";

fn scale_down_disabled(hpa: &Value) -> bool {
    hpa.at("/spec/behavior/scaleDown/selectPolicy")
        .and_then(Value::as_str)
        == Some("Disabled")
}

fn has_cluster_autoscaler(ctx: &Context<'_>) -> bool {
    ctx.pod_templates.iter().any(|t| {
        t.containers().iter().any(|c| {
            c.value
                .member("image")
                .and_then(Value::as_str)
                .is_some_and(|i| i.contains("cluster-autoscaler"))
        })
    })
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let mut ca = None;
    for t in &ctx.pod_templates {
        let w = ctx.object(t.object);
        if !berth_model::holds_queue(&w.value) {
            continue;
        }
        for h in ctx.hpas_of(t.object) {
            let hpa = ctx.object(h);
            if scale_down_disabled(&hpa.value) {
                continue;
            }
            out.at(
                hpa,
                "/spec/scaleTargetRef",
                format!("{} scales down {}, which holds a queue on its volume: messages are lost", hpa.display_name(), w.display_name()),
                "remove the HPA or set behavior.scaleDown.selectPolicy: Disabled; drain the queue before scaling down",
            );
        }
        let ca_present = *ca.get_or_insert_with(|| has_cluster_autoscaler(ctx));
        let safe = t
            .value
            .at("/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict")
            .and_then(Value::as_str);
        if ca_present && safe != Some("false") {
            out.at(
                w,
                &format!("{}/metadata", t.pointer),
                format!("the cluster-autoscaler may evict pods of {}, which holds a queue on its volume", w.display_name()),
                "annotate the pod template with cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STS: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: molecule
  annotations: {berth.dev/holds-queue: 'true'}
spec:
  serviceName: molecule
  selector: {matchLabels: {app: molecule}}
  template:
    metadata: {labels: {app: molecule}}
    spec:
      containers: [{name: m, image: boomi/molecule:5.0.1}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: molecule}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: molecule}
  minReplicas: 3
  maxReplicas: 20
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cluster-autoscaler, namespace: kube-system}
spec:
  selector: {matchLabels: {app: ca}}
  template:
    metadata: {labels: {app: ca}}
    spec:
      containers: [{name: ca, image: registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.0}]
";

    #[test]
    fn fires_on_hpa_and_evictable_pods() {
        let f = check(&RULE, STS);
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_protected_or_unmarked() {
        let protected = STS
            .replace("  maxReplicas: 20\n", "  maxReplicas: 20\n  behavior: {scaleDown: {selectPolicy: Disabled}}\n")
            .replace(
                "    metadata: {labels: {app: molecule}}",
                "    metadata:\n      labels: {app: molecule}\n      annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: 'false'}",
            );
        assert!(
            check(&RULE, &protected).is_empty(),
            "{:#?}",
            check(&RULE, &protected)
        );
        assert!(
            check(
                &RULE,
                &STS.replace("berth.dev/holds-queue: 'true'", "team: x")
            )
            .is_empty()
        );
    }
}
