//! Sizing node groups from the stack: every workload's per-pod requests times its pods at peak
//! (the HPA's `maxReplicas`, else `spec.replicas`), packed first-fit-decreasing onto an
//! instance type's allocatable capacity (from `berth-simulate`'s instance table) after the
//! DaemonSet pods every node runs, plus headroom. The minimum is the same packing at the
//! minimum replicas. Every step is written down as a line of the explanation, so
//! `berth cluster config --explain` prints the arithmetic that produced the numbers.

use std::collections::BTreeMap;

use berth_model::{ClusterSpec, Object, Stack};
use berth_simulate::instances::{Cloud, MIB};
use berth_simulate::{Catalog, InstanceType, SimError, inputs::pod_requests};
use serde_json::Value;

use crate::ClusterError;
use crate::usage::Usage;

/// More pods than this at peak are not packed one by one (the command would take seconds).
pub const MAX_PODS: u64 = 20_000;

/// One workload's pods, as sizing counts them.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// `Kind/namespace/name`.
    pub name: String,
    /// Requests of one pod (millicores, bytes).
    pub cpu_m: i64,
    pub mem_b: i64,
    /// Pods at the minimum and at peak.
    pub min: u32,
    pub peak: u32,
    /// Where the numbers come from (`HPA web max 10`, `replicas 3`, ...).
    pub why: String,
    /// It holds a queue (`berth.dev/holds-queue`) and its pods do not carry
    /// `karpenter.sh/do-not-disrupt`: Karpenter's consolidation must not move it, so it gets a
    /// NodePool that only removes empty nodes.
    pub queue: bool,
}

/// A pod every node runs (DaemonSets of the stack, and EKS's own).
#[derive(Clone, Debug, PartialEq)]
pub struct PerNode {
    pub name: String,
    pub cpu_m: i64,
    pub mem_b: i64,
}

/// What the stack asks of the cluster.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Demand {
    pub workloads: Vec<Workload>,
    pub per_node: Vec<PerNode>,
}

/// Requests of the generated cluster-autoscaler pod (see `autoscaler.rs`).
pub const AUTOSCALER_REQUESTS: (i64, i64) = (100, 600 * MIB);

impl Demand {
    /// The per-node pods together: (millicores, bytes, pods).
    pub fn per_node_total(&self) -> (i64, i64, u32) {
        self.per_node
            .iter()
            .fold((0, 0, 0), |(c, m, n), p| (c + p.cpu_m, m + p.mem_b, n + 1))
    }
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

fn count(obj: &Object, pointer: &str, default: u32) -> Result<u32, SimError> {
    match obj.value.pointer(pointer) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                bad(
                    obj,
                    pointer,
                    format!("`{pointer}` must be a non-negative integer, found {v}"),
                )
            }),
    }
}

fn is_autoscaler(v: &Value) -> bool {
    v.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(berth_model::autoscaler_flags::is_cluster_autoscaler)
}

/// Reads workloads, HPAs and DaemonSets of `stack`, and adds what EKS and berth's own manifest
/// run (the cluster-autoscaler when `autoscaler`, CoreDNS, kube-proxy, the VPC CNI, the CSI
/// node drivers in use).
pub fn demand(stack: &Stack, usage: &Usage, autoscaler: bool) -> Result<Demand, SimError> {
    // HPA targets: (namespace, kind, name) → (min, max, hpa name).
    let mut hpas: BTreeMap<(String, String, String), (u32, u32, String)> = BTreeMap::new();
    for o in &stack.objects {
        if o.kind() != "HorizontalPodAutoscaler" || o.group() != "autoscaling" {
            continue;
        }
        let kind = o
            .value
            .pointer("/spec/scaleTargetRef/kind")
            .and_then(Value::as_str);
        let name = o
            .value
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str);
        let (Some(kind), Some(name)) = (kind, name) else {
            continue;
        };
        let ns = o.namespace().unwrap_or(&stack.namespace).to_string();
        let min = count(o, "/spec/minReplicas", 1)?;
        let max = count(o, "/spec/maxReplicas", 1)?;
        hpas.insert(
            (ns, kind.to_string(), name.to_string()),
            (min.min(max), max, o.name().to_string()),
        );
    }
    let mut demand = Demand::default();
    for o in &stack.objects {
        if o.group() != "apps" {
            continue;
        }
        let kind = o.kind();
        match kind {
            "Deployment" | "StatefulSet" => {
                if kind == "Deployment" && is_autoscaler(&o.value) {
                    continue; // replaced by the generated one, counted below
                }
                let (cpu_m, mem_b) = pod_requests(o, "/spec/template/spec")?;
                let ns = o.namespace().unwrap_or(&stack.namespace).to_string();
                let key = (ns, kind.to_string(), o.name().to_string());
                let (min, peak, why) = match hpas.get(&key) {
                    Some((min, max, hpa)) => (*min, *max, format!("HPA {hpa}: {min}..{max}")),
                    None => {
                        let r = count(o, "/spec/replicas", 1)?;
                        (r, r, format!("replicas {r}"))
                    }
                };
                let queue = berth_model::holds_queue(&o.value)
                    && !berth_model::karpenter::do_not_disrupt(
                        o.value.pointer("/spec/template/metadata"),
                    );
                demand.workloads.push(Workload {
                    name: o.display_name(),
                    cpu_m,
                    mem_b,
                    min,
                    peak,
                    why,
                    queue,
                });
            }
            "DaemonSet" => {
                let (cpu_m, mem_b) = pod_requests(o, "/spec/template/spec")?;
                demand.per_node.push(PerNode {
                    name: o.display_name(),
                    cpu_m,
                    mem_b,
                });
            }
            _ => {}
        }
    }
    if autoscaler {
        demand.workloads.push(Workload {
            name: "Deployment/kube-system/cluster-autoscaler".into(),
            cpu_m: AUTOSCALER_REQUESTS.0,
            mem_b: AUTOSCALER_REQUESTS.1,
            min: 1,
            peak: 1,
            why: "generated by berth".into(),
            queue: false,
        });
    }
    demand.workloads.push(Workload {
        name: "Deployment/kube-system/coredns".into(),
        cpu_m: 100,
        mem_b: 70 * MIB,
        min: 2,
        peak: 2,
        why: "EKS add-on".into(),
        queue: false,
    });
    // EKS's node agents, with the requests of their default installs.
    let mut system = vec![("kube-proxy", 100, 0), ("aws-node", 25, 0)];
    if !usage.ebs.is_empty() {
        system.push(("ebs-csi-node", 30, 120 * MIB));
    }
    if !usage.efs.is_empty() {
        system.push(("efs-csi-node", 0, 0));
    }
    for (name, cpu_m, mem_b) in system {
        demand.per_node.push(PerNode {
            name: format!("DaemonSet/kube-system/{name} (EKS)"),
            cpu_m,
            mem_b,
        });
    }
    Ok(demand)
}

/// How `demand` fits on one instance type.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub instance: InstanceType,
    /// What a node offers to the stack's pods: allocatable less the per-node pods.
    pub cpu_m: i64,
    pub mem_b: i64,
    pub pods: u32,
    /// Nodes the pods need at their minimum and at peak (first-fit-decreasing).
    pub min_nodes: u32,
    pub peak_nodes: u32,
    /// Peak with headroom: `ceil(peak × (100 + headroom) / 100)`.
    pub max_nodes: u32,
}

/// Why a demand does not fit an instance type.
#[derive(Clone, Debug, PartialEq)]
pub enum NoFit {
    /// One pod asks more than a node offers.
    Pod {
        workload: String,
        cpu_m: i64,
        mem_b: i64,
    },
    /// The per-node pods leave nothing.
    PerNode,
    /// More pods than [`MAX_PODS`].
    TooMany(u64),
}

/// First-fit-decreasing: nodes needed for `pods` (cpu, mem), each node offering `cap`.
fn pack(mut pods: Vec<(i64, i64)>, cap: (i64, i64, u32)) -> u32 {
    let share =
        |p: &(i64, i64)| (p.0 as f64 / cap.0.max(1) as f64).max(p.1 as f64 / cap.1.max(1) as f64);
    pods.sort_by(|a, b| share(b).total_cmp(&share(a)));
    let mut nodes: Vec<(i64, i64, u32)> = Vec::new();
    for p in pods {
        match nodes
            .iter_mut()
            .find(|n| n.0 >= p.0 && n.1 >= p.1 && n.2 >= 1)
        {
            Some(n) => *n = (n.0 - p.0, n.1 - p.1, n.2 - 1),
            None => nodes.push((cap.0 - p.0, cap.1 - p.1, cap.2 - 1)),
        }
    }
    nodes.len() as u32
}

/// How `demand` fits on `instance`, with `headroom_percent` added to the peak.
pub fn fit(instance: &InstanceType, demand: &Demand, headroom_percent: u32) -> Result<Fit, NoFit> {
    let (ds_cpu, ds_mem, ds_pods) = demand.per_node_total();
    let cpu_m = instance.allocatable_cpu_m() - ds_cpu;
    let mem_b = instance.allocatable_mem_b() - ds_mem;
    let pods = instance.max_pods.saturating_sub(ds_pods);
    if cpu_m <= 0 || mem_b <= 0 || pods == 0 {
        return Err(NoFit::PerNode);
    }
    let total: u64 = demand.workloads.iter().map(|w| u64::from(w.peak)).sum();
    if total > MAX_PODS {
        return Err(NoFit::TooMany(total));
    }
    if let Some(w) = demand
        .workloads
        .iter()
        .find(|w| w.peak > 0 && (w.cpu_m > cpu_m || w.mem_b > mem_b))
    {
        return Err(NoFit::Pod {
            workload: w.name.clone(),
            cpu_m: w.cpu_m,
            mem_b: w.mem_b,
        });
    }
    let expand = |n: fn(&Workload) -> u32| -> Vec<(i64, i64)> {
        demand
            .workloads
            .iter()
            .flat_map(|w| std::iter::repeat_n((w.cpu_m, w.mem_b), n(w) as usize))
            .collect()
    };
    let cap = (cpu_m, mem_b, pods);
    let peak_nodes = pack(expand(|w| w.peak), cap).max(1);
    let min_nodes = pack(expand(|w| w.min), cap).max(1);
    let max_nodes = (u64::from(peak_nodes) * u64::from(100 + headroom_percent)).div_ceil(100);
    Ok(Fit {
        instance: instance.clone(),
        cpu_m,
        mem_b,
        pods,
        min_nodes,
        peak_nodes,
        max_nodes: u32::try_from(max_nodes).unwrap_or(u32::MAX),
    })
}

/// One managed node group of the cluster file.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub instance_type: String,
    /// The one zone of a per-zone group.
    pub zone: Option<String>,
    pub min: u32,
    pub max: u32,
    pub labels: BTreeMap<String, String>,
}

/// The node groups, with the arithmetic that produced them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Plan {
    pub groups: Vec<Group>,
    /// The explanation, line by line.
    pub lines: Vec<String>,
    /// What the user should look at (a group too small for the peak, an unknown type).
    pub warnings: Vec<String>,
}

/// `1500m`.
pub fn cpu(m: i64) -> String {
    format!("{m}m")
}

/// `2.0GiB` or `300MiB`.
pub fn mem(b: i64) -> String {
    let mib = b as f64 / MIB as f64;
    if mib >= 1024.0 {
        format!("{:.1}GiB", mib / 1024.0)
    } else {
        format!("{mib:.0}MiB")
    }
}

pub(crate) fn describe_demand(demand: &Demand, lines: &mut Vec<String>) {
    lines.push("Demand (requests of one pod × pods at peak):".into());
    let (mut pods, mut c, mut m) = (0u64, 0i64, 0i64);
    for w in &demand.workloads {
        let n = i64::from(w.peak);
        lines.push(format!(
            "  {:<52} {:>6} {:>8} × {:>3} ({}) = {} CPU, {}",
            w.name,
            cpu(w.cpu_m),
            mem(w.mem_b),
            w.peak,
            w.why,
            cpu(w.cpu_m * n),
            mem(w.mem_b * n)
        ));
        pods += u64::from(w.peak);
        c += w.cpu_m * n;
        m += w.mem_b * n;
    }
    lines.push(format!(
        "  total at peak: {pods} pods, {} CPU, {}",
        cpu(c),
        mem(m)
    ));
    let (dc, dm, dn) = demand.per_node_total();
    let names: Vec<String> = demand
        .per_node
        .iter()
        .map(|p| format!("{} {}/{}", p.name, cpu(p.cpu_m), mem(p.mem_b)))
        .collect();
    lines.push(format!(
        "Every node also runs {dn} pods ({}), together {} CPU, {}.",
        names.join(", "),
        cpu(dc),
        mem(dm)
    ));
}

pub(crate) fn describe_fit(f: &Fit, headroom: u32, lines: &mut Vec<String>) {
    let t = &f.instance;
    lines.push(format!(
        "{}: {} vCPU, {} MiB, {} pods; allocatable {} CPU, {}; after the per-node pods {} CPU, {}, {} pods.",
        t.name,
        t.vcpu,
        t.memory_mib,
        t.max_pods,
        cpu(t.allocatable_cpu_m()),
        mem(t.allocatable_mem_b()),
        cpu(f.cpu_m),
        mem(f.mem_b),
        f.pods
    ));
    lines.push(format!(
        "  first-fit-decreasing by requests: {} nodes at peak, {} at the minimum replicas",
        f.peak_nodes, f.min_nodes
    ));
    lines.push(format!(
        "  with {headroom}% headroom: max = ceil({} × {}) = {} nodes",
        f.peak_nodes,
        f64::from(100 + headroom) / 100.0,
        f.max_nodes
    ));
}

fn no_fit(instance: &str, reason: NoFit) -> ClusterError {
    match reason {
        NoFit::Pod {
            workload,
            cpu_m,
            mem_b,
        } => ClusterError::DoesNotFit {
            instance: instance.to_string(),
            detail: format!(
                "a pod of {workload} requests {} CPU and {}, more than a node offers after its per-node pods",
                cpu(cpu_m),
                mem(mem_b)
            ),
        },
        NoFit::PerNode => ClusterError::DoesNotFit {
            instance: instance.to_string(),
            detail: "the DaemonSet pods every node runs leave nothing for the stack".into(),
        },
        NoFit::TooMany(n) => ClusterError::DoesNotFit {
            instance: instance.to_string(),
            detail: format!("{n} pods at peak is more than berth sizes ({MAX_PODS})"),
        },
    }
}

/// Instance types berth chooses from when the stack names none: the table's AWS types, less
/// burstable ones (`t*`), whose CPU is throttled once their credits run out.
pub(crate) fn candidates(catalog: &Catalog) -> Vec<InstanceType> {
    catalog
        .names()
        .filter_map(|n| catalog.get(n))
        .filter(|t| t.cloud == Cloud::Aws && !t.name.starts_with('t'))
        .cloned()
        .collect()
}

/// Every instance type of the table (non-burstable AWS) that `demand` fits on, cheapest at
/// its max size first: what berth chooses when the stack names no type.
pub fn cheapest(catalog: &Catalog, demand: &Demand, headroom: u32) -> Vec<Fit> {
    let mut fits: Vec<Fit> = candidates(catalog)
        .iter()
        .filter_map(|t| fit(t, demand, headroom).ok())
        .collect();
    let cost = |f: &Fit| f64::from(f.max_nodes) * f.instance.usd_per_hour;
    fits.sort_by(|a, b| {
        cost(a)
            .total_cmp(&cost(b))
            .then(a.instance.vcpu.cmp(&b.instance.vcpu))
            .then(a.instance.name.cmp(&b.instance.name))
    });
    fits
}

/// A node group `plan` will write: (name, instance type, min, max, the user said perZone, labels).
type WantedGroup = (String, String, u32, u32, bool, BTreeMap<String, String>);

/// The node groups for `spec`: the user's (`cluster.nodeGroups`), checked against the demand,
/// or one sized from it. A group becomes one group per zone when it says `perZone` or when
/// `zonal` (the stack has zonal volumes).
pub fn plan(
    spec: &ClusterSpec,
    demand: &Demand,
    zonal: bool,
    catalog: &Catalog,
    headroom: u32,
) -> Result<Plan, ClusterError> {
    let mut plan = Plan::default();
    describe_demand(demand, &mut plan.lines);
    let mut wanted: Vec<WantedGroup> = Vec::new();
    if spec.node_groups.is_empty() {
        let fits = cheapest(catalog, demand, headroom);
        let cost = |f: &Fit| f64::from(f.max_nodes) * f.instance.usd_per_hour;
        let Some(best) = fits.first().cloned() else {
            let biggest = demand
                .workloads
                .iter()
                .max_by_key(|w| (w.cpu_m, w.mem_b))
                .map_or_else(String::new, |w| w.name.clone());
            return Err(ClusterError::NothingFits { workload: biggest });
        };
        plan.lines.push(format!(
            "No `cluster.nodeGroups` in berth.yaml: the instance type with the lowest cost at max size, of {} non-burstable AWS types that fit:",
            fits.len()
        ));
        for f in fits.iter().take(3) {
            plan.lines.push(format!(
                "  {:<12} {} nodes × ${:.4}/h = ${:.2}/h",
                f.instance.name,
                f.max_nodes,
                f.instance.usd_per_hour,
                cost(f)
            ));
        }
        describe_fit(&best, headroom, &mut plan.lines);
        wanted.push((
            "workers".into(),
            best.instance.name.clone(),
            best.min_nodes,
            best.max_nodes,
            false,
            BTreeMap::new(),
        ));
    } else {
        let mut needed: Option<(u32, String)> = None;
        for g in &spec.node_groups {
            if g.min > g.max {
                return Err(ClusterError::MinAboveMax {
                    group: g.name.clone(),
                    min: g.min,
                    max: g.max,
                });
            }
            match catalog.get(&g.instance_type) {
                Some(t) => {
                    let f = fit(t, demand, headroom).map_err(|e| no_fit(&t.name, e))?;
                    describe_fit(&f, headroom, &mut plan.lines);
                    if needed.as_ref().is_none_or(|(n, _)| f.max_nodes < *n) {
                        needed = Some((f.max_nodes, t.name.clone()));
                    }
                }
                None => plan.warnings.push(format!(
                    "node group `{}`: instance type `{}` is not in berth's table, so berth cannot check that the stack fits on it",
                    g.name, g.instance_type
                )),
            }
            wanted.push((
                g.name.clone(),
                g.instance_type.clone(),
                g.min,
                g.max,
                g.per_zone,
                g.labels.clone(),
            ));
        }
        let zones = spec.zones.len().max(1) as u64;
        let allowed: u64 = spec
            .node_groups
            .iter()
            .map(|g| {
                if g.per_zone {
                    u64::from(g.max) * zones
                } else {
                    u64::from(g.max)
                }
            })
            .sum();
        if let Some((n, t)) = needed {
            plan.lines.push(format!(
                "The node groups of berth.yaml allow {allowed} nodes; the peak with headroom needs {n} {t} nodes."
            ));
            if allowed < u64::from(n) {
                plan.warnings.push(format!(
                    "the node groups allow {allowed} nodes, but the stack's peak with headroom needs {n} {t} nodes: raise `max` in `cluster.nodeGroups`"
                ));
            }
        }
    }
    for (name, instance_type, min, max, per_zone, labels) in wanted {
        if !(per_zone || zonal) {
            plan.groups.push(Group {
                name,
                instance_type,
                zone: None,
                min,
                max,
                labels,
            });
            continue;
        }
        if spec.zones.is_empty() {
            return Err(ClusterError::NoZones { group: name });
        }
        let z = spec.zones.len() as u32;
        let (zmin, zmax) = if per_zone {
            plan.lines.push(format!(
                "`{name}` is perZone: one group per zone ({}), each min {min}, max {max}.",
                spec.zones.join(", ")
            ));
            (min, max)
        } else {
            let (zmin, zmax) = (min.div_ceil(z), max.div_ceil(z));
            plan.lines.push(format!(
                "The stack has zonal (EBS) volumes: `{name}` becomes one group per zone ({}), each min ceil({min}/{z}) = {zmin}, max ceil({max}/{z}) = {zmax}.",
                spec.zones.join(", ")
            ));
            (zmin, zmax)
        };
        for zone in &spec.zones {
            plan.groups.push(Group {
                name: format!("{name}-{zone}"),
                instance_type: instance_type.clone(),
                zone: Some(zone.clone()),
                min: zmin,
                max: zmax.max(zmin),
                labels: labels.clone(),
            });
        }
    }
    let total: u64 = plan.groups.iter().map(|g| u64::from(g.max)).sum();
    let sums: Vec<String> = plan.groups.iter().map(|g| g.max.to_string()).collect();
    plan.lines.push(format!(
        "--max-nodes-total = {} = {total}",
        sums.join(" + ")
    ));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(cpu_m: i64, mem_mib: i64, min: u32, peak: u32) -> Workload {
        Workload {
            name: "Deployment/a/w".into(),
            cpu_m,
            mem_b: mem_mib * MIB,
            min,
            peak,
            why: String::new(),
            queue: false,
        }
    }

    #[test]
    fn packing_counts_whole_pods_per_node() {
        // 1000m pods on 1930m nodes: one per node, though the CPU total would fit in 11.
        assert_eq!(pack(vec![(1000, 1); 20], (1930, i64::MAX, 100)), 20);
        assert_eq!(pack(vec![(500, 1); 8], (1000, i64::MAX, 100)), 4);
        // The pod limit counts too.
        assert_eq!(pack(vec![(1, 1); 10], (1000, 1000, 3)), 4);
        // Big pods first leaves room for small ones.
        assert_eq!(
            pack(vec![(300, 1), (300, 1), (700, 1), (700, 1)], (1000, 10, 10)),
            2
        );
    }

    #[test]
    fn fit_uses_allocatable_after_daemonsets_and_adds_headroom() {
        let catalog = Catalog::default();
        let t = catalog.get("m5.large").unwrap();
        let demand = Demand {
            workloads: vec![w(1000, 2048, 3, 20)],
            per_node: vec![PerNode {
                name: "ds".into(),
                cpu_m: 125,
                mem_b: 0,
            }],
        };
        let f = fit(t, &demand, 25).unwrap();
        assert_eq!(f.cpu_m, t.allocatable_cpu_m() - 125);
        assert_eq!((f.min_nodes, f.peak_nodes, f.max_nodes), (3, 20, 25));

        let huge = Demand {
            workloads: vec![w(4000, 1, 1, 1)],
            per_node: vec![],
        };
        assert!(matches!(fit(t, &huge, 25), Err(NoFit::Pod { .. })));
        let many = Demand {
            workloads: vec![w(1, 1, 1, MAX_PODS as u32 + 1)],
            per_node: vec![],
        };
        assert!(matches!(fit(t, &many, 25), Err(NoFit::TooMany(_))));
    }
}
