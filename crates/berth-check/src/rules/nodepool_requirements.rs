//! `nodepool-requirements`: pods whose node selector or required node affinity no NodePool can
//! satisfy.

use berth_model::Severity;
use berth_model::ValueExt;
use berth_model::karpenter;

use super::{Out, Rule};
use crate::context::Context;
use crate::nodepools::{admitting, pools};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "nodepool-requirements",
    severity: Severity::Error,
    summary: "a pod's nodeSelector or required node affinity that no NodePool's requirements satisfy",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
When the stack has Karpenter NodePools (or `cluster.nodes: auto-mode`, whose built-in
`general-purpose` pool counts), matches each pod template's `nodeSelector` and required node
affinity against every pool's template labels and requirements. Reports pods that no pool can
take: a label value a pool excludes, or a custom label no pool puts on its nodes. Labels Karpenter
sets on every node (`topology.kubernetes.io/zone`, `kubernetes.io/arch`,
`node.kubernetes.io/instance-type`, `karpenter.k8s.aws/*`, ...) match any pool that does not
restrict them.

## Why is this bad?
Karpenter only launches nodes that a pool allows and that carry the labels the pod asks for;
when none can, the pod stays Pending (`incompatible with nodepool ...` in Karpenter's events)
however much capacity the pools have.

## Example
```yaml
kind: NodePool
spec:
  template:
    metadata: {labels: {tier: web}}
---
kind: Deployment
spec:
  template:
    spec:
      nodeSelector: {tier: queue}     # no pool labels its nodes tier=queue
```

## Fix
Add the label to a pool's `spec.template.metadata.labels` (or a requirement that allows the
value), or change the pod's selector to one a pool offers.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let pools = pools(ctx);
    if pools.is_empty() {
        return;
    }
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    for t in &ctx.pod_templates {
        let Some(spec) = t.spec() else { continue };
        if karpenter::pod_terms(spec).is_empty() || !admitting(&pools, t).is_empty() {
            continue;
        }
        let o = ctx.object(t.object);
        let field = if spec.member("nodeSelector").is_some() {
            "nodeSelector"
        } else {
            "affinity/nodeAffinity"
        };
        let base = if t.pointer.is_empty() {
            "/spec".to_string()
        } else {
            format!("{}/spec", t.pointer)
        };
        out.at(
            o,
            &format!("{base}/{field}"),
            format!(
                "no NodePool can run the pods of {}: its node selector or affinity is not satisfied by any of {}",
                o.display_name(),
                names.join(", ")
            ),
            "add the labels to a NodePool's template (or allow the values in its requirements), or change the selector",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render, run as run_rule, stack};
    use berth_model::{ClusterSpec, NodeMode};

    const STACK: &str = "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: web}
spec:
  template:
    metadata: {labels: {tier: web}}
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      nodeSelector: {tier: queue}
      containers: [{name: w, image: nginx:1.27}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spot}
spec:
  selector: {matchLabels: {app: spot}}
  template:
    metadata: {labels: {app: spot}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
      containers: [{name: w, image: nginx:1.27}]
";

    #[test]
    fn fires_when_no_pool_satisfies_the_selector() {
        let f = check(&RULE, STACK);
        assert_eq!(f.len(), 2, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_a_pool_satisfies_it_or_there_are_no_pools() {
        let ok = STACK
            .replace(
                "nodeSelector: {tier: queue}",
                "nodeSelector: {tier: web, kubernetes.io/arch: amd64}",
            )
            .replace("values: [spot]}", "values: [spot, on-demand]}");
        assert!(check(&RULE, &ok).is_empty());
        let no_pools = STACK.split_once("---").unwrap().1;
        assert!(check(&RULE, no_pools).is_empty());
        // Auto Mode's built-in pool takes well-known labels but not custom ones.
        let mut s = stack(&no_pools.replace("values: [spot]}", "values: [on-demand]}"));
        s.cluster = Some(ClusterSpec {
            name: "c".into(),
            region: None,
            zones: vec![],
            node_groups: vec![],
            nodes: Some(NodeMode::AutoMode),
            file_systems: Vec::new(),
        });
        let f = run_rule(&RULE, &s);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].message.contains("worker"));
    }
}
