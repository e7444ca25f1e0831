//! `zonal-volume`: zonal block volumes for pods that may be scheduled in another zone.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::{Context, PodTemplate};
use crate::k8s;
use crate::storage::{ZONE_KEYS, class_info, pv_has_node_affinity, pv_kind};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "zonal-volume",
    severity: Severity::Warning,
    summary: "zonal volumes (EBS) for a workload whose pods can land in another zone",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds pods that mount a zonal block volume (EBS, GCE PD, Azure Disk) with nothing keeping the pod
and the volume in the same zone:
- a static PersistentVolume (`awsElasticBlockStore`, EBS CSI) without `nodeAffinity`, mounted by a
  pod without a zone `nodeSelector` or node affinity;
- a claim of a block class that binds immediately (`volumeBindingMode: Immediate`), so the volume
  is created in a zone chosen before the pod is scheduled;
- with `cluster:` in berth.yaml, a block volume in a multi-zone cluster whose node groups are not
  per zone: the cluster-autoscaler cannot add a node in the zone the volume is in.

## Why is this bad?
A pod whose volume is in another zone cannot start (`volume node affinity conflict`) and stays
Pending. It often works on the first deploy and breaks after a node replacement or a scale-up puts
the pod elsewhere, e.g. an EBS volume created in eu-west-1a while the node group spans a and b.

## Example
```yaml
kind: PersistentVolume
spec:
  awsElasticBlockStore: {volumeID: vol-0abc}    # in eu-west-1a, no nodeAffinity
---
kind: StatefulSet          # no zone affinity
```

## Fix
Use a topology-aware class (`volumeBindingMode: WaitForFirstConsumer`, as berth's
`berth.dev/storage: block` classes are), give static volumes a `nodeAffinity` on
`topology.kubernetes.io/zone`, pin the pods to the volume's zone, or use one node group per zone
(`perZone: true` in berth.yaml `cluster.nodeGroups`).
";

fn pinned_to_zone(t: &PodTemplate<'_>) -> bool {
    let Some(spec) = t.spec() else { return false };
    if let Some(sel) = spec.member("nodeSelector").and_then(Value::as_object)
        && ZONE_KEYS.iter().any(|k| sel.contains_key(*k))
    {
        return true;
    }
    let terms = spec
        .at("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    terms.into_iter().flatten().any(|term| {
        term.member("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| {
                e.member("key")
                    .and_then(Value::as_str)
                    .is_some_and(|k| ZONE_KEYS.contains(&k))
            })
    })
}

/// True when the cluster spec makes the autoscaler unable to follow a volume's zone.
fn zones_unfollowable(ctx: &Context<'_>) -> bool {
    ctx.stack
        .cluster
        .as_ref()
        .is_some_and(|c| c.zones.len() > 1 && c.node_groups.iter().any(|g| !g.per_zone))
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        if pinned_to_zone(t) {
            continue;
        }
        let w = ctx.object(t.object);
        let ns = ctx.namespace_of(t.object);
        // (pointer in the workload, description, class binding mode known?)
        let mut zonal: Vec<(String, String)> = Vec::new();
        for (ptr, vol) in t.volumes() {
            let Some(claim_name) = vol
                .at("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Some(c) = ctx.find("PersistentVolumeClaim", ns, claim_name) else {
                continue;
            };
            let claim = &ctx.object(c).value;
            let pv = k8s::str_at(claim, "/spec/volumeName")
                .and_then(|n| ctx.find("PersistentVolume", "", n))
                .or_else(|| {
                    ctx.of_kind("PersistentVolume").iter().copied().find(|&p| {
                        k8s::str_at(&ctx.object(p).value, "/spec/claimRef/name") == Some(claim_name)
                    })
                });
            if let Some(p) = pv {
                let pv = &ctx.object(p).value;
                if pv_kind(pv).zonal() && (!pv_has_node_affinity(pv) || zones_unfollowable(ctx)) {
                    zonal.push((
                        format!("{ptr}/persistentVolumeClaim"),
                        format!(
                            "claim `{claim_name}` is bound to zonal volume `{}`",
                            ctx.object(p).name()
                        ),
                    ));
                }
                continue;
            }
            if let Some(why) = class_problem(
                ctx,
                claim.at("/spec/storageClassName").and_then(Value::as_str),
            ) {
                zonal.push((
                    format!("{ptr}/persistentVolumeClaim"),
                    format!("claim `{claim_name}` {why}"),
                ));
            }
        }
        for (k, tpl) in w
            .value
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(why) = class_problem(
                ctx,
                tpl.at("/spec/storageClassName").and_then(Value::as_str),
            ) {
                let name = tpl
                    .at("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                zonal.push((
                    format!("/spec/volumeClaimTemplates/{k}"),
                    format!("volume claim template `{name}` {why}"),
                ));
            }
        }
        for (ptr, why) in zonal {
            out.at(
                w,
                &ptr,
                format!("pods of {} can be scheduled in another zone than their volume: {why}", w.display_name()),
                "use a WaitForFirstConsumer class (berth.dev/storage: block), pin the pods to the volume's zone, or use per-zone node groups",
            );
        }
    }
}

fn class_problem(ctx: &Context<'_>, class: Option<&str>) -> Option<String> {
    let class = class?;
    let info = class_info(ctx, class)?;
    if !info.kind.zonal() {
        return None;
    }
    if !info.topology_aware {
        return Some(format!(
            "uses block class `{class}`, which creates the volume before the pod is scheduled (Immediate binding)"
        ));
    }
    zones_unfollowable(ctx).then(|| {
        format!("uses block class `{class}`, and the cluster's node groups span zones, so the autoscaler cannot add a node in the volume's zone")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STACK: &str = "
apiVersion: v1
kind: PersistentVolume
metadata: {name: postgresql-data-pv}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  awsElasticBlockStore: {volumeID: vol-1}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: postgresql-data}
spec:
  volumeName: postgresql-data-pv
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: ebs-immediate}
provisioner: ebs.csi.aws.com
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgresql}
spec:
  serviceName: postgresql
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers: [{name: pg, image: postgres:17.2}]
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: postgresql-data}
  volumeClaimTemplates:
    - metadata: {name: wal}
      spec:
        storageClassName: ebs-immediate
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
";

    #[test]
    fn fires_without_zone_guard() {
        let f = check(&RULE, STACK);
        assert_eq!(f.len(), 2, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_pinned_or_topology_aware() {
        let pinned = STACK.replace(
            "      containers: [{name: pg, image: postgres:17.2}]",
            "      nodeSelector: {topology.kubernetes.io/zone: eu-west-1a}\n      containers: [{name: pg, image: postgres:17.2}]",
        );
        assert!(check(&RULE, &pinned).is_empty());
        let wffc = STACK
            .replace(
                "provisioner: ebs.csi.aws.com",
                "provisioner: ebs.csi.aws.com\nvolumeBindingMode: WaitForFirstConsumer",
            )
            .replace(
                "  awsElasticBlockStore: {volumeID: vol-1}",
                "  nfs: {server: fs, path: /}",
            );
        assert!(check(&RULE, &wffc).is_empty(), "{:#?}", check(&RULE, &wffc));
    }
}
