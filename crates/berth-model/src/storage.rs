//! What kind of volume a StorageClass provisioner (or a PersistentVolume's source) gives, read
//! once for the checks (`shared-on-block`, `zonal-volume`, `pgdata-mount`) and the doctor
//! (`pvc-pending`), so a claim is judged the same way before and after `up`.
//!
//! Four kinds matter to berth:
//! - **block**: a cloud disk (EBS, GCE PD, Azure Disk, Cinder). One node attaches it at a
//!   time (no ReadWriteMany), it lives in one zone, and it arrives freshly formatted (a
//!   `lost+found` at its root).
//! - **shared**: a network file system (EFS, Azure Files, Filestore, NFS, CephFS): ReadWriteMany,
//!   reachable from every zone.
//! - **node-local**: a directory or disk of one node (`rancher.io/local-path`, the
//!   local-path-provisioner of k3s, kind and Rancher Desktop; `local` and `hostPath`
//!   volumes). Decided deliberately: it is *single-node* like block storage — the
//!   local-path-provisioner refuses ReadWriteMany, and a volume never follows its pod to another
//!   node — but it is *not zonal* (it is pinned to a node, which a zone selector does not fix)
//!   and not a formatted device (a plain directory, no `lost+found`).
//! - **static** (`kubernetes.io/no-provisioner`): nothing is provisioned; a claim gets whatever
//!   PersistentVolume an administrator made for the class (most often a `local` volume, but an
//!   NFS volume is just as possible), so what it can give is the volume's, not the class's.
//!
//! Any other provisioner is **unknown**, and berth claims nothing about it.

use crate::ValueExt;
use serde_json::Value;

/// What kind of volume a provisioner or a volume source gives (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    /// A zonal cloud disk that one node attaches at a time.
    Block,
    /// A network file system that many nodes mount (ReadWriteMany).
    Shared,
    /// A directory or disk of one node.
    NodeLocal,
    /// `kubernetes.io/no-provisioner`: whatever static volume matches.
    Static,
    /// A provisioner berth does not know.
    Unknown,
}

impl VolumeKind {
    /// One node at a time: ReadWriteMany cannot be given.
    pub fn single_node(self) -> bool {
        matches!(self, VolumeKind::Block | VolumeKind::NodeLocal)
    }

    /// The volume lives in one zone, and a pod in another zone cannot use it.
    pub fn zonal(self) -> bool {
        self == VolumeKind::Block
    }

    /// The volume arrives as a freshly formatted file system, with `lost+found` at its root.
    pub fn formatted_device(self) -> bool {
        self == VolumeKind::Block
    }
}

/// Provisioners (CSI drivers and their in-tree predecessors) by kind.
const PROVISIONERS: &[(&str, VolumeKind)] = &[
    ("ebs.csi.aws.com", VolumeKind::Block),
    ("kubernetes.io/aws-ebs", VolumeKind::Block),
    ("pd.csi.storage.gke.io", VolumeKind::Block),
    ("kubernetes.io/gce-pd", VolumeKind::Block),
    ("disk.csi.azure.com", VolumeKind::Block),
    ("kubernetes.io/azure-disk", VolumeKind::Block),
    ("cinder.csi.openstack.org", VolumeKind::Block),
    ("kubernetes.io/cinder", VolumeKind::Block),
    ("efs.csi.aws.com", VolumeKind::Shared),
    ("file.csi.azure.com", VolumeKind::Shared),
    ("kubernetes.io/azure-file", VolumeKind::Shared),
    ("filestore.csi.storage.gke.io", VolumeKind::Shared),
    ("nfs.csi.k8s.io", VolumeKind::Shared),
    ("cephfs.csi.ceph.com", VolumeKind::Shared),
    ("rancher.io/local-path", VolumeKind::NodeLocal),
    (
        "cluster.local/local-path-provisioner",
        VolumeKind::NodeLocal,
    ),
    ("kubernetes.io/no-provisioner", VolumeKind::Static),
];

/// The kind of volume a StorageClass's `provisioner` gives.
pub fn provisioner_kind(provisioner: &str) -> VolumeKind {
    PROVISIONERS
        .iter()
        .find(|(p, _)| *p == provisioner)
        .map_or(VolumeKind::Unknown, |(_, k)| *k)
}

/// In-tree volume sources of a PersistentVolume spec, by kind.
const SOURCES: &[(&str, VolumeKind)] = &[
    ("awsElasticBlockStore", VolumeKind::Block),
    ("gcePersistentDisk", VolumeKind::Block),
    ("azureDisk", VolumeKind::Block),
    ("cinder", VolumeKind::Block),
    ("nfs", VolumeKind::Shared),
    ("azureFile", VolumeKind::Shared),
    ("cephfs", VolumeKind::Shared),
    ("glusterfs", VolumeKind::Shared),
    ("local", VolumeKind::NodeLocal),
    ("hostPath", VolumeKind::NodeLocal),
];

/// The kind of a PersistentVolume (the whole object): by its in-tree source, or its CSI
/// driver as a provisioner.
pub fn volume_kind(pv: &Value) -> VolumeKind {
    let Some(spec) = pv.member("spec") else {
        return VolumeKind::Unknown;
    };
    if let Some((_, k)) = SOURCES.iter().find(|(s, _)| spec.get(*s).is_some()) {
        return *k;
    }
    spec.at("/csi/driver")
        .and_then(Value::as_str)
        .map_or(VolumeKind::Unknown, provisioner_kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provisioners() {
        assert_eq!(provisioner_kind("ebs.csi.aws.com"), VolumeKind::Block);
        assert_eq!(provisioner_kind("efs.csi.aws.com"), VolumeKind::Shared);
        assert_eq!(provisioner_kind("file.csi.azure.com"), VolumeKind::Shared);
        assert_eq!(provisioner_kind("example.com/x"), VolumeKind::Unknown);
        assert!(provisioner_kind("disk.csi.azure.com").zonal());
        assert!(!provisioner_kind("filestore.csi.storage.gke.io").single_node());
    }

    #[test]
    fn local_path_is_single_node_but_neither_zonal_nor_a_formatted_device() {
        let k = provisioner_kind("rancher.io/local-path");
        assert_eq!(k, VolumeKind::NodeLocal);
        assert!(k.single_node());
        assert!(!k.zonal());
        assert!(!k.formatted_device());
        // no-provisioner gives what its static volumes give: nothing is claimed for it.
        let s = provisioner_kind("kubernetes.io/no-provisioner");
        assert!(!s.single_node() && !s.zonal() && !s.formatted_device());
    }

    #[test]
    fn volumes() {
        let pv = |spec: Value| json!({"kind": "PersistentVolume", "spec": spec});
        assert_eq!(
            volume_kind(&pv(json!({"awsElasticBlockStore": {"volumeID": "vol-1"}}))),
            VolumeKind::Block
        );
        assert_eq!(
            volume_kind(&pv(json!({"csi": {"driver": "ebs.csi.aws.com"}}))),
            VolumeKind::Block
        );
        assert_eq!(
            volume_kind(&pv(json!({"nfs": {"server": "n", "path": "/"}}))),
            VolumeKind::Shared
        );
        assert_eq!(
            volume_kind(&pv(json!({"local": {"path": "/mnt"}}))),
            VolumeKind::NodeLocal
        );
        assert_eq!(volume_kind(&json!({})), VolumeKind::Unknown);
    }
}
