//! What the storage rules need to know about the classes and volumes of the stack: the kind
//! of volume a class or volume gives (`berth_model::storage`: block, shared, node-local, ...),
//! the classes a profile's cluster has by default, and which classes bind only once a pod is
//! scheduled.

use berth_model::Profile;
use berth_model::ValueExt;
use berth_model::storage::{VolumeKind, provisioner_kind, volume_kind};
use serde_json::Value;

use crate::context::Context;
use crate::k8s;

/// Node labels that name a zone, as volumes and pods use them: the standard one, its
/// deprecated beta, and the EBS CSI driver's topology key.
pub const ZONE_KEYS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.ebs.csi.aws.com/zone",
];

/// What berth knows about a storage class a claim names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// The kind of volume the class gives.
    pub kind: VolumeKind,
    /// The class binds when the first pod is scheduled (`WaitForFirstConsumer`).
    pub topology_aware: bool,
}

/// Classes a cluster of `profile` has by default (when the stack does not define them).
fn profile_class(profile: Profile, name: &str) -> Option<ClassInfo> {
    let block = match profile {
        Profile::Eks => matches!(name, "gp2" | "gp3" | "io1" | "io2" | "st1" | "sc1"),
        Profile::Gke => matches!(name, "standard" | "standard-rwo" | "premium-rwo"),
        Profile::Aks => matches!(
            name,
            "default" | "managed" | "managed-csi" | "managed-premium" | "managed-csi-premium"
        ),
        Profile::Local => false,
    };
    // Cloud default classes (and berth's) all bind on first consumer.
    block.then_some(ClassInfo {
        kind: VolumeKind::Block,
        topology_aware: true,
    })
}

/// The class of a claim spec (`storageClassName`), resolved in the stack or the profile.
pub fn class_info(ctx: &Context<'_>, class: &str) -> Option<ClassInfo> {
    if let Some(i) = ctx.find("StorageClass", "", class) {
        let v = &ctx.object(i).value;
        let provisioner = k8s::str_at(v, "/provisioner").unwrap_or("");
        return Some(ClassInfo {
            kind: provisioner_kind(provisioner),
            topology_aware: k8s::str_at(v, "/volumeBindingMode") == Some("WaitForFirstConsumer"),
        });
    }
    profile_class(ctx.stack.profile, class)
}

/// The kind of volume a PersistentVolume is.
pub fn pv_kind(pv: &Value) -> VolumeKind {
    volume_kind(pv)
}

/// True when a PersistentVolume pins itself to a zone (`spec.nodeAffinity`).
pub fn pv_has_node_affinity(pv: &Value) -> bool {
    pv.at("/spec/nodeAffinity").is_some()
}

/// Access modes of a claim or volume spec.
pub fn access_modes(spec: Option<&Value>) -> Vec<&str> {
    spec.and_then(|s| s.member("accessModes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
