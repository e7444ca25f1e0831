//! Where a stack object keeps its pod template, so a diagnosis about a pod can point at the
//! line of the manifest that made it.

use berth_model::Object;
use serde_json::Value;

use crate::snapshot::{arr, s};

/// JSON pointer to the pod spec of a workload object, or `None` for kinds without one.
pub(crate) fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        "Pod" => Some("/spec"),
        _ => None,
    }
}

/// The pod spec of a stack object, with its pointer.
pub(crate) fn pod_spec(o: &Object) -> Option<(&'static str, &Value)> {
    let p = pod_spec_pointer(o.kind())?;
    o.value.pointer(p).map(|v| (p, v))
}

/// Pointer to the container called `name` (init containers included) in `o`'s pod template.
pub(crate) fn container_pointer(o: &Object, name: &str) -> Option<String> {
    let (base, spec) = pod_spec(o)?;
    for list in ["initContainers", "containers"] {
        if let Some(i) = arr(spec, &format!("/{list}"))
            .iter()
            .position(|c| s(c, "/name") == name)
        {
            return Some(format!("{base}/{list}/{i}"));
        }
    }
    None
}

/// Every container of a pod spec, init containers first, with its pointer relative to the spec.
pub(crate) fn containers(spec: &Value) -> impl Iterator<Item = (String, &Value)> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |list| {
            arr(spec, &format!("/{list}"))
                .iter()
                .enumerate()
                .map(move |(i, c)| (format!("/{list}/{i}"), c))
        })
}
