//! What loading does with kinds: the stack's namespace for namespaced objects that name none
//! (which kinds are cluster-scoped is [`berth_model::scope`]'s), and a stable apply stage per
//! kind (used by `berth render` until the wave planner orders objects by their references).

use berth_model::Object;
use berth_model::scope::Scopes;
use serde_json::Value;

/// Set `metadata.namespace` on a namespaced object that names none.
pub fn default_namespace(object: &mut Object, namespace: &str, scopes: &Scopes) {
    if object.namespace().is_some() || scopes.is_cluster_scoped(object.group(), object.kind()) {
        return;
    }
    if let Some(Value::Object(meta)) = object.value.get_mut("metadata") {
        meta.insert("namespace".into(), Value::String(namespace.to_string()));
    }
}

/// The apply stage of a kind: what must exist before what. Lower goes first.
///
/// Namespaces, CRDs, cluster RBAC and classes; then service accounts and namespaced RBAC;
/// config and secrets; storage; services; workloads; what points at workloads (HPA, PDB,
/// Ingress, network policies); webhooks last (they intercept what comes after them only once
/// their Service answers); custom resources at the end, after the controllers that serve them.
pub fn kind_stage(group: &str, kind: &str) -> u8 {
    match (group, kind) {
        ("", "Namespace") => 0,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 1,
        ("scheduling.k8s.io", "PriorityClass")
        | ("storage.k8s.io", "StorageClass" | "CSIDriver" | "VolumeAttributesClass")
        | ("networking.k8s.io", "IngressClass")
        | ("node.k8s.io", "RuntimeClass") => 2,
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding") => 3,
        ("", "ServiceAccount") | ("rbac.authorization.k8s.io", "Role" | "RoleBinding") => 4,
        ("", "Secret" | "ConfigMap") => 5,
        ("", "PersistentVolume") => 6,
        ("", "PersistentVolumeClaim") => 7,
        ("", "Service" | "Endpoints") | ("discovery.k8s.io", "EndpointSlice") => 8,
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "Pod" | "ReplicationController")
        | ("batch", "Job" | "CronJob") => 9,
        ("autoscaling", "HorizontalPodAutoscaler")
        | ("policy", "PodDisruptionBudget")
        | ("networking.k8s.io", "Ingress" | "NetworkPolicy") => 10,
        ("admissionregistration.k8s.io", _) | ("apiregistration.k8s.io", "APIService") => 11,
        ("", _)
        | (
            "apps" | "batch" | "autoscaling" | "policy" | "storage.k8s.io" | "networking.k8s.io",
            _,
        )
        | (
            "rbac.authorization.k8s.io" | "scheduling.k8s.io" | "node.k8s.io" | "discovery.k8s.io",
            _,
        )
        | ("coordination.k8s.io" | "certificates.k8s.io" | "flowcontrol.apiserver.k8s.io", _)
        | ("resource.k8s.io", _) => 10,
        _ => 12,
    }
}

/// Sort objects by kind stage, keeping component order and then source order within a stage.
/// `component_rank` gives each component's position (unknown components go last).
pub fn sort_by_stage(objects: &mut [Object], component_rank: &dyn Fn(&str) -> usize) {
    objects.sort_by_cached_key(|o| {
        (
            kind_stage(o.group(), o.kind()),
            component_rank(&o.component),
        )
    });
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
        let scopes = Scopes::from_objects([&crd]);
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
            // Well-known cluster-scoped CRDs, without their definition in the stack.
            (
                json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "a"}}),
                None,
            ),
            (
                json!({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "a"}}),
                None,
            ),
        ];
        for (v, want) in cases.iter_mut() {
            let mut o = obj(v.clone(), "c");
            default_namespace(&mut o, "ns", &scopes);
            assert_eq!(o.namespace(), *want, "{v}");
        }
    }

    #[test]
    fn stage_order_is_stable_and_by_component() {
        let mk = |kind: &str, api: &str, name: &str, c: &str| {
            obj(
                json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
                c,
            )
        };
        let mut objs = vec![
            mk("Deployment", "apps/v1", "web", "b"),
            mk("Widget", "example.com/v1", "w", "a"),
            mk("Service", "v1", "web", "b"),
            mk("ConfigMap", "v1", "cfg2", "b"),
            mk("ConfigMap", "v1", "cfg1", "a"),
            mk("Namespace", "v1", "ns", "b"),
            mk(
                "CustomResourceDefinition",
                "apiextensions.k8s.io/v1",
                "crd",
                "a",
            ),
        ];
        let rank = |c: &str| if c == "a" { 0 } else { 1 };
        sort_by_stage(&mut objs, &rank);
        let names: Vec<String> = objs.iter().map(|o| o.name().to_string()).collect();
        assert_eq!(names, ["ns", "crd", "cfg1", "cfg2", "web", "web", "w"]);
        assert_eq!(objs[4].kind(), "Service");
    }
}
