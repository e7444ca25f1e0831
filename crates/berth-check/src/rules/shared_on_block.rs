//! `shared-on-block`: ReadWriteMany on storage that only one node can attach.

use berth_model::Severity;
use berth_model::ValueExt;
use berth_model::storage::VolumeKind;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::storage::{access_modes, class_info, pv_kind};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "shared-on-block",
    severity: Severity::Error,
    summary: "ReadWriteMany on a block-only class (EBS, PD, managed disk)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds claims (PersistentVolumeClaims and StatefulSet `volumeClaimTemplates`) and volumes that ask
for `ReadWriteMany` on block storage: a StorageClass of the EBS, GCE PD or Azure Disk
provisioners (or the profile's block classes: `gp2`/`gp3` on EKS, `standard-rwo` on GKE,
`managed-csi` on AKS), or a PersistentVolume backed by `awsElasticBlockStore`, `gcePersistentDisk`,
`azureDisk` or their CSI drivers. Node-local storage counts too: a class of the local-path
provisioner (`rancher.io/local-path`, as k3s and kind install it), or a `local` or `hostPath`
volume.

## Why is this bad?
A block device attaches to one node at a time. The provisioner refuses the claim
(`invalid AccessModes [ReadWriteMany]`), or a second pod on another node fails with
`Multi-Attach error`. A node-local volume is a directory of one node: the local-path
provisioner refuses ReadWriteMany, and no pod on another node can reach it. Workloads that share files between nodes (a Boomi Molecule's shared
directory) need a file system: EFS, Filestore, Azure Files, NFS.

## Example
```yaml
kind: PersistentVolumeClaim
spec:
  accessModes: [ReadWriteMany]
  storageClassName: gp3
```

## Fix
Use a shared file system class, most simply through berth's portable intent, which every profile
maps to its shared storage (EFS on EKS):
```yaml
metadata:
  annotations: {berth.dev/storage: shared}
```
or use `ReadWriteOnce` and one claim per pod (`volumeClaimTemplates`).
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let mut claims: Vec<(usize, String)> = Vec::new();
    for &i in ctx.of_kind("PersistentVolumeClaim") {
        claims.push((i, String::new()));
    }
    for &i in ctx.of_kind("StatefulSet") {
        let n = ctx
            .object(i)
            .value
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        claims.extend((0..n).map(|k| (i, format!("/spec/volumeClaimTemplates/{k}"))));
    }
    for (i, base) in claims {
        let o = ctx.object(i);
        let Some(claim) = o.value.at(&base) else {
            continue;
        };
        if !access_modes(claim.member("spec")).contains(&"ReadWriteMany") {
            continue;
        }
        let class = claim.at("/spec/storageClassName").and_then(Value::as_str);
        let by_class = class
            .and_then(|c| class_info(ctx, c))
            .map(|c| c.kind)
            .filter(|k| k.single_node());
        let by_volume = claim
            .at("/spec/volumeName")
            .and_then(Value::as_str)
            .and_then(|n| ctx.find("PersistentVolume", "", n))
            .map(|p| pv_kind(&ctx.object(p).value))
            .filter(|k| k.single_node());
        if let Some(kind) = by_class.or(by_volume) {
            let what = if by_class.is_some() {
                format!("class `{}`", class.unwrap_or(""))
            } else {
                "its volume".to_string()
            };
            out.at(
                o,
                &format!("{base}/spec/accessModes"),
                format!("{} asks for ReadWriteMany on {what}, which is {} one node attaches at a time", o.display_name(), storage_words(kind)),
                "use a shared file system class (berth.dev/storage: shared) or ReadWriteOnce with one claim per pod",
            );
        }
    }
    for &p in ctx.of_kind("PersistentVolume") {
        let o = ctx.object(p);
        let kind = pv_kind(&o.value);
        if kind.single_node() && access_modes(o.value.member("spec")).contains(&"ReadWriteMany") {
            let device = if kind == VolumeKind::NodeLocal {
                "a node-local volume"
            } else {
                "a block device"
            };
            out.at(
                o,
                "/spec/accessModes",
                format!("{} offers ReadWriteMany on {device}, which only one node can attach", o.display_name()),
                "use ReadWriteOnce for block volumes, or a shared file system (EFS, NFS) for ReadWriteMany",
            );
        }
    }
}

/// How a message names a single-node kind of storage.
fn storage_words(kind: VolumeKind) -> &'static str {
    if kind == VolumeKind::NodeLocal {
        "node-local storage"
    } else {
        "block storage"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const CLAIMS: &str = "
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared}
spec:
  storageClassName: gp3
  accessModes: [ReadWriteMany]
  resources: {requests: {storage: 10Gi}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: ebs.csi.aws.com
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
      containers: [{name: db, image: postgres:17.2}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        storageClassName: fast
        accessModes: [ReadWriteMany]
        resources: {requests: {storage: 1Gi}}
";

    #[test]
    fn fires_on_rwx_block() {
        let f = check(&RULE, CLAIMS);
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_file_systems_and_rwo() {
        let efs = CLAIMS
            .replace("storageClassName: gp3", "storageClassName: efs-sc")
            .replace("ebs.csi.aws.com", "efs.csi.aws.com");
        assert!(check(&RULE, &efs).is_empty());
        assert!(check(&RULE, &CLAIMS.replace("ReadWriteMany", "ReadWriteOnce")).is_empty());
    }

    /// local-path as `berth_model::storage` classifies it (node-local: single-node), the same
    /// classification the doctor's `pvc-pending` uses for a claim that does not bind.
    #[test]
    fn fires_on_rwx_local_path() {
        let local = CLAIMS
            .replace("storageClassName: gp3", "storageClassName: fast")
            .replace("ebs.csi.aws.com", "rancher.io/local-path");
        let f = check(&RULE, &local);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert!(
            f[0].message
                .ends_with("which is node-local storage one node attaches at a time"),
            "{}",
            f[0].message
        );
    }
}
