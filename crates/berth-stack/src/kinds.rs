//! What berth knows about kinds without asking a cluster: which are cluster-scoped (so they get
//! no default namespace). The order objects are applied in is the planner's (`berth-plan`).

use std::collections::HashSet;

use berth_model::Object;
use serde_json::Value;

/// Built-in cluster-scoped kinds, as (group, kind), plus a few widely used CRDs whose
/// definition is often installed outside the stack.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
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
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("kyverno.io", "ClusterPolicy"),
    ("karpenter.sh", "NodePool"),
    ("karpenter.k8s.aws", "EC2NodeClass"),
];

/// Kinds the stack itself defines as cluster-scoped, from its CRDs (`spec.scope: Cluster`).
#[derive(Clone, Debug, Default)]
pub struct StackCrds {
    cluster: HashSet<(String, String)>,
    namespaced: HashSet<(String, String)>,
}

impl StackCrds {
    /// Collect the scope of every CRD among `objects`.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Object>) -> StackCrds {
        let mut crds = StackCrds::default();
        for o in objects {
            if o.kind() != "CustomResourceDefinition" || o.group() != "apiextensions.k8s.io" {
                continue;
            }
            let v = &o.value;
            let group = v
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            let kind = v
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            let key = (group.to_string(), kind.to_string());
            match v.pointer("/spec/scope").and_then(Value::as_str) {
                Some("Cluster") => crds.cluster.insert(key),
                _ => crds.namespaced.insert(key),
            };
        }
        crds
    }
}

/// Whether objects of this kind live outside namespaces. A CRD in the stack decides for its
/// kind; otherwise the built-in table does; unknown kinds are namespaced (the common case).
pub fn is_cluster_scoped(group: &str, kind: &str, crds: &StackCrds) -> bool {
    let key = (group.to_string(), kind.to_string());
    if crds.cluster.contains(&key) {
        return true;
    }
    if crds.namespaced.contains(&key) {
        return false;
    }
    CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
}

/// Set `metadata.namespace` on a namespaced object that names none.
pub fn default_namespace(object: &mut Object, namespace: &str, crds: &StackCrds) {
    if object.namespace().is_some() || is_cluster_scoped(object.group(), object.kind(), crds) {
        return;
    }
    if let Some(Value::Object(meta)) = object.value.get_mut("metadata") {
        meta.insert("namespace".into(), Value::String(namespace.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::{Origin, SourceFile};
    use serde_json::json;
    use std::sync::Arc;

    fn obj(v: Value, component: &str) -> Object {
        Object {
            value: v,
            file: Arc::new(SourceFile {
                path: "x.yaml".into(),
                text: "".into(),
            }),
            doc: 0,
            component: component.into(),
            origin: Origin::Manifest,
            positions: Default::default(),
        }
    }

    #[test]
    fn default_namespace_only_on_namespaced_objects_without_one() {
        let crd = obj(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "widgets.example.com"},
                   "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}}),
            "c",
        );
        let crds = StackCrds::from_objects([&crd]);
        let mut cases = [
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                Some("ns"),
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}}),
                Some("x"),
            ),
            (
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
                None,
            ),
            (
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "a"}}),
                None,
            ),
            (
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "a"}}),
                None,
            ),
            (
                json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "a"}}),
                Some("ns"),
            ),
        ];
        for (v, want) in cases.iter_mut() {
            let mut o = obj(v.clone(), "c");
            default_namespace(&mut o, "ns", &crds);
            assert_eq!(o.namespace(), *want, "{v}");
        }
    }
}
