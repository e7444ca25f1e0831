//! `karpenter-do-not-disrupt`: queue holders and draining StatefulSets that Karpenter's
//! consolidation may move.

use berth_model::ValueExt;
use berth_model::karpenter::{self, DO_NOT_DISRUPT};
use berth_model::{Severity, holds_queue};
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::nodepools::{admitting, pools};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "karpenter-do-not-disrupt",
    severity: Severity::Warning,
    summary: "a queue holder or draining StatefulSet without `karpenter.sh/do-not-disrupt` on a Karpenter or Auto Mode cluster",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
On a cluster whose nodes Karpenter scales (`cluster.nodes: karpenter` or `auto-mode` in
berth.yaml, or NodePools in the stack), finds workloads marked `berth.dev/holds-queue: \"true\"`,
and StatefulSets whose containers have a `preStop` hook (their pods drain work when stopped),
whose pod template lacks `karpenter.sh/do-not-disrupt: \"true\"` and that can land on a NodePool
that consolidates underutilized nodes.

## Why is this bad?
Karpenter's consolidation deletes a node to save cost whenever its pods fit elsewhere, and
evicts them to do so; so does drift when the AMI changes. A pod that holds a queue on its volume
stops processing it, exactly as with a cluster-autoscaler scale-down, but on Karpenter's schedule
rather than yours, and `cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"` means nothing
to Karpenter. The annotation works like a PodDisruptionBudget that never allows an eviction: the
node stays until the pod is gone (expiry and interruption still apply).

## Example
```yaml
kind: StatefulSet
metadata:
  annotations: {berth.dev/holds-queue: \"true\"}
spec:
  template:
    metadata:
      annotations:
        cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"   # Karpenter ignores it
```

## Fix
Annotate the pod template (it is harmless on other clusters):
```yaml
  template:
    metadata:
      annotations:
        karpenter.sh/do-not-disrupt: \"true\"
```
or schedule the pods on a NodePool with `disruption.consolidationPolicy: WhenEmpty` only
(`berth cluster config --nodes karpenter` writes one, `queue-holders`).
";

fn drains(workload: &Value) -> bool {
    workload
        .at("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.at("/lifecycle/preStop").is_some())
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    if !karpenter::on_karpenter(ctx.stack) {
        return;
    }
    let pools = pools(ctx);
    for t in &ctx.pod_templates {
        let o = ctx.object(t.object);
        let kind = o.kind();
        if !matches!(kind, "Deployment" | "StatefulSet") {
            continue;
        }
        let why = if holds_queue(&o.value) {
            "holds a queue (`berth.dev/holds-queue`)"
        } else if kind == "StatefulSet" && drains(&o.value) {
            "drains its work when stopped (a `preStop` hook)"
        } else {
            continue;
        };
        if karpenter::do_not_disrupt(t.value.member("metadata")) {
            continue;
        }
        // Safe when every pool it can land on only removes empty nodes.
        let on = admitting(&pools, t);
        if !on.is_empty() && on.iter().all(|p| p.when_empty) {
            continue;
        }
        let pointer = if t.value.at("/metadata/annotations").is_some() {
            format!("{}/metadata/annotations", t.pointer)
        } else {
            format!("{}/metadata", t.pointer)
        };
        out.at(
            o,
            &pointer,
            format!(
                "{} {why}, and Karpenter's consolidation may evict its pods: the pod template has no `{DO_NOT_DISRUPT}: \"true\"`",
                o.display_name()
            ),
            format!("add `{DO_NOT_DISRUPT}: \"true\"` to the pod template's annotations, or schedule it on a NodePool with `consolidationPolicy: WhenEmpty`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{render, run, stack};
    use berth_model::{ClusterSpec, NodeMode};

    const QUEUE: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: molecule
  annotations: {berth.dev/holds-queue: \"true\"}
spec:
  serviceName: molecule
  selector: {matchLabels: {app: molecule}}
  template:
    metadata:
      labels: {app: molecule}
      annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"}
    spec:
      containers:
        - name: m
          image: boomi/molecule:5.0.1
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          image: postgres:17
          lifecycle: {preStop: {exec: {command: [pg_ctl, stop]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: w, image: nginx:1.27}]
";

    const POOL: &str = "
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: []
";

    fn with_mode(yaml: &str, nodes: Option<NodeMode>) -> berth_model::Stack {
        let mut s = stack(yaml);
        s.cluster = Some(ClusterSpec {
            name: "c".into(),
            region: None,
            zones: vec![],
            node_groups: vec![],
            nodes,
            file_systems: Vec::new(),
        });
        s
    }

    #[test]
    fn fires_on_queue_holders_and_draining_statefulsets_on_karpenter() {
        let f = run(&RULE, &with_mode(QUEUE, Some(NodeMode::Karpenter)));
        assert_eq!(f.len(), 2, "{f:#?}");
        insta::assert_snapshot!(render(&f));
        // NodePools in the stack make it a Karpenter cluster too.
        let f = run(&RULE, &stack(&format!("{QUEUE}{POOL}")));
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(
            run(&RULE, &with_mode(QUEUE, Some(NodeMode::AutoMode))).len(),
            2
        );
    }

    #[test]
    fn silent_without_karpenter_or_with_the_annotation_or_a_when_empty_pool() {
        assert!(run(&RULE, &stack(QUEUE)).is_empty());
        assert!(run(&RULE, &with_mode(QUEUE, Some(NodeMode::ClusterAutoscaler))).is_empty());
        let annotated = QUEUE
            .replace(
                "annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"}",
                "annotations: {karpenter.sh/do-not-disrupt: \"true\"}",
            )
            .replace(
                "metadata: {labels: {app: db}}",
                "metadata: {labels: {app: db}, annotations: {karpenter.sh/do-not-disrupt: \"true\"}}",
            );
        assert!(run(&RULE, &with_mode(&annotated, Some(NodeMode::Karpenter))).is_empty());
        // Only a WhenEmpty pool can take them.
        let when_empty = format!(
            "{QUEUE}{}",
            POOL.replace(
                "requirements: []",
                "requirements: []\n  disruption: {consolidationPolicy: WhenEmpty}"
            )
        );
        assert!(run(&RULE, &stack(&when_empty)).is_empty());
    }
}
