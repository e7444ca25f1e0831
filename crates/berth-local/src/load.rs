//! Emulated CPU and memory use of pods on the local cluster, and the driver behind
//! `berth local load`.
//!
//! kwok reports a container's usage in its emulated kubelet metrics from the pod's
//! `ResourceUsage` object (kwok.x-k8s.io/v1alpha1, named after the pod), else from the default
//! `ClusterResourceUsage` of [`default_usage`]: the pod's annotations
//! [`CPU_ANNOTATION`] / [`MEMORY_ANNOTATION`] per container, else an idle process.
//! metrics-server reads those metrics, so `kubectl top` and HPAs see what is written here.
//!
//! [`drive`] plays a load balancer in front of each driven workload: at every tick it reads
//! the workload's pods, and spreads the workload's demand at that moment evenly over the Ready
//! ones (a pod that is not Ready gets no traffic and falls back to idle), writing one
//! `ResourceUsage` per Ready pod. It stops at the end of the curve or when told to, and then
//! deletes every object it wrote, also when it stops on an error. The objects are owned by
//! their pods too, so a pod that goes away takes its usage with it even if the driver was
//! killed.
//!
//! The arithmetic ([`share`], [`usage_object`]) is pure and tested without a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::Error;

/// Pod annotation: the CPU each container of the pod uses (a quantity, `250m`), for pods
/// without a `ResourceUsage`. A test or a user can set it in a pod template.
pub const CPU_ANNOTATION: &str = "kwok.x-k8s.io/usage-cpu";
/// Pod annotation: the memory each container of the pod uses (a quantity, `128Mi`).
pub const MEMORY_ANNOTATION: &str = "kwok.x-k8s.io/usage-memory";
/// What a container without any usage set uses: an idle process.
const IDLE_CPU: &str = "1m";
const IDLE_MEMORY: &str = "1Mi";

/// Label on every `ResourceUsage` [`drive`] writes: the name of the workload it drives.
pub const LOAD_LABEL: &str = "berth.dev/load";
const MANAGER: &str = "berth-load";

/// kwok's CEL expression for a container's `resource` use: the pod's annotation, else idle.
fn usage_expression(resource: &str) -> String {
    let (annotation, idle) = match resource {
        "cpu" => (CPU_ANNOTATION, IDLE_CPU),
        _ => (MEMORY_ANNOTATION, IDLE_MEMORY),
    };
    format!(
        "\"{annotation}\" in pod.metadata.annotations \
         ? Quantity(pod.metadata.annotations[\"{annotation}\"]) : Quantity(\"{idle}\")"
    )
}

/// The default `ClusterResourceUsage` of the local cluster, as a kwok config document (JSON,
/// which is YAML): every container of a pod without a `ResourceUsage` uses what the pod's
/// annotations say, else next to nothing.
pub fn default_usage() -> String {
    let doc = json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterResourceUsage",
        "metadata": {"name": "berth-default-usage"},
        "spec": {"usages": [{"usage": {
            "cpu": {"expression": usage_expression("cpu")},
            "memory": {"expression": usage_expression("memory")},
        }}]},
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// What one workload (all its pods together) or one pod uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// CPU in millicores.
    pub cpu_m: f64,
    /// Memory in MiB; `None` leaves memory at its default (annotation or idle).
    pub memory_mib: Option<f64>,
}

/// A workload to drive: which one, and its demand at `t` seconds from the start.
pub struct Workload {
    /// How the load names it, for progress lines and errors.
    pub label: String,
    /// `Deployment` or `StatefulSet`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub demand: Box<dyn Fn(f64) -> Usage + Send + Sync>,
}

/// How [`drive`] runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// How often pods are re-read and usage rewritten (metrics-server scrapes every
    /// [`crate::METRIC_RESOLUTION`], so a second or two is plenty).
    pub tick: Duration,
    /// When to stop; `None` runs until `stop` says so.
    pub duration: Option<Duration>,
}

/// One workload at one tick, for progress output.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSample {
    pub label: String,
    pub ready_pods: usize,
    pub demand: Usage,
    /// What each Ready pod uses; `None` when no pod is Ready.
    pub per_pod: Option<Usage>,
}

/// Everything driven at one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub elapsed: Duration,
    pub workloads: Vec<WorkloadSample>,
}

/// Why [`drive`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The duration (the end of the curve) was reached.
    Finished,
    /// `stop` became true (Ctrl-C, SIGTERM).
    Interrupted,
}

/// The usage of each of `ready` pods sharing `demand` evenly, as a load balancer spreads
/// requests; `None` when no pod is Ready (the demand is not served).
pub fn share(demand: Usage, ready: usize) -> Option<Usage> {
    (ready > 0).then(|| Usage {
        cpu_m: demand.cpu_m.max(0.0) / ready as f64,
        memory_mib: demand.memory_mib.map(|m| m.max(0.0) / ready as f64),
    })
}

/// The `ResourceUsage` that makes `pod` use `usage`, split evenly over its containers (kwok
/// reports usage per container; metrics-server and the HPA add them up per pod). Owned by the
/// pod, so it goes when the pod goes.
pub fn usage_object(pod: &Pod, workload: &str, usage: Usage) -> Value {
    let containers: Vec<&str> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let n = containers.len().max(1) as f64;
    let cpu = format!("{}m", (usage.cpu_m / n).round() as i64);
    let memory = match usage.memory_mib {
        Some(m) => json!({"value": format!("{}Mi", (m / n).round() as i64)}),
        None => json!({"expression": usage_expression("memory")}),
    };
    let usages: Vec<Value> = containers
        .iter()
        .map(|c| json!({"containers": [c], "usage": {"cpu": {"value": cpu}, "memory": memory}}))
        .collect();
    json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ResourceUsage",
        "metadata": {
            "name": pod.metadata.name,
            "namespace": pod.metadata.namespace,
            "labels": {LOAD_LABEL: workload},
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            }],
        },
        "spec": {"usages": usages},
    })
}

/// True when the pod takes traffic: Ready and not being deleted.
pub fn serving(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn resource_usage_api(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kwok.x-k8s.io", "v1alpha1", "ResourceUsage"),
        "resourceusages",
    );
    Api::namespaced_with(client.clone(), namespace, &ar)
}

/// The `spec.selector` of the live workload, as JSON for `berth_model::labels`.
async fn selector(client: &kube::Client, w: &Workload) -> Result<Value, Error> {
    let missing = || {
        Error::Load(format!(
            "{}: {} {}/{} is not on the local cluster; deploy the stack first (`berth up --local`)",
            w.label, w.kind, w.namespace, w.name
        ))
    };
    let selector = match w.kind.as_str() {
        "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), &w.namespace)
            .get_opt(&w.name)
            .await
            .map_err(Error::api("read the workload"))?
            .ok_or_else(missing)?
            .spec
            .map(|s| s.selector),
        _ => Api::<Deployment>::namespaced(client.clone(), &w.namespace)
            .get_opt(&w.name)
            .await
            .map_err(Error::api("read the workload"))?
            .ok_or_else(missing)?
            .spec
            .map(|s| s.selector),
    };
    serde_json::to_value(selector.unwrap_or_default())
        .map_err(|e| Error::Load(format!("{}: its selector: {e}", w.label)))
}

/// Drives `workloads` until the duration ends or `stop` becomes true, calling `progress` at
/// every tick; then deletes every `ResourceUsage` it wrote, whatever ended it.
pub async fn drive(
    client: &kube::Client,
    workloads: &[Workload],
    opts: &Options,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut progress: impl FnMut(&Sample),
) -> Result<Ended, Error> {
    let mut selectors = Vec::new();
    for w in workloads {
        selectors.push(selector(client, w).await?);
    }
    // A run killed before it could clean up may have left objects for these workloads.
    cleanup(client, workloads).await?;
    let result = run(
        client,
        workloads,
        &selectors,
        opts,
        &mut stop,
        &mut progress,
    )
    .await;
    let cleaned = cleanup(client, workloads).await;
    let ended = result?;
    cleaned?;
    Ok(ended)
}

async fn run(
    client: &kube::Client,
    workloads: &[Workload],
    selectors: &[Value],
    opts: &Options,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    progress: &mut impl FnMut(&Sample),
) -> Result<Ended, Error> {
    let start = Instant::now();
    // What each pod's ResourceUsage says now (whole millicores and MiB), so an unchanged
    // value is not written again: (namespace, pod) → (cpu, memory).
    let mut written: BTreeMap<(String, String), (i64, Option<i64>)> = BTreeMap::new();
    let apply = PatchParams::apply(MANAGER).force();
    loop {
        if *stop.borrow() {
            return Ok(Ended::Interrupted);
        }
        let elapsed = start.elapsed();
        let t = elapsed.as_secs_f64();
        let mut sample = Sample {
            elapsed,
            workloads: Vec::new(),
        };
        let mut serving_now: BTreeSet<(String, String)> = BTreeSet::new();
        for (w, selector) in workloads.iter().zip(selectors) {
            let pods = Api::<Pod>::namespaced(client.clone(), &w.namespace)
                .list(&ListParams::default())
                .await
                .map_err(Error::api("list pods"))?;
            let ready: Vec<&Pod> = pods
                .items
                .iter()
                .filter(|p| {
                    let labels = serde_json::to_value(&p.metadata.labels).ok();
                    berth_model::labels::matches_selector(
                        selector,
                        labels.as_ref().and_then(Value::as_object),
                    ) && serving(p)
                })
                .collect();
            let demand = (w.demand)(t);
            let per_pod = share(demand, ready.len());
            if let Some(usage) = per_pod {
                let api = resource_usage_api(client, &w.namespace);
                for pod in &ready {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let key = (w.namespace.clone(), name.clone());
                    let value = (
                        usage.cpu_m.round() as i64,
                        usage.memory_mib.map(|m| m.round() as i64),
                    );
                    serving_now.insert(key.clone());
                    if written.get(&key) == Some(&value) {
                        continue;
                    }
                    let obj = usage_object(pod, &w.name, usage);
                    match api.patch(&name, &apply, &Patch::Apply(&obj)).await {
                        Ok(_) => {
                            written.insert(key, value);
                        }
                        // The pod went away between the list and now: nothing to drive.
                        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                        Err(e) => return Err(Error::api("write a ResourceUsage")(e)),
                    }
                }
            }
            sample.workloads.push(WorkloadSample {
                label: w.label.clone(),
                ready_pods: ready.len(),
                demand,
                per_pod,
            });
        }
        // Pods that stopped serving (or went) fall back to idle.
        let gone: Vec<(String, String)> = written
            .keys()
            .filter(|k| !serving_now.contains(*k))
            .cloned()
            .collect();
        for (ns, pod) in gone {
            match resource_usage_api(client, &ns)
                .delete(&pod, &DeleteParams::default())
                .await
            {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => return Err(Error::api("delete a ResourceUsage")(e)),
            }
            written.remove(&(ns, pod));
        }
        progress(&sample);
        if opts.duration.is_some_and(|d| elapsed >= d) {
            return Ok(Ended::Finished);
        }
        let next = opts
            .duration
            .map_or(opts.tick, |d| opts.tick.min(d.saturating_sub(elapsed)));
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Deletes the `ResourceUsage` objects written for `workloads`.
pub async fn cleanup(client: &kube::Client, workloads: &[Workload]) -> Result<(), Error> {
    for w in workloads {
        let lp = ListParams::default().labels(&format!("{LOAD_LABEL}={}", w.name));
        resource_usage_api(client, &w.namespace)
            .delete_collection(&DeleteParams::default(), &lp)
            .await
            .map_err(Error::api("delete the load's ResourceUsage objects"))?;
    }
    Ok(())
}

/// The `ResourceUsage` objects written for the workload `name` in `namespace` (a test checks
/// that none is left).
pub async fn remaining(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<String>, Error> {
    let lp = ListParams::default().labels(&format!("{LOAD_LABEL}={name}"));
    Ok(resource_usage_api(client, namespace)
        .list(&lp)
        .await
        .map_err(Error::api("list ResourceUsage objects"))?
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: &[&str]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"},
            "spec": {"containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()},
        }))
        .unwrap()
    }

    #[test]
    fn demand_is_shared_evenly_by_ready_pods_and_unserved_without_any() {
        let demand = Usage {
            cpu_m: 900.0,
            memory_mib: Some(300.0),
        };
        assert_eq!(
            share(demand, 3),
            Some(Usage {
                cpu_m: 300.0,
                memory_mib: Some(100.0)
            })
        );
        assert_eq!(share(demand, 0), None);
        let cpu_only = Usage {
            cpu_m: 100.0,
            memory_mib: None,
        };
        assert_eq!(share(cpu_only, 4).unwrap().memory_mib, None);
    }

    #[test]
    fn a_pods_usage_is_split_over_its_containers_and_owned_by_the_pod() {
        let obj = usage_object(
            &pod(&["app", "proxy"]),
            "web",
            Usage {
                cpu_m: 301.0,
                memory_mib: Some(64.0),
            },
        );
        assert_eq!(obj["metadata"]["labels"][LOAD_LABEL], "web");
        assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "u-1");
        let usages = obj["spec"]["usages"].as_array().unwrap();
        assert_eq!(usages.len(), 2);
        assert_eq!(usages[0]["containers"], json!(["app"]));
        assert_eq!(usages[1]["usage"]["cpu"]["value"], "151m");
        assert_eq!(usages[1]["usage"]["memory"]["value"], "32Mi");
    }

    #[test]
    fn without_memory_in_the_load_memory_stays_at_its_default() {
        let obj = usage_object(
            &pod(&["app"]),
            "web",
            Usage {
                cpu_m: 50.0,
                memory_mib: None,
            },
        );
        let memory = &obj["spec"]["usages"][0]["usage"]["memory"];
        assert!(memory.get("value").is_none());
        assert!(
            memory["expression"]
                .as_str()
                .unwrap()
                .contains(MEMORY_ANNOTATION)
        );
    }

    #[test]
    fn the_default_usage_reads_the_annotations_and_falls_back_to_idle() {
        let doc: Value = serde_json::from_str(&default_usage()).unwrap();
        assert_eq!(doc["kind"], "ClusterResourceUsage");
        let cpu = doc["spec"]["usages"][0]["usage"]["cpu"]["expression"]
            .as_str()
            .unwrap();
        assert!(cpu.contains(CPU_ANNOTATION) && cpu.contains("Quantity(\"1m\")"));
    }

    #[test]
    fn a_pod_serves_only_when_ready_and_not_terminating() {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "a"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap();
        assert!(serving(&p));
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert!(!serving(&p));
        let unready: Pod = serde_json::from_value(json!({
            "metadata": {"name": "b"},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        }))
        .unwrap();
        assert!(!serving(&unready));
    }
}
