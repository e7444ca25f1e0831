//! Karpenter on the local cluster (`berth local up --autoscaler karpenter`): the node autoscaler
//! that runs here for real.
//!
//! Karpenter's kwok cloud provider (`sigs.k8s.io/karpenter/kwok`, built like the other binaries
//! by [`crate::binaries::ensure_karpenter`]) runs as a process against the local API server. For
//! pods the scheduler leaves Pending it picks an instance type within the NodePools'
//! requirements, writes a NodeClaim and creates the Node itself (there is no cloud and no
//! kubelet); berth's kwok manages every node (`--manage-all-nodes`), so the new node becomes
//! Ready, gets kwok's kubelet port and address (127.0.0.1), and the pods run there. Empty or
//! underused nodes are consolidated as on a real cluster.
//!
//! The local cluster's fixed nodes are the system pool: Karpenter only disrupts nodes it
//! launched (those of a NodeClaim), so they are never consolidated, and it provisions only for
//! pods that do not fit on them.
//!
//! # What berth sets up
//! - the CRDs of Karpenter's module (NodePool, NodeClaim, NodeOverlay, CapacityBuffer,
//!   KWOKNodeClass), applied from its YAML before Karpenter starts;
//! - the instance types Karpenter may launch ([`instance_types`]): kwok's generic families
//!   (`c` 2 GiB, `s` 4 GiB, `m` 8 GiB per vCPU), offered in the local cluster's zones, so a
//!   launched node's `topology.kubernetes.io/zone` is one of them;
//! - the KWOKNodeClass [`NODE_CLASS`], marked Ready: the kwok provider has no controller that
//!   would (a cloud provider checks its node class there), and a NodePool whose class is not
//!   Ready launches nothing. berth plays that controller's part;
//! - the NodePool [`DEFAULT_NODE_POOL`] ([`default_node_pool`]) unless the user gives their
//!   own ([`ensure_node_pools`]); NodePools written for a cloud (berth cluster config) are
//!   adapted to this provider by [`adapt_node_pool`].
//!
//! Karpenter binds its metrics and health-probe ports on every interface (its flags take only
//! a port); berth chooses both ports on 127.0.0.1 and only ever dials 127.0.0.1. Karpenter
//! itself dials nothing but the API server named in the kubeconfig.
//!
//! Turning the autoscaler off (`berth local up` without it) removes what berth set up here,
//! the NodeClaims and the nodes Karpenter launched ([`remove`]).

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::objects::{OWNED_LABEL, apply};
use crate::{Error, Options};

/// Which node autoscaler the local cluster runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeAutoscaler {
    /// Only the fixed nodes.
    #[default]
    None,
    /// Karpenter's kwok build.
    Karpenter,
}

impl std::str::FromStr for NodeAutoscaler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(NodeAutoscaler::None),
            "karpenter" => Ok(NodeAutoscaler::Karpenter),
            other => Err(format!(
                "unknown autoscaler `{other}`: the local cluster runs `karpenter` or `none`"
            )),
        }
    }
}

/// The process's name in `cluster.json`, `berth local status` and its log file.
pub const COMPONENT: &str = "karpenter";

/// The KWOKNodeClass every NodePool on the local cluster uses.
pub const NODE_CLASS: &str = "berth-local";
/// API group of the kwok provider's node class.
pub const NODE_CLASS_GROUP: &str = "karpenter.kwok.sh";
/// The NodePool `up` writes when the user gives none.
pub const DEFAULT_NODE_POOL: &str = "default";
/// Label Karpenter puts on the nodes it launches (and a NodeClaim's pool).
pub use berth_model::karpenter::NODEPOOL_LABEL;
/// Label prefix of the kwok provider's instance attributes (`instance-cpu`, `instance-family`).
pub const KWOK_ATTRIBUTE_PREFIX: &str = "karpenter.kwok.sh/";

/// How long a node of the default pool stays empty or underused before Karpenter removes it.
pub const DEFAULT_CONSOLIDATE_AFTER: &str = "30s";

fn gvk(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn node_pools_resource() -> ApiResource {
    gvk("karpenter.sh", "v1", "NodePool", "nodepools")
}
fn node_claims_resource() -> ApiResource {
    gvk("karpenter.sh", "v1", "NodeClaim", "nodeclaims")
}
fn node_classes_resource() -> ApiResource {
    gvk(
        NODE_CLASS_GROUP,
        "v1alpha1",
        "KWOKNodeClass",
        "kwoknodeclasses",
    )
}

/// The NodePool API of the cluster.
pub fn node_pools(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &node_pools_resource())
}

/// The NodeClaim API of the cluster.
pub fn node_claims(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &node_claims_resource())
}

/// The instance types Karpenter may launch, in the kwok provider's file format: the families
/// and prices of kwok's own generator (`kwok/tools/gen_instance_types.go`: `c`, `s`, `m` with
/// 2, 4 and 8 GiB per vCPU; $0.025 per vCPU-hour plus $0.001 per GB-hour; spot at 70%), for
/// Linux on amd64 and arm64, offered on-demand and spot in each of the cluster's `zones`.
pub fn instance_types(zones: &[String]) -> Value {
    let mut types = Vec::new();
    for cpu in [1u32, 2, 4, 8, 16, 32, 48, 64] {
        for (family, gib_per_cpu) in [("c", 2u32), ("s", 4), ("m", 8)] {
            for arch in ["amd64", "arm64"] {
                let mem_gib = cpu * gib_per_cpu;
                let price = 0.025 * f64::from(cpu) + 0.001 * f64::from(mem_gib) * 1.073_741_824;
                let offerings: Vec<Value> = zones
                    .iter()
                    .flat_map(|zone| {
                        [("spot", price * 0.7), ("on-demand", price)].map(|(capacity, price)| {
                            json!({
                                "Price": price,
                                "Available": true,
                                "Requirements": [
                                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
                                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
                                ],
                            })
                        })
                    })
                    .collect();
                types.push(json!({
                    "name": format!("{family}-{cpu}x-{arch}-linux"),
                    "offerings": offerings,
                    "architecture": arch,
                    "operatingSystems": ["linux"],
                    "resources": {
                        "cpu": cpu.to_string(),
                        "memory": format!("{mem_gib}Gi"),
                        "pods": (cpu * 16).clamp(16, 1024).to_string(),
                        "ephemeral-storage": "20Gi",
                    },
                }));
            }
        }
    }
    Value::Array(types)
}

/// The NodePool `up` writes when the user gives none: Linux on amd64, on-demand, in the
/// cluster's zones, consolidating empty and underused nodes after
/// [`DEFAULT_CONSOLIDATE_AFTER`], at most 256 vCPUs in all.
pub fn default_node_pool(opts: &Options) -> Value {
    json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": DEFAULT_NODE_POOL, "labels": {OWNED_LABEL: "true"}},
        "spec": {
            "template": {"spec": {
                "nodeClassRef": node_class_ref(),
                "requirements": [
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": opts.zones},
                ],
                "expireAfter": "Never",
            }},
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": DEFAULT_CONSOLIDATE_AFTER,
            },
            "limits": {"cpu": "256"},
        },
    })
}

fn node_class_ref() -> Value {
    json!({"group": NODE_CLASS_GROUP, "kind": "KWOKNodeClass", "name": NODE_CLASS})
}

/// Requirement keys the kwok provider's instance types answer as they are.
const KEPT_KEYS: &[&str] = &[
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "karpenter.sh/capacity-type",
];

/// Label prefixes of instance attributes of the clouds Karpenter runs on (the AWS provider's,
/// EKS Auto Mode's): their `instance-cpu` maps onto kwok's, the others have no kwok
/// counterpart.
const CLOUD_ATTRIBUTE_PREFIXES: &[&str] = &["karpenter.k8s.aws/", "eks.amazonaws.com/"];

/// A NodePool written for a cloud (`berth cluster config --nodes karpenter`, or the user's),
/// made to run on the local kwok provider, and what was changed, one line each:
/// - the node class becomes [`NODE_CLASS`];
/// - a zone requirement names the local cluster's `zones` (the cloud's zones do not exist here);
/// - a cloud attribute's `instance-cpu` becomes kwok's, with the same operator and values;
/// - requirements on other cloud attributes (category, generation, memory, instance type
///   names) are dropped: no kwok instance type carries them, so keeping them would let the
///   pool launch nothing;
/// - Kubernetes' and Karpenter's own keys and the stack's labels are kept, as are the template's
///   labels and taints, limits, disruption and weight.
pub fn adapt_node_pool(pool: &Value, zones: &[String]) -> (Value, Vec<String>) {
    let mut pool = pool.clone();
    let name = pool["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut notes = Vec::new();
    let spec = &mut pool["spec"]["template"]["spec"];
    if spec["nodeClassRef"] != node_class_ref() {
        notes.push(format!(
            "NodePool {name}: node class {} {} replaced by KWOKNodeClass {NODE_CLASS}",
            spec["nodeClassRef"]["kind"].as_str().unwrap_or("(none)"),
            spec["nodeClassRef"]["name"].as_str().unwrap_or(""),
        ));
        spec["nodeClassRef"] = node_class_ref();
    }
    let requirements = spec["requirements"].as_array().cloned().unwrap_or_default();
    let mut kept = Vec::new();
    for mut r in requirements {
        let key = r["key"].as_str().unwrap_or("").to_string();
        let operator = r["operator"].as_str().unwrap_or("");
        if key == "topology.kubernetes.io/zone" {
            if operator == "In" {
                if r["values"] != json!(zones) {
                    notes.push(format!(
                        "NodePool {name}: zones {} replaced by the local cluster's {}",
                        r["values"],
                        zones.join(", ")
                    ));
                }
                r["values"] = json!(zones);
                kept.push(r);
            } else {
                notes.push(format!(
                    "NodePool {name}: dropped `{key} {operator}` (zones of another cloud)"
                ));
            }
            continue;
        }
        let cloud_attribute = CLOUD_ATTRIBUTE_PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p));
        if let Some(attribute) = cloud_attribute {
            if attribute == "instance-cpu" {
                r["key"] = json!(format!("{KWOK_ATTRIBUTE_PREFIX}instance-cpu"));
                notes.push(format!(
                    "NodePool {name}: `{key}` maps to `{KWOK_ATTRIBUTE_PREFIX}instance-cpu`"
                ));
                kept.push(r);
            } else {
                notes.push(format!(
                    "NodePool {name}: dropped `{key} {operator} {}` (no kwok instance type has it)",
                    r["values"]
                ));
            }
            continue;
        }
        if key == "node.kubernetes.io/instance-type" {
            notes.push(format!(
                "NodePool {name}: dropped `{key}` (the cloud's instance type names)"
            ));
            continue;
        }
        if !KEPT_KEYS.contains(&key.as_str()) && key.starts_with("karpenter.") {
            // Karpenter's and its providers' other well-known keys: kept only when Karpenter's
            // own (`karpenter.sh/`); another provider's are the cloud's.
            if !key.starts_with("karpenter.sh/") && !key.starts_with(KWOK_ATTRIBUTE_PREFIX) {
                notes.push(format!(
                    "NodePool {name}: dropped `{key}` (another provider's)"
                ));
                continue;
            }
        }
        kept.push(r);
    }
    spec["requirements"] = Value::Array(kept);
    (pool, notes)
}

/// The NodePools (karpenter.sh/v1) of `files`, for `up --nodepool`; other documents (the
/// cloud's NodeClass beside the pools in `berth cluster config`'s output) are skipped. An
/// error names the file and line.
pub fn read_node_pools(files: &[std::path::PathBuf]) -> Result<Vec<Value>, String> {
    let mut pools = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let parsed = berth_yaml::parse(&text);
        if let Some(e) = parsed.errors.first() {
            return Err(format!("{}:{}: {}", file.display(), e.pos.line, e.message));
        }
        let before = pools.len();
        for doc in parsed.documents {
            if !berth_model::karpenter::is_nodepool(&doc.value) {
                continue;
            }
            if doc.value["metadata"]["name"].as_str().is_none() {
                let line = doc.positions.get("/kind").map_or(1, |p| p.line);
                return Err(format!(
                    "{}:{line}: a NodePool without metadata.name",
                    file.display()
                ));
            }
            pools.push(doc.value);
        }
        if pools.len() == before {
            return Err(format!(
                "{}: no NodePool (karpenter.sh/v1) in the file",
                file.display()
            ));
        }
    }
    Ok(pools)
}

/// Applies every CRD file, labelled as berth's, and waits until each is established.
async fn ensure_crds(client: &kube::Client, files: &[std::path::PathBuf]) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(Error::io(file))?;
        let parsed = berth_yaml::parse(&text);
        if let Some(e) = parsed.errors.first() {
            return Err(Error::Start(format!(
                "{}:{}: {}",
                file.display(),
                e.pos.line,
                e.message
            )));
        }
        for doc in parsed.documents {
            let mut crd = doc.value;
            let Some(name) = crd["metadata"]["name"].as_str().map(str::to_string) else {
                continue;
            };
            crd["metadata"]["labels"][OWNED_LABEL] = json!("true");
            crds.patch(&name, &apply(), &Patch::Apply(&crd))
                .await
                .map_err(Error::api("apply a Karpenter CRD"))?;
            names.push(name);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in names {
        loop {
            let crd = crds.get(&name).await.map_err(Error::api("read a CRD"))?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "the CRD {name} was not established within 60s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The KWOKNodeClass, and its Ready condition (see the module docs).
async fn ensure_node_class(client: &kube::Client) -> Result<(), Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &node_classes_resource());
    let class = json!({
        "apiVersion": format!("{NODE_CLASS_GROUP}/v1alpha1"),
        "kind": "KWOKNodeClass",
        "metadata": {"name": NODE_CLASS, "labels": {OWNED_LABEL: "true"}},
        "spec": {},
    });
    let applied = api
        .patch(NODE_CLASS, &apply(), &Patch::Apply(&class))
        .await
        .map_err(Error::api("apply the KWOKNodeClass"))?;
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let status = json!({
        "apiVersion": format!("{NODE_CLASS_GROUP}/v1alpha1"),
        "kind": "KWOKNodeClass",
        "status": {"conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "",
            "lastTransitionTime": now,
            "observedGeneration": applied.metadata.generation.unwrap_or(1),
        }]},
    });
    api.patch_status(NODE_CLASS, &apply(), &Patch::Apply(&status))
        .await
        .map_err(Error::api("mark the KWOKNodeClass Ready"))?;
    Ok(())
}

/// Makes `pools` the cluster's NodePools, each adapted ([`adapt_node_pool`]); with none, the
/// [`default_node_pool`]. NodePools berth wrote before and not among them are deleted (the
/// user's own, unlabelled, are left alone). Returns what adapting changed.
pub async fn ensure_node_pools(
    client: &kube::Client,
    opts: &Options,
    pools: &[Value],
) -> Result<Vec<String>, Error> {
    let api = node_pools(client);
    let mut notes = Vec::new();
    let mut wanted = Vec::new();
    let defaults = [default_node_pool(opts)];
    let given = if pools.is_empty() {
        &defaults[..]
    } else {
        pools
    };
    for pool in given {
        let (mut pool, mut changed) = adapt_node_pool(pool, &opts.zones);
        notes.append(&mut changed);
        let Some(name) = pool["metadata"]["name"].as_str().map(str::to_string) else {
            return Err(Error::Start("a NodePool without metadata.name".into()));
        };
        pool["metadata"]["labels"][OWNED_LABEL] = json!("true");
        api.patch(&name, &apply(), &Patch::Apply(&pool))
            .await
            .map_err(|e| Error::Start(format!("applying NodePool {name}: {e}")))?;
        wanted.push(name);
    }
    let owned = api
        .list(&ListParams::default().labels(OWNED_LABEL))
        .await
        .map_err(Error::api("list NodePools"))?;
    for p in owned {
        let name = p.metadata.name.unwrap_or_default();
        if !wanted.contains(&name) {
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
    }
    Ok(notes)
}

/// Before Karpenter starts: its CRDs, the node class and the instance-types file (returned).
pub(crate) async fn prepare(
    client: &kube::Client,
    crds: &[std::path::PathBuf],
    dir: &Path,
    opts: &Options,
) -> Result<std::path::PathBuf, Error> {
    ensure_crds(client, crds).await?;
    ensure_node_class(client).await?;
    let file = dir.join("karpenter-instance-types.json");
    let text = serde_json::to_string_pretty(&instance_types(&opts.zones)).expect("JSON");
    std::fs::write(&file, text).map_err(Error::io(&file))?;
    Ok(file)
}

/// Karpenter's flags: its two ports, no leader election (one replica), the instance types.
pub(crate) fn args(ports: &[u16], instance_types: &Path) -> Vec<String> {
    vec![
        format!("--metrics-port={}", ports[0]),
        format!("--health-probe-port={}", ports[1]),
        "--disable-leader-election=true".into(),
        format!("--instance-types-file-path={}", instance_types.display()),
        "--log-level=info".into(),
        "--kube-client-qps=100".into(),
        "--kube-client-burst=200".into(),
    ]
}

/// Waits until Karpenter's readiness probe (`/readyz` on its health-probe port) answers 200.
pub(crate) async fn wait_ready(
    proc: &crate::process::Proc,
    probe_port: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if probe(probe_port).await {
            return Ok(());
        }
        if !proc.alive() || Instant::now() > deadline {
            let why = if proc.alive() {
                format!("did not become ready within {timeout:?}")
            } else {
                "exited".to_string()
            };
            return Err(Error::Start(format!(
                "karpenter {why}; see {} (last lines):\n{}",
                proc.log.display(),
                proc.log_tail(15)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn probe(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        Some(buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Some(true))
    )
}

/// With the autoscaler off: deletes the NodePools, NodeClaims and node class berth wrote, the
/// nodes Karpenter launched and Karpenter's CRDs, when a cluster that ran Karpenter is started
/// without it (nothing when it never did). Finalizers are removed first: Karpenter, which
/// would handle them, no longer runs.
pub(crate) async fn remove(client: &kube::Client) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let owned = crds
        .list(&ListParams::default().labels(OWNED_LABEL))
        .await
        .map_err(Error::api("list CRDs"))?;
    let ours: Vec<String> = owned
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| {
            n.ends_with(".karpenter.sh")
                || n.ends_with(".karpenter.kwok.sh")
                || n.ends_with(".autoscaling.x-k8s.io")
        })
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let unfinalize = json!({"metadata": {"finalizers": null}});
    let claims = node_claims(client);
    if let Ok(list) = claims.list(&ListParams::default()).await {
        for c in list {
            let name = c.metadata.name.unwrap_or_default();
            let _ = claims
                .patch(&name, &Default::default(), &Patch::Merge(&unfinalize))
                .await;
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    if let Ok(list) = nodes
        .list(&ListParams::default().labels(NODEPOOL_LABEL))
        .await
    {
        for n in list {
            let name = n.metadata.name.unwrap_or_default();
            let _ = nodes
                .patch(&name, &Default::default(), &Patch::Merge(&unfinalize))
                .await;
            let _ = nodes.delete(&name, &DeleteParams::default()).await;
            // Its pods go with it, as when a cloud instance is terminated; their controllers
            // make new ones, which the fixed nodes take or leave Pending.
            let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(client.clone());
            let on_node = ListParams::default().fields(&format!("spec.nodeName={name}"));
            if let Ok(list) = pods.list(&on_node).await {
                for p in list {
                    let (Some(pod), Some(ns)) = (p.metadata.name, p.metadata.namespace) else {
                        continue;
                    };
                    let _ = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), &ns)
                        .delete(&pod, &DeleteParams::default().grace_period(0))
                        .await;
                }
            }
        }
    }
    for name in ours {
        let _ = crds.delete(&name, &DeleteParams::default()).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        vec!["local-a".into(), "local-b".into()]
    }

    #[test]
    fn instance_types_are_offered_in_the_local_zones_only() {
        let types = instance_types(&zones());
        let types = types.as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "c-1x-amd64-linux"));
        for t in types {
            let offered: Vec<&Value> = t["offerings"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|o| o["Requirements"].as_array().unwrap())
                .filter(|r| r["key"] == "topology.kubernetes.io/zone")
                .flat_map(|r| r["values"].as_array().unwrap())
                .collect();
            assert_eq!(offered.len(), 4, "{}", t["name"]); // 2 zones × spot, on-demand
            assert!(offered.iter().all(|z| zones().iter().any(|l| *z == l)));
        }
    }

    #[test]
    fn a_cloud_pool_keeps_what_kwok_can_satisfy() {
        let pool = json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "shop"},
            "spec": {"template": {"metadata": {"labels": {"berth.dev/stack-pool": "shop"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": [
                        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m"]},
                        {"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gt", "values": ["1"]},
                        {"key": "karpenter.k8s.aws/instance-memory", "operator": "Gt", "values": ["4095"]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a", "us-east-1b"]},
                        {"key": "berth.dev/node-pool", "operator": "In", "values": ["queue-holders"]},
                    ]}},
                "limits": {"cpu": "32"}},
        });
        let (local, notes) = adapt_node_pool(&pool, &zones());
        let spec = &local["spec"]["template"]["spec"];
        assert_eq!(spec["nodeClassRef"], node_class_ref());
        let keys: Vec<&str> = spec["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "karpenter.kwok.sh/instance-cpu",
                "kubernetes.io/arch",
                "karpenter.sh/capacity-type",
                "topology.kubernetes.io/zone",
                "berth.dev/node-pool",
            ]
        );
        assert_eq!(
            spec["requirements"][3]["values"],
            json!(["local-a", "local-b"])
        );
        assert_eq!(spec["requirements"][0]["operator"], "Gt");
        assert_eq!(local["spec"]["limits"], pool["spec"]["limits"]);
        assert_eq!(
            local["spec"]["template"]["metadata"],
            pool["spec"]["template"]["metadata"]
        );
        assert!(notes.iter().any(|n| n.contains("instance-category")));
        assert!(notes.iter().any(|n| n.contains("instance-memory")));
    }

    #[test]
    fn a_local_pool_is_left_as_it_is() {
        let opts = Options {
            zones: zones(),
            ..Options::default()
        };
        let pool = default_node_pool(&opts);
        let (local, notes) = adapt_node_pool(&pool, &opts.zones);
        assert_eq!(local, pool);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn node_pool_files_are_read_with_their_errors_located() {
        let dir = std::env::temp_dir().join(format!("berth-nodepools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("pools.yaml");
        std::fs::write(
            &good,
            "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\n---\n\
             apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: web}\nspec: {}\n",
        )
        .unwrap();
        let pools = read_node_pools(std::slice::from_ref(&good)).unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0]["metadata"]["name"], "web");

        let bad = dir.join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: karpenter.sh/v1\nkind: NodePool\nspec: [\n",
        )
        .unwrap();
        let e = read_node_pools(std::slice::from_ref(&bad)).unwrap_err();
        assert!(e.starts_with(&format!("{}:", bad.display())), "{e}");

        let none = dir.join("none.yaml");
        std::fs::write(
            &none,
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        )
        .unwrap();
        let e = read_node_pools(std::slice::from_ref(&none)).unwrap_err();
        assert!(e.contains("no NodePool"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_autoscaler_is_named_on_the_command_line() {
        assert_eq!("karpenter".parse(), Ok(NodeAutoscaler::Karpenter));
        assert_eq!("none".parse(), Ok(NodeAutoscaler::None));
        let e = "cluster-autoscaler".parse::<NodeAutoscaler>().unwrap_err();
        assert!(e.contains("`karpenter` or `none`"), "{e}");
    }
}
