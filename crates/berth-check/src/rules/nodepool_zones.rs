//! `nodepool-zones`: zonal volumes in zones where no NodePool launches nodes.

use berth_model::Severity;
use berth_model::ValueExt;
use berth_model::karpenter;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::nodepools::pools;
use crate::storage::ZONE_KEYS;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "nodepool-zones",
    severity: Severity::Error,
    summary: "zonal volumes in zones that no NodePool offers (`topology.kubernetes.io/zone`)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
When the stack has Karpenter NodePools, collects the zones its zonal volumes are in: a
PersistentVolume's `nodeAffinity` and a StorageClass's `allowedTopologies` on
`topology.kubernetes.io/zone`. Reports each zone that no NodePool offers, i.e. every pool's
`topology.kubernetes.io/zone` requirement leaves it out.

## Why is this bad?
An EBS volume can only be attached in its own zone. Its pod must run on a node there, and
Karpenter only launches nodes in the zones a pool allows: the pod stays Pending with
`incompatible requirements` and the volume's data is unreachable.

## Example
```yaml
kind: NodePool
spec:
  template:
    spec:
      requirements:
        - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1a, eu-west-1b]}
---
kind: PersistentVolume
spec:
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1c]}
```

## Fix
Add the zone to a NodePool's zone requirement (`berth cluster config` writes the stack's
`cluster.zones`), or move the volume (a snapshot restored in an offered zone).
";

/// (pointer of the `values`, zones) of every zone expression under `terms` (an array of
/// objects holding `field`: an array of `{key, operator: In, values}`).
fn zone_values<'v>(
    terms: Option<&'v Value>,
    base: &str,
    field: &str,
) -> Vec<(String, Vec<&'v str>)> {
    let mut out = Vec::new();
    for (ti, term) in terms
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (ei, e) in term
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let key = e.member("key").and_then(Value::as_str).unwrap_or("");
            let op = e.member("operator").and_then(Value::as_str).unwrap_or("In");
            if !ZONE_KEYS.contains(&key) || op != "In" {
                continue;
            }
            let zones = e
                .member("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push((format!("{base}/{ti}/{field}/{ei}/values"), zones));
        }
    }
    out
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let pools = pools(ctx);
    if pools.is_empty() {
        return;
    }
    let mut offered: Vec<String> = Vec::new();
    for p in &pools {
        match karpenter::zones(&p.requirements) {
            None => return, // a pool that may use any zone
            Some(z) => offered.extend(z),
        }
    }
    let mut volumes = Vec::new();
    for &i in ctx.of_kind("PersistentVolume") {
        let v = &ctx.object(i).value;
        volumes.push((
            i,
            zone_values(
                v.at("/spec/nodeAffinity/required/nodeSelectorTerms"),
                "/spec/nodeAffinity/required/nodeSelectorTerms",
                "matchExpressions",
            ),
        ));
    }
    for &i in ctx.of_kind("StorageClass") {
        let v = &ctx.object(i).value;
        volumes.push((
            i,
            zone_values(
                v.member("allowedTopologies"),
                "/allowedTopologies",
                "matchLabelExpressions",
            ),
        ));
    }
    for (i, found) in volumes {
        let o = ctx.object(i);
        for (pointer, zones) in found {
            let missing: Vec<&str> = zones
                .into_iter()
                .filter(|z| !offered.iter().any(|o| o == z))
                .collect();
            if missing.is_empty() {
                continue;
            }
            out.at(
                o,
                &pointer,
                format!(
                    "{} {} in {}, where no NodePool launches nodes (they offer {})",
                    o.display_name(),
                    if o.kind() == "StorageClass" {
                        "creates zonal volumes"
                    } else {
                        "is a zonal volume"
                    },
                    missing.join(", "),
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                ),
                "add the zone to a NodePool's `topology.kubernetes.io/zone` requirement",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STACK: &str = "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1a, eu-west-1b]}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: data}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  csi: {driver: ebs.csi.aws.com, volumeHandle: vol-0abc}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1c]}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: gp3-b}
provisioner: ebs.csi.aws.com
allowedTopologies:
  - matchLabelExpressions:
      - {key: topology.ebs.csi.aws.com/zone, values: [eu-west-1b]}
";

    #[test]
    fn fires_on_volumes_in_zones_no_pool_offers() {
        let f = check(&RULE, STACK);
        assert_eq!(f.len(), 1, "{f:#?}");
        insta::assert_snapshot!(render(&f));
        let f = check(
            &RULE,
            &STACK.replace("values: [eu-west-1b]}", "values: [eu-west-1d]}"),
        );
        assert_eq!(f.len(), 2, "{f:#?}");
    }

    #[test]
    fn silent_when_a_pool_offers_the_zone_or_any_zone() {
        assert!(
            check(
                &RULE,
                &STACK.replace(
                    "values: [eu-west-1a, eu-west-1b]",
                    "values: [eu-west-1a, eu-west-1b, eu-west-1c]"
                )
            )
            .is_empty()
        );
        assert!(check(&RULE, &STACK.replace("        - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1a, eu-west-1b]}\n", "        - {key: kubernetes.io/arch, operator: In, values: [amd64]}\n")).is_empty());
        // Without NodePools the rule has nothing to compare with.
        let volumes = STACK.split_once("---").unwrap().1;
        assert!(check(&RULE, volumes).is_empty());
    }
}
