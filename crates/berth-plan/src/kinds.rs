//! What the kind of an object alone says about its place in the order.

/// Kinds that everything else may need and that need nothing: they go into the first wave
/// (CRDs are then waited for until Established, before any custom resource is applied).
/// Cluster RBAC roles and the "class" kinds are here, like Flux's first two stages.
pub fn is_cluster_definition(kind: &str) -> bool {
    matches!(
        kind,
        "CustomResourceDefinition"
            | "Namespace"
            | "ClusterRole"
            | "PriorityClass"
            | "StorageClass"
            | "IngressClass"
            | "RuntimeClass"
            | "VolumeSnapshotClass"
            | "GatewayClass"
            | "ClusterClass"
    )
}

/// Admission webhooks: applied after their Service's backends and before what they intercept.
pub fn is_webhook(kind: &str) -> bool {
    matches!(
        kind,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"
    )
}

/// Data-bearing or shared kinds that `down` and prune keep unless asked (`--purge`,
/// `--prune-data`): deleting them loses data or takes other objects with them.
pub fn is_kept_by_default(kind: &str) -> bool {
    matches!(
        kind,
        "PersistentVolumeClaim" | "PersistentVolume" | "Namespace" | "CustomResourceDefinition"
    )
}

/// Helm's install order, used only to sort objects inside one wave so output is stable and
/// reads naturally (all objects of a wave are applied at once).
pub fn display_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "CustomResourceDefinition",
        "Namespace",
        "PriorityClass",
        "StorageClass",
        "IngressClass",
        "RuntimeClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "Ingress",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// The plural resource name Kubernetes uses for `kind` by convention (`Ingress` → `ingresses`,
/// `NetworkPolicy` → `networkpolicies`); webhook rules name resources this way.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if lower.ends_with('s')
        || lower.ends_with("sh")
        || lower.ends_with("ch")
        || lower.ends_with('x')
    {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_the_api_conventions() {
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Deployment"), "deployments");
        assert_eq!(plural("Gateway"), "gateways");
    }
}
