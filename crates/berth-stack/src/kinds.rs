//! What loading does with kinds: the stack's namespace for namespaced objects that name none
//! (which kinds are cluster-scoped is [`berth_model::scope`]'s). The order objects are applied
//! in is the planner's (`berth-plan`).

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

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::{Origin, SourceFile};
    use serde_json::json;
    use std::sync::Arc;

    fn obj(v: Value, component: &str) -> Object {
        Object {
            value: v,
            file: Arc::new(SourceFile::new("x.yaml", "")),
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
}
