//! `ca-discovery-tag`: a cluster-autoscaler whose auto-discovery tag names another cluster.

use berth_model::Severity;
use berth_model::autoscaler_flags::discovery_tag_keys;

use super::{Out, Rule};
use crate::autoscaler::{autoscalers, cluster_facts};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "ca-discovery-tag",
    severity: Severity::Error,
    summary: "a cluster-autoscaler whose node-group auto-discovery tag does not name the cluster",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reads the cluster-autoscaler's `--node-group-auto-discovery=asg:tag=...` flag and checks that its
`k8s.io/cluster-autoscaler/<name>` tag names the cluster: `cluster.name` in berth.yaml, or the
`metadata.name` of an eksctl ClusterConfig in the stack.

## Why is this bad?
The autoscaler only manages Auto Scaling groups carrying both tags. With another cluster's name
(copied from a tutorial, or a placeholder left in), it discovers no node groups: pending pods
stay pending, nothing scales, and its log says only \"no node groups\".

## Example
```yaml
command:
  - ./cluster-autoscaler
  - --node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/IK-EKS-CA-HPA-molecule-cluster-us-east-1
# while the cluster is EKS-boomi-molecule-main
```

## Fix
Use the cluster's name in the tag (`k8s.io/cluster-autoscaler/EKS-boomi-molecule-main`), or let
`berth cluster config` generate the autoscaler manifest from the same `cluster:` section.
";

const PREFIX: &str = "k8s.io/cluster-autoscaler/";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let Some(facts) = cluster_facts(ctx) else {
        return;
    };
    let Some(cluster) = facts.name.as_deref() else {
        return;
    };
    for ca in autoscalers(ctx) {
        // The flag may be repeated: the cluster is found when any of its values names it.
        let values = ca.flag_values("node-group-auto-discovery");
        let Some((ptr, _)) = values.first() else {
            continue;
        };
        let named: Vec<&str> = values
            .iter()
            .flat_map(|(_, v)| discovery_tag_keys(v))
            .filter_map(|t| t.strip_prefix(PREFIX))
            .filter(|n| *n != "enabled")
            .collect();
        if named.contains(&cluster) {
            continue;
        }
        let w = ctx.object(ca.object);
        let found = if named.is_empty() {
            "no cluster name".to_string()
        } else {
            format!("`{}`", named.join("`, `"))
        };
        out.at(
            w,
            ptr,
            format!("the cluster-autoscaler in {} discovers node groups tagged for {found}, but the cluster is `{cluster}` ({})", w.display_name(), facts.source),
            format!("use --node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster}"),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::{self, render};
    use berth_model::{ClusterSpec, NodeGroupSpec, Stack};

    pub(crate) fn ca(image_tag: &str, flags: &[&str]) -> String {
        let flags: String = flags
            .iter()
            .map(|f| format!("            - {f}\n"))
            .collect();
        format!(
            "
apiVersion: apps/v1
kind: Deployment
metadata: {{name: cluster-autoscaler, namespace: kube-system}}
spec:
  selector: {{matchLabels: {{app: cluster-autoscaler}}}}
  template:
    metadata: {{labels: {{app: cluster-autoscaler}}}}
    spec:
      containers:
        - name: cluster-autoscaler
          image: registry.k8s.io/autoscaling/cluster-autoscaler:{image_tag}
          command:
            - ./cluster-autoscaler
{flags}"
        )
    }

    pub(crate) fn with_cluster(yaml: &str) -> Stack {
        let mut s = testing::stack(yaml);
        s.cluster = Some(ClusterSpec {
            nodes: None,
            file_systems: Vec::new(),
            name: "EKS-boomi-molecule-main".into(),
            region: Some("us-east-1".into()),
            zones: vec![
                "us-east-1a".into(),
                "us-east-1b".into(),
                "us-east-1c".into(),
            ],
            node_groups: vec![NodeGroupSpec {
                name: "workers".into(),
                instance_type: "m5.large".into(),
                min: 1,
                max: 100,
                per_zone: true,
                labels: Default::default(),
            }],
        });
        s
    }

    #[test]
    fn fires_on_another_cluster_name() {
        let s = with_cluster(&ca(
            "v1.34.0",
            &[
                "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/IK-EKS-CA-HPA-molecule-cluster-us-east-1",
            ],
        ));
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_it_names_the_cluster() {
        let s = with_cluster(&ca(
            "v1.34.0",
            &[
                "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/EKS-boomi-molecule-main",
            ],
        ));
        assert!(testing::run(&RULE, &s).is_empty());
    }

    #[test]
    fn reads_every_spelling_and_every_repetition() {
        // `--node-group-auto-discovery VALUE` (space-separated) names the cluster.
        let s = with_cluster(&ca(
            "v1.34.0",
            crate::rules::ca_max_nodes::tests::MIXED_SPELLINGS,
        ));
        assert!(testing::run(&RULE, &s).is_empty());
        // Repeated: one value naming the cluster is enough.
        let s = with_cluster(&ca(
            "v1.34.0",
            &[
                "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/other",
                "--node-group-auto-discovery",
                "asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/EKS-boomi-molecule-main",
            ],
        ));
        assert!(testing::run(&RULE, &s).is_empty());
    }

    #[test]
    fn reads_an_eksctl_cluster_config() {
        let yaml = format!(
            "{}---
apiVersion: eksctl.io/v1alpha5
kind: ClusterConfig
metadata: {{name: other, region: us-east-1}}
managedNodeGroups:
  - {{name: a, maxSize: 10}}
",
            ca(
                "v1.34.0",
                &[
                    "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/EKS-boomi-molecule-main"
                ]
            )
        );
        assert_eq!(testing::run(&RULE, &testing::stack(&yaml)).len(), 1);
    }
}
