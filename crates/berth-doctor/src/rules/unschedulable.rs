//! `unschedulable`: the scheduler finds no node for a pod. The scheduler's message lists why
//! per node (`3 Insufficient cpu`, `1 node(s) had untolerated taint`, `didn't match Pod's node
//! affinity/selector`, `volume node affinity conflict`); berth adds the numbers behind it: the
//! pod's request against the largest node's allocatable, the nodes' taints, the label values
//! the nodes really have, and the zone a bound volume lives in.

use berth_health::PodProblem;
use berth_model::Severity;
use berth_model::labels::matches_labels;
use berth_model::requests::{self, amount};
use serde_json::Value;

use super::pods::{pod_evidence, problems};
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::quantity::{format_bytes, format_millicores};
use crate::snapshot::{Ctx, arr, display, s};
use berth_model::pod_spec;

pub(crate) const ID: &str = "unschedulable";

/// The pod's effective request of a resource as the scheduler counts it
/// (`berth_model::requests`: sidecars, init containers and overhead included); millicores for
/// `cpu`, bytes for memory. A live pod's quantities passed the API server's validation, so
/// one that does not parse cannot happen and counts as nothing.
pub(crate) fn pod_request(pod_spec: &Value, resource: &str) -> i64 {
    requests::pod_requests(pod_spec).map_or(0, |r| r.get(resource))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let nodes = ctx.list("", "Node");
    for g in problems(ctx, ID) {
        let PodProblem::Unschedulable { message } = &g.problem else {
            continue;
        };
        let pod = g.pod();
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let base = pod_spec::spec_pointer(g.owner.kind()).unwrap_or("");
        let mut causes = Vec::new();
        let mut fixes = Vec::new();
        let mut pointer = base.to_string();
        let mut evidence = Vec::new();
        let mut selector: Option<String> = None;
        let mut volume = false;
        let mut volume_affinity: Vec<String> = Vec::new();
        for (resource, format) in [
            ("cpu", format_millicores as fn(i64) -> String),
            ("memory", format_bytes),
        ] {
            if !message.contains(&format!("Insufficient {resource}")) {
                continue;
            }
            let parse = |q: &str| amount(resource, q);
            let want = pod_request(spec, resource);
            let largest = nodes
                .iter()
                .filter_map(|n| {
                    parse(s(n, &format!("/status/allocatable/{resource}")))
                        .map(|v| (v, s(n, "/metadata/name")))
                })
                .max();
            // Point at the container asking the most: that is the request to look at.
            let biggest = arr(spec, "/containers")
                .iter()
                .enumerate()
                .max_by_key(|(_, c)| {
                    parse(s(c, &format!("/resources/requests/{resource}"))).unwrap_or(0)
                })
                .map_or(0, |(i, _)| i);
            pointer = format!("{base}/containers/{biggest}/resources/requests/{resource}");
            match largest {
                Some((alloc, node)) if want > alloc => {
                    causes.push(format!(
                        "it requests {} {resource}, more than any node can offer (largest allocatable: {} on {node})",
                        format(want),
                        format(alloc)
                    ));
                    fixes.push(format!(
                        "lower the {resource} request to at most {}, or use a larger node type",
                        format(alloc)
                    ));
                }
                Some((alloc, node)) => {
                    causes.push(format!(
                        "no node has {} {resource} free (largest allocatable: {} on {node}; the rest is requested by other pods)",
                        format(want),
                        format(alloc)
                    ));
                    fixes.push(format!("add nodes (or let the cluster autoscaler add them), or lower the {resource} request"));
                }
                None => causes.push(format!("no node has {} {resource} free", format(want))),
            }
        }
        // Nodes the pod's nodeSelector picks: when they exist and are tainted, the taint (a
        // node group reserved for something) is the problem, not the selector.
        let picked: Vec<&Value> = match spec.get("nodeSelector").and_then(Value::as_object) {
            Some(sel) if !sel.is_empty() => nodes
                .iter()
                .copied()
                .filter(|n| {
                    let labels = n.pointer("/metadata/labels").and_then(Value::as_object);
                    matches_labels(sel, labels)
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut tainted_pick = false;
        if message.contains("untolerated taint") || message.contains("had taint") {
            tainted_pick = picked.iter().any(|n| !arr(n, "/spec/taints").is_empty());
            // Each distinct taint once, as (key, value, effect): of the picked nodes when they
            // are the ones refusing the pod, else of all nodes.
            let taints: std::collections::BTreeSet<(&str, &str, &str)> = (if tainted_pick {
                picked.as_slice()
            } else {
                nodes
            })
            .iter()
            .flat_map(|n| arr(n, "/spec/taints"))
            .map(|t| (s(t, "/key"), s(t, "/value"), s(t, "/effect")))
            .collect();
            let listed: Vec<String> = taints
                .iter()
                .map(|(k, v, e)| format!("{k}={v}:{e}"))
                .collect();
            if tainted_pick {
                let names: Vec<&str> = picked.iter().map(|n| s(n, "/metadata/name")).collect();
                causes.push(format!(
                    "the nodes its node selector picks ({}) carry taints it does not tolerate ({})",
                    names.join(", "),
                    listed.join(", ")
                ));
                // The node group is reserved for this workload: tolerate exactly its taints.
                let tolerations: Vec<String> = taints
                    .iter()
                    .map(|(k, v, e)| {
                        format!("{{key: {k}, operator: Equal, value: {v}, effect: {e}}}")
                    })
                    .collect();
                fixes.push(format!(
                    "add `tolerations: [{}]` to the pod template, so it may run on the nodes it selects",
                    tolerations.join(", ")
                ));
            } else {
                causes.push(format!(
                    "nodes carry taints the pod does not tolerate ({})",
                    listed.join(", ")
                ));
                fixes.push("add a matching `tolerations:` entry to the pod template, or schedule onto nodes without the taint".into());
            }
            if pointer == base {
                pointer = format!("{base}/tolerations");
            }
        }
        if (message.contains("node affinity/selector")
            || message.contains("node(s) didn't match Pod's node affinity"))
            && !tainted_pick
        {
            let mut wanted = Vec::new();
            if let Some(sel) = spec.get("nodeSelector").and_then(Value::as_object) {
                for (k, v) in sel {
                    wanted.push((k.clone(), v.as_str().unwrap_or("").to_string()));
                }
                pointer = format!("{base}/nodeSelector");
            }
            for term in arr(
                spec,
                "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
            ) {
                for e in arr(term, "/matchExpressions") {
                    let values: Vec<&str> =
                        arr(e, "/values").iter().filter_map(Value::as_str).collect();
                    wanted.push((
                        s(e, "/key").to_string(),
                        format!("{} {}", s(e, "/operator"), values.join(",")),
                    ));
                }
                if pointer == base {
                    pointer = format!("{base}/affinity");
                }
            }
            let have: Vec<String> = wanted
                .iter()
                .map(|(k, _)| {
                    let mut vals: Vec<&str> = nodes
                        .iter()
                        .filter_map(|n| {
                            n.pointer("/metadata/labels")
                                .and_then(|l| l.get(k))
                                .and_then(Value::as_str)
                        })
                        .collect();
                    vals.sort_unstable();
                    vals.dedup();
                    format!("{k} in [{}]", vals.join(", "))
                })
                .collect();
            let want: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            selector = Some(want.join("; "));
            if !have.is_empty() {
                evidence.push((
                    EvidenceKind::State,
                    "nodes".to_string(),
                    format!("node labels: {}", have.join("; ")),
                ));
            }
        }
        // `volume node affinity conflict` before Kubernetes 1.30, then `didn't match
        // PersistentVolume's node affinity`.
        if message.contains("volume node affinity conflict")
            || message.contains("didn't match PersistentVolume's node affinity")
        {
            for claim in arr(spec, "/volumes").iter().filter_map(|v| {
                v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
            }) {
                let ns = s(pod, "/metadata/namespace");
                let Some(pv) = ctx
                    .get("", "PersistentVolumeClaim", ns, claim)
                    .map(|c| s(c, "/spec/volumeName"))
                    .and_then(|n| ctx.get("", "PersistentVolume", "", n))
                else {
                    continue;
                };
                let zones: Vec<String> = arr(pv, "/spec/nodeAffinity/required/nodeSelectorTerms")
                    .iter()
                    .flat_map(|t| arr(t, "/matchExpressions"))
                    .map(|e| {
                        format!(
                            "{} {}",
                            s(e, "/key"),
                            arr(e, "/values")
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    })
                    .collect();
                volume_affinity.push(format!(
                    "`{}` {}",
                    s(pv, "/metadata/name"),
                    zones.join("; ")
                ));
                evidence.push((
                    EvidenceKind::State,
                    display(pv),
                    format!("volume node affinity: {}", zones.join("; ")),
                ));
            }
            volume = true;
        }
        match (&selector, volume) {
            (Some(sel), true) => {
                causes.push(format!(
                    "its node selector/affinity ({sel}) and the node affinity of its volume ({}) exclude each other: no node satisfies both",
                    volume_affinity.join(", ")
                ));
                fixes.push("move the pod to the volume's zone (change the node selector), or recreate the volume in the pod's zone; a StorageClass with `volumeBindingMode: WaitForFirstConsumer` makes volumes where the pod lands".into());
            }
            (Some(sel), false) => {
                causes.push(format!(
                    "no node matches its node selector/affinity ({sel})"
                ));
                fixes.push("make the node selector or affinity match labels the nodes have, or add nodes with those labels".into());
            }
            (None, true) => {
                causes.push(
                    "its volume can only be attached in a zone where no node fits the pod".into(),
                );
                fixes.push("keep the pod in the volume's zone (node affinity, or per-zone node groups), or use a StorageClass with `volumeBindingMode: WaitForFirstConsumer` so volumes are made where the pod lands".into());
            }
            (None, false) => {}
        }
        if message.contains("unbound immediate PersistentVolumeClaims") {
            causes.push(
                "a PersistentVolumeClaim it uses is not bound (see the pvc-pending diagnosis)"
                    .into(),
            );
            fixes.push("make the claim bind first".into());
        }
        // What a node autoscaler said about the pod: a node coming makes this a wait, not a
        // failure; a refusal is the real reason no node will come.
        let events: Vec<Value> = ctx
            .events(
                "Pod",
                s(pod, "/metadata/namespace"),
                s(pod, "/metadata/name"),
            )
            .into_iter()
            .cloned()
            .collect();
        let answer = berth_health::rollout::autoscaler_answer(&events);
        let mut severity = Severity::Error;
        match &answer {
            Some(a) if a.node_coming => {
                severity = Severity::Warning;
                causes.push(format!("a node is coming: {}", a.summary()));
            }
            Some(a) => {
                causes.push(a.summary());
                fixes.push(format!(
                    "make a node group able to run the pod, as {}'s reason says",
                    a.autoscaler
                ));
            }
            None => {}
        }
        let cause = if causes.is_empty() {
            format!("no node can run the pod: {message}")
        } else {
            format!("no node can run the pod: {}", causes.join("; "))
        };
        let fix = if fixes.is_empty() {
            "read the scheduler's message: it lists why each node was rejected".into()
        } else {
            fixes.join("; ")
        };
        let mut d = Diagnosis::at(ID, severity, g.owner, &pointer, cause, fix).with(
            EvidenceKind::Condition,
            display(pod),
            format!("PodScheduled=False Unschedulable: {message}"),
        );
        if let Some(a) = &answer {
            d = d.with(
                EvidenceKind::Event,
                display(pod),
                format!("{} ({}): {}", a.reason, a.autoscaler, a.message),
            );
        }
        for (k, subj, text) in evidence {
            d = d.with(k, subj, text);
        }
        // The PodScheduled condition quoted above is the scheduler's latest verdict; its
        // FailedScheduling events repeat it or are older (a claim not created yet).
        out.push(pod_evidence(ctx, d, &g, &[]));
    }
}

#[cfg(test)]
mod tests {
    use super::pod_request;
    use serde_json::json;

    /// The request the doctor compares with nodes is the scheduler's: doctor once summed the
    /// containers, took the largest init container, counted a sidecar as a plain init
    /// container and left out the overhead.
    #[test]
    fn request_counts_sidecars_and_overhead_as_the_scheduler_does() {
        let spec = json!({
            "initContainers": [
                {"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "256Mi"}}},
                {"name": "mesh", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}},
                {"name": "warm", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}
            ],
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}
            ],
            "overhead": {"cpu": "250m", "memory": "160Mi"}
        });
        // kube-scheduler (component-helpers/resource PodRequests), per resource:
        //   cpu:    containers 3000m + sidecar `mesh` 500m = 3500m;
        //           init `migrate` 1000m (no sidecar before it), `warm` 2000m + 500m = 2500m;
        //           max(3500, 1000, 2500) = 3500m, + overhead 250m = 3750m
        //           (the old rule: max(3000, 2000) = 3000m).
        //   memory: containers 1024Mi + 128Mi = 1152Mi; inits 256Mi, 64Mi + 128Mi = 192Mi;
        //           max = 1152Mi, + overhead 160Mi = 1312Mi (the old rule: 1024Mi).
        assert_eq!(pod_request(&spec, "cpu"), 3750);
        assert_eq!(pod_request(&spec, "memory"), 1312 << 20);
    }

    #[test]
    fn a_plain_init_container_larger_than_the_containers_is_the_request() {
        let spec = json!({
            "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
            "containers": [{"resources": {"requests": {"cpu": "1"}}}, {"resources": {"requests": {"cpu": "1"}}}]
        });
        assert_eq!(pod_request(&spec, "cpu"), 4000, "max(2, 4), not 2 + 4");
    }
}
