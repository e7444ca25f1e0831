//! What the storage rules need to know about classes and volumes: which are block devices
//! (single-writer, zonal) and which classes bind only once a pod is scheduled.

use berth_model::Profile;
use serde_json::Value;

use crate::context::Context;
use crate::k8s;

/// CSI drivers and in-tree provisioners of block (zonal, single-node) volumes.
const BLOCK_PROVISIONERS: &[&str] = &[
    "ebs.csi.aws.com",
    "kubernetes.io/aws-ebs",
    "pd.csi.storage.gke.io",
    "kubernetes.io/gce-pd",
    "disk.csi.azure.com",
    "kubernetes.io/azure-disk",
];

/// In-tree volume sources of block devices in a PersistentVolume spec.
const BLOCK_SOURCES: &[&str] = &["awsElasticBlockStore", "gcePersistentDisk", "azureDisk"];

/// What berth knows about a storage class a claim names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// The volume is a zonal block device (EBS, PD, managed disk).
    pub block: bool,
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
        block: true,
        topology_aware: true,
    })
}

/// The class of a claim spec (`storageClassName`), resolved in the stack or the profile.
pub fn class_info(ctx: &Context<'_>, class: &str) -> Option<ClassInfo> {
    if let Some(i) = ctx.find("StorageClass", "", class) {
        let v = &ctx.object(i).value;
        let provisioner = k8s::str_at(v, "/provisioner").unwrap_or("");
        return Some(ClassInfo {
            block: BLOCK_PROVISIONERS.contains(&provisioner),
            topology_aware: k8s::str_at(v, "/volumeBindingMode") == Some("WaitForFirstConsumer"),
        });
    }
    profile_class(ctx.stack.profile, class)
}

/// True when a PersistentVolume spec is a block device.
pub fn pv_is_block(pv: &Value) -> bool {
    let spec = pv.get("spec");
    BLOCK_SOURCES
        .iter()
        .any(|s| spec.and_then(|sp| sp.get(*s)).is_some())
        || spec
            .and_then(|s| s.pointer("/csi/driver"))
            .and_then(Value::as_str)
            .is_some_and(|d| BLOCK_PROVISIONERS.contains(&d))
}

/// True when a PersistentVolume pins itself to a zone (`spec.nodeAffinity`).
pub fn pv_has_node_affinity(pv: &Value) -> bool {
    pv.pointer("/spec/nodeAffinity").is_some()
}

/// Access modes of a claim or volume spec.
pub fn access_modes(spec: Option<&Value>) -> Vec<&str> {
    spec.and_then(|s| s.get("accessModes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
