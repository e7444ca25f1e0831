//! What the simulation reads from a stack: workloads and their per-pod requests, HPAs, the
//! node groups of `cluster:`, DaemonSet overhead per node and the cluster-autoscaler's flags.
//!
//! Everything here is a pure function of the [`Stack`]; malformed values in a manifest become
//! [`SimError::Manifest`] errors pointing at the file, line and column of the value.

use std::collections::BTreeMap;

use berth_model::autoscaler_flags::{self, AutoscalerFlags, Settings};
use berth_model::duration::whole_seconds;
use berth_model::karpenter::{self, Requirement};
use berth_model::quantity::{json_quantity, milli_value, parse_quantity, whole_value};
use berth_model::requests;
use berth_model::{NodeMode, Object, Stack};
use serde::Serialize;
use serde_json::Value;

use crate::SimError;
use crate::instances::{Catalog, InstanceType};
use crate::nodepools::{self, NodePool};

pub use berth_model::HOLDS_QUEUE;
const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

/// A Deployment or StatefulSet as the simulation needs it.
#[derive(Clone, Debug)]
pub(crate) struct WorkloadSpec {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `spec.replicas` (1 when absent).
    pub replicas: u32,
    /// Requests of one pod, as the scheduler counts them (containers, init containers, overhead).
    pub cpu_m: i64,
    pub mem_b: i64,
    pub holds_queue: bool,
    /// A StatefulSet with `podManagementPolicy: OrderedReady` (the default): one pod at a time.
    pub ordered: bool,
    /// Whether the autoscaler may evict these pods to remove their node: not when the pod
    /// template says `safe-to-evict: "false"`, nor (unless it says `"true"`) for pods with
    /// local storage (emptyDir on disk, hostPath) under `--skip-nodes-with-local-storage` or
    /// kube-system pods under `--skip-nodes-with-system-pods` (both on by default;
    /// PodDisruptionBudgets are not looked at).
    pub evictable: bool,
    /// `karpenter.sh/do-not-disrupt: "true"` on the pod template.
    pub do_not_disrupt: bool,
    /// The pod's node selector and required node affinity terms
    /// (`berth_model::karpenter::pod_terms`), which decide the NodePools it can land on.
    pub node_terms: Vec<Vec<Requirement>>,
}

/// A resource an HPA metric watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// `cpu`, in millicores.
    Cpu,
    /// `memory`, in bytes.
    Memory,
}

/// What an HPA resource metric aims at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    /// Percent of the pods' requests.
    Utilization(i64),
    /// Average per pod, in milli-units (millicores, or bytes × 1000).
    AverageValue(i64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MetricSpec {
    pub resource: Resource,
    pub target: Target,
}

/// `selectPolicy` of an HPA scaling rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    Pods,
    Percent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub kind: PolicyKind,
    pub value: i64,
    pub period_s: u64,
}

/// `behavior.scaleUp` or `behavior.scaleDown` with the API defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rules {
    pub window_s: u64,
    pub select: Select,
    pub policies: Vec<Policy>,
    /// Per-direction tolerance (KEP-4951), when set.
    pub tolerance: Option<f64>,
}

impl Rules {
    /// `scaleUp` defaults: no stabilization, the faster of +100% and +4 pods per 15 s.
    pub fn default_up() -> Rules {
        Rules {
            window_s: 0,
            select: Select::Max,
            policies: vec![
                Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_s: 15,
                },
                Policy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_s: 15,
                },
            ],
            tolerance: None,
        }
    }

    /// `scaleDown` defaults: 300 s stabilization, up to 100% per 15 s.
    pub fn default_down() -> Rules {
        Rules {
            window_s: 300,
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period_s: 15,
            }],
            tolerance: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

/// A HorizontalPodAutoscaler whose target is a workload of the stack.
#[derive(Clone, Debug)]
pub(crate) struct HpaSpec {
    pub name: String,
    pub target: usize,
    pub min: u32,
    pub max: u32,
    pub metrics: Vec<MetricSpec>,
    /// None when the HPA has no `behavior`: the controller then uses its older rules.
    pub behavior: Option<Behavior>,
}

/// One node group after `perZone` expansion.
#[derive(Clone, Debug)]
pub(crate) struct GroupSpec {
    pub name: String,
    pub zone: Option<String>,
    pub instance: InstanceType,
    pub min: u32,
    pub max: u32,
    /// Groups with equal keys are "similar" for `--balance-similar-node-groups` (same
    /// instance type and labels; the zone does not count).
    pub similarity: String,
    /// For Karpenter: the NodePool (index into [`Inputs::pools`]) whose nodes of this
    /// instance type the group stands for.
    pub pool: Option<usize>,
    /// The node group's `labels` (none for a NodePool's group: its labels are the pool's).
    pub labels: BTreeMap<String, String>,
}

impl GroupSpec {
    /// What the nodes of this group are, as requirements on their labels: a node group's
    /// labels, instance type and zone, and no Karpenter label; a NodePool's template labels
    /// and requirements, its name as `karpenter.sh/nodepool` and the instance type's labels.
    pub fn node_requirements(&self, pools: &[NodePool]) -> Vec<Requirement> {
        let mut reqs: Vec<Requirement> = self
            .labels
            .iter()
            .map(|(k, v)| Requirement::equals(k, v))
            .collect();
        match self.pool.map(|p| &pools[p]) {
            Some(pool) => {
                reqs.extend(pool.requirements.iter().cloned());
                reqs.push(Requirement::equals(karpenter::NODEPOOL_LABEL, &pool.name));
                let labels = self.instance.karpenter_labels();
                reqs.extend(labels.iter().map(|(k, v)| Requirement::equals(k, v)));
            }
            None => {
                reqs.push(Requirement::equals(
                    "node.kubernetes.io/instance-type",
                    &self.instance.name,
                ));
                for key in [karpenter::NODEPOOL_LABEL, "karpenter.sh/capacity-type"] {
                    reqs.push(Requirement {
                        key: key.to_string(),
                        operator: karpenter::Operator::DoesNotExist,
                        values: Vec::new(),
                    });
                }
            }
        }
        if let Some(zone) = &self.zone {
            reqs.push(Requirement::equals(karpenter::ZONE_LABEL, zone));
        }
        reqs
    }
}

impl WorkloadSpec {
    /// Whether a node with `node` requirements ([`GroupSpec::node_requirements`]) meets the
    /// pods' node selector and required node affinity (any one term).
    pub fn admitted_by(&self, node: &[Requirement]) -> bool {
        self.node_terms.is_empty() || self.node_terms.iter().any(|t| karpenter::admits(node, t))
    }
}

/// A cluster-autoscaler expander, tried in the order given by `--expander`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expander {
    /// Least idle CPU and memory after the scale-up (the default).
    LeastWaste,
    /// Most pending pods helped.
    MostPods,
    /// Fewest nodes added.
    LeastNodes,
    /// Lowest hourly cost per pod helped (an approximation of the GCE price expander).
    Price,
    /// `random` (and `priority`, `grpc`, which need more than the stack says): the first
    /// option in node-group order, so runs are reproducible.
    First,
}

/// The cluster-autoscaler settings the simulation uses: its flags from the stack, or the
/// upstream defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoscalerConfig {
    /// The object the flags came from; None when upstream defaults are assumed.
    pub source: Option<String>,
    pub scan_interval_s: u64,
    pub scale_down_enabled: bool,
    pub scale_down_utilization_threshold: f64,
    pub scale_down_unneeded_time_s: u64,
    pub scale_down_delay_after_add_s: u64,
    pub scale_down_delay_after_delete_s: u64,
    pub max_nodes_total: Option<u32>,
    pub expander: Vec<Expander>,
    pub balance_similar_node_groups: bool,
    pub max_node_provision_time_s: u64,
    pub max_empty_bulk_delete: u32,
    pub ignore_daemonsets_utilization: bool,
    /// Nodes with pods using local storage are not removed.
    pub skip_nodes_with_local_storage: bool,
    /// Nodes with kube-system pods (other than DaemonSets) are not removed.
    pub skip_nodes_with_system_pods: bool,
}

impl Default for AutoscalerConfig {
    /// The upstream defaults (`berth_model::autoscaler_flags::Settings::default`).
    fn default() -> Self {
        AutoscalerConfig::from_settings(None, &Settings::default())
    }
}

impl AutoscalerConfig {
    /// The settings read from the autoscaler's flags, in the simulator's units: whole seconds
    /// (rounded up), a scan interval and bulk delete of at least 1, and `random`, `priority`
    /// and `grpc` simulated as the first option.
    fn from_settings(source: Option<String>, s: &Settings) -> AutoscalerConfig {
        use autoscaler_flags::Expander as E;
        AutoscalerConfig {
            source,
            scan_interval_s: whole_seconds(s.scan_interval).max(1),
            scale_down_enabled: s.scale_down_enabled,
            scale_down_utilization_threshold: s.scale_down_utilization_threshold,
            scale_down_unneeded_time_s: whole_seconds(s.scale_down_unneeded_time),
            scale_down_delay_after_add_s: whole_seconds(s.scale_down_delay_after_add),
            scale_down_delay_after_delete_s: whole_seconds(s.scale_down_delay_after_delete),
            max_nodes_total: s.max_nodes_total,
            expander: s
                .expander
                .iter()
                .map(|e| match e {
                    E::LeastWaste => Expander::LeastWaste,
                    E::MostPods => Expander::MostPods,
                    E::LeastNodes => Expander::LeastNodes,
                    E::Price => Expander::Price,
                    E::Random | E::Priority | E::Grpc => Expander::First,
                })
                .collect(),
            balance_similar_node_groups: s.balance_similar_node_groups,
            max_node_provision_time_s: whole_seconds(s.max_node_provision_time),
            max_empty_bulk_delete: s.max_empty_bulk_delete.max(1),
            ignore_daemonsets_utilization: s.ignore_daemonsets_utilization,
            skip_nodes_with_local_storage: s.skip_nodes_with_local_storage,
            skip_nodes_with_system_pods: s.skip_nodes_with_system_pods,
        }
    }
}

/// Everything the engine needs from the stack.
#[derive(Clone, Debug)]
pub(crate) struct Inputs {
    pub workloads: Vec<WorkloadSpec>,
    pub hpas: Vec<HpaSpec>,
    pub groups: Vec<GroupSpec>,
    pub autoscaler: AutoscalerConfig,
    /// Requests of the DaemonSet pods every node runs.
    pub ds_cpu_m: i64,
    pub ds_mem_b: i64,
    /// Number of DaemonSets: pods every node runs.
    pub ds_pods: u32,
    /// What scales the nodes.
    pub mode: NodeMode,
    /// Karpenter's NodePools (none for the cluster-autoscaler).
    pub pools: Vec<NodePool>,
    pub notes: Vec<String>,
}

fn bad(obj: &Object, pointer: &str, message: String) -> SimError {
    let pos = obj.pos(pointer);
    SimError::Manifest {
        file: obj.file.path.clone(),
        line: pos.line,
        column: pos.column,
        message,
    }
}

fn annotation<'a>(v: &'a Value, pointer: &str, key: &str) -> Option<&'a str> {
    v.pointer(pointer)?.get(key)?.as_str()
}

/// A non-negative integer field, or an error at its position when it is something else.
fn int_field(obj: &Object, pointer: &str) -> Result<Option<i64>, SimError> {
    match obj.value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(bad(
                obj,
                pointer,
                format!("`{pointer}` must be a non-negative integer, found {v}"),
            )),
        },
    }
}

/// Requests of one pod as the scheduler counts them (`berth_model::requests`: the larger of
/// all app containers plus sidecars and each init container plus the sidecars started before
/// it, plus overhead), as (millicores, bytes); a value that is not a quantity is an error at
/// its position.
pub fn pod_requests(obj: &Object, spec_ptr: &str) -> Result<(i64, i64), SimError> {
    let Some(spec) = obj.value.pointer(spec_ptr) else {
        return Ok((0, 0));
    };
    let r = requests::pod_requests(spec)
        .map_err(|e| bad(obj, &format!("{spec_ptr}{}", e.pointer), e.to_string()))?;
    Ok((r.cpu_millis(), r.memory_bytes()))
}

/// Reads the stack for the cluster-autoscaler. `catalog` resolves node groups' instance types.
#[cfg(test)]
pub(crate) fn read(stack: &Stack, catalog: &Catalog) -> Result<Inputs, SimError> {
    read_for(stack, catalog, NodeMode::ClusterAutoscaler, &[])
}

/// Reads the stack for the node autoscaler `mode`; `extra_pools` are NodePools the cluster has
/// besides the stack's (Karpenter only).
pub(crate) fn read_for(
    stack: &Stack,
    catalog: &Catalog,
    mode: NodeMode,
    extra_pools: &[Value],
) -> Result<Inputs, SimError> {
    let notes = Vec::new();
    let mut workloads = Vec::new();
    let (mut ds_cpu_m, mut ds_mem_b, mut ds_pods) = (0, 0, 0);
    // Per workload: (local storage, kube-system, annotated safe-to-evict).
    let mut blockers: Vec<(bool, bool, bool)> = Vec::new();
    let mut autoscaler = None;
    for obj in &stack.objects {
        let kind = obj.kind();
        if obj.group() != "apps" {
            continue;
        }
        match kind {
            "Deployment" | "StatefulSet" => {
                let (spec, blocked) = workload_spec(obj, stack)?;
                blockers.push(blocked);
                if kind == "Deployment"
                    && let Some(config) = autoscaler_config(obj)?
                {
                    autoscaler = Some(config);
                }
                workloads.push(spec);
            }
            "DaemonSet" => {
                let (c, m) = pod_requests(obj, "/spec/template/spec")?;
                ds_cpu_m += c;
                ds_mem_b += m;
                ds_pods += 1;
            }
            _ => {}
        }
    }
    finish(
        stack,
        NodeSetup {
            catalog,
            mode,
            extra_pools,
        },
        workloads,
        blockers,
        autoscaler,
        (ds_cpu_m, ds_mem_b, ds_pods),
        notes,
    )
}

/// The Deployments and StatefulSets of the stack, the workloads a load can drive.
pub(crate) fn workloads(stack: &Stack) -> Result<Vec<WorkloadSpec>, SimError> {
    stack
        .objects
        .iter()
        .filter(|o| o.group() == "apps" && matches!(o.kind(), "Deployment" | "StatefulSet"))
        .map(|o| workload_spec(o, stack).map(|(spec, _)| spec))
        .collect()
}

/// One Deployment or StatefulSet, and what may keep the autoscaler from evicting its pods:
/// (local storage, kube-system, annotated safe-to-evict).
fn workload_spec(
    obj: &Object,
    stack: &Stack,
) -> Result<(WorkloadSpec, (bool, bool, bool)), SimError> {
    let kind = obj.kind();
    let (cpu_m, mem_b) = pod_requests(obj, "/spec/template/spec")?;
    let v = &obj.value;
    let queue = berth_model::holds_queue(v);
    let safe_to_evict = annotation(v, "/spec/template/metadata/annotations", SAFE_TO_EVICT);
    let volumes = v
        .pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array);
    let local_storage = volumes.into_iter().flatten().any(|vol| {
        vol.get("hostPath").is_some()
            || vol
                .get("emptyDir")
                .is_some_and(|e| e.get("medium").and_then(Value::as_str) != Some("Memory"))
    });
    let system = obj.namespace() == Some("kube-system");
    // Decided once the autoscaler's flags are known (below).
    let evictable = match safe_to_evict {
        Some("false") => false,
        Some("true") => true,
        _ => !(local_storage || system),
    };
    let ordered = kind == "StatefulSet"
        && v.pointer("/spec/podManagementPolicy")
            .and_then(Value::as_str)
            != Some("Parallel");
    let replicas = int_field(obj, "/spec/replicas")?.unwrap_or(1);
    let do_not_disrupt = karpenter::do_not_disrupt(v.pointer("/spec/template/metadata"));
    let node_terms = v
        .pointer("/spec/template/spec")
        .map(karpenter::pod_terms)
        .unwrap_or_default();
    Ok((
        WorkloadSpec {
            kind: kind.to_string(),
            namespace: obj.namespace().unwrap_or(&stack.namespace).to_string(),
            name: obj.name().to_string(),
            replicas: replicas.min(u32::MAX as i64) as u32,
            cpu_m,
            mem_b,
            holds_queue: queue,
            ordered,
            evictable,
            do_not_disrupt,
            node_terms,
        },
        (local_storage, system, safe_to_evict.is_some()),
    ))
}

/// The rest of [`read`], once the workloads are known.
/// What [`finish`] needs to read the nodes: instance types, the node autoscaler and the
/// NodePools given besides the stack's.
struct NodeSetup<'a> {
    catalog: &'a Catalog,
    mode: NodeMode,
    extra_pools: &'a [Value],
}

fn finish(
    stack: &Stack,
    NodeSetup {
        catalog,
        mode,
        extra_pools,
    }: NodeSetup<'_>,
    mut workloads: Vec<WorkloadSpec>,
    blockers: Vec<(bool, bool, bool)>,
    autoscaler: Option<AutoscalerConfig>,
    (ds_cpu_m, ds_mem_b, ds_pods): (i64, i64, u32),
    mut notes: Vec<String>,
) -> Result<Inputs, SimError> {
    let mut hpas = Vec::new();
    for obj in &stack.objects {
        if obj.kind() == "HorizontalPodAutoscaler"
            && obj.group() == "autoscaling"
            && let Some(h) = read_hpa(obj, stack, &workloads, &mut notes)?
        {
            hpas.push(h);
        }
    }
    let autoscaler = autoscaler.unwrap_or_else(|| {
        if mode.is_karpenter() {
            return AutoscalerConfig::default();
        }
        notes.push(
            "the stack has no cluster-autoscaler Deployment: its upstream defaults are assumed"
                .into(),
        );
        AutoscalerConfig::default()
    });
    for (w, &(local, system, annotated)) in workloads.iter_mut().zip(&blockers) {
        if !annotated {
            let blocked = (local && autoscaler.skip_nodes_with_local_storage)
                || (system && autoscaler.skip_nodes_with_system_pods);
            w.evictable = !blocked;
        }
    }
    let (groups, pools) = if mode.is_karpenter() {
        let pools = nodepools::read(stack, extra_pools, mode, catalog, &mut notes)?;
        (karpenter_groups(stack, catalog, &pools, &mut notes)?, pools)
    } else {
        (read_groups(stack, catalog, &mut notes)?, Vec::new())
    };
    Ok(Inputs {
        workloads,
        hpas,
        groups,
        autoscaler,
        ds_cpu_m,
        ds_mem_b,
        ds_pods,
        mode,
        pools,
        notes,
    })
}

/// The groups of a Karpenter cluster: the stack's node groups kept at their minimum (the
/// nodes Karpenter does not manage, like the system node group `berth cluster config` writes
/// for Karpenter itself), then one group per NodePool and instance type it may launch.
fn karpenter_groups(
    stack: &Stack,
    catalog: &Catalog,
    pools: &[NodePool],
    notes: &mut Vec<String>,
) -> Result<Vec<GroupSpec>, SimError> {
    let has_groups = stack
        .cluster
        .as_ref()
        .is_some_and(|c| !c.node_groups.is_empty());
    let mut groups = if has_groups {
        let mut fixed = read_groups(stack, catalog, notes)?;
        for g in &mut fixed {
            g.max = g.min;
        }
        notes.push(
            "with Karpenter, the node groups of `cluster.nodeGroups` stay at their minimum: Karpenter does not scale them".into(),
        );
        fixed
    } else {
        Vec::new()
    };
    for (p, pool) in pools.iter().enumerate() {
        for name in &pool.instance_types {
            let Some(instance) = catalog.get(name).cloned() else {
                continue;
            };
            groups.push(GroupSpec {
                name: format!("{}/{name}", pool.name),
                zone: None,
                instance,
                min: 0,
                max: u32::MAX,
                similarity: format!("{}/{name}", pool.name),
                pool: Some(p),
                labels: BTreeMap::new(),
            });
        }
    }
    Ok(groups)
}

fn read_groups(
    stack: &Stack,
    catalog: &Catalog,
    notes: &mut Vec<String>,
) -> Result<Vec<GroupSpec>, SimError> {
    let cluster = stack
        .cluster
        .as_ref()
        .filter(|c| !c.node_groups.is_empty())
        .ok_or(SimError::NoNodeGroups)?;
    let mut groups = Vec::new();
    for g in &cluster.node_groups {
        let instance = catalog.get(&g.instance_type).cloned().ok_or_else(|| {
            SimError::UnknownInstanceType {
                group: g.name.clone(),
                name: g.instance_type.clone(),
                known: catalog.names().collect::<Vec<_>>().join(", "),
            }
        })?;
        if g.min > g.max {
            return Err(SimError::Options(format!(
                "node group `{}` has min {} above max {}",
                g.name, g.min, g.max
            )));
        }
        let labels: Vec<String> = g.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let similarity = format!("{}|{}", g.instance_type, labels.join(","));
        let zones: Vec<Option<String>> = if g.per_zone && !cluster.zones.is_empty() {
            cluster.zones.iter().map(|z| Some(z.clone())).collect()
        } else {
            if g.per_zone {
                notes.push(format!(
                    "node group `{}` is perZone but `cluster.zones` is empty: one group simulated",
                    g.name
                ));
            }
            vec![None]
        };
        for zone in zones {
            let name = match &zone {
                Some(z) => format!("{}-{z}", g.name),
                None => g.name.clone(),
            };
            groups.push(GroupSpec {
                name,
                zone,
                instance: instance.clone(),
                min: g.min,
                max: g.max,
                similarity: similarity.clone(),
                pool: None,
                labels: g.labels.clone(),
            });
        }
    }
    Ok(groups)
}

/// The settings of a Deployment's cluster-autoscaler container, when it has one: its flags
/// (`berth_model::autoscaler_flags`) over the upstream defaults.
fn autoscaler_config(obj: &Object) -> Result<Option<AutoscalerConfig>, SimError> {
    let containers = obj
        .value
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    let Some((ci, c)) = containers
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, c)| autoscaler_flags::is_cluster_autoscaler(c))
    else {
        return Ok(None);
    };
    let settings = AutoscalerFlags::of_container(c).settings().map_err(|e| {
        let ptr = e
            .flag
            .pointer(&format!("/spec/template/spec/containers/{ci}"));
        bad(obj, &ptr, e.message)
    })?;
    Ok(Some(AutoscalerConfig::from_settings(
        Some(obj.display_name()),
        &settings,
    )))
}

fn read_hpa(
    obj: &Object,
    stack: &Stack,
    workloads: &[WorkloadSpec],
    notes: &mut Vec<String>,
) -> Result<Option<HpaSpec>, SimError> {
    let v = &obj.value;
    let ns = obj.namespace().unwrap_or(&stack.namespace);
    let kind = v
        .pointer("/spec/scaleTargetRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = v
        .pointer("/spec/scaleTargetRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(target) = workloads
        .iter()
        .position(|w| w.kind == kind && w.name == name && w.namespace == ns)
    else {
        notes.push(format!(
            "{}: its target {kind}/{name} is not a Deployment or StatefulSet of the stack; ignored",
            obj.display_name()
        ));
        return Ok(None);
    };
    let min = int_field(obj, "/spec/minReplicas")?.unwrap_or(1) as u32;
    let max = int_field(obj, "/spec/maxReplicas")?.ok_or_else(|| {
        bad(
            obj,
            "/spec",
            format!("{} has no `spec.maxReplicas`", obj.display_name()),
        )
    })? as u32;
    let mut metrics = Vec::new();
    if obj.api_version() == "autoscaling/v1" {
        let pct = int_field(obj, "/spec/targetCPUUtilizationPercentage")?.unwrap_or(80);
        metrics.push(MetricSpec {
            resource: Resource::Cpu,
            target: Target::Utilization(pct),
        });
    } else {
        let list = v.pointer("/spec/metrics").and_then(Value::as_array);
        for (i, m) in list.into_iter().flatten().enumerate() {
            let base = format!("/spec/metrics/{i}");
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            if ty != "Resource" {
                notes.push(format!(
                    "{}: metric {i} of type `{ty}` is not simulated",
                    obj.display_name()
                ));
                continue;
            }
            let res = match m.pointer("/resource/name").and_then(Value::as_str) {
                Some("cpu") => Resource::Cpu,
                Some("memory") => Resource::Memory,
                other => {
                    notes.push(format!(
                        "{}: resource metric `{}` is not simulated",
                        obj.display_name(),
                        other.unwrap_or("")
                    ));
                    continue;
                }
            };
            // autoscaling/v2: resource.target.{averageUtilization, averageValue};
            // v2beta1: resource.targetAverageUtilization / targetAverageValue.
            let util = m
                .pointer("/resource/target/averageUtilization")
                .map(|_| format!("{base}/resource/target/averageUtilization"))
                .or_else(|| {
                    m.pointer("/resource/targetAverageUtilization")
                        .map(|_| format!("{base}/resource/targetAverageUtilization"))
                });
            let avg = m
                .pointer("/resource/target/averageValue")
                .map(|_| format!("{base}/resource/target/averageValue"))
                .or_else(|| {
                    m.pointer("/resource/targetAverageValue")
                        .map(|_| format!("{base}/resource/targetAverageValue"))
                });
            let target = if let Some(p) = util {
                let pct = int_field(obj, &p)?.unwrap_or(0);
                if pct == 0 {
                    return Err(bad(obj, &p, "averageUtilization must be at least 1".into()));
                }
                Target::Utilization(pct)
            } else if let Some(p) = avg {
                let q = obj
                    .value
                    .pointer(&p)
                    .and_then(json_quantity)
                    .unwrap_or_default();
                let milli = match res {
                    Resource::Cpu => milli_value(&q),
                    Resource::Memory => whole_value(&q).map(|b| b * 1000),
                };
                match milli {
                    Some(m) if m > 0 => Target::AverageValue(m),
                    _ => {
                        return Err(bad(
                            obj,
                            &p,
                            format!("`{q}` is not a valid positive quantity"),
                        ));
                    }
                }
            } else {
                return Err(bad(
                    obj,
                    &base,
                    "resource metric without averageUtilization or averageValue".into(),
                ));
            };
            metrics.push(MetricSpec {
                resource: res,
                target,
            });
        }
        if list.is_none_or(|l| l.is_empty()) {
            // The API default: 80% CPU.
            metrics.push(MetricSpec {
                resource: Resource::Cpu,
                target: Target::Utilization(80),
            });
        }
    }
    let behavior = match v.pointer("/spec/behavior") {
        None | Some(Value::Null) => None,
        Some(_) => Some(Behavior {
            up: read_rules(obj, "/spec/behavior/scaleUp", Rules::default_up())?,
            down: read_rules(obj, "/spec/behavior/scaleDown", Rules::default_down())?,
        }),
    };
    Ok(Some(HpaSpec {
        name: obj.display_name(),
        target,
        min: min.max(1),
        max: max.max(1),
        metrics,
        behavior,
    }))
}

fn read_rules(obj: &Object, base: &str, defaults: Rules) -> Result<Rules, SimError> {
    let Some(r) = obj.value.pointer(base).filter(|r| !r.is_null()) else {
        return Ok(defaults);
    };
    let mut rules = defaults;
    if let Some(w) = int_field(obj, &format!("{base}/stabilizationWindowSeconds"))? {
        rules.window_s = w as u64;
    }
    if let Some(s) = r.get("selectPolicy") {
        rules.select = match s.as_str() {
            Some("Max") => Select::Max,
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            _ => {
                return Err(bad(
                    obj,
                    &format!("{base}/selectPolicy"),
                    format!("selectPolicy {s} is not Max, Min or Disabled"),
                ));
            }
        };
    }
    if let Some(t) = r.get("tolerance") {
        let q = json_quantity(t).and_then(|q| parse_quantity(&q));
        rules.tolerance = Some(q.ok_or_else(|| {
            bad(
                obj,
                &format!("{base}/tolerance"),
                format!("`{t}` is not a quantity"),
            )
        })?);
    }
    if let Some(list) = r.get("policies").and_then(Value::as_array) {
        let mut policies = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let pb = format!("{base}/policies/{i}");
            let kind = match p.get("type").and_then(Value::as_str) {
                Some("Pods") => PolicyKind::Pods,
                Some("Percent") => PolicyKind::Percent,
                _ => {
                    return Err(bad(
                        obj,
                        &format!("{pb}/type"),
                        "policy type must be Pods or Percent".into(),
                    ));
                }
            };
            let value = int_field(obj, &format!("{pb}/value"))?.unwrap_or(0);
            let period_s = int_field(obj, &format!("{pb}/periodSeconds"))?
                .unwrap_or(15)
                .max(1) as u64;
            policies.push(Policy {
                kind,
                value,
                period_s,
            });
        }
        rules.policies = policies;
    }
    Ok(rules)
}

/// Labels of a workload for messages and load files: `name`, or `namespace/name` when two
/// workloads share a name.
pub(crate) fn workload_labels(workloads: &[WorkloadSpec]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for w in workloads {
        *count.entry(&w.name).or_default() += 1;
    }
    workloads
        .iter()
        .map(|w| {
            if count[w.name.as_str()] > 1 {
                format!("{}/{}", w.namespace, w.name)
            } else {
                w.name.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use berth_model::{ClusterSpec, NodeGroupSpec, Origin, Pos, Profile, SourceFile};
    use serde_json::json;

    use super::*;

    fn obj(value: Value, positions: &[(&str, u32, u32)]) -> Object {
        Object {
            value,
            file: Arc::new(SourceFile::new("m.yaml", "")),
            doc: 0,
            component: "c".into(),
            origin: Origin::Manifest,
            positions: Arc::new(
                positions
                    .iter()
                    .map(|(p, l, c)| {
                        (
                            p.to_string(),
                            Pos {
                                line: *l,
                                column: *c,
                                offset: 0,
                            },
                        )
                    })
                    .collect(),
            ),
        }
    }

    fn stack(objects: Vec<Object>) -> Stack {
        Stack {
            name: "s".into(),
            root: ".".into(),
            namespace: "ns".into(),
            kubernetes: "1.33".into(),
            profile: Profile::Eks,
            components: vec![],
            objects,
            external: vec![],
            cluster: Some(ClusterSpec {
                nodes: None,
                file_systems: Vec::new(),
                name: "s".into(),
                region: None,
                zones: vec!["z1".into(), "z2".into()],
                node_groups: vec![NodeGroupSpec {
                    name: "w".into(),
                    instance_type: "m5.large".into(),
                    min: 1,
                    max: 5,
                    per_zone: true,
                    labels: BTreeMap::new(),
                }],
            }),
            values: BTreeMap::new(),
        }
    }

    #[test]
    fn pod_requests_count_init_containers_and_sidecars_as_the_scheduler_does() {
        let o = obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
            "spec": {"template": {"spec": {
                "initContainers": [
                    {"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "64Mi"}}},
                    {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}},
                    {"name": "warm", "resources": {"requests": {"cpu": "400m", "memory": "1Gi"}}}
                ],
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "256Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "300m", "memory": "128Mi"}}}
                ]}}}}),
            &[],
        );
        // CPU: app 200 + 300 + sidecar 100 = 600; init peaks: migrate 1000, warm 400 + 100 = 500
        // → 1000. Memory: app 256 (limit as request) + 128 + sidecar 32 = 416 MiB; init peaks:
        // 64, 1024 + 32 = 1056 MiB → 1056 MiB.
        let (cpu, mem) = pod_requests(&o, "/spec/template/spec").unwrap();
        assert_eq!(cpu, 1000);
        assert_eq!(mem, 1056 * 1024 * 1024);
    }

    #[test]
    fn a_bad_quantity_points_at_its_line_and_column() {
        let o = obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "half"}}}]}}}}),
            &[
                ("", 1, 1),
                (
                    "/spec/template/spec/containers/0/resources/requests/cpu",
                    12,
                    22,
                ),
            ],
        );
        let e = read(&stack(vec![o]), &Catalog::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.yaml:12:22: `half` is not a valid cpu quantity"
        );
    }

    #[test]
    fn hpas_of_every_version_and_the_autoscalers_flags() {
        let sts = obj(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "q"},
                "spec": {"template": {"metadata": {"annotations": {"berth.dev/holds-queue": "true"}},
                    "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}}}),
            &[],
        );
        let v1 = obj(
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h1"},
                "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "q"}, "maxReplicas": 5,
                    "targetCPUUtilizationPercentage": 70}}),
            &[],
        );
        let beta = obj(
            json!({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h2"},
                "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "q"}, "minReplicas": 2, "maxReplicas": 9,
                    "metrics": [{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "512Mi"}},
                                {"type": "External", "external": {}}]}}),
            &[],
        );
        let ca = obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [{"name": "ca", "image": "k8s.gcr.io/cluster-autoscaler:v1.16.5",
                    "command": ["./cluster-autoscaler", "--scan-interval=5s", "--scale-down-unneeded-time=1m",
                        "--max-nodes-total=300", "--expander", "most-pods,least-waste", "--balance-similar-node-groups",
                        "--scale-down-utilization-threshold=0.65", "--max-node-provision-time=10m0s"]}]}}}}),
            &[],
        );
        let ds = obj(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "50m"}}}]}}}}),
            &[],
        );
        let inp = read(&stack(vec![sts, v1, beta, ca, ds]), &Catalog::default()).unwrap();
        assert!(inp.workloads[0].holds_queue && inp.workloads[0].ordered);
        assert_eq!(
            inp.hpas[0].metrics,
            [MetricSpec {
                resource: Resource::Cpu,
                target: Target::Utilization(70)
            }]
        );
        assert_eq!((inp.hpas[0].min, inp.hpas[0].max), (1, 5));
        assert_eq!(
            inp.hpas[1].metrics,
            [MetricSpec {
                resource: Resource::Memory,
                target: Target::AverageValue(512 * 1024 * 1024 * 1000)
            }]
        );
        assert!(
            inp.notes
                .iter()
                .any(|n| n.contains("`External` is not simulated")),
            "{:?}",
            inp.notes
        );
        let a = &inp.autoscaler;
        assert_eq!(
            a.source.as_deref(),
            Some("Deployment/kube-system/cluster-autoscaler")
        );
        assert_eq!(
            (
                a.scan_interval_s,
                a.scale_down_unneeded_time_s,
                a.max_nodes_total
            ),
            (5, 60, Some(300))
        );
        assert_eq!(a.expander, [Expander::MostPods, Expander::LeastWaste]);
        assert!(a.balance_similar_node_groups);
        assert_eq!(a.scale_down_utilization_threshold, 0.65);
        assert_eq!(a.max_node_provision_time_s, 600);
        assert_eq!(a.scale_down_delay_after_add_s, 600, "default kept");
        assert_eq!((inp.ds_cpu_m, inp.ds_pods), (50, 1));
        let names: Vec<&str> = inp.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["w-z1", "w-z2"]);
    }

    /// The autoscaler flags of `berth-check`'s `ca_max_nodes` test of the same name, in every
    /// spelling pflag accepts: both read them with `berth_model::autoscaler_flags`, so both see
    /// `--max-nodes-total` 100 (check once read only `--name=value`, and simulate took a bare
    /// boolean's next item as its value).
    #[test]
    fn reads_every_spelling_of_the_flags() {
        let ca = obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "nginx", "args": ["--max-nodes-total=1"]},
                    {"name": "ca", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.0",
                    "command": ["./cluster-autoscaler",
                        "--max-nodes-total", "100",
                        "-expander=most-pods",
                        "--balance-similar-node-groups",
                        "--node-group-auto-discovery",
                        "asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/EKS-boomi-molecule-main",
                        "--skip-nodes-with-local-storage=false",
                        "--scale-down-unneeded-time", "5m"]}]}}}}),
            &[],
        );
        let a = read(&stack(vec![ca]), &Catalog::default())
            .unwrap()
            .autoscaler;
        assert_eq!(
            a.max_nodes_total,
            Some(100),
            "not the other container's flag"
        );
        assert_eq!(a.expander, [Expander::MostPods]);
        assert!(a.balance_similar_node_groups);
        assert!(!a.skip_nodes_with_local_storage);
        assert_eq!(a.scale_down_unneeded_time_s, 300);
        // A boolean flag never takes the next item: `false` here is a stray argument.
        let stray = obj(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ca"},
                "spec": {"template": {"spec": {"containers": [{"name": "ca", "image": "cluster-autoscaler:v1.34.0",
                    "command": ["./cluster-autoscaler", "--skip-nodes-with-local-storage", "false"]}]}}}}),
            &[],
        );
        let a = read(&stack(vec![stray]), &Catalog::default())
            .unwrap()
            .autoscaler;
        assert!(a.skip_nodes_with_local_storage);
    }
}
