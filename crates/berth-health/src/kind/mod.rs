//! Per-kind health rules for built-in kinds, one module each. Kinds not listed here follow the
//! custom resource rules in `custom/` (a data-file rule, or the generic conditions rule).

mod crd;
mod daemonset;
mod deployment;
mod job;
mod namespace;
mod pdb;
mod pod;
mod pvc;
mod replicaset;
mod service;
mod statefulset;

use serde_json::Value;

use crate::{Health, Options};

/// The kind-specific health of `obj`, or `None` when `group`/`kind` has no rule of its own.
pub(crate) fn status(group: &str, kind: &str, obj: &Value, options: &Options) -> Option<Health> {
    let h = match (group, kind) {
        ("apps", "Deployment") => deployment::status(obj),
        ("apps", "StatefulSet") => statefulset::status(obj),
        ("apps", "DaemonSet") => daemonset::status(obj),
        ("apps", "ReplicaSet") => replicaset::status(obj),
        ("", "Pod") => pod::status(obj),
        ("", "PersistentVolumeClaim") => pvc::status(obj),
        ("", "Service") => service::status(obj, options),
        ("", "Namespace") => namespace::status(obj),
        ("batch", "Job") => job::status(obj),
        ("policy", "PodDisruptionBudget") => pdb::status(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::status(obj),
        ("", "Secret") | ("", "ConfigMap") | ("batch", "CronJob") => {
            Health::current("Resource is always ready")
        }
        _ => return None,
    };
    Some(h)
}

/// The built-in workload controllers always write `status.observedGeneration`; until they
/// have, the status fields describe nothing yet.
fn not_observed(obj: &Value) -> Option<Health> {
    match obj.pointer("/status/observedGeneration") {
        Some(v) if !v.is_null() => None,
        _ => Some(Health::in_progress("Not yet observed by its controller")),
    }
}
