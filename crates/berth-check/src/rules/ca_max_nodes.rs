//! `ca-max-nodes`: `--max-nodes-total` below what the node groups allow.

use berth_model::Severity;

use super::{Out, Rule};
use crate::autoscaler::{autoscalers, cluster_facts};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "ca-max-nodes",
    severity: Severity::Warning,
    summary: "`--max-nodes-total` below the sum of the node groups' maxima",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Compares the cluster-autoscaler's `--max-nodes-total` with the sum of the node groups' maximum
sizes (berth.yaml `cluster.nodeGroups`, where a `perZone` group counts once per zone, or the
`maxSize` of the node groups of an eksctl ClusterConfig in the stack).

## Why is this bad?
The autoscaler stops adding nodes at `--max-nodes-total` even though every node group could
still grow: pods stay Pending under exactly the load the node groups were sized for, and the
limit is in a different file than the node groups, so nobody sees the conflict.

## Example
```yaml
- --max-nodes-total=100     # three per-zone node groups of max 100 each
```

## Fix
Set `--max-nodes-total` to at least the sum of the maxima (here 300), or lower the node groups'
maxima to what you want to pay for.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let Some(facts) = cluster_facts(ctx) else {
        return;
    };
    let Some(sum) = facts.max_nodes else { return };
    for ca in autoscalers(ctx) {
        let Some((ptr, value)) = ca.flag("max-nodes-total") else {
            continue;
        };
        let Ok(total) = value.trim().parse::<u64>() else {
            continue;
        };
        if total >= sum || total == 0 {
            continue; // 0 means no limit
        }
        let w = ctx.object(ca.object);
        out.at(
            w,
            &ptr,
            format!("--max-nodes-total={total} in {} caps the cluster below its node groups' maxima ({sum}, from {})", w.display_name(), facts.source),
            format!("set --max-nodes-total to at least {sum}, or lower the node groups' maxima"),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::ca_discovery_tag::tests::{ca, with_cluster};
    use crate::rules::testing::{self, render};

    #[test]
    fn fires_below_the_sum() {
        let f = testing::run(
            &RULE,
            &with_cluster(&ca("v1.34.0", &["--max-nodes-total=100"])),
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    /// The autoscaler flags of `berth-simulate`'s `inputs` test of the same name, in every
    /// spelling pflag accepts: check and simulate read them through one parser, so both see
    /// `--max-nodes-total` 100 here (check once read only `--name=value`).
    pub(crate) const MIXED_SPELLINGS: &[&str] = &[
        "--max-nodes-total",
        "'100'",
        "-expander=most-pods",
        "--balance-similar-node-groups",
        "--node-group-auto-discovery",
        "asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/EKS-boomi-molecule-main",
        "--skip-nodes-with-local-storage=false",
        "--scale-down-unneeded-time",
        "5m",
    ];

    #[test]
    fn reads_every_spelling_of_the_flag() {
        let f = testing::run(&RULE, &with_cluster(&ca("v1.34.0", MIXED_SPELLINGS)));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].message.starts_with("--max-nodes-total=100 "),
            "{}",
            f[0].message
        );
        // The finding points at the value, the item after the flag's name.
        let ptr_line = f[0].line;
        let name_line = with_cluster(&ca("v1.34.0", MIXED_SPELLINGS)).objects[0]
            .pos("/spec/template/spec/containers/0/command/1")
            .line;
        assert_eq!(ptr_line, name_line + 1);
        // The last occurrence counts, as for the autoscaler.
        let twice = ca(
            "v1.34.0",
            &["--max-nodes-total=100", "--max-nodes-total=300"],
        );
        assert!(testing::run(&RULE, &with_cluster(&twice)).is_empty());
    }

    #[test]
    fn silent_at_or_above_the_sum() {
        assert!(
            testing::run(
                &RULE,
                &with_cluster(&ca("v1.34.0", &["--max-nodes-total=300"]))
            )
            .is_empty()
        );
        assert!(
            testing::run(
                &RULE,
                &testing::stack(&ca("v1.34.0", &["--max-nodes-total=1"]))
            )
            .is_empty()
        );
    }
}
