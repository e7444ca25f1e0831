//! `karpenter-discovery-tag`: an EC2NodeClass whose subnet or security-group selector looks for
//! another cluster's discovery tag.

use berth_model::Severity;
use berth_model::ValueExt;
use berth_model::karpenter::DISCOVERY_TAG;
use serde_json::Value;

use super::{Out, Rule};
use crate::autoscaler::cluster_facts;
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "karpenter-discovery-tag",
    severity: Severity::Error,
    summary: "an EC2NodeClass selecting subnets or security groups by another cluster's `karpenter.sh/discovery` tag",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Compares the `karpenter.sh/discovery` tag in each EC2NodeClass's `subnetSelectorTerms` and
`securityGroupSelectorTerms` with the cluster's name (berth.yaml `cluster.name`, or the eksctl
ClusterConfig in the stack).

## Why is this bad?
eksctl tags the cluster's subnets and node security group with `karpenter.sh/discovery: <cluster
name>`. A node class that looks for another value finds no subnets (Karpenter cannot launch a
node: the class is not Ready) or, worse, another cluster's, whose nodes never join this one.

## Example
```yaml
kind: EC2NodeClass
spec:
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: shop-staging}   # the cluster is shop-prod
```

## Fix
Use the cluster's name, or let `berth cluster config --nodes karpenter` write the node class from
the same `cluster:` section.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let Some(cluster) = cluster_facts(ctx).and_then(|f| f.name) else {
        return;
    };
    for &i in ctx.of_kind("EC2NodeClass") {
        let o = ctx.object(i);
        for field in ["subnetSelectorTerms", "securityGroupSelectorTerms"] {
            let terms = o
                .value
                .at(&format!("/spec/{field}"))
                .and_then(Value::as_array);
            for (k, term) in terms.into_iter().flatten().enumerate() {
                let Some(tag) = term.at("/tags").and_then(|t| t.get(DISCOVERY_TAG)) else {
                    continue;
                };
                let Some(tag) = tag.as_str() else { continue };
                if tag == cluster || tag == "*" {
                    continue;
                }
                out.at(
                    o,
                    &format!("/spec/{field}/{k}/tags/karpenter.sh~1discovery"),
                    format!(
                        "EC2NodeClass `{}` selects {} tagged {DISCOVERY_TAG}: {tag}, but the cluster is `{cluster}`",
                        o.name(),
                        if field.starts_with("subnet") { "subnets" } else { "security groups" }
                    ),
                    format!("use `{DISCOVERY_TAG}: {cluster}`"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STACK: &str = "
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {name: shop-prod, region: eu-west-1}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms:
    - tags: {karpenter.sh/discovery: shop-staging}
  securityGroupSelectorTerms:
    - tags: {karpenter.sh/discovery: shop-prod}
";

    #[test]
    fn fires_on_another_clusters_tag() {
        let f = check(&RULE, STACK);
        assert_eq!(f.len(), 1, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_the_clusters_own_tag_or_without_a_cluster() {
        assert!(check(&RULE, &STACK.replace("shop-staging", "shop-prod")).is_empty());
        assert!(check(&RULE, STACK.split_once("---").unwrap().1).is_empty());
    }
}
