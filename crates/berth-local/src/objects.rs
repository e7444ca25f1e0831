//! What the local cluster holds besides its processes: kwok nodes spread over zones, the
//! storage classes of berth's `local` profile with a pool of pre-created volumes, the
//! definitions of kwok's `Logs` (container logs served for tests) and `ResourceUsage` (a pod's
//! emulated CPU and memory use) objects, and the registration of metrics-server's API.
//!
//! Everything is written with server-side apply (field manager `berth-local`), so running it
//! again converges instead of failing on what exists.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::{Error, Options};

/// Label on every node and volume berth's local cluster created.
pub const OWNED_LABEL: &str = "berth.dev/local";
/// Class whose volumes are zonal (one zone each, ReadWriteOnce), like EBS or a persistent disk.
pub const BLOCK_CLASS: &str = "berth-local-block";
/// Class whose volumes can be shared (ReadWriteMany) and reached from every zone, like EFS.
pub const SHARED_CLASS: &str = "berth-local-shared";

const MANAGER: &str = "berth-local";

pub(crate) fn apply() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

/// Points each node's kubelet endpoint at kwok's server port. kwok sets it only when it first
/// makes a node Ready, so after kwok moved to a new port (its old one taken) the API server
/// would otherwise dial the old port for `kubectl logs`.
pub async fn set_kubelet_port(
    client: &kube::Client,
    opts: &Options,
    port: u16,
) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    for (name, _) in node_names(opts) {
        let status = json!({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}});
        nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(Error::api("set the node's kubelet port"))?;
    }
    Ok(())
}

/// The CustomResourceDefinition of kwok's namespaced `Logs` (kwok.x-k8s.io/v1alpha1): a `Logs`
/// named after a pod tells kwok which file to serve as that pod's container logs, so
/// `kubectl logs` (and berth doctor) read real log lines through the API server and kwok's
/// kubelet endpoint. kwok watches these (`--enable-crds=Logs`); it must exist before kwok starts.
pub const LOGS_CRD: &str = "logs.kwok.x-k8s.io";

/// The CustomResourceDefinition of kwok's namespaced `ResourceUsage` (kwok.x-k8s.io/v1alpha1):
/// a `ResourceUsage` named after a pod sets the CPU and memory its containers use in the
/// emulated kubelet metrics (`spec.usages[].usage.{cpu,memory}.value`, a quantity). kwok
/// watches these (`--enable-crds=ResourceUsage`); it must exist before kwok starts.
pub const RESOURCE_USAGE_CRD: &str = "resourceusages.kwok.x-k8s.io";

/// Creates kwok's `Logs` and `ResourceUsage` definitions and waits until both are served.
pub async fn ensure_kwok_crds(client: &kube::Client, timeout: Duration) -> Result<(), Error> {
    let log = json!({
        "type": "object",
        "properties": {
            "containers": {"type": "array", "items": {"type": "string"}},
            "logsFile": {"type": "string"},
            "previousLogsFile": {"type": "string"},
            "follow": {"type": "boolean"},
        },
    });
    let logs_spec = json!({
        "type": "object",
        "required": ["logs"],
        "properties": {"logs": {"type": "array", "items": log}},
    });
    // A quantity as Kubernetes writes it: a string ("250m") or a number.
    let quantity = json!({"anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true});
    let usage_value = json!({
        "type": "object",
        "properties": {"value": quantity, "expression": {"type": "string"}},
    });
    let usage_spec = json!({
        "type": "object",
        "properties": {"usages": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "containers": {"type": "array", "items": {"type": "string"}},
                "usage": {"type": "object", "additionalProperties": usage_value},
            },
        }}},
    });
    ensure_kwok_crd(client, LOGS_CRD, "Logs", "logs", logs_spec, timeout).await?;
    ensure_kwok_crd(
        client,
        RESOURCE_USAGE_CRD,
        "ResourceUsage",
        "resourceusages",
        usage_spec,
        timeout,
    )
    .await
}

/// Creates one namespaced kwok.x-k8s.io/v1alpha1 definition with `spec` as its schema and
/// waits until it is established.
async fn ensure_kwok_crd(
    client: &kube::Client,
    name: &str,
    kind: &str,
    plural: &str,
    spec: serde_json::Value,
    timeout: Duration,
) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let singular = kind.to_lowercase();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": {OWNED_LABEL: "true"}},
        "spec": {
            "group": "kwok.x-k8s.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": singular},
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": spec,
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    });
    crds.patch(name, &apply(), &Patch::Apply(&crd))
        .await
        .map_err(Error::api("apply a kwok CRD"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let established = crds
            .get(name)
            .await
            .map_err(Error::api("read a kwok CRD"))?
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Start(format!(
                "the CRD {name} was not established within {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node annotation naming the path of the node's kubelet resource metrics (metrics-server ≥ 0.7
/// reads it): kwok serves every node's under its own path on its one port.
pub const RESOURCE_METRICS_PATH: &str = "metrics.k8s.io/resource-metrics-path";

/// The path kwok serves `node`'s resource metrics at (the `Metric` in [`crate::METRICS`]).
pub fn resource_metrics_path(node: &str) -> String {
    format!("/metrics/nodes/{node}/metrics/resource")
}

/// Name of metrics-server's Service and of the APIService group version it serves.
const METRICS_SERVICE: &str = "metrics-server";
const METRICS_APISERVICE: &str = "v1beta1.metrics.k8s.io";

/// Registers metrics-server (listening on 127.0.0.1:`port`) as the `metrics.k8s.io` API.
///
/// The aggregator finds an APIService's backend through a Service. Endpoints and
/// EndpointSlices may not name loopback addresses (the API server refuses them), and with
/// `--enable-aggregator-routing` unset the aggregator dials a Service's ClusterIP, which
/// nothing routes here (no kube-proxy). An `ExternalName` Service resolves to its name and the
/// APIService's port instead, so `externalName: 127.0.0.1` reaches metrics-server directly.
/// TLS is not verified: metrics-server serves the admin certificate, which does not name
/// `metrics-server.kube-system.svc`, and the connection never leaves 127.0.0.1.
pub async fn ensure_metrics_api(client: &kube::Client, port: u16) -> Result<(), Error> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": METRICS_SERVICE, "namespace": "kube-system",
            "labels": {OWNED_LABEL: "true"}},
        "spec": {
            "type": "ExternalName",
            "externalName": "127.0.0.1",
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    });
    Api::<Service>::namespaced(client.clone(), "kube-system")
        .patch(METRICS_SERVICE, &apply(), &Patch::Apply(&service))
        .await
        .map_err(Error::api("apply the metrics-server Service"))?;
    let api_service = json!({
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": METRICS_APISERVICE, "labels": {OWNED_LABEL: "true"}},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "service": {"name": METRICS_SERVICE, "namespace": "kube-system", "port": port},
            "insecureSkipTLSVerify": true,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    });
    Api::<APIService>::all(client.clone())
        .patch(METRICS_APISERVICE, &apply(), &Patch::Apply(&api_service))
        .await
        .map_err(Error::api("apply the metrics.k8s.io APIService"))?;
    Ok(())
}

/// Waits until the aggregator reports `metrics.k8s.io` Available (it reached metrics-server),
/// so `kubectl top` and HPAs work as soon as `up` returns (numbers follow within two scrapes).
pub async fn wait_metrics_api(client: &kube::Client, timeout: Duration) -> Result<(), Error> {
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    let api: Api<APIService> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let svc = api
            .get(METRICS_APISERVICE)
            .await
            .map_err(Error::api("read the metrics.k8s.io APIService"))?;
        let conditions = svc.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let why = conditions
                .iter()
                .find(|c| c.type_ == "Available")
                .and_then(|c| c.message.clone())
                .unwrap_or_else(|| "no status".into());
            return Err(Error::Start(format!(
                "the metrics.k8s.io API did not become available within {timeout:?}: {why}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Node names: `local-<zone>-<n>`, spread round-robin over the zones.
pub fn node_names(opts: &Options) -> Vec<(String, String)> {
    (0..opts.nodes)
        .map(|i| {
            let zone = &opts.zones[i as usize % opts.zones.len()];
            (
                format!("{zone}-{}", i as usize / opts.zones.len()),
                zone.clone(),
            )
        })
        .collect()
}

/// Creates or updates the nodes (labels and capacity) and removes nodes of an earlier layout.
pub async fn ensure_nodes(client: &kube::Client, opts: &Options) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let wanted = node_names(opts);
    for (name, zone) in &wanted {
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    OWNED_LABEL: "true",
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "berth-local",
                    "topology.kubernetes.io/zone": zone,
                    "topology.kubernetes.io/region": opts.region,
                },
                "annotations": {
                    "kwok.x-k8s.io/node": "fake",
                    RESOURCE_METRICS_PATH: resource_metrics_path(name),
                },
            },
        });
        nodes
            .patch(name, &apply(), &Patch::Apply(&node))
            .await
            .map_err(Error::api("apply node"))?;
        let resources =
            json!({"cpu": opts.cpu, "memory": opts.memory, "pods": opts.pods.to_string()});
        let status = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "status": {"allocatable": resources, "capacity": resources},
        });
        nodes
            .patch_status(name, &apply(), &Patch::Apply(&status))
            .await
            .map_err(Error::api("set node capacity"))?;
    }
    let existing = nodes
        .list(&ListParams::default().labels(OWNED_LABEL))
        .await
        .map_err(Error::api("list nodes"))?;
    for n in existing {
        let name = n.metadata.name.unwrap_or_default();
        if !wanted.iter().any(|(w, _)| *w == name) {
            let _ = nodes.delete(&name, &DeleteParams::default()).await;
        }
    }
    Ok(())
}

/// The two storage classes and the volume pool: per zone `volumes_per_zone` block volumes with
/// node affinity to that zone, and as many shared volumes. Released volumes (their claim was
/// deleted) are made Available again, as a provisioner would hand out a fresh one.
pub async fn ensure_storage(client: &kube::Client, opts: &Options) -> Result<(), Error> {
    let classes: Api<StorageClass> = Api::all(client.clone());
    for (name, binding, default) in [
        (BLOCK_CLASS, "WaitForFirstConsumer", true),
        (SHARED_CLASS, "Immediate", false),
    ] {
        let sc = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": name,
                "labels": {OWNED_LABEL: "true"},
                "annotations": {"storageclass.kubernetes.io/is-default-class": default.to_string()},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": binding,
            "reclaimPolicy": "Retain",
        });
        classes
            .patch(name, &apply(), &Patch::Apply(&sc))
            .await
            .map_err(Error::api("apply storage class"))?;
    }

    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut wanted = Vec::new();
    for zone in &opts.zones {
        for i in 0..opts.volumes_per_zone {
            wanted.push((
                format!("berth-block-{zone}-{i}"),
                BLOCK_CLASS,
                Some(zone.as_str()),
                "ReadWriteOnce",
            ));
        }
    }
    for i in 0..opts.volumes_per_zone {
        wanted.push((
            format!("berth-shared-{i}"),
            SHARED_CLASS,
            None,
            "ReadWriteMany",
        ));
    }
    for (name, class, zone, mode) in wanted {
        let mut pv = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {OWNED_LABEL: "true"}},
            "spec": {
                "capacity": {"storage": opts.volume_size},
                "accessModes": [mode],
                "storageClassName": class,
                "persistentVolumeReclaimPolicy": "Retain",
                // Never mounted: kwok runs no containers. The path only makes the object valid.
                "hostPath": {"path": format!("/var/lib/berth-local/{name}"), "type": ""},
            },
        });
        if let Some(zone) = zone {
            pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
            ]}]}});
        }
        match pvs
            .get_opt(&name)
            .await
            .map_err(Error::api("read volume"))?
        {
            None => {
                pvs.patch(&name, &apply(), &Patch::Apply(&pv))
                    .await
                    .map_err(Error::api("create volume"))?;
            }
            Some(existing)
                if existing.status.as_ref().and_then(|s| s.phase.as_deref())
                    == Some("Released") =>
            {
                let patch = json!({"spec": {"claimRef": null}});
                pvs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(Error::api("recycle volume"))?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Waits until every node is Ready and the `default` ServiceAccount exists (pods cannot be
/// created before it).
pub async fn wait_ready(
    client: &kube::Client,
    opts: &Options,
    timeout: Duration,
) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + timeout;
    let wanted = node_names(opts);
    loop {
        let list = nodes
            .list(&ListParams::default().labels(OWNED_LABEL))
            .await
            .map_err(Error::api("list nodes"))?;
        let ready = list
            .items
            .iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        let sa = sas
            .get_opt("default")
            .await
            .map_err(Error::api("read default ServiceAccount"))?
            .is_some();
        if ready >= wanted.len() && sa {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Start(format!(
                "the cluster did not become ready within {timeout:?}: {ready}/{} nodes Ready, default ServiceAccount {}",
                wanted.len(),
                if sa {
                    "present"
                } else {
                    "missing (is kube-controller-manager running?)"
                }
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
