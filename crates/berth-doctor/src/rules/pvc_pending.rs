//! `pvc-pending`: a PersistentVolumeClaim of the stack (its own, or made from a StatefulSet's
//! `volumeClaimTemplates`) does not bind. The usual reasons, each checked against the cluster:
//! the StorageClass does not exist (and no static PersistentVolume of that class does), no class
//! is named and none is the default, the class's provisioner is not running (no CSIDriver, only
//! "waiting for a volume to be created" events) or is `no-provisioner` without a matching
//! volume, a `WaitForFirstConsumer` claim whose pod cannot be scheduled (or that no pod uses),
//! and an access mode the class cannot give (ReadWriteMany on block storage).

use berth_model::storage::provisioner_kind;
use berth_model::{Object, Severity};
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, event_text, s};

pub(crate) const ID: &str = "pvc-pending";

/// The stack's claims: its own PVC objects and those its StatefulSets' templates made, with
/// the stack object and the pointer to the claim's root in it.
fn stack_claims<'a>(ctx: &Ctx<'a>) -> Vec<(&'a Value, &'a Object, String)> {
    let mut out = Vec::new();
    for o in ctx.stack {
        let ns = o.namespace().unwrap_or("");
        match o.kind() {
            "PersistentVolumeClaim" => {
                if let Some(live) = ctx.live(o) {
                    out.push((live, o, String::new()));
                }
            }
            "StatefulSet" => {
                for (i, t) in arr(&o.value, "/spec/volumeClaimTemplates")
                    .iter()
                    .enumerate()
                {
                    let prefix = format!("{}-{}-", s(t, "/metadata/name"), o.name());
                    for pvc in ctx.list_in("", "PersistentVolumeClaim", ns) {
                        let name = s(pvc, "/metadata/name");
                        if name
                            .strip_prefix(&prefix)
                            .is_some_and(|n| n.parse::<u32>().is_ok())
                        {
                            out.push((pvc, o, format!("/spec/volumeClaimTemplates/{i}")));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let classes = ctx.list("storage.k8s.io", "StorageClass");
    let default_class = classes.iter().find(|c| {
        s(
            c,
            "/metadata/annotations/storageclass.kubernetes.io~1is-default-class",
        ) == "true"
    });
    let mut seen_templates: Vec<(String, String)> = Vec::new();
    for (pvc, o, root) in stack_claims(ctx) {
        if s(pvc, "/status/phase") != "Pending" {
            continue;
        }
        // One diagnosis per template: replicas' claims fail for the same reason.
        if !root.is_empty() {
            let key = (o.display_name(), root.clone());
            if seen_templates.contains(&key) {
                continue;
            }
            seen_templates.push(key);
        }
        let ns = s(pvc, "/metadata/namespace");
        let name = s(pvc, "/metadata/name");
        let subject = display(pvc);
        let events = ctx.events("PersistentVolumeClaim", ns, name);
        let explicit = pvc
            .pointer("/spec/storageClassName")
            .and_then(Value::as_str);
        let class_name = explicit
            .or_else(|| default_class.map(|c| s(c, "/metadata/name")))
            .unwrap_or("");
        let class = classes
            .iter()
            .find(|c| s(c, "/metadata/name") == class_name);
        let modes: Vec<&str> = arr(pvc, "/spec/accessModes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let matching_pvs = ctx
            .list("", "PersistentVolume")
            .iter()
            .filter(|pv| {
                s(pv, "/spec/storageClassName") == class_name
                    && s(pv, "/status/phase") == "Available"
            })
            .count();
        let volume_name = s(pvc, "/spec/volumeName");
        let at = |p: &str| format!("{root}{p}");

        let (pointer, cause, fix) = if !volume_name.is_empty()
            && ctx.get("", "PersistentVolume", "", volume_name).is_none()
        {
            (
                at("/spec/volumeName"),
                format!(
                    "claim `{name}` names the PersistentVolume `{volume_name}`, which does not exist"
                ),
                format!(
                    "create the PersistentVolume `{volume_name}` (or remove `volumeName` to let a class provision one)"
                ),
            )
        } else if explicit.is_none() && default_class.is_none() {
            (
                at("/spec"),
                format!("claim `{name}` names no StorageClass and the cluster has no default one"),
                format!("set `storageClassName` to one of: {}", names(classes)),
            )
        } else if class.is_none() && explicit != Some("") && matching_pvs == 0 {
            (
                at("/spec/storageClassName"),
                format!(
                    "claim `{name}` asks for StorageClass `{class_name}`, which does not exist, and no PersistentVolume of that class is available"
                ),
                format!(
                    "use an existing class ({}), add the StorageClass `{class_name}` to the stack, or create a PersistentVolume with `storageClassName: {class_name}`",
                    names(classes)
                ),
            )
        } else if let Some(c) = class
            && modes.contains(&"ReadWriteMany")
            // Block or node-local (local-path): one node at a time (`berth_model::storage`).
            && provisioner_kind(s(c, "/provisioner")).single_node()
        {
            (
                at("/spec/accessModes"),
                format!("claim `{name}` asks for ReadWriteMany, which StorageClass `{class_name}` ({}) cannot give: its volumes attach to one node", s(c, "/provisioner")),
                "use a shared-filesystem class (EFS, Azure Files, Filestore, NFS) for ReadWriteMany (`berth.dev/storage: shared`), or ReadWriteOnce if one pod is enough".into(),
            )
        } else if let Some(c) = class
            && s(c, "/provisioner") == "kubernetes.io/no-provisioner"
            && matching_pvs == 0
        {
            (
                at("/spec/storageClassName"),
                format!(
                    "StorageClass `{class_name}` has no provisioner and no PersistentVolume of that class is available for claim `{name}`"
                ),
                format!(
                    "create a PersistentVolume with `storageClassName: {class_name}` big enough for the claim, or use a class with a provisioner"
                ),
            )
        } else if let Some(c) = class
            && s(c, "/volumeBindingMode") == "WaitForFirstConsumer"
        {
            let consumers: Vec<&Value> = ctx
                .list_in("", "Pod", ns)
                .filter(|p| {
                    arr(p, "/spec/volumes")
                        .iter()
                        .any(|v| s(v, "/persistentVolumeClaim/claimName") == name)
                })
                .collect();
            let stuck = consumers.iter().find_map(|p| {
                berth_health::pod_problem(p)
                    .filter(|pr| pr.id() == "unschedulable")
                    .map(|pr| (*p, pr))
            });
            match (consumers.is_empty(), stuck) {
                (true, _) => (
                    at(""),
                    format!("claim `{name}` waits for its first consumer (StorageClass `{class_name}` is WaitForFirstConsumer) and no pod uses it"),
                    "nothing is wrong until a pod mounts it; if nothing ever will, remove the claim".into(),
                ),
                (false, Some((p, pr))) => (
                    at(""),
                    format!("claim `{name}` waits for pod `{}`, which cannot be scheduled: {}", s(p, "/metadata/name"), pr.cause()),
                    "fix the pod's scheduling (see the unschedulable diagnosis); the volume is created once it has a node".into(),
                ),
                (false, None) => (
                    at(""),
                    format!("claim `{name}` waits for its pod to be scheduled before a volume is made"),
                    "wait for the pod to be scheduled; if it stays pending, diagnose the pod".into(),
                ),
            }
        } else if let Some(c) = class
            && let provisioner = s(c, "/provisioner")
            && ctx
                .get("storage.k8s.io", "CSIDriver", "", provisioner)
                .is_none()
            && !provisioner.starts_with("kubernetes.io/")
            && (events.is_empty()
                || events
                    .iter()
                    .all(|e| s(e, "/reason") == "ExternalProvisioning"))
        {
            (
                at("/spec/storageClassName"),
                format!(
                    "no provisioner `{provisioner}` is running for StorageClass `{class_name}` (no CSIDriver of that name), so claim `{name}` never gets a volume"
                ),
                format!(
                    "install the CSI driver `{provisioner}` (on EKS the EBS/EFS CSI add-on), or use a class whose provisioner runs here"
                ),
            )
        } else {
            let last = events
                .iter()
                .rev()
                .find(|e| s(e, "/type") == "Warning")
                .or(events.last());
            (
                at(""),
                match last {
                    Some(e) => format!("claim `{name}` does not bind: {}", event_text(e)),
                    None => format!(
                        "claim `{name}` does not bind and the cluster recorded no event about it"
                    ),
                },
                format!("check StorageClass `{class_name}` and its provisioner"),
            )
        };
        let mut d = Diagnosis::at(ID, Severity::Error, o, &pointer, cause, fix).with(
            EvidenceKind::State,
            subject.clone(),
            format!(
                "phase Pending, class `{class_name}`, access modes {}",
                modes.join(",")
            ),
        );
        for e in events.iter().rev().take(2).rev() {
            d = d.with(EvidenceKind::Event, subject.clone(), event_text(e));
        }
        out.push(d.topic(format!("PersistentVolumeClaim/{ns}/{name}")));
    }
}

fn names(classes: &[&Value]) -> String {
    if classes.is_empty() {
        return "the cluster has none".into();
    }
    classes
        .iter()
        .map(|c| s(c, "/metadata/name"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use berth_model::storage::provisioner_kind;

    /// The doctor refuses ReadWriteMany on local-path exactly when `berth check`'s
    /// `shared-on-block` does (its `fires_on_rwx_local_path`): both ask `berth_model::storage`,
    /// where local-path is node-local, single-node storage. They once disagreed.
    #[test]
    fn local_path_cannot_give_read_write_many() {
        assert!(provisioner_kind("rancher.io/local-path").single_node());
        assert!(provisioner_kind("ebs.csi.aws.com").single_node());
        assert!(!provisioner_kind("efs.csi.aws.com").single_node());
        assert!(!provisioner_kind("kubernetes.io/no-provisioner").single_node());
    }
}
