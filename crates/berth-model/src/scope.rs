//! Which kinds live outside namespaces, by API group and kind: the built-in table, widely used
//! third-party kinds whose CRDs are usually installed outside the stack (Karpenter,
//! cert-manager, ...), and the stack's own CRDs (`spec.scope: Cluster`), which decide for their
//! kind. Loading reads it to give namespaced objects the stack's namespace and nothing else;
//! checks read it to know where an object lands. Kinds found nowhere here are namespaced, the
//! common case.

use crate::ValueExt;
use std::collections::HashMap;

use serde_json::Value;

use crate::Object;

/// Cluster-scoped kinds as (group, kind): Kubernetes' own, then widely used CRDs.
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("policy", "PodSecurityPolicy"),
    ("extensions", "PodSecurityPolicy"),
    ("authentication.k8s.io", "TokenReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("metrics.k8s.io", "NodeMetrics"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("kyverno.io", "ClusterPolicy"),
    ("keda.sh", "ClusterTriggerAuthentication"),
    ("karpenter.sh", "NodePool"),
    ("karpenter.sh", "NodeClaim"),
    ("karpenter.k8s.aws", "EC2NodeClass"),
];

/// True for a kind of the built-in table ([`CLUSTER_SCOPED`]). Without the stack's CRDs: use
/// [`Scopes::is_cluster_scoped`] when the stack is at hand.
pub fn is_builtin_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| *k == kind && *g == group)
}

/// The scope of each kind the stack defines a CRD for, over the built-in table.
///
/// Built once per stack in one pass over its objects; a lookup is one hash lookup of the kind
/// (no allocation: every rule asks it of every object) and, for kinds the stack does not
/// define, a scan of [`CLUSTER_SCOPED`].
#[derive(Clone, Debug, Default)]
pub struct Scopes {
    /// kind → (group, cluster-scoped) of the CRDs among the objects that define it.
    crds: HashMap<String, Vec<(String, bool)>>,
}

impl Scopes {
    /// Collects the scope of every CRD among `objects`.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Object>) -> Scopes {
        let mut crds = HashMap::new();
        for o in objects {
            if o.kind() != "CustomResourceDefinition" || o.group() != "apiextensions.k8s.io" {
                continue;
            }
            let v = &o.value;
            let text = |p: &str| v.at(p).and_then(Value::as_str).unwrap_or("");
            let groups: &mut Vec<(String, bool)> = crds
                .entry(text("/spec/names/kind").to_string())
                .or_default();
            let (group, cluster) = (text("/spec/group"), text("/spec/scope") == "Cluster");
            // A second CRD for the same group and kind wins, as the last one applied does.
            groups.retain(|(g, _)| g != group);
            groups.push((group.to_string(), cluster));
        }
        Scopes { crds }
    }

    /// The scope the stack's CRD for `group`/`kind` gives, if the stack defines one.
    fn crd(&self, group: &str, kind: &str) -> Option<bool> {
        let groups = self.crds.get(kind)?;
        groups.iter().find(|(g, _)| g == group).map(|(_, c)| *c)
    }

    /// Whether objects of `group`/`kind` live outside namespaces: a CRD of the stack decides
    /// for its kind, then the built-in table; unknown kinds are namespaced.
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        self.crd(group, kind)
            .unwrap_or_else(|| is_builtin_cluster_scoped(group, kind))
    }

    /// True when the stack defines a CRD for `group`/`kind`.
    pub fn defines(&self, group: &str, kind: &str) -> bool {
        self.crd(group, kind).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Origin, SourceFile};
    use serde_json::json;
    use std::sync::Arc;

    fn obj(value: Value) -> Object {
        Object {
            value,
            file: Arc::new(SourceFile::new("a.yaml", "")),
            doc: 0,
            component: "c".into(),
            origin: Origin::Manifest,
            positions: Default::default(),
        }
    }

    fn crd(group: &str, kind: &str, scope: &str) -> Object {
        obj(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}s.{group}", kind.to_lowercase())},
            "spec": {"group": group, "scope": scope, "names": {"kind": kind}}}),
        )
    }

    #[test]
    fn built_in_and_well_known_kinds_by_group_and_kind() {
        let none = Scopes::default();
        assert!(none.is_cluster_scoped("", "Namespace"));
        assert!(none.is_cluster_scoped("scheduling.k8s.io", "PriorityClass"));
        assert!(none.is_cluster_scoped("karpenter.sh", "NodePool"));
        assert!(none.is_cluster_scoped("karpenter.sh", "NodeClaim"));
        assert!(none.is_cluster_scoped("karpenter.k8s.aws", "EC2NodeClass"));
        assert!(none.is_cluster_scoped("cert-manager.io", "ClusterIssuer"));
        assert!(!none.is_cluster_scoped("cert-manager.io", "Issuer"));
        assert!(!none.is_cluster_scoped("", "ConfigMap"));
        // The group matters: a namespaced `NodePool` of another API is not Karpenter's.
        assert!(!none.is_cluster_scoped("example.com", "NodePool"));
        assert!(!none.is_cluster_scoped("example.com", "Widget"));
    }

    #[test]
    fn the_stacks_crds_decide_for_their_kinds() {
        let objects = [
            crd("example.com", "Widget", "Cluster"),
            crd("example.com", "Gadget", "Namespaced"),
            // A stack may redefine a well-known kind; its CRD wins.
            crd("karpenter.sh", "NodePool", "Namespaced"),
        ];
        let scopes = Scopes::from_objects(&objects);
        assert!(scopes.is_cluster_scoped("example.com", "Widget"));
        assert!(!scopes.is_cluster_scoped("example.com", "Gadget"));
        assert!(!scopes.is_cluster_scoped("karpenter.sh", "NodePool"));
        assert!(scopes.defines("example.com", "Gadget"));
        assert!(!scopes.defines("example.com", "Other"));
        assert!(scopes.is_cluster_scoped("", "Namespace"));
    }
}
