//! Where each kind keeps its pods: the pod template of a workload (`/spec/template` of a
//! Deployment, `/spec/jobTemplate/spec/template` of a CronJob) or the Pod itself. One table for
//! every step that reads containers, volumes or references out of an object — checks, wave
//! planning, apply, the doctor and the cluster sizing — so a kind added here is seen by all.

use crate::ValueExt;
use serde_json::Value;

/// Where a kind keeps its pod template (`metadata` + `spec`) and its pod spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodLocation {
    /// JSON pointer of the pod template; `""` for a Pod, which is its own template.
    pub template: &'static str,
    /// JSON pointer of the pod spec (`/spec/template/spec`; `/spec` for a Pod).
    pub spec: &'static str,
}

/// Where objects of `kind` keep their pods, or `None` for kinds without pods.
///
/// Pods, ReplicaSets, ReplicationControllers, Deployments, StatefulSets, DaemonSets, Jobs and
/// CronJobs; by kind alone, as the API has one kind of each name with pods.
pub fn location(kind: &str) -> Option<PodLocation> {
    let (template, spec) = match kind {
        "Pod" => ("", "/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => ("/spec/template", "/spec/template/spec"),
        "CronJob" => (
            "/spec/jobTemplate/spec/template",
            "/spec/jobTemplate/spec/template/spec",
        ),
        _ => return None,
    };
    Some(PodLocation { template, spec })
}

/// JSON pointer of the pod spec of `kind` (`None` for kinds without pods).
pub fn spec_pointer(kind: &str) -> Option<&'static str> {
    location(kind).map(|l| l.spec)
}

/// The pod spec of the object `value` of `kind`, with its JSON pointer.
pub fn pod_spec<'v>(kind: &str, value: &'v Value) -> Option<(&'static str, &'v Value)> {
    let p = spec_pointer(kind)?;
    value.at(p).map(|spec| (p, spec))
}

/// The pod template (`metadata` + `spec`) of the object `value` of `kind`, with its JSON
/// pointer (`""` for a Pod).
pub fn pod_template<'v>(kind: &str, value: &'v Value) -> Option<(&'static str, &'v Value)> {
    let p = location(kind)?.template;
    let template = if p.is_empty() {
        Some(value)
    } else {
        value.at(p)
    };
    template.filter(|t| t.is_object()).map(|t| (p, t))
}

/// The container lists of a pod spec whose containers run as part of the pod: init containers
/// first, in the order the kubelet starts them. Not `ephemeralContainers` (debugging
/// containers added to a running pod): they request no resources and are no part of the
/// template's workload.
pub const CONTAINER_LISTS: [&str; 2] = ["initContainers", "containers"];

/// The init containers and containers of a pod spec, init containers first, each with its
/// pointer relative to the spec (`/initContainers/0`).
pub fn containers(spec: &Value) -> impl Iterator<Item = (String, &Value)> {
    lists(spec, &CONTAINER_LISTS)
}

/// Containers of the named lists of `spec`, each with its pointer relative to the spec.
pub fn lists<'v>(
    spec: &'v Value,
    lists: &'static [&'static str],
) -> impl Iterator<Item = (String, &'v Value)> {
    lists.iter().flat_map(move |list| {
        spec.get(*list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(i, c)| (format!("/{list}/{i}"), c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_workload_kind_has_its_pods_where_the_api_puts_them() {
        let spec = json!({"containers": [{"name": "c"}]});
        let cases = [
            ("Pod", json!({"spec": spec})),
            ("Deployment", json!({"spec": {"template": {"spec": spec}}})),
            ("StatefulSet", json!({"spec": {"template": {"spec": spec}}})),
            ("DaemonSet", json!({"spec": {"template": {"spec": spec}}})),
            ("ReplicaSet", json!({"spec": {"template": {"spec": spec}}})),
            (
                "ReplicationController",
                json!({"spec": {"template": {"spec": spec}}}),
            ),
            ("Job", json!({"spec": {"template": {"spec": spec}}})),
            (
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            ),
        ];
        for (kind, v) in cases {
            let (p, found) = pod_spec(kind, &v).unwrap_or_else(|| panic!("{kind}"));
            assert_eq!(found, &spec, "{kind}");
            assert_eq!(v.at(p), Some(&spec), "{kind}");
            let (tp, t) = pod_template(kind, &v).unwrap_or_else(|| panic!("{kind}"));
            assert_eq!(t.member("spec"), Some(&spec), "{kind}");
            assert_eq!(format!("{tp}/spec"), p, "{kind}");
        }
        assert_eq!(spec_pointer("Service"), None);
        assert!(pod_spec("Deployment", &json!({"spec": {}})).is_none());
    }

    #[test]
    fn containers_come_init_first_and_ephemeral_only_when_asked() {
        let spec = json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}],
                          "ephemeralContainers": [{"name": "debug"}]});
        let names: Vec<(String, &str)> = containers(&spec)
            .map(|(p, c)| (p, c["name"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            names,
            [
                ("/initContainers/0".to_string(), "i"),
                ("/containers/0".to_string(), "a"),
                ("/containers/1".to_string(), "b")
            ]
        );
        assert_eq!(lists(&spec, &["ephemeralContainers"]).count(), 1);
    }
}
